//! `strbox learn [-o FILE] [--default errno NAME|kill] -- CMD [ARGS...]`:
//! run CMD and every task it starts under ptrace (`learn/trace.rs`),
//! record every native syscall with its six argument registers, and write
//! the smallest policy that lets the same run pass (see docs/learn.md).
//!
//! The generator ([`generate`]) is a pure function from recorded calls to
//! policy text. Per syscall it writes one rule: the conjunction of cheap,
//! exact argument constraints, or `1`:
//!
//! * an integer argument named like a descriptor (`fd`, `...fd`, `fd_...`,
//!   `fildes`) whose run used at most [`MAX_EQ`] distinct values (in the
//!   argument's C type): `fd == A || fd == B ...`;
//! * an integer argument named like a selector (`cmd`, `op`, `option`,
//!   `how`, `whence`, `family`, `type`, ...): the same equality list;
//! * an integer argument named like a flag word (`flags`, `...flags`,
//!   `flag`, `prot`, `mode`) whose run used at most [`MAX_MASK_VALUES`]
//!   distinct values: `flags in MASK`, MASK the OR of the values seen (any
//!   subset of those bits passes: a superset of what was seen, never less);
//!   `flags == 0` when every value was 0;
//! * anything else (pointers, sizes, more distinct values): no constraint.
//!
//! Every constraint holds for every recorded call, so their conjunction
//! does: the policy allows the whole run. [`learn`] checks that anyway:
//! it compiles the text through the same path as `strbox check` and
//! evaluates every distinct recorded call against the compiled program;
//! any verdict but `allow` is an error and no policy is written.

mod trace;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use strbox::Policy;
use strbox_filter::uapi::tables::{self, Arch, ArgType};
use strbox_filter::Verdict;

use crate::{report_error, usage_error, Exit};

pub use trace::Record;

/// At most this many distinct values become an `==` list.
pub const MAX_EQ: usize = 4;
/// At most this many distinct values of a flag word become an `in` mask.
pub const MAX_MASK_VALUES: usize = 8;

/// What `strbox learn` was asked to do.
pub struct LearnOpts {
    /// Where the policy goes (`None`: standard output).
    pub out: Option<std::path::PathBuf>,
    /// The `--default` words (`kill`, `errno`, `errno NAME`).
    pub default: Vec<String>,
    /// The program and its arguments.
    pub cmd: Vec<String>,
}

/// The policy's default action for everything the run did not do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// `default errno NAME`.
    Errno(String),
    /// `default kill`.
    Kill,
}

impl DefaultAction {
    /// Parses `--default` (`kill`, `errno`, `errno NAME`; `EPERM` when no
    /// errno is named).
    pub fn parse(arch: &Arch, words: &[String]) -> Result<DefaultAction, String> {
        let words: Vec<&str> = words.iter().flat_map(|w| w.split_whitespace()).collect();
        match words.as_slice() {
            [] | ["errno"] => Ok(DefaultAction::Errno("EPERM".into())),
            ["kill"] => Ok(DefaultAction::Kill),
            ["errno", name] if arch.errno(name).is_some() => {
                Ok(DefaultAction::Errno((*name).to_string()))
            }
            ["errno", name] => Err(format!("--default errno: unknown errno {name:?}")),
            _ => Err(format!(
                "--default: expected `errno EPERM` (or another errno name) or `kill`, got {:?}",
                words.join(" ")
            )),
        }
    }

    fn line(&self) -> String {
        match self {
            DefaultAction::Errno(name) => format!("default errno {name}"),
            DefaultAction::Kill => "default kill".into(),
        }
    }
}

/// Everything the header says besides the rules.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// The command as run (already quoted for display).
    pub command: String,
    /// Tasks (processes and threads) traced.
    pub tasks: usize,
    /// `# note:` lines.
    pub notes: Vec<String>,
}

