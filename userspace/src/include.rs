//! `@include "path"` expansion, done in the library before the text goes
//! to the kernel (the kernel's language has no `@include`), with a map
//! from the expanded text back to the files the user wrote, so that an
//! error points at the right file, line and column.
//!
//! A line whose first non-blank character is `@` is a directive; the only
//! one is `@include "PATH"` (optionally followed by blanks and a `#`
//! comment). `PATH` takes the policy language's string escapes (`\"`,
//! `\\`, `\xNN`, ...) and is relative to the directory of the file that
//! contains the line. The line is replaced by the included file's expanded
//! text (which gets a final newline if it lacks one). Includes nest at
//! most [`MAX_INCLUDE_DEPTH`] deep, and a file that includes itself,
//! directly or through others, is an error.

use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use strbox_filter::Error as PolicyError;

/// How deep `@include`s may nest: the file given to
/// [`Policy::from_file`](crate::Policy::from_file) is depth 0, the files
/// it includes depth 1, and so on up to this.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// One file (or text) of a policy, as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Its name in messages: the path as given or as reached through
    /// `@include` (`<stdin>`, `<pairs>` and `<text>` for the other forms).
    pub name: String,
    /// Its bytes.
    pub text: Vec<u8>,
}

/// A run of the expanded text copied verbatim from one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    /// Offset in the expanded text.
    start: usize,
    /// Length in bytes.
    len: usize,
    /// Index into `SourceMap::sources`.
    source: usize,
    /// Offset in that source's text.
    offset: usize,
}

/// The sources of an expanded text and where each byte came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceMap {
    pub(crate) sources: Vec<Source>,
    segments: Vec<Segment>,
}

impl SourceMap {
    /// A map for a text that is one source, unexpanded.
    pub(crate) fn single(name: &str, text: &[u8]) -> SourceMap {
        SourceMap {
            sources: vec![Source {
                name: name.to_string(),
                text: text.to_vec(),
            }],
            segments: vec![Segment {
                start: 0,
                len: text.len(),
                source: 0,
                offset: 0,
            }],
        }
    }

    /// The source and the error re-located in it for an error at `e.offset`
    /// of the expanded text.
    pub(crate) fn locate(&self, e: &PolicyError) -> (&Source, PolicyError) {
        let at = e.offset as usize;
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.start <= at)
            .or_else(|| self.segments.first());
        let (source, offset) = match seg {
            Some(s) => (s.source, s.offset + (at - s.start.min(at)).min(s.len)),
            None => (0, at),
        };
        let src = &self.sources[source];
        let offset = offset.min(src.text.len());
        let (line, column) = line_col(&src.text, offset);
        let mapped = PolicyError {
            code: e.code,
            offset: offset as u32,
            line,
            column,
        };
        (src, mapped)
    }
}

/// 1-based line and byte column of `offset` (the filter's own rule).
fn line_col(text: &[u8], offset: usize) -> (u32, u32) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line as u32, (offset - start + 1) as u32)
}

/// What is wrong with an `@include` line.
#[derive(Debug)]
#[non_exhaustive]
pub enum IncludeErrorKind {
    /// The directive is not `@include "PATH"`.
    Syntax(&'static str),
    /// Includes nest deeper than [`MAX_INCLUDE_DEPTH`].
    TooDeep,
    /// The file is already being included: the chain of files, the
    /// outermost first, ending with the repeated one.
    Cycle(Vec<String>),
    /// The included file could not be read.
    Read(PathBuf, io::Error),
}

/// An `@include` line that could not be expanded: the including file, the
/// line and column of the directive (or of its path), and why.
#[derive(Debug)]
pub struct IncludeError {
    /// The including file's name.
    pub file: String,
    /// 1-based line of the `@include` line in it.
    pub line: u32,
    /// 1-based byte column (the directive, or its path).
    pub column: u32,
    /// The text of that line (for a caret report).
    pub line_text: String,
    /// What went wrong.
    pub kind: IncludeErrorKind,
}

impl IncludeError {
    /// `FILE:LINE:COL: message`, the line and a caret under the column.
    pub fn render(&self) -> String {
        let mut caret = String::from("    ");
        for (i, c) in self.line_text.char_indices() {
            if i + 1 >= self.column as usize {
                break;
            }
            caret.push(if c == '\t' { '\t' } else { ' ' });
        }
        caret.push('^');
        format!("{self}\n    {}\n{caret}\n", self.line_text)
    }
}

impl fmt::Display for IncludeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        match &self.kind {
            IncludeErrorKind::Syntax(what) => write!(f, "{what}"),
            IncludeErrorKind::TooDeep => write!(
                f,
                "@include nested too deep (at most {MAX_INCLUDE_DEPTH} levels)"
            ),
            IncludeErrorKind::Cycle(chain) => {
                write!(f, "@include cycle: {}", chain.join(" -> "))
            }
            IncludeErrorKind::Read(path, e) => {
                write!(f, "cannot include {}: {e}", path.display())
            }
        }
    }
}

