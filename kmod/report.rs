// SPDX-License-Identifier: GPL-2.0
//! The kernel-log records of `log` and `kill` verdicts.
//!
//! Each record names the task (comm, pid, tid) and either the syscall and
//! its argument registers or the LSM-hook event and its fields (a path
//! escaped like `comm`). Two rules keep the records trustworthy:
//!
//! * **Rate limits are per layer and per action.** Every layer carries its
//!   own [`LogLimit`] for `log` and one for `kill` (a task's records are
//!   counted against its newest layer, which it shares only with the tasks
//!   that inherited it). So a task flooding `log` records can suppress
//!   neither its own `kill` records nor any record of another sandbox, and
//!   the first records of a fresh layer always reach the log. Suppressed
//!   records are counted and reported when the window reopens.
//! * **User-controlled text is escaped.** `comm` is set by the task itself
//!   (`PR_SET_NAME`); every byte outside printable ASCII, and `\`, is
//!   printed as `\xNN`, so a newline in a name or a path cannot forge a record.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use kernel::bindings;
use kernel::ffi::{c_int, c_long};
use kernel::prelude::*;

use crate::chain::Layer;
use crate::ffi;
use crate::filter::Event;
use crate::uapi::tables::NATIVE;

/// Records per window and per limiter.
const BURST: u32 = 10;
/// The window, in seconds.
const INTERVAL_SECS: usize = 5;

/// The current `jiffies`.
fn jiffies() -> usize {
    // SAFETY: `jiffies` is a kernel global that is always mapped; it is
    // updated concurrently by the timer tick, hence the volatile read of
    // the whole (naturally aligned, word-sized) value.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(bindings::jiffies)) as usize }
}

/// A lock-free rate limit: at most [`BURST`] records per
/// [`INTERVAL_SECS`]-second window. Safe to call from the syscall-entry
/// probe (no lock, no sleeping); concurrent callers may let through a few
/// records more than [`BURST`] (at most one per CPU) in a window.
pub(crate) struct LogLimit {
    /// `jiffies` when the current window opened (0: none yet; on 64-bit
    /// jiffies start at 2^32 - 300 s and never come back near 0).
    window: AtomicUsize,
    /// Records let through in the current window (saturates at
    /// `BURST` plus the number of racing CPUs).
    printed: AtomicU32,
    /// Records suppressed in the current window.
    suppressed: AtomicU32,
}

impl LogLimit {
    pub(crate) const fn new() -> Self {
        LogLimit {
            window: AtomicUsize::new(0),
            printed: AtomicU32::new(0),
            suppressed: AtomicU32::new(0),
        }
    }

    /// Whether one more record may be printed now. `what` names the
    /// records in the "suppressed" notice printed when a window reopens
    /// after some were dropped.
    pub(crate) fn allow(&self, what: &str) -> bool {
        let now = jiffies();
        let start = self.window.load(Ordering::Relaxed);
        let interval = INTERVAL_SECS * bindings::HZ as usize;
        if start == 0 || now.wrapping_sub(start) >= interval {
            // The CPU that moves the window resets the counters.
            if self
                .window
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                self.printed.store(0, Ordering::Relaxed);
                let dropped = self.suppressed.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    pr_info!("{dropped} {what} records of one layer suppressed\n");
                }
            }
        }
        if self.printed.load(Ordering::Relaxed) < BURST
            && self.printed.fetch_add(1, Ordering::Relaxed) < BURST
        {
            return true;
        }
        // Saturating: a flood can never wrap the counter back to "allowed".
        let _ = self
            .suppressed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
        false
    }
}

/// A task's `log` and `kill` limiters, kept in its newest layer.
pub(crate) struct LayerLimits {
    pub(crate) log: LogLimit,
    pub(crate) kill: LogLimit,
}

impl LayerLimits {
    pub(crate) const fn new() -> Self {
        LayerLimits {
            log: LogLimit::new(),
            kill: LogLimit::new(),
        }
    }
}

/// The verdicts that leave a record.
#[derive(Clone, Copy)]
pub(crate) enum Recorded {
    Log,
    Kill,
}

/// Bytes printed with everything outside printable ASCII (and `\`)
/// escaped as `\xNN`: no record can be split or forged by a byte the
/// task chose.
pub(crate) struct Escaped<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) && b != b'\\' {
                fmt::Write::write_char(f, b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// The limiter of `what` for the chain's newest layer, and the word that
/// names the action, if one more record may be printed.
fn admit(what: Recorded, chain: &Layer) -> Option<&'static str> {
    let (word, limit) = match what {
        Recorded::Log => ("log", &chain.limits().log),
        Recorded::Kill => ("kill", &chain.limits().kill),
    };
    limit.allow(word).then_some(word)
}

/// The task part of a record: `comm=... pid=... tid=...`.
struct TaskIdent {
    tgid: c_int,
    pid: c_int,
    comm: [u8; 16],
}

impl TaskIdent {
    fn of(task: *mut bindings::task_struct) -> TaskIdent {
        let mut id = TaskIdent {
            tgid: 0,
            pid: 0,
            comm: [0; 16],
        };
        // SAFETY: `task` is the current task; the out pointers are valid and
        // `comm` has the 16 bytes of TASK_COMM_LEN.
        unsafe { ffi::strbox_task_ident(task, &mut id.tgid, &mut id.pid, id.comm.as_mut_ptr()) };
        id
    }
}

impl fmt::Display for TaskIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        let comm = Escaped(self.comm.get(..len).unwrap_or(&[]));
        write!(f, "comm={} pid={} tid={}", comm, self.tgid, self.pid)
    }
}

/// Writes the record of a `log` or `kill` verdict for syscall `id` of the
/// current task `task`, whose chain is `chain`, unless the chain's newest
/// layer is over its limit for that action.
pub(crate) fn record(
    what: Recorded,
    task: *mut bindings::task_struct,
    id: c_long,
    native: bool,
    args: &[u64; 6],
    chain: &Layer,
) {
    let Some(word) = admit(what, chain) else {
        return;
    };
    let name = if native {
        NATIVE.syscall_by_nr(id as u32).map_or("?", |s| s.name)
    } else {
        "compat"
    };
    pr_info!(
        "{} {} syscall={}({}) args={:#x},{:#x},{:#x},{:#x},{:#x},{:#x} layers={}\n",
        word,
        TaskIdent::of(task),
        name,
        id,
        args[0],
        args[1],
        args[2],
        args[3],
        args[4],
        args[5],
        chain.depth()
    );
}

/// Writes the record of a `log` or `kill` verdict on an LSM-hook event of
/// the current task (`detail`: the event's fields), under the same limits.
pub(crate) fn record_event(what: Recorded, event: Event, detail: &dyn fmt::Display, chain: &Layer) {
    let Some(word) = admit(what, chain) else {
        return;
    };
    // SAFETY: `get_current()` is always valid in task context.
    let task = unsafe { bindings::get_current() };
    pr_info!(
        "{} {} event={} {} layers={}\n",
        word,
        TaskIdent::of(task),
        event.name(),
        detail,
        chain.depth()
    );
}

/// The limiter of the module's own warnings (out of memory at fork).
pub(crate) static WARNINGS: LogLimit = LogLimit::new();
