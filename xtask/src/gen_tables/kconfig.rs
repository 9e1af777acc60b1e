//! Kconfig, as far as choosing between conflicting `SYSCALL_DEFINE`s needs
//! it: the symbols an arch always selects (`kconfig_selects`: the
//! unconditional `select`s of the arch's `kconfig_blocks`), and `#if`
//! conditions evaluated with those on and every other `CONFIG_*` off
//! (`eval_condition_text`); any other identifier is unknown.
//!
//! Uses spec.rs, lex.rs, value.rs and expr.rs; used by defines.rs.

use anyhow::Result;
use std::collections::HashSet;
use std::path::Path;

use super::expr::{eval, parse_defined, parse_expr, tri_of, Env};
use super::lex::{read, tokenize, Tok};
use super::spec::ArchSpec;
use super::value::{EvalErr, Scalar, Tri, Val};

pub(super) fn kconfig_selects(ksrc: &Path, spec: &ArchSpec) -> Result<HashSet<String>> {
    let text = read(&ksrc.join(spec.kconfig))?;
    let mut out: HashSet<String> = spec
        .kconfig_blocks
        .iter()
        .map(|b| format!("CONFIG_{b}"))
        .collect();
    let mut in_block = false;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
            in_block = line
                .strip_prefix("config ")
                .is_some_and(|n| spec.kconfig_blocks.contains(&n.trim()));
            continue;
        }
        if in_block {
            let l = line.trim();
            if let Some(sym) = l.strip_prefix("select ") {
                if !sym.contains(" if ") {
                    out.insert(format!("CONFIG_{}", sym.trim()));
                }
            }
        }
    }
    Ok(out)
}

pub(super) struct KconfigEnv<'a> {
    pub(super) selected: &'a HashSet<String>,
}

impl Env for KconfigEnv<'_> {
    fn ident(&self, name: &str) -> Result<Val, EvalErr> {
        if name.starts_with("CONFIG_") {
            Ok(Val::int(self.selected.contains(name) as i128))
        } else {
            Err(EvalErr::Unknown)
        }
    }
    fn cast_type(&self, _: &[Tok]) -> Option<Result<Scalar, EvalErr>> {
        None
    }
    fn pp(&self) -> bool {
        true
    }
}

pub(super) fn eval_condition_text(cond: &str, env: &KconfigEnv) -> Tri {
    let toks = match tokenize(cond) {
        Ok(t) => t,
        Err(_) => return Tri::Unknown,
    };
    // defined(X) / defined X -> value of X.
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == Tok::Ident("defined".into()) {
            let (name, next) = parse_defined(&toks, i);
            let Some(name) = name else {
                return Tri::Unknown;
            };
            out.push(match env.ident(&name) {
                Ok(v) => Tok::Num(v.v.to_string()),
                Err(_) => Tok::Unknown,
            });
            i = next;
        } else {
            out.push(toks[i].clone());
            i += 1;
        }
    }
    tri_of(parse_expr(&out, env).and_then(|e| eval(&e, env)))
}
