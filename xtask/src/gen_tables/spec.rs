//! What gen-tables reads and keeps, as plain data: one `ArchSpec` per
//! architecture (where its syscall table, Kconfig and entry-point wrappers
//! are, its compiler-predefined macros, whether `char` is signed, its
//! `AUDIT_ARCH_*`), the headers the preprocessor runs over (`CONST_ROOTS`,
//! `KERNEL_CONST_ROOTS`, `TYPE_ROOTS`, `KERNEL_TYPE_ROOTS`), and which
//! constant names the tables keep (`PREFIXES`, `EXACT`, `ALIASES`).
//!
//! Uses no other file; the others read it. A new header or constant family
//! is an edit here only.

pub(super) struct ArchSpec {
    /// Rust-side name (`x86_64`), also the output file name.
    pub(super) name: &'static str,
    /// Name of the generated `pub static`.
    pub(super) static_name: &'static str,
    /// `arch/<kdir>`.
    pub(super) kdir: &'static str,
    pub(super) table: TableSpec,
    /// Subdirectories of `arch/<kdir>` that are not this arch's kernel.
    pub(super) exclude_dirs: &'static [&'static str],
    /// Prefix of the syscall wrappers (`__x64_sys_`), for entry aliases.
    pub(super) wrapper_prefix: &'static str,
    /// Kconfig file and the blocks whose unconditional `select`s are always
    /// on for this arch (used only to pick between conflicting definitions).
    pub(super) kconfig: &'static str,
    pub(super) kconfig_blocks: &'static [&'static str],
    /// Compiler-predefined macros (and known-on config symbols).
    pub(super) predefined: &'static [(&'static str, &'static str)],
    /// Is plain `char` signed?
    pub(super) char_signed: bool,
    /// The `AUDIT_ARCH_*` macro of the native ABI.
    pub(super) audit_macro: &'static str,
    /// Arch kernel headers read for macros that uapi constants refer to.
    pub(super) kernel_headers: &'static [&'static str],
}

