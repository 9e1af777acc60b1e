//! The read-only view for other back ends ([`Program::syscall_start`],
//! [`Program::test`]) gives the evaluator's verdicts: a walker written
//! only against the view (its own extension and comparisons, from the
//! documented meaning of [`Test`]) is run beside [`Program::evaluate`] by
//! the property tests (`property::differential` calls [`walk`] on every
//! evaluation), and here on corrupted jump targets.

use super::*;
use crate::program::layout::exit;
use crate::uapi::tables::{AARCH64, X86_64};
use crate::{Cmp, Step, ENOSYS};

/// The verdict of syscall `nr` found by following the view alone; `None`
/// if a [`Program::test`] on the path does not answer.
pub(crate) fn walk(p: &Program, nr: u32, args: &[u64; 6]) -> Option<Verdict> {
    let mut step = p.syscall_start(nr);
    let mut seen = 0;
    loop {
        let i = match step {
            Step::Verdict(v) => return Some(v),
            Step::Test(i) => i,
        };
        seen += 1;
        assert!(
            seen <= crate::limits::MAX_PROGRAM_PREDICATES,
            "the view loops"
        );
        let t = p.test(i)?;
        if let Step::Test(j) = t.on_true {
            assert!(j > i, "backward step {i} -> {j}");
        }
        if let Step::Test(j) = t.on_false {
            assert!(j > i, "backward step {i} -> {j}");
        }
        let raw = args[usize::from(t.arg)];
        let x = if t.width == 64 {
            raw
        } else if t.signed {
            // shift the type's sign bit to bit 63, then back
            (((raw << (64 - t.width)) as i64) >> (64 - t.width)) as u64
        } else {
            raw & ((1u64 << t.width) - 1)
        };
        let (xs, vs) = (x as i64 as i128, t.value as i64 as i128);
        let (xu, vu) = (i128::from(x), i128::from(t.value));
        let (xo, vo) = if t.signed { (xs, vs) } else { (xu, vu) };
        let holds = match t.cmp {
            Cmp::Eq => x == t.value,
            Cmp::Ne => x != t.value,
            Cmp::Lt => xo < vo,
            Cmp::Le => xo <= vo,
            Cmp::Gt => xo > vo,
            Cmp::Ge => xo >= vo,
            Cmp::AnyBit => x & t.value != 0,
            Cmp::In => x & !t.value == 0,
        };
        step = if holds { t.on_true } else { t.on_false };
    }
}

