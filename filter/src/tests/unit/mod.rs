//! Unit tests: operators, types, literals, constants, actions, errors,
//! limits, printing, chains.

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::limits::*;
use crate::{evaluate_chain, ACCEPT, REJECT};

mod errors_limits;
mod logic_actions;
mod program_printer;

const M32: u64 = 0xffff_ffff;

// ---------------------------------------------------------------- operators

#[test]
fn operators_unsigned() {
    let cases: &[(&str, u64, bool)] = &[
        ("fd == 3", 3, true),
        ("fd == 3", 4, false),
        ("fd != 3", 3, false),
        ("fd != 3", 4, true),
        ("fd < 3", 2, true),
        ("fd < 3", 3, false),
        ("fd <= 3", 3, true),
        ("fd <= 3", 4, false),
        ("fd > 3", 4, true),
        ("fd > 3", 3, false),
        ("fd >= 3", 3, true),
        ("fd >= 3", 2, false),
        ("fd & 6", 2, true),
        ("fd & 6", 1, false),
        ("fd & 0", 0xffff, false),
        ("fd in 6", 6, true),
        ("fd in 6", 2, true),
        ("fd in 6", 0, true),
        ("fd in 6", 7, false),
        // unsigned: a large value is large
        ("fd > 3", M32, true),
        ("fd < 3", 0x8000_0000, false),
    ];
    for &(expr, fd, want) in cases {
        assert_eq!(
            allows(&format!("close: {expr}"), "close", &[fd]),
            want,
            "{expr} with fd={fd:#x}"
        );
    }
}

#[test]
fn operators_signed() {
    // kill(pid_t pid, int sig): both signed 32-bit.
    let neg1 = M32; // -1 as a 32-bit register value
    let cases: &[(&str, u64, bool)] = &[
        ("pid == -1", neg1, true),
        ("pid == -1", u64::MAX, true),
        ("pid == -1", 0xdead_beef_ffff_ffff, true), // upper half ignored
        ("pid < 0", neg1, true),
        ("pid < 0", 0x8000_0000, true),
        ("pid < 0", 0x7fff_ffff, false),
        ("pid > 0", neg1, false),
        ("pid > 0", 1, true),
        ("pid > 0", 0xffff_ffff_0000_0001, true),
        ("pid >= -5", 0xffff_fffb, true),
        ("pid >= -5", 0xffff_fffa, false),
        ("pid <= -5", 0xffff_fffb, true),
        ("pid <= -5", 0xffff_fffc, false),
        ("pid != -1", neg1, false),
        ("pid != -1", 0, true),
        ("pid & 0x80000000", neg1, true),
        ("pid & 0x80000000", 0x7fff_ffff, false),
        ("pid in 0xff", 0x12, true),
        ("pid in 0xff", neg1, false),
        ("pid in -1", neg1, true),
        ("pid in 0x80000000", 0x8000_0000, true),
        ("pid in 0x80000000", 0xffff_ffff_8000_0000, true),
        ("pid in 0x80000000", neg1, false),
    ];
    for &(expr, pid, want) in cases {
        assert_eq!(
            allows(&format!("kill: {expr}"), "kill", &[pid]),
            want,
            "{expr} with pid={pid:#x}"
        );
    }
}

#[test]
fn fd_minus_one_matches_low_half() {
    // The headline case: `int fd == -1` matches 0x00000000ffffffff.
    let p = ok("openat: dfd == -1");
    assert_eq!(eval(&p, "openat", &[0x0000_0000_ffff_ffff]), Verdict::Allow);
    assert_eq!(eval(&p, "openat", &[0xffff_fffe]), Verdict::Kill);
    // AT_FDCWD (-100) on int dfd
    let p = ok("openat: dfd == AT_FDCWD");
    assert_eq!(
        eval(&p, "openat", &[(-100i32) as u32 as u64]),
        Verdict::Allow
    );
    assert_eq!(eval(&p, "openat", &[(-100i64) as u64]), Verdict::Allow);
}

