//! Errors: a stable code, the byte offset in the policy text, and the line
//! and column computed from it. The same code and message come out of the
//! kernel and out of the host tools, because it is the same code.

use core::fmt;

/// Why a policy was rejected. The numeric values are part of the ABI (the
/// kernel module reports them to userspace) and never change; new codes are
/// only ever appended.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorCode {
    /// The policy text is longer than [`MAX_POLICY_BYTES`](super::limits::MAX_POLICY_BYTES).
    PolicyTooLarge = 1,
    /// More rules than [`MAX_RULES`](super::limits::MAX_RULES).
    TooManyRules = 2,
    /// More predicates than [`MAX_PREDICATES`](super::limits::MAX_PREDICATES).
    TooManyPredicates = 3,
    /// Parentheses nested deeper than [`MAX_DEPTH`](super::limits::MAX_DEPTH).
    TooDeep = 4,
    /// The compiled layer does not fit its fixed capacity
    /// ([`MAX_PROGRAM_PREDICATES`](super::limits::MAX_PROGRAM_PREDICATES),
    /// [`MAX_CODE`](super::limits::MAX_CODE)).
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
    /// The syscall's number is beyond the dispatch table ([`MAX_NR`](super::limits::MAX_NR)).
    SyscallNotSupported = 26,
    /// Extra text after a complete `default` directive.
    ExpectedEndOfLine = 27,
    /// An operator this language does not have (`=`, `~`, `|` alone, ...).
    InvalidOperator = 28,
    /// A line that is neither a rule (`syscall: expression`), a `default`
    /// directive, a comment nor blank.
    ExpectedRule = 29,
}

impl ErrorCode {
    /// All codes, in numeric order.
    pub const ALL: [ErrorCode; 29] = [
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

/// What every stage (lexer, parser, compiler) returns: a value, or an error
/// code and the byte offset it points at. [`compile`](fn@super::compile)
/// turns the pair into an [`Error`] with line and column.
pub(crate) type StageResult<T> = Result<T, (ErrorCode, usize)>;

/// A rejected policy: what is wrong and where.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Error {
    /// What is wrong.
    pub code: ErrorCode,
    /// Byte offset in the policy text (may equal its length: "at the end").
    pub offset: u32,
    /// 1-based line of `offset`.
    pub line: u32,
    /// 1-based column of `offset`, counted in bytes.
    pub column: u32,
}

impl Error {
    /// Builds an error for `offset` in `src`, computing line and column.
    pub fn at(src: &[u8], code: ErrorCode, offset: usize) -> Error {
        let offset = offset.min(src.len());
        let before = src.get(..offset).unwrap_or(&[]);
        let mut line: u32 = 1;
        let mut line_start = 0usize;
        for (i, &b) in before.iter().enumerate() {
            if b == b'\n' {
                line = line.saturating_add(1);
                line_start = i.wrapping_add(1);
            }
        }
        let column = offset.saturating_sub(line_start).saturating_add(1);
        Error {
            code,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            line,
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// The short message of [`Error::code`].
    pub fn message(&self) -> &'static str {
        self.code.message()
    }
}

impl fmt::Display for Error {
    /// `LINE:COL: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.code.message())
    }
}
