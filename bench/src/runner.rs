//! The guest side of the benchmark (`mode=bench` in /etc/strbox-run).
//!
//! A scenario is a policy (none, A, B, B x 16) and a mechanism (no
//! filter, strbox, seccomp-bpf). Every scenario runs in its own forked
//! child (filters are irreversible), pinned to the last CPU, which sets
//! no_new_privs, installs its filter(s) and then loops on the probe
//! syscalls with `clock_gettime(CLOCK_MONOTONIC)` around each slice of
//! calls. The parent checks each probe's last result against what the
//! policy says (allowed: a real result; denied: `EPERM`).
//!
//! QEMU's vCPU threads share two host cores with other work, so the
//! speed of the guest drifts by a factor of two over seconds. To make the
//! drift hit every scenario alike, all scenarios of a *ring* are alive at
//! once and take turns, slice by slice: member `k` reads a token from fd 0
//! (a pipe), runs one slice of each probe, writes the token to fd 1 (the
//! next member's pipe). Results go to memory shared with the parent, so
//! the filtered children need no syscall beyond the probes, `read(0)`,
//! `write(1)`, `clock_gettime` and `exit_group`. Rings:
//!
//! * module not loaded: no filter; seccomp (tree, linear, interpreter);
//! * module loaded, nobody strbox-filtered: no filter (the probe's fast
//!   path);
//! * module loaded: strbox, seccomp and no filter together (while strbox
//!   tasks exist, every task's syscalls look the task up).
//!
//! Phases: the unloaded ring `reps` times; load the module; the two
//! loaded rings `reps` times each, alternating; unload; the unloaded ring
//! `reps` times again (its samples join the first phase's, so a drift over
//! the whole run does not favour either side).
//!
//! Output: KTAP lines for the steps (read by xtask's `results::parse`),
//! the table as `@@b ` lines, and one `@@bench <scenario> <mechanism>
//! <ns>` line per row.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use strbox_filter::{Program, Verdict};
use strbox_uapi::tables::{Arch, NATIVE};

use super::bpf::{self, Insn};
use super::policy::{self, Layout, Policy};

/// Default loop length per probe and run.
pub const DEFAULT_ITERS: u64 = 20_000;
/// Default (and minimum) rounds per phase.
pub const DEFAULT_REPS: usize = 5;

/// What a child installs before it runs its body.
#[derive(Clone, Copy)]
pub enum Filter<'a> {
    /// Nothing.
    None,
    /// `layers` strbox layers of this policy text.
    Strbox { text: &'a [u8], layers: usize },
    /// `layers` seccomp filters of this program.
    Seccomp { prog: &'a [Insn], layers: usize },
}

/// Writes all of `b` to fd 1 (the pipe to the parent). Allocates nothing
/// and makes only `write(1, ...)` calls, which every benchmark policy
/// allows.
pub fn emit(b: &[u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: the pointer and length describe the live slice `b[off..]`.
        let r = unsafe { libc::write(1, b[off..].as_ptr().cast(), b.len() - off) };
        if r <= 0 {
            return;
        }
        off += r as usize;
    }
}

/// `msg` and `n` in decimal, without allocating (the child may be
/// filtered so that `brk`/`mmap` fail).
fn emit_err(msg: &str, n: i64) {
    let mut digits = [0u8; 24];
    let mut i = digits.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        digits[i] = b'-';
    }
    emit(msg.as_bytes());
    emit(&digits[i..]);
}

/// Sets no_new_privs (if there is a filter) and installs `f`; on failure
/// the layer that failed (0 for no_new_privs) and the errno. Allocates
/// nothing once a layer is installed.
fn install(f: Filter) -> Result<(), (usize, i32)> {
    if matches!(f, Filter::None) {
        return Ok(());
    }
    // SAFETY: plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err((0, strbox::sys::errno()));
    }
    match f {
        Filter::None => {}
        Filter::Strbox { text, layers } => {
            for i in 0..layers {
                strbox::install(text).map_err(|e| (i + 1, e.errno))?;
            }
        }
        Filter::Seccomp { prog, layers } => {
            for i in 0..layers {
                bpf::install(prog).map_err(|e| (i + 1, e))?;
            }
        }
    }
    Ok(())
}

fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    })
}

