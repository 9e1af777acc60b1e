//! The evaluator, the hot path: one layer ([`Program::evaluate`]) and a
//! chain of layers ([`evaluate_chain`]).
//!
//! A syscall with action rules (`=> ACTION`) has no `dispatch` entry: its
//! first-match program (rules in order of severity, so the first true rule
//! is the most severe one) is reached through `act` from the path of
//! unlisted syscalls, so an allow-only layer runs exactly v1's code.
//!
//! `evaluate` is a bitmap test, a dispatch lookup, then a walk over the
//! syscall's predicates. Each predicate compares the register with its
//! constant on the type's own bits (`==`, `!=`, `&`, `in`: combine, shift
//! the type's bits to the top, test) or, for an ordering, extends the
//! register to its type (shift left, arithmetic or logical shift right)
//! and compares (signed orders through the sign bias, so one unsigned
//! compare does), and jumps. A jump
//! that does not move forward is refused, so the walk ends after at most
//! [`MAX_PROGRAM_PREDICATES`](super::super::limits::MAX_PROGRAM_PREDICATES)
//! comparisons whatever the memory holds. It allocates nothing, and every
//! access is bounds-checked without a panicking path.

use super::super::addr;
use super::super::event::{Event, EventInput};
use super::super::glob::glob_match;
use super::super::types::{self, op};
use super::layout::{
    exit, Pred, Program, ACCEPT, EXT_EQ_NEXT, EXT_SHIFT, EXT_SIGNED, REJECT, SIGN_BIAS,
};

/// What the predicates of one evaluation read: a syscall's registers or an
/// event's fields. [`Program::run`] is generic over it, so the syscall
/// instance compiles to exactly the v1 loop (`EVENT` is a constant false
/// there and the string/address branch folds away).
pub(crate) trait Input {
    /// Whether pooled (string and address) operators are live.
    const EVENT: bool;
    /// The register or numeric field `arg` (`None`: there is none).
    fn reg(&self, arg: u8) -> Option<u64>;
    /// A string or address comparison (never called when `!EVENT`).
    fn pooled(&self, prog: &Program, p: &Pred) -> bool;
}

impl Input for [u64; 6] {
    const EVENT: bool = false;

    #[inline(always)]
    fn reg(&self, arg: u8) -> Option<u64> {
        self.get(usize::from(arg)).copied()
    }

    #[inline(always)]
    fn pooled(&self, _: &Program, _: &Pred) -> bool {
        false
    }
}

impl Input for EventInput<'_> {
    const EVENT: bool = true;

    #[inline(always)]
    fn reg(&self, arg: u8) -> Option<u64> {
        EventInput::reg(self, arg)
    }

    fn pooled(&self, prog: &Program, p: &Pred) -> bool {
        let Some(lit) = prog.pool_bytes(p.value) else {
            return false;
        };
        let path = self.path.unwrap_or(&[]);
        let (_, _, plen) = types::pool_parts(p.value);
        match p.op {
            op::STR_EQ => path == lit,
            op::STR_NE => path != lit,
            op::GLOB => glob_match(lit, path),
            op::ADDR_EQ => lit == self.addr,
            op::ADDR_NE => lit != self.addr,
            _ => addr::prefix_match(lit, &self.addr, plen, false),
        }
    }
}

/// What happens to one syscall.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// The syscall runs.
    Allow,
    /// The syscall runs, and the event is logged.
    Log,
    /// The syscall fails with this errno (`1..=4095`).
    Errno(u16),
    /// The task is killed.
    Kill,
}

impl Verdict {
    /// Severity: `Kill > Errno > Log > Allow`.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Allow => 0,
            Verdict::Log => 1,
            Verdict::Errno(_) => 2,
            Verdict::Kill => 3,
        }
    }

    /// Combines the verdict of an older layer (`self`) with that of a newer
    /// one: the most severe wins; at equal severity the newer one wins (so
    /// the newest layer's errno is the one returned).
    #[inline]
    pub fn combine(self, newer: Verdict) -> Verdict {
        if newer.severity() >= self.severity() {
            newer
        } else {
            self
        }
    }
}

