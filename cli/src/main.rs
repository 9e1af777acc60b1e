//! `strbox`: the host CLI.
//!
//! * `strbox check [--arch A] FILE`: print the canonical policy (exit 0) or
//!   the error with its line and a caret (exit 1); warn (stderr,
//!   `warning:` lines, still exit 0) about escape hatches the policy
//!   allows (ptrace, process_vm_writev, bpf, io_uring_setup, ...).
//! * `strbox eval [--arch A] FILE SYSCALL [ARG0 ... ARG5]`: print the
//!   verdict for one syscall (`allow`, `log`, `errno NAME`, `kill`).
//! * `strbox eval [--arch A] FILE EVENT [FIELD=VALUE ...]`: the same for an
//!   LSM-hook event (`file_open`, `exec`, `socket_connect`, `socket_bind`),
//!   e.g. `strbox eval p.txt file_open path=/etc/passwd flags=O_RDONLY`.
//! * `strbox run [--backend strbox|seccomp|auto] [--tsync] [--no-nnp]
//!   [--exec] [--best-effort] [-p POLICY]... [FILE] -- CMD [ARGS...]`:
//!   check every policy, find CMD, then (in a forked child, or in strbox
//!   itself with `--exec`) install one layer per policy, in order (a
//!   strbox layer, or a seccomp-bpf filter), and execve CMD (see `run.rs`).
//! * `strbox learn [-o FILE] [--default errno EPERM|kill] -- CMD [ARGS...]`:
//!   trace CMD and its tasks with ptrace, write the policy that lets the
//!   run pass (see `learn.rs`, docs/learn.md).
//! * `strbox compile --bpf [--arch A] [--layout tree|linear] [--listing]
//!   [-o FILE] POLICY`: the policy as a seccomp-bpf filter (raw `struct
//!   sock_filter` array, or a listing), generated from the compiled
//!   program; event rules are refused (see `compile.rs`).
//! * `strbox show`: print the calling process's layers (`PR_SECCOMP_GET`).
//! * `strbox syscalls [--arch A] [NAME]`: the syscall table (numbers,
//!   argument names and C types) and the LSM-hook events with their fields.
//! * `strbox man [--out DIR]`, `strbox completions SHELL`: man pages and
//!   shell completions generated from this definition.
//!
//! Policy files may `@include "PATH"` others (relative to the including
//! file); `FILE` may be `-` for standard input (its includes are relative
//! to the current directory).
//!
//! Exit codes: 0 valid policy, 1 invalid policy (or an `@include` that
//! cannot be expanded), 2 usage or I/O error. `run`: the program's status
//! (128+N when a signal N killed it), 1 when a layer cannot be installed
//! (or the module is missing, without `--best-effort`), 127 when CMD is not
//! found, 126 when it is not executable. A kill by a verdict is the
//! signal's: 137 (SIGKILL) from the strbox module, 159 (SIGSYS) from a
//! seccomp filter.

mod compile;
mod exec_args;
mod learn;
mod run;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use strbox::{policy, Policy};
use strbox_filter::uapi::tables::Arch;
use strbox_filter::{Event, Program, Verdict};

