//! The guest kernel: Debian's linux-source-6.12, configured from `qemu/`
//! fragments, built with LLVM=1 and cached outside the clone.
//!
//! Cache layout (`util::cache_dir()`, default `~/.cache/strbox/`):
//!   src/<debian-version>/linux-source-6.12/   pristine extracted source
//!   kernel/<arch>-<base|debug>-<key>/          O= build tree (+ .strbox-complete)
//! `<key>` hashes the source version, the config fragments, the build recipe
//! and the rustc/bindgen/clang/lld versions. A miss with an older tree of the
//! same arch and flavour moves that tree to the new key first, so a changed
//! fragment or toolchain rebuilds incrementally.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::arch::Arch;
use crate::setup::bindgen_path;
use crate::util::{self, output, progress, RUST_TOOLCHAIN};

/// Bump when the build steps below change in a way that matters.
const RECIPE: &str = "strbox-kernel-recipe-1";
const TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
const STAMP: &str = ".strbox-complete";

pub struct Source {
    pub version: String,
    pub tree: PathBuf,
}

pub struct Kernel {
    pub dir: PathBuf,
    pub image: PathBuf,
}

/// Extracts Debian's linux-source-6.12 (once per package version).
pub fn source() -> Result<Source> {
    let version = output("dpkg-query", &["-W", "-f=${Version}", "linux-source-6.12"])
        .context("linux-source-6.12 is not installed (cargo xtask setup)")?;
    let base = util::cache_dir().join("src").join(&version);
    let tree = base.join("linux-source-6.12");
    if !base.join(".extracted").exists() {
        progress("kernel", format!("extracting {TARBALL} ({version})"));
        if tree.exists() {
            fs::remove_dir_all(&tree)?;
        }
        fs::create_dir_all(&base)?;
        duct::cmd!("tar", "-C", &base, "-xf", TARBALL).run()?;
        fs::write(base.join(".extracted"), &version)?;
    }
    Ok(Source { version, tree })
}

fn fragments(a: Arch, debug: bool) -> Vec<PathBuf> {
    let q = util::repo_root().join("qemu");
    let mut v = vec![
        q.join("common.config"),
        q.join(format!("{}.config", a.name())),
    ];
    if debug {
        v.push(q.join("debug.config"));
    }
    v
}

fn toolchain_versions() -> Result<String> {
    let rustc = output("rustc", &[&format!("+{RUST_TOOLCHAIN}"), "-vV"])?;
    let bindgen = output(bindgen_path().to_str().unwrap_or("bindgen"), &["--version"])?;
    let clang = output("clang", &["--version"])?;
    let lld = output("ld.lld", &["--version"])?;
    Ok(format!("{rustc}\n{bindgen}\n{clang}\n{lld}\n"))
}

