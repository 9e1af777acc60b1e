// SPDX-License-Identifier: GPL-2.0
//! Per-task state: which chain each filtered task has.
//!
//! The kernel gives an out-of-tree module no field in `task_struct`, so the
//! state lives in a fixed table of hash buckets keyed by the task pointer
//! ([`BUCKETS`]).
//! Each bucket is a singly linked list of immutable [`Entry`]s, RCU style:
//!
//! * Readers (the syscall probe) run with preemption disabled — on 6.12
//!   tracepoint probes always do, which is an RCU read-side critical
//!   section — and walk a bucket with acquire loads: no lock, no atomic
//!   write, no allocation. Before even that, one relaxed load of
//!   [`FILTERED`] (the number of entries) lets every task take the fast
//!   path while no task anywhere is filtered.
//! * Writers (install, fork, exit) hold the registry's spinlock and
//!   publish with release stores. An entry is never changed once visible:
//!   giving a task another chain links a new entry in place of the old.
//! * An unlinked entry is freed after a grace period on the module's own
//!   workqueue (`queue_rcu_work`), in process context, because dropping
//!   its chain may free layers (vmalloc memory) and put module references.
//!
//! Task pointers are reused once a task is freed: the entry of a task is
//! unlinked at its exit (`sched_process_exit`), long before the task
//! struct can be freed, and no entry is ever created for a task that has
//! passed that point (see [`Writer::set`]'s callers).

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};
use kernel::types::Opaque;

use crate::chain::Layer;
use crate::ffi::{self, ModuleRef};

/// log2 of the number of buckets.
const BUCKET_BITS: u32 = 14;
/// Number of buckets (16384: 128 KiB of pointers, in the module's .bss).
/// A lookup walks one bucket: with `n` filtered tasks a hit visits about
/// `1 + n / 32768` entries on average (10,000 tasks: 1.3), so its cost
/// stays flat up to tens of thousands of filtered tasks and grows slowly
/// beyond (the table does not resize).
const BUCKETS: usize = 1 << BUCKET_BITS;

/// The buckets. Only the registry's lock holder stores into them.
static TABLE: [AtomicPtr<Entry>; BUCKETS] = [const { AtomicPtr::new(ptr::null_mut()) }; BUCKETS];

/// Number of entries in [`TABLE`] (filtered tasks). Written under the
/// registry lock, read without ordering by the fast path.
static FILTERED: AtomicUsize = AtomicUsize::new(0);

/// The writer side, published by [`init`] and withdrawn by [`teardown`].
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

/// One filtered task.
#[repr(C)]
pub(crate) struct Entry {
    /// Deferred free after a grace period. Must stay the first field: the
    /// work callback turns its `work_struct` pointer back into the entry.
    rwork: Opaque<bindings::rcu_work>,
    /// The task (a key only; never dereferenced through the entry).
    task: *const bindings::task_struct,
    /// Next entry of the bucket.
    next: AtomicPtr<Entry>,
    /// The task's newest layer.
    chain: Arc<Layer>,
    /// Keeps the module loaded while the entry is linked; dropped when it
    /// is unlinked (the deferred free itself is waited for by `teardown`).
    /// The only field written after publication, hence the cell.
    // INVARIANT: accessed only by the registry lock holder that unlinks
    // the entry (`Writer::retire`), once; readers never touch it.
    module: UnsafeCell<Option<ModuleRef>>,
}

/// Preallocated memory and module reference for one [`Entry`], so that
/// entries can be created under the spinlock without allocating there.
pub(crate) struct EntrySlot {
    mem: KBox<MaybeUninit<Entry>>,
    module: ModuleRef,
}

/// Allocates an entry slot. Fails with `ENOMEM`, or `ENODEV` if the
/// module is being unloaded.
pub(crate) fn alloc_slot(flags: kernel::alloc::Flags) -> Result<EntrySlot> {
    let module = ModuleRef::try_get().ok_or(ENODEV)?;
    Ok(EntrySlot {
        mem: KBox::new_uninit(flags)?,
        module,
    })
}

/// Proof that the holder runs inside an RCU read-side critical section
/// (for the probes: preemption disabled by the tracepoint machinery).
/// Not `Send`: it must stay on the CPU and in the section it was made in.
pub(crate) struct RcuReadSide(PhantomData<*mut ()>);

impl RcuReadSide {
    /// # Safety
    ///
    /// The caller must be inside an RCU read-side critical section (e.g.
    /// running with preemption disabled) for the whole lifetime of the
    /// returned value and of every reference obtained through it.
    pub(crate) unsafe fn assume() -> RcuReadSide {
        RcuReadSide(PhantomData)
    }
}

/// Whether any task is filtered (one relaxed load: the fast path).
#[inline(always)]
pub(crate) fn any_filtered() -> bool {
    FILTERED.load(Ordering::Relaxed) != 0
}

