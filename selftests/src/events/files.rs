//! `file_open` rules: what path (and flags) the hook sees for each way of
//! naming a file.

use std::os::fd::RawFd;

use super::super::child::{install, sc, spawn, Child};
use super::super::TestResult;
use super::{
    cs, expect_open, fresh_dir, ino, judge, mkfile, mklink, openat, soft_begin, soft_end, Want,
    DENY,
};
use crate::check;

const D: &str = "/tmp/evp";

/// The event-only policy of `events_file_open_paths`.
fn policy() -> String {
    format!(
        "default errno EXDEV\n\
         file_open: path == \"{D}/exact\" || path ~ \"{D}/ok/*\"\n\
         file_open: path ~ \"{D}/ro/*\" && flags in O_RDONLY|O_CLOEXEC\n\
         file_open: path ~ \"{D}/g?[0-9]x\"\n\
         file_open: path == \"{D}/q\\\"uote\" || path == \"{D}/\\x41bc\"\n\
         file_open: path ~ \"{D}/n/*\" && path != \"{D}/n/no\"\n\
         file_open: path ~ \"{D}/long/*\"\n"
    )
}

/// Directory levels of the long tree and the depth of its shallow file.
const LONG_LEVELS: usize = 17;
const SHALLOW_LEVEL: usize = 10;

/// Builds `D/long/A/A/...` (`A` = 250 bytes) with a file `f` at
/// [`SHALLOW_LEVEL`] (path under 4096 bytes) and at [`LONG_LEVELS`] (path
/// over PATH_MAX), and returns `O_PATH` fds of those two directories and
/// the inodes of the two files. The fds are opened before the install
/// (`O_PATH` opens are not file_open events anyway).
fn long_tree() -> Result<([RawFd; 2], [u64; 2]), String> {
    let name = cs(&"a".repeat(250));
    let mut dir = openat(libc::AT_FDCWD, &cs(D), libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| format!("open {D}: errno {e}"))?;
    let mut fds = [-1; 2];
    let mut inos = [0; 2];
    let mut path = format!("{D}/long");
    for level in 0..=LONG_LEVELS {
        let n = if level == 0 { cs("long") } else { name.clone() };
        // SAFETY: `dir` is an open directory fd and `n` a C string.
        if unsafe { libc::mkdirat(dir, n.as_ptr(), 0o755) } != 0 {
            return Err(format!(
                "mkdirat level {level}: {}",
                std::io::Error::last_os_error()
            ));
        }
        let next = openat(dir, &n, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| format!("open level {level}: errno {e}"))?;
        super::close(dir);
        dir = next;
        if level > 0 {
            path.push('/');
            path.push_str(&"a".repeat(250));
        }
        let slot = match level {
            SHALLOW_LEVEL => 0,
            LONG_LEVELS => 1,
            _ => continue,
        };
        let fd = openat(dir, &cs("f"), libc::O_CREAT | libc::O_WRONLY)
            .map_err(|e| format!("create f at level {level}: errno {e}"))?;
        inos[slot] = super::fd_ino(fd);
        super::close(fd);
        fds[slot] = openat(dir, &cs("."), libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| format!("reopen level {level}: errno {e}"))?;
    }
    super::close(dir);
    if path.len() + 2 <= 4096 {
        return Err(format!("the long path is only {} bytes", path.len() + 2));
    }
    Ok((fds, inos))
}

/// Every path the test creates (files, relative to `D`).
const FILES: &[&str] = &[
    "exact",
    "other",
    "secret",
    "okay",
    "ok/a",
    "ok/sub/deep",
    "ro/f",
    "gA5x",
    "gA5y",
    "gAAx",
    "q\"uote",
    "Abc",
    "n/yes",
    "n/no",
];

