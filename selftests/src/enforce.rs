//! Enforcement: installing layers and what filtered tasks can and cannot
//! do — the seed example, strict mode, every action, nesting and
//! precedence, inheritance (fork, thread, execve), TSYNC, no_new_privs,
//! ABI switching (ia32/x32), module lifetime, read-back, and an SMP stress
//! test. Every filter is installed in a forked child ([`spawn`]).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strbox::abi::{
    PR_SECCOMP_GET, PR_SECCOMP_SET, PR_STRBOX_ABI_VERSION, STRBOX_ABI_VERSION, STRBOX_SET_TSYNC,
};
use strbox::sys;

use super::child::{
    allow_all_except, getpid, getppid, install, install_flags, layers_len, nnp, sc, set, spawn,
    Child,
};
use super::util::{
    devnull, drain, dup2, kmsg_read_all, load_module, module_listed, pipe, unload_module, wait_pid,
    write_all, SharedPage,
};
use super::{Test, TestResult};
use crate::{check, ensure};

/// The enforcement tests.
pub static TESTS: &[Test] = &[
    t("abi_version", abi_version),
    t("seed_example_allows", seed_example_allows),
    t("seed_example_denies", seed_example_denies),
    t("strict_mode_emulation", strict_mode_emulation),
    t("action_errno", action_errno),
    t("action_kill_whole_process", action_kill_whole_process),
    t("action_log", action_log),
    t("log_flood_keeps_kill_records", log_flood_keeps_kill_records),
    t("log_escapes_comm", log_escapes_comm),
    t("layer_without_prctl_blocks_new_layers", layer_without_prctl),
    t("nesting_narrows", nesting_narrows),
    t("nesting_never_reallows", nesting_never_reallows),
    t("precedence_kill_over_errno", precedence_kill_over_errno),
    t("precedence_newest_errno", precedence_newest_errno),
    t("inherit_fork", inherit_fork),
    t("inherit_thread", inherit_thread),
    t("inherit_execve", inherit_execve),
    t("tsync_all_threads", tsync_all_threads),
    t("tsync_diverged_fails", tsync_diverged_fails),
    t("nnp_required", nnp_required),
    t("abi_switch_ia32_x32", abi_switch),
    t("rmmod_refused_while_filtered", rmmod_refused_while_filtered),
    t("get_round_trip", get_round_trip),
    t("cli_run_show", cli_run_show),
    t("stress_smp", stress_smp),
];

/// Runs after every other test (also after the lifecycle tests' unloads).
pub static FINAL: &[Test] = &[t("kmemleak_no_strbox_leaks", kmemleak_no_strbox_leaks)];

/// Not tests: bodies that tests re-execute this binary to run
/// (`strbox-guest NAME`), e.g. in a process after execve.
pub static HELPERS: &[Test] = &[t("exec_probe_helper", exec_probe_helper)];

const fn t(name: &'static str, run: fn() -> TestResult) -> Test {
    Test { name, run }
}

/// The seed's example policy, verbatim, plus exit/exit_group.
const SEED: &str = "\
read:         fd == 0
write:        fd == 1
rt_sigreturn: 1
gettimeofday: tz == NULL
exit:         1
exit_group:   1
";

