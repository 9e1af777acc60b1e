//! `strbox run` as a user runs it: the real CLI (`/bin/strbox`) sandboxing
//! real programs through the real module.
//!
//! * `cli_run_only_execve` — under `execve: 1`, `exit_group: 1`,
//!   `default kill`, a static program that only calls `exit_group(42)`
//!   exits 42, forked (the default) and with `--exec`: after the install
//!   strbox itself makes no syscall but execve. The program is a minimal
//!   ELF written by the test (no libc: its only syscall is `exit_group`).
//! * `cli_run_kill_reported` — the same policy on a program that makes other
//!   syscalls: exit status 137 and the syscall named on stderr, read from
//!   the module's kill record.
//! * `cli_run_layers` — `-p A -p B` installs two layers, in order.
//! * `cli_learn_then_run` — `strbox learn` records a real program (the
//!   static `strbox` binary itself, listing a syscall) and the policy it
//!   writes, with `default kill`, lets `strbox run` run the same command to
//!   the same output under the real module.
//! * `cli_run_seccomp_backend` — `--backend seccomp` runs the same policies
//!   as seccomp-bpf filters beside the loaded module: only execve after
//!   the install, an argument rule's errno identical to the module's, a
//!   kill as SIGSYS (exit 159); `--backend auto` takes the module.

use std::process::{Command, Output};

use super::{Test, TestResult};
use crate::ensure;

pub static TESTS: &[Test] = &[
    Test {
        name: "cli_run_only_execve",
        run: cli_run_only_execve,
    },
    Test {
        name: "cli_run_kill_reported",
        run: cli_run_kill_reported,
    },
    Test {
        name: "cli_run_layers",
        run: cli_run_layers,
    },
    Test {
        name: "cli_learn_then_run",
        run: cli_learn_then_run,
    },
    Test {
        name: "cli_run_seccomp_backend",
        run: cli_run_seccomp_backend,
    },
];

/// The policy of a program that may do nothing but exist and exit.
const EXEC_EXIT_ONLY: &str = "execve: 1\nexit_group: 1\ndefault kill\n";

/// A minimal static ELF executable for the native arch whose code is
/// `exit_group(42)`: one `PT_LOAD` segment, no sections, no interpreter.
fn exit42_elf() -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    let (machine, code): (u16, &[u8]) = (
        62, // EM_X86_64
        &[
            0xbf, 42, 0, 0, 0, // mov edi, 42
            0xb8, 231, 0, 0, 0, // mov eax, 231 (exit_group)
            0x0f, 0x05, // syscall
        ],
    );
    #[cfg(target_arch = "aarch64")]
    let (machine, code): (u16, &[u8]) = (
        183, // EM_AARCH64
        &[
            0x40, 0x05, 0x80, 0xd2, // mov x0, #42
            0xc8, 0x0b, 0x80, 0xd2, // mov x8, #94 (exit_group)
            0x01, 0x00, 0x00, 0xd4, // svc #0
        ],
    );
    // PF_R | PF_X, just the code in memory
    crate::util::static_elf(machine, code, 5, 0)
}

/// Writes `text` to `path` with `mode`.
pub(crate) fn write(path: &str, text: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| format!("write {path}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {path}: {e}"))
}

/// Runs `/bin/strbox ARGS` and collects its output.
fn strbox(args: &[&str]) -> Result<Output, String> {
    Command::new("/bin/strbox")
        .args(args)
        .output()
        .map_err(|e| format!("/bin/strbox: {e}"))
}

