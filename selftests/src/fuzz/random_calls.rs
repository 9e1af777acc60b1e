//! Random syscalls a worker makes after its installs: the allow-list
//! ([`RANDOM_CALLS`]) and their random, harmless arguments.

use strbox::abi::{PR_SECCOMP_GET, PR_SECCOMP_SET, PR_STRBOX_ABI_VERSION, X32_SYSCALL_BIT};
use strbox_filter::uapi::tables::Arch;

use super::memory::{
    bad_pointer, Arena, RO_BAD_TS, RO_PATH_EMPTY, RO_PATH_EXE, RO_PATH_ROOT, RO_PATH_STATUS,
    RO_ZERO_TS,
};
use super::rng::Rng;

/// Kinds of random arguments.
#[derive(Clone, Copy, Debug)]
enum K {
    /// Any value (an argument the kernel does not use as a pointer).
    Any,
    Fd,
    /// A pointer the kernel may write through: scratch or bad.
    Buf,
    Len,
    Int,
    /// A path: a string in the read-only page, scratch, or bad.
    Path,
    /// A timespec that sleeps 0 or is invalid (never a long sleep).
    Ts,
    Clock,
    /// getrandom flags (always with GRND_NONBLOCK).
    Grnd,
}

use K::{Any, Buf, Clock, Fd, Grnd, Int, Len, Path, Ts};

