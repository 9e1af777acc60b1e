//! The TOCTOU a syscall-entry path filter cannot close: the path buffer
//! changes between the filter's read and the kernel's own copy. file_open
//! judges the file the kernel actually opened, so the race cannot win.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use super::super::child::{install, spawn};
use super::super::util::{drain, pipe, write_all};
use super::super::TestResult;
use super::{close, expect_open, fd_ino, fresh_dir, ino, mkfile, openat, Want, DENY};
use crate::{check, ensure};

const D: &str = "/tmp/evr";
/// The two names differ in one byte (at [`FLIP_AT`]).
const ALLOWED: &str = "/tmp/evr/Afile";
const DENIED: &str = "/tmp/evr/Dfile";
const FLIP_AT: usize = 9;
const ATTEMPTS: u64 = 100_000;
const OPENERS: usize = 2;

/// The shared path buffer (NUL-terminated; byte FLIP_AT flips).
static BUF: [AtomicU8; 16] = [const { AtomicU8::new(0) }; 16];

#[derive(Default)]
struct Counts {
    attempts: AtomicU64,
    /// Opened the allowed file.
    allowed_ok: AtomicU64,
    /// Denied by the policy (the kernel's copy named the denied file).
    denied: AtomicU64,
    /// Opened the denied file: must stay 0.
    denied_ok: AtomicU64,
    /// An open that gave anything else (other file, other errno).
    other: AtomicU64,
    /// The entry check saw the allowed name, the kernel opened (or was
    /// denied) the denied file.
    fooled: AtomicU64,
    /// The entry check saw the denied name, the kernel opened the allowed
    /// file (an entry filter would have refused an allowed open).
    fooled_reverse: AtomicU64,
}

/// One flipper thread and [`OPENERS`] opener threads on one path buffer,
/// at least [`ATTEMPTS`] opens in all: no open ever gets the denied file
/// (identified by inode). Each opener also plays a syscall-entry monitor
/// (it reads the buffer right before the openat) and counts how often that
/// check saw the allowed name while the kernel's copy was the denied file;
/// the count is printed, not asserted (it depends on scheduling).
pub(super) fn events_path_race_no_toctou() -> TestResult {
    fresh_dir(D)?;
    mkfile(ALLOWED, b"allowed", 0o644)?;
    mkfile(DENIED, b"denied", 0o644)?;
    let (a_ino, d_ino) = (ino(ALLOWED)?, ino(DENIED)?);
    let policy = format!("default errno EXDEV\nfile_open: path == \"{ALLOWED}\"\n");
    let (r, w) = pipe()?;
    spawn(|| {
        install(&policy)?;
        // The policy works before the race starts.
        expect_open(ALLOWED, libc::O_RDONLY, Want::Ino(a_ino))?;
        expect_open(DENIED, libc::O_RDONLY, Want::Errno(DENY))?;
        for (i, b) in ALLOWED.bytes().enumerate() {
            BUF[i].store(b, Relaxed);
        }
        let (a_byte, d_byte) = (ALLOWED.as_bytes()[FLIP_AT], DENIED.as_bytes()[FLIP_AT]);
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let flipper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    BUF[FLIP_AT].store(if n & 1 == 0 { d_byte } else { a_byte }, Relaxed);
                    n += 1;
                }
            })
        };
        let mut openers = Vec::new();
        for _ in 0..OPENERS {
            let c = counts.clone();
            openers.push(std::thread::spawn(move || {
                let path = BUF.as_ptr().cast::<libc::c_char>();
                // SAFETY: BUF is a static, NUL-terminated buffer of
                // AtomicU8 (same layout as u8); the kernel copies it.
                let path = unsafe { std::ffi::CStr::from_ptr(path) };
                while c.attempts.fetch_add(1, Relaxed) < ATTEMPTS {
                    // The "monitor at syscall entry" reads the buffer.
                    let saw_allowed = BUF[FLIP_AT].load(Relaxed) == a_byte;
                    match openat(libc::AT_FDCWD, path, libc::O_RDONLY) {
                        Ok(fd) => {
                            let i = fd_ino(fd);
                            close(fd);
                            if i == a_ino {
                                c.allowed_ok.fetch_add(1, Relaxed);
                                if !saw_allowed {
                                    c.fooled_reverse.fetch_add(1, Relaxed);
                                }
                            } else if i == d_ino {
                                c.denied_ok.fetch_add(1, Relaxed);
                                if saw_allowed {
                                    c.fooled.fetch_add(1, Relaxed);
                                }
                            } else {
                                c.other.fetch_add(1, Relaxed);
                            }
                        }
                        Err(e) if e == DENY => {
                            c.denied.fetch_add(1, Relaxed);
                            if saw_allowed {
                                c.fooled.fetch_add(1, Relaxed);
                            }
                        }
                        Err(_) => {
                            c.other.fetch_add(1, Relaxed);
                        }
                    }
                }
            }));
        }
        let mut joined = true;
        for h in openers {
            joined &= h.join().is_ok();
        }
        stop.store(true, Relaxed);
        joined &= flipper.join().is_ok();
        check!(joined, "a race thread panicked");
        let g = |a: &AtomicU64| a.load(Relaxed);
        let line = format!(
            "{} {} {} {} {} {}\n",
            g(&counts.allowed_ok),
            g(&counts.denied),
            g(&counts.denied_ok),
            g(&counts.other),
            g(&counts.fooled),
            g(&counts.fooled_reverse)
        );
        let _ = write_all(w, line.as_bytes());
        Ok(())
    })?
    .ok("race child")?;
    close(w);
    let text = String::from_utf8_lossy(&drain(r)).into_owned();
    close(r);
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [allowed_ok, denied, denied_ok, other, fooled, fooled_rev] = v[..] else {
        return Err(format!("race child reported {text:?}"));
    };
    let total = allowed_ok + denied + denied_ok + other;
    println!(
        "# events_path_race_no_toctou: {total} opens by {OPENERS} threads: {allowed_ok} allowed \
         file, {denied} denied by the policy, {denied_ok} denied file, {other} other"
    );
    println!(
        "# a syscall-entry check of the user buffer would have been fooled {fooled} times in \
         {total} attempts (and would have refused an allowed open {fooled_rev} times)"
    );
    ensure!(
        total >= ATTEMPTS,
        "only {total} open attempts, want >= {ATTEMPTS}"
    );
    ensure!(
        denied_ok == 0,
        "the denied file was opened {denied_ok} times"
    );
    ensure!(
        other == 0,
        "{other} opens gave neither file nor the policy errno"
    );
    Ok(())
}
