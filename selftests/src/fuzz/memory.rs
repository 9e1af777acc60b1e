//! The workers' memory and its model: the [`Arena`] (one mapping, guard
//! pages between regions), [`Mem`] (what a call will find there) and
//! [`Sim`] (the model of a worker's layers).

use std::borrow::Cow;
use std::cell::RefCell;

use strbox::abi::{StrboxSetArgs, LAYER_HEADER_PREFIX, X32_SYSCALL_BIT};
use strbox_filter::uapi::tables::Arch;
use strbox_filter::{evaluate_chain, Program, Verdict};

use super::rng::Rng;
use super::POLICY_READ_MAX;

/// Protection of a region of the arena.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Prot {
    Read,
    ReadWrite,
}

/// One mapping (made before the first worker is forked, inherited by
/// every worker at the same address) holding every buffer a call
/// points at, each region followed by an inaccessible guard page.
pub(super) struct Arena {
    base: *mut u8,
    len: usize,
    pub(super) page: u64,
    pub(super) regions: Vec<(u64, u64, Prot)>,
    /// `struct strbox_set_args` goes here (2 pages, RW).
    pub(super) args: u64,
    pub(super) args_len: u64,
    /// A read-only page: [`RO_IMAGE`] (a struct, a timespec of zero, an
    /// invalid one, paths, a rejected policy).
    pub(super) ro: u64,
    /// Policy texts (RW, at least `POLICY_READ_MAX` plus two pages).
    pub(super) policy: u64,
    pub(super) policy_len: u64,
    /// Error records (1 page, RW).
    pub(super) record: u64,
    /// `PR_SECCOMP_GET` buffers (RW).
    pub(super) get: u64,
    pub(super) get_len: u64,
    /// What random syscalls may write into (2 pages, RW).
    pub(super) scratch: u64,
    pub(super) scratch_len: u64,
    /// The read-only page's content.
    ro_image: Vec<u8>,
}

/// Offsets in the read-only page.
pub(super) const RO_ZERO_TS: u64 = 64;
pub(super) const RO_BAD_TS: u64 = 1024;
pub(super) const RO_PATH_ROOT: u64 = 1088;
pub(super) const RO_PATH_STATUS: u64 = 1104;
pub(super) const RO_PATH_EMPTY: u64 = 1136;
pub(super) const RO_PATH_EXE: u64 = 1152;
pub(super) const RO_TEXT: u64 = 2048;
/// The rejected policy the read-only struct points at.
const RO_POLICY: &[u8] = b"frobnicate: 1\n";

