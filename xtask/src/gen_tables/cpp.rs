//! A small C preprocessor over the arch's uapi headers and a few
//! kernel-internal ones (`Pp`): resolves `#include` like the kernel's
//! include paths (`asm/` falling back to `asm-generic/`), decides
//! `#if`/`#ifdef` in three-valued logic (what an undecidable region defines
//! becomes `MacroState::Unknown`), expands macros, and collects from the
//! active text the enumerators, `enum` tags and typedefs. It leaves behind
//! tables: macros, object-like defines and enumerators in order with their
//! files, typedefs.
//!
//! Uses spec.rs, lex.rs, value.rs and expr.rs (for `#if`). resolve.rs reads
//! the tables; mod.rs decides which headers are read.

use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::expr::{eval, parse_defined, parse_expr, tri_of, Env};
use super::lex::{clean_source, read, split_word, tokenize, Tok};
use super::spec::{ArchSpec, COMMON_PREDEFINED};
use super::value::{EvalErr, IntTy, Scalar, Tri, Val};

#[derive(Debug)]
pub(super) struct Macro {
    pub(super) params: Option<Vec<String>>,
    body: Vec<Tok>,
}

#[derive(Clone)]
pub(super) enum MacroState {
    Def(Rc<Macro>),
    /// Defined or undefined under a condition that could not be decided.
    Unknown,
}

pub(super) enum EnumValue {
    Expr(Vec<Tok>),
    /// The previous enumerator (if any) plus an offset.
    Next(Option<String>, i128),
}

pub(super) enum TypeDef {
    /// `typedef <base> name;`: the base's tokens.
    Alias(Vec<String>),
    Pointer,
    /// A struct, union, array or function type.
    Other,
    /// Conflicting definitions.
    Ambiguous,
}

struct Frame {
    /// Truth of the enclosing region.
    parent: Tri,
    /// Truth of the current branch.
    cur: Tri,
    /// Whether some earlier branch was taken.
    taken: Tri,
}

pub(super) struct Pp<'a> {
    ksrc: &'a Path,
    pub(super) arch: &'a ArchSpec,
    pub(super) macros: HashMap<String, MacroState>,
    /// Files read, relative to `ksrc`.
    pub(super) files: Vec<PathBuf>,
    pub(super) file_is_uapi: Vec<bool>,
    /// Kernel-internal root files and the constant prefixes they provide.
    pub(super) kernel_prefixes: HashMap<usize, &'static [&'static str]>,
    /// Object-like macros defined in decided regions, with their file.
    defines: Vec<(String, usize)>,
    pub(super) enums: HashMap<String, (EnumValue, usize)>,
    enum_order: Vec<String>,
    /// `enum tag` -> its enumerators.
    pub(super) enum_tags: HashMap<String, Vec<String>>,
    pub(super) typedefs: HashMap<String, TypeDef>,
    depth: u32,
}

impl<'a> Pp<'a> {
    pub(super) fn new(ksrc: &'a Path, arch: &'a ArchSpec) -> Self {
        let mut pp = Pp {
            ksrc,
            arch,
            macros: HashMap::new(),
            files: Vec::new(),
            file_is_uapi: Vec::new(),
            kernel_prefixes: HashMap::new(),
            defines: Vec::new(),
            enums: HashMap::new(),
            enum_order: Vec::new(),
            enum_tags: HashMap::new(),
            typedefs: HashMap::new(),
            depth: 0,
        };
        for (k, v) in COMMON_PREDEFINED.iter().chain(arch.predefined) {
            let body = tokenize(v).expect("predefined macro");
            pp.macros.insert(
                k.to_string(),
                MacroState::Def(Rc::new(Macro { params: None, body })),
            );
        }
        pp
    }

    fn uapi_dirs(&self) -> [PathBuf; 2] {
        [
            Path::new("arch").join(self.arch.kdir).join("include/uapi"),
            PathBuf::from("include/uapi"),
        ]
    }

