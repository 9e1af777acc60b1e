//! Property tests with a seeded generator (no dependencies):
//!
//! * the compiled evaluator agrees with the reference interpreter on random
//!   policies and random arguments;
//! * printing is a fixed point: `compile(print(p)) == p`;
//! * random mutations of valid policies never make the engine panic, and
//!   whatever compiles also round-trips.
//!
//! `STRBOX_PROPTEST_CASES` (default 1500) and `STRBOX_PROPTEST_SEED` tune it.

use std::boxed::Box;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::reference::{as_type, is_signed, ty_of, width, Default, Expr, Op, Policy};
use super::*;
use crate::uapi::tables::{Arch, ArgType, Syscall};

/// splitmix64
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The range of values a field of type `ty` accepts: `-2^(w-1) ..= 2^w-1`.
fn range(ty: ArgType) -> (i128, i128) {
    let w = width(ty);
    (-(1i128 << (w - 1)), (1i128 << w) - 1)
}

/// Spells a value in a random notation.
fn spell(rng: &mut Rng, v: i128) -> String {
    if v < 0 {
        return format!("-{}", -v);
    }
    match rng.below(4) {
        0 => format!("{v:#x}"),
        1 if v != 0 => format!("0{v:o}"),
        _ => format!("{v}"),
    }
}

/// A random value for `ty`, with its spelling.
fn gen_value(rng: &mut Rng, arch: &Arch, ty: ArgType) -> (i128, String) {
    let (lo, hi) = range(ty);
    let w = width(ty);
    let signed_min = -(1i128 << (w - 1));
    let signed_max = (1i128 << (w - 1)) - 1;
    match rng.below(10) {
        0 => {
            // a named constant that fits, possibly OR'ed with another
            let fits: Vec<_> = arch
                .constants
                .iter()
                .filter(|c| i128::from(c.value) >= lo && i128::from(c.value) <= hi && c.value >= 0)
                .collect();
            if fits.is_empty() {
                return (0, String::from("0"));
            }
            let a = *rng.pick(&fits);
            if rng.chance(40) {
                let b = *rng.pick(&fits);
                let v = i128::from(a.value | b.value);
                if v <= hi {
                    return (v, format!("{}|{}", a.name, b.name));
                }
            }
            (i128::from(a.value), String::from(a.name))
        }
        1 if ty == ArgType::Ptr => (0, String::from("NULL")),
        1 => (0, String::from("0")),
        2 => {
            let v = *rng.pick(&[lo, hi, signed_min, signed_max, -1, 0, 1, signed_max + 1]);
            let v = v.clamp(lo, hi);
            (v, spell(rng, v))
        }
        3 => {
            let v = rng.below(17) as i128 - 8;
            (v, spell(rng, v))
        }
        4 => {
            // a mask of two numbers
            let a = (rng.next() as i128) & ((1i128 << w) - 1) & 0xff;
            let b = 1i128 << rng.below(w as usize);
            let v = a | b;
            (v, format!("{} | {}", spell(rng, a), spell(rng, b)))
        }
        _ => {
            // anything in range
            let span = (hi - lo + 1) as u128;
            let r = ((u128::from(rng.next()) << 64) | u128::from(rng.next())) % span;
            let v = lo + r as i128;
            (v, spell(rng, v))
        }
    }
}

