//! The ABI version, the seed's example policy (allowed and denied calls)
//! and seccomp's strict mode as a strbox policy.

use std::sync::atomic::{AtomicBool, Ordering};

use strbox::abi::{PR_SECCOMP_GET, PR_SECCOMP_SET, PR_STRBOX_ABI_VERSION, STRBOX_ABI_VERSION};
use strbox::sys;

use crate::child::{getpid, install, install_flags, layers_len, nnp, sc, spawn};
use crate::util::{devnull, drain, dup2, pipe, write_all, SharedPage};
use crate::{check, ensure, TestResult};

use super::SEED;

pub(super) fn abi_version() -> TestResult {
    ensure!(
        sys::prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0) == Ok(i64::from(STRBOX_ABI_VERSION)),
        "PR_STRBOX_ABI_VERSION: {:?}",
        sys::prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0)
    );
    ensure!(
        strbox::abi_version() == Some(STRBOX_ABI_VERSION),
        "abi_version()"
    );
    for bad in [[1u64, 0, 0, 0], [0, 0, 0, 1]] {
        let r = sys::prctl(PR_STRBOX_ABI_VERSION, bad[0], bad[1], bad[2], bad[3]);
        ensure!(r == Err(libc::EINVAL), "version with args {bad:?}: {r:?}");
    }
    // Unused arguments of SET/GET must be zero.
    let r = sys::prctl(PR_SECCOMP_SET, 0, 32, 1, 0);
    ensure!(r == Err(libc::EINVAL), "SET with arg4: {r:?}");
    let r = sys::prctl(PR_SECCOMP_GET, 0, 0, 0, 7);
    ensure!(r == Err(libc::EINVAL), "GET with arg5: {r:?}");
    // Neighbouring option numbers are not claimed: the kernel's prctl
    // answers them.
    let r = sys::prctl(PR_STRBOX_ABI_VERSION | 0x7f, 0, 0, 0, 0);
    ensure!(r == Err(libc::EINVAL), "unclaimed option: {r:?}");
    // An unfiltered task has no layers.
    ensure!(
        layers_len() == Ok(0),
        "GET of unfiltered task: {:?}",
        layers_len()
    );
    Ok(())
}

/// Seed example: the allowed calls work.
pub(super) fn seed_example_allows() -> TestResult {
    let (r0, w0) = pipe()?;
    write_all(w0, b"hi")?;
    let null = devnull();
    spawn(|| {
        dup2(r0, 0);
        dup2(null, 1);
        dup2(null, 2);
        install(SEED)?;
        let mut buf = [0u8; 2];
        let r = sc(libc::SYS_read, [0, buf.as_mut_ptr() as u64, 2, 0, 0, 0]);
        check!(r == Ok(2) && &buf == b"hi", "read(0) = {r:?}");
        let r = sc(libc::SYS_write, [1, b"x".as_ptr() as u64, 1, 0, 0, 0]);
        check!(r == Ok(1), "write(1) = {r:?}");
        // Pre-filled with a sentinel no clock can produce (tv_usec is
        // below 1,000,000): the call must have written both fields. The
        // clock's value itself is not asserted (a guest clock may start
        // at 0).
        const SENTINEL: u64 = 0xdead_beef_dead_beef;
        let mut tv = [SENTINEL; 2];
        let r = sc(
            libc::SYS_gettimeofday,
            [tv.as_mut_ptr() as u64, 0, 0, 0, 0, 0],
        );
        check!(
            r == Ok(0) && tv[0] != SENTINEL && tv[1] < 1_000_000,
            "gettimeofday(&tv, NULL) = {r:?}, tv {tv:x?}"
        );
        Ok(())
    })?
    .ok("seed policy child")
}

