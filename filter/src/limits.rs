//! The limits of one policy layer. Each limit has its own
//! [`ErrorCode`](super::ErrorCode), listed next to it; exceeding a limit is a
//! clean error, never a crash.

/// Largest policy text accepted, in bytes
/// ([`ErrorCode::PolicyTooLarge`](super::ErrorCode::PolicyTooLarge)).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Largest number of rules (`EVENT: EXPR` lines) in one policy
/// ([`ErrorCode::TooManyRules`](super::ErrorCode::TooManyRules)).
pub const MAX_RULES: usize = 1024;

/// Largest number of predicates in one policy: every comparison and every
/// `1`/`0` literal in the source counts
/// ([`ErrorCode::TooManyPredicates`](super::ErrorCode::TooManyPredicates)).
/// This also bounds the compiled predicate array.
pub const MAX_PREDICATES: usize = 1024;

/// Deepest parenthesis nesting in one rule
/// ([`ErrorCode::TooDeep`](super::ErrorCode::TooDeep)).
pub const MAX_DEPTH: usize = 32;

/// Capacity of the compiled layer's structure code, in units: one per
/// comparison, one per `&&`/`||` group, one per syscall that has
/// predicates. A policy of simple rules needs about two units per
/// comparison at most; deeply alternating `&&`/`||` trees need more
/// ([`ErrorCode::ProgramTooLarge`](super::ErrorCode::ProgramTooLarge)).
pub const MAX_CODE: usize = 1536;

/// Size of the dispatch table: syscall numbers `0..MAX_NR` can have rules;
/// a syscall number at or above it always gets the default action. A table
/// syscall numbered at or above it cannot be named in a policy
/// ([`ErrorCode::SyscallNotSupported`](super::ErrorCode::SyscallNotSupported)).
pub const MAX_NR: usize = 512;

/// Largest errno a policy may name (`errno N`, `1..=MAX_ERRNO`), the
/// kernel's `MAX_ERRNO` ([`ErrorCode::ErrnoOutOfRange`](super::ErrorCode::ErrnoOutOfRange)).
pub const MAX_ERRNO: u16 = 4095;

/// Nodes in the parse tree of one policy (in [`Scratch`](super::Scratch)):
/// never exceeded, since each predicate adds at most one leaf and one
/// operator node.
pub const MAX_NODES: usize = 2 * MAX_PREDICATES;

/// Depth of the parser's operator stack: at most one `(`, one `&&` and one
/// `||` pending per nesting level.
pub(crate) const MAX_OPSTACK: usize = 3 * (MAX_DEPTH + 2);
