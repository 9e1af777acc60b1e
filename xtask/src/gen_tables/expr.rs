//! Constant expressions: a parser from tokens (lex.rs) to `Expr`, and an
//! evaluator with C's integer semantics (value.rs), or `#if` arithmetic in
//! intmax_t. What an identifier is worth, and whether a token run names a
//! type (for casts and `sizeof`), is asked of an `Env`: kconfig.rs
//! (`CONFIG_*` symbols), cpp.rs (`#if` lines) and resolve.rs (named
//! constants) each implement one. An unknown operand makes the result
//! unknown unless the other operand decides it (`0 && x`, `1 || x`, equal
//! `?:` arms).
//!
//! Uses lex.rs and value.rs.

use super::lex::Tok;
use super::value::{parse_number, EvalErr, IntTy, Scalar, Tri, Val};

pub(super) trait Env {
    /// Value of an identifier left after macro expansion.
    fn ident(&self, name: &str) -> Result<Val, EvalErr>;
    /// If `toks` name a scalar type, the type (for casts and sizeof).
    fn cast_type(&self, toks: &[Tok]) -> Option<Result<Scalar, EvalErr>>;
    /// `#if` arithmetic (intmax_t) rather than C's.
    fn pp(&self) -> bool;
}

#[derive(Debug)]
pub(super) enum Expr {
    Val(Val),
    Err(EvalErr),
    Ident(String),
    Un(&'static str, Box<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Cast(Scalar, Box<Expr>),
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    env: &'a dyn Env,
    depth: u32,
}

pub(super) fn parse_expr(toks: &[Tok], env: &dyn Env) -> Result<Expr, EvalErr> {
    let mut p = Parser {
        toks,
        pos: 0,
        env,
        depth: 0,
    };
    let e = p.ternary()?;
    if p.pos != toks.len() {
        return Err(EvalErr::Invalid("trailing tokens"));
    }
    Ok(e)
}

const BINARY_LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", ">", "<=", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }
    fn expect(&mut self, p: &str) -> Result<(), EvalErr> {
        if self.is_punct(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(EvalErr::Invalid("syntax error"))
        }
    }
    fn ternary(&mut self) -> Result<Expr, EvalErr> {
        self.depth += 1;
        if self.depth > 200 {
            return Err(EvalErr::Invalid("expression too deep"));
        }
        let c = self.binary(0)?;
        let r = if self.is_punct("?") {
            self.pos += 1;
            let a = self.ternary()?;
            self.expect(":")?;
            let b = self.ternary()?;
            Expr::Cond(Box::new(c), Box::new(a), Box::new(b))
        } else {
            c
        };
        self.depth -= 1;
        Ok(r)
    }
    fn binary(&mut self, level: usize) -> Result<Expr, EvalErr> {
        if level == BINARY_LEVELS.len() {
            return self.unary();
        }
        let mut l = self.binary(level + 1)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct(p)) if BINARY_LEVELS[level].contains(p) => *p,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.binary(level + 1)?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }
    /// The tokens of a parenthesised group starting at `self.pos` (`(`).
    fn group_end(&self) -> Option<usize> {
        let mut depth = 0;
        for (i, t) in self.toks[self.pos..].iter().enumerate() {
            match t {
                Tok::Punct("(") => depth += 1,
                Tok::Punct(")") => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(self.pos + i);
                    }
                }
                _ => {}
            }
        }
        None
    }
    fn unary(&mut self) -> Result<Expr, EvalErr> {
        self.depth += 1;
        if self.depth > 200 {
            return Err(EvalErr::Invalid("expression too deep"));
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }
    fn unary_inner(&mut self) -> Result<Expr, EvalErr> {
        match self.peek().cloned() {
            Some(Tok::Punct(op @ ("-" | "+" | "!" | "~"))) => {
                self.pos += 1;
                Ok(Expr::Un(op, Box::new(self.unary()?)))
            }
            Some(Tok::Ident(n)) if n == "sizeof" => {
                self.pos += 1;
                if !self.is_punct("(") {
                    return Err(EvalErr::Invalid("sizeof without parentheses"));
                }
                let end = self.group_end().ok_or(EvalErr::Invalid("unbalanced"))?;
                let inner = &self.toks[self.pos + 1..end];
                self.pos = end + 1;
                Ok(match self.env.cast_type(inner) {
                    Some(Ok(s)) => Expr::Val(Val::new((s.bits / 8) as i128, IntTy::ULong)),
                    Some(Err(e)) => Expr::Err(e),
                    None => Expr::Err(EvalErr::Invalid("sizeof of a non-scalar")),
                })
            }
            Some(Tok::Punct("(")) => {
                let end = self.group_end().ok_or(EvalErr::Invalid("unbalanced"))?;
                let inner = &self.toks[self.pos + 1..end];
                if let Some(ty) = self.env.cast_type(inner) {
                    self.pos = end + 1;
                    let operand = self.unary()?;
                    return Ok(match ty {
                        Ok(s) => Expr::Cast(s, Box::new(operand)),
                        Err(e) => Expr::Err(e),
                    });
                }
                self.pos += 1;
                let e = self.ternary()?;
                self.expect(")")?;
                Ok(e)
            }
            _ => self.primary(),
        }
    }
    fn primary(&mut self) -> Result<Expr, EvalErr> {
        let t = self
            .peek()
            .cloned()
            .ok_or(EvalErr::Invalid("unexpected end"))?;
        self.pos += 1;
        Ok(match t {
            Tok::Num(s) => match parse_number(&s, self.env.pp()) {
                Ok(v) => Expr::Val(v),
                Err(e) => Expr::Err(e),
            },
            Tok::Char(c) => Expr::Val(Val::int(c)),
            Tok::Unknown => Expr::Err(EvalErr::Unknown),
            Tok::Ident(n) => {
                if self.is_punct("(") {
                    // A call of something that is not a macro.
                    let end = self.group_end().ok_or(EvalErr::Invalid("unbalanced"))?;
                    self.pos = end + 1;
                    Expr::Err(if self.env.pp() {
                        EvalErr::Unknown
                    } else {
                        EvalErr::Invalid("function call")
                    })
                } else {
                    Expr::Ident(n)
                }
            }
            _ => return Err(EvalErr::Invalid("unexpected token")),
        })
    }
}

