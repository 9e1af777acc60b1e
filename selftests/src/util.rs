//! Helpers for guest tests.

use std::io;
use std::os::fd::RawFd;

pub use strbox_bench::guest_util::{
    describe_status, load_module, module_listed, unload_module, wait_pid, MODULE_PATH,
};

/// Kernel log text that means a kernel bug: the lines of
/// `qemu/bad-kernel-patterns.txt`, the list xtask judges the whole console
/// with.
pub fn bad_kernel_text() -> impl Iterator<Item = &'static str> {
    include_str!("../../qemu/bad-kernel-patterns.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Every record currently in the kernel log (/dev/kmsg, non-blocking), as
/// message text.
pub fn kmsg_read_all() -> Vec<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = Vec::new();
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return out;
    };
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                if let Some((_, msg)) = rec.split_once(';') {
                    out.push(msg.trim_end_matches('\n').to_string());
                }
            }
            // EPIPE: records were overwritten; keep reading.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    out
}

/// Forks; the child runs `f` and exits 0 if it returns Ok, 1 otherwise
/// (printing the error). Returns the child's raw wait status.
pub fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<i32, String> {
    // SAFETY: the guest test process is single-threaded when it forks here
    // (tests that make threads do so after their own forks).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = match f() {
            Ok(()) => 0,
            Err(e) => {
                println!("# child: {e}");
                1
            }
        };
        // SAFETY: leave the child without running the parent's atexit state.
        unsafe { libc::_exit(code) };
    }
    wait_pid(pid)
}

/// A pipe: `(read end, write end)`.
pub fn pipe() -> Result<(RawFd, RawFd), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    Ok((fds[0], fds[1]))
}

/// Writes all of `b` to `fd` in one call.
pub fn write_all(fd: RawFd, b: &[u8]) -> Result<(), String> {
    // SAFETY: b is valid for its length.
    let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
    crate::ensure!(n == b.len() as isize, "write({fd}): {n}");
    Ok(())
}

/// `dup2(from, to)`, result ignored.
pub fn dup2(from: RawFd, to: RawFd) {
    // SAFETY: plain fd operation.
    unsafe { libc::dup2(from, to) };
}

/// A new fd on /dev/null (read/write).
pub fn devnull() -> RawFd {
    // SAFETY: constant path.
    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) }
}

/// Non-blocking read of what is in a pipe.
pub fn drain(fd: RawFd) -> Vec<u8> {
    // SAFETY: fd operations on our own pipe; buf is valid.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        let mut buf = vec![0u8; 65536];
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::fcntl(fd, libc::F_SETFL, fl);
        buf.truncate(n.max(0) as usize);
        buf
    }
}

/// One page of anonymous shared memory: what a forked child writes there,
/// the parent sees after the child is gone. Unmapped on drop.
pub struct SharedPage(*mut libc::c_void);

impl SharedPage {
    pub const SIZE: usize = 4096;

    pub fn new() -> Result<SharedPage, String> {
        // SAFETY: a fresh anonymous mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", io::Error::last_os_error()));
        }
        Ok(SharedPage(p))
    }

    /// The start of the page as a `*mut T` (`T` must fit in a page).
    pub fn as_ptr<T>(&self) -> *mut T {
        const { assert!(std::mem::size_of::<T>() <= Self::SIZE) };
        self.0.cast()
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: our own mapping of SIZE bytes, unmapped once.
        unsafe { libc::munmap(self.0, Self::SIZE) };
    }
}

/// Load address of [`static_elf`]'s single segment.
pub const ELF_BASE: u64 = 0x40_0000;
/// Size of [`static_elf`]'s ELF and program headers: `code` starts at
/// `ELF_BASE + ELF_HEADERS` (the entry point).
pub const ELF_HEADERS: u64 = 64 + 56;

/// A minimal static ELF64 executable for `machine` (62: x86_64, 183:
/// aarch64): one `PT_LOAD` segment at [`ELF_BASE`] with permissions
/// `flags` (`PF_R` 4 | `PF_W` 2 | `PF_X` 1) and `memsz` bytes in memory
/// (its tail past the file is zero-filled), no sections, no interpreter;
/// execution starts at `code`. The suite's hand-made programs, whose only
/// syscalls are the ones their code makes.
pub fn static_elf(machine: u16, code: &[u8], flags: u32, memsz: u64) -> Vec<u8> {
    let size = ELF_HEADERS + code.len() as u64;
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]); // 64-bit, LE, v1
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&machine.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    e.extend_from_slice(&(ELF_BASE + ELF_HEADERS).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 1, 64, 0, 0] {
        // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
        e.extend_from_slice(&half.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&flags.to_le_bytes());
    e.extend_from_slice(&0u64.to_le_bytes()); // offset
    e.extend_from_slice(&ELF_BASE.to_le_bytes()); // vaddr
    e.extend_from_slice(&ELF_BASE.to_le_bytes()); // paddr
    e.extend_from_slice(&size.to_le_bytes()); // filesz
    e.extend_from_slice(&size.max(memsz).to_le_bytes()); // memsz
    e.extend_from_slice(&0x1000u64.to_le_bytes()); // align
    e.extend_from_slice(code);
    e
}
