//! Installing a filter, and its forms outside the process: the raw
//! `struct sock_filter` array (`strbox compile --bpf`, what
//! `seccomp_export_bpf()` writes) and a listing.

use std::fmt::Write as _;

use crate::insn::*;

/// `SECCOMP_FILTER_FLAG_TSYNC`: install on every thread of the process.
pub const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;

/// Installs `prog` as a seccomp filter of the calling thread
/// (`seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`; needs no_new_privs or
/// CAP_SYS_ADMIN). `Err(errno)` on failure; with [`FLAG_TSYNC`] a
/// positive value is the id of a thread that could not be synchronised,
/// reported as `Err(-tid)`.
pub fn install_with(prog: &[Insn], flags: u32) -> Result<(), i32> {
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
            flags as libc::c_long,
            &fprog as *const libc::sock_fprog,
        )
    };
    match r {
        0 => Ok(()),
        r if r > 0 => Err(-(r as i32)),
        _ => Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)),
    }
}

/// [`install_with`] without flags: the calling thread only.
pub fn install(prog: &[Insn]) -> Result<(), i32> {
    install_with(prog, 0)
}

/// The program as the kernel's `struct sock_filter` array (8 bytes per
/// instruction: `code` u16, `jt` u8, `jf` u8, `k` u32, little-endian like
/// both supported architectures).
pub fn to_bytes(prog: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for i in prog {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

/// Inverse of [`to_bytes`]; `None` if the length is not a multiple of 8.
pub fn from_bytes(b: &[u8]) -> Option<Vec<Insn>> {
    if !b.len().is_multiple_of(8) {
        return None;
    }
    Some(
        b.chunks_exact(8)
            .map(|c| {
                insn(
                    u16::from_le_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect(),
    )
}

/// What a `RET` value means.
fn ret_name(k: u32) -> String {
    match k & libc::SECCOMP_RET_ACTION_FULL {
        RET_ALLOW => "ALLOW".into(),
        RET_LOG => "LOG".into(),
        RET_KILL_PROCESS => "KILL_PROCESS".into(),
        libc::SECCOMP_RET_ERRNO => format!("ERRNO({})", k & libc::SECCOMP_RET_DATA),
        _ => format!("{k:#x}"),
    }
}

/// A listing in the style of the kernel's `bpf_dbg`, with absolute jump
/// targets and named `seccomp_data` fields and actions:
///
/// ```text
///    0: ld  [arch]
///    1: jeq #0xc000003e     jt 2    jf 40
/// ```
pub fn listing(prog: &[Insn]) -> String {
    let field = |k: u32| match k {
        OFF_NR => "nr".to_string(),
        OFF_ARCH => "arch".to_string(),
        8 => "instruction_pointer".to_string(),
        12 => "instruction_pointer+4".to_string(),
        k if (16..DATA_SIZE).contains(&k) => {
            let (i, hi) = ((k - 16) / 8, (k - 16) % 8 == 4);
            format!("args[{i}]{}", if hi { ".hi" } else { ".lo" })
        }
        k => format!("{k}"),
    };
    let mut s = String::new();
    for (pc, i) in prog.iter().enumerate() {
        let _ = write!(s, "{pc:4}: ");
        let _ = match i.code {
            LD_W_ABS => writeln!(s, "ld  [{}]", field(i.k)),
            RET_K => writeln!(s, "ret {}", ret_name(i.k)),
            JA => writeln!(s, "ja  {}", pc + 1 + i.k as usize),
            ALU_AND_K => writeln!(s, "and #{:#x}", i.k),
            ALU_XOR_K => writeln!(s, "xor #{:#x}", i.k),
            JEQ | JGT | JGE | JSET => {
                let op = match i.code {
                    JEQ => "jeq",
                    JGT => "jgt",
                    JGE => "jge",
                    _ => "jset",
                };
                let k = format!("#{:#x}", i.k);
                writeln!(
                    s,
                    "{op:<4}{k:<14} jt {:<5}jf {}",
                    pc + 1 + usize::from(i.jt),
                    pc + 1 + usize::from(i.jf)
                )
            }
            c => writeln!(s, "?   code {c:#x} k {:#x}", i.k),
        };
    }
    s
}
