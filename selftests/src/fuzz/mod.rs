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

mod batch;
mod envelope;
mod kmsg;
mod memory;
mod policies;
mod random_calls;
mod rng;
#[cfg(test)]
mod tests;
mod worker;

use std::time::{Duration, Instant};

use strbox::abi::MAX_POLICY_BYTES;

use crate::util::bad_kernel_text;
use crate::{Test, TestResult};

use batch::{build_batch, Budget};
use envelope::Ctx;
use kmsg::Kmsg;
use memory::Arena;
use worker::{errno_name, run_batch, SharedMap, Stack, Stats};

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