/// Allowed and denied opens by exact path, glob (`*` crossing `/`, `?`,
/// `[...]`), escaped literals, `!=` and `flags`; relative paths; symlinks
/// (the hook sees the target); `..`; `/proc/self/fd/N` re-opens (the hook
/// sees the file the magic link points to); openat2 RESOLVE_NO_SYMLINKS;
/// io_uring IORING_OP_OPENAT inline and forced to io-wq (IOSQE_ASYNC).
pub(super) fn events_file_open_paths() -> TestResult {
    fresh_dir(D)?;
    for f in FILES {
        mkfile(&format!("{D}/{f}"), f.as_bytes(), 0o644)?;
    }
    mklink("../secret", &format!("{D}/ok/link-to-secret"))?;
    mklink(&format!("{D}/exact"), &format!("{D}/link-to-exact"))?;
    mklink("a", &format!("{D}/ok/link-to-a"))?;
    let mut inos = std::collections::HashMap::new();
    for f in FILES {
        inos.insert(*f, ino(&format!("{D}/{f}"))?);
    }
    let i = |f: &str| Want::Ino(inos[f]);
    let p = |f: &str| format!("{D}/{f}");
    let deny = Want::Errno(DENY);
    let policy = policy();
    let (long_fds, long_inos) = long_tree()?;
    spawn(|| {
        install(&policy)?;
        soft_begin();
        let r = libc::O_RDONLY;
        // Exact path and globs.
        expect_open(&p("exact"), r, i("exact"))?;
        expect_open(&p("other"), r, deny)?;
        expect_open(&p("ok/a"), r, i("ok/a"))?;
        expect_open(&p("ok/sub/deep"), r, i("ok/sub/deep"))?;
        expect_open(&p("okay"), r, deny)?;
        expect_open(&p("gA5x"), r, i("gA5x"))?;
        expect_open(&p("gA5y"), r, deny)?;
        expect_open(&p("gAAx"), r, deny)?;
        expect_open(&p("q\"uote"), r, i("q\"uote"))?;
        expect_open(&p("Abc"), r, i("Abc"))?;
        expect_open(&p("n/yes"), r, i("n/yes"))?;
        expect_open(&p("n/no"), r, deny)?;
        // The directory itself is not under "ok/*" (opendir is judged too).
        expect_open(&p("ok"), r | libc::O_DIRECTORY, deny)?;
        // flags: the open's flags as the hook sees them: O_CLOEXEC is gone
        // (build_open_flags), O_LARGEFILE hidden (forced on 64-bit), but
        // O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC are still there
        // (do_dentry_open() drops them only after security_file_open()).
        expect_open(&p("ro/f"), r | libc::O_CLOEXEC, i("ro/f"))?;
        expect_open(&p("ro/f"), r | libc::O_CREAT, deny)?;
        expect_open(&p("ro/f"), r | libc::O_NOCTTY, deny)?;
        expect_open(&p("ro/f"), r | libc::O_TRUNC, deny)?;
        expect_open(&p("ro/f"), r | libc::O_LARGEFILE, i("ro/f"))?;
        expect_open(&p("ro/f"), libc::O_RDWR, deny)?;
        expect_open(&p("ro/f"), libc::O_WRONLY | libc::O_APPEND, deny)?;
        expect_open(&p("ro/f"), r | libc::O_NONBLOCK, deny)?;
        // `..` and `.` are resolved before the hook.
        expect_open(&format!("{D}/ok/../secret"), r, deny)?;
        expect_open(&format!("{D}/ok/../exact"), r, i("exact"))?;
        expect_open(&format!("{D}//ok/./sub/../a"), r, i("ok/a"))?;
        expect_open(&format!("{D}/other/../ok/a"), r, Want::Errno(libc::ENOTDIR))?;
        // Symlinks: the hook sees the target.
        expect_open(&p("ok/link-to-secret"), r, deny)?;
        expect_open(&p("link-to-exact"), r, i("exact"))?;
        expect_open(&p("ok/link-to-a"), r, i("ok/a"))?;
        // A path longer than PATH_MAX is denied (the hook cannot build it),
        // never truncated and compared: the deep file matches the allowing
        // glob's prefix, the shallow one is allowed by it.
        let f = cs("f");
        judge(
            "open at depth 10 (path < PATH_MAX)",
            openat(long_fds[0], &f, r),
            Want::Ino(long_inos[0]),
        )?;
        judge(
            "open at depth 17 (path > PATH_MAX)",
            openat(long_fds[1], &f, r),
            deny,
        )?;
        relative(&i, deny)?;
        proc_fd(&p, &i, deny)?;
        openat2(&p, &i, deny)?;
        uring(&p, &i, deny)?;
        soft_end()
    })?
    .ok("file_open paths")
}

