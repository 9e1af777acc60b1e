//! The module's lifecycle and resource bounds: repeated load/unload leaves
//! nothing behind, and a fork bomb of filtered tasks under RLIMIT_NPROC
//! leaves no layer once it is gone.
//!
//! Both unload the module (the harness loaded it) and load it again at the
//! end, whatever happened. The module's unload line reports the filtered
//! tasks and the live layers it still knows of; both must be 0.

use super::child::{allow_all_except, install, nnp, spawn};
use super::harness::unload_when_idle;
use super::util::{kmsg_read_all, load_module, module_listed};
use super::{Test, TestResult};
use crate::{check, ensure};

pub static TESTS: &[Test] = &[
    Test {
        name: "lifecycle_load_unload_cycles",
        run: load_unload_cycles,
    },
    Test {
        name: "fork_bomb_leaves_no_layer",
        run: fork_bomb_leaves_no_layer,
    },
];

/// Unloads the module and returns its unload line's counts
/// `(filtered tasks left, layers live)`.
fn unload_and_count() -> Result<(u64, u64), String> {
    let before = kmsg_read_all().len();
    unload_when_idle()?;
    let lines = kmsg_read_all();
    let line = lines
        .iter()
        .skip(before)
        .rev()
        .find(|l| l.contains("strbox: unloaded ("))
        .ok_or("no 'strbox: unloaded' line after unload")?;
    let num = |key: &str| {
        line.split(key)
            .next()
            .and_then(|s| s.rsplit(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("cannot read {key:?} in {line:?}"))
    };
    Ok((num(" filtered tasks left")?, num(" layers live")?))
}

/// Runs `f`, then makes sure the module is loaded again.
fn with_reload(f: impl FnOnce() -> TestResult) -> TestResult {
    let r = f();
    let reload = if module_listed().unwrap_or(false) {
        Ok(())
    } else {
        load_module().map_err(|e| format!("reloading strbox.ko: {e}"))
    };
    r.and(reload)
}

/// Nothing of strbox is left once it is unloaded: not in /proc/modules,
/// /sys/module, /proc/kallsyms (a probe still registered would point
/// there) or the kprobe list.
fn nothing_left(cycle: usize) -> TestResult {
    ensure!(
        !module_listed().map_err(|e| e.to_string())?,
        "cycle {cycle}: strbox still in /proc/modules"
    );
    ensure!(
        !std::path::Path::new("/sys/module/strbox").exists(),
        "cycle {cycle}: /sys/module/strbox still exists"
    );
    let syms = std::fs::read_to_string("/proc/kallsyms").map_err(|e| e.to_string())?;
    ensure!(
        !syms.lines().any(|l| l.ends_with("[strbox]")),
        "cycle {cycle}: /proc/kallsyms still has strbox symbols"
    );
    if let Ok(kp) = std::fs::read_to_string("/sys/kernel/debug/kprobes/list") {
        ensure!(
            !kp.contains("strbox"),
            "cycle {cycle}: kprobes of strbox left: {kp}"
        );
    }
    Ok(())
}

/// 100 load/unload cycles, every other one with filtered tasks that have
/// all exited before the unload.
fn load_unload_cycles() -> TestResult {
    with_reload(|| {
        for cycle in 0..100 {
            if cycle % 2 == 1 {
                for _ in 0..3 {
                    spawn(|| {
                        install("default errno EPERM\nexit_group: 1\ngetpid: 1\n")?;
                        check!(
                            super::child::getppid() == Err(libc::EPERM),
                            "getppid not denied"
                        );
                        Ok(())
                    })?
                    .ok(&format!("cycle {cycle}: filtered child"))?;
                }
            }
            let (tasks, layers) = unload_and_count()?;
            ensure!(
                tasks == 0 && layers == 0,
                "cycle {cycle}: unloaded with {tasks} filtered tasks, {layers} layers live"
            );
            nothing_left(cycle)?;
            load_module().map_err(|e| format!("cycle {cycle}: load: {e}"))?;
        }
        Ok(())
    })
}

/// A filtered fork bomb as an unprivileged user under RLIMIT_NPROC: it
/// hits the limit (EAGAIN), every process waits for its children, and
/// once the tree is gone no filtered task and no layer is left.
fn fork_bomb_leaves_no_layer() -> TestResult {
    const NPROC: u64 = 48;
    spawn(|| {
        // SAFETY: credential and limit changes without pointers except
        // the rlimit struct, valid for the call.
        let rc = unsafe {
            let lim = libc::rlimit {
                rlim_cur: NPROC,
                rlim_max: NPROC,
            };
            libc::setgroups(0, std::ptr::null());
            libc::setrlimit(libc::RLIMIT_NPROC, &lim)
                | libc::setresgid(65534, 65534, 65534)
                | libc::setresuid(65534, 65534, 65534)
        };
        check!(rc == 0, "dropping privileges failed");
        nnp()?;
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        // Every process forks until the limit says no (at most 8 times),
        // then reaps its children; children do the same.
        // 2^8 processes wanted, NPROC allowed: the limit is hit.
        for _ in 0..8 {
            // SAFETY: the child only continues this loop, then waits and
            // returns (spawn's child path exits with _exit).
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                break;
            }
        }
        let mut st = 0;
        // SAFETY: waiting for our own children; `st` is a valid out pointer.
        while unsafe { libc::wait4(-1, &mut st, 0, std::ptr::null_mut()) } > 0 {}
        check!(
            super::child::getppid() == Err(libc::EPERM),
            "a bomb process is not filtered"
        );
        Ok(())
    })?
    .ok("fork bomb root")?;
    with_reload(|| {
        let (tasks, layers) = unload_and_count()?;
        ensure!(
            tasks == 0 && layers == 0,
            "after the fork bomb: {tasks} filtered tasks, {layers} layers live"
        );
        Ok(())
    })
}
