//! Integration tests of the `strbox` binary: `check` and `eval`.

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
