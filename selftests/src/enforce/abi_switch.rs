//! ABI switching: ia32 (`int $0x80`) and x32 syscalls of an x86_64 task.

use crate::TestResult;

#[cfg(target_arch = "x86_64")]
fn int80(nr: u32) -> i64 {
    let ret: u32;
    // SAFETY: an ia32 syscall without arguments (getpid); int $0x80
    // returns in eax and preserves the other registers we declare.
    unsafe {
        core::arch::asm!(
            "int 0x80",
            inlateout("eax") nr => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack)
        );
    }
    i64::from(ret as i32)
}

/// A filtered 64-bit task cannot escape through the ia32 (`int $0x80`) or
/// x32 syscall ABI: such calls get the chain's default action.
#[cfg(target_arch = "x86_64")]
pub(super) fn abi_switch() -> TestResult {
    use crate::child::{allow_all_except, getpid, install, sc, spawn};
    use crate::{check, ensure};
    use strbox::abi::X32_SYSCALL_BIT;

    const IA32_GETPID: u32 = 20;
    const X32_BIT: i64 = X32_SYSCALL_BIT as i64;
    // Unfiltered: the ia32 ABI works (IA32_EMULATION), x32 is ENOSYS.
    let pid = getpid().map_err(|e| format!("getpid: {e}"))?;
    ensure!(
        int80(IA32_GETPID) == pid,
        "unfiltered int80 getpid = {}",
        int80(IA32_GETPID)
    );
    let r = sc(X32_BIT | libc::SYS_getpid, [0; 6]);
    ensure!(r == Err(libc::ENOSYS), "unfiltered x32 getpid = {r:?}");
    spawn(|| {
        install(&allow_all_except(&[], "errno 77"))?;
        check!(getpid().is_ok(), "native getpid denied");
        let r = int80(IA32_GETPID);
        check!(r == -77, "int80 getpid under the filter = {r}");
        let r = sc(X32_BIT | libc::SYS_getpid, [0; 6]);
        check!(r == Err(77), "x32 getpid under the filter = {r:?}");
        Ok(())
    })?
    .ok("errno child")?;
    spawn(|| {
        install(&allow_all_except(&[], "kill"))?;
        let r = int80(IA32_GETPID);
        check!(false, "int80 returned {r}");
        Ok(())
    })?
    .killed_by(libc::SIGKILL, "int80 under default kill")?;
    // A deny-list cannot be stepped around through ia32: its compat calls
    // fail with ENOSYS (its rules name native syscalls only).
    spawn(|| {
        install("default allow\ngetpid: 1 => errno 77\n")?;
        let r = getpid();
        check!(r == Err(77), "native getpid under the deny-list = {r:?}");
        check!(getppid_ok(), "native getppid under the deny-list denied");
        let r = int80(IA32_GETPID);
        check!(
            r == -i64::from(libc::ENOSYS),
            "int80 getpid under a deny-list = {r}"
        );
        let r = sc(X32_BIT | libc::SYS_getpid, [0; 6]);
        check!(
            r == Err(libc::ENOSYS),
            "x32 getpid under a deny-list = {r:?}"
        );
        Ok(())
    })?
    .ok("deny-list child")?;
    // A layer with event rules only restricts no syscall, whatever the ABI.
    spawn(|| {
        install("default errno 77\nfile_open: path == \"/nonexistent\"\n")?;
        let pid = getpid();
        let r = int80(IA32_GETPID);
        check!(
            pid == Ok(r),
            "int80 getpid under an event-only layer = {r}, getpid {pid:?}"
        );
        Ok(())
    })?
    .ok("event-only child")
}

/// Whether the native getppid succeeds.
#[cfg(target_arch = "x86_64")]
fn getppid_ok() -> bool {
    crate::child::getppid().is_ok()
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn abi_switch() -> TestResult {
    Err("skip: no 32-bit compat ABI in this arm64 guest kernel".into())
}
