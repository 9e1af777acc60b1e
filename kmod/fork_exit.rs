// SPDX-License-Identifier: GPL-2.0
//! Inheritance and release of chains: the `task_newtask` and
//! `sched_process_exit` probes.
//!
//! * `task_newtask` fires at the end of `copy_process()`, after its last
//!   failure point and before `wake_up_new_task()`: the child (process,
//!   thread, or a kernel-made user worker such as an io_uring io-wq thread,
//!   which `create_io_thread()` makes without `kernel_clone()` and so
//!   without `sched_process_fork`) exists but has not run. A filtered
//!   parent's (`current`'s) chain is shared with the child there (one
//!   reference count, one small `GFP_ATOMIC` entry). An io-wq worker thus
//!   carries its creator's chain, and the LSM-hook events judge the opens
//!   and connects it makes on the task's behalf. Should the allocation
//!   fail, the child is sent SIGKILL before it ever runs — it never runs
//!   unfiltered (for a thread, SIGKILL takes its whole group).
//! * `sched_process_exit` fires in `do_exit()` after `PF_EXITING` is set:
//!   the task makes no more syscalls, and its entry is unlinked and freed
//!   after a grace period, long before the task struct (whose address is
//!   the key) can be freed and reused.
//!
//! execve keeps the task struct and so the entry: chains survive execve.

use kernel::alloc::flags::{__GFP_NOWARN, GFP_ATOMIC};
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

use crate::task_state::{self, RcuReadSide};

/// The probe of `task_newtask` (`TP_PROTO(struct task_struct *task,
/// unsigned long clone_flags)`; the parent is `current`).
///
/// # Safety
///
/// Called by the tracepoint machinery only, with preemption disabled and a
/// valid new task pointer, in the parent's context.
pub(crate) unsafe extern "C" fn on_fork(
    _data: *mut c_void,
    child: *mut bindings::task_struct,
    _clone_flags: core::ffi::c_ulong,
) {
    // SAFETY: `get_current()` is always valid in task context.
    let parent = unsafe { bindings::get_current() };
    crate::selective::on_fork(child);
    if !task_state::any_filtered() {
        return;
    }
    {
        // SAFETY: tracepoint probes run with preemption disabled, an RCU
        // read-side critical section lasting until we return.
        let rcu = unsafe { RcuReadSide::assume() };
        // An unfiltered parent cannot become filtered concurrently except
        // by a TSYNC of its thread group, which (holding the siglock)
        // covers a new thread itself.
        if task_state::lookup(&rcu, parent).is_none() {
            return;
        }
    }
    match task_state::alloc_slot(GFP_ATOMIC | __GFP_NOWARN) {
        Ok(slot) => task_state::with_writer(|w| {
            // Read the parent's chain again under the lock: a concurrent
            // TSYNC may have given it a newer one.
            if let Some(chain) = w.chain_of(parent).cloned() {
                w.set(child, slot, chain);
            }
        }),
        Err(_) => {
            // Fail closed: the child must never run without the filter.
            // SAFETY: `child` is a valid new task that has not run yet;
            // send_sig() may be called in atomic context.
            unsafe { bindings::send_sig(bindings::SIGKILL as i32, child, 1) };
            if crate::report::WARNINGS.allow("warning") {
                pr_warn!("out of memory at fork: child killed\n");
            }
        }
    }
}

/// The probe of `sched_process_exit` (`TP_PROTO(struct task_struct *p)`,
/// `p == current`).
///
/// # Safety
///
/// Called by the tracepoint machinery only, with preemption disabled and a
/// valid task pointer.
pub(crate) unsafe extern "C" fn on_exit(_data: *mut c_void, task: *mut bindings::task_struct) {
    if !task_state::any_filtered() {
        return;
    }
    {
        // SAFETY: as in `on_fork`.
        let rcu = unsafe { RcuReadSide::assume() };
        // Every entry of this task was linked before it set PF_EXITING
        // (by itself, by its parent before it ran, or by a TSYNC that saw
        // PF_EXITING clear under the siglock), so it is visible here.
        if task_state::lookup(&rcu, task).is_none() {
            return;
        }
    }
    task_state::with_writer(|w| w.remove(task));
}
