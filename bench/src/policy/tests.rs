//! The benchmark policies have the shape the tables describe, and their
//! seccomp-bpf twins fit the kernel's limits for the stack of 16 the
//! benchmark installs. (That each twin means what the strbox policy
//! means is `strbox-bpf`'s differential tests, and the guest test
//! `bench_seccomp_twins_match_strbox`.)

use super::*;
use strbox_bpf::{generate, Layout};
use strbox_uapi::tables::ARCHES;

fn compile(text: &str, arch: &'static Arch) -> Box<Program> {
    strbox::policy::compile_policy(text.as_bytes(), arch).expect("benchmark policy compiles")
}

#[test]
fn allowlist_shape() {
    for arch in ARCHES {
        let p = compile(&allowlist(arch), arch);
        assert_eq!(rule_counts(&p), (ALLOWLIST_SIZE, 11), "{}", arch.name);
        for n in ALLOWLIST_NEEDED {
            let nr = arch.syscall(n).unwrap().nr;
            assert_ne!(
                p.syscall_start(nr),
                p.syscall_start(MAX_NR as u32),
                "{n} missing"
            );
        }
        for n in ALLOWLIST_DENIED {
            if let Some(s) = arch.syscall(n) {
                assert!(
                    p.evaluate(s.nr, &[0; 6]) != strbox_filter::Verdict::Allow,
                    "{n} allowed"
                );
            }
        }
        let ingo = compile(&ingo(), arch);
        assert_eq!(rule_counts(&ingo), (7, 3), "{}", arch.name);
    }
}

/// Sizes the kernel accepts: one filter at most BPF_MAXINSNS, and 16
/// stacked filters within MAX_INSNS_PER_PATH (32768, counting 4 extra
/// per filter) — the benchmark stacks 16.
#[test]
fn sizes_fit_the_kernel_limits() {
    for arch in ARCHES {
        let p = compile(&allowlist(arch), arch);
        for layout in [Layout::Tree, Layout::Linear] {
            let n = generate(&p, arch, layout).unwrap().len();
            eprintln!("{} {layout:?}: {n} instructions", arch.name);
            assert!(n <= libc::BPF_MAXINSNS as usize);
            assert!(16 * (n + 4) <= 32768, "{layout:?}: {n} instructions");
        }
    }
}
