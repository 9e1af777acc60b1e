//! The overhead benchmark: strbox vs seccomp-bpf for the same policies,
//! measured side by side in one boot (`cargo xtask qemu-bench`).
//!
//! * [`bpf`]: the `strbox-bpf` crate (generator of the seccomp-bpf twins,
//!   install), re-exported;
//! * [`policy`]: the benchmark policies as strbox text;
//! * [`runner`]: the guest side (forked children, interleaved repetitions,
//!   medians, the table);
//! * [`guest_util`]: loading/unloading the module and waiting for children
//!   (shared with the guest test suite, `strbox-selftests`).
//!
//! `benches/eval.rs` is the host benchmark of the filter engine's
//! evaluation (`cargo bench -p strbox-bench --bench eval`).

pub use strbox_bpf as bpf;
pub mod guest_util;
pub mod policy;
pub mod runner;