#[derive(Parser)]
#[command(
    name = "strbox",
    version,
    about = "Per-syscall and per-LSM-event string filters for unprivileged processes",
    long_about = "strbox: per-syscall and per-LSM-event string filters for unprivileged \
                  processes, enforced by the strbox kernel module. Policies are written in \
                  the kernel's ftrace event-filter syntax, one rule per line; a policy file \
                  may @include \"PATH\" others."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a policy: print its canonical form, or the error; warn about
    /// escape hatches it allows.
    Check {
        /// Target architecture (x86_64, aarch64); default: this host's.
        #[arg(long)]
        arch: Option<String>,
        /// Policy file (`-` for standard input).
        file: String,
    },
    /// Evaluate one syscall (or LSM-hook event) against a policy and print
    /// the verdict.
    Eval {
        /// Target architecture (x86_64, aarch64); default: this host's.
        #[arg(long)]
        arch: Option<String>,
        /// Policy file (`-` for standard input).
        file: String,
        /// Syscall name (with or without `sys_`) or number, or an event
        /// (file_open, exec, socket_connect, socket_bind).
        syscall: String,
        /// Syscall: argument registers: decimal, 0x hex, 0 octal, negative,
        /// or a named constant; missing ones are 0. Event: FIELD=VALUE
        /// (path, flags, family, port, addr).
        #[arg(num_args = 0..=6, allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// Run CMD under one layer per policy: in a child that installs the
    /// layers and execs CMD (strbox waits and exits with CMD's status), or,
    /// with --exec, in place of strbox.
    ///
    /// The policies are checked and CMD is looked up (PATH) before anything
    /// is installed. The strbox module is a hard requirement: without it,
    /// or when it is too old for the policy, strbox refuses to run CMD,
    /// unless --best-effort is given.
    Run {
        /// A policy file (`-` for standard input); repeat for more layers,
        /// installed in order (after FILE, if given).
        #[arg(short = 'p', long = "policy", value_name = "POLICY")]
        policies: Vec<String>,
        /// Apply each layer to every thread (STRBOX_SET_TSYNC, or
        /// SECCOMP_FILTER_FLAG_TSYNC for a seccomp layer).
        #[arg(long)]
        tsync: bool,
        /// Do not set no_new_privs (needs CAP_SYS_ADMIN).
        #[arg(long)]
        no_nnp: bool,
        /// Replace strbox with CMD (install, then execve in this process)
        /// instead of running it in a child.
        #[arg(long)]
        exec: bool,
        /// Install what the running module supports; when it cannot
        /// enforce a layer (or is not loaded) run CMD anyway, with a
        /// warning naming what is not enforced.
        #[arg(long)]
        best_effort: bool,
        /// What enforces the layers: the strbox module, a seccomp-bpf
        /// filter generated from the same policy (any kernel; no event
        /// rules), or auto (the module when it is loaded and supports the
        /// policy, else seccomp).
        #[arg(long, value_enum, default_value = "strbox")]
        backend: BackendArg,
        /// Policy file (the same as a first -p).
        file: Option<String>,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Run CMD and every process it starts under ptrace, record their
    /// syscalls, and write the smallest policy that lets the same run pass.
    ///
    /// Works without the strbox module. Exits with CMD's status (128+N
    /// when signal N killed it); see docs/learn.md.
    Learn {
        /// Write the policy to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// The default action for what the run did not do: `errno EPERM`
        /// (another errno name may follow `errno`) or `kill`.
        #[arg(long = "default", value_name = "ACTION", num_args = 1..=2, default_values = ["errno", "EPERM"])]
        default: Vec<String>,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Compile a policy to a seccomp-bpf filter with the same verdicts
    /// (for kernels without the strbox module).
    ///
    /// Writes the raw `struct sock_filter` array (8 bytes per instruction,
    /// what seccomp(2) and libseccomp's seccomp_export_bpf take), or with
    /// --listing a readable listing. Event rules cannot be expressed in
    /// seccomp-bpf and are refused.
    Compile {
        /// Output a seccomp-bpf filter (the only output format).
        #[arg(long, required = true)]
        bpf: bool,
        /// Target architecture (x86_64, aarch64); default: this host's.
        #[arg(long)]
        arch: Option<String>,
        /// Dispatch on the syscall number by binary search (tree) or one
        /// comparison per syscall (linear, libseccomp's default shape).
        #[arg(long, value_enum, default_value = "tree")]
        layout: LayoutArg,
        /// Print a listing instead of the raw filter.
        #[arg(long)]
        listing: bool,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Policy file (`-` for standard input).
        file: String,
    },
    /// Print this process's installed layers, oldest first.
    Show,
    /// List the syscalls (number, argument names and C types) and the
    /// LSM-hook events with their fields; or describe one of them.
    Syscalls {
        /// Architecture (x86_64, aarch64); default: this host's.
        #[arg(long)]
        arch: Option<String>,
        /// A syscall (with or without `sys_`, or its number) or an event.
        name: Option<String>,
    },
    /// Write the man pages (strbox.1 and one per subcommand).
    Man {
        /// Directory to write them to; without it, print strbox.1 to
        /// standard output.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Print a completion script for SHELL.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `strbox run --backend`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum BackendArg {
    Strbox,
    Seccomp,
    Auto,
}

/// `strbox compile --layout`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LayoutArg {
    Tree,
    Linear,
}

/// A failure with its exit code (the message is already printed).
pub struct Exit(u8);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { arch, file } => check(arch.as_deref(), &file).map(|()| 0),
        Command::Eval {
            arch,
            file,
            syscall,
            args,
        } => eval(arch.as_deref(), &file, &syscall, &args).map(|()| 0),
        Command::Run {
            policies,
            tsync,
            no_nnp,
            exec,
            best_effort,
            backend,
            file,
            cmd,
        } => {
            let policies: Vec<String> = file.into_iter().chain(policies).collect();
            if policies.is_empty() {
                Err(usage_error("run: no policy (give FILE or -p POLICY)"))
            } else {
                run::run(run::RunOpts {
                    policies,
                    tsync,
                    nnp: !no_nnp,
                    exec,
                    best_effort,
                    backend: match backend {
                        BackendArg::Strbox => strbox::BackendChoice::Strbox,
                        BackendArg::Seccomp => strbox::BackendChoice::Seccomp,
                        BackendArg::Auto => strbox::BackendChoice::Auto,
                    },
                    cmd,
                })
            }
        }
        Command::Learn { out, default, cmd } => {
            learn::learn(learn::LearnOpts { out, default, cmd })
        }
        Command::Compile {
            bpf: _,
            arch,
            layout,
            listing,
            out,
            file,
        } => compile::compile(compile::CompileOpts {
            arch,
            layout,
            listing,
            out,
            file,
        })
        .map(|()| 0),
        Command::Show => show().map(|()| 0),
        Command::Syscalls { arch, name } => syscalls(arch.as_deref(), name.as_deref()).map(|()| 0),
        Command::Man { out } => man(out.as_deref()).map(|()| 0),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "strbox", &mut script);
            std::io::stdout()
                .write_all(&script)
                .map(|()| 0)
                .map_err(|e| usage_error(format_args!("stdout: {e}")))
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Exit(code)) => ExitCode::from(code),
    }
}

