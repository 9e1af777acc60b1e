//! Policy error codes: why `PR_SECCOMP_SET` rejected a policy text. The
//! numbers are ABI (the kernel module writes them into the error record,
//! [`crate::abi::StrboxError`]); `include/strbox.h` has every one as
//! `STRBOX_ERR_*` (checked by this crate's `header_matches` test). The
//! filter engine (`strbox-filter`) produces them; userspace decodes them.

use core::fmt;

/// Why a policy was rejected. The numeric values are part of the ABI (the
/// kernel module reports them to userspace) and never change; new codes are
/// only ever appended.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorCode {
    /// The policy text is longer than `MAX_POLICY_BYTES` (65,536; [`crate::abi::MAX_POLICY_BYTES`]).
    PolicyTooLarge = 1,
    /// More rules than the filter's `MAX_RULES` (1,024).
    TooManyRules = 2,
    /// More predicates than the filter's `MAX_PREDICATES` (2,048, in the text).
    TooManyPredicates = 3,
    /// Parentheses nested deeper than the filter's `MAX_DEPTH` (32).
    TooDeep = 4,
    /// The compiled layer does not fit its fixed capacity
    /// (the filter's `MAX_PROGRAM_PREDICATES`, 1,024 compiled predicates,
    /// and `MAX_CODE`).
    ProgramTooLarge = 5,
    /// A byte that cannot start any token (control character, non-ASCII, ...).
    InvalidCharacter = 6,
    /// A malformed number (`08`, `0x`, `12ab`).
    InvalidNumber = 7,
    /// A number that does not fit in 64 bits.
    NumberTooLarge = 8,
    /// The syscall name is not in the architecture's table.
    UnknownSyscall = 9,
    /// The field is neither a declared argument of the syscall nor `arg0`..`arg5`.
    UnknownField = 10,
    /// An identifier in value position is not a known constant.
    UnknownConstant = 11,
    /// `errno NAME` names no known errno.
    UnknownErrno = 12,
    /// `default` is followed by something other than `kill`, `errno` or `log`.
    UnknownAction = 13,
    /// A line starts with a name that is not followed by `:`.
    ExpectedColon = 14,
    /// Expected a comparison, a literal, `!` or `(`.
    ExpectedOperand = 15,
    /// Expected a comparison operator after a field name.
    ExpectedComparison = 16,
    /// Expected `&&`, `||`, `)` or the end of the line after an operand.
    ExpectedLogicalOp = 17,
    /// Expected a value (number, `NULL`, constant) after a comparison operator.
    ExpectedValue = 18,
    /// A number other than `1` or `0` used as a whole operand.
    InvalidLiteral = 19,
    /// A `(` without its `)`.
    UnbalancedOpen = 20,
    /// A `)` without its `(`.
    UnbalancedClose = 21,
    /// The value does not fit the argument's C type.
    ValueOutOfRange = 22,
    /// `errno N` outside `1..=4095`.
    ErrnoOutOfRange = 23,
    /// A second `default` directive.
    DuplicateDefault = 24,
    /// Quoted strings (ftrace string filters) are not supported.
    StringNotSupported = 25,
    /// The syscall's number is beyond the dispatch table (the filter's `MAX_NR`, 512).
    SyscallNotSupported = 26,
    /// Extra text after a complete `default` directive.
    ExpectedEndOfLine = 27,
    /// An operator this language does not have (`=`, `~`, `|` alone, ...).
    InvalidOperator = 28,
    /// A line that is neither a rule (`syscall: expression`), a `default`
    /// directive, a comment nor blank.
    ExpectedRule = 29,
    /// A backslash in a string literal not followed by `\"`, `\\`, `n`, `t` or `xNN`.
    InvalidEscape = 30,
    /// A string literal without its closing `"` on the same line.
    UnterminatedString = 31,
    /// A string literal longer than the filter's `MAX_STRING_LEN` (4,096 bytes, `PATH_MAX`) once decoded.
    StringTooLong = 32,
    /// The policy's string and address literals exceed the filter's `MAX_STRING_BYTES` (8,192 bytes; an address takes 16).
    StringPoolFull = 33,
    /// A string literal as the value of a numeric or address field of an event.
    UnexpectedString = 34,
    /// Something other than a string literal as the value of a string field (`path`).
    ExpectedString = 35,
    /// A malformed IPv4 or IPv6 address (`addr`).
    InvalidAddress = 36,
    /// A malformed or too long CIDR prefix length, or a prefix with an operator other than `in`.
    InvalidPrefix = 37,
    /// A CIDR address with bits set beyond its prefix length (`10.0.0.1/8`).
    HostBitsSet = 38,
    /// `=>` after a rule's expression is followed by nothing or by something
    /// other than `allow`, `kill`, `errno` or `log`.
    UnknownRuleAction = 39,
}

