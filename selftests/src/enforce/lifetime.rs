//! Module lifetime: `rmmod` is refused while a filtered task lives, and
//! (the suite's last test) kmemleak finds nothing strbox allocated.

use std::time::{Duration, Instant};

use crate::child::{allow_all_except, getppid, install, sc, Child};
use crate::util::{load_module, module_listed, pipe, unload_module, wait_pid, write_all};
use crate::{check, ensure, TestResult};

/// `rmmod` fails while a filtered task lives, succeeds after it exits.
pub(super) fn rmmod_refused_while_filtered() -> TestResult {
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    // SAFETY: fork in the test process.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = (|| -> Child {
            install(&allow_all_except(&["getppid"], "errno EPERM"))?;
            let _ = sc(
                libc::SYS_write,
                [ready_w as u64, b"r".as_ptr() as u64, 1, 0, 0, 0],
            );
            let mut b = [0u8; 1];
            let _ = sc(
                libc::SYS_read,
                [go_r as u64, b.as_mut_ptr() as u64, 1, 0, 0, 0],
            );
            check!(
                getppid() == Err(libc::EPERM),
                "filter gone after failed rmmod"
            );
            Ok(())
        })()
        .map_or(1, |()| 0);
        // SAFETY: leaving the child.
        unsafe { libc::_exit(code) };
    }
    let mut b = [0u8; 1];
    // SAFETY: reading one byte into b.
    let n = unsafe { libc::read(ready_r, b.as_mut_ptr().cast(), 1) };
    ensure!(n == 1, "child did not get ready");
    let r = unload_module();
    let e = r.as_ref().err().and_then(|e| e.raw_os_error());
    let listed = module_listed().unwrap_or(false);
    write_all(go_w, b"g")?;
    let status = wait_pid(pid)?;
    // delete_module reports a module in use as EWOULDBLOCK (= EAGAIN);
    // rmmod prints "Module strbox is in use".
    ensure!(
        e == Some(libc::EAGAIN),
        "delete_module while filtered: {r:?}"
    );
    ensure!(listed, "strbox not listed while filtered");
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "filtered child: {}",
        crate::util::describe_status(status)
    );
    // Once the child is gone (its layer is freed after a grace period),
    // the module unloads.
    let deadline = Instant::now() + Duration::from_secs(60);
    let unloaded = loop {
        match unload_module() {
            Ok(()) => break Ok(()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => break Err(e),
        }
    };
    let relisted = module_listed().unwrap_or(true);
    // Whatever happened, load it again for the tests that follow.
    let reload = if relisted { Ok(()) } else { load_module() };
    ensure!(unloaded.is_ok(), "delete_module after exit: {unloaded:?}");
    ensure!(!relisted, "strbox still listed after unload");
    ensure!(reload.is_ok(), "reload: {reload:?}");
    ensure!(
        module_listed().unwrap_or(false),
        "strbox not listed after reload"
    );
    Ok(())
}

/// On a kmemleak kernel (`--debug`): after everything above, no
/// unreferenced object allocated by strbox code.
pub(super) fn kmemleak_no_strbox_leaks() -> TestResult {
    let ctl = "/sys/kernel/debug/kmemleak";
    if !std::path::Path::new(ctl).exists() {
        let dir = c"/sys/kernel/debug";
        // SAFETY: mounting debugfs with constant C strings.
        unsafe {
            libc::mount(
                c"debugfs".as_ptr(),
                dir.as_ptr(),
                c"debugfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
    if !std::path::Path::new(ctl).exists() {
        return Err("skip: no kmemleak in this kernel".into());
    }
    // Objects must be older than kmemleak's minimum age (5 s) to be
    // reported, and are reported after two scans.
    std::thread::sleep(Duration::from_secs(6));
    for _ in 0..2 {
        std::fs::write(ctl, "scan").map_err(|e| format!("{ctl}: scan: {e}"))?;
    }
    let report = std::fs::read_to_string(ctl).map_err(|e| format!("{ctl}: {e}"))?;
    // An object allocated by strbox code names it in its backtrace, or,
    // once the module was unloaded (the lifecycle tests), shows the
    // module's frames as bare addresses (`[<ffff...>] 0xffff...`).
    let leaks: Vec<&str> = report
        .split("unreferenced object")
        .filter(|r| {
            r.contains("strbox")
                || r.lines().any(|l| {
                    l.trim_end().ends_with(|c: char| c.is_ascii_hexdigit()) && l.contains("] 0x")
                })
        })
        .collect();
    ensure!(
        leaks.is_empty(),
        "kmemleak reports strbox objects: {leaks:?}"
    );
    Ok(())
}
