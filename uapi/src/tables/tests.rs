//! Spot checks of the generated tables against well-known ABI facts, and
//! structural invariants the lookups rely on.

extern crate std;

use super::{arch_by_name, Arch, ArgType, Constant, Syscall, AARCH64, ARCHES, X86_64};
use std::collections::BTreeSet;
use std::vec::Vec;

fn sc(arch: &Arch, name: &str) -> &'static Syscall {
    arch.syscall(name)
        .unwrap_or_else(|| panic!("{}: no {name}", arch.name))
}

fn nr(arch: &Arch, name: &str) -> u32 {
    sc(arch, name).nr
}

fn args(arch: &Arch, name: &str) -> Vec<(&'static str, ArgType)> {
    sc(arch, name).args.iter().map(|a| (a.name, a.ty)).collect()
}

fn k(arch: &Arch, name: &str) -> i64 {
    arch.constant(name)
        .unwrap_or_else(|| panic!("{}: no constant {name}", arch.name))
}

#[test]
fn x86_64_numbers() {
    let a = &X86_64;
    for (name, n) in [
        ("read", 0),
        ("write", 1),
        ("open", 2),
        ("close", 3),
        ("mmap", 9),
        ("rt_sigreturn", 15),
        ("gettimeofday", 96),
        ("exit_group", 231),
        ("openat", 257),
        ("seccomp", 317),
        ("clone3", 435),
    ] {
        assert_eq!(nr(a, name), n, "{name}");
    }
    assert_eq!(a.audit_arch, 0xc000_003e);
    assert_eq!(a.syscall_by_nr(2).map(|s| s.name), Some("open"));
    assert_eq!(a.syscall("sys_openat").map(|s| s.nr), Some(257));
    // x32-only entries (512+) are not part of the native table.
    assert!(a.syscalls.iter().all(|s| s.nr < 512));
    assert_eq!(
        args(a, "gettimeofday"),
        [("tv", ArgType::Ptr), ("tz", ArgType::Ptr)]
    );
    assert_eq!(
        args(a, "arch_prctl"),
        [("option", ArgType::I32), ("arg2", ArgType::U64)]
    );
    // stat is sys_newstat.
    assert_eq!(
        args(a, "stat"),
        [("filename", ArgType::Ptr), ("statbuf", ArgType::Ptr)]
    );
}

#[test]
fn aarch64_numbers() {
    let a = &AARCH64;
    for (name, n) in [
        ("io_setup", 0),
        ("openat", 56),
        ("close", 57),
        ("read", 63),
        ("write", 64),
        ("exit_group", 94),
        ("rt_sigreturn", 139),
        ("clone", 220),
        ("mmap", 222),
        ("seccomp", 277),
        ("memfd_secret", 447),
    ] {
        assert_eq!(nr(a, name), n, "{name}");
    }
    assert_eq!(a.audit_arch, 0xc000_00b7);
    // Only the *at / newer variants exist on arm64.
    for gone in [
        "open",
        "stat",
        "fork",
        "pipe",
        "dup2",
        "select",
        "poll",
        "arch_prctl",
    ] {
        assert!(a.syscall(gone).is_none(), "{gone}");
    }
    // The arch-specific ABIs arm64 selects.
    assert_eq!(nr(a, "renameat"), 38);
    assert_eq!(nr(a, "getrlimit"), 163);
    // personality is __arm64_sys_arm64_personality.
    assert_eq!(args(a, "personality"), [("personality", ArgType::U32)]);
}

