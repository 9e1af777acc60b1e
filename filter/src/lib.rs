//! The strbox filter language: lexer, parser, name resolution, compiler,
//! evaluator and canonical printer, in one `no_std` crate without `alloc`,
//! without dependencies and without `unsafe`.
//!
//! The same source is compiled into the kernel module (as a module of its
//! crate, with `--cfg strbox_kmod`) and into host crates, so a policy is
//! parsed, checked, rejected and evaluated by the same code everywhere.
//! Code here never names `crate::`; it reaches the uapi tables through
//! [`uapi`].
//!
//! Data flows one way:
//!
//! ```text
//! policy bytes -> lexer -> parser -> parse tree -> compile -> Program -> evaluate
//!                            |  (names resolved                     \-> print
//!                            |   as they are read)
//!                         resolve
//! ```
//!
//! and no module imports from a stage after it: the parser does not know the
//! compiler, and the compiled form (`program/`) imports only the shared
//! leaves, so the printer reads it without reaching into the compiler.
//!
//! ```text
//! file               contents                                         imports (besides the leaves)
//! limits.rs          every limit, with its error code                 -
//! error.rs           ErrorCode (ABI numbers), Error (offset, line)    -
//! types.rs           C argument types, type codes, operators          -
//! event.rs           LSM-hook events, their fields, EventInput        -
//! glob.rs            `~`: lib/glob.c's glob_match on byte slices      -
//! addr.rs            IP address literals: parse, prefix test, print   -
//! program/layout.rs  Program, Pred: the compiled layer, its encoding  -
//! program/code.rs    readback code units (rule structure for print)   -
//! program/eval.rs    Program::evaluate, evaluate_chain, Verdict       program/layout
//! lexer.rs           bytes -> tokens                                  -
//! ast.rs             parse tree types: Node, Leaf, Rule, Tree         -
//! resolve.rs         syscall/field/constant/errno names; value -> C   -
//! parser.rs          tokens -> parse tree (explicit stacks)           lexer, ast, resolve
//! compile.rs         parse tree -> Program; compile(), Scratch        parser, ast, program
//! printer.rs         Program -> canonical text                        program
//! ```
//!
//! [`compile`](fn@compile) runs the pipeline with a caller-provided [`Scratch`] as
//! working memory and writes a [`Program`] (one fixed-size plain value, see
//! [`Program::SIZE`]). [`Program::evaluate`] is the hot path;
//! [`evaluate_chain`] combines layers; [`Program::evaluate_event`] and
//! [`evaluate_event_chain`] judge LSM-hook [`Event`]s; [`Program::print`] gives the
//! canonical text. See `docs/policy-language.md` for the language.
#![cfg_attr(not(strbox_kmod), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

#[cfg(strbox_kmod)]
pub use super::uapi;
#[cfg(not(strbox_kmod))]
pub use strbox_uapi as uapi;

// Each module imports only from modules listed above it.
//
// Shared leaves: they import nothing from the pipeline.
mod addr;
mod error; // ErrorCode (ABI numbers), Error (code, offset, line, column)
mod event; // LSM-hook events, their fields, EventInput
mod glob; // `~`: lib/glob.c's glob_match on byte slices
pub mod limits; // every capacity limit, with its error code
mod types; // C argument types, type codes, comparison operators // IP address literals: parse, prefix test, canonical text

// The compiled layer: layout, evaluator, readback code. Imports only the
// leaves: the pipeline writes it, the printer reads it.
mod program;

// The pipeline, in data-flow order.
mod lexer; // bytes -> tokens

mod ast; // the parse tree types (the parser's output)

mod resolve; // syscall, field, constant and errno names; value -> C type

mod parser; // tokens -> parse tree (explicit stacks, no recursion)

mod compile; // parse tree -> Program; `compile()` runs the whole pipeline

// Program -> canonical text (reads the program only).
mod printer;

pub use compile::{compile, Scratch};
pub use error::{Error, ErrorCode};
pub use event::{Event, EventInput};
pub use program::{
    evaluate_chain, evaluate_event_chain, evaluate_layers, ChainSummary, Cmp, Plan, Program, Step,
    Test, Verdict, ACCEPT, ENOSYS, REJECT,
};
pub use uapi::tables::Arch;

#[cfg(test)]
mod tests;
