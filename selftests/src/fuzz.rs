//! A seeded, reproducible fuzzer of the kernel's `PR_SECCOMP_SET` /
//! `PR_SECCOMP_GET` interface (`fuzz_prctl`).
//!
//! # What it does
//!
//! Input `i` (0-based) of a run is a function of the seed and `i` only:
//! a policy text — a file of the filter fuzzer's corpus
//! (`fuzz/corpus/compile/*`), a byte mutation of one or two of them (bit
//! flips, insertions of bytes and `fuzz/dict` tokens, deletions, splices,
//! truncations), a generated policy, or a hostile one (sizes around
//! `MAX_POLICY_BYTES`, deep parentheses and `!` chains, NUL and non-UTF-8
//! bytes, very long identifiers and numbers, rule and predicate counts at
//! the limits) — handed to `PR_SECCOMP_SET` in an envelope that is either
//! clean or hostile: `struct strbox_set_args` sizes from 0 to huge with zero
//! and non-zero tails, unknown flags and TSYNC, `policy_len` beyond the
//! text, and NULL, unmapped, kernel, non-canonical, misaligned, read-only
//! and page-crossing pointers for the struct, the text and the error record
//! (also an error record that overlaps the policy text), non-zero arg4/arg5
//! and garbage in the upper half of the option register. Between inputs the
//! fuzzer reads the layers back with `PR_SECCOMP_GET` (random buffers,
//! sizes and arguments).
//!
//! # The oracle
//!
//! The test process predicts every call exactly before it is made, with
//! the same filter code the module runs: a model of the documented checks
//! (docs/abi.md) over a model of the worker's memory, the host compiler for the policy (same error code, offset, line
//! and column), the limits of the chain, and `evaluate_chain` for the
//! verdict the caller's own layers give each call (including the `prctl`
//! itself). The worker checks the return value, the error record (untouched
//! before the struct is accepted, cleared after, the policy error on
//! rejection) and the text `PR_SECCOMP_GET` wrote; after every `SET` that
//! reached the module it checks the length of its layers' text (so a
//! rejected policy provably left the task as it was, and an accepted one
//! added exactly its canonical text). An errno the model does not predict
//! fails the test with the seed and the input's index.
//!
//! # Workers
//!
//! The calls run in workers, one batch of inputs each. A worker is a
//! process of its own (own fds, credentials, signal handlers, strbox
//! layers) that shares the test process's memory (`clone(CLONE_VM)` on a
//! stack of its own: no page tables to copy, no copy-on-write faults
//! afterwards, which matters on the debug kernel) and therefore makes raw
//! syscalls only: no libc, no allocation, no thread-local state. It drops
//! to uid/gid 65534 with no groups, sets `PR_SET_PDEATHSIG` (SIGKILL),
//! `no_new_privs` (a few batches run without it and must get `EACCES`) and
//! `alarm(5)`, then makes its batch's calls, stacking the layers that are
//! accepted. A batch ends before an input whose `prctl` the worker's
//! layers would not let through (that input goes to the next, fresh
//! worker, so every input reaches the module once); then the worker makes
//! random syscalls with random arguments from an allow-list that is
//! harmless for an unprivileged process (no fork/exec/kill/mmap family, no
//! prctl that changes the shared memory map, pointers only into its own
//! scratch pages or known-bad addresses), each with a predicted verdict:
//! `errno` verdicts must return exactly that errno, `kill` verdicts must
//! kill it, the others must not. Between the scripted calls a worker makes
//! no syscall (failures go to a shared page), and it ends by `exit_group`
//! if its layers allow it, else it waits for the test process to SIGKILL
//! it.
//!
//! `log` and `kill` verdicts print kernel log records (`strbox: log ...`),
//! so the number of calls with such verdicts is budgeted for the whole run:
//! the fuzz must not flood the kernel log buffer and push out what earlier
//! tests (or the boot) logged.
//!
//! # Kernel log
//!
//! Every kernel log record produced while the fuzzer ran is matched
//! against `qemu/bad-kernel-patterns.txt`, and none may be lost. (On a
//! kmemleak kernel the suite's last test, `kmemleak_no_strbox_leaks`, runs
//! right after this one.)
//!
//! # Reproducing
//!
//! `strbox.fuzz_seed=N` and `strbox.fuzz_policies=N` on the kernel command
//! line (or `STRBOX_FUZZ_SEED` / `STRBOX_FUZZ_POLICIES` in the environment
//! of `strbox-guest fuzz_prctl`, which win) choose the seed (default
//! `0x5eed`) and the number of inputs (default 10000). The same seed and
//! count give the same inputs, batches and calls. On a lock-debugging
//! kernel (`/proc/lockdep` exists: `cargo xtask qemu-test --debug`) the
//! default is 2000 inputs: there every strbox `prctl` costs 10-20 times
//! more under TCG.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Read as _;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use strbox::abi::{
    StrboxSetArgs, LAYER_HEADER_PREFIX, MAX_CHAIN_PREDICATES, MAX_LAYERS, MAX_POLICY_BYTES,
    PR_SECCOMP_GET, PR_SECCOMP_SET, PR_STRBOX_ABI_VERSION, STRBOX_ERROR_SIZE,
    STRBOX_SET_ARGS_SIZE_MAX, STRBOX_SET_ARGS_SIZE_VER0, STRBOX_SET_FLAGS_ALL, STRBOX_SET_TSYNC,
};
use strbox_filter::uapi::tables::{Arch, ArgType};
use strbox_filter::{evaluate_chain, ErrorCode, Program, Scratch, Verdict};

use super::util::describe_status;
use super::{Test, TestResult};

/// The fuzz test.
pub static TESTS: &[Test] = &[Test {
    name: "fuzz_prctl",
    run: fuzz_prctl,
}];

/// The embedded seed inputs (`CORPUS`, `DICT`), written by `build.rs`.
mod seeds {
    include!(concat!(env!("OUT_DIR"), "/fuzz_corpus.rs"));
}

/// Seed of a run without `strbox.fuzz_seed=`.
pub const DEFAULT_SEED: u64 = 0x5eed;
/// Inputs of a run without `strbox.fuzz_policies=`.
pub const DEFAULT_POLICIES: usize = 10_000;
/// Inputs of a run without `strbox.fuzz_policies=` on a lock-debugging
/// kernel (`--debug`: KASAN, lockdep and kmemleak make every strbox prctl
/// 10-20 times slower under TCG; 10,000 inputs take about 3 minutes on
/// x86_64 there, 2,000 about 40 s).
pub const DEFAULT_POLICIES_DEBUG: usize = 2_000;

/// Calls with a `kill` verdict the whole run may make (each kills a worker
/// and prints one kernel log record).
const KILL_BUDGET: u32 = 40;
/// Calls with a `log` verdict the whole run may make (each prints at most
/// one kernel log record).
const LOG_BUDGET: u32 = 80;

/// Most inputs one worker tries.
const MAX_INPUTS_PER_BATCH: usize = 48;
/// Most policy bytes one worker hands to the kernel (bounds its time).
const MAX_TEXT_PER_BATCH: usize = 200 * 1024;
/// A worker tries no further input once its layers' text is this long
/// (every `PR_SECCOMP_GET` prints all of it).
const MAX_GET_TEXT_PER_BATCH: usize = 64 * 1024;
/// Most steps of one worker (size of the shared result array).
const MAX_STEPS: usize = 512;
/// Random syscalls after the installs, at most.
const MAX_RANDOM_CALLS: u64 = 64;

/// The unprivileged ids the workers run as.
const NOBODY: u32 = 65534;

/// What the kernel reads of a policy at most (the limit plus one byte).
const POLICY_READ_MAX: u64 = MAX_POLICY_BYTES as u64 + 1;

// ---------------------------------------------------------------------
// Configuration

/// Seed and input count of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The PRNG seed.
    pub seed: u64,
    /// How many inputs (`PR_SECCOMP_SET` calls that reach the module).
    pub policies: usize,
}

/// A number in decimal or `0x` hex.
fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The configuration from a kernel command line and environment values,
/// with `policies` inputs unless they say otherwise.
pub fn parse_config(
    cmdline: &str,
    env_seed: Option<&str>,
    env_count: Option<&str>,
    policies: usize,
) -> Config {
    let mut c = Config {
        seed: DEFAULT_SEED,
        policies,
    };
    for w in cmdline.split_whitespace() {
        if let Some(v) = w.strip_prefix("strbox.fuzz_seed=").and_then(parse_num) {
            c.seed = v;
        }
        if let Some(v) = w.strip_prefix("strbox.fuzz_policies=").and_then(parse_num) {
            c.policies = v as usize;
        }
    }
    if let Some(v) = env_seed.and_then(parse_num) {
        c.seed = v;
    }
    if let Some(v) = env_count.and_then(parse_num) {
        c.policies = v as usize;
    }
    c
}

/// Whether this is a lock-debugging kernel (`/proc/lockdep` exists with
/// CONFIG_LOCKDEP, which the `--debug` kernel has).
fn debug_kernel() -> bool {
    std::path::Path::new("/proc/lockdep").exists()
}

fn config(debug: bool) -> Config {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let s = std::env::var("STRBOX_FUZZ_SEED").ok();
    let n = std::env::var("STRBOX_FUZZ_POLICIES").ok();
    let default = if debug {
        DEFAULT_POLICIES_DEBUG
    } else {
        DEFAULT_POLICIES
    };
    parse_config(&cmdline, s.as_deref(), n.as_deref(), default)
}

// ---------------------------------------------------------------------
// PRNG

/// splitmix64: small, fast, and the same on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `stream` of the run with `seed` (streams are
    /// independent: one per input, one per batch).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xd134_2543_de82_ef95));
        r.bits();
        r.bits();
        r
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.bits() % n
        }
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// Uniform in `0..n` as a usize.
    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.index(s.len())]
    }
}

/// Stream numbers: input `i` is stream `i`, batch-level choices use
/// streams with the top bit set.
const BATCH_STREAM: u64 = 1 << 63;

// ---------------------------------------------------------------------
// Seeds: the corpus and the dictionary

/// Decodes a libFuzzer dictionary: one `"token"` per line with `\xNN`,
/// `\\` and `\"` escapes; other lines are ignored.
pub fn parse_dict(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(body) = line
            .find('"')
            .and_then(|a| line.rfind('"').filter(|&b| b > a).map(|b| &line[a + 1..b]))
        else {
            continue;
        };
        let b = body.as_bytes();
        let mut tok = Vec::new();
        let mut k = 0;
        while k < b.len() {
            if b[k] == b'\\' && k + 1 < b.len() {
                if b[k + 1] == b'x' && k + 3 < b.len() {
                    if let Ok(v) = u8::from_str_radix(&body[k + 2..k + 4], 16) {
                        tok.push(v);
                        k += 4;
                        continue;
                    }
                }
                tok.push(b[k + 1]);
                k += 2;
            } else {
                tok.push(b[k]);
                k += 1;
            }
        }
        if !tok.is_empty() {
            out.push(tok);
        }
    }
    out
}

// ---------------------------------------------------------------------
// The workers' memory: one mapping with guard pages between regions

/// Protection of a region of the arena.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prot {
    Read,
    ReadWrite,
}

/// One mapping (made before the first worker is forked, inherited by
/// every worker at the same address) holding every buffer a call
/// points at, each region followed by an inaccessible guard page.
struct Arena {
    base: *mut u8,
    len: usize,
    page: u64,
    regions: Vec<(u64, u64, Prot)>,
    /// `struct strbox_set_args` goes here (2 pages, RW).
    args: u64,
    args_len: u64,
    /// A read-only page: [`RO_IMAGE`] (a struct, a timespec of zero, an
    /// invalid one, paths, a rejected policy).
    ro: u64,
    /// Policy texts (RW, at least `POLICY_READ_MAX` plus two pages).
    policy: u64,
    policy_len: u64,
    /// Error records (1 page, RW).
    record: u64,
    /// `PR_SECCOMP_GET` buffers (RW).
    get: u64,
    get_len: u64,
    /// What random syscalls may write into (2 pages, RW).
    scratch: u64,
    scratch_len: u64,
    /// The read-only page's content.
    ro_image: Vec<u8>,
}

/// Offsets in the read-only page.
const RO_ZERO_TS: u64 = 64;
const RO_BAD_TS: u64 = 1024;
const RO_PATH_ROOT: u64 = 1088;
const RO_PATH_STATUS: u64 = 1104;
const RO_PATH_EMPTY: u64 = 1136;
const RO_PATH_EXE: u64 = 1152;
const RO_TEXT: u64 = 2048;
/// The rejected policy the read-only struct points at.
const RO_POLICY: &[u8] = b"frobnicate: 1\n";

