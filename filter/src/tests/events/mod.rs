//! LSM-hook events: glob matching, address literals, string literals,
//! event semantics (absent/present rules, unavailable path, event-only
//! layers), errors with their carets, canonical printing, and a seeded
//! property test against an independent reference.

use std::boxed::Box;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use super::property::Rng;
use super::*;
use crate::addr;
use crate::glob::glob_match;
use crate::limits::{MAX_NR, MAX_STRING_BYTES, MAX_STRING_LEN};
use crate::uapi::tables::{AARCH64, X86_64};
use crate::{evaluate_event_chain, ChainSummary, Event, EventInput};

mod addresses;
mod glob;
mod properties;

use addresses::cidr;
use glob::glob_ref;

// ------------------------------------------------------------ semantics

fn input(path: Option<&[u8]>) -> EventInput<'_> {
    EventInput {
        path,
        flags: 0,
        family: 0,
        port: 0,
        addr: [0; 16],
    }
}

fn inet(family: u64, a: &str, port: u64) -> EventInput<'static> {
    EventInput {
        path: Some(b""),
        flags: 0,
        family,
        port,
        addr: cidr(a).unwrap().addr,
    }
}

fn open(path: &str, flags: u64) -> EventInput<'_> {
    EventInput {
        flags,
        ..input(Some(path.as_bytes()))
    }
}

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

#[test]
fn event_names_and_bits() {
    for (i, ev) in Event::ALL.iter().enumerate() {
        assert_eq!(*ev as usize, i);
        assert_eq!(ev.bit(), 1 << i);
        assert_eq!(Event::from_name(ev.name().as_bytes()), Some(*ev));
    }
    assert_eq!(
        Event::ALL.map(Event::name),
        ["file_open", "exec", "socket_connect", "socket_bind"]
    );
    assert_eq!(Event::from_name(b"sys_file_open"), None);
    assert_eq!(Event::from_name(b"file_ope"), None);
    // sys_ is not an event prefix: it names an (unknown) syscall
    assert_eq!(code("sys_file_open: 1"), ErrorCode::UnknownSyscall);
    assert_eq!(code("sys_exec: 1"), ErrorCode::UnknownSyscall);
}

#[test]
fn the_issue_examples() {
    let p = compile_for(
        &X86_64,
        r#"default errno EACCES
file_open:      path == "/etc/hostname" || path ~ "/usr/lib/*"
file_open:      path ~ "/tmp/*" && flags in O_RDONLY|O_CLOEXEC
exec:           path == "/usr/bin/python3"
socket_connect: family == AF_INET && addr == 127.0.0.1 && port == 8080
socket_connect: family == AF_UNIX && path == "/run/app.sock"
socket_bind:    family == AF_INET6 && port >= 1024
socket_connect: addr in 10.0.0.0/8 || addr in fe80::/10
"#,
    )
    .unwrap();
    let deny = Verdict::Errno(13);
    let fo = Event::FileOpen;
    assert_eq!(
        p.evaluate_event(fo, &open("/etc/hostname", 0)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(fo, &open("/etc/hostnam", 0)), deny);
    assert_eq!(
        p.evaluate_event(fo, &open("/usr/lib/a/b.so", 0o2)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(fo, &open("/tmp/x", 0)), Verdict::Allow);
    assert_eq!(
        p.evaluate_event(fo, &open("/tmp/x", 0o2000000)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(fo, &open("/tmp/x", 2)), deny);
    assert_eq!(p.evaluate_event(fo, &open("/etc/passwd", 0)), deny);
    let ex = Event::Exec;
    assert_eq!(
        p.evaluate_event(ex, &open("/usr/bin/python3", 0)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(ex, &open("/usr/bin/python", 0)), deny);
    let sc = Event::SocketConnect;
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET, "127.0.0.1", 8080)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET, "127.0.0.1", 8081)),
        deny
    );
    // a v4-mapped connect on an AF_INET6 socket is the same address
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET6, "::ffff:10.1.2.3", 1)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET, "10.1.2.3", 1)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(sc, &inet(AF_INET, "11.1.2.3", 1)), deny);
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET6, "fe80::1", 1)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(sc, &inet(AF_INET6, "fec0::1", 1)), deny);
    let unix = |path: &'static [u8]| EventInput {
        path: Some(path),
        family: AF_UNIX,
        ..input(None)
    };
    assert_eq!(
        p.evaluate_event(sc, &unix(b"/run/app.sock")),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(sc, &unix(b"\0/run/app.sock")), deny);
    let sb = Event::SocketBind;
    assert_eq!(
        p.evaluate_event(sb, &inet(AF_INET6, "::", 1024)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(sb, &inet(AF_INET6, "::", 1023)), deny);
    assert_eq!(p.evaluate_event(sb, &inet(AF_INET, "0.0.0.0", 4000)), deny);
    assert_eq!(p.event_mask(), 0xf);
    // the layer also restricts syscalls? No: all its rules are event rules.
    assert!(p.syscalls_unrestricted());
    assert_eq!(p.evaluate(0, &[0; 6]), Verdict::Allow);
    // canonical text
    assert_eq!(
        print_for(&X86_64, &p),
        r#"default errno EACCES
file_open: path == "/etc/hostname" || path ~ "/usr/lib/*"
file_open: path ~ "/tmp/*" && flags in 0x80000
exec: path == "/usr/bin/python3"
socket_connect: family == 2 && addr == 127.0.0.1 && port == 8080
socket_connect: family == 1 && path == "/run/app.sock"
socket_connect: addr in 10.0.0.0/8 || addr in fe80::/10
socket_bind: family == 10 && port >= 1024
"#
    );
}

