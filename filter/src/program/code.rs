//! The readback code: one `u16` unit per comparison, per `&&`/`||` node and
//! per syscall that has predicates, in prefix order, so that the
//! [printer](super::super::printer) can rebuild each rule's structure; the
//! comparisons themselves are the predicates, in the same order. The
//! evaluator never reads it.
//!
//! A unit is a kind in bits 0..3, the [`NEG`] flag (bit 3) and a count in
//! bits 4..16:
//!
//! ```text
//! GROUP n   a syscall's first unit: n rules follow (OR'ed, source order)
//! AGROUP n  the same for a syscall with action rules: n rules follow, in
//!           first-match order, each as an action unit and (unless the
//!           action unit is negated: the rule is the constant `1`) its
//!           subtree
//! ACT a     a rule's action: a = 0 allow, 1 log, 2 kill
//! ACT_ERRNO e  a rule's action `errno e`
//! AND n     `&&` over the n subtrees that follow
//! OR n      `||` over the n subtrees that follow
//! LEAF      a comparison: the next predicate
//! ```
//!
//! [`unit`](fn@unit) is the only encoder, [`kind`], [`is_neg`] and [`count`] the
//! only decoders.

use super::super::limits::MAX_ERRNO;
use super::eval::Verdict;

/// A comparison (the next predicate).
pub(crate) const LEAF: u16 = 1;
/// `&&` over `count` children that follow.
pub(crate) const AND: u16 = 2;
/// `||` over `count` children that follow.
pub(crate) const OR: u16 = 3;
/// A syscall's group header: `count` rules follow.
pub(crate) const GROUP: u16 = 4;
/// A syscall's group header when it has action rules.
pub(crate) const AGROUP: u16 = 5;
/// A rule's action (count: 0 allow, 1 log, 2 kill).
pub(crate) const ACT: u16 = 6;
/// A rule's action `errno count`.
pub(crate) const ACT_ERRNO: u16 = 7;
/// The subtree is negated; on an action unit: the rule is the constant
/// `1` (no subtree follows).
pub(crate) const NEG: u16 = 8;
/// Mask of the kind bits.
const KIND: u16 = 7;
/// Shift of the count.
const COUNT_SHIFT: u32 = 4;
/// Largest count (larger ones are clamped; the limits keep them far below).
const MAX_COUNT: usize = 0x0fff;

/// Encodes a unit: `kind` (one of [`LEAF`], [`AND`], [`OR`], [`GROUP`]),
/// negated or not, with `count` (clamped to 12 bits).
pub(crate) fn unit(kind: u16, neg: bool, count: usize) -> u16 {
    let neg = if neg { NEG } else { 0 };
    (kind & KIND) | neg | ((count.min(MAX_COUNT) as u16) << COUNT_SHIFT)
}

/// The kind of a unit.
pub(crate) fn kind(unit: u16) -> u16 {
    unit & KIND
}

/// Whether a unit's subtree is negated.
pub(crate) fn is_neg(unit: u16) -> bool {
    unit & NEG != 0
}

/// The count of a unit.
pub(crate) fn count(unit: u16) -> u16 {
    unit >> COUNT_SHIFT
}

/// The action unit of a rule with jump exit `exit`
/// ([`exit`](super::layout::exit)); `constant`: the rule is `1`.
pub(crate) fn action_unit(exit: u16, constant: bool) -> u16 {
    match super::layout::exit::verdict(exit) {
        Some(Verdict::Errno(e)) => unit(ACT_ERRNO, constant, usize::from(e)),
        Some(Verdict::Log) => unit(ACT, constant, 1),
        Some(Verdict::Kill) => unit(ACT, constant, 2),
        _ => unit(ACT, constant, 0),
    }
}

/// The action of an action unit (`None`: not one).
pub(crate) fn action(unit: u16) -> Option<Verdict> {
    match (kind(unit), count(unit)) {
        (ACT, 0) => Some(Verdict::Allow),
        (ACT, 1) => Some(Verdict::Log),
        (ACT, 2) => Some(Verdict::Kill),
        (ACT_ERRNO, e) if (1..=MAX_ERRNO).contains(&e) => Some(Verdict::Errno(e)),
        _ => None,
    }
}
