//! Guest userland: the static musl binaries and the initramfs.
//!
//! The initramfs holds `/init` (= `strbox-guest` of `selftests/`, the test
//! harness and command runner), `/bin/strbox` (the CLI, `cli/`),
//! `/bin/busybox` (Debian's busybox-static for the arch, `busybox.rs`),
//! the example policies (`examples/policies/` as
//! `/usr/share/strbox/examples/policies/`), `/strbox.ko`, `/etc/strbox-run` (what to do) and `--add` files under
//! `/mnt/host/`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::kernel::Kernel;
use crate::util::{self, progress};

/// Where `examples/policies/` is in the guest.
pub const EXAMPLES: &str = "/usr/share/strbox/examples/policies";

pub enum Mode {
    Test {
        filter: Option<String>,
    },
    Run {
        cmd: Vec<String>,
        load_module: bool,
    },
    Bench {
        iters: Option<u64>,
        reps: Option<usize>,
    },
}

pub struct Bins {
    pub guest: PathBuf,
    pub cli: PathBuf,
    /// Debian's static busybox for the arch.
    pub busybox: PathBuf,
}

pub fn build_binaries(a: Arch) -> Result<Bins> {
    progress(
        "guest",
        format!(
            "{}: building static musl binaries (strbox-guest, strbox)",
            a.name()
        ),
    );
    let t = a.musl_target();
    let log = util::target_dir()
        .join("guest")
        .join(format!("{}-cargo.log", a.name()));
    util::run_logged(
        "guest",
        duct::cmd!(
            "cargo",
            "build",
            "--release",
            "--target",
            t,
            "-p",
            "strbox-selftests",
            "-p",
            "strbox-cli",
            "--bin",
            "strbox-guest",
            "--bin",
            "strbox"
        )
        .dir(util::repo_root())
        .env("RUSTUP_TOOLCHAIN", util::RUST_TOOLCHAIN)
        .stdin_null(),
        &log,
        Duration::from_secs(30),
    )?;
    let dir = util::target_dir().join(t).join("release");
    Ok(Bins {
        guest: dir.join("strbox-guest"),
        cli: dir.join("strbox"),
        busybox: crate::busybox::ensure(a)?,
    })
}

fn run_file(mode: &Mode) -> Result<String> {
    let mut s = String::new();
    match mode {
        Mode::Test { filter } => {
            s.push_str("mode=test\n");
            if let Some(f) = filter {
                writeln!(s, "filter={f}")?;
            }
        }
        Mode::Run { cmd, load_module } => {
            s.push_str("mode=run\n");
            writeln!(s, "module={}", u8::from(*load_module))?;
            for a in cmd {
                if a.contains('\n') {
                    bail!("guest command arguments cannot contain newlines");
                }
                writeln!(s, "arg={a}")?;
            }
        }
        Mode::Bench { iters, reps } => {
            // The benchmark loads and unloads the module itself.
            s.push_str("mode=bench\n");
            if let Some(n) = iters {
                writeln!(s, "iters={n}")?;
            }
            if let Some(n) = reps {
                writeln!(s, "reps={n}")?;
            }
        }
    }
    Ok(s)
}

pub fn initramfs(
    a: Arch,
    k: &Kernel,
    ko: &Path,
    bins: &Bins,
    mode: &Mode,
    add: &[PathBuf],
) -> Result<PathBuf> {
    let dir = util::target_dir().join("initramfs").join(a.name());
    fs::create_dir_all(&dir)?;
    let run = dir.join("strbox-run");
    fs::write(&run, run_file(mode)?)?;
    let mut spec = String::new();
    for d in [
        "/dev",
        "/proc",
        "/sys",
        "/tmp",
        "/bin",
        "/etc",
        "/mnt",
        "/mnt/host",
    ] {
        writeln!(spec, "dir {d} 0755 0 0")?;
    }
    spec.push_str("nod /dev/console 0600 0 0 c 5 1\n");
    let file = |spec: &mut String, dst: &str, src: &Path, mode: &str| -> Result<()> {
        let src = fs::canonicalize(src).with_context(|| format!("{}", src.display()))?;
        if src.to_string_lossy().contains(char::is_whitespace) {
            bail!(
                "{}: paths with spaces cannot go into the initramfs",
                src.display()
            );
        }
        writeln!(spec, "file {dst} {} {mode} 0 0", src.display())?;
        Ok(())
    };
    file(&mut spec, "/init", &bins.guest, "0755")?;
    file(&mut spec, "/bin/strbox-guest", &bins.guest, "0755")?;
    // A setuid-root copy: the TSYNC-vs-exec test execs it from uid 1000.
    file(&mut spec, "/bin/strbox-guest-suid", &bins.guest, "4755")?;
    file(&mut spec, "/bin/strbox", &bins.cli, "0755")?;
    file(&mut spec, "/bin/busybox", &bins.busybox, "0755")?;
    // The example policies, as the repository has them (their
    // `@include`s are relative): the guest tests run them.
    let mut dirs = vec![(
        util::repo_root().join("examples").join("policies"),
        EXAMPLES.to_string(),
    )];
    for d in [
        "/usr",
        "/usr/share",
        "/usr/share/strbox",
        "/usr/share/strbox/examples",
    ] {
        writeln!(spec, "dir {d} 0755 0 0")?;
    }
    while let Some((src, dst)) = dirs.pop() {
        writeln!(spec, "dir {dst} 0755 0 0")?;
        let mut entries: Vec<_> = fs::read_dir(&src)
            .with_context(|| format!("{}", src.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let name = name.to_str().context("non-UTF-8 file name")?;
            if e.file_type()?.is_dir() {
                dirs.push((e.path(), format!("{dst}/{name}")));
            } else {
                file(&mut spec, &format!("{dst}/{name}"), &e.path(), "0644")?;
            }
        }
    }
    spec.push_str(&crate::selftest::initramfs_entry(a)?);
    file(&mut spec, "/strbox.ko", ko, "0644")?;
    file(&mut spec, "/etc/strbox-run", &run, "0644")?;
    for p in add {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("--add {}: no file name", p.display()))?;
        let perm = if is_executable(p) { "0755" } else { "0644" };
        file(&mut spec, &format!("/mnt/host/{name}"), p, perm)?;
    }
    let spec_path = dir.join("initramfs.list");
    fs::write(&spec_path, &spec)?;
    let out = dir.join("initramfs.cpio");
    let gen = k.dir.join("usr").join("gen_init_cpio");
    if !gen.exists() {
        bail!("{} missing: kernel build incomplete", gen.display());
    }
    let cpio = duct::cmd!(gen, &spec_path).stdout_capture().run()?.stdout;
    fs::write(&out, cpio)?;
    Ok(out)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
