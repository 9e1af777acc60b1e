//! PID 1 of strbox's QEMU guests (see `strbox_selftests::harness`).

use strbox_selftests::{self as guest, harness};

fn main() {
    if std::process::id() != 1 {
        // Not PID 1: run the selected tests (or a test's helper, see
        // `guest::helpers`) in this process tree, without module
        // load/unload or power-off (e.g. from a shell, or re-executed by a
        // test after execve).
        let filter = std::env::args().nth(1);
        for t in guest::all().into_iter().chain(guest::helpers()) {
            if filter.as_deref().is_none_or(|f| t.name.contains(f)) {
                let r = harness::run_one(t);
                println!("{}: {:?}", t.name, r);
            }
        }
        return;
    }
    harness::early_init();
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if cmdline.split_whitespace().any(|w| w == "strbox.trial") {
        // xtask's KVM trial boot: prove we got here, then leave.
        println!("@@done");
        harness::power_off();
    }
    match harness::read_mode() {
        harness::Mode::Test { filter } => {
            harness::run_tests(filter.as_deref(), &guest::all());
            harness::dump_kernel_log();
        }
        harness::Mode::Run { argv, load_module } => {
            if load_module {
                if let Err(e) = guest::util::load_module() {
                    println!("@@e strbox-guest: finit_module(/strbox.ko): {e}");
                }
            }
            let code = harness::run_command(&argv);
            harness::dump_kernel_log();
            println!("@@exit {code}");
        }
        harness::Mode::Bench { iters, reps } => {
            strbox_bench::runner::guest_main(strbox_bench::runner::Config { iters, reps });
            harness::dump_kernel_log();
        }
    }
    println!("@@done");
    harness::power_off();
}
