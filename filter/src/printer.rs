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

use super::addr;
use super::event::{Event, FieldKind};
use super::limits::{MAX_DEPTH, MAX_NR};
use super::program::code;
use super::program::layout::{exit, Pred, Program};
use super::program::Verdict;
use super::types::{self, op};
use super::uapi::tables::{Arch, ArgType, Syscall};

/// Depth of the printer's stack: `&&`/`||` levels alternate, at most two per
/// parenthesis level.
const PRINT_STACK: usize = 2 * (MAX_DEPTH + 2);

/// Where a rule's field names come from.
#[derive(Clone, Copy)]
enum Names<'a> {
    /// A syscall's arguments.
    Syscall(&'a Syscall),
    /// An event's fields.
    Event(Event),
}

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
        w.write_str("default ")?;
        print_action(arch, self.default_verdict(), w)?;
        w.write_char('\n')?;
        let mut code_pos = 0usize;
        let mut syscall_lines = false;
        for nr in 0..MAX_NR as u32 {
            // Allowed outright (no predicates), or the first predicate, or
            // action rules.
            let entry = self.action_entry(nr as usize);
            let first = match (self.always_allows(nr), self.first_pred(nr as usize)) {
                (true, _) => None,
                (false, Some(first)) => Some(first),
                (false, None) if entry != 0 => None,
                (false, None) => continue,
            };
            let Some(sys) = arch.syscall_by_nr(nr) else {
                return Err(fmt::Error);
            };
            syscall_lines = true;
            if let Some(pred_pos) = first {
                self.print_group(sys.name, Names::Syscall(sys), &mut code_pos, pred_pos, w)?;
            } else if self.always_allows(nr) {
                writeln!(w, "{}: 1", sys.name)?;
            } else {
                self.print_actions(arch, sys.name, Names::Syscall(sys), entry, &mut code_pos, w)?;
            }
        }
        if self.event_mask() == 0 {
            return Ok(());
        }
        if !syscall_lines && !self.syscalls_unrestricted() {
            // Syscall rules that all reduced to `0` left no line, yet
            // they make the layer restrict syscalls: say so with one.
            let first = (0..MAX_NR as u32).find_map(|nr| arch.syscall_by_nr(nr));
            let Some(sys) = first else {
                return Err(fmt::Error);
            };
            writeln!(w, "{}: 0", sys.name)?;
        }
        for ev in Event::ALL {
            if !self.has_event_rules(ev) {
                continue;
            }
            let name = ev.name();
            let entry = self.event_action_entry(ev);
            if entry != 0 {
                self.print_actions(arch, name, Names::Event(ev), entry, &mut code_pos, w)?;
            } else if self.event_always_allows(ev) {
                writeln!(w, "{name}: 1")?;
            } else if let Some(pred_pos) = self.event_first_pred(ev) {
                self.print_group(name, Names::Event(ev), &mut code_pos, pred_pos, w)?;
            } else {
                // Rules that all reduced to `0`: the event is denied.
                writeln!(w, "{name}: 0")?;
            }
        }
        Ok(())
    }

    /// Prints the rules of one syscall or event from its group header at
    /// `*code_pos`.
    fn print_group(
        &self,
        name: &str,
        names: Names<'_>,
        code_pos: &mut usize,
        mut pred_pos: usize,
        w: &mut dyn Write,
    ) -> fmt::Result {
        let header = self.unit_at(*code_pos)?;
        *code_pos = code_pos.wrapping_add(1);
        if code::kind(header) != code::GROUP {
            return Err(fmt::Error);
        }
        for _ in 0..code::count(header) {
            write!(w, "{name}: ")?;
            self.print_expr(names, code_pos, &mut pred_pos, w)?;
            w.write_char('\n')?;
        }
        Ok(())
    }

    /// Prints the rules of a syscall or event with action rules: one
    /// `name: 1 => ACTION` line for a constant entry, else its first-match
    /// program's rules from the `AGROUP` header at `*code_pos`, each with
    /// its action.
    fn print_actions(
        &self,
        arch: &'static Arch,
        name: &str,
        names: Names<'_>,
        entry: u16,
        code_pos: &mut usize,
        w: &mut dyn Write,
    ) -> fmt::Result {
        if entry >= exit::MIN {
            let v = exit::verdict(entry).ok_or(fmt::Error)?;
            write!(w, "{name}: 1")?;
            return print_suffix(arch, v, w);
        }
        let mut pred_pos = usize::from(entry).wrapping_sub(1);
        let header = self.unit_at(*code_pos)?;
        *code_pos = code_pos.wrapping_add(1);
        if code::kind(header) != code::AGROUP {
            return Err(fmt::Error);
        }
        for _ in 0..code::count(header) {
            let unit = self.unit_at(*code_pos)?;
            *code_pos = code_pos.wrapping_add(1);
            let v = code::action(unit).ok_or(fmt::Error)?;
            write!(w, "{name}: ")?;
            if code::is_neg(unit) {
                w.write_char('1')?;
            } else {
                self.print_expr(names, code_pos, &mut pred_pos, w)?;
            }
            print_suffix(arch, v, w)?;
        }
        Ok(())
    }

    fn unit_at(&self, i: usize) -> Result<u16, fmt::Error> {
        self.code_at(i).ok_or(fmt::Error)
    }

    /// Prints one rule's expression from the prefix code at `*code_pos`.
    fn print_expr(
        &self,
        names: Names<'_>,
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
                    match names {
                        Names::Syscall(sys) => print_pred(sys, p, w)?,
                        Names::Event(ev) => self.print_event_pred(ev, p, w)?,
                    }
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

impl Program {
    /// Prints `field op value` for one predicate of event `ev`.
    fn print_event_pred(&self, ev: Event, p: &Pred, w: &mut dyn Write) -> fmt::Result {
        let Some(field) = ev.field_by_id(p.arg) else {
            return Err(fmt::Error);
        };
        match field.kind {
            FieldKind::Num(_) => {
                w.write_str(field.name)?;
                print_op_value(p, w)
            }
            FieldKind::Str => {
                let lit = self.pool_bytes(p.value).ok_or(fmt::Error)?;
                write!(w, "{} {} ", field.name, op::name(p.op))?;
                print_string(lit, w)
            }
            FieldKind::Addr => {
                let a = self.pool_addr(p.value).ok_or(fmt::Error)?;
                let (_, _, plen) = types::pool_parts(p.value);
                write!(w, "{} {} ", field.name, op::name(p.op))?;
                addr::write(w, a, plen, p.op == op::ADDR_IN)
            }
        }
    }
}

/// Prints an action: `allow`, `kill`, `log`, `errno NAME` (by name when
/// the errno has one) or `errno N`.
fn print_action(arch: &'static Arch, v: Verdict, w: &mut dyn Write) -> fmt::Result {
    match v {
        Verdict::Errno(e) => match arch.errno_name(i64::from(e)) {
            Some(name) => write!(w, "errno {name}"),
            None => write!(w, "errno {e}"),
        },
        Verdict::Log => w.write_str("log"),
        Verdict::Allow => w.write_str("allow"),
        Verdict::Kill => w.write_str("kill"),
    }
}

/// Ends a rule's line: ` => ACTION` unless the action is `allow`.
fn print_suffix(arch: &'static Arch, v: Verdict, w: &mut dyn Write) -> fmt::Result {
    if v != Verdict::Allow {
        w.write_str(" => ")?;
        print_action(arch, v, w)?;
    }
    w.write_char('\n')
}

/// Prints a string literal: printable ASCII but `"` and `\` as is, `\n`,
/// `\"`, `\\`, everything else as `\xNN`.
pub(crate) fn print_string(s: &[u8], w: &mut dyn Write) -> fmt::Result {
    w.write_char('"')?;
    for &b in s {
        match b {
            b'"' => w.write_str("\\\"")?,
            b'\\' => w.write_str("\\\\")?,
            b'\n' => w.write_str("\\n")?,
            0x20..=0x7e => w.write_char(char::from(b))?,
            _ => write!(w, "\\x{b:02x}")?,
        }
    }
    w.write_char('"')
}

/// Prints `field op value` for one predicate.
pub(crate) fn print_pred(sys: &Syscall, p: &Pred, w: &mut dyn Write) -> fmt::Result {
    match sys.args.get(usize::from(p.arg)) {
        Some(a) => w.write_str(a.name)?,
        None => write!(w, "arg{}", p.arg)?,
    }
    print_op_value(p, w)
}

/// Prints ` op value` of a numeric predicate.
fn print_op_value(p: &Pred, w: &mut dyn Write) -> fmt::Result {
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
