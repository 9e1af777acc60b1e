//! The `SYSCALL_DEFINEn(name, type, arg, ...)` scanner: walks the `.c`
//! files of the generic directories and of `arch/<kdir>`, and records each
//! definition's (C type, name) pairs with the `#if` conditions around it
//! (as text: no preprocessing here), the arch's entry-point aliases
//! (`#define __x64_sys_a __x64_sys_b`) and the `COND_SYSCALL()` names.
//! `pick_definition` chooses among several definitions of one syscall,
//! asking kconfig.rs when they disagree.
//!
//! Uses spec.rs, lex.rs (reading, comment blanking), value.rs (`Tri`) and
//! kconfig.rs. mod.rs takes the chosen `Definition`'s C types to resolve.rs.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::kconfig::{eval_condition_text, KconfigEnv};
use super::lex::{clean_source, read, split_word};
use super::spec::ArchSpec;
use super::value::Tri;

#[derive(Clone)]
pub(super) struct Definition {
    file: String,
    /// (C type, name) pairs.
    pub(super) args: Vec<(String, String)>,
    /// Preprocessor conditions that must hold: (expression, expected truth).
    conds: Vec<(String, bool)>,
}

pub(super) struct Defines {
    defs: HashMap<String, Vec<Definition>>,
    /// Entry-point aliases: `#define __x64_sys_a __x64_sys_b` (a -> b).
    pub(super) aliases: HashMap<String, String>,
    /// Names in `COND_SYSCALL()` (weak -ENOSYS stubs).
    pub(super) cond_syscalls: HashSet<String>,
}

/// `SYSCALL_DEFINE`s of the generic (non-arch) directories.
pub(super) fn generic_defines(ksrc: &Path) -> Result<Defines> {
    const NOT_GENERIC: &[&str] = &[
        "arch",
        "tools",
        "Documentation",
        "samples",
        "scripts",
        "usr",
        "include",
        "LICENSES",
    ];
    let mut roots = Vec::new();
    for e in std::fs::read_dir(ksrc)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type()?.is_dir()
            && !name.starts_with('.')
            && !NOT_GENERIC.contains(&name.as_str())
        {
            roots.push(PathBuf::from(name));
        }
    }
    roots.sort();
    scan_defines(ksrc, &roots, &[], None)
}

/// The generic definitions plus those of `arch/<kdir>`.
pub(super) fn arch_defines(ksrc: &Path, spec: &ArchSpec, generic: &Defines) -> Result<Defines> {
    let root = Path::new("arch").join(spec.kdir);
    let exclude: Vec<PathBuf> = spec.exclude_dirs.iter().map(|d| root.join(d)).collect();
    let mut out = scan_defines(ksrc, &[root], &exclude, Some(spec))?;
    for (name, defs) in &generic.defs {
        out.defs
            .entry(name.clone())
            .or_default()
            .extend(defs.iter().cloned());
    }
    out.cond_syscalls
        .extend(generic.cond_syscalls.iter().cloned());
    Ok(out)
}