pub(super) fn eval(e: &Expr, env: &dyn Env) -> Result<Val, EvalErr> {
    let truth = |v: Val| Val::int((v.v != 0) as i128);
    Ok(match e {
        Expr::Val(v) => *v,
        Expr::Err(e) => return Err(*e),
        Expr::Ident(n) => env.ident(n)?,
        Expr::Cast(s, x) => s.cast(eval(x, env)?),
        Expr::Un(op, x) => {
            let v = eval(x, env)?;
            match *op {
                "-" => Val::new(-v.v, v.ty),
                "+" => v,
                "~" => Val::new(!v.v, v.ty),
                _ => Val::int((v.v == 0) as i128),
            }
        }
        Expr::Cond(c, a, b) => match eval(c, env) {
            Ok(c) => {
                let (a, b) = (eval(a, env)?, eval(b, env)?);
                let ty = IntTy::common(a.ty, b.ty);
                Val::new(if c.v != 0 { a.v } else { b.v }, ty)
            }
            Err(EvalErr::Unknown) => {
                let (a, b) = (eval(a, env)?, eval(b, env)?);
                if a.v == b.v {
                    a
                } else {
                    return Err(EvalErr::Unknown);
                }
            }
            Err(e) => return Err(e),
        },
        Expr::Bin(op @ ("&&" | "||"), a, b) => {
            let is_and = *op == "&&";
            let short = |v: &Val| (v.v != 0) != is_and;
            match eval(a, env) {
                Ok(l) if short(&l) => truth(l),
                Ok(_) => truth(eval(b, env)?),
                Err(EvalErr::Unknown) => match eval(b, env) {
                    Ok(r) if short(&r) => truth(r),
                    Ok(_) | Err(EvalErr::Unknown) => return Err(EvalErr::Unknown),
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        Expr::Bin(op, a, b) => {
            let (l, r) = (eval(a, env), eval(b, env));
            let (l, r) = match (l, r) {
                (Ok(l), Ok(r)) => (l, r),
                (Err(EvalErr::Invalid(m)), _) | (_, Err(EvalErr::Invalid(m))) => {
                    return Err(EvalErr::Invalid(m))
                }
                _ => return Err(EvalErr::Unknown),
            };
            if matches!(*op, "<<" | ">>") {
                if r.v < 0 || r.v >= l.ty.bits() as i128 {
                    return Err(EvalErr::Invalid("shift out of range"));
                }
                let v = if *op == "<<" { l.v << r.v } else { l.v >> r.v };
                return Ok(Val::new(v, l.ty));
            }
            let ty = IntTy::common(l.ty, r.ty);
            let (x, y) = (ty.wrap(l.v), ty.wrap(r.v));
            let cmp = |b: bool| Val::int(b as i128);
            match *op {
                "+" => Val::new(x + y, ty),
                "-" => Val::new(x - y, ty),
                "*" => Val::new(x * y, ty),
                "/" | "%" => {
                    if y == 0 {
                        return Err(EvalErr::Invalid("division by zero"));
                    }
                    Val::new(if *op == "/" { x / y } else { x % y }, ty)
                }
                "&" => Val::new(x & y, ty),
                "|" => Val::new(x | y, ty),
                "^" => Val::new(x ^ y, ty),
                "==" => cmp(x == y),
                "!=" => cmp(x != y),
                "<" => cmp(x < y),
                ">" => cmp(x > y),
                "<=" => cmp(x <= y),
                ">=" => cmp(x >= y),
                _ => return Err(EvalErr::Invalid("operator")),
            }
        }
    })
}

/// `defined X` / `defined ( X )` at `toks[i]`: the name and the next index.
pub(super) fn parse_defined(toks: &[Tok], i: usize) -> (Option<String>, usize) {
    match (toks.get(i + 1), toks.get(i + 2), toks.get(i + 3)) {
        (Some(Tok::Punct("(")), Some(Tok::Ident(n)), Some(Tok::Punct(")"))) => {
            (Some(n.clone()), i + 4)
        }
        (Some(Tok::Ident(n)), _, _) => (Some(n.clone()), i + 2),
        _ => (None, i + 1),
    }
}

pub(super) fn tri_of(r: Result<Val, EvalErr>) -> Tri {
    match r {
        Ok(v) if v.v != 0 => Tri::True,
        Ok(_) => Tri::False,
        Err(_) => Tri::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokenize;
    use super::*;

    struct NoEnv;
    impl Env for NoEnv {
        fn ident(&self, _: &str) -> Result<Val, EvalErr> {
            Err(EvalErr::Invalid("unknown identifier"))
        }
        fn cast_type(&self, toks: &[Tok]) -> Option<Result<Scalar, EvalErr>> {
            match toks {
                [Tok::Ident(i)] if i == "int" => Some(Ok(Scalar {
                    bits: 32,
                    signed: true,
                })),
                [Tok::Ident(u), Tok::Ident(i)] if u == "unsigned" && i == "int" => {
                    Some(Ok(Scalar {
                        bits: 32,
                        signed: false,
                    }))
                }
                _ => None,
            }
        }
        fn pp(&self) -> bool {
            false
        }
    }

    fn ev(s: &str) -> Result<i64, EvalErr> {
        let t = tokenize(s)?;
        Ok(eval(&parse_expr(&t, &NoEnv)?, &NoEnv)?.to_i64())
    }

    #[test]
    fn c_integer_semantics() {
        assert_eq!(ev("0x10 | 010 | 1"), Ok(25));
        assert_eq!(ev("~0U"), Ok(0xffff_ffff));
        assert_eq!(ev("~0"), Ok(-1));
        assert_eq!(ev("~0UL"), Ok(-1));
        assert_eq!(ev("1U << 31"), Ok(0x8000_0000));
        assert_eq!(ev("(int)0x80000000"), Ok(i32::MIN as i64));
        assert_eq!(ev("(unsigned int)-1"), Ok(0xffff_ffff));
        assert_eq!(ev("0x200000000ULL"), Ok(0x2_0000_0000));
        assert_eq!(ev("-1 < 0U"), Ok(0)); // -1 converts to UINT_MAX
        assert_eq!(ev("-1L < 0U"), Ok(1)); // long holds every unsigned int
        assert_eq!(ev("'T' << 8 | 1"), Ok(0x5401));
        assert_eq!(ev("1 ? 2 : 3"), Ok(2));
        assert_eq!(ev("(1 << 0) + 2 * 3"), Ok(7));
        assert!(ev("1 << 64").is_err());
        assert!(ev("1 / 0").is_err());
        assert!(ev("foo").is_err());
    }
}