impl Pred {
    /// Evaluates the comparison against the syscall's argument registers
    /// (or an event's fields).
    #[inline(always)]
    fn test<I: Input>(&self, prog: &Program, input: &I) -> bool {
        if I::EVENT && op::is_pooled(self.op) {
            return input.pooled(prog, self);
        }
        let raw = match input.reg(self.arg) {
            Some(v) => v,
            None => return false,
        };
        let shift = u32::from(self.ext & EXT_SHIFT);
        let v = self.value;
        // `==`, `!=`, `&` and `in` depend only on the type's own bits: `v`
        // is the extension of its low `64 - shift` bits, and so is the
        // extended register, so shifting the combination's low bits to the
        // top decides them without extending the register first (the
        // common case costs an xor, a shift and a test).
        match self.op {
            op::EQ => (raw ^ v).wrapping_shl(shift) == 0,
            op::NE => (raw ^ v).wrapping_shl(shift) != 0,
            op::BAND => (raw & v).wrapping_shl(shift) != 0,
            op::LT | op::LE | op::GT | op::GE => {
                let signed = self.ext & EXT_SIGNED != 0;
                let x = types::extend_bits(raw, shift, signed);
                let x = x ^ if signed { SIGN_BIAS } else { 0 };
                match self.op {
                    op::LT => x < v,
                    op::LE => x <= v,
                    op::GT => x > v,
                    _ => x >= v,
                }
            }
            // `in` (and anything else, never written by the compiler).
            _ => (raw & !v).wrapping_shl(shift) == 0,
        }
    }
}

impl Program {
    /// Evaluates this layer for syscall `nr` with argument registers
    /// `args`. Allocates nothing, cannot panic, and ends after at most
    /// [`MAX_PROGRAM_PREDICATES`](super::super::limits::MAX_PROGRAM_PREDICATES)
    /// comparisons (jump targets only move forward).
    #[inline]
    pub fn evaluate(&self, nr: u32, args: &[u64; 6]) -> Verdict {
        self.evaluate_inlined(nr, args)
    }

    /// [`Program::evaluate`], always inlined: [`evaluate_chain`] walks
    /// every layer of a chain with it (a call per layer costs a register
    /// save and restore each).
    #[inline(always)]
    fn evaluate_inlined(&self, nr: u32, args: &[u64; 6]) -> Verdict {
        if self.always_allows(nr) {
            return Verdict::Allow;
        }
        let start = match self.first_pred(nr as usize) {
            Some(start) => start,
            // No allow-only program: the syscall's action rules, if any
            // (a layer without them pays one load and test here, only for
            // syscalls it has no allow rule for).
            None => match self.action_entry(nr as usize) {
                0 => return self.unlisted_verdict(),
                e if e >= exit::MIN => return self.exit_verdict(e),
                e => usize::from(e).wrapping_sub(1),
            },
        };
        // One loop for both kinds of program, so that nothing is called.
        match self.run(start, args) {
            ACCEPT => Verdict::Allow,
            REJECT => self.default_verdict(),
            t => self.exit_verdict(t),
        }
    }

    /// Runs an action entry ([`Program::act`]): a constant exit, or
    /// 1 + the first predicate of a first-match program.
    fn run_entry<I: Input>(&self, entry: u16, input: &I) -> Verdict {
        if entry >= exit::MIN {
            return self.exit_verdict(entry);
        }
        self.exit_verdict(self.run(usize::from(entry).wrapping_sub(1), input))
    }

    /// Evaluates this layer for event `ev`: `Allow` when the layer has no
    /// rule for it; when `input.path` is `None` (unavailable), the default
    /// action or, if more severe, the most severe action of its rules;
    /// else the action of the most severe true rule, or the default when
    /// none is true. Same guarantees as [`Program::evaluate`].
    pub fn evaluate_event(&self, ev: Event, input: &EventInput<'_>) -> Verdict {
        if !self.has_event_rules(ev) {
            return Verdict::Allow;
        }
        if input.path.is_none() {
            return self.event_unavailable_verdict(ev);
        }
        match self.event_action_entry(ev) {
            0 => {}
            entry => return self.run_entry(entry, input),
        }
        if self.event_always_allows(ev) {
            return Verdict::Allow;
        }
        match self.event_first_pred(ev) {
            Some(start) if self.run(start, input) == ACCEPT => Verdict::Allow,
            _ => self.default_verdict(),
        }
    }

    /// Runs the predicate program from `pc` to its exit (an
    /// [`exit`] value; [`REJECT`] if it leaves the array or jumps back).
    /// Always inlined, so that each evaluator has its own loop (a shared
    /// out-of-line copy costs a call per layer).
    #[inline(always)]
    fn run<I: Input>(&self, mut pc: usize, input: &I) -> u16 {
        loop {
            let Some(p) = self.preds.get(pc) else {
                return REJECT;
            };
            let target = if p.eq_next() {
                let (last, target) = self.run_eq(pc, p, input);
                pc = last;
                target
            } else if p.test(self, input) {
                p.on_true
            } else {
                p.on_false
            };
            if target >= exit::MIN {
                return target;
            }
            let target = usize::from(target);
            if target <= pc {
                // Never produced by the compiler; refusing backward jumps
                // is what guarantees termination.
                return REJECT;
            }
            pc = target;
        }
    }

