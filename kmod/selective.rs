// SPDX-License-Identifier: GPL-2.0
//! Which tasks enter the `sys_enter` probe: only filtered ones.
//!
//! A task runs the syscall tracepoints only while its syscall-tracepoint
//! work flag is set (x86_64: `SYSCALL_WORK_SYSCALL_TRACEPOINT`, generic
//! entry; arm64: `TIF_SYSCALL_TRACEPOINT`). Registering a `sys_enter` probe
//! sets it on every task (`syscall_regfunc()`, kernel/tracepoint.c), which
//! would make every syscall on the machine pay for strbox. Instead, strbox
//! keeps the flag only on tasks that have a chain — the only tasks it has
//! to judge — and claims its `prctl` options from a kprobe on the prctl
//! syscall ([`crate::prctl`]), which does not need the flag.
//!
//! # Modes
//!
//! * [`Mode::Starting`] (module init) and [`Mode::All`]: every task keeps
//!   the flag, as the kernel set it. `All` is entered, for good, as soon as
//!   another user of `sys_enter` or `sys_exit` exists (ftrace/perf syscall
//!   events, BPF raw tracepoints, another module): those users see only
//!   flagged tasks, so every task must stay flagged for them.
//! * [`Mode::Selective`]: only filtered tasks keep the flag. An unfiltered
//!   task that reaches the probe (one that existed before the load) clears
//!   its own flag there, once ([`unfiltered_entered`]); children inherit
//!   their parent's flag at fork (`syscall_tracepoint_update()`).
//!
//! # Soundness: a filtered task is always flagged
//!
//! * Whoever links a chain sets the task's flag after linking, under the
//!   registry lock ([`crate::task_state::Writer::set`]): install, every
//!   TSYNC thread, and the fork probe (a fork's copy of the parent's flag
//!   may predate a TSYNC of the parent).
//! * Only strbox clears the flag while it is registered (the kernel clears
//!   it only when the last syscall-tracepoint user goes, and strbox's
//!   `sys_enter` probe stays registered until unload). strbox clears it
//!   only under the registry lock, after finding no chain for the task.
//!
//! # Soundness: another tracer never misses a task
//!
//! Detection is a snapshot of the probes on `sys_enter`/`sys_exit` at load
//! plus kprobes on the three exported registration functions, which fire
//! before a new probe goes live ([`on_tracepoint_register`]). Going to
//! `All` is `MODE = All; smp_mb(); flag every task` against two racing
//! parties, both of the store-buffering shape with full barriers:
//!
//! * a fork: the child is on the task list (and has copied its parent's
//!   flag) before the fork probe runs `smp_mb(); if MODE != Selective:
//!   flag the child` ([`on_fork`]). Either the walk sees the child (and
//!   flags it after its copy) or the probe sees `All`;
//! * a lazy clear: `clear; smp_mb(); if MODE != Selective: set again`.
//!   Either the walk's set follows the clear, or the task sees `All`.
//!
//! A registration already inside `tracepoint_probe_register*()` when the
//! kprobes are armed and finishing after the snapshot is not seen (a window
//! of a few instructions at module load). The cost of that would be missed
//! events for that tracer, not a bypass: enforcement never depends on the
//! mode.
//!
//! # Unload
//!
//! `All`, then every task is flagged before `sys_enter` is unregistered:
//! if strbox was the last user the kernel clears every flag, as it expects;
//! otherwise the other users keep seeing every task.

use core::ptr;
use core::sync::atomic::{fence, AtomicPtr, AtomicU8, Ordering};

use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

use crate::ffi;
use crate::task_state;

/// How the syscall-tracepoint flag is managed (see the module docs).
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Module init: every task flagged, nothing cleared yet.
    Starting = 0,
    /// Only filtered tasks flagged.
    Selective = 1,
    /// Every task flagged (another syscall-tracepoint user exists, or the
    /// module is going away). Never left.
    All = 2,
}

static MODE: AtomicU8 = AtomicU8::new(Mode::Starting as u8);

/// The `sys_enter` and `sys_exit` tracepoints, found at init.
static SYS_ENTER: AtomicPtr<bindings::tracepoint> = AtomicPtr::new(ptr::null_mut());
static SYS_EXIT: AtomicPtr<bindings::tracepoint> = AtomicPtr::new(ptr::null_mut());

/// The current mode.
pub(crate) fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        0 => Mode::Starting,
        1 => Mode::Selective,
        _ => Mode::All,
    }
}

