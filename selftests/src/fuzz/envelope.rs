//! Inputs and their prediction: a text in an [`Envelope`] (where the
//! struct, the text and the error record are), the steps a worker makes,
//! and the placement and exact prediction of `PR_SECCOMP_SET` /
//! `PR_SECCOMP_GET` calls.

use std::cell::RefCell;

use strbox::abi::{
    StrboxSetArgs, MAX_CHAIN_PREDICATES, MAX_LAYERS, MAX_POLICY_BYTES, PR_SECCOMP_GET,
    PR_SECCOMP_SET, STRBOX_ERROR_SIZE, STRBOX_SET_ARGS_SIZE_MAX, STRBOX_SET_ARGS_SIZE_VER0,
    STRBOX_SET_FLAGS_ALL, STRBOX_SET_TSYNC,
};
use strbox_filter::uapi::tables::Arch;
use strbox_filter::{ErrorCode, Program, Scratch, Verdict};

use super::memory::{bad_pointer, Arena, Mem, Sim, Wr, RO_PATH_ROOT, RO_TEXT};
use super::policies::{gen_hostile, gen_policy, mutate, parse_dict, Origin};
use super::rng::Rng;
use super::{seeds, POLICY_READ_MAX};

/// Where the struct is.
#[derive(Clone, Copy, Debug)]
enum ArgsAt {
    /// At this offset of the args region (room for `size` bytes).
    Page(u64),
    /// Only the first `k` bytes are readable (the rest is a guard page).
    Cross(u64),
    /// The fixed struct in the read-only page.
    Ro,
    Bad(u64),
}

/// Where the text is.
#[derive(Clone, Copy, Debug)]
enum TextAt {
    /// At this offset of the policy region.
    Region(u64),
    /// Ending exactly at the guard page after the policy region.
    EndAtGuard,
    /// Somewhere in the read-only page.
    Ro(u64),
    Bad(u64),
}

/// Where the error record is.
#[derive(Clone, Copy, Debug)]
enum RecordAt {
    None,
    /// At this offset of the record page.
    Page(u64),
    /// Only `k` (< 16) bytes writable before the guard page.
    Cross(u64),
    /// In the read-only page.
    Ro,
    /// Inside the policy text, `k` bytes after its start.
    AliasText(u64),
    Bad(u64),
}

/// How a `PR_SECCOMP_SET` is made.
#[derive(Clone, Debug)]
pub(super) struct Envelope {
    option_hi: u64,
    size: u64,
    /// A non-zero byte at this offset of the struct's tail, if any.
    tail_byte: Option<u64>,
    args_at: ArgsAt,
    text_at: TextAt,
    /// `policy_len`: `None` = the text's length.
    policy_len: Option<u64>,
    /// What follows the text up to `policy_len` (`None`: nothing, the text
    /// ends at the guard page so a longer read faults).
    filler: Option<u8>,
    flags: u64,
    record_at: RecordAt,
    arg4: u64,
    arg5: u64,
}