/// Forks a child with fd 0 = /dev/null, fd 1 = a pipe to the parent,
/// pinned to `cpu` if given, with `filter` installed (and no_new_privs
/// set if there is a filter); the child runs `body`, which reports
/// through [`emit`] and must not allocate, then exits. Returns what the
/// child wrote, or why it failed.
pub fn in_filtered_child(
    filter: Filter,
    cpu: Option<usize>,
    body: impl FnOnce(),
) -> Result<Vec<u8>, String> {
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    let (mut rd, wr) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let _ = io::stdout().flush();
    // SAFETY: the caller is single-threaded (the guest harness and the
    // benchmark never start threads before forking).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: in the child: put the pipe and /dev/null on fds 1 and 0
        // (dup2 clears O_CLOEXEC on the copies), pin the CPU; all
        // arguments are fds we own or a valid cpu_set_t.
        unsafe {
            libc::dup2(devnull.as_raw_fd(), 0);
            libc::dup2(wr.as_raw_fd(), 1);
            if let Some(c) = cpu {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(c, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
        drop(rd);
        drop(wr);
        drop(devnull);
        if let Err((layer, errno)) = install(filter) {
            emit_err("install failed at layer ", layer as i64);
            emit_err(", errno ", i64::from(errno));
            // SAFETY: leave the child at once.
            unsafe { libc::_exit(2) };
        }
        body();
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    let mut out = Vec::new();
    let read = rd.read_to_end(&mut out);
    let status = crate::guest_util::wait_pid(pid)?;
    read.map_err(|e| format!("reading the child's pipe: {e}"))?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        return Ok(out);
    }
    Err(format!(
        "child ended with {}: {}",
        crate::guest_util::describe_status(status),
        String::from_utf8_lossy(&out)
    ))
}

// ------------------------------------------------------------ probes

/// The syscalls the benchmark loops on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Probe {
    /// `getppid()`: allowed outright (strbox's bitmap, seccomp's cache).
    Getppid,
    /// `read(0, buf, 0)`: allowed by an argument rule (`fd == 0`).
    Read0,
    /// `fcntl(0, F_GETFD)`: allowed by the third of four `cmd ==` tests.
    Fcntl,
    /// `getsid(0)`: not in the policy: denied with EPERM.
    Getsid,
    /// `openat(AT_FDCWD, "/dev/null", O_RDONLY)` and `close()` of the fd:
    /// what an unfiltered task pays for the `file_open` event hook
    /// (baseline scenarios only).
    Open,
}

impl Probe {
    /// Short name for the table.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Getppid => "getppid",
            Probe::Read0 => "read(0,,0)",
            Probe::Fcntl => "fcntl(GETFD)",
            Probe::Getsid => "getsid",
            Probe::Open => "open+close",
        }
    }

    /// Name in `@@bench` lines.
    fn key(self) -> &'static str {
        match self {
            Probe::Getppid => "getppid",
            Probe::Read0 => "read",
            Probe::Fcntl => "fcntl",
            Probe::Getsid => "getsid",
            Probe::Open => "open",
        }
    }

    /// (number, first three arguments).
    fn call(self, buf: u64) -> (libc::c_long, [u64; 3]) {
        match self {
            Probe::Getppid => (libc::SYS_getppid, [0; 3]),
            Probe::Read0 => (libc::SYS_read, [0, buf, 0]),
            Probe::Fcntl => (libc::SYS_fcntl, [0, libc::F_GETFD as u64, 0]),
            Probe::Getsid => (libc::SYS_getsid, [0; 3]),
            Probe::Open => (
                libc::SYS_openat,
                [
                    libc::AT_FDCWD as u64,
                    c"/dev/null".as_ptr() as u64,
                    libc::O_RDONLY as u64,
                ],
            ),
        }
    }
}

