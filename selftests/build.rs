//! Embeds the filter fuzzer's seed inputs (`fuzz/corpus/compile/*` and
//! `fuzz/dict`) into the guest test suite: writes `$OUT_DIR/fuzz_corpus.rs`
//! with one `include_bytes!` per corpus file (sorted by name, so the list
//! and hence every seeded guest fuzz run is the same on every machine).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let fuzz = manifest.join("..").join("fuzz");
    let corpus = fuzz.join("corpus").join("compile");
    let dict = fuzz.join("dict");
    println!("cargo:rerun-if-changed={}", corpus.display());
    println!("cargo:rerun-if-changed={}", dict.display());
    println!("cargo:rerun-if-changed=build.rs");

    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();

    let mut out = String::new();
    out.push_str("/// `fuzz/corpus/compile/*`, sorted by file name.\n");
    out.push_str("pub static CORPUS: &[&[u8]] = &[\n");
    for f in &files {
        let _ = writeln!(out, "    include_bytes!({}),", lit(f));
    }
    out.push_str("];\n");
    out.push_str("/// `fuzz/dict` (libFuzzer dictionary), or empty.\n");
    if dict.is_file() {
        let _ = writeln!(out, "pub static DICT: &str = include_str!({});", lit(&dict));
    } else {
        out.push_str("pub static DICT: &str = \"\";\n");
    }
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("fuzz_corpus.rs");
    std::fs::write(&dest, out).expect("write fuzz_corpus.rs");
}

/// A Rust string literal naming `p` (Debug escapes quotes and backslashes).
fn lit(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}
