//! The assembler (labels, relaxation of long jumps), the validator, the
//! interpreter and the action-cache emulation on hand-written programs.

use crate::check::{const_allow, run, validate, Data};
use crate::insn::*;
use crate::install::{from_bytes, listing, to_bytes};

fn nr(nr: i32) -> Data {
    Data {
        nr,
        ..Data::default()
    }
}

/// The opcodes are the kernel's (`linux/filter.h`, `bpf_common.h`), and
/// so are the action values.
#[test]
fn opcodes_and_actions_are_the_kernels() {
    let ops = [
        (LD_W_ABS, 0x20),
        (RET_K, 0x06),
        (JA, 0x05),
        (JEQ, 0x15),
        (JGT, 0x25),
        (JGE, 0x35),
        (JSET, 0x45),
        (ALU_AND_K, 0x54),
        (ALU_XOR_K, 0xa4),
    ];
    for (op, want) in ops {
        assert_eq!(op, want);
    }
    assert_eq!(
        (RET_ALLOW, RET_LOG, RET_KILL_PROCESS, ret_errno(13)),
        (0x7fff_0000, 0x7ffc_0000, 0x8000_0000, 0x0005_000d)
    );
    assert_eq!((OFF_NR, OFF_ARCH, DATA_SIZE), (0, 4, 64));
    assert_eq!(
        (off_arg_lo(0), off_arg_hi(0), off_arg_lo(5), off_arg_hi(5)),
        (16, 20, 56, 60)
    );
}

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
    assert_eq!(run(&p, &nr(7)), Ok(RET_ALLOW));
    assert_eq!(run(&p, &nr(8)), Ok(ret_errno(1)));
    assert!(const_allow(&p, 7, 0));
    assert!(!const_allow(&p, 8, 0));
}

/// A conditional jump beyond 255 instructions goes through a `JA` placed
/// right after it, on either side or both, and the program still means
/// the same.
#[test]
fn long_jumps_are_relaxed() {
    for (far_t, far_f) in [(true, false), (false, true), (true, true)] {
        let mut a = Asm::new();
        let (t, f, near) = (a.label(), a.label(), a.label());
        a.load(OFF_NR);
        let jt = if far_t { Tgt::L(t) } else { Tgt::L(near) };
        let jf = if far_f { Tgt::L(f) } else { Tgt::Next };
        a.jmp(JEQ, 7, jt, jf);
        // "next" when the false side is near: return 2
        a.ret(2);
        a.place(near);
        a.ret(3);
        for _ in 0..300 {
            a.ret(0);
        }
        a.place(t);
        a.ret(RET_ALLOW);
        a.place(f);
        a.ret(ret_errno(5));
        let p = a.finish().unwrap();
        validate(&p).unwrap();
        let extra = usize::from(far_t) + usize::from(far_f);
        assert_eq!(p.len(), 2 + extra + 2 + 300 + 2);
        let want_t = if far_t { RET_ALLOW } else { 3 };
        let want_f = if far_f { ret_errno(5) } else { 2 };
        assert_eq!(run(&p, &nr(7)), Ok(want_t), "{far_t} {far_f}");
        assert_eq!(run(&p, &nr(8)), Ok(want_f), "{far_t} {far_f}");
        // The action cache follows trampolines.
        assert_eq!(const_allow(&p, 7, 0), far_t);
    }
}

/// The boundary: an offset of 255 fits the 8-bit field, 256 does not.
#[test]
fn relaxation_starts_at_256() {
    for (gap, relaxed) in [(254, false), (255, false), (256, true), (257, true)] {
        let mut a = Asm::new();
        let t = a.label();
        a.load(OFF_NR);
        a.jmp(JEQ, 7, Tgt::L(t), Tgt::Next);
        for _ in 0..gap {
            a.ret(0);
        }
        a.place(t);
        a.ret(RET_ALLOW);
        let p = a.finish().unwrap();
        assert_eq!(p.len(), 2 + gap + 1 + usize::from(relaxed), "gap {gap}");
        assert_eq!(p[1].jt as usize, if relaxed { 0 } else { gap }, "gap {gap}");
        validate(&p).unwrap();
        assert_eq!(run(&p, &nr(7)), Ok(RET_ALLOW), "gap {gap}");
        assert_eq!(run(&p, &nr(8)), Ok(0), "gap {gap}");
    }
}

