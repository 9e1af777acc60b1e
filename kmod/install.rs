// SPDX-License-Identifier: GPL-2.0
//! `PR_SECCOMP_SET` and `PR_SECCOMP_GET`, run as task work.
//!
//! The prctl kprobe ([`crate::prctl`]) claims the call and queues a
//! [`PendingCall`] with `task_work_add(TWA_RESUME)`; the real prctl then
//! runs (and fails with `EINVAL`, an option it does not know). The work
//! runs on the same task before it returns to user mode, in process
//! context where it may sleep and fault: it copies the arguments and the
//! policy from user memory once (bounded, [`UserSlice`]), compiles the
//! policy into zeroed heap memory, installs the layer atomically and
//! writes the result into the syscall's return register, over the real
//! prctl's.
//!
//! Atomicity: everything that can fail — copying, compiling, allocating,
//! limits, the TSYNC check — happens before the single step that links the
//! new entries under the registry lock, and nothing after it can fail.

use core::fmt::{self, Write};
use core::ptr;

use kernel::alloc::flags::{GFP_ATOMIC, GFP_KERNEL_ACCOUNT};
use kernel::alloc::{KVBox, KVVec, KVec};
use kernel::bindings;
use kernel::ffi::c_long;
use kernel::prelude::*;
use kernel::sync::{Arc, UniqueArc};
use kernel::uaccess::UserSlice;

use crate::chain::{Layer, LimitError};
use crate::ffi::{self, ModuleRef};
use crate::filter::{compile, ChainSummary, Error as PolicyError, ErrorCode, Program, Scratch};
use crate::regs::SyscallRegs;
use crate::task_state::{self, EntrySlot};
use crate::uapi::abi::{
    StrboxError, StrboxSetArgs, LAYER_HEADER_PREFIX, MAX_LAYERS, MAX_POLICY_BYTES, PR_SECCOMP_GET,
    PR_SECCOMP_SET, STRBOX_ABI_VERSION, STRBOX_SET_ARGS_SIZE_MAX, STRBOX_SET_ARGS_SIZE_VER0,
    STRBOX_SET_FLAGS_ALL, STRBOX_SET_TSYNC,
};
use crate::uapi::tables::NATIVE;

// The ABI's documented limit is the filter's.
const _: () = assert!(MAX_POLICY_BYTES == crate::filter::limits::MAX_POLICY_BYTES);

/// A claimed prctl waiting for its task work.
#[repr(C)]
struct PendingCall {
    /// The task-work link. Must stay the first field: the callback turns
    /// its pointer back into the `PendingCall`.
    head: bindings::callback_head,
    /// The syscall's register frame (the task's own, stable until it
    /// returns to user mode, which the work runs before).
    regs: SyscallRegs,
    /// `PR_SECCOMP_SET`, `PR_SECCOMP_GET` or `PR_STRBOX_ABI_VERSION`.
    option: u32,
    /// prctl arg2.
    arg2: u64,
    /// prctl arg3.
    arg3: u64,
    /// Keeps the module (the work function's code) loaded until it ran.
    _module: ModuleRef,
}

/// Queues `option` for the current task. Called by the prctl kprobe
/// (atomic context). `Ok(false)`: the module is being unloaded and does not
/// claim the call.
pub(crate) fn queue(option: u32, arg2: u64, arg3: u64, regs: SyscallRegs) -> Result<bool> {
    let Some(module) = ModuleRef::try_get() else {
        return Ok(false);
    };
    let call = KBox::new(
        PendingCall {
            head: bindings::callback_head::default(),
            regs,
            option,
            arg2,
            arg3,
            _module: module,
        },
        GFP_ATOMIC,
    )?;
    let raw = KBox::into_raw(call);
    // SAFETY: `raw` is a valid, exclusively owned `PendingCall`; its `head`
    // is handed to the task-work list of the current task, which calls
    // `run_call` exactly once with it (also if the task exits first).
    let rc = unsafe { ffi::strbox_task_work_add(ptr::addr_of_mut!((*raw).head), run_call) };
    if rc != 0 {
        // SAFETY: the work was not queued, so we still own `raw`.
        drop(unsafe { KBox::from_raw(raw) });
        return Err(Error::from_errno(rc));
    }
    Ok(true)
}

