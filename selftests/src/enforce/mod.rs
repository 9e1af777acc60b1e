//! Enforcement: installing layers and what filtered tasks can and cannot
//! do — the seed example, strict mode, every action, nesting and
//! precedence, inheritance (fork, thread, execve), TSYNC, no_new_privs,
//! ABI switching (ia32/x32), module lifetime, read-back, and an SMP stress
//! test, one file per theme. Every filter is installed in a forked child
//! ([`crate::child::spawn`]).

mod abi_switch;
mod actions;
mod basics;
mod inherit;
mod lifetime;
mod nesting;
mod readback;
mod stress;

use crate::{Test, TestResult};

use abi_switch::abi_switch;
use actions::{
    action_errno, action_kill_whole_process, action_log, log_escapes_comm,
    log_flood_keeps_kill_records,
};
use basics::{abi_version, seed_example_allows, seed_example_denies, strict_mode_emulation};
use inherit::{
    exec_probe_helper, inherit_execve, inherit_fork, inherit_thread, nnp_required,
    tsync_all_threads, tsync_diverged_fails,
};
use lifetime::{kmemleak_no_strbox_leaks, rmmod_refused_while_filtered};
use nesting::{
    deep_stack_argument_rules, layer_without_prctl, nesting_narrows, nesting_never_reallows,
    precedence_kill_over_errno, precedence_newest_errno,
};
use readback::{cli_run_show, get_round_trip};
use stress::stress_smp;

/// The enforcement tests.
pub static TESTS: &[Test] = &[
    t("abi_version", abi_version),
    t("seed_example_allows", seed_example_allows),
    t("seed_example_denies", seed_example_denies),
    t("strict_mode_emulation", strict_mode_emulation),
    t("action_errno", action_errno),
    t("action_kill_whole_process", action_kill_whole_process),
    t("action_log", action_log),
    t("log_flood_keeps_kill_records", log_flood_keeps_kill_records),
    t("log_escapes_comm", log_escapes_comm),
    t("layer_without_prctl_blocks_new_layers", layer_without_prctl),
    t("nesting_narrows", nesting_narrows),
    t("nesting_never_reallows", nesting_never_reallows),
    t("precedence_kill_over_errno", precedence_kill_over_errno),
    t("precedence_newest_errno", precedence_newest_errno),
    t("deep_stack_argument_rules", deep_stack_argument_rules),
    t("inherit_fork", inherit_fork),
    t("inherit_thread", inherit_thread),
    t("inherit_execve", inherit_execve),
    t("tsync_all_threads", tsync_all_threads),
    t("tsync_diverged_fails", tsync_diverged_fails),
    t("nnp_required", nnp_required),
    t("abi_switch_ia32_x32", abi_switch),
    t("rmmod_refused_while_filtered", rmmod_refused_while_filtered),
    t("get_round_trip", get_round_trip),
    t("cli_run_show", cli_run_show),
    t("stress_smp", stress_smp),
];

/// Runs after every other test (also after the lifecycle tests' unloads).
pub static FINAL: &[Test] = &[t("kmemleak_no_strbox_leaks", kmemleak_no_strbox_leaks)];

/// Not tests: bodies that tests re-execute this binary to run
/// (`strbox-guest NAME`), e.g. in a process after execve.
pub static HELPERS: &[Test] = &[t("exec_probe_helper", exec_probe_helper)];

const fn t(name: &'static str, run: fn() -> TestResult) -> Test {
    Test { name, run }
}

/// The seed's example policy, verbatim, plus exit/exit_group.
const SEED: &str = "\
read:         fd == 0
write:        fd == 1
rt_sigreturn: 1
gettimeofday: tz == NULL
exit:         1
exit_group:   1
";
