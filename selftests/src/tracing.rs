//! Zero cost for unfiltered tasks, and coexistence with other users of the
//! syscall tracepoints (kmod/selective.rs).
//!
//! * `unfiltered_tasks_skip_probe`: tasks without a chain never enter the
//!   syscall-work path that runs strbox's `sys_enter` probe — counted with
//!   a kprobe event on the kernel's `syscall_trace_enter()`, which a task
//!   enters only with syscall work pending (for these tasks, which have no
//!   seccomp, ptrace or audit, only the tracepoint flag). A kprobe event
//!   does not touch the syscall tracepoints; the filtered task's count
//!   shows the counter works.
//! * `filtered_enforced_while_tracing_toggles`: filtered trees (fork,
//!   exec'd vfork child, thread, TSYNC'd thread) stay enforced while
//!   ftrace's syscall events are switched on and off (strbox switches to
//!   flagging every task on the first one).
//! * `tracer_sees_every_syscall`: an ftrace syscall tracer enabled before
//!   load, after load and across rmmod sees exactly N enter and N exit
//!   events for N syscalls.
//!
//! Each leaves the module loaded (and in selective mode: reloaded).

use std::os::fd::RawFd;

use strbox::abi::STRBOX_SET_TSYNC;

use super::child::{allow_all_except, getppid, install, install_flags, nnp, spawn};
use super::harness::unload_when_idle;
use super::util::{kmsg_read_all, load_module, module_listed, pipe, wait_pid, write_all};
use super::{Test, TestResult};
use crate::ensure;

pub static TESTS: &[Test] = &[
    Test {
        name: "unfiltered_tasks_skip_probe",
        run: unfiltered_tasks_skip_probe,
    },
    Test {
        name: "filtered_enforced_while_tracing_toggles",
        run: filtered_enforced_while_tracing_toggles,
    },
    Test {
        name: "tracer_sees_every_syscall",
        run: tracer_sees_every_syscall,
    },
];

/// Re-executed by `filtered_enforced_while_tracing_toggles` (an exec'd
/// child started with posix_spawn, i.e. CLONE_VFORK on musl).
pub static HELPERS: &[Test] = &[Test {
    name: "tracing_deny_loop",
    run: deny_loop_helper,
}];

const TRACING: &str = "/sys/kernel/tracing";

/// Mounts tracefs if needed.
fn tracefs() -> TestResult {
    if std::path::Path::new(&format!("{TRACING}/trace")).exists() {
        return Ok(());
    }
    // SAFETY: NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    ensure!(
        r == 0,
        "skip: cannot mount tracefs: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Writes `val` to a tracefs file (appending: kprobe_events keeps others).
fn tw(file: &str, val: &str) -> TestResult {
    use std::io::Write;
    let path = format!("{TRACING}/{file}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| format!("open {path}: {e}"))?;
    f.write_all(val.as_bytes())
        .map_err(|e| format!("write {val:?} to {path}: {e}"))
}

/// The trace buffer's events, as `(pid, line)`; clears nothing.
fn trace_events() -> Result<Vec<(i32, String)>, String> {
    let text = std::fs::read_to_string(format!("{TRACING}/trace")).map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            // "           comm-PID     [001] d..1.   12.345: event: ..."
            let task = l.split(" [").next()?.trim();
            let pid = task.rsplit_once('-')?.1.parse().ok()?;
            Some((pid, l.to_string()))
        })
        .collect())
}

/// Fails unless no CPU's ring buffer dropped events.
fn no_overrun() -> TestResult {
    for cpu in 0..64 {
        let Ok(stats) = std::fs::read_to_string(format!("{TRACING}/per_cpu/cpu{cpu}/stats")) else {
            break;
        };
        let overrun = stats
            .lines()
            .find_map(|l| l.strip_prefix("overrun: "))
            .unwrap_or("0");
        ensure!(overrun.trim() == "0", "cpu{cpu}: trace overrun {overrun}");
    }
    Ok(())
}