/// The task work: performs the call and sets the syscall's return value.
///
/// # Safety
///
/// `head` must be the `head` of a `PendingCall` queued by [`queue`], on the
/// current task.
unsafe extern "C" fn run_call(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the first field of a `#[repr(C)]` `PendingCall`
    // created by `KBox::into_raw` in `queue`; the task-work list gave it
    // back to us exactly once.
    let call = unsafe { KBox::from_raw(head.cast::<PendingCall>()) };
    let ret: c_long = match call.option {
        PR_SECCOMP_SET => match set(call.arg2, call.arg3) {
            Ok(()) => 0,
            Err(e) => e.to_errno() as c_long,
        },
        PR_SECCOMP_GET => match get(call.arg2, call.arg3) {
            Ok(n) => n as c_long,
            Err(e) => e.to_errno() as c_long,
        },
        _ => STRBOX_ABI_VERSION as c_long,
    };
    // The task has not returned to user mode yet: the work runs before.
    call.regs.set_return(ret);
    // Dropping `call` puts its module reference: nothing of ours runs after
    // this but the return.
    drop(call);
}

/// The current task.
fn current_task() -> *mut bindings::task_struct {
    // SAFETY: always valid in task context.
    unsafe { bindings::get_current() }
}

/// The user's error record: cleared on entry, filled on a policy error.
struct ErrorRecord(u64);

impl ErrorRecord {
    /// Clears the record at `addr` (if not 0): `EFAULT` if unwritable.
    fn clear(addr: u64) -> Result<ErrorRecord> {
        let rec = ErrorRecord(addr);
        rec.write(&StrboxError::default())?;
        Ok(rec)
    }

    fn write(&self, e: &StrboxError) -> Result {
        if self.0 == 0 {
            return Ok(());
        }
        let bytes = e.to_bytes();
        UserSlice::new(self.0 as usize, bytes.len())
            .writer()
            .write_slice(&bytes)
    }
}

/// A failed `PR_SECCOMP_SET`: the errno and, for a rejected policy, where.
struct Failure {
    errno: Error,
    policy: Option<PolicyError>,
}

impl From<Error> for Failure {
    fn from(errno: Error) -> Failure {
        Failure {
            errno,
            policy: None,
        }
    }
}

impl From<kernel::alloc::AllocError> for Failure {
    fn from(_: kernel::alloc::AllocError) -> Failure {
        Failure {
            errno: ENOMEM,
            policy: None,
        }
    }
}

/// `PR_SECCOMP_SET`: `uargs` points to a `struct strbox_set_args` of
/// `size` bytes.
fn set(uargs: u64, size: u64) -> Result {
    let size = usize::try_from(size).map_err(|_| E2BIG)?;
    if size < STRBOX_SET_ARGS_SIZE_VER0 {
        return Err(EINVAL);
    }
    if size > STRBOX_SET_ARGS_SIZE_MAX {
        return Err(E2BIG);
    }
    let mut reader = UserSlice::new(uargs as usize, size).reader();
    let mut head = [0u8; STRBOX_SET_ARGS_SIZE_VER0];
    reader.read_slice(&mut head)?;
    // A newer caller's struct: what this ABI does not know must be zero.
    let mut chunk = [0u8; 64];
    while !reader.is_empty() {
        let n = reader.len().min(chunk.len());
        let part = chunk.get_mut(..n).ok_or(EINVAL)?;
        reader.read_slice(part)?;
        if part.iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
    }
    let args = StrboxSetArgs::from_bytes(&head);
    let record = ErrorRecord::clear(args.error)?;
    match install(&args) {
        Ok(()) => Ok(()),
        Err(f) => {
            if let Some(pe) = f.policy {
                record.write(&StrboxError {
                    code: pe.code as u32,
                    offset: pe.offset,
                    line: pe.line,
                    column: pe.column,
                })?;
            }
            Err(f.errno)
        }
    }
}