pub fn usage_error(msg: impl std::fmt::Display) -> Exit {
    eprintln!("strbox: {msg}");
    Exit(2)
}

/// `<stdin>` for `-`.
pub fn display_name(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

/// Whether error reports get colour: stderr is a terminal and NO_COLOR is
/// unset.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A rendered error (`FILE:LINE:COL: message`, the line, the caret) with
/// the location in bold, the message in red and the caret in green, as
/// compilers print them.
fn paint(rendered: &str) -> String {
    let mut out = String::new();
    for (i, line) in rendered.split_inclusive('\n').enumerate() {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let nl = &line[body.len()..];
        if i == 0 {
            // Split after the `FILE:LINE:COL:` part: the first ": " after
            // the last digits-colon run.
            match find_location_end(body) {
                Some(k) => {
                    let (loc, msg) = body.split_at(k);
                    out.push_str(&format!("\x1b[1m{loc}\x1b[0m\x1b[1;31m{msg}\x1b[0m{nl}"));
                }
                None => out.push_str(line),
            }
        } else if body.trim_start().starts_with('^') && body.trim() == "^" {
            let k = body.len() - 1;
            out.push_str(&format!("{}\x1b[1;32m^\x1b[0m{nl}", &body[..k]));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The end of `FILE:LINE:COL:` at the start of `line`.
fn find_location_end(line: &str) -> Option<usize> {
    let mut search = 0;
    while let Some(i) = line[search..].find(": ") {
        let at = search + i;
        let head = &line[..at];
        let mut parts = head.rsplitn(3, ':');
        let col = parts.next()?;
        let ln = parts.next();
        if !col.is_empty()
            && col.bytes().all(|b| b.is_ascii_digit())
            && ln.is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(at + 1);
        }
        search = at + 2;
    }
    None
}

/// Prints a rendered error to stderr, in colour when it goes to a terminal.
pub fn report_error(rendered: &str) {
    if colour() {
        eprint!("{}", paint(rendered));
    } else {
        eprint!("{rendered}");
    }
}

/// Reads `file` (`-`: standard input) and expands its `@include`s: exit 2
/// when it cannot be read, 1 when an include cannot be expanded.
pub fn load_policy(file: &str) -> Result<Policy, Exit> {
    let r = if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| usage_error(format_args!("<stdin>: {e}")))?;
        Policy::from_source("<stdin>", buf, Path::new(""))
    } else {
        Policy::from_file(file)
    };
    r.map_err(|e| match e {
        strbox::Error::Read { .. } => usage_error(&e),
        e => {
            report_error(&e.render());
            Exit(1)
        }
    })
}

/// Reads and compiles `file`; on a policy error prints it with a caret.
pub fn load(arch: Option<&str>, file: &str) -> Result<(&'static Arch, Box<Program>), Exit> {
    let arch = policy::arch(arch).map_err(usage_error)?;
    let policy = load_policy(file)?;
    match policy.compile(arch) {
        Ok(prog) => Ok((arch, prog)),
        Err(e) => {
            report_error(&e.render());
            Err(Exit(1))
        }
    }
}

fn check(arch: Option<&str>, file: &str) -> Result<(), Exit> {
    let (arch, prog) = load(arch, file)?;
    let text = policy::canonical(&prog, arch);
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| usage_error(format_args!("stdout: {e}")))?;
    for line in hatch_warnings(&prog, arch, &text) {
        eprintln!("{line}");
    }
    Ok(())
}