impl Arena {
    pub(super) fn new() -> Result<Arena, String> {
        // SAFETY: sysconf has no memory arguments.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let round = |n: u64| n.div_ceil(page) * page;
        let args_len = 2 * page;
        let policy_len = round(POLICY_READ_MAX + 2 * page);
        let get_len = round(1 << 20);
        let scratch_len = 2 * page;
        // Layout: guard, args, guard, ro, guard, policy, guard, record,
        // guard, get, guard, scratch, guard.
        let sizes = [args_len, page, policy_len, page, get_len, scratch_len];
        let total = page + sizes.iter().map(|s| s + page).sum::<u64>();
        // SAFETY: a fresh anonymous private mapping, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("mmap arena: {}", std::io::Error::last_os_error()));
        }
        let mut a = Arena {
            base: base.cast(),
            len: total as usize,
            page,
            regions: Vec::new(),
            args: 0,
            args_len,
            ro: 0,
            policy: 0,
            policy_len,
            record: 0,
            get: 0,
            get_len,
            scratch: 0,
            scratch_len,
            ro_image: ro_image(page as usize),
        };
        let mut at = base as u64 + page;
        let mut starts = [0u64; 6];
        for (k, &size) in sizes.iter().enumerate() {
            starts[k] = at;
            a.regions.push((at, size, Prot::ReadWrite));
            at += size + page;
        }
        [a.args, a.ro, a.policy, a.record, a.get, a.scratch] = starts;
        a.regions[1].2 = Prot::Read;
        // The struct in the read-only page points at its policy text.
        let st = StrboxSetArgs {
            policy: a.ro + RO_TEXT,
            policy_len: RO_POLICY.len() as u64,
            flags: 0,
            error: 0,
        }
        .to_bytes();
        a.ro_image[..st.len()].copy_from_slice(&st);
        for &(start, size, prot) in &a.regions {
            // SAFETY: [start, start + size) lies inside the mapping made
            // above (the layout sums to `total`); only our own pages change.
            let r = unsafe {
                libc::mprotect(
                    start as *mut libc::c_void,
                    size as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if r != 0 {
                return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
            }
            if prot == Prot::Read {
                // SAFETY: `start` is the read-only page, writable for the
                // moment; no Rust reference points into it.
                let r = unsafe {
                    std::ptr::copy_nonoverlapping(
                        a.ro_image.as_ptr(),
                        start as *mut u8,
                        a.ro_image.len().min(size as usize),
                    );
                    libc::mprotect(start as *mut libc::c_void, size as usize, libc::PROT_READ)
                };
                if r != 0 {
                    return Err(format!("mprotect ro: {}", std::io::Error::last_os_error()));
                }
            }
        }
        Ok(a)
    }

    fn region_of(&self, addr: u64, len: u64) -> Option<Prot> {
        let end = addr.checked_add(len)?;
        self.regions
            .iter()
            .find(|&&(s, l, _)| addr >= s && end <= s + l)
            .map(|r| r.2)
    }

    /// Whether the kernel can read `len` bytes at `addr` (anything outside
    /// the arena that fuzz pointers use is unmapped or not user memory).
    fn readable(&self, addr: u64, len: u64) -> bool {
        len == 0 || self.region_of(addr, len).is_some()
    }

    /// Whether the kernel can write `len` bytes at `addr`.
    pub(super) fn writable(&self, addr: u64, len: u64) -> bool {
        len == 0 || self.region_of(addr, len) == Some(Prot::ReadWrite)
    }

    /// How many bytes from `addr` on are writable (0 outside RW regions).
    pub(super) fn writable_extent(&self, addr: u64) -> u64 {
        self.regions
            .iter()
            .find(|&&(s, l, p)| p == Prot::ReadWrite && addr >= s && addr < s + l)
            .map_or(0, |&(s, l, _)| s + l - addr)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no worker is alive any more.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

fn ro_image(page: usize) -> Vec<u8> {
    let mut p = vec![0u8; page];
    let put = |p: &mut Vec<u8>, at: u64, b: &[u8]| {
        p[at as usize..at as usize + b.len()].copy_from_slice(b);
    };
    // An invalid timespec: tv_nsec of 2e9.
    let mut ts = [0u8; 16];
    ts[8..].copy_from_slice(&2_000_000_000i64.to_ne_bytes());
    put(&mut p, RO_BAD_TS, &ts);
    put(&mut p, RO_PATH_ROOT, b"/\0");
    put(&mut p, RO_PATH_STATUS, b"/proc/self/status\0");
    put(&mut p, RO_PATH_EMPTY, b"\0");
    put(&mut p, RO_PATH_EXE, b"/proc/self/exe\0");
    put(&mut p, RO_TEXT, RO_POLICY);
    p
}

/// Addresses that are never accessible user memory.
pub(super) fn bad_pointer(rng: &mut Rng) -> u64 {
    match rng.below(7) {
        0 => 0,
        1 => 0x1000,
        2 => rng.below(0x1000) + 1,
        3 => 0xffff_8000_0000_0000 | (rng.bits() & 0x0000_7fff_ffff_fff8),
        4 => 0xffff_ffff_8100_0000 + rng.below(0x1000),
        5 => u64::MAX - rng.below(64),
        // Non-canonical on x86_64; above the 48-bit user range on arm64's
        // default layout, and never mapped either way.
        _ => (1u64 << 60) | (rng.bits() & 0x0fff_ffff_ffff_ffff),
    }
}

// ---------------------------------------------------------------------
// The model of a worker's memory for one call

/// What a worker writes into its arena right before a call.
pub(super) enum Wr {
    /// These bytes at this address.
    Bytes(u64, Vec<u8>),
    /// `len` copies of a byte.
    Fill(u64, usize, u8),
}

/// The bytes the kernel will find: the read-only page and what the worker
/// wrote for this call (later writes win).
pub(super) struct Mem<'a> {
    pub(super) arena: &'a Arena,
    pub(super) writes: Vec<Wr>,
    /// Writes the kernel itself makes during the call (the record clear).
    pub(super) kernel: Vec<(u64, Vec<u8>)>,
}

impl Mem<'_> {
    /// What `len` bytes at `addr` hold, or `None` when the kernel cannot
    /// read them. Every byte a call can read successfully was written by
    /// the worker for that call (or is in the read-only page).
    pub(super) fn read(&self, addr: u64, len: u64) -> Result<Option<Cow<'_, [u8]>>, String> {
        if !self.arena.readable(addr, len) {
            return Ok(None);
        }
        let end = addr + len;
        // Fast path: inside the last write that covers it, which nothing
        // after it overlaps.
        let overlaps = |at: u64, l: usize| at < end && at + l as u64 > addr;
        let kernel_overlaps = self.kernel.iter().any(|(at, b)| overlaps(*at, b.len()));
        if !kernel_overlaps {
            for (k, w) in self.writes.iter().enumerate().rev() {
                if let Wr::Bytes(at, b) = w {
                    if *at <= addr && end <= at + b.len() as u64 {
                        let later = self.writes[k + 1..].iter().any(|w| match w {
                            Wr::Bytes(at, b) => overlaps(*at, b.len()),
                            Wr::Fill(at, l, _) => overlaps(*at, *l),
                        });
                        if !later {
                            let s = (addr - at) as usize;
                            return Ok(Some(Cow::Borrowed(&b[s..s + len as usize])));
                        }
                    }
                }
            }
        }
        let n = len as usize;
        let mut out = vec![0u8; n];
        let mut covered: Vec<(u64, u64)> = Vec::new();
        let mut copy = |at: u64, src: Option<&[u8]>, fill: u8, slen: usize| {
            let (s, e) = (at.max(addr), (at + slen as u64).min(end));
            if s >= e {
                return;
            }
            let dst = &mut out[(s - addr) as usize..(e - addr) as usize];
            match src {
                Some(b) => dst.copy_from_slice(&b[(s - at) as usize..(e - at) as usize]),
                None => dst.fill(fill),
            }
            covered.push((s, e));
        };
        let ro = &self.arena.ro_image;
        copy(self.arena.ro, Some(ro), 0, ro.len());
        for w in &self.writes {
            match w {
                Wr::Bytes(at, b) => copy(*at, Some(b), 0, b.len()),
                Wr::Fill(at, l, v) => copy(*at, None, *v, *l),
            }
        }
        for (at, b) in &self.kernel {
            copy(*at, Some(b), 0, b.len());
        }
        covered.sort_unstable();
        let mut reach = addr;
        for (s, e) in covered {
            if s > reach {
                break;
            }
            reach = reach.max(e);
        }
        if reach >= end {
            Ok(Some(Cow::Owned(out)))
        } else {
            Err(format!(
                "model: {len} bytes at {addr:#x} not all written by the generator"
            ))
        }
    }
}

