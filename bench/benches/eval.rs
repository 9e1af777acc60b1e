//! Evaluation benchmark (host): ns per evaluation for
//!
//! 1. Ingo's four rules;
//! 2. an allowlist of ~300 syscalls with a few argument rules;
//! 3. the same allowlist stacked in 16 layers (`evaluate_chain`);
//!
//! plus the cost of one predicate (a rule of 256 `||` alternatives whose
//! last one matches, against one of a single predicate) and the compile
//! time of a policy at the size limit (64 KiB of text, 1,020 predicates).
//!
//! Run: `cargo bench -p strbox-bench --bench eval` (add `-- --quick` for a short
//! run). Each scenario evaluates a fixed mix of calls (constant-allow
//! syscalls, syscalls with predicates that pass and that fail, unlisted
//! syscalls), many times; the figure is total time / evaluations.

use std::hint::black_box;
use std::time::Instant;

use strbox::policy;
use strbox_filter::uapi::tables::{Arch, NATIVE};
use strbox_filter::{evaluate_chain, Program, Verdict};

const INGO: &str = "read: fd == 0\nwrite: fd == 1\nrt_sigreturn: 1\ngettimeofday: tz == NULL\n";

/// ~300 syscalls allowed outright plus argument rules on a few.
fn allowlist(arch: &'static Arch) -> String {
    let with_rules = [
        "read", "write", "openat", "mmap", "mprotect", "socket", "ioctl", "fcntl", "clone", "kill",
    ];
    let mut s = String::from("default errno EPERM\n");
    s.push_str("read: fd == 0 || fd > 2 && count < 0x100000\n");
    s.push_str("write: fd == 1 || fd == 2\n");
    s.push_str("openat: dfd == AT_FDCWD && flags in O_RDONLY|O_CLOEXEC|O_NONBLOCK|O_DIRECTORY\n");
    s.push_str("mmap: !(prot & PROT_EXEC) && (flags & MAP_PRIVATE)\n");
    s.push_str("mprotect: prot in PROT_READ|PROT_WRITE\n");
    s.push_str(
        "socket: family == AF_UNIX || family == AF_INET && type in SOCK_STREAM|SOCK_CLOEXEC\n",
    );
    s.push_str("ioctl: fd < 3 && cmd == 0x5401\n");
    s.push_str("fcntl: cmd == F_GETFL || cmd == F_SETFL || cmd == F_GETFD || cmd == F_SETFD\n");
    s.push_str("clone: !(clone_flags & CLONE_NEWUSER)\n");
    s.push_str("kill: pid == 0 || sig == 0\n");
    let mut n = with_rules.len();
    for sys in arch.syscalls {
        if n >= 300 {
            break;
        }
        if with_rules.contains(&sys.name)
            || ["ptrace", "reboot", "kexec_load", "init_module", "bpf"].contains(&sys.name)
        {
            continue;
        }
        s.push_str(&format!("{}: 1\n", sys.name));
        n += 1;
    }
    s
}

/// A policy at the size limit: 1,020 predicates over six fd-taking
/// syscalls, padded with comment lines to 65,000 bytes (the limit is
/// 65,536).
fn big_policy() -> String {
    let mut s = String::from("default errno EPERM\n");
    for (k, name) in ["read", "write", "close", "fsync", "fdatasync", "fchdir"]
        .iter()
        .enumerate()
    {
        let alts = (0..170)
            .map(|i| format!("fd == {}", 10_000 * k + i))
            .collect::<Vec<_>>()
            .join(" || ");
        s.push_str(&format!("{name}: {alts}\n"));
    }
    while s.len() < 65_000 - 80 {
        s.push_str("# padding: a policy's comments count towards its 64 KiB limit too\n");
    }
    s
}

/// A mix of calls: (nr, args).
fn calls(arch: &'static Arch, names: &[(&str, [u64; 6])]) -> Vec<(u32, [u64; 6])> {
    names
        .iter()
        .map(|(n, a)| (arch.syscall(n).unwrap_or_else(|| panic!("no {n}")).nr, *a))
        .collect()
}

