//! strbox userspace library.

pub mod guest;
