//! Classic BPF instructions as seccomp uses them, and an assembler with
//! forward labels that relaxes conditional jumps too long for their 8-bit
//! offsets into jumps over a `JA` (32-bit offset).

/// One classic BPF instruction (`struct sock_filter`).
pub type Insn = libc::sock_filter;

/// `offsetof(struct seccomp_data, nr)`.
pub const OFF_NR: u32 = 0;
/// `offsetof(struct seccomp_data, arch)`.
pub const OFF_ARCH: u32 = 4;
/// `sizeof(struct seccomp_data)`.
pub const DATA_SIZE: u32 = 64;

/// Offset of the low 32 bits of syscall argument `i` in `seccomp_data`.
/// Every architecture strbox supports (x86_64, aarch64) is little-endian,
/// the host's and the target's alike, so one layout serves both.
pub fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

/// Offset of the high 32 bits of syscall argument `i` in `seccomp_data`.
pub fn off_arg_hi(i: u8) -> u32 {
    off_arg_lo(i) + 4
}

// Opcodes (linux/bpf_common.h), as `u16` like `sock_filter::code`.
/// `BPF_LD|BPF_W|BPF_ABS`
pub const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
/// `BPF_RET|BPF_K`
pub const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JA`
pub const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
/// `BPF_JMP|BPF_JEQ|BPF_K`
pub const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JGT|BPF_K`
pub const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JGE|BPF_K`
pub const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JSET|BPF_K`
pub const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
/// `BPF_ALU|BPF_AND|BPF_K`
pub const ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
/// `BPF_ALU|BPF_XOR|BPF_K`
pub const ALU_XOR_K: u16 = (libc::BPF_ALU | libc::BPF_XOR | libc::BPF_K) as u16;

/// `SECCOMP_RET_ALLOW`
pub const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
/// `SECCOMP_RET_LOG`
pub const RET_LOG: u32 = libc::SECCOMP_RET_LOG;
/// `SECCOMP_RET_KILL_PROCESS`
pub const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// `SECCOMP_RET_ERRNO | errno`
pub fn ret_errno(errno: u16) -> u32 {
    libc::SECCOMP_RET_ERRNO | (u32::from(errno) & libc::SECCOMP_RET_DATA)
}

/// An instruction.
pub fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// A jump target inside an [`Asm`] block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tgt {
    /// The next instruction (offset 0).
    Next,
    /// A label of the same block.
    L(Label),
}

enum Item {
    /// A conditional jump; `far_t`/`far_f`: that side goes through a `JA`
    /// placed right after it (decided by [`Asm::finish`]).
    Jmp {
        code: u16,
        k: u32,
        jt: Tgt,
        jf: Tgt,
        far_t: bool,
        far_f: bool,
    },
    Ja(Label),
    Raw(Insn),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Jmp { far_t, far_f, .. } => 1 + usize::from(*far_t) + usize::from(*far_f),
            _ => 1,
        }
    }
}

/// An assembler for one program: classic BPF jumps are relative and
/// forward-only. A conditional jump whose target is more than 255
/// instructions away is emitted as a short jump to a `JA` right after it
/// (`jcc k, jt 0, jf 1; ja T` and the like).
#[derive(Default)]
pub struct Asm {
    items: Vec<Item>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    /// An empty block.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// A new, not yet placed label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `l` before the next instruction.
    pub fn place(&mut self, l: Label) {
        debug_assert!(self.labels[l.0].is_none(), "label placed twice");
        self.labels[l.0] = Some(self.items.len());
    }

    /// `A = seccomp_data[k]` (32-bit load).
    pub fn load(&mut self, k: u32) {
        self.items.push(Item::Raw(insn(LD_W_ABS, 0, 0, k)));
    }

    /// `A &= k`
    pub fn and(&mut self, k: u32) {
        self.items.push(Item::Raw(insn(ALU_AND_K, 0, 0, k)));
    }

    /// `A ^= k`
    pub fn xor(&mut self, k: u32) {
        self.items.push(Item::Raw(insn(ALU_XOR_K, 0, 0, k)));
    }

