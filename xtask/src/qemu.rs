//! Boots QEMU and streams the guest console.
//!
//! KVM is used only when a trial boot with it actually works (on this
//! machine kind /dev/kvm exists but cannot run ordinary guests); otherwise
//! TCG. The verdict is cached in the cache dir (override: STRBOX_KVM=0|1).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::util::{self, progress};
use crate::Image;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Test suite: echo test result lines as they come.
    Tests,
    /// One command: its stdout/stderr undecorated, kernel noise to the log.
    Command,
    /// Interactive shell: the console is the terminal.
    Interactive,
    /// Benchmark: step results as for tests, table lines (`@@b `)
    /// undecorated, `@@bench` lines as they are.
    Bench,
}

pub struct Boot {
    pub console: String,
    pub exit_code: Option<i32>,
}

fn base_args(img: &Image, kvm: bool, extra_cmdline: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    if kvm {
        v.extend(["-enable-kvm", "-cpu", "host"].map(String::from));
        if img.arch == crate::arch::Arch::Aarch64 {
            v.extend(["-M", "virt"].map(String::from));
        }
    } else {
        v.extend(img.arch.qemu_machine().iter().map(|s| s.to_string()));
        if img.icount {
            // Deterministic guest time: one guest nanosecond per executed
            // instruction (shift=0), single-threaded TCG (icount needs it),
            // no sleeping or host-clock alignment.
            v.extend(
                [
                    "-accel",
                    "tcg,thread=single",
                    "-icount",
                    "shift=0,sleep=off,align=off",
                ]
                .map(String::from),
            );
        } else {
            v.extend(["-accel", "tcg,thread=multi"].map(String::from));
        }
    }
    v.extend(["-smp".to_string(), img.smp.to_string()]);
    // The host's clock for the guest's RTC (PL031 / CMOS), read at boot
    // by RTC_HCTOSYS. No test relies on the value.
    v.extend(["-rtc".to_string(), "base=utc".to_string()]);
    v.extend(
        [
            "-m",
            "1G",
            "-nographic",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ]
        .map(String::from),
    );
    v.push("-kernel".into());
    v.push(img.kernel.display().to_string());
    v.push("-initrd".into());
    v.push(img.initramfs.display().to_string());
    v.push("-append".into());
    v.push(format!(
        "console={} panic=-1 oops=panic loglevel=4 strbox.smp={} {extra_cmdline}",
        img.arch.console(),
        img.smp
    ));
    v
}

/// Whether KVM really works here for this arch (a trial boot).
pub fn kvm_usable(img: &Image) -> bool {
    match std::env::var("STRBOX_KVM").as_deref() {
        Ok("0") => return false,
        Ok("1") => return true,
        _ => {}
    }
    if !img.arch.is_host() || !std::path::Path::new("/dev/kvm").exists() {
        return false;
    }
    let release = util::output("uname", &["-r"]).unwrap_or_default();
    let qv = util::output(img.arch.qemu_binary(), &["--version"]).unwrap_or_default();
    let key = format!("{release} {}", qv.lines().next().unwrap_or(""));
    let cache = util::cache_dir().join(format!("kvm-{}", img.arch.name()));
    if let Ok(c) = fs::read_to_string(&cache) {
        if let Some((k, v)) = c.rsplit_once('\t') {
            if k == key {
                return v == "yes";
            }
        }
    }
    progress("qemu", "trial boot with KVM (20 s at most)");
    let ok = run(
        img,
        true,
        "strbox.trial",
        Duration::from_secs(20),
        Output::Tests,
        None,
    )
    .map(|b| b.console.contains("@@done"))
    .unwrap_or(false);
    let _ = fs::create_dir_all(util::cache_dir());
    let _ = fs::write(&cache, format!("{key}\t{}", if ok { "yes" } else { "no" }));
    ok
}

pub fn boot(img: &Image, timeout: u64, out: Output) -> Result<Boot> {
    let kvm = kvm_usable(img);
    progress(
        "qemu",
        format!(
            "{}: booting ({}, {} vCPUs; console log {})",
            img.arch.name(),
            if kvm { "KVM" } else { "TCG: no usable KVM" },
            img.smp,
            img.log.display()
        ),
    );
    let t0 = Instant::now();
    let b = run(
        img,
        kvm,
        "",
        Duration::from_secs(timeout),
        out,
        Some(&img.log),
    )?;
    progress(
        "qemu",
        format!(
            "{}: guest finished in {:.1}s",
            img.arch.name(),
            t0.elapsed().as_secs_f64()
        ),
    );
    Ok(b)
}

fn run(
    img: &Image,
    kvm: bool,
    cmdline: &str,
    timeout: Duration,
    out: Output,
    log: Option<&std::path::Path>,
) -> Result<Boot> {
    let args = base_args(img, kvm, cmdline);
    if out == Output::Interactive {
        let st = Command::new(img.arch.qemu_binary()).args(&args).status()?;
        return Ok(Boot {
            console: String::new(),
            exit_code: st.code(),
        });
    }
    let mut child = Command::new(img.arch.qemu_binary())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", img.arch.qemu_binary()))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).split(b'\n').map_while(|l| l.ok()) {
            let s = String::from_utf8_lossy(&l)
                .trim_end_matches('\r')
                .to_string();
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if tx2.send(format!("qemu: {l}")).is_err() {
                break;
            }
        }
    });
    let mut logf = match log {
        Some(p) => {
            if let Some(d) = p.parent() {
                fs::create_dir_all(d)?;
            }
            Some(fs::File::create(p)?)
        }
        None => None,
    };
    let start = Instant::now();
    let mut console = String::new();
    let mut exit_code = None;
    let mut timed_out = false;
    let arch = img.arch.name();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            timed_out = true;
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok(line) => {
                if let Some(f) = logf.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                match out {
                    Output::Tests => {
                        if let Some(l) = crate::results::live_line(&line, arch) {
                            println!("{l}");
                        }
                    }
                    Output::Command => {
                        if let Some(p) = line.strip_prefix("@@o ") {
                            println!("{p}");
                        } else if let Some(p) = line.strip_prefix("@@e ") {
                            eprintln!("{p}");
                        } else if let Some(c) = line.strip_prefix("@@exit ") {
                            exit_code = c.trim().parse().ok();
                        }
                    }
                    Output::Bench => {
                        if let Some(p) = line.strip_prefix("@@b ") {
                            println!("{p}");
                        } else if line.starts_with("@@bench ") {
                            println!("{line}");
                        } else if let Some(l) = crate::results::live_line(&line, arch) {
                            println!("{l}");
                        }
                    }
                    Output::Interactive => {}
                }
                console.push_str(&line);
                console.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait()?;
    if timed_out {
        console.push_str("@@timeout\n");
        if let Some(f) = logf.as_mut() {
            let _ = writeln!(f, "@@timeout");
        }
        if cmdline.is_empty() {
            eprintln!(
                "qemu: {arch}: timed out after {}s; log {}",
                timeout.as_secs(),
                log.map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
    } else if !status.success() && cmdline.is_empty() {
        console.push_str(&format!("@@qemu-exit {status}\n"));
    }
    if out == Output::Command && exit_code.is_none() && cmdline.is_empty() {
        bail!(
            "the guest did not report the command's exit status (see {})",
            log.map(|p| p.display().to_string()).unwrap_or_default()
        );
    }
    Ok(Boot { console, exit_code })
}
