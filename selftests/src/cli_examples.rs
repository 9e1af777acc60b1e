//! The example policies (`examples/policies/`, in the guest under
//! `/usr/share/strbox/examples/policies/`) on real programs, through
//! `/bin/strbox run` as a user runs it: each runs its program to the exact
//! output and exit status, and each is shown to restrict (a kill with
//! exit status 137 and the syscall named, or the errno the policy gives).
//!
//! * `cli_example_ingo` — Ingo Molnar's four rules (`ingo.policy`) on a
//!   hand-made static program that calls `gettimeofday(&tv, NULL)` and
//!   copies stdin to stdout; the same program with a time zone pointer,
//!   or writing to fd 2, is killed.
//! * `cli_example_seccomp_strict` — `seccomp-strict.policy` runs a program
//!   that only reads, writes and calls `exit`; `gettimeofday` or
//!   `exit_group` kill it, and so does Debian's static busybox at its
//!   first startup syscall.
//! * `cli_example_stdio_static_tool` — `stdio.policy` alone has no
//!   `execve` rule, so `strbox run`'s execve is killed; `static-tool.policy`
//!   (x86_64 only: it names `arch_prctl`) runs the copy program, and on
//!   aarch64 is refused before anything runs.
//! * `cli_example_busybox_cat`, `_sha256sum`, `_ls` — Debian's
//!   busybox-static (`/bin/busybox`) applets under
//!   `busybox-APPLET.ARCH.policy` (learned with `strbox learn`, then
//!   tightened): exact output, exit 0; and what the tightening forbids
//!   (opens for writing, paths outside /srv/public/, `ls -l`, another
//!   applet's syscalls) is killed or denied.
//!
//! The programs' syscalls are those of the arch the suite runs on, so the
//! busybox policies are picked by `std::env::consts::ARCH`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::cli_run::describe;
use super::{Test, TestResult};
use crate::ensure;

pub static TESTS: &[Test] = &[
    Test {
        name: "cli_example_ingo",
        run: cli_example_ingo,
    },
    Test {
        name: "cli_example_seccomp_strict",
        run: cli_example_seccomp_strict,
    },
    Test {
        name: "cli_example_stdio_static_tool",
        run: cli_example_stdio_static_tool,
    },
    Test {
        name: "cli_example_busybox_cat",
        run: cli_example_busybox_cat,
    },
    Test {
        name: "cli_example_busybox_sha256sum",
        run: cli_example_busybox_sha256sum,
    },
    Test {
        name: "cli_example_busybox_ls",
        run: cli_example_busybox_ls,
    },
];

/// Where the initramfs has `examples/policies/` (xtask `guest::EXAMPLES`).
const EXAMPLES: &str = "/usr/share/strbox/examples/policies";

fn example(name: &str) -> String {
    format!("{EXAMPLES}/{name}")
}

/// `busybox-APPLET.ARCH.policy` for the arch the suite runs on.
fn busybox_policy(applet: &str) -> String {
    example(&format!(
        "busybox-{applet}.{}.policy",
        std::env::consts::ARCH
    ))
}

/// What the hand-made program does before copying stdin to stdout.
#[derive(Clone, Copy)]
enum Time {
    /// Nothing.
    No,
    /// `gettimeofday(&tv, NULL)`.
    TzNull,
    /// `gettimeofday(&tv, &tz)`.
    TzPointer,
}

/// How the hand-made program ends.
#[derive(Clone, Copy)]
enum End {
    /// `exit(0)` (the thread's exit: seccomp strict mode's).
    Exit,
    /// `exit_group(0)`.
    ExitGroup,
}

