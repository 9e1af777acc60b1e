//! Language v2: per-rule actions (`RULE => ACTION`) and `default allow`:
//! spelling, the first-match/severity semantics and the errno tie rule,
//! constant folding into the summary, events, canonical printing, every
//! new rejection with its caret, and corrupted action tables.

use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::uapi::tables::X86_64;
use crate::{evaluate_chain, evaluate_event_chain, ChainSummary, Event, EventInput};

fn x86(src: &str) -> Box<Program> {
    match compile_for(&X86_64, src) {
        Ok(p) => p,
        Err(e) => panic!("{src:?}: {e} ({:?})", e.code),
    }
}

fn x86_nr(name: &str) -> u32 {
    X86_64.syscall(name).expect("x86_64 syscall").nr
}

fn open<'a>(path: Option<&'a [u8]>, flags: u64) -> EventInput<'a> {
    EventInput {
        path,
        flags,
        family: 0,
        port: 0,
        addr: [0; 16],
    }
}

/// `(code, column)` of a rejected policy (test arch).
fn caret(src: &str) -> (ErrorCode, u32) {
    let e = err(src);
    (e.code, e.column)
}

#[test]
fn the_issue_examples() {
    // A deny-list: everything runs but ptrace (a constant kill) and
    // creating opens (errno EROFS).
    let p = x86("default allow\nptrace: 1 => kill\nopenat: flags & O_CREAT => errno EROFS\n");
    let (ptrace, openat, getpid) = (x86_nr("ptrace"), x86_nr("openat"), x86_nr("getpid"));
    assert_eq!(p.evaluate(ptrace, &[0; 6]), Verdict::Kill);
    assert_eq!(
        p.evaluate(openat, &[0, 0, 0o100, 0, 0, 0]),
        Verdict::Errno(30)
    );
    assert_eq!(p.evaluate(openat, &[0, 0, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(p.evaluate(getpid, &[0; 6]), Verdict::Allow);
    assert_eq!(p.evaluate(100_000, &[0; 6]), Verdict::Allow);
    assert_eq!(p.default_verdict(), Verdict::Allow);
    // ptrace folded to a constant: no predicate, known to the summary.
    assert_eq!(p.predicate_count(), 1);
    assert_eq!(p.constant_verdict(ptrace), Some(Verdict::Kill));
    assert_eq!(p.constant_verdict(openat), None);
    assert_eq!(p.constant_verdict(getpid), Some(Verdict::Allow));
    assert_eq!(
        print_for(&X86_64, &p),
        "default allow\nptrace: 1 => kill\nopenat: flags & 0x40 => errno EROFS\n"
    );
    // An event rule with an action.
    let p = x86("default allow\nfile_open: path ~ \"/tmp/*\" => errno EACCES\n");
    let v = p.evaluate_event(Event::FileOpen, &open(Some(b"/tmp/x"), 0));
    assert_eq!(v, Verdict::Errno(13));
    let v = p.evaluate_event(Event::FileOpen, &open(Some(b"/etc/x"), 0));
    assert_eq!(v, Verdict::Allow);
    // A path the kernel could not produce is never compared: the most
    // severe thing a rule could do (a deny-list fails closed).
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open(None, 0)),
        Verdict::Errno(13)
    );
    // Events without rules stay unrestricted, syscalls get the default.
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(None, 0)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate(getpid, &[0; 6]), Verdict::Allow);
    assert_eq!(
        print_for(&X86_64, &p),
        "default allow\nfile_open: path ~ \"/tmp/*\" => errno EACCES\n"
    );
}

