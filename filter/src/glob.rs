//! `~` on strings: the kernel's `glob_match()` (`lib/glob.c`, used by
//! ftrace's `~` filters), on byte slices. A leaf.
//!
//! * `*` matches any run of bytes, **including `/`** (it is not a shell
//!   glob); `?` matches any one byte;
//! * `[...]` matches one byte of a class: single bytes and ranges `a-z`,
//!   negated by a leading `!` (or `^`); a `]` right after the `[` (or the
//!   negation) is a member; a range with its ends reversed matches nothing;
//!   a `[` without its `]` is an ordinary byte;
//! * `\` makes the next pattern byte literal (a `\` at the end of the
//!   pattern matches the end of the string);
//! * anything else matches itself. The end of a slice is the end (a NUL
//!   byte is an ordinary byte, as in abstract socket names).
//!
//! No recursion: like the kernel's, the matcher keeps one backtrack point
//! (the last `*`), which is enough because a `*` can absorb anything an
//! earlier one could. Worst case O(`pattern.len()` × `s.len()`) steps.

/// What one step of the matcher decided.
enum Step {
    /// Go on with the next pattern and string bytes.
    Next,
    /// Compare the string byte with this pattern byte (`None`: the end).
    Literal(Option<u8>),
    /// This attempt failed: retry from the last `*`, one byte later.
    Backtrack,
}

/// Whether `s` matches the glob `pat` (`lib/glob.c` semantics).
pub(crate) fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let at = |xs: &[u8], i: usize| xs.get(i).copied();
    let mut p = 0usize;
    let mut i = 0usize;
    // (pattern index after the last `*`, string index it was tried at)
    let mut back: Option<(usize, usize)> = None;
    loop {
        let c = at(s, i);
        i = i.wrapping_add(1);
        let d = at(pat, p);
        p = p.wrapping_add(1);
        let step = match d {
            Some(b'?') => match c {
                None => return false,
                Some(_) => Step::Next,
            },
            Some(b'*') => {
                if at(pat, p).is_none() {
                    // A trailing `*` matches the rest.
                    return true;
                }
                // Allow a zero-length match: retry this string byte.
                i = i.wrapping_sub(1);
                back = Some((p, i));
                Step::Next
            }
            Some(b'[') => {
                let Some(c) = c else {
                    return false;
                };
                let inverted = matches!(at(pat, p), Some(b'!' | b'^'));
                let mut class = p.wrapping_add(usize::from(inverted));
                let mut a = at(pat, class);
                class = class.wrapping_add(1);
                let mut matched = false;
                let mut malformed = false;
                loop {
                    let Some(lo) = a else {
                        malformed = true;
                        break;
                    };
                    let mut hi = lo;
                    if at(pat, class) == Some(b'-') && at(pat, class.wrapping_add(1)) != Some(b']')
                    {
                        match at(pat, class.wrapping_add(1)) {
                            Some(b) => hi = b,
                            None => {
                                malformed = true;
                                break;
                            }
                        }
                        class = class.wrapping_add(2);
                    }
                    matched |= lo <= c && c <= hi;
                    a = at(pat, class);
                    class = class.wrapping_add(1);
                    if a == Some(b']') {
                        break;
                    }
                }
                if malformed {
                    Step::Literal(d)
                } else if matched == inverted {
                    Step::Backtrack
                } else {
                    p = class;
                    Step::Next
                }
            }
            Some(b'\\') => {
                let e = at(pat, p);
                p = p.wrapping_add(1);
                Step::Literal(e)
            }
            _ => Step::Literal(d),
        };
        let retry = match step {
            Step::Next => false,
            Step::Literal(d) if c == d => {
                if d.is_none() {
                    return true;
                }
                false
            }
            Step::Literal(_) | Step::Backtrack => true,
        };
        if retry {
            let Some((bp, bs)) = back else {
                return false;
            };
            if c.is_none() {
                return false;
            }
            let bs = bs.wrapping_add(1);
            back = Some((bp, bs));
            p = bp;
            i = bs;
        }
    }
}
