//! The ptrace side of `strbox learn`: no module needed.
//!
//! Semantics: `PTRACE_TRACEME` (not `PTRACE_SEIZE`). The child restores the
//! signal mask and SIGPIPE's default disposition, calls `PTRACE_TRACEME`,
//! stops itself with `kill(getpid(), SIGSTOP)` and then `execve`s the
//! command (resolved through `PATH` before the fork). The tracer sets
//! `TRACESYSGOOD | TRACEFORK | TRACEVFORK | TRACECLONE | TRACEEXEC |
//! EXITKILL` at that first stop, so every task the command starts is
//! traced from its first instruction and dies with the tracer.
//!
//! * Syscall stops (`SIGTRAP | 0x80`): `PTRACE_GET_SYSCALL_INFO`; an
//!   `ENTRY` of the native `AUDIT_ARCH_*` (and, on x86_64, without the x32
//!   bit) is recorded with its six argument registers, anything else is
//!   counted per ABI.
//! * New tasks: a task's first stop is the `SIGSTOP` of the auto-attach;
//!   it is suppressed whether it arrives before or after the parent's
//!   `PTRACE_EVENT_FORK/VFORK/CLONE` (a pid is "started" once that stop
//!   was seen; the event itself needs nothing).
//! * Signal-delivery stops: the signal is injected again by
//!   `PTRACE_SYSCALL`'s data argument. A stop whose `PTRACE_GETSIGINFO`
//!   fails with `EINVAL` is a group-stop: it is resumed with no signal
//!   (without SEIZE there is no `PTRACE_LISTEN`, so a traced task cannot
//!   stay stopped by SIGSTOP/SIGTSTP: documented).
//! * The root task's calls before its first exec (only the `execve` itself,
//!   since the child stops right before it) are kept only if the exec
//!   succeeds: the `execve` that started the command is recorded.
//! * The trace ends when no traced task is left (`ECHILD`); the status is
//!   the root task's (128+N for signal N).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::{c_long, c_void, pid_t};
use strbox_filter::uapi::tables::Arch;

use crate::Exit;

/// One syscall as the task made it: its number and argument registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Record {
    /// The syscall number (native ABI; `u32::MAX` for numbers that do not
    /// fit).
    pub nr: u32,
    /// The six argument registers, as the filter sees them.
    pub args: [u64; 6],
}

/// What a traced run produced.
pub struct Trace {
    /// Each distinct native call and how often it was made.
    pub calls: HashMap<Record, u64>,
    /// Calls of other ABIs, per ABI name.
    pub foreign: BTreeMap<String, u64>,
    /// Tasks (processes and threads) traced.
    pub tasks: usize,
    /// Whether the command was exec'd at all.
    pub execed: bool,
    /// The command's exit status (128+N when killed by signal N).
    pub status: u8,
}

// Requests and options (the kernel's uapi values; the libc crate does not
// define them all for musl).
const PTRACE_TRACEME: c_long = 0;
const PTRACE_SYSCALL: c_long = 24;
const PTRACE_SETOPTIONS: c_long = 0x4200;
const PTRACE_GETEVENTMSG: c_long = 0x4201;
const PTRACE_GETSIGINFO: c_long = 0x4202;
const PTRACE_GET_SYSCALL_INFO: c_long = 0x420e;

const PTRACE_O_TRACESYSGOOD: c_long = 0x1;
const PTRACE_O_TRACEFORK: c_long = 0x2;
const PTRACE_O_TRACEVFORK: c_long = 0x4;
const PTRACE_O_TRACECLONE: c_long = 0x8;
const PTRACE_O_TRACEEXEC: c_long = 0x10;
const PTRACE_O_EXITKILL: c_long = 0x10_0000;

const PTRACE_EVENT_FORK: i32 = 1;
const PTRACE_EVENT_VFORK: i32 = 2;
const PTRACE_EVENT_CLONE: i32 = 3;
const PTRACE_EVENT_EXEC: i32 = 4;

const PTRACE_SYSCALL_INFO_ENTRY: u8 = 1;

const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const X32_SYSCALL_BIT: u64 = 0x4000_0000;

/// `struct ptrace_syscall_info` (include/uapi/linux/ptrace.h), with the
/// union as raw words: for `PTRACE_SYSCALL_INFO_ENTRY`, `data[0]` is the
/// number and `data[1..7]` the arguments.
#[repr(C)]
#[derive(Default)]
struct SyscallInfo {
    op: u8,
    pad: [u8; 3],
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    data: [u64; 8],
}

