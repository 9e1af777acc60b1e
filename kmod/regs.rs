// SPDX-License-Identifier: GPL-2.0
//! [`SyscallRegs`]: the current task's user register frame during one of
//! its syscalls, with the few things strbox does to it (read the
//! arguments, skip the call, set its return value) as safe methods, the
//! way `rust/kernel/task.rs` wraps a `task_struct`.

use kernel::bindings;
use kernel::ffi::c_long;

use crate::ffi;

/// The user register frame of the current task's syscall.
///
/// # Invariants
///
/// `self.0` is the current task's user register frame, and the task is
/// inside a syscall (or a user-mode fault it handles, for the vsyscall
/// page) that has not returned to user mode: the frame is valid and only
/// this task touches it. The value is not `Send`, so it cannot leave the
/// task (a raw-pointer field makes it `!Send`).
#[derive(Clone, Copy)]
pub(crate) struct SyscallRegs(*mut bindings::pt_regs);

impl SyscallRegs {
    /// The frame `regs` (e.g. the `sys_enter` tracepoint's argument).
    ///
    /// # Safety
    ///
    /// `regs` must be the current task's user register frame, and every use
    /// of the returned value must happen before the task returns to user
    /// mode.
    pub(crate) unsafe fn from_raw(regs: *mut bindings::pt_regs) -> SyscallRegs {
        // INVARIANT: the caller's contract.
        SyscallRegs(regs)
    }

    /// The current task's frame (`current_pt_regs()`).
    ///
    /// # Safety
    ///
    /// The current task must be in a syscall or a user-mode fault, and
    /// every use of the returned value must happen before it returns to
    /// user mode.
    pub(crate) unsafe fn current() -> SyscallRegs {
        // SAFETY: `current_pt_regs()` is a pure address computation on the
        // current task's stack; always valid in task context.
        let regs = unsafe { ffi::strbox_current_regs() };
        // INVARIANT: the caller's contract.
        SyscallRegs(regs)
    }

    /// The raw frame.
    pub(crate) fn as_ptr(self) -> *mut bindings::pt_regs {
        self.0
    }

    /// The six argument registers of a syscall of the native 64-bit ABI,
    /// read here rather than through the shim (this is the probe's hot
    /// path): x86_64 `di, si, dx, r10, r8, r9`; arm64 `orig_x0` (`x0` may
    /// already hold a return value) and `x1..x5` — what
    /// `syscall_get_arguments()` reads for them. For any ABI, use
    /// [`SyscallRegs::args`].
    #[inline(always)]
    pub(crate) fn native_args(self) -> [u64; 6] {
        let r = self.0;
        #[cfg(CONFIG_X86_64)]
        {
            // SAFETY: the frame is valid and only this task writes it
            // (type invariant); each read is of one integer field.
            unsafe {
                [
                    (*r).di as u64,
                    (*r).si as u64,
                    (*r).dx as u64,
                    (*r).r10 as u64,
                    (*r).r8 as u64,
                    (*r).r9 as u64,
                ]
            }
        }
        #[cfg(CONFIG_ARM64)]
        {
            // SAFETY: as above. Both members of the register union are
            // plain `u64` arrays over the same storage (`user_regs.regs`
            // and `regs`), so reading either is defined.
            unsafe {
                let x = core::ptr::addr_of!((*r).__bindgen_anon_1.user_regs.regs);
                [
                    (*r).orig_x0,
                    (*x)[1],
                    (*x)[2],
                    (*x)[3],
                    (*x)[4],
                    (*x)[5],
                ]
            }
        }
    }

    /// The six argument registers, per the syscall's ABI
    /// (`syscall_get_arguments()`).
    pub(crate) fn args(self) -> [u64; 6] {
        let mut args = [0u64; 6];
        // SAFETY: the frame is valid (type invariant); the shim only reads
        // it and writes six values into `args`.
        unsafe { ffi::strbox_syscall_args(self.0, args.as_mut_ptr()) };
        args
    }

    /// Skips the syscall: the entry code runs nothing for number -1, and
    /// the task sees `ret`. Only meaningful at `sys_enter`.
    pub(crate) fn skip(self, ret: c_long) {
        // SAFETY: the frame is valid and ours (type invariant).
        unsafe { ffi::strbox_syscall_skip(self.0, ret) };
    }

    /// Sets the value the syscall returns to user mode (`ret < 0`:
    /// `-errno`).
    pub(crate) fn set_return(self, ret: c_long) {
        // SAFETY: the frame is valid and ours (type invariant).
        unsafe { ffi::strbox_syscall_set_return(self.0, ret) };
    }
}
