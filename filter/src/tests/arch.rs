//! A small hand-made architecture table for tests (x86_64-like numbers).

use crate::uapi::tables::{Arch, Arg, ArgType, Constant, Syscall};

const fn a(name: &'static str, ctype: &'static str, ty: ArgType) -> Arg {
    Arg { name, ctype, ty }
}

pub(crate) static TEST_ARCH: Arch = Arch {
    name: "test",
    audit_arch: 0,
    nr_syscalls: 520,
    // Sorted by name.
    syscalls: &[
        Syscall {
            name: "big",
            nr: 600,
            args: &[],
        },
        Syscall {
            name: "close",
            nr: 3,
            args: &[a("fd", "unsigned int", ArgType::U32)],
        },
        Syscall {
            name: "gettimeofday",
            nr: 96,
            args: &[
                a("tv", "struct __kernel_old_timeval __user *", ArgType::Ptr),
                a("tz", "struct timezone __user *", ArgType::Ptr),
            ],
        },
        Syscall {
            name: "kill",
            nr: 62,
            args: &[
                a("pid", "pid_t", ArgType::I32),
                a("sig", "int", ArgType::I32),
            ],
        },
        Syscall {
            name: "lseek",
            nr: 8,
            args: &[
                a("fd", "unsigned int", ArgType::U32),
                a("offset", "off_t", ArgType::I64),
                a("whence", "unsigned int", ArgType::U32),
            ],
        },
        Syscall {
            name: "mmap",
            nr: 9,
            args: &[
                a("addr", "unsigned long", ArgType::U64),
                a("len", "unsigned long", ArgType::U64),
                a("prot", "unsigned long", ArgType::U64),
                a("flags", "unsigned long", ArgType::U64),
                a("fd", "unsigned long", ArgType::U64),
                a("off", "unsigned long", ArgType::U64),
            ],
        },
        Syscall {
            name: "openat",
            nr: 257,
            args: &[
                a("dfd", "int", ArgType::I32),
                a("filename", "const char __user *", ArgType::Ptr),
                a("flags", "int", ArgType::I32),
                a("mode", "umode_t", ArgType::U16),
            ],
        },
        Syscall {
            name: "read",
            nr: 0,
            args: &[
                a("fd", "unsigned int", ArgType::U32),
                a("buf", "char __user *", ArgType::Ptr),
                a("count", "size_t", ArgType::U64),
            ],
        },
        Syscall {
            name: "rt_sigreturn",
            nr: 15,
            args: &[],
        },
        Syscall {
            name: "socket",
            nr: 41,
            args: &[
                a("family", "int", ArgType::I32),
                a("type", "int", ArgType::I32),
                a("protocol", "int", ArgType::I32),
            ],
        },
        Syscall {
            name: "widths",
            nr: 511,
            args: &[
                a("a", "u8", ArgType::U8),
                a("b", "s8", ArgType::I8),
                a("c", "u16", ArgType::U16),
                a("d", "short", ArgType::I16),
                a("e", "long", ArgType::I64),
                a("f", "unsigned long", ArgType::U64),
            ],
        },
        Syscall {
            name: "write",
            nr: 1,
            args: &[
                a("fd", "unsigned int", ArgType::U32),
                a("buf", "const char __user *", ArgType::Ptr),
                a("count", "size_t", ArgType::U64),
            ],
        },
    ],
    constants: &[
        Constant {
            name: "AF_INET",
            value: 2,
        },
        Constant {
            name: "AF_UNIX",
            value: 1,
        },
        Constant {
            name: "AT_FDCWD",
            value: -100,
        },
        Constant {
            name: "BIG_NEG",
            value: i64::MIN,
        },
        Constant {
            name: "MAP_ANONYMOUS",
            value: 0x20,
        },
        Constant {
            name: "MAP_PRIVATE",
            value: 2,
        },
        Constant {
            name: "O_CLOEXEC",
            value: 0o2000000,
        },
        Constant {
            name: "O_CREAT",
            value: 0o100,
        },
        Constant {
            name: "O_RDONLY",
            value: 0,
        },
        Constant {
            name: "O_RDWR",
            value: 2,
        },
        Constant {
            name: "O_WRONLY",
            value: 1,
        },
        Constant {
            name: "PROT_EXEC",
            value: 4,
        },
        Constant {
            name: "PROT_READ",
            value: 1,
        },
        Constant {
            name: "PROT_WRITE",
            value: 2,
        },
        Constant {
            name: "SIGKILL",
            value: 9,
        },
        Constant {
            name: "SOCK_CLOEXEC",
            value: 0o2000000,
        },
        Constant {
            name: "SOCK_STREAM",
            value: 1,
        },
    ],
    errnos: &[
        Constant {
            name: "EACCES",
            value: 13,
        },
        Constant {
            name: "ENOENT",
            value: 2,
        },
        Constant {
            name: "ENOSYS",
            value: 38,
        },
        Constant {
            name: "EPERM",
            value: 1,
        },
    ],
};

#[test]
fn test_arch_is_sorted() {
    assert!(TEST_ARCH.syscalls.windows(2).all(|w| w[0].name < w[1].name));
    assert!(TEST_ARCH
        .constants
        .windows(2)
        .all(|w| w[0].name < w[1].name));
    assert!(TEST_ARCH.errnos.windows(2).all(|w| w[0].name < w[1].name));
}
