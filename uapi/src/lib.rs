//! strbox ABI, shared by the kernel module, userspace and C (see
//! `include/strbox.h`).
//!
//! This crate is `no_std` with no dependencies, and its source is also
//! compiled *inside* the kernel module (`kmod/`) with `#[path]`. Therefore
//! code in this crate never names `crate::`: use `super::`/`self::` paths.
#![cfg_attr(not(strbox_kmod), no_std)]
#![warn(missing_docs)]

pub mod abi;
pub mod errors;
pub mod tables;