// ------------------------------------------------------------------- types

#[test]
fn widths_and_signedness() {
    // widths(u8 a, s8 b, u16 c, short d, long e, unsigned long f)
    let cases: &[(&str, [u64; 6], bool)] = &[
        ("a == 255", [0xff, 0, 0, 0, 0, 0], true),
        ("a == 255", [0x1ff, 0, 0, 0, 0, 0], true),
        ("a == -1", [0xff, 0, 0, 0, 0, 0], true),
        ("a > 127", [0x80, 0, 0, 0, 0, 0], true),
        ("b == -1", [0, 0xff, 0, 0, 0, 0], true),
        ("b == -1", [0, 0x7f, 0, 0, 0, 0], false),
        ("b < 0", [0, 0x80, 0, 0, 0, 0], true),
        ("b < 0", [0, 0xffff_ff7f, 0, 0, 0, 0], false),
        ("b == 127", [0, 0x7f, 0, 0, 0, 0], true),
        ("b == 0xff", [0, 0xff, 0, 0, 0, 0], true),
        ("c == 65535", [0, 0, 0xffff, 0, 0, 0], true),
        ("c == 65535", [0, 0, 0xf_ffff, 0, 0, 0], true),
        ("c > 32767", [0, 0, 0x8000, 0, 0, 0], true),
        ("d < 0", [0, 0, 0, 0x8000, 0, 0], true),
        ("d == -32768", [0, 0, 0, 0x8000, 0, 0], true),
        ("d == -1", [0, 0, 0, 0x1_ffff, 0, 0], true),
        ("e < 0", [0, 0, 0, 0, u64::MAX, 0], true),
        ("e < 0", [0, 0, 0, 0, 0xffff_ffff, 0], false),
        ("e == -1", [0, 0, 0, 0, u64::MAX, 0], true),
        ("e == -9223372036854775808", [0, 0, 0, 0, 1 << 63, 0], true),
        (
            "e > 9223372036854775806",
            [0, 0, 0, 0, i64::MAX as u64, 0],
            true,
        ),
        ("f > 0x7fffffffffffffff", [0, 0, 0, 0, 0, 1 << 63], true),
        ("f == -1", [0, 0, 0, 0, 0, u64::MAX], true),
        ("f == 0xffffffffffffffff", [0, 0, 0, 0, 0, u64::MAX], true),
        ("f == 18446744073709551615", [0, 0, 0, 0, 0, u64::MAX], true),
        ("f < 1", [0, 0, 0, 0, 0, 1 << 63], false),
    ];
    for (expr, args, want) in cases {
        assert_eq!(
            allows(&format!("widths: {expr}"), "widths", args),
            *want,
            "{expr} with {args:x?}"
        );
    }
}

#[test]
fn pointers_compare_as_u64() {
    let p = ok("gettimeofday: tz == NULL");
    assert_eq!(eval(&p, "gettimeofday", &[0x1234, 0]), Verdict::Allow);
    assert_eq!(
        eval(&p, "gettimeofday", &[0x1234, 0x1_0000_0000]),
        Verdict::Kill
    );
    let p = ok("gettimeofday: tv != NULL && tv < 0x800000000000");
    assert_eq!(
        eval(&p, "gettimeofday", &[0x7fff_0000_0000]),
        Verdict::Allow
    );
    assert_eq!(
        eval(&p, "gettimeofday", &[0xffff_8000_0000_0000]),
        Verdict::Kill
    );
    assert_eq!(eval(&p, "gettimeofday", &[0]), Verdict::Kill);
}

