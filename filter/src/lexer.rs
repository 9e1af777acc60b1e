//! Lexer: policy bytes to tokens. One token at a time, no allocation, no
//! recursion. Newlines are tokens (a rule is one line); `#` comments run to
//! the end of the line and are skipped.
//!
//! Two literals beyond identifiers and numbers:
//!
//! * strings, `"..."` on one line, with the escapes `\"`, `\\`, `\n`,
//!   `\t`, `\xNN` (any other escape is an error at its backslash);
//! * addresses: the parser asks for one with [`Lexer::address`] where an
//!   `addr` value must follow (after `addr ==`, `!=`, `in`). An address is
//!   the run of letters, digits, `_`, `:`, `.` and `/` there, checked by
//!   the parser (`addr.rs`). Everywhere else `:` ends an event name and a
//!   number is a run of identifier characters, as before: the address form
//!   exists only in that one position, so no v1 text lexes differently.

use super::error::{ErrorCode, StageResult};
use super::limits::MAX_STRING_LEN;

/// What a token is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*`
    Ident,
    /// A number (decimal, `0x` hex or `0` octal); the value is in
    /// [`Token::value`].
    Number,
    /// `:`
    Colon,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `!`
    Not,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&`
    Amp,
    /// `&&`
    AndAnd,
    /// `|`
    Pipe,
    /// `||`
    OrOr,
    /// `-`
    Minus,
    /// `~`: glob match (string fields only).
    Tilde,
    /// `=>`: a rule's action follows.
    Arrow,
    /// `=` alone: an operator this language lacks.
    BadOp,
    /// `'`: not a string quote here.
    Quote,
    /// A string literal `"..."` (escapes checked; [`Token::value`] is its
    /// decoded length, at most [`MAX_STRING_LEN`]). Decode it with
    /// [`unescape`].
    Str,
    /// An address literal, `[A-Za-z0-9_:./]+`: only produced by
    /// [`Lexer::address`], in the value position of an `addr` field.
    Addr,
    /// End of a line.
    Newline,
    /// End of the text.
    Eof,
}

/// One token: its kind, its byte range and, for numbers, its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: u64,
}