/// Syscalls that let a confined task act outside its layers, and why.
const HATCHES: &[(&str, &str)] = &[
    ("ptrace", "the task can attach to other processes of its user that this policy does not confine and make them run any syscall"),
    ("process_vm_writev", "the task can write into the memory of other processes of its user that this policy does not confine"),
    ("process_vm_readv", "the task can read the memory of other processes of its user"),
    ("bpf", "BPF programs run in the kernel, where syscall rules do not apply"),
    ("io_uring_setup", "io_uring operations are not syscalls, so syscall rules do not see them (its opens are still judged by file_open events, its connects and binds by the socket events)"),
    ("userfaultfd", "userfaultfd can stall the kernel inside a syscall at will, a common aid to exploiting kernel races"),
    ("perf_event_open", "perf events expose kernel and other processes' activity and are a large kernel attack surface"),
    ("kexec_load", "it loads a new kernel (with CAP_SYS_BOOT)"),
    ("kexec_file_load", "it loads a new kernel (with CAP_SYS_BOOT)"),
    ("init_module", "it loads kernel modules (with CAP_SYS_MODULE), whose code no policy confines"),
    ("finit_module", "it loads kernel modules (with CAP_SYS_MODULE), whose code no policy confines"),
];

/// Whether `v` lets the syscall run.
fn runs(v: Verdict) -> bool {
    matches!(v, Verdict::Allow | Verdict::Log)
}

