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

// ------------------------------------------------------------------ glob

#[test]
fn glob_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        ("*", "", true),
        ("*", "anything/at/all", true),
        ("/usr/lib/*", "/usr/lib/x86_64-linux-gnu/libc.so.6", true),
        ("/usr/lib/*", "/usr/lib", false),
        ("/usr/lib/*", "/usr/lib/", true),
        ("/tmp/*.txt", "/tmp/a/b/c.txt", true),
        ("/tmp/*.txt", "/tmp/a/b/c.txt2", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("*a", "bbba", true),
        ("*a", "bbbab", false),
        ("?", "", false),
        ("?", "x", true),
        ("?", "xy", false),
        ("??", "xy", true),
        ("a?c", "a/c", true),
        ("*?", "", false),
        ("*?", "a", true),
        ("[abc]", "b", true),
        ("[abc]", "d", false),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("[!a-c]", "d", true),
        ("[!a-c]", "a", false),
        ("[^a-c]", "d", true),
        ("[^a-c]", "c", false),
        ("[]]", "]", true),
        ("[]a]", "a", true),
        ("[!]]", "]", false),
        ("[!]]", "x", true),
        ("[a-]", "-", true),
        ("[a-]", "a", true),
        ("[z-a]", "m", false),
        ("[", "[", true),
        ("[a", "[a", true),
        ("[a", "a", false),
        ("[a-", "[a-", true),
        ("[]", "", false),
        ("x[", "x[", true),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("a\\", "a", true),
        ("a\\", "a\\", false),
        ("\\\\", "\\", true),
        ("*.so*", "libc.so.6", true),
        ("lib*.so", "lib.so", true),
        ("*ab", "aab", true),
        ("*aab", "aaab", true),
        ("a*", "a", true),
    ];
    for &(pat, s, want) in cases {
        assert_eq!(
            glob_match(pat.as_bytes(), s.as_bytes()),
            want,
            "{pat:?} ~ {s:?}"
        );
    }
    // NUL is an ordinary byte; the end of the slice is the end.
    assert!(glob_match(b"\0app*", b"\0app.sock"));
    assert!(!glob_match(b"\0app*", b"app.sock"));
    assert!(glob_match(b"?x", b"\0x"));
    assert!(glob_match(b"[\0-\x01]", b"\0"));
    assert!(!glob_match(b"a", b"a\0"));
}

/// An independent, exponential reference (recursion), for short inputs.
fn glob_ref(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_ref(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_ref(&p[1..], &s[1..]),
        Some(b'\\') => match (p.get(1), s.first()) {
            (None, _) => s.is_empty(),
            (Some(x), Some(y)) if x == y => glob_ref(&p[2..], &s[1..]),
            _ => false,
        },
        Some(b'[') => {
            let inv = matches!(p.get(1), Some(b'!' | b'^'));
            let mut i = 1 + inv as usize;
            let mut spans = Vec::new();
            let mut first = true;
            loop {
                match p.get(i) {
                    None => {
                        // malformed: a literal '['
                        return s.first() == Some(&b'[') && glob_ref(&p[1..], &s[1..]);
                    }
                    Some(b']') if !first => break,
                    Some(&a) => {
                        if p.get(i + 1) == Some(&b'-') && p.get(i + 2) != Some(&b']') {
                            match p.get(i + 2) {
                                None => {
                                    return s.first() == Some(&b'[') && glob_ref(&p[1..], &s[1..])
                                }
                                Some(&b) => {
                                    spans.push((a, b));
                                    i += 3;
                                }
                            }
                        } else {
                            spans.push((a, a));
                            i += 1;
                        }
                    }
                }
                first = false;
            }
            let Some(&c) = s.first() else { return false };
            let m = spans.iter().any(|&(a, b)| a <= c && c <= b);
            m != inv && glob_ref(&p[i + 1..], &s[1..])
        }
        Some(&x) => s.first() == Some(&x) && glob_ref(&p[1..], &s[1..]),
    }
}

#[test]
fn glob_agrees_with_reference() {
    let mut rng = Rng::new(7);
    let pat_alpha = b"ab*?[]!^-\\";
    let str_alpha = b"ab-]![\\";
    for _ in 0..20_000 {
        let pl = rng.below(7);
        let sl = rng.below(7);
        let p: Vec<u8> = (0..pl).map(|_| *rng.pick(pat_alpha)).collect();
        let s: Vec<u8> = (0..sl).map(|_| *rng.pick(str_alpha)).collect();
        assert_eq!(
            glob_match(&p, &s),
            glob_ref(&p, &s),
            "{:?} ~ {:?}",
            String::from_utf8_lossy(&p),
            String::from_utf8_lossy(&s)
        );
    }
}