/// `ptrace(2)` as the raw syscall (the libc wrappers' request types differ
/// between glibc and musl; no PEEK request is used, so the raw and the
/// wrapped calls agree).
///
/// # Safety
/// `addr` and `data` must be what `req` expects.
unsafe fn ptrace(req: c_long, pid: pid_t, addr: usize, data: usize) -> Result<c_long, i32> {
    let r = libc::syscall(libc::SYS_ptrace, req, pid as c_long, addr, data);
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

/// Resumes `pid` to its next syscall stop with `sig` (0: none). A task
/// that died meanwhile (`ESRCH`) is not an error: its exit is reported.
fn resume(pid: pid_t, sig: i32) {
    // SAFETY: PTRACE_SYSCALL takes no pointer.
    let _ = unsafe { ptrace(PTRACE_SYSCALL, pid, 0, sig as usize) };
}

/// `CMD` as `execvp` would find it: `Err((127 or 126, why))`.
fn resolve(cmd: &str) -> Result<PathBuf, (u8, String)> {
    let executable = |p: &Path| {
        let c = CString::new(p.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid C string.
        Some(p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0)
    };
    if cmd.is_empty() {
        return Err((127, "command not found".into()));
    }
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return match executable(&p) {
            _ if !p.exists() => Err((127, "No such file or directory".into())),
            Some(true) => Ok(p),
            _ => Err((126, "not an executable file".into())),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut found_other = false;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let p = dir.join(cmd);
        match executable(&p) {
            Some(true) => return Ok(p),
            _ if p.exists() => found_other = true,
            _ => {}
        }
    }
    if found_other {
        Err((126, "not an executable file".into()))
    } else {
        Err((127, "command not found".into()))
    }
}

/// The name of a non-native ABI for notes.
fn abi_name(audit_arch: u32) -> String {
    match audit_arch {
        AUDIT_ARCH_I386 => "i386".into(),
        AUDIT_ARCH_ARM => "arm (AArch32)".into(),
        a => format!("audit arch {a:#x}"),
    }
}

/// Runs `cmd` under ptrace and records every syscall.
pub fn run(cmd: &[String], arch: &'static Arch) -> Result<Trace, Exit> {
    let path = resolve(&cmd[0]).map_err(|(code, why)| {
        eprintln!("strbox: learn: {}: {why}", cmd[0]);
        Exit(code)
    })?;
    let exec = crate::exec_args::ExecArgs::new(&path, cmd)?;

    // SAFETY: the child only makes async-signal-safe calls on memory
    // prepared above, then `execve` or `_exit`.
    let root = unsafe { libc::fork() };
    if root < 0 {
        eprintln!("strbox: learn: fork: {}", std::io::Error::last_os_error());
        return Err(Exit(2));
    }
    if root == 0 {
        // SAFETY: as above.
        unsafe {
            crate::exec_args::reset_signals_for_exec();
            if ptrace(PTRACE_TRACEME, 0, 0, 0).is_err() {
                libc::_exit(CHILD_TRACEME_FAILED);
            }
            libc::kill(libc::getpid(), libc::SIGSTOP);
            libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
            let e = *libc::__errno_location();
            libc::_exit(if e == libc::ENOENT { 127 } else { 126 });
        }
    }
    // Like a shell waiting for a foreground job: ^C and ^\ are the
    // command's (it is in our process group).
    // SAFETY: setting dispositions to SIG_IGN.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let r = trace(root, arch);
    // SAFETY: restoring the defaults.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
    r
}

/// The child's exit code when `PTRACE_TRACEME` fails (it never ran CMD).
const CHILD_TRACEME_FAILED: i32 = 125;

fn wait(pid: pid_t, status: &mut i32) -> Result<pid_t, i32> {
    loop {
        // SAFETY: waiting for traced tasks.
        let r = unsafe { libc::waitpid(pid, status, libc::__WALL) };
        if r >= 0 {
            return Ok(r);
        }
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

fn exit_code(status: i32) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else {
        (128 + libc::WTERMSIG(status)) as u8
    }
}

fn trace(root: pid_t, arch: &'static Arch) -> Result<Trace, Exit> {
    let fail = |what: &str, e: i32| {
        eprintln!(
            "strbox: learn: {what}: {}",
            std::io::Error::from_raw_os_error(e)
        );
        // The root dies with us (EXITKILL once set; SIGKILL otherwise).
        // SAFETY: signalling our own child.
        unsafe { libc::kill(root, libc::SIGKILL) };
        Exit(2)
    };
    let mut st = 0;
    wait(root, &mut st).map_err(|e| fail("waitpid", e))?;
    if !libc::WIFSTOPPED(st) {
        if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == CHILD_TRACEME_FAILED {
            eprintln!("strbox: learn: PTRACE_TRACEME is not permitted here (seccomp, a container or LSM policy forbids ptrace)");
            return Err(Exit(2));
        }
        eprintln!("strbox: learn: the child ended before it stopped");
        return Err(Exit(2));
    }
    let options = PTRACE_O_TRACESYSGOOD
        | PTRACE_O_TRACEFORK
        | PTRACE_O_TRACEVFORK
        | PTRACE_O_TRACECLONE
        | PTRACE_O_TRACEEXEC
        | PTRACE_O_EXITKILL;
    // SAFETY: PTRACE_SETOPTIONS takes the options in `data`.
    unsafe { ptrace(PTRACE_SETOPTIONS, root, 0, options as usize) }
        .map_err(|e| fail("PTRACE_SETOPTIONS", e))?;

    let mut t = Trace {
        calls: HashMap::new(),
        foreign: BTreeMap::new(),
        tasks: 1,
        execed: false,
        status: 0,
    };
    // Tasks whose initial stop has been seen.
    let mut started: HashSet<pid_t> = HashSet::from([root]);
    // The root's last call before its first exec (its `execve`).
    let mut pre_exec: Option<Record> = None;
    let mut root_status = None;
    // Suppress the root's own SIGSTOP.
    resume(root, 0);
    loop {
        let pid = match wait(-1, &mut st) {
            Ok(p) => p,
            Err(libc::ECHILD) => break,
            Err(e) => return Err(fail("waitpid", e)),
        };
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            started.remove(&pid);
            if pid == root {
                root_status = Some(exit_code(st));
            }
            continue;
        }
        if !libc::WIFSTOPPED(st) {
            continue;
        }
        let sig = libc::WSTOPSIG(st);
        let event = (st >> 16) & 0xff;
        if started.insert(pid) {
            t.tasks += 1;
            if sig == libc::SIGSTOP && event == 0 {
                // The auto-attach stop of a new task: suppressed.
                resume(pid, 0);
                continue;
            }
        }
        if sig == libc::SIGTRAP | 0x80 {
            let mut info = SyscallInfo::default();
            // SAFETY: the kernel writes at most `size_of::<SyscallInfo>()`
            // bytes into `info`.
            let r = unsafe {
                ptrace(
                    PTRACE_GET_SYSCALL_INFO,
                    pid,
                    std::mem::size_of::<SyscallInfo>(),
                    &mut info as *mut SyscallInfo as usize,
                )
            };
            match r {
                Ok(_) => {}
                Err(libc::ESRCH) => continue,
                Err(e) => return Err(fail("PTRACE_GET_SYSCALL_INFO (Linux 5.3 or later)", e)),
            }
            if info.op == PTRACE_SYSCALL_INFO_ENTRY {
                let nr = info.data[0];
                if info.arch != arch.audit_arch {
                    *t.foreign.entry(abi_name(info.arch)).or_insert(0) += 1;
                } else if arch.name == "x86_64" && nr & X32_SYSCALL_BIT != 0 && nr != u64::MAX {
                    *t.foreign.entry("x32".into()).or_insert(0) += 1;
                } else {
                    let mut args = [0u64; 6];
                    args.copy_from_slice(&info.data[1..7]);
                    let rec = Record {
                        nr: u32::try_from(nr).unwrap_or(u32::MAX),
                        args,
                    };
                    if pid == root && !t.execed {
                        pre_exec = Some(rec);
                    } else {
                        *t.calls.entry(rec).or_insert(0) += 1;
                    }
                }
            }
            resume(pid, 0);
            continue;
        }
        if sig == libc::SIGTRAP && event != 0 {
            match event {
                PTRACE_EVENT_FORK | PTRACE_EVENT_VFORK | PTRACE_EVENT_CLONE => {
                    // The new task's first stop is recognised on its own
                    // (see `started`), whichever arrives first.
                }
                PTRACE_EVENT_EXEC => {
                    let mut former: libc::c_ulong = 0;
                    // SAFETY: GETEVENTMSG writes one unsigned long.
                    let r = unsafe {
                        ptrace(
                            PTRACE_GETEVENTMSG,
                            pid,
                            0,
                            &mut former as *mut libc::c_ulong as usize,
                        )
                    };
                    // A non-leader thread exec'd: its old tid is gone
                    // without an exit report.
                    if r.is_ok() {
                        let former = former as pid_t;
                        if former != pid {
                            started.remove(&former);
                        }
                    }
                    if pid == root && !t.execed {
                        t.execed = true;
                        if let Some(rec) = pre_exec.take() {
                            *t.calls.entry(rec).or_insert(0) += 1;
                        }
                    }
                }
                _ => {}
            }
            resume(pid, 0);
            continue;
        }
        // A signal-delivery stop (inject the signal) or a group-stop
        // (PTRACE_GETSIGINFO fails with EINVAL: resume without a signal).
        // SAFETY: siginfo_t is plain data; all-zero is a valid value.
        let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: GETSIGINFO writes one siginfo_t.
        let r = unsafe {
            ptrace(
                PTRACE_GETSIGINFO,
                pid,
                0,
                &mut si as *mut libc::siginfo_t as *mut c_void as usize,
            )
        };
        match r {
            Err(libc::EINVAL) => resume(pid, 0),
            _ => resume(pid, sig),
        }
    }
    t.status = root_status.unwrap_or(0);
    Ok(t)
}
