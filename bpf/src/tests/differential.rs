//! Generated filters give the engine's verdicts: each filter runs in the
//! interpreter (which applies the kernel's validity checks) beside
//! `strbox_filter`'s evaluator, as `kmod/syscall_entry.rs` uses it, for
//! every syscall number of both architectures, numbers beyond the tables,
//! negative numbers, x32 numbers and the other ABI's `arch`, with argument
//! vectors at the policies' constants and the types' edges and garbage in
//! the upper register halves; for fixed policies, random ones, and stacks
//! of layers installed as stacks of filters. It also checks that the
//! kernel's action cache admits exactly the syscalls a layer allows
//! outright.

use strbox_filter::limits::MAX_NR;
use strbox_filter::{compile, evaluate_chain, Program, Scratch, Verdict};
use strbox_uapi::abi::X32_SYSCALL_BIT;
use strbox_uapi::tables::{Arch, ArgType, ARCHES};

use crate::check::{const_allow, run, Data};
use crate::generate::{generate, ret_of, Error, Layout};
use crate::insn::Insn;

/// `AUDIT_ARCH_I386` and `AUDIT_ARCH_ARM`: the compat ABIs' `arch`.
const COMPAT_ARCHES: [u32; 2] = [0x4000_0003, 0x4000_0028];

/// Narrow (`umode_t`) and signed (`pid_t`, `off_t`, `int fd`) orderings,
/// `in`/`&` on 64-bit values, negative constants, `!`, `argN`, several
/// rules per syscall, actions.
const EDGES: &str = "\
default errno EACCES
kill:   pid < 0 || pid >= 100 && sig <= 9
kill:   sig == -1
fchmod: mode in 0755 || mode > 0x8000 || mode == -1
lseek:  offset < -5 || offset >= 0x100000000 && whence != 1
lseek:  !(offset <= 7) && !(offset > 0x7ffffffffffffffc)
accept: fd >= -3 && fd <= 2
mmap:   addr & 0xffff000000000000 || !(len <= 4096) && prot in 0x7
munmap: arg5 == 7 || arg1 != 0xffffffff00000000
getppid: 1
read:   0
write:  1
write:  fd == 1
";

/// Language v2: actions per rule, a deny-list, log.
const ACTIONS: &str = "\
default allow
ptrace: 1 => kill
openat: flags & 0100 => errno EROFS
openat: flags & 01000 => log
kill:   sig == 9 => errno EPERM
kill:   pid == 1 => kill
write:  fd > 2 && count > 4096 => errno ENOSPC
";

const INGO: &str = "\
default errno EPERM
read:          fd == 0
write:         fd == 1
rt_sigreturn:  1
gettimeofday:  tz == NULL
exit_group:    1
";

const LOGGING: &str = "\
default log
read: fd == 0
close: 1 => kill
dup: fildes < 3 => errno 99
";

fn compile_for(text: &str, arch: &'static Arch) -> Result<Box<Program>, strbox_filter::Error> {
    let mut scratch = Box::new(Scratch::new());
    let mut prog = Box::new(Program::new());
    compile(text.as_bytes(), arch, &mut scratch, &mut prog)?;
    Ok(prog)
}

/// What the module decides for a chain (oldest layer first), as
/// `kmod/syscall_entry.rs` does: negative numbers are not judged; another
/// ABI gets the compat verdicts; a native call is evaluated.
fn strbox_verdict(layers: &[&Program], arch: &Arch, d: &Data) -> Verdict {
    if d.nr < 0 {
        return Verdict::Allow;
    }
    let x32 = arch.name == "x86_64" && d.nr as u32 & X32_SYSCALL_BIT != 0;
    if d.arch != arch.audit_arch || x32 {
        return layers
            .iter()
            .rev()
            .fold(Verdict::Allow, |acc, l| l.compat_verdict().combine(acc));
    }
    evaluate_chain(layers.iter().rev().copied(), d.nr as u32, &d.args)
}