fn gen_expr(rng: &mut Rng, arch: &Arch, sys: &Syscall, depth: u32) -> Expr {
    let leaf = depth == 0 || rng.chance(35);
    if leaf {
        if rng.chance(6) {
            return Expr::Lit(rng.chance(50));
        }
        let arg = if sys.args.is_empty() || rng.chance(10) {
            rng.below(6)
        } else {
            rng.below(sys.args.len())
        };
        let field = match sys.args.get(arg) {
            Some(a) if rng.chance(85) => String::from(a.name),
            _ => format!("arg{arg}"),
        };
        // Declared names win over positional `argN` (prctl declares its
        // second argument as `arg2`): resolve as the language does.
        let arg = sys.args.iter().position(|a| a.name == field).unwrap_or(arg);
        let op = *rng.pick(&Op::ALL);
        let (value, text) = gen_value(rng, arch, ty_of(sys, arg));
        return Expr::Cmp {
            arg,
            field,
            op,
            value,
            text,
        };
    }
    if rng.chance(15) && !sys.args.is_empty() {
        return gen_set(rng, arch, sys);
    }
    match rng.below(5) {
        0 => Expr::Not(Box::new(gen_expr(rng, arch, sys, depth - 1))),
        1 | 2 => Expr::And(
            Box::new(gen_expr(rng, arch, sys, depth - 1)),
            Box::new(gen_expr(rng, arch, sys, depth - 1)),
        ),
        _ => Expr::Or(
            Box::new(gen_expr(rng, arch, sys, depth - 1)),
            Box::new(gen_expr(rng, arch, sys, depth - 1)),
        ),
    }
}

/// "Equals one of": `f == a || f == b || ...` over 2 to 12 values of one
/// argument (close together, so registers near them hit and miss; with
/// repeats), sometimes with a comparison of another operator or argument
/// in the middle, which ends the compiled run of `==`s there.
fn gen_set(rng: &mut Rng, arch: &Arch, sys: &Syscall) -> Expr {
    let arg = rng.below(sys.args.len());
    let ty = ty_of(sys, arg);
    let (base, _) = gen_value(rng, arch, ty);
    let (lo, hi) = range(ty);
    let n = 2 + rng.below(11);
    let mut terms: Vec<Expr> = (0..n)
        .map(|_| {
            let v = (base + rng.below(9) as i128 - 4).clamp(lo, hi);
            Expr::Cmp {
                arg,
                field: String::from(sys.args[arg].name),
                op: Op::Eq,
                value: v,
                text: spell(rng, v),
            }
        })
        .collect();
    if rng.chance(30) {
        let at = rng.below(terms.len());
        terms.insert(at, gen_expr(rng, arch, sys, 0));
    }
    let mut e = terms.pop().expect("n >= 2");
    while let Some(t) = terms.pop() {
        e = Expr::Or(Box::new(t), Box::new(e));
    }
    e
}

/// A random policy over `syscalls` (a subset of the arch's).
pub(crate) fn gen_policy(rng: &mut Rng, arch: &Arch, syscalls: &[&'static Syscall]) -> Policy {
    let default = match rng.below(4) {
        0 => Default::Unset,
        1 => Default::Kill,
        2 => Default::Log,
        _ => Default::Errno(if rng.chance(50) {
            1
        } else {
            1 + rng.below(4095) as u16
        }),
    };
    let n = rng.below(8);
    let mut rules = Vec::new();
    for _ in 0..n {
        let sys = *rng.pick(syscalls);
        let name = if rng.chance(20) {
            format!("sys_{}", sys.name)
        } else {
            String::from(sys.name)
        };
        let depth = rng.below(5) as u32;
        rules.push((name, sys, gen_expr(rng, arch, sys, depth)));
    }
    let actions = std::vec![Verdict::Allow; rules.len()];
    Policy {
        default,
        rules,
        actions,
    }
}

/// A random policy of language v2: [`gen_policy`]'s, then per rule an
/// action (allow, kill, log or one of a few errnos, so that errnos tie),
/// some rules made the constant `1`, and sometimes `default allow`.
pub(crate) fn gen_policy_v2(rng: &mut Rng, arch: &Arch, syscalls: &[&'static Syscall]) -> Policy {
    let mut p = gen_policy(rng, arch, syscalls);
    if rng.chance(30) {
        p.default = Default::Allow;
    }
    for (rule, action) in p.rules.iter_mut().zip(p.actions.iter_mut()) {
        *action = match rng.below(6) {
            0 | 1 => Verdict::Allow,
            2 => Verdict::Kill,
            3 => Verdict::Log,
            _ => Verdict::Errno(*rng.pick(&[1u16, 13, 30, 4095, 77])),
        };
        if rng.chance(10) {
            rule.2 = Expr::Lit(true);
        }
    }
    p
}

/// Random registers aimed at the policy's values and the types' edges.
pub(crate) fn gen_args(rng: &mut Rng, sys: &Syscall, values: &[(usize, i128)]) -> [u64; 6] {
    let mut a = [0u64; 6];
    for (i, slot) in a.iter_mut().enumerate() {
        let ty = ty_of(sys, i);
        let w = width(ty);
        let garbage = if w < 64 && rng.chance(30) {
            rng.next() << w
        } else {
            0
        };
        let low: u64 = match rng.below(6) {
            0 => 0,
            1 => rng.next(),
            2 => {
                let near: Vec<i128> = values
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, v)| *v)
                    .collect();
                if near.is_empty() {
                    rng.next()
                } else {
                    let v = *rng.pick(&near) + (rng.below(3) as i128 - 1);
                    v as u64
                }
            }
            3 => *rng.pick(&[
                1u64 << (w - 1),
                (1u64 << (w - 1)).wrapping_sub(1),
                u64::MAX,
                1,
                2,
                3,
            ]),
            4 => rng.next() & 0xff,
            _ => rng.next() >> rng.below(64),
        };
        let low = if w < 64 { low & ((1u64 << w) - 1) } else { low };
        *slot = low | garbage;
    }
    a
}