#[test]
fn value_ranges() {
    // Accepted: -2^(w-1) ..= 2^w - 1 for every width.
    for src in [
        "widths: a == 255",
        "widths: a == -128",
        "widths: b == 255",
        "widths: b == -128",
        "widths: c == 65535",
        "widths: c == -32768",
        "widths: d == 0xffff",
        "openat: flags == 0xffffffff",
        "openat: flags == -2147483648",
        "close: fd == 4294967295",
        "close: fd == -1",
        "read: count == -1",
        "read: count == -9223372036854775808",
        "widths: e == 0xffffffffffffffff",
        "widths: e == BIG_NEG",
    ] {
        ok(src);
    }
    for src in [
        "widths: a == 256",
        "widths: a == -129",
        "widths: b == 256",
        "widths: b == -129",
        "widths: c == 65536",
        "widths: c == -32769",
        "widths: d == 0x10000",
        "openat: flags == 0x100000000",
        "openat: flags == -2147483649",
        "close: fd == 4294967296",
        "read: count == -9223372036854775809",
        "widths: a == BIG_NEG",
        "openat: mode == O_CLOEXEC",
        // A constant of value 0 is not negative: the mask is checked as
        // the unsigned number 256.
        "widths: a == O_RDONLY | 256",
        "widths: a == 256 | O_RDONLY",
    ] {
        assert_eq!(code(src), ErrorCode::ValueOutOfRange, "{src}");
    }
    // The error points at the value.
    let e = err("widths: a == 256");
    assert_eq!((e.line, e.column), (1, 14));
}

#[test]
fn arg_n_fields() {
    let p = ok("read: arg0 == 5 && arg2 == 7");
    assert_eq!(eval(&p, "read", &[5, 0, 7]), Verdict::Allow);
    assert_eq!(print(&p), "default kill\nread: fd == 5 && count == 7\n");
    // arg0 of read is `unsigned int fd`: the type follows the declaration.
    assert!(allows("read: arg0 == 5", "read", &[0xffff_ffff_0000_0005]));
    // beyond the declared arguments: the raw 64-bit register
    let p = ok("read: arg5 == 0xffffffff00000000");
    assert_eq!(
        eval(&p, "read", &[0, 0, 0, 0, 0, 0xffff_ffff_0000_0000]),
        Verdict::Allow
    );
    assert_eq!(
        print(&p),
        "default kill\nread: arg5 == 18446744069414584320\n"
    );
    let p = ok("rt_sigreturn: arg3 != 0");
    assert_eq!(eval(&p, "rt_sigreturn", &[0, 0, 0, 1]), Verdict::Allow);
    assert_eq!(code("read: arg6 == 0"), ErrorCode::UnknownField);
    assert_eq!(code("read: args0 == 0"), ErrorCode::UnknownField);
    assert_eq!(code("read: arg == 0"), ErrorCode::UnknownField);
}

// ---------------------------------------------------------------- literals

#[test]
fn number_forms() {
    for (v, n) in [
        ("10", 10u64),
        ("0x1f", 0x1f),
        ("0X1F", 0x1f),
        ("0xDeadBeef", 0xdead_beef),
        ("017", 0o17),
        ("0", 0),
        ("00", 0),
        ("-3", (-3i64) as u64),
        ("NULL", 0),
        ("0xffffffffffffffff", u64::MAX),
        ("01777777777777777777777", u64::MAX),
    ] {
        let p = ok(&format!("widths: f == {v}"));
        let mut a = [0u64; 6];
        a[5] = n;
        assert_eq!(p.evaluate(511, &a), Verdict::Allow, "{v}");
        a[5] = n.wrapping_add(1);
        assert_eq!(p.evaluate(511, &a), Verdict::Kill, "{v}");
    }
    for v in ["08", "0x", "0xg", "12ab", "1_000", "09", "0b101"] {
        assert_eq!(
            code(&format!("read: fd == {v}")),
            ErrorCode::InvalidNumber,
            "{v}"
        );
    }
    assert_eq!(
        code("read: count == 18446744073709551616"),
        ErrorCode::NumberTooLarge
    );
    assert_eq!(
        code("read: count == 0x10000000000000000"),
        ErrorCode::NumberTooLarge
    );
    assert_eq!(code("read: count == - 1x"), ErrorCode::InvalidNumber);
    assert_eq!(code("read: count == -"), ErrorCode::ExpectedValue);
    assert_eq!(code("read: count == -NULL"), ErrorCode::ExpectedValue);
    assert_eq!(code("read: count == --1"), ErrorCode::ExpectedValue);
    // "- 1" with a blank is still a negative number
    ok("read: count == - 1");
}

