//! The guest test suite: runs inside QEMU as PID 1 (`strbox-guest`), with
//! `strbox.ko` loaded. Each test runs in its own freshly forked child
//! process (own process group, time limit) because filters are irreversible.
//!
//! To add tests: write `pub static TESTS: &[Test]` in a submodule and add it
//! to [`all`].

pub mod bad_input;
pub mod bench_check;
pub mod child;
pub mod cli_examples;
pub mod cli_run;
pub mod enforce;
pub mod events;
pub mod fuzz;
pub mod harness;
pub mod lifecycle;
pub mod module;
pub mod seccomp_selftest;
pub mod security;
pub mod tracing;
pub mod util;

/// Outcome of one test: `Err("skip: why")` skips, any other `Err` fails.
pub type TestResult = Result<(), String>;

/// One guest test.
pub struct Test {
    /// KTAP name (unique, no spaces).
    pub name: &'static str,
    /// The test body; runs in a forked child.
    pub run: fn() -> TestResult,
}

/// Every guest test, in run order.
pub fn all() -> Vec<&'static Test> {
    let groups: &[&'static [Test]] = &[
        module::TESTS,
        enforce::TESTS,
        security::TESTS,
        bad_input::TESTS,
        bench_check::TESTS,
        lifecycle::TESTS,
        tracing::TESTS,
        events::TESTS,
        cli_run::TESTS,
        cli_examples::TESTS,
        seccomp_selftest::TESTS,
        // Before FINAL: its kmemleak scan must see what the fuzz left.
        fuzz::TESTS,
        enforce::FINAL,
    ];
    groups.iter().flat_map(|g| g.iter()).collect()
}

/// Bodies that tests run by re-executing `strbox-guest NAME` (not part of
/// the suite: they only make sense inside the process a test set up).
pub fn helpers() -> Vec<&'static Test> {
    enforce::HELPERS
        .iter()
        .chain(security::HELPERS.iter())
        .chain(tracing::HELPERS.iter())
        .chain(events::HELPERS.iter())
        .collect()
}

/// Fails with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}
