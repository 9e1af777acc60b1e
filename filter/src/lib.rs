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
//! Data flows one way; each module imports only from the ones before it
//! (and from the shared leaves `limits`, `error`, `types`):
//!
//! ```text
//! policy bytes
//!   -> lexer      tokens
//!   -> parser     parse tree (ast), names resolved on the way (resolve)
//!   -> compile    Program: bitmap, dispatch, predicates with jump targets,
//!                 readback code (program::layout, program::code)
//!   -> program    Program::evaluate, evaluate_chain (program::eval): the hot path
//!   -> printer    Program::print: canonical text, read from the program alone
//! ```
//!
//! [`compile`] runs the pipeline with a caller-provided [`Scratch`] as
//! working memory and writes a [`Program`] (one fixed-size plain value, see
//! [`Program::SIZE`]). [`Program::evaluate`] is the hot path;
//! [`evaluate_chain`] combines layers; [`Program::print`] gives the
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
mod error; // ErrorCode (ABI numbers), Error (code, offset, line, column)
pub mod limits; // every capacity limit, with its error code
mod types; // C argument types, type codes, comparison operators

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
pub use program::{evaluate_chain, Program, Verdict, ACCEPT, REJECT};
pub use uapi::tables::Arch;

#[cfg(test)]
mod tests;
