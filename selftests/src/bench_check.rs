//! The benchmark compares like with like: every seccomp-bpf filter the
//! benchmark installs lets through and denies exactly what the strbox
//! policy it stands for does, in the real kernel.
//!
//! For each benchmark policy (A, B, B x 16 layers) a child with no filter,
//! a child with the strbox layer(s) and a child per seccomp layout make
//! the same list of harmless calls (allowed by some rules, denied by
//! others, aimed at the argument rules' edges, with garbage in the upper
//! register halves). Then: strbox denies (EPERM) exactly what strbox's
//! own evaluator says; what it allows returns what the unfiltered child
//! got; each seccomp child got exactly what the strbox child got.

use strbox_bench::bpf::Insn;
use strbox_bench::runner::{emit, in_filtered_child, Filter, Policies};
use strbox_filter::Verdict;
use strbox_uapi::abi::X32_SYSCALL_BIT;
use strbox_uapi::tables::NATIVE;

use super::{Test, TestResult};
use crate::ensure;

/// Tests of this group.
pub static TESTS: &[Test] = &[Test {
    name: "bench_seccomp_twins_match_strbox",
    run: seccomp_twins_match_strbox,
}];

/// One call: label, number, arguments, whether a successful result may
/// differ between children (an mmap address; a new fd, whose number
/// depends on which earlier calls were denied).
struct Call {
    what: &'static str,
    nr: libc::c_long,
    args: [u64; 6],
    varies: bool,
}

const MAX_CALLS: usize = 48;
const REC: usize = 12;