#[test]
fn absent_and_constant_event_rules() {
    // No rule for an event: Allow, whatever the default.
    let p = ok("default kill\nread: 1\n");
    for ev in Event::ALL {
        assert!(!p.has_event_rules(ev));
        assert_eq!(p.evaluate_event(ev, &open("/x", 0)), Verdict::Allow);
        assert_eq!(p.evaluate_event(ev, &input(None)), Verdict::Allow);
    }
    assert_eq!(p.event_mask(), 0);
    // `file_open: 1`: every open, still "has rules".
    let p = ok("default errno EPERM\nfile_open: 1\n");
    assert!(p.has_event_rules(Event::FileOpen));
    assert_eq!(p.event_mask(), Event::FileOpen.bit());
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open("/x", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::Exec, &open("/x", 0)),
        Verdict::Allow
    );
    assert_eq!(print(&p), "default errno EPERM\nfile_open: 1\n");
    // `file_open: 0`: no open.
    let p = ok("default errno EPERM\nfile_open: 0\n");
    assert!(p.has_event_rules(Event::FileOpen));
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open("/x", 0)),
        Verdict::Errno(1)
    );
    assert_eq!(print(&p), "default errno EPERM\nfile_open: 0\n");
    assert_eq!(p.predicate_count(), 0);
    // `1` wins over other rules for the event, `0` rules are dropped
    let p = ok("exec: path == \"/a\"\nexec: 1\nexec: 0\n");
    assert_eq!(
        p.evaluate_event(Event::Exec, &open("/b", 0)),
        Verdict::Allow
    );
    assert_eq!(print(&p), "default kill\nexec: 1\n");
    let p = ok("exec: path == \"/a\"\nexec: 0\n");
    assert_eq!(print(&p), "default kill\nexec: path == \"/a\"\n");
    assert_eq!(p.evaluate_event(Event::Exec, &open("/b", 0)), Verdict::Kill);
    // several rules OR together
    let p = ok("exec: path == \"/a\"\nread: 1\nexec: path == \"/b\"\n");
    assert_eq!(
        p.evaluate_event(Event::Exec, &open("/b", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::Exec, &open("/a", 0)),
        Verdict::Allow
    );
    assert_eq!(p.evaluate_event(Event::Exec, &open("/c", 0)), Verdict::Kill);
}

