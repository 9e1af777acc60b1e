//! Tests from the kernel security review (../shared/notes/security-review.md
//! in the steering repo): each proves a fix by failing without it.
//!
//! * `vsyscall_judged` — x86_64's emulated vsyscalls bypass `sys_enter`;
//!   the module judges them at the `emulate_vsyscall` tracepoint.
//! * `tsync_vs_setuid_exec` — TSYNC must never put a layer or NNP on a
//!   thread that is exec'ing a setuid binary.
//! * `layer_memory_accounted` — layer memory is charged to the installing
//!   task's memory cgroup (and measured).

use strbox::abi::STRBOX_SET_TSYNC;

use super::child::{allow_all_except, nnp, sc, set, spawn};
use super::util::{drain, dup2, pipe};
#[cfg(target_arch = "x86_64")]
use super::{child::install, util::SharedPage};
use super::{Test, TestResult};
use crate::{check, ensure};

pub static TESTS: &[Test] = &[
    Test {
        name: "vsyscall_judged",
        run: vsyscall_judged,
    },
    Test {
        name: "tsync_vs_setuid_exec",
        run: tsync_vs_setuid_exec,
    },
    Test {
        name: "layer_memory_accounted",
        run: layer_memory_accounted,
    },
];

/// Bodies run by re-executing the (setuid) guest binary.
pub static HELPERS: &[Test] = &[Test {
    name: "suid_exec_report",
    run: suid_exec_report,
}];

/// The setuid-root copy of `strbox-guest` in the initramfs.
const SUID_GUEST: &std::ffi::CStr = c"/bin/strbox-guest-suid";

