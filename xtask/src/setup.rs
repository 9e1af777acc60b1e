//! Installs what the pipeline needs, skipping what is already there.
//!
//! Debian packages come from the machine's own apt sources, except QEMU: on
//! this machine kind `qemu-utils` 10.x from bookworm-backports is
//! preinstalled and Breaks bookworm's own qemu-system 7.2, so the QEMU
//! system emulators are installed from bookworm-backports too. That is done
//! through a private apt sources directory under the cache (the host's apt
//! configuration is never edited), pointing at the same Debian mirror the
//! machine already uses.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::util::{self, have, output, progress, RUST_TOOLCHAIN};

/// bindgen-cli version the kernel's Rust bindings are generated with.
pub const BINDGEN_VERSION: &str = "0.73.2";

const BUILD_PACKAGES: &[&str] = &[
    "clang",
    "lld",
    "llvm",
    "libclang-dev",
    "bc",
    "flex",
    "bison",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "xz-utils",
    "make",
    "linux-source-6.12",
];

pub fn ensure(arches: &[Arch]) -> Result<()> {
    let mut pkgs: Vec<&str> = BUILD_PACKAGES.to_vec();
    if arches.iter().any(|a| !a.is_host() && *a == Arch::Aarch64) {
        pkgs.push("gcc-aarch64-linux-gnu");
    }
    ensure_packages(&pkgs)?;
    ensure_qemu(arches)?;
    ensure_rust(arches)?;
    ensure_bindgen()?;
    Ok(())
}

fn installed(pkg: &str) -> bool {
    output("dpkg-query", &["-W", "-f=${Status}", pkg])
        .map(|s| s.ends_with("install ok installed"))
        .unwrap_or(false)
}

fn apt(extra: &[String], args: &[&str]) -> Result<()> {
    let mut all: Vec<String> = extra.to_vec();
    all.extend(args.iter().map(|s| s.to_string()));
    let log = util::cache_dir().join("logs").join("apt.log");
    let mut cmd = vec!["apt-get".to_string()];
    let root = output("id", &["-u"]).map(|s| s == "0").unwrap_or(false);
    if !root {
        if !have("sudo", "-n") {
            bail!(
                "need root (or passwordless sudo) to run: apt-get {}",
                all.join(" ")
            );
        }
        cmd.insert(0, "sudo".into());
    }
    cmd.extend(all);
    util::run_logged(
        "setup",
        duct::cmd(&cmd[0], &cmd[1..]).env("DEBIAN_FRONTEND", "noninteractive"),
        &log,
        std::time::Duration::from_secs(30),
    )
}

pub fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    progress("setup", format!("apt-get install {}", missing.join(" ")));
    apt(&[], &["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    apt(&[], &args)
}

/// Copies the machine's apt sources (deb822 `.sources` files and
/// `sources.list`) into `dir` and returns the URI of its Debian bookworm
/// mirror. The host's apt configuration is only read.
pub fn copy_host_sources(dir: &Path) -> Result<String> {
    fs::create_dir_all(dir)?;
    let mut mirror = None;
    let mut n = 0;
    for e in fs::read_dir("/etc/apt/sources.list.d")? {
        let p = e?.path();
        if p.extension().and_then(|s| s.to_str()) != Some("sources") {
            continue;
        }
        let text = fs::read_to_string(&p)?;
        if mirror.is_none() {
            // deb822: the first URIs: line of a stanza whose Suites has bookworm.
            for stanza in text.split("\n\n") {
                let uri = stanza.lines().find_map(|l| l.strip_prefix("URIs:"));
                let suites = stanza.lines().find_map(|l| l.strip_prefix("Suites:"));
                if let (Some(u), Some(s)) = (uri, suites) {
                    if s.split_whitespace().any(|s| s == "bookworm") {
                        mirror = u.split_whitespace().next().map(str::to_string);
                    }
                }
            }
        }
        fs::copy(&p, dir.join(format!("host{n}.sources")))?;
        n += 1;
    }
    if mirror.is_none() {
        if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
            mirror = text.lines().find_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.first() == Some(&"deb") && w.get(2) == Some(&"bookworm"))
                    .then(|| w.get(1).map(|s| s.to_string()))
                    .flatten()
            });
            fs::write(dir.join("host.list"), &text)?;
        }
    }
    mirror.context("cannot find the machine's Debian bookworm mirror in /etc/apt")
}

