//! Integration tests of `strbox learn` (ptrace; no module needed). Each test
//! first checks that `PTRACE_TRACEME` is permitted here; if it is not, it
//! says why and returns (the only skip).

use std::path::PathBuf;
use std::process::{Command, Output};

fn strbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strbox"))
        .args(args)
        .output()
        .expect("run strbox")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strbox-learn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Whether a child may `PTRACE_TRACEME` here; prints why not.
fn ptrace_permitted() -> bool {
    // SAFETY: the child only calls ptrace and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: PTRACE_TRACEME takes no pointer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_ptrace,
                0 as libc::c_long,
                0 as libc::c_long,
                0usize,
                0usize,
            )
        };
        let code = if r == 0 {
            0
        } else {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(1)
        };
        // SAFETY: leaving the forked child without running Rust's exit path.
        unsafe { libc::_exit(code) };
    }
    let mut st = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
    let code = libc::WEXITSTATUS(st);
    if code != 0 {
        eprintln!(
            "SKIP: PTRACE_TRACEME is not permitted here ({}): strbox learn cannot trace",
            std::io::Error::from_raw_os_error(code)
        );
        return false;
    }
    true
}

/// The rule lines `NAME: EXPR` (comments and alignment dropped).
fn rules(policy: &str) -> Vec<String> {
    policy
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.starts_with("default "))
        .map(|l| {
            let l = l.split("  #").next().unwrap();
            let (name, expr) = l.split_once(':').unwrap();
            format!("{name}: {}", expr.trim())
        })
        .collect()
}

/// The `# N calls` count of syscall `name`.
fn calls(policy: &str, name: &str) -> u64 {
    let line = policy
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} rule in\n{policy}"));
    let n = line.rsplit("# ").next().unwrap();
    n.split(' ').next().unwrap().parse().unwrap()
}

/// The `# N tasks traced` count.
fn tasks(policy: &str) -> u64 {
    let line = policy
        .lines()
        .find(|l| l.contains(" traced; "))
        .unwrap_or_else(|| panic!("no task count in\n{policy}"));
    line.trim_start_matches("# ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Checks that `strbox check` accepts `policy`; returns its file.
fn checks(name: &str, policy: &str) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, policy).unwrap();
    let o = strbox(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}\n{policy}", err(&o));
    p
}

fn all_checked(o: &Output) {
    assert!(
        err(o).contains("checked: all allowed by the policy"),
        "{}",
        err(o)
    );
}

#[test]
fn learn_true() {
    if !ptrace_permitted() {
        return;
    }
    let o = strbox(&["learn", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    all_checked(&o);
    let policy = out(&o);
    assert!(policy.starts_with("# Learned by `strbox learn` from one run of: /bin/true\n"));
    assert!(policy.contains("\ndefault errno EPERM\n"), "{policy}");
    let r = rules(&policy);
    assert!(r.contains(&"execve: 1".to_string()), "{policy}");
    assert!(r.iter().any(|l| l.starts_with("exit_group: ")), "{policy}");
    assert_eq!(calls(&policy, "execve"), 1);
    assert_eq!(tasks(&policy), 1);
    // Sorted by name.
    let names: Vec<&str> = r.iter().map(|l| l.split(':').next().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let p = checks("true.policy", &policy);
    // What the run did not do gets the default.
    let o = strbox(&["eval", p.to_str().unwrap(), "ptrace"]);
    assert_eq!(out(&o), "errno EPERM\n");
}

#[test]
fn learn_follows_forked_children() {
    if !ptrace_permitted() {
        return;
    }
    let o = strbox(&["learn", "--", "sh", "-c", "/bin/true; /bin/true; exit 0"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    all_checked(&o);
    let policy = out(&o);
    // The shell and its two children; each exec'd.
    assert_eq!(tasks(&policy), 3, "{policy}");
    assert_eq!(calls(&policy, "execve"), 3, "{policy}");
    assert_eq!(calls(&policy, "exit_group"), 3, "{policy}");
    let r = rules(&policy);
    assert!(
        r.iter()
            .any(|l| ["clone", "clone3", "fork", "vfork"].contains(&l.split(':').next().unwrap())),
        "{policy}"
    );
    assert!(r.iter().any(|l| l.starts_with("wait4: ")), "{policy}");
    checks("fork.policy", &policy);
}

#[test]
fn learn_writes_fd_rules() {
    if !ptrace_permitted() {
        return;
    }
    let f = tmp("echo.policy");
    let o = strbox(&["learn", "-o", f.to_str().unwrap(), "--", "/bin/echo", "hi"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    all_checked(&o);
    // The command's output only: the policy went to the file.
    assert_eq!(out(&o), "hi\n");
    let policy = std::fs::read_to_string(&f).unwrap();
    assert!(
        rules(&policy).contains(&"write: fd == 1".to_string()),
        "{policy}"
    );
    let p = checks("echo2.policy", &policy);
    let eval = |args: &[&str]| {
        let mut a = vec!["eval", p.to_str().unwrap()];
        a.extend_from_slice(args);
        out(&strbox(&a))
    };
    assert_eq!(eval(&["write", "1", "0x1000", "3"]), "allow\n");
    assert_eq!(eval(&["write", "2", "0x1000", "3"]), "errno EPERM\n");
}

#[test]
fn learn_exit_status_is_the_commands() {
    if !ptrace_permitted() {
        return;
    }
    let o = strbox(&["learn", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    all_checked(&o);
    checks("exit7.policy", &out(&o));
    // Killed by a signal: 128+N, and the policy is still written.
    let o = strbox(&["learn", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15), "{}", err(&o));
    assert!(
        rules(&out(&o)).contains(&"kill: sig == 15".to_string()),
        "{}",
        out(&o)
    );
    // Not found: 127, no policy.
    let o = strbox(&["learn", "--", "strbox-no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
    assert_eq!(out(&o), "");
}

#[test]
fn learn_output_file_and_default_kill() {
    if !ptrace_permitted() {
        return;
    }
    let f = tmp("kill.policy");
    let _ = std::fs::remove_file(&f);
    let o = strbox(&[
        "learn",
        "-o",
        f.to_str().unwrap(),
        "--default",
        "kill",
        "--",
        "/bin/true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "");
    let policy = std::fs::read_to_string(&f).unwrap();
    assert!(policy.contains("\ndefault kill\n"), "{policy}");
    assert!(rules(&policy).contains(&"execve: 1".to_string()));
    let p = checks("kill2.policy", &policy);
    let o = strbox(&["eval", p.to_str().unwrap(), "ptrace"]);
    assert_eq!(out(&o), "kill\n");
    // An unknown default is a usage error before anything runs.
    let o = strbox(&["learn", "--default", "allow", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
}

#[test]
fn learn_signals_reach_the_command() {
    if !ptrace_permitted() {
        return;
    }
    let o = strbox(&[
        "learn",
        "-o",
        tmp("trap.policy").to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "trap 'echo got' USR1; kill -USR1 $$; echo after",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "got\nafter\n");
}