/// Runs the differential and round-trip checks for `cases` random
/// policies on `arch`.
pub(crate) fn differential(
    arch: &'static Arch,
    seed: u64,
    cases: u64,
    v2: bool,
) -> (u64, u64, u64) {
    let syscalls: Vec<&'static Syscall> = arch
        .syscalls
        .iter()
        .filter(|s| (s.nr as usize) < crate::limits::MAX_NR)
        .collect();
    let mut rng = Rng::new(seed);
    let mut scratch = Box::new(crate::Scratch::new());
    let mut prog = Box::new(Program::new());
    let mut prog2 = Box::new(Program::new());
    let mut evaluations = 0u64;
    let mut compiled = 0u64;
    let mut allowed = 0u64;
    let mut eq_runs = 0u64;
    for case in 0..cases {
        // a small pool of syscalls per policy, so rules collide
        let pool: Vec<&'static Syscall> = (0..3).map(|_| *rng.pick(&syscalls)).collect();
        let policy = if v2 {
            gen_policy_v2(&mut rng, arch, &pool)
        } else {
            gen_policy(&mut rng, arch, &pool)
        };
        if !v2 {
            assert!(policy.actions.iter().all(|&a| a == Verdict::Allow));
        }
        let mut extra_rng = Rng::new(rng.next());
        let text = policy.render(arch, &mut || extra_rng.chance(15));
        if let Err(e) = compile(text.as_bytes(), arch, &mut scratch, &mut prog) {
            let terms: usize = policy.rules.iter().map(|r| r.2.terms()).sum();
            panic!("case {case} (seed {seed}): valid policy rejected: {e} ({:?}), {terms} terms\n{text}", e.code);
        }
        eq_runs += prog.preds.iter().filter(|p| p.eq_next()).count() as u64;
        compiled += 1;
        // print and recompile: same program
        let printed = print_for(arch, &prog);
        if let Err(e) = compile(printed.as_bytes(), arch, &mut scratch, &mut prog2) {
            panic!(
                "case {case}: printed policy rejected: {e}\nsource:\n{text}\nprinted:\n{printed}"
            );
        }
        assert!(
            *prog == *prog2,
            "case {case}: round trip differs\nsource:\n{text}\nprinted:\n{printed}"
        );
        assert_eq!(
            print_for(arch, &prog2),
            printed,
            "case {case}: printing is not idempotent"
        );
        if !v2 {
            // A v1 policy compiles to v1's parts only: no action entry.
            assert!(prog.act.iter().all(|&e| e == 0), "case {case}: {text}");
        }
        // evaluate
        let mut values = Vec::new();
        for r in &policy.rules {
            r.2.values(&mut values);
        }
        for _ in 0..40 {
            let sys = if rng.chance(85) {
                *rng.pick(&pool)
            } else {
                *rng.pick(&syscalls)
            };
            let args = gen_args(&mut rng, sys, &values);
            let want = policy.eval(sys.nr, &args);
            if !v2 {
                // v1's meaning, unchanged.
                assert_eq!(want, policy.eval_v1(sys.nr, &args));
            }
            let got = prog.evaluate(sys.nr, &args);
            // The back ends' view of the program gives the same verdict.
            assert_eq!(
                super::view::walk(&prog, sys.nr, &args),
                Some(got),
                "case {case}: view of {}\n{text}",
                sys.name
            );
            // The layer's constant verdict (what ChainSummary uses) never
            // disagrees with evaluating it.
            if let Some(c) = prog.constant_verdict(sys.nr) {
                assert_eq!(
                    c, got,
                    "case {case}: constant verdict of {}\n{text}",
                    sys.name
                );
            }
            evaluations += 1;
            allowed += u64::from(got == Verdict::Allow);
            if got != want {
                panic!(
                    "case {case}: {} {args:#x?}: compiled {got:?}, reference {want:?}\nsource:\n{text}\nprinted:\n{printed}",
                    sys.name
                );
            }
        }
        // numbers outside the table: the default
        let nr = 512 + rng.below(100_000) as u32;
        assert_eq!(prog.evaluate(nr, &[0; 6]), prog.default_verdict());
    }
    // `x == a || x == b ...` was compiled to flagged runs, often.
    assert!(
        eq_runs >= cases / 2,
        "{eq_runs} flagged predicates in {cases} policies"
    );
    (compiled, evaluations, allowed)
}