/// The number of filtered tasks.
pub(crate) fn filtered_tasks() -> usize {
    FILTERED.load(Ordering::Relaxed)
}

#[inline(always)]
fn bucket(task: *const bindings::task_struct) -> &'static AtomicPtr<Entry> {
    // Fibonacci hashing of the pointer (as the kernel's hash_ptr()).
    let h = (task as usize as u64).wrapping_mul(0x61c8_8646_80b5_83eb) >> (64 - BUCKET_BITS);
    // `h < BUCKETS` by construction; the mask keeps the index provably in
    // range without a panic path.
    &TABLE[(h as usize) & (BUCKETS - 1)]
}

/// The newest layer of `task`, if it is filtered. Lock-free; allocates
/// nothing.
#[inline]
pub(crate) fn lookup<'r>(
    _rcu: &'r RcuReadSide,
    task: *const bindings::task_struct,
) -> Option<&'r Layer> {
    let mut p = bucket(task).load(Ordering::Acquire);
    while !p.is_null() {
        // Entries are published with release and read here with acquire,
        // so `*p` is fully initialised; one is freed only after an RCU grace
        // period that starts after it was unlinked.
        // SAFETY: by the above, and since `_rcu` proves we are inside a
        // read-side critical section, `*p` stays valid for `'r`.
        let e = unsafe { &*p };
        if e.task == task {
            return Some(&e.chain);
        }
        p = e.next.load(Ordering::Acquire);
    }
    None
}

/// The writer side: the lock and the workqueue entries are freed on.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    lock: SpinLock<Writer>,
}

/// What the registry lock protects: the right to change the table. Methods
/// taking `&mut Writer` can only be reached through the lock guard.
pub(crate) struct Writer {
    /// The module's workqueue for deferred frees.
    wq: *mut bindings::workqueue_struct,
}

// SAFETY: `Writer` only carries a pointer to a workqueue, which may be used
// from any thread; all table changes it performs are serialised by the
// lock that contains it.
unsafe impl Send for Writer {}

/// Creates the registry and the workqueue. Called once from module init,
/// before any probe is registered.
pub(crate) fn init() -> Result {
    // SAFETY: the format string is a valid NUL-terminated string without
    // conversions, so no variadic arguments are read.
    let wq = unsafe { bindings::alloc_workqueue(c"strbox".as_ptr().cast(), 0, 0) };
    if wq.is_null() {
        return Err(ENOMEM);
    }
    let reg = KBox::pin_init(
        pin_init!(Registry {
            lock <- kernel::new_spinlock!(Writer { wq }, "strbox_registry"),
        }),
        GFP_KERNEL,
    );
    let reg = match reg {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: `wq` was just allocated and nothing was queued on it.
            unsafe { bindings::destroy_workqueue(wq) };
            return Err(e);
        }
    };
    // SAFETY: the registry is never moved out of its allocation: it is only
    // reached through the raw pointer until `teardown` rebuilds the box.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(reg) });
    REGISTRY.store(raw, Ordering::Release);
    Ok(())
}

/// Frees the registry and the workqueue. Called from module exit after
/// every probe is unregistered and synchronised: by then no entry is
/// linked (each linked entry holds a module reference); the frees of
/// unlinked entries may still be pending, and this waits for them.
pub(crate) fn teardown() {
    let raw = REGISTRY.swap(ptr::null_mut(), Ordering::AcqRel);
    if raw.is_null() {
        return;
    }
    // SAFETY: no RCU callbacks of ours can be pending after this (entries
    // are queued with queue_rcu_work, whose callbacks only queue work).
    unsafe { bindings::rcu_barrier() };
    // SAFETY: `raw` came from `KBox::into_raw` in `init`; no probe or task
    // work can reach the registry any more (see the function comment).
    let reg = unsafe { KBox::from_raw(raw) };
    let wq = reg.lock.lock().wq;
    // SAFETY: `wq` was created in `init`; destroying it drains the frees
    // still queued and waits for one that is running.
    unsafe { bindings::destroy_workqueue(wq) };
    drop(reg);
}

/// Runs `f` with the registry lock held.
///
/// Only callable while the registry exists: from the probes (registered
/// after `init`, unregistered before `teardown`) and from code that holds a
/// module reference.
pub(crate) fn with_writer<R>(f: impl FnOnce(&mut Writer) -> R) -> R {
    let raw = REGISTRY.load(Ordering::Acquire);
    // SAFETY: see the function comment: the registry outlives every caller,
    // and it is pinned in its allocation.
    let reg = unsafe { &*raw };
    let mut guard = reg.lock.lock();
    f(&mut guard)
}