    /// Resolves `#include <name>` (or `"name"` relative to `from`).
    fn resolve(&self, name: &str, quoted: bool, from: Option<&Path>) -> Option<PathBuf> {
        let exists = |p: &Path| self.ksrc.join(p).is_file();
        if quoted {
            if let Some(dir) = from.and_then(Path::parent) {
                let p = dir.join(name);
                if exists(&p) {
                    return Some(p);
                }
            }
        }
        if let Some(rest) = name.strip_prefix("uapi/") {
            let arch = Path::new("arch")
                .join(self.arch.kdir)
                .join("include/uapi")
                .join(rest);
            let p = if rest.starts_with("asm/") {
                arch
            } else {
                Path::new("include/uapi").join(rest)
            };
            return exists(&p).then_some(p);
        }
        for d in self.uapi_dirs() {
            let p = d.join(name);
            if exists(&p) {
                return Some(p);
            }
        }
        // Like the generated asm/ wrappers of generic-y / mandatory-y.
        let rest = name.strip_prefix("asm/")?;
        let p = Path::new("include/uapi/asm-generic").join(rest);
        exists(&p).then_some(p)
    }

    pub(super) fn include_root(&mut self, name: &str) -> Result<()> {
        let p = self
            .resolve(name, false, None)
            .ok_or_else(|| anyhow!("cannot find <{name}>"))?;
        self.process(&p)?;
        Ok(())
    }

    pub(super) fn process_kernel_file(&mut self, rel: &str) -> Result<usize> {
        self.process(Path::new(rel))
    }

    fn is_uapi(&self, rel: &Path) -> bool {
        self.uapi_dirs().iter().any(|d| rel.starts_with(d))
    }

    fn region(stack: &[Frame]) -> Tri {
        stack.last().map_or(Tri::True, |f| f.parent.and(f.cur))
    }

    fn process(&mut self, rel: &Path) -> Result<usize> {
        if self.depth > 40 {
            bail!("#include nesting too deep at {}", rel.display());
        }
        let idx = self.files.len();
        let uapi = self.is_uapi(rel);
        self.files.push(rel.to_path_buf());
        self.file_is_uapi.push(uapi);
        let text = clean_source(&read(&self.ksrc.join(rel))?);
        let mut stack: Vec<Frame> = Vec::new();
        let mut active = String::new();
        for line in text.lines() {
            let t = line.trim_start();
            let Some(d) = t.strip_prefix('#') else {
                if Self::region(&stack) == Tri::True {
                    active.push_str(line);
                    active.push('\n');
                }
                continue;
            };
            let (kw, rest) = split_word(d.trim_start());
            let rest = rest.trim();
            let region = Self::region(&stack);
            match kw {
                "if" | "ifdef" | "ifndef" => {
                    let cur = if region == Tri::False {
                        Tri::False
                    } else {
                        match kw {
                            "if" => self.eval_if(rest, uapi),
                            "ifdef" => self.defined(rest.trim(), uapi),
                            _ => self.defined(rest.trim(), uapi).not(),
                        }
                    };
                    stack.push(Frame {
                        parent: region,
                        cur,
                        taken: cur,
                    });
                }
                "elif" | "else" => {
                    let Some(f) = stack.last() else {
                        bail!("{}: stray #{kw}", rel.display())
                    };
                    let (parent, taken) = (f.parent, f.taken);
                    let cond = if kw == "else" {
                        Tri::True
                    } else if parent == Tri::False || taken == Tri::True {
                        Tri::False
                    } else {
                        self.eval_if(rest, uapi)
                    };
                    let f = stack.last_mut().unwrap();
                    f.cur = taken.not().and(cond);
                    f.taken = taken.or(cond);
                }
                "endif" => {
                    stack
                        .pop()
                        .ok_or_else(|| anyhow!("{}: stray #endif", rel.display()))?;
                }
                "define" if region != Tri::False => {
                    let (name, after) = split_word(rest);
                    if name.is_empty() {
                        continue;
                    }
                    if region == Tri::Unknown {
                        self.macros.insert(name.to_string(), MacroState::Unknown);
                        continue;
                    }
                    let m = match parse_macro(after) {
                        Ok(m) => MacroState::Def(Rc::new(m)),
                        Err(_) => MacroState::Unknown,
                    };
                    if let MacroState::Def(m) = &m {
                        if m.params.is_none() {
                            self.defines.push((name.to_string(), idx));
                        }
                    }
                    self.macros.insert(name.to_string(), m);
                }
                "undef" if region != Tri::False => {
                    let name = rest.trim().to_string();
                    if region == Tri::True {
                        self.macros.remove(&name);
                    } else {
                        self.macros.insert(name, MacroState::Unknown);
                    }
                }
                "include" if region == Tri::True => {
                    let r = rest.trim();
                    let (name, quoted) = if let Some(n) = r.strip_prefix('<') {
                        (n.split('>').next().unwrap_or(""), false)
                    } else if let Some(n) = r.strip_prefix('"') {
                        (n.split('"').next().unwrap_or(""), true)
                    } else {
                        continue; // computed include: not followed
                    };
                    if let Some(p) = self.resolve(name, quoted, Some(rel)) {
                        self.depth += 1;
                        let r = self.process(&p);
                        self.depth -= 1;
                        r?;
                    }
                }
                _ => {}
            }
        }
        if !stack.is_empty() {
            bail!("{}: unterminated #if", rel.display());
        }
        self.parse_declarations(&active, idx);
        Ok(idx)
    }

