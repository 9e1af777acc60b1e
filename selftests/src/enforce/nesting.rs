//! Stacked layers: a layer without prctl blocks new layers, nesting only
//! narrows, and the precedence of verdicts across layers.

use strbox::abi::PR_STRBOX_ABI_VERSION;
use strbox::sys;

use crate::child::{allow_all_except, getpid, getppid, install, sc, set, spawn, Child};
use crate::{check, TestResult};

/// A layer that does not allow prctl also forbids adding layers: the
/// strbox prctl is itself a filtered syscall.
pub(super) fn layer_without_prctl() -> TestResult {
    spawn(|| {
        install("default errno EPERM\nexit_group: 1\n")?;
        let (r, _) = set(b"exit_group: 1\n", 0);
        check!(r == Err(libc::EPERM), "second install = {r:?}");
        let r = sys::prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0);
        check!(r == Err(libc::EPERM), "version under the filter = {r:?}");
        Ok(())
    })?
    .ok("child")
}

pub(super) fn nesting_narrows() -> TestResult {
    spawn(|| {
        install(&allow_all_except(&[], "errno EPERM"))?;
        check!(getppid().is_ok(), "layer 1 denies getppid");
        install(&allow_all_except(&["getppid"], "errno EACCES"))?;
        let r = getppid();
        check!(r == Err(libc::EACCES), "after layer 2: getppid = {r:?}");
        check!(getpid().is_ok(), "getpid denied");
        Ok(())
    })?
    .ok("child")
}

pub(super) fn nesting_never_reallows() -> TestResult {
    spawn(|| {
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        install(&allow_all_except(&[], "errno EACCES"))?;
        let r = getppid();
        check!(r == Err(libc::EPERM), "layer 2 re-allowed getppid: {r:?}");
        Ok(())
    })?
    .ok("child")
}

pub(super) fn precedence_kill_over_errno() -> TestResult {
    for (a, b) in [("kill", "errno EACCES"), ("errno EACCES", "kill")] {
        spawn(|| {
            install(&allow_all_except(&["getppid"], a))?;
            install(&allow_all_except(&["getppid"], b))?;
            let r = getppid();
            check!(false, "getppid returned {r:?}");
            Ok(())
        })?
        .killed_by(libc::SIGKILL, &format!("layers {a} then {b}"))?;
    }
    // errno beats log, in either order.
    for (a, b) in [("log", "errno EACCES"), ("errno EACCES", "log")] {
        spawn(|| {
            install(&allow_all_except(&["getppid"], a))?;
            install(&allow_all_except(&["getppid"], b))?;
            let r = getppid();
            check!(r == Err(libc::EACCES), "getppid = {r:?}");
            Ok(())
        })?
        .ok(&format!("layers {a} then {b}"))?;
    }
    Ok(())
}

pub(super) fn precedence_newest_errno() -> TestResult {
    for (a, b, want) in [
        ("EPERM", "EACCES", libc::EACCES),
        ("EACCES", "EPERM", libc::EPERM),
    ] {
        spawn(|| {
            install(&allow_all_except(&["getppid"], &format!("errno {a}")))?;
            install(&allow_all_except(&["getppid"], &format!("errno {b}")))?;
            let r = getppid();
            check!(r == Err(want), "getppid = {r:?}, want errno {want}");
            Ok(())
        })?
        .ok(&format!("errno {a} then {b}"))?;
    }
    Ok(())
}

/// Argument rules deep in a full stack: of 16 layers, the oldest, one in
/// the middle and the newest judge `getsid` by its argument; the 13
/// others allow it outright, so the module evaluates only the three
/// (the chain summary names them) — and the verdicts are the whole
/// chain's: a layer's errno where only it matches, the newest errno of
/// two that match, and `kill` from the oldest layer through all the
/// others.
pub(super) fn deep_stack_argument_rules() -> TestResult {
    const OLDEST: &str =
        "default allow\ngetsid: pid == 12345 => errno EACCES\ngetsid: pid == 4242 => kill\n";
    const MIDDLE: &str = "default allow\ngetsid: pid == 12345 || pid == 555 => errno ENOENT\n";
    const NEWEST: &str = "default allow\ngetsid: pid == 777 => errno EPERM\n";
    let stack = || -> Child {
        for k in 0..16 {
            install(match k {
                0 => OLDEST,
                7 => MIDDLE,
                15 => NEWEST,
                _ => "default allow\n",
            })?;
        }
        Ok(())
    };
    spawn(|| {
        stack()?;
        let sid = |pid: u64| sc(libc::SYS_getsid, [pid, 0, 0, 0, 0, 0]);
        check!(sid(0).is_ok(), "getsid(0) = {:?}", sid(0));
        for (pid, want) in [
            (777, libc::EPERM),
            (555, libc::ENOENT),
            (12345, libc::ENOENT),
        ] {
            let r = sid(pid);
            check!(r == Err(want), "getsid({pid}) = {r:?}, want errno {want}");
        }
        Ok(())
    })?
    .ok("16 layers")?;
    spawn(|| {
        stack()?;
        let r = sc(libc::SYS_getsid, [4242, 0, 0, 0, 0, 0]);
        check!(false, "getsid(4242) returned {r:?}");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "kill from the oldest of 16 layers")
}
