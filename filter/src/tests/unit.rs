//! Unit tests: operators, types, literals, constants, actions, errors,
//! limits, printing, chains.

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::limits::*;
use crate::{evaluate_chain, ACCEPT, REJECT};

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

// ------------------------------------------------------------------- logic

#[test]
fn and_or_not_and_precedence() {
    // a || b && c  ==  a || (b && c)
    let p = ok("read: fd == 1 || fd == 2 && count == 3");
    assert_eq!(eval(&p, "read", &[1, 0, 0]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[2, 0, 0]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[2, 0, 3]), Verdict::Allow);
    // a && b || c  ==  (a && b) || c
    let p = ok("read: fd == 1 && count == 2 || fd == 3");
    assert_eq!(eval(&p, "read", &[3, 0, 0]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[1, 0, 0]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[1, 0, 2]), Verdict::Allow);
    // parentheses override
    let p = ok("read: (fd == 1 || fd == 2) && count == 3");
    assert_eq!(eval(&p, "read", &[1, 0, 0]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[2, 0, 3]), Verdict::Allow);
    // `!` binds to the next primary: `!fd == 0` is `!(fd == 0)` (as in ftrace)
    let p = ok("read: !fd == 0");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[1]), Verdict::Allow);
    let p = ok("read: !(fd == 0 || fd == 1) && !!(count == 5)");
    assert_eq!(eval(&p, "read", &[0, 0, 5]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[2, 0, 5]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[2, 0, 4]), Verdict::Kill);
    let p = ok("read: ! ! ! (fd == 0)");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[3]), Verdict::Allow);
}

#[test]
fn several_rules_or_together() {
    let p = ok("read: fd == 0\nwrite: fd == 1\nread: fd == 5 && count < 10\nwrite: fd == 2");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[5, 0, 9]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[5, 0, 10]), Verdict::Kill);
    assert_eq!(eval(&p, "write", &[1]), Verdict::Allow);
    assert_eq!(eval(&p, "write", &[2]), Verdict::Allow);
    assert_eq!(eval(&p, "write", &[3]), Verdict::Kill);
    assert_eq!(eval(&p, "close", &[0]), Verdict::Kill);
    assert_eq!(
        print(&p),
        "default kill\nread: fd == 0\nread: fd == 5 && count < 10\nwrite: fd == 1\nwrite: fd == 2\n"
    );
    // A constant-true rule makes the whole syscall constant.
    let p = ok("read: fd == 0\nread: 1\nread: 0");
    assert!(p.always_allows(0));
    assert_eq!(p.predicate_count(), 0);
    assert_eq!(print(&p), "default kill\nread: 1\n");
}

#[test]
fn ingo_rules() {
    let p = ok("read: fd == 0\nwrite: fd == 1\nrt_sigreturn: 1\ngettimeofday: tz == NULL\n");
    assert_eq!(eval(&p, "read", &[0, 0x1000, 10]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[3, 0x1000, 10]), Verdict::Kill);
    assert_eq!(eval(&p, "write", &[1]), Verdict::Allow);
    assert_eq!(eval(&p, "write", &[2]), Verdict::Kill);
    assert_eq!(eval(&p, "rt_sigreturn", &[]), Verdict::Allow);
    assert_eq!(eval(&p, "gettimeofday", &[0x1000, 0]), Verdict::Allow);
    assert_eq!(eval(&p, "gettimeofday", &[0x1000, 0x2000]), Verdict::Kill);
    assert_eq!(eval(&p, "close", &[0]), Verdict::Kill);
    assert_eq!(
        print(&p),
        "default kill\nread: fd == 0\nwrite: fd == 1\nrt_sigreturn: 1\ngettimeofday: tz == NULL\n"
    );
}

#[test]
fn sys_prefix_comments_blanks_crlf() {
    let src =
        "# header\n\n  sys_read : fd == 0 # trailing\r\n\twrite:fd==1\r\n   # indented comment\n";
    let p = ok(src);
    assert_eq!(eval(&p, "read", &[0]), Verdict::Allow);
    assert_eq!(eval(&p, "write", &[1]), Verdict::Allow);
    assert_eq!(print(&p), "default kill\nread: fd == 0\nwrite: fd == 1\n");
    // empty policy: everything gets the default action
    let p = ok("");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Kill);
    let p = ok("# nothing\n\ndefault errno EPERM\n");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Errno(1));
}

