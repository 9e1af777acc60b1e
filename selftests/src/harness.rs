//! PID 1 of the test VM: mounts, loads the module, runs each test in its
//! own child, unloads the module, dumps the kernel log, reboots.
//!
//! Console protocol read by `xtask/src/results.rs`:
//! - KTAP (`KTAP version 1`, `1..N`, `ok N name`, `not ok N name # why`,
//!   `ok N name # SKIP why`), diagnostics as `# ...` lines;
//! - `@@k <text>`: one kernel log record (dumped at the end);
//! - `@@o <text>` / `@@e <text>`: a line of the run command's stdout/stderr;
//! - `@@exit <code>`: the run command's exit status;
//! - `@@done`: the guest finished normally.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::util;
use super::Test;
pub use strbox_bench::guest_util::unload_when_idle;
use strbox_bench::guest_util::{ktap_plan, ktap_result, pipe_cloexec};

/// What /etc/strbox-run asks for.
pub enum Mode {
    /// Run the test suite (tests whose name contains `filter`, if set).
    Test { filter: Option<String> },
    /// Run a command (or a shell), optionally with the module loaded.
    Run {
        argv: Vec<String>,
        load_module: bool,
    },
    /// Run the overhead benchmark (`strbox_bench::runner`), which loads
    /// and unloads the module itself.
    Bench { iters: u64, reps: usize },
}

/// Reads /etc/strbox-run: `mode=test|run|bench`, `filter=S`, `module=0|1`,
/// `arg=S` (repeated), `iters=N`, `reps=N`.
pub fn read_mode() -> Mode {
    let text = std::fs::read_to_string("/etc/strbox-run").unwrap_or_default();
    let mut mode = "test";
    let mut filter = None;
    let mut argv = Vec::new();
    let mut load = true;
    let mut bench = strbox_bench::runner::Config::default();
    for l in text.lines() {
        match l.split_once('=') {
            Some(("mode", "run")) => mode = "run",
            Some(("mode", "bench")) => mode = "bench",
            Some(("iters", v)) => bench.iters = v.parse().unwrap_or(bench.iters),
            Some(("reps", v)) => bench.reps = v.parse().unwrap_or(bench.reps),
            Some(("filter", v)) => filter = Some(v.to_string()),
            Some(("module", v)) => load = v != "0",
            Some(("arg", v)) => argv.push(v.to_string()),
            _ => {}
        }
    }
    if mode == "bench" {
        return Mode::Bench {
            iters: bench.iters,
            reps: bench.reps,
        };
    }
    if mode == "run" {
        Mode::Run {
            argv,
            load_module: load,
        }
    } else {
        Mode::Test { filter }
    }
}

fn mount(src: &str, target: &str, fstype: &str) {
    let _ = std::fs::create_dir_all(target);
    let (s, t, f) = (
        CString::new(src).unwrap(),
        CString::new(target).unwrap(),
        CString::new(fstype).unwrap(),
    );
    // SAFETY: valid C strings; no data argument.
    let r = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        println!(
            "# mount {fstype} on {target}: {}",
            io::Error::last_os_error()
        );
    }
}

/// Sets up the minimal userland: /proc, /sys, /dev, /tmp, tracefs.
pub fn early_init() {
    mount("proc", "/proc", "proc");
    mount("sysfs", "/sys", "sysfs");
    mount("devtmpfs", "/dev", "devtmpfs");
    mount("tmpfs", "/tmp", "tmpfs");
    mount("tracefs", "/sys/kernel/tracing", "tracefs");
    std::env::set_var("PATH", "/bin:/mnt/host");
}