/// Relative paths are resolved against the cwd (rules use absolute ones).
fn relative(i: &dyn Fn(&str) -> Want, deny: Want) -> Child {
    let chdir = |d: &str| {
        let c = cs(d);
        // SAFETY: a valid C string.
        unsafe { libc::chdir(c.as_ptr()) }
    };
    check!(chdir(&format!("{D}/ok")) == 0, "chdir ok");
    expect_open("a", libc::O_RDONLY, i("ok/a"))?;
    expect_open("sub/deep", libc::O_RDONLY, i("ok/sub/deep"))?;
    expect_open("../secret", libc::O_RDONLY, deny)?;
    expect_open("../exact", libc::O_RDONLY, i("exact"))?;
    check!(chdir(D) == 0, "chdir {D}");
    expect_open("exact", libc::O_RDONLY, i("exact"))?;
    expect_open("other", libc::O_RDONLY, deny)?;
    expect_open("./ok/../ok/a", libc::O_RDONLY, i("ok/a"))?;
    // openat relative to a directory fd (O_PATH: not judged itself).
    let dfd = openat(libc::AT_FDCWD, c"ok", libc::O_PATH | libc::O_DIRECTORY);
    check!(dfd.is_ok(), "O_PATH open of the ok/ directory = {dfd:?}");
    let dfd = dfd.unwrap_or(-1);
    judge(
        "openat(okfd, \"a\")",
        openat(dfd, c"a", libc::O_RDONLY),
        i("ok/a"),
    )?;
    judge(
        "openat(okfd, \"../secret\")",
        openat(dfd, c"../secret", libc::O_RDONLY),
        deny,
    )?;
    super::close(dfd);
    check!(chdir("/") == 0, "chdir /");
    Ok(())
}

/// Re-opens through /proc/self/fd/N: the hook sees the path of the file
/// the fd refers to (d_path of the magic link's target), not
/// "/proc/self/fd/N". An O_PATH open never reaches security_file_open (the
/// kernel returns before it), so an O_PATH fd of a denied file exists; its
/// re-open for reading is judged and denied.
fn proc_fd(p: &dyn Fn(&str) -> String, i: &dyn Fn(&str) -> Want, deny: Want) -> Child {
    let fd = openat(libc::AT_FDCWD, &cs(&p("ok/a")), libc::O_RDONLY);
    check!(fd.is_ok(), "open ok/a = {fd:?}");
    let fd = fd.unwrap_or(-1);
    expect_open(&format!("/proc/self/fd/{fd}"), libc::O_RDONLY, i("ok/a"))?;
    super::close(fd);
    let pfd = openat(libc::AT_FDCWD, &cs(&p("secret")), libc::O_PATH);
    check!(
        pfd.is_ok(),
        "O_PATH open of a denied file = {pfd:?} (O_PATH opens do not call security_file_open)"
    );
    let pfd = pfd.unwrap_or(-1);
    expect_open(&format!("/proc/self/fd/{pfd}"), libc::O_RDONLY, deny)?;
    super::close(pfd);
    // An O_PATH fd of an allowed file re-opens fine.
    let pfd = openat(libc::AT_FDCWD, &cs(&p("exact")), libc::O_PATH).unwrap_or(-1);
    expect_open(&format!("/proc/self/fd/{pfd}"), libc::O_RDONLY, i("exact"))?;
    super::close(pfd);
    Ok(())
}

/// `struct open_how`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const SYS_OPENAT2: libc::c_long = 437;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;

fn openat2_raw(path: &str, resolve: u64) -> Result<RawFd, i32> {
    let c = cs(path);
    let how = OpenHow {
        flags: libc::O_RDONLY as u64,
        mode: 0,
        resolve,
    };
    sc(
        SYS_OPENAT2,
        [
            libc::AT_FDCWD as i64 as u64,
            c.as_ptr() as u64,
            &how as *const OpenHow as u64,
            std::mem::size_of::<OpenHow>() as u64,
            0,
            0,
        ],
    )
    .map(|fd| fd as RawFd)
}