#[test]
fn numbers_outside_the_table_get_the_default() {
    let p = ok("default errno ENOSYS\nread: 1");
    for nr in [1u32, 2, 511, 512, 600, 100_000, u32::MAX] {
        assert_eq!(p.evaluate(nr, &[0; 6]), Verdict::Errno(38), "nr {nr}");
    }
    assert_eq!(p.evaluate(0, &[0; 6]), Verdict::Allow);
    assert_eq!(code("big: 1"), ErrorCode::SyscallNotSupported);
}

// ----------------------------------------------------------------- actions

#[test]
fn default_actions() {
    assert_eq!(ok("").default_verdict(), Verdict::Kill);
    assert_eq!(ok("default kill").default_verdict(), Verdict::Kill);
    assert_eq!(ok("default log").default_verdict(), Verdict::Log);
    assert_eq!(
        ok("default errno EPERM").default_verdict(),
        Verdict::Errno(1)
    );
    assert_eq!(
        ok("default errno EACCES # comment").default_verdict(),
        Verdict::Errno(13)
    );
    assert_eq!(ok("default errno 38").default_verdict(), Verdict::Errno(38));
    assert_eq!(
        ok("default errno 4095").default_verdict(),
        Verdict::Errno(4095)
    );
    assert_eq!(
        ok("default errno 0x10").default_verdict(),
        Verdict::Errno(16)
    );
    assert_eq!(ok("read: 1\ndefault log").default_verdict(), Verdict::Log);
    assert_eq!(code("default errno 0"), ErrorCode::ErrnoOutOfRange);
    assert_eq!(code("default errno 4096"), ErrorCode::ErrnoOutOfRange);
    assert_eq!(code("default errno -1"), ErrorCode::ErrnoOutOfRange);
    assert_eq!(
        code("default errno 99999999999999999999"),
        ErrorCode::NumberTooLarge
    );
    assert_eq!(code("default errno ENOPE"), ErrorCode::UnknownErrno);
    assert_eq!(code("default errno"), ErrorCode::ExpectedValue);
    assert_eq!(ok("default allow").default_verdict(), Verdict::Allow);
    assert_eq!(code("default deny"), ErrorCode::UnknownAction);
    assert_eq!(code("default"), ErrorCode::UnknownAction);
    assert_eq!(code("default 1"), ErrorCode::UnknownAction);
    assert_eq!(code("default kill log"), ErrorCode::ExpectedEndOfLine);
    assert_eq!(code("default errno EPERM 3"), ErrorCode::ExpectedEndOfLine);
    let e = err("default kill\nread: 1\ndefault log");
    assert_eq!(
        (e.code, e.line, e.column),
        (ErrorCode::DuplicateDefault, 3, 1)
    );
    assert_eq!(print(&ok("default errno 38")), "default errno ENOSYS\n");
    assert_eq!(print(&ok("default errno 77")), "default errno 77\n");
    assert_eq!(print(&ok("default log")), "default log\n");
}

#[test]
fn verdict_combine() {
    use Verdict::*;
    let all = [Allow, Log, Errno(1), Errno(2), Kill];
    for a in all {
        for b in all {
            let c = a.combine(b);
            assert_eq!(c.severity(), a.severity().max(b.severity()), "{a:?} {b:?}");
            if let (Errno(_), Errno(_)) = (a, b) {
                assert_eq!(c, b, "the newer errno wins");
            }
        }
    }
    assert_eq!(Kill.severity(), 3);
    assert_eq!(Errno(5).combine(Log), Errno(5));
    assert_eq!(Log.combine(Errno(5)), Errno(5));
}

