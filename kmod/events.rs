// SPDX-License-Identifier: GPL-2.0
//! LSM-hook events: `file_open`, `exec`, `socket_connect`, `socket_bind`,
//! judged where the kernel has already copied and resolved the object.
//!
//! A rule over pointed-to data (a path, a socket address) cannot be judged
//! at syscall entry: the task's other threads can change the user buffer
//! between the check and the kernel's own copy (TOCTOU). These events are
//! judged at the LSM hook points instead, on the kernel's copy: the opened
//! `struct file`, the `linux_binprm`'s file, the `sockaddr` that
//! `move_addr_to_kernel()` copied.
//!
//! # Mechanism
//!
//! A module cannot register LSM hooks (`security_add_hooks()` is
//! `__init`), so strbox puts a kprobe at the entry of each `security_*`
//! function ([`HOOKS`]). When a filtered task's chain denies, the
//! pre-handler makes the function return `-errno` at once, without running
//! its body (`strbox_override_return()` in the shim, what the kernel's
//! error injection does): the open, exec, connect or bind fails with the
//! policy's errno. `kill` also sends SIGKILL.
//!
//! Why not a kretprobe, which would see the other LSMs' result first? A
//! kretprobe takes an instance from a fixed pool (`maxactive`) at entry;
//! when the pool is empty (enough tasks sleeping or preempted inside the
//! hooked function) `pre_handler_kretprobe()` counts a miss and runs
//! nothing — neither the entry handler nor the return handler — so the
//! denial would silently be lost. A plain kprobe has no pool: it runs on
//! every call. The price: a denial replaces the errno another LSM would
//! have returned for the same call (the call fails either way), and the
//! hook runs before the protocol validates a socket address, so a
//! malformed address that the policy denies fails with the policy's errno
//! rather than `EINVAL`. A hook only ever adds a denial: a failure the
//! kernel decided before the hook (lookup, DAC permission) stands, and the
//! hook never turns one into success.
//!
//! # Cost for unfiltered tasks
//!
//! The kprobes are armed when the first layer with rules for their event
//! is installed ([`arm`]), not at load: until then no open, exec, connect
//! or bind on the machine pays anything. Once armed (until unload), every
//! one of them on the machine hits the kprobe (measured: +194 guest
//! instructions on an `openat`+`close` of 5,194, x86_64, most of it the
//! kprobe's ftrace trampoline and lookup). The handler returns after one
//! load when no task is filtered
//! ([`task_state::any_filtered`]), after a lock-free table lookup for an
//! unfiltered task while others are filtered, and after one more load
//! for a filtered task whose chain has no rule for the event
//! ([`Layer::event_mask`]).
//!
//! # Context
//!
//! Pre-handlers run with preemption disabled (an RCU read-side critical
//! section) and must not sleep or allocate. `d_path()` only takes seqlocks
//! and RCU; the path is built in a per-CPU buffer of `PATH_MAX` bytes
//! allocated at load. Kprobe handlers never nest on a CPU (a probe hit
//! inside a handler is counted as missed and not run), so one buffer per
//! CPU suffices.
//!
//! io_uring's io-wq workers carry their creator's chain
//! ([`crate::fork_exit`]), so an `IORING_OP_OPENAT` or `IORING_OP_CONNECT`
//! is judged whether it runs inline or on a worker.

use core::ffi::CStr;
use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_void};
use kernel::prelude::*;

use crate::chain::Layer;
use crate::ffi;
use crate::filter::{Event, EventInput, Verdict};
use crate::report::{self, Recorded};
use crate::task_state::{self, RcuReadSide};

/// The kernel's `PATH_MAX`: the largest path `d_path()` can produce
/// (including its NUL). A longer path is not truncated: the event is judged
/// as "path unavailable", which every layer with rules for it denies.
const PATH_MAX: usize = bindings::PATH_MAX as usize;

/// One hooked function.
struct Hook {
    event: Event,
    symbol: &'static CStr,
    handler: ffi::KprobePreHandler,
}

