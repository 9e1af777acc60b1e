//! Classic BPF for seccomp, as the benchmark's competitor needs it:
//! instruction constructors, a small assembler with forward labels, a
//! validator with the kernel's rules for seccomp programs, an interpreter
//! (host-side tests run generated programs against strbox's evaluator) and
//! a port of the kernel's "constant allow" emulation (`seccomp_cache`
//! since Linux 5.11), which decides which syscalls a filter lets through
//! by a bitmap without running it.

use std::fmt;

/// One classic BPF instruction (`struct sock_filter`).
pub type Insn = libc::sock_filter;

/// `offsetof(struct seccomp_data, nr)`.
pub const OFF_NR: u32 = 0;
/// `offsetof(struct seccomp_data, arch)`.
pub const OFF_ARCH: u32 = 4;
/// `sizeof(struct seccomp_data)`.
pub const DATA_SIZE: u32 = 64;

/// Offset of the low 32 bits of syscall argument `i` in `seccomp_data`.
pub fn off_arg_lo(i: u8) -> u32 {
    let base = 16 + 8 * u32::from(i);
    if cfg!(target_endian = "little") {
        base
    } else {
        base + 4
    }
}

/// Offset of the high 32 bits of syscall argument `i` in `seccomp_data`.
pub fn off_arg_hi(i: u8) -> u32 {
    let base = 16 + 8 * u32::from(i);
    if cfg!(target_endian = "little") {
        base + 4
    } else {
        base
    }
}

// Opcode parts (linux/bpf_common.h), as `u16` like `sock_filter::code`.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
/// `BPF_JMP|BPF_JEQ|BPF_K`
pub const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JGT|BPF_K`
pub const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JGE|BPF_K`
pub const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
/// `BPF_JMP|BPF_JSET|BPF_K`
pub const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const ALU_XOR_K: u16 = (libc::BPF_ALU | libc::BPF_XOR | libc::BPF_K) as u16;

/// `SECCOMP_RET_ALLOW`
pub const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

/// `SECCOMP_RET_ERRNO | errno`
pub fn ret_errno(errno: u16) -> u32 {
    libc::SECCOMP_RET_ERRNO | (u32::from(errno) & libc::SECCOMP_RET_DATA)
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
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
    Jmp { code: u16, k: u32, jt: Tgt, jf: Tgt },
    Ja(Label),
    Raw(Insn),
}

/// An assembler for one position-independent block: classic BPF jumps
/// are relative and forward-only, so a finished block can be appended
/// anywhere as long as every jump stays inside it.
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
        self.items.push(Item::Jmp { code, k, jt, jf });
    }

    /// An unconditional jump (32-bit offset).
    pub fn ja(&mut self, l: Label) {
        self.items.push(Item::Ja(l));
    }

    /// Appends a finished block.
    pub fn block(&mut self, b: &[Insn]) {
        self.items.extend(b.iter().map(|&i| Item::Raw(i)));
    }

    /// Resolves the labels. Fails if a label was never placed, a jump
    /// would go backwards, or a conditional jump is longer than 255.
    pub fn finish(self) -> Result<Vec<Insn>, String> {
        let pos = |l: Label, from: usize| -> Result<usize, String> {
            let p = self.labels[l.0].ok_or("label never placed")?;
            p.checked_sub(from + 1)
                .ok_or_else(|| format!("backward jump at {from}"))
        };
        let mut out = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().enumerate() {
            out.push(match *it {
                Item::Raw(x) => x,
                Item::Ja(l) => insn(JA, 0, 0, pos(l, i)? as u32),
                Item::Jmp { code, k, jt, jf } => {
                    let off = |t: Tgt| -> Result<u8, String> {
                        let o = match t {
                            Tgt::Next => 0,
                            Tgt::L(l) => pos(l, i)?,
                        };
                        u8::try_from(o).map_err(|_| format!("jump of {o} at {i} is too long"))
                    };
                    insn(code, off(jt)?, off(jf)?, k)
                }
            });
        }
        Ok(out)
    }
}

/// Why a program is not a valid seccomp filter.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The checks the kernel makes before accepting a seccomp filter
/// (`bpf_check_classic` + `seccomp_check_filter`), restricted to the
/// instructions this generator emits: length `1..=BPF_MAXINSNS`, every
/// jump inside the program, loads 32-bit, aligned and inside
/// `seccomp_data`, the last instruction a `RET`.
pub fn validate(prog: &[Insn]) -> Result<(), Invalid> {
    let bad = |s: String| Err(Invalid(s));
    if prog.is_empty() || prog.len() > libc::BPF_MAXINSNS as usize {
        return bad(format!("length {}", prog.len()));
    }
    let n = prog.len();
    for (pc, i) in prog.iter().enumerate() {
        match i.code {
            LD_W_ABS => {
                if i.k >= DATA_SIZE || i.k % 4 != 0 {
                    return bad(format!("{pc}: load at offset {}", i.k));
                }
            }
            RET_K | ALU_AND_K | ALU_XOR_K => {}
            JA => {
                if pc as u64 + 1 + u64::from(i.k) >= n as u64 {
                    return bad(format!("{pc}: ja {} leaves the program", i.k));
                }
            }
            JEQ | JGT | JGE | JSET => {
                let far = usize::from(i.jt.max(i.jf));
                if pc + 1 + far >= n {
                    return bad(format!("{pc}: jump leaves the program"));
                }
            }
            c => return bad(format!("{pc}: unexpected opcode {c:#x}")),
        }
    }
    if prog[n - 1].code != RET_K {
        return bad("the last instruction is not a RET".into());
    }
    Ok(())
}

/// What a filter sees of one syscall (`struct seccomp_data`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Data {
    /// Syscall number.
    pub nr: i32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Argument registers.
    pub args: [u64; 6],
}