#[test]
fn spellings() {
    for src in [
        "read: fd == 0 => kill",
        "read: fd == 0=>kill",
        "read: fd == 0 =>kill # comment",
        "read: (fd == 0) => kill\n",
        "read:fd==0=>   kill  ",
    ] {
        let p = ok(src);
        assert_eq!(eval(&p, "read", &[0]), Verdict::Kill, "{src}");
        assert_eq!(print(&p), "default kill\nread: fd == 0 => kill\n", "{src}");
    }
    // `=> allow` is a plain rule.
    assert_eq!(*ok("read: fd == 0 => allow"), *ok("read: fd == 0"));
    assert_eq!(*ok("read: 1 => allow"), *ok("read: 1"));
    let p = ok("default errno EPERM\nread: fd == 3 => errno 13\nwrite: 1 => errno 77\n");
    assert_eq!(eval(&p, "read", &[3]), Verdict::Errno(13));
    assert_eq!(eval(&p, "read", &[4]), Verdict::Errno(1));
    assert_eq!(eval(&p, "write", &[4]), Verdict::Errno(77));
    assert_eq!(
        print(&p),
        "default errno EPERM\nread: fd == 3 => errno EACCES\nwrite: 1 => errno 77\n"
    );
    assert_eq!(print(&ok("default allow")), "default allow\n");
    assert_eq!(
        print(&ok("read: fd == 1 => log")),
        "default kill\nread: fd == 1 => log\n"
    );
    // `=>` inside a string is part of the string.
    let p = ok("exec: path == \"=>\" => log\n");
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(Some(b"=>"), 0)),
        Verdict::Log
    );
    // An address value ends before `=>`.
    let p = ok("socket_connect: addr == ::1=>kill\n");
    let mut i = open(Some(b""), 0);
    i.addr[15] = 1;
    assert_eq!(p.evaluate_event(Event::SocketConnect, &i), Verdict::Kill);
}

#[test]
fn most_severe_true_rule_wins() {
    let src = "default errno ENOENT\n\
               read: fd == 1\n\
               read: fd < 3 => log\n\
               read: fd == 2 => errno EPERM\n\
               read: fd > 1 => errno EACCES\n\
               read: fd == 9 => kill\n";
    let p = ok(src);
    assert_eq!(eval(&p, "read", &[0]), Verdict::Log);
    assert_eq!(eval(&p, "read", &[1]), Verdict::Log); // log > allow
                                                      // Two errnos true: the first in source order.
    assert_eq!(eval(&p, "read", &[2]), Verdict::Errno(1));
    assert_eq!(eval(&p, "read", &[3]), Verdict::Errno(13));
    assert_eq!(eval(&p, "read", &[9]), Verdict::Kill);
    // unsigned int fd: 0xffffffff > 1
    assert_eq!(eval(&p, "read", &[u64::MAX]), Verdict::Errno(13));
    // Nothing true: the default.
    let p2 = ok("default errno ENOENT\nread: fd == 1 => kill\n");
    assert_eq!(eval(&p2, "read", &[0]), Verdict::Errno(2));
    // Canonical order: first-match order (kill, errnos in source order,
    // log, allow).
    assert_eq!(
        print(&p),
        "default errno ENOENT\nread: fd == 9 => kill\nread: fd == 2 => errno EPERM\n\
         read: fd > 1 => errno EACCES\nread: fd < 3 => log\nread: fd == 1\n"
    );
    // Swapping the errno rules swaps the tie.
    let p = ok("read: fd > 1 => errno EACCES\nread: fd == 2 => errno EPERM\n");
    assert_eq!(eval(&p, "read", &[2]), Verdict::Errno(13));
    // Rules of other syscalls do not interfere; other syscalls keep v1.
    let p = ok("read: fd == 0 => kill\nwrite: fd == 0\nclose: 1\n");
    assert_eq!(eval(&p, "write", &[0]), Verdict::Allow);
    assert_eq!(eval(&p, "write", &[1]), Verdict::Kill);
    assert_eq!(eval(&p, "close", &[1]), Verdict::Allow);
    assert_eq!(eval(&p, "read", &[1]), Verdict::Kill);
    assert!(p.always_allows(3) && !p.always_allows(0));
    assert_eq!(p.dispatch[0], 0);
    assert_ne!(p.dispatch[1], 0);
    assert_eq!(p.act[0], 1); // first predicate 0
}

