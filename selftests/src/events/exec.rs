//! `exec` rules: the file being executed (after symlinks), and for a `#!`
//! script both the script and its interpreter.

use std::ffi::CString;

use strbox::sys;

use super::super::child::{install, spawn};
use super::super::util::{drain, dup2, pipe};
use super::super::TestResult;
use super::{all_passed, close, cs, fresh_dir, mklink, DENY};
use crate::{check, ensure};

const D: &str = "/tmp/evx";
/// The guest binary in the initramfs.
const GUEST: &str = "/bin/strbox-guest";

/// The helper the exec'd binaries run: `strbox-guest events_exec_helper`
/// (or a `#!GUEST events_exec_helper` script) runs it in a child and
/// prints `events_exec_helper: Ok(())`.
pub(super) const HELPER: &str = "events_exec_helper";

/// Does nothing: proves the exec'd program ran.
pub(super) fn exec_helper() -> TestResult {
    Ok(())
}

/// What one exec attempt should do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Exec {
    Runs,
    Fails(i32),
}

/// In a fresh child: installs `policy`, then execs `path` with argv
/// `[path, HELPER]` (from cwd `cwd`); checks the result against `want`.
fn try_exec(policy: &str, path: &str, cwd: &str, want: Exec) -> TestResult {
    let (r, w) = pipe()?;
    let what = format!("exec {path:?} (cwd {cwd}) under {policy:?}");
    let cpath = cs(path);
    let ccwd = cs(cwd);
    let helper = CString::new(HELPER).map_err(|e| e.to_string())?;
    let out = spawn(|| {
        dup2(w, 1);
        install(policy)?;
        // SAFETY: a valid C string.
        check!(unsafe { libc::chdir(ccwd.as_ptr()) } == 0, "chdir {cwd}");
        let argv = [cpath.as_ptr(), helper.as_ptr(), std::ptr::null()];
        let env = [std::ptr::null()];
        // SAFETY: NUL-terminated argv/envp arrays of valid C strings.
        unsafe { libc::execve(cpath.as_ptr(), argv.as_ptr(), env.as_ptr()) };
        let e = sys::errno();
        check!(
            want == Exec::Fails(e),
            "execve failed with errno {e}, want {want:?}"
        );
        Ok(())
    })?;
    close(w);
    let text = String::from_utf8_lossy(&drain(r)).into_owned();
    close(r);
    out.ok(&what)?;
    let ran = text.contains(&format!("{HELPER}: Ok(())"));
    ensure!(
        ran == (want == Exec::Runs),
        "{what}: want {want:?}, the exec'd program {} (output {text:?})",
        if ran { "ran" } else { "did not run" }
    );
    Ok(())
}

/// Exec allowed/denied by path for the guest binary and a copy in tmpfs,
/// by relative path, through symlinks (the rule sees the target), and `#!`
/// scripts whose interpreter is the guest binary: script and interpreter
/// must both be allowed.
pub(super) fn events_exec_rules() -> TestResult {
    fresh_dir(D)?;
    let copy = format!("{D}/guest-copy");
    std::fs::copy(GUEST, &copy).map_err(|e| format!("copy {GUEST} to {copy}: {e}"))?;
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| format!("chmod {copy}: {e}"))?;
    let link_copy = format!("{D}/link-to-copy");
    let link_guest = format!("{D}/link-to-guest");
    mklink("guest-copy", &link_copy)?;
    mklink(GUEST, &link_guest)?;
    let script = format!("{D}/script");
    super::mkfile(&script, format!("#!{GUEST} {HELPER}\n").as_bytes(), 0o755)?;
    let script_copy = format!("{D}/script-copy");
    super::mkfile(
        &script_copy,
        format!("#!{copy} {HELPER}\n").as_bytes(),
        0o755,
    )?;
    let rule = |paths: &[&str]| {
        let alts: Vec<String> = paths.iter().map(|p| format!("path == \"{p}\"")).collect();
        format!("default errno EXDEV\nexec: {}\n", alts.join(" || "))
    };
    let deny = Exec::Fails(DENY);

    let mut errs = Vec::new();
    let only_copy = rule(&[&copy]);
    errs.extend(try_exec(&only_copy, &copy, "/", Exec::Runs).err());
    errs.extend(try_exec(&only_copy, "./guest-copy", D, Exec::Runs).err());
    errs.extend(try_exec(&only_copy, GUEST, "/", deny).err());
    errs.extend(try_exec(&only_copy, &link_copy, "/", Exec::Runs).err());
    errs.extend(try_exec(&only_copy, &link_guest, "/", deny).err());
    // Kernel failures first: a missing file stays ENOENT, a directory EACCES.
    errs.extend(
        try_exec(
            &only_copy,
            &format!("{D}/missing"),
            "/",
            Exec::Fails(libc::ENOENT),
        )
        .err(),
    );
    errs.extend(try_exec(&only_copy, D, "/", Exec::Fails(libc::EACCES)).err());

    let only_guest = rule(&[GUEST]);
    errs.extend(try_exec(&only_guest, GUEST, "/", Exec::Runs).err());
    errs.extend(try_exec(&only_guest, &link_guest, "/", Exec::Runs).err());
    errs.extend(try_exec(&only_guest, &link_copy, "/", deny).err());
    errs.extend(try_exec(&only_guest, &copy, "/", deny).err());

    // `#!` scripts: the hook fires for the script, then its interpreter.
    errs.extend(try_exec(&rule(&[&script]), &script, "/", deny).err());
    errs.extend(try_exec(&rule(&[GUEST]), &script, "/", deny).err());
    errs.extend(try_exec(&rule(&[&script, GUEST]), &script, "/", Exec::Runs).err());
    errs.extend(try_exec(&rule(&[&script, &copy]), &script, "/", deny).err());
    errs.extend(try_exec(&rule(&[&script_copy, &copy]), &script_copy, "/", Exec::Runs).err());
    errs.extend(try_exec(&rule(&[&script, &copy, GUEST]), &script_copy, "/", deny).err());
    // A glob covering both.
    errs.extend(
        try_exec(
            &format!("default errno EXDEV\nexec: path ~ \"{D}/*\"\n"),
            &script_copy,
            "/",
            Exec::Runs,
        )
        .err(),
    );
    all_passed(&errs)
}
