// SPDX-License-Identifier: GPL-2.0
//! strbox: per-syscall string filters for unprivileged tasks.
//!
//! Crate root of `strbox.ko`. The filter engine (`filter/`) and the ABI
//! (`uapi/`) are the very same sources the host tools compile.

use kernel::prelude::*;

#[path = "../uapi/src/lib.rs"]
pub mod uapi;

#[path = "../filter/src/lib.rs"]
pub mod filter;

module! {
    type: Strbox,
    name: "strbox",
    author: "strbox developers",
    description: "Per-syscall string filters (PR_SECCOMP_SET) for unprivileged tasks",
    license: "GPL",
}

struct Strbox;

impl kernel::Module for Strbox {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("strbox: loaded\n");
        Ok(Strbox)
    }
}

impl Drop for Strbox {
    fn drop(&mut self) {
        pr_info!("strbox: unloaded\n");
    }
}
