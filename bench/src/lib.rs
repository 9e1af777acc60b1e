//! The overhead benchmark: strbox vs seccomp-bpf for the same policies,
//! measured side by side in one boot (`cargo xtask qemu-bench`).
//!
//! * [`bpf`]: classic BPF for seccomp (assembler, validator, interpreter,
//!   the kernel's action-cache emulation, install);
//! * [`policy`]: the benchmark policies as strbox text, and the generator
//!   of their seccomp-bpf twins;
//! * [`runner`]: the guest side (forked children, interleaved repetitions,
//!   medians, the table).

pub mod bpf;
pub mod guest_util;
pub mod policy;
pub mod runner;