pub(super) fn gen_envelope(rng: &mut Rng, text_len: usize) -> Envelope {
    let mut e = Envelope {
        option_hi: 0,
        size: STRBOX_SET_ARGS_SIZE_VER0 as u64,
        tail_byte: None,
        args_at: ArgsAt::Page(0),
        text_at: TextAt::Region(0),
        policy_len: None,
        filler: Some(b' '),
        flags: 0,
        record_at: RecordAt::Page(0),
        arg4: 0,
        arg5: 0,
    };
    // Clean, with the usual variations.
    if rng.chance(1, 4) {
        e.flags = STRBOX_SET_TSYNC;
    }
    if rng.chance(1, 4) {
        e.size = rng.range(33, 512);
    }
    if rng.chance(1, 3) {
        e.args_at = ArgsAt::Page(rng.below(64));
    }
    if rng.chance(1, 3) {
        e.text_at = if rng.chance(1, 2) {
            TextAt::EndAtGuard
        } else {
            TextAt::Region(rng.below(4096))
        };
    }
    e.record_at = match rng.below(6) {
        0 => RecordAt::None,
        1 => RecordAt::Page(rng.below(4096 - 16)),
        _ => RecordAt::Page(0),
    };
    if rng.chance(1, 16) {
        e.option_hi = rng.bits() << 32;
    }
    if rng.chance(8, 10) {
        return e;
    }
    // Hostile: each part with some probability.
    if rng.chance(1, 3) {
        e.size = match rng.below(8) {
            0 => 0,
            1 => rng.below(32),
            2 => STRBOX_SET_ARGS_SIZE_MAX as u64,
            3 => STRBOX_SET_ARGS_SIZE_MAX as u64 + 1,
            4 => u64::MAX - rng.below(2),
            5 => (1 << 32) | 32,
            6 => rng.range(33, 4097),
            _ => rng.bits(),
        };
    }
    if e.size > 32 && rng.chance(1, 3) {
        let tail = e.size.min(STRBOX_SET_ARGS_SIZE_MAX as u64) - 32;
        if tail > 0 {
            e.tail_byte = Some(32 + rng.below(tail));
        }
    }
    if rng.chance(1, 4) {
        e.args_at = match rng.below(5) {
            0 => ArgsAt::Cross(rng.below(e.size.clamp(1, 4096))),
            1 => ArgsAt::Ro,
            2 => ArgsAt::Page(1 + 8 * rng.below(4)),
            _ => ArgsAt::Bad(bad_pointer(rng)),
        };
    }
    if rng.chance(1, 4) {
        e.text_at = match rng.below(4) {
            0 => TextAt::Ro(*rng.pick(&[RO_TEXT, 0, RO_PATH_ROOT, 4096 - 8])),
            1 => TextAt::EndAtGuard,
            _ => TextAt::Bad(bad_pointer(rng)),
        };
    }
    if rng.chance(1, 4) {
        let t = text_len as u64;
        let r = rng.below(10);
        e.policy_len = Some(match r {
            0 => 0,
            1 => t + 1,
            2 => t.saturating_sub(1),
            3 => u64::MAX,
            4 => POLICY_READ_MAX,
            5 => MAX_POLICY_BYTES as u64,
            6 => t + rng.below(100),
            7 => (1 << 32) | t,
            _ => rng.below(t + 1),
        });
        e.filler = if rng.chance(1, 4) {
            // The read runs into the guard page after the text.
            e.text_at = TextAt::EndAtGuard;
            None
        } else {
            Some(*rng.pick(&[b' ', b'\n', 0, b'#', b'x']))
        };
    }
    if rng.chance(1, 4) {
        e.flags = match rng.below(5) {
            0 => 2,
            1 => 1 << 63,
            2 => rng.bits(),
            3 => STRBOX_SET_FLAGS_ALL | 4,
            _ => !STRBOX_SET_FLAGS_ALL,
        };
    }
    if rng.chance(1, 3) {
        e.record_at = match rng.below(5) {
            0 => RecordAt::Cross(1 + rng.below(15)),
            1 => RecordAt::Ro,
            2 => RecordAt::AliasText(rng.below(64)),
            3 => RecordAt::Page(1 + 2 * rng.below(8)),
            _ => RecordAt::Bad(bad_pointer(rng).max(1)),
        };
    }
    if rng.chance(1, 8) {
        if rng.chance(1, 2) {
            e.arg4 = 1 + rng.below(u64::MAX - 1);
        } else {
            e.arg5 = *rng.pick(&[1, u64::MAX, 1 << 32]);
        }
    }
    e
}

