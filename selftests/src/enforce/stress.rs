//! The SMP stress test: installs, TSYNC, threads and forks racing on
//! every vCPU.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strbox::abi::STRBOX_SET_TSYNC;

use crate::child::{allow_all_except, getpid, getppid, layers_len, nnp, set, spawn};
use crate::util::{bad_kernel_text, kmsg_read_all, wait_pid};
use crate::{check, ensure, TestResult};

/// Many threads installing layers (with and without TSYNC), creating
/// threads and forking, while others make syscalls, on every vCPU. The
/// harness fails the run if the kernel log shows any splat.
pub(super) fn stress_smp() -> TestResult {
    // SAFETY: sysconf query.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let before = kmsg_read_all().len();
    spawn(|| {
        nnp()?;
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicI64::new(0));
        let policy = Arc::new(allow_all_except(&["getppid"], "errno EPERM"));
        // One progress counter per worker; the run ends when every worker
        // has done MIN_ROUNDS rounds (a count, not a duration: the outcome
        // does not depend on host speed; a stuck worker trips the
        // harness's time limit).
        let progress: Arc<[std::sync::atomic::AtomicU64; 7]> = Arc::new(Default::default());
        let mut handles = Vec::new();
        // Installers: own layers and TSYNC layers (EBUSY/EMLINK expected).
        for tsync in [false, true, false] {
            let (stop, errors, policy) = (stop.clone(), errors.clone(), policy.clone());
            let progress = progress.clone();
            let slot = handles.len();
            handles.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let flags = if tsync { STRBOX_SET_TSYNC } else { 0 };
                    let (r, _) = set(policy.as_bytes(), flags);
                    match r {
                        Ok(()) | Err(libc::EMLINK) | Err(libc::EBUSY) => {}
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let _ = layers_len();
                    n += 1;
                    progress[slot].store(n, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
                n
            }));
        }
        // Syscallers: getppid is either allowed (not yet filtered) or
        // EPERM, nothing else.
        for _ in 0..2 {
            let (stop, errors) = (stop.clone(), errors.clone());
            let progress = progress.clone();
            let slot = handles.len();
            handles.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match getppid() {
                        Ok(p) if p > 0 => {}
                        Err(libc::EPERM) => {}
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let _ = getpid();
                    n += 1;
                    progress[slot].store(n, Ordering::Relaxed);
                }
                n
            }));
        }
        // Thread creators.
        {
            let stop = stop.clone();
            let progress = progress.clone();
            let slot = handles.len();
            handles.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::thread::spawn(getppid).join();
                    n += 1;
                    progress[slot].store(n, Ordering::Relaxed);
                }
                n
            }));
        }
        // Forkers: children that install a layer, fork, and exit.
        {
            let (stop, errors, policy) = (stop.clone(), errors.clone(), policy.clone());
            let progress = progress.clone();
            let slot = handles.len();
            handles.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: the child only makes raw syscalls and exits.
                    let pid = unsafe { libc::fork() };
                    if pid == 0 {
                        let _ = set(policy.as_bytes(), 0);
                        // SAFETY: as above.
                        let g = unsafe { libc::fork() };
                        if g == 0 {
                            let ok = getppid() == Err(libc::EPERM);
                            // SAFETY: leaving the grandchild.
                            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
                        }
                        let ok = g > 0 && matches!(wait_pid(g), Ok(s) if s == 0);
                        // SAFETY: leaving the child.
                        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
                    }
                    match wait_pid(pid) {
                        Ok(0) => {}
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    n += 1;
                    progress[slot].store(n, Ordering::Relaxed);
                }
                n
            }));
        }
        const MIN_ROUNDS: u64 = 50;
        while progress
            .iter()
            .take(handles.len())
            .any(|c| c.load(Ordering::Relaxed) < MIN_ROUNDS)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let mut counts = [0u64; 7];
        check!(handles.len() == counts.len(), "{} workers", handles.len());
        for (h, c) in handles.into_iter().zip(counts.iter_mut()) {
            *c = h.join().unwrap_or(0);
        }
        let errs = errors.load(Ordering::Relaxed);
        check!(
            errs == 0,
            "{errs} unexpected results (counts {counts:?}, {cpus} cpus)"
        );
        check!(
            counts.iter().all(|&c| c > 0),
            "a worker made no progress: {counts:?}"
        );
        Ok(())
    })?
    .ok("stress process")?;
    let bad: Vec<String> = kmsg_read_all()
        .into_iter()
        .skip(before)
        .filter(|l| bad_kernel_text().any(|p| l.contains(p)))
        .collect();
    ensure!(bad.is_empty(), "kernel log during stress: {bad:?}");
    Ok(())
}
