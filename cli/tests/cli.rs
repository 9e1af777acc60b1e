//! Integration tests of the `strbox` binary: `check`, `eval`, `run` (what
//! can be tested without the module), `syscalls`, `man`, `completions`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn strbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strbox"))
        .args(args)
        .output()
        .expect("run strbox")
}

fn strbox_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strbox"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strbox");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Writes a policy to a temporary file.
fn policy(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strbox-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const INGO: &str = "read: fd == 0\nwrite: fd == 1\nrt_sigreturn: 1\ngettimeofday: tz == NULL\n";

#[test]
fn check_prints_canonical_policy() {
    let p = policy("ingo.policy", "# Ingo's rules\nsys_read: fd==0\nwrite : fd == 1\nrt_sigreturn: 1\ngettimeofday: tz == 0\n");
    let o = strbox(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), format!("default kill\n{INGO}"));
    // the canonical text checks to itself
    let again = policy("ingo2.policy", &out(&o));
    let o2 = strbox(&["check", again.to_str().unwrap()]);
    assert_eq!(out(&o2), out(&o));
}

#[test]
fn check_both_arches() {
    let p = policy(
        "arches.policy",
        "default errno EPERM\nopenat: dfd == AT_FDCWD && flags in O_RDONLY|O_CLOEXEC\n",
    );
    for arch in ["x86_64", "aarch64", "amd64", "arm64"] {
        let o = strbox(&["check", "--arch", arch, p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{arch}: {}", err(&o));
        assert_eq!(
            out(&o),
            "default errno EPERM\nopenat: dfd == -100 && flags in 0x80000\n"
        );
    }
    let o = strbox(&["check", "--arch", "sparc", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("unknown architecture"));
}

#[test]
fn check_reports_errors_with_a_caret() {
    let p = policy("bad.policy", "read: fd == 0\nwrite: fdx == 1\n");
    let path = p.to_str().unwrap();
    let o = strbox(&["check", path]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o), "");
    assert_eq!(
        err(&o),
        format!("{path}:2:8: unknown field\n    write: fdx == 1\n           ^\n")
    );

    let p = policy("unbalanced.policy", "# x\nread: (fd == 0 || fd == 1\n");
    let path = p.to_str().unwrap();
    let o = strbox(&["check", path]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err(&o),
        format!("{path}:2:7: unbalanced '('\n    read: (fd == 0 || fd == 1\n          ^\n")
    );

    let p = policy("end.policy", "read: fd == 0 &&");
    let path = p.to_str().unwrap();
    let o = strbox(&["check", path]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with(&format!("{path}:1:17: expected a comparison")),
        "{}",
        err(&o)
    );
}

#[test]
fn check_from_stdin() {
    let o = strbox_stdin(&["check", "-"], "write: fd == 2\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(out(&o), "default kill\nwrite: fd == 2\n");
    let o = strbox_stdin(&["check", "-"], "nosuch: 1\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).starts_with("<stdin>:1:1: unknown syscall\n"));
}

#[test]
fn check_missing_file() {
    let o = strbox(&["check", "/nonexistent/strbox.policy"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn eval_verdicts() {
    let p = policy("eval.policy", INGO);
    let f = p.to_str().unwrap();
    for (args, want) in [
        (vec!["read", "0"], "allow"),
        (vec!["read"], "allow"), // missing args are 0
        (vec!["read", "3"], "kill"),
        (vec!["sys_write", "1", "0x1000", "12"], "allow"),
        (vec!["write", "0x1"], "allow"),
        (vec!["write", "2"], "kill"),
        (vec!["read", "0xffffffff00000000"], "allow"), // unsigned int fd: upper half ignored
        (vec!["rt_sigreturn"], "allow"),
        (vec!["gettimeofday", "0x7ffd0000", "0"], "allow"),
        (vec!["gettimeofday", "0x7ffd0000", "0x7ffd1000"], "kill"),
        (vec!["getpid"], "kill"),
    ] {
        let mut a = vec!["eval", "--arch", "x86_64", f];
        a.extend(args.iter());
        let o = strbox(&a);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", err(&o));
        assert_eq!(out(&o), format!("{want}\n"), "{args:?}");
    }
}

#[test]
fn eval_default_actions_and_signed_args() {
    let p = policy("errno.policy", "default errno EACCES\nopenat: dfd == -1\n");
    let f = p.to_str().unwrap();
    let o = strbox(&["eval", f, "openat", "-1"]);
    assert_eq!(out(&o), "allow\n");
    let o = strbox(&["eval", f, "openat", "0xffffffff"]);
    assert_eq!(out(&o), "allow\n");
    let o = strbox(&["eval", f, "openat", "0x1ffffffff"]);
    assert_eq!(out(&o), "allow\n", "int dfd: only the low 32 bits count");
    let o = strbox(&["eval", f, "openat", "5"]);
    assert_eq!(
        (o.status.code(), out(&o)),
        (Some(0), "errno EACCES\n".to_string())
    );
    let p = policy("log.policy", "default log\n");
    let o = strbox(&["eval", p.to_str().unwrap(), "read"]);
    assert_eq!(out(&o), "log\n");
    let p = policy("errnum.policy", "default errno 1000\n");
    let o = strbox(&["eval", p.to_str().unwrap(), "read"]);
    assert_eq!(out(&o), "errno 1000\n");
}

#[test]
fn eval_on_aarch64_uses_its_numbers() {
    let p = policy("arm.policy", "default errno EPERM\nread: fd == 0\n");
    let f = p.to_str().unwrap();
    let o = strbox(&["eval", "--arch", "aarch64", f, "read", "0"]);
    assert_eq!(out(&o), "allow\n");
    let o = strbox(&["eval", "--arch", "aarch64", f, "63", "0"]);
    assert_eq!(out(&o), "allow\n", "syscall by number");
    let o = strbox(&["eval", "--arch", "aarch64", f, "0", "0"]);
    assert_eq!(out(&o), "errno EPERM\n", "0 is io_setup on arm64");
}

#[test]
fn eval_invalid_policy_and_bad_input() {
    let p = policy("evalbad.policy", "read: fd === 0\n");
    let f = p.to_str().unwrap();
    let o = strbox(&["eval", f, "read", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o), "");
    assert!(
        err(&o).starts_with(&format!("{f}:1:12: invalid operator\n")),
        "{}",
        err(&o)
    );
    let p = policy("evalok.policy", INGO);
    let f = p.to_str().unwrap();
    let o = strbox(&["eval", f, "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    let o = strbox(&["eval", f, "read", "zzz"]);
    assert_eq!(o.status.code(), Some(2));
    let o = strbox(&["eval", f, "read", "1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(o.status.code(), Some(2), "at most 6 arguments");
}

const EVENTS: &str = r#"default errno EACCES
file_open:      path == "/etc/hostname" || path ~ "/usr/lib/*"
file_open:      path ~ "/tmp/*" && flags in O_RDONLY|O_CLOEXEC
exec:           path == "/usr/bin/python3"
socket_connect: family == AF_INET && addr == 127.0.0.1 && port == 8080
socket_connect: family == AF_UNIX && path == "\x00app"
socket_bind:    family == AF_INET6 && port >= 1024
socket_connect: addr in 10.0.0.0/8 || addr in fe80::/10
"#;

#[test]
fn check_prints_event_rules_canonically() {
    let p = policy("events.policy", EVENTS);
    let o = strbox(&["check", "--arch", "x86_64", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        r#"default errno EACCES
file_open: path == "/etc/hostname" || path ~ "/usr/lib/*"
file_open: path ~ "/tmp/*" && flags in 0x80000
exec: path == "/usr/bin/python3"
socket_connect: family == 2 && addr == 127.0.0.1 && port == 8080
socket_connect: family == 1 && path == "\x00app"
socket_connect: addr in 10.0.0.0/8 || addr in fe80::/10
socket_bind: family == 10 && port >= 1024
"#
    );
    let again = policy("events2.policy", &out(&o));
    let o2 = strbox(&["check", "--arch", "x86_64", again.to_str().unwrap()]);
    assert_eq!(out(&o2), out(&o));
}

#[test]
fn eval_events() {
    let p = policy("events-eval.policy", EVENTS);
    let f = p.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["file_open", "path=/etc/hostname"], "allow"),
        (
            &["file_open", "path=/etc/passwd", "flags=O_RDONLY"],
            "errno EACCES",
        ),
        (
            &["file_open", "path=/tmp/x", "flags=O_RDONLY|O_CLOEXEC"],
            "allow",
        ),
        (
            &["file_open", "path=/tmp/x", "flags=O_RDWR"],
            "errno EACCES",
        ),
        // no path: unavailable, the default
        (&["file_open"], "errno EACCES"),
        (&["exec", "path=/usr/bin/python3"], "allow"),
        (
            &[
                "socket_connect",
                "family=AF_INET",
                "addr=127.0.0.1",
                "port=8080",
            ],
            "allow",
        ),
        (
            &[
                "socket_connect",
                "family=AF_INET",
                "addr=127.0.0.1",
                "port=8081",
            ],
            "errno EACCES",
        ),
        (
            &["socket_connect", "family=AF_INET6", "addr=::ffff:10.9.8.7"],
            "allow",
        ),
        (
            &["socket_connect", "family=AF_INET6", "addr=fe80::1"],
            "allow",
        ),
        (
            &["socket_connect", "family=AF_UNIX", "path=\\x00app"],
            "allow",
        ),
        (
            &["socket_connect", "family=AF_UNIX", "path=app"],
            "errno EACCES",
        ),
        (&["socket_bind", "family=AF_INET6", "port=1024"], "allow"),
        (
            &["socket_bind", "family=AF_INET6", "port=80"],
            "errno EACCES",
        ),
    ];
    for (args, want) in cases {
        let mut a = vec!["eval", "--arch", "x86_64", f];
        a.extend_from_slice(args);
        let o = strbox(&a);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", err(&o));
        assert_eq!(out(&o), format!("{want}\n"), "{args:?}");
    }
    // An event-only policy leaves syscalls alone; no rule for exec: allow.
    let p = policy("events-only.policy", "default kill\nfile_open: 0\n");
    let f = p.to_str().unwrap();
    assert_eq!(out(&strbox(&["eval", f, "read", "0"])), "allow\n");
    assert_eq!(
        out(&strbox(&["eval", f, "exec", "path=/bin/sh"])),
        "allow\n"
    );
    assert_eq!(out(&strbox(&["eval", f, "file_open", "path=/x"])), "kill\n");
    // Bad fields and values are usage errors.
    for bad in [
        &["exec", "flags=1"][..],
        &["exec", "path"],
        &["socket_bind", "addr=1.2.3"],
        &["file_open", "path=\\q"],
        &["socket_bind", "port=nope"],
    ] {
        let mut a = vec!["eval", f];
        a.extend_from_slice(bad);
        let o = strbox(&a);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(err(&o).starts_with("strbox: "), "{bad:?}: {}", err(&o));
    }
}

#[test]
fn check_reports_event_errors_with_a_caret() {
    let p = policy(
        "events-bad.policy",
        "exec: 1\nsocket_bind: addr in 10.0.0.1/8\n",
    );
    let o = strbox(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let name = p.to_str().unwrap();
    assert_eq!(
        err(&o),
        format!(
            "{name}:2:22: address has bits set beyond the prefix\n    socket_bind: addr in 10.0.0.1/8\n                         ^\n"
        )
    );
}

// ------------------------------------------------------------------ @include

#[test]
fn check_expands_includes_and_locates_errors() {
    let dir = std::env::temp_dir().join(format!("strbox-cli-inc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/io.p"), "read: fd == 0\nwrite: fd == 1\n").unwrap();
    std::fs::write(dir.join("top.p"), "@include \"lib/io.p\"\nexit_group: 1\n").unwrap();
    let top = dir.join("top.p");
    let o = strbox(&["check", top.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "default kill\nread: fd == 0\nwrite: fd == 1\nexit_group: 1\n"
    );
    // An error in the included file names that file, line and column.
    std::fs::write(dir.join("lib/io.p"), "read: fd == 0\nwrite: fdx == 1\n").unwrap();
    let o = strbox(&["check", top.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let inc = dir.join("lib/io.p");
    assert_eq!(
        err(&o),
        format!(
            "{}:2:8: unknown field\n    write: fdx == 1\n           ^\n",
            inc.display()
        )
    );
    // A missing include names the including file and line.
    std::fs::write(dir.join("top.p"), "exit_group: 1\n@include \"nope.p\"\n").unwrap();
    let o = strbox(&["check", top.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with(&format!("{}:2:10: cannot include ", top.display())),
        "{}",
        err(&o)
    );
    // From standard input, includes are relative to the current directory.
    let o = Command::new(env!("CARGO_BIN_EXE_strbox"))
        .args(["check", "-"])
        .current_dir(&dir)
        .stdin(std::fs::File::open(dir.join("top.p")).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("<stdin>:2:10: cannot include nope.p: "),
        "{}",
        err(&o)
    );
}

// ------------------------------------------------------------- check warnings

#[test]
fn check_warns_about_escape_hatches() {
    let p = policy(
        "hatch.policy",
        "default errno EPERM\nread: 1\nptrace: 1\nprocess_vm_writev: pid == 1\nio_uring_setup: 1\nprctl: 1\nbpf: 0\n",
    );
    let o = strbox(&["check", "--arch", "x86_64", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "warnings do not fail the check");
    assert!(out(&o).starts_with("default errno EPERM\nread: 1\n"));
    let e = err(&o);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert!(lines[0].starts_with("warning: the policy allows ptrace: "));
    assert!(
        lines[1].starts_with("warning: the policy allows process_vm_writev for some arguments: ")
    );
    assert!(lines[2].starts_with("warning: the policy allows io_uring_setup: "));
    assert!(
        lines[2].contains("file_open"),
        "io_uring opens are judged by events"
    );
    assert!(lines[3].starts_with("note: the policy allows prctl: "));
    assert!(lines[3].contains("only restrict"));
    // A tight policy gets no warning.
    let p = policy("tight.policy", INGO);
    assert_eq!(err(&strbox(&["check", p.to_str().unwrap()])), "");
    // `default log` lets every hatch run.
    let p = policy("logall.policy", "default log\nread: 1\n");
    let o = strbox(&["check", "--arch", "aarch64", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    for name in [
        "ptrace",
        "process_vm_readv",
        "bpf",
        "userfaultfd",
        "perf_event_open",
        "kexec_load",
        "init_module",
        "finit_module",
    ] {
        assert!(
            err(&o).contains(&format!("warning: the policy allows {name}: ")),
            "{name}: {}",
            err(&o)
        );
    }
}

// ------------------------------------------------------------------ syscalls

#[test]
fn syscalls_lists_table_and_events() {
    let o = strbox(&["syscalls", "--arch", "x86_64"]);
    assert_eq!(o.status.code(), Some(0));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# x86_64 syscalls: NR NAME(ARGUMENTS)");
    assert_eq!(
        lines[1],
        "  0 read(unsigned int fd, char __user *buf, size_t count)"
    );
    assert!(lines.contains(&" 60 exit(int error_code)"), "{text}");
    assert!(lines.contains(&"# LSM-hook events: NAME(FIELDS)"));
    assert!(lines.contains(&"file_open(path, flags)"));
    assert!(lines.contains(&"socket_connect(family, port, addr, path)"));
    let o = strbox(&["syscalls", "--arch", "aarch64"]);
    assert!(out(&o).contains("\n 63 read(unsigned int fd, char __user *buf, size_t count)\n"));

    let o = strbox(&["syscalls", "--arch", "x86_64", "sys_openat"]);
    assert_eq!(
        out(&o),
        "openat: x86_64 syscall 257\n  dfd: int\n  filename: const char __user *\n  flags: int\n  mode: umode_t\n"
    );
    let o = strbox(&["syscalls", "--arch", "aarch64", "63"]);
    assert!(out(&o).starts_with("read: aarch64 syscall 63\n"));
    let o = strbox(&["syscalls", "exec"]);
    assert_eq!(out(&o), "exec: event\n  path\n");
    let o = strbox(&["syscalls", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("unknown syscall or event"));
}

// ------------------------------------------------------- man and completions

#[test]
fn man_pages() {
    let o = strbox(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).contains(".TH strbox 1"), "{}", out(&o));
    assert!(out(&o).contains("completions"));
    let dir = std::env::temp_dir().join(format!("strbox-cli-man-{}", std::process::id()));
    let o = strbox(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    for page in [
        "strbox.1",
        "strbox-run.1",
        "strbox-check.1",
        "strbox-syscalls.1",
        "strbox-completions.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}");
    }
    let run = std::fs::read_to_string(dir.join("strbox-run.1")).unwrap();
    assert!(run.contains("best\\-effort"), "{run}");
}

#[test]
fn completions() {
    for (shell, marker) in [
        ("bash", "_strbox()"),
        ("zsh", "#compdef strbox"),
        ("fish", "complete -c strbox"),
    ] {
        let o = strbox(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        assert!(out(&o).contains(marker), "{shell}");
        assert!(out(&o).contains("syscalls"), "{shell}");
    }
    assert_eq!(strbox(&["completions", "cmd.exe"]).status.code(), Some(2));
}

// ------------------------------------------------------------------ colour

#[test]
fn carets_in_colour_only_on_a_terminal() {
    let p = policy("colour.policy", "read: fd == 0\nwrite: fdx == 1\n");
    // Piped (as everywhere above): no escape codes.
    let o = strbox(&["check", p.to_str().unwrap()]);
    assert!(!err(&o).contains('\x1b'));
    // Under a pseudo-terminal (util-linux `script`), if available.
    let script = |no_color: bool| {
        let mut c = Command::new("script");
        c.args(["-qec"])
            .arg(format!(
                "{} check {}",
                env!("CARGO_BIN_EXE_strbox"),
                p.display()
            ))
            .arg("/dev/null")
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        c.output().ok()
    };
    let Some(o) = script(false) else {
        eprintln!("no `script`: terminal colour not tested");
        return;
    };
    let tty = out(&o);
    assert!(tty.contains("\x1b[1;32m^\x1b[0m"), "{tty:?}");
    assert!(tty.contains("unknown field"));
    let o = script(true).unwrap();
    assert!(!out(&o).contains('\x1b'), "NO_COLOR");
}

// ---------------------------------------------------------------------- run

/// Whether the strbox module answers here (it does not on a build host).
fn module_loaded() -> bool {
    strbox::abi_version().is_some()
}

#[test]
fn run_checks_the_program_before_installing() {
    let p = policy("run.policy", "exit_group: 1\n");
    let f = p.to_str().unwrap();
    // Missing: 127 (and nothing about the module: it was not asked).
    let o = strbox(&["run", f, "--", "/nonexistent/prog"]);
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
    assert!(
        err(&o).starts_with("strbox: /nonexistent/prog: "),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("module"));
    let o = Command::new(env!("CARGO_BIN_EXE_strbox"))
        .args(["run", "-p", f, "--", "strbox-no-such-command"])
        .env("PATH", "/nonexistent:/also-not")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        err(&o),
        "strbox: strbox-no-such-command: command not found\n"
    );
    // Not executable, a directory: 126.
    let o = strbox(&["run", f, "--", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(126), "{}", err(&o));
    let o = strbox(&["run", f, "--", "/"]);
    assert_eq!(o.status.code(), Some(126));
    assert!(err(&o).contains("Is a directory"));
    // A bad policy is reported first (exit 1), whatever the program.
    let bad = policy("run-bad.policy", "read: fd == 0\nwrite: fd = 1\n");
    let o = strbox(&["run", bad.to_str().unwrap(), "--", "/nonexistent/prog"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).starts_with(&format!("{}:2:11: invalid operator\n", bad.display())));
    let o = strbox(&["run", "-p", f, "-p", bad.to_str().unwrap(), "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    // Usage errors.
    assert_eq!(
        strbox(&["run", "--", "true"]).status.code(),
        Some(2),
        "no policy"
    );
    assert_eq!(strbox(&["run", f]).status.code(), Some(2), "no command");
    assert_eq!(
        strbox_stdin(
            &["run", "-p", "-", "-p", "-", "--", "true"],
            "exit_group: 1\n"
        )
        .status
        .code(),
        Some(2),
        "stdin twice"
    );
    assert_eq!(
        strbox(&["run", "/nonexistent/policy", "--", "true"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn run_refuses_without_the_module() {
    if module_loaded() {
        eprintln!("the strbox module is loaded: the guest tests cover run");
        return;
    }
    let dir = std::env::temp_dir().join(format!("strbox-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("ran");
    let _ = std::fs::remove_file(&marker);
    let p = policy("nomod.policy", "exit_group: 1\n");
    let touch = format!("touch {}", marker.display());
    let o = strbox(&["run", p.to_str().unwrap(), "--", "sh", "-c", &touch]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("module is not loaded"), "{}", err(&o));
    assert!(err(&o).contains("refusing to run sh"), "{}", err(&o));
    assert!(!marker.exists(), "the program must not run unsandboxed");
    // The same with --exec.
    let o = strbox(&[
        "run",
        "--exec",
        p.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &touch,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!marker.exists());
}

#[test]
fn run_best_effort_without_the_module() {
    if module_loaded() {
        return;
    }
    let p = policy("best.policy", "exit_group: 1\nfile_open: 0\n");
    let q = policy("best2.policy", "read: 1\n");
    let (f, g) = (p.to_str().unwrap(), q.to_str().unwrap());
    // Runs, with warnings naming every layer that is not enforced; the
    // program's status comes back.
    let o = strbox(&[
        "run",
        "--best-effort",
        f,
        "-p",
        g,
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert_eq!(out(&o), "out\n");
    let e = err(&o);
    assert!(
        e.contains(&format!(
            "strbox: warning: layer 1 ({f}) not installed: the strbox kernel module is not loaded"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!("strbox: warning: layer 2 ({g}) not installed")),
        "{e}"
    );
    assert!(
        e.contains("strbox: warning: running sh WITHOUT a sandbox"),
        "{e}"
    );
    assert!(
        e.ends_with("err\n"),
        "the warnings come before the program runs: {e}"
    );
    // A signal: 128 + N, as shells report it.
    let o = strbox(&["run", "--best-effort", f, "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15));
    // SIGKILL is looked up in the kernel log (no strbox record here).
    let o = strbox(&["run", "--best-effort", f, "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(o.status.code(), Some(128 + 9));
    assert!(
        err(&o).contains("strbox: sh killed by SIGKILL ("),
        "{}",
        err(&o)
    );
    // --exec: strbox is replaced; the status is the program's own.
    let o = strbox(&[
        "run",
        "--exec",
        "--best-effort",
        "-p",
        f,
        "--",
        "sh",
        "-c",
        "exit 5",
    ]);
    assert_eq!(o.status.code(), Some(5));
    // PATH lookup, argv[0] as typed, the environment passed on.
    let o = Command::new(env!("CARGO_BIN_EXE_strbox"))
        .args([
            "run",
            "--best-effort",
            f,
            "--",
            "sh",
            "-c",
            "echo \"$0 $STRBOX_T\"",
        ])
        .env("STRBOX_T", "kept")
        .output()
        .unwrap();
    assert_eq!(out(&o), "sh kept\n");
    // SIGPIPE is at its default in the program (Rust ignores it in strbox).
    let o = strbox(&[
        "run",
        "--best-effort",
        f,
        "--",
        "sh",
        "-c",
        "exec grep SigIgn /proc/self/status",
    ]);
    let ign = out(&o);
    let mask = u64::from_str_radix(ign.trim().rsplit(['\t', ' ']).next().unwrap(), 16).unwrap();
    assert_eq!(
        mask & (1 << (13 - 1)),
        0,
        "SIGPIPE ignored in the program: {ign}"
    );
}

#[test]
fn example_policies_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    for (file, arch) in [
        ("stdio.policy", "aarch64"),
        ("static-tool.policy", "x86_64"),
    ] {
        let p = dir.join(file);
        let o = strbox(&["check", "--arch", arch, p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", err(&o));
        assert_eq!(err(&o), "", "{file}: no escape hatch");
    }
}

#[test]
fn compile_bpf_writes_the_filter_or_a_listing() {
    let p = policy(
        "deny-uname.policy",
        "default allow\nuname: 1 => errno EPERM\n",
    );
    let file = p.with_extension("bpf");
    let o = strbox(&[
        "compile",
        "--bpf",
        "-o",
        file.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains("instructions ("), "{}", err(&o));
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    let filter = strbox::bpf::from_bytes(&bytes).unwrap();
    strbox::bpf::validate(&filter).unwrap();
    // The bytes are the filter the library generates for this policy.
    let arch = strbox::policy::arch(None).unwrap();
    let prog =
        strbox::policy::compile_policy(b"default allow\nuname: 1 => errno EPERM\n", arch).unwrap();
    let want = strbox::bpf::generate(&prog, arch, strbox::bpf::Layout::Tree).unwrap();
    assert_eq!(bytes, strbox::bpf::to_bytes(&want));
    // A listing, for both arches and layouts.
    for a in ["x86_64", "aarch64"] {
        for layout in ["tree", "linear"] {
            let o = strbox(&[
                "compile",
                "--bpf",
                "--listing",
                "--arch",
                a,
                "--layout",
                layout,
                p.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(0), "{}", err(&o));
            let l = out(&o);
            assert!(l.starts_with("   0: ld  [arch]\n"), "{l}");
            assert!(
                l.contains("ret ERRNO(1)") && l.contains("ret ERRNO(38)"),
                "{l}"
            );
        }
    }
    // `--bpf` is required; an event rule is refused with exit 1.
    assert_eq!(
        strbox(&["compile", p.to_str().unwrap()]).status.code(),
        Some(2)
    );
    let ev = policy("ev.policy", "read: 1\nfile_open: path ~ \"/etc/*\"\n");
    let o = strbox(&["compile", "--bpf", "--listing", ev.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("rules for file_open"), "{}", err(&o));
    assert!(out(&o).is_empty());
    // A policy error keeps its caret.
    let bad = policy("bad.policy", "read: fdd == 0\n");
    let o = strbox(&["compile", "--bpf", "--listing", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("1:7:"), "{}", err(&o));
}

/// `strbox run --backend seccomp -p P... -- CMD...`.
fn run_seccomp(policies: &[&PathBuf], cmd: &[&str]) -> Output {
    let mut args = vec!["run", "--backend", "seccomp"];
    for p in policies {
        args.extend(["-p", p.to_str().unwrap()]);
    }
    args.push("--");
    args.extend_from_slice(cmd);
    strbox(&args)
}

/// The seccomp backend is enforced by this host's own kernel (no module
/// needed): a deny-list rule fails the program's syscall with its errno,
/// a kill verdict kills with SIGSYS (exit 159), and an event rule is
/// refused unless --best-effort.
#[test]
fn run_with_the_seccomp_backend() {
    let deny = policy(
        "deny-uname-run.policy",
        "default allow\nuname: 1 => errno EACCES\n",
    );
    let o = run_seccomp(&[&deny], &["uname"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("Permission denied"), "{}", err(&o));
    let o = run_seccomp(&[&deny], &["sh", "-c", "echo ok"]);
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), "ok\n"),
        "{}",
        err(&o)
    );
    // Two layers: the second forbids what the first allowed; when both
    // give an errno, the newest layer's wins (as strbox's chain).
    let allow_all = policy("allow-all.policy", "default allow\n");
    let eperm = policy(
        "eperm-uname.policy",
        "default allow\nuname: 1 => errno EPERM\n",
    );
    let o = run_seccomp(&[&allow_all, &deny], &["uname"]);
    assert!(err(&o).contains("Permission denied"), "{}", err(&o));
    let o = run_seccomp(&[&eperm, &deny], &["uname"]);
    assert!(err(&o).contains("Permission denied"), "{}", err(&o));
    let o = run_seccomp(&[&deny, &eperm], &["uname"]);
    assert!(err(&o).contains("Operation not permitted"), "{}", err(&o));
    let kill = policy("kill-uname.policy", "default allow\nuname: 1 => kill\n");
    let o = run_seccomp(&[&kill], &["uname"]);
    assert_eq!(o.status.code(), Some(159), "{}", err(&o));
    assert!(err(&o).contains("killed by SIGSYS"), "{}", err(&o));
    let ev = policy(
        "ev-run.policy",
        "default allow\nexec: path == \"/nonexistent\"\n",
    );
    let o = run_seccomp(&[&ev], &["true"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("rules for exec"), "{}", err(&o));
    let o = strbox(&[
        "run",
        "--backend",
        "seccomp",
        "--best-effort",
        "-p",
        ev.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains("WITHOUT a sandbox"), "{}", err(&o));
    if !module_loaded() {
        // auto: no module here, so seccomp.
        let o = strbox(&[
            "run",
            "--backend",
            "auto",
            "-p",
            deny.to_str().unwrap(),
            "--",
            "uname",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert!(err(&o).contains("Permission denied"), "{}", err(&o));
    }
}
