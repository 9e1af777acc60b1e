//! The layout of a compiled layer, and the only code that encodes or decodes
//! its parts.
//!
//! A [`Program`] is one plain value of fixed size ([`Program::SIZE`] =
//! 31 848 bytes, checked at compile time to stay ≤ 32 000 so that a layer
//! fits one 32 KiB kmalloc) made only of integer arrays: all-zero is a
//! valid, empty program (no rules, default `kill`), so the kernel can
//! allocate it zeroed and compile into it in place. Its parts:
//!
//! | part | size | role |
//! | --- | ---: | --- |
//! | `allow` | 64 B | bitmap over syscall numbers `0..MAX_NR` whose verdict is a constant "allow" (a rule that reduced to `1`): one bit test, no predicate |
//! | `dispatch` | 1 KiB | per syscall number: 0 = no rule (the default action), else 1 + the index of its first predicate |
//! | `preds` | 16 KiB | [`MAX_PROGRAM_PREDICATES`] × 16-byte [`Pred`]s |
//! | `code` | 5 KiB | [`MAX_CODE`] readback units ([`super::code`]) |
//! | counters, default | 8 B | predicates and code units in use, default action and errno |
//! | `ev_dispatch` | 8 B | per [`Event`]: 0 = no predicates, else 1 + the index of its first predicate |
//! | `pool` | 8 KiB | [`MAX_STRING_BYTES`]: the string and address literals of the event predicates, in predicate order |
//! | `n_pool`, masks, flag | 5 B | pool bytes in use; events with rules; events allowed outright (a rule reduced to `1`); "syscalls unrestricted" (every rule is an event rule) |
//! | `act` | 1 KiB | per syscall with action rules (`=> ACTION`): 0 = none; 1 + the first predicate of its first-match program; or an [`exit`] = its constant verdict |
//! | `ev_act`, `ev_unavail` | 16 B | `act` for the events; per event the exit its rules give when the path is unavailable (0 = the default) |
//!
//! Syscalls and events share the predicate array and the readback code
//! (events after all syscalls), but not the bitmap or the dispatch table:
//! a syscall number at or above [`MAX_NR`] finds no slot and gets the
//! default action (or `Allow` in an event-only layer), never an event's
//! predicates. A string or address predicate's `value` is a
//! [`types::pool_ref`]: pool offset (bits 0..16), length (16..32) and, for
//! `in`, the prefix length in bits of the 16-byte form (32..40); its `arg`
//! is the event field's id. The evaluator bounds every pool access.//!
//! Each predicate compares one argument with a constant and names two jump
//! targets, one taken when the comparison holds and one when it fails. A
//! target is either a later predicate (targets only ever move forward, so
//! evaluation always ends) or one of the two exits: [`ACCEPT`] (allow) or
//! [`REJECT`] (default action). This is the shape of ftrace's 2018 filter
//! "prog" (`struct prog_entry`, `target` and `when_to_branch`).

use super::super::event::{Event, EVENTS};
use super::super::limits::{MAX_CODE, MAX_NR, MAX_PROGRAM_PREDICATES, MAX_STRING_BYTES};
use super::super::types::{self, op};
use super::super::uapi::tables::ArgType;
use super::eval::Verdict;

/// Jump target: the syscall is allowed.
pub const ACCEPT: u16 = 0xffff;
/// Jump target: no rule allows the syscall; the default action applies.
pub const REJECT: u16 = 0xfffe;

/// Jump exits: every target at or above [`exit::MIN`] ends a run. v1's
/// two ([`ACCEPT`], [`REJECT`]) are the only ones an allow-only layer
/// uses; a rule with an action (`=> kill`, `=> log`, `=> errno N`) jumps
/// to its own exit when its expression is true. Predicate indices are
/// below [`MAX_PROGRAM_PREDICATES`], far below [`exit::MIN`].
pub(crate) mod exit {
    use super::super::super::limits::MAX_ERRNO;
    use super::super::eval::Verdict;

    pub(crate) use super::ACCEPT;
    /// `=> errno N`: `ERRNO | N` (`N` in `1..=MAX_ERRNO`, 12 bits).
    pub(crate) const ERRNO: u16 = 0xe000;
    /// `=> log`.
    pub(crate) const LOG: u16 = 0xfffc;
    /// `=> kill`.
    pub(crate) const KILL: u16 = 0xfffd;
    /// The lowest exit: targets from here on end the run.
    pub(crate) const MIN: u16 = ERRNO;
    /// The errno bits of an [`ERRNO`] exit.
    const ERRNO_MASK: u16 = 0x0fff;

