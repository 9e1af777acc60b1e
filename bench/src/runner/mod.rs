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

mod child;
mod crowd;
mod probes;
mod ring;
mod scenarios;
mod table;

use std::time::Instant;

use strbox_uapi::tables::NATIVE;

use crate::guest_util::{ktap_plan, ktap_result};

use crowd::Crowd;
use ring::{run_rounds, Samples};
use scenarios::{scenarios, Ring, CROWD};
use table::print_table;

pub use child::{emit, in_filtered_child, Filter};
pub use probes::Probe;
pub use ring::SLICES;
pub use scenarios::Policies;

/// Default loop length per probe and run.
pub const DEFAULT_ITERS: u64 = 20_000;
/// Default (and minimum) rounds per phase.
pub const DEFAULT_REPS: usize = 5;

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
    ktap_plan(5);
    let pols = match Policies::new(NATIVE) {
        Ok(p) => p,
        Err(e) => {
            for (n, name) in ["bench_unloaded", "module_load", "bench_loaded"]
                .iter()
                .enumerate()
            {
                ktap_result(n + 1, name, &Err(format!("policies: {e}")));
            }
            ktap_result(4, "module_unload", &Err("skip: not loaded".into()));
            ktap_result(5, "bench_unloaded_again", &Err("skip: no policies".into()));
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
    ktap_result(1, "bench_unloaded", &r);
    let loaded = crate::guest_util::load_module().map_err(|e| format!("finit_module: {e}"));
    ktap_result(2, "module_load", &loaded);
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
        })
        .and_then(|()| {
            // Last: once armed, the event hooks stay armed until unload.
            let armer = Crowd::spawn_event_arming()?;
            let r = run_rounds(&pols, &scs, &[Ring::Armed], &cfg, &mut samples);
            armer.end().and(r)
        }),
        Err(_) => Err("skip: module not loaded".into()),
    };
    ktap_result(3, "bench_loaded", &r);
    let r = match &loaded {
        Ok(()) => crate::guest_util::unload_when_idle(),
        Err(_) => Err("skip: module not loaded".into()),
    };
    let unloaded = r.is_ok();
    ktap_result(4, "module_unload", &r);
    let r = if unloaded {
        run_rounds(&pols, &scs, &[Ring::Unloaded], &cfg, &mut samples)
    } else {
        Err("skip: module still loaded".into())
    };
    ktap_result(5, "bench_unloaded_again", &r);
    print_table(&scs, &samples, &cfg, &pols, t0.elapsed().as_secs_f64());
}
