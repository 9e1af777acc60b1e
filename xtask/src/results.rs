//! Reads the guest console: KTAP results plus the kernel log.
//!
//! A run passes only if the guest said `@@done`, every planned test
//! reported, none failed, and the kernel log (console and the `@@k` dump of
//! /dev/kmsg) has none of [`bad_kernel_patterns`].

/// Kernel log text that fails a run wherever it appears: the lines of
/// `qemu/bad-kernel-patterns.txt` (shared with the guest's stress test).
pub fn bad_kernel_patterns() -> impl Iterator<Item = &'static str> {
    include_str!("../../qemu/bad-kernel-patterns.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn add(&mut self, o: &Summary) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
    /// The closing line: `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

#[derive(Debug)]
pub struct Report {
    pub arch: String,
    pub summary: Summary,
    /// Run-level problems (boot failure, timeout, kernel log findings).
    pub problems: Vec<String>,
    /// Kernel-log findings from before userspace started (before the
    /// kernel ran /init, so before strbox.ko could be loaded): printed, not
    /// failed on — they are the guest kernel's own (see `parse`).
    pub notes: Vec<String>,
    pub failures: Vec<String>,
    /// Every reported test in order: its name and outcome.
    pub tests: Vec<(String, Outcome)>,
}

/// What one test reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.summary.failed == 0 && self.problems.is_empty()
    }
    pub fn print(&self) {
        for f in &self.failures {
            println!("FAILED {}/{f}", self.arch);
        }
        for p in &self.problems {
            println!("PROBLEM {}: {p}", self.arch);
        }
        for n in &self.notes {
            println!("NOTE {}: {n}", self.arch);
        }
        println!("{}: {}", self.arch, self.summary.line());
    }
}

enum Line<'a> {
    Ok(&'a str),
    Skip(&'a str, &'a str),
    NotOk(&'a str, &'a str),
}

fn result_line(l: &str) -> Option<Line<'_>> {
    let (ok, rest) = if let Some(r) = l.strip_prefix("not ok ") {
        (false, r)
    } else if let Some(r) = l.strip_prefix("ok ") {
        (true, r)
    } else {
        return None;
    };
    let (_num, rest) = rest.split_once(' ')?;
    let (name, why) = match rest.split_once(" # ") {
        Some((n, w)) => (n, w),
        None => (rest, ""),
    };
    Some(if !ok {
        Line::NotOk(name, why)
    } else if let Some(w) = why.strip_prefix("SKIP") {
        Line::Skip(name, w.trim())
    } else {
        Line::Ok(name)
    })
}

/// The line printed live for a console line, if it is a test result.
pub fn live_line(l: &str, arch: &str) -> Option<String> {
    Some(match result_line(l)? {
        Line::Ok(n) => format!("PASS {arch}/{n}"),
        Line::Skip(n, w) => format!("SKIP {arch}/{n}: {w}"),
        Line::NotOk(n, w) => format!("FAIL {arch}/{n}: {w}"),
    })
}

pub fn parse(console: &str, arch: &str) -> Report {
    let mut r = Report {
        arch: arch.to_string(),
        summary: Summary::default(),
        problems: Vec::new(),
        notes: Vec::new(),
        failures: Vec::new(),
        tests: Vec::new(),
    };
    let mut plan = None;
    let mut seen = 0usize;
    let mut done = false;
    let mut bad_kernel_lines = Vec::new();
    let mut boot_kernel_lines = Vec::new();
    // Before userspace: console lines before the KTAP plan (the harness
    // prints it before loading the module), and dumped lines before the
    // kernel's "Run /init" (if the dump lost that line to ring-buffer
    // overflow, every dumped line counts as after it).
    let run_init = console
        .lines()
        .position(|l| l.starts_with("@@k Run /init as init process"));
    for (i, l) in console.lines().enumerate() {
        if let Some(n) = l.strip_prefix("1..") {
            plan = n.trim().parse::<usize>().ok();
        }
        if l == "@@done" {
            done = true;
        }
        if l == "@@timeout" {
            r.problems.push("timed out (guest hung or too slow)".into());
        }
        if let Some(s) = l.strip_prefix("@@qemu-exit ") {
            r.problems.push(format!("QEMU exited abnormally: {s}"));
        }
        match result_line(l) {
            Some(Line::Ok(n)) => {
                seen += 1;
                r.summary.passed += 1;
                r.tests.push((n.to_string(), Outcome::Pass));
            }
            Some(Line::Skip(n, _)) => {
                seen += 1;
                r.summary.skipped += 1;
                r.tests.push((n.to_string(), Outcome::Skip));
            }
            Some(Line::NotOk(n, w)) => {
                seen += 1;
                r.summary.failed += 1;
                r.failures.push(format!("{n}: {w}"));
                r.tests.push((n.to_string(), Outcome::Fail));
            }
            None => {
                // Kernel log: console lines that are not ours, and the
                // @@k dump. Our own KTAP/diagnostic lines are skipped.
                let k = l.strip_prefix("@@k ").unwrap_or(l);
                let ours = l.starts_with('#') || l.starts_with("@@o ") || l.starts_with("@@e ");
                if !ours {
                    if let Some(p) = bad_kernel_patterns().find(|p| k.contains(*p)) {
                        let before_userspace = if l.starts_with("@@k ") {
                            run_init.is_some_and(|r| i < r)
                        } else {
                            plan.is_none()
                        };
                        let line = format!("{p:?} in: {}", k.trim());
                        if before_userspace {
                            boot_kernel_lines.push(line);
                        } else {
                            bad_kernel_lines.push(line);
                        }
                    }
                }
            }
        }
    }
    if !boot_kernel_lines.is_empty() {
        r.notes.push(format!(
            "kernel log before userspace (not strbox: the module is not loaded yet): {} bad line(s), first: {}",
            boot_kernel_lines.len(),
            boot_kernel_lines[0]
        ));
    }
    // Run-level problems count as failures too, so the closing line never
    // says "0 failed" for a run that failed.
    let mut run_failures = 0;
    if !bad_kernel_lines.is_empty() {
        r.problems.push(format!(
            "kernel log: {} bad line(s), first: {}",
            bad_kernel_lines.len(),
            bad_kernel_lines[0]
        ));
        run_failures += 1;
    }
    match plan {
        None => {
            r.problems
                .push("no KTAP plan: the guest suite never started (boot failure?)".into());
            run_failures += 1;
        }
        Some(p) if p != seen => {
            r.problems
                .push(format!("planned {p} tests, {seen} reported"));
            r.summary.failed += p.saturating_sub(seen);
        }
        _ => {}
    }
    if !done {
        r.problems
            .push("the guest did not finish (@@done missing)".into());
        if plan.is_some() {
            run_failures += 1;
        }
    }
    r.problems.dedup();
    r.summary.failed += run_failures;
    r
}

