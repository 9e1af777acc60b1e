//! LSM-hook events (issue 10): `file_open`, `exec`, `socket_connect` and
//! `socket_bind` rules, judged by kprobes at the entry of
//! `security_file_open`, `security_bprm_check`, `security_socket_connect`
//! and `security_socket_bind` against what the kernel itself resolved
//! (d_path of the opened file, the copied-in sockaddr), not the user
//! buffer a syscall-entry filter would see.
//!
//! * `events_file_open_paths` (files.rs): exact paths, globs, string
//!   escapes, `flags`, relative paths, symlinks, `..`, `/proc/self/fd`
//!   re-opens, `openat2` with `RESOLVE_NO_SYMLINKS`, io_uring
//!   `IORING_OP_OPENAT` inline and punted to io-wq.
//! * `events_path_race_no_toctou` (race.rs): a path flipped under 2
//!   openers never opens the denied file; prints how often a syscall-entry
//!   check of the buffer would have been fooled.
//! * `events_socket_connect_bind` (sockets.rs): IPv4, IPv6, v4-mapped,
//!   CIDR, AF_UNIX (pathname and abstract) on loopback.
//! * `events_exec_rules` (exec.rs): ELF, symlink, `#!` script and its
//!   interpreter.
//! * `events_nesting`, `events_actions`, `events_unfiltered_unaffected`
//!   (here): layer combination, kernel failures first, kill/log, readback,
//!   unfiltered tasks.
//!
//! Every policy here is event-only unless it says otherwise, so syscalls
//! stay unrestricted and the children may allocate, make threads and
//! report freely. Denials use `errno EXDEV` ([`DENY`]), an errno none of
//! these calls returns by itself, so a policy denial cannot be mistaken for
//! a kernel failure.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use strbox::sys;

use super::child::{getppid, install, layers_len, sc, spawn, Child};
use super::util::{drain, kmsg_read_all, pipe, wait_pid};
use super::{Test, TestResult};
use crate::{check, ensure};

mod exec;
mod files;
mod race;
mod sockets;

pub static TESTS: &[Test] = &[
    Test {
        name: "events_file_open_paths",
        run: files::events_file_open_paths,
    },
    Test {
        name: "events_path_race_no_toctou",
        run: race::events_path_race_no_toctou,
    },
    Test {
        name: "events_socket_connect_bind",
        run: sockets::events_socket_connect_bind,
    },
    Test {
        name: "events_exec_rules",
        run: exec::events_exec_rules,
    },
    Test {
        name: "events_nesting",
        run: events_nesting,
    },
    Test {
        name: "events_actions",
        run: events_actions,
    },
    Test {
        name: "events_unfiltered_unaffected",
        run: events_unfiltered_unaffected,
    },
];

/// Bodies run by re-executing the guest binary (or as a `#!` script's
/// interpreter).
pub static HELPERS: &[Test] = &[Test {
    name: exec::HELPER,
    run: exec::exec_helper,
}];

/// The policy errno of these tests (`default errno EXDEV`).
pub(crate) const DENY: i32 = libc::EXDEV;

/// A C string (test paths never contain NUL).
pub(crate) fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL in test paths")
}

/// `openat(dfd, path, flags, 0644)` as a raw syscall: the fd or the errno.
pub(crate) fn openat(dfd: i32, path: &CStr, flags: i32) -> Result<RawFd, i32> {
    sc(
        libc::SYS_openat,
        [
            dfd as i64 as u64,
            path.as_ptr() as u64,
            flags as u32 as u64,
            0o644,
            0,
            0,
        ],
    )
    .map(|fd| fd as RawFd)
}

/// Closes `fd`, ignoring errors.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: closing an fd this process owns.
    unsafe { libc::close(fd) };
}

/// The inode number of an open fd (0 if fstat fails).
pub(crate) fn fd_ino(fd: RawFd) -> u64 {
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return 0;
    }
    st.st_ino as u64
}

/// The inode number of `path` (following symlinks).
pub(crate) fn ino(path: &str) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| format!("stat {path}: {e}"))
}

/// Creates `path` (and its parents) with `content` and `mode`.
pub(crate) fn mkfile(path: &str, content: &[u8], mode: u32) -> TestResult {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    std::fs::write(path, content).map_err(|e| format!("write {path}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {path}: {e}"))
}

/// Creates the symlink `link` -> `target`.
pub(crate) fn mklink(target: &str, link: &str) -> TestResult {
    std::os::unix::fs::symlink(target, link).map_err(|e| format!("symlink {link}: {e}"))
}

