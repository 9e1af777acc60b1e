//! The evaluator, the hot path: one layer ([`Program::evaluate`]) and a
//! chain of layers ([`evaluate_chain`]).
//!
//! `evaluate` is a bitmap test, a dispatch lookup, then a walk over the
//! syscall's predicates. Each predicate extends the register to its type
//! (shift left, arithmetic or logical shift right), compares (signed orders
//! through the sign bias, so one unsigned compare does), and jumps. A jump
//! that does not move forward is refused, so the walk ends after at most
//! [`MAX_PROGRAM_PREDICATES`](super::super::limits::MAX_PROGRAM_PREDICATES)
//! comparisons whatever the memory holds. It allocates nothing, and every
//! access is bounds-checked without a panicking path.

use super::super::types::{self, op};
use super::layout::{Pred, Program, ACCEPT, EXT_SHIFT, EXT_SIGNED, REJECT, SIGN_BIAS};

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
    /// Evaluates the comparison against the syscall's argument registers.
    #[inline(always)]
    fn test(&self, args: &[u64; 6]) -> bool {
        let raw = match args.get(usize::from(self.arg)) {
            Some(&v) => v,
            None => return false,
        };
        let signed = self.ext & EXT_SIGNED != 0;
        let x = types::extend_bits(raw, u32::from(self.ext & EXT_SHIFT), signed);
        let bias = if signed { SIGN_BIAS } else { 0 };
        let v = self.value;
        match self.op {
            op::EQ => x == v,
            op::NE => x != v,
            op::LT => (x ^ bias) < v,
            op::LE => (x ^ bias) <= v,
            op::GT => (x ^ bias) > v,
            op::GE => (x ^ bias) >= v,
            op::BAND => x & v != 0,
            _ => x & !v == 0,
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
        if self.always_allows(nr) {
            return Verdict::Allow;
        }
        let Some(start) = self.first_pred(nr as usize) else {
            return self.default_verdict();
        };
        if self.run(start, args) {
            Verdict::Allow
        } else {
            self.default_verdict()
        }
    }

    /// Runs the predicate program from `pc`: true if it reaches [`ACCEPT`].
    #[inline]
    fn run(&self, mut pc: usize, args: &[u64; 6]) -> bool {
        loop {
            let Some(p) = self.preds.get(pc) else {
                return false;
            };
            let target = if p.test(args) { p.on_true } else { p.on_false };
            if target >= REJECT {
                return target == ACCEPT;
            }
            let target = usize::from(target);
            if target <= pc {
                // Never produced by the compiler; refusing backward jumps
                // is what guarantees termination.
                return false;
            }
            pc = target;
        }
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
        acc = layer.evaluate(nr, args).combine(acc);
        if acc == Verdict::Kill {
            break;
        }
    }
    acc
}
