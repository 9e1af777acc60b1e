//! The strbox system-call ABI: `prctl` options, the size-versioned argument
//! struct of [`PR_SECCOMP_SET`], the error record filled on rejection,
//! flags, the ABI version and the per-task limits.
//!
//! The same definitions exist for C in `uapi/include/strbox.h`; the two are
//! kept in sync by hand and checked against each other by a unit test of
//! this crate (`header_matches`).
//!
//! # Calls
//!
//! All calls are `prctl(2)` options that the strbox kernel module claims
//! (a kprobe on the prctl syscall; the result is written before the task
//! returns to user mode); without the module loaded the kernel's own
//! `prctl` answers them with `EINVAL` (the option values cannot collide with mainline
//! options: mainline uses small numbers and a few four-character tags, and
//! the strbox range is the tag `"SBX"`, `0x534258xx`). Unused arguments
//! must be zero. Only the native 64-bit syscall ABI is claimed (a compat
//! `prctl` reaches the kernel's own prctl).
//!
//! | call | returns |
//! |------|---------|
//! | `prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0)` | [`STRBOX_ABI_VERSION`] |
//! | `prctl(PR_SECCOMP_SET, &args, sizeof(args), 0, 0)` | `0`, the layer is installed |
//! | `prctl(PR_SECCOMP_GET, buf, size, 0, 0)` | length of the text of the caller's layers |
//!
//! Every call is itself a syscall and is filtered by the caller's layers
//! first: a layer that does not allow `prctl` also forbids adding layers.
//!
//! ## `PR_SECCOMP_SET` errors
//!
//! | errno | meaning |
//! |-------|---------|
//! | `EINVAL` | arg4/arg5 not zero; `size` < [`STRBOX_SET_ARGS_SIZE_VER0`]; unknown bits in `flags`; or the policy was rejected: the error record (if given) holds the code, offset, line and column |
//! | `E2BIG` | `size` > [`STRBOX_SET_ARGS_SIZE_MAX`], or bytes of the struct beyond what this ABI knows are not zero; or `policy_len` > [`MAX_POLICY_BYTES`] (error record code 1, "policy text too large") |
//! | `EFAULT` | `args`, the policy text or the error record is not accessible |
//! | `EACCES` | the caller has neither `no_new_privs` nor `CAP_SYS_ADMIN` in its user namespace |
//! | `EMLINK` | the caller already has [`MAX_LAYERS`] layers |
//! | `ENOSPC` | the chain's compiled size would exceed [`MAX_CHAIN_PREDICATES`] |
//! | `EBUSY` | `TSYNC`: another thread has layers that are not an ancestor of the caller's chain |
//! | `ENOMEM` | out of kernel memory |
//!
//! On every error the task is exactly as before the call.
//!
//! ## `PR_SECCOMP_GET` errors
//!
//! | errno | meaning |
//! |-------|---------|
//! | `EINVAL` | arg4/arg5 not zero |
//! | `ERANGE` | `size` is not zero and smaller than the text (nothing is written) |
//! | `EFAULT` | `buf` is not writable |
//! | `ENOMEM` | out of kernel memory |
//!
//! With `size == 0` nothing is written and the length is returned, so a
//! caller can size its buffer first (like `getxattr(2)`). The text is not
//! NUL-terminated.

/// Base of the strbox `prctl` option range: the tag `"SBX"` in the upper
/// three bytes.
pub const PR_STRBOX_BASE: u32 = 0x5342_5800;
/// `prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0)` returns [`STRBOX_ABI_VERSION`].
pub const PR_STRBOX_ABI_VERSION: u32 = PR_STRBOX_BASE;
/// `prctl(PR_SECCOMP_SET, &StrboxSetArgs, sizeof, 0, 0)`: install a layer.
pub const PR_SECCOMP_SET: u32 = PR_STRBOX_BASE | 1;
/// `prctl(PR_SECCOMP_GET, buf, size, 0, 0)`: read back the caller's layers.
pub const PR_SECCOMP_GET: u32 = PR_STRBOX_BASE | 2;

/// The ABI version this crate describes. Version 1: `PR_SECCOMP_SET` with
/// [`STRBOX_SET_TSYNC`], `PR_SECCOMP_GET`, register-argument filters at
/// syscall entry on the native ABI. Version 2: the LSM-hook events
/// (`file_open`, `exec`, `socket_connect`, `socket_bind`) with string,
/// glob and address fields; a version-1 kernel rejects such rules
/// (`unknown syscall`), so a library can tell by this number whether they
/// are enforced. Version 3: per-rule actions (`RULE => kill`,
/// `=> errno NAME|N`, `=> log`, `=> allow`) and `default allow` (deny-list
/// layers); a version-2 kernel rejects them (`ExpectedLogicalOp` at `=>`,
/// `UnknownAction` at `default allow`), so a deny-list is never installed
/// as something else by accident.
pub const STRBOX_ABI_VERSION: u32 = 3;