/// A forked child that runs `prepare`, says so, waits for `go`, then runs
/// `body`; exits 0 when both returned Ok.
struct Gated {
    pid: libc::pid_t,
    go: RawFd,
}

fn gated(
    prepare: impl FnOnce() -> Result<(), String>,
    body: impl FnOnce() -> Result<(), String>,
) -> Result<Gated, String> {
    let (go_r, go_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    // SAFETY: the test process is single-threaded here; the child only runs
    // the closures and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let r = prepare().and_then(|()| {
            write_all(ready_w, b"r")?;
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a local buffer.
            let n = unsafe { libc::read(go_r, b.as_mut_ptr().cast(), 1) };
            ensure!(n == 1, "go pipe: {n}");
            body()
        });
        if let Err(e) = &r {
            println!("# gated child: {e}");
        }
        // SAFETY: leave without the parent's exit handlers.
        unsafe { libc::_exit(i32::from(r.is_err())) };
    }
    // SAFETY: closing our copies of the child's ends.
    unsafe {
        libc::close(go_r);
        libc::close(ready_w);
    }
    let mut b = [0u8; 1];
    // SAFETY: reading one byte into a local buffer.
    let n = unsafe { libc::read(ready_r, b.as_mut_ptr().cast(), 1) };
    // SAFETY: our read end, no longer needed.
    unsafe { libc::close(ready_r) };
    ensure!(n == 1, "child {pid} failed before it was ready");
    Ok(Gated { pid, go: go_w })
}

impl Gated {
    fn go(&self) -> TestResult {
        write_all(self.go, b"g")
    }
    fn finish(mut self, what: &str) -> TestResult {
        let pid = std::mem::replace(&mut self.pid, 0);
        let st = wait_pid(pid)?;
        ensure!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "{what} (pid {pid}): {}",
            super::util::describe_status(st)
        );
        Ok(())
    }
}

impl Drop for Gated {
    /// A child not waited for (the test failed early) is killed, so that
    /// no filtered task keeps the module busy.
    fn drop(&mut self) {
        // SAFETY: our write end, closed once.
        unsafe { libc::close(self.go) };
        if self.pid > 0 {
            // SAFETY: our own child, reaped right after.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = wait_pid(self.pid);
        }
    }
}

/// `n` getppid calls that must succeed.
fn getppid_n(n: usize) -> Result<(), String> {
    for i in 0..n {
        getppid().map_err(|e| format!("getppid #{i}: errno {e}"))?;
    }
    Ok(())
}

/// Unloads and loads the module again; returns its load line.
fn reload() -> Result<String, String> {
    if module_listed().map_err(|e| e.to_string())? {
        unload_when_idle()?;
    }
    load_module().map_err(|e| format!("loading strbox.ko: {e}"))?;
    kmsg_read_all()
        .into_iter()
        .rev()
        .find(|l| l.contains("strbox: loaded ("))
        .ok_or_else(|| "no 'strbox: loaded' line".to_string())
}

/// Runs `f`, then turns every tracer off and reloads the module (selective
/// mode again for the tests after this one), whatever happened.
fn with_clean_reload(f: impl FnOnce() -> TestResult) -> TestResult {
    let r = f();
    let _ = tw("events/enable", "0");
    let _ = tw("kprobe_events", "\n-:strbox_hit\n");
    let _ = std::fs::write(format!("{TRACING}/set_event_pid"), ""); // O_TRUNC: clears
    let after = reload().and_then(|line| {
        ensure!(
            line.contains("selective syscall tracing"),
            "after the test, strbox loaded as {line:?}"
        );
        Ok(())
    });
    r.and(after)
}

const N: usize = 2000;