#[test]
fn unavailable_path_gives_the_default() {
    for src in [
        "default log\nfile_open: 1\n",
        "default log\nfile_open: path != \"x\"\n",
        "default log\nfile_open: flags == 0\n",
        "default log\nfile_open: !(path == \"/x\")\n",
        "default log\nfile_open: 0\n",
    ] {
        let p = ok(src);
        assert_eq!(
            p.evaluate_event(Event::FileOpen, &input(None)),
            Verdict::Log,
            "{src}"
        );
        // other events are untouched
        assert_eq!(
            p.evaluate_event(Event::Exec, &input(None)),
            Verdict::Allow,
            "{src}"
        );
    }
    let p = ok("default errno EACCES\nsocket_connect: port == 80\n");
    let mut i = inet(AF_INET, "1.2.3.4", 80);
    assert_eq!(p.evaluate_event(Event::SocketConnect, &i), Verdict::Allow);
    i.path = None;
    assert_eq!(
        p.evaluate_event(Event::SocketConnect, &i),
        Verdict::Errno(13)
    );
}

#[test]
fn event_only_layers_leave_syscalls_alone() {
    let p = ok("default errno EPERM\nfile_open: path ~ \"/etc/*\"\n");
    assert!(p.syscalls_unrestricted());
    for nr in [0u32, 1, 100, MAX_NR as u32 - 1, MAX_NR as u32, u32::MAX] {
        assert_eq!(p.evaluate(nr, &[0; 6]), Verdict::Allow, "{nr}");
        if nr < MAX_NR as u32 {
            assert_eq!(p.constant_verdict(nr), Some(Verdict::Allow));
        }
    }
    // an empty policy still restricts every syscall (v1)
    let p = ok("default errno EPERM\n");
    assert!(!p.syscalls_unrestricted());
    assert_eq!(p.evaluate(0, &[0; 6]), Verdict::Errno(1));
    // one syscall rule, even one that folded to 0, restricts them all
    for src in [
        "default errno EPERM\nread: 0\nfile_open: 1\n",
        "default errno EPERM\nread: fd == 0\nfile_open: 1\n",
        "default errno EPERM\nread: 1\nfile_open: 1\n",
    ] {
        let p = ok(src);
        assert!(!p.syscalls_unrestricted(), "{src}");
        assert_eq!(eval(&p, "write", &[1]), Verdict::Errno(1), "{src}");
        // syscall numbers beyond the table get the default, not an event slot
        assert_eq!(p.evaluate(MAX_NR as u32, &[0; 6]), Verdict::Errno(1));
        assert_eq!(p.evaluate(MAX_NR as u32 + 3, &[0; 6]), Verdict::Errno(1));
        assert_eq!(p.evaluate(u32::MAX, &[0; 6]), Verdict::Errno(1));
    }
    // The `read: 0` that keeps syscalls restricted survives printing.
    let p = ok("default errno EPERM\nread: 0\nfile_open: 1\n");
    assert_eq!(print(&p), "default errno EPERM\nread: 0\nfile_open: 1\n");
    assert_eq!(*ok(&print(&p)), *p);
    let p = compile_for(&AARCH64, "write: 0\nexec: 1\n").unwrap();
    assert_eq!(
        print_for(&AARCH64, &p),
        "default kill\nio_setup: 0\nexec: 1\n"
    );
}

#[test]
fn event_numeric_fields_are_c_typed() {
    // port is u16: -1 is 65535, 65536 is out of range
    let p = ok("socket_bind: port == -1\n");
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &inet(AF_INET, "0.0.0.0", 65535)),
        Verdict::Allow
    );
    // only the low 16 bits count
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &inet(AF_INET, "0.0.0.0", 0x1_ffff)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &inet(AF_INET, "0.0.0.0", 1)),
        Verdict::Kill
    );
    let e = err("socket_bind: port == 65536\n");
    assert_eq!((e.code, e.column), (ErrorCode::ValueOutOfRange, 22));
    // flags is u32: masks and `&`
    let p = ok("file_open: flags & 3 || flags in 0\n");
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open("/", 1)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open("/", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open("/", 4)),
        Verdict::Kill
    );
    assert_eq!(
        p.evaluate_event(Event::FileOpen, &open("/", 1 << 32)),
        Verdict::Allow
    );
    let p = ok("socket_connect: family < 3 && port != 0\n");
    assert_eq!(
        p.evaluate_event(Event::SocketConnect, &inet(AF_INET, "1.1.1.1", 5)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::SocketConnect, &inet(AF_INET6, "::", 5)),
        Verdict::Kill
    );
    // fields the event does not have are errors
    let e = err("exec: flags == 0\n");
    assert_eq!((e.code, e.column), (ErrorCode::UnknownField, 7));
    assert_eq!(code("file_open: port == 0\n"), ErrorCode::UnknownField);
    assert_eq!(code("file_open: fd == 0\n"), ErrorCode::UnknownField);
    assert_eq!(code("file_open: arg0 == 0\n"), ErrorCode::UnknownField);
}

