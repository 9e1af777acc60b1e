//! The compiled form of one layer and its evaluator (the hot path).
//!
//! A [`Program`] is one plain value of fixed size ([`Program::SIZE`] bytes)
//! made only of integer arrays: all-zero is a valid, empty program (no
//! rules, default `kill`), so the kernel can allocate it zeroed and compile
//! into it in place. Its parts:
//!
//! * `allow`: a bitmap over syscall numbers `0..MAX_NR` whose verdict is a
//!   constant "allow" (the rule reduced to `1`): one bit test, no predicate.
//! * `dispatch`: per syscall number, 0 (no rule allows it: the default
//!   action) or 1 + the index of its first predicate.
//! * `preds`: the flat predicate array. Each predicate compares one argument
//!   with a constant and names two jump targets, one taken when the
//!   comparison holds and one when it fails. A target is either a later
//!   predicate (targets only ever move forward, so evaluation always ends)
//!   or one of the two exits: [`ACCEPT`] (allow) or [`REJECT`] (default
//!   action). This is the shape of ftrace's 2018 filter "prog".
//! * `code`: the readback form (see [`super::printer`]).

use super::limits::{MAX_CODE, MAX_NR, MAX_PROGRAM_PREDICATES};

/// Jump target: the syscall is allowed.
pub const ACCEPT: u16 = 0xffff;
/// Jump target: no rule allows the syscall; the default action applies.
pub const REJECT: u16 = 0xfffe;

/// Comparison operators of a compiled predicate.
pub(crate) mod op {
    /// `==`
    pub(crate) const EQ: u8 = 0;
    /// `!=`
    pub(crate) const NE: u8 = 1;
    /// `<`
    pub(crate) const LT: u8 = 2;
    /// `<=`
    pub(crate) const LE: u8 = 3;
    /// `>`
    pub(crate) const GT: u8 = 4;
    /// `>=`
    pub(crate) const GE: u8 = 5;
    /// `&`: any bit in common.
    pub(crate) const BAND: u8 = 6;
    /// `in`: every set bit is in the mask.
    pub(crate) const IN: u8 = 7;

    /// Whether the operator orders values (and so needs the sign bias).
    pub(crate) fn is_ordering(op: u8) -> bool {
        matches!(op, LT | LE | GT | GE)
    }
}

/// `Pred::ext` bit: the argument's type is signed.
pub(crate) const EXT_SIGNED: u8 = 0x80;
/// `Pred::ext` bits: 64 minus the width of the argument's type.
pub(crate) const EXT_SHIFT: u8 = 0x3f;

/// One compiled comparison (16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Pred {
    /// The constant, already converted to the argument's type (sign- or
    /// zero-extended to 64 bits) and, for ordering operators on a signed
    /// type, XOR'ed with `1 << 63` so that one unsigned compare does.
    pub(crate) value: u64,
    /// Where to go when the comparison holds.
    pub(crate) on_true: u16,
    /// Where to go when it does not.
    pub(crate) on_false: u16,
    /// Argument index, `0..6`.
    pub(crate) arg: u8,
    /// One of [`op`].
    pub(crate) op: u8,
    /// `EXT_SIGNED | shift`: how to extend the register to the type.
    pub(crate) ext: u8,
    /// The argument type's code (see `checker::ty_code`), for printing.
    pub(crate) ty: u8,
}

impl Pred {
    /// The all-zero predicate (unused slots).
    pub(crate) const ZERO: Pred = Pred {
        value: 0,
        on_true: 0,
        on_false: 0,
        arg: 0,
        op: 0,
        ext: 0,
        ty: 0,
    };

