//! Read-back: `PR_SECCOMP_GET` round trips, and the `strbox` CLI's `run`
//! and `show`.

use strbox::sys;

use crate::child::{allow_all_except, install, layers_len, sc, spawn};
use crate::util::{drain, pipe};
use crate::{check, ensure, TestResult};

/// PR_SECCOMP_GET returns the canonical text of each layer, oldest first;
/// installing that text again gives the same layers.
pub(super) fn get_round_trip() -> TestResult {
    let l1 = allow_all_except(&["getppid", "openat"], "errno EPERM")
        + "openat: !(flags & O_CREAT|O_TRUNC) && dfd == AT_FDCWD\ngetppid: arg0 == 7 || (arg1 > 3 && arg1 <= 9)\n";
    let l2 = allow_all_except(&["getpid"], "log");
    let arch = strbox::policy::arch(None)?;
    let canon = |src: &str| {
        strbox::policy::compile_policy(src.as_bytes(), arch)
            .map(|p| strbox::policy::canonical(&p, arch))
            .map_err(|e| format!("host compile: {e}"))
    };
    let expected = format!(
        "# strbox layer 1/2\n{}# strbox layer 2/2\n{}",
        canon(&l1)?,
        canon(&l2)?
    );
    let (r, w) = pipe()?;
    let out = spawn(|| {
        install(&l1)?;
        install(&l2)?;
        let n = layers_len();
        check!(
            n == Ok(expected.len()),
            "size query = {n:?}, want {}",
            expected.len()
        );
        let mut buf = vec![0u8; expected.len() + 16];
        let short = sys::get(buf.as_mut_ptr(), expected.len() - 1);
        check!(short == Err(libc::ERANGE), "short buffer = {short:?}");
        let bad = sys::get(8 as *mut u8, expected.len());
        check!(bad == Err(libc::EFAULT), "bad buffer = {bad:?}");
        let got = sys::get(buf.as_mut_ptr(), buf.len());
        check!(got == Ok(expected.len()), "GET = {got:?}");
        check!(
            &buf[..expected.len()] == expected.as_bytes(),
            "text differs from the host's canonical text"
        );
        let _ = sc(
            libc::SYS_write,
            [
                w as u64,
                buf.as_ptr() as u64,
                expected.len() as u64,
                0,
                0,
                0,
            ],
        );
        Ok(())
    })?;
    out.ok("GET child")?;
    let got = drain(r);
    ensure!(
        got == expected.as_bytes(),
        "text written to the pipe differs"
    );
    // Round trip: install the read-back layers in a fresh (unfiltered)
    // child; it reads back the very same text.
    let text = String::from_utf8_lossy(&got).into_owned();
    spawn(|| {
        for layer in strbox::split_layers(&text) {
            install(layer)?;
        }
        let mut b2 = vec![0u8; text.len()];
        let got = sys::get(b2.as_mut_ptr(), b2.len());
        check!(
            got == Ok(text.len()) && b2 == text.as_bytes(),
            "re-installed text differs ({got:?})"
        );
        Ok(())
    })?
    .ok("round trip child")
}

/// `strbox run POLICY -- strbox show`: the CLI installs a layer, execs, and
/// the exec'd CLI reads it back.
pub(super) fn cli_run_show() -> TestResult {
    let policy = allow_all_except(&["getppid"], "errno EPERM");
    let path = "/tmp/strbox-cli-policy";
    std::fs::write(path, &policy).map_err(|e| format!("write {path}: {e}"))?;
    let arch = strbox::policy::arch(None)?;
    let canon = strbox::policy::compile_policy(policy.as_bytes(), arch)
        .map(|p| strbox::policy::canonical(&p, arch))
        .map_err(|e| format!("host compile: {e}"))?;
    let out = std::process::Command::new("/bin/strbox")
        .args(["run", path, "--", "/bin/strbox", "show"])
        .output()
        .map_err(|e| format!("/bin/strbox: {e}"))?;
    ensure!(
        out.status.success(),
        "strbox run: {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("# strbox layer 1/1\n{canon}");
    ensure!(
        out.stdout == want.as_bytes(),
        "strbox show printed {} bytes, want {}",
        out.stdout.len(),
        want.len()
    );
    // A rejected policy: exit 1 and the caret report on stderr.
    std::fs::write(path, "read: fd == 0\nwrite: fd = 1\n").map_err(|e| e.to_string())?;
    let out = std::process::Command::new("/bin/strbox")
        .args(["run", path, "--", "/bin/true"])
        .output()
        .map_err(|e| format!("/bin/strbox: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && err.starts_with(&format!("{path}:2:11: invalid operator")),
        "strbox run with a bad policy: {:?} {err:?}",
        out.status
    );
    Ok(())
}
