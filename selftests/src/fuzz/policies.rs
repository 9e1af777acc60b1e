//! Policy texts: the dictionary, byte mutations of the corpus
//! ([`mutate`]), generated policies ([`gen_policy`]) and hostile ones
//! ([`gen_hostile`]).

use std::fmt::Write as _;

use strbox::abi::{MAX_POLICY_BYTES, PR_SECCOMP_GET, PR_SECCOMP_SET};
use strbox_filter::uapi::tables::{Arch, ArgType};

use super::rng::Rng;

/// Decodes a libFuzzer dictionary: one `"token"` per line with `\xNN`,
/// `\\` and `\"` escapes; other lines are ignored.
pub fn parse_dict(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(body) = line
            .find('"')
            .and_then(|a| line.rfind('"').filter(|&b| b > a).map(|b| &line[a + 1..b]))
        else {
            continue;
        };
        let b = body.as_bytes();
        let mut tok = Vec::new();
        let mut k = 0;
        while k < b.len() {
            if b[k] == b'\\' && k + 1 < b.len() {
                if b[k + 1] == b'x' && k + 3 < b.len() {
                    if let Ok(v) = u8::from_str_radix(&body[k + 2..k + 4], 16) {
                        tok.push(v);
                        k += 4;
                        continue;
                    }
                }
                tok.push(b[k + 1]);
                k += 2;
            } else {
                tok.push(b[k]);
                k += 1;
            }
        }
        if !tok.is_empty() {
            out.push(tok);
        }
    }
    out
}

/// Where an input's text came from (for messages and statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    Corpus,
    Mutated,
    Generated,
    Hostile,
}

impl Origin {
    pub(super) fn name(self) -> &'static str {
        match self {
            Origin::Corpus => "corpus",
            Origin::Mutated => "mutated",
            Origin::Generated => "generated",
            Origin::Hostile => "hostile",
        }
    }
}

/// Syscall names the generated policies talk about: the random-call
/// allow-list plus a few others.
const POLICY_SYSCALLS: &[&str] = &[
    "read",
    "write",
    "close",
    "lseek",
    "fstat",
    "pread64",
    "getpid",
    "getppid",
    "getuid",
    "gettid",
    "uname",
    "getcwd",
    "umask",
    "sched_yield",
    "clock_gettime",
    "nanosleep",
    "getrandom",
    "fcntl",
    "dup",
    "prctl",
    "exit_group",
    "openat",
    "mmap",
    "socket",
    "getrlimit",
    "sysinfo",
    "times",
    "getresuid",
    "newfstatat",
    "statx",
];

