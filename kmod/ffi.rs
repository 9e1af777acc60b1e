// SPDX-License-Identifier: GPL-2.0
//! Declarations of C functions that the 6.12 Rust bindings lack: exported
//! kernel functions (tracepoint registration) and the wrappers of
//! `shim.c` (static inlines and macros). Everything else comes from
//! `kernel::bindings`.

use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_void};

/// Callback of [`for_each_kernel_tracepoint`].
pub(crate) type TracepointVisitor =
    unsafe extern "C" fn(tp: *mut bindings::tracepoint, data: *mut c_void);

/// `task_work_func_t`.
pub(crate) type TaskWorkFn = unsafe extern "C" fn(head: *mut bindings::callback_head);

/// `work_func_t`.
pub(crate) type WorkFn = unsafe extern "C" fn(work: *mut bindings::work_struct);

/// `kprobe_pre_handler_t` (`struct kprobe *` passed as an opaque pointer:
/// the type is absent from the bindings and never dereferenced here).
pub(crate) type KprobePreHandler =
    unsafe extern "C" fn(kp: *mut c_void, regs: *mut bindings::pt_regs) -> c_int;

// Only pointers cross this boundary; bindgen renders structs whose members
// are configured out (e.g. `sched_statistics` inside `task_struct`) as empty,
// which the lint flags although the pointee's layout never matters here.
#[allow(improper_ctypes)]
extern "C" {
    // kernel/tracepoint.c, EXPORT_SYMBOL_GPL.

    /// Calls `visit(tp, data)` for every tracepoint of the core kernel.
    pub(crate) fn for_each_kernel_tracepoint(visit: TracepointVisitor, data: *mut c_void);
    /// Attaches `probe` (with first argument `data`) to `tp`.
    pub(crate) fn tracepoint_probe_register(
        tp: *mut bindings::tracepoint,
        probe: *mut c_void,
        data: *mut c_void,
    ) -> c_int;
    /// Detaches a probe attached with [`tracepoint_probe_register`].
    pub(crate) fn tracepoint_probe_unregister(
        tp: *mut bindings::tracepoint,
        probe: *mut c_void,
        data: *mut c_void,
    ) -> c_int;

    // shim.c

    /// `init_task_work(work, func)` + `task_work_add(current, work, TWA_RESUME)`.
    pub(crate) fn strbox_task_work_add(
        work: *mut bindings::callback_head,
        func: TaskWorkFn,
    ) -> c_int;
    /// `INIT_RCU_WORK(rwork, func)`.
    pub(crate) fn strbox_init_rcu_work(rwork: *mut bindings::rcu_work, func: WorkFn);
    /// `tracepoint_synchronize_unregister()`.
    pub(crate) fn strbox_tracepoint_synchronize_unregister();
    /// `try_module_get(THIS_MODULE)`.
    pub(crate) fn strbox_module_get() -> bool;
    /// `task_no_new_privs(current) || ns_capable_noaudit(current_user_ns(), CAP_SYS_ADMIN)`.
    pub(crate) fn strbox_may_install() -> bool;
    /// `task_no_new_privs(t)`.
    pub(crate) fn strbox_task_no_new_privs(t: *mut bindings::task_struct) -> bool;
    /// `task_set_no_new_privs(t)`.
    pub(crate) fn strbox_task_set_no_new_privs(t: *mut bindings::task_struct);
    /// `spin_lock_irq(&current->sighand->siglock)`.
    pub(crate) fn strbox_lock_thread_group();
    /// `spin_unlock_irq(&current->sighand->siglock)`.
    pub(crate) fn strbox_unlock_thread_group();
    /// `current->signal->flags & SIGNAL_GROUP_EXIT` (siglock held).
    pub(crate) fn strbox_thread_group_exiting() -> bool;
    /// `next_thread(t)` (siglock held).
    pub(crate) fn strbox_next_thread(t: *mut bindings::task_struct) -> *mut bindings::task_struct;
    /// `syscall_get_arguments(current, regs, args)`.
    pub(crate) fn strbox_syscall_args(regs: *mut bindings::pt_regs, args: *mut u64);
    /// Skips the current syscall with return value `ret`.
    pub(crate) fn strbox_syscall_skip(regs: *mut bindings::pt_regs, ret: c_long);
    /// `syscall_set_return_value(current, regs, ...)` with `ret` (negative: -errno).
    pub(crate) fn strbox_syscall_set_return(regs: *mut bindings::pt_regs, ret: c_long);
    /// `task_tgid_nr(t)`, `task_pid_nr(t)` and `t->comm` (16 bytes, NUL-padded).
    pub(crate) fn strbox_task_ident(
        t: *mut bindings::task_struct,
        tgid: *mut c_int,
        pid: *mut c_int,
        comm: *mut u8,
    );
    /// `t->flags & PF_EXITING`.
    pub(crate) fn strbox_task_exiting(t: *mut bindings::task_struct) -> bool;
    /// `get_nr_threads(current)`.
    pub(crate) fn strbox_thread_count() -> c_int;
    /// `mutex_lock_killable(&current->signal->cred_guard_mutex)`: 0 or
    /// `-EINTR`.
    pub(crate) fn strbox_lock_exec_guard() -> c_int;
    /// `mutex_unlock(&current->signal->cred_guard_mutex)`.
    pub(crate) fn strbox_unlock_exec_guard();
    /// `synchronize_rcu_tasks()`.
    pub(crate) fn strbox_synchronize_rcu_tasks();
    /// `current_pt_regs()`: the user register frame of current.
    pub(crate) fn strbox_current_regs() -> *mut bindings::pt_regs;
    /// `set_task_syscall_work(t, SYSCALL_TRACEPOINT)`.
    pub(crate) fn strbox_task_set_tp_work(t: *mut bindings::task_struct);
    /// `clear_task_syscall_work(t, SYSCALL_TRACEPOINT)`.
    pub(crate) fn strbox_task_clear_tp_work(t: *mut bindings::task_struct);
    /// Sets the syscall-tracepoint flag on every task (RCU walk).
    pub(crate) fn strbox_flag_all_tasks();
    /// Whether `tp` has a probe other than `ours`.
    pub(crate) fn strbox_tp_has_foreign_probe(
        tp: *mut bindings::tracepoint,
        ours: *mut c_void,
    ) -> bool;
    /// `regs_get_kernel_argument(regs, n)`.
    pub(crate) fn strbox_kernel_arg(regs: *mut bindings::pt_regs, n: u32) -> usize;
    /// Registers the prctl kprobe and the tracepoint-registration kprobes
    /// (all or none): 0 or -errno.
    pub(crate) fn strbox_kprobes_register(
        prctl: KprobePreHandler,
        tp_register: KprobePreHandler,
    ) -> c_int;
    /// Unregisters what [`strbox_kprobes_register`] registered (waits for
    /// running handlers).
    pub(crate) fn strbox_kprobes_unregister();
    /// Registers kprobe `slot` (`0..4`) at the entry of `sym`: 0 or -errno.
    pub(crate) fn strbox_event_kprobe_register(
        slot: u32,
        sym: *const kernel::ffi::c_char,
        handler: KprobePreHandler,
    ) -> c_int;
    /// `mutex_lock()` of the event hooks' arming mutex.
    pub(crate) fn strbox_events_lock();
    /// `mutex_unlock()` of it.
    pub(crate) fn strbox_events_unlock();
    /// Unregisters kprobe `slot` (waits for running handlers).
    pub(crate) fn strbox_event_kprobe_unregister(slot: u32);
    /// From a kprobe pre-handler at a function's entry: the function
    /// returns `ret` without running (the handler then returns 1).
    pub(crate) fn strbox_override_return(regs: *mut bindings::pt_regs, ret: c_long);
    /// `bprm->file`.
    pub(crate) fn strbox_bprm_file(bprm: *mut c_void) -> *mut bindings::file;
    /// `__alloc_percpu(size, sizeof(long))` (zeroed; NULL on failure).
    pub(crate) fn strbox_alloc_percpu(size: usize) -> *mut c_void;
    /// `f->f_flags` without `O_LARGEFILE`, `__FMODE_EXEC`, `__FMODE_NONOTIFY`.
    pub(crate) fn strbox_file_flags(f: *mut bindings::file) -> u32;
    /// `this_cpu_ptr(p)` (preemption disabled by the caller).
    pub(crate) fn strbox_this_cpu_ptr(p: *mut c_void) -> *mut c_void;
}

/// Holds one reference on this module (`try_module_get`), dropped with
/// `module_put`. Every layer and every pending prctl call holds one, so the
/// module cannot be unloaded while any filter exists or is being
/// installed.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference, or `None` if the module is being unloaded.
    pub(crate) fn try_get() -> Option<ModuleRef> {
        // SAFETY: `try_module_get(THIS_MODULE)` may be called from any
        // context, including atomic ones.
        if unsafe { strbox_module_get() } {
            Some(ModuleRef(()))
        } else {
            None
        }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // Soundness: `self` was created by a successful `try_module_get`
        // of this module (`THIS_MODULE`, defined by `module!`), so this
        // puts exactly the reference it owns; module_put() may be called
        // from any context.
        // SAFETY: as argued just above.
        unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr()) }
    }
}
