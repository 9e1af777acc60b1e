//! What the kernel does with a seccomp filter, on the host: the checks it
//! makes before accepting one ([`validate`]), running it ([`run`]), and
//! the action-cache emulation that decides which syscalls a filter lets
//! through without running it ([`const_allow`]).

use std::fmt;

use crate::insn::*;

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
                if i.k >= DATA_SIZE || !i.k.is_multiple_of(4) {
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
        b[0..4].copy_from_slice(&self.nr.to_le_bytes());
        b[4..8].copy_from_slice(&self.arch.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let k = k as usize;
        u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]])
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
