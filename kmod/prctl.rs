// SPDX-License-Identifier: GPL-2.0
//! Claiming strbox's `prctl` options at syscall entry.
//!
//! `PR_SECCOMP_SET`, `PR_SECCOMP_GET` and `PR_STRBOX_ABI_VERSION` are not
//! options the kernel's prctl knows; the `sys_enter` probe hands every
//! native `prctl` here (after judging it, for a filtered task). A strbox
//! option is answered by skipping the real syscall: the ABI version at
//! once, SET/GET by queueing the task work of [`install`] (which may
//! sleep) and returning its result on the way back to user mode. Any other
//! option reaches the real prctl untouched.

use kernel::bindings;
use kernel::ffi::c_long;

use crate::ffi;
use crate::install;
use crate::uapi::abi::{PR_SECCOMP_GET, PR_SECCOMP_SET, PR_STRBOX_ABI_VERSION, STRBOX_ABI_VERSION};

/// Handles the strbox `prctl` options; other options reach the real prctl.
pub(crate) fn claim(regs: *mut bindings::pt_regs, args: &[u64; 6]) {
    // prctl's option is an `int`: the upper register half is ignored, as
    // the kernel's prctl does.
    let option = args[0] as u32;
    let result: c_long = match option {
        PR_STRBOX_ABI_VERSION => {
            if args[1..5].iter().any(|&a| a != 0) {
                -(bindings::EINVAL as c_long)
            } else {
                STRBOX_ABI_VERSION as c_long
            }
        }
        PR_SECCOMP_SET | PR_SECCOMP_GET => {
            if args[3] != 0 || args[4] != 0 {
                -(bindings::EINVAL as c_long)
            } else {
                match install::queue(option, args[1], args[2], regs) {
                    // The task work writes the real result before the task
                    // returns to user mode; until then the syscall looks
                    // interrupted (what a tracer at syscall exit sees).
                    Ok(true) => -(bindings::EINTR as c_long),
                    // The module is going away: behave as if not loaded.
                    Ok(false) => return,
                    Err(e) => e.to_errno() as c_long,
                }
            }
        }
        _ => return,
    };
    // SAFETY: `regs` is the current syscall's frame.
    unsafe { ffi::strbox_syscall_skip(regs, result) };
}