/// apt options that read the sources in `dir` instead of the host's.
pub fn source_options(dir: &Path) -> Vec<String> {
    vec![
        "-o".into(),
        format!("Dir::Etc::SourceParts={}", dir.display()),
        "-o".into(),
        "Dir::Etc::SourceList=/dev/null".into(),
    ]
}

/// A private apt configuration with the machine's sources plus
/// bookworm-backports from the same mirror.
fn backports_apt_options() -> Result<Vec<String>> {
    let dir = util::cache_dir().join("apt").join("sources.list.d");
    let mirror = copy_host_sources(&dir)?;
    fs::write(
        dir.join("strbox-backports.sources"),
        format!(
            "Types: deb\nURIs: {mirror}\nSuites: bookworm-backports\nComponents: main\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        ),
    )?;
    Ok(source_options(&dir))
}

fn ensure_qemu(arches: &[Arch]) -> Result<()> {
    let missing: Vec<&str> = arches
        .iter()
        .filter(|a| !have(a.qemu_binary(), "--version"))
        .map(|a| a.qemu_package())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    progress(
        "setup",
        format!("installing {} from bookworm-backports", missing.join(" ")),
    );
    let opts = backports_apt_options()?;
    apt(&opts, &["update", "-q"])?;
    let mut args = vec![
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-t",
        "bookworm-backports",
    ];
    args.extend(&missing);
    apt(&opts, &args)?;
    // Put the host's own package lists back in step with its own sources.
    apt(&[], &["update", "-q"])
}

fn ensure_rust(arches: &[Arch]) -> Result<()> {
    let tc = RUST_TOOLCHAIN;
    let comps = output(
        "rustup",
        &["component", "list", "--installed", "--toolchain", tc],
    )
    .unwrap_or_default();
    // rust-src for the kernel's core build, clippy for the module's lint
    // run (Kbuild CLIPPY=1).
    for comp in ["rust-src", "clippy"] {
        if !comps.lines().any(|l| l.starts_with(comp)) {
            progress("setup", format!("rustup component add {comp} ({tc})"));
            output("rustup", &["component", "add", "--toolchain", tc, comp])?;
        }
    }
    for a in arches {
        let t = a.musl_target();
        if !comps
            .lines()
            .any(|l| l.starts_with(&format!("rust-std-{t}")))
        {
            progress("setup", format!("rustup target add {t} ({tc})"));
            output("rustup", &["target", "add", "--toolchain", tc, t])?;
        }
    }
    Ok(())
}

pub fn bindgen_path() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        });
    home.join("bin").join("bindgen")
}

fn ensure_bindgen() -> Result<()> {
    let b = bindgen_path();
    let want = format!("bindgen {BINDGEN_VERSION}");
    if output(b.to_str().unwrap_or("bindgen"), &["--version"])
        .ok()
        .as_deref()
        == Some(&want)
    {
        return Ok(());
    }
    progress(
        "setup",
        format!("cargo install bindgen-cli {BINDGEN_VERSION} (~3 min)"),
    );
    util::run_logged(
        "setup",
        duct::cmd!(
            "cargo",
            "install",
            "--locked",
            "--force",
            "bindgen-cli",
            "--version",
            BINDGEN_VERSION
        )
        .env("RUSTUP_TOOLCHAIN", RUST_TOOLCHAIN),
        &util::cache_dir().join("logs").join("bindgen-install.log"),
        std::time::Duration::from_secs(30),
    )
}
