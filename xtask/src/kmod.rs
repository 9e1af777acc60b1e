//! Builds strbox.ko with Kbuild against a kernel build tree.
//!
//! The module crate includes `filter/` and `uapi/` sources with `#[path]`,
//! so those three directories are mirrored (content-synced, so Kbuild's
//! incremental rebuilds work) into a per-kernel directory under target/ and
//! built there: the source tree stays free of objects and two arches never
//! share object files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::kernel::Kernel;
use crate::util::{self, progress};

fn mirror(dest: &Path) -> Result<PathBuf> {
    let root = util::repo_root();
    let skip = |p: &Path| {
        let n = p.file_name().and_then(|s| s.to_str()).unwrap_or("");
        n == "target" || n.ends_with(".o") || n.ends_with(".ko") || n.starts_with(".tmp")
    };
    for d in ["kmod", "filter/src", "uapi/src"] {
        util::sync_tree(&root.join(d), &dest.join(d), &skip)?;
    }
    Ok(dest.join("kmod"))
}

fn kbuild(a: Arch, kdir: &Path, src: &Path, out: &Path) -> Result<PathBuf> {
    let m = mirror(out)?;
    let log = out.join("kbuild.log");
    let expr = duct::cmd(
        "make",
        [
            "-C".to_string(),
            kdir.display().to_string(),
            format!("M={}", m.display()),
            format!("ARCH={}", a.karch()),
            "LLVM=1".into(),
            // The kernel's clippy run (clippy-driver of the pinned
            // toolchain), with kmod/Kbuild's extra lints.
            "CLIPPY=1".into(),
            "modules".into(),
        ],
    )
    .env("RUSTUP_TOOLCHAIN", util::RUST_TOOLCHAIN)
    .env_remove("MAKEFLAGS")
    .env_remove("RUSTFLAGS")
    .stdin_null();
    let _ = src;
    util::run_logged("kmod", expr, &log, Duration::from_secs(30))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning")).collect();
    if !warnings.is_empty() {
        for w in &warnings {
            eprintln!("  | {w}");
        }
        bail!(
            "strbox.ko built with {} warning(s); see {}",
            warnings.len(),
            log.display()
        );
    }
    let ko = m.join("strbox.ko");
    if !ko.exists() {
        bail!("Kbuild finished without {}", ko.display());
    }
    Ok(ko)
}

/// Builds against the cached strbox kernel.
pub fn build(a: Arch, k: &Kernel) -> Result<PathBuf> {
    let key = k.dir.file_name().context("kernel dir")?;
    let out = util::target_dir().join("kmod").join(key);
    progress(
        "kmod",
        format!(
            "{}: building strbox.ko (Kbuild, M={})",
            a.name(),
            out.join("kmod").display()
        ),
    );
    let ko = kbuild(a, &k.dir, &k.dir, &out)?;
    progress(
        "kmod",
        format!(
            "{}: {} ({} KiB)",
            a.name(),
            ko.display(),
            fs::metadata(&ko)?.len() / 1024
        ),
    );
    Ok(ko)
}

/// Builds against a user's kernel build tree, after checking it can build
/// Rust modules with this toolchain.
pub fn build_external(a: Arch, kdir: &Path) -> Result<PathBuf> {
    let kdir = fs::canonicalize(kdir).with_context(|| format!("{}", kdir.display()))?;
    let cfg = fs::read_to_string(kdir.join(".config")).with_context(|| {
        format!(
            "{} has no .config: not a configured kernel build tree",
            kdir.display()
        )
    })?;
    if !cfg.lines().any(|l| l == "CONFIG_RUST=y") {
        bail!(
            "{}: CONFIG_RUST is not enabled; strbox.ko is a Rust module",
            kdir.display()
        );
    }
    if cfg.lines().any(|l| l == "CONFIG_PREEMPT_RT=y") {
        bail!(
            "{}: CONFIG_PREEMPT_RT is set; strbox does not support RT kernels (its probes \
             take spinlock_t and allocate in atomic context)",
            kdir.display()
        );
    }
    // The probes' RCU reasoning rests on 6.12's non-faultable syscall
    // tracepoints (preemption disabled around every probe); from 6.13 on
    // they may run preemptible.
    let release =
        fs::read_to_string(kdir.join("include/config/kernel.release")).unwrap_or_default();
    if !release.trim().starts_with("6.12.") && release.trim() != "6.12" {
        bail!(
            "{}: kernel {} is not 6.12: strbox's probes rely on 6.12's syscall \
             tracepoints (run with preemption disabled)",
            kdir.display(),
            release.trim()
        );
    }
    for need in [
        "CONFIG_FTRACE_SYSCALLS=y",
        "CONFIG_MODULE_UNLOAD=y",
        "CONFIG_KPROBES=y",
    ] {
        if !cfg.lines().any(|l| l == need) {
            eprintln!(
                "warning: {} lacks {need}; the module may not build or attach",
                kdir.display()
            );
        }
    }
    if !kdir.join("rust").join("libkernel.rmeta").exists() {
        bail!(
            "{}: no rust/libkernel.rmeta: build the kernel (make LLVM=1) first",
            kdir.display()
        );
    }
    // The kernel records the rustc it was built with.
    let want = fs::read_to_string(kdir.join("include/config/auto.conf")).unwrap_or_default();
    let kver = want
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_RUSTC_VERSION="))
        .unwrap_or("")
        .to_string();
    let rv = util::output(
        "rustc",
        &[&format!("+{}", util::RUST_TOOLCHAIN), "--version"],
    )?;
    let ours = rv.split_whitespace().nth(1).unwrap_or("");
    let parts: Vec<u32> = ours
        .split('.')
        .filter_map(|p| p.split('-').next()?.parse().ok())
        .collect();
    let ours_num = match parts.as_slice() {
        // The kernel's encoding (scripts/rustc-version.sh): 1.95.0 -> 109500.
        [a, b, c, ..] => a * 100_000 + b * 100 + c,
        _ => 0,
    };
    if !kver.is_empty() && kver != ours_num.to_string() {
        bail!(
            "{} was built with rustc {} (CONFIG_RUSTC_VERSION={kver}) but strbox pins {}: \
             modules must be built by the same rustc",
            kdir.display(),
            kver,
            ours
        );
    }
    let out = util::target_dir()
        .join("kmod")
        .join(format!("external-{}", a.name()));
    let ko = kbuild(a, &kdir, &kdir, &out)?;
    Ok(ko)
}
