//! strbox userspace library: install string filters into the calling task
//! (`prctl(PR_SECCOMP_SET)`), read them back (`PR_SECCOMP_GET`), and decode
//! the kernel's errors.
//!
//! ```no_run
//! let policy = "read: fd == 0\nwrite: fd == 1\nexit_group: 1\n";
//! strbox::set_no_new_privs().unwrap();
//! if let Err(e) = strbox::Sandbox::new(policy.as_bytes()).install() {
//!     eprint!("{}", e.render("policy.txt", policy.as_bytes()));
//! }
//! ```
//!
//! [`Policy`] builds a policy from Ingo Molnar's `(syscall, filter)` pairs,
//! from text, or from a file with `@include` lines;
//! [`Sandbox::apply`] installs it with a [`Compatibility`] choice and
//! returns a [`Status`].
//!
//! Filters are irreversible: once installed, the task and everything it
//! starts keep them. See `docs/abi.md` for the ABI and every errno.

mod compat;
mod include;
pub mod policy;

pub use compat::{
    requirements, uses_actions, Backend, BackendChoice, Compatibility, Enforced, Error,
    LocatedError, Plan, Policy, Requirements, Status, ABI_ACTIONS, ABI_EVENTS,
};
pub use include::{IncludeError, IncludeErrorKind, Source, MAX_INCLUDE_DEPTH};

use std::fmt;
use std::io;

/// The seccomp-bpf backend (`strbox-bpf`).
pub use strbox_bpf as bpf;
pub use strbox_filter::{Error as PolicyError, ErrorCode};
pub use strbox_uapi::abi;

use abi::{
    StrboxError, StrboxSetArgs, LAYER_HEADER_PREFIX, PR_SECCOMP_GET, PR_SECCOMP_SET,
    PR_STRBOX_ABI_VERSION, STRBOX_ERROR_NONE, STRBOX_SET_ARGS_SIZE_VER0, STRBOX_SET_TSYNC,
};

/// The raw calls, one `prctl(2)` each, returning `-errno` style results as
/// `Err(errno)`. Useful for tests that pass deliberately bad arguments.
pub mod sys {
    use super::*;

    /// `prctl(option, a2, a3, a4, a5)`: `Ok(return value)` or `Err(errno)`.
    pub fn prctl(option: u32, a2: u64, a3: u64, a4: u64, a5: u64) -> Result<i64, i32> {
        // SAFETY: prctl with plain integer arguments; pointers among them
        // are only dereferenced by the kernel, which checks them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_prctl,
                option as libc::c_long,
                a2 as libc::c_long,
                a3 as libc::c_long,
                a4 as libc::c_long,
                a5 as libc::c_long,
            )
        };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r as i64)
        }
    }

    /// `PR_SECCOMP_SET` with `args` passed by address and `size` as the
    /// struct size.
    pub fn set(args: *const u8, size: usize) -> Result<(), i32> {
        prctl(PR_SECCOMP_SET, args as u64, size as u64, 0, 0).map(|_| ())
    }

    /// `PR_SECCOMP_GET` into `buf` of `size` bytes: the text length.
    pub fn get(buf: *mut u8, size: usize) -> Result<usize, i32> {
        prctl(PR_SECCOMP_GET, buf as u64, size as u64, 0, 0).map(|n| n as usize)
    }

    /// The thread's errno.
    pub fn errno() -> i32 {
        io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

/// The strbox ABI version of the running kernel module, or `None` when the
/// module is not loaded (the kernel's own prctl answers `EINVAL`).
pub fn abi_version() -> Option<u32> {
    sys::prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0)
        .ok()
        .map(|v| v as u32)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: required (unless the caller has
/// CAP_SYS_ADMIN) before installing a layer, as for seccomp.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A failed install: the errno and, when the kernel rejected the policy
/// text, where and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallError {
    /// The errno of `PR_SECCOMP_SET` (see `docs/abi.md`).
    pub errno: i32,
    /// The policy error from the kernel's error record, if any.
    pub policy: Option<PolicyError>,
    /// The raw error record as the kernel filled it.
    pub record: StrboxError,
}

impl InstallError {
    /// A human-readable report: the policy error with its source line and
    /// a caret (`FILE:LINE:COL: message`), or the errno's meaning.
    pub fn render(&self, file: &str, src: &[u8]) -> String {
        match &self.policy {
            Some(pe) => policy::render_error(file, src, pe),
            None => format!("{file}: {self}\n"),
        }
    }
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pe) = &self.policy {
            return write!(f, "policy rejected: {pe}");
        }
        let what = match self.errno {
            libc::EINVAL => "invalid argument (is the strbox module loaded?)",
            libc::EACCES => "needs no_new_privs or CAP_SYS_ADMIN",
            libc::EMLINK => "too many layers",
            libc::ENOSPC => "layer chain too large",
            libc::EBUSY => "TSYNC: another thread's filters diverge",
            libc::E2BIG => "argument struct or policy too large",
            libc::EFAULT => "bad address",
            libc::ENOMEM => "out of kernel memory",
            _ => "",
        };
        let os = io::Error::from_raw_os_error(self.errno);
        if what.is_empty() {
            write!(f, "{os}")
        } else {
            write!(f, "{what} ({os})")
        }
    }
}

