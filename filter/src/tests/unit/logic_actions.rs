//! Logic (`&&`, `||`, `!`, folding) and actions.

use super::*;

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