    fn defined(&self, name: &str, uapi: bool) -> Tri {
        if name == "__KERNEL__" && !uapi {
            return Tri::True;
        }
        match self.macros.get(name) {
            Some(MacroState::Def(_)) => Tri::True,
            Some(MacroState::Unknown) => Tri::Unknown,
            None if name.starts_with("CONFIG_") => Tri::Unknown,
            None => Tri::False,
        }
    }

    fn eval_if(&self, cond: &str, uapi: bool) -> Tri {
        let Ok(toks) = tokenize(cond) else {
            return Tri::Unknown;
        };
        let mut pre = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if toks[i] == Tok::Ident("defined".into()) {
                let (name, next) = parse_defined(&toks, i);
                let Some(name) = name else {
                    return Tri::Unknown;
                };
                pre.push(match self.defined(&name, uapi) {
                    Tri::True => Tok::Num("1".into()),
                    Tri::False => Tok::Num("0".into()),
                    Tri::Unknown => Tok::Unknown,
                });
                i = next;
            } else {
                pre.push(toks[i].clone());
                i += 1;
            }
        }
        let expanded = match self.expand(&pre, &mut Vec::new(), 0) {
            Ok(t) => t,
            Err(_) => return Tri::Unknown,
        };
        let env = IfEnv { uapi };
        tri_of(parse_expr(&expanded, &env).and_then(|e| eval(&e, &env)))
    }

    /// Macro-expands `toks`. `active` holds the macros being expanded.
    pub(super) fn expand(
        &self,
        toks: &[Tok],
        active: &mut Vec<String>,
        depth: u32,
    ) -> Result<Vec<Tok>, EvalErr> {
        if depth > 64 {
            return Err(EvalErr::Invalid("macro expansion too deep"));
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            i += 1;
            let Tok::Ident(name) = t else {
                out.push(t.clone());
                continue;
            };
            if active.contains(name) {
                out.push(t.clone());
                continue;
            }
            let m = match self.macros.get(name) {
                None => {
                    out.push(t.clone());
                    continue;
                }
                Some(MacroState::Unknown) => {
                    // A function-like use swallows its arguments.
                    if toks.get(i) == Some(&Tok::Punct("(")) {
                        i = skip_group(toks, i).ok_or(EvalErr::Invalid("unbalanced"))?;
                    }
                    out.push(Tok::Unknown);
                    continue;
                }
                Some(MacroState::Def(m)) => m.clone(),
            };
            let body = match &m.params {
                None => m.body.clone(),
                Some(params) => {
                    if toks.get(i) != Some(&Tok::Punct("(")) {
                        out.push(t.clone());
                        continue;
                    }
                    let end = skip_group(toks, i).ok_or(EvalErr::Invalid("unbalanced"))?;
                    let args = split_args(&toks[i + 1..end - 1]);
                    i = end;
                    let args = if params.is_empty() && args.len() == 1 && args[0].is_empty() {
                        Vec::new()
                    } else {
                        args
                    };
                    if args.len() != params.len() {
                        return Err(EvalErr::Invalid("macro argument count"));
                    }
                    if m.body.iter().any(|t| matches!(t, Tok::Punct("#" | "##"))) {
                        return Err(EvalErr::Invalid("# or ## in macro"));
                    }
                    let mut expanded_args = Vec::new();
                    for a in &args {
                        expanded_args.push(self.expand(a, active, depth + 1)?);
                    }
                    let mut body = Vec::new();
                    for bt in &m.body {
                        match bt {
                            Tok::Ident(p) if params.contains(p) => {
                                let k = params.iter().position(|q| q == p).unwrap();
                                body.extend(expanded_args[k].iter().cloned());
                            }
                            _ => body.push(bt.clone()),
                        }
                    }
                    body
                }
            };
            active.push(name.clone());
            let r = self.expand(&body, active, depth + 1);
            active.pop();
            out.extend(r?);
        }
        Ok(out)
    }

    /// Collects enums and typedefs from a file's active (non-directive) text.
    fn parse_declarations(&mut self, text: &str, file: usize) {
        if !text.contains("enum") && !text.contains("typedef") {
            return;
        }
        // Tokenize line by line, dropping what cannot be tokenized.
        let mut toks = Vec::new();
        for line in text.lines() {
            if let Ok(t) = tokenize(line) {
                toks.extend(t);
            }
        }
        let mut i = 0;
        let mut depth = 0i32;
        while i < toks.len() {
            match &toks[i] {
                Tok::Punct("{") => depth += 1,
                Tok::Punct("}") => depth -= 1,
                Tok::Ident(k) if k == "typedef" && depth == 0 => {
                    let end = stmt_end(&toks, i);
                    self.parse_typedef(&toks[i + 1..end]);
                    i = end;
                    continue;
                }
                Tok::Ident(k) if k == "enum" => {
                    let (tag, body_at) = match (toks.get(i + 1), toks.get(i + 2)) {
                        (Some(Tok::Ident(t)), Some(Tok::Punct("{"))) => (Some(t.clone()), i + 2),
                        (Some(Tok::Punct("{")), _) => (None, i + 1),
                        _ => {
                            i += 1;
                            continue;
                        }
                    };
                    let Some(end) = match_brace(&toks, body_at) else {
                        return;
                    };
                    self.parse_enum(tag, &toks[body_at + 1..end], file);
                    i = end + 1;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn parse_enum(&mut self, tag: Option<String>, body: &[Tok], file: usize) {
        let mut prev: Option<String> = None;
        let mut off = 0i128;
        let mut names = Vec::new();
        for item in split_args(body) {
            let Some(Tok::Ident(name)) = item.first() else {
                continue;
            };
            let value = if item.get(1) == Some(&Tok::Punct("=")) {
                prev = Some(name.clone());
                off = 1;
                EnumValue::Expr(item[2..].to_vec())
            } else if item.len() == 1 {
                let v = EnumValue::Next(prev.clone(), off);
                off += 1;
                v
            } else {
                continue; // attributes etc.
            };
            if !self.enums.contains_key(name) {
                self.enum_order.push(name.clone());
            }
            self.enums.insert(name.clone(), (value, file));
            names.push(name.clone());
        }
        if let Some(tag) = tag {
            self.enum_tags.insert(tag, names);
        }
    }

    fn parse_typedef(&mut self, t: &[Tok]) {
        // Drop attributes.
        let mut toks: Vec<Tok> = Vec::new();
        let mut i = 0;
        while i < t.len() {
            match &t[i] {
                Tok::Ident(n) if n == "__attribute__" || n == "__aligned" => {
                    i = if t.get(i + 1) == Some(&Tok::Punct("(")) {
                        skip_group(t, i + 1).unwrap_or(t.len())
                    } else {
                        i + 1
                    };
                }
                Tok::Ident(n) if IGNORED_QUALIFIERS.contains(&n.as_str()) => i += 1,
                other => {
                    toks.push(other.clone());
                    i += 1;
                }
            }
        }
        let Some(Tok::Ident(name)) = toks.last().cloned() else {
            return;
        };
        let base = &toks[..toks.len() - 1];
        let def = if let Some(close) = base.iter().rposition(|t| *t == Tok::Punct("}")) {
            if base[close + 1..].contains(&Tok::Punct("*")) {
                TypeDef::Pointer
            } else {
                TypeDef::Other
            }
        } else if base.contains(&Tok::Punct("*")) {
            TypeDef::Pointer
        } else if base.iter().any(|t| !matches!(t, Tok::Ident(_))) {
            TypeDef::Other
        } else {
            TypeDef::Alias(
                base.iter()
                    .map(|t| match t {
                        Tok::Ident(s) if s == "__signed__" => "signed".to_string(),
                        Tok::Ident(s) => s.clone(),
                        _ => unreachable!(),
                    })
                    .collect(),
            )
        };
        let def = match (self.typedefs.get(&name), def) {
            (None, d) => d,
            (Some(TypeDef::Alias(a)), TypeDef::Alias(b)) if *a == b => TypeDef::Alias(b),
            (Some(TypeDef::Pointer), TypeDef::Pointer) => TypeDef::Pointer,
            (Some(TypeDef::Other), TypeDef::Other) => TypeDef::Other,
            _ => TypeDef::Ambiguous,
        };
        self.typedefs.insert(name, def);
    }

    /// Object-like macros and enumerators, in definition order, with files.
    pub(super) fn candidates(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self.defines.clone();
        out.extend(self.enum_order.iter().map(|n| (n.clone(), self.enums[n].1)));
        out
    }
}

pub(super) const IGNORED_QUALIFIERS: &[&str] = &[
    "const",
    "volatile",
    "__user",
    "__force",
    "__bitwise",
    "__bitwise__",
    "__extension__",
    "__kernel",
    "__iomem",
    "__rcu",
    "restrict",
    "__restrict",
];

fn parse_macro(after_name: &str) -> Result<Macro, EvalErr> {
    if let Some(rest) = after_name.strip_prefix('(') {
        let close = rest
            .find(')')
            .ok_or(EvalErr::Invalid("bad macro parameters"))?;
        let params: Vec<String> = rest[..close]
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if params.iter().any(|p| p == "...") {
            return Err(EvalErr::Invalid("variadic macro"));
        }
        Ok(Macro {
            params: Some(params),
            body: tokenize(&rest[close + 1..])?,
        })
    } else {
        Ok(Macro {
            params: None,
            body: tokenize(after_name)?,
        })
    }
}

/// Index just past the parenthesised group starting at `toks[i]`.
fn skip_group(toks: &[Tok], i: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(i) {
        match t {
            Tok::Punct("(") => depth += 1,
            Tok::Punct(")") => {
                depth -= 1;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn match_brace(toks: &[Tok], i: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(i) {
        match t {
            Tok::Punct("{") => depth += 1,
            Tok::Punct("}") => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// Index of the `;` ending the statement starting at `i` (outside braces).
fn stmt_end(toks: &[Tok], i: usize) -> usize {
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(i) {
        match t {
            Tok::Punct("{" | "(") => depth += 1,
            Tok::Punct("}" | ")") => depth -= 1,
            Tok::Punct(";") if depth == 0 => return k,
            _ => {}
        }
    }
    toks.len()
}

/// Splits at top-level commas.
fn split_args(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut out = vec![Vec::new()];
    let mut depth = 0;
    for t in toks {
        match t {
            Tok::Punct("(" | "{" | "[") => depth += 1,
            Tok::Punct(")" | "}" | "]") => depth -= 1,
            Tok::Punct(",") if depth == 0 => {
                out.push(Vec::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().unwrap().push(t.clone());
    }
    if out.last().is_some_and(Vec::is_empty) && out.len() > 1 {
        out.pop(); // trailing comma (enums)
    }
    out
}

/// `#if` identifiers left after expansion: 0 in uapi headers (as for any
/// user of them), unknown in kernel-internal ones (they depend on headers
/// and a configuration this generator does not have).
struct IfEnv {
    uapi: bool,
}

impl Env for IfEnv {
    fn ident(&self, name: &str) -> Result<Val, EvalErr> {
        if name.starts_with("CONFIG_") || !self.uapi {
            Err(EvalErr::Unknown)
        } else if name == "true" {
            Ok(Val::int(1))
        } else {
            Ok(Val::new(0, IntTy::Long))
        }
    }
    fn cast_type(&self, _: &[Tok]) -> Option<Result<Scalar, EvalErr>> {
        None
    }
    fn pp(&self) -> bool {
        true
    }
}