fn calls(buf: u64, page: u64, path: u64) -> Vec<Call> {
    let c = |what, nr, args: &[u64]| {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        Call {
            what,
            nr,
            args: a,
            varies: false,
        }
    };
    let neg = |v: i64| v as u64;
    let hi = 0xdead_beef_0000_0000u64;
    let x32 = u64::from(X32_SYSCALL_BIT) | libc::SYS_getppid as u64;
    let mut v = vec![
        c("getppid", libc::SYS_getppid, &[]),
        c("getsid(0)", libc::SYS_getsid, &[0]),
        c("read(0,b,0)", libc::SYS_read, &[0, buf, 0]),
        c("read(hi|0,b,0)", libc::SYS_read, &[hi, buf, 0]),
        c("read(77,b,0)", libc::SYS_read, &[77, buf, 0]),
        c("read(77,b,1M)", libc::SYS_read, &[77, buf, 0x10_0000]),
        c("read(77,b,1M-1)", libc::SYS_read, &[77, buf, 0xf_ffff]),
        c("read(2,b,0)", libc::SYS_read, &[2, buf, 0]),
        c(
            "read(77,b,4G)",
            libc::SYS_read,
            &[77 | 1 << 32, buf, 1 << 32],
        ),
        c("write(1,b,0)", libc::SYS_write, &[1, buf, 0]),
        c("write(2,b,0)", libc::SYS_write, &[2, buf, 0]),
        c("write(hi|1,b,0)", libc::SYS_write, &[hi | 1, buf, 0]),
        c("write(0,b,0)", libc::SYS_write, &[0, buf, 0]),
        c("gettimeofday(b,NULL)", libc::SYS_gettimeofday, &[buf, 0]),
        c(
            "gettimeofday(b,b)",
            libc::SYS_gettimeofday,
            &[buf, buf + 64],
        ),
        c(
            "gettimeofday(b,4G)",
            libc::SYS_gettimeofday,
            &[buf, 1 << 32],
        ),
        c("clock_gettime", libc::SYS_clock_gettime, &[1, buf]),
        c(
            "fcntl(0,F_GETFD)",
            libc::SYS_fcntl,
            &[0, libc::F_GETFD as u64],
        ),
        c(
            "fcntl(0,F_GETFL)",
            libc::SYS_fcntl,
            &[0, libc::F_GETFL as u64],
        ),
        c(
            "fcntl(0,hi|F_GETFD)",
            libc::SYS_fcntl,
            &[0, hi | libc::F_GETFD as u64],
        ),
        c(
            "fcntl(0,F_DUPFD,90)",
            libc::SYS_fcntl,
            &[0, libc::F_DUPFD as u64, 90],
        ),
        c("kill(999999,0)", libc::SYS_kill, &[999_999, 0]),
        c("kill(999999,9)", libc::SYS_kill, &[999_999, 9]),
        c("kill(0,0)", libc::SYS_kill, &[0, 0]),
        c("lseek(0,5,CUR)", libc::SYS_lseek, &[0, 5, 1]),
        c("lseek(0,-1,SET)", libc::SYS_lseek, &[0, neg(-1), 0]),
        c("lseek(0,0,3)", libc::SYS_lseek, &[0, 0, 3]),
        c("lseek(0,2^63,SET)", libc::SYS_lseek, &[0, 1 << 63, 0]),
        c(
            "socket(INET6)",
            libc::SYS_socket,
            &[libc::AF_INET6 as u64, libc::SOCK_STREAM as u64, 0],
        ),
        c(
            "socket(UNIX,CLOEXEC)",
            libc::SYS_socket,
            &[
                libc::AF_UNIX as u64,
                (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64,
            ],
        ),
        c(
            "mprotect(R)",
            libc::SYS_mprotect,
            &[page, 4096, libc::PROT_READ as u64],
        ),
        c(
            "mprotect(RX)",
            libc::SYS_mprotect,
            &[page, 4096, (libc::PROT_READ | libc::PROT_EXEC) as u64],
        ),
        c(
            "openat(CWD,RDONLY|CLOEXEC)",
            libc::SYS_openat,
            &[
                neg(libc::AT_FDCWD as i64),
                path,
                (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
            ],
        ),
        c(
            "openat(CWD,RDWR)",
            libc::SYS_openat,
            &[neg(libc::AT_FDCWD as i64), path, libc::O_RDWR as u64],
        ),
        c("ioctl(0,TCGETS)", libc::SYS_ioctl, &[0, 0x5401, buf]),
        c("ioctl(0,0x5402)", libc::SYS_ioctl, &[0, 0x5402, buf]),
        c("syscall(1000)", 1000, &[]),
        c("x32 getppid", x32 as libc::c_long, &[]),
    ];
    let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    for (what, prot, flags) in [
        ("mmap(R,PRIVATE)", libc::PROT_READ as u64, anon),
        (
            "mmap(RX,PRIVATE)",
            (libc::PROT_READ | libc::PROT_EXEC) as u64,
            anon,
        ),
        (
            "mmap(R,SHARED)",
            libc::PROT_READ as u64,
            (libc::MAP_SHARED | libc::MAP_ANONYMOUS) as u64,
        ),
    ] {
        let mut m = c(what, libc::SYS_mmap, &[0, 4096, prot, flags, neg(-1), 0]);
        m.varies = true;
        v.push(m);
    }
    for c in &mut v {
        if c.nr == libc::SYS_socket || c.nr == libc::SYS_openat || c.what.contains("DUPFD") {
            c.varies = true;
        }
    }
    assert!(v.len() <= MAX_CALLS);
    v
}

/// A call's outcome: `Ok(value)` (0 if it `varies`) or `Err(errno)`.
type Outcome = Result<i64, i32>;

/// Makes every call in a child with `filter`; their outcomes.
fn outcomes(filter: Filter, calls: &[Call]) -> Result<Vec<Outcome>, String> {
    let out = in_filtered_child(filter, None, || {
        let mut rec = [0u8; MAX_CALLS * REC];
        for (i, c) in calls.iter().enumerate() {
            let a = c.args;
            // SAFETY: every call is harmless for the child: pointer
            // arguments are its own live buffer, page and path, or
            // deliberately bad addresses the kernel checks.
            let r = unsafe {
                libc::syscall(
                    c.nr,
                    a[0] as libc::c_long,
                    a[1] as libc::c_long,
                    a[2] as libc::c_long,
                    a[3] as libc::c_long,
                    a[4] as libc::c_long,
                    a[5] as libc::c_long,
                )
            };
            let e = if r < 0 { strbox::sys::errno() } else { 0 };
            rec[i * REC..i * REC + 8].copy_from_slice(&(r as i64).to_ne_bytes());
            rec[i * REC + 8..i * REC + 12].copy_from_slice(&e.to_ne_bytes());
        }
        emit(&rec[..calls.len() * REC]);
    })?;
    ensure!(
        out.len() == calls.len() * REC,
        "child reported {} bytes",
        out.len()
    );
    Ok(calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let r = i64::from_ne_bytes(out[i * REC..i * REC + 8].try_into().expect("8"));
            let e = i32::from_ne_bytes(out[i * REC + 8..i * REC + 12].try_into().expect("4"));
            match (r < 0, c.varies) {
                (true, _) => Err(e),
                (false, true) => Ok(0),
                (false, false) => Ok(r),
            }
        })
        .collect())
}

