//! The filter source compiled the way the kernel module compiles it: as a
//! module of another `no_std` crate, with `--cfg strbox_kmod`, overflow
//! checks, `panic=abort` and the kernel's lints. Checks that
//!
//! * it builds without warnings from `filter/`;
//! * the optimised object (kernel default: no `CONFIG_RUST_DEBUG_ASSERTIONS`)
//!   references no panicking function at all (so no
//!   input can reach a panic: indexing, overflow, unwrap, ...);
//! * no function of it needs more than 2 KiB of stack (x86_64 hosts);
//! * an all-zero `Program` is the empty program.

use std::path::PathBuf;
use std::process::Command;

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

fn build_kmod_like(dir: &std::path::Path) -> (PathBuf, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap();
    let lib = dir.join("kmod_like.rs");
    std::fs::write(
        &lib,
        format!(
            r#"//! A stand-in for the kernel module's crate root.
#![no_std]
#[path = "{root}/filter/src/lib.rs"]
pub mod filter;
#[path = "{root}/uapi/src/lib.rs"]
pub mod uapi;

/// Compile for x86_64.
pub fn compile_x86(src: &[u8], s: &mut filter::Scratch, p: &mut filter::Program) -> u32 {{
    match filter::compile(src, &uapi::tables::X86_64, s, p) {{
        Ok(()) => 0,
        Err(e) => e.code as u32,
    }}
}}
/// Evaluate.
pub fn eval(p: &filter::Program, nr: u32, a: &[u64; 6]) -> filter::Verdict {{
    p.evaluate(nr, a)
}}
/// Chain.
pub fn chain(l: &[filter::Program], nr: u32, a: &[u64; 6]) -> filter::Verdict {{
    filter::evaluate_chain(l, nr, a)
}}
/// Evaluate an event.
pub fn eval_event(p: &filter::Program, i: &filter::EventInput<'_>) -> filter::Verdict {{
    p.evaluate_event(filter::Event::SocketConnect, i)
}}
/// Event chain and masks.
pub fn chain_event(l: &[filter::Program], s: &filter::ChainSummary, i: &filter::EventInput<'_>) -> (filter::Verdict, u32, bool) {{
    let v = filter::evaluate_event_chain(l, filter::Event::FileOpen, i);
    let ev = filter::Event::from_name(b"exec").map_or(0, filter::Event::bit);
    (v, s.event_mask() | ev, l.first().is_some_and(|p| p.has_event_rules(filter::Event::Exec) || p.event_mask() != 0))
}}
/// Print.
pub fn print(p: &filter::Program, w: &mut dyn core::fmt::Write) -> core::fmt::Result {{
    p.print(&uapi::tables::AARCH64, w)
}}

/// Every filter item kmod/*.rs names, at the path it names it by (keep in
/// step with `grep -n filter:: kmod/*.rs`).
pub mod kmod_paths {{
    use crate::filter::{{compile, evaluate_chain, evaluate_layers, ChainSummary, Error as PolicyError, ErrorCode, Plan, Program, Scratch, Verdict}};
    const _: () = assert!(crate::filter::limits::MAX_POLICY_BYTES > 0 && crate::filter::Program::SIZE > 0);
    /// Uses them.
    pub fn uses(s: &mut Scratch, p: &mut Program, layers: &[Program], sum: &mut ChainSummary) -> (Verdict, usize, u32) {{
        sum.build(p, None);
        let v = evaluate_chain(layers, 0, &[0; 6]).combine(p.default_verdict());
        let v = match (sum.plan(0), sum.layers_to_evaluate(0, layers.len())) {{
            (Plan::Constant(c), _) => c,
            (_, None) => v,
            (_, Some(m)) => evaluate_layers(m, |k| layers.get(k), 0, &[0; 6]).unwrap_or(v),
        }};
        let code = match compile(b"", &crate::uapi::tables::X86_64, s, p) {{
            Ok(()) => 0,
            Err(e) => {{
                let e: PolicyError = e;
                u32::from(e.code == ErrorCode::PolicyTooLarge)
            }}
        }};
        (v, p.predicate_count(), code)
    }}
}}
"#,
            root = root.display()
        ),
    )
    .unwrap();
    let obj = dir.join("kmod_like.o");
    let out = Command::new(rustc())
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--crate-name",
            "kmod_like",
            "-O",
        ])
        .args(["-Coverflow-checks", "-Cpanic=abort"])
        .args([
            "-Wmissing_docs",
            "-Wunreachable_pub",
            "-Dunsafe_op_in_unsafe_fn",
        ])
        .args(["--cfg", "strbox_kmod", "--emit", "obj", "-o"])
        .arg(&obj)
        .arg(&lib)
        .output()
        .expect("run rustc");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rustc failed:\n{stderr}");
    (obj, stderr)
}

