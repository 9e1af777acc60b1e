//! `cargo xtask gen-tables`: generates `uapi/src/tables/{x86_64,aarch64}.rs`
//! (syscall numbers, argument names and C types, named constants, errnos)
//! from a kernel source tree.
//!
//! Everything is parsed from the kernel's own text, per architecture:
//!
//! * syscall numbers from the `.tbl` file and the ABI list the arch's
//!   Makefiles select (x86: `arch/x86/entry/syscalls/Makefile`; arm64:
//!   `scripts/Makefile.asm-headers` + `arch/arm64/kernel/Makefile.syscalls`);
//! * argument names and types from the `SYSCALL_DEFINEn()` of each table
//!   entry point (generic directories plus the arch's own), following
//!   `#define __<arch>_sys_x __<arch>_sys_y` entry-point aliases;
//! * argument widths by resolving typedefs through the arch's headers
//!   (`__kernel_old_uid_t` is u16 on both arches, `char` is signed on x86
//!   and unsigned on arm64, ...); an unresolvable type is an error;
//! * constants and errnos by running a small C preprocessor over the arch's
//!   uapi headers (`arch/<arch>/include/uapi`, `include/uapi`, `asm/` falling
//!   back to `asm-generic/` like the kernel's generated wrappers), with
//!   conditionals evaluated per arch, and a constant-expression evaluator
//!   with C's integer types (LP64). Conditions it cannot decide (unknown
//!   `CONFIG_*`, unknown macros in kernel-internal headers) make the
//!   definitions they guard unusable: such constants are skipped, never
//!   guessed.
//!
//! # Files
//!
//! `run` (here) calls `gen_arch` (here) once per entry of `spec::ARCHES`;
//! `gen_arch` takes each piece from the files below and fills a
//! `render::ArchData`:
//!
//! * `tbl.rs`: syscall numbers and entry points from the `.tbl` file and
//!   the ABI list the arch's Makefiles select;
//! * `defines.rs`: argument C types and names from `SYSCALL_DEFINEn` (the
//!   generic directories are scanned once, then each arch's own), with
//!   `kconfig.rs` deciding between conflicting definitions;
//! * `cpp.rs`: the preprocessor, run over the headers listed in `spec.rs`,
//!   collecting macros, enumerators and typedefs;
//! * `resolve.rs`: argument C types to `Ty`, and named constants to values,
//!   from what cpp.rs collected;
//! * `render.rs`: `ArchData` to the generated file's text (through
//!   rustfmt), and the summary printed on stderr.
//!
//! Under those: `spec.rs` (per-arch facts, header lists, which constants
//! are kept), `expr.rs` (constant-expression parser and evaluator), `lex.rs`
//! (reading files, comment blanking, C tokens), `value.rs` (integers with
//! C's types).
//!
//! Dependencies go one way: in the order spec, value, lex, expr, kconfig,
//! tbl, defines, cpp, resolve, render, mod, each file uses only files before
//! it (and none uses this one).

mod cpp;
mod defines;
mod expr;
mod kconfig;
mod lex;
mod render;
mod resolve;
mod spec;
mod tbl;
mod value;

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use cpp::Pp;
use defines::{arch_defines, generic_defines, pick_definition, Defines};
use kconfig::kconfig_selects;
use lex::read;
use render::{render, rustfmt, ArchData, SyscallOut};
use resolve::ConstEval;
use spec::{
    wanted_const, ArchSpec, ALIASES, ARCHES, CONST_ROOTS, KERNEL_CONST_ROOTS, KERNEL_TYPE_ROOTS,
    TYPE_ROOTS,
};
use tbl::syscall_table;

/// Generates the tables from the kernel source at `ksrc` into the repository
/// this xtask belongs to. With `check`, writes nothing and fails if the
/// committed files differ from what would be generated.
pub fn run(ksrc: &Path, check: bool) -> Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    run_in(&repo, ksrc, check)
}