/// The hooks, by kprobe slot.
static HOOKS: [Hook; 4] = [
    Hook {
        event: Event::FileOpen,
        symbol: c"security_file_open",
        handler: on_file_open,
    },
    Hook {
        event: Event::Exec,
        symbol: c"security_bprm_check",
        handler: on_bprm_check,
    },
    Hook {
        event: Event::SocketConnect,
        symbol: c"security_socket_connect",
        handler: on_socket_connect,
    },
    Hook {
        event: Event::SocketBind,
        symbol: c"security_socket_bind",
        handler: on_socket_bind,
    },
];

/// Events whose hook is armed ([`Event::bit`]s). Bits are only ever set
/// (under the shim's arming mutex, after the kprobe is live) until
/// [`teardown`].
static ARMED: AtomicU32 = AtomicU32::new(0);

/// The per-CPU path buffers (`PATH_MAX` bytes per CPU), or null.
static PATH_BUFS: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Allocates the path buffers. No hook is armed yet: a machine where no
/// layer ever had event rules pays nothing for them ([`arm`]).
pub(crate) fn init() -> Result {
    // SAFETY: process context (module init); the result is checked.
    let bufs = unsafe { ffi::strbox_alloc_percpu(PATH_MAX) };
    if bufs.is_null() {
        return Err(ENOMEM);
    }
    PATH_BUFS.store(bufs, Ordering::Release);
    Ok(())
}

/// Arms the hooks of the events in `needed` that are not armed yet, before
/// a layer with rules for them is linked; once armed, a hook stays armed
/// until the module is unloaded. Fails with `EOPNOTSUPP` if the kernel
/// lacks one of the functions (e.g. `security_socket_connect` without
/// `CONFIG_SECURITY_NETWORK`): such a layer is refused, never installed
/// unenforced. May sleep (kprobe registration patches kernel text).
pub(crate) fn arm(needed: u32) -> Result {
    if needed & !ARMED.load(Ordering::Acquire) == 0 {
        return Ok(());
    }
    // SAFETY: process context (the install's task work), may sleep.
    unsafe { ffi::strbox_events_lock() };
    let mut result = Ok(());
    for (slot, hook) in HOOKS.iter().enumerate() {
        let bit = hook.event.bit();
        if needed & bit == 0 || ARMED.load(Ordering::Acquire) & bit != 0 {
            continue;
        }
        // Soundness: `slot < 4`, the shim's kprobe count, is not registered
        // (its bit is clear and we hold the arming mutex); the symbol name
        // is 'static, and the handler has the pre-handler signature and
        // stays valid until `teardown` unregisters it.
        // SAFETY: as argued just above.
        let rc = unsafe {
            ffi::strbox_event_kprobe_register(
                slot as u32,
                hook.symbol.as_ptr().cast(),
                hook.handler,
            )
        };
        if rc == 0 {
            // register_kprobe() returns with the probe live on every CPU.
            ARMED.fetch_or(bit, Ordering::AcqRel);
        } else {
            pr_warn!(
                "event {} unavailable: cannot probe {:?} ({})\n",
                hook.event.name(),
                hook.symbol,
                rc
            );
            result = Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)));
        }
    }
    // SAFETY: taken above by this task.
    unsafe { ffi::strbox_events_unlock() };
    result
}

/// Disarms the hooks (each unregistration waits for running handlers) and
/// frees the buffers.
pub(crate) fn teardown() {
    let armed = ARMED.swap(0, Ordering::AcqRel);
    for (slot, hook) in HOOKS.iter().enumerate() {
        if armed & hook.event.bit() != 0 {
            // SAFETY: registered by `arm` (its bit is set); process
            // context, no locks; no install can be arming concurrently (the
            // module is being unloaded: no reference is left).
            unsafe { ffi::strbox_event_kprobe_unregister(slot as u32) };
        }
    }
    let bufs = PATH_BUFS.swap(ptr::null_mut(), Ordering::AcqRel);
    if !bufs.is_null() {
        // SAFETY: allocated by `strbox_alloc_percpu` in `init`; no handler
        // can run any more (all unregistered above).
        unsafe { bindings::free_percpu(bufs) };
    }
}

