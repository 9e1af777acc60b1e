//! `strbox run`: install one layer per policy, then execve the program.
//!
//! Each layer is a strbox layer (`PR_SECCOMP_SET`) or, with `--backend
//! seccomp` (or `auto` without the module), a seccomp-bpf filter
//! generated from the same compiled policy (`seccomp(2)`).
//!
//! Everything is prepared before the fork (host check of every policy,
//! PATH lookup and the executable check, argv/envp as C strings, the
//! `PR_SECCOMP_SET` argument structs, a shared page for the child's
//! report). The child then makes only these syscalls: restore the signal
//! mask and SIGPIPE's default disposition (Rust ignores SIGPIPE; an ignored
//! signal would survive the exec), `PR_SET_NO_NEW_PRIVS`, one
//! `PR_SECCOMP_SET` or `seccomp` per layer, and `execve` — no allocation,
//! no stdio.
//! After the first layer is installed, the only other syscalls are the
//! following layers' installs and the `execve`; a failure is recorded in
//! the shared page with plain stores (no syscall, so a layer that forbids
//! `write` cannot swallow the report) and the child `_exit`s. The kernel
//! writes a rejected policy's error record straight into that page.

use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use strbox::abi::{
    StrboxError, StrboxSetArgs, PR_SECCOMP_SET, STRBOX_ERROR_SIZE, STRBOX_SET_ARGS_SIZE_VER0,
    STRBOX_SET_TSYNC,
};
use strbox::bpf::Insn;
use strbox::{BackendChoice, Compatibility, Enforced, Policy};

use crate::exec_args::ExecArgs;
use crate::{report_error, Exit};

/// What `strbox run` was asked to do.
pub struct RunOpts {
    /// The policy files (`-` = standard input), one layer each, in order.
    pub policies: Vec<String>,
    /// `STRBOX_SET_TSYNC`.
    pub tsync: bool,
    /// Set no_new_privs first.
    pub nnp: bool,
    /// Replace strbox instead of forking.
    pub exec: bool,
    /// Run with what the kernel supports (possibly nothing), with a warning.
    pub best_effort: bool,
    /// What enforces the layers.
    pub backend: BackendChoice,
    /// The program and its arguments.
    pub cmd: Vec<String>,
}

/// What the child records when it fails (in a `MAP_SHARED` page).
#[repr(C)]
struct Report {
    /// 0: nothing failed; else one of the `STAGE_*`.
    stage: u32,
    /// The layer whose install failed (0-based).
    layer: u32,
    /// The errno.
    errno: i32,
    /// The kernel's error record for that install.
    record: [u8; STRBOX_ERROR_SIZE],
}

const STAGE_NNP: u32 = 1;
const STAGE_INSTALL: u32 = 2;
const STAGE_EXEC: u32 = 3;

/// One layer's install, ready for the child.
enum Install {
    /// A `struct strbox_set_args` for `PR_SECCOMP_SET`.
    Strbox([u8; STRBOX_SET_ARGS_SIZE_VER0]),
    /// A `struct sock_fprog` for `seccomp(SECCOMP_SET_MODE_FILTER)`,
    /// pointing into the [`Layer`]'s filter.
    Seccomp(libc::sock_fprog),
}

/// Everything the child needs, built before the fork.
struct Prepared {
    exec: ExecArgs,
    /// One install per layer that installs anything.
    args: Vec<Install>,
    /// `SECCOMP_FILTER_FLAG_TSYNC` or 0.
    seccomp_flags: libc::c_long,
    nnp: bool,
}

/// A policy and the name it was given on the command line.
struct Layer {
    name: String,
    policy: Policy,
    /// What is installed with `PR_SECCOMP_SET` (None: nothing).
    text: Option<Vec<u8>>,
    /// Or the seccomp-bpf filter installed instead.
    bpf: Option<Vec<Insn>>,
}

impl Layer {
    fn installs(&self) -> bool {
        self.text.is_some() || self.bpf.is_some()
    }
}

