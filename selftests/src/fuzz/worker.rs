//! The workers: the page shared with the test process, the worker's
//! setup and run (raw syscalls only, `clone(CLONE_VM)` on a stack of its
//! own), and [`run_batch`], which spawns one and checks what it reported.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use strbox_filter::uapi::tables::Arch;
use strbox_filter::Verdict;

use crate::util::describe_status;

use super::batch::{describe_input, Batch};
use super::envelope::{Ctx, Expect, Step, StepKind};
use super::memory::Wr;
use super::random_calls::{FD_NULL, FD_ZERO};
use super::{MAX_STEPS, NOBODY};

const RUNNING: u32 = 0;
const DONE: u32 = 1;
const FAILED: u32 = 2;
const MSG_LEN: usize = 1024;

/// The worker's progress and results, in a shared anonymous mapping.
/// All fields are atomics, so the all-zero mapping is a valid value and
/// both processes may access it at any time.
#[repr(C)]
struct Shared {
    /// Index of the step being made (set before each call).
    step: AtomicU64,
    state: AtomicU32,
    msg_len: AtomicU32,
    results: [AtomicI64; MAX_STEPS],
    msg: [AtomicU8; MSG_LEN],
}

pub(super) struct SharedMap {
    ptr: *mut Shared,
    len: usize,
}

impl SharedMap {
    pub(super) fn new() -> Result<SharedMap, String> {
        let len = std::mem::size_of::<Shared>().div_ceil(4096) * 4096;
        let p =
            strbox_bench::guest_util::shared_anon(len).map_err(|e| format!("mmap shared: {e}"))?;
        Ok(SharedMap { ptr: p.cast(), len })
    }

    fn get(&self) -> &Shared {
        // Soundness: the mapping is at least size_of::<Shared>() bytes, page
        // aligned, zero-filled at creation, and lives as long as `self`;
        // every field is an atomic, for which all-zero is valid and shared
        // access from two processes is sound.
        // SAFETY: as argued just above.
        unsafe { &*self.ptr }
    }

    fn reset(&self) {
        let s = self.get();
        s.step.store(0, Ordering::Relaxed);
        s.state.store(RUNNING, Ordering::Relaxed);
        s.msg_len.store(0, Ordering::Relaxed);
        for r in &s.results {
            r.store(0, Ordering::Relaxed);
        }
    }