/// Seed example: each forbidden call kills the child before it runs.
pub(super) fn seed_example_denies() -> TestResult {
    let null = devnull();
    // read on another open fd: the data stays in the pipe.
    let (r0, w0) = pipe()?;
    let (r1, w1) = pipe()?;
    write_all(w0, b"hi")?;
    write_all(w1, b"yo")?;
    spawn(|| {
        dup2(r0, 0);
        dup2(null, 1);
        install(SEED)?;
        let mut buf = [0u8; 2];
        let _ = sc(
            libc::SYS_read,
            [r1 as u64, buf.as_mut_ptr() as u64, 2, 0, 0, 0],
        );
        check!(false, "read({r1}) returned");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "read on fd != 0")?;
    ensure!(drain(r1) == b"yo", "the denied read consumed the pipe");

    // write on fd 0 and fd 2: nothing reaches the pipe behind fd 2.
    let (r2, w2) = pipe()?;
    for fd in [0u64, 2] {
        spawn(|| {
            dup2(r0, 0);
            dup2(null, 1);
            dup2(w2, 2);
            install(SEED)?;
            let _ = sc(libc::SYS_write, [fd, b"zz".as_ptr() as u64, 2, 0, 0, 0]);
            check!(false, "write({fd}) returned");
            Ok(())
        })?
        .killed_by(libc::SIGKILL, &format!("write({fd})"))?;
    }
    ensure!(drain(r2).is_empty(), "a denied write reached fd 2");

    // gettimeofday with a timezone: tv is not written.
    let shared = SharedPage::new()?;
    let tv = shared.as_ptr::<u64>();
    // SAFETY: the page holds at least 4 u64.
    unsafe { tv.write_volatile(0x5eed) };
    spawn(|| {
        dup2(null, 1);
        install(SEED)?;
        let tz = [0u32; 2];
        let _ = sc(
            libc::SYS_gettimeofday,
            [tv as u64, tz.as_ptr() as u64, 0, 0, 0, 0],
        );
        check!(false, "gettimeofday(&tv, &tz) returned");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "gettimeofday(&tv, &tz)")?;
    // SAFETY: as above.
    let v = unsafe { tv.read_volatile() };
    ensure!(v == 0x5eed, "the denied gettimeofday wrote tv ({v:#x})");
    // Any syscall the policy does not name, e.g. getpid.
    spawn(|| {
        install(SEED)?;
        let _ = getpid();
        check!(false, "getpid returned");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "getpid")
}

static ALARMED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_alarm(_: libc::c_int) {
    ALARMED.store(true, Ordering::SeqCst);
}

/// seccomp's strict mode as a policy of `1` rules: read, write, exit and
/// rt_sigreturn on any arguments, nothing else (not even exit_group).
pub(super) fn strict_mode_emulation() -> TestResult {
    const STRICT: &str = "read: 1\nwrite: 1\nexit: 1\nrt_sigreturn: 1\n";
    let (r, w) = pipe()?;
    spawn(|| {
        // SAFETY: installing a plain handler and arming a timer before the
        // filter exists.
        unsafe {
            libc::signal(libc::SIGALRM, on_alarm as *const () as usize);
            libc::alarm(1);
        }
        nnp()?;
        install_flags(STRICT, 0)?;
        let x = sc(
            libc::SYS_write,
            [w as u64, b"abc".as_ptr() as u64, 3, 0, 0, 0],
        );
        check!(x == Ok(3), "write(pipe) = {x:?}");
        let mut b = [0u8; 3];
        let x = sc(
            libc::SYS_read,
            [r as u64, b.as_mut_ptr() as u64, 3, 0, 0, 0],
        );
        check!(x == Ok(3) && &b == b"abc", "read(pipe) = {x:?}");
        // A signal handler returns through rt_sigreturn. (No clock here:
        // clock_gettime could be a syscall; count spins instead.)
        let mut spins = 0u64;
        while !ALARMED.load(Ordering::SeqCst) {
            std::hint::spin_loop();
            spins += 1;
            check!(spins < 4_000_000_000, "no SIGALRM");
        }
        // exit (of the only thread) ends the process normally.
        let _ = sc(libc::SYS_exit, [0; 6]);
        Ok(())
    })?
    .ok("strict child")?;
    for (name, nr) in [
        ("getpid", libc::SYS_getpid),
        ("exit_group", libc::SYS_exit_group),
    ] {
        spawn(|| {
            install(STRICT)?;
            let _ = sc(nr, [0; 6]);
            let _ = sc(libc::SYS_exit, [3, 0, 0, 0, 0, 0]);
            Ok(())
        })?
        .killed_by(libc::SIGKILL, name)?;
    }
    Ok(())
}