#[test]
fn strings_escape_and_compare_bytes() {
    let p = ok(r#"socket_connect: path == "\x00name" || path == "a\"b\\c\n\t""#);
    let sc = Event::SocketConnect;
    let unix = |path: &'static [u8]| EventInput {
        path: Some(path),
        family: AF_UNIX,
        ..input(None)
    };
    assert_eq!(p.evaluate_event(sc, &unix(b"\0name")), Verdict::Allow);
    assert_eq!(p.evaluate_event(sc, &unix(b"name")), Verdict::Kill);
    assert_eq!(p.evaluate_event(sc, &unix(b"\0name\0")), Verdict::Kill);
    assert_eq!(p.evaluate_event(sc, &unix(b"a\"b\\c\n\t")), Verdict::Allow);
    assert_eq!(
        print(&p),
        "default kill\nsocket_connect: path == \"\\x00name\" || path == \"a\\\"b\\\\c\\n\\x09\"\n"
    );
    // \xNN takes exactly two hex digits, either case
    let p = ok(r#"exec: path == "\x41\x4a\x4Bz""#);
    assert_eq!(
        p.evaluate_event(Event::Exec, &open("AJKz", 0)),
        Verdict::Allow
    );
    assert_eq!(print(&p), "default kill\nexec: path == \"AJKz\"\n");
    // raw bytes and non-ASCII print as \xNN
    let p = ok("exec: path != \"\u{e9}\x7f\"");
    assert_eq!(
        print(&p),
        "default kill\nexec: path != \"\\xc3\\xa9\\x7f\"\n"
    );
    assert_eq!(
        p.evaluate_event(Event::Exec, &open("\u{e9}\x7f", 0)),
        Verdict::Kill
    );
    assert_eq!(p.evaluate_event(Event::Exec, &open("e", 0)), Verdict::Allow);
    // the empty string
    let p = ok(r#"exec: path == """#);
    assert_eq!(p.evaluate_event(Event::Exec, &open("", 0)), Verdict::Allow);
    assert_eq!(p.evaluate_event(Event::Exec, &open("/", 0)), Verdict::Kill);
    // a string of exactly MAX_STRING_LEN bytes is fine
    let long = "b".repeat(MAX_STRING_LEN);
    let p = ok(&format!("exec: path == \"{long}\""));
    assert_eq!(
        p.evaluate_event(Event::Exec, &open(&long, 0)),
        Verdict::Allow
    );
    assert_eq!(p.pool_len(), MAX_STRING_LEN);
    // escapes count once
    let p = ok(&format!(
        "exec: path == \"{}\"",
        "\\x41".repeat(MAX_STRING_LEN)
    ));
    assert_eq!(p.pool_len(), MAX_STRING_LEN);
    // a glob with NUL
    let p = ok(r#"socket_bind: path ~ "\x00app-*""#);
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &unix(b"\0app-1")),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &unix(b"app-1")),
        Verdict::Kill
    );
}