impl ErrorCode {
    /// All codes, in numeric order.
    pub const ALL: [ErrorCode; 39] = [
        ErrorCode::PolicyTooLarge,
        ErrorCode::TooManyRules,
        ErrorCode::TooManyPredicates,
        ErrorCode::TooDeep,
        ErrorCode::ProgramTooLarge,
        ErrorCode::InvalidCharacter,
        ErrorCode::InvalidNumber,
        ErrorCode::NumberTooLarge,
        ErrorCode::UnknownSyscall,
        ErrorCode::UnknownField,
        ErrorCode::UnknownConstant,
        ErrorCode::UnknownErrno,
        ErrorCode::UnknownAction,
        ErrorCode::ExpectedColon,
        ErrorCode::ExpectedOperand,
        ErrorCode::ExpectedComparison,
        ErrorCode::ExpectedLogicalOp,
        ErrorCode::ExpectedValue,
        ErrorCode::InvalidLiteral,
        ErrorCode::UnbalancedOpen,
        ErrorCode::UnbalancedClose,
        ErrorCode::ValueOutOfRange,
        ErrorCode::ErrnoOutOfRange,
        ErrorCode::DuplicateDefault,
        ErrorCode::StringNotSupported,
        ErrorCode::SyscallNotSupported,
        ErrorCode::ExpectedEndOfLine,
        ErrorCode::InvalidOperator,
        ErrorCode::ExpectedRule,
        ErrorCode::InvalidEscape,
        ErrorCode::UnterminatedString,
        ErrorCode::StringTooLong,
        ErrorCode::StringPoolFull,
        ErrorCode::UnexpectedString,
        ErrorCode::ExpectedString,
        ErrorCode::InvalidAddress,
        ErrorCode::InvalidPrefix,
        ErrorCode::HostBitsSet,
        ErrorCode::UnknownRuleAction,
    ];