#[test]
fn backward_jumps_and_unplaced_labels_are_errors() {
    let mut a = Asm::new();
    let t = a.label();
    a.place(t);
    a.ret(0);
    a.ja(t);
    assert!(a.finish().unwrap_err().contains("backward"));
    let mut a = Asm::new();
    let t = a.label();
    a.ja(t);
    assert!(a.finish().unwrap_err().contains("never placed"));
}

#[test]
fn validator_rejects_bad_programs() {
    let ok = insn(RET_K, 0, 0, RET_ALLOW);
    assert!(validate(&[]).is_err());
    assert!(validate(&vec![ok; 4097]).is_err());
    validate(&vec![ok; 4096]).unwrap();
    assert!(validate(&[insn(LD_W_ABS, 0, 0, 2), ok]).is_err());
    assert!(validate(&[insn(LD_W_ABS, 0, 0, 64), ok]).is_err());
    assert!(validate(&[insn(JEQ, 1, 0, 0), ok]).is_err());
    assert!(validate(&[insn(JEQ, 0, 1, 0), ok]).is_err());
    assert!(validate(&[insn(JA, 0, 0, 1), ok]).is_err());
    assert!(validate(&[insn(LD_W_ABS, 0, 0, 60)]).is_err());
    assert!(validate(&[insn(0x07, 0, 0, 0), ok]).is_err());
    validate(&[insn(LD_W_ABS, 0, 0, 60), insn(JEQ, 0, 0, 0), ok]).unwrap();
    validate(&[insn(JA, 0, 0, 0), ok]).unwrap();
}

#[test]
fn data_layout_matches_the_kernel_struct() {
    let d = Data {
        nr: 3,
        arch: 0xc000003e,
        args: [1, 2, 3, 4, 5, 0x1111_2222_3333_4444],
    };
    let get = |k: u32| -> u32 {
        // binary search for A with JGE: A = the value loaded at k
        let mut lo = 0u64;
        let mut hi = 1u64 << 32;
        while hi - lo > 1 {
            let mid = ((lo + hi) / 2) as u32;
            let p = [
                insn(LD_W_ABS, 0, 0, k),
                insn(JGE, 0, 1, mid),
                insn(RET_K, 0, 0, 1),
                insn(RET_K, 0, 0, 0),
            ];
            if run(&p, &d) == Ok(1) {
                lo = u64::from(mid);
            } else {
                hi = u64::from(mid);
            }
        }
        lo as u32
    };
    assert_eq!(get(OFF_NR), 3);
    assert_eq!(get(OFF_ARCH), 0xc000003e);
    assert_eq!(get(off_arg_lo(5)), 0x3333_4444);
    assert_eq!(get(off_arg_hi(5)), 0x1111_2222);
    assert_eq!(get(off_arg_lo(0)), 1);
    assert_eq!(
        std::mem::size_of::<libc::seccomp_data>(),
        DATA_SIZE as usize
    );
    assert_eq!(std::mem::offset_of!(libc::seccomp_data, args), 16);
    assert_eq!(
        std::mem::offset_of!(libc::seccomp_data, arch),
        OFF_ARCH as usize
    );
}

#[test]
fn bytes_round_trip_and_listing_names_things() {
    let p = vec![
        insn(LD_W_ABS, 0, 0, OFF_ARCH),
        insn(JEQ, 0, 2, 0xc000003e),
        insn(LD_W_ABS, 0, 0, off_arg_hi(2)),
        insn(RET_K, 0, 0, ret_errno(13)),
        insn(RET_K, 0, 0, RET_KILL_PROCESS),
    ];
    let b = to_bytes(&p);
    assert_eq!(b.len(), 40);
    assert_eq!(&b[8..16], &[0x15, 0, 0, 2, 0x3e, 0, 0, 0xc0]);
    let back = from_bytes(&b).unwrap();
    assert_eq!(to_bytes(&back), b);
    assert!(from_bytes(&b[..39]).is_none());
    let l = listing(&p);
    assert!(l.contains("0: ld  [arch]"), "{l}");
    assert!(l.contains("jeq #0xc000003e"), "{l}");
    assert!(l.contains("jt 2    jf 4"), "{l}");
    assert!(l.contains("ld  [args[2].hi]"), "{l}");
    assert!(l.contains("ret ERRNO(13)"), "{l}");
    assert!(l.contains("ret KILL_PROCESS"), "{l}");
}
