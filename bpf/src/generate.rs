//! The generator: one compiled strbox layer ([`Program`]) → one seccomp
//! classic-BPF filter with the same verdict for every syscall.
//!
//! It reads the compiled program through the filter engine's view
//! ([`Program::syscall_start`], [`Program::test`]), never the policy text,
//! so it cannot disagree with the kernel module about what a rule means.
//! The filter's shape:
//!
//! ```text
//!   ld [arch]; jeq NATIVE else compat      another ABI: see below
//!   ld [nr]                                dispatch on the number:
//!   Tree: binary search over ranges of numbers with the same start
//!   Linear: one jeq per syscall with a start of its own (libseccomp's shape)
//!   test blocks, in predicate order        each comparison: load the
//!                                          argument's 32-bit half(s), compare,
//!                                          jump to the next test or a RET
//!   compat: ld [nr]; jge 0x80000000 → ALLOW; ret COMPAT
//!   one RET per verdict used
//! ```
//!
//! What each syscall gets is exactly what `kmod/syscall_entry.rs` gives it
//! for a chain of this one layer:
//!
//! * a negative number (a syscall already skipped, or `syscall(-1)`):
//!   allowed, as the module does not judge it (the kernel runs nothing and
//!   returns `ENOSYS`);
//! * another ABI (ia32, AArch32: `arch` is not the native one; x32: the
//!   number has [`X32_SYSCALL_BIT`]): [`Program::compat_verdict`];
//! * a native number: [`Program::evaluate`]'s verdict.
//!
//! Verdicts map to seccomp actions of the same precedence, so a chain of
//! layers installed as a stack of filters (oldest first) combines as
//! strbox's chain does: seccomp returns the lowest action of all filters
//! (`KILL_PROCESS < ERRNO < LOG < ALLOW`), the newest filter's on a tie,
//! which is [`Verdict::combine`].
//!
//! Every syscall the layer allows whatever its arguments reaches `RET
//! ALLOW` through loads of `arch` and `nr` and jumps only, so the kernel's
//! action cache (`seccomp_cache_prepare`, 5.11+) lets it through without
//! running the filter: the same one-bit test as the module's bitmap.

use std::collections::BTreeMap;
use std::fmt;

use strbox_filter::limits::MAX_NR;
use strbox_filter::{Cmp, Event, Program, Step, Test, Verdict};
use strbox_uapi::abi::X32_SYSCALL_BIT;
use strbox_uapi::tables::Arch;

use crate::check::validate;
use crate::insn::*;

/// How the filter finds a syscall's rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    /// A binary search with `JGE` over the ranges of numbers that start
    /// the same way (one range for a run of syscalls with the same
    /// constant verdict), with linear leaves of at most [`LEAF`] ranges.
    Tree,
    /// One `JEQ` per syscall number that has a start of its own, in number
    /// order (libseccomp's default shape; the benchmark compares both).
    Linear,
}

/// Largest leaf of the [`Layout::Tree`] search.
pub const LEAF: usize = 4;

/// Why a layer has no seccomp-bpf equivalent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// The layer has rules for these events: seccomp sees only a
    /// syscall's number and argument registers, not the path or address
    /// an LSM hook sees.
    EventRules(Vec<&'static str>),
    /// The filter needs this many instructions, more than the kernel's
    /// `BPF_MAXINSNS` (4096).
    TooLong(usize),
    /// A predicate on a syscall's path is not an integer comparison (never
    /// produced by the compiler).
    Corrupt(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EventRules(evs) => write!(
                f,
                "the policy has rules for {}: seccomp-bpf sees only a syscall's number and \
                 argument registers, not the path or address an LSM hook judges, so these \
                 rules need the strbox module (or leave them out)",
                evs.join(", ")
            ),
            Error::TooLong(n) => write!(
                f,
                "the filter needs {n} instructions; seccomp accepts at most {} per filter \
                 (BPF_MAXINSNS): split the policy into several layers",
                libc::BPF_MAXINSNS
            ),
            Error::Corrupt(s) => write!(f, "cannot translate the compiled program: {s}"),
        }
    }
}

impl std::error::Error for Error {}

/// The seccomp action of a verdict (`Kill` kills the whole process, as
/// the module does).
pub fn ret_of(v: Verdict) -> u32 {
    match v {
        Verdict::Allow => RET_ALLOW,
        Verdict::Log => RET_LOG,
        Verdict::Kill => RET_KILL_PROCESS,
        Verdict::Errno(e) => ret_errno(e),
    }
}

/// The first number of the negative range (`nr` is an `int`).
const NEGATIVE: u32 = 0x8000_0000;

/// A run of syscall numbers `lo..next lo` that starts the same way.
#[derive(Clone, Copy, Debug)]
struct Range {
    lo: u32,
    step: Step,
}