const ALL_PROBES: &[Probe] = &[Probe::Getppid, Probe::Read0, Probe::Fcntl, Probe::Getsid];
const BASELINE_PROBES: &[Probe] = &[
    Probe::Getppid,
    Probe::Read0,
    Probe::Fcntl,
    Probe::Getsid,
    Probe::Open,
];
/// The most probes of one scenario (the size of a [`Slot`]'s arrays).
const MAX_PROBES: usize = 5;
const INGO_PROBES: &[Probe] = &[Probe::Getppid, Probe::Read0, Probe::Getsid];

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `n` calls of one syscall (an `openat` is followed by `close` of its
/// fd); the last result and errno.
#[inline(never)]
fn spin(nr: libc::c_long, a: [u64; 3], n: u64) -> (libc::c_long, i32) {
    let mut r = 0;
    for _ in 0..n {
        // SAFETY: the probes' arguments are integers, the address of a
        // live buffer with a length of 0, or of a NUL-terminated path.
        r = unsafe {
            libc::syscall(
                nr,
                a[0] as libc::c_long,
                a[1] as libc::c_long,
                a[2] as libc::c_long,
            )
        };
        if nr == libc::SYS_openat && r >= 0 {
            // SAFETY: closes the fd the openat just returned.
            unsafe { libc::close(r as libc::c_int) };
        }
    }
    let e = if r < 0 { strbox::sys::errno() } else { 0 };
    (r, e)
}

// ------------------------------------------------------------ the ring

/// Timed slices per probe, child and run.
pub const SLICES: usize = 10;

/// Calls per slice.
fn slice_len(iters: u64) -> u64 {
    (iters / SLICES as u64).max(1)
}

/// What one ring member reports, in memory shared with the parent (the
/// child makes no syscall to report, so no policy has to allow one).
#[repr(C)]
struct Slot {
    /// 0: installing; 1: installed; 2: install failed.
    ready: AtomicU32,
    fail_layer: AtomicU32,
    fail_errno: AtomicI32,
    /// ns per slice, per probe.
    times: [[u64; SLICES]; MAX_PROBES],
    /// Per probe: the last call's return value and errno.
    ret: [i64; MAX_PROBES],
    err: [i32; MAX_PROBES],
}

/// A copy of a [`Slot`] read by the parent.
struct Report {
    ready: u32,
    fail_layer: u32,
    fail_errno: i32,
    times: [[u64; SLICES]; MAX_PROBES],
    ret: [i64; MAX_PROBES],
    err: [i32; MAX_PROBES],
}

/// `n` [`Slot`]s in a shared anonymous mapping (inherited by `fork`).
struct Shm {
    p: *mut Slot,
    n: usize,
}

impl Shm {
    fn new(n: usize) -> Result<Shm, String> {
        let len = n.max(1) * std::mem::size_of::<Slot>();
        // SAFETY: a fresh anonymous shared mapping; no existing memory is
        // touched. Zero-filled, which is a valid `Slot` (integers and
        // atomics only).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", io::Error::last_os_error()));
        }
        Ok(Shm {
            p: p.cast(),
            n: n.max(1),
        })
    }

    fn slot(&self, i: usize) -> *mut Slot {
        assert!(i < self.n);
        // SAFETY: `i < n`: inside the mapping.
        unsafe { self.p.add(i) }
    }

    /// Reads slot `i` after its writer has exited.
    fn read(&self, i: usize) -> Report {
        let s = self.slot(i);
        // SAFETY: `s` points into the live mapping; the child that wrote
        // it has been reaped (waitpid orders its writes before these
        // reads); volatile because the writes came from another process.
        unsafe {
            Report {
                ready: (*s).ready.load(Ordering::Acquire),
                fail_layer: (*s).fail_layer.load(Ordering::Relaxed),
                fail_errno: (*s).fail_errno.load(Ordering::Relaxed),
                times: std::ptr::read_volatile(&raw const (*s).times),
                ret: std::ptr::read_volatile(&raw const (*s).ret),
                err: std::ptr::read_volatile(&raw const (*s).err),
            }
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no references into it outlive `self`.
        unsafe { libc::munmap(self.p.cast(), self.n * std::mem::size_of::<Slot>()) };
    }
}

/// Ring member `k` of `n` (runs in the forked child, never returns):
/// fd 0 = pipe `k` (the token in), fd 1 = pipe `k+1` (the token out);
/// installs the filter, then per turn takes the token, runs one slice of
/// every probe (turn 0 warms up), passes the token on.
fn ring_member(
    k: usize,
    pipes: &[(RawFd, RawFd)],
    cpu: Option<usize>,
    filter: Filter,
    probes: &[Probe],
    slice: u64,
    slot: *mut Slot,
) -> ! {
    let n = pipes.len();
    // SAFETY: dup2/close on the ring's pipe fds, which this process owns;
    // a valid cpu_set_t for sched_setaffinity; SIG_IGN needs no handler.
    unsafe {
        libc::dup2(pipes[k].0, 0);
        libc::dup2(pipes[(k + 1) % n].1, 1);
        for &(r, w) in pipes {
            libc::close(r);
            libc::close(w);
        }
        if let Some(c) = cpu {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(c, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        // A write to a ring whose reader is gone fails, never kills.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // `slot` is this member's own slot in the shared mapping: no other
    // process writes it, the parent reads it only after reaping us.
    let ready = match install(filter) {
        Ok(()) => 1,
        Err((layer, errno)) => {
            // SAFETY: `slot` is valid (see above); atomic stores.
            unsafe {
                (*slot).fail_layer.store(layer as u32, Ordering::Relaxed);
                (*slot).fail_errno.store(errno, Ordering::Relaxed);
            }
            2
        }
    };
    // SAFETY: as above.
    unsafe { (*slot).ready.store(ready, Ordering::Release) };
    let mut buf = [0u8; 64];
    let addr = buf.as_mut_ptr() as u64;
    let mut tok = [0u8; 1];
    for turn in 0..=SLICES {
        // SAFETY: one byte into/out of `tok`; fds 0/1 are the ring pipes.
        if unsafe { libc::read(0, tok.as_mut_ptr().cast(), 1) } != 1 {
            // SAFETY: the ring is broken (a member died): leave.
            unsafe { libc::_exit(3) };
        }
        for (i, p) in probes.iter().enumerate() {
            let (nr, a) = p.call(addr);
            let t0 = now_ns();
            let (r, e) = spin(nr, a, slice);
            let dt = now_ns() - t0;
            if turn > 0 {
                // SAFETY: our own slot (see above); `i < MAX_PROBES`, `turn <= SLICES`.
                unsafe {
                    (*slot).times[i][turn - 1] = dt;
                    (*slot).ret[i] = r;
                    (*slot).err[i] = e;
                }
            }
        }
        // SAFETY: as the read above.
        // (After the last turn the first member may be gone: EPIPE.)
        if unsafe { libc::write(1, tok.as_ptr().cast(), 1) } != 1 && turn < SLICES {
            // SAFETY: the ring is broken: leave.
            unsafe { libc::_exit(4) };
        }
    }
    // SAFETY: leave without running the parent's exit handlers.
    unsafe { libc::_exit(0) }
}

/// Children of one ring; killed and reaped if the ring is abandoned.
struct Members(Vec<(libc::pid_t, Option<i32>)>);

impl Drop for Members {
    fn drop(&mut self) {
        for (pid, st) in &self.0 {
            if st.is_none() {
                // SAFETY: our own unreaped child: kill, then reap it.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
                let _ = crate::guest_util::wait_pid(*pid);
            }
        }
    }
}

/// How long a ring may take before it is declared hung.
const RING_DEADLINE: Duration = Duration::from_secs(900);

/// One run of a ring: forks every member (each installs its filter),
/// starts the token, waits for all, checks what they report. Returns
/// per member and probe the ns/call of each slice.
fn run_ring(
    pols: &Policies,
    scs: &[Scenario],
    members: &[usize],
    iters: u64,
) -> Result<Vec<Vec<Vec<f64>>>, String> {
    let n = members.len();
    let slice = slice_len(iters);
    let cpu = online_cpus().checked_sub(1);
    let shm = Shm::new(n)?;
    let files = (0..n)
        .map(|_| pipe())
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| format!("pipe: {e}"))?;
    let raw: Vec<(RawFd, RawFd)> = files
        .iter()
        .map(|(r, w)| (r.as_raw_fd(), w.as_raw_fd()))
        .collect();
    let mut kids = Members(Vec::new());
    for (k, &i) in members.iter().enumerate() {
        let sc = &scs[i];
        // The filter is compiled (JIT or not) when the child installs it.
        let jit_off = match sc.mech {
            Mech::SeccompInterp => Some(JitOff::new()?),
            _ => None,
        };
        let _ = io::stdout().flush();
        // SAFETY: the benchmark (PID 1) is single-threaded.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            ring_member(
                k,
                &raw,
                cpu,
                pols.filter(sc),
                sc.pol.probes(),
                slice,
                shm.slot(k),
            );
        }
        kids.0.push((pid, None));
        let t0 = Instant::now();
        // SAFETY: the member's slot in the live mapping; an atomic load.
        while unsafe { (*shm.slot(k)).ready.load(Ordering::Acquire) } == 0 {
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(format!("{}: filter install hangs", sc.label()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(jit_off);
    }
    let (_, first_w) = &files[0];
    (&*first_w)
        .write_all(b"t")
        .map_err(|e| format!("starting the ring: {e}"))?;
    drop(files);
    let t0 = Instant::now();
    while kids.0.iter().any(|(_, st)| st.is_none()) {
        for (pid, st) in kids.0.iter_mut().filter(|(_, st)| st.is_none()) {
            let mut status = 0;
            // SAFETY: our own child; `status` is a valid out pointer.
            if unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) } == *pid {
                *st = Some(status);
            }
        }
        if t0.elapsed() > RING_DEADLINE {
            return Err(format!("ring hung for {}s", RING_DEADLINE.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = Vec::new();
    for (k, &i) in members.iter().enumerate() {
        let sc = &scs[i];
        let Report {
            ready,
            fail_layer,
            fail_errno,
            times,
            ret,
            err,
        } = shm.read(k);
        if ready != 1 {
            return Err(format!(
                "{}: install failed at layer {fail_layer}: {}",
                sc.label(),
                io::Error::from_raw_os_error(fail_errno)
            ));
        }
        let status = kids.0[k].1.unwrap_or(-1);
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            return Err(format!(
                "{}: member ended with {}",
                sc.label(),
                crate::guest_util::describe_status(status)
            ));
        }
        let mut per_probe = Vec::new();
        for (j, &p) in sc.pol.probes().iter().enumerate() {
            let want = pols.allows(sc.pol, p);
            let ok = if want {
                ret[j] >= 0
            } else {
                ret[j] == -1 && err[j] == libc::EPERM
            };
            if !ok {
                return Err(format!(
                    "{} {}: returned {} errno {}, expected {}",
                    sc.label(),
                    p.name(),
                    ret[j],
                    err[j],
                    if want { "success" } else { "EPERM" }
                ));
            }
            per_probe.push(times[j].iter().map(|&t| t as f64 / slice as f64).collect());
        }
        out.push(per_probe);
    }
    Ok(out)
}

// --------------------------------------------------------- scenarios

/// Which policy a scenario runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pol {
    None,
    Ingo,
    Allow,
    Allow16,
}

impl Pol {
    fn name(self) -> &'static str {
        match self {
            Pol::None => "baseline",
            Pol::Ingo => "A:ingo",
            Pol::Allow => "B:allow300",
            Pol::Allow16 => "B:allow300x16",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Pol::None => "baseline",
            Pol::Ingo => "ingo",
            Pol::Allow => "allow300",
            Pol::Allow16 => "allow300x16",
        }
    }
    fn layers(self) -> usize {
        if self == Pol::Allow16 {
            16
        } else {
            1
        }
    }
    fn probes(self) -> &'static [Probe] {
        match self {
            Pol::Ingo => INGO_PROBES,
            Pol::None => BASELINE_PROBES,
            Pol::Allow | Pol::Allow16 => ALL_PROBES,
        }
    }
}

/// How a scenario filters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mech {
    None,
    Strbox,
    Seccomp(Layout),
    /// The tree filter installed while the BPF JIT is switched off
    /// (`net.core.bpf_jit_enable = 0`): seccomp's interpreter.
    SeccompInterp,
}

/// Which ring a scenario runs in (the members of a ring run together).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ring {
    /// Module not loaded.
    Unloaded,
    /// Module loaded, no strbox-filtered task anywhere.
    LoadedIdle,
    /// Module loaded, strbox-filtered tasks alive (the ring's own).
    Loaded,
    /// Module loaded, and [`CROWD`] more filtered tasks asleep besides the
    /// ring's own: the per-task chain lookup under load.
    Crowded,
}

