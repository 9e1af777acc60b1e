//! The guest side of the benchmark (`mode=bench` in /etc/strbox-run).
//!
//! Every measurement runs in a freshly forked child (filters are
//! irreversible): fd 0 is /dev/null, fd 1 a pipe to the parent, the child
//! is pinned to the last CPU, sets no_new_privs, installs its filter(s),
//! warms up, then times a tight loop of `iters` calls per probe syscall
//! with `clock_gettime(CLOCK_MONOTONIC)` around the loop and writes the
//! totals to the pipe. The parent checks each probe's last result against
//! what the policy says (allowed: a real result; denied: `EPERM`).
//!
//! Phases, each `reps` rounds over its scenarios (round robin, the start
//! rotating per round, so drift hits every scenario alike):
//!
//! 1. module not loaded: no filter; seccomp filters;
//! 2. module loaded: no filter; no filter while another task is filtered;
//!    strbox layers; the same seccomp filters again;
//! 3. module unloaded again: phase 1 once more (its samples join phase
//!    1's, so a drift over the run does not favour either side).
//!
//! Output: KTAP lines for the steps (read by xtask's `results::parse`),
//! the table as `@@b ` lines, and one `@@bench <scenario> <mechanism>
//! <ns>` line per row.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};

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

fn install(f: Filter) {
    let fail = |msg: &str, n: i64| {
        emit_err(msg, n);
        // SAFETY: leaving the child at once.
        unsafe { libc::_exit(2) };
    };
    if matches!(f, Filter::None) {
        return;
    }
    // SAFETY: plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        fail(
            "no_new_privs failed, errno ",
            i64::from(crate::sys::errno()),
        );
    }
    match f {
        Filter::None => {}
        Filter::Strbox { text, layers } => {
            for i in 0..layers {
                if let Err(e) = crate::install(text) {
                    emit_err("strbox install failed at layer ", i as i64);
                    fail(", errno ", i64::from(e.errno));
                }
            }
        }
        Filter::Seccomp { prog, layers } => {
            for i in 0..layers {
                if let Err(e) = bpf::install(prog) {
                    emit_err("seccomp install failed at layer ", i as i64);
                    fail(", errno ", i64::from(e));
                }
            }
        }
    }
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
        install(filter);
        body();
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    let mut out = Vec::new();
    let read = rd.read_to_end(&mut out);
    let status = crate::guest::util::wait_pid(pid)?;
    read.map_err(|e| format!("reading the child's pipe: {e}"))?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        return Ok(out);
    }
    Err(format!(
        "child ended with {}: {}",
        crate::guest::util::describe_status(status),
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
}

impl Probe {
    /// Short name for the table.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Getppid => "getppid",
            Probe::Read0 => "read(0,,0)",
            Probe::Fcntl => "fcntl(GETFD)",
            Probe::Getsid => "getsid",
        }
    }

    /// Name in `@@bench` lines.
    fn key(self) -> &'static str {
        match self {
            Probe::Getppid => "getppid",
            Probe::Read0 => "read",
            Probe::Fcntl => "fcntl",
            Probe::Getsid => "getsid",
        }
    }

    /// (number, first three arguments).
    fn call(self, buf: u64) -> (libc::c_long, [u64; 3]) {
        match self {
            Probe::Getppid => (libc::SYS_getppid, [0; 3]),
            Probe::Read0 => (libc::SYS_read, [0, buf, 0]),
            Probe::Fcntl => (libc::SYS_fcntl, [0, libc::F_GETFD as u64, 0]),
            Probe::Getsid => (libc::SYS_getsid, [0; 3]),
        }
    }
}

const ALL_PROBES: &[Probe] = &[Probe::Getppid, Probe::Read0, Probe::Fcntl, Probe::Getsid];
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

/// `n` calls of one syscall; the last result and errno.
#[inline(never)]
fn spin(nr: libc::c_long, a: [u64; 3], n: u64) -> (libc::c_long, i32) {
    let mut r = 0;
    for _ in 0..n {
        // SAFETY: the probes' arguments are integers or the address of a
        // live buffer with a length of 0.
        r = unsafe {
            libc::syscall(
                nr,
                a[0] as libc::c_long,
                a[1] as libc::c_long,
                a[2] as libc::c_long,
            )
        };
    }
    let e = if r < 0 { crate::sys::errno() } else { 0 };
    (r, e)
}

const REC: usize = 24;