/// The text of input `index`: its origin and bytes.
pub(super) fn gen_text(ctx: &Ctx, index: usize, rng: &mut Rng) -> (Origin, Vec<u8>) {
    // In every 1024 inputs, one block of 64 favours layers near the
    // compiled-size limit, so that some chains reach MAX_CHAIN_PREDICATES
    // (ENOSPC), and one has only generated policies (which mostly allow
    // prctl), so that some workers stack MAX_LAYERS layers (EMLINK).
    let block = (index / 64) % 16;
    let big = if block == 7 { 2 } else { 30 };
    let corpus = seeds::CORPUS;
    let pick = |rng: &mut Rng| -> &[u8] {
        if corpus.is_empty() {
            b"read: fd == 0\n"
        } else {
            corpus[rng.index(corpus.len())]
        }
    };
    let class = if block == 11 {
        rng.range(42, 78)
    } else {
        rng.below(100)
    };
    match class {
        0..=5 => (Origin::Corpus, pick(rng).to_vec()),
        6..=41 => {
            let (a, b) = (pick(rng), pick(rng));
            (Origin::Mutated, mutate(rng, a, b, &ctx.dict))
        }
        42..=77 => (Origin::Generated, gen_policy(rng, ctx.arch, big)),
        78..=89 => {
            let g = gen_policy(rng, ctx.arch, big);
            let o = pick(rng);
            (Origin::Mutated, mutate(rng, &g, o, &ctx.dict))
        }
        _ => (Origin::Hostile, gen_hostile(rng, &ctx.dict)),
    }
}

// ---------------------------------------------------------------------
// Steps: the calls a worker makes, each predicted

/// What a call must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// Return exactly this raw value (`-errno` on failure).
    Ret(i64),
    /// Return one of these (a struct both unreadable and with non-zero
    /// bytes past the known fields: docs/abi.md allows both errnos).
    Either(i64, i64),
    /// Anything: a random syscall the layers let run.
    Any,
    /// Never return: a `kill` verdict.
    Killed,
    /// End the process with status 0 (`exit_group` the layers allow).
    Exits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StepKind {
    /// An input's `PR_SECCOMP_SET`.
    Set,
    /// `PR_SECCOMP_GET(NULL, 0)` after a SET: the length of the text.
    LenCheck,
    /// A `PR_SECCOMP_GET` probe with random arguments.
    Get,
    /// The next input's `PR_SECCOMP_SET` that the layers deny (errno).
    Denied,
    /// The next input's `PR_SECCOMP_SET` that the layers kill.
    KillProbe,
    /// A random syscall.
    Random,
    /// `exit_group(0)`.
    Exit,
}

/// A memory check after a call returned.
pub(super) struct Check {
    pub(super) addr: u64,
    pub(super) want: Vec<u8>,
    pub(super) what: &'static str,
}

/// One call of a worker.
pub(super) struct Step {
    pub(super) kind: StepKind,
    /// Input index (SET/GET/LenCheck/Denied/KillProbe) or call number.
    pub(super) input: usize,
    /// Syscall name (for messages).
    pub(super) name: &'static str,
    pub(super) nr: u64,
    pub(super) args: [u64; 6],
    pub(super) verdict: Verdict,
    pub(super) expect: Expect,
    pub(super) writes: Vec<Wr>,
    pub(super) checks: Vec<Check>,
}

/// A SET call, placed in memory and predicted.
pub(super) struct SetCall {
    pub(super) args: [u64; 6],
    pub(super) writes: Vec<Wr>,
    pub(super) expect: Expect,
    pub(super) checks: Vec<Check>,
    pub(super) accepted: Option<Box<Program>>,
    /// The error record's address and bytes before the call, when it is
    /// writable memory the worker filled.
    pub(super) record_before: Option<(u64, Vec<u8>)>,
}

/// Everything the parent needs to generate and predict.
pub(super) struct Ctx<'a> {
    pub(super) seed: u64,
    pub(super) arch: &'static Arch,
    pub(super) arena: &'a Arena,
    dict: Vec<Vec<u8>>,
    /// The host compiler's working memory, reused for every input.
    scratch: RefCell<Box<Scratch>>,
    prog: RefCell<Box<Program>>,
    /// Programs of finished batches, for reuse (fewer large allocations:
    /// every fresh page is a page fault, slow on debug kernels).
    pub(super) programs: RefCell<Vec<Box<Program>>>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(seed: u64, arch: &'static Arch, arena: &'a Arena) -> Ctx<'a> {
        Ctx {
            seed,
            arch,
            arena,
            dict: parse_dict(seeds::DICT),
            scratch: RefCell::new(Box::new(Scratch::new())),
            prog: RefCell::new(Box::new(Program::new())),
            programs: RefCell::new(Vec::new()),
        }
    }
}

