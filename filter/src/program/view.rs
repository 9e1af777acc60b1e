//! A read-only view of a compiled layer's syscall rules, for back ends
//! that translate the compiled form rather than the text (the seccomp-bpf
//! generator, crate `strbox-bpf`): where the evaluation of a syscall
//! starts ([`Program::syscall_start`]), and each comparison with its two
//! successors resolved to the next comparison or a final [`Verdict`]
//! ([`Program::test`]).
//!
//! The view is defined by the evaluator, not beside it: following it from
//! [`Program::syscall_start`] gives exactly [`Program::evaluate`]'s verdict
//! wherever [`Program::test`] answers, including on jumps no compiler
//! writes (one that does not move forward, or leaves the array, ends in
//! the default action as it does there). `tests/view.rs` checks this on
//! random policies.

use super::super::limits::MAX_PROGRAM_PREDICATES;
use super::super::types::{self, op};
use super::eval::Verdict;
use super::layout::{exit, Program, EXT_SHIFT, EXT_SIGNED, SIGN_BIAS};

/// `ENOSYS` (38 on every architecture strbox supports; checked against
/// the generated errno tables in the tests).
pub const ENOSYS: u16 = 38;

/// Where an evaluation goes next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    /// It ends with this verdict.
    Verdict(Verdict),
    /// It runs comparison `i` ([`Program::test`]).
    Test(usize),
}

/// A comparison operator on an integer argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`, in the type's order (signed or unsigned).
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&`: a bit in common.
    AnyBit,
    /// `in`: no bit outside the mask.
    In,
}

/// One compiled comparison: `extend(args[arg]) CMP value`, where `extend`
/// keeps the low `width` bits of the register and sign- or zero-extends
/// them to 64 bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Test {
    /// Argument index, `0..6`.
    pub arg: u8,
    /// The operator.
    pub cmp: Cmp,
    /// Width of the argument's C type in bits: 8, 16, 32 or 64.
    pub width: u32,
    /// Whether the argument's C type is signed.
    pub signed: bool,
    /// The constant, converted to the argument's type and extended to 64
    /// bits like the register.
    pub value: u64,
    /// Where the evaluation goes when the comparison holds.
    pub on_true: Step,
    /// Where it goes when it does not.
    pub on_false: Step,
}

impl Program {
    /// Where the evaluation of native syscall `nr` starts: a verdict that
    /// needs no argument (the constant-allow bitmap, a syscall without
    /// rules, action rules that reduced to a constant), or the first
    /// comparison of the syscall's program.
    pub fn syscall_start(&self, nr: u32) -> Step {
        if let Some(v) = self.constant_verdict(nr) {
            return Step::Verdict(v);
        }
        // `constant_verdict` is `None` only for a dispatch entry or an
        // action entry below `exit::MIN`: both name a first predicate.
        let first = match self.first_pred(nr as usize) {
            Some(first) => first,
            None => usize::from(self.action_entry(nr as usize)).wrapping_sub(1),
        };
        self.step_to(first)
    }

    /// Comparison `i` with both successors resolved; `None` if `i` is
    /// beyond the array or the predicate is not an integer comparison of a
    /// standard width (never the case on a syscall's path in a compiled
    /// program: string and address predicates belong to events).
    pub fn test(&self, i: usize) -> Option<Test> {
        let p = self.pred(i)?;
        let cmp = match p.op {
            // An `==` falling through to the next predicate is `==`
            // whatever `op` holds (see `EXT_EQ_NEXT`).
            _ if p.eq_next() => Cmp::Eq,
            op::EQ => Cmp::Eq,
            op::NE => Cmp::Ne,
            op::LT => Cmp::Lt,
            op::LE => Cmp::Le,
            op::GT => Cmp::Gt,
            op::GE => Cmp::Ge,
            op::BAND => Cmp::AnyBit,
            op::IN => Cmp::In,
            _ => return None,
        };
        let width = 64 - u32::from(p.ext & EXT_SHIFT);
        if !matches!(width, 8 | 16 | 32 | 64) || p.arg >= 6 {
            return None;
        }
        let next = |t: u16| {
            if t >= exit::MIN {
                // ACCEPT, REJECT (the default) and the action exits.
                Step::Verdict(self.exit_verdict(t))
            } else if usize::from(t) <= i {
                // The evaluator refuses a jump that does not move forward.
                Step::Verdict(self.default_verdict())
            } else {
                self.step_to(usize::from(t))
            }
        };
        let shift = u32::from(p.ext & EXT_SHIFT);
        let signed = p.ext & EXT_SIGNED != 0;
        // What the evaluator compares, from `ext` alone (for a compiled
        // program this is `Pred::written_value`): an ordering's constant
        // without the sign bias; the bit tests see only the type's bits
        // of theirs, so its extension.
        let value = match cmp {
            Cmp::Lt | Cmp::Le | Cmp::Gt | Cmp::Ge if signed => p.value ^ SIGN_BIAS,
            Cmp::Lt | Cmp::Le | Cmp::Gt | Cmp::Ge => p.value,
            _ => types::extend_bits(p.value, shift, signed),
        };
        Some(Test {
            arg: p.arg,
            cmp,
            width,
            signed,
            value,
            on_true: next(p.on_true),
            on_false: next(if p.eq_next() {
                // `i + 1 <= MAX_PROGRAM_PREDICATES`, far below the exits.
                (i as u16).wrapping_add(1)
            } else {
                p.on_false
            }),
        })
    }

    /// A jump to predicate `i`: beyond the array, the evaluator stops
    /// with the default action.
    fn step_to(&self, i: usize) -> Step {
        if i < MAX_PROGRAM_PREDICATES {
            Step::Test(i)
        } else {
            Step::Verdict(self.default_verdict())
        }
    }

    /// What this layer gives a syscall of another ABI (ia32 `int $0x80`,
    /// x32, AArch32), whose numbers its rules do not name:
    ///
    /// * a layer that restricts no syscall (all its rules are event
    ///   rules) lets it run: its events are judged at the LSM hooks
    ///   whatever the ABI;
    /// * a deny-list layer (`default allow`) refuses it with `ENOSYS`: its
    ///   rules cannot be applied to a number they do not name, and letting
    ///   the call run would let `int $0x80` step around them (fail closed);
    /// * any other layer gives its default action.
    pub fn compat_verdict(&self) -> Verdict {
        if self.syscalls_unrestricted() {
            return Verdict::Allow;
        }
        match self.default_verdict() {
            Verdict::Allow => Verdict::Errno(ENOSYS),
            v => v,
        }
    }
}