/// openat2 with RESOLVE_NO_SYMLINKS: allowed and denied files; a symlink
/// to an allowed file still fails with the kernel's ELOOP.
fn openat2(p: &dyn Fn(&str) -> String, i: &dyn Fn(&str) -> Want, deny: Want) -> Child {
    judge(
        "openat2(ok/a)",
        openat2_raw(&p("ok/a"), RESOLVE_NO_SYMLINKS),
        i("ok/a"),
    )?;
    judge(
        "openat2(secret)",
        openat2_raw(&p("secret"), RESOLVE_NO_SYMLINKS),
        deny,
    )?;
    judge(
        "openat2(link-to-exact, RESOLVE_NO_SYMLINKS)",
        openat2_raw(&p("link-to-exact"), RESOLVE_NO_SYMLINKS),
        Want::Errno(libc::ELOOP),
    )?;
    judge(
        "openat2(link-to-exact)",
        openat2_raw(&p("link-to-exact"), 0),
        i("exact"),
    )?;
    Ok(())
}

const SYS_IO_URING_SETUP: libc::c_long = 425;
const SYS_IO_URING_ENTER: libc::c_long = 426;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_OP_OPENAT: u8 = 18;
const IOSQE_ASYNC: u8 = 1 << 4;
const IORING_ENTER_GETEVENTS: u64 = 1;

/// `struct io_uring_params` (120 bytes): the ring offsets are at
/// `sq_off` (u32 words 10..20) and `cq_off` (words 20..30).
#[repr(C)]
struct UringParams {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    /// head, tail, ring_mask, ring_entries, flags, dropped, array, resv1,
    /// user_addr (u64).
    sq_off: [u32; 10],
    /// head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1,
    /// user_addr (u64).
    cq_off: [u32; 10],
}

/// A minimal io_uring: one SQE at a time, waited for.
struct Ring {
    fd: RawFd,
    sq: *mut u8,
    sq_len: usize,
    cq: *mut u8,
    cq_len: usize,
    sqes: *mut u8,
    sqes_len: usize,
    p: UringParams,
}

fn map(fd: RawFd, len: usize, off: i64) -> Result<*mut u8, i32> {
    // SAFETY: a shared mapping of the ring fd at an io_uring offset.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            off,
        )
    };
    if m == libc::MAP_FAILED {
        Err(strbox::sys::errno())
    } else {
        Ok(m.cast())
    }
}

impl Ring {
    fn new() -> Result<Ring, String> {
        // SAFETY: all-zero params are the documented input.
        let mut p: UringParams = unsafe { std::mem::zeroed() };
        let fd = sc(
            SYS_IO_URING_SETUP,
            [4, &mut p as *mut UringParams as u64, 0, 0, 0, 0],
        )
        .map_err(|e| format!("io_uring_setup: errno {e}"))? as RawFd;
        let sq_len = p.sq_off[6] as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off[5] as usize + p.cq_entries as usize * 16;
        let sqes_len = p.sq_entries as usize * 64;
        let sq = map(fd, sq_len, IORING_OFF_SQ_RING).map_err(|e| format!("mmap sq: {e}"))?;
        let cq = map(fd, cq_len, IORING_OFF_CQ_RING).map_err(|e| format!("mmap cq: {e}"))?;
        let sqes = map(fd, sqes_len, IORING_OFF_SQES).map_err(|e| format!("mmap sqes: {e}"))?;
        Ok(Ring {
            fd,
            sq,
            sq_len,
            cq,
            cq_len,
            sqes,
            sqes_len,
            p,
        })
    }

