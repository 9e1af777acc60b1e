//! Scenarios: a policy and a mechanism in a ring, the BPF JIT switch, and
//! the compiled [`Policies`] every scenario installs.

use strbox_filter::{Program, Verdict};
use strbox_uapi::tables::Arch;

use crate::bpf::{generate, Insn, Layout};
use crate::policy;

use super::child::Filter;
use super::probes::{Probe, ALL_PROBES, BASELINE_PROBES, INGO_PROBES};

/// Which policy a scenario runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Pol {
    None,
    Ingo,
    Allow,
    Allow16,
    /// B under 15 layers of C: a restrictive policy with sandboxes nested
    /// in it that restrict nothing more. seccomp's action cache covers
    /// only calls every filter allows outright, so an argument rule runs
    /// all 16 filters; strbox runs only B's layer.
    Nested,
    /// `default allow` and nothing else: every verdict is a constant
    /// allow, so a filtered syscall costs only the mechanism's fixed
    /// floor (strbox: the flag's entry and exit work, the probe call, the
    /// per-task lookup and the summary load; seccomp: its data fill and
    /// action-cache test).
    Open,
}

impl Pol {
    pub(super) fn name(self) -> &'static str {
        match self {
            Pol::None => "baseline",
            Pol::Ingo => "A:ingo",
            Pol::Allow => "B:allow300",
            Pol::Allow16 => "B:allow300x16",
            Pol::Nested => "B+15xC",
            Pol::Open => "C:open",
        }
    }
    pub(super) fn key(self) -> &'static str {
        match self {
            Pol::None => "baseline",
            Pol::Ingo => "ingo",
            Pol::Allow => "allow300",
            Pol::Allow16 => "allow300x16",
            Pol::Nested => "allow300+15open",
            Pol::Open => "open",
        }
    }
    fn layers(self) -> usize {
        if self == Pol::Allow16 {
            16
        } else {
            1
        }
    }
    /// Layers of C over the policy's own.
    fn open_layers(self) -> usize {
        if self == Pol::Nested {
            15
        } else {
            0
        }
    }
    pub(super) fn probes(self) -> &'static [Probe] {
        match self {
            Pol::Ingo => INGO_PROBES,
            Pol::None => BASELINE_PROBES,
            Pol::Allow | Pol::Allow16 | Pol::Nested | Pol::Open => ALL_PROBES,
        }
    }
}

/// How a scenario filters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mech {
    None,
    Strbox,
    Seccomp(Layout),
    /// The tree filter installed while the BPF JIT is switched off
    /// (`net.core.bpf_jit_enable = 0`): seccomp's interpreter.
    SeccompInterp,
}

/// Which ring a scenario runs in (the members of a ring run together).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Ring {
    /// Module not loaded.
    Unloaded,
    /// Module loaded, no strbox-filtered task anywhere.
    LoadedIdle,
    /// Module loaded, strbox-filtered tasks alive (the ring's own).
    Loaded,
    /// Module loaded, and [`CROWD`] more filtered tasks asleep besides the
    /// ring's own: the per-task chain lookup under load.
    Crowded,
    /// Module loaded and its LSM-hook event kprobes armed (a sleeping
    /// process installed a layer with event rules): what every open costs
    /// a task without filters once any sandbox uses events.
    Armed,
}

/// Filtered sleeping tasks of the `Crowded` ring.
pub(super) const CROWD: usize = 10_000;

#[derive(Clone, Copy, Debug)]
pub(super) struct Scenario {
    pub(super) pol: Pol,
    pub(super) mech: Mech,
    pub(super) ring: Ring,
}

