//! Cases from the kernel's own ftrace event-filter parser
//! (`kernel/trace/trace_events_filter.c` in 6.12: `predicate_parse`,
//! `parse_pred`, `calc_stack`), as accept/reject pairs. Where ftrace rejects,
//! strbox rejects too; the comment names ftrace's error.

use std::format;

use super::*;

/// (expression on `read`, accepted by ftrace, strbox's error if rejected)
const CASES: &[(&str, bool, Option<ErrorCode>)] = &[
    // accepted
    ("fd == 0", true, None),
    ("fd==0", true, None),
    ("  fd   ==   0  ", true, None),
    ("fd != 0", true, None),
    ("fd < 10 && fd >= 3", true, None),
    ("fd <= 10 || fd > 30", true, None),
    ("fd & 1", true, None),
    ("fd == 0x10", true, None),
    ("fd == 010", true, None), // kstrtoull base 0: octal
    ("fd == 0 || fd == 1", true, None),
    ("fd == 0||fd == 1", true, None),
    ("(fd == 0)", true, None),
    ("((fd == 0))", true, None),
    ("(fd == 0 || fd == 1) && count > 2", true, None),
    ("fd == 0 && (count == 1 || count == 2)", true, None),
    ("!(fd == 0)", true, None),
    ("!fd == 0", true, None), // `!` before a predicate inverts it
    ("!!(fd == 0)", true, None),
    ("!(fd == 0 && !(count == 1))", true, None),
    // rejected
    ("fd == 0 &&", false, Some(ErrorCode::ExpectedOperand)), // "Meaningless filter expression"
    ("fd == 0 ||", false, Some(ErrorCode::ExpectedOperand)), // "Meaningless filter expression"
    ("(fd == 0", false, Some(ErrorCode::UnbalancedOpen)),    // "Too many '('"
    (
        "((fd == 0) || count == 1",
        false,
        Some(ErrorCode::UnbalancedOpen),
    ), // "Too many '('"
    ("fd == 0)", false, Some(ErrorCode::UnbalancedClose)),   // "Too few '('"
    ("(fd == 0))", false, Some(ErrorCode::UnbalancedClose)), // "Too few '('"
    ("fd = 0", false, Some(ErrorCode::InvalidOperator)),     // "Invalid operator"
    ("fd =< 0", false, Some(ErrorCode::InvalidOperator)),    // "Invalid operator"
    ("fd ! = 0", false, Some(ErrorCode::InvalidOperator)),   // "Invalid operator"
    ("fd 0", false, Some(ErrorCode::ExpectedComparison)),    // "Invalid operator"
    ("fd == 0 fd", false, Some(ErrorCode::ExpectedLogicalOp)), // "Too many terms in predicate expression"
    ("fd == 0 fd == 1", false, Some(ErrorCode::ExpectedLogicalOp)),
    (
        "fd == 0 & fd == 1",
        false,
        Some(ErrorCode::ExpectedLogicalOp),
    ), // only "&&" after a predicate
    ("fd == 0 | fd == 1", false, Some(ErrorCode::UnknownConstant)), // only "||"; here `|` is a mask
    (
        "fd == 0 ||| fd == 1",
        false,
        Some(ErrorCode::ExpectedOperand),
    ),
    (
        "fd == 0 &&& fd == 1",
        false,
        Some(ErrorCode::ExpectedOperand),
    ),
    ("fd ==", false, Some(ErrorCode::ExpectedValue)), // "Invalid value (did you forget quotes)?"
    ("fd == x", false, Some(ErrorCode::UnknownConstant)), // "Invalid value"
    ("fd == 1a", false, Some(ErrorCode::InvalidNumber)), // "Illegal integer value"
    ("fd == 0x", false, Some(ErrorCode::InvalidNumber)), // "Illegal integer value"
    (
        "fd == 99999999999999999999",
        false,
        Some(ErrorCode::NumberTooLarge),
    ), // "Illegal integer value"
    ("&& fd == 0", false, Some(ErrorCode::ExpectedOperand)),
    ("|| fd == 0", false, Some(ErrorCode::ExpectedOperand)),
    ("nofield == 0", false, Some(ErrorCode::UnknownField)), // "Field not found"
    ("fd == \"x\"", false, Some(ErrorCode::StringNotSupported)), // "Expecting numeric field"
    ("fd ~ \"x*\"", false, Some(ErrorCode::InvalidOperator)), // glob: strings only
    ("", false, Some(ErrorCode::ExpectedOperand)),          // "No filter found"
    ("()", false, Some(ErrorCode::ExpectedOperand)),        // "Meaningless filter expression"
    ("!", false, Some(ErrorCode::ExpectedOperand)),
    ("fd == 0 !", false, Some(ErrorCode::ExpectedLogicalOp)),
    ("fd == 0 (", false, Some(ErrorCode::ExpectedLogicalOp)),
];

#[test]
fn ftrace_accepts_and_rejects() {
    for &(expr, accepted, want) in CASES {
        let src = format!("read: {expr}");
        match compile_for(&TEST_ARCH, &src) {
            Ok(_) => assert!(accepted, "{expr:?} should be rejected ({want:?})"),
            Err(e) => {
                assert!(!accepted, "{expr:?} should be accepted: {e}");
                assert_eq!(Some(e.code), want, "{expr:?}");
            }
        }
    }
}

#[test]
fn ftrace_precedence() {
    // "&&" takes higher precedence than "||" (predicate_parse, #9).
    // a || b && c
    for (fd, count, want) in [(1, 0, true), (2, 0, false), (2, 3, true), (9, 3, false)] {
        assert_eq!(
            allows(
                "read: fd == 1 || fd == 2 && count == 3",
                "read",
                &[fd, 0, count]
            ),
            want
        );
    }
    // a && b || c && d
    let src = "read: fd == 1 && count == 1 || fd == 2 && count == 2";
    for (fd, count, want) in [(1, 1, true), (2, 2, true), (1, 2, false), (2, 1, false)] {
        assert_eq!(allows(src, "read", &[fd, 0, count]), want);
    }
    // the documented example shape: "a && (b || !c)"
    let src = "read: fd == 1 && (count == 2 || !(count > 5))";
    for (fd, count, want) in [(1, 2, true), (1, 4, true), (1, 6, false), (0, 2, false)] {
        assert_eq!(allows(src, "read", &[fd, 0, count]), want);
    }
}

#[test]
fn ftrace_style_signed_compare() {
    // ftrace compares by field size and signedness (select_comparison_fn);
    // a 32-bit signed field compares as s32.
    assert!(allows("openat: dfd < 0", "openat", &[0xffff_ff9c]));
    assert!(!allows("openat: dfd < 0", "openat", &[0x7fff_ff9c]));
}
