//! The worked example in the compiler's module documentation
//! (`compile.rs`) is checked here: the policy is taken from the first
//! `text` block of that documentation, compiled for x86_64, rendered in the
//! documentation's format and compared with its second `text` block, line
//! for line. Changing the compiler's output or the example without the
//! other fails this test.

use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::limits::MAX_NR;
use crate::printer::print_pred;
use crate::program::code;
use crate::uapi::tables::X86_64;
use crate::{ACCEPT, REJECT};

/// The `//!` documentation of `compile.rs`.
fn compile_rs_docs() -> String {
    include_str!("../compile.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `n`-th ```` ```text ```` block of the documentation.
fn text_block(docs: &str, n: usize) -> String {
    let mut blocks = docs.split("```text\n").skip(1);
    let block = blocks.nth(n).expect("text block");
    String::from(block.split("```").next().unwrap())
}

fn target(t: u16) -> String {
    match t {
        ACCEPT => "ACCEPT".into(),
        REJECT => "REJECT".into(),
        n => format!("{n}"),
    }
}

/// Renders a program the way the worked example shows it.
fn render(p: &Program) -> String {
    let name = |nr: usize| X86_64.syscall_by_nr(nr as u32).unwrap().name;
    let mut out = String::new();
    let default = match p.default_verdict() {
        Verdict::Errno(e) => format!("errno {}", X86_64.errno_name(i64::from(e)).unwrap()),
        v => format!("{v:?}").to_lowercase(),
    };
    out.push_str(&format!("default:  {default}\n"));
    let allowed: Vec<String> = (0..MAX_NR)
        .filter(|&nr| p.always_allows(nr as u32))
        .map(|nr| format!("{} ({nr})", name(nr)))
        .collect();
    out.push_str(&format!("allow:    {}\n", allowed.join(", ")));
    let mut owner = Vec::new(); // (first predicate, syscall number)
    for nr in 0..MAX_NR {
        if let Some(first) = p.first_pred(nr) {
            owner.push((first, nr));
        }
    }
    let dispatch: Vec<String> = owner
        .iter()
        .map(|&(first, nr)| format!("{} ({nr}) -> {first}", name(nr)))
        .collect();
    out.push_str(&format!(
        "dispatch: {}; all others -> default\n\n",
        dispatch.join(", ")
    ));
    out.push_str("pred  syscall  comparison       on true  on false\n");
    for (i, pr) in p.preds[..p.predicate_count()].iter().enumerate() {
        // Groups are laid out in number order: the owner is the last
        // syscall whose first predicate is at or before `i`.
        let &(_, nr) = owner.iter().rev().find(|&&(f, _)| f <= i).unwrap();
        let sys = X86_64.syscall_by_nr(nr as u32).unwrap();
        let mut cmp = String::new();
        print_pred(sys, pr, &mut cmp).unwrap();
        out.push_str(&format!(
            "{i:>4}  {:<7}  {cmp:<15}  {:<7}  {}\n",
            sys.name,
            target(pr.on_true),
            target(pr.on_false)
        ));
    }
    let units: Vec<String> = p.code[..p.code_len()]
        .iter()
        .map(|&u| {
            let neg = if code::is_neg(u) { "!" } else { "" };
            match code::kind(u) {
                code::GROUP => format!("GROUP {}", code::count(u)),
                code::AND => format!("{neg}AND {}", code::count(u)),
                code::OR => format!("{neg}OR {}", code::count(u)),
                _ => format!("{neg}LEAF"),
            }
        })
        .collect();
    out.push_str(&format!("\ncode: {}\n", units.join(", ")));
    out
}

#[test]
fn compile_doc_example() {
    let docs = compile_rs_docs();
    let policy = text_block(&docs, 0);
    let want = text_block(&docs, 1);
    let p = compile_for(&X86_64, &policy).expect("the example compiles");
    let got = render(&p);
    assert_eq!(
        got, want,
        "compile.rs's worked example is stale; the compiler emits:\n{got}"
    );

    // The evaluations the documentation walks through.
    let nr = |n: &str| X86_64.syscall(n).unwrap().nr;
    let eperm = Verdict::Errno(1);
    assert_eq!(p.evaluate(nr("read"), &[5, 0x1000, 16, 0, 0, 0]), eperm);
    assert_eq!(
        p.evaluate(nr("read"), &[5, 0x1000, 4096, 0, 0, 0]),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate(nr("read"), &[0, 0x1000, 16, 0, 0, 0]),
        Verdict::Allow
    );
    assert_eq!(
        p.evaluate(nr("read"), &[1, 0x1000, 0, 0, 0, 0]),
        Verdict::Allow
    );
    assert_eq!(p.evaluate(nr("close"), &[7; 6]), Verdict::Allow);
    assert_eq!(p.evaluate(nr("kill"), &[0; 6]), eperm);
    assert_eq!(p.evaluate(nr("openat"), &[0; 6]), eperm);
    assert_eq!(p.evaluate(nr("write"), &[2, 0, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(p.evaluate(nr("write"), &[3, 0, 0, 0, 0, 0]), eperm);
}