fn unfiltered_tasks_skip_probe() -> TestResult {
    tracefs()?;
    with_clean_reload(|| {
        // A task that exists before the load, blocked in read().
        let before = gated(|| Ok(()), || getppid_n(N))?;
        let line = reload()?;
        ensure!(
            line.contains("selective syscall tracing"),
            "strbox loaded as {line:?} (no other tracer is active)"
        );
        // Forked after the load from an unfiltered parent (this process,
        // whose flag its own first syscall after the load cleared).
        let after = gated(|| Ok(()), || getppid_n(N))?;
        // A filtered task; it stays alive while `sibling` runs.
        let policy = allow_all_except(&["getppid"], "errno EPERM");
        let (hold_r, hold_w) = pipe()?;
        let filtered = gated(
            || install(&policy).map_err(|_| "install failed".to_string()),
            move || {
                for i in 0..N {
                    let r = getppid();
                    ensure!(r == Err(libc::EPERM), "filtered getppid #{i} = {r:?}");
                }
                let mut b = [0u8; 1];
                // SAFETY: one byte into a local buffer: wait until released.
                unsafe { libc::read(hold_r, b.as_mut_ptr().cast(), 1) };
                Ok(())
            },
        )?;
        // Child of an unfiltered parent while a filtered task exists.
        let sibling = gated(|| Ok(()), || getppid_n(N))?;

        tw("kprobe_events", "\np:strbox_hit syscall_trace_enter\n")?;
        let pids = [before.pid, after.pid, filtered.pid, sibling.pid];
        let filter = pids
            .iter()
            .map(|p| format!("common_pid == {p}"))
            .collect::<Vec<_>>()
            .join(" || ");
        tw("events/kprobes/strbox_hit/filter", &filter)?;
        tw("buffer_size_kb", "4096")?;
        std::fs::write(format!("{TRACING}/trace"), "").map_err(|e| e.to_string())?;
        tw("events/kprobes/strbox_hit/enable", "1")?;
        for g in [&before, &after, &filtered, &sibling] {
            g.go()?;
        }
        before.finish("task from before the load")?;
        after.finish("task forked after the load")?;
        sibling.finish("unfiltered sibling of a filtered task")?;
        write_all(hold_w, b"x")?;
        filtered.finish("filtered task")?;
        tw("events/kprobes/strbox_hit/enable", "0")?;
        no_overrun()?;
        let ev = trace_events()?;
        let hits = |pid: i32| {
            ev.iter()
                .filter(|(p, l)| *p == pid && l.contains("strbox_hit"))
                .count()
        };
        let (hb, ha, hf, hs) = (hits(pids[0]), hits(pids[1]), hits(pids[2]), hits(pids[3]));
        println!(
            "# probe hits for {N} getppid each: existed before load {hb}, forked after load {ha}, filtered {hf}, unfiltered sibling {hs}"
        );
        // The counter works: the filtered task ran the probe for each call.
        ensure!(hf >= N, "filtered task: {hf} probe hits for {N} syscalls");
        // A task from before the load leaves on its first visit.
        ensure!(hb <= 1, "task from before the load: {hb} probe hits");
        ensure!(ha == 0, "task forked after the load: {ha} probe hits");
        ensure!(hs == 0, "unfiltered sibling: {hs} probe hits");
        Ok(())
    })
}

/// Denied getppid calls per filtered task.
const DENIALS: usize = 25_000;

fn deny_loop(n: usize) -> Result<(), String> {
    for i in 0..n {
        let r = getppid();
        ensure!(r == Err(libc::EPERM), "leak: getppid #{i} = {r:?}");
    }
    Ok(())
}

fn deny_loop_helper() -> TestResult {
    let Some(n) = std::env::var("STRBOX_DENY_LOOP")
        .ok()
        .and_then(|v| v.parse().ok())
    else {
        return Err("skip: helper of filtered_enforced_while_tracing_toggles".into());
    };
    let r = deny_loop(n);
    if let Err(e) = &r {
        println!("# {e}");
    }
    // SAFETY: leave with the verdict as the exit code.
    unsafe { libc::_exit(i32::from(r.is_err())) };
}

