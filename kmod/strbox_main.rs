// SPDX-License-Identifier: GPL-2.0
//! strbox: per-syscall string filters for unprivileged tasks.
//!
//! Crate root of `strbox.ko`. The filter engine (`filter/`) and the ABI
//! (`uapi/`) are the very same sources the host tools compile.
//!
//! Map of the module:
//!
//! * [`syscall_entry`]: the `sys_enter` probe — judges every syscall of a
//!   filtered task and denies in `pt_regs`.
//! * [`selective`]: keeps unfiltered tasks out of that probe (the
//!   syscall-tracepoint flag only on filtered tasks while no other tracer
//!   needs it on all).
//! * [`events`]: the LSM-hook events (`file_open`, `exec`,
//!   `socket_connect`, `socket_bind`): kprobes at the entry of the
//!   `security_*` functions judge the kernel's own copy of the object.
//! * [`prctl`]: claims the strbox prctl options (a kprobe on prctl).
//! * [`install`]: `PR_SECCOMP_SET`/`PR_SECCOMP_GET` as task work (copy,
//!   compile, atomic install, TSYNC, read-back).
//! * [`regs`]: the current syscall's register frame, wrapped.
//! * [`report`]: the kernel-log records of `log`/`kill` verdicts (per-layer
//!   rate limits, escaped text).
//! * [`chain`]: immutable reference-counted layers.
//! * [`task_state`]: which task has which chain (RCU hash keyed by task).
//! * [`fork_exit`]: inheritance at fork/clone, release at exit.
//! * `vsyscall` (x86_64): judging the legacy vsyscalls, which bypass
//!   `sys_enter`.
//! * [`tracepoints`]: finding and attaching to the tracepoints.
//! * [`ffi`]: C declarations (exported functions, `shim.c`).

use kernel::ffi::c_void;
use kernel::prelude::*;

// On PREEMPT_RT spinlock_t sleeps, but the syscall-entry probe takes the
// registry lock with preemption disabled and allocates GFP_ATOMIC there.
#[cfg(not(CONFIG_KPROBES))]
compile_error!("strbox needs CONFIG_KPROBES (its prctl options are claimed by a kprobe on prctl)");

#[cfg(CONFIG_PREEMPT_RT)]
compile_error!("strbox does not support PREEMPT_RT kernels (its probes take spinlock_t and allocate in atomic context)");

#[path = "../uapi/src/lib.rs"]
pub mod uapi;

#[path = "../filter/src/lib.rs"]
pub mod filter;

mod chain;
mod events;
mod ffi;
mod fork_exit;
mod install;
mod prctl;
mod regs;
mod report;
mod selective;
mod syscall_entry;
mod task_state;
mod tracepoints;
#[cfg(CONFIG_X86_VSYSCALL_EMULATION)]
mod vsyscall;

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
static PROBES: &[ProbeSpec] = &[
    ProbeSpec {
        name: c"sched_process_exit",
        probe: fork_exit::on_exit as *mut c_void,
    },
    ProbeSpec {
        name: c"task_newtask",
        probe: fork_exit::on_fork as *mut c_void,
    },
    ProbeSpec {
        name: c"sys_enter",
        probe: syscall_entry::on_sys_enter as *mut c_void,
    },
    // x86_64's legacy vsyscalls bypass sys_enter (see `vsyscall`).
    #[cfg(CONFIG_X86_VSYSCALL_EMULATION)]
    ProbeSpec {
        name: c"emulate_vsyscall",
        probe: vsyscall::on_emulate_vsyscall as *mut c_void,
    },
];

struct Strbox {
    probes: Attached,
}

impl kernel::Module for Strbox {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        #[cfg(CONFIG_X86_VSYSCALL_EMULATION)]
        vsyscall::init()?;
        let (Some(sys_enter), Some(sys_exit)) =
            (tracepoints::find(c"sys_enter"), tracepoints::find(c"sys_exit"))
        else {
            pr_err!("syscall tracepoints not found (CONFIG_HAVE_SYSCALL_TRACEPOINTS?)\n");
            return Err(ENOENT);
        };
        selective::init(sys_enter, sys_exit);
        task_state::init()?;
        let mut probes = match tracepoints::attach(PROBES) {
            Ok(p) => p,
            Err(e) => {
                task_state::teardown();
                return Err(e);
            }
        };
        // The event hooks' buffers before any layer can be installed (the
        // hooks themselves are armed by the first layer that needs them).
        if let Err(e) = events::init() {
            events::teardown();
            probes.detach();
            task_state::teardown();
            return Err(e);
        }
        // After the probes: a layer installed through the prctl kprobe is
        // enforced from the next syscall on.
        // SAFETY: both handlers have the kprobe pre-handler signature and
        // stay valid until `strbox_kprobes_unregister` in `drop`.
        let rc = unsafe {
            ffi::strbox_kprobes_register(prctl::on_prctl, selective::on_tracepoint_register)
        };
        if rc != 0 {
            pr_err!("cannot register kprobes on prctl and tracepoint registration: {}\n", rc);
            selective::stop();
            events::teardown();
            probes.detach();
            task_state::teardown();
            return Err(Error::from_errno(rc));
        }
        selective::start();
        pr_info!(
            "loaded (ABI {}, {} syscalls, layer {} bytes, {} syscall tracing)\n",
            uapi::abi::STRBOX_ABI_VERSION,
            uapi::tables::NATIVE.syscalls.len(),
            filter::Program::SIZE,
            if selective::mode() == selective::Mode::Selective {
                "selective"
            } else {
                "all-task"
            }
        );
        Ok(Strbox { probes })
    }
}

impl Drop for Strbox {
    fn drop(&mut self) {
        // The module is unloaded only when no reference is left: no layer
        // exists and no prctl is pending. Flag every task (the kernel's view
        // once we are gone), disarm the kprobes and detach the probes (each
        // waits for running handlers), then free the registry once the
        // last deferred frees ran.
        selective::stop();
        // SAFETY: registered in `init`; process context, no locks held.
        unsafe { ffi::strbox_kprobes_unregister() };
        events::teardown();
        self.probes.detach();
        // No module code may run once this function returns. The probes
        // are synchronised above; deferred frees are drained by
        // `teardown`. What is left is a task that dropped the last module
        // reference itself and is still on its way out of our code: the
        // prctl task work (`install::run_call`) puts its reference, then
        // only frees its record and returns, without sleeping. A task can
        // be preempted there, never switch out voluntarily, so an RCU-tasks
        // grace period (every task passed a voluntary switch, user mode or
        // idle) ends only after it left our text. (Every other put happens
        // under the registry spinlock, in a probe, or while the same task
        // still holds another reference.)
        // SAFETY: process context (module exit), no locks held.
        unsafe { ffi::strbox_synchronize_rcu_tasks() };
        task_state::teardown();
        pr_info!(
            "unloaded ({} filtered tasks left, {} layers live)\n",
            task_state::filtered_tasks(),
            chain::live_layers()
        );
    }
}