/// Allocates a zeroed `T` on the heap (kvmalloc: large values may be
/// vmalloc-backed), never on the small kernel stack. Like every allocation
/// an install makes, it is charged to the caller's memory cgroup.
///
/// # Safety
///
/// The all-zero bit pattern must be a valid `T`.
unsafe fn kvzalloc<T>() -> Result<KVBox<T>, kernel::alloc::AllocError> {
    let mut b = KVBox::<T>::new_uninit(GFP_KERNEL_ACCOUNT)?;
    // SAFETY: `b` owns writable memory for one `T`.
    unsafe { ptr::write_bytes(b.as_mut_ptr(), 0, 1) };
    // SAFETY: all zero is a valid `T` (the function's safety requirement).
    Ok(unsafe { b.assume_init() })
}

/// Checks, copies and compiles the policy, then commits the layer.
fn install(args: &StrboxSetArgs) -> Result<(), Failure> {
    if args.flags & !STRBOX_SET_FLAGS_ALL != 0 {
        return Err(EINVAL.into());
    }
    // SAFETY: reads the current task's credentials; process context.
    if !unsafe { ffi::strbox_may_install() } {
        return Err(EACCES.into());
    }
    // Read at most one byte more than the limit: enough for the filter to
    // report "policy text too large" at the same offset, line and column as
    // on the host, without copying an unbounded amount.
    let len = usize::try_from(args.policy_len)
        .unwrap_or(usize::MAX)
        .min(MAX_POLICY_BYTES + 1);
    let mut text = KVVec::<u8>::with_capacity(len, GFP_KERNEL_ACCOUNT)?;
    text.extend_with(len, 0, GFP_KERNEL_ACCOUNT)?;
    UserSlice::new(args.policy as usize, len)
        .reader()
        .read_slice(&mut text)?;

    // SAFETY: the filter documents all-zero `Program` and `Scratch` values
    // as valid (plain integer arrays; all zero is the empty program).
    let mut program = unsafe { kvzalloc::<Program>() }?;
    // SAFETY: as above.
    let mut scratch = unsafe { kvzalloc::<Scratch>() }?;
    if let Err(e) = compile(&text, NATIVE, &mut scratch, &mut program) {
        let errno = if e.code == ErrorCode::PolicyTooLarge {
            E2BIG
        } else {
            EINVAL
        };
        return Err(Failure {
            errno,
            policy: Some(e),
        });
    }
    drop(scratch);
    drop(text);
    // The hooks of the layer's events must be live before it is linked;
    // a layer whose hook this kernel lacks would be installed unenforced:
    // `arm` refuses it (EOPNOTSUPP).
    crate::events::arm(program.event_mask())?;
    commit(program, args.flags & STRBOX_SET_TSYNC != 0)
}

/// Why one commit attempt did not finish.
enum Attempt {
    /// Failed for good.
    Fail(Error),
    /// TSYNC found more threads than slots: allocate this many and retry.
    NeedSlots(usize),
}