    /// The exit of a rule whose action is `v` (`Allow`: [`ACCEPT`]).
    pub(crate) fn of(v: Verdict) -> u16 {
        match v {
            Verdict::Allow => ACCEPT,
            Verdict::Log => LOG,
            Verdict::Kill => KILL,
            Verdict::Errno(e) => ERRNO | (e & ERRNO_MASK),
        }
    }

    /// The verdict of exit `t`; `None` for [`REJECT`](super::REJECT) (the default action)
    /// and for anything that is no exit the compiler writes.
    #[inline]
    pub(crate) fn verdict(t: u16) -> Option<Verdict> {
        match t {
            ACCEPT => Some(Verdict::Allow),
            KILL => Some(Verdict::Kill),
            LOG => Some(Verdict::Log),
            _ if t & !ERRNO_MASK == ERRNO && (1..=MAX_ERRNO).contains(&(t & ERRNO_MASK)) => {
                Some(Verdict::Errno(t & ERRNO_MASK))
            }
            _ => None,
        }
    }
}

/// The sign bias: a signed ordering (`<` `<=` `>` `>=` on a signed type)
/// is done as one unsigned compare of `x ^ SIGN_BIAS` with a constant that
/// was stored XOR'ed with it too ([`Pred::new`]; undone by
/// [`Pred::written_value`]). Flipping the top bit maps `i64::MIN..=i64::MAX`
/// onto `0..=u64::MAX` in order.
pub(crate) const SIGN_BIAS: u64 = 1 << 63;

/// [`Pred::ext`] bit: the argument's type is signed.
pub(crate) const EXT_SIGNED: u8 = 0x80;
/// [`Pred::ext`] bits: 64 minus the width of the argument's type.
pub(crate) const EXT_SHIFT: u8 = 0x3f;
/// [`Pred::ext`] bit: the predicate is an `==` whose false branch is the
/// next predicate (`x == a || x == b || ...`). Whatever its `op` and
/// `on_false` hold, the evaluator and the view read a flagged predicate
/// as `==` going on to predicate `i + 1` when it fails, so a run of them
/// on one argument is tested in one tight loop: the register read once,
/// and one byte compare of `ext` (flag and type at once) and one of `arg`
/// per member. [`Program::mark_eq_runs`] sets it only where that is what
/// the predicate already says.
pub(crate) const EXT_EQ_NEXT: u8 = 0x40;

/// One compiled comparison (16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Pred {
    /// The constant, already converted to the argument's type (sign- or
    /// zero-extended to 64 bits) and, for ordering operators on a signed
    /// type, XOR'ed with [`SIGN_BIAS`].
    pub(crate) value: u64,
    /// Where to go when the comparison holds.
    pub(crate) on_true: u16,
    /// Where to go when it does not.
    pub(crate) on_false: u16,
    /// Argument index, `0..6`.
    pub(crate) arg: u8,
    /// One of [`types::op`].
    pub(crate) op: u8,
    /// `EXT_SIGNED | shift`: how to extend the register to the type.
    pub(crate) ext: u8,
    /// The argument type's code ([`types::ty_code`]), for printing.
    pub(crate) ty: u8,
}

const _: () = assert!(core::mem::size_of::<Pred>() == 16);

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

    /// Encodes `args[arg] OP value` on an argument of type `ty`; `value` is
    /// already converted to the type. Both targets are 0 (to be filled).
    pub(crate) fn new(arg: u8, opc: u8, ty: ArgType, value: u64) -> Pred {
        let signed = types::signed(ty);
        let shift = types::shift(ty) as u8;
        let bias = if signed && op::is_ordering(opc) {
            SIGN_BIAS
        } else {
            0
        };
        Pred {
            value: value ^ bias,
            on_true: 0,
            on_false: 0,
            arg,
            op: opc,
            ext: if signed { shift | EXT_SIGNED } else { shift },
            ty: types::ty_code(ty),
        }
    }

    /// The argument's type.
    pub(crate) fn arg_type(&self) -> ArgType {
        types::ty_from_code(self.ty)
    }

    /// Whether the predicate is an `==` that falls through to the next
    /// one when it fails ([`EXT_EQ_NEXT`]).
    #[inline(always)]
    pub(crate) fn eq_next(&self) -> bool {
        self.ext & EXT_EQ_NEXT != 0
    }

    /// The constant as converted to the argument's type, without the sign
    /// bias: inverse of the encoding in [`Pred::new`].
    pub(crate) fn written_value(&self) -> u64 {
        if op::is_ordering(self.op) && types::signed(self.arg_type()) {
            self.value ^ SIGN_BIAS
        } else {
            self.value
        }
    }
}