/// What the kernel returns for a stack of filters (oldest first):
/// `seccomp_run_filters` takes the lowest action (as `s32`), the newest
/// filter's on a tie.
fn seccomp_ret(filters: &[Vec<Insn>], d: &Data) -> u32 {
    let mut ret = crate::insn::RET_ALLOW;
    for f in filters.iter().rev() {
        let cur = run(f, d).expect("valid filter");
        let action = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
        if action(cur) < action(ret) {
            ret = cur;
        }
    }
    ret
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

/// Interesting register values: the types' edges, and around each
/// constant (sign-extended from 8, 16 and 32 bits, with garbage upper
/// halves).
fn candidates(constants: &[u64]) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        3,
        u64::MAX,
        1 << 31,
        (1 << 31) - 1,
        1 << 32,
        u64::from(u32::MAX),
        1 << 63,
        (1 << 63) - 1,
        0xdead_beef_0000_0000,
        0x80,
        0x7f,
        0xff,
        0x8000,
        0xffff,
        0x1_0000,
    ];
    for &c in constants {
        for d in [c, c.wrapping_add(1), c.wrapping_sub(1), !c, c ^ (1 << 31)] {
            v.push(d);
            v.push(d | 0xffff_ffff_0000_0000);
            v.push(d | 0x1234_5678_0000_0000);
            v.push(d as u32 as i32 as i64 as u64);
            v.push(d as u16 as i16 as i64 as u64);
            v.push(d as u8 as i8 as i64 as u64);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// The numbers to try on `arch`: every syscall of its table, every number
/// of the dispatch table and beyond it, x32 and negative numbers.
fn numbers(arch: &Arch) -> Vec<i32> {
    let mut nrs: Vec<i32> = (0..MAX_NR as i32 + 8).collect();
    nrs.extend(arch.syscalls.iter().map(|s| s.nr as i32));
    nrs.extend([
        1000,
        0x3fff_ffff,
        X32_SYSCALL_BIT as i32,
        X32_SYSCALL_BIT as i32 | 39,
        X32_SYSCALL_BIT as i32 | 110,
        0x7fff_ffff,
        -1,
        i32::MIN,
    ]);
    nrs.sort_unstable();
    nrs.dedup();
    nrs
}

/// Checks a stack of layers (oldest first) on `arch` in both layouts:
/// returns the number of calls compared.
fn check_stack(
    name: &str,
    layers: &[&Program],
    constants: &[u64],
    arch: &Arch,
    seed: u64,
) -> usize {
    let cands = candidates(constants);
    let mut rng = Rng(seed);
    let mut runs = 0;
    for layout in [Layout::Tree, Layout::Linear] {
        let filters: Vec<Vec<Insn>> = layers
            .iter()
            .map(|p| generate(p, arch, layout).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        for nr in numbers(arch) {
            if (0..MAX_NR as i32).contains(&nr) && layers.len() == 1 {
                // The action cache admits exactly what the layer allows
                // outright (the module's one-bit test).
                assert_eq!(
                    const_allow(&filters[0], nr, arch.audit_arch),
                    layers[0].constant_verdict(nr as u32) == Some(Verdict::Allow),
                    "{name}/{}/{layout:?}: cache verdict of nr {nr}",
                    arch.name
                );
            }
            let has_args = nr >= 0
                && layers
                    .iter()
                    .any(|p| p.constant_verdict(nr as u32).is_none());
            let tries = if has_args { 1000 } else { 2 };
            for t in 0..tries {
                let mut args = [0u64; 6];
                for a in &mut args {
                    *a = if t == 0 { 0 } else { rng.pick(&cands) };
                }
                let archs = [arch.audit_arch, COMPAT_ARCHES[0], COMPAT_ARCHES[1]];
                let d = Data {
                    nr,
                    arch: if t % 7 == 1 {
                        archs[1 + t % 2]
                    } else {
                        archs[0]
                    },
                    args,
                };
                let want = ret_of(strbox_verdict(layers, arch, &d));
                let got = seccomp_ret(&filters, &d);
                assert_eq!(
                    got, want,
                    "{name}/{}/{layout:?}: nr {nr} arch {:#x} args {args:#x?}",
                    arch.name, d.arch
                );
                runs += 1;
            }
        }
    }
    runs
}

/// The constants a policy text compares with (every number in it).
fn text_constants(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for w in text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-') {
        let (neg, w) = match w.strip_prefix('-') {
            Some(w) => (true, w),
            None => (false, w),
        };
        let v = if let Some(h) = w.strip_prefix("0x") {
            u64::from_str_radix(h, 16).ok()
        } else if w.len() > 1 && w.starts_with('0') {
            u64::from_str_radix(&w[1..], 8).ok()
        } else {
            w.parse().ok()
        };
        if let Some(v) = v {
            out.push(if neg { v.wrapping_neg() } else { v });
        }
    }
    out
}

#[test]
fn fixed_policies_agree_on_both_arches() {
    for arch in ARCHES {
        let mut n = 0;
        for (name, text) in [
            ("edges", EDGES),
            ("actions", ACTIONS),
            ("ingo", INGO),
            ("logging", LOGGING),
        ] {
            let p = compile_for(text, arch).unwrap_or_else(|e| panic!("{name}: {e}"));
            n += check_stack(name, &[&p], &text_constants(text), arch, 1);
        }
        assert!(n > 30_000, "{}: only {n} calls", arch.name);
    }
}

#[test]
fn stacks_combine_like_the_chain() {
    for arch in ARCHES {
        let ps: Vec<Box<Program>> = [EDGES, ACTIONS, INGO, LOGGING]
            .iter()
            .map(|t| compile_for(t, arch).unwrap())
            .collect();
        let all: String = [EDGES, ACTIONS, INGO, LOGGING].concat();
        let consts = text_constants(&all);
        let n = check_stack("edges+actions", &[&ps[0], &ps[1]], &consts, arch, 2)
            + check_stack(
                "actions+ingo+logging",
                &[&ps[1], &ps[2], &ps[3]],
                &consts,
                arch,
                3,
            )
            + check_stack("logging+edges", &[&ps[3], &ps[0]], &consts, arch, 4);
        assert!(n > 10_000, "{}: only {n} calls", arch.name);
    }
}

/// A random integer rule for `sys`, with the constants it uses.
fn random_rule(rng: &mut Rng, sys: &strbox_uapi::tables::Syscall, out: &mut Vec<u64>) -> String {
    let terms = 1 + rng.below(3);
    let mut s = String::new();
    for i in 0..terms {
        if i > 0 {
            s.push_str(rng.pick(&[" && ", " || "]));
        }
        let a = rng.below(sys.args.len());
        let arg = sys.args[a];
        let (w, signed) = arg.ty.width_signed();
        let edges: Vec<i128> = vec![
            0,
            1,
            -1,
            (1i128 << (w - 1)) - 1,
            if signed {
                -(1i128 << (w - 1))
            } else {
                (1i128 << w) - 1
            },
            i128::from(rng.below(300) as u32),
            i128::from(rng.next() as u32) & ((1i128 << w.min(32)) - 1),
        ];
        let v = rng.pick(&edges);
        // `in` and `&` take masks: keep them non-negative
        let op = if arg.ty == ArgType::Ptr {
            rng.pick(&["==", "!="])
        } else {
            rng.pick(&["==", "!=", "<", "<=", ">", ">=", "&", "in"])
        };
        let v = if matches!(op, "&" | "in") { v.abs() } else { v };
        out.push(v as u64);
        let neg = if rng.below(5) == 0 { "!" } else { "" };
        let value = if v < 0 {
            format!("{v}")
        } else {
            format!("{v:#x}")
        };
        if neg.is_empty() {
            s.push_str(&format!("{} {op} {value}", arg.name));
        } else {
            s.push_str(&format!("!({} {op} {value})", arg.name));
        }
    }
    s
}

/// Random policies (random syscalls with arguments, rules, actions and
/// defaults) on both arches: whatever compiles translates and agrees.
#[test]
fn random_policies_agree() {
    let cases: u64 = std::env::var("STRBOX_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for arch in ARCHES {
        let with_args: Vec<_> = arch
            .syscalls
            .iter()
            .filter(|s| !s.args.is_empty() && (s.nr as usize) < MAX_NR)
            .collect();
        let mut rng = Rng(0x5eed_b9f0 ^ u64::from(arch.audit_arch));
        let mut compiled = 0;
        for case in 0..cases {
            let mut text = String::from(rng.pick(&[
                "default kill\n",
                "default errno EPERM\n",
                "default log\n",
                "default allow\n",
                "",
            ]));
            let mut consts = Vec::new();
            for _ in 0..1 + rng.below(6) {
                let sys = rng.pick(&with_args);
                let rule = random_rule(&mut rng, sys, &mut consts);
                let action = rng.pick(&[
                    "",
                    "",
                    " => kill",
                    " => log",
                    " => errno EPERM",
                    " => errno 77",
                ]);
                text.push_str(&format!("{}: {rule}{action}\n", sys.name));
            }
            let p = match compile_for(&text, arch) {
                Ok(p) => p,
                Err(e) => panic!("case {case}: {e}\n{text}"),
            };
            compiled += 1;
            check_stack(
                &format!("random {case}:\n{text}"),
                &[&p],
                &consts,
                arch,
                case,
            );
        }
        assert_eq!(compiled, cases);
    }
}

#[test]
fn event_rules_are_refused_with_a_clear_error() {
    let arch = ARCHES[0];
    let p = compile_for(
        "read: 1\nexec: path == \"/bin/sh\"\nfile_open: path ~ \"/etc/*\"\n",
        arch,
    )
    .unwrap();
    let e = generate(&p, arch, Layout::Tree).unwrap_err();
    assert_eq!(e, Error::EventRules(vec!["file_open", "exec"]));
    let msg = e.to_string();
    assert!(
        msg.contains("file_open, exec") && msg.contains("strbox module"),
        "{msg}"
    );
    // An event-only layer too: seccomp cannot judge its events.
    let p = compile_for("socket_connect: port == 53\n", arch).unwrap();
    assert!(matches!(
        generate(&p, arch, Layout::Tree),
        Err(Error::EventRules(_))
    ));
}

/// The largest policies: a filter over `BPF_MAXINSNS` is refused with its
/// size, and one that fits is valid however far its jumps go.
#[test]
fn size_limit() {
    let arch = ARCHES[0];
    // 64-bit comparisons (`arg5` of syscalls with fewer arguments is an
    // undeclared register, compared as 64 bits) on many syscalls: long
    // jumps, many instructions.
    let mut text = String::from("default errno EPERM\n");
    let mut names = arch
        .syscalls
        .iter()
        .filter(|s| s.args.len() < 6 && (s.nr as usize) < MAX_NR);
    for _ in 0..40 {
        let s = names
            .next()
            .expect("enough syscalls with fewer than 6 arguments");
        text.push_str(&format!(
            "{}: arg5 == 0x100000001 || arg5 > 0x7fffffff00000000 && arg5 != 0x123456789\n",
            s.name
        ));
    }
    let p = compile_for(&text, arch).unwrap();
    let f = generate(&p, arch, Layout::Tree).unwrap();
    assert!(f.len() > 300, "{} instructions", f.len());
    crate::check::validate(&f).unwrap();
    // 1024 predicates of 64-bit orderings are beyond any seccomp filter.
    let mut big = String::from("default errno EPERM\n");
    for s in arch
        .syscalls
        .iter()
        .filter(|s| s.args.len() < 5 && (s.nr as usize) < MAX_NR)
        .take(128)
    {
        let rule: Vec<String> = (0..8)
            .map(|i| format!("arg{} > {}", 4 + i % 2, 0x1_0000_0000u64 + i))
            .collect();
        big.push_str(&format!("{}: {}\n", s.name, rule.join(" || ")));
    }
    let p = compile_for(&big, arch).unwrap();
    match generate(&p, arch, Layout::Tree) {
        Err(Error::TooLong(n)) => assert!(n > 4096, "{n}"),
        other => panic!("{:?}", other.map(|f| f.len())),
    }
}

/// The dispatch is a search, not a scan: an unlisted syscall of a
/// 300-syscall allowlist is decided in a few jumps by the tree and by
/// walking every rule in the linear layout.
#[test]
fn tree_search_is_logarithmic() {
    let arch = ARCHES[0];
    let mut text = String::from("default errno EPERM\nread: fd == 0\nwrite: fd == 1\n");
    let mut names: Vec<_> = arch
        .syscalls
        .iter()
        .filter(|s| s.name != "getsid")
        .collect();
    names.sort_by_key(|s| s.nr);
    for s in names.iter().take(300) {
        text.push_str(&format!("{}: 1\n", s.name));
    }
    let p = compile_for(&text, arch).unwrap();
    let steps = |f: &[Insn], nr: u32| {
        // instructions run up to the RET, counted by running prefixes
        let d = Data {
            nr: nr as i32,
            arch: arch.audit_arch,
            args: [0; 6],
        };
        let mut pc = 0usize;
        let mut n = 0;
        loop {
            let i = f[pc];
            n += 1;
            if i.code == crate::insn::RET_K {
                return n;
            }
            let a = |k: u32| {
                if k == crate::insn::OFF_ARCH {
                    d.arch
                } else {
                    d.nr as u32
                }
            };
            pc += 1 + match i.code {
                crate::insn::JEQ | crate::insn::JGE | crate::insn::JGT | crate::insn::JSET => {
                    let x = if pc <= 1 {
                        a(crate::insn::OFF_ARCH)
                    } else {
                        a(crate::insn::OFF_NR)
                    };
                    let taken = match i.code {
                        crate::insn::JEQ => x == i.k,
                        crate::insn::JGE => x >= i.k,
                        crate::insn::JGT => x > i.k,
                        _ => x & i.k != 0,
                    };
                    usize::from(if taken { i.jt } else { i.jf })
                }
                crate::insn::JA => i.k as usize,
                _ => 0,
            };
        }
    };
    let getsid = arch.syscall("getsid").unwrap().nr;
    let tree = steps(&generate(&p, arch, Layout::Tree).unwrap(), getsid);
    let linear = steps(&generate(&p, arch, Layout::Linear).unwrap(), getsid);
    assert!(tree <= 16, "tree: {tree} steps");
    assert!(linear > 100, "linear: {linear} steps");
}

/// The shape, pinned: a small policy's filter instruction by instruction
/// (merged ranges, a verdict's `ret` in place in the leaves, a 32-bit
/// argument loaded without a mask, a 64-bit ordering on both halves, one
/// shared `ret` per action, the compat path).
#[test]
fn a_small_filter_is_exactly_this() {
    let arch = &strbox_uapi::tables::X86_64;
    let p = compile_for(
        "default errno EPERM\nread: fd == 0 || count > 0x100000000\nuname: 1 => kill\n",
        arch,
    )
    .unwrap();
    let f = generate(&p, arch, Layout::Tree).unwrap();
    let want = "   0: ld  [arch]
   1: jeq #0xc000003e    jt 2    jf 18
   2: ld  [nr]
   3: jge #0x3f          jt 6    jf 4
   4: jge #0x1           jt 5    jf 11
   5: ret ERRNO(1)
   6: jge #0x40          jt 8    jf 7
   7: ret KILL_PROCESS
   8: jge #0x80000000    jt 10   jf 9
   9: ret ERRNO(1)
  10: ret ALLOW
  11: ld  [args[0].lo]
  12: jeq #0x0           jt 22   jf 13
  13: ld  [args[2].hi]
  14: jgt #0x1           jt 22   jf 15
  15: jeq #0x1           jt 16   jf 21
  16: ld  [args[2].lo]
  17: jgt #0x0           jt 22   jf 21
  18: ld  [nr]
  19: jge #0x80000000    jt 22   jf 20
  20: ret ERRNO(1)
  21: ret ERRNO(1)
  22: ret ALLOW
";
    assert_eq!(crate::install::listing(&f), want);
    // Linear: one `jeq` per syscall with rules, then the number ranges.
    let l = generate(&p, arch, Layout::Linear).unwrap();
    let text = crate::install::listing(&l);
    assert!(
        text.starts_with("   0: ld  [arch]\n   1: jeq #0xc000003e    jt 2    jf "),
        "{text}"
    );
    assert!(text.contains("   3: jeq #0x0           jt "), "{text}");
    assert!(text.contains("   4: jeq #0x3f          jt "), "{text}");
    assert!(text.contains("   5: jge #0x80000000    jt "), "{text}");
    assert!(text.contains("   6: jge #0x40000000    jt "), "{text}");
}
