//! The report: quantiles and the table (`@@b ` lines, one `@@bench` line
//! per row).

use std::io::{self, Write};

use super::probes::Probe;
use super::ring::{Samples, SLICES};
use super::scenarios::{Mech, Pol, Policies, Scenario, JIT_SYSCTL};
use super::{online_cpus, read_trim, Config};
use crate::policy;

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

pub(super) fn print_table(
    scs: &[Scenario],
    samples: &Samples,
    cfg: &Config,
    pols: &Policies,
    secs: f64,
) {
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
        "policy A = Ingo's 4 rules + 3 ({} syscalls, {} BPF insns); B = {} syscalls, {} with argument rules ({} BPF insns tree, {} linear); C = default allow; B+15xC = B under 15 layers of C",
        policy::rule_counts(&pols.progs[0]).0,
        pols.ingo_bpf.len(),
        policy::rule_counts(&pols.progs[1]).0,
        policy::rule_counts(&pols.progs[1]).1,
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
    for pol in [
        Pol::None,
        Pol::Ingo,
        Pol::Allow,
        Pol::Allow16,
        Pol::Nested,
        Pol::Open,
    ] {
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
