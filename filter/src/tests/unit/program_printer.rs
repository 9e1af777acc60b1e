//! The compiled program (layout, jumps, corrupt tables) and the canonical printer.

use super::*;

// ------------------------------------------------------------- the program

#[test]
fn program_size_and_zero_state() {
    assert_eq!(Program::byte_size(), Program::SIZE);
    // The figures written in program/layout.rs, compile.rs and
    // docs/policy-language.md: update them with the layout.
    assert_eq!(Program::SIZE, 31_848, "a compiled layer's documented size");
    assert_eq!(Scratch::SIZE, 133_160, "Scratch's documented size");
    let empty = Program::new();
    assert_eq!(empty.default_verdict(), Verdict::Kill);
    for nr in [0u32, 1, 511, 512, u32::MAX] {
        assert_eq!(empty.evaluate(nr, &[0; 6]), Verdict::Kill);
    }
    assert_eq!(print(&empty), "default kill\n");
    // init_in_place resets a used program to the empty one.
    let mut p = ok("default log\nread: fd == 0\nwrite: 1");
    assert_ne!(*p, empty);
    p.init_in_place();
    assert_eq!(*p, empty);
}

#[test]
fn type_codes_round_trip() {
    use crate::types::{ty_code, ty_from_code};
    for code in 0..9u8 {
        assert_eq!(ty_code(ty_from_code(code)), code);
    }
    assert_eq!(ty_from_code(9), crate::uapi::tables::ArgType::U64);
    assert_eq!(ty_from_code(u8::MAX), crate::uapi::tables::ArgType::U64);
}

#[test]
fn compiling_into_a_dirty_program_is_clean() {
    let mut scratch = Box::new(Scratch::new());
    let mut prog = Box::new(Program::new());
    compile(
        b"default log\nread: fd == 0 || count > 7\nwrite: 1\nclose: fd < 3",
        &TEST_ARCH,
        &mut scratch,
        &mut prog,
    )
    .unwrap();
    compile(b"read: fd == 9", &TEST_ARCH, &mut scratch, &mut prog).unwrap();
    assert_eq!(*prog, *ok("read: fd == 9"));
    // a failed compile leaves something, but the next compile is clean
    assert!(compile(
        b"read: fd == 1\nread: (",
        &TEST_ARCH,
        &mut scratch,
        &mut prog
    )
    .is_err());
    compile(b"write: fd == 2", &TEST_ARCH, &mut scratch, &mut prog).unwrap();
    assert_eq!(*prog, *ok("write: fd == 2"));
}

#[test]
fn jump_targets_only_move_forward() {
    let p = ok("read: (fd == 1 || fd == 2) && !(count > 3 && count < 9) || fd == 7\nread: count == 0\nwrite: !(fd == 1)");
    for (i, pr) in p.preds[..p.predicate_count()].iter().enumerate() {
        for t in [pr.on_true, pr.on_false] {
            assert!(
                t == ACCEPT || t == REJECT || usize::from(t) > i,
                "pred {i} -> {t}"
            );
        }
    }
}

#[test]
fn compiled_layout_is_the_ftrace_shape() {
    // a || b && c: a true -> ACCEPT, a false -> b; b false -> REJECT,
    // b true -> c; c -> ACCEPT/REJECT.
    let p = ok("read: fd == 1 || fd == 2 && count == 3");
    let t: Vec<(u16, u16)> = p.preds[..3]
        .iter()
        .map(|x| (x.on_true, x.on_false))
        .collect();
    assert_eq!(t, [(ACCEPT, 1), (2, REJECT), (ACCEPT, REJECT)]);
    // (a || b) && c
    let p = ok("read: (fd == 1 || fd == 2) && count == 3");
    let t: Vec<(u16, u16)> = p.preds[..3]
        .iter()
        .map(|x| (x.on_true, x.on_false))
        .collect();
    assert_eq!(t, [(2, 1), (2, REJECT), (ACCEPT, REJECT)]);
    // !a && b: negation swaps targets
    let p = ok("read: !(fd == 1) && count == 3");
    let t: Vec<(u16, u16)> = p.preds[..2]
        .iter()
        .map(|x| (x.on_true, x.on_false))
        .collect();
    assert_eq!(t, [(REJECT, 1), (ACCEPT, REJECT)]);
    // two rules: the first one's false exit is the second's first predicate
    let p = ok("read: fd == 1\nread: fd == 2");
    let t: Vec<(u16, u16)> = p.preds[..2]
        .iter()
        .map(|x| (x.on_true, x.on_false))
        .collect();
    assert_eq!(t, [(ACCEPT, 1), (ACCEPT, REJECT)]);
}

// ----------------------------------------------------------------- printer