#[test]
fn constants_fold() {
    // A constant rule decides when nothing more severe is true.
    let p = ok("default allow\nread: 1 => log\nread: fd == 3 => kill\nread: fd == 4 => log\n");
    assert_eq!(eval(&p, "read", &[3]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[4]), Verdict::Log);
    assert_eq!(eval(&p, "read", &[5]), Verdict::Log);
    // The `fd == 4 => log` rule cannot change anything: dropped.
    assert_eq!(p.predicate_count(), 1);
    assert_eq!(
        print(&p),
        "default allow\nread: fd == 3 => kill\nread: 1 => log\n"
    );
    // The most severe constant decides; others are dropped.
    let p = ok("read: 1 => log\nread: fd == 0\nread: 1 => kill\nread: fd == 1 => errno 5\n");
    assert_eq!(p.predicate_count(), 0);
    assert_eq!(p.constant_verdict(0), Some(Verdict::Kill));
    assert_eq!(print(&p), "default kill\nread: 1 => kill\n");
    // An errno constant keeps errno rules before it (they may differ) and
    // drops those after it.
    let p = ok("read: fd == 1 => errno 5\nread: 1 => errno 6\nread: fd == 2 => errno 7\n");
    assert_eq!(eval(&p, "read", &[1]), Verdict::Errno(5));
    assert_eq!(eval(&p, "read", &[2]), Verdict::Errno(6));
    assert_eq!(p.predicate_count(), 1);
    assert_eq!(
        print(&p),
        "default kill\nread: fd == 1 => errno 5\nread: 1 => errno 6\n"
    );
    // A v1 constant with an action rule is a program, not the bitmap.
    let p = ok("read: 1\nread: fd == 3 => kill\n");
    assert!(!p.always_allows(0));
    assert_eq!(eval(&p, "read", &[3]), Verdict::Kill);
    assert_eq!(eval(&p, "read", &[4]), Verdict::Allow);
    assert_eq!(p.constant_verdict(0), None);
    assert_eq!(print(&p), "default kill\nread: fd == 3 => kill\nread: 1\n");
    // `0` rules never fire, whatever their action.
    let p = ok("default allow\nread: 0 => kill\nwrite: fd == 1 && 0 => kill\n");
    assert_eq!(eval(&p, "read", &[0]), Verdict::Allow);
    assert_eq!(p.predicate_count(), 0);
    assert_eq!(print(&p), "default allow\n");
    assert_eq!(*p, *ok("default allow"));
    // `default allow` with plain rules: everything runs.
    let p = ok("default allow\nread: fd == 0\n");
    assert_eq!(eval(&p, "read", &[5]), Verdict::Allow);
    assert_eq!(eval(&p, "write", &[5]), Verdict::Allow);
}

#[test]
fn printing_round_trips() {
    for src in [
        "default allow\nkill: 1 => kill\n",
        "read: fd == 3 => kill\nread: fd == 4 => errno EPERM\nread: fd == 5 => errno EPERM\nread: 1 => log\n",
        "read: !(fd == 3 || fd == 4) && fd < 9 => errno 4095\nwrite: fd == 1\n",
        "default log\nfile_open: path ~ \"/tmp/*\" => kill\nfile_open: flags & O_CREAT => errno EACCES\nfile_open: 1\nexec: 1 => log\n",
        "socket_connect: 0 => kill\nread: 0 => kill\n",
        "exec: path == \"/bin/sh\" => kill\n",
    ] {
        let p = ok(src);
        let text = print(&p);
        assert_eq!(*ok(&text), *p, "{src}\n{text}");
        assert_eq!(print(&ok(&text)), text);
    }
    let p = ok("default log\nfile_open: 1\nfile_open: path ~ \"/tmp/*\" => kill\nfile_open: flags & O_CREAT => errno EACCES\nexec: 1 => log\n");
    assert_eq!(
        print(&p),
        "default log\nfile_open: path ~ \"/tmp/*\" => kill\n\
         file_open: flags & 0x40 => errno EACCES\nfile_open: 1\nexec: 1 => log\n"
    );
    // An event-only layer with action rules still leaves syscalls alone.
    assert!(p.syscalls_unrestricted());
    assert_eq!(eval(&p, "read", &[0]), Verdict::Allow);
}

