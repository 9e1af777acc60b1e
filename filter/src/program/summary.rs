//! The chain summary: what a whole chain of layers decides for each
//! syscall number without looking at the arguments — seccomp's action
//! cache, taken across the stack.
//!
//! For one layer, a syscall's verdict is *constant* when the layer allows
//! it outright (constant-allow bitmap), has no rule for it (the default
//! action), or its action rules reduced to a constant (`ptrace: 1 =>
//! kill`). For a chain it is constant when every layer's is, and then it
//! is their [`Verdict::combine`]; or when any layer's constant verdict is
//! `Kill`, which nothing outranks. A chain's summary is built once, at
//! install, from the new layer and its parent's summary
//! ([`ChainSummary::build`]), so judging a syscall with a constant verdict
//! costs one load at any depth, and reads no argument register.
//!
//! When a call must be evaluated, only the layers that do not simply
//! allow it are run: per syscall number the summary keeps a bitmap of the
//! layers that allow it outright ([`ChainSummary::layers_to_evaluate`]),
//! and `Allow` changes no combined verdict (it is [`Verdict::combine`]'s
//! identity), so skipping them gives the same verdict as evaluating every
//! layer. A task whose policy stack has one layer with argument rules for
//! `read` pays for that one layer, however deep the stack.
//!
//! Encoding (one `u16` per syscall number below [`MAX_NR`]): 0 = evaluate
//! the chain; 1 = allow; 2 = log; 3 = kill; 4 | errno << 4 = errno
//! (`errno` ≤ [`MAX_ERRNO`] fits in 12 bits). All-zero memory is the valid
//! summary "evaluate everything", and no byte pattern makes
//! [`ChainSummary::lookup`] misbehave (an unknown code means "evaluate").

use super::super::limits::{MAX_ERRNO, MAX_NR};
use super::eval::Verdict;
use super::layout::{exit, Program};

const EVALUATE: u16 = 0;
const ALLOW: u16 = 1;
const LOG: u16 = 2;
const KILL: u16 = 3;
const ERRNO: u16 = 4;
/// Evaluate only some layers ([`ChainSummary::layers_to_evaluate`]); a
/// code `lookup` treats as "evaluate", like every unknown one.
const EVALUATE_SOME: u16 = 5;

/// What judging one syscall takes ([`ChainSummary::plan`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Plan {
    /// The chain's verdict, whatever the arguments.
    Constant(Verdict),
    /// Evaluate every layer.
    Every,
    /// Evaluate the layers [`ChainSummary::layers_to_evaluate`] names:
    /// some allow the call outright.
    Some,
}

/// Per syscall number: the chain's verdict if it does not depend on the
/// arguments (see the module docs).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainSummary {
    codes: [u16; MAX_NR],
    /// Per syscall number below [`SKIP_NR`]: bit `k` set when the layer
    /// at depth `k` (0: the first installed) allows it outright, so
    /// evaluating the chain may skip it (0 in zeroed memory: skip
    /// nothing).
    skip: [u16; SKIP_NR],
    /// OR of the layers' [`Program::event_mask`].
    events: u32,
    /// The number of layers summarised (0 in zeroed memory, which then
    /// matches no chain: [`ChainSummary::layers_to_evaluate`] says
    /// "all").
    depth: u32,
}

/// The deepest chain whose layers [`ChainSummary::layers_to_evaluate`]
/// can name (one bit each in a `u16`; `MAX_LAYERS` is 16).
const MASK_LAYERS: u32 = 16;

/// The numbers that can skip layers: all but the last four of the table,
/// which no architecture uses (the tables end near 470; a test checks),
/// so that the summary is exactly 2 KiB, one slab object of that size
/// (8 bytes more would take a 4 KiB one). The last four are judged by
/// every layer, which is always correct.
pub(crate) const SKIP_NR: usize = MAX_NR - 4;

const _: () = assert!(core::mem::size_of::<ChainSummary>() == 2048);