#[test]
fn chains() {
    let l_old = ok("default errno EPERM\nread: fd < 10\nwrite: 1\nclose: 1");
    let l_mid = ok("default errno EACCES\nread: fd < 5\nwrite: 1\nclose: 1");
    let l_new = ok("default log\nread: 1\nclose: 1");
    // newest first
    let chain = [&*l_new, &*l_mid, &*l_old];
    let nr = |n: &str| TEST_ARCH.syscall(n).unwrap().nr;
    assert_eq!(
        evaluate_chain(chain, nr("read"), &[1, 0, 0, 0, 0, 0]),
        Verdict::Allow
    );
    assert_eq!(
        evaluate_chain(chain, nr("read"), &[7, 0, 0, 0, 0, 0]),
        Verdict::Errno(13)
    );
    assert_eq!(
        evaluate_chain(chain, nr("read"), &[70, 0, 0, 0, 0, 0]),
        Verdict::Errno(13)
    );
    assert_eq!(evaluate_chain(chain, nr("write"), &[0; 6]), Verdict::Log);
    assert_eq!(evaluate_chain(chain, nr("close"), &[0; 6]), Verdict::Allow);
    assert_eq!(
        evaluate_chain(chain, nr("kill"), &[0; 6]),
        Verdict::Errno(13)
    );
    let killer = ok("read: fd == 0");
    let chain = [&*l_new, &*killer, &*l_old];
    assert_eq!(
        evaluate_chain(chain, nr("read"), &[1, 0, 0, 0, 0, 0]),
        Verdict::Kill
    );
    assert_eq!(evaluate_chain(chain, nr("read"), &[0; 6]), Verdict::Allow);
    assert_eq!(evaluate_chain([], 0, &[0; 6]), Verdict::Allow);
    // A later layer can only restrict: adding a layer never makes a verdict
    // less severe.
    for n in 0..20u32 {
        for a in [0u64, 1, 4, 7, 70] {
            let args = [a, 0, 0, 0, 0, 0];
            let one = evaluate_chain([&*l_old], n, &args);
            let two = evaluate_chain([&*l_mid, &*l_old], n, &args);
            assert!(two.severity() >= one.severity());
        }
    }
}

// ------------------------------------------------------------------ errors

#[test]
fn error_positions() {
    let e = err("read: fd == 0\nwrite: fdx == 1\n");
    assert_eq!(
        (e.code, e.offset, e.line, e.column),
        (ErrorCode::UnknownField, 21, 2, 8)
    );
    let e = err("read: fd == 0\n\n  nope: 1");
    assert_eq!(
        (e.code, e.line, e.column),
        (ErrorCode::UnknownSyscall, 3, 3)
    );
    let e = err("read: fd == 0 &&");
    assert_eq!(
        (e.code, e.line, e.column),
        (ErrorCode::ExpectedOperand, 1, 17)
    );
    let e = err("read: (fd == 0");
    assert_eq!(
        (e.code, e.line, e.column),
        (ErrorCode::UnbalancedOpen, 1, 7)
    );
    assert_eq!(std::string::ToString::to_string(&e), "1:7: unbalanced '('");
    assert_eq!(e.message(), "unbalanced '('");
    assert_eq!(e.message(), e.code.message());
}

