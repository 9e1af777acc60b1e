//! Inheritance (fork, thread, execve), TSYNC and no_new_privs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strbox::abi::STRBOX_SET_TSYNC;
use strbox::sys;

use crate::child::{
    allow_all_except, getppid, install, install_flags, layers_len, nnp, set, spawn,
};
use crate::util::{drain, dup2, pipe};
use crate::{check, ensure, TestResult};

pub(super) fn inherit_fork() -> TestResult {
    spawn(|| {
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        let inner = spawn(|| {
            let r = getppid();
            check!(r == Err(libc::EPERM), "child: getppid = {r:?}");
            // And a grandchild.
            let g = spawn(|| {
                let r = getppid();
                check!(r == Err(libc::EPERM), "grandchild: getppid = {r:?}");
                Ok(())
            });
            check!(
                matches!(&g, Ok(o) if o.ok("g").is_ok()),
                "grandchild failed: {:?}",
                g.map(|o| o.msg)
            );
            Ok(())
        });
        check!(
            matches!(&inner, Ok(o) if o.ok("c").is_ok()),
            "forked child failed: {:?}",
            inner.map(|o| o.msg)
        );
        Ok(())
    })?
    .ok("filtered parent")
}

pub(super) fn inherit_thread() -> TestResult {
    spawn(|| {
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        let r = std::thread::spawn(getppid).join();
        check!(matches!(r, Ok(Err(libc::EPERM))), "thread: getppid = {r:?}");
        // A thread of a thread.
        let r = std::thread::spawn(|| std::thread::spawn(getppid).join()).join();
        check!(
            matches!(r, Ok(Ok(Err(libc::EPERM)))),
            "nested thread: getppid = {r:?}"
        );
        Ok(())
    })?
    .ok("child")
}

/// The environment variable that turns `exec_probe_helper` into a check.
const PROBE_ENV: &str = "STRBOX_EXEC_PROBE";

/// Not a test by itself: `inherit_execve` re-executes this binary with
/// `PROBE_ENV` set to run it in the exec'd, filtered process.
pub(super) fn exec_probe_helper() -> TestResult {
    if std::env::var_os(PROBE_ENV).is_none() {
        return Err("skip: helper of inherit_execve".into());
    }
    ensure!(
        getppid() == Err(libc::EPERM),
        "after execve: getppid = {:?}",
        getppid()
    );
    let text = strbox::read_layers().map_err(|e| format!("read_layers: {e}"))?;
    ensure!(
        text.starts_with("# strbox layer 1/1\n") && strbox::split_layers(&text).len() == 1,
        "after execve: layers {text:?}"
    );
    Ok(())
}

pub(super) fn inherit_execve() -> TestResult {
    let (r, w) = pipe()?;
    let policy = allow_all_except(&["getppid"], "errno EPERM");
    let out = spawn(|| {
        dup2(w, 1);
        install(&policy)?;
        let exe = c"/proc/self/exe";
        let argv = [
            exe.as_ptr(),
            c"exec_probe_helper".as_ptr(),
            std::ptr::null(),
        ];
        let env = [c"STRBOX_EXEC_PROBE=1".as_ptr(), std::ptr::null()];
        // SAFETY: NUL-terminated argv/envp arrays of valid C strings.
        unsafe { libc::execve(exe.as_ptr(), argv.as_ptr(), env.as_ptr()) };
        check!(false, "execve failed: errno {}", sys::errno());
        Ok(())
    })?;
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(w) };
    let text = String::from_utf8_lossy(&drain(r)).into_owned();
    out.ok("exec'd process")?;
    ensure!(
        text.contains("exec_probe_helper: Ok(())"),
        "the exec'd strbox-guest reported: {text:?}"
    );
    Ok(())
}

/// Runs `f` on a thread that exists before the filter is installed, after
/// `go` is set; returns its result.
fn thread_waiting<F, R>(go: &Arc<AtomicBool>, f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let go = go.clone();
    std::thread::spawn(move || {
        while !go.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        f()
    })
}