/// Flushes and ends the VM (QEMU runs with -no-reboot, so a reboot exits).
pub fn power_off() -> ! {
    let _ = io::stdout().flush();
    // SAFETY: sync and reboot take no pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Per-test time limit: a hang detector, not a speed check. Generous,
/// because guest time under TCG on a loaded host (and on the KASAN debug
/// kernel) runs several times slower than on an idle one.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs one test in a forked child in its own process group; kills the
/// whole group afterwards so no stray filtered task outlives the test.
pub fn run_one(t: &Test) -> Result<(), String> {
    let (mut rd, wr) = pipe_cloexec().map_err(|e| format!("pipe: {e}"))?;
    let _ = io::stdout().flush();
    // SAFETY: PID 1 is single-threaded here.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: in the child: own process group, then run the test.
        unsafe { libc::setpgid(0, 0) };
        drop(rd);
        let res = std::panic::catch_unwind(t.run).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        });
        let _ = io::stdout().flush();
        let (code, msg) = match res {
            Ok(()) => (0, String::new()),
            Err(e) => (1, e),
        };
        // SAFETY: `wr` is the pipe's write end; msg outlives the call.
        unsafe {
            libc::write(wr.as_raw_fd(), msg.as_ptr().cast(), msg.len());
            libc::_exit(code);
        }
    }
    // SAFETY: plain integer arguments; ignore EACCES races on setpgid.
    unsafe { libc::setpgid(pid, pid) };
    // Parent: close the write end.
    drop(wr);
    let start = Instant::now();
    let mut status = 0;
    let mut timed_out = false;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(format!("waitpid: {}", io::Error::last_os_error()));
        }
        if start.elapsed() > TEST_TIMEOUT {
            timed_out = true;
            // SAFETY: kill the test's process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Kill leftovers in the test's group, then reap every zombie we own.
    // SAFETY: signals/waits with no pointers except the status out-param.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        let mut st = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let r = libc::waitpid(-1, &mut st, libc::WNOHANG);
            if r <= 0 {
                if r < 0 {
                    break; // ECHILD: nothing left
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let mut msg = String::new();
    let _ = rd.read_to_string(&mut msg);
    if timed_out {
        return Err(format!("timed out after {}s", TEST_TIMEOUT.as_secs()));
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        return Ok(());
    }
    if msg.is_empty() {
        msg = format!("test process ended with {}", util::describe_status(status));
    }
    Err(msg)
}

/// The test suite, as KTAP on the console.
pub fn run_tests(filter: Option<&str>, tests: &[&Test]) {
    let selected: Vec<&&Test> = tests
        .iter()
        .filter(|t| filter.is_none_or(|f| t.name.contains(f)))
        .collect();
    ktap_plan(selected.len() + 2);
    let mut n = 1;
    let loaded = util::load_module().map_err(|e| format!("finit_module: {e}"));
    ktap_result(n, "module_load", &loaded);
    for t in &selected {
        n += 1;
        let t0 = Instant::now();
        let res = if loaded.is_ok() {
            run_one(t)
        } else {
            Err("skip: module not loaded".into())
        };
        // Guest time per test, for the reader (never asserted).
        println!("# time {}: {:.1}s", t.name, t0.elapsed().as_secs_f64());
        ktap_result(n, t.name, &res);
    }
    n += 1;
    let unloaded = if loaded.is_ok() {
        unload_when_idle()
    } else {
        Err("skip: module not loaded".into())
    };
    ktap_result(n, "module_unload", &unloaded);
}

/// Prints the whole kernel log, one `@@k` line per record.
pub fn dump_kernel_log() {
    let mut out = io::stdout().lock();
    for rec in util::kmsg_read_all() {
        let _ = writeln!(out, "@@k {rec}");
    }
    let _ = out.flush();
}

/// Runs a command with its output framed, returns its exit code.
pub fn run_command(argv: &[String]) -> i32 {
    use std::process::{Command, Stdio};
    let (prog, args) = match argv.split_first() {
        Some(p) => p,
        None => {
            // The initramfs has Debian's static busybox as /bin/busybox.
            let sh = [
                ("/bin/sh", None),
                ("/mnt/host/sh", None),
                ("/bin/busybox", Some("sh")),
                ("/mnt/host/busybox", Some("sh")),
            ]
            .into_iter()
            .find(|(p, _)| std::path::Path::new(p).exists());
            return match sh {
                Some((sh, arg)) => {
                    // Interactive: hand the console over unframed.
                    let s = Command::new(sh).args(arg).status();
                    s.ok().and_then(|s| s.code()).unwrap_or(127)
                }
                None => {
                    println!("@@e no command given and no /bin/sh in the guest");
                    println!("@@e add one: cargo xtask qemu-run --add /path/to/static/busybox -- /mnt/host/busybox sh");
                    127
                }
            };
        }
    };
    let child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("@@e strbox-guest: cannot run {prog}: {e}");
            return 127;
        }
    };
    let so = child.stdout.take().expect("piped");
    let se = child.stderr.take().expect("piped");
    let t = std::thread::spawn(move || frame(se, "@@e "));
    frame(so, "@@o ");
    let _ = t.join();
    let st = child.wait().map(|s| {
        use std::os::unix::process::ExitStatusExt;
        s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
    });
    st.unwrap_or(125)
}

fn frame(r: impl Read, prefix: &str) {
    use std::io::BufRead;
    let mut br = io::BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        match br.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let msg = format!("{prefix}{text}\n");
                let _ = io::stdout().lock().write_all(msg.as_bytes());
            }
        }
    }
}