/// posix_spawn (CLONE_VM|CLONE_VFORK in musl) of this binary's deny loop.
fn spawn_deny_loop() -> Result<libc::pid_t, String> {
    let exe = c"/proc/self/exe";
    let argv = [
        exe.as_ptr(),
        c"tracing_deny_loop".as_ptr(),
        std::ptr::null(),
    ];
    let env = format!("STRBOX_DENY_LOOP={DENIALS}\0");
    let envp: [*const libc::c_char; 2] = [env.as_ptr().cast(), std::ptr::null()];
    let mut pid = 0;
    // SAFETY: NUL-terminated argv/envp of valid C strings, no attributes.
    let r = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            argv.as_ptr().cast(),
            envp.as_ptr().cast(),
        )
    };
    ensure!(r == 0, "posix_spawn: errno {r}");
    Ok(pid)
}

fn filtered_enforced_while_tracing_toggles() -> TestResult {
    tracefs()?;
    with_clean_reload(|| {
        let line = reload()?;
        ensure!(line.contains("selective"), "strbox loaded as {line:?}");
        let policy = allow_all_except(&["getppid"], "errno EPERM");
        // One filtered process: itself, a forked child, an exec'd vfork
        // child and a thread, all denying; plus a TSYNC'd thread that
        // existed before the install.
        let mut tree = gated(
            || Ok(()),
            move || {
                use std::sync::atomic::{AtomicBool, Ordering};
                use std::sync::Arc;
                let go = Arc::new(AtomicBool::new(false));
                let g = go.clone();
                let early = std::thread::spawn(move || {
                    while !g.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    deny_loop(DENIALS)
                });
                nnp().map_err(|_| "nnp".to_string())?;
                install_flags(&policy, STRBOX_SET_TSYNC)
                    .map_err(|_| "TSYNC install".to_string())?;
                go.store(true, Ordering::Release);
                let forked = spawn(|| {
                    deny_loop(DENIALS).map_err(|e| super::child::fail(format_args!("{e}")))
                })?;
                let vforked = spawn_deny_loop()?;
                let thread = std::thread::spawn(|| deny_loop(DENIALS));
                deny_loop(DENIALS)?;
                forked.ok("forked child")?;
                let st = wait_pid(vforked)?;
                ensure!(
                    libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
                    "exec'd vfork child: {}",
                    super::util::describe_status(st)
                );
                thread.join().map_err(|_| "thread panicked")??;
                early.join().map_err(|_| "TSYNC'd thread panicked")??;
                Ok(())
            },
        )?;
        // Toggle the syscall events while the tree runs.
        let events = [
            "events/raw_syscalls/sys_enter/enable",
            "events/raw_syscalls/sys_exit/enable",
            "events/syscalls/sys_enter_getsid/enable",
        ];
        tw("set_event_pid", "1")?; // keep the buffer quiet: PID 1 only
        tree.go()?;
        let mut toggles = 0u64;
        let status = loop {
            let mut st = 0;
            // SAFETY: status is a valid out pointer.
            let r = unsafe { libc::waitpid(tree.pid, &mut st, libc::WNOHANG) };
            if r == tree.pid {
                break st;
            }
            ensure!(r == 0, "waitpid: {}", std::io::Error::last_os_error());
            let e = events[(toggles as usize) % events.len()];
            tw(
                e,
                if (toggles / 3).is_multiple_of(2) {
                    "1"
                } else {
                    "0"
                },
            )?;
            toggles += 1;
        };
        tree.pid = 0; // reaped above
        ensure!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "filtered tree: {} (see the child's message above)",
            super::util::describe_status(status)
        );
        let switched = kmsg_read_all()
            .iter()
            .any(|l| l.contains("another sys_enter/sys_exit user (registered)"));
        ensure!(switched, "strbox never saw the tracer register");
        println!(
            "# {} denied getppid calls in 5 filtered tasks, 0 leaked, while syscall events were toggled {toggles} times",
            5 * DENIALS
        );
        ensure!(
            toggles >= 6,
            "only {toggles} toggles: the tracer was barely exercised"
        );
        Ok(())
    })
}

