//! Lookups in what cpp.rs collected, once the headers are read: the value
//! of a named constant (`ConstEval`: an object-like macro or enumerator,
//! expanded with the final macro table and evaluated by expr.rs), and the
//! scalar type of a type name (`Pp::scalar`, following typedefs), from which
//! `Pp::arg_type` gives a syscall argument's `Ty` (the generated `ArgType`).
//! The two share a file because they recurse into each other: a cast or
//! `sizeof` in a constant needs a type, and an enum's type depends on its
//! enumerators' values.
//!
//! Uses cpp.rs, lex.rs, value.rs and expr.rs; used by mod.rs, and `Ty` by
//! render.rs.

use std::collections::{HashMap, HashSet};

use super::cpp::{EnumValue, MacroState, Pp, TypeDef, IGNORED_QUALIFIERS};
use super::expr::{eval, parse_expr, Env};
use super::lex::{tokenize, Tok};
use super::value::{EvalErr, IntTy, Scalar, Val};

impl Pp<'_> {
    /// Resolves a type (tokens without qualifiers) to a scalar.
    fn scalar(&self, words: &[&str], depth: u32) -> Result<Scalar, String> {
        if depth > 20 {
            return Err("typedef loop".into());
        }
        let words: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !IGNORED_QUALIFIERS.contains(w))
            .collect();
        match words.as_slice() {
            ["enum", tag] => return self.enum_scalar(tag),
            ["struct" | "union", ..] => return Err("a struct/union, not a scalar".into()),
            _ => {}
        }
        let base = [
            "unsigned",
            "signed",
            "int",
            "long",
            "short",
            "char",
            "__signed__",
        ];
        if words.iter().all(|w| base.contains(w)) && !words.is_empty() {
            let longs = words.iter().filter(|w| **w == "long").count();
            let unsigned = words.contains(&"unsigned");
            let signed = words.iter().any(|w| *w == "signed" || *w == "__signed__");
            let bits = if words.contains(&"char") {
                8
            } else if words.contains(&"short") {
                16
            } else if longs > 0 {
                64
            } else {
                32
            };
            let is_signed = if unsigned {
                false
            } else if bits == 8 && !signed {
                self.arch.char_signed
            } else {
                true
            };
            return Ok(Scalar {
                bits,
                signed: is_signed,
            });
        }
        if let [name] = words.as_slice() {
            if *name == "_Bool" || *name == "bool" {
                return Ok(Scalar {
                    bits: 8,
                    signed: false,
                });
            }
            return match self.typedefs.get(*name) {
                Some(TypeDef::Alias(b)) => {
                    let b: Vec<&str> = b.iter().map(String::as_str).collect();
                    self.scalar(&b, depth + 1)
                }
                Some(TypeDef::Pointer) => Err("pointer".into()),
                Some(TypeDef::Other) => Err(format!("{name} is not a scalar type")),
                Some(TypeDef::Ambiguous) => Err(format!("{name} has conflicting typedefs")),
                None => Err(format!("no typedef for {name}")),
            };
        }
        Err(format!("cannot resolve type `{}`", words.join(" ")))
    }

    /// GCC/clang: an enum's type is `unsigned int` unless an enumerator is
    /// negative (then `int`).
    fn enum_scalar(&self, tag: &str) -> Result<Scalar, String> {
        let names = self
            .enum_tags
            .get(tag)
            .ok_or_else(|| format!("no definition of enum {tag}"))?;
        let ev = ConstEval::new(self);
        let mut signed = false;
        for n in names {
            let v = ev
                .eval_enum(n)
                .map_err(|e| format!("enum {tag}: {n}: {e:?}"))?;
            if v.v < 0 {
                signed = true;
            }
            if v.v > u32::MAX as i128 || v.v < i32::MIN as i128 {
                return Err(format!("enum {tag} does not fit 32 bits"));
            }
        }
        Ok(Scalar { bits: 32, signed })
    }

    /// The comparison type of a syscall argument declared with `ctype`.
    pub(super) fn arg_type(&self, ctype: &str) -> Result<Ty, String> {
        if ctype.contains('*') {
            return Ok(Ty::Ptr);
        }
        let words: Vec<&str> = ctype.split(' ').collect();
        match self.scalar(&words, 0) {
            Ok(s) => Ok(Ty::from_scalar(s)),
            Err(e) if e == "pointer" => Ok(Ty::Ptr),
            Err(e) => Err(e),
        }
    }
}

