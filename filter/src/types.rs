//! The vocabulary shared by the parse tree ([`super::ast`]) and the compiled
//! program ([`super::program`]): how a C argument type reads a register, the
//! small integer codes that store a type in either of them, and the
//! comparison operators. Depends on nothing but the uapi tables, so every
//! stage can use it without an edge back up the pipeline.

use super::uapi::tables::ArgType;

/// Width of a type in bits ([`ArgType::width_signed`], the one
/// definition).
pub(crate) fn width(ty: ArgType) -> u32 {
    ty.width_signed().0
}

/// Whether a type is signed.
pub(crate) fn signed(ty: ArgType) -> bool {
    ty.width_signed().1
}

/// `64 - width(ty)`: how far the type's bits sit below the top of a register.
pub(crate) fn shift(ty: ArgType) -> u32 {
    64u32.saturating_sub(width(ty))
}

/// The one definition of "what a register holding this argument means":
/// keeps the low `64 - shift` bits of `raw` and sign- or zero-extends them
/// back to 64 bits. Used by the evaluator on every comparison and by the
/// resolver when it converts a written value to the argument's type.
#[inline(always)]
pub(crate) fn extend_bits(raw: u64, shift: u32, signed: bool) -> u64 {
    let up = raw.wrapping_shl(shift);
    if signed {
        (up as i64).wrapping_shr(shift) as u64
    } else {
        up.wrapping_shr(shift)
    }
}

/// [`extend_bits`] for a type.
pub(crate) fn extend(ty: ArgType, raw: u64) -> u64 {
    extend_bits(raw, shift(ty), signed(ty))
}

/// The mask of a type's own bits (`0xff` for `u8`, all ones for 64 bits).
pub(crate) fn mask(ty: ArgType) -> u64 {
    u64::MAX.wrapping_shr(shift(ty))
}

/// Every type, at the index that is its code. The only definition of the
/// codes: [`ty_code`] and [`ty_from_code`] both read it.
const BY_CODE: [ArgType; 9] = [
    ArgType::U8,
    ArgType::I8,
    ArgType::U16,
    ArgType::I16,
    ArgType::U32,
    ArgType::I32,
    ArgType::U64,
    ArgType::I64,
    ArgType::Ptr,
];

/// The code that stores a type in a parse-tree leaf and in a compiled
/// predicate (integers only, so that all-zero memory stays valid).
pub(crate) fn ty_code(ty: ArgType) -> u8 {
    let code = BY_CODE.iter().position(|&t| t == ty).unwrap_or(6);
    code as u8
}

/// Inverse of [`ty_code`] (unknown codes read as `U64`).
pub(crate) fn ty_from_code(code: u8) -> ArgType {
    BY_CODE
        .get(usize::from(code))
        .copied()
        .unwrap_or(ArgType::U64)
}

/// The value of a string or address comparison: where its literal is in
/// the string pool (`off`, `len` bytes) and, for `in`, the prefix length
/// in bits of the 16-byte form.
pub(crate) fn pool_ref(off: usize, len: usize, plen: u8) -> u64 {
    (off as u64 & 0xffff) | ((len as u64 & 0xffff) << 16) | (u64::from(plen) << 32)
}

/// Inverse of [`pool_ref`]: `(off, len, plen)`.
pub(crate) fn pool_parts(v: u64) -> (usize, usize, u8) {
    (
        (v & 0xffff) as usize,
        ((v >> 16) & 0xffff) as usize,
        (v >> 32) as u8,
    )
}

/// Comparison operators, as stored in a parse-tree leaf and in a compiled
/// predicate.
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
    /// `==` on a string field (the value is a pool reference,
    /// [`pool_ref`](super::pool_ref)).
    pub(crate) const STR_EQ: u8 = 8;
    /// `!=` on a string field.
    pub(crate) const STR_NE: u8 = 9;
    /// `~` (glob) on a string field.
    pub(crate) const GLOB: u8 = 10;
    /// `==` on an address field (16 pool bytes).
    pub(crate) const ADDR_EQ: u8 = 11;
    /// `!=` on an address field.
    pub(crate) const ADDR_NE: u8 = 12;
    /// `in ADDR/LEN` on an address field.
    pub(crate) const ADDR_IN: u8 = 13;

    /// Whether the operator compares pool bytes (strings, addresses)
    /// rather than a register.
    pub(crate) fn is_pooled(op: u8) -> bool {
        matches!(op, STR_EQ..=ADDR_IN)
    }

    /// Whether the operator orders values (and so needs the sign bias on a
    /// signed type, see `program::layout::SIGN_BIAS`).
    pub(crate) fn is_ordering(op: u8) -> bool {
        matches!(op, LT | LE | GT | GE)
    }

    /// Whether the operator tests bits against a mask (`&`, `in`).
    pub(crate) fn is_mask(op: u8) -> bool {
        matches!(op, BAND | IN)
    }

    /// How the operator is written (unknown codes read as `in`, as the
    /// evaluator reads them).
    pub(crate) fn name(op: u8) -> &'static str {
        match op {
            EQ => "==",
            NE => "!=",
            LT => "<",
            LE => "<=",
            GT => ">",
            GE => ">=",
            BAND => "&",
            STR_EQ | ADDR_EQ => "==",
            STR_NE | ADDR_NE => "!=",
            GLOB => "~",
            _ => "in",
        }
    }
}