/// `make -C <src> O=<dir> ARCH=.. LLVM=1 ARGS` with the pinned toolchain.
pub fn make(
    src: &std::path::Path,
    dir: &std::path::Path,
    a: Arch,
    args: &[&str],
) -> duct::Expression {
    let mut v = vec![
        "-C".to_string(),
        src.display().to_string(),
        format!("O={}", dir.display()),
        format!("ARCH={}", a.karch()),
        "LLVM=1".into(),
        format!("BINDGEN={}", bindgen_path().display()),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    duct::cmd("make", v)
        .env("RUSTUP_TOOLCHAIN", RUST_TOOLCHAIN)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin_null()
}

/// Parses `CONFIG_X=y` / `# CONFIG_X is not set` lines of a fragment.
fn wanted(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if let Some(rest) = l
                .strip_prefix("# ")
                .and_then(|r| r.strip_suffix(" is not set"))
            {
                return Some((rest.to_string(), "n".to_string()));
            }
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Takes the cache's lock for `arch`'s `flavor` trees (blocking; says so
/// when another process holds it).
fn lock_flavour(root: &std::path::Path, a: Arch, flavor: &str) -> Result<fs::File> {
    let path = root.join(format!("{}-{flavor}.lock", a.name()));
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            progress(
                "kernel",
                format!(
                    "{} {flavor}: waiting for another build ({} is locked)",
                    a.name(),
                    path.display()
                ),
            );
            f.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
    Ok(f)
}

pub fn build(a: Arch, debug: bool) -> Result<Kernel> {
    let src = source()?;
    let flavor = if debug { "debug" } else { "base" };
    let frags = fragments(a, debug);
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(&src.version);
    h.update(a.name());
    for f in &frags {
        h.update(fs::read(f).with_context(|| format!("reading {}", f.display()))?);
    }
    h.update(toolchain_versions()?);
    let key: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = util::cache_dir().join("kernel");
    let name = format!("{}-{flavor}-{key}", a.name());
    let dir = root.join(&name);
    let image = dir.join(a.image_target().1);
    let k = Kernel {
        dir: dir.clone(),
        image: image.clone(),
    };
    // One build per arch and flavour at a time, across processes (two
    // `cargo xtask` runs sharing the cache must not interleave in one
    // build tree, nor move it away from each other as a starting point);
    // the lock is released when `_lock` is dropped.
    fs::create_dir_all(&root)?;
    let _lock = lock_flavour(&root, a, flavor)?;
    if dir.join(STAMP).exists() && image.exists() {
        progress(
            "kernel",
            format!("{} {flavor}: cached ({})", a.name(), dir.display()),
        );
        return Ok(k);
    }
    if !dir.exists() {
        // Seed from the newest older tree of this arch+flavour: incremental.
        let prefix = format!("{}-{flavor}-", a.name());
        let mut old: Vec<_> = fs::read_dir(&root)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .collect();
        old.sort_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
        if let Some(o) = old.last() {
            progress(
                "kernel",
                format!("reusing {} as a starting point", o.path().display()),
            );
            fs::rename(o.path(), &dir)?;
            let _ = fs::remove_file(dir.join(STAMP));
        }
    }
    fs::create_dir_all(&dir)?;
    let t0 = Instant::now();
    let logs = dir.join("logs");
    let every = Duration::from_secs(60);

    progress(
        "kernel",
        format!(
            "{} {flavor}: configuring (tinyconfig + qemu/ fragments)",
            a.name()
        ),
    );
    util::run_logged(
        "kernel",
        make(&src.tree, &dir, a, &["tinyconfig"]),
        &logs.join("config.log"),
        every,
    )?;
    // Append the fragments: for Kconfig a later assignment overrides.
    let cfg_path = dir.join(".config");
    let mut cfg = fs::read_to_string(&cfg_path)?;
    let mut want = Vec::new();
    for f in &frags {
        let text = fs::read_to_string(f)?;
        cfg.push_str(&text);
        cfg.push('\n');
        want.extend(wanted(&text));
    }
    fs::write(&cfg_path, cfg)?;
    util::run_logged(
        "kernel",
        make(&src.tree, &dir, a, &["olddefconfig"]),
        &logs.join("olddefconfig.log"),
        every,
    )?;
    let got = fs::read_to_string(&cfg_path)?;
    let have = wanted(&got);
    let mut dropped = Vec::new();
    for (k, v) in &want {
        let now = have
            .iter()
            .rev()
            .find(|(hk, _)| hk == k)
            .map(|(_, hv)| hv.as_str())
            .unwrap_or("n");
        if now != v {
            dropped.push(format!("{k}={v} (got {now})"));
        }
    }
    if !dropped.is_empty() {
        bail!(
            "kernel config did not keep: {} (see {})",
            dropped.join(", "),
            logs.join("olddefconfig.log").display()
        );
    }
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .to_string();
    progress(
        "kernel",
        format!(
            "{} {flavor}: building {} + modules with LLVM=1 -j{jobs} (~10-15 min cold; log {})",
            a.name(),
            a.image_target().0,
            logs.join("build.log").display()
        ),
    );
    let target = a.image_target().0;
    util::run_logged(
        "kernel",
        make(&src.tree, &dir, a, &["-j", &jobs, target, "modules"]),
        &logs.join("build.log"),
        every,
    )?;
    if !image.exists() {
        bail!("kernel build finished without {}", image.display());
    }
    fs::write(
        dir.join(STAMP),
        format!("{}\n{}", src.version, toolchain_versions()?),
    )?;
    let size = fs::metadata(&image)?.len();
    progress(
        "kernel",
        format!(
            "{} {flavor}: built in {}s, {} is {:.1} MiB",
            a.name(),
            t0.elapsed().as_secs(),
            target,
            size as f64 / 1048576.0
        ),
    );
    Ok(k)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fragment_lines() {
        let w = super::wanted("# c\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=8\n");
        assert_eq!(
            w,
            vec![
                ("CONFIG_A".into(), "y".into()),
                ("CONFIG_B".into(), "n".into()),
                ("CONFIG_C".into(), "8".into())
            ]
        );
    }
}
