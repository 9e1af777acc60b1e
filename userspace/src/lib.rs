//! strbox userspace library.

pub mod guest;
pub mod policy;