#[test]
fn compiled_agrees_with_reference_and_round_trips() {
    let seed = env_u64("STRBOX_PROPTEST_SEED", 0x5eed_0001);
    let cases = env_u64("STRBOX_PROPTEST_CASES", 1500);
    let (c, e, allowed) = differential(&TEST_ARCH, seed, cases, false);
    assert_eq!(c, cases);
    assert!(e >= cases * 40);
    // both outcomes are well represented
    assert!(
        allowed * 10 > e && allowed * 10 < e * 9,
        "{allowed} of {e} allowed"
    );
}

/// Language v2: random policies with per-rule actions and `default
/// allow` agree with the reference (most severe true rule, first errno in
/// source order among equals), round-trip, and their constant verdicts
/// agree with evaluation.
#[test]
fn actions_agree_with_reference_and_round_trip() {
    let seed = env_u64("STRBOX_PROPTEST_SEED", 0x5eed_0003);
    let cases = env_u64("STRBOX_PROPTEST_CASES", 1500);
    let (c, e, allowed) = differential(&TEST_ARCH, seed, cases, true);
    assert_eq!(c, cases);
    assert!(
        allowed * 20 > e && allowed * 20 < e * 19,
        "{allowed} of {e} allowed"
    );
}

#[test]
fn reference_helpers_agree_with_c_conversions() {
    assert_eq!(as_type(ArgType::I32, 0xffff_ffff), -1);
    assert_eq!(as_type(ArgType::U32, -1), 0xffff_ffff);
    assert_eq!(as_type(ArgType::I8, 0x80), -128);
    assert_eq!(as_type(ArgType::U64, -1), u64::MAX as i128);
    assert!(is_signed(ArgType::I64) && !is_signed(ArgType::Ptr));
}