/// A fresh, empty directory (removed first if a previous run left it).
pub(crate) fn fresh_dir(dir: &str) -> TestResult {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {dir}: {e}"))
}

/// What an open should give: the file with this inode, or this errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Ino(u64),
    Errno(i32),
}

/// Failed expectations collected instead of ending the child body (see
/// [`soft_begin`]).
static SOFT: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);

/// From now on, in this (child) process, a failed [`judge`] or socket
/// expectation is collected and the body goes on; [`soft_end`] fails with
/// all of them. One guest run then shows every case that differs.
pub(crate) fn soft_begin() {
    *SOFT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
}

/// Fails with every expectation collected since [`soft_begin`].
pub(crate) fn soft_end() -> Child {
    let v = SOFT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    check!(v.is_empty(), "{} case(s) failed: {}", v.len(), v.join("; "));
    Ok(())
}

/// A failed expectation: collected in soft mode, else the child fails.
pub(crate) fn failed(msg: String) -> Child {
    if let Some(v) = SOFT.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        v.push(msg);
        return Ok(());
    }
    check!(false, "{msg}");
    Ok(())
}

/// Checks one open's result (`what` names the case) and closes the fd.
pub(crate) fn judge(what: &str, r: Result<RawFd, i32>, want: Want) -> Child {
    match (r, want) {
        (Ok(fd), Want::Ino(i)) => {
            let got = fd_ino(fd);
            close(fd);
            if got != i {
                return failed(format!("{what}: opened inode {got}, want {i}"));
            }
        }
        (Err(e), Want::Errno(w)) => {
            if e != w {
                return failed(format!("{what}: errno {e}, want errno {w}"));
            }
        }
        (Ok(fd), Want::Errno(w)) => {
            let got = fd_ino(fd);
            close(fd);
            return failed(format!("{what}: opened (inode {got}), want errno {w}"));
        }
        (Err(e), Want::Ino(i)) => {
            return failed(format!("{what}: errno {e}, want the file (inode {i})"));
        }
    }
    Ok(())
}

/// `openat(AT_FDCWD, path, flags)` must give `want`.
pub(crate) fn expect_open(path: &str, flags: i32, want: Want) -> Child {
    let c = cs(path);
    judge(
        &format!("open({path:?}, {flags:#x})"),
        openat(libc::AT_FDCWD, &c, flags),
        want,
    )
}

/// Drops to uid/gid 1000 (no capabilities left: no CAP_DAC_OVERRIDE).
fn drop_to_user() -> Child {
    // SAFETY: plain credential changes without pointers (setgroups: none).
    let rc = unsafe {
        libc::setgroups(0, std::ptr::null());
        libc::setresgid(1000, 1000, 1000) | libc::setresuid(1000, 1000, 1000)
    };
    check!(
        rc == 0,
        "dropping to uid 1000 failed: errno {}",
        sys::errno()
    );
    Ok(())
}

const NEST: &str = "/tmp/evn";