#[test]
fn glob_pathological_is_bounded() {
    // a*a*a*a*b against a long run of `a`: the single backtrack point keeps
    // it at O(len * pattern); this must finish at once.
    let s = vec![b'a'; 4096];
    assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &s));
    let mut t = s.clone();
    t.push(b'b');
    assert!(glob_match(b"a*a*a*a*a*a*a*a*b", &t));
    let p = format!("{}b", "*a".repeat(2000));
    assert!(!glob_match(p.as_bytes(), &s));
}

// ------------------------------------------------------------- addresses

fn cidr(text: &str) -> Result<addr::Cidr, (ErrorCode, usize)> {
    addr::parse_cidr(text.as_bytes())
}

fn addr_text(a: &[u8; 16], plen: u8, prefix: bool) -> String {
    let mut s = String::new();
    addr::write(&mut s, a, plen, prefix).unwrap();
    s
}

#[test]
fn addresses_parse_like_std() {
    let good = [
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1::8",
        "::ffff:1.2.3.4",
        "64:ff9b::1.2.3.4",
        "2001:DB8::a",
        "1:2:3:4:5:6:1.2.3.4",
        "::1.2.3.4",
        "0:0:0:0:0:0:0:1",
    ];
    for t in good {
        let c = cidr(t).unwrap_or_else(|e| panic!("{t}: {e:?}"));
        let want = match t.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => v6.octets(),
        };
        assert_eq!(c.addr, want, "{t}");
        assert_eq!((c.plen, c.has_prefix), (128, false));
    }
    let bad = [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "01.2.3.4",
        "1.2.3.04",
        "1..2.3",
        "1.2.3.4.",
        ":",
        ":::",
        "1:::2",
        "::1::",
        "1::2::3",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "12345::",
        "g::",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        ":1::",
        "1:",
        "::1:",
        "1:2:3:4:5:6:7:1.2.3.4",
        "::1.2.3",
        "1.2.3.4::",
        "::ffff:1.2.3.4:1",
        "x",
        "1.2.3.x",
        "::1.2.3.256",
        "1.2.3.4x",
    ];
    for t in bad {
        assert_eq!(cidr(t), Err((ErrorCode::InvalidAddress, 0)), "{t:?}");
        assert!(t.parse::<std::net::IpAddr>().is_err(), "std accepts {t:?}");
    }
}

