//! The module itself: loaded, listed, harmless to unfiltered tasks.

use super::util::module_listed;
use super::{Test, TestResult};
use crate::ensure;

/// Module-level tests (load happens in the harness before all tests,
/// unload after all of them).
pub static TESTS: &[Test] = &[
    Test {
        name: "guest_is_smp",
        run: guest_is_smp,
    },
    Test {
        name: "module_listed",
        run: module_is_listed,
    },
    Test {
        name: "unfiltered_task_unaffected",
        run: unfiltered_task_unaffected,
    },
];

fn module_is_listed() -> TestResult {
    ensure!(
        module_listed().map_err(|e| e.to_string())?,
        "strbox missing from /proc/modules"
    );
    let m = std::fs::read_to_string("/proc/modules").map_err(|e| e.to_string())?;
    let line = m.lines().find(|l| l.starts_with("strbox ")).unwrap_or("");
    ensure!(line.contains("Live"), "strbox not Live: {line:?}");
    Ok(())
}

/// A task with no filter sees every ordinary syscall behave normally, over
/// many iterations (with strbox loaded; `tracing.rs` proves it never
/// reaches the probe).
fn unfiltered_task_unaffected() -> TestResult {
    // SAFETY: plain syscalls with no pointer arguments.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    ensure!(pid > 1 && ppid >= 1, "getpid {pid} getppid {ppid}");
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("open /dev/null: {e}"))?;
    use std::os::fd::AsRawFd;
    let fd = devnull.as_raw_fd();
    let buf = [0x55u8; 64];
    for i in 0..20_000 {
        // SAFETY: plain syscalls; buf outlives the calls and is 64 bytes.
        unsafe {
            ensure!(libc::getpid() == pid, "iteration {i}: getpid changed");
            ensure!(libc::getppid() == ppid, "iteration {i}: getppid changed");
            let w = libc::write(fd, buf.as_ptr().cast(), buf.len());
            ensure!(w == 64, "iteration {i}: write(/dev/null) = {w}");
            let r = libc::read(fd, buf.as_ptr() as *mut _, 0);
            ensure!(r == 0, "iteration {i}: read = {r}");
            let mut ts: libc::timespec = std::mem::zeroed();
            ensure!(
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) == 0,
                "iteration {i}: clock_gettime failed"
            );
        }
    }
    // An invalid syscall still fails with ENOSYS, a bad fd with EBADF.
    // SAFETY: syscall numbers/arguments that touch no memory.
    let r = unsafe { libc::syscall(100_000) };
    let e = std::io::Error::last_os_error().raw_os_error();
    ensure!(
        r == -1 && e == Some(libc::ENOSYS),
        "syscall(100000) = {r}, {e:?}"
    );
    // SAFETY: closing a number that is not an open fd.
    let r = unsafe { libc::close(9999) };
    let e = std::io::Error::last_os_error().raw_os_error();
    ensure!(
        r == -1 && e == Some(libc::EBADF),
        "close(9999) = {r}, {e:?}"
    );
    Ok(())
}

/// The guest has exactly the vCPUs QEMU was asked for (`strbox.smp=N` on
/// the kernel command line), all online; with fewer than 2 the concurrency
/// tests prove little, so the suite says so (skip) rather than passing
/// silently.
fn guest_is_smp() -> TestResult {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cmdline = std::fs::read_to_string("/proc/cmdline").map_err(|e| e.to_string())?;
    let want = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("strbox.smp="))
        .and_then(|v| v.parse::<i64>().ok());
    match want {
        Some(w) => ensure!(n == w, "{n} CPU(s) online, QEMU was given {w}"),
        None => return Err("skip: no strbox.smp= on the kernel command line".into()),
    }
    if n < 2 {
        return Err(format!(
            "skip: {n} vCPU: concurrency tests run, but prove little"
        ));
    }
    Ok(())
}