#[test]
fn constants_and_masks() {
    let p = ok("openat: flags in O_RDONLY|O_CLOEXEC");
    assert_eq!(eval(&p, "openat", &[0, 0, 0]), Verdict::Allow);
    assert_eq!(eval(&p, "openat", &[0, 0, 0o2000000]), Verdict::Allow);
    assert_eq!(eval(&p, "openat", &[0, 0, 0o2000001]), Verdict::Kill);
    assert_eq!(eval(&p, "openat", &[0, 0, O_CREAT]), Verdict::Kill);
    let p = ok("mmap: prot & PROT_WRITE|PROT_EXEC");
    assert_eq!(eval(&p, "mmap", &[0, 0, 1]), Verdict::Kill);
    assert_eq!(eval(&p, "mmap", &[0, 0, 3]), Verdict::Allow);
    assert_eq!(eval(&p, "mmap", &[0, 0, 4]), Verdict::Allow);
    let p = ok("mmap: flags == MAP_PRIVATE | MAP_ANONYMOUS | 0x100");
    assert_eq!(eval(&p, "mmap", &[0, 0, 0, 0x122]), Verdict::Allow);
    let p =
        ok("socket: family == AF_UNIX || family == AF_INET && type in SOCK_STREAM|SOCK_CLOEXEC");
    assert_eq!(eval(&p, "socket", &[1, 99]), Verdict::Allow);
    assert_eq!(eval(&p, "socket", &[2, 1]), Verdict::Allow);
    assert_eq!(eval(&p, "socket", &[2, 2]), Verdict::Kill);
    // a negative constant in a mask
    let p = ok("openat: dfd == AT_FDCWD | 1");
    assert_eq!(
        eval(&p, "openat", &[(-99i32) as u32 as u64]),
        Verdict::Allow
    );
    assert_eq!(code("openat: flags == O_NOPE"), ErrorCode::UnknownConstant);
    assert_eq!(
        code("openat: flags == O_RDONLY |"),
        ErrorCode::ExpectedValue
    );
    assert_eq!(code("openat: flags == null"), ErrorCode::UnknownConstant);
    // `||` is never a mask separator
    let p = ok("openat: flags == O_WRONLY||flags == O_RDWR");
    assert_eq!(eval(&p, "openat", &[0, 0, 2]), Verdict::Allow);
    assert_eq!(eval(&p, "openat", &[0, 0, 3]), Verdict::Kill);
}
const O_CREAT: u64 = 0o100;

#[test]
fn literals_one_and_zero() {
    let p = ok("read: 1");
    assert!(p.always_allows(0));
    assert_eq!(p.predicate_count(), 0);
    assert_eq!(eval(&p, "read", &[u64::MAX; 3]), Verdict::Allow);
    let p = ok("read: 0");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Kill);
    assert_eq!(print(&p), "default kill\n");
    assert_eq!(code("read: 2"), ErrorCode::InvalidLiteral);
    assert_eq!(code("read: 01"), ErrorCode::InvalidLiteral);
    assert_eq!(code("read: 0x1"), ErrorCode::InvalidLiteral);
    // folding
    for (src, always, preds) in [
        ("read: 1 && fd == 0", false, 1),
        ("read: fd == 0 || 1", true, 0),
        ("read: fd == 0 && 0", false, 0),
        ("read: !0", true, 0),
        ("read: !1 || fd == 1", false, 1),
        ("read: !(fd == 1 && 0)", true, 0),
        ("read: (0 || 0) || !!1", true, 0),
    ] {
        let p = ok(src);
        assert_eq!(p.always_allows(0), always, "{src}");
        assert_eq!(p.predicate_count(), preds, "{src}");
    }
}
