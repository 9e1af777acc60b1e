/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * strbox ABI for C: prctl options, the PR_SECCOMP_SET argument struct, the
 * error record, flags, the ABI version and the limits.
 *
 * Hand-kept copy of uapi/src/abi.rs (the Rust definitions are the source;
 * the unit test `header_matches` of strbox-uapi checks the numbers below).
 * See docs/abi.md for the errno of every call.
 *
 *   prctl(PR_STRBOX_ABI_VERSION, 0, 0, 0, 0)           -> STRBOX_ABI_VERSION
 *   prctl(PR_SECCOMP_SET, &args, sizeof(args), 0, 0)   -> 0 or -1/errno
 *   prctl(PR_SECCOMP_GET, buf, size, 0, 0)             -> text length or -1/errno
 *
 * Without the strbox module loaded, all three fail with EINVAL.
 */
#ifndef _UAPI_STRBOX_H
#define _UAPI_STRBOX_H

#include <linux/types.h>

#define PR_STRBOX_BASE          0x53425800
#define PR_STRBOX_ABI_VERSION   0x53425800
#define PR_SECCOMP_SET          0x53425801
#define PR_SECCOMP_GET          0x53425802

#define STRBOX_ABI_VERSION      1

/* strbox_set_args.flags */
#define STRBOX_SET_TSYNC        (1ULL << 0)
#define STRBOX_SET_FLAGS_ALL    (STRBOX_SET_TSYNC)

#define STRBOX_SET_ARGS_SIZE_VER0 32
#define STRBOX_SET_ARGS_SIZE_MAX  4096

/*
 * Argument of PR_SECCOMP_SET, size-versioned like struct open_how: pass
 * sizeof(struct strbox_set_args) as arg3.
 */
struct strbox_set_args {
	__aligned_u64 policy;     /* user address of the policy text */
	__aligned_u64 policy_len; /* its length in bytes (<= STRBOX_MAX_POLICY_BYTES) */
	__aligned_u64 flags;      /* STRBOX_SET_TSYNC or 0 */
	__aligned_u64 error;      /* user address of a struct strbox_error, or 0 */
};

/* strbox_error.code when the failure is not about the policy text. */
#define STRBOX_ERROR_NONE       0

/*
 * Filled by PR_SECCOMP_SET on failure (cleared first). code is the filter's
 * stable error code (see strbox_filter::ErrorCode), offset a byte offset in
 * the policy, line and column 1-based.
 */
struct strbox_error {
	__u32 code;
	__u32 offset;
	__u32 line;
	__u32 column;
};

/* Limits (each with its errno: E2BIG, EMLINK, ENOSPC). */
#define STRBOX_MAX_POLICY_BYTES      65536
#define STRBOX_MAX_LAYERS            16
#define STRBOX_MAX_CHAIN_PREDICATES  4096

/* PR_SECCOMP_GET: each layer's text follows a line "# strbox layer I/N\n",
 * oldest layer first. */
#define STRBOX_LAYER_HEADER_PREFIX   "# strbox layer "

#endif /* _UAPI_STRBOX_H */
