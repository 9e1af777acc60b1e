//! Checker: resolves names against an architecture's tables (syscalls,
//! fields, constants, errnos) and converts values to an argument's declared
//! C type, rejecting values that do not fit.

use super::uapi::tables::{Arch, ArgType, Syscall};

/// Argument type code stored in compiled predicates.
pub(crate) fn ty_code(ty: ArgType) -> u8 {
    match ty {
        ArgType::U8 => 0,
        ArgType::I8 => 1,
        ArgType::U16 => 2,
        ArgType::I16 => 3,
        ArgType::U32 => 4,
        ArgType::I32 => 5,
        ArgType::U64 => 6,
        ArgType::I64 => 7,
        ArgType::Ptr => 8,
    }
}

/// Inverse of [`ty_code`] (unknown codes read as `U64`).
pub(crate) fn ty_from_code(code: u8) -> ArgType {
    match code {
        0 => ArgType::U8,
        1 => ArgType::I8,
        2 => ArgType::U16,
        3 => ArgType::I16,
        4 => ArgType::U32,
        5 => ArgType::I32,
        7 => ArgType::I64,
        8 => ArgType::Ptr,
        _ => ArgType::U64,
    }
}

/// Width of a type in bits.
pub(crate) fn width(ty: ArgType) -> u32 {
    match ty {
        ArgType::U8 | ArgType::I8 => 8,
        ArgType::U16 | ArgType::I16 => 16,
        ArgType::U32 | ArgType::I32 => 32,
        ArgType::U64 | ArgType::I64 | ArgType::Ptr => 64,
    }
}

/// Whether a type is signed.
pub(crate) fn signed(ty: ArgType) -> bool {
    matches!(ty, ArgType::I8 | ArgType::I16 | ArgType::I32 | ArgType::I64)
}

/// `Pred::ext` for a type: signedness bit and `64 - width`.
pub(crate) fn ext(ty: ArgType) -> u8 {
    let shift = 64u32.saturating_sub(width(ty)) as u8;
    if signed(ty) {
        shift | super::program::EXT_SIGNED
    } else {
        shift
    }
}

/// Extends the low `width(ty)` bits of `raw` to 64 bits the way the type
/// does (sign- or zero-extension): what a register holding this argument
/// means.
pub(crate) fn extend(ty: ArgType, raw: u64) -> u64 {
    let shift = 64u32.saturating_sub(width(ty));
    let up = raw.wrapping_shl(shift);
    if signed(ty) {
        (up as i64).wrapping_shr(shift) as u64
    } else {
        up.wrapping_shr(shift)
    }
}

/// A value as written: 64 bits plus whether it is negative (so that
/// `-1` and `0xffffffffffffffff` can be told apart when checking ranges).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Val {
    /// Two's complement bits.
    pub(crate) bits: u64,
    /// Written as a negative number (or a negative constant).
    pub(crate) neg: bool,
}

impl Val {
    /// From a named constant's value.
    pub(crate) fn from_i64(v: i64) -> Val {
        Val {
            bits: v as u64,
            neg: v < 0,
        }
    }

    /// `a | b` (a mask).
    pub(crate) fn or(self, other: Val) -> Val {
        Val {
            bits: self.bits | other.bits,
            neg: self.neg || other.neg,
        }
    }
}

/// Converts a value to the argument type `ty`, as C converts an integer
/// constant: the value must fit in the type's width either as a signed or
/// as an unsigned number (`-2^(w-1) ..= 2^w - 1`); it is then taken modulo
/// `2^w` and read in the type's signedness. Returns the 64-bit extended
/// value, or `None` if it does not fit.
pub(crate) fn fit(ty: ArgType, v: Val) -> Option<u64> {
    let w = width(ty);
    if w < 64 {
        let ok = if v.neg {
            (v.bits as i64) >= (-1i64).wrapping_shl(w.wrapping_sub(1))
        } else {
            v.bits < 1u64.wrapping_shl(w)
        };
        if !ok {
            return None;
        }
    }
    Some(extend(ty, v.bits))
}

/// Finds a syscall by name, with or without the `sys_` prefix.
pub(crate) fn syscall(arch: &'static Arch, name: &[u8]) -> Option<&'static Syscall> {
    let name = core::str::from_utf8(name).ok()?;
    arch.syscall(name)
}

/// Resolves a field of `sys`: a declared argument name or `arg0`..`arg5`.
/// Returns the argument index and its type (`argN` beyond the declared
/// arguments is a raw `U64` register).
pub(crate) fn field(sys: &'static Syscall, name: &[u8]) -> Option<(u8, ArgType)> {
    for (i, a) in sys.args.iter().enumerate().take(6) {
        if a.name.as_bytes() == name {
            return Some((i as u8, a.ty));
        }
    }
    if let [b'a', b'r', b'g', d @ b'0'..=b'5'] = name {
        let i = d.wrapping_sub(b'0');
        let ty = sys
            .args
            .get(usize::from(i))
            .map(|a| a.ty)
            .unwrap_or(ArgType::U64);
        return Some((i, ty));
    }
    None
}

/// Looks up a named constant.
pub(crate) fn constant(arch: &'static Arch, name: &[u8]) -> Option<i64> {
    let name = core::str::from_utf8(name).ok()?;
    arch.constant(name)
}

/// Looks up an errno by name.
pub(crate) fn errno(arch: &'static Arch, name: &[u8]) -> Option<i64> {
    let name = core::str::from_utf8(name).ok()?;
    arch.errno(name)
}