fn neg(errno: i32) -> i64 {
    -i64::from(errno)
}

/// Places input `text` with envelope `e` in the worker's memory: the
/// registers and the writes.
fn place_set(a: &Arena, text: Vec<u8>, e: &Envelope) -> ([u64; 6], Vec<Wr>, u64) {
    let mut writes = Vec::new();
    // The policy image: what the kernel reads, starting with the text.
    let policy_len = e.policy_len.unwrap_or(text.len() as u64);
    let read_len = policy_len.min(POLICY_READ_MAX);
    let image_len = match e.filler {
        Some(_) => read_len.max(text.len() as u64) as usize,
        None => text.len(),
    };
    let room = |n: usize| a.policy_len.saturating_sub(n as u64);
    let p = match e.text_at {
        TextAt::Region(off) => a.policy + off.min(room(image_len)),
        TextAt::EndAtGuard => a.policy + room(image_len),
        TextAt::Ro(off) => a.ro + off,
        TextAt::Bad(b) => b,
    };
    let in_region = matches!(e.text_at, TextAt::Region(_) | TextAt::EndAtGuard);
    let written = if in_region {
        let n = image_len.min(a.writable_extent(p) as usize);
        let mut image = text;
        image.resize(n, e.filler.unwrap_or(0));
        writes.push(Wr::Bytes(p, image));
        n as u64
    } else {
        0
    };
    // The record.
    let rec = match e.record_at {
        RecordAt::None => 0,
        RecordAt::Page(off) => a.record + off.min(a.page - 16),
        RecordAt::Cross(k) => a.record + a.page - k,
        RecordAt::Ro => a.ro + 512,
        RecordAt::AliasText(k) if written >= k + 16 => p + k,
        RecordAt::AliasText(_) => a.record,
        RecordAt::Bad(b) => b,
    };
    if rec >= a.record && rec < a.record + a.page {
        let n = a.writable_extent(rec).min(16) as usize;
        writes.push(Wr::Fill(rec, n, 0xa5));
    }
    // The struct.
    let head = StrboxSetArgs {
        policy: p,
        policy_len,
        flags: e.flags,
        error: rec,
    }
    .to_bytes();
    let struct_len = e.size.clamp(32, STRBOX_SET_ARGS_SIZE_MAX as u64);
    let mut st = head.to_vec();
    st.resize(struct_len as usize, 0);
    if let Some(t) = e.tail_byte {
        if let Some(b) = st.get_mut(t as usize) {
            *b = 0x5a;
        }
    }
    let sp = match e.args_at {
        ArgsAt::Page(off) => a.args + off.min(a.args_len - struct_len),
        ArgsAt::Cross(k) => a.args + a.args_len - k.min(struct_len - 1),
        ArgsAt::Ro => a.ro,
        ArgsAt::Bad(b) => b,
    };
    if matches!(e.args_at, ArgsAt::Page(_) | ArgsAt::Cross(_)) {
        let n = (a.writable_extent(sp) as usize).min(st.len());
        writes.push(Wr::Bytes(sp, st[..n].to_vec()));
    }
    let option = u64::from(PR_SECCOMP_SET) | e.option_hi;
    ([option, sp, e.size, e.arg4, e.arg5, 0], writes, rec)
}

/// What [`predict_set`] returns: the expectation, the memory checks and
/// the compiled program if the layer is installed.
type Prediction = (Expect, Vec<Check>, Option<Box<Program>>);

