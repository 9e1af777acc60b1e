//! Helpers for guest tests that install filters: run a closure in a forked
//! child and report failures without making syscalls.
//!
//! A filtered child may be forbidden every syscall but the ones its policy
//! lists, so its failure report cannot go through a pipe or stdout, and it
//! should not allocate either (malloc may call `mmap`/`brk`). [`check!`]
//! formats into a page of shared memory mapped before the fork, using only
//! `core::fmt`; the parent reads it after `waitpid`.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicPtr, Ordering};

use strbox::abi::{StrboxError, StrboxSetArgs, STRBOX_SET_ARGS_SIZE_VER0};
use strbox::sys;

use super::util::{describe_status, wait_pid};
use super::TestResult;

/// Size of the shared report page.
const REPORT_SIZE: usize = 4096;

/// The current child's report page (set by [`spawn`] before forking).
static REPORT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// A failed check in a child; the message is in the shared page.
#[derive(Debug)]
pub struct Failed;

/// Result of a child body.
pub type Child = Result<(), Failed>;

struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if let Some(d) = self.buf.get_mut(self.len) {
                *d = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Records a failure message (no allocation, no syscall).
pub fn fail(args: fmt::Arguments<'_>) -> Failed {
    let p = REPORT.load(Ordering::Relaxed);
    if p.is_null() {
        return Failed;
    }
    // SAFETY: `p` is the REPORT_SIZE-byte shared mapping made by `spawn`
    // (which outlives the child); only this process writes it now.
    let page = unsafe { std::slice::from_raw_parts_mut(p, REPORT_SIZE) };
    let (head, body) = page.split_at_mut(8);
    let mut w = SliceWriter { buf: body, len: 0 };
    let _ = w.write_fmt(args);
    head.copy_from_slice(&(w.len as u64).to_ne_bytes());
    Failed
}

/// Fails the child body unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::child::fail(format_args!($($fmt)+)));
        }
    };
}

/// How a child ended.
pub struct Outcome {
    /// Raw wait status.
    pub status: i32,
    /// The failure message the child recorded, if any.
    pub msg: String,
}

impl Outcome {
    fn describe(&self) -> String {
        if self.msg.is_empty() {
            describe_status(self.status)
        } else {
            format!("{} ({})", self.msg, describe_status(self.status))
        }
    }

    /// The child's body succeeded (exit 0).
    pub fn ok(&self, what: &str) -> TestResult {
        if libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0 {
            Ok(())
        } else {
            Err(format!("{what}: {}", self.describe()))
        }
    }

    /// The child was killed by `sig` (and recorded no failure before).
    pub fn killed_by(&self, sig: i32, what: &str) -> TestResult {
        if libc::WIFSIGNALED(self.status)
            && libc::WTERMSIG(self.status) == sig
            && self.msg.is_empty()
        {
            Ok(())
        } else {
            Err(format!(
                "{what}: expected signal {sig}, got {}",
                self.describe()
            ))
        }
    }
}

/// Forks; the child runs `body` and exits 0 on success, 1 on a failed
/// check, 2 on a panic. Returns how it ended and its message.
pub fn spawn(body: impl FnOnce() -> Child) -> Result<Outcome, String> {
    let page =
        strbox_bench::guest_util::shared_anon(REPORT_SIZE).map_err(|e| format!("mmap: {e}"))?;
    let prev = REPORT.swap(page, Ordering::Relaxed);
    // SAFETY: fork in a test process; the child only runs `body` and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        REPORT.store(prev, Ordering::Relaxed);
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let code = match r {
            Ok(Ok(())) => 0,
            Ok(Err(Failed)) => 1,
            Err(_) => 2,
        };
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let status = wait_pid(pid);
    REPORT.store(prev, Ordering::Relaxed);
    // SAFETY: the page is REPORT_SIZE bytes and the child is gone.
    let bytes = unsafe { std::slice::from_raw_parts(page, REPORT_SIZE) };
    let mut lenb = [0u8; 8];
    lenb.copy_from_slice(&bytes[..8]);
    let len = (u64::from_ne_bytes(lenb) as usize).min(REPORT_SIZE - 8);
    let msg = String::from_utf8_lossy(&bytes[8..8 + len]).into_owned();
    // SAFETY: unmapping our own mapping.
    unsafe { libc::munmap(page.cast(), REPORT_SIZE) };
    Ok(Outcome {
        status: status?,
        msg,
    })
}

/// A raw syscall: `Ok(return value)` or `Err(errno)`.
pub fn sc(nr: libc::c_long, a: [u64; 6]) -> Result<i64, i32> {
    // SAFETY: raw syscall; tests pass arguments the kernel checks.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 {
        Err(sys::errno())
    } else {
        Ok(r as i64)
    }
}

/// `getppid()` as a raw syscall.
pub fn getppid() -> Result<i64, i32> {
    sc(libc::SYS_getppid, [0; 6])
}

/// `getpid()` as a raw syscall.
pub fn getpid() -> Result<i64, i32> {
    sc(libc::SYS_getpid, [0; 6])
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn nnp() -> Child {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    check!(r == 0, "PR_SET_NO_NEW_PRIVS failed: errno {}", sys::errno());
    Ok(())
}

/// Sets no_new_privs and installs `policy` (no TSYNC); fails the child
/// with the kernel's error otherwise.
pub fn install(policy: &str) -> Child {
    nnp()?;
    install_flags(policy, 0)
}

/// Installs `policy` with `flags` (no NNP change).
pub fn install_flags(policy: &str, flags: u64) -> Child {
    let r = set(policy.as_bytes(), flags);
    check!(
        r.0.is_ok(),
        "install failed: errno {:?}, record {:?}",
        r.0,
        r.1
    );
    Ok(())
}

/// `PR_SECCOMP_SET` of `policy`: the result and the error record.
pub fn set(policy: &[u8], flags: u64) -> (Result<(), i32>, StrboxError) {
    let mut rec = [0xa5u8; strbox::abi::STRBOX_ERROR_SIZE];
    let args = StrboxSetArgs {
        policy: policy.as_ptr() as u64,
        policy_len: policy.len() as u64,
        flags,
        error: rec.as_mut_ptr() as u64,
    }
    .to_bytes();
    let r = sys::set(args.as_ptr(), STRBOX_SET_ARGS_SIZE_VER0);
    (r, StrboxError::from_bytes(&rec))
}

/// The length of the calling task's `PR_SECCOMP_GET` text (0: no layers).
pub fn layers_len() -> Result<usize, i32> {
    sys::get(std::ptr::null_mut(), 0)
}

/// A policy that allows every syscall of this architecture except
/// `except` (those get `default`), e.g. `allow_all_except(&["getppid"],
/// "errno EPERM")`. Tests use it so that the Rust runtime keeps working
/// (allocation, threads, ...) under a filter.
pub fn allow_all_except(except: &[&str], default: &str) -> String {
    let arch = strbox::policy::arch(None).expect("native arch");
    let mut s = format!("default {default}\n");
    for sys in arch.syscalls {
        if (sys.nr as usize) < strbox_filter::limits::MAX_NR && !except.contains(&sys.name) {
            let _ = writeln!(s, "{}: 1", sys.name);
        }
    }
    s
}