// ---------------------------------------------------------------------
// The model of a worker's layers

/// One accepted layer as the test process sees it.
pub(super) struct SimLayer {
    prog: Box<Program>,
    canon: String,
}

/// The worker's strbox state, as the model predicts it.
pub(super) struct Sim {
    arch: &'static Arch,
    pub(super) nnp: bool,
    /// Oldest first.
    pub(super) layers: Vec<SimLayer>,
}

impl Sim {
    pub(super) fn new(arch: &'static Arch, nnp: bool) -> Sim {
        Sim {
            arch,
            nnp,
            layers: Vec::new(),
        }
    }

    pub(super) fn predicates(&self) -> usize {
        self.layers.iter().map(|l| l.prog.predicate_count()).sum()
    }

    pub(super) fn push(&mut self, prog: Box<Program>) {
        let canon = strbox::policy::canonical(&prog, self.arch);
        self.layers.push(SimLayer { prog, canon });
    }

    fn header(i: usize, n: usize) -> String {
        format!("{LAYER_HEADER_PREFIX}{i}/{n}\n")
    }

    /// The length of what `PR_SECCOMP_GET` returns now.
    pub(super) fn text_len(&self) -> usize {
        let n = self.layers.len();
        (1..=n).map(|i| Sim::header(i, n).len()).sum::<usize>()
            + self.layers.iter().map(|l| l.canon.len()).sum::<usize>()
    }

    /// What `PR_SECCOMP_GET` returns now: each layer's canonical text after
    /// its header line, oldest first.
    pub(super) fn text(&self) -> Vec<u8> {
        let n = self.layers.len();
        let mut t = String::with_capacity(self.text_len());
        for (i, l) in self.layers.iter().enumerate() {
            t.push_str(&Sim::header(i + 1, n));
            t.push_str(&l.canon);
        }
        t.into_bytes()
    }

    /// Gives the compiled programs back to the pool.
    pub(super) fn recycle(self, pool: &RefCell<Vec<Box<Program>>>) {
        pool.borrow_mut()
            .extend(self.layers.into_iter().map(|l| l.prog));
    }

    /// The verdict the module's `sys_enter` probe gives syscall register
    /// `nr` with argument registers `args` (mirrors kmod/syscall_entry.rs:
    /// the entry code's number is the low 32 bits, sign-extended; negative
    /// numbers are never filtered; x86_64's x32 bit gets the chain's
    /// default action).
    pub(super) fn verdict(&self, nr: u64, args: &[u64; 6]) -> Verdict {
        if self.layers.is_empty() {
            return Verdict::Allow;
        }
        let id = nr as u32 as i32;
        if id < 0 {
            return Verdict::Allow;
        }
        if cfg!(target_arch = "x86_64") && nr & u64::from(X32_SYSCALL_BIT) != 0 {
            return self.layers.iter().rev().fold(Verdict::Allow, |acc, l| {
                l.prog.default_verdict().combine(acc)
            });
        }
        evaluate_chain(self.layers.iter().rev().map(|l| &*l.prog), id as u32, args)
    }
}
