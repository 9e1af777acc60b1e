//! Bad input to `PR_SECCOMP_SET`: each case must fail with its documented
//! errno and error record and leave the task exactly as before —
//! unfiltered and able to install a layer afterwards. Limits (layers per
//! task, compiled size per chain) are checked at their exact boundaries.

use strbox::abi::{
    StrboxError, StrboxSetArgs, MAX_CHAIN_PREDICATES, MAX_LAYERS, MAX_POLICY_BYTES, PR_SECCOMP_SET,
    STRBOX_ERROR_SIZE,
};
use strbox::{sys, ErrorCode};

use super::child::{
    allow_all_except, getppid, install, install_flags, layers_len, nnp, set, spawn, Child,
};
use super::{Test, TestResult};
use crate::{check, ensure};

/// The bad-input tests.
pub static TESTS: &[Test] = &[
    Test {
        name: "bad_input_policy_text",
        run: bad_policy_text,
    },
    Test {
        name: "bad_input_arguments",
        run: bad_arguments,
    },
    Test {
        name: "limit_layers_per_task",
        run: limit_layers,
    },
    Test {
        name: "limit_chain_compiled_size",
        run: limit_chain_size,
    },
];

/// After a failed install: no layer, syscalls unaffected.
fn unchanged(case: &str) -> Child {
    let n = layers_len();
    check!(n == Ok(0), "{case}: task has layers afterwards ({n:?})");
    let r = getppid();
    check!(
        matches!(r, Ok(p) if p > 0),
        "{case}: getppid afterwards = {r:?}"
    );
    Ok(())
}

/// (name, text, errno, code, offset, line, column)
type TextCase<'a> = (&'a str, &'a [u8], i32, ErrorCode, u32, u32, u32);

/// Policy texts the filter rejects: code, offset, line, column, exactly as
/// `strbox check` reports them on the host (the same code).
fn bad_policy_text() -> TestResult {
    let deep = format!("read: {}fd == 0{}", "(".repeat(33), ")".repeat(33));
    let big = vec![b'#'; MAX_POLICY_BYTES + 1];
    let cases: Vec<TextCase<'_>> = vec![
        (
            "syntax",
            b"read: fd == 0\nwrite: fd = 1\n",
            libc::EINVAL,
            ErrorCode::InvalidOperator,
            24,
            2,
            11,
        ),
        (
            "unknown_syscall",
            b"frobnicate: 1\n",
            libc::EINVAL,
            ErrorCode::UnknownSyscall,
            0,
            1,
            1,
        ),
        (
            "unknown_field",
            b"read: fdx == 0\n",
            libc::EINVAL,
            ErrorCode::UnknownField,
            6,
            1,
            7,
        ),
        (
            "nul_byte",
            b"read: 1\0\n",
            libc::EINVAL,
            ErrorCode::InvalidCharacter,
            7,
            1,
            8,
        ),
        (
            "non_utf8",
            b"read: fd == 0 \xff\n",
            libc::EINVAL,
            ErrorCode::InvalidCharacter,
            14,
            1,
            15,
        ),
        (
            "nesting_too_deep",
            deep.as_bytes(),
            libc::EINVAL,
            ErrorCode::TooDeep,
            38,
            1,
            39,
        ),
        (
            "unknown_constant",
            b"read: fd == O_FOO\n",
            libc::EINVAL,
            ErrorCode::UnknownConstant,
            12,
            1,
            13,
        ),
        (
            "unknown_action",
            // (`default allow` is an action since language v2 / ABI 3.)
            b"default deny\n",
            libc::EINVAL,
            ErrorCode::UnknownAction,
            8,
            1,
            9,
        ),
        (
            "duplicate_default",
            b"default kill\ndefault kill\n",
            libc::EINVAL,
            ErrorCode::DuplicateDefault,
            13,
            2,
            1,
        ),
        (
            "errno_out_of_range",
            b"default errno 5000\n",
            libc::EINVAL,
            ErrorCode::ErrnoOutOfRange,
            14,
            1,
            15,
        ),
        (
            "number_too_large",
            b"read: fd == 99999999999999999999999\n",
            libc::EINVAL,
            ErrorCode::NumberTooLarge,
            12,
            1,
            13,
        ),
        (
            "unbalanced_paren",
            b"read: (fd == 0\n",
            libc::EINVAL,
            ErrorCode::UnbalancedOpen,
            6,
            1,
            7,
        ),
        (
            "value_out_of_range",
            b"read: fd == 4294967296\n",
            libc::EINVAL,
            ErrorCode::ValueOutOfRange,
            12,
            1,
            13,
        ),
        (
            "string_value",
            b"read: fd == \"x\"\n",
            libc::EINVAL,
            ErrorCode::StringNotSupported,
            12,
            1,
            13,
        ),
        (
            "policy_too_long",
            &big,
            libc::E2BIG,
            ErrorCode::PolicyTooLarge,
            65536,
            1,
            65537,
        ),
    ];
    // The host's filter agrees with every expectation (same code).
    let arch = strbox::policy::arch(None)?;
    for (name, text, _, code, off, line, col) in &cases {
        match strbox::policy::compile_policy(text, arch) {
            Err(e) => ensure!(
                (e.code, e.offset, e.line, e.column) == (*code, *off, *line, *col),
                "{name}: host filter says {e:?}"
            ),
            Ok(_) => return Err(format!("{name}: host filter accepts it")),
        }
    }
    spawn(|| {
        nnp()?;
        for (name, text, errno, code, off, line, col) in &cases {
            let (r, rec) = set(text, 0);
            check!(r == Err(*errno), "{name}: errno {r:?}, want {errno}");
            let want = StrboxError {
                code: *code as u32,
                offset: *off,
                line: *line,
                column: *col,
            };
            check!(rec == want, "{name}: record {rec:?}, want {want:?}");
            unchanged(name)?;
        }
        // The same text with a length beyond any limit: only a bounded
        // prefix is read, the error is the same.
        let mut a = args(&big, 0, 0);
        a.policy_len = u64::MAX;
        let mut rec = [0u8; STRBOX_ERROR_SIZE];
        a.error = rec.as_mut_ptr() as u64;
        let r = raw(&a.to_bytes());
        let rec = StrboxError::from_bytes(&rec);
        check!(
            r == Err(libc::E2BIG)
                && rec.code == ErrorCode::PolicyTooLarge as u32
                && rec.offset == 65536,
            "policy_len u64::MAX: {r:?} {rec:?}"
        );
        unchanged("policy_len_max")?;
        // Still usable: a valid layer installs.
        install(&allow_all_except(&["getppid"], "errno EPERM"))?;
        check!(getppid() == Err(libc::EPERM), "final install not enforced");
        Ok(())
    })?
    .ok("bad policy texts")
}