fn abi_version() -> TestResult {
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
fn seed_example_allows() -> TestResult {
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
fn seed_example_denies() -> TestResult {
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
fn strict_mode_emulation() -> TestResult {
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

fn path_exists(p: &std::ffi::CStr) -> bool {
    // SAFETY: valid C string.
    unsafe { libc::access(p.as_ptr(), libc::F_OK) == 0 }
}

/// errno: the exact value reaches userspace and the call does not run.
fn action_errno() -> TestResult {
    let file = c"/tmp/strbox-errno-file";
    spawn(|| {
        install("default errno EACCES\ngetpid: 1\nexit_group: 1\nopenat: !(flags & O_CREAT)\n")?;
        let r = getppid();
        check!(r == Err(libc::EACCES), "getppid = {r:?}");
        let r = getpid();
        check!(r.is_ok(), "getpid = {r:?}");
        let flags = (libc::O_CREAT | libc::O_WRONLY) as u64;
        let r = sc(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                file.as_ptr() as u64,
                flags,
                0o600,
                0,
                0,
            ],
        );
        check!(r == Err(libc::EACCES), "openat(O_CREAT) = {r:?}");
        let r = sc(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                c"/".as_ptr() as u64,
                libc::O_RDONLY as u64,
                0,
                0,
                0,
            ],
        );
        check!(r.is_ok(), "openat(\"/\", O_RDONLY) = {r:?}");
        Ok(())
    })?
    .ok("errno child")?;
    ensure!(
        !path_exists(file),
        "the denied openat(O_CREAT) created the file"
    );
    // A numeric errno without a name.
    spawn(|| {
        install("default errno 77\nexit_group: 1\n")?;
        let r = getppid();
        check!(r == Err(77), "getppid = {r:?}");
        Ok(())
    })?
    .ok("errno 77 child")
}

/// kill: SIGKILL for the whole thread group; the call does not run.
fn action_kill_whole_process() -> TestResult {
    let dir = c"/tmp/strbox-kill-dir";
    spawn(|| {
        install("default kill\ngetpid: 1\nexit_group: 1\n")?;
        let _ = sc(
            libc::SYS_mkdirat,
            [libc::AT_FDCWD as u64, dir.as_ptr() as u64, 0o700, 0, 0, 0],
        );
        check!(false, "mkdirat returned");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "mkdirat under default kill")?;
    ensure!(
        !path_exists(dir),
        "the killed mkdirat created the directory"
    );
    // The kill is logged (a fresh layer's first record always is: rate
    // limits are per layer).
    spawn(|| {
        // SAFETY: PR_SET_NAME with a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"sbxkilltest".as_ptr()) };
        install("default kill\n")?;
        let _ = sc(libc::SYS_getppid, [0xfeed, 0, 0, 0, 0, 0]);
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "getppid under default kill")?;
    let lines = kmsg_read_all();
    ensure!(
        lines
            .iter()
            .any(|l| l.contains("strbox: kill comm=sbxkilltest pid=")
                && l.contains("syscall=getppid(")
                && l.contains("args=0xfeed,")),
        "no kill log line; strbox lines: {:?}",
        lines
            .iter()
            .filter(|l| l.contains("strbox"))
            .rev()
            .take(5)
            .collect::<Vec<_>>()
    );
    // Another (unfiltered) thread of the process dies too: it blocks
    // forever, so the child can only be reaped if the kill took the whole
    // thread group (otherwise the harness's time limit fails the test).
    spawn(|| {
        std::thread::spawn(|| loop {
            // SAFETY: pause takes no arguments.
            unsafe { libc::pause() };
        });
        install("default kill\ngetpid: 1\n")?;
        let _ = getppid();
        check!(false, "getppid returned");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "two-thread process")?;
    Ok(())
}

/// log: the call runs and the kernel logs comm, pid, syscall and args.
fn action_log() -> TestResult {
    let out = spawn(|| {
        // SAFETY: PR_SET_NAME with a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"sbxlogtest".as_ptr()) };
        install("default log\ngetpid: 1\n")?;
        // The first record of a fresh layer always passes its rate limit.
        let r = getppid();
        check!(matches!(r, Ok(p) if p > 0), "getppid under log = {r:?}");
        let r = sc(libc::SYS_getppid, [0x1234, 0, 0, 0, 0, 0]);
        check!(r.is_ok(), "getppid(0x1234) = {r:?}");
        Ok(())
    })?;
    out.ok("log child")?;
    let lines = kmsg_read_all();
    let hit = lines.iter().any(|l| {
        l.contains("strbox: log comm=sbxlogtest pid=")
            && l.contains("syscall=getppid(")
            && l.contains("args=0x1234,")
    });
    ensure!(
        hit,
        "no 'strbox: log comm=sbxlogtest ... syscall=getppid ... args=0x1234' line; strbox lines: {:?}",
        lines
            .iter()
            .filter(|l| l.contains("strbox"))
            .rev()
            .take(5)
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// A task flooding `log` records suppresses neither another sandbox's
/// `kill` record nor its own: limits are per layer and per action.
fn log_flood_keeps_kill_records() -> TestResult {
    spawn(|| {
        // SAFETY: PR_SET_NAME with a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"sbxflooder".as_ptr()) };
        nnp()?;
        // Older layer: getppid kills. Newest layer: getpid is logged. Both
        // kinds of record are counted against the newest layer.
        install(&allow_all_except(&["getppid"], "kill"))?;
        install(&allow_all_except(&["getpid"], "log"))?;
        // Far more records than any window lets through.
        for _ in 0..1000 {
            let _ = getpid();
        }
        let _ = sc(libc::SYS_getppid, [0xf100d, 0, 0, 0, 0, 0]);
        check!(false, "getppid returned under kill");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "flooder after its flood")?;
    // Another sandbox, right after the flood.
    spawn(|| {
        // SAFETY: PR_SET_NAME with a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"sbxvictim".as_ptr()) };
        install("default kill\n")?;
        let _ = sc(libc::SYS_getppid, [0x71c7, 0, 0, 0, 0, 0]);
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "victim")?;
    let lines = kmsg_read_all();
    let has = |comm: &str, args: &str| {
        lines.iter().any(|l| {
            l.contains(&format!("strbox: kill comm={comm} pid="))
                && l.contains(&format!("args={args},"))
        })
    };
    let floods = lines
        .iter()
        .filter(|l| l.contains("strbox: log comm=sbxflooder "))
        .count();
    ensure!(
        (1..1000).contains(&floods),
        "{floods} of 1000 flood records printed (want rate-limited, at least one)"
    );
    ensure!(
        has("sbxflooder", "0xf100d"),
        "the flooder's own kill record is missing after its log flood"
    );
    ensure!(
        has("sbxvictim", "0x71c7"),
        "the victim's kill record is missing"
    );
    Ok(())
}

/// `comm` is the task's own text: a newline in it cannot start a forged
/// record line (it is printed as `\x0a`).
fn log_escapes_comm() -> TestResult {
    spawn(|| {
        // SAFETY: PR_SET_NAME with a valid C string (15 bytes + NUL).
        unsafe { libc::prctl(libc::PR_SET_NAME, c"sbxnl\nstrbox: x".as_ptr()) };
        install("default log\nexit_group: 1\n")?;
        let _ = sc(libc::SYS_getppid, [0xe5c, 0, 0, 0, 0, 0]);
        Ok(())
    })?
    .ok("child with a newline in its comm")?;
    // The raw log buffer (what dmesg and the console show), not /dev/kmsg,
    // which escapes control bytes by itself.
    let mut buf = vec![0u8; 1 << 20];
    // SAFETY: SYSLOG_ACTION_READ_ALL (3) into a buffer of the given size.
    let n = unsafe { libc::klogctl(3, buf.as_mut_ptr().cast(), buf.len() as i32) };
    ensure!(n > 0, "klogctl(READ_ALL) = {n}");
    let text = String::from_utf8_lossy(&buf[..n as usize]);
    let rec: Vec<&str> = text.lines().filter(|l| l.contains("comm=sbxnl")).collect();
    ensure!(
        rec.len() == 1
            && rec[0].contains("comm=sbxnl\\x0astrbox: x pid=")
            && rec[0].contains("args=0xe5c,"),
        "records: {rec:?}"
    );
    Ok(())
}

/// A layer that does not allow prctl also forbids adding layers: the
/// strbox prctl is itself a filtered syscall.
fn layer_without_prctl() -> TestResult {
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

fn nesting_narrows() -> TestResult {
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

fn nesting_never_reallows() -> TestResult {
    spawn(|| {
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        install(&allow_all_except(&[], "errno EACCES"))?;
        let r = getppid();
        check!(r == Err(libc::EPERM), "layer 2 re-allowed getppid: {r:?}");
        Ok(())
    })?
    .ok("child")
}

fn precedence_kill_over_errno() -> TestResult {
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

fn precedence_newest_errno() -> TestResult {
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

fn inherit_fork() -> TestResult {
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

fn inherit_thread() -> TestResult {
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
fn exec_probe_helper() -> TestResult {
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

fn inherit_execve() -> TestResult {
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

fn tsync_all_threads() -> TestResult {
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

fn tsync_diverged_fails() -> TestResult {
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
fn nnp_required() -> TestResult {
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

#[cfg(target_arch = "x86_64")]
fn int80(nr: u32) -> i64 {
    let ret: u32;
    // SAFETY: an ia32 syscall without arguments (getpid); int $0x80
    // returns in eax and preserves the other registers we declare.
    unsafe {
        core::arch::asm!(
            "int 0x80",
            inlateout("eax") nr => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack)
        );
    }
    i64::from(ret as i32)
}

/// A filtered 64-bit task cannot escape through the ia32 (`int $0x80`) or
/// x32 syscall ABI: such calls get the chain's default action.
#[cfg(target_arch = "x86_64")]
fn abi_switch() -> TestResult {
    const IA32_GETPID: u32 = 20;
    const X32_BIT: i64 = 0x4000_0000;
    // Unfiltered: the ia32 ABI works (IA32_EMULATION), x32 is ENOSYS.
    let pid = getpid().map_err(|e| format!("getpid: {e}"))?;
    ensure!(
        int80(IA32_GETPID) == pid,
        "unfiltered int80 getpid = {}",
        int80(IA32_GETPID)
    );
    let r = sc(X32_BIT | libc::SYS_getpid, [0; 6]);
    ensure!(r == Err(libc::ENOSYS), "unfiltered x32 getpid = {r:?}");
    spawn(|| {
        install(&allow_all_except(&[], "errno 77"))?;
        check!(getpid().is_ok(), "native getpid denied");
        let r = int80(IA32_GETPID);
        check!(r == -77, "int80 getpid under the filter = {r}");
        let r = sc(X32_BIT | libc::SYS_getpid, [0; 6]);
        check!(r == Err(77), "x32 getpid under the filter = {r:?}");
        Ok(())
    })?
    .ok("errno child")?;
    spawn(|| {
        install(&allow_all_except(&[], "kill"))?;
        let r = int80(IA32_GETPID);
        check!(false, "int80 returned {r}");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "int80 under default kill")
}

#[cfg(not(target_arch = "x86_64"))]
fn abi_switch() -> TestResult {
    Err("skip: no 32-bit compat ABI in this arm64 guest kernel".into())
}

/// `rmmod` fails while a filtered task lives, succeeds after it exits.
fn rmmod_refused_while_filtered() -> TestResult {
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
        super::util::describe_status(status)
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

/// PR_SECCOMP_GET returns the canonical text of each layer, oldest first;
/// installing that text again gives the same layers.
fn get_round_trip() -> TestResult {
    let l1 = allow_all_except(&["getppid", "openat"], "errno EPERM")
        + "openat: !(flags & O_CREAT|O_TRUNC) && dfd == AT_FDCWD\ngetppid: arg0 == 7 || (arg1 > 3 && arg1 <= 9)\n";
    let l2 = allow_all_except(&["getpid"], "log");
    let arch = strbox::policy::arch(None)?;
    let canon = |src: &str| {
        strbox::policy::compile_policy(src.as_bytes(), arch)
            .map(|p| strbox::policy::canonical(&p, arch))
            .map_err(|e| format!("host compile: {e}"))
    };
    let expected = format!(
        "# strbox layer 1/2\n{}# strbox layer 2/2\n{}",
        canon(&l1)?,
        canon(&l2)?
    );
    let (r, w) = pipe()?;
    let out = spawn(|| {
        install(&l1)?;
        install(&l2)?;
        let n = layers_len();
        check!(
            n == Ok(expected.len()),
            "size query = {n:?}, want {}",
            expected.len()
        );
        let mut buf = vec![0u8; expected.len() + 16];
        let short = sys::get(buf.as_mut_ptr(), expected.len() - 1);
        check!(short == Err(libc::ERANGE), "short buffer = {short:?}");
        let bad = sys::get(8 as *mut u8, expected.len());
        check!(bad == Err(libc::EFAULT), "bad buffer = {bad:?}");
        let got = sys::get(buf.as_mut_ptr(), buf.len());
        check!(got == Ok(expected.len()), "GET = {got:?}");
        check!(
            &buf[..expected.len()] == expected.as_bytes(),
            "text differs from the host's canonical text"
        );
        let _ = sc(
            libc::SYS_write,
            [
                w as u64,
                buf.as_ptr() as u64,
                expected.len() as u64,
                0,
                0,
                0,
            ],
        );
        Ok(())
    })?;
    out.ok("GET child")?;
    let got = drain(r);
    ensure!(
        got == expected.as_bytes(),
        "text written to the pipe differs"
    );
    // Round trip: install the read-back layers in a fresh (unfiltered)
    // child; it reads back the very same text.
    let text = String::from_utf8_lossy(&got).into_owned();
    spawn(|| {
        for layer in strbox::split_layers(&text) {
            install(layer)?;
        }
        let mut b2 = vec![0u8; text.len()];
        let got = sys::get(b2.as_mut_ptr(), b2.len());
        check!(
            got == Ok(text.len()) && b2 == text.as_bytes(),
            "re-installed text differs ({got:?})"
        );
        Ok(())
    })?
    .ok("round trip child")
}

/// Kernel log text that means a kernel bug: the same list xtask judges the
/// whole console with (`qemu/bad-kernel-patterns.txt`).
fn bad_kernel_text() -> impl Iterator<Item = &'static str> {
    include_str!("../../qemu/bad-kernel-patterns.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Many threads installing layers (with and without TSYNC), creating
/// threads and forking, while others make syscalls, on every vCPU. The
/// harness fails the run if the kernel log shows any splat.
fn stress_smp() -> TestResult {
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

/// `strbox run POLICY -- strbox show`: the CLI installs a layer, execs, and
/// the exec'd CLI reads it back.
fn cli_run_show() -> TestResult {
    let policy = allow_all_except(&["getppid"], "errno EPERM");
    let path = "/tmp/strbox-cli-policy";
    std::fs::write(path, &policy).map_err(|e| format!("write {path}: {e}"))?;
    let arch = strbox::policy::arch(None)?;
    let canon = strbox::policy::compile_policy(policy.as_bytes(), arch)
        .map(|p| strbox::policy::canonical(&p, arch))
        .map_err(|e| format!("host compile: {e}"))?;
    let out = std::process::Command::new("/bin/strbox")
        .args(["run", path, "--", "/bin/strbox", "show"])
        .output()
        .map_err(|e| format!("/bin/strbox: {e}"))?;
    ensure!(
        out.status.success(),
        "strbox run: {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("# strbox layer 1/1\n{canon}");
    ensure!(
        out.stdout == want.as_bytes(),
        "strbox show printed {} bytes, want {}",
        out.stdout.len(),
        want.len()
    );
    // A rejected policy: exit 1 and the caret report on stderr.
    std::fs::write(path, "read: fd == 0\nwrite: fd = 1\n").map_err(|e| e.to_string())?;
    let out = std::process::Command::new("/bin/strbox")
        .args(["run", path, "--", "/bin/true"])
        .output()
        .map_err(|e| format!("/bin/strbox: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && err.starts_with(&format!("{path}:2:11: invalid operator")),
        "strbox run with a bad policy: {:?} {err:?}",
        out.status
    );
    Ok(())
}

/// On a kmemleak kernel (`--debug`): after everything above, no
/// unreferenced object allocated by strbox code.
fn kmemleak_no_strbox_leaks() -> TestResult {
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