struct Gen<'a> {
    prog: &'a Program,
    a: Asm,
    /// One `RET` per seccomp action used, emitted last.
    rets: BTreeMap<u32, Label>,
    /// A label per reachable test.
    tests: BTreeMap<usize, Label>,
}

impl Gen<'_> {
    fn ret_label(&mut self, v: Verdict) -> Label {
        let k = ret_of(v);
        if let Some(&l) = self.rets.get(&k) {
            return l;
        }
        let l = self.a.label();
        self.rets.insert(k, l);
        l
    }

    fn target(&mut self, s: Step) -> Label {
        match s {
            Step::Verdict(v) => self.ret_label(v),
            Step::Test(i) => self.tests[&i],
        }
    }

    /// Goes to `s` unconditionally: a `RET` in place for a verdict.
    fn goto(&mut self, s: Step) {
        match s {
            Step::Verdict(v) => self.a.ret(ret_of(v)),
            Step::Test(i) => {
                let l = self.tests[&i];
                self.a.ja(l);
            }
        }
    }

    /// Binary search over `r` (every number that reaches it is in
    /// `r[0].lo..` the next range after `r`).
    fn tree(&mut self, r: &[Range]) {
        if r.len() <= LEAF {
            // `nr < r[i+1].lo` means range i.
            for (i, x) in r.iter().enumerate().take(r.len() - 1) {
                match x.step {
                    // A verdict's RET in place: two instructions run.
                    Step::Verdict(v) => {
                        let skip = self.a.label();
                        self.a.jmp(JGE, r[i + 1].lo, Tgt::L(skip), Tgt::Next);
                        self.a.ret(ret_of(v));
                        self.a.place(skip);
                    }
                    Step::Test(_) => {
                        let t = self.target(x.step);
                        self.a.jmp(JGE, r[i + 1].lo, Tgt::Next, Tgt::L(t));
                    }
                }
            }
            self.goto(r[r.len() - 1].step);
            return;
        }
        let mid = r.len() / 2;
        let right = self.a.label();
        self.a.jmp(JGE, r[mid].lo, Tgt::L(right), Tgt::Next);
        self.tree(&r[..mid]);
        self.a.place(right);
        self.tree(&r[mid..]);
    }

    /// One comparison, jumping to its successors' labels.
    fn test(&mut self, t: &Test) {
        let on_true = self.target(t.on_true);
        let on_false = self.target(t.on_false);
        cmp(&mut self.a, t, Tgt::L(on_true), Tgt::L(on_false));
    }
}

/// The seccomp-bpf filter of one layer for `arch`, in `layout`.
pub fn generate(prog: &Program, arch: &Arch, layout: Layout) -> Result<Vec<Insn>, Error> {
    let events: Vec<&'static str> = Event::ALL
        .iter()
        .filter(|e| prog.has_event_rules(**e))
        .map(|e| e.name())
        .collect();
    if !events.is_empty() {
        return Err(Error::EventRules(events));
    }
    let x32 = arch.name == "x86_64";
    let compat = prog.compat_verdict();

    // The ranges of numbers, as u32 (the negative ones last).
    let mut ranges: Vec<Range> = Vec::new();
    let mut push = |lo: u32, step: Step| match ranges.last() {
        Some(r) if r.step == step => {}
        _ => ranges.push(Range { lo, step }),
    };
    for nr in 0..=MAX_NR as u32 {
        // MAX_NR itself stands for every number beyond the table.
        push(nr, prog.syscall_start(nr));
    }
    if x32 {
        push(X32_SYSCALL_BIT, Step::Verdict(compat));
    }
    push(NEGATIVE, Step::Verdict(Verdict::Allow));

    // Every test a syscall can reach, with a label each.
    let mut g = Gen {
        prog,
        a: Asm::new(),
        rets: BTreeMap::new(),
        tests: BTreeMap::new(),
    };
    let mut todo: Vec<usize> = ranges
        .iter()
        .filter_map(|r| match r.step {
            Step::Test(i) => Some(i),
            Step::Verdict(_) => None,
        })
        .collect();
    let mut found: BTreeMap<usize, Test> = BTreeMap::new();
    while let Some(i) = todo.pop() {
        if found.contains_key(&i) {
            continue;
        }
        let t = g
            .prog
            .test(i)
            .ok_or_else(|| Error::Corrupt(format!("predicate {i} is no integer comparison")))?;
        for s in [t.on_true, t.on_false] {
            if let Step::Test(j) = s {
                todo.push(j);
            }
        }
        found.insert(i, t);
        let l = g.a.label();
        g.tests.insert(i, l);
    }

    let compat_l = g.a.label();
    g.a.load(OFF_ARCH);
    g.a.jmp(JEQ, arch.audit_arch, Tgt::Next, Tgt::L(compat_l));
    g.a.load(OFF_NR);
    match layout {
        Layout::Tree => g.tree(&ranges),
        Layout::Linear => {
            let unlisted = prog.syscall_start(MAX_NR as u32);
            for nr in 0..MAX_NR as u32 {
                let s = prog.syscall_start(nr);
                if s != unlisted {
                    let t = g.target(s);
                    g.a.jmp(JEQ, nr, Tgt::L(t), Tgt::Next);
                }
            }
            let allow = g.ret_label(Verdict::Allow);
            g.a.jmp(JGE, NEGATIVE, Tgt::L(allow), Tgt::Next);
            if x32 {
                let c = g.ret_label(compat);
                g.a.jmp(JGE, X32_SYSCALL_BIT, Tgt::L(c), Tgt::Next);
            }
            g.goto(unlisted);
        }
    }
    for (i, t) in &found {
        let l = g.tests[i];
        g.a.place(l);
        g.test(t);
    }
    // Another ABI: its verdict, except for the negative numbers the
    // module does not judge.
    g.a.place(compat_l);
    g.a.load(OFF_NR);
    let allow = g.ret_label(Verdict::Allow);
    g.a.jmp(JGE, NEGATIVE, Tgt::L(allow), Tgt::Next);
    g.goto(Step::Verdict(compat));
    for (k, l) in std::mem::take(&mut g.rets) {
        g.a.place(l);
        g.a.ret(k);
    }
    let out = g.a.finish().map_err(Error::Corrupt)?;
    if out.len() > libc::BPF_MAXINSNS as usize {
        return Err(Error::TooLong(out.len()));
    }
    validate(&out).map_err(|e| Error::Corrupt(e.0))?;
    Ok(out)
}