pub fn run(o: RunOpts) -> Result<u8, Exit> {
    let (prog, _) = o
        .cmd
        .split_first()
        .ok_or_else(|| crate::usage_error("no command"))?;
    // 1. Every policy, checked on the host.
    let mut layers = Vec::new();
    let mut stdin_used = false;
    for name in &o.policies {
        if name == "-" {
            if stdin_used {
                return Err(crate::usage_error("standard input can be read only once"));
            }
            stdin_used = true;
        }
        let policy = crate::load_policy(name)?;
        if let Err(e) = policy.compile(strbox::policy::arch(None).map_err(crate::usage_error)?) {
            report_error(&e.render());
            return Err(Exit(1));
        }
        layers.push(Layer {
            name: crate::display_name(name).to_string(),
            policy,
            text: None,
            bpf: None,
        });
    }
    // 2. The program: found and executable, before anything is installed.
    let path = match resolve(prog) {
        Ok(p) => p,
        Err((code, msg)) => {
            eprintln!("strbox: {prog}: {msg}");
            return Err(Exit(code));
        }
    };
    // 3. What the module can enforce.
    let abi = strbox::abi_version();
    let compat = if o.best_effort {
        Compatibility::BestEffort
    } else {
        Compatibility::HardRequirement
    };
    let mut nothing = true;
    for (i, l) in layers.iter_mut().enumerate() {
        let plan = match l.policy.plan_for(o.backend, compat, abi) {
            Ok(p) => p,
            Err(e) => {
                let hint = match e {
                    strbox::Error::ModuleNotLoaded | strbox::Error::AbiTooOld { .. } => {
                        format!(
                            "; refusing to run {prog} without its sandbox (--best-effort runs it with what the kernel supports)"
                        )
                    }
                    _ => String::new(),
                };
                eprintln!("strbox: {}: {e}{hint}", l.name);
                return Err(Exit(1));
            }
        };
        match &plan.status.enforced {
            Enforced::Full => {}
            Enforced::Partial(why) => {
                eprintln!("strbox: warning: layer {} ({}): {why}", i + 1, l.name)
            }
            Enforced::None(why) => eprintln!(
                "strbox: warning: layer {} ({}) not installed: {why}",
                i + 1,
                l.name
            ),
        }
        nothing &= plan.text.is_none() && plan.bpf.is_none();
        l.text = plan.text;
        l.bpf = plan.bpf;
    }
    if nothing {
        eprintln!("strbox: warning: running {prog} WITHOUT a sandbox: no layer could be installed");
    }
    // 4. The child's report page and arguments.
    let report = SharedReport::new(o.exec)?;
    let p = prepare(&o, &path, &layers, report.ptr)?;
    if o.exec {
        // SAFETY: `p` holds valid C strings and argument structs whose
        // pointers stay valid (`layers`, `report` live until after the
        // call); this process has one thread.
        unsafe { install_and_exec(&p, report.ptr) };
        return Err(Exit(child_failure(prog, &layers, report.get())));
    }
    // SAFETY: fork in a single-threaded process; the child only runs
    // `install_and_exec` (async-signal-safe syscalls, no allocation) and
    // `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("strbox: fork: {}", std::io::Error::last_os_error());
        return Err(Exit(2));
    }
    if pid == 0 {
        // SAFETY: as above; `_exit` does not run atexit handlers or flush
        // stdio (the parent's buffers stay the parent's).
        unsafe {
            install_and_exec(&p, report.ptr);
            let code = if (*report.ptr).errno == libc::ENOENT {
                127
            } else {
                126
            };
            libc::_exit(if (*report.ptr).stage == STAGE_EXEC {
                code
            } else {
                1
            });
        }
    }
    // The parent: like a shell waiting for a foreground job, leave
    // ^C and ^\ to the child.
    // SAFETY: setting dispositions to SIG_IGN.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            eprintln!("strbox: waitpid: {e}");
            return Err(Exit(2));
        }
    }
    let r = report.get();
    if r.stage != 0 {
        return Err(Exit(child_failure(prog, &layers, r)));
    }
    if libc::WIFEXITED(status) {
        return Ok(libc::WEXITSTATUS(status) as u8);
    }
    let sig = libc::WTERMSIG(status);
    if sig == libc::SIGSYS && layers.iter().any(|l| l.bpf.is_some()) {
        eprintln!(
            "strbox: {prog} killed by SIGSYS: a seccomp filter's kill (SECCOMP_RET_KILL_PROCESS)"
        );
    }
    if sig == libc::SIGKILL {
        match kill_record(pid) {
            Ok(Some(what)) => eprintln!("strbox: {prog} killed by policy: {what}"),
            Ok(None) => eprintln!(
                "strbox: {prog} killed by SIGKILL (no strbox kill record for pid {pid} in the kernel log: not a policy kill, or its record was rate-limited)"
            ),
            Err(e) => eprintln!(
                "strbox: {prog} killed by SIGKILL (cannot read /dev/kmsg to tell whether a policy killed it: {e})"
            ),
        }
    }
    Ok((128 + sig) as u8)
}

