//! Filtered children: what a child installs ([`Filter`]), how it reports
//! without allocating ([`emit`]) and [`in_filtered_child`].

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;

use crate::bpf;
use crate::bpf::Insn;
use crate::guest_util::pipe_cloexec;

/// What a child installs before it runs its body.
#[derive(Clone, Copy)]
pub enum Filter<'a> {
    /// Nothing.
    None,
    /// `layers` strbox layers of this policy text, then `top_layers` of
    /// `top` over them.
    Strbox {
        text: &'a [u8],
        layers: usize,
        top: &'a [u8],
        top_layers: usize,
    },
    /// `layers` seccomp filters of this program, then `top_layers` of
    /// `top` over them.
    Seccomp {
        prog: &'a [Insn],
        layers: usize,
        top: &'a [Insn],
        top_layers: usize,
    },
}

/// Writes all of `b` to fd 1 (the pipe to the parent). Allocates nothing
/// and makes only `write(1, ...)` calls, which every benchmark policy
/// allows.
pub fn emit(b: &[u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: the pointer and length describe the live slice `b[off..]`.
        let r = unsafe { libc::write(1, b[off..].as_ptr().cast(), b.len() - off) };
        if r <= 0 {
            return;
        }
        off += r as usize;
    }
}

/// `msg` and `n` in decimal, without allocating (the child may be
/// filtered so that `brk`/`mmap` fail).
fn emit_err(msg: &str, n: i64) {
    let mut digits = [0u8; 24];
    let mut i = digits.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        digits[i] = b'-';
    }
    emit(msg.as_bytes());
    emit(&digits[i..]);
}

/// Sets no_new_privs (if there is a filter) and installs `f`; on failure
/// the layer that failed (0 for no_new_privs) and the errno. Allocates
/// nothing once a layer is installed.
pub(super) fn install(f: Filter) -> Result<(), (usize, i32)> {
    if matches!(f, Filter::None) {
        return Ok(());
    }
    // SAFETY: plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err((0, strbox::sys::errno()));
    }
    match f {
        Filter::None => {}
        Filter::Strbox {
            text,
            layers,
            top,
            top_layers,
        } => {
            for i in 0..layers + top_layers {
                let t = if i < layers { text } else { top };
                strbox::install(t).map_err(|e| (i + 1, e.errno))?;
            }
        }
        Filter::Seccomp {
            prog,
            layers,
            top,
            top_layers,
        } => {
            for i in 0..layers + top_layers {
                let p = if i < layers { prog } else { top };
                bpf::install(p).map_err(|e| (i + 1, e))?;
            }
        }
    }
    Ok(())
}

/// Forks a child with fd 0 = /dev/null, fd 1 = a pipe to the parent,
/// pinned to `cpu` if given, with `filter` installed (and no_new_privs
/// set if there is a filter); the child runs `body`, which reports
/// through [`emit`] and must not allocate, then exits. Returns what the
/// child wrote, or why it failed.
pub fn in_filtered_child(
    filter: Filter,
    cpu: Option<usize>,
    body: impl FnOnce(),
) -> Result<Vec<u8>, String> {
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    let (mut rd, wr) = pipe_cloexec().map_err(|e| format!("pipe: {e}"))?;
    let _ = io::stdout().flush();
    // SAFETY: the caller is single-threaded (the guest harness and the
    // benchmark never start threads before forking).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: in the child: put the pipe and /dev/null on fds 1 and 0
        // (dup2 clears O_CLOEXEC on the copies), pin the CPU; all
        // arguments are fds we own or a valid cpu_set_t.
        unsafe {
            libc::dup2(devnull.as_raw_fd(), 0);
            libc::dup2(wr.as_raw_fd(), 1);
            if let Some(c) = cpu {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(c, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
        drop(rd);
        drop(wr);
        drop(devnull);
        if let Err((layer, errno)) = install(filter) {
            emit_err("install failed at layer ", layer as i64);
            emit_err(", errno ", i64::from(errno));
            // SAFETY: leave the child at once.
            unsafe { libc::_exit(2) };
        }
        body();
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    let mut out = Vec::new();
    let read = rd.read_to_end(&mut out);
    let status = crate::guest_util::wait_pid(pid)?;
    read.map_err(|e| format!("reading the child's pipe: {e}"))?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        return Ok(out);
    }
    Err(format!(
        "child ended with {}: {}",
        crate::guest_util::describe_status(status),
        String::from_utf8_lossy(&out)
    ))
}
