//! Unit tests of the generator: hand-made records, native tables.

use super::*;
use std::collections::HashMap;
use strbox_filter::uapi::tables::NATIVE;

/// Calls as [`generate`] takes them: counted, sorted.
fn count(records: &[Record]) -> Vec<(Record, u64)> {
    let mut m: HashMap<Record, u64> = HashMap::new();
    for r in records {
        *m.entry(*r).or_insert(0) += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort();
    v
}

fn nr(name: &str) -> u32 {
    NATIVE.syscall(name).unwrap().nr
}

fn rec(name: &str, args: &[u64]) -> Record {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Record {
        nr: nr(name),
        args: a,
    }
}

fn header() -> Header {
    Header {
        command: "prog arg".into(),
        tasks: 1,
        notes: vec![],
    }
}

fn eperm() -> DefaultAction {
    DefaultAction::Errno("EPERM".into())
}

/// The generated text, after checking it compiles and allows every record.
fn gen(records: &[Record]) -> String {
    let calls = count(records);
    let text = generate(NATIVE, &calls, &eperm(), &header(), true);
    let prog = compile_text(NATIVE, &text).unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
    assert!(disallowed(NATIVE, &prog, &calls).is_empty(), "{text}");
    text
}

/// The rule lines (no comments, no blank lines, no default).
fn rules(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.starts_with("default "))
        .map(|l| {
            let l = l.split("  #").next().unwrap();
            let (name, expr) = l.split_once(':').unwrap();
            format!("{name}: {}", expr.trim())
        })
        .collect()
}

fn verdict(text: &str, r: Record) -> Verdict {
    compile_text(NATIVE, text).unwrap().evaluate(r.nr, &r.args)
}

#[test]
fn fd_rule_and_counts() {
    let w = rec("write", &[1, 0x1000, 5]);
    let text = gen(&[w, w, rec("exit_group", &[0])]);
    assert_eq!(rules(&text), ["exit_group: 1", "write: fd == 1"]);
    assert!(text.contains("write:      fd == 1  # 2 calls\n"), "{text}");
    assert!(text.contains("exit_group: 1  # 1 call\n"), "{text}");
    assert!(text.contains("\ndefault errno EPERM\n"), "{text}");
    assert!(
        text.contains("# 1 task traced; 2 syscalls seen (3 calls).\n"),
        "{text}"
    );
    assert!(text.starts_with("# Learned by `strbox learn` from one run of: prog arg\n"));
    // Another descriptor, another syscall: the default.
    assert_eq!(verdict(&text, rec("write", &[2, 0, 0])), Verdict::Errno(1));
    assert_eq!(verdict(&text, rec("read", &[1, 0, 0])), Verdict::Errno(1));
    assert_eq!(
        verdict(&text, rec("write", &[1, 0xdead, 99])),
        Verdict::Allow
    );
}

#[test]
fn up_to_four_fds_then_one() {
    let four: Vec<Record> = (0..4).map(|fd| rec("close", &[fd])).collect();
    assert_eq!(
        rules(&gen(&four)),
        ["close: fd == 0 || fd == 1 || fd == 2 || fd == 3"]
    );
    let five: Vec<Record> = (0..5).map(|fd| rec("close", &[fd])).collect();
    let text = gen(&five);
    assert_eq!(rules(&text), ["close: 1"]);
    assert_eq!(verdict(&text, rec("close", &[77])), Verdict::Allow);
}

#[test]
fn values_in_the_argument_type() {
    // `int dfd`: AT_FDCWD is -100 whatever the upper register half holds;
    // garbage above an `int fd` does not make a second value.
    let a = rec("openat", &[(-100i64) as u64, 0x5000, 0x80000, 0]);
    let b = rec("openat", &[0xffff_ffff_ffff_ff9c, 0x6000, 0x80000, 0]);
    let c = rec("openat", &[0x1234_5678_ffff_ff9c, 0x7000, 0x80000, 0]);
    let text = gen(&[a, b, c]);
    assert_eq!(
        rules(&text),
        ["openat: dfd == -100 && flags in 0x80000 && mode == 0"]
    );
    assert_eq!(
        verdict(&text, rec("openat", &[3, 0, 0x80000, 0])),
        Verdict::Errno(1)
    );
}

#[test]
fn mask_rule_is_the_or_of_the_values_seen() {
    let rd = rec("openat", &[(-100i64) as u64, 0, 0x80000, 0]); // O_RDONLY|O_CLOEXEC
    let wr = rec("openat", &[(-100i64) as u64, 0, 0x241, 0o644]); // O_WRONLY|O_CREAT|O_TRUNC
    let text = gen(&[rd, wr]);
    assert_eq!(
        rules(&text),
        ["openat: dfd == -100 && flags in 0x80241 && mode in 0x1a4"]
    );
    // A combination the run did not use, but only of seen bits: allowed
    // (the header says so).
    assert!(text.contains("any combination of the bits the run used"));
    assert_eq!(
        verdict(&text, rec("openat", &[(-100i64) as u64, 0, 0x80041, 0o600])),
        Verdict::Allow
    );
    // A bit never seen (O_RDWR = 2): denied.
    assert_eq!(
        verdict(&text, rec("openat", &[(-100i64) as u64, 0, 0x2, 0])),
        Verdict::Errno(1)
    );
}

#[test]
fn too_many_flag_values_then_no_flag_rule() {
    let recs: Vec<Record> = (0..=MAX_MASK_VALUES as u64)
        .map(|i| rec("openat", &[(-100i64) as u64, 0, 1 << i, 0]))
        .collect();
    assert_eq!(rules(&gen(&recs)), ["openat: dfd == -100 && mode == 0"]);
    let recs: Vec<Record> = (0..MAX_MASK_VALUES as u64)
        .map(|i| rec("openat", &[(-100i64) as u64, 0, 1 << i, 0]))
        .collect();
    assert_eq!(
        rules(&gen(&recs)),
        ["openat: dfd == -100 && flags in 0xff && mode == 0"]
    );
}