fn encode(v: Option<Verdict>) -> u16 {
    match v {
        None => EVALUATE,
        Some(Verdict::Allow) => ALLOW,
        Some(Verdict::Log) => LOG,
        Some(Verdict::Kill) => KILL,
        Some(Verdict::Errno(e)) if (1..=MAX_ERRNO).contains(&e) => ERRNO | (e << 4),
        // Not produced by the compiler; evaluating is always correct.
        Some(Verdict::Errno(_)) => EVALUATE,
    }
}

#[inline(always)]
fn decode(c: u16) -> Option<Verdict> {
    match c & 0xf {
        ALLOW if c == ALLOW => Some(Verdict::Allow),
        LOG if c == LOG => Some(Verdict::Log),
        KILL if c == KILL => Some(Verdict::Kill),
        ERRNO if c >> 4 != 0 => Some(Verdict::Errno(c >> 4)),
        _ => None,
    }
}

impl Program {
    /// This layer's verdict for `nr` if it does not depend on arguments.
    pub fn constant_verdict(&self, nr: u32) -> Option<Verdict> {
        if self.always_allows(nr) {
            Some(Verdict::Allow)
        } else if self.first_pred(nr as usize).is_some() {
            None
        } else {
            match self.action_entry(nr as usize) {
                0 => Some(self.unlisted_verdict()),
                // A first-match program over the arguments.
                e if e < exit::MIN => None,
                // Its rules reduced to a constant one (`ptrace: 1 => kill`).
                e => Some(self.exit_verdict(e)),
            }
        }
    }
}

#[cfg(not(strbox_kmod))]
impl Default for ChainSummary {
    fn default() -> Self {
        ChainSummary::new()
    }
}

impl ChainSummary {
    /// Size in bytes.
    pub const SIZE: usize = core::mem::size_of::<ChainSummary>();

    /// The summary that evaluates everything (all-zero, like zeroed
    /// memory). Not in the kernel build, which allocates zeroed memory.
    #[cfg(not(strbox_kmod))]
    pub const fn new() -> Self {
        ChainSummary {
            codes: [EVALUATE; MAX_NR],
            skip: [0; SKIP_NR],
            events: 0,
            depth: 0,
        }
    }

    /// Fills `self` with the summary of the chain made of `program` on
    /// top of the chain summarised by `parent` (`None`: a first layer).
    /// `self` may be any memory (it is overwritten entirely).
    pub fn build(&mut self, program: &Program, parent: Option<&ChainSummary>) {
        // The new layer's depth, and its bit in `skip` (none beyond the
        // mask: such a chain is always evaluated whole).
        let index = parent.map_or(0, |p| p.depth);
        let bit = 1u16.checked_shl(index);
        for nr in 0..MAX_NR {
            let Some(slot) = self.codes.get_mut(nr) else {
                break;
            };
            let older = match parent {
                Some(p) => p.lookup(nr as u32),
                None => Some(Verdict::Allow),
            };
            let newer = program.constant_verdict(nr as u32);
            let older_skip = parent.and_then(|p| p.skip.get(nr)).copied().unwrap_or(0);
            let skip = match (bit, self.skip.get_mut(nr)) {
                (Some(b), Some(s)) if newer == Some(Verdict::Allow) => {
                    *s = older_skip | b;
                    *s
                }
                (_, Some(s)) => {
                    *s = older_skip;
                    *s
                }
                // Beyond `SKIP_NR`: every layer runs.
                (_, None) => 0,
            };
            let chain = match (older, newer) {
                (Some(Verdict::Kill), _) | (_, Some(Verdict::Kill)) => Some(Verdict::Kill),
                (Some(o), Some(n)) => Some(o.combine(n)),
                _ => None,
            };
            *slot = match encode(chain) {
                // Some layer allows the call outright: name the others.
                EVALUATE if skip != 0 => EVALUATE_SOME,
                c => c,
            };
        }
        self.events = program.event_mask() | parent.map_or(0, ChainSummary::event_mask);
        self.depth = index.saturating_add(1);
    }