fn args(policy: &[u8], flags: u64, error: u64) -> StrboxSetArgs {
    StrboxSetArgs {
        policy: policy.as_ptr() as u64,
        policy_len: policy.len() as u64,
        flags,
        error,
    }
}

fn raw(bytes: &[u8]) -> Result<(), i32> {
    sys::set(bytes.as_ptr(), bytes.len())
}

/// Bad pointers, sizes, flags and arguments.
fn bad_arguments() -> TestResult {
    spawn(|| {
        nnp()?;
        let good = allow_all_except(&["getppid"], "errno EPERM");
        let good = good.as_bytes();
        let bad_text = b"frobnicate: 1\n";
        let mut rec = [0xa5u8; STRBOX_ERROR_SIZE];
        let recp = rec.as_mut_ptr() as u64;
        let cleared =
            |rec: &[u8; STRBOX_ERROR_SIZE]| StrboxError::from_bytes(rec) == StrboxError::default();

        // 1. Unmapped policy pointer.
        let r = raw(&StrboxSetArgs {
            policy: 8,
            policy_len: 10,
            flags: 0,
            error: recp,
        }
        .to_bytes());
        check!(r == Err(libc::EFAULT), "policy at 8: {r:?}");
        check!(cleared(&rec), "policy at 8: record not cleared");
        unchanged("bad policy pointer")?;

        // 2. Policy running into an inaccessible page.
        // SAFETY: fresh private mapping of two pages, checked.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        check!(map != libc::MAP_FAILED, "mmap");
        // SAFETY: the second page of our mapping; the first gets a text.
        let tail = unsafe {
            libc::mprotect(map.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE);
            let p = map.cast::<u8>().add(4096 - 8);
            std::ptr::copy_nonoverlapping(b"read: 1\n".as_ptr(), p, 8);
            p
        };
        let r = raw(&StrboxSetArgs {
            policy: tail as u64,
            policy_len: 16,
            flags: 0,
            error: recp,
        }
        .to_bytes());
        check!(r == Err(libc::EFAULT), "policy across PROT_NONE: {r:?}");
        unchanged("policy across PROT_NONE")?;

        // 3. Unwritable error record, with a valid and with a bad policy:
        // EFAULT, and the valid one is not installed.
        let r = raw(&args(good, 0, 8).to_bytes());
        check!(r == Err(libc::EFAULT), "good policy, record at 8: {r:?}");
        unchanged("bad record pointer (good policy)")?;
        let r = raw(&args(bad_text, 0, map as u64 + 4096).to_bytes());
        check!(
            r == Err(libc::EFAULT),
            "bad policy, record on PROT_NONE: {r:?}"
        );
        unchanged("bad record pointer (bad policy)")?;

        // 4. Unreadable argument struct.
        let r = sys::set(8 as *const u8, 32);
        check!(r == Err(libc::EFAULT), "args at 8: {r:?}");
        let r = sys::set((map as usize + 4096 - 16) as *const u8, 32);
        check!(r == Err(libc::EFAULT), "args across PROT_NONE: {r:?}");
        unchanged("bad args pointer")?;

        // 5. Wrong struct sizes.
        let a = args(good, 0, recp).to_bytes();
        for size in [0usize, 8, 16, 31] {
            let r = sys::set(a.as_ptr(), size);
            check!(r == Err(libc::EINVAL), "size {size}: {r:?}");
        }
        let mut big = vec![0u8; 4097];
        big[..32].copy_from_slice(&a);
        let r = sys::set(big.as_ptr(), 4097);
        check!(r == Err(libc::E2BIG), "size 4097: {r:?}");
        // A newer struct with a non-zero field this ABI does not know.
        rec = [0xa5; STRBOX_ERROR_SIZE];
        big[39] = 1;
        let r = sys::set(big.as_ptr(), 40);
        check!(r == Err(libc::E2BIG), "size 40, non-zero tail: {r:?}");
        check!(
            rec == [0xa5; STRBOX_ERROR_SIZE],
            "record written before the struct was accepted"
        );
        unchanged("bad sizes")?;

        // 6. Unknown flags.
        for flags in [2u64, 1 << 63, 0xffff_ffff_ffff_fffe] {
            rec = [0xa5; STRBOX_ERROR_SIZE];
            let r = raw(&args(good, flags, recp).to_bytes());
            check!(r == Err(libc::EINVAL), "flags {flags:#x}: {r:?}");
            check!(cleared(&rec), "flags {flags:#x}: record not cleared");
        }
        unchanged("unknown flags")?;

        // 7. Non-zero unused prctl arguments.
        let r = sys::prctl(PR_SECCOMP_SET, a.as_ptr() as u64, 32, 0, 1);
        check!(r == Err(libc::EINVAL), "arg5 != 0: {r:?}");
        unchanged("unused args")?;

        // 8. A policy error without an error record: just EINVAL.
        let r = raw(&args(bad_text, 0, 0).to_bytes());
        check!(r == Err(libc::EINVAL), "no record: {r:?}");
        unchanged("no record")?;

        // Still usable, and a newer (larger, zero-tailed) struct works.
        big[39] = 0;
        let r = sys::set(big.as_ptr(), 40);
        check!(r == Ok(()), "size 40, zero tail: {r:?}");
        check!(getppid() == Err(libc::EPERM), "layer not enforced");
        Ok(())
    })?
    .ok("bad arguments")
}