/// Links the new layer for the current task (and with `tsync` for all its
/// threads). Allocates everything first, then changes the table under the
/// lock(s) in one step that cannot fail.
fn commit(program: KVBox<Program>, tsync: bool) -> Result<(), Failure> {
    // TSYNC changes other threads' layers and NNP: never while one of them
    // is exec'ing (seccomp's rule). An exec holds the group's
    // cred_guard_mutex from before it computes the new credentials (with
    // the NNP it saw then) until they are installed; holding it here means
    // every thread TSYNC touches is either before its exec's credential
    // computation (and then sees our NNP) or is not exec'ing.
    let _exec_guard = if tsync {
        Some(ExecGuard::lock().map_err(Failure::from)?)
    } else {
        None
    };
    let me = current_task();
    let mut program = Some(program);
    let mut mem = Some(UniqueArc::<Layer>::new_uninit(GFP_KERNEL_ACCOUNT)?);
    // SAFETY: the all-zero `ChainSummary` is valid (its documented layout
    // contract); `Layer::new` overwrites it anyway.
    let mut summary = Some(unsafe { kvzalloc::<ChainSummary>() }?);
    let mut slots: KVec<Option<EntrySlot>> = KVec::new();
    let mut want = if tsync {
        // SAFETY: reads the current task's thread count; only a first
        // guess (checked under the siglock).
        let n = unsafe { ffi::strbox_thread_count() };
        usize::try_from(n).unwrap_or(1).max(1)
    } else {
        1
    };
    loop {
        while slots.len() < want {
            slots.push(
                Some(task_state::alloc_slot(GFP_KERNEL_ACCOUNT)?),
                GFP_KERNEL_ACCOUNT,
            )?;
        }
        // Lock order: registry lock, then the siglock. The siglock is taken
        // from interrupts (signals from timers), so it must never be held
        // while waiting for the registry lock, which is taken with
        // interrupts enabled elsewhere.
        let r = task_state::with_writer(|w| {
            let _siglock = tsync.then(ThreadGroupLock::lock);
            // SAFETY: reading the current task's own flags.
            if unsafe { ffi::strbox_task_exiting(me) } {
                // The work runs from do_exit(): the task has passed its
                // exit tracepoint and must not get an entry. Its result
                // is never seen.
                return Err(Attempt::Fail(ESRCH));
            }
            // SAFETY: the siglock is held (tsync).
            if tsync && unsafe { ffi::strbox_thread_group_exiting() } {
                return Err(Attempt::Fail(ESRCH));
            }
            let mine: Option<Arc<Layer>> = w.chain_of(me).cloned();
            let limits = match Layer::check_limits(
                mine.as_deref(),
                program.as_deref().ok_or(Attempt::Fail(EINVAL))?,
            ) {
                Ok(l) => l,
                Err(LimitError::TooManyLayers) => return Err(Attempt::Fail(EMLINK)),
                Err(LimitError::ChainTooLarge) => return Err(Attempt::Fail(ENOSPC)),
            };
            if tsync {
                let mut needed = 1usize;
                // SAFETY: the siglock of our thread group is held, so the
                // thread list is stable and every thread in it is a valid
                // task (this holds for every access in this loop).
                let mut t = unsafe { ffi::strbox_next_thread(me) };
                while t != me {
                    // SAFETY: see above.
                    if !unsafe { ffi::strbox_task_exiting(t) } {
                        if let Some(theirs) = w.chain_of(t) {
                            let ok = mine.as_deref().is_some_and(|m| m.has_ancestor(theirs));
                            if !ok {
                                return Err(Attempt::Fail(EBUSY));
                            }
                        }
                        needed += 1;
                    }
                    // SAFETY: see above.
                    t = unsafe { ffi::strbox_next_thread(t) };
                }
                if needed > slots.len() {
                    return Err(Attempt::NeedSlots(needed));
                }
            }
            // Everything is checked and allocated: commit.
            let (Some(program), Some(mem), Some(summary)) =
                (program.take(), mem.take(), summary.take())
            else {
                return Err(Attempt::Fail(EINVAL));
            };
            let layer: Arc<Layer> = mem.write(Layer::new(program, mine, limits, summary)).into();
            let mut next_slot = || slots.iter_mut().find_map(|s| s.take());
            if tsync {
                // SAFETY: reading our own NNP flag.
                let nnp = unsafe { ffi::strbox_task_no_new_privs(me) };
                // SAFETY: as in the checking loop above.
                let mut t = unsafe { ffi::strbox_next_thread(me) };
                while t != me {
                    // SAFETY: as above.
                    if !unsafe { ffi::strbox_task_exiting(t) } {
                        if let Some(slot) = next_slot() {
                            w.set(t, slot, layer.clone());
                        }
                        if nnp {
                            // SAFETY: `t` is a valid thread (siglock held).
                            unsafe { ffi::strbox_task_set_no_new_privs(t) };
                        }
                    }
                    // SAFETY: as above.
                    t = unsafe { ffi::strbox_next_thread(t) };
                }
            }
            if let Some(slot) = next_slot() {
                w.set(me, slot, layer);
            }
            Ok(())
        });
        match r {
            Ok(()) => return Ok(()),
            Err(Attempt::Fail(e)) => return Err(e.into()),
            Err(Attempt::NeedSlots(n)) => want = n,
        }
    }
}

