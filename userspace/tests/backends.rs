//! The backend choice: which backend a plan takes, what each enforces
//! (never a silent success that enforced nothing), and that the seccomp
//! plan is the filter `strbox-bpf` generates from the same policy.

use strbox::bpf::{generate, Layout};
use strbox::policy::{arch, compile_policy};
use strbox::{Backend, BackendChoice, Compatibility, Enforced, Error, Policy};

const HARD: Compatibility = Compatibility::HardRequirement;
const BEST: Compatibility = Compatibility::BestEffort;

#[test]
fn auto_takes_the_module_only_when_it_supports_the_policy() {
    let sys = Policy::from_text("read: 1\n");
    let act = Policy::from_text("default allow\nptrace: 1 => kill\n");
    for (p, abi, want) in [
        (&sys, Some(1), Backend::Strbox),
        (&sys, None, Backend::Seccomp),
        (&act, Some(3), Backend::Strbox),
        (&act, Some(2), Backend::Seccomp),
        (&act, None, Backend::Seccomp),
    ] {
        let plan = p.plan_for(BackendChoice::Auto, HARD, abi).unwrap();
        assert_eq!(plan.status.backend, want, "{abi:?}");
        assert_eq!(plan.status.enforced, Enforced::Full);
        assert_eq!(plan.text.is_some(), want == Backend::Strbox);
        assert_eq!(plan.bpf.is_some(), want == Backend::Seccomp);
    }
    // The strbox choice never falls back to seccomp.
    assert!(matches!(
        sys.plan_for(BackendChoice::Strbox, HARD, None),
        Err(Error::ModuleNotLoaded)
    ));
}

#[test]
fn the_seccomp_plan_is_the_generated_filter() {
    let text = "default errno EPERM\nread: fd == 0\nwrite: fd == 1 || fd == 2\nexit_group: 1\n";
    let plan = Policy::from_text(text)
        .plan_for(BackendChoice::Seccomp, HARD, Some(3))
        .unwrap();
    let a = arch(None).unwrap();
    let want = generate(
        &compile_policy(text.as_bytes(), a).unwrap(),
        a,
        Layout::Tree,
    )
    .unwrap();
    assert_eq!(
        strbox::bpf::to_bytes(plan.bpf.as_deref().unwrap()),
        strbox::bpf::to_bytes(&want)
    );
    assert_eq!(plan.status.backend, Backend::Seccomp);
    assert_eq!(plan.status.abi, Some(3));
}

#[test]
fn event_rules_under_seccomp() {
    let mixed = Policy::from_text("read: 1\nfile_open: path == \"/x\"\n");
    let only = Policy::from_text("exec: 0\n");
    // Hard requirement: refused, with seccomp's reason.
    match mixed.plan_for(BackendChoice::Seccomp, HARD, None) {
        Err(e @ Error::Seccomp(_)) => assert!(e.to_string().contains("file_open"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Best effort: the syscall rules, and a status naming what is not
    // enforced.
    let p = mixed.plan_for(BackendChoice::Seccomp, BEST, None).unwrap();
    assert!(p.bpf.is_some() && p.text.is_none());
    match &p.status.enforced {
        Enforced::Partial(why) => assert!(why.contains("file_open"), "{why}"),
        other => panic!("{other:?}"),
    }
    let p = only.plan_for(BackendChoice::Seccomp, BEST, None).unwrap();
    assert!(p.bpf.is_none() && p.text.is_none());
    assert!(matches!(p.status.enforced, Enforced::None(_)));
    // Auto with the module: the module enforces the events.
    let p = mixed.plan_for(BackendChoice::Auto, HARD, Some(3)).unwrap();
    assert_eq!(
        (p.status.backend, p.status.enforced),
        (Backend::Strbox, Enforced::Full)
    );
}

/// The body run in a child process by [`apply_installs_a_seccomp_filter`]
/// (a no-op in the normal test run): applies a seccomp sandbox to itself,
/// then reports what `getppid` and `getpid` return through its exit code.
#[test]
fn seccomp_child_body() {
    if std::env::var_os("STRBOX_BACKENDS_CHILD").is_none() {
        return;
    }
    let policy = Policy::from_text("default allow\ngetppid: 1 => errno 77\n");
    let status = strbox::Sandbox::from_policy(&policy)
        .no_new_privs(true)
        .backend(BackendChoice::Seccomp)
        .apply()
        .expect("seccomp sandbox applies");
    assert_eq!(status.backend, Backend::Seccomp);
    assert_eq!(status.enforced, Enforced::Full);
    // SAFETY: plain syscalls without pointer arguments.
    let (ppid, pid) = unsafe {
        (
            libc::syscall(libc::SYS_getppid),
            libc::syscall(libc::SYS_getpid),
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let code = if ppid == -1 && pid > 0 { errno } else { 1 };
    std::process::exit(code);
}

/// `Sandbox::apply` with the seccomp backend installs a real filter in
/// this host's kernel (no module needed): in a child process, `getppid`
/// fails with the policy's errno while `getpid` still works.
#[test]
fn apply_installs_a_seccomp_filter() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "seccomp_child_body",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("STRBOX_BACKENDS_CHILD", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(77),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
