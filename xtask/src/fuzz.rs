//! `cargo xtask fuzz-smoke`: a bounded, reproducible run of the filter
//! engine's libFuzzer target (`fuzz/`), for CI.
//!
//! cargo-fuzz needs a nightly toolchain; both are installed on demand
//! (nightly with the minimal profile, cargo-fuzz from the crate registry),
//! and used for the fuzz crate only — everything else builds with the
//! pinned stable toolchain.

use std::time::Duration;

use anyhow::{bail, Result};

use crate::util::{self, output, progress};

/// cargo-fuzz version installed when missing.
const CARGO_FUZZ_VERSION: &str = "0.12.0";
/// The stable toolchain cargo-fuzz itself is built with (its locked
/// dependencies turn on nightly-only attributes when built by nightly).
const BUILD_TOOLCHAIN: &str = crate::util::RUST_TOOLCHAIN;

fn ensure_tools() -> Result<()> {
    let nightly_ok = output("rustup", &["run", "nightly", "rustc", "--version"]).is_ok();
    if !nightly_ok {
        progress(
            "fuzz",
            "rustup toolchain install nightly --profile minimal (~1 min)",
        );
        util::run_logged(
            "fuzz",
            duct::cmd!(
                "rustup",
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal"
            ),
            &util::cache_dir().join("logs").join("nightly-install.log"),
            Duration::from_secs(30),
        )?;
    }
    let have = output("cargo", &["+nightly", "fuzz", "--version"]).is_ok();
    if !have {
        progress(
            "fuzz",
            format!("cargo install cargo-fuzz {CARGO_FUZZ_VERSION} (~2 min)"),
        );
        util::run_logged(
            "fuzz",
            duct::cmd!(
                "cargo",
                format!("+{BUILD_TOOLCHAIN}"),
                "install",
                "--locked",
                "cargo-fuzz",
                "--version",
                CARGO_FUZZ_VERSION
            ),
            &util::cache_dir()
                .join("logs")
                .join("cargo-fuzz-install.log"),
            Duration::from_secs(30),
        )?;
    }
    Ok(())
}

/// Runs the `compile` target over its corpus plus `runs` generated inputs
/// with a fixed seed (same inputs every time); fails on any crash, panic,
/// timeout or leak libFuzzer reports.
pub fn smoke(runs: u64, seed: u64) -> Result<()> {
    ensure_tools()?;
    let root = util::repo_root();
    // A scratch copy of the corpus: libFuzzer adds new inputs to the first
    // corpus directory, and the committed corpus must not change.
    let work = util::target_dir().join("fuzz-smoke-corpus");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    for e in std::fs::read_dir(root.join("fuzz/corpus/compile"))? {
        let e = e?;
        std::fs::copy(e.path(), work.join(e.file_name()))?;
    }
    progress(
        "fuzz",
        format!("compile target: corpus + {runs} runs, seed {seed}"),
    );
    let log = util::target_dir().join("fuzz-smoke.log");
    let res = util::run_logged(
        "fuzz",
        duct::cmd!(
            "cargo",
            "+nightly",
            "fuzz",
            "run",
            "compile",
            &work,
            "--",
            format!("-runs={runs}"),
            format!("-seed={seed}"),
            "-max_len=70000",
            format!("-dict={}", root.join("fuzz/dict").display()),
        )
        .dir(root.join("fuzz"))
        .env_remove("RUSTUP_TOOLCHAIN"),
        &log,
        Duration::from_secs(30),
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let done = text.lines().rev().find(|l| l.starts_with("Done "));
    match (res, done) {
        (Ok(()), Some(d)) => {
            progress("fuzz", d);
            Ok(())
        }
        (r, _) => {
            for l in text
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                eprintln!("  | {l}");
            }
            bail!("fuzz smoke failed ({:?}); log {}", r.err(), log.display())
        }
    }
}