#[test]
fn events_with_actions() {
    let p = ok("default errno EPERM\n\
                file_open: path ~ \"/tmp/*\"\n\
                file_open: path == \"/tmp/secret\" => kill\n\
                file_open: flags & O_CREAT => log\n");
    let e =
        |path: &str, flags| p.evaluate_event(Event::FileOpen, &open(Some(path.as_bytes()), flags));
    assert_eq!(e("/tmp/x", 0), Verdict::Allow);
    assert_eq!(e("/tmp/x", 0o100), Verdict::Log);
    assert_eq!(e("/tmp/secret", 0), Verdict::Kill);
    assert_eq!(e("/etc/x", 0), Verdict::Errno(1));
    assert_eq!(e("/etc/x", 0o100), Verdict::Log);
    // Unavailable: the most severe of the rules' actions and the default.
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open(None, 0)),
        Verdict::Kill
    );
    // v1 event rules: the default, as before.
    let v1 = ok("default errno EPERM\nfile_open: 1\nexec: path == \"/x\"\n");
    for ev in [Event::FileOpen, Event::Exec] {
        assert_eq!(v1.evaluate_event(ev, &open(None, 0)), Verdict::Errno(1));
    }
    // Default more severe than every rule: the default.
    let p = ok("default kill\nexec: path == \"/x\" => log\n");
    assert_eq!(p.evaluate_event(Event::Exec, &open(None, 0)), Verdict::Kill);
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(Some(b"/x"), 0)),
        Verdict::Log
    );
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(Some(b"/y"), 0)),
        Verdict::Kill
    );
    // Equal severity: the rule's errno.
    let p = ok("default errno EPERM\nexec: path == \"/x\" => errno EACCES\n");
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(None, 0)),
        Verdict::Errno(13)
    );
    let p = ok("default errno EPERM\nexec: path == \"/x\" => errno EPERM\n");
    assert_eq!(p.ev_unavail, [0; 4]);
    // A constant event action.
    let p = ok("default allow\nexec: 1 => kill\nexec: path == \"/x\"\n");
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(Some(b"/x"), 0)),
        Verdict::Kill
    );
    assert_eq!(p.evaluate_event(Event::Exec, &open(None, 0)), Verdict::Kill);
    assert_eq!(p.predicate_count(), 0);
    // Chains combine as before.
    let older = ok("default allow\nexec: path == \"/x\" => errno EPERM\n");
    let newer =
        ok("default allow\nexec: path == \"/x\" => errno EACCES\nexec: path == \"/y\" => log\n");
    let i = open(Some(b"/x"), 0);
    assert_eq!(
        evaluate_event_chain([&*newer, &*older], Event::Exec, &i),
        Verdict::Errno(13)
    );
    let i = open(Some(b"/y"), 0);
    assert_eq!(
        evaluate_event_chain([&*newer, &*older], Event::Exec, &i),
        Verdict::Log
    );
}