/// How a default action is stored in [`Program`] (0 = kill, so that the
/// all-zero program defaults to kill).
mod default_action {
    /// `default kill`
    pub(super) const KILL: u8 = 0;
    /// `default errno N`
    pub(super) const ERRNO: u8 = 1;
    /// `default log`
    pub(super) const LOG: u8 = 2;
    /// `default allow`
    pub(super) const ALLOW: u8 = 3;
}

/// One compiled policy layer: allow bitmap, dispatch table, predicates,
/// readback code, default action (`filter/src/program/layout.rs` documents
/// each part). Its size is [`Program::SIZE`] bytes (31 848); all-zero is
/// the valid empty program whose default action is `kill`.
///
/// Layout contract for the kernel: `Program` is made only of integers and
/// arrays of integers (no references, `bool`s or enums), so zeroed memory
/// (`kvzalloc`) is a valid `Program`, and no byte pattern can make
/// [`Program::evaluate`] or [`Program::print`] misbehave (they bound every
/// access and every jump). Compile into it in place with
/// [`compile`](fn@super::super::compile).
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
    /// Per event: 0 = no predicates, else 1 + the index of its first one.
    pub(crate) ev_dispatch: [u16; EVENTS],
    /// The string and address literals of the predicates, in predicate
    /// order ([`types::pool_ref`] values point here).
    pub(crate) pool: [u8; MAX_STRING_BYTES],
    /// Pool bytes in use.
    pub(crate) n_pool: u16,
    /// Bit `ev`: the layer has rules for event `ev`.
    pub(crate) ev_rules: u8,
    /// Bit `ev`: a rule for event `ev` reduced to `1` (allowed outright).
    pub(crate) ev_allow: u8,
    /// Nonzero: every rule is an event rule, so syscalls are unrestricted
    /// (0, the all-zero value, is v1's meaning: syscalls are restricted).
    pub(crate) syscalls_open: u8,
    /// Per syscall number with action rules (`=> ACTION`): 0 = none (the
    /// allow bitmap and `dispatch` decide, as in v1); `1..=MAX_PROGRAM_PREDICATES`
    /// = 1 + the first predicate of its first-match program (`dispatch`
    /// is 0 then); an [`exit`] = its constant verdict. Read only where
    /// `dispatch` is 0 (the hot path never sees it).
    pub(crate) act: [u16; MAX_NR],
    /// `act` for the events.
    pub(crate) ev_act: [u16; EVENTS],
    /// Per event: the [`exit`] its rules give when the path is
    /// unavailable, if more severe than the default (0: the default).
    pub(crate) ev_unavail: [u16; EVENTS],
}

