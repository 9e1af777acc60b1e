//! Errors with their positions, and every limit at its boundary.

use super::*;

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
