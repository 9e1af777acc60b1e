//! Glob matching: the table, an independent recursive reference, and the bounded pathological case.

use super::*;

// ------------------------------------------------------------------ glob

#[test]
fn glob_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        ("*", "", true),
        ("*", "anything/at/all", true),
        ("/usr/lib/*", "/usr/lib/x86_64-linux-gnu/libc.so.6", true),
        ("/usr/lib/*", "/usr/lib", false),
        ("/usr/lib/*", "/usr/lib/", true),
        ("/tmp/*.txt", "/tmp/a/b/c.txt", true),
        ("/tmp/*.txt", "/tmp/a/b/c.txt2", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("*a", "bbba", true),
        ("*a", "bbbab", false),
        ("?", "", false),
        ("?", "x", true),
        ("?", "xy", false),
        ("??", "xy", true),
        ("a?c", "a/c", true),
        ("*?", "", false),
        ("*?", "a", true),
        ("[abc]", "b", true),
        ("[abc]", "d", false),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("[!a-c]", "d", true),
        ("[!a-c]", "a", false),
        ("[^a-c]", "d", true),
        ("[^a-c]", "c", false),
        ("[]]", "]", true),
        ("[]a]", "a", true),
        ("[!]]", "]", false),
        ("[!]]", "x", true),
        ("[a-]", "-", true),
        ("[a-]", "a", true),
        ("[z-a]", "m", false),
        ("[", "[", true),
        ("[a", "[a", true),
        ("[a", "a", false),
        ("[a-", "[a-", true),
        ("[]", "", false),
        ("x[", "x[", true),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("a\\", "a", true),
        ("a\\", "a\\", false),
        ("\\\\", "\\", true),
        ("*.so*", "libc.so.6", true),
        ("lib*.so", "lib.so", true),
        ("*ab", "aab", true),
        ("*aab", "aaab", true),
        ("a*", "a", true),
    ];
    for &(pat, s, want) in cases {
        assert_eq!(
            glob_match(pat.as_bytes(), s.as_bytes()),
            want,
            "{pat:?} ~ {s:?}"
        );
    }
    // NUL is an ordinary byte; the end of the slice is the end.
    assert!(glob_match(b"\0app*", b"\0app.sock"));
    assert!(!glob_match(b"\0app*", b"app.sock"));
    assert!(glob_match(b"?x", b"\0x"));
    assert!(glob_match(b"[\0-\x01]", b"\0"));
    assert!(!glob_match(b"a", b"a\0"));
}

/// An independent, exponential reference (recursion), for short inputs.
pub(super) fn glob_ref(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_ref(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_ref(&p[1..], &s[1..]),
        Some(b'\\') => match (p.get(1), s.first()) {
            (None, _) => s.is_empty(),
            (Some(x), Some(y)) if x == y => glob_ref(&p[2..], &s[1..]),
            _ => false,
        },
        Some(b'[') => {
            let inv = matches!(p.get(1), Some(b'!' | b'^'));
            let mut i = 1 + inv as usize;
            let mut spans = Vec::new();
            let mut first = true;
            loop {
                match p.get(i) {
                    None => {
                        // malformed: a literal '['
                        return s.first() == Some(&b'[') && glob_ref(&p[1..], &s[1..]);
                    }
                    Some(b']') if !first => break,
                    Some(&a) => {
                        if p.get(i + 1) == Some(&b'-') && p.get(i + 2) != Some(&b']') {
                            match p.get(i + 2) {
                                None => {
                                    return s.first() == Some(&b'[') && glob_ref(&p[1..], &s[1..])
                                }
                                Some(&b) => {
                                    spans.push((a, b));
                                    i += 3;
                                }
                            }
                        } else {
                            spans.push((a, a));
                            i += 1;
                        }
                    }
                }
                first = false;
            }
            let Some(&c) = s.first() else { return false };
            let m = spans.iter().any(|&(a, b)| a <= c && c <= b);
            m != inv && glob_ref(&p[i + 1..], &s[1..])
        }
        Some(&x) => s.first() == Some(&x) && glob_ref(&p[1..], &s[1..]),
    }
}

#[test]
fn glob_agrees_with_reference() {
    let mut rng = Rng::new(7);
    let pat_alpha = b"ab*?[]!^-\\";
    let str_alpha = b"ab-]![\\";
    for _ in 0..20_000 {
        let pl = rng.below(7);
        let sl = rng.below(7);
        let p: Vec<u8> = (0..pl).map(|_| *rng.pick(pat_alpha)).collect();
        let s: Vec<u8> = (0..sl).map(|_| *rng.pick(str_alpha)).collect();
        assert_eq!(
            glob_match(&p, &s),
            glob_ref(&p, &s),
            "{:?} ~ {:?}",
            String::from_utf8_lossy(&p),
            String::from_utf8_lossy(&s)
        );
    }
}

#[test]
fn glob_pathological_is_bounded() {
    // a*a*a*a*b against a long run of `a`: the single backtrack point keeps
    // it at O(len * pattern); this must finish at once.
    let s = vec![b'a'; 4096];
    assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &s));
    let mut t = s.clone();
    t.push(b'b');
    assert!(glob_match(b"a*a*a*a*a*a*a*a*b", &t));
    let p = format!("{}b", "*a".repeat(2000));
    assert!(!glob_match(p.as_bytes(), &s));
}
