//! Host tests: the assembler and the kernel-side checks ([`asm`]), and the
//! differential proof that generated filters give the engine's verdicts
//! ([`differential`]).

mod asm;
mod differential;
