// SPDX-License-Identifier: GPL-2.0
//! The `sys_enter` probe: where syscalls of filtered tasks are judged and
//! denied (and where a `prctl` is handed to [`prctl::claim`]).
//!
//! The probe runs for every syscall of every task (registering it sets the
//! syscall-tracepoint work flag on all tasks), with preemption disabled: it
//! must not sleep, fault or allocate (except the small atomic allocation of
//! a claimed `prctl`). A task without filters costs one relaxed load and
//! one compare unless it calls `prctl`.
//!
//! To deny, the probe sets the syscall number to -1 and the return value to
//! `-errno` in `pt_regs`; the 6.12 entry code re-reads the number after the
//! tracepoint and runs nothing for -1 (x86_64 `orig_ax`/`ax`, arm64
//! `syscallno`/`regs[0]`; see `shim.c`).

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::bindings;
use kernel::ffi::{c_long, c_void};
use kernel::prelude::*;

use crate::ffi;
use crate::filter::Verdict;
use crate::prctl;
use crate::report::{self, Recorded};
use crate::task_state::{self, RcuReadSide};
use crate::uapi::tables::NATIVE;

/// The native syscall number of `prctl`, looked up in the arch table at
/// init (157 on x86_64, 167 on arm64).
static PRCTL_NR: AtomicU32 = AtomicU32::new(u32::MAX);

/// Looks up the numbers the probe needs. Called from module init.
pub(crate) fn init() -> Result {
    let nr = NATIVE.syscall("prctl").ok_or(ENOENT)?.nr;
    PRCTL_NR.store(nr, Ordering::Relaxed);
    Ok(())
}

/// The probe of `sys_enter` (`TP_PROTO(struct pt_regs *regs, long id)`).
///
/// # Safety
///
/// Called by the tracepoint machinery only, for the current task's syscall
/// entry, with `regs` its user register frame and preemption disabled.
pub(crate) unsafe extern "C" fn on_sys_enter(
    _data: *mut c_void,
    regs: *mut bindings::pt_regs,
    id: c_long,
) {
    let filtered = task_state::any_filtered();
    let is_prctl = id == PRCTL_NR.load(Ordering::Relaxed) as c_long;
    // The fast path: no task anywhere is filtered and this is not prctl.
    if !filtered && !is_prctl {
        return;
    }
    // -1: the syscall was already skipped (ptrace, seccomp).
    if id < 0 {
        return;
    }
    // SAFETY: `regs` is the current task's register frame (the function's
    // safety requirement); the shim only reads it.
    let read = || unsafe {
        let mut args = [0u64; 6];
        ffi::strbox_syscall_args(regs, args.as_mut_ptr());
        (ffi::strbox_syscall_native(regs), args)
    };

    if filtered {
        // SAFETY: tracepoint probes run with preemption disabled on 6.12,
        // an RCU read-side critical section lasting until we return.
        let rcu = unsafe { RcuReadSide::assume() };
        // SAFETY: `get_current()` is always valid in task context.
        let task = unsafe { bindings::get_current() };
        if let Some(chain) = task_state::lookup(&rcu, task) {
            let (native, args) = read();
            let verdict = if native {
                chain.evaluate(id as u32, &args)
            } else {
                // ia32/x32/AArch32: the policy's rules name native
                // numbers, so no rule applies; fail closed with the
                // chain's default action.
                chain.default_verdict()
            };
            match verdict {
                Verdict::Allow => {}
                Verdict::Log => report::record(Recorded::Log, task, id, native, &args, chain),
                Verdict::Errno(e) => {
                    // SAFETY: `regs` is the current syscall's frame.
                    unsafe { ffi::strbox_syscall_skip(regs, -(e as c_long)) };
                    return;
                }
                Verdict::Kill => {
                    report::record(Recorded::Kill, task, id, native, &args, chain);
                    // The syscall must not run: skip it, then kill the
                    // whole thread group (SIGKILL cannot be caught, blocked
                    // or ignored; the task dies on its way back to user).
                    // SAFETY: `regs` is the current syscall's frame;
                    // force_sig(SIGKILL) may be called in atomic context.
                    unsafe {
                        ffi::strbox_syscall_skip(regs, -(bindings::EPERM as c_long));
                        bindings::force_sig(bindings::SIGKILL as i32);
                    }
                    return;
                }
            }
            if is_prctl && native {
                prctl::claim(regs, &args);
            }
            return;
        }
    }

    if is_prctl {
        let (native, args) = read();
        if native {
            prctl::claim(regs, &args);
        }
    }
}