/// The filtered chain of the current task, if it has rules for `event`.
#[inline(always)]
fn chain_for<'r>(rcu: &'r RcuReadSide, event: Event) -> Option<&'r Layer> {
    if !task_state::any_filtered() {
        return None;
    }
    // SAFETY: `get_current()` is always valid in task context.
    let task = unsafe { bindings::get_current() };
    task_state::lookup(rcu, task).filter(|chain| chain.event_mask() & event.bit() != 0)
}

/// This CPU's path buffer.
///
/// # Safety
///
/// Preemption must be disabled for as long as the buffer is used, and no
/// other user of this CPU's buffer may run meanwhile (true in a kprobe
/// pre-handler: handlers never nest on a CPU).
unsafe fn path_buf<'b>() -> Option<&'b mut [u8; PATH_MAX]> {
    let bufs = PATH_BUFS.load(Ordering::Acquire);
    if bufs.is_null() {
        return None;
    }
    // SAFETY: `bufs` is the live per-CPU allocation of `PATH_MAX` bytes per
    // CPU (freed only after every handler was unregistered); preemption is
    // disabled (the caller), so this CPU's part stays ours.
    let p = unsafe { ffi::strbox_this_cpu_ptr(bufs) }.cast::<[u8; PATH_MAX]>();
    // SAFETY: `p` points to `PATH_MAX` writable bytes that nothing else
    // uses while the caller holds them (the function's contract).
    Some(unsafe { &mut *p })
}

/// The path of `file` as seen from the current task's root (`d_path()`:
/// symlinks and `..` resolved by the lookup that opened it, " (deleted)"
/// appended for an unlinked file), or `None` if it does not fit in
/// `PATH_MAX` bytes or cannot be built.
///
/// # Safety
///
/// `file` must be a valid, referenced `struct file`.
unsafe fn file_path(file: *const bindings::file, buf: &mut [u8; PATH_MAX]) -> Option<&[u8]> {
    let base = buf.as_mut_ptr();
    // SAFETY: `file` is valid (the caller), so is its `f_path`, which holds
    // references on its mount and dentry; `buf` has `PATH_MAX` bytes.
    // d_path() never sleeps (RCU and seqlocks only).
    let p = unsafe { bindings::d_path(&(*file).f_path, base.cast(), PATH_MAX as c_int) };
    let p = p.cast::<u8>();
    // ERR_PTR(-ENAMETOOLONG) and friends: the top 4095 addresses.
    if (p as usize) >= (-(bindings::MAX_ERRNO as isize)) as usize {
        return None;
    }
    // d_path() builds the name backwards from the end of the buffer, ending
    // it with a NUL at `buf[PATH_MAX - 1]`, and returns its first byte.
    let start = (p as usize).checked_sub(base as usize)?;
    buf.get(start..PATH_MAX - 1)
}

/// What to do with the hooked call.
fn act(regs: *mut bindings::pt_regs, chain: &Layer, event: Event, input: &EventInput<'_>) -> c_int {
    let verdict = chain.evaluate_event(event, input);
    let errno = match verdict {
        Verdict::Allow => return 0,
        Verdict::Log => {
            report::record_event(Recorded::Log, event, &Detail(event, input), chain);
            return 0;
        }
        Verdict::Errno(e) => e as c_long,
        Verdict::Kill => {
            report::record_event(Recorded::Kill, event, &Detail(event, input), chain);
            // SAFETY: force_sig(SIGKILL) on current may be called in atomic
            // context; the task dies on its way back to user mode.
            unsafe { bindings::force_sig(bindings::SIGKILL as i32) };
            bindings::EPERM as c_long
        }
    };
    // SAFETY: `regs` are the registers of this kprobe hit, at the entry of
    // the hooked function; returning 1 resumes at the address set.
    unsafe { ffi::strbox_override_return(regs, -errno) };
    1
}