/// [`run`] with an explicit repository root.
fn run_in(repo: &Path, ksrc: &Path, check: bool) -> Result<()> {
    if !ksrc.join("Makefile").is_file() || !ksrc.join("scripts/syscall.tbl").is_file() {
        bail!("{} does not look like a kernel source tree", ksrc.display());
    }
    let version = source_version(ksrc)?;
    let mut outputs = Vec::new();
    let mut errnos: Option<BTreeMap<String, i64>> = None;
    let generic = generic_defines(ksrc)?;
    for spec in ARCHES {
        let data =
            gen_arch(ksrc, spec, &generic).with_context(|| format!("generating {}", spec.name))?;
        data.report(spec);
        if let Some(prev) = &errnos {
            if *prev != data.errnos {
                eprintln!("warning: errno tables differ between architectures");
            }
        } else {
            errnos = Some(data.errnos.clone());
        }
        let text = rustfmt(repo, &render(spec, &data, &version))?;
        outputs.push((format!("uapi/src/tables/{}.rs", spec.name), text));
    }
    let total: usize = outputs.iter().map(|(_, t)| t.len()).sum();
    if check {
        let mut stale = Vec::new();
        for (rel, text) in &outputs {
            let cur = std::fs::read_to_string(repo.join(rel)).unwrap_or_default();
            if cur != *text {
                stale.push(rel.as_str());
            }
        }
        if !stale.is_empty() {
            bail!(
                "generated tables are out of date: {} (regenerate with `cargo xtask gen-tables --ksrc {}`)",
                stale.join(", "),
                ksrc.display()
            );
        }
        eprintln!(
            "gen-tables: {} files up to date ({total} bytes)",
            outputs.len()
        );
    } else {
        for (rel, text) in &outputs {
            std::fs::write(repo.join(rel), text).with_context(|| format!("writing {rel}"))?;
        }
        eprintln!("gen-tables: wrote {} files ({total} bytes)", outputs.len());
    }
    Ok(())
}

/// `linux-source-6.12 <version>`: the Makefile's version, refined by the
/// Debian package version that `cargo xtask kernel` records in `.extracted`
/// next to the tree (or names the tree's parent directory after).
fn source_version(ksrc: &Path) -> Result<String> {
    let mk = read(&ksrc.join("Makefile"))?;
    let var = |name: &str| -> Result<String> {
        mk.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
            .ok_or_else(|| anyhow!("no {name} in Makefile"))
    };
    let (v, p, s, e) = (
        var("VERSION")?,
        var("PATCHLEVEL")?,
        var("SUBLEVEL")?,
        var("EXTRAVERSION")?,
    );
    let kver = format!("{v}.{p}.{s}{e}");
    let dir = ksrc.canonicalize().unwrap_or_else(|_| ksrc.to_path_buf());
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("linux");
    let parent = dir.parent();
    let recorded = parent
        .and_then(|d| std::fs::read_to_string(d.join(".extracted")).ok())
        .map(|s| s.trim().to_string());
    let dirname = parent
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .map(str::to_string);
    let full = [recorded, dirname]
        .into_iter()
        .flatten()
        .find(|v| v.starts_with(&format!("{kver}-")))
        .unwrap_or(kver);
    Ok(format!("{name} {full}"))
}

