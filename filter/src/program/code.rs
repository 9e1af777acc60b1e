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
//! AND n     `&&` over the n subtrees that follow
//! OR n      `||` over the n subtrees that follow
//! LEAF      a comparison: the next predicate
//! ```
//!
//! [`unit`](fn@unit) is the only encoder, [`kind`], [`is_neg`] and [`count`] the
//! only decoders.

/// A comparison (the next predicate).
pub(crate) const LEAF: u16 = 1;
/// `&&` over `count` children that follow.
pub(crate) const AND: u16 = 2;
/// `||` over `count` children that follow.
pub(crate) const OR: u16 = 3;
/// A syscall's group header: `count` rules follow.
pub(crate) const GROUP: u16 = 4;
/// The subtree is negated.
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