/// One comparison on the argument's 32-bit halves, jumping to `t` when it
/// holds and to `f` when not.
///
/// For a type of at most 32 bits only the low word matters: `==`, `!=`,
/// `&` and `in` on the low `width` bits are exact for the sign- or
/// zero-extended values the engine compares, and a signed order becomes an
/// unsigned one on `x ^ 1 << (width-1)`. For 64 bits the high word
/// decides unless it is equal, then the low word (unsigned) does.
fn cmp(a: &mut Asm, c: &Test, t: Tgt, f: Tgt) {
    let ordering = matches!(c.cmp, Cmp::Lt | Cmp::Le | Cmp::Gt | Cmp::Ge);
    let bias = c.signed && ordering;
    if c.width <= 32 {
        let mask = u32::MAX >> (32 - c.width);
        a.load(off_arg_lo(c.arg));
        if c.width < 32 {
            a.and(mask);
        }
        let mut v = c.value as u32 & mask;
        if bias {
            let b = 1u32 << (c.width - 1);
            a.xor(b);
            v ^= b;
        }
        word_cmp(a, c.cmp, v, mask, t, f);
        return;
    }
    let (mut hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    a.load(off_arg_hi(c.arg));
    if bias {
        a.xor(1 << 31);
        hi ^= 1 << 31;
    }
    let lo_l = a.label();
    let l = Tgt::L(lo_l);
    match c.cmp {
        Cmp::Eq => a.jmp(JEQ, hi, l, f),
        Cmp::Ne => a.jmp(JEQ, hi, l, t),
        Cmp::Gt | Cmp::Ge => {
            a.jmp(JGT, hi, t, Tgt::Next);
            a.jmp(JEQ, hi, l, f);
        }
        Cmp::Lt | Cmp::Le => {
            a.jmp(JGT, hi, f, Tgt::Next);
            a.jmp(JEQ, hi, l, t);
        }
        Cmp::AnyBit => a.jmp(JSET, hi, t, l),
        Cmp::In => a.jmp(JSET, !hi, f, l),
    }
    a.place(lo_l);
    a.load(off_arg_lo(c.arg));
    word_cmp(a, c.cmp, lo, u32::MAX, t, f);
}

/// `A op v` on one 32-bit word (unsigned), jumping to `t` or `f`.
fn word_cmp(a: &mut Asm, op: Cmp, v: u32, mask: u32, t: Tgt, f: Tgt) {
    match op {
        Cmp::Eq => a.jmp(JEQ, v, t, f),
        Cmp::Ne => a.jmp(JEQ, v, f, t),
        Cmp::Lt => a.jmp(JGE, v, f, t),
        Cmp::Le => a.jmp(JGT, v, f, t),
        Cmp::Gt => a.jmp(JGT, v, t, f),
        Cmp::Ge => a.jmp(JGE, v, t, f),
        Cmp::AnyBit => a.jmp(JSET, v, t, f),
        // every set bit inside the mask: no bit outside it
        Cmp::In => a.jmp(JSET, !v & mask, f, t),
    }
}