#[test]
fn summaries_with_actions() {
    let layers = [
        ok("default allow\nread: 1 => kill\nwrite: fd == 2 => errno EPERM\n"),
        ok("default log\nread: 1\nwrite: 1\nclose: fd == 0 => errno EACCES\nclose: 1\n"),
        ok("default allow\nclose: 1 => errno EPERM\nlseek: fd == 1 => log\nlseek: 1 => errno 9\n"),
    ];
    let argsets: [[u64; 6]; 4] = [[0; 6], [1; 6], [2; 6], [u64::MAX; 6]];
    let mut parent: Option<Box<ChainSummary>> = None;
    for depth in 0..layers.len() {
        let mut s = Box::new(ChainSummary::new());
        s.build(&layers[depth], parent.as_deref());
        let newest_first: Vec<&Program> = layers[..=depth].iter().rev().map(|b| &**b).collect();
        for nr in 0..520u32 {
            if let Some(v) = s.lookup(nr) {
                for a in &argsets {
                    assert_eq!(
                        v,
                        evaluate_chain(newest_first.iter().copied(), nr, a),
                        "{depth} {nr}"
                    );
                }
            }
        }
        parent = Some(s);
    }
    let s = parent.expect("built");
    assert_eq!(s.lookup(0), Some(Verdict::Kill)); // read: 1 => kill in layer 0
    assert_eq!(s.lookup(1), None); // write: depends on fd
    assert_eq!(s.lookup(3), None); // close: depends on fd in layer 1
                                   // lseek: `1 => errno 9` outranks `fd == 1 => log`: a constant.
    assert_eq!(s.lookup(8), Some(Verdict::Errno(9)));
}

#[test]
fn rejections_point_at_the_culprit() {
    use ErrorCode as E;
    // An unknown or missing action after `=>`.
    assert_eq!(caret("read: 1 => deny"), (E::UnknownRuleAction, 12));
    assert_eq!(caret("read: 1 =>"), (E::UnknownRuleAction, 11));
    assert_eq!(caret("read: 1 =>\nwrite: 1"), (E::UnknownRuleAction, 11));
    assert_eq!(caret("read: 1 => # kill"), (E::UnknownRuleAction, 18));
    assert_eq!(caret("read: 1 => 1"), (E::UnknownRuleAction, 12));
    assert_eq!(caret("read: 1 => (kill)"), (E::UnknownRuleAction, 12));
    assert_eq!(caret("read: 1 => default"), (E::UnknownRuleAction, 12));
    // `=>` without a rule, or without an expression.
    assert_eq!(caret("=> kill"), (E::ExpectedRule, 1));
    assert_eq!(caret("read: => kill"), (E::ExpectedOperand, 7));
    assert_eq!(caret("read: fd == 0 && => kill"), (E::ExpectedOperand, 18));
    assert_eq!(caret("read: ! => kill"), (E::ExpectedOperand, 9));
    assert_eq!(caret("read => kill"), (E::ExpectedColon, 6));
    assert_eq!(caret("default => kill"), (E::UnknownAction, 9));
    // errno values.
    assert_eq!(caret("read: 1 => errno 4096"), (E::ErrnoOutOfRange, 18));
    assert_eq!(caret("read: 1 => errno 0"), (E::ErrnoOutOfRange, 18));
    assert_eq!(caret("read: 1 => errno -1"), (E::ErrnoOutOfRange, 18));
    assert_eq!(caret("read: 1 => errno ENOPE"), (E::UnknownErrno, 18));
    assert_eq!(caret("read: 1 => errno"), (E::ExpectedValue, 17));
    assert_eq!(
        caret("read: 1 => errno 0x10000000000000000"),
        (E::NumberTooLarge, 18)
    );
    // Extra text.
    assert_eq!(caret("read: 1 => kill log"), (E::ExpectedEndOfLine, 17));
    assert_eq!(caret("read: 1 => kill => log"), (E::ExpectedEndOfLine, 17));
    assert_eq!(
        caret("read: 1 => errno EPERM 3"),
        (E::ExpectedEndOfLine, 24)
    );
    assert_eq!(
        caret("read: fd == 0 => kill && fd == 1"),
        (E::ExpectedEndOfLine, 23)
    );
    // `=` alone is no arrow.
    assert_eq!(caret("read: fd == 0 = kill"), (E::ExpectedLogicalOp, 15));
    assert_eq!(caret("read: fd == 0 =\n"), (E::ExpectedLogicalOp, 15));
    // `=>` inside parentheses, or where an operator or value belongs.
    assert_eq!(caret("read: (fd == 0 => kill)"), (E::UnbalancedOpen, 7));
    assert_eq!(caret("read: fd => 1"), (E::InvalidOperator, 10));
    assert_eq!(caret("read: fd == => 1"), (E::InvalidOperator, 13));
    assert_eq!(caret("read: fd == 1 | => kill"), (E::InvalidOperator, 17));
    assert_eq!(caret("exec: path => \"x\""), (E::InvalidOperator, 12));
    assert_eq!(caret("exec: path == => kill"), (E::ExpectedString, 15));
    assert_eq!(
        caret("socket_bind: addr => 1.2.3.4"),
        (E::InvalidOperator, 19)
    );
    assert_eq!(
        caret("socket_bind: addr == => kill"),
        (E::InvalidAddress, 22)
    );
    // The default keeps its v1 error codes.
    assert_eq!(caret("default deny"), (E::UnknownAction, 9));
    assert_eq!(caret("default allow log"), (E::ExpectedEndOfLine, 15));
    assert_eq!(
        caret("default allow\ndefault allow"),
        (E::DuplicateDefault, 1)
    );
    // The messages.
    assert_eq!(
        E::UnknownRuleAction.message(),
        "expected allow, kill, errno or log after '=>'"
    );
}

