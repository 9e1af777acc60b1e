//! Host tests of the fuzzer: configuration, PRNG, seeds, generators and a
//! dry run of the batches (no kernel).

use super::batch::{build_batch, Budget};
use super::envelope::{Ctx, Expect, StepKind};
use super::memory::{Arena, Wr};
use super::policies::{gen_policy, parse_dict};
use super::rng::Rng;
use super::{parse_config, seeds, DEFAULT_POLICIES, DEFAULT_SEED, MAX_STEPS};

#[test]
fn config_from_cmdline_and_env() {
    let n = DEFAULT_POLICIES;
    let d = parse_config("console=ttyS0 quiet", None, None, n);
    assert_eq!((d.seed, d.policies), (DEFAULT_SEED, n));
    let line = "a strbox.fuzz_seed=0x1234 strbox.fuzz_policies=77 b";
    let c = parse_config(line, None, None, n);
    assert_eq!((c.seed, c.policies), (0x1234, 77));
    let e = parse_config("strbox.fuzz_seed=5", Some("0x10"), Some("3"), n);
    assert_eq!((e.seed, e.policies), (16, 3));
    let bad = parse_config("strbox.fuzz_seed=zz", Some("nope"), None, 5);
    assert_eq!((bad.seed, bad.policies), (DEFAULT_SEED, 5));
}

#[test]
fn rng_is_fixed() {
    // The sequence is part of reproducibility: runs with the same seed
    // must generate the same inputs on every machine and version.
    let mut r = Rng::new(0x5eed, 0);
    let a: Vec<u64> = (0..3).map(|_| r.bits()).collect();
    let mut r2 = Rng::new(0x5eed, 0);
    let b: Vec<u64> = (0..3).map(|_| r2.bits()).collect();
    assert_eq!(a, b);
    assert_ne!(Rng::new(0x5eed, 1).bits(), Rng::new(0x5eed, 0).bits());
}

#[test]
fn dict_and_corpus_are_embedded() {
    let d = parse_dict(seeds::DICT);
    assert!(d.iter().any(|t| t == b"\n"), "\\x0a token decoded");
    assert!(d.iter().any(|t| t == b"read"));
    assert!(
        seeds::CORPUS.len() >= 100,
        "{} corpus files",
        seeds::CORPUS.len()
    );
}

#[test]
fn generated_policies_mostly_compile() {
    let arch = strbox::policy::arch(None).unwrap();
    let mut rng = Rng::new(1, 2);
    let ok = (0..200)
        .filter(|_| strbox::policy::compile_policy(&gen_policy(&mut rng, arch, 30), arch).is_ok())
        .count();
    assert!(ok > 120, "{ok}/200 generated policies compile");
}

/// The generator and the model (no worker): every input of a run gets
/// placed and predicted without a model error, and the batches cover
/// every input.
#[test]
fn dry_run_places_every_input() {
    let arch = strbox::policy::arch(None).unwrap();
    let arena = Arena::new().unwrap();
    let ctx = Ctx::new(DEFAULT_SEED, arch, &arena);
    let mut budget = Budget::new(
        std::env::var("DRY_TOTAL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    );
    let total = std::env::var("DRY_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (mut next, mut batches, mut sets, mut accepted) = (0, 0, 0, 0);
    let mut reasons = std::collections::BTreeMap::new();
    let (mut set_bytes, mut get_bytes) = (0usize, 0usize);
    let mut outcomes = std::collections::BTreeMap::new();
    let mut blockers = std::collections::BTreeMap::new();
    while next < total {
        let b = build_batch(&ctx, total, next, &mut budget).unwrap();
        assert!(b.end > b.first && b.steps.len() <= MAX_STEPS);
        for st in &b.steps {
            if st.kind == StepKind::Set {
                sets += 1;
                accepted += usize::from(st.expect == Expect::Ret(0));
                *outcomes.entry(format!("{:?}", st.expect)).or_insert(0usize) += 1;
                set_bytes += st
                    .writes
                    .iter()
                    .map(|w| match w {
                        Wr::Bytes(_, v) => v.len(),
                        Wr::Fill(_, n, _) => *n,
                    })
                    .sum::<usize>();
            }
            if let (StepKind::LenCheck | StepKind::Get, Expect::Ret(r)) = (st.kind, st.expect) {
                if r > 0 {
                    get_bytes += r as usize;
                }
            }
        }
        next = b.end;
        batches += 1;
        *reasons.entry(b.ended).or_insert(0usize) += 1;
        if b.ended.starts_with("prctl") {
            let last = b
                .steps
                .iter()
                .rev()
                .find(|st| st.kind == StepKind::Set && st.expect == Expect::Ret(0));
            if let Some(st) = last {
                let o = b.inputs.iter().find(|x| x.index == st.input).unwrap();
                *blockers.entry(o.origin.name()).or_insert(0usize) += 1;
            }
        }
    }
    assert_eq!(sets, total);
    eprintln!(
        "{batches} batches, {accepted} of {sets} accepted, {} kills, {} logs, ended: {reasons:?}, blocking layers: {blockers:?}, SET bytes {set_bytes}, GET text bytes {get_bytes}, {outcomes:?}",
        budget.kills, budget.logs
    );
}