/// A static ELF executable for the native arch, no libc: optionally
/// `gettimeofday`, then `read(0, buf, 4096)` / `write(out_fd, buf, n)`
/// until read returns <= 0, then `exit(0)` or `exit_group(0)`. These are
/// its only syscalls. One RWX `PT_LOAD` segment; the buffer is its
/// zero-filled tail (`memsz` > `filesz`).
fn copy_elf(time: Time, out_fd: u8, end: End) -> Vec<u8> {
    use crate::util::{static_elf, ELF_BASE as BASE, ELF_HEADERS as HEADERS};
    const BUF: u32 = 0x40_1000;
    let mut code: Vec<u8> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    let machine: u16 = {
        let imm = |c: &mut Vec<u8>, op: u8, v: u32| {
            c.push(op);
            c.extend_from_slice(&v.to_le_bytes());
        };
        let (edi, esi, edx, eax) = (0xbf, 0xbe, 0xba, 0xb8);
        const SYSCALL: [u8; 2] = [0x0f, 0x05];
        match time {
            Time::No => {}
            Time::TzNull | Time::TzPointer => {
                imm(&mut code, edi, BUF);
                match time {
                    Time::TzPointer => imm(&mut code, esi, BUF + 16),
                    _ => code.extend_from_slice(&[0x31, 0xf6]), // xor esi, esi
                }
                imm(&mut code, eax, 96); // gettimeofday
                code.extend_from_slice(&SYSCALL);
            }
        }
        // loop (43 bytes):
        code.extend_from_slice(&[0x31, 0xff]); // xor edi, edi
        imm(&mut code, esi, BUF);
        imm(&mut code, edx, 4096);
        code.extend_from_slice(&[0x31, 0xc0]); // xor eax, eax (read)
        code.extend_from_slice(&SYSCALL);
        code.extend_from_slice(&[0x48, 0x85, 0xc0]); // test rax, rax
        code.extend_from_slice(&[0x7e, 22]); // jle out
        code.extend_from_slice(&[0x48, 0x89, 0xc2]); // mov rdx, rax
        imm(&mut code, edi, out_fd.into());
        imm(&mut code, esi, BUF);
        imm(&mut code, eax, 1); // write
        code.extend_from_slice(&SYSCALL);
        code.extend_from_slice(&[0xeb, (-43i8) as u8]); // jmp loop
                                                        // out:
        code.extend_from_slice(&[0x31, 0xff]); // xor edi, edi
        imm(
            &mut code,
            eax,
            match end {
                End::Exit => 60,
                End::ExitGroup => 231,
            },
        );
        code.extend_from_slice(&SYSCALL);
        62 // EM_X86_64
    };
    #[cfg(target_arch = "aarch64")]
    let machine: u16 = {
        let movz = |rd: u32, v: u32, hw: u32| 0xd280_0000 | (hw << 21) | ((v & 0xffff) << 5) | rd;
        let movk = |rd: u32, v: u32, hw: u32| 0xf280_0000 | (hw << 21) | ((v & 0xffff) << 5) | rd;
        let mut insns: Vec<u32> = Vec::new();
        let mov32 = |i: &mut Vec<u32>, rd: u32, v: u32| {
            i.push(movz(rd, v, 0));
            i.push(movk(rd, v >> 16, 1));
        };
        const SVC: u32 = 0xd400_0001;
        match time {
            Time::No => {}
            Time::TzNull | Time::TzPointer => {
                mov32(&mut insns, 0, BUF);
                match time {
                    Time::TzPointer => mov32(&mut insns, 1, BUF + 16),
                    _ => insns.push(movz(1, 0, 0)),
                }
                insns.push(movz(8, 169, 0)); // gettimeofday
                insns.push(SVC);
            }
        }
        // loop (15 instructions):
        insns.push(movz(0, 0, 0));
        mov32(&mut insns, 1, BUF);
        insns.push(movz(2, 4096, 0));
        insns.push(movz(8, 63, 0)); // read
        insns.push(SVC);
        insns.push(0xf100_001f); // cmp x0, #0
        insns.push(0x5400_0000 | (8 << 5) | 0xd); // b.le out (+8)
        insns.push(0xaa00_03e2); // mov x2, x0
        insns.push(movz(0, out_fd.into(), 0));
        mov32(&mut insns, 1, BUF);
        insns.push(movz(8, 64, 0)); // write
        insns.push(SVC);
        insns.push(0x1400_0000 | ((-14i32) as u32 & 0x03ff_ffff)); // b loop
                                                                   // out:
        insns.push(movz(0, 0, 0));
        insns.push(movz(
            8,
            match end {
                End::Exit => 93,
                End::ExitGroup => 94,
            },
            0,
        ));
        insns.push(SVC);
        for i in insns {
            code.extend_from_slice(&i.to_le_bytes());
        }
        183 // EM_AARCH64
    };
    let size = HEADERS + code.len() as u64;
    assert!(size < u64::from(BUF) - BASE);
    // PF_R | PF_W | PF_X; memsz 0x2000: the buffer is the zero-filled tail
    static_elf(machine, &code, 7, 0x2000)
}

/// Writes the program to `path` (mode 0755).
fn write_prog(path: &str, elf: &[u8]) -> Result<(), String> {
    super::cli_run::write(path, elf, 0o755)
}

/// Runs `prog ARGS` with `input` on its stdin; collects its output.
fn run_with(prog: &str, args: &[&str], input: &[u8]) -> Result<Output, String> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{prog}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin pipe")?;
    // A program killed before it reads gets EPIPE here: not an error.
    let _ = stdin.write_all(input);
    drop(stdin);
    child
        .wait_with_output()
        .map_err(|e| format!("{prog}: wait: {e}"))
}

