//! IP address literals of the `addr` field: parsing (IPv4 dotted quads,
//! RFC 4291 IPv6 text, CIDR prefixes), the prefix test, and the canonical
//! text (IPv4-mapped addresses dotted, other IPv6 in RFC 5952 form). A
//! leaf.
//!
//! Every address is stored as 16 bytes; an IPv4 address `a.b.c.d` is the
//! IPv4-mapped IPv6 address `::ffff:a.b.c.d`, and an IPv4 prefix length
//! counts IPv4 bits (`/8` on IPv4 is `/104` on the mapped form).

use core::fmt::{self, Write};

use super::error::ErrorCode;

/// An address with its prefix length in IPv6 bits (128: the whole
/// address).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Cidr {
    /// The 16 address bytes.
    pub(crate) addr: [u8; 16],
    /// Prefix length, `0..=128`, in bits of the 16-byte form.
    pub(crate) plen: u8,
    /// Whether a `/LEN` was written.
    pub(crate) has_prefix: bool,
}

/// Bits of the IPv4-mapped prefix `::ffff:0:0/96`.
const MAPPED_BITS: u8 = 96;

/// Whether `a` is an IPv4-mapped address (`::ffff:a.b.c.d`).
pub(crate) fn is_mapped(a: &[u8; 16]) -> bool {
    matches!(a, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ..])
}

fn dec(text: &[u8]) -> Option<u32> {
    // 1..=3 decimal digits, no leading zero (an octal reading would be
    // ambiguous, and inet_pton rejects it too).
    if text.is_empty() || text.len() > 3 || (text.len() > 1 && text.first() == Some(&b'0')) {
        return None;
    }
    let mut v = 0u32;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v
            .wrapping_mul(10)
            .wrapping_add(u32::from(b.wrapping_sub(b'0')));
    }
    Some(v)
}

/// Parses a dotted quad.
fn parse_v4(text: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for slot in out.iter_mut() {
        let v = dec(parts.next()?)?;
        *slot = u8::try_from(v).ok()?;
    }
    match parts.next() {
        None => Some(out),
        Some(_) => None,
    }
}

fn hex_group(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    let mut v = 0u16;
    for &b in text {
        let d = match b {
            b'0'..=b'9' => b.wrapping_sub(b'0'),
            b'a'..=b'f' => b.wrapping_sub(b'a').wrapping_add(10),
            b'A'..=b'F' => b.wrapping_sub(b'A').wrapping_add(10),
            _ => return None,
        };
        v = v.wrapping_shl(4) | u16::from(d);
    }
    Some(v)
}

/// Stores group `g` as bytes `2j, 2j+1` of `out` (ignored past the end).
fn put(out: &mut [u8; 16], j: usize, g: u16) {
    if let Some(slot) = out.get_mut(j.wrapping_mul(2)..j.wrapping_mul(2).wrapping_add(2)) {
        slot.copy_from_slice(&g.to_be_bytes());
    }
}

/// Parses RFC 4291 IPv6 text (`::`, a trailing dotted quad).
fn parse_v6(text: &[u8]) -> Option<[u8; 16]> {
    // Groups before the `::` go to the front, groups after it to the end:
    // collect them in order, remember where the gap was.
    let mut groups = [0u16; 8];
    let mut n = 0usize;
    let mut gap: Option<usize> = None;
    let mut rest = text;
    if let Some(r) = rest.strip_prefix(b"::") {
        gap = Some(0);
        rest = r;
    }
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
        // (`split_at_checked` is newer than the kernel's minimum Rust.)
        let (part, tail) = (rest.get(..end)?, rest.get(end..)?);
        if tail.is_empty() && part.contains(&b'.') {
            // The last 32 bits as a dotted quad.
            let [a, b, c, d] = parse_v4(part)?;
            for g in [u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])] {
                *groups.get_mut(n)? = g;
                n = n.wrapping_add(1);
            }
            break;
        }
        *groups.get_mut(n)? = hex_group(part)?;
        n = n.wrapping_add(1);
        rest = match tail {
            [] => tail,
            [b':', b':', r @ ..] => {
                if gap.is_some() {
                    return None;
                }
                gap = Some(n);
                r
            }
            // A single ':' must be followed by a group.
            [b':', r @ ..] if !r.is_empty() => r,
            _ => return None,
        };
    }
    let mut out = [0u8; 16];
    let (front, skip) = match gap {
        None if n == 8 => (8, 0),
        // `::` stands for at least one zero group.
        Some(at) if n <= 7 => (at, 8usize.wrapping_sub(n)),
        _ => return None,
    };
    for (i, &g) in groups.iter().take(n).enumerate() {
        let j = if i < front { i } else { i.wrapping_add(skip) };
        put(&mut out, j, g);
    }
    Some(out)
}