/// Prints what the child (or this process with `--exec`) reported; the
/// exit status.
fn child_failure(prog: &str, layers: &[Layer], r: Report) -> u8 {
    let err = std::io::Error::from_raw_os_error(r.errno);
    match r.stage {
        STAGE_NNP => {
            eprintln!("strbox: PR_SET_NO_NEW_PRIVS: {err}");
            1
        }
        STAGE_INSTALL => {
            // The layer index counts installed layers only.
            let Some(l) = layers.iter().filter(|l| l.installs()).nth(r.layer as usize) else {
                eprintln!("strbox: PR_SECCOMP_SET: {err}");
                return 1;
            };
            if l.bpf.is_some() {
                eprintln!(
                    "strbox: {}: seccomp(SECCOMP_SET_MODE_FILTER): {err}{}",
                    l.name,
                    if r.layer > 0 {
                        " (do the earlier layers allow seccomp?)"
                    } else {
                        ""
                    }
                );
                return 1;
            }
            let record = StrboxError::from_bytes(&r.record);
            let e = strbox::InstallError {
                errno: r.errno,
                policy: strbox::decode_record(&record),
                record,
            };
            let text = l.text.as_deref().unwrap_or_default();
            match &e.policy {
                Some(pe) if text == l.policy.text() => report_error(&l.policy.locate(pe).rendered),
                Some(_) => report_error(&e.render(&format!("{} (as installed)", l.name), text)),
                None if r.layer > 0 => eprintln!(
                    "strbox: {}: {e} (layer {} of {}: do the earlier layers allow prctl?)",
                    l.name,
                    r.layer + 1,
                    layers.len()
                ),
                None => eprintln!("strbox: {}: {e}", l.name),
            }
            1
        }
        _ => {
            eprintln!("strbox: {prog}: execve after installing the layers: {err}");
            if r.errno == libc::ENOENT {
                127
            } else {
                126
            }
        }
    }
}

/// The report page: shared with the child (`MAP_SHARED`), or private with
/// `--exec`.
struct SharedReport {
    ptr: *mut Report,
}

impl SharedReport {
    fn new(private: bool) -> Result<SharedReport, Exit> {
        let flags = if private {
            libc::MAP_PRIVATE
        } else {
            libc::MAP_SHARED
        } | libc::MAP_ANONYMOUS;
        // SAFETY: a fresh anonymous mapping, zero-filled by the kernel.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Report>(),
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            eprintln!("strbox: mmap: {}", std::io::Error::last_os_error());
            return Err(Exit(2));
        }
        Ok(SharedReport { ptr: p.cast() })
    }

    fn get(&self) -> Report {
        // SAFETY: the mapping is live and holds a Report (zeroes are a
        // valid one); the child has exited (or this is `--exec`).
        unsafe { std::ptr::read_volatile(self.ptr) }
    }
}

