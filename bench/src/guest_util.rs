//! Guest-side helpers the benchmark runner needs and the guest test suite
//! (`strbox-selftests`, which re-exports them from its `util` and
//! `harness`) shares: loading and unloading `strbox.ko`, waiting for
//! children, close-on-exec pipes, and the KTAP writer both print their
//! results with.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// Where the initramfs puts the module.
pub const MODULE_PATH: &str = "/strbox.ko";

fn errno_result(ret: libc::c_long) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// finit_module("/strbox.ko").
pub fn load_module() -> io::Result<()> {
    let path = CString::new(MODULE_PATH).expect("no NUL");
    // SAFETY: `path` is a valid NUL-terminated string for the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let params = c"";
    // SAFETY: fd is open; params is a valid empty C string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, params.as_ptr(), 0) };
    let err = errno_result(r);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    err
}

/// delete_module("strbox", O_NONBLOCK): the errno says why it failed
/// (EBUSY while filters live).
pub fn unload_module() -> io::Result<()> {
    let name = c"strbox";
    // SAFETY: name is a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    errno_result(r)
}

/// Whether /proc/modules lists strbox.
pub fn module_listed() -> io::Result<bool> {
    let m = std::fs::read_to_string("/proc/modules")?;
    Ok(m.lines()
        .any(|l| l.split_whitespace().next() == Some("strbox")))
}

/// waitpid(pid) returning the raw status.
pub fn wait_pid(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("waitpid({pid}): {e}"));
        }
    }
}

/// Describes a wait status: "exit N" or "signal N".
pub fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status:#x}")
    }
}

/// rmmod, allowing a grace period for tasks freed by RCU after they exit.
pub fn unload_when_idle() -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match unload_module() {
            Ok(()) => break,
            // A module in use: 6.12's delete_module says EWOULDBLOCK (EAGAIN).
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EBUSY))
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("delete_module: {e}")),
        }
    }
    match module_listed() {
        Ok(false) => Ok(()),
        Ok(true) => Err("strbox still in /proc/modules after unload".into()),
        Err(e) => Err(format!("/proc/modules: {e}")),
    }
}

/// A fresh zero-filled anonymous `MAP_SHARED` mapping of `len` bytes,
/// read-write, that forked children share with their parent (the
/// benchmark's slots, the test harness's report page, the fuzzer's
/// worker state). The caller owns it and unmaps it with `munmap`.
pub fn shared_anon(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a new anonymous mapping: no existing memory is touched, and
    // the kernel checks `len`.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// A close-on-exec pipe: `(read end, write end)`.
pub fn pipe_cloexec() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// The KTAP header: `KTAP version 1` and the plan `1..tests`.
pub fn ktap_plan(tests: usize) {
    println!("KTAP version 1");
    println!("1..{tests}");
}

/// One KTAP result line for test `n`: `ok`, `ok ... # SKIP why` (an
/// `Err("skip: why")`) or `not ok ... # why` (newlines in `why` become
/// spaces), as xtask's `results::parse` reads them.
pub fn ktap_result(n: usize, name: &str, res: &Result<(), String>) {
    let line = match res {
        Ok(()) => format!("ok {n} {name}\n"),
        Err(e) if e.starts_with("skip:") => {
            format!(
                "ok {n} {name} # SKIP {}\n",
                e.trim_start_matches("skip:").trim()
            )
        }
        Err(e) => format!("not ok {n} {name} # {}\n", e.replace('\n', " ")),
    };
    // One write per result line, so it is not torn by other output.
    let mut out = io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}
