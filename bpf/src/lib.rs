//! strbox policies as seccomp-bpf filters, for kernels without the strbox
//! module (`strbox compile --bpf`, `strbox run --backend seccomp`).
//!
//! * [`generate`](mod@generate): one compiled layer → one classic-BPF filter
//!   with the same verdict for every syscall number, ABI and argument
//!   vector (the module docs say how, and what cannot be translated:
//!   event rules);
//! * [`insn`]: instructions and an assembler with forward labels that
//!   relaxes long conditional jumps;
//! * [`check`]: the kernel's side on the host: the validity checks of
//!   `seccomp_check_filter`, an interpreter, and the action-cache
//!   emulation (`seccomp_is_const_allow`);
//! * [`install`](mod@install): `seccomp(SECCOMP_SET_MODE_FILTER)`, the raw
//!   `sock_filter` bytes and a listing.
//!
//! That the two back ends agree is tested, not assumed: `tests/` runs every
//! generated filter in the interpreter against the engine's evaluator for
//! every syscall number of both architectures, the other ABIs and
//! argument vectors at the policies' constants and the types' edges, for
//! fixed and random policies and stacks of layers; the guest test
//! `bench_seccomp_twins_match_strbox` installs both in the real kernel and
//! compares what the syscalls return.

pub mod check;
pub mod generate;
pub mod insn;
pub mod install;

pub use check::{const_allow, run, validate, Data, Invalid};
pub use generate::{generate, ret_of, Error, Layout};
pub use insn::Insn;
pub use install::{from_bytes, install, install_with, listing, to_bytes};

#[cfg(test)]
mod tests;