impl Scenario {
    pub(super) fn mech_name(&self) -> &'static str {
        match (self.mech, self.ring) {
            (Mech::None, Ring::Unloaded) => "none",
            (Mech::None, Ring::LoadedIdle) => "none+mod",
            (Mech::None, Ring::Loaded) => "none+mod*",
            (Mech::None, Ring::Crowded) => "none+mod*10k",
            (Mech::None, Ring::Armed) => "none+mod*+hooks",
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
    pub(super) fn label(&self) -> String {
        format!("{} {}", self.pol.name(), self.mech_name())
    }
}

/// The BPF JIT switch, if this kernel has a JIT that can be turned off.
pub(super) const JIT_SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";

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
pub(super) struct JitOff(String);

impl JitOff {
    pub(super) fn new() -> Result<JitOff, String> {
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

pub(super) fn scenarios() -> Vec<Scenario> {
    use Mech::*;
    use Ring::*;
    let s = |pol, mech, ring| Scenario { pol, mech, ring };
    let mut v = vec![
        s(Pol::None, None, Unloaded),
        s(Pol::Ingo, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Allow, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Allow, Seccomp(Layout::Linear), Unloaded),
        s(Pol::Allow16, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Nested, Seccomp(Layout::Tree), Unloaded),
        s(Pol::Open, Seccomp(Layout::Tree), Unloaded),
        s(Pol::None, None, LoadedIdle),
        s(Pol::None, None, Loaded),
        s(Pol::Ingo, Strbox, Loaded),
        s(Pol::Allow, Strbox, Loaded),
        s(Pol::Allow16, Strbox, Loaded),
        s(Pol::Nested, Strbox, Loaded),
        s(Pol::Ingo, Seccomp(Layout::Tree), Loaded),
        s(Pol::Allow, Seccomp(Layout::Tree), Loaded),
        s(Pol::Allow16, Seccomp(Layout::Tree), Loaded),
        s(Pol::Nested, Seccomp(Layout::Tree), Loaded),
        s(Pol::Open, Strbox, Loaded),
        s(Pol::Open, Seccomp(Layout::Tree), Loaded),
        s(Pol::None, None, Crowded),
        s(Pol::Ingo, Strbox, Crowded),
        s(Pol::Allow16, Strbox, Crowded),
        s(Pol::None, None, Armed),
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
    /// A as seccomp-bpf (tree).
    pub ingo_bpf: Vec<Insn>,
    /// B as seccomp-bpf (tree).
    pub allow_bpf: Vec<Insn>,
    /// B as seccomp-bpf (linear chain).
    pub allow_bpf_linear: Vec<Insn>,
    /// C (`default allow`) as strbox text and as seccomp-bpf.
    pub open: String,
    /// C as seccomp-bpf.
    pub open_bpf: Vec<Insn>,
    /// A, B and C compiled by strbox's engine (the expected verdicts, and
    /// what the BPF is generated from).
    pub progs: [Box<Program>; 3],
}

impl Policies {
    /// Builds all of them for `arch`.
    pub fn new(arch: &'static Arch) -> Result<Policies, String> {
        let ingo = policy::ingo();
        let allow = policy::allowlist(arch);
        let compile = |t: &str| {
            strbox::policy::compile_policy(t.as_bytes(), arch).map_err(|e| format!("{e:?}"))
        };
        let open = policy::OPEN.to_string();
        let progs = [compile(&ingo)?, compile(&allow)?, compile(&open)?];
        let bpf = |p: &Program, l: Layout| generate(p, arch, l).map_err(|e| e.to_string());
        Ok(Policies {
            ingo_bpf: bpf(&progs[0], Layout::Tree)?,
            allow_bpf: bpf(&progs[1], Layout::Tree)?,
            allow_bpf_linear: bpf(&progs[1], Layout::Linear)?,
            open_bpf: bpf(&progs[2], Layout::Tree)?,
            open,
            progs,
            ingo,
            allow,
        })
    }

    fn text(&self, pol: Pol) -> &str {
        match pol {
            Pol::None => "",
            Pol::Ingo => &self.ingo,
            Pol::Allow | Pol::Allow16 | Pol::Nested => &self.allow,
            Pol::Open => &self.open,
        }
    }

    fn bpf(&self, pol: Pol, layout: Layout) -> &[Insn] {
        match (pol, layout) {
            (Pol::None, _) => &[],
            (Pol::Ingo, _) => &self.ingo_bpf,
            (Pol::Open, _) => &self.open_bpf,
            (_, Layout::Tree) => &self.allow_bpf,
            (_, Layout::Linear) => &self.allow_bpf_linear,
        }
    }

    pub(super) fn filter(&self, sc: &Scenario) -> Filter<'_> {
        let layers = sc.pol.layers();
        let top_layers = sc.pol.open_layers();
        match sc.mech {
            Mech::None => Filter::None,
            Mech::Strbox => Filter::Strbox {
                text: self.text(sc.pol).as_bytes(),
                layers,
                top: self.open.as_bytes(),
                top_layers,
            },
            Mech::Seccomp(l) => Filter::Seccomp {
                prog: self.bpf(sc.pol, l),
                layers,
                top: &self.open_bpf,
                top_layers,
            },
            Mech::SeccompInterp => Filter::Seccomp {
                prog: self.bpf(sc.pol, Layout::Tree),
                layers,
                top: &self.open_bpf,
                top_layers,
            },
        }
    }

    /// Whether the policy lets the probe through, by strbox's own
    /// evaluator (the reference for both mechanisms).
    pub(super) fn allows(&self, pol: Pol, p: Probe) -> bool {
        let prog = match pol {
            Pol::None => return true,
            Pol::Ingo => &self.progs[0],
            // C allows everything: B decides under it.
            Pol::Allow | Pol::Allow16 | Pol::Nested => &self.progs[1],
            Pol::Open => &self.progs[2],
        };
        let (nr, a) = p.call(0x1000);
        let args = [a[0], a[1], a[2], 0, 0, 0];
        prog.evaluate(nr as u32, &args) == Verdict::Allow
    }
}
