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

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

// ---------------------------------------------------------------------------
// Architectures

struct ArchSpec {
    /// Rust-side name (`x86_64`), also the output file name.
    name: &'static str,
    /// Name of the generated `pub static`.
    static_name: &'static str,
    /// `arch/<kdir>`.
    kdir: &'static str,
    table: TableSpec,
    /// Subdirectories of `arch/<kdir>` that are not this arch's kernel.
    exclude_dirs: &'static [&'static str],
    /// Prefix of the syscall wrappers (`__x64_sys_`), for entry aliases.
    wrapper_prefix: &'static str,
    /// Kconfig file and the blocks whose unconditional `select`s are always
    /// on for this arch (used only to pick between conflicting definitions).
    kconfig: &'static str,
    kconfig_blocks: &'static [&'static str],
    /// Compiler-predefined macros (and known-on config symbols).
    predefined: &'static [(&'static str, &'static str)],
    /// Is plain `char` signed?
    char_signed: bool,
    /// The `AUDIT_ARCH_*` macro of the native ABI.
    audit_macro: &'static str,
    /// Arch kernel headers read for macros that uapi constants refer to.
    kernel_headers: &'static [&'static str],
}

enum TableSpec {
    /// x86 style: table and ABI list named in a Makefile rule
    /// (`$(out)/<target>: abis := common,64`).
    Rule {
        makefile: &'static str,
        target: &'static str,
        tbl: &'static str,
    },
    /// `scripts/Makefile.asm-headers` style (`syscall_abis_64`,
    /// `syscalltbl`), with the arch's `kernel/Makefile.syscalls` overrides.
    AsmHeaders { bits: &'static str },
}

/// `__GNUC__`: the kernel is built with GCC or clang, both define it (the
/// value is Debian 12's GCC; only `defined()` matters in the headers read).
const COMMON_PREDEFINED: &[(&str, &str)] = &[
    ("__GNUC__", "12"),
    ("__LP64__", "1"),
    ("_LP64", "1"),
    ("__CHAR_BIT__", "8"),
    ("__SIZEOF_LONG__", "8"),
    ("__SIZEOF_POINTER__", "8"),
    ("CONFIG_64BIT", "1"),
];

const ARCHES: &[ArchSpec] = &[
    ArchSpec {
        name: "x86_64",
        static_name: "X86_64",
        kdir: "x86",
        table: TableSpec::Rule {
            makefile: "arch/x86/entry/syscalls/Makefile",
            target: "syscalls_64.h",
            tbl: "arch/x86/entry/syscalls/syscall_64.tbl",
        },
        exclude_dirs: &["um", "boot"],
        wrapper_prefix: "__x64_sys_",
        kconfig: "arch/x86/Kconfig",
        kconfig_blocks: &["64BIT", "X86_64", "X86"],
        predefined: &[
            ("__x86_64__", "1"),
            ("__x86_64", "1"),
            ("CONFIG_X86_64", "1"),
        ],
        char_signed: true,
        audit_macro: "AUDIT_ARCH_X86_64",
        // _NSIG, for SIGRTMAX (the uapi header defines it only for users).
        kernel_headers: &["arch/x86/include/asm/signal.h"],
    },
    ArchSpec {
        name: "aarch64",
        static_name: "AARCH64",
        kdir: "arm64",
        table: TableSpec::AsmHeaders { bits: "64" },
        exclude_dirs: &["boot"],
        wrapper_prefix: "__arm64_sys_",
        kconfig: "arch/arm64/Kconfig",
        kconfig_blocks: &["ARM64", "64BIT"],
        predefined: &[
            ("__aarch64__", "1"),
            ("__CHAR_UNSIGNED__", "1"),
            ("CONFIG_ARM64", "1"),
        ],
        char_signed: false,
        audit_macro: "AUDIT_ARCH_AARCH64",
        kernel_headers: &[],
    },
];

/// uapi headers (`#include <...>` names) whose defines and enumerators, and
/// those of the uapi headers they include, provide the named constants.
const CONST_ROOTS: &[&str] = &[
    "linux/fcntl.h",
    "linux/fs.h",
    "asm/mman.h",
    "linux/mman.h",
    "linux/memfd.h",
    "asm/signal.h",
    "linux/sched.h",
    "linux/futex.h",
    "linux/prctl.h",
    "linux/time.h",
    "linux/in.h",
    "linux/in6.h",
    "linux/stat.h",
    "linux/random.h",
    "linux/eventfd.h",
    "linux/eventpoll.h",
    "linux/wait.h",
    "asm/socket.h",
    "asm/ioctls.h",
    "linux/seccomp.h",
    "linux/resource.h",
    "linux/close_range.h",
    "linux/timerfd.h",
    "linux/signalfd.h",
    "linux/audit.h",
    "asm/errno.h",
];

/// Kernel-internal headers (paths in the tree) that define user-visible
/// constants not in any uapi header, with what is taken from each: name
/// prefixes, or `enum TAG` for the enumerators of that enum.
const KERNEL_CONST_ROOTS: &[(&str, &[&str])] = &[
    (
        "include/linux/socket.h",
        &["AF_", "PF_", "MSG_", "SOL_", "SOMAXCONN"],
    ),
    // Not SOCK_NOSPACE, SOCK_WAKE_*, ...: socket-internal flags.
    (
        "include/linux/net.h",
        &[
            "enum sock_type",
            "enum sock_shutdown_cmd",
            "SOCK_TYPE_MASK",
            "SOCK_CLOEXEC",
            "SOCK_NONBLOCK",
        ],
    ),
    // MAY_READ/WRITE/EXEC, for the access-mode aliases below.
    ("include/linux/fs.h", &[]),
];

/// Headers read only for typedefs and enum types of syscall arguments.
const TYPE_ROOTS: &[&str] = &[
    "asm/posix_types.h",
    "linux/types.h",
    "linux/aio_abi.h",
    "linux/capability.h",
    "linux/landlock.h",
];
const KERNEL_TYPE_ROOTS: &[&str] = &[
    "include/asm-generic/int-ll64.h",
    "include/linux/types.h",
    "include/linux/key.h",
    "include/linux/quota.h",
];

/// Name prefixes of the constants taken from uapi headers.
const PREFIXES: &[&str] = &[
    "AF_",
    "AT_",
    "CLOCK_",
    "CLONE_",
    "CLOSE_RANGE_",
    "EFD_",
    "EPOLL",
    "F_",
    "FIO",
    "FUTEX_",
    "GRND_",
    "IPPROTO_",
    "MADV_",
    "MAP_",
    "MCL_",
    "MFD_",
    "MLOCK_",
    "MREMAP_",
    "MS_",
    "MSG_",
    "O_",
    "PF_",
    "PR_",
    "PRIO_",
    "PROT_",
    "P_",
    "RENAME_",
    "RLIMIT_",
    "RUSAGE_",
    "SA_",
    "SCHED_",
    "SECCOMP_",
    "SEEK_",
    "SFD_",
    "SIG",
    "SOCK_",
    "SOL_",
    "SO_",
    "SS_",
    "S_I",
    "TC",
    "TFD_",
    "TIOC",
];
/// Exact names also taken from uapi headers.
const EXACT: &[&str] = &[
    "TIMER_ABSTIME",
    "WNOHANG",
    "WUNTRACED",
    "WSTOPPED",
    "WEXITED",
    "WCONTINUED",
    "WNOWAIT",
];

/// Constants the kernel tests without naming them: `faccessat` checks the
/// mode against `S_IRWXO` and passes it on as `MAY_*` bits
/// (fs/open.c: "where's F_OK, X_OK, W_OK, R_OK?"). F_OK is "no bits".
const ALIASES: &[(&str, &str)] = &[
    ("F_OK", "0"),
    ("R_OK", "MAY_READ"),
    ("W_OK", "MAY_WRITE"),
    ("X_OK", "MAY_EXEC"),
];

fn wanted_const(name: &str) -> bool {
    !name.starts_with("__")
        && (EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)))
}