/// [`StrboxSetArgs::flags`]: install the layer on every thread of the
/// calling process, or on none (`EBUSY`) if some thread's layers are not an
/// ancestor of the caller's. Threads that get the layer also get
/// `no_new_privs` if the caller has it (as seccomp's TSYNC).
pub const STRBOX_SET_TSYNC: u64 = 1 << 0;
/// All flags this ABI version knows; any other bit is `EINVAL`.
pub const STRBOX_SET_FLAGS_ALL: u64 = STRBOX_SET_TSYNC;

/// Size of the first version of [`StrboxSetArgs`] (the smallest accepted).
pub const STRBOX_SET_ARGS_SIZE_VER0: usize = 32;
/// Largest `size` accepted for `PR_SECCOMP_SET` (a page, as for openat2).
pub const STRBOX_SET_ARGS_SIZE_MAX: usize = 4096;

/// Argument of [`PR_SECCOMP_SET`] (`struct strbox_set_args`).
///
/// Size-versioned like `open_how`: the caller passes `sizeof` as arg3; a
/// newer caller may pass a larger struct as long as the bytes this kernel
/// does not know are zero (`E2BIG` otherwise), an older one a smaller one
/// down to [`STRBOX_SET_ARGS_SIZE_VER0`]. All fields are 64-bit, so the
/// layout is the same for every ABI.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrboxSetArgs {
    /// User address of the policy text (UTF-8 not required: the text is
    /// checked byte by byte; a NUL byte is an invalid character).
    pub policy: u64,
    /// Length of the policy text in bytes, at most [`MAX_POLICY_BYTES`].
    pub policy_len: u64,
    /// [`STRBOX_SET_TSYNC`] or 0.
    pub flags: u64,
    /// User address of a [`StrboxError`] to fill when the call fails, or 0.
    /// When non-zero it is cleared (all zero) before anything else is
    /// checked (so an unwritable record is `EFAULT` at once), and holds the
    /// policy error when the call fails with `EINVAL`/`E2BIG` because of
    /// the text.
    pub error: u64,
}

impl StrboxSetArgs {
    /// Decodes the struct from its first [`STRBOX_SET_ARGS_SIZE_VER0`]
    /// bytes in native byte order.
    pub fn from_bytes(b: &[u8; STRBOX_SET_ARGS_SIZE_VER0]) -> StrboxSetArgs {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            for (k, d) in w.iter_mut().enumerate() {
                *d = b.get(i * 8 + k).copied().unwrap_or(0);
            }
            u64::from_ne_bytes(w)
        };
        StrboxSetArgs {
            policy: word(0),
            policy_len: word(1),
            flags: word(2),
            error: word(3),
        }
    }

    /// The native-byte-order encoding of the struct.
    pub fn to_bytes(&self) -> [u8; STRBOX_SET_ARGS_SIZE_VER0] {
        let mut out = [0u8; STRBOX_SET_ARGS_SIZE_VER0];
        for (i, w) in [self.policy, self.policy_len, self.flags, self.error]
            .iter()
            .enumerate()
        {
            for (k, b) in w.to_ne_bytes().iter().enumerate() {
                if let Some(d) = out.get_mut(i * 8 + k) {
                    *d = *b;
                }
            }
        }
        out
    }
}

/// Size of [`StrboxError`].
pub const STRBOX_ERROR_SIZE: usize = 16;

/// [`StrboxError::code`] when the failure is not about the policy text
/// (bad flags, no privilege, limits on the chain, ...): the errno says it.
pub const STRBOX_ERROR_NONE: u32 = 0;

/// Where and why a policy was rejected (`struct strbox_error`), filled by
/// [`PR_SECCOMP_SET`] on failure. `code` is an
/// [`ErrorCode`](super::errors::ErrorCode) (stable numbers,
/// `STRBOX_ERR_*` in C), or [`STRBOX_ERROR_NONE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrboxError {
    /// The filter's error code, or [`STRBOX_ERROR_NONE`].
    pub code: u32,
    /// Byte offset in the policy text.
    pub offset: u32,
    /// 1-based line of `offset` (0 when `code` is 0).
    pub line: u32,
    /// 1-based byte column of `offset` (0 when `code` is 0).
    pub column: u32,
}

impl StrboxError {
    /// The native-byte-order encoding.
    pub fn to_bytes(&self) -> [u8; STRBOX_ERROR_SIZE] {
        let mut out = [0u8; STRBOX_ERROR_SIZE];
        for (i, w) in [self.code, self.offset, self.line, self.column]
            .iter()
            .enumerate()
        {
            for (k, b) in w.to_ne_bytes().iter().enumerate() {
                if let Some(d) = out.get_mut(i * 4 + k) {
                    *d = *b;
                }
            }
        }
        out
    }

    /// Decodes the native-byte-order encoding.
    pub fn from_bytes(b: &[u8; STRBOX_ERROR_SIZE]) -> StrboxError {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            for (k, d) in w.iter_mut().enumerate() {
                *d = b.get(i * 4 + k).copied().unwrap_or(0);
            }
            u32::from_ne_bytes(w)
        };
        StrboxError {
            code: word(0),
            offset: word(1),
            line: word(2),
            column: word(3),
        }
    }
}

