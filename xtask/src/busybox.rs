//! Debian bookworm's `busybox-static` for the guest (`/bin/busybox`): the
//! real programs the example policies under `examples/policies/` are
//! tested with.
//!
//! The package is fetched for the guest's Debian architecture (amd64 or
//! arm64, whatever the host's) with a private apt state under the cache:
//! its own package lists, package cache and source list (a copy of the
//! machine's sources), `APT::Architecture` set to the wanted one and an
//! empty dpkg status. Nothing of the host's apt or dpkg state changes (no
//! `dpkg --add-architecture`, no install); it needs no root. `bin/busybox`
//! is extracted with `dpkg-deb -x` and checked to be a static ELF
//! executable for the right machine.
//!
//! Cache: `<cache>/busybox/<debian-arch>/<version>/busybox`, and
//! `<cache>/busybox/<debian-arch>/current` naming the version in use. A
//! cached binary is used without touching the network; `rm -r` the
//! directory to fetch the archive's current version again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::setup;
use crate::util::{self, progress};

const PACKAGE: &str = "busybox-static";

/// The path of a verified static busybox for `a`, fetched if not cached.
pub fn ensure(a: Arch) -> Result<PathBuf> {
    let base = util::cache_dir().join("busybox").join(a.deb_arch());
    if let Ok(v) = fs::read_to_string(base.join("current")) {
        let bin = base.join(v.trim()).join("busybox");
        if bin.exists() {
            check_elf(&bin, a)?;
            return Ok(bin);
        }
    }
    progress(
        "guest",
        format!("{}: fetching Debian's {PACKAGE}:{}", a.name(), a.deb_arch()),
    );
    let apt_dir = util::cache_dir().join("apt-busybox").join(a.deb_arch());
    let opts = apt_options(&apt_dir, a)?;
    let log = util::cache_dir()
        .join("logs")
        .join(format!("busybox-{}.log", a.deb_arch()));
    util::run_logged(
        "guest",
        duct::cmd("apt-get", args(&opts, &["-q", "update"])),
        &log,
        Duration::from_secs(30),
    )?;
    let version = apt_candidate(&opts)?;
    let dl = apt_dir.join("download");
    if dl.exists() {
        fs::remove_dir_all(&dl)?;
    }
    fs::create_dir_all(&dl)?;
    util::run_logged(
        "guest",
        duct::cmd(
            "apt-get",
            args(&opts, &["-q", "download", &format!("{PACKAGE}={version}")]),
        )
        .dir(&dl),
        &log,
        Duration::from_secs(30),
    )?;
    let deb = fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().and_then(|s| s.to_str()) == Some("deb"))
        .with_context(|| format!("apt-get download left no .deb in {}", dl.display()))?;
    let tree = dl.join("tree");
    util::output(
        "dpkg-deb",
        &["-x", &deb.to_string_lossy(), &tree.to_string_lossy()],
    )?;
    let extracted = tree.join("bin").join("busybox");
    check_elf(&extracted, a)?;
    // Debian versions may hold ':' (an epoch); keep directory names plain.
    let vdir = version.replace(':', "_");
    let dst_dir = base.join(&vdir);
    fs::create_dir_all(&dst_dir)?;
    let dst = dst_dir.join("busybox");
    fs::copy(&extracted, &dst)?;
    fs::write(base.join("current"), format!("{vdir}\n"))?;
    fs::remove_dir_all(&dl)?;
    progress(
        "guest",
        format!("{}: {PACKAGE} {version} -> {}", a.name(), dst.display()),
    );
    Ok(dst)
}

/// `-o` options for a private apt state in `dir` that sees the machine's
/// sources for the Debian architecture of `a` only.
fn apt_options(dir: &Path, a: Arch) -> Result<Vec<String>> {
    let sources = dir.join("sources.list.d");
    setup::copy_host_sources(&sources)?;
    for d in ["lists/partial", "cache/archives/partial"] {
        fs::create_dir_all(dir.join(d))?;
    }
    let mut o = setup::source_options(&sources);
    let arch = a.deb_arch();
    for (k, v) in [
        ("Dir::State::Lists", dir.join("lists").display().to_string()),
        ("Dir::Cache", dir.join("cache").display().to_string()),
        ("Dir::State::status", "/dev/null".to_string()),
        ("APT::Architecture", arch.to_string()),
        ("APT::Architectures", arch.to_string()),
        // Only the Packages indices are needed (no AppStream metadata).
        (
            "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled",
            "false".to_string(),
        ),
        (
            "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled",
            "false".to_string(),
        ),
        // As root apt would drop to `_apt`, who cannot write under the
        // cache in $HOME; nothing is installed, so stay who we are.
        ("APT::Sandbox::User", whoami()),
    ] {
        o.push("-o".into());
        o.push(format!("{k}={v}"));
    }
    Ok(o)
}

fn whoami() -> String {
    util::output("id", &["-un"]).unwrap_or_else(|_| "root".into())
}

fn args(opts: &[String], rest: &[&str]) -> Vec<String> {
    let mut v = opts.to_vec();
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// The candidate version of the package in the private lists.
fn apt_candidate(opts: &[String]) -> Result<String> {
    let a = args(opts, &["policy", PACKAGE]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = util::output("apt-cache", &a)?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(|v| v.trim().to_string())
        .filter(|v| v != "(none)")
        .with_context(|| format!("no {PACKAGE} in the machine's Debian sources:\n{out}"))
}

/// Fails unless `p` is a 64-bit little-endian static ELF executable for
/// `a`'s machine: no `PT_INTERP`, so it runs without a dynamic loader
/// (the guest has none).
fn check_elf(p: &Path, a: Arch) -> Result<()> {
    let b = fs::read(p).with_context(|| format!("{}", p.display()))?;
    elf_verdict(&b, a.elf_machine()).with_context(|| format!("{}", p.display()))
}

fn elf_verdict(b: &[u8], machine: u16) -> Result<()> {
    let (ty, m, interp) = util::elf_facts(b)?;
    if ty != 2 && ty != 3 {
        bail!("ELF type {ty}: not an executable");
    }
    if m != machine {
        bail!("ELF machine {m}, want {machine}");
    }
    if interp {
        bail!("has PT_INTERP: dynamically linked");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::elf_verdict;

    fn elf(machine: u16, ptypes: &[u32]) -> Vec<u8> {
        let mut e = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        e.resize(64 + 56 * ptypes.len(), 0);
        e[16..18].copy_from_slice(&2u16.to_le_bytes());
        e[18..20].copy_from_slice(&machine.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&(ptypes.len() as u16).to_le_bytes());
        for (i, t) in ptypes.iter().enumerate() {
            e[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        e
    }

    #[test]
    fn static_elf_of_the_right_machine_only() {
        assert!(elf_verdict(&elf(62, &[1, 1]), 62).is_ok());
        assert!(elf_verdict(&elf(183, &[1]), 62).is_err());
        assert!(elf_verdict(&elf(62, &[1, 3]), 62).is_err());
        assert!(elf_verdict(b"#!/bin/sh\n", 62).is_err());
        assert!(elf_verdict(&elf(62, &[1])[..60], 62).is_err());
    }
}