#[test]
fn exits_and_corrupt_action_tables() {
    use crate::program::layout::exit;
    for v in [
        Verdict::Allow,
        Verdict::Log,
        Verdict::Kill,
        Verdict::Errno(1),
        Verdict::Errno(4095),
    ] {
        assert_eq!(exit::verdict(exit::of(v)), Some(v));
        assert!(exit::of(v) >= exit::MIN);
    }
    for t in [0u16, 1, 1023, exit::ERRNO, 0xf000, 0xfffb, REJECT] {
        assert_eq!(exit::verdict(t), None, "{t:#x}");
    }
    let p = ok("default errno EPERM");
    assert_eq!(p.exit_verdict(REJECT), Verdict::Errno(1));
    assert_eq!(p.exit_verdict(0xf123), Verdict::Errno(1));
    assert_eq!(p.exit_verdict(exit::ERRNO | 13), Verdict::Errno(13));
    // An action entry that is no exit the compiler writes: the default,
    // as evaluation says.
    let mut q = ok("default errno EPERM\nread: 1 => kill\n");
    assert_eq!(q.constant_verdict(0), Some(Verdict::Kill));
    for bad in [exit::ERRNO, 0xf000, 0xfffb] {
        q.act[0] = bad;
        assert_eq!(q.constant_verdict(0), Some(Verdict::Errno(1)), "{bad:#x}");
        assert_eq!(q.evaluate(0, &[0; 6]), Verdict::Errno(1), "{bad:#x}");
    }
    q.act[0] = exit::MIN - 1;
    assert_eq!(q.constant_verdict(0), None);
    // Garbage entries and targets: evaluation ends, printing fails cleanly.
    let mut rng = super::property::Rng::new(5);
    for _ in 0..500 {
        let mut q = ok("read: fd == 3 => kill\nread: fd == 4 || fd == 5 => log\nexec: path == \"/x\" => kill\nexec: 1 => log\n");
        for _ in 0..4 {
            let k = rng.below(3);
            let r = rng.next() as u16;
            q.preds[k].on_true =
                *rng.pick(&[0u16, 1, 2, 3, 1500, 0xe000, 0xefff, 0xfffc, 0xffff, r]);
            q.preds[k].on_false = rng.next() as u16;
            let r = rng.next() as u16;
            let slot = rng.below(4);
            q.act[slot] = *rng.pick(&[0u16, 1, 2, 3, 4, 1024, 1025, 0xe000, 0xfffe, r]);
            q.ev_act[rng.below(4)] = rng.next() as u16;
            q.ev_unavail[rng.below(4)] = rng.next() as u16;
            q.code[rng.below(8)] = rng.next() as u16;
        }
        for nr in 0..6 {
            let _ = q.evaluate(nr, &[3, 4, 5, 0, 0, 0]);
            let _ = q.constant_verdict(nr);
        }
        for ev in Event::ALL {
            let _ = q.evaluate_event(ev, &open(Some(b"/x"), 0));
            let _ = q.evaluate_event(ev, &open(None, 0));
        }
        let mut s = String::new();
        let _ = q.print(&TEST_ARCH, &mut s);
    }
}

