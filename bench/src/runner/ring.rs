//! The ring: the members of one ring alive at once, taking turns slice by
//! slice through a token pipe, their results in memory shared with the
//! parent; [`run_rounds`] runs the rings of a phase.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::guest_util::pipe_cloexec;

use super::child::{install, Filter};
use super::probes::{now_ns, spin, Probe, MAX_PROBES};
use super::scenarios::{JitOff, Mech, Policies, Ring, Scenario};
use super::{online_cpus, Config};

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
        // Zero-filled, which is a valid `Slot` (integers and atomics only).
        let p = crate::guest_util::shared_anon(len).map_err(|e| format!("mmap: {e}"))?;
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
        .map(|_| pipe_cloexec())
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

/// Per scenario and probe, ns/call of every slice of every run.
pub(super) type Samples = Vec<Vec<Vec<f64>>>;

/// `reps` runs of each of `rings`, alternating their order per round.
pub(super) fn run_rounds(
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
