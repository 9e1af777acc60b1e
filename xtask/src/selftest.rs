//! The kernel's own seccomp selftest for the guest: `/bin/seccomp_bpf`.
//!
//! `tools/testing/selftests/seccomp/seccomp_bpf.c` from the same extracted
//! kernel source the guest kernel is built from ([`kernel::source`]),
//! compiled as a **static** executable against that tree's own uapi headers
//! (`make headers` into a private O= directory, so the test sees 6.12's
//! `linux/seccomp.h`, not the host's), glibc and libcap:
//!
//! - for the host's arch with the host's `gcc` and Debian's `libcap-dev`
//!   (which has `libcap.a`), both installed by [`setup::ensure_packages`];
//! - for the other arch with Debian's cross compiler
//!   (`gcc-aarch64-linux-gnu` / `gcc-x86-64-linux-gnu`, whose
//!   `libc6-dev-*-cross` has the static glibc) and that arch's
//!   `libcap-dev`, fetched with `apt-get download` through a **private** apt
//!   state and cache under the strbox cache (`-o APT::Architectures::=ARCH
//!   -o Dir::State=... -o Dir::Cache=...`, the machine's own sources) and
//!   unpacked with `dpkg-deb -x`: the host's apt configuration, its package
//!   lists and its dpkg database are never touched.
//!
//! Cached as `<cache>/selftest/<kernel source version>/<arch>/seccomp_bpf`
//! next to a stamp naming the recipe, the compiler and the libcap used; a
//! warm run reuses it. Nothing of this goes into the repository.
//!
//! The guest suite runs it with and without strbox (selftests/src/
//! seccomp_selftest.rs; docs/seccomp-coexistence.md).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::kernel;
use crate::setup;
use crate::util::{self, output, progress};

/// Bump when the build steps below change in a way that matters.
const RECIPE: &str = "strbox-seccomp-selftest-recipe-1";
const STAMP: &str = ".strbox-complete";
/// The selftest's directory in the kernel tree.
const SELFTEST_DIR: &str = "tools/testing/selftests/seccomp";

/// Debian's name of the architecture (`dpkg --print-architecture`).
fn deb_arch(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
    }
}

/// The GNU triplet: cross-compiler prefix and multiarch library directory.
fn triplet(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 => "x86_64-linux-gnu",
        Arch::Aarch64 => "aarch64-linux-gnu",
    }
}

/// Debian's cross-compiler package for `a` (used when `a` is not the host).
fn cross_gcc_package(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 => "gcc-x86-64-linux-gnu",
        Arch::Aarch64 => "gcc-aarch64-linux-gnu",
    }
}

/// ELF `e_machine` of `a`.
fn elf_machine(a: Arch) -> u16 {
    match a {
        Arch::X86_64 => 62,   // EM_X86_64
        Arch::Aarch64 => 183, // EM_AARCH64
    }
}

/// Where libcap's headers and `libcap.a` come from.
struct Libcap {
    /// `-I` directory (None: the compiler's default, the host's libcap-dev).
    include: Option<PathBuf>,
    /// `-L` directory (None: the compiler's default).
    lib: Option<PathBuf>,
    /// Debian version, for the stamp.
    version: String,
}

/// The initramfs spec line (`usr/gen_init_cpio` syntax) putting
/// `seccomp_bpf` for `a` at `/bin/seccomp_bpf`, building it if needed.
pub fn initramfs_entry(a: Arch) -> Result<String> {
    let bin = fs::canonicalize(seccomp_bpf(a)?)?;
    let path = bin.to_str().context("non-UTF-8 cache path")?;
    if path.contains(char::is_whitespace) {
        bail!("{path}: paths with spaces cannot go into the initramfs");
    }
    Ok(format!("file /bin/seccomp_bpf {path} 0755 0 0\n"))
}