/// The `n`-th argument of the hooked function.
///
/// # Safety
///
/// `regs` must be the registers of a kprobe hit at a function's entry.
unsafe fn arg(regs: *mut bindings::pt_regs, n: u32) -> usize {
    // SAFETY: the caller's contract; the shim only reads `regs`.
    unsafe { ffi::strbox_kernel_arg(regs, n) }
}

/// A file event: `path` from `file`, `flags` from its `f_flags`.
///
/// # Safety
///
/// `regs` must be the registers of a kprobe hit at the entry of the hooked
/// function, and `file` a valid, referenced `struct file`.
unsafe fn judge_file(
    regs: *mut bindings::pt_regs,
    event: Event,
    file: *const bindings::file,
) -> c_int {
    // SAFETY: kprobe pre-handlers run with preemption disabled, an RCU
    // read-side critical section lasting until they return.
    let rcu = unsafe { RcuReadSide::assume() };
    let Some(chain) = chain_for(&rcu, event) else {
        return 0;
    };
    if file.is_null() {
        return 0;
    }
    // SAFETY: in a kprobe pre-handler (preemption disabled, no nesting).
    let buf = unsafe { path_buf() };
    let path = match buf {
        // SAFETY: `file` is valid (the caller).
        Some(buf) => unsafe { file_path(file, buf) },
        None => None,
    };
    // SAFETY: `file` is valid (the caller).
    let flags = unsafe { ffi::strbox_file_flags(file.cast_mut()) };
    let input = EventInput {
        path,
        flags: u64::from(flags),
        family: 0,
        port: 0,
        addr: [0; 16],
    };
    act(regs, chain, event, &input)
}

/// `security_file_open(struct file *file)`.
///
/// # Safety
///
/// Called by kprobes only, at the entry of `security_file_open()`.
unsafe extern "C" fn on_file_open(_kp: *mut c_void, regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: a kprobe hit at the entry of security_file_open(), whose
    // first argument is the file being opened (referenced by the caller).
    unsafe {
        let file = arg(regs, 0) as *const bindings::file;
        judge_file(regs, Event::FileOpen, file)
    }
}

/// `security_bprm_check(struct linux_binprm *bprm)`: once per binary
/// handler round, so a `#!` script is judged as itself and then as its
/// interpreter (`bprm->file` is the interpreter's file the second time).
///
/// # Safety
///
/// Called by kprobes only, at the entry of `security_bprm_check()`.
unsafe extern "C" fn on_bprm_check(_kp: *mut c_void, regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: a kprobe hit at the entry of security_bprm_check(), whose
    // argument is the exec's binprm; its file is opened and referenced.
    unsafe {
        let bprm = arg(regs, 0) as *mut c_void;
        if bprm.is_null() {
            return 0;
        }
        judge_file(regs, Event::Exec, ffi::strbox_bprm_file(bprm))
    }
}

/// Bytes of a `struct sockaddr_storage`: the most `move_addr_to_kernel()`
/// copies.
const SOCKADDR_MAX: usize = 128;
/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH: usize = 2;