/// `(source, code, 1-based column)` of each rejection.
#[test]
fn event_errors_point_at_the_culprit() {
    let long = "a".repeat(MAX_STRING_LEN);
    let too_long = format!("exec: path == \"{long}a\"");
    let esc_long = format!("exec: path == \"{}\\x00\"", "a".repeat(MAX_STRING_LEN));
    let full = format!("exec: path == \"{long}\" || path == \"{long}\"\nsocket_bind: addr == ::1");
    let cases: Vec<(&str, ErrorCode, u32)> = vec![
        // strings
        ("exec: path == \"a\\q\"", ErrorCode::InvalidEscape, 17),
        ("exec: path == \"\\x4\"", ErrorCode::InvalidEscape, 16),
        ("exec: path == \"\\x4g\"", ErrorCode::InvalidEscape, 16),
        ("exec: path == \"\\", ErrorCode::InvalidEscape, 16),
        ("exec: path == \"\\0\"", ErrorCode::InvalidEscape, 16),
        ("exec: path == \"abc", ErrorCode::UnterminatedString, 15),
        (
            "exec: path == \"abc\nexec: 1",
            ErrorCode::UnterminatedString,
            15,
        ),
        ("exec: path == \"abc\\\"", ErrorCode::UnterminatedString, 15),
        (&too_long, ErrorCode::StringTooLong, 15),
        (&esc_long, ErrorCode::StringTooLong, 15),
        (&full, ErrorCode::StringPoolFull, 22),
        ("exec: path == 0", ErrorCode::ExpectedString, 15),
        ("exec: path == NULL", ErrorCode::ExpectedString, 15),
        ("exec: path == /bin/sh", ErrorCode::InvalidCharacter, 15),
        ("exec: path ==", ErrorCode::ExpectedString, 14),
        ("exec: path == 'x'", ErrorCode::ExpectedString, 15),
        ("exec: path < \"a\"", ErrorCode::InvalidOperator, 12),
        ("exec: path >= \"a\"", ErrorCode::InvalidOperator, 12),
        ("exec: path & \"a\"", ErrorCode::InvalidOperator, 12),
        ("exec: path in \"a\"", ErrorCode::InvalidOperator, 12),
        ("exec: path = \"a\"", ErrorCode::InvalidOperator, 12),
        ("exec: path \"a\"", ErrorCode::ExpectedComparison, 12),
        (
            "exec: path == \"a\" \"b\"",
            ErrorCode::StringNotSupported,
            19,
        ),
        ("exec: \"a\"", ErrorCode::StringNotSupported, 7),
        (
            "exec: path == \"a\" | \"b\"",
            ErrorCode::ExpectedLogicalOp,
            19,
        ),
        // numbers on events
        ("file_open: flags == \"0\"", ErrorCode::UnexpectedString, 21),
        (
            "file_open: flags == 1 | \"2\"",
            ErrorCode::UnexpectedString,
            25,
        ),
        ("socket_bind: port ~ \"8*\"", ErrorCode::InvalidOperator, 19),
        ("socket_bind: port == ~", ErrorCode::InvalidOperator, 22),
        // strings on syscalls keep v1's error
        ("read: fd == \"0\"", ErrorCode::StringNotSupported, 13),
        ("read: fd ~ \"0\"", ErrorCode::InvalidOperator, 10),
        // addresses
        ("socket_bind: addr == 1.2.3", ErrorCode::InvalidAddress, 22),
        (
            "socket_bind: addr == 1.2.3.4x",
            ErrorCode::InvalidAddress,
            22,
        ),
        (
            "socket_bind: addr == 1.2.3.256",
            ErrorCode::InvalidAddress,
            22,
        ),
        (
            "socket_bind: addr == fe80:::1",
            ErrorCode::InvalidAddress,
            22,
        ),
        (
            "socket_bind: addr == \"::1\"",
            ErrorCode::UnexpectedString,
            22,
        ),
        ("socket_bind: addr == -1", ErrorCode::InvalidAddress, 22),
        ("socket_bind: addr ==", ErrorCode::InvalidAddress, 21),
        (
            "socket_bind: addr == # comment",
            ErrorCode::InvalidAddress,
            31,
        ),
        (
            "socket_bind: addr == (1.2.3.4)",
            ErrorCode::InvalidAddress,
            22,
        ),
        (
            "socket_bind: addr == 10.0.0.0/8",
            ErrorCode::InvalidPrefix,
            30,
        ),
        ("socket_bind: addr != ::/0", ErrorCode::InvalidPrefix, 24),
        (
            "socket_bind: addr in 10.0.0.0/33",
            ErrorCode::InvalidPrefix,
            31,
        ),
        (
            "socket_bind: addr in 10.0.0.0/",
            ErrorCode::InvalidPrefix,
            31,
        ),
        (
            "socket_bind: addr in fe80::/129",
            ErrorCode::InvalidPrefix,
            29,
        ),
        (
            "socket_bind: addr in 10.0.0.1/8",
            ErrorCode::HostBitsSet,
            22,
        ),
        (
            "socket_bind: addr in  fe80::1/64",
            ErrorCode::HostBitsSet,
            23,
        ),
        (
            "socket_bind: addr < 1.2.3.4",
            ErrorCode::InvalidOperator,
            19,
        ),
        (
            "socket_bind: addr & 1.2.3.4",
            ErrorCode::InvalidOperator,
            19,
        ),
        (
            "socket_bind: addr ~ \"1.*\"",
            ErrorCode::InvalidOperator,
            19,
        ),
        (
            "socket_bind: addr 1.2.3.4",
            ErrorCode::ExpectedComparison,
            19,
        ),
        (
            "socket_bind: addr == 1.2.3.4 1.2.3.4",
            ErrorCode::ExpectedLogicalOp,
            30,
        ),
        (
            "socket_bind: addr == 1.2.3.4 | 1",
            ErrorCode::ExpectedLogicalOp,
            30,
        ),
        // identifiers other than `in` are not operators
        ("exec: path is \"a\"", ErrorCode::ExpectedComparison, 12),
        (
            "socket_bind: addr is 1.2.3.4",
            ErrorCode::ExpectedComparison,
            19,
        ),
        ("socket_bind: port is 1", ErrorCode::ExpectedComparison, 19),
        // names
        ("sys_exec: 1", ErrorCode::UnknownSyscall, 1),
        ("exec: nope == 1", ErrorCode::UnknownField, 7),
        ("socket_bind: path == 1", ErrorCode::ExpectedString, 22),
    ];
    for (src, code, col) in cases {
        let e = err(src);
        assert_eq!((e.code, e.column), (code, col), "{src:?}");
    }
}

