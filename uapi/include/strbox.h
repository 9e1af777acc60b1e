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

#define STRBOX_ABI_VERSION      3

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

/* strbox_error.code: why the policy text was rejected (uapi/src/errors.rs). */
#define STRBOX_ERR_POLICY_TOO_LARGE        1
#define STRBOX_ERR_TOO_MANY_RULES          2
#define STRBOX_ERR_TOO_MANY_PREDICATES     3
#define STRBOX_ERR_TOO_DEEP                4
#define STRBOX_ERR_PROGRAM_TOO_LARGE       5
#define STRBOX_ERR_INVALID_CHARACTER       6
#define STRBOX_ERR_INVALID_NUMBER          7
#define STRBOX_ERR_NUMBER_TOO_LARGE        8
#define STRBOX_ERR_UNKNOWN_SYSCALL         9
#define STRBOX_ERR_UNKNOWN_FIELD           10
#define STRBOX_ERR_UNKNOWN_CONSTANT        11
#define STRBOX_ERR_UNKNOWN_ERRNO           12
#define STRBOX_ERR_UNKNOWN_ACTION          13
#define STRBOX_ERR_EXPECTED_COLON          14
#define STRBOX_ERR_EXPECTED_OPERAND        15
#define STRBOX_ERR_EXPECTED_COMPARISON     16
#define STRBOX_ERR_EXPECTED_LOGICAL_OP     17
#define STRBOX_ERR_EXPECTED_VALUE          18
#define STRBOX_ERR_INVALID_LITERAL         19
#define STRBOX_ERR_UNBALANCED_OPEN         20
#define STRBOX_ERR_UNBALANCED_CLOSE        21
#define STRBOX_ERR_VALUE_OUT_OF_RANGE      22
#define STRBOX_ERR_ERRNO_OUT_OF_RANGE      23
#define STRBOX_ERR_DUPLICATE_DEFAULT       24
#define STRBOX_ERR_STRING_NOT_SUPPORTED    25
#define STRBOX_ERR_SYSCALL_NOT_SUPPORTED   26
#define STRBOX_ERR_EXPECTED_END_OF_LINE    27
#define STRBOX_ERR_INVALID_OPERATOR        28
#define STRBOX_ERR_EXPECTED_RULE           29
#define STRBOX_ERR_INVALID_ESCAPE          30
#define STRBOX_ERR_UNTERMINATED_STRING     31
#define STRBOX_ERR_STRING_TOO_LONG         32
#define STRBOX_ERR_STRING_POOL_FULL        33
#define STRBOX_ERR_UNEXPECTED_STRING       34
#define STRBOX_ERR_EXPECTED_STRING         35
#define STRBOX_ERR_INVALID_ADDRESS         36
#define STRBOX_ERR_INVALID_PREFIX          37
#define STRBOX_ERR_HOST_BITS_SET           38
#define STRBOX_ERR_UNKNOWN_RULE_ACTION     39

/*
 * Filled by PR_SECCOMP_SET on failure (cleared first). code is a
 * STRBOX_ERR_* code (or STRBOX_ERROR_NONE), offset a byte offset in the
 * policy, line and column 1-based.
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