/// Best of five rounds (the machine may be shared), in ns per evaluation.
fn measure(
    name: &str,
    iters: u64,
    calls: &[(u32, [u64; 6])],
    mut f: impl FnMut(u32, &[u64; 6]) -> Verdict,
) -> f64 {
    // warm up
    for (nr, a) in calls {
        black_box(f(*nr, a));
    }
    let n = iters * calls.len() as u64;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut acc = 0u32;
        for _ in 0..iters {
            for (nr, a) in calls {
                let v = f(black_box(*nr), black_box(a));
                acc = acc.wrapping_add(v.severity() as u32);
            }
        }
        let el = start.elapsed();
        black_box(acc);
        best = best.min(el.as_nanos() as f64 / n as f64);
    }
    println!("  {name:<44} {best:>8.2} ns/eval   (best of 5 x {n} evaluations)");
    best
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters: u64 = if quick { 20_000 } else { 200_000 };
    let arch = NATIVE;
    let ingo = policy::compile_policy(INGO.as_bytes(), arch).expect("ingo compiles");
    let allow_src = allowlist(arch);
    let allow = policy::compile_policy(allow_src.as_bytes(), arch).expect("allowlist compiles");
    let layers: Vec<Box<Program>> = (0..16).map(|_| allow.clone()).collect();
    let n_rules = allow_src.lines().count() - 1;

    println!(
        "strbox-filter evaluation benchmark ({}; Program = {} bytes)",
        arch.name,
        Program::SIZE
    );
    println!(
        "allowlist: {n_rules} rules, {} compiled predicates, {} syscalls in the constant-allow bitmap",
        allow.predicate_count(),
        arch.syscalls.iter().filter(|s| allow.always_allows(s.nr)).count()
    );

    let ingo_calls = calls(
        arch,
        &[
            ("read", [0, 0x1000, 64, 0, 0, 0]),
            ("write", [1, 0x1000, 64, 0, 0, 0]),
            ("rt_sigreturn", [0; 6]),
            ("gettimeofday", [0x7ffd_0000, 0, 0, 0, 0, 0]),
            ("read", [3, 0x1000, 64, 0, 0, 0]),
            ("getpid", [0; 6]),
        ],
    );
    let mix = calls(
        arch,
        &[
            ("read", [0, 0x1000, 64, 0, 0, 0]),
            ("read", [5, 0x1000, 1 << 30, 0, 0, 0]),
            ("write", [1, 0x1000, 64, 0, 0, 0]),
            ("openat", [(-100i64) as u64, 0x1000, 0o2000000, 0, 0, 0]),
            ("mmap", [0, 4096, 3, 0x22, u64::MAX, 0]),
            ("fcntl", [3, 4, 0, 0, 0, 0]),
            ("close", [3, 0, 0, 0, 0, 0]),
            ("fstat", [3, 0x1000, 0, 0, 0, 0]),
            ("futex", [0x1000, 0, 0, 0, 0, 0]),
            ("ptrace", [0; 6]),
        ],
    );

    println!("\nsingle layer:");
    let t_ingo = measure("Ingo's four rules", iters, &ingo_calls, |nr, a| {
        ingo.evaluate(nr, a)
    });
    let t_allow = measure(
        "~300-syscall allowlist + argument rules",
        iters,
        &mix,
        |nr, a| allow.evaluate(nr, a),
    );
    println!("\nstacked:");
    let t_chain = measure(
        "allowlist x 16 layers (evaluate_chain)",
        iters / 4,
        &mix,
        |nr, a| evaluate_chain(layers.iter().map(|b| &**b), nr, a),
    );
    let t_chain1 = measure(
        "allowlist x 1 layer (evaluate_chain)",
        iters,
        &mix,
        |nr, a| evaluate_chain([&*allow], nr, a),
    );
    println!("\nper predicate:");
    let wide = (0..256)
        .map(|i| format!("fd == {}", 1000 + i))
        .collect::<Vec<_>>()
        .join(" || ");
    let wide = policy::compile_policy(format!("read: {wide}\n").as_bytes(), arch)
        .expect("wide rule compiles");
    let one = policy::compile_policy(b"read: fd == 1255\n", arch).expect("one rule compiles");
    let last = calls(arch, &[("read", [1255, 0, 0, 0, 0, 0])]);
    let t_wide = measure(
        "a rule of 256 alternatives, the last matches",
        iters / 16,
        &last,
        |nr, a| wide.evaluate(nr, a),
    );
    let t_one = measure("a rule of one predicate", iters, &last, |nr, a| {
        one.evaluate(nr, a)
    });
    println!(
        "  per predicate walked             {:>8.2} ns",
        (t_wide - t_one) / 255.0
    );

    println!("\ncompile:");
    let big = big_policy();
    let rounds = if quick { 5 } else { 50 };
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let p =
            policy::compile_policy(black_box(big.as_bytes()), arch).expect("big policy compiles");
        best = best.min(t.elapsed().as_secs_f64() * 1e6);
        black_box(p);
    }
    let p = policy::compile_policy(big.as_bytes(), arch).expect("big policy compiles");
    println!(
        "  {} bytes, {} predicates          {best:>8.0} us (best of {rounds})",
        big.len(),
        p.predicate_count()
    );

    println!("\nratios:");
    println!(
        "  allowlist / ingo                 {:>6.2}x",
        t_allow / t_ingo
    );
    println!(
        "  16 layers / 1 layer (chain)      {:>6.2}x",
        t_chain / t_chain1
    );
    println!(
        "  16 layers per layer              {:>8.2} ns",
        t_chain / 16.0
    );
}
