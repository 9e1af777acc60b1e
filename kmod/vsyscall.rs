// SPDX-License-Identifier: GPL-2.0
//! x86_64 vsyscall emulation: the legacy fixed-address `gettimeofday`,
//! `time` and `getcpu` (0xffffffffff600000 + 0x400 * n).
//!
//! A call to the vsyscall page faults, and `emulate_vsyscall()`
//! (arch/x86/entry/vsyscall/vsyscall_64.c) runs the syscall's
//! implementation directly: it consults seccomp but never the `sys_enter`
//! tracepoint, so without this probe a filtered task could make these
//! three calls unjudged. The `emulate_vsyscall` tracepoint fires before the
//! emulation; its probe judges the call with the task's chain, arguments
//! from the user register frame (the C calling convention's `rdi`, `rsi`,
//! `rdx` are the syscall's first three arguments; the vsyscalls have no
//! more).
//!
//! Verdicts: allow and log as at syscall entry. **errno and kill both
//! kill**: a module cannot make the emulation return an error without
//! running the call (only seccomp's own hook can), so it fails closed.
//! The probe queues SIGKILL for the whole process and moves `regs->ip`
//! off the vsyscall address: `emulate_vsyscall()` then refuses to emulate
//! ("seccomp tried to change syscall nr or ip") and the call never runs.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_void};
use kernel::prelude::*;

use crate::filter::{Plan, Verdict};
use crate::regs::SyscallRegs;
use crate::report::{self, Recorded};
use crate::task_state::{self, RcuReadSide};
use crate::uapi::tables::NATIVE;

/// The native numbers of vsyscalls 0, 1, 2, looked up at init.
static NRS: [AtomicU32; 3] = [const { AtomicU32::new(u32::MAX) }; 3];

/// Looks up the syscall numbers. Called from module init.
pub(crate) fn init() -> Result {
    for (slot, name) in NRS.iter().zip(["gettimeofday", "time", "getcpu"]) {
        slot.store(NATIVE.syscall(name).ok_or(ENOENT)?.nr, Ordering::Relaxed);
    }
    Ok(())
}

/// The probe of `emulate_vsyscall` (`TP_PROTO(int nr)`).
///
/// # Safety
///
/// Called by the tracepoint machinery only, in the context of the current
/// task's user-mode page fault on the vsyscall page, with preemption
/// disabled (all 6.12 tracepoint probes are).
pub(crate) unsafe extern "C" fn on_emulate_vsyscall(_data: *mut c_void, nr: c_int) {
    if !task_state::any_filtered() {
        return;
    }
    // A misaligned address (nr < 0) is not emulated: the kernel sends
    // SIGSEGV by itself.
    let Some(id) = usize::try_from(nr)
        .ok()
        .and_then(|i| NRS.get(i))
        .map(|n| n.load(Ordering::Relaxed))
    else {
        return;
    };
    // SAFETY: tracepoint probes run with preemption disabled on 6.12, an
    // RCU read-side critical section lasting until we return.
    let rcu = unsafe { RcuReadSide::assume() };
    // SAFETY: `get_current()` is always valid in task context.
    let task = unsafe { bindings::get_current() };
    let Some(chain) = task_state::lookup(&rcu, task) else {
        return;
    };
    // SAFETY: a user-mode fault of the current task: its user register
    // frame is the one `emulate_vsyscall()` works on, used only here.
    let regs = unsafe { SyscallRegs::current() };
    let args = regs.args();
    let verdict = match chain.plan(id) {
        Plan::Constant(v) => v,
        plan => chain.evaluate_planned(plan, id, &args),
    };
    match verdict {
        Verdict::Allow => {}
        Verdict::Log => report::record(Recorded::Log, task, id as c_long, true, &args, chain),
        Verdict::Errno(_) | Verdict::Kill => {
            report::record(Recorded::Kill, task, id as c_long, true, &args, chain);
            // The process dies before it could return to user mode, and
            // force_sig(SIGKILL) may be called in atomic context.
            // SAFETY: `regs` is current's user frame (above); changing
            // `ip` only makes `emulate_vsyscall()` refuse the emulation.
            unsafe {
                (*regs.as_ptr()).ip = 0;
                bindings::force_sig(bindings::SIGKILL as i32);
            }
        }
    }
}