    fn message(&self) -> String {
        let s = self.get();
        let n = (s.msg_len.load(Ordering::Acquire) as usize).min(MSG_LEN);
        let b: Vec<u8> = s.msg[..n]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no worker is alive any more.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Formats into the shared page without allocating or making syscalls.
struct MsgWriter<'a> {
    s: &'a Shared,
    len: usize,
}

impl fmt::Write for MsgWriter<'_> {
    fn write_str(&mut self, t: &str) -> fmt::Result {
        for &b in t.as_bytes() {
            if let Some(c) = self.s.msg.get(self.len) {
                c.store(b, Ordering::Relaxed);
                self.len += 1;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------
// The worker

/// One raw system call with all six argument registers set; returns the
/// kernel's raw result (`-errno` on failure).
///
/// # Safety
///
/// The call must not change memory the Rust code uses or end the process
/// in a way it does not expect: callers only pass allow-listed calls whose
/// pointer arguments point into the worker's arena or at memory that is
/// not mapped.
#[inline(never)]
unsafe fn raw_syscall(nr: u64, a: &[u64; 6]) -> i64 {
    let ret: i64;
    #[cfg(target_arch = "x86_64")]
    // Soundness: the `syscall` instruction clobbers only rax (the result),
    // rcx and r11, all declared; it does not touch the stack. Memory
    // effects are the caller's contract above (the asm block is not
    // `nomem`, so the compiler assumes memory may change).
    // SAFETY: as argued just above.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as i64 => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `svc #0` clobbers only x0 (the result); the number is in
    // x8. As above for memory.
    unsafe {
        std::arch::asm!(
            "svc #0",
            in("x8") nr,
            inlateout("x0") a[0] as i64 => ret,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

/// A raw syscall for the worker's own setup (no libc: the worker shares
/// the test process's memory and thread pointer, so it must not touch
/// `errno` or any other libc state).
fn setup_call(nr: libc::c_long, a: [u64; 6]) -> i64 {
    // SAFETY: only called from `worker_setup` with fd, credential, prctl
    // and timer calls of this process whose pointers are valid (constant
    // C strings, a local itimerval).
    unsafe { raw_syscall(nr as u64, &a) }
}

/// Sets the worker up while it has no layers: fds, ids, parent-death
/// signal, no_new_privs, alarm.
fn worker_setup(nnp: bool, parent: libc::pid_t) -> Result<(), &'static str> {
    let at_fdcwd = libc::AT_FDCWD as u64;
    let rdwr = libc::O_RDWR as u64;
    // Our own fd table (no CLONE_FILES): close what the test process holds.
    setup_call(libc::SYS_close_range, [3, u64::from(u32::MAX), 0, 0, 0, 0]);
    let null = c"/dev/null".as_ptr() as u64;
    if setup_call(libc::SYS_openat, [at_fdcwd, null, rdwr, 0, 0, 0]) != FD_NULL as i64 {
        return Err("open /dev/null did not give fd 3");
    }
    for fd in 0..3u64 {
        if setup_call(libc::SYS_dup3, [FD_NULL, fd, 0, 0, 0, 0]) != fd as i64 {
            return Err("dup3 /dev/null");
        }
    }
    let zero = c"/dev/zero".as_ptr() as u64;
    if setup_call(libc::SYS_openat, [at_fdcwd, zero, rdwr, 0, 0, 0]) != FD_ZERO as i64 {
        return Err("open /dev/zero did not give fd 4");
    }
    let id = u64::from(NOBODY);
    if setup_call(libc::SYS_setgroups, [0; 6]) != 0 {
        return Err("setgroups");
    }
    if setup_call(libc::SYS_setresgid, [id, id, id, 0, 0, 0]) != 0 {
        return Err("setresgid");
    }
    if setup_call(libc::SYS_setresuid, [id, id, id, 0, 0, 0]) != 0 {
        return Err("setresuid");
    }
    for nr in [libc::SYS_getuid, libc::SYS_geteuid, libc::SYS_getegid] {
        if setup_call(nr, [0; 6]) != id as i64 {
            return Err("ids not dropped");
        }
    }
    // After the id change (which clears it).
    let pdeath = [
        libc::PR_SET_PDEATHSIG as u64,
        libc::SIGKILL as u64,
        0,
        0,
        0,
        0,
    ];
    if setup_call(libc::SYS_prctl, pdeath) != 0 {
        return Err("PR_SET_PDEATHSIG");
    }
    if setup_call(libc::SYS_getppid, [0; 6]) != i64::from(parent) {
        return Err("parent gone");
    }
    let nnp_args = [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0];
    if nnp && setup_call(libc::SYS_prctl, nnp_args) != 0 {
        return Err("PR_SET_NO_NEW_PRIVS");
    }
    // alarm(5), as setitimer (arm64 has no alarm syscall).
    let itv: [i64; 4] = [0, 0, 5, 0];
    let timer = [libc::ITIMER_REAL as u64, itv.as_ptr() as u64, 0, 0, 0, 0];
    if setup_call(libc::SYS_setitimer, timer) != 0 {
        return Err("setitimer");
    }
    Ok(())
}

/// Makes `steps` in order. Between the calls it makes no syscall and does
/// not allocate (its layers may forbid both); failures are formatted into
/// the shared page. Returns only to wait for the test process's SIGKILL.
fn worker_run(steps: &[Step], sh: &Shared) -> Result<(), ()> {
    let mut w = MsgWriter { s: sh, len: 0 };
    for (k, st) in steps.iter().enumerate() {
        sh.step.store(k as u64, Ordering::SeqCst);
        for wr in &st.writes {
            match wr {
                // Soundness: the test process placed every write inside an RW
                // region of the arena (`Arena::writable_extent`), which this
                // process owns (a private copy after fork) and which no
                // Rust reference points into.
                // SAFETY: as argued just above.
                Wr::Bytes(at, b) => unsafe {
                    std::ptr::copy_nonoverlapping(b.as_ptr(), *at as *mut u8, b.len());
                },
                // SAFETY: as above.
                Wr::Fill(at, n, v) => unsafe {
                    std::ptr::write_bytes(*at as *mut u8, *v, *n);
                },
            }
        }
        // SAFETY: the call is from the allow-list (or a strbox prctl, or
        // exit_group); its pointers point into the arena or at unmapped
        // memory (see `gen_random_call`, `place_set`, `place_get`).
        let r = unsafe { raw_syscall(st.nr, &st.args) };
        if let Some(slot) = sh.results.get(k) {
            slot.store(r, Ordering::Relaxed);
        }
        let ok = match st.expect {
            Expect::Ret(v) => r == v,
            Expect::Either(a, b) => r == a || r == b,
            Expect::Any => true,
            Expect::Killed | Expect::Exits => false,
        };
        if !ok {
            let _ = write!(
                w,
                "step {k}: {:?} {} (input/call {}) returned {r}, expected {:?} (verdict {:?})",
                st.kind, st.name, st.input, st.expect, st.verdict
            );
            sh.msg_len.store(w.len as u32, Ordering::Release);
            return Err(());
        }
        for c in &st.checks {
            // SAFETY: checks are made only of writable arena memory that
            // the call returned successfully with (see `place_set`).
            let got = unsafe { std::slice::from_raw_parts(c.addr as *const u8, c.want.len()) };
            if got != c.want.as_slice() {
                let at = got
                    .iter()
                    .zip(&c.want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                let _ = write!(
                    w,
                    "step {k}: {:?} (input {}) returned {r}, but {} differs at byte {at}: {:?} instead of {:?}",
                    st.kind,
                    st.input,
                    c.what,
                    &got[at..(at + 16).min(got.len())],
                    &c.want[at..(at + 16).min(c.want.len())]
                );
                sh.msg_len.store(w.len as u32, Ordering::Release);
                return Err(());
            }
        }
    }
    sh.step.store(steps.len() as u64, Ordering::SeqCst);
    Ok(())
}

/// What a worker gets: its batch, the shared page, the test process's pid.
struct WorkerArgs<'a> {
    batch: &'a Batch,
    sh: &'a Shared,
    parent: libc::pid_t,
}

/// The worker's entry point on its own stack (see [`spawn_worker`]).
extern "C" fn worker_entry(arg: *mut libc::c_void) -> libc::c_int {
    // Soundness: `arg` is the `WorkerArgs` that `run_batch` passed to
    // `spawn_worker`; it and everything it points to stay alive and
    // unchanged until this worker is dead (`Worker::drop` kills and reaps
    // it before `run_batch` returns).
    // SAFETY: as argued just above.
    let a = unsafe { &*arg.cast::<WorkerArgs>() };
    worker_main(a.batch, a.sh, a.parent)
}

fn worker_main(b: &Batch, sh: &Shared, parent: libc::pid_t) -> ! {
    if let Err(e) = worker_setup(b.nnp, parent) {
        let mut w = MsgWriter { s: sh, len: 0 };
        let _ = write!(w, "worker setup: {e}");
        sh.msg_len.store(w.len as u32, Ordering::Release);
        sh.state.store(FAILED, Ordering::SeqCst);
        // No layers yet: a plain exit (exit_group never returns).
        setup_call(libc::SYS_exit_group, [1, 0, 0, 0, 0, 0]);
    }
    let state = match worker_run(&b.steps, sh) {
        Ok(()) => DONE,
        Err(()) => FAILED,
    };
    sh.state.store(state, Ordering::SeqCst);
    // Wait for the SIGKILL (no syscall: the layers may forbid them all).
    loop {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------
// The test process

#[derive(Default)]
pub(super) struct Stats {
    pub(super) tried: usize,
    pub(super) accepted: usize,
    pub(super) rejected: std::collections::BTreeMap<i64, usize>,
    pub(super) denied: usize,
    pub(super) kill_probes: usize,
    pub(super) by_origin: std::collections::BTreeMap<&'static str, (usize, usize)>,
    pub(super) gets: std::collections::BTreeMap<String, usize>,
    pub(super) len_checks: usize,
    pub(super) random: usize,
    pub(super) random_errno: usize,
    pub(super) random_killed: usize,
    pub(super) workers: usize,
    pub(super) exits: usize,
    pub(super) parent_kills: usize,
    pub(super) alarms: usize,
    pub(super) max_layers: usize,
    pub(super) no_nnp_workers: usize,
    pub(super) steps: usize,
    pub(super) alarm_skipped: Vec<usize>,
    pub(super) ended: std::collections::BTreeMap<&'static str, usize>,
}

pub(super) fn errno_name(arch: &Arch, r: i64) -> String {
    if r >= 0 {
        return "ok".into();
    }
    arch.errno_name(-r)
        .map_or_else(|| format!("errno {}", -r), str::to_string)
}

/// Forks a worker for `b`, waits for its end and checks it.
/// The workers' stack (one at a time runs on it).
const WORKER_STACK: usize = 256 * 1024;

/// A mapping for the workers' stack.
pub(super) struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    pub(super) fn new() -> Result<Stack, String> {
        // SAFETY: a fresh anonymous private mapping, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                WORKER_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("mmap stack: {}", std::io::Error::last_os_error()));
        }
        Ok(Stack { base })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no worker is alive any more.
        unsafe { libc::munmap(self.base, WORKER_STACK) };
    }
}

/// A live worker: killed and reaped when dropped, so that it never
/// outlives the batch, the stack and the arguments it uses.
struct Worker {
    pid: libc::pid_t,
    status: Option<i32>,
}

impl Worker {
    /// Waits without blocking: the wait status once it has ended.
    fn poll(&mut self) -> Result<Option<i32>, String> {
        if self.status.is_none() {
            let mut st = 0;
            // SAFETY: `st` is a valid out pointer; `pid` is our child.
            let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG | libc::__WALL) };
            if r == self.pid {
                self.status = Some(st);
            } else if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
            }
        }
        Ok(self.status)
    }

    fn kill(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.kill();
            let mut st = 0;
            // SAFETY: blocking wait for our own child, which SIGKILL ends.
            while unsafe { libc::waitpid(self.pid, &mut st, libc::__WALL) } < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
}

/// Starts a worker for `args` on `stack`. It shares this process's memory
/// (`CLONE_VM`: no page tables to copy, no copy-on-write faults for the
/// test process afterwards) but has its own fds, credentials, signal
/// handlers and strbox layers; it makes raw syscalls only.
fn spawn_worker(stack: &Stack, args: &WorkerArgs) -> Result<Worker, String> {
    let top = (stack.base as usize + WORKER_STACK) & !15;
    // Soundness: the child runs `worker_entry` on `stack` (ours, unused by
    // anyone else while it lives) and shares our memory: it reads `args`
    // and the batch (kept alive and unchanged by the caller until the
    // returned `Worker` is dropped, which kills and reaps it), writes only
    // the arena and the shared page (raw pointers and atomics that this
    // process does not touch meanwhile), never allocates and never calls
    // into libc (no `errno`, no locks, no thread-local state).
    // SAFETY: as argued just above.
    let pid = unsafe {
        libc::clone(
            worker_entry,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::SIGCHLD,
            std::ptr::from_ref(args).cast_mut().cast(),
        )
    };
    if pid < 0 {
        return Err(format!("clone: {}", std::io::Error::last_os_error()));
    }
    Ok(Worker { pid, status: None })
}

pub(super) fn run_batch(
    ctx: &Ctx,
    b: &Batch,
    shm: &SharedMap,
    stack: &Stack,
    stats: &mut Stats,
) -> Result<usize, String> {
    shm.reset();
    let sh = shm.get();
    let args = WorkerArgs {
        batch: b,
        sh,
        // SAFETY: getpid has no arguments.
        parent: unsafe { libc::getpid() },
    };
    let mut worker = spawn_worker(stack, &args)?;
    stats.workers += 1;
    if !b.nnp {
        stats.no_nnp_workers += 1;
    }
    let mut killed_by_us = false;
    let status = loop {
        if let Some(st) = worker.poll()? {
            break st;
        }
        if sh.state.load(Ordering::SeqCst) != RUNNING && !killed_by_us {
            worker.kill();
            killed_by_us = true;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    drop(worker);
    let reached = sh.step.load(Ordering::SeqCst) as usize;
    let state = sh.state.load(Ordering::SeqCst);
    let where_ = |k: usize| -> String {
        match b.steps.get(k) {
            Some(st) => {
                let what = match st.kind {
                    StepKind::Random | StepKind::Exit => format!(
                        "{} nr {:#x} args {:x?} (verdict {:?})",
                        st.name, st.nr, st.args, st.verdict
                    ),
                    _ => describe_input(ctx, st.input),
                };
                format!(
                    "seed {:#x}, worker for inputs {}..{} ({} layers), step {k} {:?}: {what}",
                    ctx.seed, b.first, b.end, b.layers, st.kind
                )
            }
            None => format!(
                "seed {:#x}, worker for inputs {}..{}, after its last step",
                ctx.seed, b.first, b.end
            ),
        }
    };
    let sig = libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status));
    if state == FAILED {
        return Err(format!("{}: {}", where_(reached), shm.message()));
    }
    // How the worker ended must be how the model said it would.
    let last = b.steps.get(reached);
    let completed = if sig == Some(libc::SIGALRM) {
        // alarm(5) bounds a worker; it is not a verdict on anything.
        stats.alarms += 1;
        reached
    } else if state == DONE {
        if !(killed_by_us && sig == Some(libc::SIGKILL)) {
            return Err(format!(
                "{}: worker done but ended with {}",
                where_(reached),
                describe_status(status)
            ));
        }
        stats.parent_kills += 1;
        reached
    } else {
        match (last.map(|s| s.expect), sig) {
            (Some(Expect::Killed), Some(libc::SIGKILL)) => {
                if let Some(st) = last {
                    if st.kind == StepKind::Random {
                        stats.random_killed += 1;
                    } else {
                        stats.kill_probes += 1;
                    }
                }
                reached
            }
            (Some(Expect::Exits), None)
                if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 =>
            {
                stats.exits += 1;
                reached
            }
            _ => {
                return Err(format!(
                    "{}: worker ended with {} (verdict {:?}, expected {:?})",
                    where_(reached),
                    describe_status(status),
                    last.map(|s| s.verdict),
                    last.map(|s| s.expect)
                ))
            }
        }
    };
    // Statistics over the steps that completed.
    let mut next_input = b.end;
    let mut set_done = std::collections::BTreeSet::new();
    for (k, st) in b.steps.iter().enumerate().take(completed) {
        let r = sh.results[k].load(Ordering::Relaxed);
        match st.kind {
            StepKind::Set => {
                set_done.insert(st.input);
                stats.tried += 1;
                let origin = b
                    .inputs
                    .iter()
                    .find(|x| x.index == st.input)
                    .map_or("?", |x| x.origin.name());
                let e = stats.by_origin.entry(origin).or_default();
                e.0 += 1;
                if r == 0 {
                    stats.accepted += 1;
                    e.1 += 1;
                } else {
                    *stats.rejected.entry(r).or_default() += 1;
                }
            }
            StepKind::LenCheck => stats.len_checks += 1,
            StepKind::Get => {
                let key = if matches!(st.verdict, Verdict::Errno(_)) {
                    "denied by a layer".to_string()
                } else if r >= 0 {
                    "ok".to_string()
                } else {
                    errno_name(ctx.arch, r)
                };
                *stats.gets.entry(key).or_default() += 1;
            }
            StepKind::Denied => stats.denied += 1,
            StepKind::Random => {
                stats.random += 1;
                if matches!(st.verdict, Verdict::Errno(_)) {
                    stats.random_errno += 1;
                }
            }
            StepKind::KillProbe | StepKind::Exit => {}
        }
    }
    if completed < b.steps.len() && sig == Some(libc::SIGALRM) {
        // Inputs whose SET did not complete go to the next worker.
        // An input whose SET did not complete in a worker of its own is
        // skipped (reported, not retried forever): the alarm is a bound on
        // time, not a verdict.
        if let Some(first_missing) = (b.first..b.end).find(|i| !set_done.contains(i)) {
            next_input = first_missing;
            if first_missing == b.first {
                stats.alarm_skipped.push(first_missing);
                next_input += 1;
            }
        }
    }
    stats.max_layers = stats.max_layers.max(b.layers);
    Ok(next_input)
}
