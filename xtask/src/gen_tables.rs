//! Placeholder until the table generator lands.
pub fn run(_ksrc: &std::path::Path, _check: bool) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