pub(super) fn tsync_all_threads() -> TestResult {
    // Without TSYNC an existing thread is not filtered.
    spawn(|| {
        let go = Arc::new(AtomicBool::new(false));
        let th = thread_waiting(&go, getppid);
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        go.store(true, Ordering::SeqCst);
        let r = th.join();
        check!(
            matches!(r, Ok(Ok(_))),
            "pre-existing thread filtered without TSYNC: {r:?}"
        );
        Ok(())
    })?
    .ok("no TSYNC")?;
    // With TSYNC it is, and it gets no_new_privs.
    spawn(|| {
        let go = Arc::new(AtomicBool::new(false));
        let th = thread_waiting(&go, || {
            // SAFETY: plain prctl query.
            let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
            (getppid(), nnp)
        });
        nnp()?;
        install_flags(
            &allow_all_except(&["getppid"], "errno EPERM"),
            STRBOX_SET_TSYNC,
        )?;
        go.store(true, Ordering::SeqCst);
        let r = th.join();
        check!(
            matches!(r, Ok((Err(libc::EPERM), 1))),
            "thread after TSYNC: (getppid, nnp) = {r:?}"
        );
        check!(getppid() == Err(libc::EPERM), "caller not filtered");
        Ok(())
    })?
    .ok("TSYNC")
}

pub(super) fn tsync_diverged_fails() -> TestResult {
    spawn(|| {
        nnp()?;
        // A thread installs its own layer: the threads' chains diverge.
        let installed = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (i2, d2) = (installed.clone(), done.clone());
        let th = std::thread::spawn(move || {
            let (r, _) = set(allow_all_except(&["getpid"], "errno EACCES").as_bytes(), 0);
            i2.store(true, Ordering::SeqCst);
            while !d2.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            r
        });
        while !installed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (r, rec) = set(
            allow_all_except(&["getppid"], "errno EPERM").as_bytes(),
            STRBOX_SET_TSYNC,
        );
        check!(
            r == Err(libc::EBUSY),
            "TSYNC with a diverged thread = {r:?}"
        );
        check!(rec.code == 0, "error record filled: {rec:?}");
        // Nothing changed for the caller.
        check!(
            layers_len() == Ok(0),
            "caller got layers: {:?}",
            layers_len()
        );
        check!(getppid().is_ok(), "caller filtered after failed TSYNC");
        done.store(true, Ordering::SeqCst);
        let r = th.join();
        check!(matches!(r, Ok(Ok(()))), "thread install = {r:?}");
        Ok(())
    })?
    .ok("child")?;
    // A thread whose chain is an ancestor of the caller's is fine.
    spawn(|| {
        install(&allow_all_except(&[], "errno EPERM"))?;
        let go = Arc::new(AtomicBool::new(false));
        let th = thread_waiting(&go, || (getppid(), layers_len()));
        install_flags(
            &allow_all_except(&["getppid"], "errno EPERM"),
            STRBOX_SET_TSYNC,
        )?;
        go.store(true, Ordering::SeqCst);
        let r = th.join();
        check!(
            matches!(r, Ok((Err(libc::EPERM), Ok(n))) if n > 0),
            "thread with ancestor chain after TSYNC: {r:?}"
        );
        let text = strbox::read_layers().unwrap_or_default();
        check!(
            strbox::split_layers(&text).len() == 2,
            "caller layers: {}",
            text.len()
        );
        Ok(())
    })?
    .ok("ancestor chain")
}

/// no_new_privs or CAP_SYS_ADMIN is required (EACCES), as for seccomp.
pub(super) fn nnp_required() -> TestResult {
    // Root (CAP_SYS_ADMIN) without no_new_privs may install.
    spawn(|| {
        let (r, _) = set(b"default errno EPERM\nexit_group: 1\n", 0);
        check!(r == Ok(()), "root without NNP: {r:?}");
        Ok(())
    })?
    .ok("root")?;
    // An unprivileged user may not, until it sets no_new_privs.
    spawn(|| {
        // SAFETY: dropping privileges in the child.
        let ok = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
        check!(ok, "setuid(65534): errno {}", sys::errno());
        let (r, rec) = set(allow_all_except(&["getppid"], "errno EPERM").as_bytes(), 0);
        check!(r == Err(libc::EACCES), "unprivileged without NNP: {r:?}");
        check!(rec.code == 0 && rec.line == 0, "record: {rec:?}");
        check!(
            layers_len() == Ok(0),
            "layers after EACCES: {:?}",
            layers_len()
        );
        check!(getppid().is_ok(), "filtered after EACCES");
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        check!(
            getppid() == Err(libc::EPERM),
            "not filtered after NNP install"
        );
        Ok(())
    })?
    .ok("unprivileged")
}