// The size budget of one compiled layer: one 32 KiB kmalloc, with room
// for the allocator's bookkeeping.
const _: () = assert!(Program::SIZE <= 32_000);

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
            ev_dispatch: [0; EVENTS],
            pool: [0; MAX_STRING_BYTES],
            n_pool: 0,
            ev_rules: 0,
            ev_allow: 0,
            syscalls_open: 0,
            act: [0; MAX_NR],
            ev_act: [0; EVENTS],
            ev_unavail: [0; EVENTS],
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
        self.ev_dispatch.fill(0);
        self.pool.fill(0);
        self.n_pool = 0;
        self.ev_rules = 0;
        self.ev_allow = 0;
        self.syscalls_open = 0;
        self.act.fill(0);
        self.ev_act.fill(0);
        self.ev_unavail.fill(0);
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

    // ------------------------------------------------------------ default

    /// What a syscall that no rule decides gets (`Allow` for a
    /// `default allow` layer).
    #[inline]
    pub fn default_verdict(&self) -> Verdict {
        match self.default_action {
            default_action::ERRNO => Verdict::Errno(self.default_errno),
            default_action::LOG => Verdict::Log,
            default_action::ALLOW => Verdict::Allow,
            _ => Verdict::Kill,
        }
    }

    /// Stores the default action.
    pub(crate) fn set_default_verdict(&mut self, v: Verdict) {
        (self.default_action, self.default_errno) = match v {
            Verdict::Errno(e) => (default_action::ERRNO, e),
            Verdict::Log => (default_action::LOG, 0),
            Verdict::Allow => (default_action::ALLOW, 0),
            Verdict::Kill => (default_action::KILL, 0),
        };
    }

    /// The verdict of jump exit `t` ([`REJECT`] or a value that is no
    /// exit: the default action).
    #[inline]
    pub(crate) fn exit_verdict(&self, t: u16) -> Verdict {
        match exit::verdict(t) {
            Some(v) => v,
            None => self.default_verdict(),
        }
    }

    // ------------------------------------------------------ action rules

    /// Syscall `nr`'s action entry (see [`Program::act`]; 0: none).
    #[inline]
    pub(crate) fn action_entry(&self, nr: usize) -> u16 {
        self.act.get(nr).copied().unwrap_or(0)
    }

    /// Event `ev`'s action entry.
    #[inline]
    pub(crate) fn event_action_entry(&self, ev: Event) -> u16 {
        self.ev_act.get(ev as usize).copied().unwrap_or(0)
    }

    /// Sets the action entry of rule key `key` (a syscall number, or
    /// `MAX_NR + event`).
    pub(crate) fn set_action_entry(&mut self, key: usize, entry: u16) {
        let slot = match key.checked_sub(MAX_NR) {
            Some(ev) => self.ev_act.get_mut(ev),
            None => self.act.get_mut(key),
        };
        if let Some(slot) = slot {
            *slot = entry;
        }
    }

    /// The verdict of event `ev` when its path is unavailable.
    #[inline]
    pub(crate) fn event_unavailable_verdict(&self, ev: Event) -> Verdict {
        self.exit_verdict(self.ev_unavail.get(ev as usize).copied().unwrap_or(0))
    }

    /// Records what event `ev` gives when its path is unavailable.
    pub(crate) fn set_event_unavailable(&mut self, ev: Event, t: u16) {
        if let Some(slot) = self.ev_unavail.get_mut(ev as usize) {
            *slot = t;
        }
    }

    /// What a syscall no rule allows gets: the default action, or `Allow`
    /// when the layer has only event rules (it leaves syscalls alone).
    #[inline]
    pub(crate) fn unlisted_verdict(&self) -> Verdict {
        if self.syscalls_open != 0 {
            Verdict::Allow
        } else {
            self.default_verdict()
        }
    }

    /// Whether the layer leaves syscalls unrestricted (all its rules are
    /// event rules).
    pub fn syscalls_unrestricted(&self) -> bool {
        self.syscalls_open != 0
    }

    /// Marks the layer as leaving syscalls unrestricted.
    pub(crate) fn set_syscalls_unrestricted(&mut self) {
        self.syscalls_open = 1;
    }

    // ------------------------------------------------------------- events

    /// Whether this layer has rules for event `ev` (even rules that
    /// reduced to `0`).
    #[inline]
    pub fn has_event_rules(&self, ev: Event) -> bool {
        u32::from(self.ev_rules) & ev.bit() != 0
    }

    /// The OR of [`Event::bit`] of the events this layer has rules for.
    #[inline]
    pub fn event_mask(&self) -> u32 {
        u32::from(self.ev_rules) & ((1 << EVENTS) - 1)
    }

    /// Records that the layer has rules for `ev`.
    pub(crate) fn set_event_rules(&mut self, ev: Event) {
        self.ev_rules |= ev.bit() as u8;
    }

    /// Whether a rule for `ev` reduced to `1`.
    #[inline]
    pub(crate) fn event_always_allows(&self, ev: Event) -> bool {
        u32::from(self.ev_allow) & ev.bit() != 0
    }

    /// Records that a rule for `ev` reduced to `1`.
    pub(crate) fn set_event_always_allows(&mut self, ev: Event) {
        self.ev_allow |= ev.bit() as u8;
    }

    /// The index of event `ev`'s first predicate, if it has any.
    #[inline]
    pub(crate) fn event_first_pred(&self, ev: Event) -> Option<usize> {
        match self.ev_dispatch.get(ev as usize) {
            Some(&d) if d != 0 => Some(usize::from(d).wrapping_sub(1)),
            _ => None,
        }
    }

    /// Makes the next predicate to be pushed event `ev`'s first one.
    pub(crate) fn set_event_first_pred(&mut self, ev: Event) {
        let first = self.n_preds.wrapping_add(1);
        if let Some(d) = self.ev_dispatch.get_mut(ev as usize) {
            *d = first;
        }
    }

    // ------------------------------------------------------------- pool

    /// Appends `bytes` to the string pool: their offset, or `None` if
    /// they do not fit.
    pub(crate) fn push_pool(&mut self, bytes: &[u8]) -> Option<usize> {
        let off = usize::from(self.n_pool);
        let end = off.checked_add(bytes.len())?;
        self.pool.get_mut(off..end)?.copy_from_slice(bytes);
        self.n_pool = end as u16;
        Some(off)
    }

    /// The pool bytes a predicate value points at (`None`: out of bounds,
    /// never for a compiled program).
    #[inline]
    pub(crate) fn pool_bytes(&self, value: u64) -> Option<&[u8]> {
        let (off, len, _) = types::pool_parts(value);
        self.pool.get(off..off.wrapping_add(len))
    }

    /// The address a predicate value points at.
    pub(crate) fn pool_addr(&self, value: u64) -> Option<&[u8; 16]> {
        self.pool_bytes(value)?.try_into().ok()
    }

    /// Number of string pool bytes in use.
    pub fn pool_len(&self) -> usize {
        usize::from(self.n_pool)
    }

    // ------------------------------------------------- bitmap and dispatch

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

    /// Puts syscall `nr` in the constant-allow bitmap (ignored beyond it).
    pub(crate) fn set_always_allows(&mut self, nr: usize) {
        if let Some(w) = self.allow.get_mut(nr / 64) {
            *w |= 1u64 << (nr % 64);
        }
    }

    /// The index of syscall `nr`'s first predicate, if it has any.
    #[inline(always)]
    pub(crate) fn first_pred(&self, nr: usize) -> Option<usize> {
        match self.dispatch.get(nr) {
            Some(&d) if d != 0 => Some(usize::from(d).wrapping_sub(1)),
            _ => None,
        }
    }

    /// Makes the next predicate to be pushed syscall `nr`'s first one.
    /// False if `nr` is beyond the dispatch table.
    pub(crate) fn set_first_pred(&mut self, nr: usize) -> bool {
        let first = self.n_preds.wrapping_add(1);
        match self.dispatch.get_mut(nr) {
            Some(d) => {
                *d = first;
                true
            }
            None => false,
        }
    }

    // ------------------------------------------------- predicates and code

    /// The index the next pushed predicate will have (a jump target).
    pub(crate) fn next_pred(&self) -> u16 {
        self.n_preds
    }

    /// Appends a predicate; false if the array is full.
    pub(crate) fn push_pred(&mut self, p: Pred) -> bool {
        match self.preds.get_mut(usize::from(self.n_preds)) {
            Some(slot) => *slot = p,
            None => return false,
        }
        self.n_preds = self.n_preds.wrapping_add(1);
        true
    }

    /// Appends a readback code unit; false if the array is full.
    pub(crate) fn push_code(&mut self, unit: u16) -> bool {
        match self.code.get_mut(usize::from(self.n_code)) {
            Some(slot) => *slot = unit,
            None => return false,
        }
        self.n_code = self.n_code.wrapping_add(1);
        true
    }

    /// Predicate `i` (any slot of the array: the printer follows the
    /// dispatch table and the readback code, which bound it themselves).
    pub(crate) fn pred(&self, i: usize) -> Option<&Pred> {
        self.preds.get(i)
    }

    /// Flags every `==` whose false branch is the next predicate, itself
    /// an `==` on the same argument and type, with [`EXT_EQ_NEXT`] (run
    /// once, after the last predicate is laid out). The flag changes no
    /// verdict: it marks exactly what the predicate already says, so that
    /// `x == a || x == b || ...` is tested in one loop.
    pub(crate) fn mark_eq_runs(&mut self) {
        for i in 1..usize::from(self.n_preds) {
            let Some(&next) = self.preds.get(i) else {
                break;
            };
            if let Some(p) = self.preds.get_mut(i.wrapping_sub(1)) {
                if p.op == op::EQ
                    && usize::from(p.on_false) == i
                    && next.op == op::EQ
                    && next.arg == p.arg
                    && next.ext == p.ext
                {
                    p.ext |= EXT_EQ_NEXT;
                }
            }
        }
    }

    /// Readback unit `i`, if it is in use.
    pub(crate) fn code_at(&self, i: usize) -> Option<u16> {
        if i >= usize::from(self.n_code) {
            return None;
        }
        self.code.get(i).copied()
    }
}
