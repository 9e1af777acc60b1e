//! The benchmark's policies, written once as strbox policy text.
//!
//! strbox gets the text; the seccomp-bpf twin of each is generated from
//! the same compiled program by `strbox-bpf` (`strbox compile --bpf` uses
//! the same generator), so both mechanisms enforce one meaning. That the
//! two agree is tested in `strbox-bpf` on the host and by the guest test
//! `bench_seccomp_twins_match_strbox` in the real kernel.

use strbox_filter::limits::MAX_NR;
use strbox_filter::{Program, Step};
use strbox_uapi::tables::Arch;

/// Syscalls a layer names (their start differs from that of an unlisted
/// number), and how many of them have argument rules.
pub fn rule_counts(p: &Program) -> (usize, usize) {
    let unlisted = p.syscall_start(MAX_NR as u32);
    let starts: Vec<Step> = (0..MAX_NR as u32)
        .map(|nr| p.syscall_start(nr))
        .filter(|s| *s != unlisted)
        .collect();
    let args = starts.iter().filter(|s| matches!(s, Step::Test(_))).count();
    (starts.len(), args)
}

// ------------------------------------------------------------- policies

/// Policy C: allows everything. Its cost is each mechanism's floor: what
/// a filtered syscall pays before any rule runs.
pub const OPEN: &str = "default allow\n";

/// The errno every benchmark policy denies with.
pub const DENY_ERRNO: &str = "EPERM";

/// Policy A: Ingo Molnar's four rules from the 2009 proposal, plus what
/// the benchmark process itself needs once filtered.
pub fn ingo() -> String {
    "\
default errno EPERM
read:          fd == 0
write:         fd == 1
rt_sigreturn:  1
gettimeofday:  tz == NULL
# what the benchmark child needs besides
exit_group:    1
clock_gettime: 1
getppid:       1
"
    .to_string()
}

/// Argument rules of policy B (those using constants of both arches).
const ALLOWLIST_RULES: &str = "\
read:     fd == 0 || fd > 2 && count < 0x100000
write:    fd == 1 || fd == 2
openat:   dfd == AT_FDCWD && flags in O_RDONLY|O_CLOEXEC|O_NONBLOCK|O_DIRECTORY
mmap:     !(prot & PROT_EXEC) && (flags & MAP_PRIVATE)
mprotect: prot in PROT_READ|PROT_WRITE
socket:   family == AF_UNIX || family == AF_INET && type in SOCK_STREAM|SOCK_CLOEXEC
ioctl:    fd < 3 && cmd == 0x5401
fcntl:    cmd == F_GETFL || cmd == F_SETFL || cmd == F_GETFD || cmd == F_SETFD
clone:    !(clone_flags & CLONE_NEWUSER)
kill:     pid == 0 || sig == 0
lseek:    offset >= 0 && whence <= 2
";

/// Syscalls policy B never allows (`getsid` is the benchmark's "denied"
/// probe; the rest is what an allowlist would leave out anyway).
pub const ALLOWLIST_DENIED: &[&str] = &[
    "getsid",
    "ptrace",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "swapon",
    "swapoff",
    "mount",
    "umount2",
    "pivot_root",
];

/// Syscalls policy B must allow (the benchmark child's own, and the
/// install calls for stacking).
const ALLOWLIST_NEEDED: &[&str] = &[
    "exit_group",
    "exit",
    "rt_sigreturn",
    "clock_gettime",
    "gettimeofday",
    "getppid",
    "prctl",
    "seccomp",
    "brk",
    "munmap",
    "close",
];

/// How many syscalls policy B names.
pub const ALLOWLIST_SIZE: usize = 300;

/// Policy B: an allowlist of [`ALLOWLIST_SIZE`] syscalls of `arch` (the
/// argument rules above, the syscalls the benchmark needs, then the rest
/// in number order) with `default errno EPERM`.
pub fn allowlist(arch: &'static Arch) -> String {
    let mut s = String::from("default errno EPERM\n");
    let mut named: Vec<&str> = Vec::new();
    for l in ALLOWLIST_RULES.lines() {
        s.push_str(l);
        s.push('\n');
        let n = l.split(':').next().unwrap_or("").trim();
        if !named.contains(&n) {
            named.push(n);
        }
    }
    for n in ALLOWLIST_NEEDED {
        if !named.contains(n) && arch.syscall(n).is_some() {
            s.push_str(&format!("{n}: 1\n"));
            named.push(n);
        }
    }
    let mut by_nr: Vec<_> = arch.syscalls.iter().collect();
    by_nr.sort_by_key(|s| s.nr);
    for sys in by_nr {
        if named.len() >= ALLOWLIST_SIZE {
            break;
        }
        if named.contains(&sys.name) || ALLOWLIST_DENIED.contains(&sys.name) {
            continue;
        }
        s.push_str(&format!("{}: 1\n", sys.name));
        named.push(sys.name);
    }
    s
}

#[cfg(test)]
mod tests;