#[test]
fn syntax_errors() {
    for (src, c) in [
        ("nope: 1", ErrorCode::UnknownSyscall),
        ("sys_nope: 1", ErrorCode::UnknownSyscall),
        ("sys_sys_read: 1", ErrorCode::UnknownSyscall),
        ("READ: 1", ErrorCode::UnknownSyscall),
        ("read fd == 0", ErrorCode::ExpectedColon),
        ("read", ErrorCode::ExpectedColon),
        ("read:", ErrorCode::ExpectedOperand),
        ("read: ", ErrorCode::ExpectedOperand),
        (": 1", ErrorCode::ExpectedRule),
        ("123: 1", ErrorCode::ExpectedRule),
        ("(read): 1", ErrorCode::ExpectedRule),
        ("read: fd", ErrorCode::ExpectedComparison),
        ("read: fd 0", ErrorCode::ExpectedComparison),
        ("read: fd = 0", ErrorCode::InvalidOperator),
        ("read: fd ~ 0", ErrorCode::InvalidOperator),
        ("read: fd | 0", ErrorCode::InvalidOperator),
        ("read: fd ! 0", ErrorCode::InvalidOperator),
        ("read: fd =! 0", ErrorCode::InvalidOperator),
        ("read: fd === 0", ErrorCode::InvalidOperator),
        ("read: fd == ", ErrorCode::ExpectedValue),
        ("read: fd == (0)", ErrorCode::ExpectedValue),
        ("read: fd == fd", ErrorCode::UnknownConstant),
        ("read: fd == \"x\"", ErrorCode::StringNotSupported),
        ("read: fd == 'x'", ErrorCode::StringNotSupported),
        ("read: \"x\"", ErrorCode::StringNotSupported),
        ("read: fd == 0 \"x\"", ErrorCode::StringNotSupported),
        ("read: (fd == 0) 'x'", ErrorCode::StringNotSupported),
        ("read: fd == 0 fd == 1", ErrorCode::ExpectedLogicalOp),
        ("read: fd == 0 & fd == 1", ErrorCode::ExpectedLogicalOp),
        ("read: fd == 0 | fd == 1", ErrorCode::UnknownConstant),
        ("read: fd == 0 and fd == 1", ErrorCode::ExpectedLogicalOp),
        ("read: fd == 0 )", ErrorCode::UnbalancedClose),
        ("read: (fd == 0))", ErrorCode::UnbalancedClose),
        ("read: ((fd == 0)", ErrorCode::UnbalancedOpen),
        ("read: ()", ErrorCode::ExpectedOperand),
        ("read: !", ErrorCode::ExpectedOperand),
        ("read: fd == 0 !", ErrorCode::ExpectedLogicalOp),
        ("read: && fd == 0", ErrorCode::ExpectedOperand),
        ("read: || fd == 0", ErrorCode::ExpectedOperand),
        ("read: fd == 0 && || fd == 1", ErrorCode::ExpectedOperand),
        ("read: fd == 0:", ErrorCode::ExpectedLogicalOp),
        ("read: fd == 0\n&& fd == 1", ErrorCode::ExpectedRule),
        ("read: fd == 0 \u{e9}", ErrorCode::InvalidCharacter),
        ("read: fd == 0 \x00", ErrorCode::InvalidCharacter),
        ("read: fd == 0 $", ErrorCode::InvalidCharacter),
        ("read: fd == 0 @x", ErrorCode::InvalidCharacter),
        ("read: fd == 0; write: 1", ErrorCode::InvalidCharacter),
        ("read: fd in", ErrorCode::ExpectedValue),
        ("read: in == 0", ErrorCode::UnknownField),
        // `in` is the only word that is an operator: any other identifier
        // after a field (another word, `in` spelled otherwise) is not one.
        ("read: fd is 0", ErrorCode::ExpectedComparison),
        ("read: fd IN 0", ErrorCode::ExpectedComparison),
        ("read: fd inn 0", ErrorCode::ExpectedComparison),
        ("read: fd i 0", ErrorCode::ExpectedComparison),
        ("read: fd count 0", ErrorCode::ExpectedComparison),
        ("read: fd NULL 0", ErrorCode::ExpectedComparison),
        ("read: 1 == fd", ErrorCode::ExpectedLogicalOp),
        ("read: 0 fd", ErrorCode::ExpectedLogicalOp),
        ("default: 1", ErrorCode::UnknownSyscall),
    ] {
        assert_eq!(code(src), c, "{src:?}");
    }
}

#[test]
fn error_codes_are_stable() {
    // The numeric values are ABI.
    let expected: &[(ErrorCode, u32)] = &[
        (ErrorCode::PolicyTooLarge, 1),
        (ErrorCode::TooManyRules, 2),
        (ErrorCode::TooManyPredicates, 3),
        (ErrorCode::TooDeep, 4),
        (ErrorCode::ProgramTooLarge, 5),
        (ErrorCode::InvalidCharacter, 6),
        (ErrorCode::InvalidNumber, 7),
        (ErrorCode::NumberTooLarge, 8),
        (ErrorCode::UnknownSyscall, 9),
        (ErrorCode::UnknownField, 10),
        (ErrorCode::UnknownConstant, 11),
        (ErrorCode::UnknownErrno, 12),
        (ErrorCode::UnknownAction, 13),
        (ErrorCode::ExpectedColon, 14),
        (ErrorCode::ExpectedOperand, 15),
        (ErrorCode::ExpectedComparison, 16),
        (ErrorCode::ExpectedLogicalOp, 17),
        (ErrorCode::ExpectedValue, 18),
        (ErrorCode::InvalidLiteral, 19),
        (ErrorCode::UnbalancedOpen, 20),
        (ErrorCode::UnbalancedClose, 21),
        (ErrorCode::ValueOutOfRange, 22),
        (ErrorCode::ErrnoOutOfRange, 23),
        (ErrorCode::DuplicateDefault, 24),
        (ErrorCode::StringNotSupported, 25),
        (ErrorCode::SyscallNotSupported, 26),
        (ErrorCode::ExpectedEndOfLine, 27),
        (ErrorCode::InvalidOperator, 28),
        (ErrorCode::ExpectedRule, 29),
        (ErrorCode::InvalidEscape, 30),
        (ErrorCode::UnterminatedString, 31),
        (ErrorCode::StringTooLong, 32),
        (ErrorCode::StringPoolFull, 33),
        (ErrorCode::UnexpectedString, 34),
        (ErrorCode::ExpectedString, 35),
        (ErrorCode::InvalidAddress, 36),
        (ErrorCode::InvalidPrefix, 37),
        (ErrorCode::HostBitsSet, 38),
        (ErrorCode::UnknownRuleAction, 39),
    ];
    assert_eq!(expected.len(), ErrorCode::ALL.len());
    let mut messages = Vec::new();
    for (i, &(c, v)) in expected.iter().enumerate() {
        assert_eq!(c as u32, v);
        assert_eq!(ErrorCode::ALL[i], c);
        assert_eq!(ErrorCode::from_u32(v), Some(c));
        assert!(!c.message().is_empty() && c.message().len() < 60);
        messages.push(c.message());
    }
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), expected.len(), "messages are distinct");
    assert_eq!(ErrorCode::from_u32(0), None);
    assert_eq!(ErrorCode::from_u32(40), None);
}