    /// Runs `x == a || x == b || ...` from predicate `pc` (`head`, which
    /// has [`EXT_EQ_NEXT`]): the register is read and the type's shift
    /// taken once, then each following member costs a load, an xor, a
    /// shift and a test, and two byte compares to know it is one (its
    /// `ext` equal to the head's: flagged, same type; its `arg` equal).
    /// Every predicate keeps its meaning: a flagged one is `==` going on
    /// to the next predicate when false; the run's last `==` (same
    /// argument and type, unflagged) jumps to its own `on_false`; anything
    /// else is left to the general loop. Returns the last predicate
    /// tested and its jump target.
    #[inline(always)]
    fn run_eq<I: Input>(&self, pc: usize, head: &Pred, input: &I) -> (usize, u16) {
        // `pc + 1 <= MAX_PROGRAM_PREDICATES`, far below the exits.
        let fall = |pc: usize| (pc, pc.wrapping_add(1) as u16);
        let Some(x) = input.reg(head.arg) else {
            // Every comparison is false: on to the next predicate.
            return fall(pc);
        };
        let shift = u32::from(head.ext & EXT_SHIFT);
        if (x ^ head.value).wrapping_shl(shift) == 0 {
            return (pc, head.on_true);
        }
        let rest = self.preds.get(pc.wrapping_add(1)..).unwrap_or(&[]);
        let mut members = rest.iter();
        // The index of the predicate `members` just gave.
        let at = |members: &core::slice::Iter<'_, Pred>| {
            self.preds
                .len()
                .wrapping_sub(members.as_slice().len())
                .wrapping_sub(1)
        };
        while let Some(p) = members.next() {
            if p.ext != head.ext || p.arg != head.arg {
                if p.ext == head.ext & !EXT_EQ_NEXT && p.op == op::EQ && p.arg == head.arg {
                    // The run's last `==`.
                    let hit = (x ^ p.value).wrapping_shl(shift) == 0;
                    return (at(&members), if hit { p.on_true } else { p.on_false });
                }
                return fall(at(&members).wrapping_sub(1));
            }
            // A flagged member of the same type and argument.
            if (x ^ p.value).wrapping_shl(shift) == 0 {
                return (at(&members), p.on_true);
            }
        }
        fall(self.preds.len().wrapping_sub(1))
    }
}

/// Evaluates a chain of layers, **newest first**, and combines their
/// verdicts with [`Verdict::combine`]: the most severe wins, and at equal
/// severity the newest layer's. Stops at the first `Kill`. An empty chain
/// allows.
pub fn evaluate_chain<'a>(
    layers: impl IntoIterator<Item = &'a Program>,
    nr: u32,
    args: &[u64; 6],
) -> Verdict {
    let mut acc = Verdict::Allow;
    for layer in layers {
        acc = layer.evaluate_inlined(nr, args).combine(acc);
        if acc == Verdict::Kill {
            break;
        }
    }
    acc
}

/// [`evaluate_chain`] over the layers named by `layers` (bit `k`: the
/// layer at depth `k`, 0 the first installed, as
/// [`ChainSummary::layers_to_evaluate`](super::ChainSummary::layers_to_evaluate)
/// gives them), newest first; `layer(k)` finds the layer at depth `k`.
/// `None` if it finds none for a named depth (then evaluate the whole
/// chain).
#[inline]
pub fn evaluate_layers<'a>(
    layers: u16,
    layer: impl Fn(usize) -> Option<&'a Program>,
    nr: u32,
    args: &[u64; 6],
) -> Option<Verdict> {
    let mut acc = Verdict::Allow;
    let mut left = layers;
    while left != 0 {
        // The newest layer left.
        let k = 15u32.wrapping_sub(left.leading_zeros());
        left &= !(1u16 << (k & 15));
        acc = evaluate_one(layer(k as usize)?, nr, args).combine(acc);
        if acc == Verdict::Kill {
            break;
        }
    }
    Some(acc)
}

/// [`Program::evaluate`] as a call, for [`evaluate_layers`] (which runs
/// few layers): [`evaluate_chain`], which runs them all, is where the
/// evaluator is inlined.
#[inline(never)]
fn evaluate_one(p: &Program, nr: u32, args: &[u64; 6]) -> Verdict {
    p.evaluate(nr, args)
}

/// [`evaluate_chain`] for an event: each layer's
/// [`Program::evaluate_event`], combined the same way (newest first, most
/// severe wins, stops at `Kill`; an empty chain allows).
pub fn evaluate_event_chain<'a>(
    layers: impl IntoIterator<Item = &'a Program>,
    ev: Event,
    input: &EventInput<'_>,
) -> Verdict {
    let mut acc = Verdict::Allow;
    for layer in layers {
        acc = layer.evaluate_event(ev, input).combine(acc);
        if acc == Verdict::Kill {
            break;
        }
    }
    acc
}