/// Parses an address: `(bytes, written as IPv4)`.
pub(crate) fn parse(text: &[u8]) -> Option<([u8; 16], bool)> {
    if text.contains(&b':') {
        return parse_v6(text).map(|a| (a, false));
    }
    let v4 = parse_v4(text)?;
    let [p, q, r, t] = v4;
    Some(([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, p, q, r, t], true))
}

/// Parses `ADDR` or `ADDR/LEN`. Errors carry an offset into `text`:
/// [`ErrorCode::InvalidAddress`] and [`ErrorCode::HostBitsSet`] at 0,
/// [`ErrorCode::InvalidPrefix`] at the length.
pub(crate) fn parse_cidr(text: &[u8]) -> Result<Cidr, (ErrorCode, usize)> {
    let slash = text.iter().position(|&b| b == b'/');
    let (addr_text, prefix) = match slash {
        Some(i) => (
            text.get(..i).unwrap_or(&[]),
            Some((
                text.get(i.wrapping_add(1)..).unwrap_or(&[]),
                i.wrapping_add(1),
            )),
        ),
        None => (text, None),
    };
    let Some((addr, v4)) = parse(addr_text) else {
        return Err((ErrorCode::InvalidAddress, 0));
    };
    let Some((len_text, at)) = prefix else {
        return Ok(Cidr {
            addr,
            plen: 128,
            has_prefix: false,
        });
    };
    let max = if v4 { 32 } else { 128 };
    let len = match dec(len_text) {
        Some(l) if l <= max => l as u8,
        _ => return Err((ErrorCode::InvalidPrefix, at)),
    };
    let plen = if v4 {
        MAPPED_BITS.wrapping_add(len)
    } else {
        len
    };
    if !prefix_match(&addr, &[0; 16], plen, true) {
        return Err((ErrorCode::HostBitsSet, 0));
    }
    Ok(Cidr {
        addr,
        plen,
        has_prefix: true,
    })
}

/// Whether the first `plen` bits of `a` and `b` are equal (`host` false),
/// or whether the bits of `a` past `plen` are all zero (`host` true; `b`
/// unused). `plen` above 128 counts as 128.
pub(crate) fn prefix_match(a: &[u8], b: &[u8], plen: u8, host: bool) -> bool {
    let plen = usize::from(plen.min(128));
    let (full, rem) = (plen / 8, plen % 8);
    let part_mask = 0xffu8
        .checked_shl(8u32.wrapping_sub(rem as u32))
        .unwrap_or(0);
    for i in 0..16 {
        let (x, y) = match (a.get(i), b.get(i)) {
            (Some(&x), Some(&y)) => (x, y),
            _ => return false,
        };
        let keep = if i < full {
            0xff
        } else if i == full {
            part_mask
        } else {
            0
        };
        let bad = if host { x & !keep } else { (x ^ y) & keep };
        if bad != 0 {
            return false;
        }
    }
    true
}

/// Writes `a` (and `/plen` when `prefix`): IPv4-mapped addresses dotted
/// with an IPv4 prefix length, others in RFC 5952 form.
pub(crate) fn write(w: &mut dyn Write, a: &[u8; 16], plen: u8, prefix: bool) -> fmt::Result {
    let [_, _, _, _, _, _, _, _, _, _, _, _, p, q, r, t] = *a;
    if is_mapped(a) && plen >= MAPPED_BITS {
        write!(w, "{p}.{q}.{r}.{t}")?;
        if prefix {
            write!(w, "/{}", plen.wrapping_sub(MAPPED_BITS))?;
        }
        return Ok(());
    }
    // (Indexing, not `chunks_exact`: the kernel's objtool (6.12) does not
    // know the no-return panic paths of that iterator's `size()`.)
    let mut g = [0u16; 8];
    for (i, x) in g.iter_mut().enumerate() {
        let hi = a.get(2 * i).copied().unwrap_or(0);
        let lo = a.get(2 * i + 1).copied().unwrap_or(0);
        *x = u16::from_be_bytes([hi, lo]);
    }
    // The longest run of two or more zero groups (the first on a tie).
    let (mut best, mut best_len) = (8usize, 1usize);
    let mut run = 0usize;
    for (i, &x) in g.iter().enumerate() {
        run = if x == 0 { run.wrapping_add(1) } else { 0 };
        if run > best_len {
            best_len = run;
            best = i.wrapping_add(1).wrapping_sub(run);
        }
    }
    let best_end = best.wrapping_add(best_len);
    for (i, &x) in g.iter().enumerate() {
        if i == best {
            w.write_str("::")?;
            continue;
        }
        if i > best && i < best_end {
            continue;
        }
        if i != 0 && i != best_end {
            w.write_char(':')?;
        }
        write!(w, "{x:x}")?;
    }
    if prefix {
        write!(w, "/{plen}")?;
    }
    Ok(())
}
