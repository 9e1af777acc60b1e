//! Host-side proof that each generated seccomp filter means what the
//! strbox policy means: the BPF runs in [`bpf::run`] (which also applies
//! the kernel's validity checks) against `strbox_filter`'s own evaluator,
//! for every syscall of both architectures and many argument vectors
//! aimed at the policies' constants and the types' edges, with garbage in
//! the upper register halves.

use super::*;
use crate::bpf::{const_allow, run, validate, Data, RET_ALLOW};
use strbox_filter::Verdict;
use strbox_uapi::abi::X32_SYSCALL_BIT;
use strbox_uapi::tables::ARCHES;

/// Exercises what the benchmark policies do not: narrow (`umode_t`) and
/// signed (`pid_t`, `off_t`, `int fd`) orderings, `in`/`&` on 64-bit
/// values, negative constants, `!`, `argN`, several rules per syscall.
const EDGES: &str = "\
default errno EACCES
kill:   pid < 0 || pid >= 100 && sig <= 9
kill:   sig == -1
fchmod: mode in 0755 || mode > 0x8000 || mode == -1
lseek:  offset < -5 || offset >= 0x100000000 && whence != 1
lseek:  !(offset <= 7) && !(offset > 0x7ffffffffffffffc)
accept: fd >= -3 && fd <= 2
mmap:   addr & 0xffff000000000000 || !(len <= 4096) && prot in 0x7
munmap: arg5 == 7 || arg1 != 0xffffffff00000000
getppid: 1
read:   0
write:  1
write:  fd == 1
";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// Interesting values for one argument: around each constant compared
/// with it, sign-extended and with garbage upper halves, plus the edges.
fn candidates(p: &Policy, arg: u8) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        3,
        u64::MAX,
        1 << 31,
        (1 << 31) - 1,
        1 << 32,
        u32::MAX as u64,
        1 << 63,
        (1 << 63) - 1,
        0xdead_beef_0000_0000,
        0x8000,
        0xffff,
        0x1_0000,
    ];
    for (a, c) in constants(p) {
        if a != arg {
            continue;
        }
        for d in [c, c.wrapping_add(1), c.wrapping_sub(1), !c, c ^ (1 << 31)] {
            v.push(d);
            v.push(d | 0xffff_ffff_0000_0000);
            v.push(d | 0x1234_5678_0000_0000);
            v.push(d as u32 as i32 as i64 as u64);
            v.push(d as u16 as i16 as i64 as u64);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn expected(v: Verdict, errno: u16) -> u32 {
    match v {
        Verdict::Allow => RET_ALLOW,
        Verdict::Errno(e) => {
            assert_eq!(e, errno);
            bpf::ret_errno(e)
        }
        v => panic!("benchmark policies only allow or fail with errno, got {v:?}"),
    }
}

fn check_policy(name: &str, text: &str, arch: &'static Arch) -> usize {
    let prog = strbox::policy::compile_policy(text.as_bytes(), arch)
        .unwrap_or_else(|e| panic!("{name}/{}: strbox rejects: {e:?}", arch.name));
    let p = Policy::parse(text, arch).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut rng = Rng(0x5eed ^ text.len() as u64);
    let cands: Vec<Vec<u64>> = (0..6).map(|i| candidates(&p, i)).collect();
    let mut nrs: Vec<i64> = arch.syscalls.iter().map(|s| i64::from(s.nr)).collect();
    nrs.extend([
        i64::from(arch.nr_syscalls),
        1000,
        -1,
        i64::from(X32_SYSCALL_BIT) | 39,
        i64::from(X32_SYSCALL_BIT) | 110,
        i64::from(u32::MAX),
    ]);
    let mut runs = 0;
    for layout in [Layout::Tree, Layout::Linear] {
        let bpf = p.to_bpf(layout).unwrap();
        validate(&bpf).unwrap();
        for &nr in &nrs {
            // the seccomp action cache covers exactly strbox's bitmap
            let nr32 = nr as i32;
            assert_eq!(
                const_allow(&bpf, nr32, arch.audit_arch),
                nr >= 0 && prog.always_allows(nr as u32),
                "{name}/{}/{layout:?}: cache verdict of nr {nr}",
                arch.name
            );
            let tries = if p.rules.contains_key(&(nr as u32)) {
                400
            } else {
                3
            };
            for _ in 0..tries {
                let mut args = [0u64; 6];
                for (i, a) in args.iter_mut().enumerate() {
                    *a = if rng.next().is_multiple_of(8) {
                        rng.next()
                    } else {
                        rng.pick(&cands[i])
                    };
                }
                let want = expected(prog.evaluate(nr as u32, &args), p.errno);
                let d = Data {
                    nr: nr32,
                    arch: arch.audit_arch,
                    args,
                };
                let got = run(&bpf, &d).unwrap();
                assert_eq!(
                    got, want,
                    "{name}/{}/{layout:?}: nr {nr} args {args:#x?}",
                    arch.name
                );
                assert_eq!(p.allows(nr as u32, &args), want == RET_ALLOW);
                // another ABI: always the default action
                let other = Data {
                    arch: arch.audit_arch ^ 0x4000_0000,
                    ..d
                };
                assert_eq!(run(&bpf, &other).unwrap(), bpf::ret_errno(p.errno));
                runs += 1;
            }
        }
    }
    runs
}

#[test]
fn generated_filters_agree_with_strbox() {
    for arch in ARCHES {
        let mut n = 0;
        n += check_policy("ingo", &ingo(), arch);
        n += check_policy("allowlist", &allowlist(arch), arch);
        n += check_policy("edges", EDGES, arch);
        assert!(n > 30_000, "{}: only {n} runs", arch.name);
    }
}

#[test]
fn allowlist_shape() {
    for arch in ARCHES {
        let text = allowlist(arch);
        let p = Policy::parse(&text, arch).unwrap();
        assert_eq!(p.rules.len(), ALLOWLIST_SIZE, "{}", arch.name);
        for n in ALLOWLIST_NEEDED {
            let nr = arch.syscall(n).unwrap().nr;
            assert!(p.rules.contains_key(&nr), "{n} missing on {}", arch.name);
        }
        for n in ALLOWLIST_DENIED {
            if let Some(s) = arch.syscall(n) {
                assert!(!p.rules.contains_key(&s.nr), "{n} allowed");
            }
        }
        let conditional = p.rules.keys().filter(|&&nr| !p.unconditional(nr)).count();
        assert_eq!(conditional, 11);
    }
}

/// Sizes the kernel accepts: one filter at most BPF_MAXINSNS, and 16
/// stacked filters within MAX_INSNS_PER_PATH (32768, counting 4 extra
/// per filter) — the benchmark stacks 16.
#[test]
fn sizes_fit_the_kernel_limits() {
    for arch in ARCHES {
        let p = Policy::parse(&allowlist(arch), arch).unwrap();
        for layout in [Layout::Tree, Layout::Linear] {
            let n = p.to_bpf(layout).unwrap().len();
            assert!(n <= libc::BPF_MAXINSNS as usize);
            assert!(16 * (n + 4) <= 32768, "{layout:?}: {n} instructions");
        }
    }
}

#[test]
fn tree_search_is_logarithmic() {
    // The number of instructions run for an unlisted syscall: the tree
    // visits one leaf, the chain every rule.
    let arch = strbox_uapi::tables::NATIVE;
    let p = Policy::parse(&allowlist(arch), arch).unwrap();
    let steps = |prog: &[Insn], nr: u32| {
        let mut pc = 0usize;
        let mut n = 0;
        let d = Data {
            nr: nr as i32,
            arch: arch.audit_arch,
            args: [0; 6],
        };
        // count jumps taken on the number up to the first RET/arg load
        loop {
            let i = prog[pc];
            n += 1;
            if i.code == (libc::BPF_RET | libc::BPF_K) as u16 {
                return n;
            }
            pc += 1 + match i.code {
                bpf::JEQ | bpf::JGE | bpf::JGT | bpf::JSET => {
                    let a = if pc <= 2 { d.arch } else { d.nr as u32 };
                    let taken = match i.code {
                        bpf::JEQ => a == i.k,
                        bpf::JGE => a >= i.k,
                        bpf::JGT => a > i.k,
                        _ => a & i.k != 0,
                    };
                    usize::from(if taken { i.jt } else { i.jf })
                }
                c if c == (libc::BPF_JMP | libc::BPF_JA) as u16 => i.k as usize,
                _ => 0,
            };
        }
    };
    let getsid = arch.syscall("getsid").unwrap().nr;
    let tree = steps(&p.to_bpf(Layout::Tree).unwrap(), getsid);
    let chain = steps(&p.to_bpf(Layout::Linear).unwrap(), getsid);
    assert!(tree <= 30, "tree: {tree} steps");
    assert!(chain > 150, "chain: {chain} steps");
}

#[test]
fn parser_rejects_what_it_does_not_know() {
    let arch = strbox_uapi::tables::NATIVE;
    for bad in [
        "default errno EPERM\nread: fdx == 0\n",
        "default errno EPERM\nnosuch: 1\n",
        "default errno EPERM\nread: fd == 0x100000000\n",
        "default errno EPERM\nread: fd == NOPE\n",
        "default errno EPERM\nread: (fd == 0\n",
        "default kill\nread: 1\n",
        "read: 1\n",
    ] {
        assert!(Policy::parse(bad, arch).is_err(), "{bad:?}");
    }
}
