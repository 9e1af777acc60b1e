//! Reference interpreter: a plain AST (with `Box`), rendered to policy text
//! in many spellings, and evaluated directly with wide (`i128`) arithmetic.
//! It shares no code with the engine except the arch tables: the property
//! tests compare the two.

use std::boxed::Box;
use std::format;
use std::string::String;
use std::vec::Vec;

use crate::uapi::tables::{Arch, ArgType, Syscall};
use crate::Verdict;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Band,
    In,
}

impl Op {
    pub(crate) const ALL: [Op; 8] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::Band,
        Op::In,
    ];

    fn text(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Band => "&",
            Op::In => "in",
        }
    }
}

/// An expression.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    /// `field op value`: `arg` is the argument index, `field` its spelling,
    /// `value` the number as written (mathematical value), `text` its
    /// spelling.
    Cmp {
        arg: usize,
        field: String,
        op: Op,
        value: i128,
        text: String,
    },
    Lit(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A default action.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Default {
    Unset,
    Allow,
    Kill,
    Log,
    Errno(u16),
}

/// A policy.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) default: Default,
    /// (syscall name as written, syscall, expression)
    pub(crate) rules: Vec<(String, &'static Syscall, Expr)>,
    /// Per rule (same index): its action, `Allow` for a plain rule.
    pub(crate) actions: Vec<Verdict>,
}

pub(crate) fn ty_of(sys: &Syscall, arg: usize) -> ArgType {
    sys.args.get(arg).map(|a| a.ty).unwrap_or(ArgType::U64)
}

pub(crate) fn width(ty: ArgType) -> u32 {
    match ty {
        ArgType::U8 | ArgType::I8 => 8,
        ArgType::U16 | ArgType::I16 => 16,
        ArgType::U32 | ArgType::I32 => 32,
        _ => 64,
    }
}

pub(crate) fn is_signed(ty: ArgType) -> bool {
    matches!(ty, ArgType::I8 | ArgType::I16 | ArgType::I32 | ArgType::I64)
}

/// The mathematical value of the low `width` bits of `bits` read in the
/// type's signedness.
pub(crate) fn as_type(ty: ArgType, bits: i128) -> i128 {
    let w = width(ty);
    let m = (1i128 << w) - 1;
    let low = bits & m; // i128 & with a positive mask: 0..2^w
    if is_signed(ty) && low >= (1i128 << (w - 1)) {
        low - (1i128 << w)
    } else {
        low
    }
}

impl Expr {
    /// Evaluates against the registers of `sys`.
    pub(crate) fn eval(&self, sys: &Syscall, args: &[u64; 6]) -> bool {
        match self {
            Expr::Lit(b) => *b,
            Expr::Not(e) => !e.eval(sys, args),
            Expr::And(a, b) => a.eval(sys, args) && b.eval(sys, args),
            Expr::Or(a, b) => a.eval(sys, args) || b.eval(sys, args),
            Expr::Cmp { arg, op, value, .. } => {
                let ty = ty_of(sys, *arg);
                let w = width(ty);
                let m = (1i128 << w) - 1;
                let x = as_type(ty, i128::from(args[*arg]));
                let v = as_type(ty, *value);
                let (xb, vb) = (x & m, v & m);
                match op {
                    Op::Eq => x == v,
                    Op::Ne => x != v,
                    Op::Lt => x < v,
                    Op::Le => x <= v,
                    Op::Gt => x > v,
                    Op::Ge => x >= v,
                    Op::Band => xb & vb != 0,
                    Op::In => xb & !vb & m == 0,
                }
            }
        }
    }

    fn is_primary(&self) -> bool {
        matches!(self, Expr::Cmp { .. } | Expr::Lit(_) | Expr::Not(_))
    }

    /// Renders with the needed parentheses, plus extra ones when `extra`
    /// says so.
    pub(crate) fn render(&self, out: &mut String, extra: &mut dyn FnMut() -> bool) {
        let paren = |e: &Expr, out: &mut String, extra: &mut dyn FnMut() -> bool, need: bool| {
            let p = need || extra();
            if p {
                out.push('(');
            }
            e.render(out, extra);
            if p {
                out.push(')');
            }
        };
        match self {
            Expr::Lit(b) => out.push_str(if *b { "1" } else { "0" }),
            Expr::Cmp {
                field, op, text, ..
            } => {
                out.push_str(field);
                out.push_str(if extra() { " " } else { "" });
                if *op == Op::In {
                    out.push_str(" in ");
                } else {
                    out.push_str(op.text());
                }
                out.push(' ');
                out.push_str(text);
            }
            Expr::Not(e) => {
                out.push('!');
                // `!cmp` negates the whole comparison, as in ftrace.
                paren(e, out, extra, !e.is_primary());
            }
            Expr::And(a, b) => {
                paren(a, out, extra, matches!(**a, Expr::Or(..)));
                out.push_str(" && ");
                paren(b, out, extra, matches!(**b, Expr::Or(..)));
            }
            Expr::Or(a, b) => {
                paren(a, out, extra, false);
                out.push_str(" || ");
                paren(b, out, extra, false);
            }
        }
    }

    /// Number of comparisons and literals.
    pub(crate) fn terms(&self) -> usize {
        match self {
            Expr::Cmp { .. } | Expr::Lit(_) => 1,
            Expr::Not(e) => e.terms(),
            Expr::And(a, b) | Expr::Or(a, b) => a.terms() + b.terms(),
        }
    }

    /// The values written in comparisons (to aim random arguments at).
    pub(crate) fn values(&self, out: &mut Vec<(usize, i128)>) {
        match self {
            Expr::Cmp { arg, value, .. } => out.push((*arg, *value)),
            Expr::Lit(_) => {}
            Expr::Not(e) => e.values(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.values(out);
                b.values(out);
            }
        }
    }
}

impl Policy {
    fn default_verdict(&self) -> Verdict {
        match self.default {
            Default::Unset | Default::Kill => Verdict::Kill,
            Default::Allow => Verdict::Allow,
            Default::Log => Verdict::Log,
            Default::Errno(n) => Verdict::Errno(n),
        }
    }

    /// The reference verdict for one layer (language v2): of the rules for
    /// `nr` whose expression is true, the most severe action, the first
    /// in source order among equals; the default when none is true.
    pub(crate) fn eval(&self, nr: u32, args: &[u64; 6]) -> Verdict {
        let mut best: Option<Verdict> = None;
        for ((_, sys, e), &a) in self.rules.iter().zip(&self.actions) {
            if sys.nr == nr && e.eval(sys, args) && best.is_none_or(|b| a.severity() > b.severity())
            {
                best = Some(a);
            }
        }
        best.unwrap_or_else(|| self.default_verdict())
    }

    /// v1's meaning, for allow-only policies: allowed when any rule for
    /// `nr` is true, else the default.
    pub(crate) fn eval_v1(&self, nr: u32, args: &[u64; 6]) -> Verdict {
        for (_, sys, e) in &self.rules {
            if sys.nr == nr && e.eval(sys, args) {
                return Verdict::Allow;
            }
        }
        self.default_verdict()
    }

    /// Renders the policy; `extra` decides optional parentheses/blanks.
    pub(crate) fn render(&self, arch: &Arch, extra: &mut dyn FnMut() -> bool) -> String {
        let mut s = String::new();
        if extra() {
            s.push_str("# generated\n");
        }
        let default = match self.default {
            Default::Unset => None,
            Default::Allow => Some(String::from("default allow")),
            Default::Kill => Some(String::from("default kill")),
            Default::Log => Some(String::from("default log")),
            Default::Errno(n) => Some(match arch.errno_name(i64::from(n)) {
                Some(name) if extra() => format!("default errno {name}"),
                _ => format!("default errno {n}"),
            }),
        };
        let pos = if extra() { 0 } else { self.rules.len() };
        for (i, (name, _, e)) in self.rules.iter().enumerate() {
            if i == pos {
                if let Some(d) = &default {
                    s.push_str(d);
                    s.push('\n');
                }
            }
            s.push_str(name);
            s.push_str(": ");
            e.render(&mut s, extra);
            let action = self.actions.get(i).copied().unwrap_or(Verdict::Allow);
            let arrow = if extra() { "=>" } else { " => " };
            match action {
                Verdict::Allow if extra() => s.push_str(&format!("{arrow}allow")),
                Verdict::Allow => {}
                Verdict::Kill => s.push_str(&format!("{arrow}kill")),
                Verdict::Log => s.push_str(&format!("{arrow}log")),
                Verdict::Errno(n) => match arch.errno_name(i64::from(n)) {
                    Some(name) if extra() => s.push_str(&format!("{arrow}errno {name}")),
                    _ => s.push_str(&format!("{arrow}errno {n}")),
                },
            }
            if extra() {
                s.push_str(" # comment");
            }
            s.push('\n');
        }
        if pos >= self.rules.len() {
            if let Some(d) = &default {
                s.push_str(d);
                s.push('\n');
            }
        }
        s
    }
}