// ---------------------------------------------------------------------------
// Per-arch generation

struct ArchData {
    audit_arch: u32,
    nr_syscalls: u32,
    syscalls: Vec<SyscallOut>,
    constants: BTreeMap<String, i64>,
    errnos: BTreeMap<String, i64>,
    not_implemented: Vec<String>,
    no_definition: Vec<String>,
    skipped_constants: Vec<String>,
    notes: Vec<String>,
}

struct SyscallOut {
    name: String,
    nr: u32,
    args: Vec<(String, String, Ty)>,
}

impl ArchData {
    fn report(&self, spec: &ArchSpec) {
        let nargs: usize = self.syscalls.iter().map(|s| s.args.len()).sum();
        eprintln!(
            "{}: {} syscalls (nr_syscalls {}), {} arguments, {} constants, {} errnos, audit_arch {:#x}",
            spec.name,
            self.syscalls.len(),
            self.nr_syscalls,
            nargs,
            self.constants.len(),
            self.errnos.len(),
            self.audit_arch
        );
        if !self.not_implemented.is_empty() {
            eprintln!(
                "{}: not implemented (sys_ni_syscall), listed without arguments: {}",
                spec.name,
                self.not_implemented.join(" ")
            );
        }
        if !self.no_definition.is_empty() {
            eprintln!(
                "warning: {}: no SYSCALL_DEFINE found, listed without arguments: {}",
                spec.name,
                self.no_definition.join(" ")
            );
        }
        if !self.skipped_constants.is_empty() {
            eprintln!(
                "{}: {} constants skipped (not evaluable for this arch): {}",
                spec.name,
                self.skipped_constants.len(),
                self.skipped_constants.join(" ")
            );
        }
        for n in &self.notes {
            eprintln!("{}: {n}", spec.name);
        }
    }
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

// ---------------------------------------------------------------------------
// Syscall tables

struct TblEntry {
    nr: u32,
    name: String,
    entry: Option<String>,
}

fn syscall_table(ksrc: &Path, spec: &ArchSpec) -> Result<Vec<TblEntry>> {
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

// ---------------------------------------------------------------------------
// SYSCALL_DEFINEn

#[derive(Clone)]
struct Definition {
    file: String,
    /// (C type, name) pairs.
    args: Vec<(String, String)>,
    /// Preprocessor conditions that must hold: (expression, expected truth).
    conds: Vec<(String, bool)>,
}

struct Defines {
    defs: HashMap<String, Vec<Definition>>,
    /// Entry-point aliases: `#define __x64_sys_a __x64_sys_b` (a -> b).
    aliases: HashMap<String, String>,
    /// Names in `COND_SYSCALL()` (weak -ENOSYS stubs).
    cond_syscalls: HashSet<String>,
}

/// `SYSCALL_DEFINE`s of the generic (non-arch) directories.
fn generic_defines(ksrc: &Path) -> Result<Defines> {
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
fn arch_defines(ksrc: &Path, spec: &ArchSpec, generic: &Defines) -> Result<Defines> {
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

fn split_word(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
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
fn pick_definition<'a>(
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

fn kconfig_selects(ksrc: &Path, spec: &ArchSpec) -> Result<HashSet<String>> {
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

struct KconfigEnv<'a> {
    selected: &'a HashSet<String>,
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

fn eval_condition_text(cond: &str, env: &KconfigEnv) -> Tri {
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

fn tri_of(r: Result<Val, EvalErr>) -> Tri {
    match r {
        Ok(v) if v.v != 0 => Tri::True,
        Ok(_) => Tri::False,
        Err(_) => Tri::Unknown,
    }
}

// ---------------------------------------------------------------------------
// Source cleaning and tokens

/// Splices continuation lines and blanks out comments (strings and
/// character literals, which never span lines, are kept).
fn clean_source(src: &str) -> String {
    let src = src.replace("\\\r\n", "").replace("\\\n", "");
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                if b[i] == b'\n' {
                    out.push(b'\n');
                }
                i += 1;
            }
            i += 2;
            out.push(b' ');
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' || c == b'\'' {
            // A literal ends at its closing quote, or at the line's end.
            let mut j = i + 1;
            while j < b.len() && b[j] != c && b[j] != b'\n' {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            if j < b.len() && b[j] == c {
                out.extend_from_slice(&b[i..=j]);
                i = j + 1;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// A preprocessing number, as written.
    Num(String),
    /// A character literal's value.
    Char(i128),
    Str,
    Punct(&'static str),
    /// A value the preprocessor could not decide.
    Unknown,
}

const PUNCTS: &[&str] = &[
    "...", "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "->", "++", "--",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "+", "-", "*", "/", "%", "&", "|", "^", "~",
    "!", "<", ">", "?", ":", "(", ")", ",", "#", "[", "]", "{", "}", ";", ".", "=", "@", "$", "\\",
    "`",
];

fn tokenize(s: &str) -> Result<Vec<Tok>, EvalErr> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[st..i].to_string()));
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(s[st..i].to_string()));
        } else if c == b'\'' {
            let (v, n) = char_literal(&b[i..]).ok_or(EvalErr::Invalid("bad char literal"))?;
            out.push(Tok::Char(v));
            i += n;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            out.push(Tok::Str);
            i = j + 1;
        } else {
            let p = PUNCTS
                .iter()
                .find(|p| s[i..].starts_with(**p))
                .ok_or(EvalErr::Invalid("unexpected character"))?;
            out.push(Tok::Punct(p));
            i += p.len();
        }
    }
    Ok(out)
}

/// Value and length of the character literal at the start of `b`.
fn char_literal(b: &[u8]) -> Option<(i128, usize)> {
    let c = *b.get(1)?;
    let (v, n) = if c == b'\\' {
        let e = *b.get(2)?;
        match e {
            b'n' => (10, 4),
            b't' => (9, 4),
            b'r' => (13, 4),
            b'0'..=b'7' => {
                let mut v = 0i128;
                let mut j = 2;
                while j < 5 && b.get(j).is_some_and(|d| (b'0'..=b'7').contains(d)) {
                    v = v * 8 + (b[j] - b'0') as i128;
                    j += 1;
                }
                (v, j + 1)
            }
            b'x' => {
                let mut v = 0i128;
                let mut j = 3;
                while let Some(d) = b.get(j).and_then(|d| (*d as char).to_digit(16)) {
                    v = v * 16 + d as i128;
                    j += 1;
                }
                (v, j + 1)
            }
            b'\\' | b'\'' | b'"' | b'?' => (e as i128, 4),
            _ => return None,
        }
    } else {
        (c as i128, 3)
    };
    (b.get(n - 1) == Some(&b'\'')).then_some((v, n))
}

// ---------------------------------------------------------------------------
// Integer values with C's LP64 types

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IntTy {
    Int,
    UInt,
    Long,
    ULong,
}

impl IntTy {
    fn unsigned(self) -> bool {
        matches!(self, IntTy::UInt | IntTy::ULong)
    }
    fn rank(self) -> u8 {
        match self {
            IntTy::Int | IntTy::UInt => 1,
            IntTy::Long | IntTy::ULong => 2,
        }
    }
    fn wrap(self, v: i128) -> i128 {
        match self {
            IntTy::Int => v as i32 as i128,
            IntTy::UInt => v as u32 as i128,
            IntTy::Long => v as i64 as i128,
            IntTy::ULong => v as u64 as i128,
        }
    }
    fn bits(self) -> u32 {
        if self.rank() == 1 {
            32
        } else {
            64
        }
    }
    /// C's usual arithmetic conversions (both operands already promoted).
    fn common(a: IntTy, b: IntTy) -> IntTy {
        if a == b {
            return a;
        }
        if a.unsigned() == b.unsigned() {
            return if a.rank() >= b.rank() { a } else { b };
        }
        let (u, s) = if a.unsigned() { (a, b) } else { (b, a) };
        if u.rank() >= s.rank() {
            u
        } else {
            s // long can represent every unsigned int
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Val {
    v: i128,
    ty: IntTy,
}

impl Val {
    fn new(v: i128, ty: IntTy) -> Val {
        Val { v: ty.wrap(v), ty }
    }
    fn int(v: i128) -> Val {
        Val::new(v, IntTy::Int)
    }
    fn to_i64(self) -> i64 {
        self.v as i64
    }
}

/// A scalar C type: width in bits and signedness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scalar {
    bits: u32,
    signed: bool,
}

impl Scalar {
    fn cast(self, v: Val) -> Val {
        let x = match (self.bits, self.signed) {
            (8, true) => v.v as i8 as i128,
            (8, false) => v.v as u8 as i128,
            (16, true) => v.v as i16 as i128,
            (16, false) => v.v as u16 as i128,
            (32, true) => v.v as i32 as i128,
            (32, false) => v.v as u32 as i128,
            (_, true) => v.v as i64 as i128,
            (_, false) => v.v as u64 as i128,
        };
        let ty = match (self.bits, self.signed) {
            (b, _) if b < 32 => IntTy::Int,
            (32, true) => IntTy::Int,
            (32, false) => IntTy::UInt,
            (_, true) => IntTy::Long,
            (_, false) => IntTy::ULong,
        };
        Val::new(x, ty)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EvalErr {
    /// Depends on something this generator cannot know.
    Unknown,
    /// Not a constant expression it can evaluate.
    Invalid(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }
    fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

fn parse_number(s: &str, pp: bool) -> Result<Val, EvalErr> {
    let lower = s.to_ascii_lowercase();
    let digits = lower.trim_end_matches(['u', 'l']);
    let suffix = &lower[digits.len()..];
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(b) = digits.strip_prefix("0b") {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    let v = u128::from_str_radix(body, radix).map_err(|_| EvalErr::Invalid("bad number"))?;
    if v > u64::MAX as u128 {
        return Err(EvalErr::Invalid("number too large"));
    }
    let v = v as i128;
    let unsigned = suffix.contains('u');
    let long = suffix.contains('l');
    if !matches!(suffix, "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu") {
        return Err(EvalErr::Invalid("bad number suffix"));
    }
    // C11 6.4.4.1: the first type of the list that can represent the value.
    let mut cands: Vec<IntTy> = Vec::new();
    if !long {
        if !unsigned {
            cands.push(IntTy::Int);
        }
        if unsigned || radix != 10 {
            cands.push(IntTy::UInt);
        }
    }
    if !unsigned {
        cands.push(IntTy::Long);
    }
    if unsigned || radix != 10 {
        cands.push(IntTy::ULong);
    }
    let ty = cands
        .into_iter()
        .find(|t| t.wrap(v) == v)
        .ok_or(EvalErr::Invalid("number too large for its type"))?;
    // #if arithmetic is done in intmax_t / uintmax_t.
    let ty = match (pp, ty) {
        (true, IntTy::Int) => IntTy::Long,
        (true, IntTy::UInt) => IntTy::ULong,
        (_, t) => t,
    };
    Ok(Val::new(v, ty))
}

// ---------------------------------------------------------------------------
// Expressions

trait Env {
    /// Value of an identifier left after macro expansion.
    fn ident(&self, name: &str) -> Result<Val, EvalErr>;
    /// If `toks` name a scalar type, the type (for casts and sizeof).
    fn cast_type(&self, toks: &[Tok]) -> Option<Result<Scalar, EvalErr>>;
    /// `#if` arithmetic (intmax_t) rather than C's.
    fn pp(&self) -> bool;
}

#[derive(Debug)]
enum Expr {
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

fn parse_expr(toks: &[Tok], env: &dyn Env) -> Result<Expr, EvalErr> {
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

fn eval(e: &Expr, env: &dyn Env) -> Result<Val, EvalErr> {
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
fn parse_defined(toks: &[Tok], i: usize) -> (Option<String>, usize) {
    match (toks.get(i + 1), toks.get(i + 2), toks.get(i + 3)) {
        (Some(Tok::Punct("(")), Some(Tok::Ident(n)), Some(Tok::Punct(")"))) => {
            (Some(n.clone()), i + 4)
        }
        (Some(Tok::Ident(n)), _, _) => (Some(n.clone()), i + 2),
        _ => (None, i + 1),
    }
}

// ---------------------------------------------------------------------------
// The preprocessor

#[derive(Debug)]
struct Macro {
    params: Option<Vec<String>>,
    body: Vec<Tok>,
}

#[derive(Clone)]
enum MacroState {
    Def(Rc<Macro>),
    /// Defined or undefined under a condition that could not be decided.
    Unknown,
}

enum EnumValue {
    Expr(Vec<Tok>),
    /// The previous enumerator (if any) plus an offset.
    Next(Option<String>, i128),
}

enum TypeDef {
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

struct Pp<'a> {
    ksrc: &'a Path,
    arch: &'a ArchSpec,
    macros: HashMap<String, MacroState>,
    /// Files read, relative to `ksrc`.
    files: Vec<PathBuf>,
    file_is_uapi: Vec<bool>,
    /// Kernel-internal root files and the constant prefixes they provide.
    kernel_prefixes: HashMap<usize, &'static [&'static str]>,
    /// Object-like macros defined in decided regions, with their file.
    defines: Vec<(String, usize)>,
    enums: HashMap<String, (EnumValue, usize)>,
    enum_order: Vec<String>,
    /// `enum tag` -> its enumerators.
    enum_tags: HashMap<String, Vec<String>>,
    typedefs: HashMap<String, TypeDef>,
    depth: u32,
}

impl<'a> Pp<'a> {
    fn new(ksrc: &'a Path, arch: &'a ArchSpec) -> Self {
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

    fn include_root(&mut self, name: &str) -> Result<()> {
        let p = self
            .resolve(name, false, None)
            .ok_or_else(|| anyhow!("cannot find <{name}>"))?;
        self.process(&p)?;
        Ok(())
    }

    fn process_kernel_file(&mut self, rel: &str) -> Result<usize> {
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
    fn expand(
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
    fn arg_type(&self, ctype: &str) -> Result<Ty, String> {
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

    /// Object-like macros and enumerators, in definition order, with files.
    fn candidates(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self.defines.clone();
        out.extend(self.enum_order.iter().map(|n| (n.clone(), self.enums[n].1)));
        out
    }
}

const IGNORED_QUALIFIERS: &[&str] = &[
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

/// Evaluates constants (object-like macros and enumerators) with the final
/// macro table.
struct ConstEval<'p, 'a> {
    pp: &'p Pp<'a>,
    cache: std::cell::RefCell<HashMap<String, Result<Val, EvalErr>>>,
    busy: std::cell::RefCell<HashSet<String>>,
}

impl<'p, 'a> ConstEval<'p, 'a> {
    fn new(pp: &'p Pp<'a>) -> Self {
        ConstEval {
            pp,
            cache: Default::default(),
            busy: Default::default(),
        }
    }

    fn eval_text(&self, text: &str) -> Result<Val, EvalErr> {
        let toks = tokenize(text)?;
        self.eval_tokens(&toks)
    }

    fn eval_tokens(&self, toks: &[Tok]) -> Result<Val, EvalErr> {
        let expanded = self.pp.expand(toks, &mut Vec::new(), 0)?;
        let e = parse_expr(&expanded, self)?;
        eval(&e, self)
    }

    fn eval_name(&self, name: &str) -> Result<Val, EvalErr> {
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

fn rustfmt(repo: &Path, text: &str) -> Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow!("rustfmt writer panicked"))??;
    if !out.status.success() {
        bail!("rustfmt failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

// ---------------------------------------------------------------------------
// Output

/// `ArgType` variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ty {
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

fn render(spec: &ArchSpec, data: &ArchData, version: &str) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "//! Generated by `cargo xtask gen-tables` from {version}: do not edit.\n//!\n\
         //! The {} syscall table (numbers from the kernel's syscall table,\n\
         //! arguments from `SYSCALL_DEFINEn`), named constants and errnos.\n",
        spec.name
    );
    let used: BTreeSet<Ty> = data
        .syscalls
        .iter()
        .flat_map(|s| s.args.iter().map(|a| a.2))
        .collect();
    let used: Vec<String> = used.iter().map(|t| format!("{t:?}")).collect();
    if !used.is_empty() {
        let _ = writeln!(w, "use super::ArgType::{{{}}};", used.join(", "));
    }
    let _ = writeln!(w, "use super::{{Arch, Arg, ArgType, Constant, Syscall}};\n");
    let _ = writeln!(
        w,
        "/// The {} table.\npub static {}: Arch = Arch {{\n    name: {:?},\n    \
         // {}\n    audit_arch: {:#x},\n    nr_syscalls: {},\n    \
         syscalls: &SYSCALLS,\n    constants: &CONSTANTS,\n    errnos: &ERRNOS,\n}};\n",
        spec.name, spec.static_name, spec.name, spec.audit_macro, data.audit_arch, data.nr_syscalls
    );
    let _ = writeln!(
        w,
        "const fn a(name: &'static str, ctype: &'static str, ty: ArgType) -> Arg {{\n    \
         Arg {{ name, ctype, ty }}\n}}\n\n\
         const fn s(name: &'static str, nr: u32, args: &'static [Arg]) -> Syscall {{\n    \
         Syscall {{ name, nr, args }}\n}}\n\n\
         const fn c(name: &'static str, value: i64) -> Constant {{\n    \
         Constant {{ name, value }}\n}}\n"
    );
    let _ = writeln!(w, "static SYSCALLS: [Syscall; {}] = [", data.syscalls.len());
    for sc in &data.syscalls {
        let args: Vec<String> = sc
            .args
            .iter()
            .map(|(n, c, t)| format!("a({n:?}, {c:?}, {t:?})"))
            .collect();
        let _ = writeln!(
            w,
            "    s({:?}, {}, &[{}]),",
            sc.name,
            sc.nr,
            args.join(", ")
        );
    }
    let _ = writeln!(w, "];\n");
    for (name, table) in [("CONSTANTS", &data.constants), ("ERRNOS", &data.errnos)] {
        let _ = writeln!(w, "static {name}: [Constant; {}] = [", table.len());
        for (n, v) in table {
            let v = if *v >= 0x1000 {
                format!("{v:#x}")
            } else {
                v.to_string()
            };
            let _ = writeln!(w, "    c({n:?}, {v}),");
        }
        let _ = writeln!(w, "];\n");
    }
    s
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn comments_and_continuations() {
        let s = clean_source("#define A 1 /* x\n y */ + \\\n 2 // z\nchar c = '/'; \"/*\"");
        assert_eq!(s, "#define A 1 \n  +  2 \nchar c = '/'; \"/*\"");
    }

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
