//! `strbox`: the host CLI.
//!
//! * `strbox check [--arch A] FILE`: print the canonical policy (exit 0) or
//!   the error with its line and a caret (exit 1).
//! * `strbox eval [--arch A] FILE SYSCALL [ARG0 ... ARG5]`: print the
//!   verdict for one syscall (`allow`, `log`, `errno NAME`, `kill`).
//! * `strbox eval [--arch A] FILE EVENT [FIELD=VALUE ...]`: the same for an
//!   LSM-hook event (`file_open`, `exec`, `socket_connect`, `socket_bind`),
//!   e.g. `strbox eval p.txt file_open path=/etc/passwd flags=O_RDONLY`.
//!
//! * `strbox run [--tsync] [--no-nnp] FILE -- CMD [ARGS...]`: install the
//!   policy as a new layer (setting no_new_privs first) and execve CMD.
//! * `strbox show`: print the calling process's layers (`PR_SECCOMP_GET`).
//!
//! Exit codes: 0 valid policy, 1 invalid policy, 2 usage or I/O error
//! (`run`: 1 also when the kernel refuses the layer, 127 when CMD cannot be
//! executed).
//! `FILE` may be `-` for standard input.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strbox::policy;
use strbox_filter::uapi::tables::Arch;
use strbox_filter::{Event, Program};

#[derive(Parser)]
#[command(name = "strbox", version, about = "strbox: per-syscall string filters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a policy: print its canonical form, or the error.
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
    /// Install a policy as a new layer of this process, then execute CMD.
    Run {
        /// Apply the layer to every thread (STRBOX_SET_TSYNC).
        #[arg(long)]
        tsync: bool,
        /// Do not set no_new_privs (needs CAP_SYS_ADMIN).
        #[arg(long)]
        no_nnp: bool,
        /// Policy file (`-` for standard input).
        file: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Print this process's installed layers, oldest first.
    Show,
}

/// A failure with its exit code (the message is already printed).
struct Exit(u8);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { arch, file } => check(arch.as_deref(), &file),
        Command::Eval {
            arch,
            file,
            syscall,
            args,
        } => eval(arch.as_deref(), &file, &syscall, &args),
        Command::Run {
            tsync,
            no_nnp,
            file,
            cmd,
        } => run(tsync, !no_nnp, &file, &cmd),
        Command::Show => show(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit(code)) => ExitCode::from(code),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> Exit {
    eprintln!("strbox: {msg}");
    Exit(2)
}

fn read_file(file: &str) -> Result<Vec<u8>, Exit> {
    let mut buf = Vec::new();
    let r = if file == "-" {
        std::io::stdin().read_to_end(&mut buf).map(|_| ())
    } else {
        std::fs::read(file).map(|b| buf = b)
    };
    r.map_err(|e| usage_error(format_args!("{file}: {e}")))?;
    Ok(buf)
}

/// Reads and compiles `file`; on a policy error prints it with a caret.
fn load(arch: Option<&str>, file: &str) -> Result<(&'static Arch, Box<Program>), Exit> {
    let arch = policy::arch(arch).map_err(usage_error)?;
    let src = read_file(file)?;
    match policy::compile_policy(&src, arch) {
        Ok(prog) => Ok((arch, prog)),
        Err(e) => {
            let name = if file == "-" { "<stdin>" } else { file };
            eprint!("{}", policy::render_error(name, &src, &e));
            Err(Exit(1))
        }
    }
}

fn check(arch: Option<&str>, file: &str) -> Result<(), Exit> {
    let (arch, prog) = load(arch, file)?;
    let text = policy::canonical(&prog, arch);
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| usage_error(format_args!("stdout: {e}")))
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

fn run(tsync: bool, nnp: bool, file: &str, cmd: &[String]) -> Result<(), Exit> {
    use std::os::unix::process::CommandExt;
    let src = read_file(file)?;
    let name = if file == "-" { "<stdin>" } else { file };
    if let Err(e) = strbox::Sandbox::new(&src)
        .tsync(tsync)
        .no_new_privs(nnp)
        .install()
    {
        eprint!("{}", e.render(name, &src));
        return Err(Exit(1));
    }
    let Some((prog, args)) = cmd.split_first() else {
        return Err(usage_error("no command"));
    };
    let err = std::process::Command::new(prog).args(args).exec();
    eprintln!("strbox: {prog}: {err}");
    Err(Exit(127))
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