/// Filtered sleeping tasks of the `Crowded` ring.
const CROWD: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Scenario {
    pol: Pol,
    mech: Mech,
    ring: Ring,
}

impl Scenario {
    fn mech_name(&self) -> &'static str {
        match (self.mech, self.ring) {
            (Mech::None, Ring::Unloaded) => "none",
            (Mech::None, Ring::LoadedIdle) => "none+mod",
            (Mech::None, Ring::Loaded) => "none+mod*",
            (Mech::None, Ring::Crowded) => "none+mod*10k",
            (Mech::Strbox, Ring::Crowded) => "strbox+10k",
            (Mech::Strbox, _) => "strbox",
            (Mech::Seccomp(Layout::Tree), Ring::Unloaded) => "seccomp",
            (Mech::Seccomp(Layout::Tree), _) => "seccomp+mod*",
            (Mech::Seccomp(Layout::Linear), Ring::Unloaded) => "seccomp-linear",
            (Mech::Seccomp(Layout::Linear), _) => "seccomp-linear+mod*",
            (Mech::SeccompInterp, Ring::Unloaded) => "seccomp-interp",
            (Mech::SeccompInterp, _) => "seccomp-interp+mod*",
        }
    }
    fn label(&self) -> String {
        format!("{} {}", self.pol.name(), self.mech_name())
    }
}

