// SPDX-License-Identifier: GPL-2.0
//! Finding and attaching to the core kernel's tracepoints.
//!
//! `sys_enter`, `task_newtask` and `sched_process_exit` are not
//! exported to modules as symbols, but `for_each_kernel_tracepoint` walks
//! all of them and `tracepoint_probe_register` attaches to any (both
//! exported GPL, as Falco's driver uses them).

use core::ffi::CStr;
use core::ptr;

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

use crate::ffi;

/// One probe to attach: the tracepoint's name and the probe function (a
/// function whose first argument is the `data` pointer, null here,
/// followed by the tracepoint's `TP_PROTO` arguments).
pub(crate) struct ProbeSpec {
    /// Tracepoint name (`sys_enter`, ...).
    pub(crate) name: &'static CStr,
    /// The probe, as an untyped function pointer.
    pub(crate) probe: *mut c_void,
}

// SAFETY: `probe` is the address of a function: immutable code, usable from
// any thread.
unsafe impl Sync for ProbeSpec {}

/// Tracepoints found by name.
struct Search<'a> {
    specs: &'a [ProbeSpec],
    found: [*mut bindings::tracepoint; 4],
}

/// Visitor for `for_each_kernel_tracepoint`.
///
/// # Safety
///
/// `tp` must be a valid tracepoint and `data` a `*mut Search`.
unsafe extern "C" fn visit(tp: *mut bindings::tracepoint, data: *mut c_void) {
    // SAFETY: `data` is the `Search` passed by `attach`, used only on this
    // thread for the duration of the walk.
    let search = unsafe { &mut *data.cast::<Search<'_>>() };
    // SAFETY: `tp` is a valid tracepoint whose name is a static
    // NUL-terminated string.
    let name = unsafe { CStr::from_ptr((*tp).name.cast()) };
    for (spec, slot) in search.specs.iter().zip(search.found.iter_mut()) {
        if spec.name == name {
            *slot = tp;
        }
    }
}

/// The core kernel tracepoint called `name`, if any.
pub(crate) fn find(name: &'static CStr) -> Option<*mut bindings::tracepoint> {
    let specs = [ProbeSpec {
        name,
        probe: ptr::null_mut(),
    }];
    let mut search = Search {
        specs: &specs,
        found: [ptr::null_mut(); 4],
    };
    // SAFETY: `visit` matches the visitor type and `search` outlives the
    // walk.
    unsafe { ffi::for_each_kernel_tracepoint(visit, ptr::addr_of_mut!(search).cast()) };
    Some(search.found[0]).filter(|tp| !tp.is_null())
}

/// Attached probes; [`Attached::detach`] undoes them.
pub(crate) struct Attached {
    specs: &'static [ProbeSpec],
    tps: [*mut bindings::tracepoint; 4],
    n: usize,
}

// SAFETY: tracepoint pointers refer to static kernel objects usable from
// any thread.
unsafe impl Send for Attached {}
// SAFETY: as above; `Attached` has no interior mutability.
unsafe impl Sync for Attached {}

/// Finds every tracepoint of `specs` (at most 4) and registers its probe,
/// in order. On failure nothing stays registered.
pub(crate) fn attach(specs: &'static [ProbeSpec]) -> Result<Attached> {
    if specs.len() > 4 {
        return Err(EINVAL);
    }
    let mut search = Search {
        specs,
        found: [ptr::null_mut(); 4],
    };
    // SAFETY: `visit` matches the visitor type and `search` outlives the
    // walk.
    unsafe { ffi::for_each_kernel_tracepoint(visit, ptr::addr_of_mut!(search).cast()) };
    let mut attached = Attached {
        specs,
        tps: [ptr::null_mut(); 4],
        n: 0,
    };
    for (spec, &tp) in specs.iter().zip(search.found.iter()) {
        if tp.is_null() {
            pr_err!("tracepoint {:?} not found\n", spec.name);
            attached.detach();
            return Err(ENOENT);
        }
        // SAFETY: `tp` is a valid kernel tracepoint and `spec.probe` a
        // function with the tracepoint's probe signature (`data` first).
        let rc = unsafe { ffi::tracepoint_probe_register(tp, spec.probe, ptr::null_mut()) };
        if rc != 0 {
            pr_err!("cannot attach to {:?}: {}\n", spec.name, rc);
            attached.detach();
            return Err(Error::from_errno(rc));
        }
        if let Some(slot) = attached.tps.get_mut(attached.n) {
            *slot = tp;
        }
        attached.n += 1;
    }
    Ok(attached)
}

impl Attached {
    /// Unregisters the probes (newest first) and waits until no CPU can
    /// still be running one (`tracepoint_synchronize_unregister`).
    pub(crate) fn detach(&mut self) {
        while self.n > 0 {
            self.n -= 1;
            let (Some(&tp), Some(spec)) = (self.tps.get(self.n), self.specs.get(self.n)) else {
                continue;
            };
            // SAFETY: the probe was registered on `tp` by `attach` with the
            // same function and data.
            let rc = unsafe { ffi::tracepoint_probe_unregister(tp, spec.probe, ptr::null_mut()) };
            if rc != 0 {
                pr_err!("unregistering from {:?} failed: {}\n", spec.name, rc);
            }
        }
        // SAFETY: may sleep; called from module init/exit (process
        // context, no locks held).
        unsafe { ffi::strbox_tracepoint_synchronize_unregister() };
    }
}