/// Per-test outcome counts over repeated boots of one arch
/// (`qemu-test --repeat N`).
#[derive(Default)]
pub struct Tally {
    boots: usize,
    failed_boots: usize,
    /// Test name -> (passed, failed, skipped), in first-seen order.
    tests: Vec<(String, [usize; 3])>,
}

impl Tally {
    pub fn add(&mut self, r: &Report) {
        self.boots += 1;
        if !r.ok() {
            self.failed_boots += 1;
        }
        for (name, o) in &r.tests {
            let i = match self.tests.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    self.tests.push((name.clone(), [0; 3]));
                    self.tests.len() - 1
                }
            };
            self.tests[i].1[*o as usize] += 1;
        }
    }

    /// One line per test: `passed/boots` (and failures, skips, missing
    /// reports), then the boots that failed.
    pub fn lines(&self, arch: &str) -> Vec<String> {
        let mut v = Vec::new();
        for (name, [p, f, s]) in &self.tests {
            let missing = self.boots - p - f - s;
            let mut l = format!("{arch}/{name}: {p}/{} passed", self.boots);
            if *f > 0 {
                l += &format!(", {f} FAILED");
            }
            if *s > 0 {
                l += &format!(", {s} skipped");
            }
            if missing > 0 {
                l += &format!(", {missing} not reported");
            }
            v.push(l);
        }
        v.push(format!(
            "{arch}: {} of {} boots failed",
            self.failed_boots, self.boots
        ));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSING: &str = "\
[    0.000000] Linux version 6.12.117 (strbox@strbox)
[    0.100000] Kernel command line: console=ttyS0 panic=-1 oops=panic
KTAP version 1
1..3
ok 1 module_load
ok 2 module_listed
ok 3 module_unload
@@k strbox: loaded
@@done
";

    /// Real console logs of x86_64 boots (`cargo xtask qemu-test --filter smp`):
    /// a passing one, one with 1 vCPU (captured when guest_is_smp still
    /// failed below 2 vCPUs), and one cut off by `--timeout 5`.
    const REAL_PASSING: &str = include_str!("../tests/fixtures/x86_64-passing.log");
    const REAL_FAILING: &str = include_str!("../tests/fixtures/x86_64-smp1-failing.log");
    const REAL_TIMEOUT: &str = include_str!("../tests/fixtures/x86_64-timeout.log");

    #[test]
    fn captured_passing_log_passes() {
        let r = parse(REAL_PASSING, "x86_64");
        assert!(r.ok(), "{r:?}");
        assert_eq!(
            r.summary,
            Summary {
                passed: 4,
                failed: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn captured_failing_log_fails() {
        let r = parse(REAL_FAILING, "x86_64");
        assert!(!r.ok());
        assert_eq!(
            r.summary,
            Summary {
                passed: 3,
                failed: 1,
                skipped: 0
            }
        );
        assert_eq!(r.failures.len(), 1);
        assert!(
            r.failures[0].starts_with("guest_is_smp: only 1 CPU(s) online"),
            "{:?}",
            r.failures
        );
    }

    #[test]
    fn captured_timeout_log_fails() {
        let r = parse(REAL_TIMEOUT, "x86_64");
        assert!(!r.ok());
        assert!(
            r.summary.failed >= 1,
            "a timed-out run must count a failure: {:?}",
            r.summary
        );
        assert!(
            r.problems.iter().any(|p| p.contains("timed out")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn passing_run() {
        let r = parse(PASSING, "x86_64");
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.summary.line(), "3 passed, 0 failed, 0 skipped");
    }

    #[test]
    fn failing_test_fails_the_run() {
        let log = PASSING.replace(
            "ok 2 module_listed",
            "not ok 2 module_listed # strbox missing",
        );
        let r = parse(&log, "x86_64");
        assert!(!r.ok());
        assert_eq!(
            r.summary,
            Summary {
                passed: 2,
                failed: 1,
                skipped: 0
            }
        );
        assert_eq!(
            r.failures,
            vec!["module_listed: strbox missing".to_string()]
        );
    }

    #[test]
    fn skip_is_counted_not_failed() {
        let log = PASSING.replace("ok 2 module_listed", "ok 2 module_listed # SKIP no ia32");
        let r = parse(&log, "x86_64");
        assert!(r.ok());
        assert_eq!(
            r.summary,
            Summary {
                passed: 2,
                failed: 0,
                skipped: 1
            }
        );
    }

    /// A captured-shape log of a guest that oopsed mid-suite.
    #[test]
    fn oops_and_missing_results_fail() {
        let log = "\
KTAP version 1
1..3
ok 1 module_load
[    3.1] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    3.1] Oops: 0002 [#1] PREEMPT SMP
[    3.1] Call Trace:
[    3.1] Kernel panic - not syncing: Fatal exception
";
        let r = parse(log, "x86_64");
        assert!(!r.ok());
        assert_eq!(
            r.summary.failed,
            2 + 2,
            "two tests never reported, bad kernel log, no @@done"
        );
        assert!(r.problems.iter().any(|p| p.contains("BUG:")));
        assert!(r.problems.iter().any(|p| p.contains("@@done")));
    }

    #[test]
    fn warning_in_dumped_kernel_log_fails() {
        let log = PASSING.replace(
            "@@k strbox: loaded",
            "@@k WARNING: CPU: 1 PID: 42 at kernel/fork.c:1 x",
        );
        assert!(!parse(&log, "aarch64").ok());
    }

    #[test]
    fn finding_before_userspace_is_noted_not_failed() {
        let log = format!(
            "[    2.29] BUG: KASAN: wild-memory-access in do_raw_spin_lock+0xea/0x2b0\n{}",
            PASSING.replace(
                "@@k strbox: loaded",
                "@@k BUG: KASAN: wild-memory-access in x\n@@k Run /init as init process\n@@k strbox: loaded"
            )
        );
        let r = parse(&log, "x86_64");
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("2 bad line(s)"), "{:?}", r.notes);
    }

    #[test]
    fn finding_after_userspace_started_fails() {
        // After the plan on the console, or after "Run /init" in the dump.
        let console = PASSING.replace("ok 1 module_load", "ok 1 module_load\n[ 9.1] BUG: x");
        assert!(!parse(&console, "x86_64").ok());
        let dumped = PASSING.replace(
            "@@k strbox: loaded",
            "@@k Run /init as init process\n@@k strbox: loaded\n@@k BUG: x",
        );
        assert!(!parse(&dumped, "x86_64").ok());
    }

    #[test]
    fn no_boot_fails() {
        let r = parse("qemu: could not load kernel\n", "x86_64");
        assert!(!r.ok());
        assert!(r.problems[0].contains("no KTAP plan"));
    }

    #[test]
    fn timeout_fails() {
        let log = PASSING.replace("@@done\n", "@@timeout\n");
        assert!(!parse(&log, "x86_64").ok());
    }

    #[test]
    fn test_diagnostics_are_not_kernel_findings() {
        let log = PASSING.replace(
            "ok 2 module_listed",
            "# child: expected WARNING: in output\nok 2 module_listed",
        );
        assert!(parse(&log, "x86_64").ok());
    }

    #[test]
    fn live_lines() {
        assert_eq!(
            live_line("ok 3 a_b", "x86_64").as_deref(),
            Some("PASS x86_64/a_b")
        );
        assert_eq!(
            live_line("not ok 4 c # why", "aarch64").as_deref(),
            Some("FAIL aarch64/c: why")
        );
        assert_eq!(live_line("[ 1.0] ok", "x86_64"), None);
    }

    #[test]
    fn tally_counts_per_test_outcomes_over_boots() {
        let mut t = Tally::default();
        t.add(&parse(PASSING, "x86_64"));
        let failing = PASSING.replace("ok 2 module_listed", "not ok 2 module_listed # no");
        t.add(&parse(&failing, "x86_64"));
        let lines = t.lines("x86_64");
        assert!(
            lines.contains(&"x86_64/module_listed: 1/2 passed, 1 FAILED".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"x86_64/module_load: 2/2 passed".to_string()),
            "{lines:?}"
        );
        assert_eq!(lines.last().unwrap(), "x86_64: 1 of 2 boots failed");
    }
}
