// SPDX-License-Identifier: GPL-2.0
//! Claiming strbox's `prctl` options: a kprobe on the native prctl syscall.
//!
//! `PR_SECCOMP_SET`, `PR_SECCOMP_GET` and `PR_STRBOX_ABI_VERSION` are not
//! options the kernel's prctl knows. A kprobe at the entry of
//! `__x64_sys_prctl`/`__arm64_sys_prctl` sees every native prctl that is
//! actually run — after the `sys_enter` probe judged it for a filtered
//! task (a denied prctl never gets here) — whether or not the task has the
//! syscall-tracepoint flag ([`crate::selective`]). A strbox option queues
//! the task work of [`install`]; the real prctl then fails with `EINVAL`,
//! and the work, which runs before the task returns to user mode, writes
//! the real result over it. (A tracer stopping the task at syscall exit
//! sees `EINVAL`; the task never does.) Any other option, or a strbox
//! option with nonzero unused arguments, is left to the real prctl, which
//! answers `EINVAL`.
//!
//! ia32 and AArch32 tasks enter through other wrappers and x32 ones are
//! recognised by their syscall number: strbox's options are native only.

use kernel::bindings;
use kernel::ffi::{c_int, c_void};

use crate::install;
use crate::regs::SyscallRegs;
use crate::uapi::abi::{PR_SECCOMP_GET, PR_SECCOMP_SET, PR_STRBOX_ABI_VERSION};

/// The kprobe pre-handler of the native prctl syscall.
///
/// # Safety
///
/// Called by kprobes only, at the entry of the prctl syscall's wrapper, in
/// the context of the calling task.
pub(crate) unsafe extern "C" fn on_prctl(_kp: *mut c_void, _regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: at the entry of the prctl syscall of the current task; the
    // frame is used (here and by the queued task work) before it returns
    // to user mode.
    let regs = unsafe { SyscallRegs::current() };
    let args = regs.args();
    // SAFETY: `get_current()` is always valid in task context, and `regs`
    // is its syscall frame.
    let native =
        unsafe { crate::syscall_entry::native_abi(bindings::get_current(), regs.as_ptr()) };
    if native && wants_claim(&args) {
        // On failure (module going away, no memory for the 64-byte record
        // in atomic context) the real prctl's EINVAL stands.
        let _ = install::queue(args[0] as u32, args[1], args[2], regs);
    }
    0
}

/// Whether the prctl arguments are a well-formed strbox call. prctl's
/// option is an `int`: the upper register half is ignored, as the
/// kernel's prctl does.
fn wants_claim(args: &[u64; 6]) -> bool {
    match args[0] as u32 {
        PR_STRBOX_ABI_VERSION => args[1..5].iter().all(|&a| a == 0),
        PR_SECCOMP_SET | PR_SECCOMP_GET => args[3] == 0 && args[4] == 0,
        _ => false,
    }
}