/// The BPF JIT switch, if this kernel has a JIT that can be turned off.
const JIT_SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";

/// Only in the benchmark VM (as its PID 1): never touch a host's sysctl.
fn jit_switchable() -> bool {
    if std::process::id() != 1 {
        return false;
    }
    match std::fs::read_to_string(JIT_SYSCTL) {
        Ok(v) if v.trim() != "0" => std::fs::write(JIT_SYSCTL, v.trim()).is_ok(),
        _ => false,
    }
}

/// Sets `net.core.bpf_jit_enable` to 0 while it lives.
struct JitOff(String);

impl JitOff {
    fn new() -> Result<JitOff, String> {
        let old = std::fs::read_to_string(JIT_SYSCTL).map_err(|e| format!("{JIT_SYSCTL}: {e}"))?;
        std::fs::write(JIT_SYSCTL, "0").map_err(|e| format!("{JIT_SYSCTL}: {e}"))?;
        Ok(JitOff(old.trim().to_string()))
    }
}

impl Drop for JitOff {
    fn drop(&mut self) {
        let _ = std::fs::write(JIT_SYSCTL, &self.0);
    }
}

fn scenarios() -> Vec<Scenario> {
    use Mech::*;
    use Ring::*;
    let s = |pol, mech, ring| Scenario { pol, mech, ring };
    let mut v = vec![
        s(Pol::None, None, Unloaded),
        s(Pol::Ingo, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Allow, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Allow, Seccomp(Layout::Linear), Unloaded),
        s(Pol::Allow16, Seccomp(Layout::Tree), Unloaded),
        s(Pol::None, None, LoadedIdle),
        s(Pol::None, None, Loaded),
        s(Pol::Ingo, Strbox, Loaded),
        s(Pol::Allow, Strbox, Loaded),
        s(Pol::Allow16, Strbox, Loaded),
        s(Pol::Ingo, Seccomp(Layout::Tree), Loaded),
        s(Pol::Allow, Seccomp(Layout::Tree), Loaded),
        s(Pol::Allow16, Seccomp(Layout::Tree), Loaded),
        s(Pol::None, None, Crowded),
        s(Pol::Ingo, Strbox, Crowded),
        s(Pol::Allow16, Strbox, Crowded),
    ];
    if jit_switchable() {
        for pol in [Pol::Ingo, Pol::Allow, Pol::Allow16] {
            v.push(s(pol, SeccompInterp, Unloaded));
        }
    }
    v
}

/// The benchmark's policies for the native arch, in both forms.
pub struct Policies {
    /// Strbox text of policy A.
    pub ingo: String,
    /// Strbox text of policy B.
    pub allow: String,
    /// Parsed A (for the expected verdicts and the BPF).
    pub ingo_p: Policy,
    /// Parsed B.
    pub allow_p: Policy,
    /// A as seccomp-bpf (tree).
    pub ingo_bpf: Vec<Insn>,
    /// B as seccomp-bpf (tree).
    pub allow_bpf: Vec<Insn>,
    /// B as seccomp-bpf (linear chain).
    pub allow_bpf_linear: Vec<Insn>,
    /// A and B compiled by strbox's engine (the expected verdicts).
    progs: [Box<Program>; 2],
}