// ------------------------------------------------------------------ limits

#[test]
fn limit_policy_bytes() {
    let mut src = String::from("read: 1\n");
    while src.len() < MAX_POLICY_BYTES {
        src.push_str("# padding padding padding padding padding padding\n");
    }
    src.truncate(MAX_POLICY_BYTES);
    ok(&src);
    src.push('\n');
    let e = err(&src);
    assert_eq!(
        (e.code, e.offset as usize),
        (ErrorCode::PolicyTooLarge, MAX_POLICY_BYTES)
    );
}

#[test]
fn limit_rules() {
    let mut src = String::new();
    for i in 0..MAX_RULES {
        src.push_str(&format!("close: fd == {i}\n"));
    }
    let p = ok(&src);
    assert_eq!(p.predicate_count(), MAX_RULES);
    assert_eq!(eval(&p, "close", &[1023]), Verdict::Allow);
    assert_eq!(eval(&p, "close", &[1024]), Verdict::Kill);
    src.push_str("read: 1\n");
    let e = err(&src);
    assert_eq!(
        (e.code, e.line as usize, e.column),
        (ErrorCode::TooManyRules, MAX_RULES + 1, 1)
    );
}

#[test]
fn limit_predicates() {
    // MAX_PREDICATES counts comparisons and literals in the text; folded
    // ones (here: `&& 0`) leave nothing in the compiled program.
    let terms: Vec<String> = (0..MAX_PREDICATES / 2)
        .map(|i| format!("fd != {i}"))
        .collect();
    let src = format!(
        "close: {} && 0\n",
        terms[..MAX_PREDICATES / 2 - 1].join(" && ")
    );
    let src = format!("{src}{src}");
    let p = ok(&src);
    assert_eq!(p.predicate_count(), 0);
    let e = err(&format!("{src}read: fd == 0\n"));
    assert_eq!(
        (e.code, e.line, e.column),
        (ErrorCode::TooManyPredicates, 3, 7)
    );
    // literals count too
    let ones: Vec<&str> = (0..=MAX_PREDICATES).map(|_| "1").collect();
    assert_eq!(
        code(&format!("read: {}", ones.join(" && "))),
        ErrorCode::TooManyPredicates
    );
}

#[test]
fn limit_depth() {
    let nest = |d: usize| format!("read: {}fd == 0{}", "(".repeat(d), ")".repeat(d));
    let p = ok(&nest(MAX_DEPTH));
    assert_eq!(eval(&p, "read", &[0]), Verdict::Allow);
    let e = err(&nest(MAX_DEPTH + 1));
    assert_eq!(
        (e.code, e.column as usize),
        (ErrorCode::TooDeep, 7 + MAX_DEPTH)
    );
    // Depth is per open parenthesis, not per `!` or per operator.
    ok(&format!("read: {}fd == 0", "!".repeat(10_000)));
    let alt = |d: usize| {
        let mut s = String::from("fd == 0");
        for i in 0..d {
            s = format!("(fd == {i} {} {s})", if i % 2 == 0 { "||" } else { "&&" });
        }
        format!("read: {s}")
    };
    ok(&alt(MAX_DEPTH));
    assert_eq!(code(&alt(MAX_DEPTH + 1)), ErrorCode::TooDeep);
    // The printer copes with the deepest programs.
    let p = ok(&alt(MAX_DEPTH));
    let text = print(&p);
    assert_eq!(*ok(&text), *p);
    // The most pending operators the parser's stack must hold: a `||`, a
    // `&&` and a `(` at every level, and a `||` and a `&&` inside the
    // deepest (`limits::MAX_OPSTACK`).
    let crowded = |d: usize| {
        format!(
            "read: {}fd == 0 || fd == 1 && fd == 2{}",
            "fd == 3 || fd == 4 && (".repeat(d),
            ")".repeat(d)
        )
    };
    let p = ok(&crowded(MAX_DEPTH));
    assert_eq!(eval(&p, "read", &[3]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[4]), Verdict::Kill);
    assert_eq!(*ok(&print(&p)), *p);
    assert_eq!(code(&crowded(MAX_DEPTH + 1)), ErrorCode::TooDeep);
}