    /// The layers of a chain of `depth` layers that must be evaluated for
    /// syscall `nr` when [`ChainSummary::lookup`] says "evaluate": bit `k`
    /// for the layer at depth `k` (0: the first installed), every layer
    /// but those that allow `nr` outright. `None` when no layer allows it
    /// outright, when this summary is not one of a chain of `depth`
    /// layers, or the chain is deeper than the mask: evaluate every layer
    /// then.
    #[inline(always)]
    pub fn layers_to_evaluate(&self, nr: u32, depth: usize) -> Option<u16> {
        // Only where some layer allows outright (beyond the table none
        // does: each layer's default applies), so that a call every layer
        // must judge pays one load here and walks the chain.
        if self.codes.get(nr as usize) != Some(&EVALUATE_SOME)
            || depth != self.depth as usize
            || self.depth > MASK_LAYERS
        {
            return None;
        }
        let all = u16::MAX.checked_shr(MASK_LAYERS - self.depth).unwrap_or(0);
        Some(all & !self.skip.get(nr as usize).copied().unwrap_or(0))
    }

    /// The events some layer of the chain has rules for (OR of
    /// [`Event::bit`](super::super::Event::bit)): a hook can skip
    /// [`evaluate_event_chain`](super::evaluate_event_chain) for the others,
    /// whose verdict is `Allow`.
    #[inline]
    pub fn event_mask(&self) -> u32 {
        self.events
    }

    /// The chain's verdict for `nr` if it does not depend on the
    /// arguments; `None`: evaluate the chain (also for `nr` ≥ [`MAX_NR`],
    /// where every layer's default applies — evaluating says so).
    #[inline(always)]
    pub fn lookup(&self, nr: u32) -> Option<Verdict> {
        decode(*self.codes.get(nr as usize)?)
    }