/// `Some("")` when the policy allows syscall `name` whatever its
/// arguments, `Some(" for some arguments")` when a rule may allow it,
/// `None` when it never runs.
fn allowed(
    prog: &Program,
    arch: &'static Arch,
    canonical: &str,
    name: &str,
) -> Option<&'static str> {
    let sys = arch.syscall(name)?;
    if prog.always_allows(sys.nr) {
        return Some("");
    }
    let prefix = format!("{name}: ");
    let rules: Vec<&str> = canonical
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|expr| expr.trim() != "0")
        .collect();
    let unlisted = prog.evaluate(sys.nr, &[0; 6]);
    if rules.is_empty() {
        return runs(unlisted).then_some("");
    }
    // Rules are matched in severity order, so `1 => kill` (or errno)
    // decides every call.
    let denies_all = rules.iter().any(|r| {
        r.rsplit_once(" => ").is_some_and(|(expr, action)| {
            expr.trim() == "1" && !matches!(action.trim(), "allow" | "log")
        })
    });
    if denies_all {
        return None;
    }
    // A rule allows when its expression holds, unless it names another
    // action; the default applies when no expression holds.
    let allowing = rules.iter().any(|r| match r.rsplit_once(" => ") {
        None => true,
        Some((_, action)) => matches!(action.trim(), "allow" | "log"),
    });
    (allowing || runs(prog.default_verdict())).then_some(" for some arguments")
}

/// The `warning:` (and `note:`) lines `strbox check` prints.
fn hatch_warnings(prog: &Program, arch: &'static Arch, canonical: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, why) in HATCHES {
        if let Some(how) = allowed(prog, arch, canonical, name) {
            out.push(format!("warning: the policy allows {name}{how}: {why}"));
        }
    }
    if let Some(how) = allowed(prog, arch, canonical, "prctl") {
        out.push(format!(
            "note: the policy allows prctl{how}: the task can add strbox layers of its own, which only restrict it further (a layer never loosens the ones below it), and change its own process attributes; not an escape hatch"
        ));
    }
    out
}

fn eval(arch: Option<&str>, file: &str, syscall: &str, args: &[String]) -> Result<(), Exit> {
    let (arch, prog) = load(arch, file)?;
    if let Some(ev) = Event::from_name(syscall.as_bytes()) {
        let input = policy::event_args(arch, ev, args).map_err(usage_error)?;
        let v = prog.evaluate_event(ev, &input.input());
        println!("{}", policy::verdict_text(v, arch));
        return Ok(());
    }
    let nr = policy::syscall_nr(arch, syscall).map_err(usage_error)?;
    let mut regs = [0u64; 6];
    for (slot, a) in regs.iter_mut().zip(args) {
        *slot = policy::parse_value(arch, a).map_err(usage_error)?;
    }
    println!("{}", policy::verdict_text(prog.evaluate(nr, &regs), arch));
    Ok(())
}

fn show() -> Result<(), Exit> {
    let text = strbox::read_layers().map_err(|e| {
        usage_error(format_args!(
            "PR_SECCOMP_GET: {e} (is the strbox module loaded?)"
        ))
    })?;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| usage_error(format_args!("stdout: {e}")))
}

/// `unsigned int fd`, `char __user *buf`.
fn c_decl(ctype: &str, name: &str) -> String {
    if ctype.ends_with('*') {
        format!("{ctype}{name}")
    } else {
        format!("{ctype} {name}")
    }
}

fn syscalls(arch: Option<&str>, name: Option<&str>) -> Result<(), Exit> {
    let arch = policy::arch(arch).map_err(usage_error)?;
    let mut out = String::new();
    match name {
        None => {
            let mut all: Vec<_> = arch.syscalls.iter().collect();
            all.sort_by_key(|s| s.nr);
            out.push_str(&format!("# {} syscalls: NR NAME(ARGUMENTS)\n", arch.name));
            for s in all {
                let args: Vec<String> = s.args.iter().map(|a| c_decl(a.ctype, a.name)).collect();
                out.push_str(&format!("{:3} {}({})\n", s.nr, s.name, args.join(", ")));
            }
            out.push_str("# LSM-hook events: NAME(FIELDS)\n");
            for ev in Event::ALL {
                out.push_str(&format!(
                    "{}({})\n",
                    ev.name(),
                    policy::event_fields(ev).join(", ")
                ));
            }
        }
        Some(n) => {
            if let Some(ev) = Event::from_name(n.as_bytes()) {
                out.push_str(&format!("{}: event\n", ev.name()));
                for f in policy::event_fields(ev) {
                    out.push_str(&format!("  {f}\n"));
                }
            } else {
                let sys = arch
                    .syscall(n)
                    .or_else(|| n.parse().ok().and_then(|nr| arch.syscall_by_nr(nr)))
                    .ok_or_else(|| {
                        usage_error(format_args!(
                            "unknown syscall or event {n:?} for {}",
                            arch.name
                        ))
                    })?;
                out.push_str(&format!("{}: {} syscall {}\n", sys.name, arch.name, sys.nr));
                for a in sys.args {
                    out.push_str(&format!("  {}: {}\n", a.name, a.ctype));
                }
            }
        }
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| usage_error(format_args!("stdout: {e}")))
}