#[test]
fn limit_nodes() {
    // The parse tree needs nodes for comparisons that folding later
    // removes: 1023 `&&` pairs under one `||`, all AND'ed with `0`, are 2047
    // text predicates (within MAX_PREDICATES) and 3071 nodes (within
    // MAX_NODES), and compile to nothing.
    let pairs: Vec<String> = (0..MAX_PREDICATES / 2 - 1)
        .map(|i| format!("fd == {i} && count == {i}"))
        .collect();
    let src = format!("read: ({}) && 0\nwrite: 1", pairs.join(" || "));
    let p = ok(&src);
    assert_eq!(p.predicate_count(), 0);
    assert_eq!(print(&p), "default kill\nwrite: 1\n");
}

/// A full binary tree of alternating `&&`/`||` over `2^depth` comparisons:
/// `2^(depth+1) - 1` code units for `2^depth` predicates.
fn alternating_tree(field: &str, depth: u32, base: u32) -> String {
    if depth == 0 {
        return format!("{field} == {base}");
    }
    let half = 1 << (depth - 1);
    let op = if depth.is_multiple_of(2) { "&&" } else { "||" };
    format!(
        "({} {op} {})",
        alternating_tree(field, depth - 1, base),
        alternating_tree(field, depth - 1, base + half)
    )
}

#[test]
fn limit_compiled_size() {
    // MAX_PROGRAM_PREDICATES comparisons fit in the compiled layer ...
    let terms: Vec<String> = (0..MAX_PROGRAM_PREDICATES)
        .map(|i| format!("fd != {i}"))
        .collect();
    let src = format!("close: {}\n", terms.join(" && "));
    let p = ok(&src);
    assert_eq!(p.predicate_count(), MAX_PROGRAM_PREDICATES);
    assert_eq!(eval(&p, "close", &[5000]), Verdict::Allow);
    assert_eq!(eval(&p, "close", &[1023]), Verdict::Kill);
    assert_eq!(*ok(&print(&p)), *p);
    // ... one more does not (while the text is within MAX_PREDICATES)
    let e = err(&format!("{src}read: fd == 0\n"));
    assert_eq!(
        (e.code, e.line, e.column),
        (ErrorCode::ProgramTooLarge, 2, 1)
    );
    // Full alternating trees use the most code: 2 units per comparison,
    // including the group header. Eight syscalls x 128 comparisons fill
    // the predicates exactly, and the code but for the room kept for
    // action rules (MAX_NR units).
    let names = [
        "read", "write", "close", "lseek", "kill", "socket", "openat", "mmap",
    ];
    let fields = ["fd", "fd", "fd", "fd", "pid", "family", "dfd", "len"];
    let mut src = String::new();
    for (n, f) in names.iter().zip(fields) {
        src.push_str(&format!("{n}: {}\n", alternating_tree(f, 7, 0)));
    }
    let p = ok(&src);
    assert_eq!(p.code_len(), MAX_CODE - crate::limits::MAX_NR);
    assert_eq!(p.predicate_count(), MAX_PROGRAM_PREDICATES);
    assert_eq!(*ok(&print(&p)), *p);
    // constant rules need no space
    let p = ok(&format!("{src}rt_sigreturn: 1\n"));
    assert!(p.always_allows(15));
    // The error names the first rule, in source order, that does not fit.
    let e = err(&format!("{src}read: fd == 1\n"));
    assert_eq!((e.code, e.line), (ErrorCode::ProgramTooLarge, 9));
    // ... unless that syscall is allowed unconditionally anyway
    ok(&format!("{src}read: fd == 1\nread: 1\n"));
}

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