fn gen_arch(ksrc: &Path, spec: &ArchSpec, generic: &Defines) -> Result<ArchData> {
    let entries = syscall_table(ksrc, spec)?;
    let defs = arch_defines(ksrc, spec, generic)?;
    let selected = kconfig_selects(ksrc, spec)?;

    let mut pp = Pp::new(ksrc, spec);
    for h in CONST_ROOTS {
        pp.include_root(h)?;
    }
    for (h, prefixes) in KERNEL_CONST_ROOTS {
        let idx = pp.process_kernel_file(h)?;
        pp.kernel_prefixes.insert(idx, prefixes);
    }
    for h in spec.kernel_headers {
        pp.process_kernel_file(h)?;
    }
    for h in TYPE_ROOTS {
        pp.include_root(h)?;
    }
    for h in KERNEL_TYPE_ROOTS {
        pp.process_kernel_file(h)?;
    }

    let mut data = ArchData {
        audit_arch: 0,
        nr_syscalls: 0,
        syscalls: Vec::new(),
        constants: BTreeMap::new(),
        errnos: BTreeMap::new(),
        not_implemented: Vec::new(),
        no_definition: Vec::new(),
        skipped_constants: Vec::new(),
        notes: Vec::new(),
    };

    // Syscalls.
    let mut bad_types = BTreeMap::<String, Vec<String>>::new();
    for e in &entries {
        data.nr_syscalls = data.nr_syscalls.max(e.nr + 1);
        let mut out = SyscallOut {
            name: e.name.clone(),
            nr: e.nr,
            args: Vec::new(),
        };
        match e.entry.as_deref() {
            None | Some("sys_ni_syscall") => data.not_implemented.push(e.name.clone()),
            Some(entry) => {
                let Some(fname) = entry.strip_prefix("sys_") else {
                    bail!("{}: unexpected entry point {entry}", e.name);
                };
                let fname = defs.aliases.get(fname).map_or(fname, String::as_str);
                match pick_definition(&defs, fname, &selected, &mut data.notes)? {
                    None => {
                        // kernel/sys_ni.c: COND_SYSCALL(x) makes x -ENOSYS when
                        // nothing built defines it.
                        let cond = defs.cond_syscalls.contains(fname);
                        let note = if cond { " (COND_SYSCALL: -ENOSYS)" } else { "" };
                        data.no_definition.push(format!("{}{note}", e.name));
                    }
                    Some(def) => {
                        for (ctype, name) in &def.args {
                            match pp.arg_type(ctype) {
                                Ok(ty) => out.args.push((name.clone(), ctype.clone(), ty)),
                                Err(err) => bad_types
                                    .entry(format!("{ctype} ({err})"))
                                    .or_default()
                                    .push(e.name.clone()),
                            }
                        }
                    }
                }
            }
        }
        if out.args.len() > 6 {
            bail!("{} has {} arguments", e.name, out.args.len());
        }
        data.syscalls.push(out);
    }
    if !bad_types.is_empty() {
        let list: Vec<String> = bad_types
            .iter()
            .map(|(t, s)| format!("  {t}: used by {}", s.join(" ")))
            .collect();
        bail!(
            "unknown argument types (add their header to TYPE_ROOTS or the base types):\n{}",
            list.join("\n")
        );
    }
    data.syscalls.sort_by(|a, b| a.name.cmp(&b.name));

    // Constants.
    let ev = ConstEval::new(&pp);
    let mut seen = HashSet::new();
    for (name, file) in pp.candidates() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let is_errno_file = pp.files[file]
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("errno"));
        let (wanted, errno) = if is_errno_file {
            let ok = name.len() > 1
                && name.starts_with('E')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            (ok, true)
        } else if let Some(selectors) = pp.kernel_prefixes.get(&file) {
            let selected = selectors.iter().any(|sel| match sel.strip_prefix("enum ") {
                Some(tag) => pp.enum_tags.get(tag).is_some_and(|v| v.contains(&name)),
                None => name.starts_with(sel),
            });
            (selected && !name.starts_with("__"), false)
        } else if pp.file_is_uapi[file] {
            (wanted_const(&name), false)
        } else {
            (false, false)
        };
        if !wanted {
            continue;
        }
        match ev.eval_name(&name) {
            Ok(v) => {
                let table = if errno {
                    &mut data.errnos
                } else {
                    &mut data.constants
                };
                table.insert(name, v.to_i64());
            }
            Err(_) => data.skipped_constants.push(name),
        }
    }
    for (name, expr) in ALIASES {
        if data.constants.contains_key(*name) {
            bail!("{name} is now defined by the headers: drop its alias");
        }
        let v = ev
            .eval_text(expr)
            .map_err(|e| anyhow!("alias {name} = {expr}: {e:?}"))?;
        data.constants.insert(name.to_string(), v.to_i64());
    }
    data.skipped_constants.sort();

    let audit = ev
        .eval_name(spec.audit_macro)
        .map_err(|e| anyhow!("evaluating {}: {e:?}", spec.audit_macro))?;
    data.audit_arch =
        u32::try_from(audit.to_i64()).map_err(|_| anyhow!("{} out of range", spec.audit_macro))?;
    if data.errnos.get("EPERM") != Some(&1) {
        bail!("errno table looks wrong (EPERM missing)");
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The committed tables match the kernel source they name (when that
    /// source is extracted under the xtask cache; `STRBOX_KSRC` overrides).
    #[test]
    fn committed_tables_are_up_to_date() {
        let ksrc = match std::env::var_os("STRBOX_KSRC") {
            Some(p) => PathBuf::from(p),
            None => {
                let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
                let committed = read(&repo.join("uapi/src/tables/x86_64.rs")).unwrap();
                let Some(version) = committed
                    .lines()
                    .next()
                    .and_then(|l| l.split(" from linux-source-6.12 ").nth(1))
                    .and_then(|r| r.split(':').next())
                else {
                    eprintln!("skipping: the committed tables name no kernel version");
                    return;
                };
                let base = crate::util::cache_dir().join("src").join(version);
                if !base.join(".extracted").exists() {
                    eprintln!(
                        "skipping: kernel source {version} not extracted in {}",
                        base.display()
                    );
                    return;
                }
                base.join("linux-source-6.12")
            }
        };
        run(&ksrc, true).unwrap();
    }
}