/// Builds the C strings and argument structs.
fn prepare(
    o: &RunOpts,
    path: &Path,
    layers: &[Layer],
    report: *mut Report,
) -> Result<Prepared, Exit> {
    let exec = ExecArgs::new(path, &o.cmd)?;
    let flags = if o.tsync { STRBOX_SET_TSYNC } else { 0 };
    // SAFETY: only the address of the record field is taken.
    let record = unsafe { std::ptr::addr_of_mut!((*report).record) } as u64;
    let args = layers
        .iter()
        .filter_map(|l| match (&l.text, &l.bpf) {
            (Some(t), _) => Some(Install::Strbox(
                StrboxSetArgs {
                    policy: t.as_ptr() as u64,
                    policy_len: t.len() as u64,
                    flags,
                    error: record,
                }
                .to_bytes(),
            )),
            (None, Some(f)) => Some(Install::Seccomp(libc::sock_fprog {
                // strbox-bpf never makes more than BPF_MAXINSNS (4096).
                len: f.len() as u16,
                filter: f.as_ptr() as *mut Insn,
            })),
            (None, None) => None,
        })
        .collect();
    Ok(Prepared {
        exec,
        args,
        seccomp_flags: if o.tsync {
            libc::SECCOMP_FILTER_FLAG_TSYNC as libc::c_long
        } else {
            0
        },
        nnp: o.nnp,
    })
}

/// The child's part (and `--exec`'s): returns only on failure, recorded in
/// `*report`. No allocation, no stdio, no syscall but the ones listed in
/// the module docs.
///
/// # Safety
/// `p`'s pointers and `report` must be valid.
unsafe fn install_and_exec(p: &Prepared, report: *mut Report) {
    let fail = |stage: u32, layer: usize| {
        let errno = *libc::__errno_location();
        std::ptr::write_volatile(std::ptr::addr_of_mut!((*report).errno), errno);
        std::ptr::write_volatile(std::ptr::addr_of_mut!((*report).layer), layer as u32);
        std::ptr::write_volatile(std::ptr::addr_of_mut!((*report).stage), stage);
    };
    crate::exec_args::reset_signals_for_exec();
    if p.nnp && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
        fail(STAGE_NNP, 0);
        return;
    }
    for (i, a) in p.args.iter().enumerate() {
        let r = match a {
            Install::Strbox(a) => libc::syscall(
                libc::SYS_prctl,
                PR_SECCOMP_SET as libc::c_long,
                a.as_ptr() as libc::c_long,
                STRBOX_SET_ARGS_SIZE_VER0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            ),
            Install::Seccomp(fprog) => libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_long,
                p.seccomp_flags,
                fprog as *const libc::sock_fprog,
            ),
        };
        if r != 0 {
            fail(STAGE_INSTALL, i);
            return;
        }
    }
    libc::execve(
        p.exec.path.as_ptr(),
        p.exec.argv.as_ptr(),
        p.exec.envp.as_ptr(),
    );
    fail(STAGE_EXEC, 0);
}

/// Finds `prog` as a shell would: a name with a `/` as is, any other in
/// `$PATH` (default `/usr/local/bin:/usr/bin:/bin`). `Err((127 or 126,
/// message))` when it is missing or not executable.
pub fn resolve(prog: &str) -> Result<PathBuf, (u8, String)> {
    if prog.is_empty() {
        return Err((127, "command not found".into()));
    }
    if prog.contains('/') {
        return executable(Path::new(prog)).map(|()| PathBuf::from(prog));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(prog);
        match executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err((126, msg)) => {
                denied.get_or_insert((126, format!("{}: {msg}", candidate.display())));
            }
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or((127, "command not found".into())))
}

/// `Ok` when `p` is a file this process may execute (`faccessat` with
/// `AT_EACCESS`, as `execve` checks the effective ids).
fn executable(p: &Path) -> Result<(), (u8, String)> {
    let meta = std::fs::metadata(p).map_err(|e| {
        let code = if e.raw_os_error() == Some(libc::EACCES) {
            126
        } else {
            127
        };
        (code, e.to_string())
    })?;
    if meta.is_dir() {
        return Err((126, "Is a directory".into()));
    }
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| (127, "NUL in path".into()))?;
    // SAFETY: a valid C string.
    let r = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) };
    if r != 0 {
        return Err((126, std::io::Error::last_os_error().to_string()));
    }
    Ok(())
}