#[test]
fn common_signatures() {
    for a in ARCHES {
        let read = sc(a, "read");
        let got: Vec<_> = read.args.iter().map(|x| (x.name, x.ctype, x.ty)).collect();
        assert_eq!(
            got,
            [
                ("fd", "unsigned int", ArgType::U32),
                ("buf", "char __user *", ArgType::Ptr),
                ("count", "size_t", ArgType::U64),
            ],
            "{}",
            a.name
        );
        assert_eq!(
            args(a, "openat"),
            [
                ("dfd", ArgType::I32),
                ("filename", ArgType::Ptr),
                ("flags", ArgType::I32),
                ("mode", ArgType::U16),
            ],
            "{}",
            a.name
        );
        assert_eq!(args(a, "mmap").len(), 6);
        assert_eq!(args(a, "getpid"), []);
        assert_eq!(
            args(a, "kill"),
            [("pid", ArgType::I32), ("sig", ArgType::I32)]
        );
        // Typedefs: off_t, loff_t, uid_t, timer_t, aio_context_t, and
        // cap_user_header_t (a pointer typedef).
        assert_eq!(args(a, "lseek")[1], ("offset", ArgType::I64));
        assert_eq!(args(a, "pread64")[3], ("pos", ArgType::I64));
        assert_eq!(args(a, "setuid"), [("uid", ArgType::U32)]);
        assert_eq!(args(a, "timer_delete"), [("timer_id", ArgType::I32)]);
        assert_eq!(args(a, "io_destroy"), [("ctx", ArgType::U64)]);
        assert_eq!(args(a, "capget")[0], ("header", ArgType::Ptr));
        // An enum with no negative enumerator is `unsigned int`.
        assert_eq!(args(a, "landlock_add_rule")[1], ("rule_type", ArgType::U32));
        // Declared names can look like the generic argN but sit elsewhere:
        // prctl's `arg2` is register argument 1.
        let prctl: Vec<&str> = sc(a, "prctl").args.iter().map(|x| x.name).collect();
        assert_eq!(prctl, ["option", "arg2", "arg3", "arg4", "arg5"]);
    }
    // clone's argument order is per arch (CONFIG_CLONE_BACKWARDS on arm64).
    let clone = |a: &Arch| -> Vec<&str> { sc(a, "clone").args.iter().map(|x| x.name).collect() };
    assert_eq!(
        clone(&X86_64),
        [
            "clone_flags",
            "newsp",
            "parent_tidptr",
            "child_tidptr",
            "tls"
        ]
    );
    assert_eq!(
        clone(&AARCH64),
        [
            "clone_flags",
            "newsp",
            "parent_tidptr",
            "tls",
            "child_tidptr"
        ]
    );
}

#[test]
fn constants() {
    // O_* flags that differ: arm64's asm/fcntl.h overrides asm-generic.
    assert_eq!(k(&X86_64, "O_DIRECTORY"), 0o200000);
    assert_eq!(k(&AARCH64, "O_DIRECTORY"), 0o40000);
    assert_eq!(k(&X86_64, "O_NOFOLLOW"), 0o400000);
    assert_eq!(k(&AARCH64, "O_NOFOLLOW"), 0o100000);
    assert_eq!(k(&X86_64, "O_DIRECT"), 0o40000);
    assert_eq!(k(&AARCH64, "O_DIRECT"), 0o200000);
    assert_eq!(k(&AARCH64, "O_LARGEFILE"), 0o400000);
    assert_eq!(k(&X86_64, "MAP_32BIT"), 0x40);
    assert!(AARCH64.constant("MAP_32BIT").is_none());
    assert_eq!(k(&AARCH64, "PROT_BTI"), 0x10);
    assert!(X86_64.constant("PROT_BTI").is_none());
    for a in ARCHES {
        for (name, v) in [
            ("AT_FDCWD", -100),
            ("AT_SYMLINK_NOFOLLOW", 0x100),
            ("AT_REMOVEDIR", 0x200),
            ("AT_EMPTY_PATH", 0x1000),
            ("O_RDONLY", 0),
            ("O_WRONLY", 1),
            ("O_RDWR", 2),
            ("O_CREAT", 0o100),
            ("O_NONBLOCK", 0o4000),
            ("O_CLOEXEC", 0o2000000),
            ("O_SYNC", 0o4010000),
            ("O_TMPFILE", 0o20000000 | k(a, "O_DIRECTORY")),
            ("PROT_READ", 1),
            ("PROT_WRITE", 2),
            ("PROT_EXEC", 4),
            ("MAP_SHARED", 1),
            ("MAP_PRIVATE", 2),
            ("MAP_FIXED", 0x10),
            ("MAP_ANONYMOUS", 0x20),
            ("AF_UNIX", 1),
            ("AF_INET", 2),
            ("AF_INET6", 10),
            ("AF_NETLINK", 16),
            ("SOCK_STREAM", 1),
            ("SOCK_DGRAM", 2),
            ("SOCK_RAW", 3),
            ("SOCK_NONBLOCK", k(a, "O_NONBLOCK")),
            ("SOCK_CLOEXEC", k(a, "O_CLOEXEC")),
            ("CLONE_VM", 0x100),
            ("CLONE_THREAD", 0x10000),
            ("CLONE_NEWUSER", 0x1000_0000),
            ("CLONE_CLEAR_SIGHAND", 0x1_0000_0000),
            ("F_GETFD", 1),
            ("F_SETFL", 4),
            ("F_DUPFD_CLOEXEC", 1030),
            ("SEEK_SET", 0),
            ("SEEK_END", 2),
            ("MADV_DONTNEED", 4),
            ("FUTEX_WAIT", 0),
            ("FUTEX_WAKE_PRIVATE", 129),
            ("PR_SET_NO_NEW_PRIVS", 38),
            ("PR_SET_SECCOMP", 22),
            ("SIGKILL", 9),
            ("SIGSEGV", 11),
            ("SIGCHLD", 17),
            ("SIGSYS", 31),
            ("SIGRTMIN", 32),
            ("SIGRTMAX", 64),
            ("CLOCK_MONOTONIC", 1),
            ("IPPROTO_TCP", 6),
            ("IPPROTO_UDP", 17),
            ("IPPROTO_IPV6", 41),
            ("S_IFMT", 0o170000),
            ("S_IFDIR", 0o40000),
            ("S_IRWXU", 0o700),
            ("F_OK", 0),
            ("X_OK", 1),
            ("W_OK", 2),
            ("R_OK", 4),
            ("GRND_NONBLOCK", 1),
            ("GRND_RANDOM", 2),
            ("EFD_CLOEXEC", k(a, "O_CLOEXEC")),
            ("EPOLL_CLOEXEC", k(a, "O_CLOEXEC")),
            ("EPOLLET", 1 << 31),
            ("MFD_CLOEXEC", 1),
            ("TCGETS", 0x5401),
            ("WNOHANG", 1),
            ("SHUT_RDWR", 2),
        ] {
            assert_eq!(k(a, name), v, "{}: {name}", a.name);
        }
    }
}