impl std::error::Error for InstallError {}

/// Builder for one install.
#[derive(Clone, Copy, Debug)]
pub struct Sandbox<'a> {
    policy: &'a [u8],
    tsync: bool,
    no_new_privs: bool,
    source: Option<&'a Policy>,
    compat: Compatibility,
    backend: BackendChoice,
}

impl<'a> Sandbox<'a> {
    /// A layer with this policy text, installed on the calling thread only,
    /// without setting no_new_privs.
    pub fn new(policy: &'a [u8]) -> Sandbox<'a> {
        Sandbox {
            policy,
            tsync: false,
            no_new_privs: false,
            source: None,
            compat: Compatibility::HardRequirement,
            backend: BackendChoice::Strbox,
        }
    }

    /// The `PR_SECCOMP_SET` flags.
    fn flags(&self) -> u64 {
        if self.tsync {
            STRBOX_SET_TSYNC
        } else {
            0
        }
    }

    /// Install on every thread of the process (`STRBOX_SET_TSYNC`).
    pub fn tsync(mut self, on: bool) -> Self {
        self.tsync = on;
        self
    }

    /// Set no_new_privs first (needed without CAP_SYS_ADMIN).
    pub fn no_new_privs(mut self, on: bool) -> Self {
        self.no_new_privs = on;
        self
    }

    /// Installs the layer. On failure the task is unchanged (except for
    /// no_new_privs, if asked for).
    pub fn install(&self) -> Result<(), InstallError> {
        if self.no_new_privs {
            set_no_new_privs().map_err(|e| InstallError {
                errno: e.raw_os_error().unwrap_or(libc::EPERM),
                policy: None,
                record: StrboxError::default(),
            })?;
        }
        install_raw(self.policy, self.flags())
    }
}

/// `PR_SECCOMP_SET` of `policy` with `flags`, decoding the error record.
pub fn install_raw(policy: &[u8], flags: u64) -> Result<(), InstallError> {
    let mut record = [0u8; abi::STRBOX_ERROR_SIZE];
    let args = StrboxSetArgs {
        policy: policy.as_ptr() as u64,
        policy_len: policy.len() as u64,
        flags,
        error: record.as_mut_ptr() as u64,
    };
    let bytes = args.to_bytes();
    match sys::set(bytes.as_ptr(), STRBOX_SET_ARGS_SIZE_VER0) {
        Ok(()) => Ok(()),
        Err(errno) => {
            let record = StrboxError::from_bytes(&record);
            Err(InstallError {
                errno,
                policy: decode_record(&record),
                record,
            })
        }
    }
}

/// Installs `policy` on the calling thread (no TSYNC, no NNP change).
pub fn install(policy: &[u8]) -> Result<(), InstallError> {
    install_raw(policy, 0)
}

/// The policy error an error record describes, if any.
pub fn decode_record(r: &StrboxError) -> Option<PolicyError> {
    if r.code == STRBOX_ERROR_NONE {
        return None;
    }
    Some(PolicyError {
        code: ErrorCode::from_u32(r.code)?,
        offset: r.offset,
        line: r.line,
        column: r.column,
    })
}

/// The canonical text of the calling task's layers (`PR_SECCOMP_GET`),
/// oldest first, each after a `# strbox layer I/N` line; empty when the
/// task has none.
pub fn read_layers() -> io::Result<String> {
    loop {
        let n = sys::get(std::ptr::null_mut(), 0).map_err(io::Error::from_raw_os_error)?;
        if n == 0 {
            return Ok(String::new());
        }
        let mut buf = vec![0u8; n];
        match sys::get(buf.as_mut_ptr(), buf.len()) {
            Ok(len) => {
                buf.truncate(len);
                return String::from_utf8(buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // A layer was added in between (TSYNC from another thread).
            Err(libc::ERANGE) => continue,
            Err(e) => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// Splits `PR_SECCOMP_GET` text into the layers' texts, oldest first
/// (without their header lines). Each is a policy that compiles to the
/// installed program.
pub fn split_layers(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(LAYER_HEADER_PREFIX) {
            if let Some(s) = start {
                out.push(&text[s..pos]);
            }
            start = Some(pos + line.len());
        }
        pos += line.len();
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_layers_oldest_first() {
        let t =
            "# strbox layer 1/2\ndefault kill\nread: 1\n# strbox layer 2/2\ndefault errno EPERM\n";
        assert_eq!(
            split_layers(t),
            vec!["default kill\nread: 1\n", "default errno EPERM\n"]
        );
        assert!(split_layers("").is_empty());
    }

    #[test]
    fn record_decoding() {
        let r = StrboxError {
            code: ErrorCode::UnknownSyscall as u32,
            offset: 3,
            line: 1,
            column: 4,
        };
        let e = decode_record(&r).unwrap();
        assert_eq!(e.code, ErrorCode::UnknownSyscall);
        assert_eq!((e.offset, e.line, e.column), (3, 1, 4));
        assert_eq!(decode_record(&StrboxError::default()), None);
    }
}