#[test]
fn builds_like_the_kernel_module_without_panics() {
    let dir = std::env::temp_dir().join(format!("strbox-kflags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (obj, stderr) = build_kmod_like(&dir);
    // Warnings from our source (uapi's are not ours to judge here).
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("filter/src"))
        .collect();
    assert!(ours.is_empty(), "warnings in filter/:\n{stderr}");

    let Ok(nm) = Command::new("nm").arg(&obj).output() else {
        eprintln!("nm not available: symbol check skipped");
        return;
    };
    let syms = String::from_utf8_lossy(&nm.stdout);
    let panics: Vec<&str> = syms
        .lines()
        .filter(|l| l.contains("panic") || l.contains("unwrap_failed"))
        .collect();
    assert!(
        panics.is_empty(),
        "panicking paths in the kernel build:\n{}",
        panics.join("\n")
    );

    if cfg!(target_arch = "x86_64") {
        if let Ok(dis) = Command::new("objdump")
            .args(["-d", "--no-show-raw-insn"])
            .arg(&obj)
            .output()
        {
            let text = String::from_utf8_lossy(&dis.stdout);
            let mut func = String::new();
            let mut worst = (0u64, String::new());
            for line in text.lines() {
                if line.ends_with(">:") {
                    func = line.to_string();
                } else if let Some(i) = line.find("sub    $0x") {
                    let rest = &line[i + 10..];
                    if let Some(end) = rest.find(",%rsp") {
                        let n = u64::from_str_radix(&rest[..end], 16).unwrap_or(0);
                        if n > worst.0 {
                            worst = (n, func.clone());
                        }
                    }
                }
            }
            eprintln!("largest stack frame: {} bytes in {}", worst.0, worst.1);
            assert!(
                worst.0 < 2048,
                "stack frame of {} bytes in {}",
                worst.0,
                worst.1
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn all_zero_program_is_the_empty_program() {
    use strbox_filter::{Program, Scratch, Verdict};
    // SAFETY: Program is plain integer arrays and integers (documented:
    // all-zero is valid); this is what the kernel's kvzalloc produces.
    let zeroed: Box<Program> = unsafe { Box::<Program>::new_zeroed().assume_init() };
    assert_eq!(*zeroed, Program::new());
    assert_eq!(zeroed.evaluate(0, &[0; 6]), Verdict::Kill);
    // SAFETY: as above, Scratch is plain integers.
    let mut scratch: Box<Scratch> = unsafe { Box::<Scratch>::new_zeroed().assume_init() };
    let mut prog = zeroed;
    strbox_filter::compile(
        b"read: fd == 0",
        strbox_filter::uapi::tables::NATIVE,
        &mut scratch,
        &mut prog,
    )
    .unwrap();
    assert_eq!(
        prog.evaluate(
            strbox_filter::uapi::tables::NATIVE
                .syscall("read")
                .unwrap()
                .nr,
            &[0; 6]
        ),
        Verdict::Allow
    );
    eprintln!(
        "Program: {} bytes, Scratch: {} bytes",
        Program::SIZE,
        Scratch::SIZE
    );
}
