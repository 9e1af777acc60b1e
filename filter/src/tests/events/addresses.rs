//! Address literals: parsing like `std::net`, prefixes, prefix matching, canonical printing.

use super::*;

// ------------------------------------------------------------- addresses

pub(super) fn cidr(text: &str) -> Result<addr::Cidr, (ErrorCode, usize)> {
    addr::parse_cidr(text.as_bytes())
}

fn addr_text(a: &[u8; 16], plen: u8, prefix: bool) -> String {
    let mut s = String::new();
    addr::write(&mut s, a, plen, prefix).unwrap();
    s
}

#[test]
fn addresses_parse_like_std() {
    let good = [
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1::8",
        "::ffff:1.2.3.4",
        "64:ff9b::1.2.3.4",
        "2001:DB8::a",
        "1:2:3:4:5:6:1.2.3.4",
        "::1.2.3.4",
        "0:0:0:0:0:0:0:1",
    ];
    for t in good {
        let c = cidr(t).unwrap_or_else(|e| panic!("{t}: {e:?}"));
        let want = match t.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => v6.octets(),
        };
        assert_eq!(c.addr, want, "{t}");
        assert_eq!((c.plen, c.has_prefix), (128, false));
    }
    let bad = [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "01.2.3.4",
        "1.2.3.04",
        "1..2.3",
        "1.2.3.4.",
        ":",
        ":::",
        "1:::2",
        "::1::",
        "1::2::3",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "12345::",
        "g::",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        ":1::",
        "1:",
        "::1:",
        "1:2:3:4:5:6:7:1.2.3.4",
        "::1.2.3",
        "1.2.3.4::",
        "::ffff:1.2.3.4:1",
        "x",
        "1.2.3.x",
        "::1.2.3.256",
        "1.2.3.4x",
    ];
    for t in bad {
        assert_eq!(cidr(t), Err((ErrorCode::InvalidAddress, 0)), "{t:?}");
        assert!(t.parse::<std::net::IpAddr>().is_err(), "std accepts {t:?}");
    }
}

#[test]
fn prefixes() {
    let c = cidr("10.0.0.0/8").unwrap();
    assert_eq!((c.plen, c.has_prefix), (104, true));
    assert_eq!(cidr("0.0.0.0/0").unwrap().plen, 96);
    assert_eq!(cidr("1.2.3.4/32").unwrap().plen, 128);
    assert_eq!(cidr("fe80::/10").unwrap().plen, 10);
    assert_eq!(cidr("::/0").unwrap().plen, 0);
    assert_eq!(cidr("::1/128").unwrap().plen, 128);
    assert_eq!(cidr("10.0.0.0/33"), Err((ErrorCode::InvalidPrefix, 9)));
    assert_eq!(cidr("::/129"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/08"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/1x"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("::/1/2"), Err((ErrorCode::InvalidPrefix, 3)));
    assert_eq!(cidr("10.0.0.1/8"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("10.128.0.0/8"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("fe80::/8"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("fe80::/9").unwrap().plen, 9);
    assert_eq!(cidr("fec0::/9"), Err((ErrorCode::HostBitsSet, 0)));
    assert_eq!(cidr("::ffff:10.0.0.0/104").unwrap().plen, 104);
    assert_eq!(
        cidr("::ffff:10.0.0.0/100"),
        Err((ErrorCode::HostBitsSet, 0))
    );
    assert_eq!(cidr("1.2.3.4/x"), Err((ErrorCode::InvalidPrefix, 8)));
    assert_eq!(cidr("1.2.3/8"), Err((ErrorCode::InvalidAddress, 0)));
}

#[test]
fn prefix_match_bits() {
    let a = cidr("10.0.0.0/8").unwrap().addr;
    let inside = cidr("10.255.1.2").unwrap().addr;
    let outside = cidr("11.0.0.0").unwrap().addr;
    assert!(addr::prefix_match(&a, &inside, 104, false));
    assert!(!addr::prefix_match(&a, &outside, 104, false));
    // a prefix length beyond 128 counts as 128
    assert!(addr::prefix_match(&inside, &inside, 200, false));
    assert!(!addr::prefix_match(&a, &inside, 200, false));
    // partial byte: fe80::/10 holds febf:: but not fec0::
    let ll = cidr("fe80::").unwrap().addr;
    assert!(addr::prefix_match(
        &ll,
        &cidr("febf::1").unwrap().addr,
        10,
        false
    ));
    assert!(!addr::prefix_match(
        &ll,
        &cidr("fec0::1").unwrap().addr,
        10,
        false
    ));
    assert!(addr::prefix_match(&ll, &cidr("::").unwrap().addr, 0, false));
    // short slices never match
    assert!(!addr::prefix_match(&a[..15], &inside, 0, false));
}

#[test]
fn addresses_print_canonically() {
    let cases = [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"),
        ("fe80::0001", "fe80::1"),
        ("::1.2.3.4", "::102:304"),
        ("64:ff9b::1.2.3.4", "64:ff9b::102:304"),
    ];
    for (t, want) in cases {
        let c = cidr(t).unwrap();
        assert_eq!(addr_text(&c.addr, 128, false), want, "{t}");
        // and it parses back to the same bytes, as std prints it
        assert_eq!(cidr(want).unwrap().addr, c.addr);
        if !addr::is_mapped(&c.addr) {
            let std_text = std::net::Ipv6Addr::from(c.addr).to_string();
            assert_eq!(want, std_text, "{t}");
        }
    }
    let c = cidr("10.0.0.0/8").unwrap();
    assert_eq!(addr_text(&c.addr, c.plen, true), "10.0.0.0/8");
    let c = cidr("fe80::/10").unwrap();
    assert_eq!(addr_text(&c.addr, c.plen, true), "fe80::/10");
    let c = cidr("::ffff:0.0.0.0/96").unwrap();
    assert_eq!(addr_text(&c.addr, c.plen, true), "0.0.0.0/0");
    // a mapped address with a prefix shorter than the mapping (never
    // compiled) prints in IPv6 form
    assert_eq!(addr_text(&c.addr, 95, true), "::ffff:0:0/95");
}
