//! The limits of one policy layer. Each limit has its own
//! [`ErrorCode`](super::ErrorCode), listed next to it; exceeding a limit is a
//! clean error, never a crash. The last two constants are capacities derived
//! from the limits, never hit by a policy.
//!
//! Two limits count predicates, at two different points:
//!
//! * [`MAX_PREDICATES`] (2048) counts them **in the text**: every comparison
//!   and every `1`/`0` literal, before anything is folded. It sizes the parse
//!   tree ([`Scratch`](super::Scratch)) and fails with
//!   [`TooManyPredicates`](super::ErrorCode::TooManyPredicates).
//! * [`MAX_PROGRAM_PREDICATES`] (1024) counts them **in the compiled layer**:
//!   the comparisons left after literals are folded away, one
//!   [`Program`](super::Program) predicate each
//!   ([`Program::predicate_count`](super::Program::predicate_count)). It
//!   sizes the program and fails with
//!   [`ProgramTooLarge`](super::ErrorCode::ProgramTooLarge).

/// Largest policy text accepted, in bytes
/// ([`ErrorCode::PolicyTooLarge`](super::ErrorCode::PolicyTooLarge)).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Largest number of rules (`EVENT: EXPR` lines) in one policy
/// ([`ErrorCode::TooManyRules`](super::ErrorCode::TooManyRules)).
pub const MAX_RULES: usize = 1024;

/// Largest number of predicates in the **text** of one policy: every
/// comparison and every `1`/`0` literal counts
/// ([`ErrorCode::TooManyPredicates`](super::ErrorCode::TooManyPredicates)).
/// This bounds the parse tree in [`Scratch`](super::Scratch).
pub const MAX_PREDICATES: usize = 2048;

/// Deepest parenthesis nesting in one rule
/// ([`ErrorCode::TooDeep`](super::ErrorCode::TooDeep)).
pub const MAX_DEPTH: usize = 32;

/// Compiled size, part 1: predicates in the **compiled layer**, i.e. the
/// comparisons left after `1`/`0` literals are folded away (the predicate
/// array of [`Program`](super::Program))
/// ([`ErrorCode::ProgramTooLarge`](super::ErrorCode::ProgramTooLarge)).
pub const MAX_PROGRAM_PREDICATES: usize = 1024;

/// Compiled size, part 2: units of the readback code, one per comparison,
/// per `&&`/`||` node and per syscall that has predicates, plus one per
/// rule with an action and one per syscall whose action rules end in a
/// constant rule. A layer without action rules needs at most two per
/// compiled predicate, so for it this is never the first limit hit; the
/// extra [`MAX_NR`] units leave room for actions (only hundreds of
/// syscalls with action rules near the predicate limit reach it)
/// ([`ErrorCode::ProgramTooLarge`](super::ErrorCode::ProgramTooLarge)).
pub const MAX_CODE: usize = 2 * MAX_PROGRAM_PREDICATES + MAX_NR;

/// Size of the dispatch table: syscall numbers `0..MAX_NR` can have rules;
/// a syscall number at or above it always gets the default action. A table
/// syscall numbered at or above it cannot be named in a policy
/// ([`ErrorCode::SyscallNotSupported`](super::ErrorCode::SyscallNotSupported)).
pub const MAX_NR: usize = 512;

/// Largest errno a policy may name (`errno N`, `1..=MAX_ERRNO`), the
/// kernel's `MAX_ERRNO` ([`ErrorCode::ErrnoOutOfRange`](super::ErrorCode::ErrnoOutOfRange)).
pub const MAX_ERRNO: u16 = 4095;

/// Longest string literal, in bytes once decoded: the kernel's `PATH_MAX`
/// (4096, which counts the terminating NUL, so no path the kernel hands to
/// a hook is longer) ([`ErrorCode::StringTooLong`](super::ErrorCode::StringTooLong)).
pub const MAX_STRING_LEN: usize = 4096;

/// Bytes of string and address literals in the **text** of one policy
/// (decoded strings, 16 bytes per address): the size of the string pool of
/// the parse tree and of a [`Program`](super::Program). A compiled layer
/// holds a subset of them (literals folded away with their rule take no
/// room), so the program's pool never overflows once the text fits
/// ([`ErrorCode::StringPoolFull`](super::ErrorCode::StringPoolFull)).
pub const MAX_STRING_BYTES: usize = 8192;

/// Capacity: nodes in the parse tree of one policy (in
/// [`Scratch`](super::Scratch)). Never exceeded, since each text predicate
/// adds one leaf node and at most one `&&`/`||` node.
pub const MAX_NODES: usize = 2 * MAX_PREDICATES;

/// Capacity: depth of the parser's operator stack: at most one `(`, one
/// `&&` and one `||` pending per nesting level.
pub(crate) const MAX_OPSTACK: usize = 3 * (MAX_DEPTH + 2);
