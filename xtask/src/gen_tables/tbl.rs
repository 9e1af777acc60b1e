//! Syscall numbers: finds the arch's `.tbl` file and the ABI list its
//! Makefiles select (x86: a rule in `arch/x86/entry/syscalls/Makefile`;
//! arm64: `scripts/Makefile.asm-headers` plus
//! `arch/arm64/kernel/Makefile.syscalls`), and reads the table's lines for
//! those ABIs as `TblEntry`s (number, name, entry point).
//!
//! Uses spec.rs and lex.rs (`read`); mod.rs looks each entry point up in
//! what defines.rs found.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

use super::lex::read;
use super::spec::{ArchSpec, TableSpec};

pub(super) struct TblEntry {
    pub(super) nr: u32,
    pub(super) name: String,
    pub(super) entry: Option<String>,
}

pub(super) fn syscall_table(ksrc: &Path, spec: &ArchSpec) -> Result<Vec<TblEntry>> {
    let (tbl, abis) = match &spec.table {
        TableSpec::Rule {
            makefile,
            target,
            tbl,
        } => {
            let mk = read(&ksrc.join(makefile))?;
            let abis = mk
                .lines()
                .find_map(|l| {
                    let (lhs, rhs) = l.split_once(':')?;
                    if !lhs.trim().ends_with(&format!("/{target}")) {
                        return None;
                    }
                    rhs.trim()
                        .strip_prefix("abis")?
                        .trim()
                        .strip_prefix(":=")
                        .map(str::trim)
                })
                .ok_or_else(|| anyhow!("no `{target}: abis :=` rule in {makefile}"))?;
            (tbl.to_string(), split_list(abis))
        }
        TableSpec::AsmHeaders { bits } => {
            let var_abis = format!("syscall_abis_{bits}");
            let mut tbl = String::new();
            let mut abis = Vec::new();
            let arch_mk = format!("arch/{}/kernel/Makefile.syscalls", spec.kdir);
            for file in ["scripts/Makefile.asm-headers", arch_mk.as_str()] {
                let path = ksrc.join(file);
                if !path.exists() {
                    continue;
                }
                for line in read(&path)?.lines() {
                    let line = line.split('#').next().unwrap_or("");
                    let Some((lhs, op, rhs)) = make_assignment(line) else {
                        continue;
                    };
                    if lhs == var_abis {
                        if op != "+=" {
                            abis.clear();
                        }
                        abis.extend(split_list(rhs));
                    } else if lhs == "syscalltbl" {
                        tbl = rhs.replace("$(srctree)/", "").replace('%', bits);
                    }
                }
            }
            if tbl.is_empty() || abis.is_empty() {
                bail!("could not find syscalltbl/{var_abis} in the Makefiles");
            }
            (tbl, abis)
        }
    };
    let text = read(&ksrc.join(&tbl))?;
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let mut nrs = HashSet::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 3 {
            bail!("{tbl}: bad line {line:?}");
        }
        if !abis.iter().any(|a| a == f[1]) {
            continue;
        }
        let nr: u32 = f[0]
            .parse()
            .with_context(|| format!("{tbl}: bad number in {line:?}"))?;
        if !names.insert(f[2].to_string()) || !nrs.insert(nr) {
            bail!(
                "{tbl}: duplicate syscall {} / {nr} for abis {}",
                f[2],
                abis.join(",")
            );
        }
        out.push(TblEntry {
            nr,
            name: f[2].to_string(),
            entry: f
                .get(3)
                .map(|e| e.split('/').next().unwrap_or(e).to_string()),
        });
    }
    eprintln!("{}: {tbl} with abis {}", spec.name, abis.join(","));
    Ok(out)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn make_assignment(line: &str) -> Option<(&str, &str, &str)> {
    for op in ["+=", ":=", "?=", "="] {
        if let Some((l, r)) = line.split_once(op) {
            let l = l.trim();
            if !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Some((l, op, r.trim()));
            }
        }
    }
    None
}