/// Builds (or finds cached) `seccomp_bpf` for `a`; returns its path.
pub fn seccomp_bpf(a: Arch) -> Result<PathBuf> {
    let src = kernel::source()?;
    let dir = util::cache_dir()
        .join("selftest")
        .join(&src.version)
        .join(a.name());
    let bin = dir.join("seccomp_bpf");
    let (cc, libc, libcap) = if a.is_host() {
        setup::ensure_packages(&["gcc", "libc6-dev", "libcap-dev"])?;
        let version = output("dpkg-query", &["-W", "-f=${Version}", "libcap-dev"])?;
        let libcap = Libcap {
            include: None,
            lib: None,
            version,
        };
        ("gcc".to_string(), "libc6-dev".to_string(), libcap)
    } else {
        // The cross glibc (static libc.a, headers) is only a Recommends of
        // the cross gcc, and ensure_packages installs without recommends.
        let libc = format!("libc6-dev-{}-cross", deb_arch(a));
        setup::ensure_packages(&[cross_gcc_package(a), &libc])?;
        (format!("{}-gcc", triplet(a)), libc, foreign_libcap(a)?)
    };
    let cc_version = output(&cc, &["--version"])?
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let libc_version = output("dpkg-query", &["-W", "-f=${Version}", &libc])?;
    let stamp = format!(
        "{RECIPE}\nkernel source {}\n{cc_version}\n{libc} {libc_version}\nlibcap-dev {}\n",
        src.version, libcap.version
    );
    if bin.exists() && fs::read_to_string(dir.join(STAMP)).ok().as_deref() == Some(&stamp) {
        progress(
            "selftest",
            format!("{}: seccomp_bpf cached ({})", a.name(), bin.display()),
        );
        return Ok(bin);
    }
    let t0 = Instant::now();
    fs::create_dir_all(&dir)?;
    let _ = fs::remove_file(dir.join(STAMP));
    let logs = dir.join("logs");
    let every = Duration::from_secs(60);

    // The tree's own uapi headers, generated into a private O= directory
    // (the shared kernel build trees are left alone).
    progress(
        "selftest",
        format!(
            "{}: generating the kernel's uapi headers (make headers)",
            a.name()
        ),
    );
    let hdr_build = dir.join("headers-build");
    util::run_logged(
        "selftest",
        kernel::make(&src.tree, &hdr_build, a, &["headers"]),
        &logs.join("headers.log"),
        every,
    )?;
    let uapi = hdr_build.join("usr").join("include");
    if !uapi.join("linux").join("seccomp.h").exists() {
        bail!(
            "make headers produced no {}/linux/seccomp.h",
            uapi.display()
        );
    }

    progress(
        "selftest",
        format!(
            "{}: building {SELFTEST_DIR}/seccomp_bpf.c (static, {cc}, libcap {})",
            a.name(),
            libcap.version
        ),
    );
    let test_dir = src.tree.join(SELFTEST_DIR);
    let tmp = dir.join("seccomp_bpf.tmp");
    // The selftest Makefile's flags (CFLAGS += -Wl,-no-as-needed -Wall
    // $(KHDR_INCLUDES), LDFLAGS += -lpthread, LDLIBS += -lcap), plus -static.
    let mut args: Vec<String> = vec![
        "-static".into(),
        "-O2".into(),
        "-Wall".into(),
        "-Wl,-no-as-needed".into(),
        "-isystem".into(),
        uapi.display().to_string(),
    ];
    if let Some(i) = &libcap.include {
        args.push(format!("-I{}", i.display()));
    }
    args.push("-o".into());
    args.push(tmp.display().to_string());
    args.push(test_dir.join("seccomp_bpf.c").display().to_string());
    if let Some(l) = &libcap.lib {
        args.push(format!("-L{}", l.display()));
    }
    args.extend(["-lpthread".into(), "-lcap".into()]);
    util::run_logged(
        "selftest",
        duct::cmd(&cc, &args).dir(&test_dir).stdin_null(),
        &logs.join("build.log"),
        every,
    )?;
    let (machine, dynamic) = elf_facts(&tmp)?;
    if machine != elf_machine(a) {
        bail!(
            "{}: ELF machine {machine}, expected {} for {}",
            tmp.display(),
            elf_machine(a),
            a.name()
        );
    }
    if dynamic {
        bail!("{}: not a static executable (has PT_INTERP)", tmp.display());
    }
    fs::rename(&tmp, &bin)?;
    fs::write(dir.join(STAMP), &stamp)?;
    progress(
        "selftest",
        format!(
            "{}: seccomp_bpf built in {}s ({:.1} MiB, static)",
            a.name(),
            t0.elapsed().as_secs(),
            fs::metadata(&bin)?.len() as f64 / 1048576.0
        ),
    );
    Ok(bin)
}