/// Random byte edits of valid policies: never a panic; anything that
/// compiles prints and recompiles to the same program.
#[test]
fn mutations_never_panic() {
    let seed = env_u64("STRBOX_PROPTEST_SEED", 0x5eed_0002);
    let cases = env_u64("STRBOX_PROPTEST_CASES", 1500);
    let mut rng = Rng::new(seed);
    let syscalls: Vec<&'static Syscall> = TEST_ARCH.syscalls.iter().collect();
    let mut scratch = Box::new(crate::Scratch::new());
    let mut prog = Box::new(Program::new());
    let mut prog2 = Box::new(Program::new());
    let alphabet = b" \n\t()!&|=<>-:#0123456789abcdefxXNUL_OSinarg\"'klwo";
    let mut accepted = 0;
    for _ in 0..cases {
        let policy = if rng.chance(50) {
            gen_policy_v2(&mut rng, &TEST_ARCH, &syscalls)
        } else {
            gen_policy(&mut rng, &TEST_ARCH, &syscalls)
        };
        let mut extra_rng = Rng::new(rng.next());
        let mut text = policy
            .render(&TEST_ARCH, &mut || extra_rng.chance(15))
            .into_bytes();
        for _ in 0..1 + rng.below(4) {
            let at = if text.is_empty() {
                0
            } else {
                rng.below(text.len() + 1)
            };
            match rng.below(3) {
                0 if at < text.len() => {
                    text.remove(at);
                }
                1 if at < text.len() => text[at] = *rng.pick(alphabet),
                _ => text.insert(at, *rng.pick(alphabet)),
            }
        }
        match compile(&text, &TEST_ARCH, &mut scratch, &mut prog) {
            Ok(()) => {
                accepted += 1;
                let printed = print_for(&TEST_ARCH, &prog);
                compile(printed.as_bytes(), &TEST_ARCH, &mut scratch, &mut prog2)
                    .expect("printed policy compiles");
                assert!(*prog == *prog2);
                for nr in [0u32, 1, 3, 8, 9, 15, 41, 62, 96, 257, 511] {
                    let _ = prog.evaluate(nr, &gen_args(&mut rng, syscalls[0], &[]));
                }
            }
            Err(e) => {
                assert!(e.offset as usize <= text.len());
                assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
    assert!(accepted > 0);
}

/// Evaluating only the layers [`ChainSummary::layers_to_evaluate`] names
/// gives the whole chain's verdict: random stacks of 1 to 16 v2 layers
/// over a few syscalls (so that layers allow outright, restrict by
/// argument and deny the same calls), every syscall of the pool and a
/// few others, registers aimed at the policies' constants.
#[test]
fn skipping_layers_that_allow_changes_no_verdict() {
    use crate::{evaluate_chain, evaluate_layers, ChainSummary};
    let arch = &TEST_ARCH;
    let syscalls: Vec<&'static Syscall> = arch
        .syscalls
        .iter()
        .filter(|s| (s.nr as usize) < crate::limits::MAX_NR)
        .collect();
    let mut rng = Rng::new(env_u64("STRBOX_PROPTEST_SEED", 0x5eed_0003));
    let (mut masked, mut skipped, mut partial) = (0u64, 0u64, 0u64);
    for _ in 0..60 {
        let pool: Vec<&'static Syscall> = (0..3).map(|_| *rng.pick(&syscalls)).collect();
        let depth = 1 + rng.below(16);
        let mut layers: Vec<Box<Program>> = Vec::new();
        let mut summaries: Vec<Box<ChainSummary>> = Vec::new();
        for _ in 0..depth {
            let mut policy = gen_policy_v2(&mut rng, arch, &pool);
            if rng.chance(50) {
                // Allow some of the pool outright.
                policy.actions.push(Verdict::Allow);
                let sys = *rng.pick(&pool);
                policy
                    .rules
                    .push((String::from(sys.name), sys, Expr::Lit(true)));
            }
            let text = policy.render(arch, &mut || false);
            layers.push(compile_for(arch, &text).expect("valid policy"));
            let mut s = Box::new(ChainSummary::new());
            s.build(
                layers.last().expect("pushed"),
                summaries.last().map(|b| &**b),
            );
            summaries.push(s);
        }
        let s = summaries.last().expect("depth >= 1");
        assert_eq!(s.layers_to_evaluate(0, depth + 1), None);
        assert_eq!(s.layers_to_evaluate(0, depth - 1), None);
        assert_eq!(ChainSummary::new().layers_to_evaluate(0, depth), None);
        let newest_first: Vec<&Program> = layers.iter().rev().map(|b| &**b).collect();
        let mut values = Vec::new();
        for _ in 0..40 {
            let sys = if rng.chance(85) {
                *rng.pick(&pool)
            } else {
                *rng.pick(&syscalls)
            };
            let nr = sys.nr;
            // No mask where no layer allows outright: every layer runs.
            let all = u16::MAX >> (16 - depth);
            // `plan` says the same as `lookup` and `layers_to_evaluate`.
            let plan = match (s.lookup(nr), s.layers_to_evaluate(nr, depth)) {
                (Some(v), _) => crate::Plan::Constant(v),
                (None, Some(_)) => crate::Plan::Some,
                (None, None) => crate::Plan::Every,
            };
            assert_eq!(s.plan(nr), plan, "nr {nr}");
            let mask = match (s.lookup(nr), s.layers_to_evaluate(nr, depth)) {
                (Some(_), m) => {
                    assert_eq!(m, None, "a constant verdict has no mask");
                    continue;
                }
                (None, Some(m)) => {
                    assert_ne!(m, all, "a mask where no layer is skipped");
                    partial += 1;
                    m
                }
                (None, None) => all,
            };
            // The last numbers of the table never skip (`SKIP_NR`).
            let skippable = (nr as usize) < crate::program::summary::SKIP_NR;
            for (k, l) in layers.iter().enumerate() {
                let allows = skippable && l.constant_verdict(nr) == Some(Verdict::Allow);
                assert_eq!(
                    mask & (1 << k) == 0,
                    allows,
                    "layer {k} of {depth}, nr {nr}"
                );
                skipped += u64::from(allows);
            }
            assert_eq!(u32::from(mask) >> depth, 0);
            values.clear();
            let args = gen_args(&mut rng, sys, &values);
            let want = evaluate_chain(newest_first.iter().copied(), nr, &args);
            let got = evaluate_layers(mask, |k| layers.get(k).map(|b| &**b), nr, &args);
            assert_eq!(got, Some(want), "nr {nr} {args:x?}, {depth} layers");
            masked += 1;
            // A layer it cannot find: no verdict (the caller walks the chain).
            if mask != 0 {
                assert_eq!(evaluate_layers(mask, |_| None, nr, &args), None);
            }
        }
        // Beyond the table no layer is skipped.
        assert_eq!(s.layers_to_evaluate(100_000, depth), None);
        assert_eq!(s.plan(100_000), crate::Plan::Every);
    }
    assert!(
        masked >= 600 && skipped > 1000 && partial > 200,
        "{masked} {skipped} {partial}"
    );
}

/// Masks name layers by depth; a chain deeper than the mask is evaluated
/// whole.
#[test]
fn chains_beyond_the_mask_are_evaluated_whole() {
    use crate::ChainSummary;
    let judges = ok("default errno EPERM\nread: 1\nwrite: fd == 1\n");
    let allows = ok("default errno EPERM\nread: 1\nwrite: 1\n");
    let read = TEST_ARCH.syscall("read").expect("read").nr;
    let write = TEST_ARCH.syscall("write").expect("write").nr;
    let mut summaries: Vec<Box<ChainSummary>> = Vec::new();
    for depth in 1..=17usize {
        let mut s = Box::new(ChainSummary::new());
        // Even depths judge `write`, odd ones allow it outright.
        let p = if (depth - 1) % 2 == 0 {
            &judges
        } else {
            &allows
        };
        s.build(p, summaries.last().map(|b| &**b));
        let want = match depth {
            // One layer: it judges `write` itself, nothing to skip.
            1 => None,
            2..=16 => Some(0x5555u16 & (u16::MAX >> (16 - depth))),
            _ => None,
        };
        assert_eq!(s.layers_to_evaluate(write, depth), want, "{depth}");
        assert_eq!(s.layers_to_evaluate(write, depth + 1), None, "{depth}");
        // `read` is allowed outright by every layer: a constant, no mask.
        assert_eq!(s.lookup(read), Some(Verdict::Allow));
        assert_eq!(s.layers_to_evaluate(read, depth), None, "{depth}");
        summaries.push(s);
    }
}
