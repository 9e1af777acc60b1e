//! The compiled form of one layer: what [`compile`](fn@super::compile) writes,
//! what the evaluator runs and what the [printer](super::printer) reads
//! back. It depends on nothing upstream (not on the parser, the tree or the
//! compiler).
//!
//! * [`layout`]: the [`Program`] value and its parts (constant-allow bitmap,
//!   dispatch table, predicate array, readback code, default action), and
//!   the only functions that encode or decode them;
//! * [`eval`]: the hot path: [`Program::evaluate`], [`evaluate_chain`],
//!   [`Verdict`];
//! * [`summary`]: [`ChainSummary`], a whole chain's argument-independent
//!   verdict per syscall (built at install, one load at run time);
//! * [`view`]: a read-only view of the syscall rules ([`Step`], [`Test`])
//!   for back ends that translate the compiled form (seccomp-bpf);
//! * [`code`]: the readback code, the rules' `&&`/`||`/`!` structure in
//!   prefix order, kept only so the policy can be printed back.

pub(crate) mod code;
pub(crate) mod eval;
pub(crate) mod layout;
pub(crate) mod summary;
pub(crate) mod view;

pub use eval::{evaluate_chain, evaluate_event_chain, evaluate_layers, Verdict};
pub use layout::{Program, ACCEPT, REJECT};
pub use summary::{ChainSummary, Plan};
pub use view::{Cmp, Step, Test, ENOSYS};