/// MAX_LAYERS layers install, one more is EMLINK; the task keeps working.
fn limit_layers() -> TestResult {
    let layer = allow_all_except(&[], "errno EPERM");
    spawn(|| {
        nnp()?;
        for i in 0..MAX_LAYERS {
            let (r, _) = set(layer.as_bytes(), 0);
            check!(r == Ok(()), "layer {}: {r:?}", i + 1);
        }
        let (r, rec) = set(layer.as_bytes(), 0);
        check!(r == Err(libc::EMLINK), "layer {}: {r:?}", MAX_LAYERS + 1);
        check!(rec == StrboxError::default(), "record {rec:?}");
        let text = strbox::read_layers().unwrap_or_default();
        let n = strbox::split_layers(&text).len();
        check!(n == MAX_LAYERS, "{n} layers read back");
        check!(getppid().is_ok(), "getppid after EMLINK");
        Ok(())
    })?
    .ok("layers")
}

/// A layer whose getppid rule has `k` comparisons.
fn layer_with(k: usize) -> String {
    let mut s = allow_all_except(&["getppid"], "errno EPERM");
    if k > 0 {
        let terms: Vec<String> = (1..=k).map(|i| format!("arg0 == {i}")).collect();
        s.push_str(&format!("getppid: {}\n", terms.join(" || ")));
    }
    s
}

/// The chain's compiled size (predicates over all layers) is limited to
/// MAX_CHAIN_PREDICATES, exactly: ENOSPC one past it.
fn limit_chain_size() -> TestResult {
    let arch = strbox::policy::arch(None)?;
    for k in [1000usize, 96, 97, 1, 0] {
        let p = strbox::policy::compile_policy(layer_with(k).as_bytes(), arch)
            .map_err(|e| format!("layer_with({k}): {e}"))?;
        ensure!(
            p.predicate_count() == k,
            "layer_with({k}) compiles to {} predicates",
            p.predicate_count()
        );
    }
    ensure!(4 * 1000 + 96 == MAX_CHAIN_PREDICATES, "test assumes 4096");
    let full = layer_with(1000);
    spawn(|| {
        nnp()?;
        for _ in 0..4 {
            install_flags(&full, 0)?;
        }
        let (r, rec) = set(layer_with(97).as_bytes(), 0);
        check!(r == Err(libc::ENOSPC), "4000 + 97 predicates: {r:?}");
        check!(rec == StrboxError::default(), "record {rec:?}");
        let (r, _) = set(layer_with(96).as_bytes(), 0);
        check!(r == Ok(()), "4000 + 96 predicates: {r:?}");
        let (r, _) = set(layer_with(1).as_bytes(), 0);
        check!(r == Err(libc::ENOSPC), "4096 + 1 predicates: {r:?}");
        let (r, _) = set(layer_with(0).as_bytes(), 0);
        check!(r == Ok(()), "4096 + 0 predicates: {r:?}");
        let text = strbox::read_layers().unwrap_or_default();
        check!(strbox::split_layers(&text).len() == 6, "layers read back");
        check!(getppid() == Err(libc::EPERM), "getppid allowed");
        Ok(())
    })?
    .ok("chain size")
}