impl Policies {
    /// Builds all of them for `arch`.
    pub fn new(arch: &'static Arch) -> Result<Policies, String> {
        let ingo = policy::ingo();
        let allow = policy::allowlist(arch);
        let ingo_p = Policy::parse(&ingo, arch)?;
        let allow_p = Policy::parse(&allow, arch)?;
        let compile = |t: &str| {
            strbox::policy::compile_policy(t.as_bytes(), arch).map_err(|e| format!("{e:?}"))
        };
        Ok(Policies {
            progs: [compile(&ingo)?, compile(&allow)?],
            ingo_bpf: ingo_p.to_bpf(Layout::Tree)?,
            allow_bpf: allow_p.to_bpf(Layout::Tree)?,
            allow_bpf_linear: allow_p.to_bpf(Layout::Linear)?,
            ingo,
            allow,
            ingo_p,
            allow_p,
        })
    }

    fn text(&self, pol: Pol) -> &str {
        match pol {
            Pol::None => "",
            Pol::Ingo => &self.ingo,
            Pol::Allow | Pol::Allow16 => &self.allow,
        }
    }

    fn bpf(&self, pol: Pol, layout: Layout) -> &[Insn] {
        match (pol, layout) {
            (Pol::None, _) => &[],
            (Pol::Ingo, _) => &self.ingo_bpf,
            (_, Layout::Tree) => &self.allow_bpf,
            (_, Layout::Linear) => &self.allow_bpf_linear,
        }
    }

    fn filter(&self, sc: &Scenario) -> Filter<'_> {
        let layers = sc.pol.layers();
        match sc.mech {
            Mech::None => Filter::None,
            Mech::Strbox => Filter::Strbox {
                text: self.text(sc.pol).as_bytes(),
                layers,
            },
            Mech::Seccomp(l) => Filter::Seccomp {
                prog: self.bpf(sc.pol, l),
                layers,
            },
            Mech::SeccompInterp => Filter::Seccomp {
                prog: self.bpf(sc.pol, Layout::Tree),
                layers,
            },
        }
    }

    /// Whether the policy lets the probe through, by strbox's own
    /// evaluator (the reference for both mechanisms).
    fn allows(&self, pol: Pol, p: Probe) -> bool {
        let prog = match pol {
            Pol::None => return true,
            Pol::Ingo => &self.progs[0],
            Pol::Allow | Pol::Allow16 => &self.progs[1],
        };
        let (nr, a) = p.call(0x1000);
        let args = [a[0], a[1], a[2], 0, 0, 0];
        prog.evaluate(nr as u32, &args) == Verdict::Allow
    }
}

/// `n` strbox-filtered tasks asleep in `read()`: the threads of one
/// process that installed an allow-everything layer (each thread has its
/// own entry in the module's task table).
struct Crowd {
    pid: libc::pid_t,
    /// Our end of the pipe the threads sleep on; closing it wakes them.
    wake: std::fs::File,
}

impl Crowd {
    fn spawn(n: usize) -> Result<Crowd, String> {
        // A 1 GiB guest's default threads-max is about 8,000.
        let _ = std::fs::write("/proc/sys/kernel/threads-max", format!("{}", 2 * n + 1000));
        let (sleep_r, sleep_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let (ready_r, ready_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        // Every syscall of the arch allowed: the threads only sleep.
        let mut policy = String::from("default errno EPERM\n");
        for sys in NATIVE.syscalls {
            if (sys.nr as usize) < strbox_filter::limits::MAX_NR {
                policy.push_str(sys.name);
                policy.push_str(": 1\n");
            }
        }
        let _ = io::stdout().flush();
        // SAFETY: the benchmark (PID 1) is single-threaded.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            drop(sleep_w);
            drop(ready_r);
            let code = match crowd_main(n, &policy, sleep_r, ready_w) {
                Ok(()) => 0,
                Err(e) => {
                    println!("# crowd: {e}");
                    1
                }
            };
            // SAFETY: leave the child without the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        drop(sleep_r);
        drop(ready_w);
        let mut b = [0u8; 1];
        let ready = (&ready_r).read(&mut b).map_err(|e| format!("crowd: {e}"))?;
        let crowd = Crowd { pid, wake: sleep_w };
        if ready != 1 {
            return Err(format!("crowd of {n} filtered threads failed to start"));
        }
        Ok(crowd)
    }

    /// Wakes the threads (their `read()` returns 0) and reaps the process.
    fn end(self) -> Result<(), String> {
        let Crowd { pid, wake } = self;
        drop(wake);
        let status = crate::guest_util::wait_pid(pid)?;
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else {
            Err(format!(
                "crowd: {}",
                crate::guest_util::describe_status(status)
            ))
        }
    }
}

fn crowd_main(
    n: usize,
    policy: &str,
    sleep_r: std::fs::File,
    ready_w: std::fs::File,
) -> Result<(), String> {
    strbox::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    strbox::install(policy.as_bytes()).map_err(|e| format!("install: errno {}", e.errno))?;
    let fd = sleep_r.as_raw_fd();
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let t = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut b = [0u8; 1];
                // SAFETY: one byte into a local buffer; EOF ends the sleep.
                unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
            })
            .map_err(|e| format!("thread {i}: {e}"))?;
        threads.push(t);
    }
    (&ready_w)
        .write_all(b"r")
        .map_err(|e| format!("ready: {e}"))?;
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Per scenario and probe, ns/call of every slice of every run.
type Samples = Vec<Vec<Vec<f64>>>;