/// Event layers combine with syscall layers and with each other: the most
/// severe verdict wins (kill > errno > log > allow; equal errno: newest
/// layer's), and the hooks only ever add a denial to what the kernel
/// decided (DAC EACCES, ENOENT, ELOOP, EEXIST stay).
fn events_nesting() -> TestResult {
    fresh_dir(NEST)?;
    for f in ["a", "b", "c"] {
        mkfile(&format!("{NEST}/{f}"), f.as_bytes(), 0o644)?;
    }
    mkfile(&format!("{NEST}/zero"), b"z", 0o000)?;
    mklink(&format!("{NEST}/b"), &format!("{NEST}/lnk"))?;
    let (a, c) = (ino(&format!("{NEST}/a"))?, ino(&format!("{NEST}/c"))?);
    let path = |f: &str| format!("{NEST}/{f}");
    let mut errs = Vec::new();
    let syscall_layer = super::child::allow_all_except(&["getppid"], "errno EPERM");
    let event_layer = format!("default errno EXDEV\nfile_open: path == \"{NEST}/a\"\n");

    // An event layer under a syscall layer, and the reverse: each restricts
    // only what it has rules for.
    for (name, first, second) in [
        ("event under syscall layer", &event_layer, &syscall_layer),
        ("syscall under event layer", &syscall_layer, &event_layer),
    ] {
        errs.extend(
            spawn(|| {
                install(first)?;
                install(second)?;
                expect_open(&path("a"), libc::O_RDONLY, Want::Ino(a))?;
                expect_open(&path("b"), libc::O_RDONLY, Want::Errno(DENY))?;
                let r = getppid();
                check!(r == Err(libc::EPERM), "getppid = {r:?}, want EPERM");
                let r = sc(libc::SYS_getpid, [0; 6]);
                check!(r.is_ok(), "getpid = {r:?}");
                Ok(())
            })?
            .ok(name)
            .err(),
        );
    }

    // A syscall layer's denial skips the call: the open never reaches
    // security_file_open, so the event layer's kill never fires.
    let mut no_wr = super::child::allow_all_except(&["openat"], "errno EPERM");
    no_wr.push_str("openat: !(flags & O_WRONLY|O_RDWR)\n");
    let kill_all = format!("default kill\nfile_open: path == \"{NEST}/a\"\n");
    errs.extend(
        spawn(|| {
            install(&no_wr)?;
            install(&kill_all)?;
            expect_open(&path("b"), libc::O_WRONLY, Want::Errno(libc::EPERM))?;
            expect_open(&path("a"), libc::O_RDONLY, Want::Ino(a))?;
            Ok(())
        })?
        .ok("syscall-layer EPERM before an event kill")
        .err(),
    );

    // errno (older) vs log (newer): errno wins where the errno layer
    // denies, log lets through what only the log layer does not allow.
    let l_errno =
        format!("default errno EXDEV\nfile_open: path == \"{NEST}/a\" || path == \"{NEST}/c\"\n");
    let l_log = format!("default log\nfile_open: path == \"{NEST}/b\" || path == \"{NEST}/c\"\n");
    errs.extend(
        spawn(|| {
            install(&l_errno)?;
            install(&l_log)?;
            expect_open(&path("a"), libc::O_RDONLY, Want::Ino(a))?; // allow + log
            expect_open(&path("b"), libc::O_RDONLY, Want::Errno(DENY))?; // errno + allow
            expect_open(&path("c"), libc::O_RDONLY, Want::Ino(c))?; // allow + allow
            Ok(())
        })?
        .ok("errno layer + log layer")
        .err(),
    );

    // Two errno layers: a file both deny gets the newest layer's errno.
    let l_eperm = format!("default errno EPERM\nfile_open: path == \"{NEST}/b\"\n");
    errs.extend(
        spawn(|| {
            install(&event_layer)?; // EXDEV, allows a
            install(&l_eperm)?; // EPERM, allows b
            expect_open(&path("c"), libc::O_RDONLY, Want::Errno(libc::EPERM))?;
            expect_open(&path("a"), libc::O_RDONLY, Want::Errno(libc::EPERM))?;
            expect_open(&path("b"), libc::O_RDONLY, Want::Errno(DENY))?;
            Ok(())
        })?
        .ok("two errno layers")
        .err(),
    );

    // errno (older) vs kill (newer): kill wins wherever the kill layer
    // denies, even where the errno layer denies too.
    let l_kill_b =
        format!("default kill\nfile_open: path == \"{NEST}/a\" || path == \"{NEST}/b\"\n");
    errs.extend(
        spawn(|| {
            install(&event_layer)?;
            install(&l_kill_b)?;
            expect_open(&path("a"), libc::O_RDONLY, Want::Ino(a))?;
            expect_open(&path("b"), libc::O_RDONLY, Want::Errno(DENY))?;
            let r = openat(libc::AT_FDCWD, &cs(&path("c")), libc::O_RDONLY);
            check!(
                false,
                "open of c denied by errno and kill layers returned {r:?}"
            );
            Ok(())
        })?
        .killed_by(libc::SIGKILL, "errno layer + kill layer, both deny")
        .err(),
    );

    // Kernel failures come first. As uid 1000 (no CAP_DAC_OVERRIDE), under
    // a rule allowing everything in the directory: mode 000 gives EACCES.
    let allow_dir = format!("default errno EPERM\nfile_open: path ~ \"{NEST}/*\"\n");
    errs.extend(
        spawn(|| {
            drop_to_user()?;
            install(&allow_dir)?;
            expect_open(&path("zero"), libc::O_RDONLY, Want::Errno(libc::EACCES))?;
            expect_open(&path("missing"), libc::O_RDONLY, Want::Errno(libc::ENOENT))?;
            expect_open(&path("a"), libc::O_RDONLY, Want::Ino(a))?;
            Ok(())
        })?
        .ok("allowing rule, kernel failures")
        .err(),
    );
    // Under a rule denying all but `a`: the kernel's errors stay, and the
    // policy's EPERM appears only for a file that exists and that the
    // kernel would have opened.
    let only_a = format!("default errno EPERM\nfile_open: path == \"{NEST}/a\"\n");
    errs.extend(
        spawn(|| {
            drop_to_user()?;
            install(&only_a)?;
            expect_open(&path("zero"), libc::O_RDONLY, Want::Errno(libc::EACCES))?;
            expect_open(&path("missing"), libc::O_RDONLY, Want::Errno(libc::ENOENT))?;
            expect_open(
                &path("lnk"),
                libc::O_RDONLY | libc::O_NOFOLLOW,
                Want::Errno(libc::ELOOP),
            )?;
            expect_open(
                &path("b"),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                Want::Errno(libc::EEXIST),
            )?;
            expect_open(
                &format!("{NEST}/a/x"),
                libc::O_RDONLY,
                Want::Errno(libc::ENOTDIR),
            )?;
            expect_open(&path("b"), libc::O_RDONLY, Want::Errno(libc::EPERM))?;
            expect_open(&path("lnk"), libc::O_RDONLY, Want::Errno(libc::EPERM))?;
            expect_open(&path("a"), libc::O_RDONLY, Want::Ino(a))?;
            Ok(())
        })?
        .ok("denying rule, kernel failures")
        .err(),
    );
    all_passed(&errs)
}