    /// The short message for this code (the same in the kernel and in
    /// userspace).
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::PolicyTooLarge => "policy text too large",
            ErrorCode::TooManyRules => "too many rules",
            ErrorCode::TooManyPredicates => "too many predicates",
            ErrorCode::TooDeep => "parentheses nested too deeply",
            ErrorCode::ProgramTooLarge => "compiled program too large",
            ErrorCode::InvalidCharacter => "invalid character",
            ErrorCode::InvalidNumber => "invalid number",
            ErrorCode::NumberTooLarge => "number does not fit in 64 bits",
            ErrorCode::UnknownSyscall => "unknown syscall",
            ErrorCode::UnknownField => "unknown field",
            ErrorCode::UnknownConstant => "unknown constant",
            ErrorCode::UnknownErrno => "unknown errno name",
            ErrorCode::UnknownAction => "expected kill, errno or log",
            ErrorCode::ExpectedColon => "expected ':' after the syscall name",
            ErrorCode::ExpectedOperand => "expected a comparison, 1, 0, '!' or '('",
            ErrorCode::ExpectedComparison => "expected a comparison operator",
            ErrorCode::ExpectedLogicalOp => "expected '&&', '||', ')' or end of line",
            ErrorCode::ExpectedValue => "expected a number, NULL or a constant",
            ErrorCode::InvalidLiteral => "only 1 and 0 are literals",
            ErrorCode::UnbalancedOpen => "unbalanced '('",
            ErrorCode::UnbalancedClose => "unbalanced ')'",
            ErrorCode::ValueOutOfRange => "value out of range for the argument's type",
            ErrorCode::ErrnoOutOfRange => "errno must be 1..4095",
            ErrorCode::DuplicateDefault => "duplicate default directive",
            ErrorCode::StringNotSupported => "string values are not supported",
            ErrorCode::SyscallNotSupported => "syscall number beyond the dispatch table",
            ErrorCode::ExpectedEndOfLine => "expected end of line",
            ErrorCode::InvalidOperator => "invalid operator",
            ErrorCode::ExpectedRule => "expected 'syscall: expression' or 'default ACTION'",
            ErrorCode::InvalidEscape => "invalid escape in string",
            ErrorCode::UnterminatedString => "unterminated string",
            ErrorCode::StringTooLong => "string longer than 4096 bytes",
            ErrorCode::StringPoolFull => "strings and addresses exceed 8192 bytes",
            ErrorCode::UnexpectedString => "a string is not a value of this field",
            ErrorCode::ExpectedString => "expected a string",
            ErrorCode::InvalidAddress => "invalid IP address",
            ErrorCode::InvalidPrefix => "invalid prefix length",
            ErrorCode::HostBitsSet => "address has bits set beyond the prefix",
            ErrorCode::UnknownRuleAction => "expected allow, kill, errno or log after '=>'",
        }
    }

    /// The C name of this code in `include/strbox.h` (`STRBOX_ERR_...`).
    pub fn c_name(self) -> &'static str {
        match self {
            ErrorCode::PolicyTooLarge => "STRBOX_ERR_POLICY_TOO_LARGE",
            ErrorCode::TooManyRules => "STRBOX_ERR_TOO_MANY_RULES",
            ErrorCode::TooManyPredicates => "STRBOX_ERR_TOO_MANY_PREDICATES",
            ErrorCode::TooDeep => "STRBOX_ERR_TOO_DEEP",
            ErrorCode::ProgramTooLarge => "STRBOX_ERR_PROGRAM_TOO_LARGE",
            ErrorCode::InvalidCharacter => "STRBOX_ERR_INVALID_CHARACTER",
            ErrorCode::InvalidNumber => "STRBOX_ERR_INVALID_NUMBER",
            ErrorCode::NumberTooLarge => "STRBOX_ERR_NUMBER_TOO_LARGE",
            ErrorCode::UnknownSyscall => "STRBOX_ERR_UNKNOWN_SYSCALL",
            ErrorCode::UnknownField => "STRBOX_ERR_UNKNOWN_FIELD",
            ErrorCode::UnknownConstant => "STRBOX_ERR_UNKNOWN_CONSTANT",
            ErrorCode::UnknownErrno => "STRBOX_ERR_UNKNOWN_ERRNO",
            ErrorCode::UnknownAction => "STRBOX_ERR_UNKNOWN_ACTION",
            ErrorCode::ExpectedColon => "STRBOX_ERR_EXPECTED_COLON",
            ErrorCode::ExpectedOperand => "STRBOX_ERR_EXPECTED_OPERAND",
            ErrorCode::ExpectedComparison => "STRBOX_ERR_EXPECTED_COMPARISON",
            ErrorCode::ExpectedLogicalOp => "STRBOX_ERR_EXPECTED_LOGICAL_OP",
            ErrorCode::ExpectedValue => "STRBOX_ERR_EXPECTED_VALUE",
            ErrorCode::InvalidLiteral => "STRBOX_ERR_INVALID_LITERAL",
            ErrorCode::UnbalancedOpen => "STRBOX_ERR_UNBALANCED_OPEN",
            ErrorCode::UnbalancedClose => "STRBOX_ERR_UNBALANCED_CLOSE",
            ErrorCode::ValueOutOfRange => "STRBOX_ERR_VALUE_OUT_OF_RANGE",
            ErrorCode::ErrnoOutOfRange => "STRBOX_ERR_ERRNO_OUT_OF_RANGE",
            ErrorCode::DuplicateDefault => "STRBOX_ERR_DUPLICATE_DEFAULT",
            ErrorCode::StringNotSupported => "STRBOX_ERR_STRING_NOT_SUPPORTED",
            ErrorCode::SyscallNotSupported => "STRBOX_ERR_SYSCALL_NOT_SUPPORTED",
            ErrorCode::ExpectedEndOfLine => "STRBOX_ERR_EXPECTED_END_OF_LINE",
            ErrorCode::InvalidOperator => "STRBOX_ERR_INVALID_OPERATOR",
            ErrorCode::ExpectedRule => "STRBOX_ERR_EXPECTED_RULE",
            ErrorCode::InvalidEscape => "STRBOX_ERR_INVALID_ESCAPE",
            ErrorCode::UnterminatedString => "STRBOX_ERR_UNTERMINATED_STRING",
            ErrorCode::StringTooLong => "STRBOX_ERR_STRING_TOO_LONG",
            ErrorCode::StringPoolFull => "STRBOX_ERR_STRING_POOL_FULL",
            ErrorCode::UnexpectedString => "STRBOX_ERR_UNEXPECTED_STRING",
            ErrorCode::ExpectedString => "STRBOX_ERR_EXPECTED_STRING",
            ErrorCode::InvalidAddress => "STRBOX_ERR_INVALID_ADDRESS",
            ErrorCode::InvalidPrefix => "STRBOX_ERR_INVALID_PREFIX",
            ErrorCode::HostBitsSet => "STRBOX_ERR_HOST_BITS_SET",
            ErrorCode::UnknownRuleAction => "STRBOX_ERR_UNKNOWN_RULE_ACTION",
        }
    }

    /// The code for a numeric value, if it is one.
    pub fn from_u32(v: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| *c as u32 == v)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_dense_stable_and_named() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            // Numbered 1, 2, ... in ALL's order: appending is the only change.
            assert_eq!(*c as usize, i + 1, "{c:?}");
            assert_eq!(ErrorCode::from_u32(*c as u32), Some(*c));
            assert!(c.c_name().starts_with("STRBOX_ERR_"), "{c:?}");
            assert!(!c.message().is_empty(), "{c:?}");
        }
        assert_eq!(ErrorCode::from_u32(0), None);
        assert_eq!(ErrorCode::from_u32(ErrorCode::ALL.len() as u32 + 1), None);
        let mut names: [&str; ErrorCode::ALL.len()] = [""; ErrorCode::ALL.len()];
        for (n, c) in names.iter_mut().zip(ErrorCode::ALL) {
            *n = c.c_name();
        }
        names.sort_unstable();
        assert!(names.windows(2).all(|w| w[0] != w[1]), "duplicate C names");
        assert_eq!(
            ErrorCode::PolicyTooLarge.c_name(),
            "STRBOX_ERR_POLICY_TOO_LARGE"
        );
        assert_eq!(
            ErrorCode::ExpectedLogicalOp.c_name(),
            "STRBOX_ERR_EXPECTED_LOGICAL_OP"
        );
    }
}
