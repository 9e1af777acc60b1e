//! Name resolution against an architecture's tables: syscalls, fields,
//! constants, errnos; and the conversion of a written value to a field's
//! declared C type, rejecting values that do not fit.
//!
//! The parser calls these as it reads each name, the way ftrace's
//! `parse_pred()` looks a field up the moment it reads it: the parse tree
//! then holds no names at all (only argument indices, types and converted
//! values), and the first error in text order is the one reported. This
//! module knows nothing of the parser, the tree or the program.

use super::types;
use super::uapi::tables::{Arch, ArgType, Syscall};

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
    /// Zero (also `NULL`, and the start of a mask).
    pub(crate) const ZERO: Val = Val {
        bits: 0,
        neg: false,
    };

    /// A non-negative number as written.
    pub(crate) fn from_u64(v: u64) -> Val {
        Val {
            bits: v,
            neg: false,
        }
    }

    /// `-magnitude`, for a written `- NUMBER`; `None` below `-2^63`.
    pub(crate) fn negated(magnitude: u64) -> Option<Val> {
        if magnitude > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(Val {
            bits: magnitude.wrapping_neg(),
            neg: magnitude != 0,
        })
    }

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
    let w = types::width(ty);
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
    Some(types::extend(ty, v.bits))
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