/// `reps` runs of each of `rings`, alternating their order per round.
fn run_rounds(
    pols: &Policies,
    scs: &[Scenario],
    rings: &[Ring],
    cfg: &Config,
    samples: &mut Samples,
) -> Result<(), String> {
    let mut errors = Vec::new();
    for rep in 0..cfg.reps {
        for k in 0..rings.len() {
            let ring = rings[(k + rep) % rings.len()];
            let members: Vec<usize> = (0..scs.len()).filter(|&i| scs[i].ring == ring).collect();
            match run_ring(pols, scs, &members, cfg.iters) {
                Ok(v) => {
                    for (m, per_probe) in members.iter().zip(v) {
                        for (j, slices) in per_probe.into_iter().enumerate() {
                            samples[*m][j].extend(slices);
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        errors.dedup();
        Err(errors.join("; "))
    }
}

fn online_cpus() -> usize {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as usize
}

/// The benchmark's knobs (from /etc/strbox-run).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Calls per probe per run (in [`SLICES`] slices).
    pub iters: u64,
    /// Runs of every ring per phase (at least [`DEFAULT_REPS`]).
    pub reps: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            iters: DEFAULT_ITERS,
            reps: DEFAULT_REPS,
        }
    }
}

fn ktap(n: usize, name: &str, r: &Result<(), String>) {
    let line = match r {
        Ok(()) => format!("ok {n} {name}\n"),
        Err(e) if e.starts_with("skip:") => {
            format!(
                "ok {n} {name} # SKIP {}\n",
                e.trim_start_matches("skip:").trim()
            )
        }
        Err(e) => format!("not ok {n} {name} # {}\n", e.replace('\n', " ")),
    };
    let mut o = io::stdout().lock();
    let _ = o.write_all(line.as_bytes());
    let _ = o.flush();
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "n/a".into())
}

/// PID 1's bench mode: the unloaded phase, load the module, the loaded
/// phase, unload, the unloaded phase again, then the table. Steps are
/// reported as KTAP so xtask's result parser judges the run.
pub fn guest_main(cfg: Config) {
    let cfg = Config {
        iters: cfg.iters.max(1),
        reps: cfg.reps.max(DEFAULT_REPS),
    };
    println!("KTAP version 1");
    println!("1..5");
    let pols = match Policies::new(NATIVE) {
        Ok(p) => p,
        Err(e) => {
            for (n, name) in ["bench_unloaded", "module_load", "bench_loaded"]
                .iter()
                .enumerate()
            {
                ktap(n + 1, name, &Err(format!("policies: {e}")));
            }
            ktap(4, "module_unload", &Err("skip: not loaded".into()));
            ktap(5, "bench_unloaded_again", &Err("skip: no policies".into()));
            return;
        }
    };
    let scs = scenarios();
    let mut samples: Samples = scs
        .iter()
        .map(|s| vec![Vec::new(); s.pol.probes().len()])
        .collect();
    let t0 = Instant::now();
    let r = if strbox::abi_version().is_some() {
        Err("strbox is already loaded: no unloaded baseline".into())
    } else {
        run_rounds(&pols, &scs, &[Ring::Unloaded], &cfg, &mut samples)
    };
    ktap(1, "bench_unloaded", &r);
    let loaded = crate::guest_util::load_module().map_err(|e| format!("finit_module: {e}"));
    ktap(2, "module_load", &loaded);
    let r = match &loaded {
        Ok(()) => run_rounds(
            &pols,
            &scs,
            &[Ring::LoadedIdle, Ring::Loaded],
            &cfg,
            &mut samples,
        )
        .and_then(|()| {
            let crowd = Crowd::spawn(CROWD)?;
            let r = run_rounds(&pols, &scs, &[Ring::Crowded], &cfg, &mut samples);
            crowd.end().and(r)
        }),
        Err(_) => Err("skip: module not loaded".into()),
    };
    ktap(3, "bench_loaded", &r);
    let r = match &loaded {
        Ok(()) => crate::guest_util::unload_when_idle(),
        Err(_) => Err("skip: module not loaded".into()),
    };
    let unloaded = r.is_ok();
    ktap(4, "module_unload", &r);
    let r = if unloaded {
        run_rounds(&pols, &scs, &[Ring::Unloaded], &cfg, &mut samples)
    } else {
        Err("skip: module still loaded".into())
    };
    ktap(5, "bench_unloaded_again", &r);
    print_table(&scs, &samples, &cfg, &pols, t0.elapsed().as_secs_f64());
}

/// The `q` quantile (0..=1) of `v`, by linear interpolation.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let x = q * (s.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    let hi = s[(i + 1).min(s.len() - 1)];
    Some(s[i] + f * (hi - s[i]))
}

