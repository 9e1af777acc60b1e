// SPDX-License-Identifier: GPL-2.0
//! Layers and chains.
//!
//! A [`Layer`] is one installed policy: its compiled [`Program`] and a
//! reference to the layer installed before it. Layers are immutable once
//! created and reference counted ([`Arc`]), so a chain — the newest layer
//! of a task and everything it points to — is shared by all tasks that
//! inherited it, exactly like seccomp's filter lists. A chain is freed
//! when its last holder is gone. (The module references are held by the
//! tasks' table entries, see `task_state`.)

use core::iter;
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::alloc::KVBox;
use kernel::sync::Arc;

use crate::filter::{
    evaluate_chain, evaluate_event_chain, evaluate_layers, ChainSummary, Event, EventInput, Plan,
    Program, Verdict,
};
use crate::report::LayerLimits;
use crate::uapi::abi::{MAX_CHAIN_PREDICATES, MAX_LAYERS};

/// Layers alive (created and not yet dropped): a debug counter, printed
/// when the module unloads, where it must be 0.
static LIVE_LAYERS: AtomicUsize = AtomicUsize::new(0);

/// The number of layers alive.
pub(crate) fn live_layers() -> usize {
    LIVE_LAYERS.load(Ordering::Relaxed)
}

/// One installed policy layer.
pub(crate) struct Layer {
    /// The compiled policy (vmalloc- or kmalloc-backed; about 26 KiB).
    program: KVBox<Program>,
    /// The layer installed before this one, if any.
    parent: Option<Arc<Layer>>,
    /// Every older layer of the chain by depth (`lineage[k]`: the layer at
    /// depth `k`, 0 the first installed; `None` from this layer's own depth
    /// on), so that [`Layer::evaluate_planned`] reaches the few layers a call
    /// needs without walking the chain.
    lineage: [Option<Arc<Layer>>; MAX_LAYERS],
    /// The argument-independent verdicts of the chain ending here (built
    /// at install from `program` and the parent's summary).
    summary: KVBox<ChainSummary>,
    /// Layers in the chain ending here (1 for a first layer).
    depth: usize,
    /// Compiled predicates summed over the chain ending here.
    chain_predicates: usize,
    /// Rate limits of the `log`/`kill` records of tasks whose newest layer
    /// this is (atomics: the only state of a layer that changes).
    limits: LayerLimits,
}

/// Why a new layer cannot go on top of a chain.
pub(crate) enum LimitError {
    /// The chain already has [`MAX_LAYERS`] layers (`EMLINK`).
    TooManyLayers,
    /// The chain would exceed [`MAX_CHAIN_PREDICATES`] (`ENOSPC`).
    ChainTooLarge,
}

impl Layer {
    /// Checks that a layer compiled to `program` may go on top of
    /// `parent`, and returns its `(depth, chain_predicates)`.
    pub(crate) fn check_limits(
        parent: Option<&Layer>,
        program: &Program,
    ) -> Result<(usize, usize), LimitError> {
        let (depth, preds) = parent.map_or((0, 0), |p| (p.depth, p.chain_predicates));
        if depth >= MAX_LAYERS {
            return Err(LimitError::TooManyLayers);
        }
        let total = preds.saturating_add(program.predicate_count());
        if total > MAX_CHAIN_PREDICATES {
            return Err(LimitError::ChainTooLarge);
        }
        Ok((depth + 1, total))
    }

    /// Builds a layer on top of `parent`; `limits` comes from
    /// [`Layer::check_limits`] for the same parent and program. `summary`
    /// is any memory for the chain summary (it is overwritten).
    pub(crate) fn new(
        program: KVBox<Program>,
        parent: Option<Arc<Layer>>,
        limits: (usize, usize),
        mut summary: KVBox<ChainSummary>,
    ) -> Layer {
        LIVE_LAYERS.fetch_add(1, Ordering::Relaxed);
        summary.build(&program, parent.as_deref().map(|p| &*p.summary));
        let lineage = core::array::from_fn(|k| match &parent {
            Some(p) if p.depth.checked_sub(1) == Some(k) => Some(p.clone()),
            Some(p) => p.lineage.get(k).cloned().flatten(),
            None => None,
        });
        Layer {
            program,
            parent,
            lineage,
            summary,
            depth: limits.0,
            chain_predicates: limits.1,
            limits: LayerLimits::new(),
        }
    }

    /// The record rate limits of the tasks whose newest layer this is.
    pub(crate) fn limits(&self) -> &LayerLimits {
        &self.limits
    }

    /// This layer and its ancestors, newest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Layer> {
        iter::successors(Some(self), |l| l.parent.as_deref())
    }

    /// The number of layers in the chain ending here.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The compiled program of this layer.
    pub(crate) fn program(&self) -> &Program {
        &self.program
    }

    /// Whether `other` is this layer or one of its ancestors.
    pub(crate) fn has_ancestor(&self, other: &Layer) -> bool {
        self.iter().any(|l| core::ptr::eq(l, other))
    }

    /// What judging native syscall `nr` takes (one load, at any depth): the
    /// chain's verdict if it does not depend on the arguments, else which
    /// [`Layer::evaluate_planned`] walk.
    #[inline(always)]
    pub(crate) fn plan(&self, nr: u32) -> Plan {
        self.summary.plan(nr)
    }

    /// The verdict of the whole chain ending here for syscall `nr` with
    /// argument registers `args`, `plan` being [`Layer::plan`]`(nr)`: the
    /// most severe verdict of all layers, the newest layer's errno on a
    /// tie. Allocates nothing. For [`Plan::Some`] only the layers that do
    /// not allow `nr` outright are evaluated (the summary names them;
    /// `Allow` changes no combined verdict), reached through `lineage`;
    /// otherwise, or if the summary cannot name them, every layer is.
    #[inline(always)]
    pub(crate) fn evaluate_planned(&self, plan: Plan, nr: u32, args: &[u64; 6]) -> Verdict {
        let some = || {
            let layers = self.summary.layers_to_evaluate(nr, self.depth)?;
            let at = |k: usize| {
                if self.depth.checked_sub(1) == Some(k) {
                    Some(self.program())
                } else {
                    self.lineage.get(k)?.as_deref().map(Layer::program)
                }
            };
            evaluate_layers(layers, at, nr, args)
        };
        if plan == Plan::Some {
            if let Some(v) = some() {
                return v;
            }
        }
        evaluate_chain(self.iter().map(|l| l.program()), nr, args)
    }

    /// The events any layer of the chain has rules for ([`Event::bit`]s;
    /// one load, at any depth).
    #[inline(always)]
    pub(crate) fn event_mask(&self) -> u32 {
        self.summary.event_mask()
    }

    /// The verdict of the whole chain ending here for `event`: layers
    /// without rules for it allow; otherwise as [`Layer::evaluate_planned`].
    pub(crate) fn evaluate_event(&self, event: Event, input: &EventInput<'_>) -> Verdict {
        evaluate_event_chain(self.iter().map(|l| l.program()), event, input)
    }

    /// What the chain gives a syscall of another ABI (ia32, x32,
    /// AArch32), which no rule can name: each layer's
    /// [`Program::compat_verdict`](crate::filter::Program::compat_verdict),
    /// combined as usual.
    pub(crate) fn compat_verdict(&self) -> Verdict {
        // Newest first: `acc` holds the newer layers' verdict.
        self.iter().fold(Verdict::Allow, |acc, l| {
            l.program().compat_verdict().combine(acc)
        })
    }
}

impl Drop for Layer {
    fn drop(&mut self) {
        LIVE_LAYERS.fetch_sub(1, Ordering::Relaxed);
    }
}