    /// [`ChainSummary::lookup`], and when the verdict depends on the
    /// arguments, whether some layers may be skipped: one load.
    #[inline(always)]
    pub fn plan(&self, nr: u32) -> Plan {
        let Some(&c) = self.codes.get(nr as usize) else {
            return Plan::Every;
        };
        // The common cases first, each one compare: allowed outright, then
        // judged by every layer.
        match c {
            ALLOW => Plan::Constant(Verdict::Allow),
            EVALUATE => Plan::Every,
            EVALUATE_SOME => Plan::Some,
            c => match decode(c) {
                Some(v) => Plan::Constant(v),
                None => Plan::Every,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::boxed::Box;
    use std::vec::Vec;

    use super::*;
    use crate::evaluate_chain;
    use crate::uapi::tables::NATIVE;

    fn prog(src: &str) -> Box<Program> {
        crate::tests::compile_for(NATIVE, src).expect("policy compiles")
    }

    fn nr(name: &str) -> u32 {
        NATIVE.syscall(name).expect("known syscall").nr
    }

    fn chain_summary(layers_oldest_first: &[&Program]) -> ChainSummary {
        let mut acc: Option<ChainSummary> = None;
        for p in layers_oldest_first {
            let mut s = ChainSummary::new();
            s.build(p, acc.as_ref());
            acc = Some(s);
        }
        acc.expect("at least one layer")
    }

    #[test]
    fn codes_round_trip() {
        for v in [
            Verdict::Allow,
            Verdict::Log,
            Verdict::Kill,
            Verdict::Errno(1),
            Verdict::Errno(MAX_ERRNO),
        ] {
            assert_eq!(decode(encode(Some(v))), Some(v), "{v:?}");
        }
        assert_eq!(decode(encode(None)), None);
        assert_eq!(encode(Some(Verdict::Errno(0))), EVALUATE);
        assert_eq!(encode(Some(Verdict::Errno(MAX_ERRNO + 1))), EVALUATE);
        // Unknown codes evaluate.
        for c in [5u16, 0xf, ALLOW | 0x10, LOG | 0x10, KILL | 0x10, ERRNO] {
            assert_eq!(decode(c), None, "{c:#x}");
        }
    }

    #[test]
    fn zeroed_summary_evaluates_everything() {
        let s = ChainSummary::new();
        assert!((0..MAX_NR as u32 + 8).all(|nr| s.lookup(nr).is_none()));
        assert_eq!(ChainSummary::default(), s);
        assert_eq!(ChainSummary::SIZE, 2048);
        // The numbers that cannot skip layers are used by no arch.
        for arch in [&crate::uapi::tables::X86_64, &crate::uapi::tables::AARCH64] {
            assert!(arch.syscalls.iter().all(|s| (s.nr as usize) < SKIP_NR));
        }
        assert_eq!(s.event_mask(), 0);
    }

    #[test]
    fn constant_verdicts_of_one_layer() {
        let p = prog("getppid: 1\nread: fd == 0\ndefault errno EPERM\n");
        assert_eq!(p.constant_verdict(nr("getppid")), Some(Verdict::Allow));
        assert_eq!(p.constant_verdict(nr("read")), None);
        assert_eq!(p.constant_verdict(nr("getsid")), Some(Verdict::Errno(1)));
    }

    /// The summary never disagrees with evaluating the chain: for every
    /// syscall number it either says "evaluate" or gives exactly the
    /// chain's verdict for every argument vector tried.
    #[test]
    fn summary_agrees_with_evaluation() {
        let layers = [
            prog("getppid: 1\nread: fd == 0\ngetsid: 1\ndefault errno EPERM\n"),
            prog("getppid: 1\nread: 1\nwrite: fd == 1\ndefault log\n"),
            prog("getppid: 1\nread: fd < 3\nclose: 1\ndefault errno EACCES\n"),
            prog("default kill\ngetppid: 1\nread: 1\nwrite: 1\ngetsid: 1\n"),
        ];
        let argsets: [[u64; 6]; 4] = [[0; 6], [1, 2, 3, 4, 5, 6], [2; 6], [u64::MAX; 6]];
        // Every prefix of the stack, oldest first.
        for depth in 1..=layers.len() {
            let stack: Vec<&Program> = layers[..depth].iter().map(|b| &**b).collect();
            let s = chain_summary(&stack);
            let newest_first: Vec<&Program> = stack.iter().rev().copied().collect();
            let mut constant = 0;
            for nr in 0..MAX_NR as u32 + 4 {
                if let Some(v) = s.lookup(nr) {
                    constant += 1;
                    for a in &argsets {
                        assert_eq!(
                            v,
                            evaluate_chain(newest_first.iter().copied(), nr, a),
                            "depth {depth} nr {nr} args {a:?}"
                        );
                    }
                }
            }
            // Almost every number is constant: only `read`/`write` with
            // argument rules are not.
            assert!(constant >= MAX_NR - 2, "depth {depth}: {constant} constant");
        }
    }

    #[test]
    fn kill_anywhere_is_constant() {
        let nr = nr("read");
        // Oldest layer kills `read`; the newer one has an argument rule.
        let s = chain_summary(&[
            &prog("default kill\n"),
            &prog("read: fd == 0\ndefault log\n"),
        ]);
        assert_eq!(s.lookup(nr), Some(Verdict::Kill));
        // Newest layer kills it; the older one has an argument rule.
        let s = chain_summary(&[
            &prog("read: fd == 0\ndefault log\n"),
            &prog("default kill\n"),
        ]);
        assert_eq!(s.lookup(nr), Some(Verdict::Kill));
        // Neither kills: evaluate.
        let s = chain_summary(&[
            &prog("read: fd == 0\ndefault log\n"),
            &prog("default errno EPERM\nread: 1\n"),
        ]);
        assert_eq!(s.lookup(nr), None);
    }

    #[test]
    fn newest_errno_wins_among_constants() {
        let nr = nr("getsid");
        let s = chain_summary(&[
            &prog("default errno EPERM\n"),
            &prog("default errno EACCES\n"),
        ]);
        assert_eq!(s.lookup(nr), Some(Verdict::Errno(13)));
        let s = chain_summary(&[&prog("default errno EACCES\n"), &prog("default log\n")]);
        assert_eq!(s.lookup(nr), Some(Verdict::Errno(13)));
    }
}