    /// `return k`
    pub fn ret(&mut self, k: u32) {
        self.items.push(Item::Raw(insn(RET_K, 0, 0, k)));
    }

    /// A conditional jump (`code` is [`JEQ`], [`JGT`], [`JGE`] or [`JSET`]).
    pub fn jmp(&mut self, code: u16, k: u32, jt: Tgt, jf: Tgt) {
        self.items.push(Item::Jmp {
            code,
            k,
            jt,
            jf,
            far_t: false,
            far_f: false,
        });
    }

    /// An unconditional jump (32-bit offset).
    pub fn ja(&mut self, l: Label) {
        self.items.push(Item::Ja(l));
    }

    /// Resolves the labels, relaxing long conditional jumps until every
    /// offset fits. Fails if a label was never placed or a jump would go
    /// backwards.
    pub fn finish(mut self) -> Result<Vec<Insn>, String> {
        // Relaxation only ever lengthens the program, so it ends: each
        // round marks at least one more side far, or stops.
        loop {
            let (pos, labels) = self.positions()?;
            let mut changed = false;
            for (i, it) in self.items.iter_mut().enumerate() {
                if let Item::Jmp {
                    jt,
                    jf,
                    far_t,
                    far_f,
                    ..
                } = it
                {
                    let from = pos[i];
                    for (t, far) in [(*jt, far_t), (*jf, far_f)] {
                        if let Tgt::L(l) = t {
                            let to = labels[l.0];
                            if !*far && to.checked_sub(from + 1).is_some_and(|o| o > 255) {
                                *far = true;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                return self.emit(&pos, &labels);
            }
        }
    }

    /// Each item's first instruction and each label's instruction index.
    fn positions(&self) -> Result<(Vec<usize>, Vec<usize>), String> {
        let mut pos = Vec::with_capacity(self.items.len() + 1);
        let mut at = 0;
        for it in &self.items {
            pos.push(at);
            at += it.len();
        }
        pos.push(at);
        let labels = self
            .labels
            .iter()
            .map(|l| l.map(|item| pos[item]).ok_or("label never placed"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((pos, labels))
    }

    fn emit(&self, pos: &[usize], labels: &[usize]) -> Result<Vec<Insn>, String> {
        let off = |to: usize, from: usize| -> Result<usize, String> {
            to.checked_sub(from + 1)
                .ok_or_else(|| format!("backward jump at {from}"))
        };
        let mut out = Vec::with_capacity(pos[self.items.len()]);
        for (i, it) in self.items.iter().enumerate() {
            let at = pos[i];
            match *it {
                Item::Raw(x) => out.push(x),
                Item::Ja(l) => out.push(insn(JA, 0, 0, off(labels[l.0], at)? as u32)),
                Item::Jmp {
                    code,
                    k,
                    jt,
                    jf,
                    far_t,
                    far_f,
                } => {
                    // The trampolines follow the jump: the true side's
                    // first, then the false side's.
                    let tramp_t = at + 1;
                    let tramp_f = at + 1 + usize::from(far_t);
                    let short = |t: Tgt, far: bool, tramp: usize| -> Result<u8, String> {
                        let o = match t {
                            Tgt::Next => off(at + 1 + usize::from(far_t) + usize::from(far_f), at)?,
                            Tgt::L(_) if far => off(tramp, at)?,
                            Tgt::L(l) => off(labels[l.0], at)?,
                        };
                        u8::try_from(o).map_err(|_| format!("jump of {o} at {at} is too long"))
                    };
                    out.push(insn(
                        code,
                        short(jt, far_t, tramp_t)?,
                        short(jf, far_f, tramp_f)?,
                        k,
                    ));
                    for (t, far, tramp) in [(jt, far_t, tramp_t), (jf, far_f, tramp_f)] {
                        if let (Tgt::L(l), true) = (t, far) {
                            out.push(insn(JA, 0, 0, off(labels[l.0], tramp)? as u32));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}
