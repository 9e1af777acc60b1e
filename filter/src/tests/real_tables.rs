//! Tests against the generated x86_64 and aarch64 tables.

use std::format;
use std::string::String;
use std::vec::Vec;

use super::property::differential;
use super::*;
use crate::limits::{MAX_NR, MAX_PROGRAM_PREDICATES};
use crate::uapi::tables::{ArgType, AARCH64, ARCHES, X86_64};

fn nr(arch: &'static Arch, name: &str) -> u32 {
    arch.syscall(name)
        .unwrap_or_else(|| panic!("{} has no {name}", arch.name))
        .nr
}

fn eval_on(arch: &'static Arch, p: &Program, name: &str, args: &[u64]) -> Verdict {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    p.evaluate(nr(arch, name), &a)
}

#[test]
fn x86_64_declarations() {
    let read = X86_64.syscall("read").unwrap();
    assert_eq!(read.nr, 0);
    let tys: Vec<(&str, ArgType)> = read.args.iter().map(|a| (a.name, a.ty)).collect();
    assert_eq!(
        tys,
        [
            ("fd", ArgType::U32),
            ("buf", ArgType::Ptr),
            ("count", ArgType::U64)
        ]
    );
    assert_eq!(X86_64.syscall("sys_write").unwrap().nr, 1);
    let g = X86_64.syscall("gettimeofday").unwrap();
    assert_eq!(
        (g.nr, g.args[0].ty, g.args[1].ty),
        (96, ArgType::Ptr, ArgType::Ptr)
    );
    let o = X86_64.syscall("openat").unwrap();
    let tys: Vec<(&str, ArgType)> = o.args.iter().map(|a| (a.name, a.ty)).collect();
    assert_eq!(
        tys,
        [
            ("dfd", ArgType::I32),
            ("filename", ArgType::Ptr),
            ("flags", ArgType::I32),
            ("mode", ArgType::U16)
        ]
    );
    assert_eq!(AARCH64.syscall("read").unwrap().nr, 63);
}

#[test]
fn ingo_rules_on_both_arches() {
    let src = "read: fd == 0\nwrite: fd == 1\nrt_sigreturn: 1\ngettimeofday: tz == NULL\n";
    for arch in ARCHES {
        let p = compile_for(arch, src).unwrap();
        assert_eq!(eval_on(arch, &p, "read", &[0, 0x1000, 1]), Verdict::Allow);
        assert_eq!(eval_on(arch, &p, "read", &[1, 0x1000, 1]), Verdict::Kill);
        assert_eq!(
            eval_on(arch, &p, "read", &[0xffff_ffff_0000_0000]),
            Verdict::Allow
        );
        assert_eq!(eval_on(arch, &p, "write", &[1]), Verdict::Allow);
        assert_eq!(eval_on(arch, &p, "rt_sigreturn", &[]), Verdict::Allow);
        assert_eq!(eval_on(arch, &p, "gettimeofday", &[5, 0]), Verdict::Allow);
        assert_eq!(eval_on(arch, &p, "gettimeofday", &[5, 8]), Verdict::Kill);
        assert_eq!(eval_on(arch, &p, "getpid", &[]), Verdict::Kill);
        let text = print_for(arch, &p);
        assert_eq!(*compile_for(arch, &text).unwrap(), *p);
    }
}

#[test]
fn headline_signed_compare() {
    let p = compile_for(
        &X86_64,
        "default errno EPERM\nopenat: dfd == -1 || dfd == AT_FDCWD",
    )
    .unwrap();
    assert_eq!(
        eval_on(&X86_64, &p, "openat", &[0x0000_0000_ffff_ffff]),
        Verdict::Allow
    );
    assert_eq!(
        eval_on(&X86_64, &p, "openat", &[0x0000_0000_ffff_ff9c]),
        Verdict::Allow
    );
    assert_eq!(
        eval_on(&X86_64, &p, "openat", &[0x0000_0001_0000_0000]),
        Verdict::Errno(1)
    );
}

#[test]
fn required_constant_families() {
    for arch in ARCHES {
        for name in [
            "O_RDONLY",
            "O_CLOEXEC",
            "O_CREAT",
            "PROT_READ",
            "PROT_EXEC",
            "MAP_PRIVATE",
            "MAP_ANONYMOUS",
            "AF_INET",
            "AF_UNIX",
            "SOCK_STREAM",
            "SOCK_CLOEXEC",
            "CLONE_NEWUSER",
            "CLONE_THREAD",
            "F_GETFL",
            "F_SETFD",
            "AT_FDCWD",
        ] {
            assert!(arch.constant(name).is_some(), "{}: {name}", arch.name);
        }
        for name in ["EPERM", "EACCES", "ENOSYS", "EINVAL"] {
            assert!(arch.errno(name).is_some(), "{}: {name}", arch.name);
        }
        let p = compile_for(
            arch,
            "default errno EACCES\nmmap: prot in PROT_READ|PROT_WRITE && flags & MAP_PRIVATE",
        )
        .unwrap();
        assert_eq!(p.default_verdict(), Verdict::Errno(13));
    }
}

#[test]
fn every_syscall_and_argument_compiles() {
    for arch in ARCHES {
        // all syscalls allowed: everything in the bitmap
        let mut src = String::from("default log\n");
        for s in arch.syscalls {
            assert!(
                (s.nr as usize) < MAX_NR,
                "{} {} = {}",
                arch.name,
                s.name,
                s.nr
            );
            src.push_str(&format!("{}: 1\n", s.name));
        }
        let p = compile_for(arch, &src).unwrap();
        for s in arch.syscalls {
            assert!(p.always_allows(s.nr), "{}", s.name);
        }
        assert_eq!(p.predicate_count(), 0);
        // one comparison on every declared argument (in chunks under the
        // predicate limit), round-tripped through the printer
        let mut rules = Vec::new();
        for s in arch.syscalls {
            for a in s.args {
                assert!(
                    !a.name.is_empty() && a.name != "in" && a.name != "NULL",
                    "{}",
                    s.name
                );
                rules.push(format!("{}: {} != 0 || {} == 1\n", s.name, a.name, a.name));
            }
        }
        for chunk in rules.chunks(MAX_PROGRAM_PREDICATES / 2) {
            let src: String = chunk.concat();
            let p = compile_for(arch, &src).unwrap_or_else(|e| panic!("{}: {e}", arch.name));
            let text = print_for(arch, &p);
            assert_eq!(*compile_for(arch, &text).unwrap(), *p);
        }
    }
}

#[test]
fn declared_argn_names_win_over_positions() {
    // prctl(int option, unsigned long arg2, ...): `arg2` is the declared
    // second argument (index 1), as in ftrace's syscall events.
    let p = compile_for(&X86_64, "prctl: arg2 == 7").unwrap();
    assert_eq!(eval_on(&X86_64, &p, "prctl", &[0, 7, 0]), Verdict::Allow);
    assert_eq!(eval_on(&X86_64, &p, "prctl", &[0, 0, 7]), Verdict::Kill);
    // positional arg1 is that same argument; it prints by its declared name
    let p = compile_for(&X86_64, "prctl: arg1 == 7").unwrap();
    assert_eq!(print_for(&X86_64, &p), "default kill\nprctl: arg2 == 7\n");
}

#[test]
fn differential_on_real_tables() {
    for (i, arch) in ARCHES.iter().enumerate() {
        for v2 in [false, true] {
            let (c, e, _) = differential(arch, 0xa5a5_0000 + i as u64, 400, v2);
            assert_eq!(c, 400);
            assert!(e > 0);
        }
    }
}
