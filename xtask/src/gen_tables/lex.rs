//! Kernel source text: reading a file (lossy UTF-8, `read`), splicing
//! continuation lines and blanking comments (`clean_source`), splitting off
//! a leading word (`split_word`), and C tokens (`Tok`, `tokenize`).
//!
//! Uses value.rs only for the error type `EvalErr`. Every file that opens
//! kernel files reads them with `read`; defines.rs and cpp.rs work on
//! cleaned text; cpp.rs, kconfig.rs and resolve.rs tokenize, and expr.rs
//! parses the tokens.

use anyhow::{Context, Result};
use std::path::Path;

use super::value::EvalErr;

pub(super) fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Splices continuation lines and blanks out comments (strings and
/// character literals, which never span lines, are kept).
pub(super) fn clean_source(src: &str) -> String {
    let src = src.replace("\\\r\n", "").replace("\\\n", "");
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                if b[i] == b'\n' {
                    out.push(b'\n');
                }
                i += 1;
            }
            i += 2;
            out.push(b' ');
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' || c == b'\'' {
            // A literal ends at its closing quote, or at the line's end.
            let mut j = i + 1;
            while j < b.len() && b[j] != c && b[j] != b'\n' {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            if j < b.len() && b[j] == c {
                out.extend_from_slice(&b[i..=j]);
                i = j + 1;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Ident(String),
    /// A preprocessing number, as written.
    Num(String),
    /// A character literal's value.
    Char(i128),
    Str,
    Punct(&'static str),
    /// A value the preprocessor could not decide.
    Unknown,
}

const PUNCTS: &[&str] = &[
    "...", "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "->", "++", "--",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "+", "-", "*", "/", "%", "&", "|", "^", "~",
    "!", "<", ">", "?", ":", "(", ")", ",", "#", "[", "]", "{", "}", ";", ".", "=", "@", "$", "\\",
    "`",
];

pub(super) fn tokenize(s: &str) -> Result<Vec<Tok>, EvalErr> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[st..i].to_string()));
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(s[st..i].to_string()));
        } else if c == b'\'' {
            let (v, n) = char_literal(&b[i..]).ok_or(EvalErr::Invalid("bad char literal"))?;
            out.push(Tok::Char(v));
            i += n;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            out.push(Tok::Str);
            i = j + 1;
        } else {
            let p = PUNCTS
                .iter()
                .find(|p| s[i..].starts_with(**p))
                .ok_or(EvalErr::Invalid("unexpected character"))?;
            out.push(Tok::Punct(p));
            i += p.len();
        }
    }
    Ok(out)
}

/// Value and length of the character literal at the start of `b`.
fn char_literal(b: &[u8]) -> Option<(i128, usize)> {
    let c = *b.get(1)?;
    let (v, n) = if c == b'\\' {
        let e = *b.get(2)?;
        match e {
            b'n' => (10, 4),
            b't' => (9, 4),
            b'r' => (13, 4),
            b'0'..=b'7' => {
                let mut v = 0i128;
                let mut j = 2;
                while j < 5 && b.get(j).is_some_and(|d| (b'0'..=b'7').contains(d)) {
                    v = v * 8 + (b[j] - b'0') as i128;
                    j += 1;
                }
                (v, j + 1)
            }
            b'x' => {
                let mut v = 0i128;
                let mut j = 3;
                while let Some(d) = b.get(j).and_then(|d| (*d as char).to_digit(16)) {
                    v = v * 16 + d as i128;
                    j += 1;
                }
                (v, j + 1)
            }
            b'\\' | b'\'' | b'"' | b'?' => (e as i128, 4),
            _ => return None,
        }
    } else {
        (c as i128, 3)
    };
    (b.get(n - 1) == Some(&b'\'')).then_some((v, n))
}

pub(super) fn split_word(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_continuations() {
        let s = clean_source("#define A 1 /* x\n y */ + \\\n 2 // z\nchar c = '/'; \"/*\"");
        assert_eq!(s, "#define A 1 \n  +  2 \nchar c = '/'; \"/*\"");
    }
}