impl Arena {
    fn new() -> Result<Arena, String> {
        // SAFETY: sysconf has no memory arguments.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let round = |n: u64| n.div_ceil(page) * page;
        let args_len = 2 * page;
        let policy_len = round(POLICY_READ_MAX + 2 * page);
        let get_len = round(1 << 20);
        let scratch_len = 2 * page;
        // Layout: guard, args, guard, ro, guard, policy, guard, record,
        // guard, get, guard, scratch, guard.
        let sizes = [args_len, page, policy_len, page, get_len, scratch_len];
        let total = page + sizes.iter().map(|s| s + page).sum::<u64>();
        // SAFETY: a fresh anonymous private mapping, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("mmap arena: {}", std::io::Error::last_os_error()));
        }
        let mut a = Arena {
            base: base.cast(),
            len: total as usize,
            page,
            regions: Vec::new(),
            args: 0,
            args_len,
            ro: 0,
            policy: 0,
            policy_len,
            record: 0,
            get: 0,
            get_len,
            scratch: 0,
            scratch_len,
            ro_image: ro_image(page as usize),
        };
        let mut at = base as u64 + page;
        let mut starts = [0u64; 6];
        for (k, &size) in sizes.iter().enumerate() {
            starts[k] = at;
            a.regions.push((at, size, Prot::ReadWrite));
            at += size + page;
        }
        [a.args, a.ro, a.policy, a.record, a.get, a.scratch] = starts;
        a.regions[1].2 = Prot::Read;
        // The struct in the read-only page points at its policy text.
        let st = StrboxSetArgs {
            policy: a.ro + RO_TEXT,
            policy_len: RO_POLICY.len() as u64,
            flags: 0,
            error: 0,
        }
        .to_bytes();
        a.ro_image[..st.len()].copy_from_slice(&st);
        for &(start, size, prot) in &a.regions {
            // SAFETY: [start, start + size) lies inside the mapping made
            // above (the layout sums to `total`); only our own pages change.
            let r = unsafe {
                libc::mprotect(
                    start as *mut libc::c_void,
                    size as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if r != 0 {
                return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
            }
            if prot == Prot::Read {
                // SAFETY: `start` is the read-only page, writable for the
                // moment; no Rust reference points into it.
                let r = unsafe {
                    std::ptr::copy_nonoverlapping(
                        a.ro_image.as_ptr(),
                        start as *mut u8,
                        a.ro_image.len().min(size as usize),
                    );
                    libc::mprotect(start as *mut libc::c_void, size as usize, libc::PROT_READ)
                };
                if r != 0 {
                    return Err(format!("mprotect ro: {}", std::io::Error::last_os_error()));
                }
            }
        }
        Ok(a)
    }

    fn region_of(&self, addr: u64, len: u64) -> Option<Prot> {
        let end = addr.checked_add(len)?;
        self.regions
            .iter()
            .find(|&&(s, l, _)| addr >= s && end <= s + l)
            .map(|r| r.2)
    }

    /// Whether the kernel can read `len` bytes at `addr` (anything outside
    /// the arena that fuzz pointers use is unmapped or not user memory).
    fn readable(&self, addr: u64, len: u64) -> bool {
        len == 0 || self.region_of(addr, len).is_some()
    }

    /// Whether the kernel can write `len` bytes at `addr`.
    fn writable(&self, addr: u64, len: u64) -> bool {
        len == 0 || self.region_of(addr, len) == Some(Prot::ReadWrite)
    }

    /// How many bytes from `addr` on are writable (0 outside RW regions).
    fn writable_extent(&self, addr: u64) -> u64 {
        self.regions
            .iter()
            .find(|&&(s, l, p)| p == Prot::ReadWrite && addr >= s && addr < s + l)
            .map_or(0, |&(s, l, _)| s + l - addr)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no worker is alive any more.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

fn ro_image(page: usize) -> Vec<u8> {
    let mut p = vec![0u8; page];
    let put = |p: &mut Vec<u8>, at: u64, b: &[u8]| {
        p[at as usize..at as usize + b.len()].copy_from_slice(b);
    };
    // An invalid timespec: tv_nsec of 2e9.
    let mut ts = [0u8; 16];
    ts[8..].copy_from_slice(&2_000_000_000i64.to_ne_bytes());
    put(&mut p, RO_BAD_TS, &ts);
    put(&mut p, RO_PATH_ROOT, b"/\0");
    put(&mut p, RO_PATH_STATUS, b"/proc/self/status\0");
    put(&mut p, RO_PATH_EMPTY, b"\0");
    put(&mut p, RO_PATH_EXE, b"/proc/self/exe\0");
    put(&mut p, RO_TEXT, RO_POLICY);
    p
}

/// Addresses that are never accessible user memory.
fn bad_pointer(rng: &mut Rng) -> u64 {
    match rng.below(7) {
        0 => 0,
        1 => 0x1000,
        2 => rng.below(0x1000) + 1,
        3 => 0xffff_8000_0000_0000 | (rng.bits() & 0x0000_7fff_ffff_fff8),
        4 => 0xffff_ffff_8100_0000 + rng.below(0x1000),
        5 => u64::MAX - rng.below(64),
        // Non-canonical on x86_64; above the 48-bit user range on arm64's
        // default layout, and never mapped either way.
        _ => (1u64 << 60) | (rng.bits() & 0x0fff_ffff_ffff_ffff),
    }
}

// ---------------------------------------------------------------------
// The model of a worker's memory for one call

/// What a worker writes into its arena right before a call.
enum Wr {
    /// These bytes at this address.
    Bytes(u64, Vec<u8>),
    /// `len` copies of a byte.
    Fill(u64, usize, u8),
}

/// The bytes the kernel will find: the read-only page and what the worker
/// wrote for this call (later writes win).
struct Mem<'a> {
    arena: &'a Arena,
    writes: Vec<Wr>,
    /// Writes the kernel itself makes during the call (the record clear).
    kernel: Vec<(u64, Vec<u8>)>,
}

impl Mem<'_> {
    /// What `len` bytes at `addr` hold, or `None` when the kernel cannot
    /// read them. Every byte a call can read successfully was written by
    /// the worker for that call (or is in the read-only page).
    fn read(&self, addr: u64, len: u64) -> Result<Option<Cow<'_, [u8]>>, String> {
        if !self.arena.readable(addr, len) {
            return Ok(None);
        }
        let end = addr + len;
        // Fast path: inside the last write that covers it, which nothing
        // after it overlaps.
        let overlaps = |at: u64, l: usize| at < end && at + l as u64 > addr;
        let kernel_overlaps = self.kernel.iter().any(|(at, b)| overlaps(*at, b.len()));
        if !kernel_overlaps {
            for (k, w) in self.writes.iter().enumerate().rev() {
                if let Wr::Bytes(at, b) = w {
                    if *at <= addr && end <= at + b.len() as u64 {
                        let later = self.writes[k + 1..].iter().any(|w| match w {
                            Wr::Bytes(at, b) => overlaps(*at, b.len()),
                            Wr::Fill(at, l, _) => overlaps(*at, *l),
                        });
                        if !later {
                            let s = (addr - at) as usize;
                            return Ok(Some(Cow::Borrowed(&b[s..s + len as usize])));
                        }
                    }
                }
            }
        }
        let n = len as usize;
        let mut out = vec![0u8; n];
        let mut covered: Vec<(u64, u64)> = Vec::new();
        let mut copy = |at: u64, src: Option<&[u8]>, fill: u8, slen: usize| {
            let (s, e) = (at.max(addr), (at + slen as u64).min(end));
            if s >= e {
                return;
            }
            let dst = &mut out[(s - addr) as usize..(e - addr) as usize];
            match src {
                Some(b) => dst.copy_from_slice(&b[(s - at) as usize..(e - at) as usize]),
                None => dst.fill(fill),
            }
            covered.push((s, e));
        };
        let ro = &self.arena.ro_image;
        copy(self.arena.ro, Some(ro), 0, ro.len());
        for w in &self.writes {
            match w {
                Wr::Bytes(at, b) => copy(*at, Some(b), 0, b.len()),
                Wr::Fill(at, l, v) => copy(*at, None, *v, *l),
            }
        }
        for (at, b) in &self.kernel {
            copy(*at, Some(b), 0, b.len());
        }
        covered.sort_unstable();
        let mut reach = addr;
        for (s, e) in covered {
            if s > reach {
                break;
            }
            reach = reach.max(e);
        }
        if reach >= end {
            Ok(Some(Cow::Owned(out)))
        } else {
            Err(format!(
                "model: {len} bytes at {addr:#x} not all written by the generator"
            ))
        }
    }
}

// ---------------------------------------------------------------------
// The model of a worker's layers

/// One accepted layer as the test process sees it.
struct SimLayer {
    prog: Box<Program>,
    canon: String,
}

/// The worker's strbox state, as the model predicts it.
struct Sim {
    arch: &'static Arch,
    nnp: bool,
    /// Oldest first.
    layers: Vec<SimLayer>,
}

impl Sim {
    fn new(arch: &'static Arch, nnp: bool) -> Sim {
        Sim {
            arch,
            nnp,
            layers: Vec::new(),
        }
    }

    fn predicates(&self) -> usize {
        self.layers.iter().map(|l| l.prog.predicate_count()).sum()
    }

    fn push(&mut self, prog: Box<Program>) {
        let canon = strbox::policy::canonical(&prog, self.arch);
        self.layers.push(SimLayer { prog, canon });
    }

    fn header(i: usize, n: usize) -> String {
        format!("{LAYER_HEADER_PREFIX}{i}/{n}\n")
    }

    /// The length of what `PR_SECCOMP_GET` returns now.
    fn text_len(&self) -> usize {
        let n = self.layers.len();
        (1..=n).map(|i| Sim::header(i, n).len()).sum::<usize>()
            + self.layers.iter().map(|l| l.canon.len()).sum::<usize>()
    }

    /// What `PR_SECCOMP_GET` returns now: each layer's canonical text after
    /// its header line, oldest first.
    fn text(&self) -> Vec<u8> {
        let n = self.layers.len();
        let mut t = String::with_capacity(self.text_len());
        for (i, l) in self.layers.iter().enumerate() {
            t.push_str(&Sim::header(i + 1, n));
            t.push_str(&l.canon);
        }
        t.into_bytes()
    }

    /// Gives the compiled programs back to the pool.
    fn recycle(self, pool: &RefCell<Vec<Box<Program>>>) {
        pool.borrow_mut()
            .extend(self.layers.into_iter().map(|l| l.prog));
    }

    /// The verdict the module's `sys_enter` probe gives syscall register
    /// `nr` with argument registers `args` (mirrors kmod/syscall_entry.rs:
    /// the entry code's number is the low 32 bits, sign-extended; negative
    /// numbers are never filtered; x86_64's x32 bit gets the chain's
    /// default action).
    fn verdict(&self, nr: u64, args: &[u64; 6]) -> Verdict {
        if self.layers.is_empty() {
            return Verdict::Allow;
        }
        let id = nr as u32 as i32;
        if id < 0 {
            return Verdict::Allow;
        }
        if cfg!(target_arch = "x86_64") && nr & 0x4000_0000 != 0 {
            return self.layers.iter().rev().fold(Verdict::Allow, |acc, l| {
                l.prog.default_verdict().combine(acc)
            });
        }
        evaluate_chain(self.layers.iter().rev().map(|l| &*l.prog), id as u32, args)
    }
}

// ---------------------------------------------------------------------
// Policy texts

/// Where an input's text came from (for messages and statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Corpus,
    Mutated,
    Generated,
    Hostile,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::Corpus => "corpus",
            Origin::Mutated => "mutated",
            Origin::Generated => "generated",
            Origin::Hostile => "hostile",
        }
    }
}

/// Syscall names the generated policies talk about: the random-call
/// allow-list plus a few others.
const POLICY_SYSCALLS: &[&str] = &[
    "read",
    "write",
    "close",
    "lseek",
    "fstat",
    "pread64",
    "getpid",
    "getppid",
    "getuid",
    "gettid",
    "uname",
    "getcwd",
    "umask",
    "sched_yield",
    "clock_gettime",
    "nanosleep",
    "getrandom",
    "fcntl",
    "dup",
    "prctl",
    "exit_group",
    "openat",
    "mmap",
    "socket",
    "getrlimit",
    "sysinfo",
    "times",
    "getresuid",
    "newfstatat",
    "statx",
];