/// The child's body: warm up, then time each probe; reports per probe
/// (total ns, last return value, errno).
fn measure(probes: &[Probe], iters: u64) {
    let mut buf = [0u8; 64];
    let addr = buf.as_mut_ptr() as u64;
    let mut out = [0u8; REC * 4];
    for p in probes {
        let (nr, a) = p.call(addr);
        spin(nr, a, iters / 10 + 1);
    }
    for (i, p) in probes.iter().enumerate() {
        let (nr, a) = p.call(addr);
        let t0 = now_ns();
        let (r, e) = spin(nr, a, iters);
        let dt = now_ns() - t0;
        let rec = &mut out[i * REC..(i + 1) * REC];
        rec[0..8].copy_from_slice(&dt.to_ne_bytes());
        rec[8..16].copy_from_slice(&r.to_ne_bytes());
        rec[16..20].copy_from_slice(&e.to_ne_bytes());
    }
    emit(&out[..probes.len() * REC]);
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
        if self == Pol::Ingo {
            INGO_PROBES
        } else {
            ALL_PROBES
        }
    }
}

/// How a scenario filters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mech {
    /// No filter; `other` = another task is strbox-filtered meanwhile.
    None {
        other: bool,
    },
    Strbox,
    Seccomp(Layout),
    /// The tree filter installed while the BPF JIT is switched off
    /// (`net.core.bpf_jit_enable = 0`): seccomp's interpreter.
    SeccompInterp,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Unloaded,
    Loaded,
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    pol: Pol,
    mech: Mech,
    phase: Phase,
}

impl Scenario {
    fn mech_name(&self) -> &'static str {
        let m = self.phase == Phase::Loaded;
        match (self.mech, m) {
            (Mech::None { other: false }, false) => "none",
            (Mech::None { other: false }, true) => "none+mod",
            (Mech::None { other: true }, _) => "none+mod,1filtered",
            (Mech::Strbox, _) => "strbox",
            (Mech::Seccomp(Layout::Tree), false) => "seccomp",
            (Mech::Seccomp(Layout::Tree), true) => "seccomp+mod",
            (Mech::Seccomp(Layout::Linear), false) => "seccomp-linear",
            (Mech::Seccomp(Layout::Linear), true) => "seccomp-linear+mod",
            (Mech::SeccompInterp, false) => "seccomp-interp",
            (Mech::SeccompInterp, true) => "seccomp-interp+mod",
        }
    }
}

/// The BPF JIT switch, if this kernel has a JIT that can be turned off.
const JIT_SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";

fn jit_switchable() -> bool {
    match std::fs::read_to_string(JIT_SYSCTL) {
        Ok(v) if v.trim() != "0" => std::fs::write(JIT_SYSCTL, v.trim()).is_ok(),
        _ => false,
    }
}

/// Sets `net.core.bpf_jit_enable` while it lives, restores it on drop.
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
    use Phase::*;
    let s = |pol, mech, phase| Scenario { pol, mech, phase };
    let mut v = vec![
        s(Pol::None, None { other: false }, Unloaded),
        s(Pol::Ingo, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Allow, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Allow, Seccomp(Layout::Linear), Unloaded),
        s(Pol::Allow16, Seccomp(Layout::Tree), Unloaded),
        s(Pol::None, None { other: false }, Loaded),
        s(Pol::None, None { other: true }, Loaded),
        s(Pol::Ingo, Strbox, Loaded),
        s(Pol::Allow, Strbox, Loaded),
        s(Pol::Allow16, Strbox, Loaded),
        s(Pol::Ingo, Seccomp(Layout::Tree), Loaded),
        s(Pol::Allow, Seccomp(Layout::Tree), Loaded),
        s(Pol::Allow16, Seccomp(Layout::Tree), Loaded),
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
            crate::policy::compile_policy(t.as_bytes(), arch).map_err(|e| format!("{e:?}"))
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
            Mech::None { .. } => Filter::None,
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
    fn allows(&self, pol: Pol, p: Probe) -> Result<bool, String> {
        let prog = match pol {
            Pol::None => return Ok(true),
            Pol::Ingo => &self.progs[0],
            Pol::Allow | Pol::Allow16 => &self.progs[1],
        };
        let (nr, a) = p.call(0x1000);
        let args = [a[0], a[1], a[2], 0, 0, 0];
        Ok(prog.evaluate(nr as u32, &args) == Verdict::Allow)
    }
}

/// A strbox-filtered task that only sleeps (for "unfiltered task while
/// another is filtered": the probe then looks the caller up).
struct Sleeper {
    pid: libc::pid_t,
    /// The write end of the pipe the sleeper reads: open while it sleeps.
    _hold: std::fs::File,
}