/// A mutation of `base` (with another corpus entry for splices).
pub(super) fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], dict: &[Vec<u8>]) -> Vec<u8> {
    let mut v = base.to_vec();
    let n = 1 + rng.below(4);
    for _ in 0..n {
        match rng.below(8) {
            0 if !v.is_empty() => {
                // Bit flips.
                for _ in 0..1 + rng.below(4) {
                    let i = rng.index(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // Insert random bytes.
                let at = rng.index(v.len() + 1);
                for _ in 0..1 + rng.below(4) {
                    v.insert(at, rng.bits() as u8);
                }
            }
            2 if !dict.is_empty() => {
                let at = rng.index(v.len() + 1);
                let tok = rng.pick(dict);
                v.splice(at..at, tok.iter().copied());
            }
            3 if !v.is_empty() => {
                // Delete a run.
                let at = rng.index(v.len());
                let l = (1 + rng.index(8)).min(v.len() - at);
                v.drain(at..at + l);
            }
            4 => {
                // Splice: a prefix of this one and a suffix of the other.
                let a = rng.index(v.len() + 1);
                let b = rng.index(other.len() + 1);
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            5 if !v.is_empty() => {
                v.truncate(rng.index(v.len()));
            }
            6 if !v.is_empty() => {
                // Duplicate a chunk.
                let a = rng.index(v.len());
                let l = (1 + rng.index(16)).min(v.len() - a);
                let chunk = v[a..a + l].to_vec();
                let at = rng.index(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ => {
                // Overwrite a byte with an interesting one.
                if !v.is_empty() {
                    let i = rng.index(v.len());
                    v[i] = *rng.pick(&[
                        0u8, b'\n', b'(', b')', b'!', b'|', b'&', b'#', 0xff, 0x80, b'9', b' ',
                    ]);
                }
            }
        }
    }
    v
}

/// A value for an argument of type `ty` (usually in range).
fn gen_value(rng: &mut Rng, arch: &Arch, ty: ArgType) -> String {
    let (bits, signed) = ty.width_signed();
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    match rng.below(10) {
        0 => "NULL".into(),
        1 => format!("{}", rng.below(8)),
        2 => format!("{:#x}", rng.bits() & max),
        3 if signed => format!("-{}", 1 + rng.below(200)),
        4 => format!("0{:o}", rng.below(0o777)),
        5 => {
            // A named constant that fits.
            let c = rng.pick(arch.constants);
            let v = c.value;
            let fits = if bits == 64 {
                true
            } else {
                v >= -(1i64 << (bits - 1)) && v <= max as i64
            };
            if fits {
                c.name.into()
            } else {
                "1".into()
            }
        }
        6 => {
            // A mask of constants that fit.
            let mut parts = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let c = rng.pick(arch.constants);
                if c.value >= 0 && (c.value as u64) <= max {
                    parts.push(c.name.to_string());
                }
            }
            if parts.is_empty() {
                "0".into()
            } else {
                parts.join("|")
            }
        }
        7 => format!("{}", rng.below(5000)),
        8 => {
            // Something the random calls actually pass.
            format!(
                "{}",
                *rng.pick(&[3u64, 4, 0, 1, 2, 0x53425801, 0x53425802, 16, 4096]) & max
            )
        }
        _ => format!("{}", rng.bits() & max.min(0xffff_ffff)),
    }
}

/// A boolean expression over the arguments of `sys`.
fn gen_expr(
    rng: &mut Rng,
    arch: &Arch,
    args: &[strbox_filter::uapi::tables::Arg],
    depth: u32,
    budget: &mut u32,
) -> String {
    let leaf = depth >= 4 || *budget == 0 || rng.chance(1, 2);
    if leaf {
        *budget = budget.saturating_sub(1);
        if rng.chance(1, 10) {
            return if rng.chance(1, 2) { "1" } else { "0" }.into();
        }
        let (field, ty) = if !args.is_empty() && rng.chance(4, 5) {
            let a = rng.pick(args);
            (a.name.to_string(), a.ty)
        } else {
            let n = rng.below(6);
            let ty = args.get(n as usize).map_or(ArgType::U64, |a| a.ty);
            (format!("arg{n}"), ty)
        };
        let op = *rng.pick(&["==", "!=", "<", "<=", ">", ">=", "&", "in"]);
        return format!("{field} {op} {}", gen_value(rng, arch, ty));
    }
    match rng.below(4) {
        0 => format!("({})", gen_expr(rng, arch, args, depth + 1, budget)),
        1 => format!("!{}", gen_expr(rng, arch, args, depth + 1, budget)),
        2 => format!(
            "{} && {}",
            gen_expr(rng, arch, args, depth + 1, budget),
            gen_expr(rng, arch, args, depth + 1, budget)
        ),
        _ => format!(
            "{} || {}",
            gen_expr(rng, arch, args, depth + 1, budget),
            gen_expr(rng, arch, args, depth + 1, budget)
        ),
    }
}

/// A policy in the language (most compile; some hit limits).
/// `big_one_in`: one policy in that many is a layer near the compiled-size
/// limit.
pub(super) fn gen_policy(rng: &mut Rng, arch: &Arch, big_one_in: u64) -> Vec<u8> {
    let mut s = String::new();
    if rng.chance(1, 4) {
        s.push_str("# generated\n");
    }
    let default = match rng.below(6) {
        0 => String::new(),
        1 => "default kill\n".into(),
        2 => "default log\n".into(),
        3 => format!("default errno {}\n", 1 + rng.below(150)),
        _ => format!(
            "default errno {}\n",
            rng.pick(&["EPERM", "ENOENT", "EACCES", "EINVAL", "ENOSYS", "EBADF"])
        ),
    };
    let default_first = rng.chance(3, 4);
    if default_first {
        s.push_str(&default);
    }
    // Let the worker go on installing (and reading back) most of the time.
    match rng.below(20) {
        0..=15 => s.push_str("prctl: 1\n"),
        16 | 17 => {
            let _ = writeln!(
                s,
                "prctl: option == {PR_SECCOMP_SET:#x} || option == {PR_SECCOMP_GET:#x}"
            );
        }
        18 => s.push_str("sys_prctl: option >= 0x53425800 && arg4 == 0\n"),
        _ => {}
    }
    if rng.chance(1, 2) {
        s.push_str("exit_group: 1\n");
    }
    // Now and then a layer near the compiled-size limit
    // (MAX_PROGRAM_PREDICATES compiled predicates),
    // so that some chains reach MAX_CHAIN_PREDICATES (ENOSPC).
    let big = rng.chance(1, big_one_in);
    let rules = if big { 1 } else { rng.below(10) };
    for _ in 0..rules {
        let name = if rng.chance(7, 8) {
            *rng.pick(POLICY_SYSCALLS)
        } else {
            rng.pick(arch.syscalls).name
        };
        let Some(sys) = arch.syscall(name) else {
            continue;
        };
        if sys.nr as usize >= strbox_filter::limits::MAX_NR {
            continue;
        }
        let expr = if big {
            // Long OR chains: hundreds of compiled predicates per layer.
            let k = 600 + rng.below(500);
            let field = sys.args.first().map_or("arg0", |a| a.name);
            let terms: Vec<String> = (0..k).map(|i| format!("{field} == {}", i + 1000)).collect();
            terms.join(" || ")
        } else {
            let mut budget = 12;
            gen_expr(rng, arch, sys.args, 0, &mut budget)
        };
        let prefix = if rng.chance(1, 8) { "sys_" } else { "" };
        let sep = *rng.pick(&[": ", ":", " :\t", ":  "]);
        let _ = write!(s, "{prefix}{}{sep}{expr}", sys.name);
        if rng.chance(1, 8) {
            s.push_str("  # note");
        }
        s.push(if rng.chance(1, 16) { '\r' } else { ' ' });
        s.push('\n');
    }
    if !default_first {
        s.push_str(&default);
    }
    s.into_bytes()
}

/// Hostile texts: sizes at the limit, nesting, odd bytes, long tokens.
pub(super) fn gen_hostile(rng: &mut Rng, dict: &[Vec<u8>]) -> Vec<u8> {
    let max = MAX_POLICY_BYTES;
    // Texts at the size limit: an eighth of the hostile inputs (each is a
    // 64 KiB copy and compile in the kernel and in the model).
    if rng.chance(1, 8) {
        let size = *rng.pick(&[max - 1, max, max + 1, max - 2, max + 2]);
        return match rng.below(6) {
            0 => {
                // One comment line of exactly `size` bytes.
                let mut v = vec![b'#'; size];
                if rng.chance(1, 2) {
                    v[size - 1] = b'\n';
                }
                v
            }
            1 => vec![*rng.pick(b"\n "); size],
            2 => {
                // Valid rules repeated up to `size` (too many rules).
                let rules: [&[u8]; 3] = [b"getpid: 1\n", b"read: fd == 0\n", b"#\n"];
                let rule = *rng.pick(&rules);
                let mut v = Vec::with_capacity(size);
                while v.len() + rule.len() <= size {
                    v.extend_from_slice(rule);
                }
                v.resize(size, b' ');
                v
            }
            3 => {
                // A valid policy padded with a comment to an exact size.
                let mut v = b"default errno EPERM\nprctl: 1\n#".to_vec();
                v.resize(size, b'x');
                v
            }
            4 => {
                // One long line of valid tokens, no newline.
                let mut s = String::from("read: fd == 0");
                while s.len() < size {
                    s.push_str(" || fd == 1");
                }
                s.truncate(size);
                s.into_bytes()
            }
            _ => (0..size).map(|_| rng.bits() as u8).collect(),
        };
    }
    // Mostly short, sometimes very long.
    let long = |rng: &mut Rng| -> usize {
        if rng.chance(1, 16) {
            rng.range(4096, 70_000) as usize
        } else {
            *rng.pick(&[20usize, 64, 100, 255, 256, 1000])
        }
    };
    match rng.below(12) {
        0 => {
            // Deep parentheses around the limit, balanced or not.
            let d = *rng.pick(&[31usize, 32, 33, 34, 64, 1000, 20000]);
            let close = if rng.chance(3, 4) { d } else { d - 1 };
            format!("read: {}fd == 0{}\n", "(".repeat(d), ")".repeat(close)).into_bytes()
        }
        1 => {
            // `!` chains, with and without parentheses.
            let d = long(rng);
            let unit = *rng.pick(&["!", "!(", " ! "]);
            let closers = if unit == "!(" {
                ")".repeat(d)
            } else {
                String::new()
            };
            format!("getppid: {}arg0 == 1{closers}\n", unit.repeat(d)).into_bytes()
        }
        2 => {
            // A very long identifier in each position.
            let id = "a".repeat(long(rng));
            match rng.below(4) {
                0 => format!("{id}: 1\n"),
                1 => format!("read: {id} == 1\n"),
                2 => format!("default errno {id}\n"),
                _ => format!("read: fd == {id}\n"),
            }
            .into_bytes()
        }
        3 => {
            // A very long number.
            let n: String = (0..long(rng))
                .map(|_| (b'0' + rng.below(10) as u8) as char)
                .collect();
            match rng.below(4) {
                0 => format!("read: fd == {n}\n"),
                1 => format!("default errno {n}\n"),
                2 => format!("read: fd == -{n}\n"),
                _ => format!("read: fd == 0x{n}\n"),
            }
            .into_bytes()
        }
        4 => {
            // NUL bytes in a valid policy.
            let mut v = b"default errno EPERM\nread: fd == 0\nwrite: fd == 1\n".to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.index(v.len() + 1);
                v.insert(at, 0);
            }
            v
        }
        5 => {
            // Non-UTF-8 bytes.
            let mut v = b"read: fd == 0 # comment \xc3\xa9\n".to_vec();
            let bads: [&[u8]; 5] = [
                b"\xff",
                b"\xc0\xaf",
                b"\xed\xa0\x80",
                b"\x80",
                b"\xf4\x90\x80\x80",
            ];
            let bad = *rng.pick(&bads);
            let at = rng.index(v.len() + 1);
            v.splice(at..at, bad.iter().copied());
            v
        }
        6 => {
            // Predicates in one rule around MAX_PREDICATES (and the
            // compiled limit, MAX_PROGRAM_PREDICATES).
            let k = *rng.pick(&[1023usize, 1024, 1025, 2047, 2048, 2049]);
            let terms: Vec<String> = (0..k).map(|i| format!("arg0 == {i}")).collect();
            format!("getppid: {}\n", terms.join(" || ")).into_bytes()
        }
        7 => {
            // Rules around MAX_RULES.
            let k = *rng.pick(&[1023usize, 1024, 1025]);
            let mut s = String::new();
            for i in 0..k {
                let _ = writeln!(s, "getppid: arg0 == {i}");
            }
            s.into_bytes()
        }
        8 => {
            let n = *rng.pick(&[1usize, 7, 100, 4096]);
            (0..n).map(|_| rng.bits() as u8).collect()
        }
        9 => {
            // Dictionary soup.
            let mut v = Vec::new();
            for _ in 0..rng.range(1, 200) {
                if let Some(t) = dict.get(rng.index(dict.len().max(1))) {
                    v.extend_from_slice(t);
                }
                if rng.chance(1, 3) {
                    v.push(b' ');
                }
            }
            v
        }
        10 => Vec::new(),
        _ => {
            // A value out of its type's range, a huge errno, a bad escape.
            let cases: [&[u8]; 6] = [
                b"read: fd == 4294967296\n",
                b"read: fd == -2147483649\n",
                b"default errno 4096\n",
                b"default errno 0\n",
                b"read: count == -9223372036854775809\n",
                b"read: fd == \"x\"\n",
            ];
            rng.pick(&cases).to_vec()
        }
    }
}