impl Data {
    fn word(&self, k: u32) -> u32 {
        let mut b = [0u8; DATA_SIZE as usize];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let k = k as usize;
        u32::from_ne_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]])
    }
}

/// Runs a (validated) program as the kernel would: the `RET` value, or an
/// error for anything [`validate`] would reject.
pub fn run(prog: &[Insn], d: &Data) -> Result<u32, Invalid> {
    validate(prog)?;
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => a = d.word(i.k),
            ALU_AND_K => a &= i.k,
            ALU_XOR_K => a ^= i.k,
            RET_K => return Ok(i.k),
            JA => pc += i.k as usize,
            JEQ | JGT | JGE | JSET => {
                let taken = match i.code {
                    JEQ => a == i.k,
                    JGT => a > i.k,
                    JGE => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            c => return Err(Invalid(format!("opcode {c:#x}"))),
        }
    }
}

/// Port of the kernel's `seccomp_is_const_allow()` (kernel/seccomp.c,
/// 6.12): emulates the program with only `nr` and `arch` known and says
/// whether it reaches `RET ALLOW` without looking at anything else. Such
/// syscalls are put in the filter's action-cache bitmap and never run the
/// program again.
pub fn const_allow(prog: &[Insn], nr: i32, arch: u32) -> bool {
    let mut reg: u32 = 0;
    let mut pc = 0usize;
    while pc < prog.len() {
        let i = prog[pc];
        match i.code {
            LD_W_ABS => match i.k {
                OFF_NR => reg = nr as u32,
                OFF_ARCH => reg = arch,
                _ => return false,
            },
            RET_K => return i.k == RET_ALLOW,
            JA => pc += i.k as usize,
            JEQ | JGE | JGT | JSET => {
                let r = match i.code {
                    JEQ => reg == i.k,
                    JGE => reg >= i.k,
                    JGT => reg > i.k,
                    _ => reg & i.k != 0,
                };
                pc += usize::from(if r { i.jt } else { i.jf });
            }
            ALU_AND_K => reg &= i.k,
            _ => return false,
        }
        pc += 1;
    }
    false
}

/// Installs `prog` as a seccomp filter of the calling thread
/// (`seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`; needs no_new_privs or
/// CAP_SYS_ADMIN). `Err(errno)` on failure.
pub fn install(prog: &[Insn]) -> Result<(), i32> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| libc::EINVAL)?,
        filter: prog.as_ptr() as *mut Insn,
    };
    // SAFETY: `fprog` points to `prog.len()` valid instructions that live
    // until the call returns; the kernel copies them and does not write.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_long,
            0 as libc::c_long,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(strbox::sys::errno());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_forward() {
        let mut a = Asm::new();
        let t = a.label();
        let f = a.label();
        a.load(OFF_NR);
        a.jmp(JEQ, 7, Tgt::L(t), Tgt::L(f));
        a.place(t);
        a.ret(RET_ALLOW);
        a.place(f);
        a.ret(ret_errno(1));
        let p = a.finish().unwrap();
        assert_eq!((p[1].jt, p[1].jf), (0, 1));
        validate(&p).unwrap();
        let d = |nr| Data {
            nr,
            ..Data::default()
        };
        assert_eq!(run(&p, &d(7)), Ok(RET_ALLOW));
        assert_eq!(run(&p, &d(8)), Ok(ret_errno(1)));
        assert!(const_allow(&p, 7, 0));
        assert!(!const_allow(&p, 8, 0));
    }

    #[test]
    fn too_long_and_backward_jumps_are_errors() {
        let mut a = Asm::new();
        let t = a.label();
        a.jmp(JEQ, 0, Tgt::L(t), Tgt::Next);
        for _ in 0..300 {
            a.ret(0);
        }
        a.place(t);
        a.ret(0);
        assert!(a.finish().unwrap_err().contains("too long"));

        let mut a = Asm::new();
        let t = a.label();
        a.place(t);
        a.ret(0);
        a.ja(t);
        assert!(a.finish().unwrap_err().contains("backward"));
    }

    #[test]
    fn validator_rejects_bad_programs() {
        let ok = insn(RET_K, 0, 0, RET_ALLOW);
        assert!(validate(&[]).is_err());
        assert!(validate(&[insn(LD_W_ABS, 0, 0, 2), ok]).is_err());
        assert!(validate(&[insn(LD_W_ABS, 0, 0, 64), ok]).is_err());
        assert!(validate(&[insn(JEQ, 1, 0, 0), ok]).is_err());
        assert!(validate(&[insn(JA, 0, 0, 1), ok]).is_err());
        assert!(validate(&[insn(LD_W_ABS, 0, 0, 60)]).is_err());
        assert!(validate(&[insn(0x07, 0, 0, 0), ok]).is_err());
        validate(&[insn(LD_W_ABS, 0, 0, 60), insn(JEQ, 0, 0, 0), ok]).unwrap();
    }

    #[test]
    fn data_layout_matches_the_kernel_struct() {
        let d = Data {
            nr: 3,
            arch: 0xc000003e,
            args: [1, 2, 3, 4, 5, 0x1111_2222_3333_4444],
        };
        assert_eq!(d.word(OFF_NR), 3);
        assert_eq!(d.word(OFF_ARCH), 0xc000003e);
        assert_eq!(d.word(off_arg_lo(5)), 0x3333_4444);
        assert_eq!(d.word(off_arg_hi(5)), 0x1111_2222);
        assert_eq!(
            std::mem::size_of::<libc::seccomp_data>(),
            DATA_SIZE as usize
        );
        assert_eq!(std::mem::offset_of!(libc::seccomp_data, args), 16);
    }
}