impl Sleeper {
    fn start(text: &[u8]) -> Result<Sleeper, String> {
        let (mut ready_r, ready_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let (hold_r, hold_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let _ = io::stdout().flush();
        // SAFETY: single-threaded caller.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: fds we own; then block reading fd 0 until killed.
            unsafe {
                libc::dup2(hold_r.as_raw_fd(), 0);
                libc::dup2(ready_w.as_raw_fd(), 1);
                libc::close(hold_w.as_raw_fd());
            }
            install(Filter::Strbox { text, layers: 1 });
            emit(b"r");
            let mut b = [0u8; 1];
            // SAFETY: one byte into `b`.
            unsafe { libc::read(0, b.as_mut_ptr().cast(), 1) };
            // SAFETY: leave at once.
            unsafe { libc::_exit(0) };
        }
        drop(ready_w);
        drop(hold_r);
        let mut b = [0u8; 1];
        let s = Sleeper { pid, _hold: hold_w };
        match ready_r.read(&mut b) {
            Ok(1) if b[0] == b'r' => Ok(s),
            _ => Err("the filtered sleeper did not start".into()),
        }
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        // SAFETY: our own child; SIGKILL then reap it.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = crate::guest::util::wait_pid(self.pid);
    }
}

/// Measurements: per (scenario, probe) the ns/call of each run.
type Samples = Vec<Vec<Vec<f64>>>;

fn run_scenario(
    pols: &Policies,
    sc: &Scenario,
    iters: u64,
    cpu: Option<usize>,
) -> Result<Vec<f64>, String> {
    let probes = sc.pol.probes();
    let _sleeper = match sc.mech {
        Mech::None { other: true } => Some(Sleeper::start(pols.ingo.as_bytes())?),
        _ => None,
    };
    // The child compiles its filter when it installs it, after the fork.
    let _jit_off = match sc.mech {
        Mech::SeccompInterp => Some(JitOff::new()?),
        _ => None,
    };
    let out = in_filtered_child(pols.filter(sc), cpu, || measure(probes, iters))?;
    if out.len() != probes.len() * REC {
        return Err(format!("child wrote {} bytes", out.len()));
    }
    let mut v = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let rec = &out[i * REC..(i + 1) * REC];
        let ns = u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes"));
        let r = i64::from_ne_bytes(rec[8..16].try_into().expect("8 bytes"));
        let e = i32::from_ne_bytes(rec[16..20].try_into().expect("4 bytes"));
        let want = pols.allows(sc.pol, *p)?;
        let ok = if want {
            r >= 0
        } else {
            r == -1 && e == libc::EPERM
        };
        if !ok {
            return Err(format!(
                "{} {} {}: returned {r} errno {e}, expected {}",
                sc.pol.name(),
                sc.mech_name(),
                p.name(),
                if want { "success" } else { "EPERM" }
            ));
        }
        v.push(ns as f64 / iters as f64);
    }
    Ok(v)
}

