// SPDX-License-Identifier: GPL-2.0
//! The `sys_enter` probe: where syscalls of filtered tasks are judged and
//! denied.
//!
//! Only tasks with the syscall-tracepoint work flag reach the probe; strbox
//! keeps it on filtered tasks only ([`crate::selective`]), so an unfiltered
//! task pays nothing, except once: a task that existed before the module
//! was loaded clears its flag on its first visit. The probe runs with
//! preemption disabled: it must not sleep, fault or allocate.
//!
//! To deny, the probe sets the syscall number to -1 and the return value to
//! `-errno` in `pt_regs`; the 6.12 entry code re-reads the number after the
//! tracepoint and runs nothing for -1 (x86_64 `orig_ax`/`ax`, arm64
//! `syscallno`/`regs[0]`; see `shim.c`). strbox's own `prctl` options are
//! claimed later, in the prctl syscall itself ([`crate::prctl`]), so a
//! filtered task's `prctl` is judged first.

use kernel::bindings;
use kernel::ffi::{c_long, c_void};

use crate::filter::{Plan, Verdict};
use crate::regs::SyscallRegs;
use crate::report::{self, Recorded};
use crate::selective;
use crate::task_state::{self, RcuReadSide};

/// Whether the current syscall uses the native 64-bit ABI: not ia32
/// (`int $0x80`, `TS_COMPAT`), not x32 (the x32 bit in the number, checked
/// even when `CONFIG_X86_X32_ABI` is off), not an arm64 AArch32 task
/// (`TIF_32BIT`) — `in_compat_syscall()` plus the x32 bit, read here
/// rather than through a shim call on the hot path.
///
/// # Safety
///
/// `task` must be current and `regs` its syscall register frame.
#[inline(always)]
pub(crate) unsafe fn native_abi(
    task: *const bindings::task_struct,
    regs: *const bindings::pt_regs,
) -> bool {
    // Soundness: `thread_info` is the first member of `task_struct` on x86_64
    // and arm64 (CONFIG_THREAD_INFO_IN_TASK), outside the part that
    // RANDSTRUCT may reorder; `task` is current, so it is valid. The
    // status/flag bits read here are set by the task itself (exec, the
    // syscall entry), so a plain volatile read sees its own writes.
    // SAFETY: as argued just above.
    let ti = unsafe { core::ptr::addr_of!((*task).thread_info) };
    #[cfg(CONFIG_X86_64)]
    {
        // SAFETY: `ti` and `regs` are valid (above and the caller).
        let (status, nr) = unsafe {
            (
                core::ptr::read_volatile(core::ptr::addr_of!((*ti).status)),
                (*regs).orig_ax,
            )
        };
        status & bindings::TS_COMPAT == 0 && nr & bindings::__X32_SYSCALL_BIT as usize == 0
    }
    #[cfg(CONFIG_ARM64)]
    {
        let _ = regs;
        // SAFETY: `ti` is valid (above).
        let flags = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*ti).flags)) };
        flags & (1 << bindings::TIF_32BIT) == 0
    }
}

/// The probe, as registered (compared with the probes of other users).
pub(crate) fn probe() -> *mut c_void {
    on_sys_enter as *mut c_void
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
    // SAFETY: tracepoint probes run with preemption disabled on 6.12, an
    // RCU read-side critical section lasting until we return.
    let rcu = unsafe { RcuReadSide::assume() };
    // SAFETY: `get_current()` is always valid in task context.
    let task = unsafe { bindings::get_current() };
    let found = if task_state::any_filtered() {
        task_state::lookup(&rcu, task)
    } else {
        None
    };
    let chain = match found {
        Some(chain) => chain,
        // Not filtered: in selective mode the task leaves for good, unless
        // a chain was linked since our look (then look again: the lock
        // taken in between orders its publication before this load).
        None if selective::unfiltered_entered(task) => match task_state::lookup(&rcu, task) {
            Some(chain) => chain,
            None => return,
        },
        None => return,
    };
    // -1: the syscall was already skipped (ptrace, seccomp).
    if id < 0 {
        return;
    }
    // SAFETY: `task` is current and `regs` its syscall frame.
    let native = unsafe { native_abi(task, regs) };
    // SAFETY: the tracepoint's `regs` is the current task's frame, used
    // only during this probe.
    let frame = unsafe { SyscallRegs::from_raw(regs) };
    // The arguments are read only when a rule or a record needs them.
    let (verdict, read) = if !native {
        // ia32/x32/AArch32: the policy's rules name native numbers, so no
        // rule applies; fail closed (each layer's default action, ENOSYS
        // for a deny-list, allowed only by event-only layers).
        (chain.compat_verdict(), None)
    } else {
        match chain.plan(id as u32) {
            // No layer looks at this syscall's arguments: one load.
            Plan::Constant(v) => (v, None),
            plan => {
                let args = frame.native_args();
                (chain.evaluate_planned(plan, id as u32, &args), Some(args))
            }
        }
    };
    let args = || read.unwrap_or_else(|| frame.args());
    match verdict {
        Verdict::Allow => {}
        Verdict::Log => report::record(Recorded::Log, task, id, native, &args(), chain),
        Verdict::Errno(e) => frame.skip(-(e as c_long)),
        Verdict::Kill => {
            report::record(Recorded::Kill, task, id, native, &args(), chain);
            // The syscall must not run: skip it, then kill the whole
            // thread group (SIGKILL cannot be caught, blocked or ignored;
            // the task dies on its way back to user).
            frame.skip(-(bindings::EPERM as c_long));
            // SAFETY: force_sig(SIGKILL) on current may be called in atomic
            // context.
            unsafe { bindings::force_sig(bindings::SIGKILL as i32) };
        }
    }
}
