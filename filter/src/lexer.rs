//! Lexer: policy bytes to tokens. One token at a time, no allocation, no
//! recursion. Newlines are tokens (a rule is one line); `#` comments run to
//! the end of the line and are skipped.

use super::error::{ErrorCode, StageResult};

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
    /// `=` alone or `~` (ftrace's glob): operators this language lacks.
    BadOp,
    /// `"` or `'`: ftrace strings, not supported.
    Quote,
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
            b'~' => (Tok::BadOp, 1),
            b'"' | b'\'' => (Tok::Quote, 1),
            b'!' if next == Some(b'=') => (Tok::Ne, 2),
            b'!' => (Tok::Not, 1),
            b'=' if next == Some(b'=') => (Tok::Eq, 2),
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
