//! The crowd: many strbox-filtered threads asleep while the crowded ring
//! runs.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;

use strbox_uapi::tables::NATIVE;

use crate::guest_util::pipe_cloexec;

/// `n` strbox-filtered tasks asleep in `read()`: the threads of one
/// process that installed an allow-everything layer (each thread has its
/// own entry in the module's task table).
pub(super) struct Crowd {
    pid: libc::pid_t,
    /// Our end of the pipe the threads sleep on; closing it wakes them.
    wake: std::fs::File,
}

impl Crowd {
    pub(super) fn spawn(n: usize) -> Result<Crowd, String> {
        // Every syscall of the arch allowed: the threads only sleep.
        let mut policy = String::from("default errno EPERM\n");
        for sys in NATIVE.syscalls {
            if (sys.nr as usize) < strbox_filter::limits::MAX_NR {
                policy.push_str(sys.name);
                policy.push_str(": 1\n");
            }
        }
        Crowd::spawn_with(n, &policy)
    }

    /// One sleeping thread under a layer with a rule for every LSM-hook
    /// event (each allowing everything): installing it arms the module's
    /// event kprobes, which stay armed until unload.
    pub(super) fn spawn_event_arming() -> Result<Crowd, String> {
        Crowd::spawn_with(
            1,
            "default errno EPERM\nfile_open: 1\nexec: 1\nsocket_connect: 1\nsocket_bind: 1\n",
        )
    }

    /// `n` threads asleep under `policy`.
    fn spawn_with(n: usize, policy: &str) -> Result<Crowd, String> {
        // A 1 GiB guest's default threads-max is about 8,000.
        let _ = std::fs::write("/proc/sys/kernel/threads-max", format!("{}", 2 * n + 1000));
        let (sleep_r, sleep_w) = pipe_cloexec().map_err(|e| format!("pipe: {e}"))?;
        let (ready_r, ready_w) = pipe_cloexec().map_err(|e| format!("pipe: {e}"))?;
        let _ = io::stdout().flush();
        // SAFETY: the benchmark (PID 1) is single-threaded.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            drop(sleep_w);
            drop(ready_r);
            let code = match crowd_main(n, policy, sleep_r, ready_w) {
                Ok(()) => 0,
                Err(e) => {
                    println!("# crowd: {e}");
                    1
                }
            };
            // SAFETY: leave the child without the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        drop(sleep_r);
        drop(ready_w);
        let mut b = [0u8; 1];
        let ready = (&ready_r).read(&mut b).map_err(|e| format!("crowd: {e}"))?;
        let crowd = Crowd { pid, wake: sleep_w };
        if ready != 1 {
            return Err(format!("crowd of {n} filtered threads failed to start"));
        }
        Ok(crowd)
    }

    /// Wakes the threads (their `read()` returns 0) and reaps the process.
    pub(super) fn end(self) -> Result<(), String> {
        let Crowd { pid, wake } = self;
        drop(wake);
        let status = crate::guest_util::wait_pid(pid)?;
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else {
            Err(format!(
                "crowd: {}",
                crate::guest_util::describe_status(status)
            ))
        }
    }
}

fn crowd_main(
    n: usize,
    policy: &str,
    sleep_r: std::fs::File,
    ready_w: std::fs::File,
) -> Result<(), String> {
    strbox::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    strbox::install(policy.as_bytes()).map_err(|e| format!("install: errno {}", e.errno))?;
    let fd = sleep_r.as_raw_fd();
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let t = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut b = [0u8; 1];
                // SAFETY: one byte into a local buffer; EOF ends the sleep.
                unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
            })
            .map_err(|e| format!("thread {i}: {e}"))?;
        threads.push(t);
    }
    (&ready_w)
        .write_all(b"r")
        .map_err(|e| format!("ready: {e}"))?;
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}
