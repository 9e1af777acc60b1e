//! Errors: a stable code, the byte offset in the policy text, and the line
//! and column computed from it. The same code and message come out of the
//! kernel and out of the host tools, because it is the same code.

use core::fmt;

pub use super::uapi::errors::ErrorCode;

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