#[test]
fn addresses_in_rules() {
    let p = ok("socket_connect: addr == ::1 || addr != 1.2.3.4 && addr in ::ffff:0.0.0.0/96\n");
    let sc = Event::SocketConnect;
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET6, "::1", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET, "1.2.3.4", 0)),
        Verdict::Kill
    );
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET, "1.2.3.5", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(sc, &inet(AF_INET6, "::2", 0)),
        Verdict::Kill
    );
    assert_eq!(
        print(&p),
        "default kill\nsocket_connect: addr == ::1 || addr != 1.2.3.4 && addr in 0.0.0.0/0\n"
    );
    // `in` without a prefix is the one address; v4 and mapped are one
    let p = ok("socket_bind: addr in 1.2.3.4 || addr in ::ffff:5.6.7.8/128\n");
    assert_eq!(
        print(&p),
        "default kill\nsocket_bind: addr in 1.2.3.4/32 || addr in 5.6.7.8/32\n"
    );
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &inet(AF_INET6, "::ffff:1.2.3.4", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &inet(AF_INET, "5.6.7.8", 0)),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate_event(Event::SocketBind, &inet(AF_INET, "5.6.7.9", 0)),
        Verdict::Kill
    );
    // address tokens end at operators, parentheses and comments
    let p = ok("socket_bind: (addr==::1)||(addr in fe80::/10)#c\n");
    assert_eq!(
        print(&p),
        "default kill\nsocket_bind: addr == ::1 || addr in fe80::/10\n"
    );
    // an identifier starting with a hex letter is an address attempt there
    assert_eq!(
        code("socket_bind: addr == AF_INET"),
        ErrorCode::InvalidAddress
    );
}

