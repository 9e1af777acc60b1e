//! Canonical printer: a compiled [`Program`] back to policy text.
//!
//! The canonical form is: the `default` line first, then one line per rule,
//! syscalls in number order and rules of one syscall in source order;
//! syscalls allowed unconditionally print as `name: 1`. Names are printed
//! without `sys_`, fields by their declared names (`argN` past the declared
//! arguments), operators with single spaces, `&&` inside `||` without
//! parentheses and `||` inside `&&` with them, negation as `!(...)`. Values
//! are numbers in the argument's type: decimal (signed for signed types),
//! `NULL`/hex for pointers, hex for `&` and `in` masks. Constants and masks
//! written by name print as their values. Compiling the printed text gives
//! back an identical program.
//!
//! Printing uses an explicit stack bounded by the nesting depth (a few
//! hundred bytes) and no allocation.
//!
//! Input: a [`Program`] alone (its predicates and its readback code) and
//! the architecture's names; the printer knows nothing of the parser or
//! the compiler.

use core::fmt::{self, Write};

use super::limits::{MAX_DEPTH, MAX_NR};
use super::program::code;
use super::program::layout::{Pred, Program};
use super::program::Verdict;
use super::types::{self, op};
use super::uapi::tables::{Arch, ArgType, Syscall};

/// Depth of the printer's stack: `&&`/`||` levels alternate, at most two per
/// parenthesis level.
const PRINT_STACK: usize = 2 * (MAX_DEPTH + 2);

#[derive(Clone, Copy)]
struct Frame {
    is_and: bool,
    remaining: u16,
    close: bool,
}

impl Program {
    /// Writes this layer's canonical text: the `default` line, then one line
    /// per rule, syscalls in number order (`docs/policy-language.md`,
    /// "Canonical form"). `arch` must be the architecture it was compiled
    /// for (it supplies the names).
    pub fn print(&self, arch: &'static Arch, w: &mut dyn Write) -> fmt::Result {
        match self.default_verdict() {
            Verdict::Errno(e) => match arch.errno_name(i64::from(e)) {
                Some(name) => writeln!(w, "default errno {name}")?,
                None => writeln!(w, "default errno {e}")?,
            },
            Verdict::Log => writeln!(w, "default log")?,
            Verdict::Allow | Verdict::Kill => writeln!(w, "default kill")?,
        }
        let mut code_pos = 0usize;
        for nr in 0..MAX_NR as u32 {
            // Allowed outright (no predicates), or the first predicate.
            let first = match (self.always_allows(nr), self.first_pred(nr as usize)) {
                (true, _) => None,
                (false, Some(first)) => Some(first),
                (false, None) => continue,
            };
            let Some(sys) = arch.syscall_by_nr(nr) else {
                return Err(fmt::Error);
            };
            let Some(mut pred_pos) = first else {
                writeln!(w, "{}: 1", sys.name)?;
                continue;
            };
            let header = self.unit_at(code_pos)?;
            code_pos = code_pos.wrapping_add(1);
            if code::kind(header) != code::GROUP {
                return Err(fmt::Error);
            }
            for _ in 0..code::count(header) {
                write!(w, "{}: ", sys.name)?;
                self.print_expr(sys, &mut code_pos, &mut pred_pos, w)?;
                w.write_char('\n')?;
            }
        }
        Ok(())
    }

    fn unit_at(&self, i: usize) -> Result<u16, fmt::Error> {
        self.code_at(i).ok_or(fmt::Error)
    }

    /// Prints one rule's expression from the prefix code at `*code_pos`.
    fn print_expr(
        &self,
        sys: &Syscall,
        code_pos: &mut usize,
        pred_pos: &mut usize,
        w: &mut dyn Write,
    ) -> fmt::Result {
        let mut stack = [Frame {
            is_and: false,
            remaining: 0,
            close: false,
        }; PRINT_STACK];
        let mut sp = 0usize;
        loop {
            // Start of a subtree.
            let unit = self.unit_at(*code_pos)?;
            *code_pos = code_pos.wrapping_add(1);
            let kind = code::kind(unit);
            let neg = code::is_neg(unit);
            let parent_and = sp
                .checked_sub(1)
                .and_then(|top| stack.get(top))
                .is_some_and(|f| f.is_and);
            let close = neg || (parent_and && kind == code::OR);
            if neg {
                w.write_str("!(")?;
            } else if close {
                w.write_char('(')?;
            }
            match kind {
                code::LEAF => {
                    let p = self.pred(*pred_pos).ok_or(fmt::Error)?;
                    *pred_pos = pred_pos.wrapping_add(1);
                    print_pred(sys, p, w)?;
                    if close {
                        w.write_char(')')?;
                    }
                }
                code::AND | code::OR => {
                    let count = code::count(unit);
                    if count == 0 {
                        return Err(fmt::Error);
                    }
                    let slot = stack.get_mut(sp).ok_or(fmt::Error)?;
                    *slot = Frame {
                        is_and: kind == code::AND,
                        remaining: count,
                        close,
                    };
                    sp = sp.wrapping_add(1);
                    continue;
                }
                _ => return Err(fmt::Error),
            }
            // A subtree is complete: close finished parents, or print the
            // operator before the next sibling.
            loop {
                if sp == 0 {
                    return Ok(());
                }
                let top = stack.get_mut(sp.wrapping_sub(1)).ok_or(fmt::Error)?;
                top.remaining = top.remaining.wrapping_sub(1);
                if top.remaining > 0 {
                    w.write_str(if top.is_and { " && " } else { " || " })?;
                    break;
                }
                let close = top.close;
                sp = sp.wrapping_sub(1);
                if close {
                    w.write_char(')')?;
                }
            }
        }
    }
}

/// Prints `field op value` for one predicate.
pub(crate) fn print_pred(sys: &Syscall, p: &Pred, w: &mut dyn Write) -> fmt::Result {
    match sys.args.get(usize::from(p.arg)) {
        Some(a) => w.write_str(a.name)?,
        None => write!(w, "arg{}", p.arg)?,
    }
    write!(w, " {} ", op::name(p.op))?;
    let ty = p.arg_type();
    let v = p.written_value();
    if op::is_mask(p.op) {
        write!(w, "{:#x}", v & types::mask(ty))
    } else if ty == ArgType::Ptr {
        if v == 0 {
            w.write_str("NULL")
        } else {
            write!(w, "{v:#x}")
        }
    } else if types::signed(ty) {
        write!(w, "{}", v as i64)
    } else {
        write!(w, "{v}")
    }
}