/// The lexer's state: the text and the current position.
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub(crate) fn new(src: &'a [u8]) -> Self {
        Lexer { src, pos: 0 }
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    /// The bytes of a token.
    pub(crate) fn text(&self, t: &Token) -> &'a [u8] {
        self.src.get(t.start..t.end).unwrap_or(&[])
    }

    /// Skips blanks (spaces, tabs, `\r`).
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t' | b'\r') = self.peek_at(self.pos) {
            self.pos = self.pos.wrapping_add(1);
        }
    }

    /// In an address value position: the run of `[A-Za-z0-9_:./]` after
    /// the blanks as one [`Tok::Addr`] token, or, when there is none, the
    /// ordinary next token.
    pub(crate) fn address(&mut self) -> StageResult<Token> {
        self.skip_blanks();
        let start = self.pos;
        let mut end = start;
        while self
            .peek_at(end)
            .is_some_and(|b| is_ident_char(b) || matches!(b, b':' | b'.' | b'/'))
        {
            end = end.wrapping_add(1);
        }
        if end == start {
            return self.next_token();
        }
        self.pos = end;
        Ok(Token {
            tok: Tok::Addr,
            start,
            end,
            value: 0,
        })
    }

    /// Lexes a string literal from its opening `"` at `start`.
    fn string(&mut self, start: usize) -> StageResult<Token> {
        let mut i = start.wrapping_add(1);
        let mut len = 0usize;
        loop {
            match self.peek_at(i) {
                None | Some(b'\n') => return Err((ErrorCode::UnterminatedString, start)),
                Some(b'"') => break,
                Some(b'\\') => match escape_at(self.src, i) {
                    Some((_, n)) => i = i.wrapping_add(n),
                    None => return Err((ErrorCode::InvalidEscape, i)),
                },
                Some(_) => i = i.wrapping_add(1),
            }
            len = len.wrapping_add(1);
        }
        if len > MAX_STRING_LEN {
            return Err((ErrorCode::StringTooLong, start));
        }
        let end = i.wrapping_add(1);
        self.pos = end;
        Ok(Token {
            tok: Tok::Str,
            start,
            end,
            value: len as u64,
        })
    }

    /// Returns the next token, or an error code and offset.
    pub(crate) fn next_token(&mut self) -> StageResult<Token> {
        // Skip blanks and comments (not newlines).
        loop {
            match self.peek_at(self.pos) {
                Some(b' ' | b'\t' | b'\r') => self.pos = self.pos.wrapping_add(1),
                Some(b'#') => {
                    while let Some(b) = self.peek_at(self.pos) {
                        if b == b'\n' {
                            break;
                        }
                        self.pos = self.pos.wrapping_add(1);
                    }
                }
                _ => break,
            }
        }
        let start = self.pos;
        let Some(b) = self.peek_at(start) else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
                value: 0,
            });
        };
        let next = self.peek_at(start.wrapping_add(1));
        let (tok, len) = match b {
            b'\n' => (Tok::Newline, 1),
            b':' => (Tok::Colon, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'-' => (Tok::Minus, 1),
            b'~' => (Tok::Tilde, 1),
            b'"' => return self.string(start),
            b'\'' => (Tok::Quote, 1),
            b'!' if next == Some(b'=') => (Tok::Ne, 2),
            b'!' => (Tok::Not, 1),
            b'=' if next == Some(b'=') => (Tok::Eq, 2),
            b'=' if next == Some(b'>') => (Tok::Arrow, 2),
            b'=' => (Tok::BadOp, 1),
            b'<' if next == Some(b'=') => (Tok::Le, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if next == Some(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'&' if next == Some(b'&') => (Tok::AndAnd, 2),
            b'&' => (Tok::Amp, 1),
            b'|' if next == Some(b'|') => (Tok::OrOr, 2),
            b'|' => (Tok::Pipe, 1),
            b if is_ident_start(b) => {
                let mut end = start;
                while self.peek_at(end).is_some_and(is_ident_char) {
                    end = end.wrapping_add(1);
                }
                self.pos = end;
                return Ok(Token {
                    tok: Tok::Ident,
                    start,
                    end,
                    value: 0,
                });
            }
            b if b.is_ascii_digit() => return self.number(start),
            _ => return Err((ErrorCode::InvalidCharacter, start)),
        };
        let end = start.wrapping_add(len);
        self.pos = end;
        Ok(Token {
            tok,
            start,
            end,
            value: 0,
        })
    }

    /// Lexes a number starting at `start` (a digit): the whole run of
    /// identifier characters must form one valid number.
    fn number(&mut self, start: usize) -> StageResult<Token> {
        let mut end = start;
        while self.peek_at(end).is_some_and(is_ident_char) {
            end = end.wrapping_add(1);
        }
        self.pos = end;
        let text = self.src.get(start..end).unwrap_or(&[]);
        let (digits, radix): (&[u8], u64) = match text {
            [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
            [b'0', rest @ ..] if !rest.is_empty() => (rest, 8),
            _ => (text, 10),
        };
        if digits.is_empty() {
            return Err((ErrorCode::InvalidNumber, start));
        }
        let mut value: u64 = 0;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => u64::from(d.wrapping_sub(b'0')),
                b'a'..=b'f' => u64::from(d.wrapping_sub(b'a')).wrapping_add(10),
                b'A'..=b'F' => u64::from(d.wrapping_sub(b'A')).wrapping_add(10),
                _ => return Err((ErrorCode::InvalidNumber, start)),
            };
            if v >= radix {
                return Err((ErrorCode::InvalidNumber, start));
            }
            value = match value.checked_mul(radix).and_then(|x| x.checked_add(v)) {
                Some(x) => x,
                None => return Err((ErrorCode::NumberTooLarge, start)),
            };
        }
        Ok(Token {
            tok: Tok::Number,
            start,
            end,
            value,
        })
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(b.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(b.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// The escape whose backslash is at `s[i]`: the byte it stands for and
/// its length in the text; `None` if it is not a valid escape.
fn escape_at(s: &[u8], i: usize) -> Option<(u8, usize)> {
    match s.get(i.wrapping_add(1))? {
        b'"' => Some((b'"', 2)),
        b'\\' => Some((b'\\', 2)),
        b'n' => Some((b'\n', 2)),
        b't' => Some((b'\t', 2)),
        b'x' => {
            let hi = hex_digit(*s.get(i.wrapping_add(2))?)?;
            let lo = hex_digit(*s.get(i.wrapping_add(3))?)?;
            Some((hi.wrapping_shl(4) | lo, 4))
        }
        _ => None,
    }
}

/// The bytes a [`Tok::Str`] token stands for (`text` is the whole token,
/// quotes included, as the lexer accepted it).
pub(crate) fn unescape(text: &[u8]) -> Unescape<'_> {
    let inner = match text {
        [b'"', inner @ .., b'"'] => inner,
        _ => &[],
    };
    Unescape { s: inner, i: 0 }
}

/// Iterator over the decoded bytes of a string literal ([`unescape`]).
pub(crate) struct Unescape<'a> {
    s: &'a [u8],
    i: usize,
}

impl Iterator for Unescape<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.s.get(self.i)?;
        let (byte, n) = if b == b'\\' {
            escape_at(self.s, self.i)?
        } else {
            (b, 1)
        };
        self.i = self.i.wrapping_add(n);
        Some(byte)
    }
}