#[test]
fn starts_and_tests_of_a_small_policy() {
    let p = ok("default errno EPERM\nread: fd == 0 || fd > 2\nwrite: 1\nclose: 1 => kill\n");
    let nr = |n: &str| TEST_ARCH.syscall(n).expect("test syscall").nr;
    assert_eq!(p.syscall_start(nr("write")), Step::Verdict(Verdict::Allow));
    assert_eq!(p.syscall_start(nr("close")), Step::Verdict(Verdict::Kill));
    assert_eq!(
        p.syscall_start(nr("openat")),
        Step::Verdict(Verdict::Errno(1))
    );
    assert_eq!(p.syscall_start(100_000), Step::Verdict(Verdict::Errno(1)));
    let Step::Test(first) = p.syscall_start(nr("read")) else {
        panic!("read has a program");
    };
    let t = p.test(first).expect("a comparison");
    assert_eq!(
        (t.arg, t.cmp, t.width, t.signed, t.value),
        (0, Cmp::Eq, 32, false, 0)
    );
    assert_eq!(t.on_true, Step::Verdict(Verdict::Allow));
    let Step::Test(second) = t.on_false else {
        panic!("`||` goes on to the second comparison");
    };
    let u = p.test(second).expect("a comparison");
    assert_eq!((u.cmp, u.value), (Cmp::Gt, 2));
    assert_eq!(u.on_false, Step::Verdict(Verdict::Errno(1)));
    // A negative constant is given converted to the type (`unsigned int
    // fd` here) and extended like the register.
    let q = ok("read: fd == -1\n");
    let Step::Test(i) = q.syscall_start(nr("read")) else {
        panic!("read has a program");
    };
    assert_eq!(q.test(i).map(|t| t.value), Some(0xffff_ffff));
    // A jump to the end of the array, or past it, ends in the default
    // action as evaluation does; a corrupted argument index or width is
    // no comparison.
    let mut c = ok("default errno EPERM\nread: fd == 3 || fd > 4\n");
    let Step::Test(i) = c.syscall_start(nr("read")) else {
        panic!("read has a program");
    };
    for past in [crate::limits::MAX_PROGRAM_PREDICATES as u16, 1500] {
        c.preds[i].on_false = past;
        assert_eq!(
            c.test(i).map(|t| t.on_false),
            Some(Step::Verdict(Verdict::Errno(1)))
        );
    }
    let good = c.preds[i];
    c.preds[i].arg = 6;
    assert_eq!(c.test(i), None);
    c.preds[i] = good;
    c.preds[i].ext = 64 - 12;
    assert_eq!(c.test(i), None);
    // `==` falling through to the next predicate: flagged where the next
    // is an `==` of the same argument and type, and then read as `==`
    // going on to `i + 1` whatever `op` and `on_false` hold (as the
    // evaluator reads it).
    let mut f = ok("default errno EPERM\nread: fd == 3 || fd == 4 || fd == 9 || count == 9\n");
    let Step::Test(i) = f.syscall_start(nr("read")) else {
        panic!("read has a program");
    };
    let flags: [bool; 4] = core::array::from_fn(|j| f.preds[i + j].eq_next());
    assert_eq!(flags, [true, true, false, false]);
    f.preds[i].on_false = 0xfffe;
    f.preds[i].op = crate::types::op::GT;
    let t = f.test(i).expect("a comparison");
    assert_eq!(
        (t.cmp, t.value, t.on_false),
        (Cmp::Eq, 3, Step::Test(i + 1))
    );
    assert_eq!(f.evaluate(nr("read"), &[4, 0, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(
        f.evaluate(nr("read"), &[5, 0, 0, 0, 0, 0]),
        Verdict::Errno(1)
    );
    let last = crate::limits::MAX_PROGRAM_PREDICATES - 1;
    f.preds[last] = f.preds[i];
    assert_eq!(
        f.test(last).map(|t| t.on_false),
        Some(Step::Verdict(Verdict::Errno(1)))
    );
    // Event predicates are no integer comparisons.
    let e = ok("exec: path == \"/bin/sh\"\n");
    assert_eq!(e.test(0), None);
    assert_eq!(p.test(crate::limits::MAX_PROGRAM_PREDICATES), None);
}

#[test]
fn corrupted_targets_end_where_the_evaluator_ends() {
    let mut rng = super::property::Rng::new(11);
    let nr = |n: &str| TEST_ARCH.syscall(n).expect("test syscall").nr;
    let (read, write) = (nr("read"), nr("write"));
    let mut answered = 0;
    for _ in 0..3000 {
        let mut q = ok("default errno EPERM\nread: fd == 3 || fd == 4 && count > 9\nread: fd == 5 || fd == 6 || fd == 8\nread: count > 0x100000005\nwrite: fd < 2 => kill\nwrite: fd == 7 => log\n");
        for _ in 0..3 {
            let k = rng.below(10);
            // The `==` fall-through flag and the operator, set or cleared
            // where the compiler would not.
            if rng.chance(25) {
                q.preds[k].ext ^= crate::program::layout::EXT_EQ_NEXT;
            }
            if rng.chance(15) {
                q.preds[k].op = *rng.pick(&[0u8, 1, 4]);
            }
            // Another argument or type, which ends a run of `==`s.
            if rng.chance(10) {
                q.preds[k].arg = rng.below(3) as u8;
            }
            if rng.chance(10) {
                let flag = q.preds[k].ext & crate::program::layout::EXT_EQ_NEXT;
                q.preds[k].ext = flag | *rng.pick(&[0u8, 32, 0x80 | 32, 48]);
            }
            let pick = [
                0u16, 1, 2, 3, 4, 5, 6, 1023, 1024, 1500, 0xe000, 0xe00d, 0xfffc, 0xfffd, 0xfffe,
                0xffff,
            ];
            q.preds[k].on_true = *rng.pick(&pick);
            q.preds[k].on_false = *rng.pick(&pick);
            if rng.chance(20) {
                q.act[write as usize] = *rng.pick(&[0u16, 1, 4, 6, 1025, exit::MIN, 0xfffd]);
            }
        }
        for _ in 0..8 {
            let args = [rng.below(10) as u64, 0, rng.below(12) as u64, 0, 0, 0];
            for n in [read, write] {
                if let Some(v) = walk(&q, n, &args) {
                    assert_eq!(v, q.evaluate(n, &args), "nr {n} {args:?}");
                    answered += 1;
                }
            }
        }
    }
    assert!(answered > 40_000, "{answered}");
}

#[test]
fn compat_verdicts() {
    for arch in [&X86_64, &AARCH64] {
        assert_eq!(arch.errno("ENOSYS"), Some(i64::from(ENOSYS)));
    }
    assert_eq!(
        ok("default allow\nread: 1 => kill\n").compat_verdict(),
        Verdict::Errno(ENOSYS)
    );
    assert_eq!(ok("read: 1\n").compat_verdict(), Verdict::Kill);
    assert_eq!(
        ok("default errno EACCES\nread: 1\n").compat_verdict(),
        Verdict::Errno(13)
    );
    assert_eq!(ok("default log\nread: 1\n").compat_verdict(), Verdict::Log);
    assert_eq!(
        ok("exec: path == \"/x\"\n").compat_verdict(),
        Verdict::Allow
    );
}