/// A mutation of `base` (with another corpus entry for splices).
fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], dict: &[Vec<u8>]) -> Vec<u8> {
    let mut v = base.to_vec();
    let n = 1 + rng.below(4);
    for _ in 0..n {
        match rng.below(8) {
            0 if !v.is_empty() => {
                // Bit flips.
                for _ in 0..1 + rng.below(4) {
                    let i = rng.index(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // Insert random bytes.
                let at = rng.index(v.len() + 1);
                for _ in 0..1 + rng.below(4) {
                    v.insert(at, rng.bits() as u8);
                }
            }
            2 if !dict.is_empty() => {
                let at = rng.index(v.len() + 1);
                let tok = rng.pick(dict);
                v.splice(at..at, tok.iter().copied());
            }
            3 if !v.is_empty() => {
                // Delete a run.
                let at = rng.index(v.len());
                let l = (1 + rng.index(8)).min(v.len() - at);
                v.drain(at..at + l);
            }
            4 => {
                // Splice: a prefix of this one and a suffix of the other.
                let a = rng.index(v.len() + 1);
                let b = rng.index(other.len() + 1);
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            5 if !v.is_empty() => {
                v.truncate(rng.index(v.len()));
            }
            6 if !v.is_empty() => {
                // Duplicate a chunk.
                let a = rng.index(v.len());
                let l = (1 + rng.index(16)).min(v.len() - a);
                let chunk = v[a..a + l].to_vec();
                let at = rng.index(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ => {
                // Overwrite a byte with an interesting one.
                if !v.is_empty() {
                    let i = rng.index(v.len());
                    v[i] = *rng.pick(&[
                        0u8, b'\n', b'(', b')', b'!', b'|', b'&', b'#', 0xff, 0x80, b'9', b' ',
                    ]);
                }
            }
        }
    }
    v
}

/// A value for an argument of type `ty` (usually in range).
fn gen_value(rng: &mut Rng, arch: &Arch, ty: ArgType) -> String {
    let (bits, signed) = match ty {
        ArgType::U8 => (8, false),
        ArgType::I8 => (8, true),
        ArgType::U16 => (16, false),
        ArgType::I16 => (16, true),
        ArgType::U32 => (32, false),
        ArgType::I32 => (32, true),
        ArgType::U64 | ArgType::Ptr => (64, false),
        ArgType::I64 => (64, true),
    };
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    match rng.below(10) {
        0 => "NULL".into(),
        1 => format!("{}", rng.below(8)),
        2 => format!("{:#x}", rng.bits() & max),
        3 if signed => format!("-{}", 1 + rng.below(200)),
        4 => format!("0{:o}", rng.below(0o777)),
        5 => {
            // A named constant that fits.
            let c = rng.pick(arch.constants);
            let v = c.value;
            let fits = if bits == 64 {
                true
            } else {
                v >= -(1i64 << (bits - 1)) && v <= max as i64
            };
            if fits {
                c.name.into()
            } else {
                "1".into()
            }
        }
        6 => {
            // A mask of constants that fit.
            let mut parts = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let c = rng.pick(arch.constants);
                if c.value >= 0 && (c.value as u64) <= max {
                    parts.push(c.name.to_string());
                }
            }
            if parts.is_empty() {
                "0".into()
            } else {
                parts.join("|")
            }
        }
        7 => format!("{}", rng.below(5000)),
        8 => {
            // Something the random calls actually pass.
            format!(
                "{}",
                *rng.pick(&[3u64, 4, 0, 1, 2, 0x53425801, 0x53425802, 16, 4096]) & max
            )
        }
        _ => format!("{}", rng.bits() & max.min(0xffff_ffff)),
    }
}

/// A boolean expression over the arguments of `sys`.
fn gen_expr(
    rng: &mut Rng,
    arch: &Arch,
    args: &[strbox_filter::uapi::tables::Arg],
    depth: u32,
    budget: &mut u32,
) -> String {
    let leaf = depth >= 4 || *budget == 0 || rng.chance(1, 2);
    if leaf {
        *budget = budget.saturating_sub(1);
        if rng.chance(1, 10) {
            return if rng.chance(1, 2) { "1" } else { "0" }.into();
        }
        let (field, ty) = if !args.is_empty() && rng.chance(4, 5) {
            let a = rng.pick(args);
            (a.name.to_string(), a.ty)
        } else {
            let n = rng.below(6);
            let ty = args.get(n as usize).map_or(ArgType::U64, |a| a.ty);
            (format!("arg{n}"), ty)
        };
        let op = *rng.pick(&["==", "!=", "<", "<=", ">", ">=", "&", "in"]);
        return format!("{field} {op} {}", gen_value(rng, arch, ty));
    }
    match rng.below(4) {
        0 => format!("({})", gen_expr(rng, arch, args, depth + 1, budget)),
        1 => format!("!{}", gen_expr(rng, arch, args, depth + 1, budget)),
        2 => format!(
            "{} && {}",
            gen_expr(rng, arch, args, depth + 1, budget),
            gen_expr(rng, arch, args, depth + 1, budget)
        ),
        _ => format!(
            "{} || {}",
            gen_expr(rng, arch, args, depth + 1, budget),
            gen_expr(rng, arch, args, depth + 1, budget)
        ),
    }
}

/// A policy in the language (most compile; some hit limits).
/// `big_one_in`: one policy in that many is a layer near the compiled-size
/// limit.
fn gen_policy(rng: &mut Rng, arch: &Arch, big_one_in: u64) -> Vec<u8> {
    let mut s = String::new();
    if rng.chance(1, 4) {
        s.push_str("# generated\n");
    }
    let default = match rng.below(6) {
        0 => String::new(),
        1 => "default kill\n".into(),
        2 => "default log\n".into(),
        3 => format!("default errno {}\n", 1 + rng.below(150)),
        _ => format!(
            "default errno {}\n",
            rng.pick(&["EPERM", "ENOENT", "EACCES", "EINVAL", "ENOSYS", "EBADF"])
        ),
    };
    let default_first = rng.chance(3, 4);
    if default_first {
        s.push_str(&default);
    }
    // Let the worker go on installing (and reading back) most of the time.
    match rng.below(20) {
        0..=15 => s.push_str("prctl: 1\n"),
        16 | 17 => {
            let _ = writeln!(
                s,
                "prctl: option == {PR_SECCOMP_SET:#x} || option == {PR_SECCOMP_GET:#x}"
            );
        }
        18 => s.push_str("sys_prctl: option >= 0x53425800 && arg4 == 0\n"),
        _ => {}
    }
    if rng.chance(1, 2) {
        s.push_str("exit_group: 1\n");
    }
    // Now and then a layer near the compiled-size limit (1024 predicates),
    // so that some chains reach MAX_CHAIN_PREDICATES (ENOSPC).
    let big = rng.chance(1, big_one_in);
    let rules = if big { 1 } else { rng.below(10) };
    for _ in 0..rules {
        let name = if rng.chance(7, 8) {
            *rng.pick(POLICY_SYSCALLS)
        } else {
            rng.pick(arch.syscalls).name
        };
        let Some(sys) = arch.syscall(name) else {
            continue;
        };
        if sys.nr as usize >= strbox_filter::limits::MAX_NR {
            continue;
        }
        let expr = if big {
            // Long OR chains: hundreds of compiled predicates per layer.
            let k = 600 + rng.below(500);
            let field = sys.args.first().map_or("arg0", |a| a.name);
            let terms: Vec<String> = (0..k).map(|i| format!("{field} == {}", i + 1000)).collect();
            terms.join(" || ")
        } else {
            let mut budget = 12;
            gen_expr(rng, arch, sys.args, 0, &mut budget)
        };
        let prefix = if rng.chance(1, 8) { "sys_" } else { "" };
        let sep = *rng.pick(&[": ", ":", " :\t", ":  "]);
        let _ = write!(s, "{prefix}{}{sep}{expr}", sys.name);
        if rng.chance(1, 8) {
            s.push_str("  # note");
        }
        s.push(if rng.chance(1, 16) { '\r' } else { ' ' });
        s.push('\n');
    }
    if !default_first {
        s.push_str(&default);
    }
    s.into_bytes()
}

/// Hostile texts: sizes at the limit, nesting, odd bytes, long tokens.
fn gen_hostile(rng: &mut Rng, dict: &[Vec<u8>]) -> Vec<u8> {
    let max = MAX_POLICY_BYTES;
    // Texts at the size limit: an eighth of the hostile inputs (each is a
    // 64 KiB copy and compile in the kernel and in the model).
    if rng.chance(1, 8) {
        let size = *rng.pick(&[max - 1, max, max + 1, max - 2, max + 2]);
        return match rng.below(6) {
            0 => {
                // One comment line of exactly `size` bytes.
                let mut v = vec![b'#'; size];
                if rng.chance(1, 2) {
                    v[size - 1] = b'\n';
                }
                v
            }
            1 => vec![*rng.pick(b"\n "); size],
            2 => {
                // Valid rules repeated up to `size` (too many rules).
                let rules: [&[u8]; 3] = [b"getpid: 1\n", b"read: fd == 0\n", b"#\n"];
                let rule = *rng.pick(&rules);
                let mut v = Vec::with_capacity(size);
                while v.len() + rule.len() <= size {
                    v.extend_from_slice(rule);
                }
                v.resize(size, b' ');
                v
            }
            3 => {
                // A valid policy padded with a comment to an exact size.
                let mut v = b"default errno EPERM\nprctl: 1\n#".to_vec();
                v.resize(size, b'x');
                v
            }
            4 => {
                // One long line of valid tokens, no newline.
                let mut s = String::from("read: fd == 0");
                while s.len() < size {
                    s.push_str(" || fd == 1");
                }
                s.truncate(size);
                s.into_bytes()
            }
            _ => (0..size).map(|_| rng.bits() as u8).collect(),
        };
    }
    // Mostly short, sometimes very long.
    let long = |rng: &mut Rng| -> usize {
        if rng.chance(1, 16) {
            rng.range(4096, 70_000) as usize
        } else {
            *rng.pick(&[20usize, 64, 100, 255, 256, 1000])
        }
    };
    match rng.below(12) {
        0 => {
            // Deep parentheses around the limit, balanced or not.
            let d = *rng.pick(&[31usize, 32, 33, 34, 64, 1000, 20000]);
            let close = if rng.chance(3, 4) { d } else { d - 1 };
            format!("read: {}fd == 0{}\n", "(".repeat(d), ")".repeat(close)).into_bytes()
        }
        1 => {
            // `!` chains, with and without parentheses.
            let d = long(rng);
            let unit = *rng.pick(&["!", "!(", " ! "]);
            let closers = if unit == "!(" {
                ")".repeat(d)
            } else {
                String::new()
            };
            format!("getppid: {}arg0 == 1{closers}\n", unit.repeat(d)).into_bytes()
        }
        2 => {
            // A very long identifier in each position.
            let id = "a".repeat(long(rng));
            match rng.below(4) {
                0 => format!("{id}: 1\n"),
                1 => format!("read: {id} == 1\n"),
                2 => format!("default errno {id}\n"),
                _ => format!("read: fd == {id}\n"),
            }
            .into_bytes()
        }
        3 => {
            // A very long number.
            let n: String = (0..long(rng))
                .map(|_| (b'0' + rng.below(10) as u8) as char)
                .collect();
            match rng.below(4) {
                0 => format!("read: fd == {n}\n"),
                1 => format!("default errno {n}\n"),
                2 => format!("read: fd == -{n}\n"),
                _ => format!("read: fd == 0x{n}\n"),
            }
            .into_bytes()
        }
        4 => {
            // NUL bytes in a valid policy.
            let mut v = b"default errno EPERM\nread: fd == 0\nwrite: fd == 1\n".to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.index(v.len() + 1);
                v.insert(at, 0);
            }
            v
        }
        5 => {
            // Non-UTF-8 bytes.
            let mut v = b"read: fd == 0 # comment \xc3\xa9\n".to_vec();
            let bads: [&[u8]; 5] = [
                b"\xff",
                b"\xc0\xaf",
                b"\xed\xa0\x80",
                b"\x80",
                b"\xf4\x90\x80\x80",
            ];
            let bad = *rng.pick(&bads);
            let at = rng.index(v.len() + 1);
            v.splice(at..at, bad.iter().copied());
            v
        }
        6 => {
            // Predicates in one rule around MAX_PREDICATES (and the
            // compiled limit, MAX_PROGRAM_PREDICATES).
            let k = *rng.pick(&[1023usize, 1024, 1025, 2047, 2048, 2049]);
            let terms: Vec<String> = (0..k).map(|i| format!("arg0 == {i}")).collect();
            format!("getppid: {}\n", terms.join(" || ")).into_bytes()
        }
        7 => {
            // Rules around MAX_RULES.
            let k = *rng.pick(&[1023usize, 1024, 1025]);
            let mut s = String::new();
            for i in 0..k {
                let _ = writeln!(s, "getppid: arg0 == {i}");
            }
            s.into_bytes()
        }
        8 => {
            let n = *rng.pick(&[1usize, 7, 100, 4096]);
            (0..n).map(|_| rng.bits() as u8).collect()
        }
        9 => {
            // Dictionary soup.
            let mut v = Vec::new();
            for _ in 0..rng.range(1, 200) {
                if let Some(t) = dict.get(rng.index(dict.len().max(1))) {
                    v.extend_from_slice(t);
                }
                if rng.chance(1, 3) {
                    v.push(b' ');
                }
            }
            v
        }
        10 => Vec::new(),
        _ => {
            // A value out of its type's range, a huge errno, a bad escape.
            let cases: [&[u8]; 6] = [
                b"read: fd == 4294967296\n",
                b"read: fd == -2147483649\n",
                b"default errno 4096\n",
                b"default errno 0\n",
                b"read: count == -9223372036854775809\n",
                b"read: fd == \"x\"\n",
            ];
            rng.pick(&cases).to_vec()
        }
    }
}

// ---------------------------------------------------------------------
// Inputs: a text and its envelope

/// Where the struct is.
#[derive(Clone, Copy, Debug)]
enum ArgsAt {
    /// At this offset of the args region (room for `size` bytes).
    Page(u64),
    /// Only the first `k` bytes are readable (the rest is a guard page).
    Cross(u64),
    /// The fixed struct in the read-only page.
    Ro,
    Bad(u64),
}

/// Where the text is.
#[derive(Clone, Copy, Debug)]
enum TextAt {
    /// At this offset of the policy region.
    Region(u64),
    /// Ending exactly at the guard page after the policy region.
    EndAtGuard,
    /// Somewhere in the read-only page.
    Ro(u64),
    Bad(u64),
}

/// Where the error record is.
#[derive(Clone, Copy, Debug)]
enum RecordAt {
    None,
    /// At this offset of the record page.
    Page(u64),
    /// Only `k` (< 16) bytes writable before the guard page.
    Cross(u64),
    /// In the read-only page.
    Ro,
    /// Inside the policy text, `k` bytes after its start.
    AliasText(u64),
    Bad(u64),
}

/// How a `PR_SECCOMP_SET` is made.
#[derive(Clone, Debug)]
struct Envelope {
    option_hi: u64,
    size: u64,
    /// A non-zero byte at this offset of the struct's tail, if any.
    tail_byte: Option<u64>,
    args_at: ArgsAt,
    text_at: TextAt,
    /// `policy_len`: `None` = the text's length.
    policy_len: Option<u64>,
    /// What follows the text up to `policy_len` (`None`: nothing, the text
    /// ends at the guard page so a longer read faults).
    filler: Option<u8>,
    flags: u64,
    record_at: RecordAt,
    arg4: u64,
    arg5: u64,
}

fn gen_envelope(rng: &mut Rng, text_len: usize) -> Envelope {
    let mut e = Envelope {
        option_hi: 0,
        size: STRBOX_SET_ARGS_SIZE_VER0 as u64,
        tail_byte: None,
        args_at: ArgsAt::Page(0),
        text_at: TextAt::Region(0),
        policy_len: None,
        filler: Some(b' '),
        flags: 0,
        record_at: RecordAt::Page(0),
        arg4: 0,
        arg5: 0,
    };
    // Clean, with the usual variations.
    if rng.chance(1, 4) {
        e.flags = STRBOX_SET_TSYNC;
    }
    if rng.chance(1, 4) {
        e.size = rng.range(33, 512);
    }
    if rng.chance(1, 3) {
        e.args_at = ArgsAt::Page(rng.below(64));
    }
    if rng.chance(1, 3) {
        e.text_at = if rng.chance(1, 2) {
            TextAt::EndAtGuard
        } else {
            TextAt::Region(rng.below(4096))
        };
    }
    e.record_at = match rng.below(6) {
        0 => RecordAt::None,
        1 => RecordAt::Page(rng.below(4096 - 16)),
        _ => RecordAt::Page(0),
    };
    if rng.chance(1, 16) {
        e.option_hi = rng.bits() << 32;
    }
    if rng.chance(8, 10) {
        return e;
    }
    // Hostile: each part with some probability.
    if rng.chance(1, 3) {
        e.size = match rng.below(8) {
            0 => 0,
            1 => rng.below(32),
            2 => STRBOX_SET_ARGS_SIZE_MAX as u64,
            3 => STRBOX_SET_ARGS_SIZE_MAX as u64 + 1,
            4 => u64::MAX - rng.below(2),
            5 => (1 << 32) | 32,
            6 => rng.range(33, 4097),
            _ => rng.bits(),
        };
    }
    if e.size > 32 && rng.chance(1, 3) {
        let tail = e.size.min(STRBOX_SET_ARGS_SIZE_MAX as u64) - 32;
        if tail > 0 {
            e.tail_byte = Some(32 + rng.below(tail));
        }
    }
    if rng.chance(1, 4) {
        e.args_at = match rng.below(5) {
            0 => ArgsAt::Cross(rng.below(e.size.clamp(1, 4096))),
            1 => ArgsAt::Ro,
            2 => ArgsAt::Page(1 + 8 * rng.below(4)),
            _ => ArgsAt::Bad(bad_pointer(rng)),
        };
    }
    if rng.chance(1, 4) {
        e.text_at = match rng.below(4) {
            0 => TextAt::Ro(*rng.pick(&[RO_TEXT, 0, RO_PATH_ROOT, 4096 - 8])),
            1 => TextAt::EndAtGuard,
            _ => TextAt::Bad(bad_pointer(rng)),
        };
    }
    if rng.chance(1, 4) {
        let t = text_len as u64;
        let r = rng.below(10);
        e.policy_len = Some(match r {
            0 => 0,
            1 => t + 1,
            2 => t.saturating_sub(1),
            3 => u64::MAX,
            4 => POLICY_READ_MAX,
            5 => MAX_POLICY_BYTES as u64,
            6 => t + rng.below(100),
            7 => (1 << 32) | t,
            _ => rng.below(t + 1),
        });
        e.filler = if rng.chance(1, 4) {
            // The read runs into the guard page after the text.
            e.text_at = TextAt::EndAtGuard;
            None
        } else {
            Some(*rng.pick(&[b' ', b'\n', 0, b'#', b'x']))
        };
    }
    if rng.chance(1, 4) {
        e.flags = match rng.below(5) {
            0 => 2,
            1 => 1 << 63,
            2 => rng.bits(),
            3 => STRBOX_SET_FLAGS_ALL | 4,
            _ => !STRBOX_SET_FLAGS_ALL,
        };
    }
    if rng.chance(1, 3) {
        e.record_at = match rng.below(5) {
            0 => RecordAt::Cross(1 + rng.below(15)),
            1 => RecordAt::Ro,
            2 => RecordAt::AliasText(rng.below(64)),
            3 => RecordAt::Page(1 + 2 * rng.below(8)),
            _ => RecordAt::Bad(bad_pointer(rng).max(1)),
        };
    }
    if rng.chance(1, 8) {
        if rng.chance(1, 2) {
            e.arg4 = 1 + rng.below(u64::MAX - 1);
        } else {
            e.arg5 = *rng.pick(&[1, u64::MAX, 1 << 32]);
        }
    }
    e
}

/// The text of input `index`: its origin and bytes.
fn gen_text(ctx: &Ctx, index: usize, rng: &mut Rng) -> (Origin, Vec<u8>) {
    // In every 1024 inputs, one block of 64 favours layers near the
    // compiled-size limit, so that some chains reach MAX_CHAIN_PREDICATES
    // (ENOSPC), and one has only generated policies (which mostly allow
    // prctl), so that some workers stack MAX_LAYERS layers (EMLINK).
    let block = (index / 64) % 16;
    let big = if block == 7 { 2 } else { 30 };
    let corpus = seeds::CORPUS;
    let pick = |rng: &mut Rng| -> &[u8] {
        if corpus.is_empty() {
            b"read: fd == 0\n"
        } else {
            corpus[rng.index(corpus.len())]
        }
    };
    let class = if block == 11 {
        rng.range(42, 78)
    } else {
        rng.below(100)
    };
    match class {
        0..=5 => (Origin::Corpus, pick(rng).to_vec()),
        6..=41 => {
            let (a, b) = (pick(rng), pick(rng));
            (Origin::Mutated, mutate(rng, a, b, &ctx.dict))
        }
        42..=77 => (Origin::Generated, gen_policy(rng, ctx.arch, big)),
        78..=89 => {
            let g = gen_policy(rng, ctx.arch, big);
            let o = pick(rng);
            (Origin::Mutated, mutate(rng, &g, o, &ctx.dict))
        }
        _ => (Origin::Hostile, gen_hostile(rng, &ctx.dict)),
    }
}

// ---------------------------------------------------------------------
// Steps: the calls a worker makes, each predicted

/// What a call must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Return exactly this raw value (`-errno` on failure).
    Ret(i64),
    /// Return one of these (a struct both unreadable and with non-zero
    /// bytes past the known fields: docs/abi.md allows both errnos).
    Either(i64, i64),
    /// Anything: a random syscall the layers let run.
    Any,
    /// Never return: a `kill` verdict.
    Killed,
    /// End the process with status 0 (`exit_group` the layers allow).
    Exits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepKind {
    /// An input's `PR_SECCOMP_SET`.
    Set,
    /// `PR_SECCOMP_GET(NULL, 0)` after a SET: the length of the text.
    LenCheck,
    /// A `PR_SECCOMP_GET` probe with random arguments.
    Get,
    /// The next input's `PR_SECCOMP_SET` that the layers deny (errno).
    Denied,
    /// The next input's `PR_SECCOMP_SET` that the layers kill.
    KillProbe,
    /// A random syscall.
    Random,
    /// `exit_group(0)`.
    Exit,
}

/// A memory check after a call returned.
struct Check {
    addr: u64,
    want: Vec<u8>,
    what: &'static str,
}

/// One call of a worker.
struct Step {
    kind: StepKind,
    /// Input index (SET/GET/LenCheck/Denied/KillProbe) or call number.
    input: usize,
    /// Syscall name (for messages).
    name: &'static str,
    nr: u64,
    args: [u64; 6],
    verdict: Verdict,
    expect: Expect,
    writes: Vec<Wr>,
    checks: Vec<Check>,
}

/// A SET call, placed in memory and predicted.
struct SetCall {
    args: [u64; 6],
    writes: Vec<Wr>,
    expect: Expect,
    checks: Vec<Check>,
    accepted: Option<Box<Program>>,
    /// The error record's address and bytes before the call, when it is
    /// writable memory the worker filled.
    record_before: Option<(u64, Vec<u8>)>,
}

/// Everything the parent needs to generate and predict.
struct Ctx<'a> {
    seed: u64,
    arch: &'static Arch,
    arena: &'a Arena,
    dict: Vec<Vec<u8>>,
    /// The host compiler's working memory, reused for every input.
    scratch: RefCell<Box<Scratch>>,
    prog: RefCell<Box<Program>>,
    /// Programs of finished batches, for reuse (fewer large allocations:
    /// every fresh page is a page fault, slow on debug kernels).
    programs: RefCell<Vec<Box<Program>>>,
}

impl<'a> Ctx<'a> {
    fn new(seed: u64, arch: &'static Arch, arena: &'a Arena) -> Ctx<'a> {
        Ctx {
            seed,
            arch,
            arena,
            dict: parse_dict(seeds::DICT),
            scratch: RefCell::new(Box::new(Scratch::new())),
            prog: RefCell::new(Box::new(Program::new())),
            programs: RefCell::new(Vec::new()),
        }
    }
}

fn neg(errno: i32) -> i64 {
    -i64::from(errno)
}

/// Places input `text` with envelope `e` in the worker's memory: the
/// registers and the writes.
fn place_set(a: &Arena, text: Vec<u8>, e: &Envelope) -> ([u64; 6], Vec<Wr>, u64) {
    let mut writes = Vec::new();
    // The policy image: what the kernel reads, starting with the text.
    let policy_len = e.policy_len.unwrap_or(text.len() as u64);
    let read_len = policy_len.min(POLICY_READ_MAX);
    let image_len = match e.filler {
        Some(_) => read_len.max(text.len() as u64) as usize,
        None => text.len(),
    };
    let room = |n: usize| a.policy_len.saturating_sub(n as u64);
    let p = match e.text_at {
        TextAt::Region(off) => a.policy + off.min(room(image_len)),
        TextAt::EndAtGuard => a.policy + room(image_len),
        TextAt::Ro(off) => a.ro + off,
        TextAt::Bad(b) => b,
    };
    let in_region = matches!(e.text_at, TextAt::Region(_) | TextAt::EndAtGuard);
    let written = if in_region {
        let n = image_len.min(a.writable_extent(p) as usize);
        let mut image = text;
        image.resize(n, e.filler.unwrap_or(0));
        writes.push(Wr::Bytes(p, image));
        n as u64
    } else {
        0
    };
    // The record.
    let rec = match e.record_at {
        RecordAt::None => 0,
        RecordAt::Page(off) => a.record + off.min(a.page - 16),
        RecordAt::Cross(k) => a.record + a.page - k,
        RecordAt::Ro => a.ro + 512,
        RecordAt::AliasText(k) if written >= k + 16 => p + k,
        RecordAt::AliasText(_) => a.record,
        RecordAt::Bad(b) => b,
    };
    if rec >= a.record && rec < a.record + a.page {
        let n = a.writable_extent(rec).min(16) as usize;
        writes.push(Wr::Fill(rec, n, 0xa5));
    }
    // The struct.
    let head = StrboxSetArgs {
        policy: p,
        policy_len,
        flags: e.flags,
        error: rec,
    }
    .to_bytes();
    let struct_len = e.size.clamp(32, STRBOX_SET_ARGS_SIZE_MAX as u64);
    let mut st = head.to_vec();
    st.resize(struct_len as usize, 0);
    if let Some(t) = e.tail_byte {
        if let Some(b) = st.get_mut(t as usize) {
            *b = 0x5a;
        }
    }
    let sp = match e.args_at {
        ArgsAt::Page(off) => a.args + off.min(a.args_len - struct_len),
        ArgsAt::Cross(k) => a.args + a.args_len - k.min(struct_len - 1),
        ArgsAt::Ro => a.ro,
        ArgsAt::Bad(b) => b,
    };
    if matches!(e.args_at, ArgsAt::Page(_) | ArgsAt::Cross(_)) {
        let n = (a.writable_extent(sp) as usize).min(st.len());
        writes.push(Wr::Bytes(sp, st[..n].to_vec()));
    }
    let option = u64::from(PR_SECCOMP_SET) | e.option_hi;
    ([option, sp, e.size, e.arg4, e.arg5, 0], writes, rec)
}

/// What [`predict_set`] returns: the expectation, the memory checks and
/// the compiled program if the layer is installed.
type Prediction = (Expect, Vec<Check>, Option<Box<Program>>);

/// Predicts the module's answer to a placed SET (whose prctl passed the
/// caller's layers): the documented checks over the model of the worker's
/// memory, in the order the module makes them. (docs/abi.md's table lists
/// "the policy text is not accessible" (EFAULT) before the `flags` and
/// `EACCES` checks; the module reads the text after them, as seccomp
/// copies a filter after its flag and privilege checks. Either answer is a
/// documented errno; this model holds the module to its actual order.) Returns the expectation, the memory
/// checks and the compiled program if the layer is installed.
fn predict_set(
    ctx: &Ctx,
    sim: &Sim,
    args: &[u64; 6],
    mem: &mut Mem,
    record_before: &Option<(u64, Vec<u8>)>,
) -> Result<Prediction, String> {
    let a = ctx.arena;
    let (sp, size) = (args[1], args[2]);
    let mut checks = Vec::new();
    let untouched = |e: Expect| {
        let mut checks = Vec::new();
        if let Some((at, b)) = record_before {
            checks.push(Check {
                addr: *at,
                want: b.clone(),
                what: "error record (must be untouched)",
            });
        }
        Ok((e, checks, None))
    };
    if args[3] != 0 || args[4] != 0 || size < STRBOX_SET_ARGS_SIZE_VER0 as u64 {
        return untouched(Expect::Ret(neg(libc::EINVAL)));
    }
    if size > STRBOX_SET_ARGS_SIZE_MAX as u64 {
        return untouched(Expect::Ret(neg(libc::E2BIG)));
    }
    // The struct: the head, then the tail (in 64-byte chunks: a chunk
    // that is only partly readable faults, so a struct that is both
    // unreadable and has non-zero bytes in its readable tail may get
    // either errno).
    let extent = a
        .regions
        .iter()
        .find(|&&(s, l, _)| sp >= s && sp < s + l)
        .map_or(0, |&(s, l, _)| s + l - sp);
    let visible = extent.min(size);
    let nonzero_tail = visible > 32
        && mem
            .read(sp + 32, visible - 32)?
            .is_some_and(|b| b.iter().any(|&x| x != 0));
    let full = visible == size;
    let head = match mem.read(sp, 32)? {
        Some(h) if full && !nonzero_tail => h,
        Some(_) if full => return untouched(Expect::Ret(neg(libc::E2BIG))),
        Some(_) if nonzero_tail => {
            return untouched(Expect::Either(neg(libc::E2BIG), neg(libc::EFAULT)))
        }
        _ => return untouched(Expect::Ret(neg(libc::EFAULT))),
    };
    let mut hb = [0u8; STRBOX_SET_ARGS_SIZE_VER0];
    hb.copy_from_slice(&head);
    let got = StrboxSetArgs::from_bytes(&hb);
    // The record is cleared (EFAULT if it cannot be; its bytes are then
    // not ours to check).
    if got.error != 0 {
        if !a.writable(got.error, 16) {
            return Ok((Expect::Ret(neg(libc::EFAULT)), checks, None));
        }
        mem.kernel.push((got.error, vec![0; 16]));
    }
    let record = |checks: &mut Vec<Check>, bytes: [u8; STRBOX_ERROR_SIZE]| {
        if got.error != 0 {
            checks.push(Check {
                addr: got.error,
                want: bytes.to_vec(),
                what: "error record",
            });
        }
    };
    let zeros = [0u8; STRBOX_ERROR_SIZE];
    let fail = |mut checks: Vec<Check>, errno: i32| {
        record(&mut checks, zeros);
        Ok((Expect::Ret(neg(errno)), checks, None))
    };
    if got.flags & !STRBOX_SET_FLAGS_ALL != 0 {
        return fail(checks, libc::EINVAL);
    }
    if !sim.nnp {
        return fail(checks, libc::EACCES);
    }
    let rl = got.policy_len.min(POLICY_READ_MAX);
    let Some(bytes) = mem.read(got.policy, rl)? else {
        return fail(checks, libc::EFAULT);
    };
    let compiled = {
        let mut scratch = ctx.scratch.borrow_mut();
        let mut prog = ctx.prog.borrow_mut();
        strbox_filter::compile(&bytes, ctx.arch, &mut scratch, &mut prog).map(|()| {
            match ctx.programs.borrow_mut().pop() {
                Some(mut b) => {
                    b.clone_from(&prog);
                    b
                }
                None => Box::new((**prog).clone()),
            }
        })
    };
    match compiled {
        Err(pe) => {
            let errno = if pe.code == ErrorCode::PolicyTooLarge {
                libc::E2BIG
            } else {
                libc::EINVAL
            };
            let r = strbox::abi::StrboxError {
                code: pe.code as u32,
                offset: pe.offset,
                line: pe.line,
                column: pe.column,
            };
            record(&mut checks, r.to_bytes());
            Ok((Expect::Ret(neg(errno)), checks, None))
        }
        Ok(prog) => {
            if sim.layers.len() >= MAX_LAYERS {
                return fail(checks, libc::EMLINK);
            }
            if sim.predicates() + prog.predicate_count() > MAX_CHAIN_PREDICATES {
                return fail(checks, libc::ENOSPC);
            }
            record(&mut checks, zeros);
            Ok((Expect::Ret(0), checks, Some(prog)))
        }
    }
}

/// Places and predicts one input's SET.
fn make_set(ctx: &Ctx, sim: &Sim, text: Vec<u8>, e: &Envelope) -> Result<SetCall, String> {
    let (args, writes, rec) = place_set(ctx.arena, text, e);
    let mut mem = Mem {
        arena: ctx.arena,
        writes,
        kernel: Vec::new(),
    };
    let record_before = if rec != 0 && ctx.arena.writable(rec, 16) {
        mem.read(rec, 16)?.map(|b| (rec, b.into_owned()))
    } else {
        None
    };
    let (expect, checks, accepted) = predict_set(ctx, sim, &args, &mut mem, &record_before)?;
    Ok(SetCall {
        args,
        writes: mem.writes,
        expect,
        checks,
        accepted,
        record_before,
    })
}

/// A `PR_SECCOMP_GET` probe with random arguments, predicted.
fn place_get(rng: &mut Rng, a: &Arena, sim: &Sim) -> ([u64; 6], Vec<Wr>, Expect, Vec<Check>) {
    let l = sim.text_len() as u64;
    let size = match rng.below(9) {
        0 => 0,
        1 | 2 => l,
        3 => l + 1,
        4 => l.saturating_sub(1),
        5 => 1,
        6 => u64::MAX,
        7 => (1 << 32) | l,
        _ => rng.below(2 * l + 2),
    };
    let buf = match rng.below(8) {
        0..=2 => a.get,
        3 => a.get + 1 + rng.below(15),
        4 => a.get + a.get_len - l.saturating_sub(1 + rng.below(l.max(1))).min(a.get_len),
        5 => a.ro,
        _ => bad_pointer(rng),
    };
    let (arg4, arg5) = if rng.chance(1, 12) {
        (rng.bits() | 1, 0)
    } else if rng.chance(1, 12) {
        (0, 1)
    } else {
        (0, 0)
    };
    let hi = if rng.chance(1, 8) {
        rng.bits() << 32
    } else {
        0
    };
    let args = [u64::from(PR_SECCOMP_GET) | hi, buf, size, arg4, arg5, 0];
    let mut writes = Vec::new();
    let mut checks = Vec::new();
    let expect = if arg4 != 0 || arg5 != 0 {
        Expect::Ret(neg(libc::EINVAL))
    } else if size == 0 {
        Expect::Ret(l as i64)
    } else if size < l {
        Expect::Ret(neg(libc::ERANGE))
    } else if l == 0 {
        Expect::Ret(0)
    } else if !a.writable(buf, l) {
        Expect::Ret(neg(libc::EFAULT))
    } else {
        writes.push(Wr::Fill(buf, l as usize, 0xa5));
        checks.push(Check {
            addr: buf,
            want: sim.text(),
            what: "PR_SECCOMP_GET text",
        });
        Expect::Ret(l as i64)
    };
    (args, writes, expect, checks)
}

// ---------------------------------------------------------------------
// Random syscalls

/// Kinds of random arguments.
#[derive(Clone, Copy, Debug)]
enum K {
    /// Any value (an argument the kernel does not use as a pointer).
    Any,
    Fd,
    /// A pointer the kernel may write through: scratch or bad.
    Buf,
    Len,
    Int,
    /// A path: a string in the read-only page, scratch, or bad.
    Path,
    /// A timespec that sleeps 0 or is invalid (never a long sleep).
    Ts,
    Clock,
    /// getrandom flags (always with GRND_NONBLOCK).
    Grnd,
}

use K::{Any, Buf, Clock, Fd, Grnd, Int, Len, Path, Ts};

/// The allow-list: syscalls that are harmless for an unprivileged
/// process with any arguments of these kinds, present on x86_64 and
/// aarch64. (`prctl` and `fcntl` have their own generators.)
const RANDOM_CALLS: &[(libc::c_long, &str, [K; 6])] = &[
    (libc::SYS_getpid, "getpid", [Any; 6]),
    (libc::SYS_getppid, "getppid", [Any; 6]),
    (libc::SYS_getuid, "getuid", [Any; 6]),
    (libc::SYS_geteuid, "geteuid", [Any; 6]),
    (libc::SYS_getgid, "getgid", [Any; 6]),
    (libc::SYS_getegid, "getegid", [Any; 6]),
    (libc::SYS_gettid, "gettid", [Any; 6]),
    (libc::SYS_sched_yield, "sched_yield", [Any; 6]),
    (libc::SYS_getpgid, "getpgid", [Int, Any, Any, Any, Any, Any]),
    (libc::SYS_getsid, "getsid", [Int, Any, Any, Any, Any, Any]),
    (libc::SYS_read, "read", [Fd, Buf, Len, Any, Any, Any]),
    (libc::SYS_write, "write", [Fd, Buf, Len, Any, Any, Any]),
    (libc::SYS_pread64, "pread64", [Fd, Buf, Len, Any, Any, Any]),
    (
        libc::SYS_pwrite64,
        "pwrite64",
        [Fd, Buf, Len, Any, Any, Any],
    ),
    (libc::SYS_close, "close", [Fd, Any, Any, Any, Any, Any]),
    (libc::SYS_dup, "dup", [Fd, Any, Any, Any, Any, Any]),
    (libc::SYS_lseek, "lseek", [Fd, Any, Int, Any, Any, Any]),
    (libc::SYS_fstat, "fstat", [Fd, Buf, Any, Any, Any, Any]),
    (libc::SYS_fsync, "fsync", [Fd, Any, Any, Any, Any, Any]),
    (
        libc::SYS_fdatasync,
        "fdatasync",
        [Fd, Any, Any, Any, Any, Any],
    ),
    (
        libc::SYS_ftruncate,
        "ftruncate",
        [Fd, Any, Any, Any, Any, Any],
    ),
    (libc::SYS_flock, "flock", [Fd, Int, Any, Any, Any, Any]),
    (
        libc::SYS_getdents64,
        "getdents64",
        [Fd, Buf, Len, Any, Any, Any],
    ),
    (libc::SYS_uname, "uname", [Buf, Any, Any, Any, Any, Any]),
    (libc::SYS_getcwd, "getcwd", [Buf, Len, Any, Any, Any, Any]),
    (libc::SYS_umask, "umask", [Any; 6]),
    (
        libc::SYS_gettimeofday,
        "gettimeofday",
        [Buf, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_getrlimit,
        "getrlimit",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_getrusage,
        "getrusage",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (libc::SYS_sysinfo, "sysinfo", [Buf, Any, Any, Any, Any, Any]),
    (libc::SYS_times, "times", [Buf, Any, Any, Any, Any, Any]),
    (
        libc::SYS_getresuid,
        "getresuid",
        [Buf, Buf, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_getresgid,
        "getresgid",
        [Buf, Buf, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_getgroups,
        "getgroups",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (libc::SYS_capget, "capget", [Buf, Buf, Any, Any, Any, Any]),
    (
        libc::SYS_getpriority,
        "getpriority",
        [Int, Int, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getparam,
        "sched_getparam",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getscheduler,
        "sched_getscheduler",
        [Int, Any, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_get_priority_max,
        "sched_get_priority_max",
        [Int, Any, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_rr_get_interval,
        "sched_rr_get_interval",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getaffinity,
        "sched_getaffinity",
        [Int, Len, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_sched_getattr,
        "sched_getattr",
        [Int, Buf, Len, Int, Any, Any],
    ),
    (libc::SYS_getcpu, "getcpu", [Buf, Buf, Buf, Any, Any, Any]),
    (
        libc::SYS_clock_gettime,
        "clock_gettime",
        [Clock, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_clock_getres,
        "clock_getres",
        [Clock, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_clock_nanosleep,
        "clock_nanosleep",
        [Clock, Int, Ts, Buf, Any, Any],
    ),
    (
        libc::SYS_nanosleep,
        "nanosleep",
        [Ts, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_getitimer,
        "getitimer",
        [Int, Buf, Any, Any, Any, Any],
    ),
    (
        libc::SYS_newfstatat,
        "newfstatat",
        [Fd, Path, Buf, Int, Any, Any],
    ),
    (libc::SYS_statx, "statx", [Fd, Path, Int, Int, Buf, Any]),
    (
        libc::SYS_readlinkat,
        "readlinkat",
        [Fd, Path, Buf, Len, Any, Any],
    ),
    (
        libc::SYS_faccessat,
        "faccessat",
        [Fd, Path, Int, Any, Any, Any],
    ),
    (
        libc::SYS_faccessat2,
        "faccessat2",
        [Fd, Path, Int, Int, Any, Any],
    ),
    (
        libc::SYS_get_robust_list,
        "get_robust_list",
        [Int, Buf, Buf, Any, Any, Any],
    ),
    (
        libc::SYS_getrandom,
        "getrandom",
        [Buf, Len, Grnd, Any, Any, Any],
    ),
    (
        libc::SYS_membarrier,
        "membarrier",
        [Int, Int, Int, Any, Any, Any],
    ),
    (libc::SYS_mincore, "mincore", [Any, Len, Buf, Any, Any, Any]),
];

/// The fds a worker has: 0-2 and 3 on /dev/null, 4 on /dev/zero.
const FD_NULL: u64 = 3;
const FD_ZERO: u64 = 4;

fn any_value(rng: &mut Rng, arch: &Arch) -> u64 {
    match rng.below(10) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => rng.below(16),
        4 => *rng.pick(&[
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            i64::MAX as u64,
            i64::MIN as u64,
            0xffff_ffff_0000_0000,
            u64::from(PR_SECCOMP_SET),
            u64::from(PR_SECCOMP_GET),
        ]),
        5 => rng.bits(),
        6 => rng.bits() & 0xffff_ffff,
        7 => rng.pick(arch.constants).value as u64,
        8 => (rng.bits() << 32) | rng.below(8),
        _ => (-(rng.below(200) as i64)) as u64,
    }
}

fn arg_value(rng: &mut Rng, a: &Arena, arch: &Arch, k: K) -> u64 {
    match k {
        Any => any_value(rng, arch),
        Fd => match rng.below(10) {
            0..=2 => *rng.pick(&[0, 1, 2, FD_NULL, FD_ZERO, 5, 6]),
            3 => FD_ZERO,
            4 => FD_NULL,
            5 => u64::MAX,
            6 => (-100i64) as u64,
            7 => (rng.bits() << 32) | FD_ZERO,
            8 => 1000 + rng.below(1 << 20),
            _ => rng.bits() & 0xffff_ffff,
        },
        Buf => match rng.below(8) {
            0..=3 => a.scratch + rng.below(a.scratch_len),
            4 => a.scratch + a.scratch_len - 1 - rng.below(64),
            5 => a.scratch,
            _ => bad_pointer(rng),
        },
        Len => {
            let r = rng.below(1 << 20);
            *rng.pick(&[
                0,
                1,
                2,
                8,
                16,
                64,
                100,
                4096,
                8192,
                65536,
                r,
                0xffff_ffff,
                u64::MAX,
                i64::MIN as u64,
            ])
        }
        Int => match rng.below(6) {
            0 => rng.below(4),
            1 => u64::MAX,
            2 => rng.below(100),
            3 => rng.bits() & 0xffff_ffff,
            4 => *rng.pick(&[0x7fff_ffff, 0x8000_0000, 0x100, 0x1000]),
            _ => any_value(rng, arch),
        },
        Path => match rng.below(8) {
            0 => a.ro + RO_PATH_ROOT,
            1 => a.ro + RO_PATH_STATUS,
            2 => a.ro + RO_PATH_EMPTY,
            3 => a.ro + RO_PATH_EXE,
            4 => a.scratch + rng.below(a.scratch_len),
            _ => bad_pointer(rng),
        },
        Ts => match rng.below(5) {
            0 | 1 => a.ro + RO_ZERO_TS,
            2 => a.ro + RO_BAD_TS,
            _ => bad_pointer(rng),
        },
        Clock => match rng.below(4) {
            0 | 1 => rng.below(12),
            2 => (!(3u64 << 3)) | 3,
            _ => any_value(rng, arch),
        },
        Grnd => rng.below(8) | 1,
    }
}

/// One random syscall: (number register, arguments, name). The number may
/// carry garbage in its upper half (the kernel uses the low 32 bits) or be
/// one no kernel of ours implements.
fn gen_random_call(rng: &mut Rng, a: &Arena, arch: &Arch) -> (u64, [u64; 6], &'static str) {
    let mut args = [0u64; 6];
    let (nr, name) = match rng.below(20) {
        0..=2 => {
            args = prctl_args(rng, a, arch);
            (libc::SYS_prctl as u64, "prctl")
        }
        3 => {
            args = fcntl_args(rng, a, arch);
            (libc::SYS_fcntl as u64, "fcntl")
        }
        4 => {
            // Numbers that run nothing: unused, x32 (x86_64), negative.
            for v in args.iter_mut() {
                *v = any_value(rng, arch);
            }
            let nr = match rng.below(3) {
                0 => rng.range(u64::from(arch.nr_syscalls), 0x4000_0000),
                1 => 0x4000_0000 | (libc::SYS_getppid as u64),
                _ => 0x8000_0000 | rng.bits(),
            };
            (nr, "(none)")
        }
        _ => {
            let (nr, name, kinds) = *rng.pick(RANDOM_CALLS);
            for (v, k) in args.iter_mut().zip(kinds) {
                *v = arg_value(rng, a, arch, k);
            }
            (nr as u64, name)
        }
    };
    let nr = if rng.chance(1, 16) && nr < 0x4000_0000 {
        nr | (rng.bits() << 32)
    } else {
        nr
    };
    (nr, args, name)
}

/// `prctl` options that are harmless for the worker, with arguments of
/// the right kinds; plus strbox's own options (never a valid install) and
/// unknown options.
fn prctl_args(rng: &mut Rng, a: &Arena, arch: &Arch) -> [u64; 6] {
    let mut v = [0u64; 6];
    for x in v.iter_mut().skip(1) {
        *x = if rng.chance(1, 2) {
            0
        } else {
            any_value(rng, arch)
        };
    }
    let hi = if rng.chance(1, 8) {
        rng.bits() << 32
    } else {
        0
    };
    match rng.below(8) {
        0 => {
            // Options that write through arg2 (int, name, pointer, auxv).
            // PR_GET_PDEATHSIG, PR_GET_UNALIGN, PR_GET_FPEMU, PR_GET_FPEXC,
            // PR_GET_NAME, PR_GET_ENDIAN, PR_GET_TSC, PR_GET_CHILD_SUBREAPER,
            // PR_GET_TID_ADDRESS, PR_GET_AUXV
            v[0] = *rng.pick(&[2u64, 5, 9, 11, 16, 19, 25, 37, 40, 0x4155_5856]);
            v[1] = arg_value(rng, a, arch, Buf);
            v[2] = arg_value(rng, a, arch, Len);
        }
        1 => {
            // Options that only return a value.
            // PR_GET_DUMPABLE, PR_GET_KEEPCAPS, PR_GET_TIMING, PR_GET_SECCOMP,
            // PR_CAPBSET_READ, PR_GET_TIMERSLACK, PR_MCE_KILL_GET,
            // PR_GET_NO_NEW_PRIVS, PR_GET_THP_DISABLE,
            // PR_GET_SPECULATION_CTRL, PR_GET_TAGGED_ADDR_CTRL,
            // PR_GET_IO_FLUSHER, PR_GET_MDWE, PR_GET_MEMORY_MERGE
            v[0] = *rng.pick(&[3u64, 7, 13, 21, 23, 30, 34, 39, 42, 52, 56, 58, 66, 68]);
            v[1] = arg_value(rng, a, arch, Int);
        }
        2 => {
            // Setters of the worker's own task state (or EPERM without
            // capabilities): PR_SET_KEEPCAPS, PR_MCE_KILL, PR_SET_MM,
            // PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT,
            // PR_SET_SPECULATION_CTRL, PR_SET_IO_FLUSHER. Not those that
            // change the memory map it shares with the test process
            // (PR_SET_DUMPABLE, PR_SET_THP_DISABLE, PR_SET_MDWE,
            // PR_SET_MEMORY_MERGE), nor PR_SET_TIMERSLACK (a huge slack
            // makes a zero nanosleep long).
            v[0] = *rng.pick(&[8u64, 33, 35, 36, 38, 47, 53, 57]);
            v[1] = arg_value(rng, a, arch, Int);
            if v[0] == 35 || v[0] == 47 {
                // PR_SET_MM takes pointers in some sub-options; PR_CAP_AMBIENT
                // only numbers. Keep arg3.. in the scratch or bad.
                v[2] = arg_value(rng, a, arch, Buf);
                v[3] = arg_value(rng, a, arch, Buf);
            }
        }
        3 => {
            v[0] = u64::from(PR_STRBOX_ABI_VERSION);
        }
        4 => {
            v[0] = u64::from(PR_SECCOMP_GET);
            v[1] = arg_value(rng, a, arch, Buf);
            v[2] = arg_value(rng, a, arch, Len);
        }
        5 => {
            // PR_SECCOMP_SET that can never install anything.
            v[0] = u64::from(PR_SECCOMP_SET);
            match rng.below(4) {
                0 => {
                    v[1] = a.args;
                    v[2] = 32;
                    v[3] = 1 + rng.below(100);
                }
                1 => {
                    v[1] = a.args;
                    v[2] = rng.below(32);
                }
                2 => {
                    v[1] = a.args;
                    v[2] = 4097 + rng.below(1 << 40);
                }
                _ => {
                    v[1] = bad_pointer(rng) | 1;
                    v[2] = rng.range(32, 4097);
                }
            }
        }
        6 => {
            // Unknown options: in strbox's range and far from mainline's.
            v[0] = if rng.chance(1, 2) {
                u64::from(PR_STRBOX_ABI_VERSION) | rng.range(3, 256)
            } else {
                rng.range(0x1000_0000, 0x2000_0000)
            };
        }
        _ => {
            v[0] = *rng.pick(&[2u64, 16, 37, 40]);
            v[1] = arg_value(rng, a, arch, Buf);
        }
    }
    v[0] |= hi;
    v
}

/// `fcntl` on one of the worker's fds: commands that take a pointer get a
/// scratch or bad pointer, the others any value.
fn fcntl_args(rng: &mut Rng, a: &Arena, arch: &Arch) -> [u64; 6] {
    let mut v = [0u64; 6];
    for x in v.iter_mut().skip(3) {
        *x = any_value(rng, arch);
    }
    v[0] = arg_value(rng, a, arch, Fd);
    // F_GETLK, F_SETLK, F_SETLKW, F_GETOWN_EX, F_SETOWN_EX, F_OFD_GETLK,
    // F_OFD_SETLK, F_OFD_SETLKW, F_GET_RW_HINT, F_SET_RW_HINT,
    // F_GET_FILE_RW_HINT, F_SET_FILE_RW_HINT
    let ptr_cmds = [5u64, 6, 7, 16, 15, 36, 37, 38, 1035, 1036, 1037, 1038];
    // F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_SETOWN, F_GETOWN,
    // F_SETSIG, F_GETSIG, F_SETLEASE, F_GETLEASE, F_NOTIFY,
    // F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS,
    // F_GET_SEALS
    let int_cmds = [
        0u64, 1, 2, 3, 4, 8, 9, 10, 11, 1024, 1025, 1026, 1030, 1031, 1032, 1033, 1034,
    ];
    if rng.chance(1, 2) {
        v[1] = *rng.pick(&ptr_cmds);
        v[2] = arg_value(rng, a, arch, Buf);
    } else if rng.chance(7, 8) {
        v[1] = *rng.pick(&int_cmds);
        v[2] = arg_value(rng, a, arch, Int);
    } else {
        // An unknown command.
        v[1] = rng.range(2000, 1 << 20);
        v[2] = arg_value(rng, a, arch, Buf);
    }
    v
}

// ---------------------------------------------------------------------
// Batches

/// The run's budget of calls with `log` and `kill` verdicts (each prints
/// a kernel log record), released in proportion to the inputs tried so
/// that the whole run gets some.
struct Budget {
    kills: u32,
    logs: u32,
    /// Inputs of the run.
    total: usize,
    /// The input the batch being built is at.
    at: usize,
}

impl Budget {
    fn new(total: usize) -> Budget {
        Budget {
            kills: 0,
            logs: 0,
            total: total.max(1),
            at: 0,
        }
    }

    fn allowance(&self, budget: u32) -> u32 {
        let n = u64::from(budget) * (self.at as u64 + 1);
        n.div_ceil(self.total as u64).min(u64::from(budget)) as u32
    }

    /// Takes one `kill` if the budget allows it now.
    fn take_kill(&mut self) -> bool {
        let ok = self.kills < self.allowance(KILL_BUDGET);
        self.kills += u32::from(ok);
        ok
    }

    /// Takes one `log` if the budget allows it now.
    fn take_log(&mut self) -> bool {
        let ok = self.logs < self.allowance(LOG_BUDGET);
        self.logs += u32::from(ok);
        ok
    }

    /// Whether a call with verdict `v` may be made now (taking budget for
    /// `log`); `kill` verdicts are decided by the caller.
    fn may_run(&mut self, v: Verdict) -> bool {
        match v {
            Verdict::Allow | Verdict::Errno(_) => true,
            Verdict::Log => self.take_log(),
            Verdict::Kill => false,
        }
    }
}

/// Per input, for statistics.
struct InputInfo {
    index: usize,
    origin: Origin,
}

/// Input `i` of the run: its origin, text and envelope (a function of the
/// seed and `i` only).
fn gen_input(ctx: &Ctx, i: usize) -> (Rng, Origin, Vec<u8>, Envelope) {
    let mut rng = Rng::new(ctx.seed, i as u64);
    let (origin, text) = gen_text(ctx, i, &mut rng);
    let env = gen_envelope(&mut rng, text.len());
    (rng, origin, text, env)
}

/// Input `i`, described for a failure message.
fn describe_input(ctx: &Ctx, i: usize) -> String {
    let (_, origin, text, env) = gen_input(ctx, i);
    format!(
        "input #{i} ({}, text \"{}\", envelope {env:?})",
        origin.name(),
        preview(&text)
    )
}

/// One worker's script.
struct Batch {
    first: usize,
    /// Inputs `first..end` are tried by this worker.
    end: usize,
    nnp: bool,
    steps: Vec<Step>,
    inputs: Vec<InputInfo>,
    /// Layers the worker has when its random calls start.
    layers: usize,
    /// Why the batch ended (for statistics).
    ended: &'static str,
}

/// An escaped preview of a policy text.
fn preview(text: &[u8]) -> String {
    let mut s = String::new();
    for &b in text.iter().take(80) {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    if text.len() > 80 {
        let _ = write!(s, "... ({} bytes)", text.len());
    }
    s
}

fn expect_for(v: Verdict) -> Option<Expect> {
    match v {
        Verdict::Errno(e) => Some(Expect::Ret(-i64::from(e))),
        Verdict::Kill => Some(Expect::Killed),
        _ => None,
    }
}

fn build_batch(
    ctx: &Ctx,
    total: usize,
    first: usize,
    budget: &mut Budget,
) -> Result<Batch, String> {
    let mut brng = Rng::new(ctx.seed, BATCH_STREAM | first as u64);
    let nnp = !brng.chance(1, 24);
    let mut sim = Sim::new(ctx.arch, nnp);
    let mut steps: Vec<Step> = Vec::new();
    let mut inputs = Vec::new();
    let mut text_bytes = 0usize;
    let mut i = first;
    let mut kill_probe: Option<Step> = None;
    let prctl = libc::SYS_prctl as u64;
    let mut ended = "input limit";
    // A worker without no_new_privs can only get EACCES (or an earlier
    // error): a few inputs are enough.
    let max_inputs = if nnp { MAX_INPUTS_PER_BATCH } else { 6 };
    while i < total
        && i - first < max_inputs
        && text_bytes < MAX_TEXT_PER_BATCH
        && steps.len() + 8 < MAX_STEPS - MAX_RANDOM_CALLS as usize
        && sim.text_len() < MAX_GET_TEXT_PER_BATCH
    {
        budget.at = i;
        let (mut rng, origin, text, env) = gen_input(ctx, i);
        let text_len = text.len();
        let set = make_set(ctx, &sim, text, &env)?;
        let v = sim.verdict(prctl, &set.args);
        let info = InputInfo { index: i, origin };
        match v {
            Verdict::Allow => {}
            Verdict::Log if budget.take_log() => {}
            Verdict::Errno(e) => {
                // The layers deny it: that is checked here, and the input
                // goes to the next (fresh) worker.
                let mut checks = Vec::new();
                if let Some((at, b)) = set.record_before {
                    checks.push(Check {
                        addr: at,
                        want: b,
                        what: "error record (prctl denied by a layer)",
                    });
                }
                inputs.push(info);
                steps.push(Step {
                    kind: StepKind::Denied,
                    input: i,
                    name: "prctl",
                    nr: prctl,
                    args: set.args,
                    verdict: v,
                    expect: Expect::Ret(-i64::from(e)),
                    writes: set.writes,
                    checks,
                });
                ended = "prctl denied by a layer";
                break;
            }
            Verdict::Kill => {
                ended = "prctl killed by a layer";
                if budget.take_kill() {
                    inputs.push(info);
                    kill_probe = Some(Step {
                        kind: StepKind::KillProbe,
                        input: i,
                        name: "prctl",
                        nr: prctl,
                        args: set.args,
                        verdict: v,
                        expect: Expect::Killed,
                        writes: set.writes,
                        checks: Vec::new(),
                    });
                }
                break;
            }
            Verdict::Log => {
                ended = "prctl logged by a layer";
                break;
            }
        }
        inputs.push(info);
        text_bytes += text_len;
        let reached = set.expect;
        steps.push(Step {
            kind: StepKind::Set,
            input: i,
            name: "prctl",
            nr: prctl,
            args: set.args,
            verdict: v,
            expect: set.expect,
            writes: set.writes,
            checks: set.checks,
        });
        if let Some(p) = set.accepted {
            sim.push(p);
        }
        // The task is exactly as before (or has exactly the new layer).
        let lc = [u64::from(PR_SECCOMP_GET), 0, 0, 0, 0, 0];
        let lv = sim.verdict(prctl, &lc);
        if (reached != Expect::Ret(0) || rng.chance(1, 4)) && budget.may_run(lv) {
            steps.push(Step {
                kind: StepKind::LenCheck,
                input: i,
                name: "prctl",
                nr: prctl,
                args: lc,
                verdict: lv,
                expect: expect_for(lv).unwrap_or(Expect::Ret(sim.text_len() as i64)),
                writes: Vec::new(),
                checks: Vec::new(),
            });
        }
        if rng.chance(1, 4) {
            let (args, writes, expect, checks) = place_get(&mut rng, ctx.arena, &sim);
            let gv = sim.verdict(prctl, &args);
            if budget.may_run(gv) {
                let denied = expect_for(gv);
                steps.push(Step {
                    kind: StepKind::Get,
                    input: i,
                    name: "prctl",
                    nr: prctl,
                    args,
                    verdict: gv,
                    expect: denied.unwrap_or(expect),
                    writes,
                    checks: if denied.is_some() { Vec::new() } else { checks },
                });
            }
        }
        i += 1;
    }
    let end = i;
    if end == total {
        ended = "last input";
    } else if text_bytes >= MAX_TEXT_PER_BATCH {
        ended = "text limit";
    } else if sim.text_len() >= MAX_GET_TEXT_PER_BATCH {
        ended = "layer text limit";
    }
    let layers = sim.layers.len();
    // Random syscalls under the layers (none without layers: nothing of
    // strbox's to test there).
    let mut dead = false;
    if layers > 0 {
        // Up to n calls made; candidates with a verdict whose record the
        // budget has no room for are not made (they cost nothing).
        let n = brng.range(MAX_RANDOM_CALLS / 4, MAX_RANDOM_CALLS + 1) as usize;
        let mut made = 0;
        for k in 0..4 * n {
            if made == n {
                break;
            }
            let (nr, args, name) = gen_random_call(&mut brng, ctx.arena, ctx.arch);
            let v = sim.verdict(nr, &args);
            let expect = match v {
                Verdict::Kill => {
                    if !budget.take_kill() {
                        continue;
                    }
                    dead = true;
                    Expect::Killed
                }
                Verdict::Errno(e) => Expect::Ret(-i64::from(e)),
                _ if budget.may_run(v) => Expect::Any,
                _ => continue,
            };
            made += 1;
            steps.push(Step {
                kind: StepKind::Random,
                input: k,
                name,
                nr,
                args,
                verdict: v,
                expect,
                writes: Vec::new(),
                checks: Vec::new(),
            });
            if dead {
                break;
            }
        }
    }
    if !dead {
        if let Some(k) = kill_probe {
            steps.push(k);
        } else {
            let args = [0u64; 6];
            let nr = libc::SYS_exit_group as u64;
            let v = sim.verdict(nr, &args);
            if matches!(v, Verdict::Allow) || (v == Verdict::Log && budget.may_run(v)) {
                steps.push(Step {
                    kind: StepKind::Exit,
                    input: 0,
                    name: "exit_group",
                    nr,
                    args,
                    verdict: v,
                    expect: Expect::Exits,
                    writes: Vec::new(),
                    checks: Vec::new(),
                });
            }
        }
    }
    sim.recycle(&ctx.programs);
    Ok(Batch {
        first,
        end,
        nnp,
        steps,
        inputs,
        layers,
        ended,
    })
}

// ---------------------------------------------------------------------
// The shared page between the test process and a worker

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

struct SharedMap {
    ptr: *mut Shared,
    len: usize,
}

impl SharedMap {
    fn new() -> Result<SharedMap, String> {
        let len = std::mem::size_of::<Shared>().div_ceil(4096) * 4096;
        // SAFETY: a fresh anonymous shared mapping, checked below.
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
            return Err(format!("mmap shared: {}", std::io::Error::last_os_error()));
        }
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
struct Stats {
    tried: usize,
    accepted: usize,
    rejected: std::collections::BTreeMap<i64, usize>,
    denied: usize,
    kill_probes: usize,
    by_origin: std::collections::BTreeMap<&'static str, (usize, usize)>,
    gets: std::collections::BTreeMap<String, usize>,
    len_checks: usize,
    random: usize,
    random_errno: usize,
    random_killed: usize,
    workers: usize,
    exits: usize,
    parent_kills: usize,
    alarms: usize,
    max_layers: usize,
    no_nnp_workers: usize,
    steps: usize,
    alarm_skipped: Vec<usize>,
    ended: std::collections::BTreeMap<&'static str, usize>,
}

fn errno_name(arch: &Arch, r: i64) -> String {
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
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    fn new() -> Result<Stack, String> {
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

fn run_batch(
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

/// Kernel log text that means a kernel bug (the list xtask uses).
fn bad_kernel_text() -> impl Iterator<Item = &'static str> {
    include_str!("../../qemu/bad-kernel-patterns.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// /dev/kmsg opened at its end: reads the records logged since.
struct Kmsg(std::fs::File);

impl Kmsg {
    fn open_at_end() -> Result<Kmsg, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| format!("/dev/kmsg: {e}"))?;
        // SAFETY: lseek on our own fd.
        if unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
            return Err(format!(
                "lseek /dev/kmsg: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Kmsg(f))
    }

    /// The messages logged since the last call, and whether some were
    /// overwritten before they could be read.
    fn read_new(&mut self) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut lost = false;
        let mut buf = vec![0u8; 8192];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some((_, msg)) = rec.split_once(';') {
                        out.push(msg.trim_end_matches('\n').to_string());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => lost = true,
                Err(_) => break,
            }
        }
        (out, lost)
    }
}

fn fuzz_prctl() -> TestResult {
    let debug = debug_kernel();
    let cfg = config(debug);
    let arch = strbox::policy::arch(None)?;
    crate::ensure!(strbox::abi_version().is_some(), "strbox.ko is not loaded");
    println!(
        "# fuzz_prctl: seed {:#x}, {} policies{} (override: strbox.fuzz_seed=N strbox.fuzz_policies=N)",
        cfg.seed,
        cfg.policies,
        if debug { " (lock-debugging kernel)" } else { "" }
    );
    let mut kmsg = Kmsg::open_at_end()?;
    let arena = Arena::new()?;
    let shm = SharedMap::new()?;
    let stack = Stack::new()?;
    let ctx = Ctx::new(cfg.seed, arch, &arena);
    let mut budget = Budget::new(cfg.policies);
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut next = 0;
    let mut failure = None;
    let (mut t_build, mut t_run) = (Duration::ZERO, Duration::ZERO);
    while next < cfg.policies {
        let t0 = Instant::now();
        let b = build_batch(&ctx, cfg.policies, next, &mut budget)?;
        let t1 = Instant::now();
        t_build += t1 - t0;
        stats.steps += b.steps.len();
        *stats.ended.entry(b.ended).or_default() += 1;
        let r = run_batch(&ctx, &b, &shm, &stack, &mut stats);
        t_run += t1.elapsed();
        match r {
            Ok(n) => {
                // Progress, one line per tenth of the run (a timed-out run
                // still shows how far it got).
                let step = (cfg.policies / 10).max(1);
                if n / step > next / step {
                    println!(
                        "# fuzz_prctl: {n}/{} inputs after {:.1} s ({:.1} s generating and predicting, {} workers)",
                        cfg.policies,
                        start.elapsed().as_secs_f64(),
                        t_build.as_secs_f64(),
                        stats.workers
                    );
                }
                next = n;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let took = start.elapsed();
    let (lines, lost) = kmsg.read_new();
    let records = lines.iter().filter(|l| l.starts_with("strbox: ")).count();

    let by_errno: Vec<String> = stats
        .rejected
        .iter()
        .map(|(r, n)| format!("{} {n}", errno_name(arch, *r)))
        .collect();
    println!(
        "# fuzz_prctl: seed {:#x}: {} policies tried, {} accepted, {} rejected (by errno: {}), {} syscalls made under accepted layers",
        cfg.seed,
        stats.tried,
        stats.accepted,
        stats.tried - stats.accepted,
        by_errno.join(", "),
        stats.random
    );
    let origins: Vec<String> = stats
        .by_origin
        .iter()
        .map(|(o, (t, a))| format!("{o} {a}/{t}"))
        .collect();
    let gets: Vec<String> = stats.gets.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "# fuzz_prctl: accepted by origin: {}; up to {} layers per worker; {} layer-text length checks; GET probes: {}",
        origins.join(", "),
        stats.max_layers,
        stats.len_checks,
        if gets.is_empty() { "none".into() } else { gets.join(", ") }
    );
    println!(
        "# fuzz_prctl: {} workers ({} without no_new_privs; batches ended by: {}): {} exited, {} killed by a kill verdict ({} on a random syscall, {} on prctl), {} killed at their end, {} alarms; {} prctl denied by a layer's errno; {} random syscalls got an errno verdict",
        stats.workers,
        stats.no_nnp_workers,
        stats
            .ended
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        stats.exits,
        stats.random_killed + stats.kill_probes,
        stats.random_killed,
        stats.kill_probes,
        stats.parent_kills,
        stats.alarms,
        stats.denied,
        stats.random_errno
    );
    println!(
        "# fuzz_prctl: {} kernel log records during the fuzz ({} strbox log/kill){}; took {:.1} s ({:.1} s generating and predicting, {:.1} s in the workers' {} steps)",
        lines.len(),
        records,
        if lost {
            ", some overwritten before they were read"
        } else {
            ""
        },
        took.as_secs_f64(),
        t_build.as_secs_f64(),
        t_run.as_secs_f64(),
        stats.steps
    );
    if let Some(e) = failure {
        return Err(format!("fuzz_prctl: {e}"));
    }
    let bad: Vec<&String> = lines
        .iter()
        .filter(|l| bad_kernel_text().any(|p| l.contains(p)))
        .collect();
    crate::ensure!(
        bad.is_empty(),
        "seed {:#x}: kernel log during the fuzz: {bad:?}",
        cfg.seed
    );
    crate::ensure!(
        !lost,
        "seed {:#x}: kernel log records were overwritten during the fuzz (cannot check them all)",
        cfg.seed
    );
    if !stats.alarm_skipped.is_empty() {
        println!(
            "# fuzz_prctl: inputs skipped after their worker's alarm (5 s) went off before their SET completed: {:?}",
            stats.alarm_skipped
        );
    }
    crate::ensure!(
        stats.tried + stats.alarm_skipped.len() == cfg.policies,
        "seed {:#x}: {} of {} inputs tried",
        cfg.seed,
        stats.tried,
        cfg.policies
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_cmdline_and_env() {
        let n = DEFAULT_POLICIES;
        let d = parse_config("console=ttyS0 quiet", None, None, n);
        assert_eq!((d.seed, d.policies), (DEFAULT_SEED, n));
        let line = "a strbox.fuzz_seed=0x1234 strbox.fuzz_policies=77 b";
        let c = parse_config(line, None, None, n);
        assert_eq!((c.seed, c.policies), (0x1234, 77));
        let e = parse_config("strbox.fuzz_seed=5", Some("0x10"), Some("3"), n);
        assert_eq!((e.seed, e.policies), (16, 3));
        let bad = parse_config("strbox.fuzz_seed=zz", Some("nope"), None, 5);
        assert_eq!((bad.seed, bad.policies), (DEFAULT_SEED, 5));
    }

    #[test]
    fn rng_is_fixed() {
        // The sequence is part of reproducibility: runs with the same seed
        // must generate the same inputs on every machine and version.
        let mut r = Rng::new(0x5eed, 0);
        let a: Vec<u64> = (0..3).map(|_| r.bits()).collect();
        let mut r2 = Rng::new(0x5eed, 0);
        let b: Vec<u64> = (0..3).map(|_| r2.bits()).collect();
        assert_eq!(a, b);
        assert_ne!(Rng::new(0x5eed, 1).bits(), Rng::new(0x5eed, 0).bits());
    }

    #[test]
    fn dict_and_corpus_are_embedded() {
        let d = parse_dict(seeds::DICT);
        assert!(d.iter().any(|t| t == b"\n"), "\\x0a token decoded");
        assert!(d.iter().any(|t| t == b"read"));
        assert!(
            seeds::CORPUS.len() >= 100,
            "{} corpus files",
            seeds::CORPUS.len()
        );
    }

    #[test]
    fn generated_policies_mostly_compile() {
        let arch = strbox::policy::arch(None).unwrap();
        let mut rng = Rng::new(1, 2);
        let ok = (0..200)
            .filter(|_| {
                strbox::policy::compile_policy(&gen_policy(&mut rng, arch, 30), arch).is_ok()
            })
            .count();
        assert!(ok > 120, "{ok}/200 generated policies compile");
    }

    /// The generator and the model (no worker): every input of a run gets
    /// placed and predicted without a model error, and the batches cover
    /// every input.
    #[test]
    fn dry_run_places_every_input() {
        let arch = strbox::policy::arch(None).unwrap();
        let arena = Arena::new().unwrap();
        let ctx = Ctx::new(DEFAULT_SEED, arch, &arena);
        let mut budget = Budget::new(
            std::env::var("DRY_TOTAL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2000),
        );
        let total = std::env::var("DRY_TOTAL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let (mut next, mut batches, mut sets, mut accepted) = (0, 0, 0, 0);
        let mut reasons = std::collections::BTreeMap::new();
        let (mut set_bytes, mut get_bytes) = (0usize, 0usize);
        let mut outcomes = std::collections::BTreeMap::new();
        let mut blockers = std::collections::BTreeMap::new();
        while next < total {
            let b = build_batch(&ctx, total, next, &mut budget).unwrap();
            assert!(b.end > b.first && b.steps.len() <= MAX_STEPS);
            for st in &b.steps {
                if st.kind == StepKind::Set {
                    sets += 1;
                    accepted += usize::from(st.expect == Expect::Ret(0));
                    *outcomes.entry(format!("{:?}", st.expect)).or_insert(0usize) += 1;
                    set_bytes += st
                        .writes
                        .iter()
                        .map(|w| match w {
                            Wr::Bytes(_, v) => v.len(),
                            Wr::Fill(_, n, _) => *n,
                        })
                        .sum::<usize>();
                }
                if let (StepKind::LenCheck | StepKind::Get, Expect::Ret(r)) = (st.kind, st.expect) {
                    if r > 0 {
                        get_bytes += r as usize;
                    }
                }
            }
            next = b.end;
            batches += 1;
            *reasons.entry(b.ended).or_insert(0usize) += 1;
            if b.ended.starts_with("prctl") {
                let last = b
                    .steps
                    .iter()
                    .rev()
                    .find(|st| st.kind == StepKind::Set && st.expect == Expect::Ret(0));
                if let Some(st) = last {
                    let o = b.inputs.iter().find(|x| x.index == st.input).unwrap();
                    *blockers.entry(o.origin.name()).or_insert(0usize) += 1;
                }
            }
        }
        assert_eq!(sets, total);
        eprintln!(
            "{batches} batches, {accepted} of {sets} accepted, {} kills, {} logs, ended: {reasons:?}, blocking layers: {blockers:?}, SET bytes {set_bytes}, GET text bytes {get_bytes}, {outcomes:?}",
            budget.kills, budget.logs
        );
    }
}