    /// Evaluates the comparison against the syscall's argument registers.
    #[inline(always)]
    fn test(&self, args: &[u64; 6]) -> bool {
        let raw = match args.get(usize::from(self.arg)) {
            Some(&v) => v,
            None => return false,
        };
        let shift = u32::from(self.ext & EXT_SHIFT);
        let signed = self.ext & EXT_SIGNED != 0;
        let up = raw.wrapping_shl(shift);
        let x = if signed {
            (up as i64).wrapping_shr(shift) as u64
        } else {
            up.wrapping_shr(shift)
        };
        let bias = if signed { 1u64 << 63 } else { 0 };
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

/// How a default action is stored in [`Program`] (0 = kill, so that the
/// all-zero program defaults to kill).
pub(crate) mod default_action {
    /// `default kill`
    pub(crate) const KILL: u8 = 0;
    /// `default errno N`
    pub(crate) const ERRNO: u8 = 1;
    /// `default log`
    pub(crate) const LOG: u8 = 2;
}

/// One compiled policy layer. See the [module documentation](self) for its
/// parts. Its size is [`Program::SIZE`] bytes (21 576); all-zero is the
/// valid empty program whose default action is `kill`.
///
/// Layout contract for the kernel: `Program` is made only of integers and
/// arrays of integers (no references, `bool`s or enums), so zeroed memory
/// (`kvzalloc`) is a valid `Program`, and no byte pattern can make
/// [`Program::evaluate`] or [`Program::print`] misbehave (they bound every
/// access and every jump). Compile into it in place with [`compile`](super::compile).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Program {
    pub(crate) allow: [u64; MAX_NR / 64],
    pub(crate) dispatch: [u16; MAX_NR],
    pub(crate) preds: [Pred; MAX_PROGRAM_PREDICATES],
    pub(crate) code: [u16; MAX_CODE],
    pub(crate) n_preds: u16,
    pub(crate) n_code: u16,
    pub(crate) default_errno: u16,
    pub(crate) default_action: u8,
}

// The size budget of one compiled layer (one kernel allocation).
const _: () = assert!(Program::SIZE <= 48 * 1024);

#[cfg(not(strbox_kmod))]
impl Default for Program {
    fn default() -> Self {
        Program::new()
    }
}

impl Program {
    /// Size of a compiled layer in bytes.
    pub const SIZE: usize = core::mem::size_of::<Program>();

    /// An empty program (everything gets `kill`). This builds the value on
    /// the stack, so it does not exist in the kernel build: there, allocate
    /// zeroed memory (all-zero is this same value) or call
    /// [`Program::init_in_place`].
    #[cfg(not(strbox_kmod))]
    pub const fn new() -> Self {
        Program {
            allow: [0; MAX_NR / 64],
            dispatch: [0; MAX_NR],
            preds: [Pred::ZERO; MAX_PROGRAM_PREDICATES],
            code: [0; MAX_CODE],
            n_preds: 0,
            n_code: 0,
            default_errno: 0,
            default_action: default_action::KILL,
        }
    }

    /// Resets `self` to the empty program in place (no large temporary on
    /// the stack). Afterwards it equals an all-zero program.
    pub fn init_in_place(&mut self) {
        self.allow.fill(0);
        self.dispatch.fill(0);
        self.preds.fill(Pred::ZERO);
        self.code.fill(0);
        self.n_preds = 0;
        self.n_code = 0;
        self.default_errno = 0;
        self.default_action = default_action::KILL;
    }

    /// Size of a compiled layer in bytes (same as [`Program::SIZE`]).
    pub fn byte_size() -> usize {
        Program::SIZE
    }

    /// Number of compiled predicates in use.
    pub fn predicate_count(&self) -> usize {
        usize::from(self.n_preds)
    }

    /// Number of readback code units in use.
    pub fn code_len(&self) -> usize {
        usize::from(self.n_code)
    }

    /// What a syscall that no rule allows gets.
    #[inline]
    pub fn default_verdict(&self) -> Verdict {
        match self.default_action {
            default_action::ERRNO => Verdict::Errno(self.default_errno),
            default_action::LOG => Verdict::Log,
            _ => Verdict::Kill,
        }
    }

    /// Whether syscall `nr` is allowed whatever its arguments (it is in the
    /// constant-allow bitmap).
    #[inline]
    pub fn always_allows(&self, nr: u32) -> bool {
        let i = nr as usize;
        match self.allow.get(i / 64) {
            Some(w) => (w >> (i % 64)) & 1 != 0,
            None => false,
        }
    }

    /// Evaluates this layer for syscall `nr` with argument registers
    /// `args`. Allocates nothing, cannot panic, and ends after at most
    /// [`MAX_PROGRAM_PREDICATES`] comparisons (jump targets only move forward).
    #[inline]
    pub fn evaluate(&self, nr: u32, args: &[u64; 6]) -> Verdict {
        if self.always_allows(nr) {
            return Verdict::Allow;
        }
        let start = match self.dispatch.get(nr as usize) {
            Some(&d) if d != 0 => usize::from(d).wrapping_sub(1),
            _ => return self.default_verdict(),
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