fn man(out: Option<&Path>) -> Result<(), Exit> {
    let cmd = Cli::command();
    let render = |c: clap::Command| {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .map(|()| buf)
            .map_err(|e| usage_error(format_args!("man: {e}")))
    };
    let Some(dir) = out else {
        let page = render(cmd)?;
        return std::io::stdout()
            .write_all(&page)
            .map_err(|e| usage_error(format_args!("stdout: {e}")));
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| usage_error(format_args!("{}: {e}", dir.display())))?;
    let write = |name: String, page: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, page).map_err(|e| usage_error(format_args!("{}: {e}", p.display())))
    };
    for sub in cmd.get_subcommands() {
        // A man page per subcommand, named as `man strbox-run` finds it
        // (leaked: clap names are `&'static str`; this runs once).
        let name: &'static str = Box::leak(format!("strbox-{}", sub.get_name()).into_boxed_str());
        let page = render(sub.clone().name(name).version(env!("CARGO_PKG_VERSION")))?;
        write(format!("{name}.1"), page)?;
    }
    write("strbox.1".into(), render(cmd.clone())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn paint_colours_location_message_and_caret() {
        let r = "p.txt:2:8: unknown field\n    write: fdx == 1\n           ^\n";
        assert_eq!(
            paint(r),
            "\x1b[1mp.txt:2:8:\x1b[0m\x1b[1;31m unknown field\x1b[0m\n    write: fdx == 1\n           \x1b[1;32m^\x1b[0m\n"
        );
        assert_eq!(find_location_end("a: b:1:2: x"), Some(9));
        assert_eq!(paint("no location here\n"), "no location here\n");
    }

    #[test]
    fn hatches() {
        let arch = strbox_filter::uapi::tables::NATIVE;
        let warn = |text: &str| {
            let prog = policy::compile_policy(text.as_bytes(), arch).unwrap();
            hatch_warnings(&prog, arch, &policy::canonical(&prog, arch))
        };
        assert!(warn("read: 1\n").is_empty());
        let w = warn("ptrace: 1\nbpf: cmd == 0\nprctl: 1\n");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("warning: the policy allows ptrace: "));
        assert!(w[1].starts_with("warning: the policy allows bpf for some arguments: "));
        assert!(w[2].starts_with("note: the policy allows prctl: "));
        // `default log` lets everything run.
        assert_eq!(warn("default log\nread: 1\n").len(), HATCHES.len() + 1);
        // An event-only layer leaves syscalls alone.
        assert_eq!(warn("file_open: 0\n").len(), HATCHES.len() + 1);
        assert!(warn("default errno EPERM\nptrace: 0\n").is_empty());
        // Deny-lists (ABI 3): `default allow` lets the unlisted ones run.
        let w = warn("default allow\nptrace: 1 => kill\nbpf: cmd == 0 => errno EPERM\n");
        assert_eq!(w.len(), HATCHES.len(), "{w:?}");
        assert!(!w.iter().any(|l| l.contains(" ptrace")), "{w:?}");
        assert!(w[0].starts_with("warning: the policy allows process_vm_writev: "));
        assert!(w
            .iter()
            .any(|l| l.starts_with("warning: the policy allows bpf for some arguments")));
    }
}
