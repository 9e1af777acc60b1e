//! Every action: `errno`, `kill` (the whole process) and `log` (records,
//! flooding, escaping).

use crate::child::{allow_all_except, getpid, getppid, install, nnp, sc, spawn};
use crate::util::kmsg_read_all;
use crate::{check, ensure, TestResult};

fn path_exists(p: &std::ffi::CStr) -> bool {
    // SAFETY: valid C string.
    unsafe { libc::access(p.as_ptr(), libc::F_OK) == 0 }
}

/// errno: the exact value reaches userspace and the call does not run.
pub(super) fn action_errno() -> TestResult {
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
pub(super) fn action_kill_whole_process() -> TestResult {
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
pub(super) fn action_log() -> TestResult {
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
pub(super) fn log_flood_keeps_kill_records() -> TestResult {
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
pub(super) fn log_escapes_comm() -> TestResult {
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
