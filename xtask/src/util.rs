//! Paths, command running and progress lines.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The pinned toolchain (rust-toolchain.toml): the kernel and the module
/// must be built by the same rustc.
pub const RUST_TOOLCHAIN: &str = "1.95.0";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repo")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// `$STRBOX_CACHE`, else `$XDG_CACHE_HOME/strbox`, else `~/.cache/strbox`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STRBOX_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("strbox");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("strbox")
}

/// One progress line, timestamped from the start of xtask.
pub fn progress(stage: &str, msg: impl AsRef<str>) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs();
    println!("[{:>3}:{:02}] {stage}: {}", t / 60, t % 60, msg.as_ref());
}

/// Output of a command, trimmed; errors if it cannot run or fails.
pub fn output(prog: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(prog)
        .args(args)
        .output()
        .with_context(|| format!("running {prog}"))?;
    if !out.status.success() {
        bail!(
            "{prog} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether `prog` is on PATH and runs.
pub fn have(prog: &str, arg: &str) -> bool {
    std::process::Command::new(prog)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a long command with stdout+stderr going to `log`, printing a
/// progress line every `every` (elapsed time, lines logged, last line).
/// On failure, prints the log's tail.
pub fn run_logged(stage: &str, expr: duct::Expression, log: &Path, every: Duration) -> Result<()> {
    if let Some(p) = log.parent() {
        fs::create_dir_all(p)?;
    }
    let reader = expr
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .with_context(|| format!("{stage}: starting"))?;
    let reader = Arc::new(reader);
    let mut file = fs::File::create(log)?;
    let lines = Arc::new(AtomicUsize::new(0));
    let last_line = Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    {
        let (reader, lines, last_line) = (reader.clone(), lines.clone(), last_line.clone());
        std::thread::spawn(move || {
            let mut br = BufReader::new(&*reader);
            let mut buf = Vec::new();
            let res = loop {
                buf.clear();
                match br.read_until(b'\n', &mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {
                        use std::io::Write;
                        if let Err(e) = file.write_all(&buf) {
                            break Err(e);
                        }
                        lines.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut l) = last_line.lock() {
                            *l = String::from_utf8_lossy(&buf).trim().to_string();
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            let _ = tx.send(res);
        });
    }
    let start = Instant::now();
    let res = loop {
        match rx.recv_timeout(every) {
            Ok(r) => break r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let l = last_line.lock().map(|l| l.clone()).unwrap_or_default();
                progress(
                    stage,
                    format!(
                        "... {}s, {} lines logged, at: {}",
                        start.elapsed().as_secs(),
                        lines.load(Ordering::Relaxed),
                        l.chars().take(70).collect::<String>()
                    ),
                );
            }
            Err(e) => bail!("{stage}: log reader died: {e}"),
        }
    };
    res.with_context(|| format!("{stage}: reading output"))?;
    let status = reader
        .try_wait()?
        .map(|o| o.status)
        .context("command still running after EOF")?;
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        for l in tail.iter().rev() {
            eprintln!("  | {l}");
        }
        bail!("{stage} failed ({status}); full log: {}", log.display());
    }
    Ok(())
}

/// Copies `src` into `dst` recursively, rewriting only files whose content
/// changed (so Kbuild's timestamps stay meaningful).
pub fn sync_tree(src: &Path, dst: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
    fs::create_dir_all(dst)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let p = e.path();
        if skip(&p) {
            continue;
        }
        let d = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            sync_tree(&p, &d, skip)?;
        } else {
            let new = fs::read(&p)?;
            if fs::read(&d).ok().as_deref() != Some(&new[..]) {
                fs::write(&d, &new)?;
            }
        }
    }
    // Sources removed (or moved) since the last sync must not linger in
    // the mirror: a stale `program.rs` beside a new `program/mod.rs` is a
    // different crate. Build products (what `skip` names) stay.
    for e in fs::read_dir(dst)? {
        let e = e?;
        let d = e.path();
        if skip(&d) || src.join(e.file_name()).exists() {
            continue;
        }
        let ext = d.extension().and_then(|x| x.to_str()).unwrap_or("");
        let is_source = matches!(ext, "rs" | "c" | "h")
            || d.file_name()
                .is_some_and(|n| n == "Kbuild" || n == "Makefile");
        if e.file_type()?.is_dir() {
            // A source directory that is gone (build dirs hold no sources).
            if fs::read_dir(&d)?.flatten().all(|f| {
                let n = f.file_name();
                let n = n.to_string_lossy();
                n.ends_with(".rs") || n.ends_with(".c") || n.ends_with(".h")
            }) {
                fs::remove_dir_all(&d)?;
            }
        } else if is_source {
            fs::remove_file(&d)?;
        }
    }
    Ok(())
}

/// What the pipeline checks of an executable it puts in the guest:
/// `(e_type, e_machine, has PT_INTERP)` of an ELF64 little-endian image.
/// The one ELF reader of xtask (the seccomp selftest build and busybox).
pub fn elf_facts(b: &[u8]) -> Result<(u16, u16, bool)> {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8).map(|s| {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        })
    };
    // ELFCLASS64, ELFDATA2LSB.
    if b.get(0..6) != Some(b"\x7fELF\x02\x01") {
        bail!("not a little-endian ELF64 file");
    }
    let ty = u16_at(0x10).context("truncated ELF header")?;
    let machine = u16_at(0x12).context("truncated ELF header")?;
    let phoff = u64_at(0x20).context("truncated ELF header")? as usize;
    let phentsize = u16_at(0x36).context("truncated ELF header")? as usize;
    let phnum = u16_at(0x38).context("truncated ELF header")? as usize;
    let mut interp = false;
    for i in 0..phnum {
        // PT_INTERP = 3
        let t = u32_at(phoff + i * phentsize).context("truncated program headers")?;
        interp |= t == 3;
    }
    Ok((ty, machine, interp))
}