pub(crate) fn describe(o: &Output) -> String {
    format!(
        "{:?}, stdout {:?}, stderr {:?}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn cli_run_only_execve() -> TestResult {
    let prog = "/tmp/strbox-exit42";
    let pol = "/tmp/strbox-exec-exit.policy";
    write(prog, &exit42_elf(), 0o755)?;
    write(pol, EXEC_EXIT_ONLY.as_bytes(), 0o644)?;
    // Unsandboxed first: the program itself is sound.
    let st = Command::new(prog)
        .status()
        .map_err(|e| format!("{prog}: {e}"))?;
    ensure!(st.code() == Some(42), "{prog} alone: {st:?}");
    for mode in [&[][..], &["--exec"][..]] {
        let mut args = vec!["run", "-p", pol];
        args.extend_from_slice(mode);
        args.extend_from_slice(&["--", prog]);
        let out = strbox(&args)?;
        ensure!(
            out.status.code() == Some(42),
            "strbox {}: {} (strbox made a syscall other than execve after the install?)",
            args.join(" "),
            describe(&out)
        );
    }
    Ok(())
}

fn cli_run_kill_reported() -> TestResult {
    let pol = "/tmp/strbox-exec-exit.policy";
    write(pol, EXEC_EXIT_ONLY.as_bytes(), 0o644)?;
    // strbox itself (a static Rust program) makes startup syscalls.
    let out = strbox(&["run", "-p", pol, "--", "/bin/strbox", "show"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(137) && err.contains("killed by policy: syscall "),
        "strbox run under {EXEC_EXIT_ONLY:?}: {}",
        describe(&out)
    );
    // The syscall it names is the program's, not execve or exit_group.
    let named = err
        .split("killed by policy: syscall ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    ensure!(
        !named.is_empty() && !named.starts_with("execve") && !named.starts_with("exit_group"),
        "the report names {named:?}: {}",
        describe(&out)
    );
    Ok(())
}

fn cli_run_layers() -> TestResult {
    let a = "/tmp/strbox-layer-a.policy";
    let b = "/tmp/strbox-layer-b.policy";
    write(a, b"default allow\nptrace: 1 => errno EPERM\n", 0o644)?;
    write(b, b"default allow\nkexec_load: 1 => kill\n", 0o644)?;
    let out = strbox(&["run", "-p", a, "-p", b, "--", "/bin/strbox", "show"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "strbox run -p A -p B: {}",
        describe(&out)
    );
    let first = text.find("# strbox layer 1/2");
    let second = text.find("# strbox layer 2/2");
    let (Some(first), Some(second)) = (first, second) else {
        return Err(format!("two layers expected: {text:?}"));
    };
    let (one, two) = (&text[first..second], &text[second..]);
    ensure!(
        one.contains("ptrace: 1 => errno") && two.contains("kexec_load: 1 => kill"),
        "layers out of order or missing: {text:?}"
    );
    Ok(())
}

fn cli_learn_then_run() -> TestResult {
    let pol = "/tmp/strbox-learned.policy";
    let cmd = ["/bin/strbox", "syscalls", "openat"];
    let mut args = vec!["learn", "--default", "kill", "-o", pol, "--"];
    args.extend_from_slice(&cmd);
    let learned = strbox(&args)?;
    ensure!(
        learned.status.success(),
        "strbox {}: {}",
        args.join(" "),
        describe(&learned)
    );
    let text = std::fs::read_to_string(pol).map_err(|e| format!("{pol}: {e}"))?;
    ensure!(
        text.contains("default kill")
            && text.lines().any(|l| {
                l.starts_with("execve:")
                    && l.split('#').next().unwrap_or("").trim_end().ends_with(" 1")
            }),
        "learned policy: {text:?}"
    );
    let mut args = vec!["run", "-p", pol, "--"];
    args.extend_from_slice(&cmd);
    let ran = strbox(&args)?;
    ensure!(
        ran.status.success() && ran.stdout == learned.stdout && !ran.stdout.is_empty(),
        "strbox run under the learned policy: {} (learn printed {:?}); policy {text:?}",
        describe(&ran),
        String::from_utf8_lossy(&learned.stdout)
    );
    Ok(())
}

fn cli_run_seccomp_backend() -> TestResult {
    let prog = "/tmp/strbox-exit42-bpf";
    let exit_only = "/tmp/strbox-exec-exit-bpf.policy";
    write(prog, &exit42_elf(), 0o755)?;
    write(exit_only, EXEC_EXIT_ONLY.as_bytes(), 0o644)?;
    // Only execve after the filter is installed, forked and with --exec.
    for mode in [&[][..], &["--exec"][..]] {
        let mut args = vec!["run", "--backend", "seccomp", "-p", exit_only];
        args.extend_from_slice(mode);
        args.extend_from_slice(&["--", prog]);
        let out = strbox(&args)?;
        ensure!(
            out.status.code() == Some(42),
            "strbox {}: {}",
            args.join(" "),
            describe(&out)
        );
    }
    // A kill verdict: SIGSYS, reported.
    let out = strbox(&[
        "run",
        "--backend",
        "seccomp",
        "-p",
        exit_only,
        "--",
        "/bin/strbox",
        "syscalls",
        "read",
    ])?;
    ensure!(
        out.status.code() == Some(128 + libc::SIGSYS)
            && String::from_utf8_lossy(&out.stderr).contains("killed by SIGSYS"),
        "seccomp kill: {}",
        describe(&out)
    );
    // An argument rule on a deny-list: the same errno from both backends
    // (`strbox show` reads the layers with prctl(PR_SECCOMP_GET)).
    let deny = "/tmp/strbox-deny-get.policy";
    let text = format!(
        "default allow\nprctl: option == {:#x} => errno EROFS\n",
        strbox_uapi::abi::PR_SECCOMP_GET
    );
    write(deny, text.as_bytes(), 0o644)?;
    for backend in ["seccomp", "strbox"] {
        let out = strbox(&[
            "run",
            "--backend",
            backend,
            "-p",
            deny,
            "--",
            "/bin/strbox",
            "show",
        ])?;
        ensure!(
            out.status.code() == Some(2)
                && String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
            "{backend}: {}",
            describe(&out)
        );
    }
    // Stacked: a seccomp filter does not hide the module's layers, and auto
    // takes the module when it is loaded.
    let allow = "/tmp/strbox-allow-all.policy";
    write(allow, b"default allow\n", 0o644)?;
    let out = strbox(&[
        "run",
        "--backend",
        "auto",
        "-p",
        allow,
        "--",
        "/bin/strbox",
        "run",
        "--backend",
        "seccomp",
        "-p",
        allow,
        "--",
        "/bin/strbox",
        "show",
    ])?;
    let shown = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && shown.matches("# strbox layer").count() == 1,
        "auto then seccomp: one strbox layer expected: {}",
        describe(&out)
    );
    Ok(())
}
