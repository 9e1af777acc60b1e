// SPDX-License-Identifier: GPL-2.0
/*
 * strbox C shim: only what Rust cannot reach on 6.12 (static inlines and
 * macros absent from the bindings). Every function here is a thin wrapper.
 */
#include <linux/module.h>

int strbox_shim_version(void);
int strbox_shim_version(void)
{
	return 1;
}