#[test]
fn event_chains_and_summaries() {
    let a = ok("default errno EPERM\nfile_open: path ~ \"/etc/*\"\n");
    let b = ok("default kill\nread: 1\nexec: 1\n");
    let c = ok("default log\nsocket_bind: port > 1023\n");
    let layers = [&*c, &*b, &*a]; // newest first
    let fo = Event::FileOpen;
    assert_eq!(
        evaluate_event_chain(layers, fo, &open("/etc/x", 0)),
        Verdict::Allow
    );
    assert_eq!(
        evaluate_event_chain(layers, fo, &open("/usr/x", 0)),
        Verdict::Errno(1)
    );
    assert_eq!(
        evaluate_event_chain(layers, fo, &input(None)),
        Verdict::Errno(1)
    );
    assert_eq!(
        evaluate_event_chain(layers, Event::Exec, &input(None)),
        Verdict::Kill
    );
    assert_eq!(
        evaluate_event_chain(layers, Event::SocketBind, &inet(AF_INET, "0.0.0.0", 80)),
        Verdict::Log
    );
    assert_eq!(
        evaluate_event_chain(layers, Event::SocketConnect, &input(None)),
        Verdict::Allow
    );
    assert_eq!(evaluate_event_chain([], fo, &input(None)), Verdict::Allow);
    // Kill stops the walk; errno of the newest at equal severity
    let d = ok("default errno EACCES\nfile_open: 0\n");
    assert_eq!(
        evaluate_event_chain([&*d, &*a], fo, &open("/usr", 0)),
        Verdict::Errno(13)
    );
    let mut s1 = Box::new(ChainSummary::new());
    s1.build(&a, None);
    assert_eq!(s1.event_mask(), fo.bit());
    let mut s2 = Box::new(ChainSummary::new());
    s2.build(&b, Some(&s1));
    assert_eq!(s2.event_mask(), fo.bit() | Event::Exec.bit());
    let mut s3 = Box::new(ChainSummary::new());
    s3.build(&c, Some(&s2));
    assert_eq!(s3.event_mask(), 0b1011);
    // an event with rules in two layers stays in the chain's mask
    let mut s4 = Box::new(ChainSummary::new());
    s4.build(&d, Some(&s3));
    assert_eq!(s4.event_mask(), 0b1011);
    // the event-only layer a does not touch syscalls; b restricts them
    assert_eq!(s1.lookup(0), Some(Verdict::Allow));
    let write = X86_64.syscall("write").unwrap().nr;
    assert_eq!(s2.lookup(write), Some(Verdict::Kill));
    assert_eq!(s3.lookup(write), Some(Verdict::Kill));
}

#[test]
fn pool_is_filled_in_predicate_order() {
    // Rules are emitted by event order, not text order: the pool follows
    // the predicates, so printing and recompiling gives the same program.
    let src = "socket_bind: path == \"b\"\nexec: path == \"a\"\nfile_open: path == \"c\" && 0\nfile_open: path ~ \"d\"\n";
    let p = ok(src);
    assert_eq!(&p.pool[..p.pool_len()], b"dab");
    let again = ok(&print(&p));
    assert_eq!(*again, *p);
    assert!(p.pool_len() <= MAX_STRING_BYTES);
}

#[test]
fn corrupt_programs_never_misbehave() {
    // Pool references and field ids out of range: evaluation says false,
    // printing fails cleanly.
    let mut p = ok("socket_connect: path == \"x\" || addr in 10.0.0.0/8 || port == 1\n");
    let i = inet(AF_INET, "10.0.0.1", 1);
    for v in [
        u64::MAX,
        0xffff,
        0xffff_0000,
        (MAX_STRING_BYTES as u64) << 16,
        0x1_0000_0000_0000,
    ] {
        for k in 0..3 {
            p.preds[k].value = v;
            p.preds[k].arg = v as u8;
        }
        let _ = p.evaluate_event(Event::SocketConnect, &i);
        let _ = p.evaluate(0, &[0; 6]);
        let mut s = String::new();
        let _ = p.print(&TEST_ARCH, &mut s);
    }
    // garbage everywhere
    let mut rng = Rng::new(11);
    for _ in 0..200 {
        let mut q = ok("socket_connect: path ~ \"*\" && addr == ::1\nexec: path != \"\"\n");
        for _ in 0..8 {
            let k = rng.below(4);
            q.preds[k].op = rng.below(256) as u8;
            q.preds[k].value = rng.next();
            q.preds[k].on_true = rng.below(8) as u16;
            q.preds[k].on_false = rng.below(8) as u16;
            q.ev_dispatch[rng.below(4)] = rng.below(6) as u16;
            q.ev_rules = rng.next() as u8;
            q.ev_allow = rng.next() as u8;
            q.n_pool = rng.next() as u16;
        }
        for ev in Event::ALL {
            let _ = q.evaluate_event(ev, &i);
        }
        let mut s = String::new();
        let _ = q.print(&TEST_ARCH, &mut s);
    }
}