/// Scans the `.c` files under `roots`; with `arch`, also collects its
/// entry-point aliases.
fn scan_defines(
    ksrc: &Path,
    roots: &[PathBuf],
    exclude: &[PathBuf],
    arch: Option<&ArchSpec>,
) -> Result<Defines> {
    let mut files = Vec::new();
    for root in roots {
        walk(ksrc, root, exclude, &mut |p| {
            if p.extension().is_some_and(|e| e == "c") {
                files.push(p.to_path_buf());
            }
        })?;
    }
    files.sort();

    let mut out = Defines {
        defs: HashMap::new(),
        aliases: HashMap::new(),
        cond_syscalls: HashSet::new(),
    };
    let wrapper_prefix = arch.map_or("", |a| a.wrapper_prefix);
    let alias_prefix = format!("#define {wrapper_prefix}");
    for rel in files {
        let raw = read(&ksrc.join(&rel))?;
        let is_arch = arch.is_some() && raw.contains(wrapper_prefix);
        if !raw.contains("SYSCALL_DEFINE") && !raw.contains("COND_SYSCALL(") && !is_arch {
            continue;
        }
        let text = clean_source(&raw);
        let relname = rel.to_string_lossy().into_owned();
        let mut conds: Vec<Vec<(String, bool)>> = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim_start();
            i += 1;
            if let Some(d) = line.strip_prefix('#') {
                let d = d.trim_start();
                let (kw, rest) = split_word(d);
                let rest = rest.trim();
                match kw {
                    "if" => conds.push(vec![(rest.to_string(), true)]),
                    "ifdef" => conds.push(vec![(format!("defined({rest})"), true)]),
                    "ifndef" => conds.push(vec![(format!("defined({rest})"), false)]),
                    "elif" | "else" => {
                        if let Some(top) = conds.last_mut() {
                            if let Some(last) = top.last_mut() {
                                last.1 = false;
                            }
                            if kw == "elif" {
                                top.push((rest.to_string(), true));
                            }
                        }
                    }
                    "endif" => {
                        conds.pop();
                    }
                    "define" if is_arch => {
                        let norm: String = d.split_whitespace().collect::<Vec<_>>().join(" ");
                        let norm = format!("#{norm}");
                        if let Some(rest) = norm.strip_prefix(&alias_prefix) {
                            let mut it = rest.split(' ');
                            if let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) {
                                if let Some(b) = b.strip_prefix(wrapper_prefix) {
                                    out.aliases.insert(a.to_string(), b.to_string());
                                }
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("COND_SYSCALL(") {
                if let Some((name, _)) = rest.split_once(')') {
                    out.cond_syscalls.insert(name.trim().to_string());
                }
                continue;
            }
            let Some(rest) = line.strip_prefix("SYSCALL_DEFINE") else {
                continue;
            };
            let Some(n) = rest.chars().next().and_then(|c| c.to_digit(10)) else {
                continue;
            };
            let rest = rest[1..].trim_start();
            if !rest.starts_with('(') {
                continue;
            }
            // Gather the macro arguments up to the matching parenthesis.
            let mut buf = rest.to_string();
            while paren_balance(&buf) > 0 && i < lines.len() {
                buf.push(' ');
                buf.push_str(lines[i]);
                i += 1;
            }
            let inner = matching_paren(&buf)
                .ok_or_else(|| anyhow!("{relname}: unbalanced SYSCALL_DEFINE"))?;
            let parts = split_top_commas(inner);
            let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            let name = norm(&parts[0]);
            if parts.len() != 1 + 2 * n as usize {
                bail!(
                    "{relname}: SYSCALL_DEFINE{n}({name}, ...) has {} parts",
                    parts.len()
                );
            }
            let args = parts[1..]
                .chunks(2)
                .map(|c| (normalize_ctype(&c[0]), norm(&c[1])))
                .collect();
            let conds = conds.iter().flatten().cloned().collect();
            out.defs.entry(name).or_default().push(Definition {
                file: relname.clone(),
                args,
                conds,
            });
        }
    }
    Ok(out)
}

fn walk(base: &Path, rel: &Path, exclude: &[PathBuf], f: &mut dyn FnMut(&Path)) -> Result<()> {
    if exclude.iter().any(|e| e == rel) {
        return Ok(());
    }
    let dir = base.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect();
    entries.sort_by_key(|e| e.as_ref().map(|e| e.file_name()).ok());
    for e in entries {
        let e = e?;
        let ft = e.file_type()?;
        let r = rel.join(e.file_name());
        if ft.is_dir() {
            walk(base, &r, exclude, f)?;
        } else if ft.is_file() {
            f(&r);
        }
    }
    Ok(())
}

fn paren_balance(s: &str) -> i32 {
    s.chars().fold(0, |n, c| match c {
        '(' => n + 1,
        ')' => n - 1,
        _ => n,
    })
}

/// The text inside the parenthesis that `s` starts with.
fn matching_paren(s: &str) -> Option<&str> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[1..i]);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top_commas(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().unwrap().push(c);
    }
    out
}

/// A declared C type with normalised spacing (`const char __user *`).
fn normalize_ctype(s: &str) -> String {
    s.replace('*', " * ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Chooses among the definitions of `name`. Definitions that agree (up to
/// `const`) are one; otherwise the `#if` conditions around them are
/// evaluated with the arch's always-selected Kconfig symbols (others off).
pub(super) fn pick_definition<'a>(
    defs: &'a Defines,
    name: &str,
    selected: &HashSet<String>,
    notes: &mut Vec<String>,
) -> Result<Option<&'a Definition>> {
    let Some(list) = defs.defs.get(name) else {
        return Ok(None);
    };
    let sig = |d: &Definition| -> Vec<(String, String)> {
        d.args
            .iter()
            .map(|(t, n)| {
                let t: Vec<&str> = t.split(' ').filter(|w| *w != "const").collect();
                (t.join(" "), n.clone())
            })
            .collect()
    };
    let first = sig(&list[0]);
    if list.iter().all(|d| sig(d) == first) {
        return Ok(Some(&list[0]));
    }
    let env = KconfigEnv { selected };
    let mut keep = Vec::new();
    for d in list {
        let mut ok = Tri::True;
        for (c, want) in &d.conds {
            let v = eval_condition_text(c, &env);
            let v = if *want { v } else { v.not() };
            ok = ok.and(v);
        }
        if ok != Tri::False {
            keep.push(d);
        }
    }
    let Some(first) = keep.first() else {
        bail!("{name}: every definition is excluded by its #if conditions");
    };
    if keep.iter().any(|d| sig(d) != sig(first)) {
        let files: Vec<&str> = keep.iter().map(|d| d.file.as_str()).collect();
        bail!("{name}: conflicting definitions that cannot be told apart: {files:?}");
    }
    let conds: Vec<String> = first
        .conds
        .iter()
        .map(|(c, w)| if *w { c.clone() } else { format!("!({c})") })
        .collect();
    notes.push(format!(
        "{name}: {} definitions, chose the one in {} under {}",
        list.len(),
        first.file,
        conds.join(" && ")
    ));
    Ok(Some(first))
}