/// How an argument is constrained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `fd == A || ...` (at most [`MAX_EQ`] values).
    Fd,
    /// `x == A || ...` (at most [`MAX_EQ`] values).
    Selector,
    /// `x in MASK` (at most [`MAX_MASK_VALUES`] values).
    Mask,
    /// No constraint.
    Free,
}

const SELECTORS: &[&str] = &[
    "cmd",
    "op",
    "option",
    "how",
    "whence",
    "family",
    "type",
    "protocol",
    "which",
    "which_clock",
    "clockid",
    "resource",
    "level",
    "optname",
    "sig",
    "behavior",
    "advice",
    "code",
];

fn kind(name: &str, ty: ArgType) -> Kind {
    if ty == ArgType::Ptr {
        return Kind::Free;
    }
    if name == "fd" || name.ends_with("fd") || name.starts_with("fd_") || name == "fildes" {
        Kind::Fd
    } else if SELECTORS.contains(&name) {
        Kind::Selector
    } else if name.ends_with("flags") || matches!(name, "flag" | "prot" | "mode") {
        Kind::Mask
    } else {
        Kind::Free
    }
}

/// Width in bits and signedness of an integer type.
fn width(ty: ArgType) -> (u32, bool) {
    ty.width_signed()
}

/// The register's bits that the C type keeps (what the filter compares).
fn truncate(ty: ArgType, v: u64) -> u64 {
    let (bits, _) = width(ty);
    if bits == 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// A truncated value written as the filter reads it in `==`: signed
/// decimal for signed types, decimal for unsigned ones.
fn decimal(ty: ArgType, v: u64) -> String {
    let (bits, signed) = width(ty);
    if signed {
        let shift = 64 - bits;
        (((v << shift) as i64) >> shift).to_string()
    } else {
        v.to_string()
    }
}

/// The expression for syscall `sys` given every value each argument took.
fn expression(sys: &tables::Syscall, seen: &[BTreeSet<u64>]) -> String {
    // One entry per constrained argument: its alternatives (ORed).
    let mut parts: Vec<Vec<String>> = Vec::new();
    for (arg, values) in sys.args.iter().zip(seen) {
        match kind(arg.name, arg.ty) {
            Kind::Fd | Kind::Selector if values.len() <= MAX_EQ => parts.push(
                values
                    .iter()
                    .map(|&v| format!("{} == {}", arg.name, decimal(arg.ty, v)))
                    .collect(),
            ),
            Kind::Mask if values.len() <= MAX_MASK_VALUES => {
                let mask = values.iter().fold(0u64, |m, &v| m | v);
                parts.push(vec![if mask == 0 {
                    format!("{} == 0", arg.name)
                } else {
                    format!("{} in {mask:#x}", arg.name)
                }]);
            }
            _ => {}
        }
    }
    match parts.as_slice() {
        [] => "1".into(),
        [alts] => alts.join(" || "),
        _ => parts
            .iter()
            .map(|alts| match alts.as_slice() {
                [one] => one.clone(),
                _ => format!("({})", alts.join(" || ")),
            })
            .collect::<Vec<_>>()
            .join(" && "),
    }
}

/// The policy text for `calls` (each distinct call with its count), for
/// `arch`. Calls whose number is not in `arch`'s table are left out (the
/// caller says why in a note). With `arg_rules` false every rule is `1`.
pub fn generate(
    arch: &'static Arch,
    calls: &[(Record, u64)],
    default: &DefaultAction,
    header: &Header,
    arg_rules: bool,
) -> String {
    struct Seen {
        calls: u64,
        values: Vec<BTreeSet<u64>>,
    }
    let mut by_name: BTreeMap<&'static str, (&'static tables::Syscall, Seen)> = BTreeMap::new();
    for (rec, n) in calls {
        let Some(sys) = arch.syscall_by_nr(rec.nr) else {
            continue;
        };
        let (_, seen) = by_name.entry(sys.name).or_insert_with(|| {
            (
                sys,
                Seen {
                    calls: 0,
                    values: vec![BTreeSet::new(); sys.args.len()],
                },
            )
        });
        seen.calls += n;
        for (i, arg) in sys.args.iter().enumerate() {
            seen.values[i].insert(truncate(arg.ty, rec.args[i]));
        }
    }
    let total: u64 = by_name.values().map(|(_, s)| s.calls).sum();
    let mut out = String::new();
    out.push_str(&format!(
        "# Learned by `strbox learn` from one run of: {}\n",
        header.command
    ));
    out.push_str(&format!(
        "# {} {} traced; {} {} seen ({} {}).\n",
        header.tasks,
        plural(header.tasks as u64, "task", "tasks"),
        by_name.len(),
        plural(by_name.len() as u64, "syscall", "syscalls"),
        total,
        plural(total, "call", "calls"),
    ));
    out.push_str(
        "# Rules: `fd == A || ...` and `ARG == A || ...` (selectors such as cmd, op,\n\
         #   family): the values the run used, when at most 4; `ARG in MASK` (flags,\n\
         #   prot, mode): any combination of the bits the run used, so also\n\
         #   combinations it did not use; `1`: no cheap exact rule.\n\
         # One run exercises one path: tighten or extend by hand, then\n\
         #   strbox run POLICY -- CMD\n",
    );
    if !arg_rules {
        out.push_str("# Argument rules are off: every rule is `1`.\n");
    }
    for n in &header.notes {
        for (i, line) in n.lines().enumerate() {
            let lead = if i == 0 { "# note: " } else { "#   " };
            out.push_str(&format!("{lead}{line}\n"));
        }
    }
    out.push('\n');
    out.push_str(&default.line());
    out.push_str("\n\n");
    let rules: Vec<(String, String, u64)> = by_name
        .iter()
        .map(|(name, (sys, seen))| {
            let expr = if arg_rules {
                expression(sys, &seen.values)
            } else {
                "1".into()
            };
            (format!("{name}:"), expr, seen.calls)
        })
        .collect();
    let w = rules.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    for (name, expr, n) in rules {
        out.push_str(&format!(
            "{name:<w$} {expr}  # {n} {}\n",
            plural(n, "call", "calls")
        ));
    }
    out
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `CMD ARGS...` for a comment: plain words as they are, others single
/// quoted, control characters escaped (a newline would end the comment).
pub fn quote_command(cmd: &[String]) -> String {
    let word = |w: &str| {
        let plain = !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
        if plain {
            return w.to_string();
        }
        let mut s = String::from("'");
        for c in w.chars() {
            match c {
                '\'' => s.push_str("'\\''"),
                c if c.is_control() => s.push_str(&c.escape_default().to_string()),
                c => s.push(c),
            }
        }
        s.push('\'');
        s
    };
    cmd.iter().map(|w| word(w)).collect::<Vec<_>>().join(" ")
}

/// Compiles `text` the way `strbox check` does (a policy read from a
/// source, includes expanded, compiled for `arch`).
pub fn compile_text(
    arch: &'static Arch,
    text: &str,
) -> Result<Box<strbox_filter::Program>, strbox::Error> {
    Policy::from_source("<learned>", text.as_bytes().to_vec(), Path::new(""))?.compile(arch)
}

/// The calls the program does not allow (each with its verdict).
pub fn disallowed(
    arch: &'static Arch,
    prog: &strbox_filter::Program,
    calls: &[(Record, u64)],
) -> Vec<(Record, Verdict)> {
    calls
        .iter()
        .filter(|(r, _)| arch.syscall_by_nr(r.nr).is_some())
        .filter_map(|(r, _)| {
            let v = prog.evaluate(r.nr, &r.args);
            (v != Verdict::Allow).then_some((*r, v))
        })
        .collect()
}

/// `strbox learn`.
pub fn learn(o: LearnOpts) -> Result<u8, Exit> {
    let arch = tables::NATIVE;
    let default = DefaultAction::parse(arch, &o.default).map_err(usage_error)?;
    let prog_name = o.cmd[0].clone();
    let trace = trace::run(&o.cmd, arch)?;
    if !trace.execed {
        // The command never started (the child said why, or died first).
        eprintln!("strbox: learn: {prog_name} did not start: no policy written");
        return Err(Exit(trace.status));
    }

    let mut calls: Vec<(Record, u64)> = trace.calls.into_iter().collect();
    calls.sort();
    let mut notes = Vec::new();
    let unknown: BTreeMap<u32, u64> = calls
        .iter()
        .filter(|(r, _)| arch.syscall_by_nr(r.nr).is_none())
        .fold(BTreeMap::new(), |mut m, (r, n)| {
            *m.entry(r.nr).or_insert(0) += n;
            m
        });
    if !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|(nr, n)| format!("{nr} ({n} {})", plural(*n, "call", "calls")))
            .collect();
        notes.push(format!(
            "syscall numbers not in the {} table (ENOSYS on the kernel strbox runs on; the policy's default applies): {}",
            arch.name,
            list.join(", ")
        ));
    }
    if !trace.foreign.is_empty() {
        let list: Vec<String> = trace
            .foreign
            .iter()
            .map(|(abi, n)| format!("{abi} ({n} {})", plural(*n, "call", "calls")))
            .collect();
        notes.push(format!(
            "non-native syscalls not recorded (a strbox layer gives them its default action): {}",
            list.join(", ")
        ));
    }
    let header = Header {
        command: quote_command(&o.cmd),
        tasks: trace.tasks,
        notes,
    };

    let mut text = generate(arch, &calls, &default, &header, true);
    let prog = match compile_text(arch, &text) {
        Ok(p) => p,
        Err(e) => {
            // Argument rules past the engine's limits: drop them.
            eprintln!(
                "strbox: learn: the policy with argument rules does not compile ({}); writing it without them",
                e.render().lines().next().unwrap_or("")
            );
            let mut h = header.clone();
            h.notes.push(
                "the argument rules did not fit the engine's limits and were left out".into(),
            );
            text = generate(arch, &calls, &default, &h, false);
            compile_text(arch, &text).map_err(|e| {
                report_error(&e.render());
                eprintln!("strbox: learn: internal error: the generated policy does not compile");
                Exit(2)
            })?
        }
    };
    let bad = disallowed(arch, &prog, &calls);
    if !bad.is_empty() {
        eprintln!(
            "strbox: learn: internal error: the generated policy does not allow {} recorded {}:",
            bad.len(),
            plural(bad.len() as u64, "call", "calls")
        );
        for (r, v) in bad.iter().take(20) {
            let name = arch.syscall_by_nr(r.nr).map_or("?", |s| s.name);
            eprintln!(
                "  {name}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}): {}",
                r.args[0],
                r.args[1],
                r.args[2],
                r.args[3],
                r.args[4],
                r.args[5],
                strbox::policy::verdict_text(*v, arch)
            );
        }
        eprintln!("strbox: learn: no policy written");
        return Err(Exit(2));
    }
    let checked = calls
        .iter()
        .filter(|(r, _)| arch.syscall_by_nr(r.nr).is_some())
        .count();
    match &o.out {
        Some(path) => std::fs::write(path, &text)
            .map_err(|e| usage_error(format_args!("{}: {e}", path.display())))?,
        None => {
            let mut so = std::io::stdout().lock();
            so.write_all(text.as_bytes())
                .and_then(|()| so.flush())
                .map_err(|e| usage_error(format_args!("stdout: {e}")))?;
        }
    }
    eprintln!(
        "strbox: learn: {} {} traced, {checked} distinct {} checked: all allowed by the policy",
        trace.tasks,
        plural(trace.tasks as u64, "task", "tasks"),
        plural(checked as u64, "call", "calls"),
    );
    for n in &header.notes {
        eprintln!("strbox: learn: note: {n}");
    }
    Ok(trace.status)
}

#[cfg(test)]
mod tests;
