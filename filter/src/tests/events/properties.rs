//! A seeded property test of event rules against an independent reference, and mutations that must never panic.

use super::*;

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
