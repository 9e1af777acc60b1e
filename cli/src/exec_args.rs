//! What `execve` needs, built before a fork or an install: the program's
//! path, argv and the current environment as C strings, and the
//! NULL-terminated pointer arrays over them (shared by `run` and `learn`,
//! whose children may only make async-signal-safe calls).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::Exit;

/// `execve(path, argv, envp)`'s arguments. The pointer arrays point into
/// the owned strings, which live as long as this value (moving it moves
/// only the vectors, not the strings' heap buffers).
pub(crate) struct ExecArgs {
    pub(crate) path: CString,
    pub(crate) argv: Vec<*const libc::c_char>,
    pub(crate) envp: Vec<*const libc::c_char>,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
}

impl ExecArgs {
    /// `path` and `cmd` (argv, `cmd[0]` included) with the current
    /// environment; a NUL byte in any of them is a usage error.
    pub(crate) fn new(path: &Path, cmd: &[String]) -> Result<ExecArgs, Exit> {
        let cstr = |b: &[u8]| {
            CString::new(b)
                .map_err(|_| crate::usage_error("an argument or variable contains a NUL byte"))
        };
        let path = cstr(path.as_os_str().as_bytes())?;
        let argv: Vec<CString> = cmd
            .iter()
            .map(|a| cstr(a.as_bytes()))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                cstr(&kv)
            })
            .collect::<Result<_, _>>()?;
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Ok(ExecArgs {
            path,
            argv: ptrs(&argv),
            envp: ptrs(&envp),
            _argv: argv,
            _envp: envp,
        })
    }
}

/// In a forked child about to exec: restores an empty signal mask and
/// SIGPIPE's default disposition (Rust ignores SIGPIPE, and an ignored
/// signal would survive the exec). Two async-signal-safe syscalls, no
/// allocation: safe between `fork` and `execve`.
pub(crate) fn reset_signals_for_exec() {
    // SAFETY: `set` is a valid, local sigset; `sigprocmask` and `signal`
    // touch only this thread's mask and this process's dispositions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