/// Holds the current thread group's `cred_guard_mutex` (exec's lock).
struct ExecGuard(());

impl ExecGuard {
    /// Takes the lock, or fails with `EINTR` if a fatal signal arrives
    /// first (e.g. another thread's exec is killing this one).
    fn lock() -> Result<ExecGuard> {
        // SAFETY: task-work context, may sleep; the current task's signal
        // struct is valid while it runs. The guard unlocks exactly once.
        match unsafe { ffi::strbox_lock_exec_guard() } {
            0 => Ok(ExecGuard(())),
            _ => Err(EINTR),
        }
    }
}

impl Drop for ExecGuard {
    fn drop(&mut self) {
        // SAFETY: taken by `lock` on this thread.
        unsafe { ffi::strbox_unlock_exec_guard() };
    }
}

/// Holds the current thread group's siglock (interrupts disabled): its
/// thread list is stable while held, as for seccomp's TSYNC.
struct ThreadGroupLock(());

impl ThreadGroupLock {
    fn lock() -> ThreadGroupLock {
        // SAFETY: the current task's sighand is valid while it runs; the
        // guard releases the lock exactly once.
        unsafe { ffi::strbox_lock_thread_group() };
        ThreadGroupLock(())
    }
}

impl Drop for ThreadGroupLock {
    fn drop(&mut self) {
        // SAFETY: taken by `lock` on this thread.
        unsafe { ffi::strbox_unlock_thread_group() };
    }
}

/// A growing text buffer for `PR_SECCOMP_GET`.
struct Text {
    buf: KVVec<u8>,
    out_of_memory: bool,
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self
            .buf
            .extend_from_slice(s.as_bytes(), GFP_KERNEL_ACCOUNT)
            .is_err()
        {
            self.out_of_memory = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// `PR_SECCOMP_GET`: the canonical text of the caller's layers, oldest
/// first, each after a `# strbox layer I/N` line, into `ubuf` of `size`
/// bytes. Returns the text's length; with `size == 0` only that.
fn get(ubuf: u64, size: u64) -> Result<usize> {
    let me = current_task();
    let chain = task_state::with_writer(|w| w.chain_of(me).cloned());
    let mut text = Text {
        buf: KVVec::new(),
        out_of_memory: false,
    };
    if let Some(chain) = &chain {
        let mut layers: [Option<&Layer>; MAX_LAYERS] = [None; MAX_LAYERS];
        for (slot, l) in layers.iter_mut().zip(chain.iter()) {
            *slot = Some(l);
        }
        let n = chain.depth().min(MAX_LAYERS);
        let printed = (|| -> fmt::Result {
            for (i, l) in layers.iter().take(n).rev().flatten().enumerate() {
                writeln!(text, "{}{}/{}", LAYER_HEADER_PREFIX, i + 1, n)?;
                l.program().print(NATIVE, &mut text)?;
            }
            Ok(())
        })();
        if printed.is_err() {
            return Err(if text.out_of_memory { ENOMEM } else { EIO });
        }
    }
    drop(chain);
    let len = text.buf.len();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size == 0 {
        return Ok(len);
    }
    if size < len {
        return Err(ERANGE);
    }
    UserSlice::new(ubuf as usize, len)
        .writer()
        .write_slice(&text.buf)?;
    Ok(len)
}
