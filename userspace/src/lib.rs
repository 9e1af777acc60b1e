//! strbox userspace library.