/// The socket fields of the kernel's copy of a socket address.
fn socket_input(sa: &[u8]) -> EventInput<'_> {
    let family = match sa {
        [a, b, ..] => u16::from_ne_bytes([*a, *b]),
        _ => 0,
    };
    let port = match sa {
        [_, _, a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    let mut input = EventInput {
        path: Some(&[]),
        flags: 0,
        family: u64::from(family),
        port: 0,
        addr: [0; 16],
    };
    match u32::from(family) {
        bindings::AF_INET => {
            input.port = u64::from(port);
            // IPv4 as its v4-mapped IPv6 form, ::ffff:a.b.c.d.
            input.addr[10] = 0xff;
            input.addr[11] = 0xff;
            if let Some(v4) = sa.get(4..8) {
                input.addr[12..].copy_from_slice(v4);
            }
        }
        bindings::AF_INET6 => {
            input.port = u64::from(port);
            if let Some(v6) = sa.get(8..24) {
                input.addr.copy_from_slice(v6);
            }
        }
        bindings::AF_UNIX => {
            let name = sa.get(SUN_PATH..).unwrap_or(&[]);
            // A pathname socket ends at its first NUL (as unix_mkname_bsd()
            // reads it); an abstract one (first byte NUL) is all its bytes.
            input.path = Some(match name.first() {
                Some(0) => name,
                _ => name.split(|&b| b == 0).next().unwrap_or(&[]),
            });
        }
        _ => {}
    }
    input
}

/// A socket event (`(struct socket *, struct sockaddr *, int addrlen)`).
///
/// # Safety
///
/// `regs` must be the registers of a kprobe hit at the entry of
/// `security_socket_connect()` or `security_socket_bind()`.
unsafe fn judge_socket(regs: *mut bindings::pt_regs, event: Event) -> c_int {
    // SAFETY: kprobe pre-handlers run with preemption disabled, an RCU
    // read-side critical section lasting until they return.
    let rcu = unsafe { RcuReadSide::assume() };
    let Some(chain) = chain_for(&rcu, event) else {
        return 0;
    };
    // SAFETY: the caller's contract.
    let (sa, len) = unsafe { (arg(regs, 1) as *const u8, arg(regs, 2) as c_int) };
    let len = usize::try_from(len).unwrap_or(0).min(SOCKADDR_MAX);
    let mut copy = [0u8; SOCKADDR_MAX];
    if !sa.is_null() {
        // Soundness: `sa` is the kernel's own copy of the address (a
        // `sockaddr_storage` filled by move_addr_to_kernel(), which bounds
        // `addrlen` by its size, or a kernel caller's buffer of `addrlen`
        // bytes), valid for the duration of the call.
        // SAFETY: as argued just above; `len <= SOCKADDR_MAX`.
        unsafe { ptr::copy_nonoverlapping(sa, copy.as_mut_ptr(), len) };
    }
    let input = socket_input(copy.get(..len).unwrap_or(&[]));
    act(regs, chain, event, &input)
}

/// `security_socket_connect(struct socket *, struct sockaddr *, int)`.
///
/// # Safety
///
/// Called by kprobes only, at the entry of `security_socket_connect()`.
unsafe extern "C" fn on_socket_connect(_kp: *mut c_void, regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: a kprobe hit at the entry of security_socket_connect().
    unsafe { judge_socket(regs, Event::SocketConnect) }
}

/// `security_socket_bind(struct socket *, struct sockaddr *, int)`.
///
/// # Safety
///
/// Called by kprobes only, at the entry of `security_socket_bind()`.
unsafe extern "C" fn on_socket_bind(_kp: *mut c_void, regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: a kprobe hit at the entry of security_socket_bind().
    unsafe { judge_socket(regs, Event::SocketBind) }
}

/// An event's fields as printed in a `log`/`kill` record.
struct Detail<'a>(Event, &'a EventInput<'a>);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = self.1;
        let path = report::Escaped(input.path.unwrap_or(b"?"));
        match self.0 {
            Event::FileOpen => write!(f, "path=\"{}\" flags={:#x}", path, input.flags),
            Event::Exec => write!(f, "path=\"{}\"", path),
            Event::SocketConnect | Event::SocketBind => {
                write!(f, "family={} port={} addr=", input.family, input.port)?;
                for i in 0..8 {
                    let hi = input.addr.get(2 * i).copied().unwrap_or(0);
                    let lo = input.addr.get(2 * i + 1).copied().unwrap_or(0);
                    let sep = if i == 0 { "" } else { ":" };
                    write!(f, "{sep}{:x}", u16::from_be_bytes([hi, lo]))?;
                }
                write!(f, " path=\"{}\"", path)
            }
        }
    }
}