/// The allow-list: syscalls that are harmless for an unprivileged
/// process with any arguments of these kinds, present on x86_64 and
/// aarch64. (`prctl` and `fcntl` have their own generators.)
const RANDOM_CALLS: &[(libc::c_long, &str, [K; 6])] = &[
    (libc::SYS_getpid, "getpid", [Any; 6]),
    (libc::SYS_getppid, "getppid", [Any; 6]),
    (libc::SYS_getuid, "getuid", [Any; 6]),
    (libc::SYS_geteuid, "geteuid", [Any; 6]),
    (libc::SYS_getgid, "getgid", [Any; 6]),
    (libc::SYS_getegid, "getegid", [Any; 6]),
    (libc::SYS_gettid, "gettid", [Any; 6]),
    (libc::SYS_sched_yield, "sched_yield", [Any; 6]),
    (libc::SYS_getpgid, "getpgid", [Int, Any, Any, Any, Any, Any]),
    (libc::SYS_getsid, "getsid", [Int, Any, Any, Any, Any, Any]),
    (libc::SYS_read, "read", [Fd, Buf, Len, Any, Any, Any]),
    (libc::SYS_write, "write", [Fd, Buf, Len, Any, Any, Any]),
    (libc::SYS_pread64, "pread64", [Fd, Buf, Len, Any, Any, Any]),
    (
        libc::SYS_pwrite64,
        "pwrite64",
        [Fd, Buf, Len, Any, Any, Any],
    ),
    (libc::SYS_close, "close", [Fd, Any, Any, Any, Any, Any]),
    (libc::SYS_dup, "dup", [Fd, Any, Any, Any, Any, Any]),
    (libc::SYS_lseek, "lseek", [Fd, Any, Int, Any, Any, Any]),
    (libc::SYS_fstat, "fstat", [Fd, Buf, Any, Any, Any, Any]),
    (libc::SYS_fsync, "fsync", [Fd, Any, Any, Any, Any, Any]),
    (
        libc::SYS_fdatasync,
        "fdatasync",
        [Fd, Any, Any, Any, Any, Any],
    ),
    (
        libc::SYS_ftruncate,
        "ftruncate",
        [Fd, Any, Any, Any, Any, Any],
    ),
    (libc::SYS_flock, "flock", [Fd, Int, Any, Any, Any, Any]),
    (
        libc::SYS_getdents64,
        "getdents64",
        [Fd, Buf, Len, Any, Any, Any],
    ),
    (libc::SYS_uname, "uname", [Buf, Any, Any, Any, Any, Any]),
    (libc::SYS_getcwd, "getcwd", [Buf, Len, Any, Any, Any, Any]),
    (libc::SYS_umask, "umask", [Any; 6]),
    (
        libc::SYS_gettimeofday,
        "gettimeofday",
        [Buf, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_getrlimit,
        "getrlimit",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_getrusage,
        "getrusage",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (libc::SYS_sysinfo, "sysinfo", [Buf, Any, Any, Any, Any, Any]),
    (libc::SYS_times, "times", [Buf, Any, Any, Any, Any, Any]),
    (
        libc::SYS_getresuid,
        "getresuid",
        [Buf, Buf, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_getresgid,
        "getresgid",
        [Buf, Buf, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_getgroups,
        "getgroups",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (libc::SYS_capget, "capget", [Buf, Buf, Any, Any, Any, Any]),
    (
        libc::SYS_getpriority,
        "getpriority",
        [Int, Int, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getparam,
        "sched_getparam",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getscheduler,
        "sched_getscheduler",
        [Int, Any, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_get_priority_max,
        "sched_get_priority_max",
        [Int, Any, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_rr_get_interval,
        "sched_rr_get_interval",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getaffinity,
        "sched_getaffinity",
        [Int, Len, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getattr,
        "sched_getattr",
        [Int, Buf, Len, Int, Any, Any],
    ),
    (libc::SYS_getcpu, "getcpu", [Buf, Buf, Buf, Any, Any, Any]),
    (
        libc::SYS_clock_gettime,
        "clock_gettime",
        [Clock, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_clock_getres,
        "clock_getres",
        [Clock, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_clock_nanosleep,
        "clock_nanosleep",
        [Clock, Int, Ts, Buf, Any, Any],
    ),
    (
        libc::SYS_nanosleep,
        "nanosleep",
        [Ts, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_getitimer,
        "getitimer",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_newfstatat,
        "newfstatat",
        [Fd, Path, Buf, Int, Any, Any],
    ),
    (libc::SYS_statx, "statx", [Fd, Path, Int, Int, Buf, Any]),
    (
        libc::SYS_readlinkat,
        "readlinkat",
        [Fd, Path, Buf, Len, Any, Any],
    ),
    (
        libc::SYS_faccessat,
        "faccessat",
        [Fd, Path, Int, Any, Any, Any],
    ),
    (
        libc::SYS_faccessat2,
        "faccessat2",
        [Fd, Path, Int, Int, Any, Any],
    ),
    (
        libc::SYS_get_robust_list,
        "get_robust_list",
        [Int, Buf, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_getrandom,
        "getrandom",
        [Buf, Len, Grnd, Any, Any, Any],
    ),
    (
        libc::SYS_membarrier,
        "membarrier",
        [Int, Int, Int, Any, Any, Any],
    ),
    (libc::SYS_mincore, "mincore", [Any, Len, Buf, Any, Any, Any]),
];

/// The fds a worker has: 0-2 and 3 on /dev/null, 4 on /dev/zero.
pub(super) const FD_NULL: u64 = 3;
pub(super) const FD_ZERO: u64 = 4;

fn any_value(rng: &mut Rng, arch: &Arch) -> u64 {
    match rng.below(10) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => rng.below(16),
        4 => *rng.pick(&[
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            i64::MAX as u64,
            i64::MIN as u64,
            0xffff_ffff_0000_0000,
            u64::from(PR_SECCOMP_SET),
            u64::from(PR_SECCOMP_GET),
        ]),
        5 => rng.bits(),
        6 => rng.bits() & 0xffff_ffff,
        7 => rng.pick(arch.constants).value as u64,
        8 => (rng.bits() << 32) | rng.below(8),
        _ => (-(rng.below(200) as i64)) as u64,
    }
}

fn arg_value(rng: &mut Rng, a: &Arena, arch: &Arch, k: K) -> u64 {
    match k {
        Any => any_value(rng, arch),
        Fd => match rng.below(10) {
            0..=2 => *rng.pick(&[0, 1, 2, FD_NULL, FD_ZERO, 5, 6]),
            3 => FD_ZERO,
            4 => FD_NULL,
            5 => u64::MAX,
            6 => (-100i64) as u64,
            7 => (rng.bits() << 32) | FD_ZERO,
            8 => 1000 + rng.below(1 << 20),
            _ => rng.bits() & 0xffff_ffff,
        },
        Buf => match rng.below(8) {
            0..=3 => a.scratch + rng.below(a.scratch_len),
            4 => a.scratch + a.scratch_len - 1 - rng.below(64),
            5 => a.scratch,
            _ => bad_pointer(rng),
        },
        Len => {
            let r = rng.below(1 << 20);
            *rng.pick(&[
                0,
                1,
                2,
                8,
                16,
                64,
                100,
                4096,
                8192,
                65536,
                r,
                0xffff_ffff,
                u64::MAX,
                i64::MIN as u64,
            ])
        }
        Int => match rng.below(6) {
            0 => rng.below(4),
            1 => u64::MAX,
            2 => rng.below(100),
            3 => rng.bits() & 0xffff_ffff,
            4 => *rng.pick(&[0x7fff_ffff, 0x8000_0000, 0x100, 0x1000]),
            _ => any_value(rng, arch),
        },
        Path => match rng.below(8) {
            0 => a.ro + RO_PATH_ROOT,
            1 => a.ro + RO_PATH_STATUS,
            2 => a.ro + RO_PATH_EMPTY,
            3 => a.ro + RO_PATH_EXE,
            4 => a.scratch + rng.below(a.scratch_len),
            _ => bad_pointer(rng),
        },
        Ts => match rng.below(5) {
            0 | 1 => a.ro + RO_ZERO_TS,
            2 => a.ro + RO_BAD_TS,
            _ => bad_pointer(rng),
        },
        Clock => match rng.below(4) {
            0 | 1 => rng.below(12),
            2 => (!(3u64 << 3)) | 3,
            _ => any_value(rng, arch),
        },
        Grnd => rng.below(8) | 1,
    }
}

/// One random syscall: (number register, arguments, name). The number may
/// carry garbage in its upper half (the kernel uses the low 32 bits) or be
/// one no kernel of ours implements.
pub(super) fn gen_random_call(
    rng: &mut Rng,
    a: &Arena,
    arch: &Arch,
) -> (u64, [u64; 6], &'static str) {
    let mut args = [0u64; 6];
    let (nr, name) = match rng.below(20) {
        0..=2 => {
            args = prctl_args(rng, a, arch);
            (libc::SYS_prctl as u64, "prctl")
        }
        3 => {
            args = fcntl_args(rng, a, arch);
            (libc::SYS_fcntl as u64, "fcntl")
        }
        4 => {
            // Numbers that run nothing: unused, x32 (x86_64), negative.
            for v in args.iter_mut() {
                *v = any_value(rng, arch);
            }
            let nr = match rng.below(3) {
                0 => rng.range(u64::from(arch.nr_syscalls), u64::from(X32_SYSCALL_BIT)),
                1 => u64::from(X32_SYSCALL_BIT) | (libc::SYS_getppid as u64),
                _ => 0x8000_0000 | rng.bits(),
            };
            (nr, "(none)")
        }
        _ => {
            let (nr, name, kinds) = *rng.pick(RANDOM_CALLS);
            for (v, k) in args.iter_mut().zip(kinds) {
                *v = arg_value(rng, a, arch, k);
            }
            (nr as u64, name)
        }
    };
    let nr = if rng.chance(1, 16) && nr < u64::from(X32_SYSCALL_BIT) {
        nr | (rng.bits() << 32)
    } else {
        nr
    };
    (nr, args, name)
}

/// `prctl` options that are harmless for the worker, with arguments of
/// the right kinds; plus strbox's own options (never a valid install) and
/// unknown options.
fn prctl_args(rng: &mut Rng, a: &Arena, arch: &Arch) -> [u64; 6] {
    let mut v = [0u64; 6];
    for x in v.iter_mut().skip(1) {
        *x = if rng.chance(1, 2) {
            0
        } else {
            any_value(rng, arch)
        };
    }
    let hi = if rng.chance(1, 8) {
        rng.bits() << 32
    } else {
        0
    };
    match rng.below(8) {
        0 => {
            // Options that write through arg2 (int, name, pointer, auxv).
            // PR_GET_PDEATHSIG, PR_GET_UNALIGN, PR_GET_FPEMU, PR_GET_FPEXC,
            // PR_GET_NAME, PR_GET_ENDIAN, PR_GET_TSC, PR_GET_CHILD_SUBREAPER,
            // PR_GET_TID_ADDRESS, PR_GET_AUXV
            v[0] = *rng.pick(&[2u64, 5, 9, 11, 16, 19, 25, 37, 40, 0x4155_5856]);
            v[1] = arg_value(rng, a, arch, Buf);
            v[2] = arg_value(rng, a, arch, Len);
        }
        1 => {
            // Options that only return a value.
            // PR_GET_DUMPABLE, PR_GET_KEEPCAPS, PR_GET_TIMING, PR_GET_SECCOMP,
            // PR_CAPBSET_READ, PR_GET_TIMERSLACK, PR_MCE_KILL_GET,
            // PR_GET_NO_NEW_PRIVS, PR_GET_THP_DISABLE,
            // PR_GET_SPECULATION_CTRL, PR_GET_TAGGED_ADDR_CTRL,
            // PR_GET_IO_FLUSHER, PR_GET_MDWE, PR_GET_MEMORY_MERGE
            v[0] = *rng.pick(&[3u64, 7, 13, 21, 23, 30, 34, 39, 42, 52, 56, 58, 66, 68]);
            v[1] = arg_value(rng, a, arch, Int);
        }
        2 => {
            // Setters of the worker's own task state (or EPERM without
            // capabilities): PR_SET_KEEPCAPS, PR_MCE_KILL, PR_SET_MM,
            // PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT,
            // PR_SET_SPECULATION_CTRL, PR_SET_IO_FLUSHER. Not those that
            // change the memory map it shares with the test process
            // (PR_SET_DUMPABLE, PR_SET_THP_DISABLE, PR_SET_MDWE,
            // PR_SET_MEMORY_MERGE), nor PR_SET_TIMERSLACK (a huge slack
            // makes a zero nanosleep long).
            v[0] = *rng.pick(&[8u64, 33, 35, 36, 38, 47, 53, 57]);
            v[1] = arg_value(rng, a, arch, Int);
            if v[0] == 35 || v[0] == 47 {
                // PR_SET_MM takes pointers in some sub-options; PR_CAP_AMBIENT
                // only numbers. Keep arg3.. in the scratch or bad.
                v[2] = arg_value(rng, a, arch, Buf);
                v[3] = arg_value(rng, a, arch, Buf);
            }
        }
        3 => {
            v[0] = u64::from(PR_STRBOX_ABI_VERSION);
        }
        4 => {
            v[0] = u64::from(PR_SECCOMP_GET);
            v[1] = arg_value(rng, a, arch, Buf);
            v[2] = arg_value(rng, a, arch, Len);
        }
        5 => {
            // PR_SECCOMP_SET that can never install anything.
            v[0] = u64::from(PR_SECCOMP_SET);
            match rng.below(4) {
                0 => {
                    v[1] = a.args;
                    v[2] = 32;
                    v[3] = 1 + rng.below(100);
                }
                1 => {
                    v[1] = a.args;
                    v[2] = rng.below(32);
                }
                2 => {
                    v[1] = a.args;
                    v[2] = 4097 + rng.below(1 << 40);
                }
                _ => {
                    v[1] = bad_pointer(rng) | 1;
                    v[2] = rng.range(32, 4097);
                }
            }
        }
        6 => {
            // Unknown options: in strbox's range and far from mainline's.
            v[0] = if rng.chance(1, 2) {
                u64::from(PR_STRBOX_ABI_VERSION) | rng.range(3, 256)
            } else {
                rng.range(0x1000_0000, 0x2000_0000)
            };
        }
        _ => {
            v[0] = *rng.pick(&[2u64, 16, 37, 40]);
            v[1] = arg_value(rng, a, arch, Buf);
        }
    }
    v[0] |= hi;
    v
}

/// `fcntl` on one of the worker's fds: commands that take a pointer get a
/// scratch or bad pointer, the others any value.
fn fcntl_args(rng: &mut Rng, a: &Arena, arch: &Arch) -> [u64; 6] {
    let mut v = [0u64; 6];
    for x in v.iter_mut().skip(3) {
        *x = any_value(rng, arch);
    }
    v[0] = arg_value(rng, a, arch, Fd);
    // F_GETLK, F_SETLK, F_SETLKW, F_GETOWN_EX, F_SETOWN_EX, F_OFD_GETLK,
    // F_OFD_SETLK, F_OFD_SETLKW, F_GET_RW_HINT, F_SET_RW_HINT,
    // F_GET_FILE_RW_HINT, F_SET_FILE_RW_HINT
    let ptr_cmds = [5u64, 6, 7, 16, 15, 36, 37, 38, 1035, 1036, 1037, 1038];
    // F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_SETOWN, F_GETOWN,
    // F_SETSIG, F_GETSIG, F_SETLEASE, F_GETLEASE, F_NOTIFY,
    // F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS,
    // F_GET_SEALS
    let int_cmds = [
        0u64, 1, 2, 3, 4, 8, 9, 10, 11, 1024, 1025, 1026, 1030, 1031, 1032, 1033, 1034,
    ];
    if rng.chance(1, 2) {
        v[1] = *rng.pick(&ptr_cmds);
        v[2] = arg_value(rng, a, arch, Buf);
    } else if rng.chance(7, 8) {
        v[1] = *rng.pick(&int_cmds);
        v[2] = arg_value(rng, a, arch, Int);
    } else {
        // An unknown command.
        v[1] = rng.range(2000, 1 << 20);
        v[2] = arg_value(rng, a, arch, Buf);
    }
    v
}