/// The readback code limit with action rules: one unit per rule for its
/// action, and one per syscall for the constant rule that ends its
/// program. 256 syscalls x (`(a || b) && (c || d) => kill` + `1 => log`)
/// fill both the predicates (1024) and the code (256 x (1 + 8 + 1) =
/// 2560) exactly; 257 syscalls with as many predicates need two units
/// more, and the error names the first rule in source order that does not
/// fit.
#[test]
fn code_limit_with_actions() {
    use crate::limits::{MAX_CODE, MAX_PROGRAM_PREDICATES};
    let names: Vec<&str> = X86_64
        .syscalls
        .iter()
        .filter(|s| s.nr < 512)
        .map(|s| s.name)
        .take(257)
        .collect();
    assert_eq!(names.len(), 257);
    let rule = |name: &str, preds: usize| match preds {
        4 => std::format!("{name}: (arg0 == 0 || arg0 == 1) && (arg1 == 0 || arg1 == 1) => kill\n"),
        _ => std::format!("{name}: arg0 == 0 || arg0 == 1 => kill\n"),
    };
    // The rules, then the constants in reverse order of the syscalls.
    let policy = |groups: &[(&str, usize)], constants: bool| {
        let mut src = String::new();
        for (name, n) in groups {
            src.push_str(&rule(name, *n));
        }
        for (name, _) in groups.iter().rev().filter(|_| constants) {
            src.push_str(&std::format!("{name}: 1 => log\n"));
        }
        src
    };
    let full: Vec<(&str, usize)> = names[..256].iter().map(|&n| (n, 4)).collect();
    let p = x86(&policy(&full, true));
    assert_eq!(p.predicate_count(), MAX_PROGRAM_PREDICATES);
    assert_eq!(p.code_len(), MAX_CODE);
    assert_eq!(*x86(&print_for(&X86_64, &p)), *p);
    // Rules that compile to nothing take no room: a `0` rule, constants
    // that do not decide, a rule hidden by its constant, a v1 constant.
    let extra = std::format!(
        "{a}: 0 => kill\n{b}: 1 => allow\n{b}: 1\n{c}: arg0 == 7 => log\n{d}: 1\n",
        a = names[0],
        b = names[1],
        c = names[2],
        d = names[256],
    );
    let q = x86(&(policy(&full, true) + &extra));
    assert_eq!(
        (q.predicate_count(), q.code_len()),
        (MAX_PROGRAM_PREDICATES, MAX_CODE)
    );
    // 255 x 4 + 2 x 2 predicates; 255 x 10 + 2 x 6 = 2562 units.
    let mut over: Vec<(&str, usize)> = names[..255].iter().map(|&n| (n, 4)).collect();
    over.push((names[255], 2));
    over.push((names[256], 2));
    let e = compile_for(&X86_64, &policy(&over, true)).expect_err("two units too many");
    // 257 rules (2305 units), then 255 constants fit; the 256th does not.
    assert_eq!(
        (e.code, e.line),
        (ErrorCode::ProgramTooLarge, 257 + 256),
        "{e}"
    );
    // Without the constants, the same rules fit.
    let p = x86(&policy(&over, false));
    assert_eq!(p.code_len(), 257 + 2 * MAX_PROGRAM_PREDICATES);
}