/// The vsyscall page's `gettimeofday` (x86_64 ABI, fixed address).
#[cfg(target_arch = "x86_64")]
fn vsyscall_gettimeofday(tv: *mut [u64; 2], tz: *mut [u32; 2]) -> i64 {
    type Gtod = unsafe extern "C" fn(*mut [u64; 2], *mut [u32; 2]) -> i64;
    // SAFETY: 0xffffffffff600000 is the architected vsyscall gettimeofday
    // entry; the kernel emulates the call on the instruction fetch fault
    // (vsyscall=xonly or emulate). Both pointers are valid or null.
    unsafe {
        let f: Gtod = core::mem::transmute(0xffff_ffff_ff60_0000usize);
        f(tv, tz)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn vsyscall_judged() -> TestResult {
    Err("skip: vsyscalls exist only on x86_64".into())
}

/// The review's reproducer: under `gettimeofday: tz == NULL`, a vsyscall
/// gettimeofday with a non-NULL tz must not run (errno and kill both end
/// the process: a module cannot make the emulation fail with an errno),
/// and an allowed one still works.
#[cfg(target_arch = "x86_64")]
fn vsyscall_judged() -> TestResult {
    const SENTINEL: u32 = 0xa5a5_a5a5;
    for default in ["errno EPERM", "kill"] {
        let mut policy = allow_all_except(&["gettimeofday"], default);
        policy.push_str("gettimeofday: tz == NULL\n");
        // tz in shared memory: the parent sees whether the call wrote it.
        let page = SharedPage::new()?;
        let tz = page.as_ptr::<[u32; 2]>();
        // SAFETY: the page is mapped, writable and large enough.
        unsafe { tz.write([SENTINEL; 2]) };
        let out = spawn(|| {
            install(&policy)?;
            let mut tv = [0u64; 2];
            let r = vsyscall_gettimeofday(&mut tv, tz);
            check!(false, "vsyscall gettimeofday(tv, tz) returned {r}");
            Ok(())
        })?;
        // SAFETY: the child is gone; the page is still ours.
        let after = unsafe { tz.read() };
        out.killed_by(
            libc::SIGKILL,
            &format!("denied vsyscall (default {default})"),
        )?;
        ensure!(
            after == [SENTINEL; 2],
            "the denied vsyscall ran: tz = {after:x?} (default {default})"
        );
    }
    // Allowed by the rule: works and writes tv.
    let mut policy = allow_all_except(&["gettimeofday"], "kill");
    policy.push_str("gettimeofday: tz == NULL\n");
    spawn(|| {
        install(&policy)?;
        let mut tv = [u64::MAX; 2];
        let r = vsyscall_gettimeofday(&mut tv, std::ptr::null_mut());
        check!(
            r == 0 && tv[1] < 1_000_000,
            "allowed vsyscall gettimeofday = {r}, tv {tv:x?}"
        );
        Ok(())
    })?
    .ok("allowed vsyscall")
}

/// Run in the exec'd setuid binary: reports its euid, NNP and layers.
fn suid_exec_report() -> TestResult {
    // SAFETY: plain queries without pointers.
    let (euid, nnp) = unsafe {
        (
            libc::geteuid(),
            libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
        )
    };
    let layers = super::child::layers_len().unwrap_or(usize::MAX);
    println!("@suid euid={euid} nnp={nnp} layers={layers}");
    Ok(())
}

/// The review's HIGH finding: one thread sets NNP and installs a large
/// policy with TSYNC while another execs a setuid-root binary. The exec'd
/// program may run as root (exec first: TSYNC never lands) or unprivileged
/// with the layer (TSYNC first: NNP makes exec ignore the setuid bit), but
/// never as root under a layer or NNP it did not ask for.
fn tsync_vs_setuid_exec() -> TestResult {
    if !std::path::Path::new(SUID_GUEST.to_str().unwrap_or("")).exists() {
        return Err("skip: no setuid helper in the initramfs".into());
    }
    // A large policy, so that compiling it leaves a wide window.
    let policy = allow_all_except(&[], "errno EPERM");
    let (mut as_root, mut as_user) = (0u32, 0u32);
    for i in 0..100 {
        let (r, w) = pipe()?;
        let policy = policy.clone();
        let out = spawn(move || {
            dup2(w, 1);
            // SAFETY: plain credential changes without pointers.
            let rc = unsafe {
                libc::setgroups(0, std::ptr::null());
                libc::setresgid(1000, 1000, 1000) | libc::setresuid(1000, 1000, 1000)
            };
            check!(rc == 0, "dropping to uid 1000 failed");
            let exec = std::thread::spawn(|| {
                let argv = [
                    SUID_GUEST.as_ptr(),
                    c"suid_exec_report".as_ptr(),
                    std::ptr::null(),
                ];
                let envp = [std::ptr::null()];
                // SAFETY: NUL-terminated argv/envp of valid C strings.
                unsafe { libc::execve(SUID_GUEST.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            });
            nnp()?;
            // Fails (or never returns) when the exec wins; either is fine.
            let _ = set(policy.as_bytes(), STRBOX_SET_TSYNC);
            let _ = exec.join();
            // The exec failed: nothing to judge, but say so.
            let _ = sc(libc::SYS_exit_group, [3, 0, 0, 0, 0, 0]);
            Ok(())
        })?;
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(w) };
        let text = String::from_utf8_lossy(&drain(r)).into_owned();
        // SAFETY: closing the read end.
        unsafe { libc::close(r) };
        let line = text.lines().find(|l| l.starts_with("@suid ")).unwrap_or("");
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|v| v.parse::<i64>().ok())
        };
        let (euid, nnp, layers) = (field("euid="), field("nnp="), field("layers="));
        ensure!(
            euid.is_some(),
            "iteration {i}: the setuid helper did not report ({}); output {text:?}",
            out.ok("exec").err().unwrap_or_default()
        );
        if euid == Some(0) {
            as_root += 1;
            ensure!(
                nnp == Some(0) && layers == Some(0),
                "iteration {i}: setuid-root program runs with nnp={nnp:?} layers={layers:?} \
                 it did not ask for"
            );
        } else {
            as_user += 1;
        }
    }
    println!("# tsync_vs_setuid_exec: exec won {as_root} times, TSYNC won {as_user} times");
    Ok(())
}

/// The cgroup2 mount the accounting test uses.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn cgroup_setup(name: &str) -> Result<String, String> {
    let root = std::path::Path::new(CGROUP_ROOT);
    if !root.join("cgroup.controllers").exists() {
        let _ = std::fs::create_dir_all(root);
        // SAFETY: mounting cgroup2 with constant C strings.
        let r = unsafe {
            libc::mount(
                c"cgroup2".as_ptr(),
                c"/sys/fs/cgroup".as_ptr(),
                c"cgroup2".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(format!(
                "skip: no cgroup2 ({})",
                std::io::Error::last_os_error()
            ));
        }
    }
    let ctrl = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    if !ctrl.split_whitespace().any(|c| c == "memory") {
        return Err("skip: no memory controller (CONFIG_MEMCG)".into());
    }
    std::fs::write(root.join("cgroup.subtree_control"), "+memory")
        .map_err(|e| format!("enabling the memory controller: {e}"))?;
    let dir = root.join(name);
    let _ = std::fs::create_dir(&dir);
    Ok(dir.display().to_string())
}

/// `memory.current` of a cgroup, in bytes.
fn memory_current(dir: &str) -> Result<u64, String> {
    let t = std::fs::read_to_string(format!("{dir}/memory.current"))
        .map_err(|e| format!("{dir}/memory.current: {e}"))?;
    t.trim()
        .parse()
        .map_err(|e| format!("memory.current {t:?}: {e}"))
}

/// Layers are charged to the memory cgroup of the task that installs them:
/// 32 threads of a process in a fresh cgroup each install 16 layers of
/// their own (512 layers); `memory.current` must grow by at least the
/// compiled program's size per layer (the memcg's per-CPU charge batches
/// are 256 KiB, far below 512 layers' worth), and by at most twice that.
/// Prints the measured kernel memory per layer.
fn layer_memory_accounted() -> TestResult {
    const THREADS: usize = 32;
    const PER_THREAD: usize = strbox::abi::MAX_LAYERS;
    let dir = cgroup_setup("strbox-memcg")?;
    let program = strbox_filter::Program::SIZE as u64;
    // Layers must leave the threads their futexes, prctl and exit.
    let policy = std::sync::Arc::new(allow_all_except(&["getppid"], "errno EPERM"));
    let (r, w) = pipe()?;
    let out = spawn(move || {
        let procs = format!("{dir}/cgroup.procs");
        check!(std::fs::write(&procs, "0").is_ok(), "cannot join {procs}");
        nnp()?;
        // Everything allocated up front: threads parked on a barrier.
        let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
        let done = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
        let park = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
        let mut hs = Vec::new();
        for _ in 0..THREADS {
            let (start, done, park) = (start.clone(), done.clone(), park.clone());
            let policy = policy.clone();
            hs.push(std::thread::spawn(move || {
                start.wait();
                let mut ok = 0usize;
                for _ in 0..PER_THREAD {
                    if set(policy.as_bytes(), 0).0.is_ok() {
                        ok += 1;
                    }
                }
                done.wait();
                // Keep the layers alive until the parent measured.
                park.wait();
                ok
            }));
        }
        let before = memory_current(&dir);
        start.wait();
        done.wait();
        let after = memory_current(&dir);
        park.wait();
        let installed: usize = hs.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        let (Ok(before), Ok(after)) = (before, after) else {
            check!(false, "memory.current unreadable");
            return Ok(());
        };
        let line = format!("{before} {after} {installed}\n");
        // SAFETY: writing our own buffer to the pipe's write end.
        unsafe { libc::write(w, line.as_ptr().cast(), line.len()) };
        Ok(())
    })?;
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(w) };
    out.ok("accounting child")?;
    let text = String::from_utf8_lossy(&drain(r)).into_owned();
    // SAFETY: closing the read end.
    unsafe { libc::close(r) };
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [before, after, installed] = v[..] else {
        return Err(format!("child reported {text:?}"));
    };
    ensure!(
        installed == (THREADS * PER_THREAD) as u64,
        "{installed} of {} installs succeeded",
        THREADS * PER_THREAD
    );
    let per_layer = after.saturating_sub(before) / installed;
    println!(
        "# layer_memory_accounted: memory.current {before} -> {after} for {installed} layers: \
         {per_layer} bytes per layer (compiled program {program} bytes)"
    );
    ensure!(
        per_layer >= program && per_layer <= 2 * program,
        "memory.current grew by {per_layer} bytes per layer, want {program}..{}",
        2 * program
    );
    Ok(())
}
