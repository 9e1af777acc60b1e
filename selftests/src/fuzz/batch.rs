//! Batches: the run's `log`/`kill` [`Budget`] and [`build_batch`], which
//! turns the next inputs into one worker's predicted steps.

use std::fmt::Write as _;

use strbox::abi::PR_SECCOMP_GET;
use strbox_filter::Verdict;

use super::envelope::{
    gen_envelope, gen_text, make_set, place_get, Check, Ctx, Envelope, Expect, Step, StepKind,
};
use super::memory::Sim;
use super::policies::Origin;
use super::random_calls::gen_random_call;
use super::rng::{Rng, BATCH_STREAM};
use super::{
    KILL_BUDGET, LOG_BUDGET, MAX_GET_TEXT_PER_BATCH, MAX_INPUTS_PER_BATCH, MAX_RANDOM_CALLS,
    MAX_STEPS, MAX_TEXT_PER_BATCH,
};

/// The run's budget of calls with `log` and `kill` verdicts (each prints
/// a kernel log record), released in proportion to the inputs tried so
/// that the whole run gets some.
pub(super) struct Budget {
    pub(super) kills: u32,
    pub(super) logs: u32,
    /// Inputs of the run.
    total: usize,
    /// The input the batch being built is at.
    at: usize,
}

impl Budget {
    pub(super) fn new(total: usize) -> Budget {
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
pub(super) struct InputInfo {
    pub(super) index: usize,
    pub(super) origin: Origin,
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
pub(super) fn describe_input(ctx: &Ctx, i: usize) -> String {
    let (_, origin, text, env) = gen_input(ctx, i);
    format!(
        "input #{i} ({}, text \"{}\", envelope {env:?})",
        origin.name(),
        preview(&text)
    )
}

/// One worker's script.
pub(super) struct Batch {
    pub(super) first: usize,
    /// Inputs `first..end` are tried by this worker.
    pub(super) end: usize,
    pub(super) nnp: bool,
    pub(super) steps: Vec<Step>,
    pub(super) inputs: Vec<InputInfo>,
    /// Layers the worker has when its random calls start.
    pub(super) layers: usize,
    /// Why the batch ended (for statistics).
    pub(super) ended: &'static str,
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

pub(super) fn build_batch(
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
