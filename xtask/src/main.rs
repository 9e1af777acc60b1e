//! `cargo xtask`: strbox's build-and-boot pipeline.
//!
//! Stages, each printing one progress line: install missing tools (`setup`),
//! fetch/configure/build a Rust-enabled kernel per arch (`kernel`, cached
//! under `~/.cache/strbox/kernel/`), build `strbox.ko` against it (`kmod`),
//! build the static musl guest binaries and pack an initramfs (`guest`),
//! boot QEMU and collect the results (`qemu`, `results`).

mod arch;
mod busybox;
mod chart;
mod fuzz;
mod gen_tables;
mod guest;
mod kernel;
mod kmod;
mod qemu;
mod results;
mod selftest;
mod setup;
mod util;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};

use arch::Arch;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "strbox build, boot and test pipeline")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--arch`: the names people type for each architecture.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum ArchArg {
    #[value(name = "x86-64", aliases = ["x86_64", "amd64", "x64"])]
    X86_64,
    #[value(name = "aarch64", aliases = ["arm64"])]
    Aarch64,
    All,
}

impl ArchArg {
    fn arches(self) -> Vec<Arch> {
        match self {
            ArchArg::X86_64 => vec![Arch::X86_64],
            ArchArg::Aarch64 => vec![Arch::Aarch64],
            ArchArg::All => vec![Arch::X86_64, Arch::Aarch64],
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Build kernel + module + guest tests and run the suite in QEMU.
    QemuTest {
        #[arg(long, value_enum, default_value = "x86-64")]
        arch: ArchArg,
        /// Boot the debug kernel (KASAN, lockdep, kmemleak, ...).
        #[arg(long)]
        debug: bool,
        /// Only run guest tests whose name contains this string.
        #[arg(long)]
        filter: Option<String>,
        /// Seconds before a boot is declared hung (a hang detector: the
        /// debug kernel under TCG on a loaded host is slow).
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Boot N times per arch; prints per-test pass counts and fails on
        /// any failure in any boot (a flake hunt).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// vCPUs of the guest (the suite's guest_is_smp test checks the
        /// guest sees exactly this many; below 2 it is skipped).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
        smp: u32,
    },
    /// Boot the image with the module loaded and run CMD (or a shell) in it.
    QemuRun {
        #[arg(long, value_enum, default_value = "x86-64")]
        arch: ArchArg,
        #[arg(long)]
        debug: bool,
        /// Host file to copy into the guest under /mnt/host/ (repeatable).
        #[arg(long)]
        add: Vec<PathBuf>,
        /// Do not load strbox.ko before running CMD.
        #[arg(long)]
        no_module: bool,
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Command and arguments to run in the guest.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Benchmark strbox against seccomp-bpf in QEMU (ns per syscall,
    /// medians of interleaved runs in one boot; see docs/benchmarks.md).
    QemuBench {
        #[arg(long, value_enum, default_value = "x86-64")]
        arch: ArchArg,
        /// Calls per probe syscall and run (guest default: 20000).
        #[arg(long)]
        iters: Option<u64>,
        /// Rounds per phase, at least 5 (guest default: 5).
        #[arg(long)]
        reps: Option<usize>,
        /// Run under QEMU -icount (1 vCPU, single-threaded TCG): guest
        /// time counts executed instructions, so "ns per syscall" reads as
        /// instructions per syscall, repeatable on a noisy host.
        #[arg(long)]
        icount: bool,
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Build strbox.ko against your own Rust-enabled kernel build tree.
    BuildKmod {
        /// Kernel build directory (where `make` was run, or its O= dir).
        #[arg(long)]
        kdir: PathBuf,
        #[arg(long, value_enum, default_value = "x86-64")]
        arch: ArchArg,
    },
    /// Install missing build dependencies (done by qemu-test too).
    Setup {
        #[arg(long, value_enum, default_value = "all")]
        arch: ArchArg,
    },
    /// Build (or reuse) the cached kernel and print its build directory.
    Kernel {
        #[arg(long, value_enum, default_value = "x86-64")]
        arch: ArchArg,
        #[arg(long)]
        debug: bool,
    },
    /// A bounded, reproducible libFuzzer run of the filter engine (the
    /// `fuzz/` target; installs nightly and cargo-fuzz when missing).
    FuzzSmoke {
        /// Generated inputs after the corpus.
        #[arg(long, default_value_t = 200_000)]
        runs: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Regenerate uapi's syscall/constant tables from the kernel sources.
    GenTables {
        /// Kernel source tree (default: the extracted linux-source-6.12).
        #[arg(long)]
        ksrc: Option<PathBuf>,
        /// Fail if the committed tables differ; write nothing.
        #[arg(long)]
        check: bool,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::QemuTest {
            arch,
            debug,
            filter,
            timeout,
            repeat,
            smp,
        } => {
            let mut total = results::Summary::default();
            let mut ok = true;
            let mut tallies = Vec::new();
            for a in arch.arches() {
                let mut img = prepare(
                    a,
                    debug,
                    guest::Mode::Test {
                        filter: filter.clone(),
                    },
                    &[],
                )?;
                img.smp = smp;
                let mut tally = results::Tally::default();
                for i in 1..=repeat {
                    if repeat > 1 {
                        util::progress("qemu", format!("{}: boot {i} of {repeat}", a.name()));
                    }
                    let out = qemu::boot(&img, timeout, qemu::Output::Tests)?;
                    let r = results::parse(&out.console, a.name());
                    r.print();
                    if !r.ok() && repeat > 1 {
                        // Keep the failing console next to the last one.
                        let keep = img.log.with_extension(format!("boot{i}.log"));
                        let _ = std::fs::copy(&img.log, &keep);
                        println!("{}: failing console kept in {}", a.name(), keep.display());
                    }
                    ok &= r.ok();
                    total.add(&r.summary);
                    tally.add(&r);
                }
                tallies.push((a, tally));
            }
            if repeat > 1 {
                println!("== per-test results over {repeat} boots, {smp} vCPUs ==");
                for (a, t) in &tallies {
                    for l in t.lines(a.name()) {
                        println!("{l}");
                    }
                }
            }
            println!("{}", total.line());
            if !ok {
                bail!("qemu-test failed");
            }
            Ok(())
        }
        Cmd::QemuRun {
            arch,
            debug,
            add,
            no_module,
            timeout,
            cmd,
        } => {
            let arches = arch.arches();
            if arches.len() != 1 {
                bail!("qemu-run boots one arch: pass --arch x86-64 or --arch aarch64");
            }
            let how = if cmd.is_empty() {
                qemu::Output::Interactive
            } else {
                qemu::Output::Command
            };
            let mode = guest::Mode::Run {
                cmd,
                load_module: !no_module,
            };
            let img = prepare(arches[0], debug, mode, &add)?;
            let out = qemu::boot(&img, timeout, how)?;
            std::process::exit(out.exit_code.unwrap_or(125));
        }
        Cmd::QemuBench {
            arch,
            iters,
            reps,
            icount,
            timeout,
        } => {
            let mut ok = true;
            for a in arch.arches() {
                let mut img = prepare(a, false, guest::Mode::Bench { iters, reps }, &[])?;
                if icount {
                    img.icount = true;
                    img.smp = 1;
                    println!(
                        "{}: -icount shift=0: every figure below in ns is a count of guest \
                         instructions (cache/TLB misses and entry mitigations cost nothing here)",
                        a.name()
                    );
                }
                let out = qemu::boot(&img, timeout, qemu::Output::Bench)?;
                // The guest reports its steps as KTAP: the same parser
                // judges them, the @@done marker and the kernel log.
                let r = results::parse(&out.console, a.name());
                r.print();
                ok &= r.ok();
                let figs = chart::parse(&out.console);
                if !figs.is_empty() {
                    let (stem, mode, unit) = if icount {
                        (
                            format!("{}-icount", a.name()),
                            "QEMU TCG -icount, 1 vCPU",
                            "guest instructions per syscall",
                        )
                    } else {
                        (
                            a.name().to_string(),
                            "QEMU TCG",
                            "ns per syscall (emulated)",
                        )
                    };
                    let title = format!("strbox vs seccomp-bpf per syscall: {} ({mode})", a.name());
                    let [c, g] = chart::write(
                        &util::target_dir().join("bench"),
                        &stem,
                        &figs,
                        &title,
                        unit,
                    )?;
                    println!("wrote {} and {}", c.display(), g.display());
                }
            }
            if !ok {
                bail!("qemu-bench failed");
            }
            Ok(())
        }
        Cmd::BuildKmod { kdir, arch } => {
            let arches = arch.arches();
            if arches.len() != 1 {
                bail!("build-kmod builds for one arch");
            }
            let ko = kmod::build_external(arches[0], &kdir)?;
            println!("{}", ko.display());
            Ok(())
        }
        Cmd::Setup { arch } => setup::ensure(&arch.arches()),
        Cmd::Kernel { arch, debug } => {
            setup::ensure(&arch.arches())?;
            for a in arch.arches() {
                let k = kernel::build(a, debug)?;
                println!("{}", k.dir.display());
            }
            Ok(())
        }
        Cmd::FuzzSmoke { runs, seed } => fuzz::smoke(runs, seed),
        Cmd::GenTables { ksrc, check } => {
            let ksrc = match ksrc {
                Some(p) => p,
                None => {
                    setup::ensure_packages(&["linux-source-6.12", "xz-utils"])?;
                    kernel::source()?.tree
                }
            };
            gen_tables::run(&ksrc, check)
        }
    }
}

/// Everything needed to boot one arch: kernel image, initramfs.
pub struct Image {
    pub arch: Arch,
    /// vCPUs to boot with.
    pub smp: u32,
    /// Deterministic instruction-counted guest time (QEMU -icount).
    pub icount: bool,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub log: PathBuf,
}

fn prepare(a: Arch, debug: bool, mode: guest::Mode, add: &[PathBuf]) -> Result<Image> {
    setup::ensure(&[a])?;
    let k = kernel::build(a, debug)?;
    let ko = kmod::build(a, &k)?;
    let bins = guest::build_binaries(a)?;
    let initramfs = guest::initramfs(a, &k, &ko, &bins, &mode, add)?;
    Ok(Image {
        arch: a,
        smp: 2,
        icount: false,
        kernel: k.image.clone(),
        initramfs,
        log: util::target_dir().join("qemu").join(format!(
            "{}{}.log",
            a.name(),
            if debug { "-debug" } else { "" }
        )),
    })
}

#[cfg(test)]
mod bench_tests {
    use crate::results;

    /// The shape of a `qemu-bench` console (from a real x86_64 run): the
    /// guest reports its steps as KTAP, so `results::parse` judges it.
    const BENCH: &str = "\
[    0.000000] Linux version 6.12.117 (strbox@strbox)
KTAP version 1
1..5
ok 1 bench_unloaded
ok 2 module_load
ok 3 bench_loaded
ok 4 module_unload
ok 5 bench_unloaded_again
@@b strbox vs seccomp-bpf, ns per syscall: x86_64 6.12.117, 2 CPUs, clocksource tsc, bpf_jit_enable 1
@@b B:allow300x16  getsid        strbox              2745     1782   41%   4.18x  +2087     0.50  0.51      0.49  0.50
@@bench baseline.getppid none 691.6
@@samples baseline.getppid none 453 482 519 750
@@k strbox: loaded
@@done
";

    #[test]
    fn a_clean_bench_run_passes() {
        let r = results::parse(BENCH, "x86_64");
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.summary.passed, 5);
    }

    #[test]
    fn failed_steps_kernel_findings_and_unfinished_runs_fail() {
        let failed = BENCH.replace(
            "ok 3 bench_loaded",
            "not ok 3 bench_loaded # B:ingo strbox: member ended with signal 9",
        );
        let warned = BENCH.replace(
            "@@k strbox: loaded",
            "@@k WARNING: CPU: 1 PID: 7 at kernel/trace/trace.c:1 x",
        );
        let unfinished = BENCH.replace("@@done\n", "");
        let hung = BENCH.replace("ok 5 bench_unloaded_again\n", "@@timeout\n");
        for log in [failed, warned, unfinished, hung] {
            assert!(!results::parse(&log, "x86_64").ok(), "{log}");
        }
    }
}

#[cfg(test)]
mod arch_arg_tests {
    use super::*;

    #[test]
    fn arch_accepts_the_names_people_type() {
        for (name, want) in [
            ("x86_64", ArchArg::X86_64),
            ("x86-64", ArchArg::X86_64),
            ("amd64", ArchArg::X86_64),
            ("aarch64", ArchArg::Aarch64),
            ("arm64", ArchArg::Aarch64),
            ("all", ArchArg::All),
        ] {
            let cli = Cli::try_parse_from(["xtask", "qemu-test", "--arch", name])
                .unwrap_or_else(|e| panic!("--arch {name}: {e}"));
            match cli.cmd {
                Cmd::QemuTest { arch, .. } => assert_eq!(arch, want, "--arch {name}"),
                _ => unreachable!(),
            }
        }
        assert!(Cli::try_parse_from(["xtask", "qemu-test", "--arch", "riscv64"]).is_err());
    }

    #[test]
    fn repeat_and_smp_are_bounded() {
        assert!(Cli::try_parse_from(["xtask", "qemu-test", "--repeat", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "qemu-test", "--smp", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "qemu-test", "--smp", "9"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "qemu-test", "--repeat", "5", "--smp", "4"]).is_ok());
    }
}