/// Runs `reps` rounds over the scenarios of `phase`.
fn run_phase(
    pols: &Policies,
    scs: &[Scenario],
    phase: Phase,
    cfg: &Config,
    samples: &mut Samples,
) -> Result<(), String> {
    let idx: Vec<usize> = (0..scs.len()).filter(|&i| scs[i].phase == phase).collect();
    let cpu = online_cpus().checked_sub(1);
    let mut errors = Vec::new();
    for rep in 0..cfg.reps {
        for k in 0..idx.len() {
            let i = idx[(k + rep) % idx.len()];
            match run_scenario(pols, &scs[i], cfg.iters, cpu) {
                Ok(v) => {
                    for (j, ns) in v.into_iter().enumerate() {
                        samples[i][j].push(ns);
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
    /// Calls per probe per run.
    pub iters: u64,
    /// Rounds per phase (at least [`DEFAULT_REPS`]).
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
    let t0 = std::time::Instant::now();
    let already = crate::abi_version().is_some();
    let r = if already {
        Err("strbox is already loaded: no unloaded baseline".into())
    } else {
        run_phase(&pols, &scs, Phase::Unloaded, &cfg, &mut samples)
    };
    ktap(1, "bench_unloaded", &r);
    let loaded = crate::guest::util::load_module().map_err(|e| format!("finit_module: {e}"));
    ktap(2, "module_load", &loaded);
    let r = match &loaded {
        Ok(()) => run_phase(&pols, &scs, Phase::Loaded, &cfg, &mut samples),
        Err(_) => Err("skip: module not loaded".into()),
    };
    ktap(3, "bench_loaded", &r);
    let r = match &loaded {
        Ok(()) => crate::guest::harness::unload_when_idle(),
        Err(_) => Err("skip: module not loaded".into()),
    };
    let unloaded = r.is_ok();
    ktap(4, "module_unload", &r);
    let r = if unloaded {
        run_phase(&pols, &scs, Phase::Unloaded, &cfg, &mut samples)
    } else {
        Err("skip: module still loaded".into())
    };
    ktap(5, "bench_unloaded_again", &r);
    let secs = t0.elapsed().as_secs_f64();
    print_table(&scs, &samples, &cfg, &pols, secs);
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

fn print_table(scs: &[Scenario], samples: &Samples, cfg: &Config, pols: &Policies, secs: f64) {
    let out = io::stdout();
    let mut o = out.lock();
    let med = |pol: Pol, mech: &str, p: Probe| -> Option<f64> {
        let i = scs
            .iter()
            .position(|s| s.pol == pol && s.mech_name() == mech)?;
        let j = scs[i].pol.probes().iter().position(|&q| q == p)?;
        median(&samples[i][j])
    };
    let uname = {
        // SAFETY: utsname is plain data; uname fills it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: valid out pointer.
        unsafe { libc::uname(&mut u) };
        // SAFETY: the kernel NUL-terminates the fields.
        let f = |s: &[libc::c_char]| {
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
        read_trim("/proc/sys/net/core/bpf_jit_enable"),
    ));
    w(format!(
        "{} calls per run; median of {} runs (module not loaded: {} runs, before and after); {:.0} s",
        cfg.iters,
        cfg.reps,
        2 * cfg.reps,
        secs
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
    w(format!(
        "{:<14} {:<13} {:<19} {:>9} {:>7} {:>8} {:>8} {:>9} {:>9}",
        "scenario",
        "syscall",
        "mechanism",
        "ns/call",
        "spread",
        "vs base",
        "+ns",
        "strbox/",
        "strbox/"
    ));
    w(format!(
        "{:<14} {:<13} {:<19} {:>9} {:>7} {:>8} {:>8} {:>9} {:>9}",
        "", "", "", "(median)", "", "", "", "seccomp", "secc+mod"
    ));
    let mut machine = Vec::new();
    for pol in [Pol::None, Pol::Ingo, Pol::Allow, Pol::Allow16] {
        for &p in pol.probes() {
            let base = med(Pol::None, "none", p);
            for (i, sc) in scs.iter().enumerate() {
                if sc.pol != pol {
                    continue;
                }
                let j = pol.probes().iter().position(|&q| q == p).unwrap_or(0);
                let v = &samples[i][j];
                let mech = sc.mech_name();
                let Some(m) = median(v) else {
                    w(format!(
                        "{:<14} {:<13} {:<19} {:>9}",
                        pol.name(),
                        p.name(),
                        mech,
                        "-"
                    ));
                    continue;
                };
                let lo = v.iter().copied().fold(f64::MAX, f64::min);
                let hi = v.iter().copied().fold(0.0, f64::max);
                let spread = format!("{:.0}%", 100.0 * (hi - lo) / m);
                let (vs, plus) = match base {
                    Some(b) => (format!("{:.2}x", m / b), format!("{:+.0}", m - b)),
                    None => ("-".into(), "-".into()),
                };
                let ratio = |other: &str| -> String {
                    if sc.mech != Mech::Strbox {
                        return String::new();
                    }
                    med(pol, other, p).map_or("-".into(), |s| format!("{:.2}", m / s))
                };
                w(format!(
                    "{:<14} {:<13} {:<19} {:>9.1} {:>7} {:>8} {:>8} {:>9} {:>9}",
                    pol.name(),
                    p.name(),
                    mech,
                    m,
                    spread,
                    vs,
                    plus,
                    ratio("seccomp"),
                    ratio("seccomp+mod")
                ));
                machine.push(format!(
                    "@@bench {}.{} {} {:.1}",
                    pol.key(),
                    p.key(),
                    mech,
                    m
                ));
            }
        }
    }
    w(String::new());
    w("vs base: / no filter, module not loaded, same syscall; +ns: minus that; spread: (max-min)/median".into());
    w("strbox/seccomp: strbox (module loaded) / seccomp (module not loaded): what each deployment pays".into());
    w("strbox/secc+mod: / seccomp with the module loaded too: same probe cost, filter evaluation only".into());
    for l in machine {
        let _ = writeln!(o, "{l}");
    }
    let _ = o.flush();
}
