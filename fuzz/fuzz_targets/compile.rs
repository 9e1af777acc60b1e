//! Fuzz target: any bytes as a policy, for both architectures.
//! parse + check + compile must never panic; a rejected policy's error
//! points inside the text; an accepted one evaluates without panicking,
//! prints, and its printed form compiles to the identical program. Event
//! rules are evaluated too, with inputs derived from the data. Language v2
//! (`RULE => ACTION`, `default allow`) goes through the same checks; the
//! dictionary has its tokens.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use strbox_filter::uapi::tables::{AARCH64, X86_64};
use strbox_filter::{
    compile, evaluate_chain, evaluate_event_chain, Event, EventInput, Program, Scratch,
};

struct State {
    scratch: Box<Scratch>,
    prog: Box<Program>,
    again: Box<Program>,
    text: String,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        scratch: Box::new(Scratch::new()),
        prog: Box::new(Program::new()),
        again: Box::new(Program::new()),
        text: String::new(),
    });
}

/// A cheap hash of the input, to vary the evaluated arguments.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fuzz_target!(|data: &[u8]| {
    STATE.with(|st| {
        let st = &mut *st.borrow_mut();
        for arch in [&X86_64, &AARCH64] {
            match compile(data, arch, &mut st.scratch, &mut st.prog) {
                Err(e) => {
                    assert!(e.offset as usize <= data.len());
                    assert!(e.line >= 1 && e.column >= 1);
                    assert!(!e.code.message().is_empty());
                }
                Ok(()) => {
                    let mut h = hash(data);
                    for _ in 0..16 {
                        h = h.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                        let nr = (h % 520) as u32;
                        let args = [h, h >> 32, !h, h as u32 as u64, (h as i32) as u64, h.rotate_left(7)];
                        let v = st.prog.evaluate(nr, &args);
                        let c = evaluate_chain([&*st.prog, &*st.prog], nr, &args);
                        assert_eq!(v, c);
                        // What ChainSummary builds on: a constant verdict
                        // (v1's bitmap and defaults, v2's constant action
                        // rules) never disagrees with evaluating.
                        if let Some(k) = st.prog.constant_verdict(nr) {
                            assert_eq!(k, v);
                        }
                    }
                    // Events: paths cut from the input itself (so globs and
                    // literals meet matching text), or unavailable.
                    let h = hash(data);
                    let cut = data.len().min((h % 64) as usize);
                    let path = data.get(data.len() - cut..);
                    let mut addr = [0u8; 16];
                    addr[..8].copy_from_slice(&h.to_be_bytes());
                    if h & 1 == 0 {
                        addr = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, h as u8, (h >> 8) as u8, 0, 1];
                    }
                    for ev in Event::ALL {
                        for p in [path, None] {
                            let input = EventInput { path: p, flags: h >> 3, family: h >> 7, port: h >> 11, addr };
                            let v = st.prog.evaluate_event(ev, &input);
                            let c = evaluate_event_chain([&*st.prog, &*st.prog], ev, &input);
                            assert_eq!(v, c);
                            if !st.prog.has_event_rules(ev) {
                                assert_eq!(v, strbox_filter::Verdict::Allow);
                            }
                        }
                    }
                    st.text.clear();
                    st.prog.print(arch, &mut st.text).expect("print");
                    if let Err(e) = compile(st.text.as_bytes(), arch, &mut st.scratch, &mut st.again) {
                        panic!("printed policy rejected: {e}\n{}", st.text);
                    }
                    assert!(*st.prog == *st.again, "round trip differs:\n{}", st.text);
                }
            }
        }
    });
});