/// `/bin/strbox run -p POLICY -- CMD...` with `input` on stdin.
fn strbox_run(policy: &str, cmd: &[&str], input: &[u8]) -> Result<Output, String> {
    let mut args = vec!["run", "-p", policy, "--"];
    args.extend_from_slice(cmd);
    run_with("/bin/strbox", &args, input)
}

/// The program ran to exit status 0 with exactly `stdout` and no stderr.
fn expect_output(what: &str, o: &Output, stdout: &[u8]) -> TestResult {
    ensure!(
        o.status.code() == Some(0) && o.stdout == stdout && o.stderr.is_empty(),
        "{what}: want exit 0 and stdout {:?}; got {}",
        String::from_utf8_lossy(stdout),
        describe(o)
    );
    Ok(())
}

/// `strbox run` exited 137 and named the syscall or event (`syscall X`,
/// `event X ...`) that the policy killed the program for; returns what it
/// named.
fn expect_kill(what: &str, o: &Output) -> Result<String, String> {
    let err = String::from_utf8_lossy(&o.stderr);
    let named = err
        .split("killed by policy: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or("")
        .to_string();
    ensure!(
        o.status.code() == Some(137) && !named.is_empty(),
        "{what}: want exit 137 and a kill report; got {}",
        describe(o)
    );
    Ok(named)
}

/// As [`expect_kill`], for a kill at syscall `name`.
fn expect_kill_at(what: &str, o: &Output, name: &str) -> TestResult {
    let named = expect_kill(what, o)?;
    ensure!(
        named == format!("syscall {name}"),
        "{what}: killed for {named:?}, want syscall {name}: {}",
        describe(o)
    );
    Ok(())
}

const INPUT: &[u8] = b"read: fd == 0\nwrite: fd == 1\n";

fn cli_example_ingo() -> TestResult {
    let pol = example("ingo.policy");
    let prog = "/tmp/strbox-ex-ingo";
    write_prog(prog, &copy_elf(Time::TzNull, 1, End::ExitGroup))?;
    // Unsandboxed first: the program itself is sound.
    expect_output("the program alone", &run_with(prog, &[], INPUT)?, INPUT)?;
    expect_output(
        "under ingo.policy",
        &strbox_run(&pol, &[prog], INPUT)?,
        INPUT,
    )?;
    // `exit` instead of `exit_group`: allowed too.
    write_prog(prog, &copy_elf(Time::TzNull, 1, End::Exit))?;
    expect_output(
        "under ingo.policy, ending with exit",
        &strbox_run(&pol, &[prog], INPUT)?,
        INPUT,
    )?;
    // gettimeofday with a time zone pointer: tz == NULL is false.
    write_prog(prog, &copy_elf(Time::TzPointer, 1, End::ExitGroup))?;
    expect_output("tz program alone", &run_with(prog, &[], INPUT)?, INPUT)?;
    expect_kill_at(
        "gettimeofday(&tv, &tz) under ingo.policy",
        &strbox_run(&pol, &[prog], INPUT)?,
        "gettimeofday",
    )?;
    // Writing to fd 2: write's fd == 1 is false.
    write_prog(prog, &copy_elf(Time::TzNull, 2, End::ExitGroup))?;
    let o = strbox_run(&pol, &[prog], INPUT)?;
    expect_kill_at("write(2, ...) under ingo.policy", &o, "write")?;
    ensure!(
        !o.stderr.windows(INPUT.len()).any(|w| w == INPUT),
        "the write to fd 2 went through: {}",
        describe(&o)
    );
    Ok(())
}

fn cli_example_seccomp_strict() -> TestResult {
    let pol = example("seccomp-strict.policy");
    let prog = "/tmp/strbox-ex-strict";
    write_prog(prog, &copy_elf(Time::No, 1, End::Exit))?;
    expect_output("the program alone", &run_with(prog, &[], INPUT)?, INPUT)?;
    expect_output(
        "under seccomp-strict.policy",
        &strbox_run(&pol, &[prog], INPUT)?,
        INPUT,
    )?;
    // Strict mode allows read and write on any descriptor: stderr too.
    write_prog(prog, &copy_elf(Time::No, 2, End::Exit))?;
    let o = strbox_run(&pol, &[prog], INPUT)?;
    ensure!(
        o.status.code() == Some(0) && o.stdout.is_empty() && o.stderr == INPUT,
        "writing to fd 2 under seccomp-strict.policy: {}",
        describe(&o)
    );
    // Anything else kills: gettimeofday, and exit_group (strict mode's
    // exit is the thread's).
    write_prog(prog, &copy_elf(Time::TzNull, 1, End::Exit))?;
    expect_kill_at(
        "gettimeofday under seccomp-strict.policy",
        &strbox_run(&pol, &[prog], INPUT)?,
        "gettimeofday",
    )?;
    write_prog(prog, &copy_elf(Time::No, 1, End::ExitGroup))?;
    let o = strbox_run(&pol, &[prog], INPUT)?;
    expect_kill_at("exit_group under seccomp-strict.policy", &o, "exit_group")?;
    ensure!(
        o.stdout == INPUT,
        "the copy before exit_group: {}",
        describe(&o)
    );
    // A real static program (glibc's startup) dies at its first syscall,
    // before reading anything.
    let o = strbox_run(&pol, &["/bin/busybox", "cat"], INPUT)?;
    let named = expect_kill("busybox cat under seccomp-strict.policy", &o)?;
    ensure!(
        o.stdout.is_empty()
            && !["read", "write", "exit", "rt_sigreturn", "execve"]
                .iter()
                .any(|s| named == format!("syscall {s}")),
        "busybox cat under seccomp-strict.policy: killed for {named:?}: {}",
        describe(&o)
    );
    Ok(())
}

fn cli_example_stdio_static_tool() -> TestResult {
    let prog = "/tmp/strbox-ex-tool";
    write_prog(prog, &copy_elf(Time::No, 1, End::Exit))?;
    // stdio.policy is for @include: alone it does not allow strbox run's
    // execve, so the program never starts.
    let o = strbox_run(&example("stdio.policy"), &[prog], INPUT)?;
    expect_kill_at("stdio.policy alone", &o, "execve")?;
    ensure!(o.stdout.is_empty(), "stdio.policy alone: {}", describe(&o));
    let pol = example("static-tool.policy");
    let o = strbox_run(&pol, &[prog], INPUT)?;
    if cfg!(target_arch = "x86_64") {
        expect_output("under static-tool.policy", &o, INPUT)?;
        // busybox needs more than a minimal static program.
        let o = strbox_run(&pol, &["/bin/busybox", "cat"], INPUT)?;
        expect_kill("busybox cat under static-tool.policy", &o)?;
    } else {
        // An x86_64 policy: aarch64 has no arch_prctl. strbox run refuses
        // it (exit 1, a caret error) before the program runs.
        let err = String::from_utf8_lossy(&o.stderr);
        ensure!(
            o.status.code() == Some(1)
                && o.stdout.is_empty()
                && err.contains("unknown syscall")
                && err.contains("arch_prctl"),
            "static-tool.policy on aarch64: {}",
            describe(&o)
        );
    }
    Ok(())
}

fn mkdir(d: &str) -> TestResult {
    std::fs::create_dir_all(d).map_err(|e| format!("mkdir {d}: {e}"))
}

fn write_file(p: &str, text: &[u8]) -> TestResult {
    std::fs::write(p, text).map_err(|e| format!("write {p}: {e}"))
}

fn cli_example_busybox_cat() -> TestResult {
    let pol = busybox_policy("cat");
    mkdir("/srv/public")?;
    write_file("/srv/public/a.txt", b"first file\n")?;
    write_file("/srv/public/b.txt", b"second file\n")?;
    write_file("/tmp/strbox-secret.txt", b"not public\n")?;
    let _ = std::fs::remove_file("/srv/public/link.txt");
    std::os::unix::fs::symlink("/tmp/strbox-secret.txt", "/srv/public/link.txt")
        .map_err(|e| format!("symlink: {e}"))?;
    let bb = "/bin/busybox";
    let cat2 = [bb, "cat", "/srv/public/a.txt", "/srv/public/b.txt"];
    expect_output(
        "busybox cat alone",
        &run_with(bb, &cat2[1..], b"")?,
        b"first file\nsecond file\n",
    )?;
    expect_output(
        "busybox cat under its policy",
        &strbox_run(&pol, &cat2, b"")?,
        b"first file\nsecond file\n",
    )?;
    // Outside /srv/public/ (directly, or through a symlink inside it):
    // the file_open rule's EACCES; cat reports it and goes on.
    for (path, shown) in [
        ("/tmp/strbox-secret.txt", "/tmp/strbox-secret.txt"),
        ("/srv/public/link.txt", "/srv/public/link.txt"),
        (
            "/srv/public/../../tmp/strbox-secret.txt",
            "/srv/public/../../tmp/strbox-secret.txt",
        ),
    ] {
        let o = strbox_run(&pol, &[bb, "cat", path, "/srv/public/a.txt"], b"")?;
        let want_err = format!("cat: can't open '{shown}': Permission denied\n");
        ensure!(
            o.status.code() == Some(1)
                && o.stdout == b"first file\n"
                && String::from_utf8_lossy(&o.stderr) == want_err,
            "busybox cat {path} under its policy: want exit 1, the public file, and {want_err:?}; got {}",
            describe(&o)
        );
    }
    // Another applet that opens for writing: killed at the openat, before
    // the file exists.
    let _ = std::fs::remove_file("/srv/public/new.txt");
    let o = strbox_run(&pol, &[bb, "tee", "/srv/public/new.txt"], b"data\n")?;
    expect_kill_at("busybox tee under the cat policy", &o, "openat")?;
    ensure!(
        std::fs::symlink_metadata("/srv/public/new.txt").is_err(),
        "busybox tee under the cat policy created /srv/public/new.txt"
    );
    // Another program: its exec's open of the binary is a file_open event
    // outside the allowed paths, so the execve fails with EACCES (strbox
    // run: 126, nothing ran).
    let o = strbox_run(&pol, &["/bin/strbox", "show"], b"")?;
    ensure!(
        o.status.code() == Some(126)
            && o.stdout.is_empty()
            && String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "/bin/strbox under the cat policy: want exit 126, EACCES; got {}",
        describe(&o)
    );
    Ok(())
}

const HELLO_SHA256: &str = "4a1e67f2fe1d1cc7b31d0ca2ec441da4778203a036a77da10344c85e24ff0f92";

fn cli_example_busybox_sha256sum() -> TestResult {
    let pol = busybox_policy("sha256sum");
    let file = "/tmp/strbox-hello.txt";
    write_file(file, b"hello\nworld\n")?;
    let bb = "/bin/busybox";
    let want = format!("{HELLO_SHA256}  {file}\n");
    expect_output(
        "busybox sha256sum alone",
        &run_with(bb, &["sha256sum", file], b"")?,
        want.as_bytes(),
    )?;
    expect_output(
        "busybox sha256sum FILE under its policy",
        &strbox_run(&pol, &[bb, "sha256sum", file], b"")?,
        want.as_bytes(),
    )?;
    expect_output(
        "busybox sha256sum (stdin) under its policy",
        &strbox_run(&pol, &[bb, "sha256sum"], b"hello\nworld\n")?,
        format!("{HELLO_SHA256}  -\n").as_bytes(),
    )?;
    // A missing file: reported on fd 2 (allowed by the tightening).
    let o = strbox_run(&pol, &[bb, "sha256sum", "/tmp/strbox-missing"], b"")?;
    ensure!(
        o.status.code() == Some(1)
            && o.stdout.is_empty()
            && String::from_utf8_lossy(&o.stderr)
                == "sha256sum: can't open '/tmp/strbox-missing': No such file or directory\n",
        "busybox sha256sum MISSING under its policy: {}",
        describe(&o)
    );
    // cat copies with sendfile, which the sha256sum policy does not allow.
    let o = strbox_run(&pol, &[bb, "cat", file], b"")?;
    expect_kill_at("busybox cat under the sha256sum policy", &o, "sendfile")?;
    ensure!(o.stdout.is_empty(), "cat output leaked: {}", describe(&o));
    Ok(())
}

fn cli_example_busybox_ls() -> TestResult {
    let pol = busybox_policy("ls");
    let dir = "/tmp/strbox-ls";
    mkdir(dir)?;
    for f in ["a", "b", "c"] {
        write_file(&format!("{dir}/{f}"), f.as_bytes())?;
    }
    mkdir(&format!("{dir}/sub"))?;
    let bb = "/bin/busybox";
    let want = b"a\nb\nc\nsub\n";
    expect_output("busybox ls alone", &run_with(bb, &["ls", dir], b"")?, want)?;
    expect_output(
        "busybox ls DIR under its policy",
        &strbox_run(&pol, &[bb, "ls", dir], b"")?,
        want,
    )?;
    // ls -l looks up user names and the time zone: opens without
    // O_DIRECTORY.
    let o = strbox_run(&pol, &[bb, "ls", "-l", dir], b"")?;
    expect_kill_at("busybox ls -l under the ls policy", &o, "openat")?;
    // A regular file cannot be opened at all.
    let o = strbox_run(&pol, &[bb, "cat", &format!("{dir}/a")], b"")?;
    expect_kill_at("busybox cat under the ls policy", &o, "openat")?;
    ensure!(o.stdout.is_empty(), "cat output leaked: {}", describe(&o));
    Ok(())
}