/// `smp_mb()`.
#[inline(always)]
fn full_barrier() {
    fence(Ordering::SeqCst);
}

/// Remembers the tracepoints to watch. Called from init before the kprobes
/// are armed.
pub(crate) fn init(sys_enter: *mut bindings::tracepoint, sys_exit: *mut bindings::tracepoint) {
    SYS_ENTER.store(sys_enter, Ordering::Relaxed);
    SYS_EXIT.store(sys_exit, Ordering::Relaxed);
}

/// Leaves `Starting` for `Selective` unless another user of `sys_enter` or
/// `sys_exit` is registered. Called from init after the probes are
/// attached and the kprobes armed.
pub(crate) fn start() {
    let ours = crate::syscall_entry::probe();
    let foreign = [&SYS_ENTER, &SYS_EXIT].iter().any(|tp| {
        // SAFETY: both tracepoints are static kernel objects (found by
        // `for_each_kernel_tracepoint`); the shim reads their probe array
        // under RCU-sched.
        unsafe { ffi::strbox_tp_has_foreign_probe(tp.load(Ordering::Relaxed), ours) }
    });
    if foreign {
        go_all("present at load");
        return;
    }
    // A registration seen by the kprobe in the meantime has already moved
    // the mode to `All`; then this fails and `All` stays.
    let _ = MODE.compare_exchange(
        Mode::Starting as u8,
        Mode::Selective as u8,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
}

/// Every task flagged, for good (see the module docs for the protocol).
fn go_all(why: &str) {
    if MODE.swap(Mode::All as u8, Ordering::SeqCst) == Mode::Selective as u8 {
        pr_info!(
            "another sys_enter/sys_exit user ({}): every task runs the syscall tracepoints until strbox is reloaded\n",
            why
        );
    }
    full_barrier();
    // SAFETY: may be called in atomic context (an RCU walk of the task
    // list, atomic bitops).
    unsafe { ffi::strbox_flag_all_tasks() };
}

/// Called from module exit before `sys_enter` is unregistered.
pub(crate) fn stop() {
    MODE.store(Mode::All as u8, Ordering::SeqCst);
    full_barrier();
    // SAFETY: as in `go_all`.
    unsafe { ffi::strbox_flag_all_tasks() };
}

/// The kprobe pre-handler of `tracepoint_probe_register{,_prio,
/// _prio_may_exist}(tp, probe, ...)`: runs before the probe is added.
///
/// # Safety
///
/// Called by kprobes only, at the entry of one of those functions, with
/// `regs` the kernel registers there.
pub(crate) unsafe extern "C" fn on_tracepoint_register(
    _kp: *mut c_void,
    regs: *mut bindings::pt_regs,
) -> c_int {
    // SAFETY: `regs` are the registers at the entry of a function whose
    // first two arguments are `struct tracepoint *` and the probe.
    let (tp, probe) = unsafe {
        (
            ffi::strbox_kernel_arg(regs, 0) as *mut bindings::tracepoint,
            ffi::strbox_kernel_arg(regs, 1) as *mut c_void,
        )
    };
    let watched = tp == SYS_ENTER.load(Ordering::Relaxed) || tp == SYS_EXIT.load(Ordering::Relaxed);
    if watched && !tp.is_null() && probe != crate::syscall_entry::probe() {
        go_all("registered");
    }
    0
}

/// From the fork probe, for every new task: keeps it flagged while the
/// mode is not `Selective` (a filtered child is flagged when linked).
pub(crate) fn on_fork(child: *mut bindings::task_struct) {
    full_barrier();
    if mode() != Mode::Selective {
        // SAFETY: `child` is a valid new task (the fork probe's argument).
        unsafe { ffi::strbox_task_set_tp_work(child) };
    }
}

/// From the `sys_enter` probe when `task` (current) was not found
/// filtered. In `Selective` mode, clears its flag unless a chain was
/// linked meanwhile; returns whether one was (then the caller looks again
/// and judges the syscall).
pub(crate) fn unfiltered_entered(task: *mut bindings::task_struct) -> bool {
    if mode() != Mode::Selective {
        return false;
    }
    task_state::with_writer(|w| {
        if w.chain_of(task).is_some() {
            return true;
        }
        // SAFETY: `task` is current, a valid task.
        unsafe { ffi::strbox_task_clear_tp_work(task) };
        full_barrier();
        if mode() != Mode::Selective {
            // SAFETY: as above.
            unsafe { ffi::strbox_task_set_tp_work(task) };
        }
        false
    })
}
