//! Helpers for guest tests.

use std::ffi::CString;
use std::io;

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

/// Every record currently in the kernel log (/dev/kmsg, non-blocking), as
/// message text.
pub fn kmsg_read_all() -> Vec<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = Vec::new();
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return out;
    };
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                if let Some((_, msg)) = rec.split_once(';') {
                    out.push(msg.trim_end_matches('\n').to_string());
                }
            }
            // EPIPE: records were overwritten; keep reading.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    out
}

/// Forks; the child runs `f` and exits 0 if it returns Ok, 1 otherwise
/// (printing the error). Returns the child's raw wait status.
pub fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<i32, String> {
    // SAFETY: the guest test process is single-threaded when it forks here
    // (tests that make threads do so after their own forks).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = match f() {
            Ok(()) => 0,
            Err(e) => {
                println!("# child: {e}");
                1
            }
        };
        // SAFETY: leave the child without running the parent's atexit state.
        unsafe { libc::_exit(code) };
    }
    wait_pid(pid)
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