/// The last strbox kill record of `pid` in the kernel log
/// (`/dev/kmsg`, read without blocking from the start).
fn kill_record(pid: i32) -> std::io::Result<Option<String>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")?;
    let mut found = None;
    let mut buf = vec![0u8; 16384];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                // `PRIO,SEQ,TS,FLAGS;MESSAGE\n` (then continuation lines).
                let msg = rec.split_once(';').map_or(&*rec, |(_, m)| m);
                let msg = msg.lines().next().unwrap_or("");
                if let Some(what) = parse_kill(msg, pid) {
                    found = Some(what);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // EPIPE: records were overwritten while reading; go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// `syscall NAME` or `event NAME DETAIL` from a kill record of `pid`:
/// `strbox: kill comm=C pid=P tid=T syscall=NAME(NR) args=... layers=N` or
/// `strbox: kill comm=C pid=P tid=T event=NAME DETAIL layers=N`. The comm
/// (at most 15 bytes) cannot hold a whole ` pid=P tid=T syscall=` run, so
/// the first such run is the module's.
pub fn parse_kill(msg: &str, pid: i32) -> Option<String> {
    let rest = msg.strip_prefix("strbox: kill comm=")?;
    let mut search = 0;
    while let Some(i) = rest[search..].find(" pid=") {
        let at = search + i;
        search = at + 1;
        let tail = &rest[at + 5..];
        let Some((p, tail)) = tail.split_once(" tid=") else {
            continue;
        };
        let Some(digits_end) = tail.find(|c: char| !c.is_ascii_digit()) else {
            continue;
        };
        let (tid, tail) = tail.split_at(digits_end);
        if p.parse::<i32>().is_err() || tid.is_empty() {
            continue;
        }
        let what = if let Some(s) = tail.strip_prefix(" syscall=") {
            let name = s.split_once('(')?.0;
            format!("syscall {name}")
        } else if let Some(e) = tail.strip_prefix(" event=") {
            let e = e.rsplit_once(" layers=").map_or(e, |(d, _)| d);
            format!("event {e}")
        } else {
            continue;
        };
        return (p.parse::<i32>().ok() == Some(pid)).then_some(what);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_records() {
        let m = "strbox: kill comm=a.out pid=42 tid=43 syscall=getpid(39) args=0x0,0x0,0x0,0x0,0x0,0x0 layers=1";
        assert_eq!(parse_kill(m, 42).as_deref(), Some("syscall getpid"));
        assert_eq!(parse_kill(m, 43), None);
        let m = "strbox: kill comm=x pid=7 tid=7 event=file_open path=\"/etc/passwd\" flags=0x8000 layers=2";
        assert_eq!(
            parse_kill(m, 7).as_deref(),
            Some("event file_open path=\"/etc/passwd\" flags=0x8000")
        );
        // A comm that imitates part of a record.
        let m = "strbox: kill comm=x pid=9 tid=9 pid=5 tid=5 syscall=read(0) args=0x0 layers=1";
        assert_eq!(parse_kill(m, 5).as_deref(), Some("syscall read"));
        assert_eq!(parse_kill(m, 9), None);
        assert_eq!(
            parse_kill("strbox: log comm=x pid=5 tid=5 syscall=read(0)", 5),
            None
        );
    }

    #[test]
    fn path_lookup() {
        assert!(matches!(resolve(""), Err((127, _))));
        assert!(matches!(resolve("/nonexistent/prog"), Err((127, _))));
        assert!(matches!(resolve("/"), Err((126, _))));
        assert!(matches!(
            resolve("strbox-surely-not-a-command"),
            Err((127, _))
        ));
        assert_eq!(resolve("/bin/sh").unwrap(), PathBuf::from("/bin/sh"));
    }
}