fn seccomp_twins_match_strbox() -> TestResult {
    let pols = Policies::new(NATIVE)?;
    let buf = vec![0u8; 4096].leak().as_mut_ptr() as u64;
    let path = c"/dev/null".as_ptr() as u64;
    // SAFETY: an anonymous private mapping for the mprotect calls.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure!(page != libc::MAP_FAILED, "mmap failed");
    let calls = calls(buf, page as u64, path);
    let free = outcomes(Filter::None, &calls)?;

    type Twins<'a> = [(&'static str, &'a [Insn]); 2];
    let cases: [(&str, &str, usize, Twins); 3] = [
        (
            "A:ingo",
            &pols.ingo,
            1,
            [
                ("tree", &pols.ingo_bpf),
                (
                    "linear",
                    &strbox_bench::bpf::generate(
                        &pols.progs[0],
                        strbox_uapi::tables::NATIVE,
                        strbox_bench::bpf::Layout::Linear,
                    )
                    .map_err(|e| e.to_string())?,
                ),
            ],
        ),
        (
            "B:allow300",
            &pols.allow,
            1,
            [
                ("tree", &pols.allow_bpf),
                ("linear", &pols.allow_bpf_linear),
            ],
        ),
        (
            "B:allow300x16",
            &pols.allow,
            16,
            [
                ("tree", &pols.allow_bpf),
                ("linear", &pols.allow_bpf_linear),
            ],
        ),
    ];
    for (name, text, layers, twins) in cases {
        let prog = strbox::policy::compile_policy(text.as_bytes(), NATIVE)
            .map_err(|e| format!("{name}: {e:?}"))?;
        let sb = outcomes(
            Filter::Strbox {
                text: text.as_bytes(),
                layers,
                top: &[],
                top_layers: 0,
            },
            &calls,
        )
        .map_err(|e| format!("{name} strbox: {e}"))?;
        let (mut allowed, mut denied) = (0, 0);
        for (i, c) in calls.iter().enumerate() {
            let want_allow = prog.evaluate(c.nr as u32, &c.args) == Verdict::Allow;
            if want_allow {
                allowed += 1;
                ensure!(
                    sb[i] == free[i],
                    "{name} strbox: {} allowed but got {:?}, unfiltered {:?}",
                    c.what,
                    sb[i],
                    free[i]
                );
            } else {
                denied += 1;
                ensure!(
                    sb[i] == Err(libc::EPERM),
                    "{name} strbox: {} should be denied, got {:?}",
                    c.what,
                    sb[i]
                );
            }
        }
        ensure!(
            allowed >= 5 && denied >= 5,
            "{name}: the calls prove little ({allowed} allowed, {denied} denied)"
        );
        for (layout, bpf) in twins {
            let sc = outcomes(
                Filter::Seccomp {
                    prog: bpf,
                    layers,
                    top: &[],
                    top_layers: 0,
                },
                &calls,
            )
            .map_err(|e| format!("{name} seccomp {layout}: {e}"))?;
            for (i, c) in calls.iter().enumerate() {
                ensure!(
                    sc[i] == sb[i],
                    "{name}: {}: seccomp-bpf ({layout}, {layers} filter(s)) got {:?}, strbox {:?}",
                    c.what,
                    sc[i],
                    sb[i]
                );
            }
        }
        println!(
            "# {name}: {allowed} calls allowed, {denied} denied, by strbox and seccomp-bpf alike"
        );
    }
    Ok(())
}