impl std::error::Error for IncludeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            IncludeErrorKind::Read(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Expands the `@include` lines of `text` (named `name`, its includes
/// relative to `dir`): the expanded text and its map.
pub(crate) fn expand(
    name: &str,
    text: Vec<u8>,
    dir: &Path,
    identity: Option<PathBuf>,
) -> Result<(Vec<u8>, SourceMap), IncludeError> {
    let mut x = Expander {
        map: SourceMap::default(),
        out: Vec::new(),
        stack: Vec::new(),
    };
    x.map.sources.push(Source {
        name: name.to_string(),
        text,
    });
    x.stack.push((identity, name.to_string()));
    x.expand(0, dir, 0)?;
    Ok((x.out, x.map))
}

struct Expander {
    map: SourceMap,
    out: Vec<u8>,
    /// The files being expanded (canonical path when known, name).
    stack: Vec<(Option<PathBuf>, String)>,
}

impl Expander {
    fn copy(&mut self, source: usize, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let start = self.out.len();
        self.out
            .extend_from_slice(&self.map.sources[source].text[from..to]);
        self.map.segments.push(Segment {
            start,
            len: to - from,
            source,
            offset: from,
        });
    }

    fn expand(&mut self, source: usize, dir: &Path, depth: usize) -> Result<(), IncludeError> {
        let len = self.map.sources[source].text.len();
        let mut copied = 0;
        let mut pos = 0;
        let mut line_no = 0u32;
        while pos < len {
            line_no += 1;
            let text = &self.map.sources[source].text;
            let end = text[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |i| pos + i + 1);
            let line = &text[pos..end];
            let indent = line
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(line.len());
            if line.get(indent) != Some(&b'@') {
                pos = end;
                continue;
            }
            let line_text = String::from_utf8_lossy(
                line.strip_suffix(b"\n")
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .unwrap_or(line),
            )
            .into_owned();
            let file = self.map.sources[source].name.clone();
            let err = |column: usize, kind| IncludeError {
                file: file.clone(),
                line: line_no,
                column: column as u32 + 1,
                line_text: line_text.clone(),
                kind,
            };
            let (path_col, path) = parse_directive(line, indent)
                .map_err(|(c, m)| err(c, IncludeErrorKind::Syntax(m)))?;
            self.copy(source, copied, pos);
            copied = end;
            pos = end;
            if depth + 1 > MAX_INCLUDE_DEPTH {
                return Err(err(indent, IncludeErrorKind::TooDeep));
            }
            let path = dir.join(std::ffi::OsStr::from_bytes(&path));
            let canonical = std::fs::canonicalize(&path).ok();
            let name = path.display().to_string();
            if let Some(c) = &canonical {
                if self.stack.iter().any(|(p, _)| p.as_ref() == Some(c)) {
                    let mut chain: Vec<String> =
                        self.stack.iter().map(|(_, n)| n.clone()).collect();
                    chain.push(name);
                    return Err(err(path_col, IncludeErrorKind::Cycle(chain)));
                }
            }
            let text = std::fs::read(&path)
                .map_err(|e| err(path_col, IncludeErrorKind::Read(path.clone(), e)))?;
            self.map.sources.push(Source {
                name: name.clone(),
                text,
            });
            let child = self.map.sources.len() - 1;
            let child_dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
            self.stack.push((canonical, name));
            self.expand(child, &child_dir, depth + 1)?;
            self.stack.pop();
            if self.out.last().is_some_and(|&b| b != b'\n') {
                self.out.push(b'\n');
            }
        }
        self.copy(source, copied, len);
        Ok(())
    }
}

/// Parses `@include "PATH"` at `indent` of `line`: the column (0-based) of
/// the path and the decoded path, or the column and message of the error.
fn parse_directive(line: &[u8], indent: usize) -> Result<(usize, Vec<u8>), (usize, &'static str)> {
    const KW: &[u8] = b"@include";
    let rest = &line[indent..];
    let word_end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\t' || b == b'"' || b == b'\n' || b == b'\r')
        .unwrap_or(rest.len());
    if &rest[..word_end] != KW {
        return Err((
            indent,
            "unknown directive (the only one is @include \"PATH\")",
        ));
    }
    let mut i = indent + KW.len();
    while matches!(line.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if line.get(i) != Some(&b'"') {
        return Err((i, "expected a quoted path after @include"));
    }
    let path_col = i;
    let mut j = i + 1;
    loop {
        match line.get(j) {
            None | Some(b'\n') => return Err((path_col, "unterminated string")),
            Some(b'\\') => j += 2,
            Some(b'"') => break,
            Some(_) => j += 1,
        }
    }
    let raw = String::from_utf8_lossy(&line[i + 1..j]).into_owned();
    let path = crate::policy::parse_path(&raw).map_err(|_| (path_col, "invalid escape in path"))?;
    if path.is_empty() {
        return Err((path_col, "empty path"));
    }
    let mut k = j + 1;
    while matches!(line.get(k), Some(b' ' | b'\t' | b'\r')) {
        k += 1;
    }
    match line.get(k) {
        None | Some(b'\n' | b'#') => Ok((path_col, path)),
        Some(_) => Err((k, "unexpected text after the path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_syntax() {
        assert_eq!(
            parse_directive(b"@include \"a.p\"\n", 0),
            Ok((9, b"a.p".to_vec()))
        );
        assert_eq!(
            parse_directive(b"  @include\t\"a\\x20b\"  # c\n", 2),
            Ok((11, b"a b".to_vec()))
        );
        assert!(parse_directive(b"@includes \"a\"", 0).is_err());
        assert!(parse_directive(b"@include a", 0).is_err());
        assert!(parse_directive(b"@include \"a", 0).is_err());
        assert!(parse_directive(b"@include \"\"", 0).is_err());
        assert!(parse_directive(b"@include \"a\" b", 0).is_err());
        assert!(parse_directive(b"@foo", 0).is_err());
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col(b"ab\ncd", 0), (1, 1));
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col(b"ab\n", 3), (2, 1));
    }
}