fn print_table(scs: &[Scenario], samples: &Samples, cfg: &Config, pols: &Policies, secs: f64) {
    let out = io::stdout();
    let mut o = out.lock();
    let stat = |pol: Pol, mech: &str, p: Probe, q: f64| -> Option<f64> {
        let i = scs
            .iter()
            .position(|s| s.pol == pol && s.mech_name() == mech)?;
        let j = scs[i].pol.probes().iter().position(|&x| x == p)?;
        quantile(&samples[i][j], q)
    };
    let uname = {
        // SAFETY: utsname is plain data (all-zero is valid); uname fills it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: valid out pointer.
        unsafe { libc::uname(&mut u) };
        let f = |s: &[libc::c_char]| {
            // SAFETY: the kernel NUL-terminates every utsname field.
            unsafe { std::ffi::CStr::from_ptr(s.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        };
        format!("{} {}", f(&u.machine), f(&u.release))
    };
    let mut w = |s: String| {
        let _ = writeln!(o, "@@b {s}");
    };
    w(String::new());
    w(format!(
        "strbox vs seccomp-bpf, ns per syscall: {uname}, {} CPUs, clocksource {}, bpf_jit_enable {}",
        online_cpus(),
        read_trim("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        read_trim(JIT_SYSCTL),
    ));
    w(format!(
        "{} calls per probe and run in {SLICES} slices; {} runs per ring and phase (module not loaded: 2 phases); {:.0} s",
        cfg.iters, cfg.reps, secs
    ));
    w(format!(
        "policy A = Ingo's 4 rules + 3 ({} syscalls, {} BPF insns); B = {} syscalls, {} with argument rules ({} BPF insns tree, {} linear)",
        pols.ingo_p.rules.len(),
        pols.ingo_bpf.len(),
        pols.allow_p.rules.len(),
        pols.allow_p
            .rules
            .keys()
            .filter(|&&nr| !pols.allow_p.unconditional(nr))
            .count(),
        pols.allow_bpf.len(),
        pols.allow_bpf_linear.len(),
    ));
    let row = |c: [&str; 12]| {
        format!(
            "{:<14} {:<13} {:<15} {:>8} {:>8} {:>5} {:>7} {:>6} {:>8} {:>5} {:>9} {:>5}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]
        )
    };
    w(row([
        "scenario",
        "syscall",
        "mechanism",
        "ns/call",
        "p10",
        "iqr",
        "vs",
        "+ns",
        "strbox/",
        "",
        "strbox/",
        "",
    ]));
    w(row([
        "",
        "",
        "",
        "(median)",
        "",
        "",
        "base",
        "",
        "seccomp",
        "p10",
        "secc+mod*",
        "p10",
    ]));
    let mut machine = Vec::new();
    // Every slice in run order (10 per run), for the log only.
    let mut raw = Vec::new();
    for pol in [Pol::None, Pol::Ingo, Pol::Allow, Pol::Allow16] {
        for &p in pol.probes() {
            let base = stat(Pol::None, "none", p, 0.5);
            for (i, sc) in scs.iter().enumerate() {
                if sc.pol != pol {
                    continue;
                }
                let j = pol.probes().iter().position(|&q| q == p).unwrap_or(0);
                let v = &samples[i][j];
                let mech = sc.mech_name();
                let (Some(m), Some(p10), Some(q1), Some(q3)) = (
                    quantile(v, 0.5),
                    quantile(v, 0.1),
                    quantile(v, 0.25),
                    quantile(v, 0.75),
                ) else {
                    w(format!(
                        "{:<14} {:<13} {:<15} {:>8}",
                        pol.name(),
                        p.name(),
                        mech,
                        "-"
                    ));
                    continue;
                };
                let (vs, plus) = match base {
                    Some(b) => (format!("{:.2}x", m / b), format!("{:+.0}", m - b)),
                    None => ("-".into(), "-".into()),
                };
                // strbox / `other` at quantile q
                let ratio = |other: &str, q: f64| -> String {
                    if sc.mech != Mech::Strbox {
                        return String::new();
                    }
                    let mine = if q == 0.5 { m } else { p10 };
                    stat(pol, other, p, q).map_or("-".into(), |s| format!("{:.2}", mine / s))
                };
                w(row([
                    pol.name(),
                    p.name(),
                    mech,
                    &format!("{m:.0}"),
                    &format!("{p10:.0}"),
                    &format!("{:.0}%", 100.0 * (q3 - q1) / m),
                    &vs,
                    &plus,
                    &ratio("seccomp", 0.5),
                    &ratio("seccomp", 0.1),
                    &ratio("seccomp+mod*", 0.5),
                    &ratio("seccomp+mod*", 0.1),
                ]));
                machine.push(format!(
                    "@@bench {}.{} {} {:.1}",
                    pol.key(),
                    p.key(),
                    mech,
                    m
                ));
                let all: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
                raw.push(format!(
                    "@@samples {}.{} {} {}",
                    pol.key(),
                    p.key(),
                    mech,
                    all.join(" ")
                ));
            }
        }
    }
    w(String::new());
    w("ns/call: median of all slices of all runs; p10: their 10th percentile (host noise only adds time,".into());
    w("so p10 is close to the undisturbed cost); iqr: interquartile range / median".into());
    w("none: no filter, module not loaded; +mod: module loaded; *: while strbox-filtered tasks exist".into());
    w("vs base / +ns: against `none` for the same syscall (x and ns)".into());
    w("strbox/seccomp: strbox / seccomp without the module: what each deployment pays (median, p10)".into());
    w("strbox/secc+mod*: strbox / seccomp in the same ring (same probe cost): filter evaluation only".into());
    for l in machine.iter().chain(&raw) {
        let _ = writeln!(o, "{l}");
    }
    let _ = o.flush();
}