#[test]
fn canonical_text() {
    for (src, want) in [
        ("sys_read:fd==0", "read: fd == 0"),
        ("read: (fd == 0)", "read: fd == 0"),
        (
            "read: ((fd == 0 && count == 1))",
            "read: fd == 0 && count == 1",
        ),
        (
            "read: fd == 0 || (count == 1 && buf != 0)",
            "read: fd == 0 || count == 1 && buf != NULL",
        ),
        (
            "read: (fd == 0 || count == 1) && buf == NULL",
            "read: (fd == 0 || count == 1) && buf == NULL",
        ),
        (
            "read: fd == 0 && (count == 1 && fd < 2)",
            "read: fd == 0 && count == 1 && fd < 2",
        ),
        (
            "read: (fd == 0 || count == 1) || fd < 2",
            "read: fd == 0 || count == 1 || fd < 2",
        ),
        ("read: !fd == 0", "read: !(fd == 0)"),
        ("read: !!fd == 0", "read: fd == 0"),
        ("read: !(fd == 0 || fd == 1)", "read: !(fd == 0 || fd == 1)"),
        (
            "read: !(fd == 0 && fd == 1) && count > 3",
            "read: !(fd == 0 && fd == 1) && count > 3",
        ),
        (
            "read: fd == 0 || !(fd == 1 || fd == 2)",
            "read: fd == 0 || !(fd == 1 || fd == 2)",
        ),
        ("openat: dfd == AT_FDCWD", "openat: dfd == -100"),
        (
            "openat: flags in O_RDONLY|O_CLOEXEC",
            "openat: flags in 0x80000",
        ),
        ("openat: flags & -1", "openat: flags & 0xffffffff"),
        ("openat: flags == 0xffffffff", "openat: flags == -1"),
        ("openat: flags < 0x80000000", "openat: flags < -2147483648"),
        ("openat: mode == 0644", "openat: mode == 420"),
        ("openat: mode > -1", "openat: mode > 65535"),
        ("close: fd == -1", "close: fd == 4294967295"),
        ("read: buf == 0x1000", "read: buf == 0x1000"),
        ("read: buf > -1", "read: buf > 0xffffffffffffffff"),
        ("widths: b & 0x80", "widths: b & 0x80"),
        ("widths: e >= -5", "widths: e >= -5"),
        ("mmap: prot in PROT_READ|PROT_WRITE", "mmap: prot in 0x3"),
        ("read: 1 && fd == 0", "read: fd == 0"),
        ("rt_sigreturn: 1", "rt_sigreturn: 1"),
    ] {
        let p = ok(src);
        let text = print(&p);
        assert_eq!(text, format!("default kill\n{want}\n"), "{src}");
        assert_eq!(*ok(&text), *p, "round trip of {src}");
        assert_eq!(print(&ok(&text)), text, "idempotent: {src}");
    }
}

#[test]
fn print_orders_by_number() {
    let p = ok(
        "default errno EPERM\nsocket: 1\nwrite: fd == 2\nread: fd == 1\nclose: 1\nread: fd == 3",
    );
    assert_eq!(
        print(&p),
        "default errno EPERM\nread: fd == 1\nread: fd == 3\nwrite: fd == 2\nclose: 1\nsocket: 1\n"
    );
}

#[test]
fn every_error_code_is_reachable() {
    let big_text = format!("read: 1\n{}", "#".repeat(MAX_POLICY_BYTES));
    let many_rules = "close: fd == 1\n".repeat(MAX_RULES + 1);
    let many_preds = format!("read: {}", vec!["fd == 1"; MAX_PREDICATES + 1].join(" || "));
    let deep = format!(
        "read: {}fd == 0{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let big_prog = format!(
        "read: {}",
        vec!["fd == 1"; MAX_PROGRAM_PREDICATES + 1].join(" || ")
    );
    let long = "a".repeat(MAX_STRING_LEN);
    let too_long = format!("file_open: path == \"{long}a\"");
    let full_pool = format!("file_open: path == \"{long}\" || path == \"{long}\" || path == \"x\"");
    for code in ErrorCode::ALL {
        let src: &str = match code {
            ErrorCode::PolicyTooLarge => &big_text,
            ErrorCode::TooManyRules => &many_rules,
            ErrorCode::TooManyPredicates => &many_preds,
            ErrorCode::TooDeep => &deep,
            ErrorCode::ProgramTooLarge => &big_prog,
            ErrorCode::InvalidCharacter => "read: fd == 0 $",
            ErrorCode::InvalidNumber => "read: fd == 09",
            ErrorCode::NumberTooLarge => "read: fd == 0x10000000000000000",
            ErrorCode::UnknownSyscall => "nope: 1",
            ErrorCode::UnknownField => "read: fdd == 0",
            ErrorCode::UnknownConstant => "read: fd == O_NOPE",
            ErrorCode::UnknownErrno => "default errno ENOPE",
            ErrorCode::UnknownAction => "default deny",
            ErrorCode::ExpectedColon => "read fd == 0",
            ErrorCode::ExpectedOperand => "read: fd == 0 &&",
            ErrorCode::ExpectedComparison => "read: fd",
            ErrorCode::ExpectedLogicalOp => "read: fd == 0 fd == 1",
            ErrorCode::ExpectedValue => "read: fd ==",
            ErrorCode::InvalidLiteral => "read: 2",
            ErrorCode::UnbalancedOpen => "read: (fd == 0",
            ErrorCode::UnbalancedClose => "read: fd == 0)",
            ErrorCode::ValueOutOfRange => "openat: mode == 65536",
            ErrorCode::ErrnoOutOfRange => "default errno 4096",
            ErrorCode::DuplicateDefault => "default kill\ndefault log",
            ErrorCode::StringNotSupported => "read: fd == \"0\"",
            ErrorCode::SyscallNotSupported => "big: 1",
            ErrorCode::ExpectedEndOfLine => "default kill now",
            ErrorCode::InvalidOperator => "read: fd = 0",
            ErrorCode::ExpectedRule => "(read): 1",
            ErrorCode::InvalidEscape => "exec: path == \"\\q\"",
            ErrorCode::UnterminatedString => "exec: path == \"abc",
            ErrorCode::StringTooLong => &too_long,
            ErrorCode::StringPoolFull => &full_pool,
            ErrorCode::UnexpectedString => "file_open: flags == \"0\"",
            ErrorCode::ExpectedString => "exec: path == 0",
            ErrorCode::InvalidAddress => "socket_bind: addr == 1.2.3",
            ErrorCode::InvalidPrefix => "socket_bind: addr in 1.2.3.0/33",
            ErrorCode::HostBitsSet => "socket_bind: addr in 1.2.3.4/24",
            ErrorCode::UnknownRuleAction => "read: 1 => deny",
        };
        assert_eq!(err(src).code, code, "{code:?}");
    }
}