#[test]
fn prefixes() {
    let c = cidr("10.0.0.0/8").unwrap();
    assert_eq!((c.plen, c.has_prefix), (104, true));
    assert_eq!(cidr("0.0.0.0/0").unwrap().plen, 96);
    assert_eq!(cidr("1.2.3.4/32").unwrap().plen, 128);
    assert_eq!(cidr("fe80::/10").unwrap().plen, 10);
    assert_eq!(cidr("::/0").unwrap().plen, 0);
    assert_eq!(cidr("::1/128").unwrap().plen, 128);
    assert_eq!(cidr("10.0.0.0/33"), Err((ErrorCode::InvalidPrefix, 9)));
    assert_eq!(cidr("::/129"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/08"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/1x"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/1/2"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("10.0.0.1/8"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("10.128.0.0/8"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("fe80::/8"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("fe80::/9").unwrap().plen, 9);
    assert_eq!(cidr("fec0::/9"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("::ffff:10.0.0.0/104").unwrap().plen, 104);
    assert_eq!(
        cidr("::ffff:10.0.0.0/100"),
        Err((ErrorCode::HostBitsSet, 0))
    );
    assert_eq!(cidr("1.2.3.4/x"), Err((ErrorCode::InvalidPrefix, 8)));
    assert_eq!(cidr("1.2.3/8"), Err((ErrorCode::InvalidAddress, 0)));
}

#[test]
fn prefix_match_bits() {
    let a = cidr("10.0.0.0/8").unwrap().addr;
    let inside = cidr("10.255.1.2").unwrap().addr;
    let outside = cidr("11.0.0.0").unwrap().addr;
    assert!(addr::prefix_match(&a, &inside, 104, false));
    assert!(!addr::prefix_match(&a, &outside, 104, false));
    // a prefix length beyond 128 counts as 128
    assert!(addr::prefix_match(&inside, &inside, 200, false));
    assert!(!addr::prefix_match(&a, &inside, 200, false));
    // partial byte: fe80::/10 holds febf:: but not fec0::
    let ll = cidr("fe80::").unwrap().addr;
    assert!(addr::prefix_match(
        &ll,
        &cidr("febf::1").unwrap().addr,
        10,
        false
    ));
    assert!(!addr::prefix_match(
        &ll,
        &cidr("fec0::1").unwrap().addr,
        10,
        false
    ));
    assert!(addr::prefix_match(&ll, &cidr("::").unwrap().addr, 0, false));
    // short slices never match
    assert!(!addr::prefix_match(&a[..15], &inside, 0, false));
}

#[test]
fn addresses_print_canonically() {
    let cases = [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"),
        ("fe80::0001", "fe80::1"),
        ("::1.2.3.4", "::102:304"),
        ("64:ff9b::1.2.3.4", "64:ff9b::102:304"),
    ];
    for (t, want) in cases {
        let c = cidr(t).unwrap();
        assert_eq!(addr_text(&c.addr, 128, false), want, "{t}");
        // and it parses back to the same bytes, as std prints it
        assert_eq!(cidr(want).unwrap().addr, c.addr);
        if !addr::is_mapped(&c.addr) {
            let std_text = std::net::Ipv6Addr::from(c.addr).to_string();
            assert_eq!(want, std_text, "{t}");
        }
    }
    let c = cidr("10.0.0.0/8").unwrap();
    assert_eq!(addr_text(&c.addr, c.plen, true), "10.0.0.0/8");
    let c = cidr("fe80::/10").unwrap();
    assert_eq!(addr_text(&c.addr, c.plen, true), "fe80::/10");
    let c = cidr("::ffff:0.0.0.0/96").unwrap();
    assert_eq!(addr_text(&c.addr, c.plen, true), "0.0.0.0/0");
    // a mapped address with a prefix shorter than the mapping (never
    // compiled) prints in IPv6 form
    assert_eq!(addr_text(&c.addr, 95, true), "::ffff:0:0/95");
}

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

// ------------------------------------------------------------ properties

/// A generated event rule: text and an independent evaluator.
#[derive(Clone, Debug)]
enum EExpr {
    Str {
        op: &'static str,
        lit: Vec<u8>,
    },
    Addr {
        op: &'static str,
        addr: [u8; 16],
        plen: u8,
        text: String,
    },
    Num {
        field: &'static str,
        op: &'static str,
        v: u64,
    },
    Lit(bool),
    Not(Box<EExpr>),
    And(Box<EExpr>, Box<EExpr>),
    Or(Box<EExpr>, Box<EExpr>),
}

fn spell_string(rng: &mut Rng, lit: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in lit {
        match (b, rng.below(4)) {
            (b'"', _) => s.push_str("\\\""),
            (b'\\', _) => s.push_str("\\\\"),
            (b'\n', 0) => s.push_str("\\n"),
            (b'\t', 0) => s.push_str("\\t"),
            (0x20..=0x7e, 1..) => s.push(b as char),
            (_, 2) => s.push_str(&format!("\\x{b:02X}")),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

const PATHS: [&[u8]; 8] = [
    b"/etc/passwd",
    b"/usr/lib/x.so",
    b"/tmp/a",
    b"",
    b"\0abs",
    b"/a\"b\\c",
    b"/",
    b"/tmp/\n",
];
const ADDRS: [&str; 6] = [
    "127.0.0.1",
    "10.1.2.3",
    "::1",
    "fe80::1",
    "::ffff:10.0.0.1",
    "2001:db8::5",
];

impl EExpr {
    fn gen(rng: &mut Rng, ev: Event, depth: u32) -> EExpr {
        if depth > 0 && rng.chance(40) {
            let a = Box::new(EExpr::gen(rng, ev, depth - 1));
            let b = Box::new(EExpr::gen(rng, ev, depth - 1));
            return match rng.below(3) {
                0 => EExpr::And(a, b),
                1 => EExpr::Or(a, b),
                _ => EExpr::Not(a),
            };
        }
        let sock = matches!(ev, Event::SocketConnect | Event::SocketBind);
        match rng.below(if sock { 6 } else { 4 }) {
            0 => EExpr::Lit(rng.chance(50)),
            1 | 2 => {
                let op = *rng.pick(&["==", "!=", "~"]);
                let mut lit = rng.pick(&PATHS).to_vec();
                if op == "~" {
                    // turn some bytes into wildcards
                    for b in lit.iter_mut() {
                        if rng.chance(20) {
                            *b = *rng.pick(b"*?");
                        }
                    }
                    if rng.chance(30) {
                        lit.extend_from_slice(b"[!a-c]*");
                    }
                }
                EExpr::Str { op, lit }
            }
            3 if ev == Event::FileOpen => EExpr::Num {
                field: "flags",
                op: ["==", "!=", "&", "in", "<", ">="][rng.below(6)],
                v: *rng.pick(&[0, 1, 2, 0o2000000, 0o2000002]),
            },
            3 => EExpr::Lit(false),
            4 => EExpr::Num {
                field: ["family", "port"][rng.below(2)],
                op: ["==", "!=", "<=", ">"][rng.below(4)],
                v: *rng.pick(&[1, 2, 10, 80, 1024, 65535]),
            },
            _ => {
                let op = *rng.pick(&["==", "!=", "in"]);
                let base = *rng.pick(&ADDRS);
                let c = cidr(base).unwrap();
                let (plen, text) = if op == "in" {
                    let v4 = !base.contains(':');
                    let l = if v4 { rng.below(33) } else { rng.below(129) };
                    let plen = if v4 { 96 + l } else { l } as u8;
                    let mut a = c.addr;
                    for (i, byte) in a.iter_mut().enumerate() {
                        for bit in 0..8 {
                            if i * 8 + bit >= plen as usize {
                                *byte &= !(0x80 >> bit);
                            }
                        }
                    }
                    let t = if v4 {
                        format!("{}.{}.{}.{}/{l}", a[12], a[13], a[14], a[15])
                    } else {
                        format!("{}/{l}", std::net::Ipv6Addr::from(a))
                    };
                    return EExpr::Addr {
                        op,
                        addr: a,
                        plen,
                        text: t,
                    };
                } else {
                    (128, base.to_string())
                };
                EExpr::Addr {
                    op,
                    addr: c.addr,
                    plen,
                    text,
                }
            }
        }
    }

    fn text(&self, rng: &mut Rng) -> String {
        match self {
            EExpr::Str { op, lit } => format!("path {op} {}", spell_string(rng, lit)),
            EExpr::Addr { op, text, .. } => format!("addr {op} {text}"),
            EExpr::Num { field, op, v } => format!("{field} {op} {v}"),
            EExpr::Lit(b) => format!("{}", *b as u8),
            EExpr::Not(a) => format!("!({})", a.text(rng)),
            EExpr::And(a, b) => format!("({} && {})", a.text(rng), b.text(rng)),
            EExpr::Or(a, b) => format!("({} || {})", a.text(rng), b.text(rng)),
        }
    }

    fn eval(&self, i: &EventInput<'_>) -> bool {
        let path = i.path.unwrap();
        match self {
            EExpr::Str { op, lit } => match *op {
                "==" => path == &lit[..],
                "!=" => path != &lit[..],
                _ => glob_ref(lit, path),
            },
            EExpr::Addr { op, addr, plen, .. } => match *op {
                "==" => *addr == i.addr,
                "!=" => *addr != i.addr,
                _ => {
                    let a = u128::from_be_bytes(*addr);
                    let b = u128::from_be_bytes(i.addr);
                    let mask = if *plen == 0 {
                        0
                    } else {
                        u128::MAX << (128 - *plen as u32)
                    };
                    a & mask == b & mask
                }
            },
            EExpr::Num { field, op, v } => {
                let (x, w) = match *field {
                    "flags" => (i.flags as u32 as u64, 32),
                    "family" => (i.family as u16 as u64, 16),
                    _ => (i.port as u16 as u64, 16),
                };
                let v = *v & ((1u64 << w) - 1);
                match *op {
                    "==" => x == v,
                    "!=" => x != v,
                    "<" => x < v,
                    "<=" => x <= v,
                    ">" => x > v,
                    ">=" => x >= v,
                    "&" => x & v != 0,
                    _ => x & !v == 0,
                }
            }
            EExpr::Lit(b) => *b,
            EExpr::Not(a) => !a.eval(i),
            EExpr::And(a, b) => a.eval(i) && b.eval(i),
            EExpr::Or(a, b) => a.eval(i) || b.eval(i),
        }
    }
}

#[test]
fn events_agree_with_reference_and_round_trip() {
    let mut rng = Rng::new(0x5eed);
    let mut scratch = Box::new(Scratch::new());
    let mut prog = Box::new(Program::new());
    let mut again = Box::new(Program::new());
    let mut checked = 0u64;
    for case in 0..600 {
        let mut rules: Vec<(Event, EExpr)> = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let ev = *rng.pick(&Event::ALL);
            rules.push((ev, EExpr::gen(&mut rng, ev, 3)));
        }
        let syscall_rule = rng.chance(30);
        let mut text = String::from("default errno EPERM\n");
        if syscall_rule {
            text.push_str("read: fd == 0\n");
        }
        for (ev, e) in &rules {
            text.push_str(&format!("{}: {}\n", ev.name(), e.text(&mut rng)));
        }
        compile(text.as_bytes(), &X86_64, &mut scratch, &mut prog)
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        assert_eq!(prog.syscalls_unrestricted(), !syscall_rule);
        // round trip
        let printed = print_for(&X86_64, &prog);
        compile(printed.as_bytes(), &X86_64, &mut scratch, &mut again)
            .unwrap_or_else(|e| panic!("case {case}: printed text rejected: {e}\n{printed}"));
        assert!(
            *again == *prog,
            "case {case}: round trip differs\n{text}\n{printed}"
        );
        assert_eq!(print_for(&X86_64, &again), printed);
        // evaluation
        for _ in 0..24 {
            let path = *rng.pick(&PATHS);
            let a = cidr(ADDRS[rng.below(ADDRS.len())]).unwrap().addr;
            let i = EventInput {
                path: Some(path),
                flags: *rng.pick(&[0u64, 1, 2, 0o2000000, 0o2000002, 1 << 40]),
                family: *rng.pick(&[1u64, 2, 10, 0x1_0002]),
                port: *rng.pick(&[0u64, 80, 1024, 65535, 0x1_0050]),
                addr: a,
            };
            for ev in Event::ALL {
                let mine: Vec<&EExpr> = rules
                    .iter()
                    .filter(|(e, _)| *e == ev)
                    .map(|(_, x)| x)
                    .collect();
                let want = if mine.is_empty() || mine.iter().any(|x| x.eval(&i)) {
                    Verdict::Allow
                } else {
                    Verdict::Errno(1)
                };
                assert_eq!(
                    prog.evaluate_event(ev, &i),
                    want,
                    "case {case} {ev:?} {i:?}\n{text}"
                );
                let none = EventInput { path: None, ..i };
                let want_none = if mine.is_empty() {
                    Verdict::Allow
                } else {
                    Verdict::Errno(1)
                };
                assert_eq!(prog.evaluate_event(ev, &none), want_none);
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);
}

#[test]
fn event_mutations_never_panic() {
    let base = "default log\nfile_open: path ~ \"/usr/*\" && flags in O_RDONLY|O_CLOEXEC\nsocket_connect: addr in 10.0.0.0/8 || path == \"\\x00a\\\"\"\nexec: 1\n";
    let mut rng = Rng::new(99);
    let mut scratch = Box::new(Scratch::new());
    let mut prog = Box::new(Program::new());
    let mut again = Box::new(Program::new());
    let alphabet = b"\"\\x0:./*?[]!^-~=&|() \nafep1";
    for _ in 0..3000 {
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = *rng.pick(alphabet),
                _ => bytes.insert(at, *rng.pick(alphabet)),
            }
        }
        match compile(&bytes, &X86_64, &mut scratch, &mut prog) {
            Err(e) => assert!(e.offset as usize <= bytes.len()),
            Ok(()) => {
                let printed = print_for(&X86_64, &prog);
                compile(printed.as_bytes(), &X86_64, &mut scratch, &mut again)
                    .unwrap_or_else(|e| panic!("{e}\n{printed}"));
                assert!(
                    *again == *prog,
                    "{}\n{printed}",
                    String::from_utf8_lossy(&bytes)
                );
                for ev in Event::ALL {
                    let _ = prog.evaluate_event(ev, &open("/usr/x", 0));
                }
            }
        }
    }
}
