//! The probes: the syscalls the benchmark loops on, and the timed loop.

/// The syscalls the benchmark loops on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Probe {
    /// `getppid()`: allowed outright (strbox's bitmap, seccomp's cache).
    Getppid,
    /// `read(0, buf, 0)`: allowed by an argument rule (`fd == 0`).
    Read0,
    /// `fcntl(0, F_GETFD)`: allowed by the third of four `cmd ==` tests.
    Fcntl,
    /// `getsid(0)`: not in the policy: denied with EPERM.
    Getsid,
    /// `openat(AT_FDCWD, "/dev/null", O_RDONLY)` and `close()` of the fd:
    /// what an unfiltered task pays for the `file_open` event hook
    /// (baseline scenarios only).
    Open,
}

impl Probe {
    /// Short name for the table.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Getppid => "getppid",
            Probe::Read0 => "read(0,,0)",
            Probe::Fcntl => "fcntl(GETFD)",
            Probe::Getsid => "getsid",
            Probe::Open => "open+close",
        }
    }

    /// Name in `@@bench` lines.
    pub(super) fn key(self) -> &'static str {
        match self {
            Probe::Getppid => "getppid",
            Probe::Read0 => "read",
            Probe::Fcntl => "fcntl",
            Probe::Getsid => "getsid",
            Probe::Open => "open",
        }
    }

    /// (number, first three arguments).
    pub(super) fn call(self, buf: u64) -> (libc::c_long, [u64; 3]) {
        match self {
            Probe::Getppid => (libc::SYS_getppid, [0; 3]),
            Probe::Read0 => (libc::SYS_read, [0, buf, 0]),
            Probe::Fcntl => (libc::SYS_fcntl, [0, libc::F_GETFD as u64, 0]),
            Probe::Getsid => (libc::SYS_getsid, [0; 3]),
            Probe::Open => (
                libc::SYS_openat,
                [
                    libc::AT_FDCWD as u64,
                    c"/dev/null".as_ptr() as u64,
                    libc::O_RDONLY as u64,
                ],
            ),
        }
    }
}

pub(super) const ALL_PROBES: &[Probe] =
    &[Probe::Getppid, Probe::Read0, Probe::Fcntl, Probe::Getsid];
pub(super) const BASELINE_PROBES: &[Probe] = &[
    Probe::Getppid,
    Probe::Read0,
    Probe::Fcntl,
    Probe::Getsid,
    Probe::Open,
];
/// The most probes of one scenario (the size of a [`Slot`]'s arrays).
pub(super) const MAX_PROBES: usize = 5;
pub(super) const INGO_PROBES: &[Probe] = &[Probe::Getppid, Probe::Read0, Probe::Getsid];

pub(super) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `n` calls of one syscall (an `openat` is followed by `close` of its
/// fd); the last result and errno.
#[inline(never)]
pub(super) fn spin(nr: libc::c_long, a: [u64; 3], n: u64) -> (libc::c_long, i32) {
    let mut r = 0;
    for _ in 0..n {
        // SAFETY: the probes' arguments are integers, the address of a
        // live buffer with a length of 0, or of a NUL-terminated path.
        r = unsafe {
            libc::syscall(
                nr,
                a[0] as libc::c_long,
                a[1] as libc::c_long,
                a[2] as libc::c_long,
            )
        };
        if nr == libc::SYS_openat && r >= 0 {
            // SAFETY: closes the fd the openat just returned.
            unsafe { libc::close(r as libc::c_int) };
        }
    }
    let e = if r < 0 { strbox::sys::errno() } else { 0 };
    (r, e)
}