/// Largest policy text accepted by `PR_SECCOMP_SET`, in bytes (`E2BIG`).
/// Equal to the filter's own `limits::MAX_POLICY_BYTES`.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Most layers one task may have (`EMLINK` for one more), as Landlock's 16
/// stacked rulesets.
pub const MAX_LAYERS: usize = 16;

/// Largest total compiled size of one task's chain, counted in compiled
/// predicates summed over all its layers (`ENOSPC` beyond). This bounds the
/// work any one syscall of a filtered task can cost, as seccomp's
/// `MAX_INSNS_PER_PATH` does; a single layer holds at most the filter's
/// `limits::MAX_PROGRAM_PREDICATES` (1024), so four full layers reach it.
pub const MAX_CHAIN_PREDICATES: usize = 4096;

/// `PR_SECCOMP_GET` text: each layer's canonical text is preceded by a
/// comment line `# strbox layer I/N` (I = 1 is the oldest layer; layers are
/// in install order, oldest first, newest last). Each layer's part is a
/// policy that compiles to the same program.
pub const LAYER_HEADER_PREFIX: &str = "# strbox layer ";

#[cfg(all(test, not(strbox_kmod)))]
mod tests {
    use super::*;

    #[test]
    fn set_args_round_trip() {
        let a = StrboxSetArgs {
            policy: 0x1122_3344_5566_7788,
            policy_len: 42,
            flags: STRBOX_SET_TSYNC,
            error: 0xdead_beef,
        };
        assert_eq!(StrboxSetArgs::from_bytes(&a.to_bytes()), a);
        assert_eq!(
            core::mem::size_of::<StrboxSetArgs>(),
            STRBOX_SET_ARGS_SIZE_VER0
        );
    }

    #[test]
    fn error_round_trip() {
        let e = StrboxError {
            code: 9,
            offset: 17,
            line: 2,
            column: 3,
        };
        assert_eq!(StrboxError::from_bytes(&e.to_bytes()), e);
        assert_eq!(core::mem::size_of::<StrboxError>(), STRBOX_ERROR_SIZE);
    }

    /// The C header defines the same numbers.
    #[test]
    fn header_matches() {
        let h = include_str!("../include/strbox.h");
        let def = |name: &str| -> u64 {
            let line = h
                .lines()
                .find(|l| {
                    let mut w = l.split_whitespace();
                    w.next() == Some("#define") && w.next() == Some(name)
                })
                .unwrap_or_else(|| panic!("{name} not in strbox.h"));
            let v = line.split_whitespace().nth(2).expect("value");
            let v = v.trim_start_matches('(').trim_end_matches(')');
            let v = v.trim_end_matches(['U', 'L', 'u', 'l']);
            if let Some(x) = v.strip_prefix("0x") {
                u64::from_str_radix(x, 16).expect("hex")
            } else {
                v.parse().expect("number")
            }
        };
        assert_eq!(
            def("PR_STRBOX_ABI_VERSION"),
            u64::from(PR_STRBOX_ABI_VERSION)
        );
        assert_eq!(def("PR_SECCOMP_SET"), u64::from(PR_SECCOMP_SET));
        assert_eq!(def("PR_SECCOMP_GET"), u64::from(PR_SECCOMP_GET));
        assert_eq!(def("STRBOX_ABI_VERSION"), u64::from(STRBOX_ABI_VERSION));
        assert_eq!(def("STRBOX_SET_TSYNC"), STRBOX_SET_TSYNC);
        assert_eq!(
            def("STRBOX_SET_ARGS_SIZE_VER0"),
            STRBOX_SET_ARGS_SIZE_VER0 as u64
        );
        assert_eq!(
            def("STRBOX_SET_ARGS_SIZE_MAX"),
            STRBOX_SET_ARGS_SIZE_MAX as u64
        );
        assert_eq!(def("STRBOX_ERROR_NONE"), u64::from(STRBOX_ERROR_NONE));
        assert_eq!(def("STRBOX_MAX_POLICY_BYTES"), MAX_POLICY_BYTES as u64);
        assert_eq!(def("STRBOX_MAX_LAYERS"), MAX_LAYERS as u64);
        assert_eq!(
            def("STRBOX_MAX_CHAIN_PREDICATES"),
            MAX_CHAIN_PREDICATES as u64
        );
        // Every policy error code, and no other STRBOX_ERR_ name.
        for c in super::super::errors::ErrorCode::ALL {
            assert_eq!(def(c.c_name()), c as u64, "{}", c.c_name());
        }
        let defined = h
            .lines()
            .filter(|l| l.starts_with("#define STRBOX_ERR_"))
            .count();
        assert_eq!(defined, super::super::errors::ErrorCode::ALL.len());
    }
}

/// x86_64: the bit an x32 syscall sets in its number (the kernel's
/// `__X32_SYSCALL_BIT`). strbox judges such a call by its chain's default
/// action; no arm64 syscall number comes near it.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
