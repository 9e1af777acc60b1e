//! The strbox filter language: lexer, parser, checker, compiler, evaluator
//! and canonical printer, in one `no_std` crate without `alloc`, without
//! dependencies and without `unsafe`.
//!
//! The same source is compiled into the kernel module (as a module of its
//! crate, with `--cfg strbox_kmod`) and into host crates, so a policy is
//! parsed, checked, rejected and evaluated by the same code everywhere.
//! Code here never names `crate::`; it reaches the uapi tables through
//! [`uapi`].
//!
//! Pipeline: [`compile`] = lexer → parser (+ checker) → parse tree in a
//! caller-provided [`Scratch`] → compiler → [`Program`] (one fixed-size
//! plain value, see [`Program::SIZE`]). [`Program::evaluate`] is the hot
//! path; [`evaluate_chain`] combines layers; [`Program::print`] gives the
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

mod checker;
mod compiler;
mod error;
mod lexer;
pub mod limits;
mod parser;
mod printer;
mod program;

pub use compiler::{compile, Scratch};
pub use error::{Error, ErrorCode};
pub use program::{evaluate_chain, Program, Verdict, ACCEPT, REJECT};
pub use uapi::tables::Arch;

#[cfg(test)]
mod tests;