/// Evaluates constants (object-like macros and enumerators) with the final
/// macro table.
pub(super) struct ConstEval<'p, 'a> {
    pp: &'p Pp<'a>,
    cache: std::cell::RefCell<HashMap<String, Result<Val, EvalErr>>>,
    busy: std::cell::RefCell<HashSet<String>>,
}

impl<'p, 'a> ConstEval<'p, 'a> {
    pub(super) fn new(pp: &'p Pp<'a>) -> Self {
        ConstEval {
            pp,
            cache: Default::default(),
            busy: Default::default(),
        }
    }

    pub(super) fn eval_text(&self, text: &str) -> Result<Val, EvalErr> {
        let toks = tokenize(text)?;
        self.eval_tokens(&toks)
    }

    fn eval_tokens(&self, toks: &[Tok]) -> Result<Val, EvalErr> {
        let expanded = self.pp.expand(toks, &mut Vec::new(), 0)?;
        let e = parse_expr(&expanded, self)?;
        eval(&e, self)
    }

    pub(super) fn eval_name(&self, name: &str) -> Result<Val, EvalErr> {
        match self.pp.macros.get(name) {
            Some(MacroState::Def(m)) if m.params.is_none() => {
                self.eval_tokens(&[Tok::Ident(name.to_string())])
            }
            Some(_) => Err(EvalErr::Unknown),
            None => self.eval_enum(name),
        }
    }

    fn eval_enum(&self, name: &str) -> Result<Val, EvalErr> {
        if let Some(v) = self.cache.borrow().get(name) {
            return *v;
        }
        if !self.busy.borrow_mut().insert(name.to_string()) {
            return Err(EvalErr::Invalid("recursive enumerator"));
        }
        let r = match self.pp.enums.get(name) {
            None => Err(EvalErr::Invalid("unknown identifier")),
            Some((EnumValue::Expr(t), _)) => self.eval_tokens(t),
            Some((EnumValue::Next(None, off), _)) => Ok(Val::int(*off)),
            Some((EnumValue::Next(Some(p), off), _)) => {
                self.eval_enum(p).map(|v| Val::new(v.v + off, v.ty))
            }
        };
        // Enumerators have type int when the value fits.
        let r = r.map(|v| {
            if IntTy::Int.wrap(v.v) == v.v {
                Val::int(v.v)
            } else {
                v
            }
        });
        self.busy.borrow_mut().remove(name);
        self.cache.borrow_mut().insert(name.to_string(), r);
        r
    }
}

impl Env for ConstEval<'_, '_> {
    fn ident(&self, name: &str) -> Result<Val, EvalErr> {
        self.eval_enum(name)
    }
    fn cast_type(&self, toks: &[Tok]) -> Option<Result<Scalar, EvalErr>> {
        let mut words = Vec::new();
        for t in toks {
            match t {
                Tok::Ident(w) => words.push(w.as_str()),
                Tok::Punct("*") => {
                    // A pointer cast: a type, but not a usable constant.
                    return self
                        .looks_like_type(&words)
                        .then_some(Err(EvalErr::Invalid("pointer")));
                }
                _ => return None,
            }
        }
        if !self.looks_like_type(&words) {
            return None;
        }
        Some(
            self.pp
                .scalar(&words, 0)
                .map_err(|_| EvalErr::Invalid("cast to unknown type")),
        )
    }
    fn pp(&self) -> bool {
        false
    }
}

impl ConstEval<'_, '_> {
    fn looks_like_type(&self, words: &[&str]) -> bool {
        !words.is_empty()
            && words.iter().all(|w| {
                matches!(
                    *w,
                    "unsigned"
                        | "signed"
                        | "int"
                        | "long"
                        | "short"
                        | "char"
                        | "void"
                        | "struct"
                        | "union"
                        | "enum"
                        | "_Bool"
                ) || IGNORED_QUALIFIERS.contains(w)
                    || self.pp.typedefs.contains_key(*w)
            })
            && !words
                .iter()
                .any(|w| self.pp.macros.contains_key(*w) || self.pp.enums.contains_key(*w))
    }
}

/// `ArgType` variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ty {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    Ptr,
}

impl Ty {
    fn from_scalar(s: Scalar) -> Ty {
        match (s.bits, s.signed) {
            (8, false) => Ty::U8,
            (8, true) => Ty::I8,
            (16, false) => Ty::U16,
            (16, true) => Ty::I16,
            (32, false) => Ty::U32,
            (32, true) => Ty::I32,
            (_, false) => Ty::U64,
            (_, true) => Ty::I64,
        }
    }
}