    fn u32_at(base: *mut u8, off: u32) -> &'static std::sync::atomic::AtomicU32 {
        // SAFETY: `off` is a 4-aligned ring offset the kernel gave, inside
        // a mapping that lives until the Ring is dropped (the reference is
        // only used while it lives).
        unsafe {
            &*base
                .add(off as usize)
                .cast::<std::sync::atomic::AtomicU32>()
        }
    }

    /// Submits IORING_OP_OPENAT(AT_FDCWD, path, flags) with `sqe_flags`
    /// and returns the completion's `res`.
    fn openat(&self, path: &std::ffi::CStr, flags: i32, sqe_flags: u8) -> Result<i32, String> {
        use std::sync::atomic::Ordering::{Acquire, Release};
        let tail = Self::u32_at(self.sq, self.p.sq_off[1]);
        let mask = Self::u32_at(self.sq, self.p.sq_off[2]).load(Acquire);
        let t = tail.load(Acquire);
        let idx = t & mask;
        let mut sqe = [0u8; 64];
        sqe[0] = IORING_OP_OPENAT;
        sqe[1] = sqe_flags;
        sqe[4..8].copy_from_slice(&libc::AT_FDCWD.to_ne_bytes());
        sqe[16..24].copy_from_slice(&(path.as_ptr() as u64).to_ne_bytes());
        sqe[28..32].copy_from_slice(&(flags as u32).to_ne_bytes());
        sqe[32..40].copy_from_slice(&0x5eb0_u64.to_ne_bytes());
        // SAFETY: idx < sq_entries, so the 64-byte SQE and the array slot
        // are inside their mappings.
        unsafe {
            std::ptr::copy_nonoverlapping(sqe.as_ptr(), self.sqes.add(idx as usize * 64), 64);
            self.sq
                .add(self.p.sq_off[6] as usize + idx as usize * 4)
                .cast::<u32>()
                .write_volatile(idx);
        }
        tail.store(t.wrapping_add(1), Release);
        let n = sc(
            SYS_IO_URING_ENTER,
            [self.fd as u64, 1, 1, IORING_ENTER_GETEVENTS, 0, 0],
        )
        .map_err(|e| format!("io_uring_enter: errno {e}"))?;
        if n != 1 {
            return Err(format!("io_uring_enter submitted {n}"));
        }
        let chead = Self::u32_at(self.cq, self.p.cq_off[0]);
        let ctail = Self::u32_at(self.cq, self.p.cq_off[1]);
        let cmask = Self::u32_at(self.cq, self.p.cq_off[2]).load(Acquire);
        let h = chead.load(Acquire);
        if ctail.load(Acquire) == h {
            return Err("no completion after io_uring_enter(GETEVENTS, 1)".into());
        }
        // SAFETY: the CQE slot is inside the CQ mapping.
        let (ud, res) = unsafe {
            let c = self
                .cq
                .add(self.p.cq_off[5] as usize + (h & cmask) as usize * 16);
            (
                c.cast::<u64>().read_volatile(),
                c.add(8).cast::<i32>().read_volatile(),
            )
        };
        chead.store(h.wrapping_add(1), Release);
        if ud != 0x5eb0 {
            return Err(format!("completion user_data {ud:#x}"));
        }
        Ok(res)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: our own mappings and fd, released once.
        unsafe {
            libc::munmap(self.sq.cast(), self.sq_len);
            libc::munmap(self.cq.cast(), self.cq_len);
            libc::munmap(self.sqes.cast(), self.sqes_len);
            libc::close(self.fd);
        }
    }
}

/// IORING_OP_OPENAT is judged by file_open whether the submitting task
/// runs it inline or an io-wq worker does (IOSQE_ASYNC): the worker has
/// the submitter's chain. The ring is set up after the install, as a
/// sandboxed program would.
fn uring(p: &dyn Fn(&str) -> String, i: &dyn Fn(&str) -> Want, deny: Want) -> Child {
    let ring = Ring::new();
    check!(ring.is_ok(), "io_uring: {}", ring.err().unwrap_or_default());
    let Ok(ring) = ring else { return Ok(()) };
    for (how, sqe_flags) in [("inline", 0u8), ("IOSQE_ASYNC", IOSQE_ASYNC)] {
        // Not ro/f: io_uring's inline attempt opens with O_NONBLOCK added
        // (io_openat2(), removed again after the open), so a `flags` rule
        // sees it there and not on io-wq — and which path runs depends on
        // the dcache (LOOKUP_CACHED). Paths are judged alike on both.
        for (f, want) in [
            ("secret", deny),
            ("ok/a", i("ok/a")),
            ("link-to-exact", i("exact")),
        ] {
            let path = cs(&p(f));
            let res = ring.openat(&path, libc::O_RDONLY, sqe_flags);
            check!(
                res.is_ok(),
                "io_uring {how} {f}: {}",
                res.err().unwrap_or_default()
            );
            let res = res.unwrap_or(0);
            let r = if res < 0 { Err(-res) } else { Ok(res) };
            judge(&format!("IORING_OP_OPENAT {how} {f}"), r, want)?;
        }
    }
    Ok(())
}