pub(super) enum TableSpec {
    /// x86 style: table and ABI list named in a Makefile rule
    /// (`$(out)/<target>: abis := common,64`).
    Rule {
        makefile: &'static str,
        target: &'static str,
        tbl: &'static str,
    },
    /// `scripts/Makefile.asm-headers` style (`syscall_abis_64`,
    /// `syscalltbl`), with the arch's `kernel/Makefile.syscalls` overrides.
    AsmHeaders { bits: &'static str },
}

/// `__GNUC__`: the kernel is built with GCC or clang, both define it (the
/// value is Debian 12's GCC; only `defined()` matters in the headers read).
pub(super) const COMMON_PREDEFINED: &[(&str, &str)] = &[
    ("__GNUC__", "12"),
    ("__LP64__", "1"),
    ("_LP64", "1"),
    ("__CHAR_BIT__", "8"),
    ("__SIZEOF_LONG__", "8"),
    ("__SIZEOF_POINTER__", "8"),
    ("CONFIG_64BIT", "1"),
];

pub(super) const ARCHES: &[ArchSpec] = &[
    ArchSpec {
        name: "x86_64",
        static_name: "X86_64",
        kdir: "x86",
        table: TableSpec::Rule {
            makefile: "arch/x86/entry/syscalls/Makefile",
            target: "syscalls_64.h",
            tbl: "arch/x86/entry/syscalls/syscall_64.tbl",
        },
        exclude_dirs: &["um", "boot"],
        wrapper_prefix: "__x64_sys_",
        kconfig: "arch/x86/Kconfig",
        kconfig_blocks: &["64BIT", "X86_64", "X86"],
        predefined: &[
            ("__x86_64__", "1"),
            ("__x86_64", "1"),
            ("CONFIG_X86_64", "1"),
        ],
        char_signed: true,
        audit_macro: "AUDIT_ARCH_X86_64",
        // _NSIG, for SIGRTMAX (the uapi header defines it only for users).
        kernel_headers: &["arch/x86/include/asm/signal.h"],
    },
    ArchSpec {
        name: "aarch64",
        static_name: "AARCH64",
        kdir: "arm64",
        table: TableSpec::AsmHeaders { bits: "64" },
        exclude_dirs: &["boot"],
        wrapper_prefix: "__arm64_sys_",
        kconfig: "arch/arm64/Kconfig",
        kconfig_blocks: &["ARM64", "64BIT"],
        predefined: &[
            ("__aarch64__", "1"),
            ("__CHAR_UNSIGNED__", "1"),
            ("CONFIG_ARM64", "1"),
        ],
        char_signed: false,
        audit_macro: "AUDIT_ARCH_AARCH64",
        kernel_headers: &[],
    },
];

/// uapi headers (`#include <...>` names) whose defines and enumerators, and
/// those of the uapi headers they include, provide the named constants.
pub(super) const CONST_ROOTS: &[&str] = &[
    "linux/fcntl.h",
    "linux/fs.h",
    "asm/mman.h",
    "linux/mman.h",
    "linux/memfd.h",
    "asm/signal.h",
    "linux/sched.h",
    "linux/futex.h",
    "linux/prctl.h",
    "linux/time.h",
    "linux/in.h",
    "linux/in6.h",
    "linux/stat.h",
    "linux/random.h",
    "linux/eventfd.h",
    "linux/eventpoll.h",
    "linux/wait.h",
    "asm/socket.h",
    "asm/ioctls.h",
    "linux/seccomp.h",
    "linux/resource.h",
    "linux/close_range.h",
    "linux/timerfd.h",
    "linux/signalfd.h",
    "linux/audit.h",
    "asm/errno.h",
];

/// Kernel-internal headers (paths in the tree) that define user-visible
/// constants not in any uapi header, with what is taken from each: name
/// prefixes, or `enum TAG` for the enumerators of that enum.
pub(super) const KERNEL_CONST_ROOTS: &[(&str, &[&str])] = &[
    (
        "include/linux/socket.h",
        &["AF_", "PF_", "MSG_", "SOL_", "SOMAXCONN"],
    ),
    // Not SOCK_NOSPACE, SOCK_WAKE_*, ...: socket-internal flags.
    (
        "include/linux/net.h",
        &[
            "enum sock_type",
            "enum sock_shutdown_cmd",
            "SOCK_TYPE_MASK",
            "SOCK_CLOEXEC",
            "SOCK_NONBLOCK",
        ],
    ),
    // MAY_READ/WRITE/EXEC, for the access-mode aliases below.
    ("include/linux/fs.h", &[]),
];

/// Headers read only for typedefs and enum types of syscall arguments.
pub(super) const TYPE_ROOTS: &[&str] = &[
    "asm/posix_types.h",
    "linux/types.h",
    "linux/aio_abi.h",
    "linux/capability.h",
    "linux/landlock.h",
];
pub(super) const KERNEL_TYPE_ROOTS: &[&str] = &[
    "include/asm-generic/int-ll64.h",
    "include/linux/types.h",
    "include/linux/key.h",
    "include/linux/quota.h",
];

/// Name prefixes of the constants taken from uapi headers.
const PREFIXES: &[&str] = &[
    "AF_",
    "AT_",
    "CLOCK_",
    "CLONE_",
    "CLOSE_RANGE_",
    "EFD_",
    "EPOLL",
    "F_",
    "FIO",
    "FUTEX_",
    "GRND_",
    "IPPROTO_",
    "MADV_",
    "MAP_",
    "MCL_",
    "MFD_",
    "MLOCK_",
    "MREMAP_",
    "MS_",
    "MSG_",
    "O_",
    "PF_",
    "PR_",
    "PRIO_",
    "PROT_",
    "P_",
    "RENAME_",
    "RLIMIT_",
    "RUSAGE_",
    "SA_",
    "SCHED_",
    "SECCOMP_",
    "SEEK_",
    "SFD_",
    "SIG",
    "SOCK_",
    "SOL_",
    "SO_",
    "SS_",
    "S_I",
    "TC",
    "TFD_",
    "TIOC",
];
/// Exact names also taken from uapi headers.
const EXACT: &[&str] = &[
    "TIMER_ABSTIME",
    "WNOHANG",
    "WUNTRACED",
    "WSTOPPED",
    "WEXITED",
    "WCONTINUED",
    "WNOWAIT",
];

/// Constants the kernel tests without naming them: `faccessat` checks the
/// mode against `S_IRWXO` and passes it on as `MAY_*` bits
/// (fs/open.c: "where's F_OK, X_OK, W_OK, R_OK?"). F_OK is "no bits".
pub(super) const ALIASES: &[(&str, &str)] = &[
    ("F_OK", "0"),
    ("R_OK", "MAY_READ"),
    ("W_OK", "MAY_WRITE"),
    ("X_OK", "MAY_EXEC"),
];

pub(super) fn wanted_const(name: &str) -> bool {
    !name.starts_with("__")
        && (EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)))
}