impl Writer {
    /// The link (bucket head or an entry's `next`) that points to `task`'s
    /// entry, and the entry.
    fn find(&self, task: *const bindings::task_struct) -> Option<(&AtomicPtr<Entry>, *mut Entry)> {
        let mut link = bucket(task);
        loop {
            let p = link.load(Ordering::Relaxed);
            if p.is_null() {
                return None;
            }
            // SAFETY: entries reachable from the table are valid while the
            // lock is held: only lock holders unlink them, and unlinked
            // entries are freed only after a grace period.
            let e = unsafe { &*p };
            if e.task == task {
                return Some((link, p));
            }
            link = &e.next;
        }
    }

    /// The chain of `task`, if it is filtered.
    pub(crate) fn chain_of(&self, task: *const bindings::task_struct) -> Option<&Arc<Layer>> {
        // SAFETY: as in `find`, the entry is valid while the lock is held,
        // which the `&self` borrow of the guard covers.
        self.find(task).map(|(_, p)| unsafe { &(*p).chain })
    }

    /// Gives `task` the chain `chain`, using `slot` for its new entry. An
    /// existing entry is replaced (and freed after a grace period).
    ///
    /// The caller guarantees that `task` has not yet passed its exit
    /// tracepoint, or will not reach it before this lock is released (its
    /// exit then removes the entry).
    pub(crate) fn set(
        &mut self,
        task: *const bindings::task_struct,
        slot: EntrySlot,
        chain: Arc<Layer>,
    ) {
        let old = self.find(task);
        let head = bucket(task);
        let next = match old {
            // SAFETY: `p` is a valid entry (see `find`).
            Some((_, p)) => unsafe { (*p).next.load(Ordering::Relaxed) },
            None => head.load(Ordering::Relaxed),
        };
        let entry = KBox::write(
            slot.mem,
            Entry {
                rwork: Opaque::uninit(),
                task,
                next: AtomicPtr::new(next),
                chain,
                module: UnsafeCell::new(Some(slot.module)),
            },
        );
        let new = KBox::into_raw(entry);
        match old {
            Some((link, p)) => {
                link.store(new, Ordering::Release);
                self.retire(p);
            }
            None => {
                head.store(new, Ordering::Release);
                FILTERED.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A filtered task must reach the `sys_enter` probe: set its flag
        // after linking, under the lock that every clearing of the flag
        // by strbox holds too (see `selective`). A probe that sees the flag
        // before the entry takes that lock before it clears anything, and
        // then finds the entry.
        // SAFETY: `task` is a valid task (the callers' requirement).
        unsafe { ffi::strbox_task_set_tp_work(task.cast_mut()) };
    }

    /// Removes `task`'s entry, if any.
    pub(crate) fn remove(&mut self, task: *const bindings::task_struct) {
        if let Some((link, p)) = self.find(task) {
            // SAFETY: `p` is a valid entry (see `find`).
            let next = unsafe { (*p).next.load(Ordering::Relaxed) };
            link.store(next, Ordering::Release);
            FILTERED.fetch_sub(1, Ordering::Relaxed);
            self.retire(p);
        }
    }

    /// Frees an unlinked entry after a grace period, in process context,
    /// and puts its module reference at once: a module unload waits for
    /// pending frees itself (`teardown`), so `rmmod` succeeds as soon as
    /// the last filtered task has exited.
    fn retire(&mut self, p: *mut Entry) {
        // SAFETY: `p` was just unlinked under the lock; by `Entry`'s
        // invariant only we access `module` (readers holding `&Entry` never
        // do, and the cell makes writing through a shared entry sound).
        drop(unsafe { (*(*p).module.get()).take() });
        // `p` was just unlinked under the lock: no new reader can find it,
        // nobody else retires it, its `rwork` is unused. `free_entry` runs
        // only after the grace period `queue_rcu_work` waits for.
        // SAFETY: by the above, initialising and queueing `rwork` is sound
        // and no reader still holds `p` when it is reclaimed.
        unsafe {
            let rwork = Opaque::raw_get(ptr::addr_of!((*p).rwork));
            ffi::strbox_init_rcu_work(rwork, free_entry);
            bindings::queue_rcu_work(self.wq, rwork);
        }
    }
}

/// Workqueue callback: frees a retired entry (dropping its chain reference,
/// which may free layers and put module references).
///
/// # Safety
///
/// `work` must be the `work_struct` of the `rcu_work` of an entry retired
/// by [`Writer::retire`].
unsafe extern "C" fn free_entry(work: *mut bindings::work_struct) {
    // `work` is the first field of `rcu_work`, which is the first field of
    // the `#[repr(C)]` `Entry`.
    let p = work.cast::<Entry>();
    // By the function's safety requirement `p` came from `KBox::into_raw`
    // in `set` and is unlinked and past its grace period; the workqueue no
    // longer touches the work item once it has called us.
    // SAFETY: by the above, we are the only owner of `*p`.
    drop(unsafe { KBox::from_raw(p) });
}