/// Predicts the module's answer to a placed SET (whose prctl passed the
/// caller's layers): the documented checks over the model of the worker's
/// memory, in the order the module makes them. (docs/abi.md's table lists
/// "the policy text is not accessible" (EFAULT) before the `flags` and
/// `EACCES` checks; the module reads the text after them, as seccomp
/// copies a filter after its flag and privilege checks. Either answer is a
/// documented errno; this model holds the module to its actual order.) Returns the expectation, the memory
/// checks and the compiled program if the layer is installed.
fn predict_set(
    ctx: &Ctx,
    sim: &Sim,
    args: &[u64; 6],
    mem: &mut Mem,
    record_before: &Option<(u64, Vec<u8>)>,
) -> Result<Prediction, String> {
    let a = ctx.arena;
    let (sp, size) = (args[1], args[2]);
    let mut checks = Vec::new();
    let untouched = |e: Expect| {
        let mut checks = Vec::new();
        if let Some((at, b)) = record_before {
            checks.push(Check {
                addr: *at,
                want: b.clone(),
                what: "error record (must be untouched)",
            });
        }
        Ok((e, checks, None))
    };
    if args[3] != 0 || args[4] != 0 || size < STRBOX_SET_ARGS_SIZE_VER0 as u64 {
        return untouched(Expect::Ret(neg(libc::EINVAL)));
    }
    if size > STRBOX_SET_ARGS_SIZE_MAX as u64 {
        return untouched(Expect::Ret(neg(libc::E2BIG)));
    }
    // The struct: the head, then the tail (in 64-byte chunks: a chunk
    // that is only partly readable faults, so a struct that is both
    // unreadable and has non-zero bytes in its readable tail may get
    // either errno).
    let extent = a
        .regions
        .iter()
        .find(|&&(s, l, _)| sp >= s && sp < s + l)
        .map_or(0, |&(s, l, _)| s + l - sp);
    let visible = extent.min(size);
    let nonzero_tail = visible > 32
        && mem
            .read(sp + 32, visible - 32)?
            .is_some_and(|b| b.iter().any(|&x| x != 0));
    let full = visible == size;
    let head = match mem.read(sp, 32)? {
        Some(h) if full && !nonzero_tail => h,
        Some(_) if full => return untouched(Expect::Ret(neg(libc::E2BIG))),
        Some(_) if nonzero_tail => {
            return untouched(Expect::Either(neg(libc::E2BIG), neg(libc::EFAULT)))
        }
        _ => return untouched(Expect::Ret(neg(libc::EFAULT))),
    };
    let mut hb = [0u8; STRBOX_SET_ARGS_SIZE_VER0];
    hb.copy_from_slice(&head);
    let got = StrboxSetArgs::from_bytes(&hb);
    // The record is cleared (EFAULT if it cannot be; its bytes are then
    // not ours to check).
    if got.error != 0 {
        if !a.writable(got.error, 16) {
            return Ok((Expect::Ret(neg(libc::EFAULT)), checks, None));
        }
        mem.kernel.push((got.error, vec![0; 16]));
    }
    let record = |checks: &mut Vec<Check>, bytes: [u8; STRBOX_ERROR_SIZE]| {
        if got.error != 0 {
            checks.push(Check {
                addr: got.error,
                want: bytes.to_vec(),
                what: "error record",
            });
        }
    };
    let zeros = [0u8; STRBOX_ERROR_SIZE];
    let fail = |mut checks: Vec<Check>, errno: i32| {
        record(&mut checks, zeros);
        Ok((Expect::Ret(neg(errno)), checks, None))
    };
    if got.flags & !STRBOX_SET_FLAGS_ALL != 0 {
        return fail(checks, libc::EINVAL);
    }
    if !sim.nnp {
        return fail(checks, libc::EACCES);
    }
    let rl = got.policy_len.min(POLICY_READ_MAX);
    let Some(bytes) = mem.read(got.policy, rl)? else {
        return fail(checks, libc::EFAULT);
    };
    let compiled = {
        let mut scratch = ctx.scratch.borrow_mut();
        let mut prog = ctx.prog.borrow_mut();
        strbox_filter::compile(&bytes, ctx.arch, &mut scratch, &mut prog).map(|()| {
            match ctx.programs.borrow_mut().pop() {
                Some(mut b) => {
                    b.clone_from(&prog);
                    b
                }
                None => Box::new((**prog).clone()),
            }
        })
    };
    match compiled {
        Err(pe) => {
            let errno = if pe.code == ErrorCode::PolicyTooLarge {
                libc::E2BIG
            } else {
                libc::EINVAL
            };
            let r = strbox::abi::StrboxError {
                code: pe.code as u32,
                offset: pe.offset,
                line: pe.line,
                column: pe.column,
            };
            record(&mut checks, r.to_bytes());
            Ok((Expect::Ret(neg(errno)), checks, None))
        }
        Ok(prog) => {
            if sim.layers.len() >= MAX_LAYERS {
                return fail(checks, libc::EMLINK);
            }
            if sim.predicates() + prog.predicate_count() > MAX_CHAIN_PREDICATES {
                return fail(checks, libc::ENOSPC);
            }
            record(&mut checks, zeros);
            Ok((Expect::Ret(0), checks, Some(prog)))
        }
    }
}

