//! The strbox filter language (placeholder; see issue 3).
#![cfg_attr(not(strbox_kmod), no_std)]
