// SPDX-License-Identifier: GPL-2.0
//! strbox: per-syscall string filters for unprivileged tasks.
//!
//! Crate root of `strbox.ko`. The filter engine (`filter/`) and the ABI
//! (`uapi/`) are the very same sources the host tools compile.
//!
//! Map of the module:
//!
//! * [`syscall_entry`]: the `sys_enter` probe — judges every syscall of a
//!   filtered task, denies in `pt_regs`, claims the strbox prctl options.
//! * [`install`]: `PR_SECCOMP_SET`/`PR_SECCOMP_GET` as task work (copy,
//!   compile, atomic install, TSYNC, read-back).
//! * [`chain`]: immutable reference-counted layers.
//! * [`task_state`]: which task has which chain (RCU hash keyed by task).
//! * [`fork_exit`]: inheritance at fork/clone, release at exit.
//! * [`tracepoints`]: finding and attaching to the tracepoints.
//! * [`ffi`]: C declarations (exported functions, `shim.c`).

use kernel::ffi::c_void;
use kernel::prelude::*;

#[path = "../uapi/src/lib.rs"]
pub mod uapi;

#[path = "../filter/src/lib.rs"]
pub mod filter;

mod chain;
mod ffi;
mod fork_exit;
mod install;
mod syscall_entry;
mod task_state;
mod tracepoints;

use tracepoints::{Attached, ProbeSpec};

module! {
    type: Strbox,
    name: "strbox",
    author: "strbox developers",
    description: "Per-syscall string filters (PR_SECCOMP_SET) for unprivileged tasks",
    license: "GPL",
}

/// The probes, in attach order (detached in reverse): exit and fork first,
/// so that by the time the first syscall can install a layer, inheritance
/// and release are in place.
static PROBES: [ProbeSpec; 3] = [
    ProbeSpec {
        name: c"sched_process_exit",
        probe: fork_exit::on_exit as *mut c_void,
    },
    ProbeSpec {
        name: c"sched_process_fork",
        probe: fork_exit::on_fork as *mut c_void,
    },
    ProbeSpec {
        name: c"sys_enter",
        probe: syscall_entry::on_sys_enter as *mut c_void,
    },
];

struct Strbox {
    probes: Attached,
}

impl kernel::Module for Strbox {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        syscall_entry::init()?;
        task_state::init()?;
        let probes = match tracepoints::attach(&PROBES) {
            Ok(p) => p,
            Err(e) => {
                task_state::teardown();
                return Err(e);
            }
        };
        pr_info!(
            "loaded (ABI {}, {} syscalls, layer {} bytes)\n",
            uapi::abi::STRBOX_ABI_VERSION,
            uapi::tables::NATIVE.syscalls.len(),
            filter::Program::SIZE
        );
        Ok(Strbox { probes })
    }
}

impl Drop for Strbox {
    fn drop(&mut self) {
        // The module is unloaded only when no reference is left: no layer
        // exists and no prctl is pending. Detach (and wait for running
        // probes), then free the registry once the last deferred frees ran.
        self.probes.detach();
        task_state::teardown();
        pr_info!(
            "unloaded ({} filtered tasks left)\n",
            task_state::filtered_tasks()
        );
    }
}