/// Places and predicts one input's SET.
pub(super) fn make_set(
    ctx: &Ctx,
    sim: &Sim,
    text: Vec<u8>,
    e: &Envelope,
) -> Result<SetCall, String> {
    let (args, writes, rec) = place_set(ctx.arena, text, e);
    let mut mem = Mem {
        arena: ctx.arena,
        writes,
        kernel: Vec::new(),
    };
    let record_before = if rec != 0 && ctx.arena.writable(rec, 16) {
        mem.read(rec, 16)?.map(|b| (rec, b.into_owned()))
    } else {
        None
    };
    let (expect, checks, accepted) = predict_set(ctx, sim, &args, &mut mem, &record_before)?;
    Ok(SetCall {
        args,
        writes: mem.writes,
        expect,
        checks,
        accepted,
        record_before,
    })
}

/// A `PR_SECCOMP_GET` probe with random arguments, predicted.
pub(super) fn place_get(
    rng: &mut Rng,
    a: &Arena,
    sim: &Sim,
) -> ([u64; 6], Vec<Wr>, Expect, Vec<Check>) {
    let l = sim.text_len() as u64;
    let size = match rng.below(9) {
        0 => 0,
        1 | 2 => l,
        3 => l + 1,
        4 => l.saturating_sub(1),
        5 => 1,
        6 => u64::MAX,
        7 => (1 << 32) | l,
        _ => rng.below(2 * l + 2),
    };
    let buf = match rng.below(8) {
        0..=2 => a.get,
        3 => a.get + 1 + rng.below(15),
        4 => a.get + a.get_len - l.saturating_sub(1 + rng.below(l.max(1))).min(a.get_len),
        5 => a.ro,
        _ => bad_pointer(rng),
    };
    let (arg4, arg5) = if rng.chance(1, 12) {
        (rng.bits() | 1, 0)
    } else if rng.chance(1, 12) {
        (0, 1)
    } else {
        (0, 0)
    };
    let hi = if rng.chance(1, 8) {
        rng.bits() << 32
    } else {
        0
    };
    let args = [u64::from(PR_SECCOMP_GET) | hi, buf, size, arg4, arg5, 0];
    let mut writes = Vec::new();
    let mut checks = Vec::new();
    let expect = if arg4 != 0 || arg5 != 0 {
        Expect::Ret(neg(libc::EINVAL))
    } else if size == 0 {
        Expect::Ret(l as i64)
    } else if size < l {
        Expect::Ret(neg(libc::ERANGE))
    } else if l == 0 {
        Expect::Ret(0)
    } else if !a.writable(buf, l) {
        Expect::Ret(neg(libc::EFAULT))
    } else {
        writes.push(Wr::Fill(buf, l as usize, 0xa5));
        checks.push(Check {
            addr: buf,
            want: sim.text(),
            what: "PR_SECCOMP_GET text",
        });
        Expect::Ret(l as i64)
    };
    (args, writes, expect, checks)
}