#[test]
fn errnos() {
    for a in ARCHES {
        assert_eq!(a.errno("EPERM"), Some(1));
        assert_eq!(a.errno("ENOENT"), Some(2));
        assert_eq!(a.errno("EAGAIN"), Some(11));
        assert_eq!(a.errno("EWOULDBLOCK"), Some(11));
        assert_eq!(a.errno("EDEADLOCK"), a.errno("EDEADLK"));
        assert_eq!(a.errno("ENOSYS"), Some(38));
        assert_eq!(a.errno("EHWPOISON"), Some(133));
        assert_eq!(a.errno_name(1), Some("EPERM"));
        assert_eq!(a.errno_name(11), Some("EAGAIN"));
        // Kernel-internal codes (ERESTARTSYS, ENOTSUPP) are not user ABI.
        assert_eq!(a.errno("ERESTARTSYS"), None);
        let max = a.errnos.iter().map(|e| e.value).max();
        assert_eq!(max, Some(133));
        assert!(a.errnos.iter().all(|e| e.value > 0));
    }
    let names =
        |a: &Arch| -> Vec<(&str, i64)> { a.errnos.iter().map(|e| (e.name, e.value)).collect() };
    assert_eq!(names(&X86_64), names(&AARCH64));
}

fn strictly_sorted(names: impl Iterator<Item = &'static str>) -> bool {
    let v: Vec<_> = names.collect();
    v.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn structure() {
    for a in ARCHES {
        assert!(core::ptr::eq(arch_by_name(a.name).unwrap(), a));
        assert!(a.syscalls.len() > 300, "{}", a.name);
        assert!(
            strictly_sorted(a.syscalls.iter().map(|s| s.name)),
            "{}",
            a.name
        );
        assert!(
            strictly_sorted(a.constants.iter().map(|c| c.name)),
            "{}",
            a.name
        );
        assert!(
            strictly_sorted(a.errnos.iter().map(|c| c.name)),
            "{}",
            a.name
        );
        let nrs: BTreeSet<u32> = a.syscalls.iter().map(|s| s.nr).collect();
        assert_eq!(nrs.len(), a.syscalls.len(), "{}: duplicate numbers", a.name);
        assert_eq!(nrs.last().map(|n| n + 1), Some(a.nr_syscalls));
        for s in a.syscalls {
            assert!(s.args.len() <= 6, "{}", s.name);
            assert!(!s.name.starts_with("sys_"), "{}", s.name);
            let names: BTreeSet<&str> = s.args.iter().map(|x| x.name).collect();
            assert_eq!(
                names.len(),
                s.args.len(),
                "{}: duplicate argument names",
                s.name
            );
            for x in s.args {
                assert!(
                    x.name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "{}: {}",
                    s.name,
                    x.name
                );
                if x.ctype.contains('*') {
                    assert_eq!(x.ty, ArgType::Ptr, "{}: {}", s.name, x.name);
                }
            }
            assert_eq!(a.syscall(s.name).map(|t| t.nr), Some(s.nr));
            assert_eq!(a.syscall_by_nr(s.nr).map(|t| t.name), Some(s.name));
        }
        for c in a.constants.iter().chain(a.errnos) {
            let Constant { name, value } = *c;
            assert_eq!(a.constant(name).or(a.errno(name)), Some(value));
        }
    }
}