/// Fails with every case in `errs` (the failures of several children,
/// collected by the parent so one run reports all of them).
pub(crate) fn all_passed(errs: &[String]) -> TestResult {
    ensure!(
        errs.is_empty(),
        "{} case(s) failed: {}",
        errs.len(),
        errs.join(" | ")
    );
    Ok(())
}

const ACT: &str = "/tmp/eva";

/// `kill` and `log` on an event, and PR_SECCOMP_GET of event layers.
fn events_actions() -> TestResult {
    fresh_dir(ACT)?;
    mkfile(&format!("{ACT}/ok"), b"ok", 0o644)?;
    mkfile(&format!("{ACT}/no"), b"no", 0o644)?;
    let (ok, no) = (ino(&format!("{ACT}/ok"))?, ino(&format!("{ACT}/no"))?);

    // kill: the allowed open works, the denied one kills the process.
    let kill = format!("default kill\nfile_open: path == \"{ACT}/ok\"\n");
    spawn(|| {
        install(&kill)?;
        expect_open(&format!("{ACT}/ok"), libc::O_RDONLY, Want::Ino(ok))?;
        let r = openat(libc::AT_FDCWD, &cs(&format!("{ACT}/no")), libc::O_RDONLY);
        check!(false, "denied open under default kill returned {r:?}");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "default kill, denied open")?;

    // log: the open succeeds and the kernel log has a record of it.
    let log = format!("default log\nfile_open: path == \"{ACT}/ok\"\n");
    spawn(|| {
        // SAFETY: PR_SET_NAME with a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"sbxevlog".as_ptr()) };
        install(&log)?;
        expect_open(&format!("{ACT}/no"), libc::O_RDONLY, Want::Ino(no))?;
        expect_open(&format!("{ACT}/ok"), libc::O_RDONLY, Want::Ino(ok))?;
        Ok(())
    })?
    .ok("default log, open outside the rule")?;
    let lines = kmsg_read_all();
    let hit = lines.iter().any(|l| {
        l.contains("strbox: log comm=sbxevlog pid=")
            && l.contains(&format!(" event=file_open path=\"{ACT}/no\" flags="))
            && l.ends_with(" layers=1")
    });
    ensure!(
        hit,
        "no 'strbox: log comm=sbxevlog ... event=file_open path=\"{ACT}/no\" flags=... \
         layers=1' record; strbox lines: {:?}",
        lines
            .iter()
            .filter(|l| l.contains("strbox"))
            .rev()
            .take(5)
            .collect::<Vec<_>>()
    );

    // Readback: the canonical text of an event layer, as the host prints
    // it, round-trips through a re-install.
    let policy = format!(
        "default errno EXDEV\n\
         file_open: path == \"{ACT}/ok\" || path ~ \"{ACT}/g*\" && flags in O_RDONLY|O_CLOEXEC\n\
         exec: path == \"/bin/strbox-guest\"\n\
         socket_connect: family == AF_INET && addr == 127.0.0.1 && port == 8080\n\
         socket_connect: addr in 10.0.0.0/8\n\
         socket_bind: family == AF_UNIX && path == \"\\x00ab\\\"c\"\n"
    );
    let arch = strbox::policy::arch(None)?;
    let canon = strbox::policy::compile_policy(policy.as_bytes(), arch)
        .map(|p| strbox::policy::canonical(&p, arch))
        .map_err(|e| format!("host compile: {e}"))?;
    for needle in [
        "file_open: ",
        "exec: ",
        "socket_connect: ",
        "socket_bind: ",
        "/tmp/eva/ok",
    ] {
        ensure!(
            canon.contains(needle),
            "host canonical text lacks {needle:?}: {canon:?}"
        );
    }
    let expected = format!("# strbox layer 1/1\n{canon}");
    let (r, w) = pipe()?;
    spawn(|| {
        install(&policy)?;
        let got = strbox::read_layers();
        check!(
            got.as_deref().ok() == Some(expected.as_str()),
            "PR_SECCOMP_GET = {got:?}, want {expected:?}"
        );
        // And the layer is in force.
        expect_open(&format!("{ACT}/no"), libc::O_RDONLY, Want::Errno(DENY))?;
        let _ = super::util::write_all(w, expected.as_bytes());
        Ok(())
    })?
    .ok("readback")?;
    close(w);
    let text = String::from_utf8_lossy(&drain(r)).into_owned();
    close(r);
    ensure!(
        text == expected,
        "readback text written to the pipe differs: {text:?}"
    );
    spawn(|| {
        for layer in strbox::split_layers(&text) {
            install(layer)?;
        }
        let got = strbox::read_layers();
        check!(
            got.as_deref().ok() == Some(text.as_str()),
            "re-installed readback = {got:?}"
        );
        Ok(())
    })?
    .ok("readback round trip")
}

const UNF: &str = "/tmp/evu";

/// While a filtered task with a denying file_open policy exists (and has
/// just been denied), an unfiltered process (forked before the install)
/// opens the same file.
fn events_unfiltered_unaffected() -> TestResult {
    fresh_dir(UNF)?;
    mkfile(&format!("{UNF}/ok"), b"ok", 0o644)?;
    mkfile(&format!("{UNF}/denied"), b"no", 0o644)?;
    let denied = ino(&format!("{UNF}/denied"))?;
    let policy = format!("default errno EXDEV\nfile_open: path == \"{UNF}/ok\"\n");
    let dpath = cs(&format!("{UNF}/denied"));
    spawn(|| {
        let (go_r, go_w) = pipe().map_err(|e| super::child::fail(format_args!("{e}")))?;
        // SAFETY: fork in a single-threaded child; the grandchild only
        // makes raw syscalls and exits.
        let pid = unsafe { libc::fork() };
        check!(pid >= 0, "fork: errno {}", sys::errno());
        if pid == 0 {
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a local buffer.
            let n = unsafe { libc::read(go_r, b.as_mut_ptr().cast(), 1) };
            let layers = layers_len();
            let r = openat(libc::AT_FDCWD, &dpath, libc::O_RDONLY);
            let code = match r {
                _ if n != 1 => 10,
                _ if layers != Ok(0) => 11,
                Ok(fd) if fd_ino(fd) == denied => 0,
                Ok(_) => 12,
                Err(e) if e == DENY => 13,
                Err(_) => 14,
            };
            // SAFETY: leave the grandchild at once.
            unsafe { libc::_exit(code) };
        }
        install(&policy)?;
        judge(
            "filtered open",
            openat(libc::AT_FDCWD, &dpath, libc::O_RDONLY),
            Want::Errno(DENY),
        )?;
        // SAFETY: one byte from a local buffer to our pipe.
        unsafe { libc::write(go_w, b"g".as_ptr().cast(), 1) };
        let st = wait_pid(pid).map_err(|e| super::child::fail(format_args!("{e}")))?;
        check!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "unfiltered sibling: {} (10 no go, 11 has layers, 12 wrong file, 13 denied \
             by the policy, 14 other errno)",
            super::util::describe_status(st)
        );
        // Still denied here afterwards.
        judge(
            "filtered open after",
            openat(libc::AT_FDCWD, &dpath, libc::O_RDONLY),
            Want::Errno(DENY),
        )
    })?
    .ok("filtered task with an unfiltered sibling")?;
    // And this (unfiltered) test process opens it too.
    let f = std::fs::File::open(format!("{UNF}/denied"))
        .map_err(|e| format!("unfiltered open: {e}"))?;
    ensure!(
        std::fs::metadata(format!("{UNF}/denied"))
            .map(|m| m.ino())
            .ok()
            == Some(denied),
        "inode changed"
    );
    drop(f);
    Ok(())
}