/// `libcap-dev` of a foreign arch, unpacked under the cache: fetched with
/// `apt-get download` through a private apt state and cache (the machine's
/// own sources, that arch only), never installed.
fn foreign_libcap(a: Arch) -> Result<Libcap> {
    let da = deb_arch(a);
    let base = util::cache_dir()
        .join("selftest")
        .join(format!("libcap-{da}"));
    let root = base.join("root");
    let lib = root.join("usr").join("lib").join(triplet(a));
    let include = root.join("usr").join("include");
    let stamp = base.join(STAMP);
    let done = |version: String| Libcap {
        include: Some(include.clone()),
        lib: Some(lib.clone()),
        version,
    };
    if let Ok(v) = fs::read_to_string(&stamp) {
        if lib.join("libcap.a").exists() && include.join("sys").join("capability.h").exists() {
            return Ok(done(v.trim().to_string()));
        }
    }
    progress(
        "selftest",
        format!(
            "{}: fetching libcap-dev:{da} with a private apt state",
            a.name()
        ),
    );
    let state = base.join("apt-state");
    let cache = base.join("apt-cache");
    let debs = base.join("debs");
    for d in [
        state.join("lists").join("partial"),
        cache.join("archives").join("partial"),
    ] {
        fs::create_dir_all(d)?;
    }
    if debs.exists() {
        fs::remove_dir_all(&debs)?;
    }
    fs::create_dir_all(&debs)?;
    let opts = [
        "-q".to_string(),
        "-o".into(),
        format!("APT::Architectures::={da}"),
        "-o".into(),
        format!("Dir::State={}", state.display()),
        "-o".into(),
        format!("Dir::Cache={}", cache.display()),
    ];
    let apt = |args: &[&str], log: &str| -> Result<()> {
        let mut all: Vec<String> = opts.to_vec();
        all.extend(args.iter().map(|s| s.to_string()));
        util::run_logged(
            "selftest",
            duct::cmd("apt-get", &all)
                .dir(&debs)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin_null(),
            &base.join("logs").join(log),
            Duration::from_secs(30),
        )
    };
    apt(&["update"], "apt-update.log")?;
    apt(
        &[
            "download",
            &format!("libcap-dev:{da}"),
            &format!("libcap2:{da}"),
        ],
        "apt-download.log",
    )?;
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::create_dir_all(&root)?;
    let mut version = None;
    for e in fs::read_dir(&debs)? {
        let p = e?.path();
        if p.extension().and_then(|s| s.to_str()) != Some("deb") {
            continue;
        }
        let p_str = p.to_str().context("non-UTF-8 path")?;
        duct::cmd!("dpkg-deb", "-x", &p, &root).run()?;
        if p_str.contains("/libcap-dev_") {
            version = Some(output("dpkg-deb", &["-f", p_str, "Version"])?);
        }
    }
    let version = version.context("apt-get download fetched no libcap-dev")?;
    if !lib.join("libcap.a").exists() {
        bail!("libcap-dev:{da} has no {}", lib.join("libcap.a").display());
    }
    fs::write(&stamp, &version)?;
    // The private package lists (~45 MB) served this download only.
    for d in [&state, &cache, &debs] {
        let _ = fs::remove_dir_all(d);
    }
    Ok(done(version))
}

/// The ELF machine of `p` and whether it asks for a program interpreter
/// (PT_INTERP: a dynamically linked executable). ELF64 little-endian only.
fn elf_facts(p: &Path) -> Result<(u16, bool)> {
    let b = fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    let (_, machine, interp) = util::elf_facts(&b).with_context(|| format!("{}", p.display()))?;
    Ok((machine, interp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_facts_of_a_dynamic_host_executable() {
        // The test binary itself: a dynamically linked executable of the
        // host's arch.
        let exe = std::env::current_exe().unwrap();
        let (machine, dynamic) = elf_facts(&exe).unwrap();
        let host = if Arch::X86_64.is_host() {
            Arch::X86_64
        } else {
            Arch::Aarch64
        };
        assert_eq!(machine, elf_machine(host));
        assert!(dynamic);
    }

    #[test]
    fn elf_facts_rejects_non_elf() {
        let p = std::env::temp_dir().join(format!("strbox-elf-test-{}", std::process::id()));
        fs::write(&p, b"#!/bin/sh\n").unwrap();
        assert!(elf_facts(&p).is_err());
        let _ = fs::remove_file(&p);
    }
}