/// Counts `sys_getppid` enter and exit events of `pid` in the buffer.
fn getppid_events(pid: i32) -> Result<(usize, usize), String> {
    let ev = trace_events()?;
    let enter = ev
        .iter()
        .filter(|(p, l)| *p == pid && l.contains("sys_getppid("))
        .count();
    let exit = ev
        .iter()
        .filter(|(p, l)| *p == pid && l.contains("sys_getppid ->"))
        .count();
    Ok((enter, exit))
}

fn getppid_tracing(on: bool) -> TestResult {
    let v = if on { "1" } else { "0" };
    tw("events/syscalls/sys_enter_getppid/enable", v)?;
    tw("events/syscalls/sys_exit_getppid/enable", v)
}

fn expect_events(pid: i32, n: usize, phase: &str) -> TestResult {
    no_overrun()?;
    let (enter, exit) = getppid_events(pid)?;
    println!("# {phase}: {n} getppid calls, {enter} enter and {exit} exit events");
    ensure!(
        enter == n && exit == n,
        "{phase}: {n} getppid calls, tracer saw {enter} enter and {exit} exit events"
    );
    Ok(())
}

fn tracer_sees_every_syscall() -> TestResult {
    tracefs()?;
    with_clean_reload(|| {
        std::fs::write(format!("{TRACING}/set_event_pid"), "").map_err(|e| e.to_string())?;
        tw("buffer_size_kb", "4096")?;
        // 1. The tracer is on before strbox loads.
        unload_when_idle()?;
        getppid_tracing(true)?;
        std::fs::write(format!("{TRACING}/trace"), "").map_err(|e| e.to_string())?;
        let line = reload()?;
        ensure!(
            line.contains("all-task syscall tracing"),
            "loaded with a syscall tracer active, strbox says {line:?}"
        );
        let c = gated(|| Ok(()), || getppid_n(N))?;
        let pid = c.pid;
        c.go()?;
        c.finish("child")?;
        expect_events(pid, N, "tracer before load")?;

        // 2. The tracer comes after the load: tasks that strbox had
        // unflagged must be flagged again before its first event.
        getppid_tracing(false)?;
        let line = reload()?;
        ensure!(line.contains("selective"), "strbox loaded as {line:?}");
        let c = gated(|| getppid_n(10), || getppid_n(N))?;
        let pid = c.pid;
        std::fs::write(format!("{TRACING}/trace"), "").map_err(|e| e.to_string())?;
        getppid_tracing(true)?;
        c.go()?;
        c.finish("child")?;
        expect_events(pid, N, "tracer after load")?;

        // 3. Across rmmod: the same task before and after the unload.
        let (half_r, half_w) = pipe()?;
        let (cont_r, cont_w) = pipe()?;
        let c = gated(
            || Ok(()),
            move || {
                getppid_n(N)?;
                write_all(half_w, b"h")?;
                let mut b = [0u8; 1];
                // SAFETY: one byte into a local buffer.
                unsafe { libc::read(cont_r, b.as_mut_ptr().cast(), 1) };
                getppid_n(N)
            },
        )?;
        let pid = c.pid;
        std::fs::write(format!("{TRACING}/trace"), "").map_err(|e| e.to_string())?;
        c.go()?;
        let mut b = [0u8; 1];
        // SAFETY: one byte into a local buffer.
        unsafe { libc::read(half_r, b.as_mut_ptr().cast(), 1) };
        unload_when_idle()?;
        write_all(cont_w, b"c")?;
        c.finish("child")?;
        expect_events(pid, 2 * N, "across rmmod")?;
        getppid_tracing(false)
    })
}