#[test]
fn several_fds_with_other_constraints_are_parenthesised() {
    let text = gen(&[
        rec("fcntl", &[0, 1, 0]), // F_GETFD
        rec("fcntl", &[3, 3, 0]), // F_GETFL
    ]);
    assert_eq!(
        rules(&text),
        ["fcntl: (fd == 0 || fd == 3) && (cmd == 1 || cmd == 3)"]
    );
    // fd 0 with F_GETFL: each argument was seen, the pair was not; the
    // conjunction allows it (the rules constrain arguments one by one).
    assert_eq!(verdict(&text, rec("fcntl", &[0, 3, 0])), Verdict::Allow);
    assert_eq!(verdict(&text, rec("fcntl", &[0, 4, 0])), Verdict::Errno(1));
}

#[test]
fn pointers_and_sizes_are_free() {
    let text = gen(&[
        rec("read", &[0, 0x1000, 10]),
        rec("read", &[0, 0x2000, 20]),
        rec("brk", &[0]),
        rec("brk", &[0x5555_0000]),
    ]);
    assert_eq!(rules(&text), ["brk: 1", "read: fd == 0"]);
}

#[test]
fn sorted_by_name_and_default_kill() {
    let calls = count(&[
        rec("write", &[1]),
        rec("exit_group", &[0]),
        rec("brk", &[0]),
    ]);
    let text = generate(NATIVE, &calls, &DefaultAction::Kill, &header(), true);
    assert!(text.contains("\ndefault kill\n"), "{text}");
    assert_eq!(rules(&text), ["brk: 1", "exit_group: 1", "write: fd == 1"]);
    let prog = compile_text(NATIVE, &text).unwrap();
    assert!(disallowed(NATIVE, &prog, &calls).is_empty());
    assert_eq!(verdict(&text, rec("read", &[0])), Verdict::Kill);
}

#[test]
fn without_argument_rules_every_rule_is_one() {
    let calls = count(&[rec("write", &[1]), rec("close", &[3])]);
    let text = generate(NATIVE, &calls, &eperm(), &header(), false);
    assert_eq!(rules(&text), ["close: 1", "write: 1"]);
    assert!(text.contains("# Argument rules are off"));
}

#[test]
fn unknown_numbers_are_left_out_and_notes_are_comments() {
    let mut calls = count(&[rec("write", &[1])]);
    calls.push((
        Record {
            nr: 100_000,
            args: [0; 6],
        },
        3,
    ));
    let mut h = header();
    h.notes.push("first line\nsecond line".into());
    let text = generate(NATIVE, &calls, &eperm(), &h, true);
    assert_eq!(rules(&text), ["write: fd == 1"]);
    assert!(
        text.contains("# note: first line\n#   second line\n"),
        "{text}"
    );
    let prog = compile_text(NATIVE, &text).unwrap();
    // Not in the table: not checked (the caller notes it).
    assert!(disallowed(NATIVE, &prog, &calls).is_empty());
}

#[test]
fn empty_trace_is_a_valid_policy() {
    let text = generate(NATIVE, &[], &eperm(), &header(), true);
    assert!(rules(&text).is_empty());
    compile_text(NATIVE, &text).unwrap();
}

#[test]
fn output_is_reproducible() {
    let recs = [rec("write", &[1]), rec("close", &[3]), rec("write", &[2])];
    let mut rev = recs;
    rev.reverse();
    let a = generate(NATIVE, &count(&recs), &eperm(), &header(), true);
    let b = generate(NATIVE, &count(&rev), &eperm(), &header(), true);
    assert_eq!(a, b);
}

#[test]
fn command_quoting() {
    let q = |v: &[&str]| quote_command(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(q(&["/bin/true"]), "/bin/true");
    assert_eq!(
        q(&["sh", "-c", "/bin/true; echo 'x'"]),
        "sh -c '/bin/true; echo '\\''x'\\'''"
    );
    assert_eq!(q(&["a\nb", ""]), "'a\\nb' ''");
}

#[test]
fn default_parsing() {
    let p = |w: &[&str]| {
        DefaultAction::parse(NATIVE, &w.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(p(&["errno", "EPERM"]), Ok(eperm()));
    assert_eq!(p(&["errno EPERM"]), Ok(eperm()));
    assert_eq!(p(&["errno"]), Ok(eperm()));
    assert_eq!(p(&["kill"]), Ok(DefaultAction::Kill));
    assert_eq!(
        p(&["errno", "EACCES"]),
        Ok(DefaultAction::Errno("EACCES".into()))
    );
    assert!(p(&["errno", "ENOPE"]).is_err());
    assert!(p(&["allow"]).is_err());
    assert!(p(&["kill", "now"]).is_err());
}

#[test]
fn argument_kinds() {
    assert_eq!(kind("fd", ArgType::U32), Kind::Fd);
    assert_eq!(kind("dfd", ArgType::I32), Kind::Fd);
    assert_eq!(kind("fd_in", ArgType::I32), Kind::Fd);
    assert_eq!(kind("fildes", ArgType::U32), Kind::Fd);
    assert_eq!(kind("ufd", ArgType::Ptr), Kind::Free);
    assert_eq!(kind("flags", ArgType::I32), Kind::Mask);
    assert_eq!(kind("clone_flags", ArgType::U64), Kind::Mask);
    assert_eq!(kind("prot", ArgType::U64), Kind::Mask);
    assert_eq!(kind("cmd", ArgType::U32), Kind::Selector);
    assert_eq!(kind("count", ArgType::U64), Kind::Free);
}
