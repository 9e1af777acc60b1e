//! Host-side helpers around the filter engine: compiling into boxed
//! buffers, rendering errors with the source line and a caret, canonical
//! text, parsing syscall names and argument values, event fields
//! (`FIELD=VALUE`), naming verdicts.

use std::fmt::Write as _;

use strbox_filter::uapi::tables::{self, Arch};
use strbox_filter::{compile, Error, Event, EventInput, Program, Scratch, Verdict};

/// The architecture named `name`, or the host's when `None`.
pub fn arch(name: Option<&str>) -> Result<&'static Arch, String> {
    match name {
        None => Ok(tables::NATIVE),
        Some(n) => tables::arch_by_name(n).ok_or_else(|| {
            let known: Vec<&str> = tables::ARCHES.iter().map(|a| a.name).collect();
            format!("unknown architecture {n:?} (known: {})", known.join(", "))
        }),
    }
}

/// Compiles `src` for `arch` into a new boxed program.
pub fn compile_policy(src: &[u8], arch: &'static Arch) -> Result<Box<Program>, Error> {
    let mut scratch = Box::new(Scratch::new());
    let mut prog = Box::new(Program::new());
    compile(src, arch, &mut scratch, &mut prog)?;
    Ok(prog)
}

/// `FILE:LINE:COL: message`, then the offending line and a caret under
/// the error's column (tabs in the line are kept, so the caret lines up).
pub fn render_error(file: &str, src: &[u8], e: &Error) -> String {
    let mut out = format!("{file}:{}:{}: {}\n", e.line, e.column, e.message());
    let offset = (e.offset as usize).min(src.len());
    let start = src[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = src[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |i| start + i);
    let line = &src[start..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let _ = writeln!(out, "    {}", String::from_utf8_lossy(line));
    let mut caret = String::from("    ");
    for &b in &src[start..offset] {
        // one caret column per displayed character (UTF-8 continuation
        // bytes 0x80..0xc0 add none)
        if b == b'\t' {
            caret.push('\t');
        } else if !(0x80..0xc0).contains(&b) {
            caret.push(' ');
        }
    }
    caret.push('^');
    out.push_str(&caret);
    out.push('\n');
    out
}

/// The canonical text of a compiled policy.
pub fn canonical(prog: &Program, arch: &'static Arch) -> String {
    let mut s = String::new();
    prog.print(arch, &mut s)
        .expect("printing a compiled program for its own arch");
    s
}

/// A syscall by name (with or without `sys_`) or by number.
pub fn syscall_nr(arch: &'static Arch, s: &str) -> Result<u32, String> {
    if let Some(sys) = arch.syscall(s) {
        return Ok(sys.nr);
    }
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    Err(format!("unknown syscall {s:?} for {}", arch.name))
}

/// An argument value: decimal, `0x` hex, `0` octal, negative (two's
/// complement in 64 bits), or a named constant (`O_RDONLY`, `-AT_FDCWD`
/// is not accepted; write `AT_FDCWD`).
pub fn parse_value(arch: &'static Arch, s: &str) -> Result<u64, String> {
    let bad = || format!("invalid argument value {s:?}");
    if let Some(v) = arch.constant(s) {
        return Ok(v as u64);
    }
    if s == "NULL" {
        return Ok(0);
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<u64>()
    }
    .map_err(|_| bad())?;
    if neg {
        if magnitude > 1 << 63 {
            return Err(bad());
        }
        Ok(magnitude.wrapping_neg())
    } else {
        Ok(magnitude)
    }
}

/// What an event hook would see, owned (see [`event_args`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventArgs {
    /// `path` (`None`: unavailable).
    pub path: Option<Vec<u8>>,
    /// `flags`.
    pub flags: u64,
    /// `family`.
    pub family: u64,
    /// `port`.
    pub port: u64,
    /// `addr` (IPv4 as `::ffff:a.b.c.d`).
    pub addr: [u8; 16],
}

impl EventArgs {
    /// The borrowed form the engine evaluates.
    pub fn input(&self) -> EventInput<'_> {
        EventInput {
            path: self.path.as_deref(),
            flags: self.flags,
            family: self.family,
            port: self.port,
            addr: self.addr,
        }
    }
}

/// The fields of an event, as a policy names them.
pub fn event_fields(ev: Event) -> &'static [&'static str] {
    match ev {
        Event::FileOpen => &["path", "flags"],
        Event::Exec => &["path"],
        Event::SocketConnect | Event::SocketBind => &["family", "port", "addr", "path"],
    }
}

/// Parses `FIELD=VALUE` arguments for event `ev`. `path` takes the
/// policy language's escapes (`\xNN`, `\n`, `\t`, `\\`, `\"`), so an
/// abstract socket is `path=\x00name`; `addr` an IPv4 or IPv6 address;
/// the numeric fields what [`parse_value`] takes, or `A|B` masks of it.
/// A field not given is 0, except `path`: unavailable for `file_open` and
/// `exec` (the layers with rules for the event give their default), empty
/// for the socket events (as the kernel passes it for non-`AF_UNIX`
/// sockets).
pub fn event_args(arch: &'static Arch, ev: Event, fields: &[String]) -> Result<EventArgs, String> {
    let socket = matches!(ev, Event::SocketConnect | Event::SocketBind);
    let mut out = EventArgs {
        path: if socket { Some(Vec::new()) } else { None },
        flags: 0,
        family: 0,
        port: 0,
        addr: [0; 16],
    };
    for f in fields {
        let Some((name, value)) = f.split_once('=') else {
            return Err(format!("expected FIELD=VALUE, got {f:?}"));
        };
        if !event_fields(ev).contains(&name) {
            return Err(format!(
                "{} has no field {name:?} (fields: {})",
                ev.name(),
                event_fields(ev).join(", ")
            ));
        }
        match name {
            "path" => out.path = Some(parse_path(value)?),
            "addr" => out.addr = parse_addr(value)?,
            _ => {
                let mut v = 0u64;
                for term in value.split('|') {
                    v |= parse_value(arch, term)?;
                }
                match name {
                    "flags" => out.flags = v,
                    "family" => out.family = v,
                    _ => out.port = v,
                }
            }
        }
    }
    Ok(out)
}

/// A path value with the policy language's escapes decoded.
pub fn parse_path(s: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid escape in path {s:?}");
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next().ok_or_else(bad)? {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'x' => {
                let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
                let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// An IPv4 or IPv6 address as 16 bytes (IPv4 as `::ffff:a.b.c.d`).
pub fn parse_addr(s: &str) -> Result<[u8; 16], String> {
    match s.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => Ok(a.to_ipv6_mapped().octets()),
        Ok(std::net::IpAddr::V6(a)) => Ok(a.octets()),
        Err(_) => Err(format!("invalid address {s:?}")),
    }
}

/// `allow`, `log`, `errno NAME` (or `errno N` without a name), `kill`.
pub fn verdict_text(v: Verdict, arch: &'static Arch) -> String {
    match v {
        Verdict::Allow => "allow".into(),
        Verdict::Log => "log".into(),
        Verdict::Kill => "kill".into(),
        Verdict::Errno(n) => match arch.errno_name(i64::from(n)) {
            Some(name) => format!("errno {name}"),
            None => format!("errno {n}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_column() {
        let src = b"read: fd == 0\n\twrite: fdx == 1\n";
        let e = compile_policy(src, tables::NATIVE).unwrap_err();
        let text = render_error("p.txt", src, &e);
        assert_eq!(
            text,
            "p.txt:2:9: unknown field\n    \twrite: fdx == 1\n    \t       ^\n"
        );
    }

    #[test]
    fn caret_at_end_of_text() {
        let src = b"read: fd == 0 &&";
        let e = compile_policy(src, tables::NATIVE).unwrap_err();
        let text = render_error("-", src, &e);
        assert_eq!(
            text,
            "-:1:17: expected a comparison, 1, 0, '!' or '('\n    read: fd == 0 &&\n                    ^\n"
        );
    }

    #[test]
    fn event_fields_parse() {
        let a = tables::NATIVE;
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = event_args(
            a,
            Event::FileOpen,
            &args(&["path=/etc/passwd", "flags=O_WRONLY|O_CLOEXEC"]),
        )
        .unwrap();
        assert_eq!(e.path.as_deref(), Some(&b"/etc/passwd"[..]));
        assert_eq!(e.flags, 1 | 0o2000000);
        let e = event_args(a, Event::FileOpen, &[]).unwrap();
        assert_eq!(e.path, None);
        let e = event_args(
            a,
            Event::SocketConnect,
            &args(&["family=AF_INET", "addr=127.0.0.1", "port=8080"]),
        )
        .unwrap();
        assert_eq!((e.family, e.port), (2, 8080));
        assert_eq!(
            e.addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]
        );
        assert_eq!(e.path.as_deref(), Some(&b""[..]));
        let e = event_args(
            a,
            Event::SocketBind,
            &args(&["path=\\x00a\\n=", "addr=::1"]),
        )
        .unwrap();
        assert_eq!(e.path.as_deref(), Some(&b"\0a\n="[..]));
        assert_eq!(e.addr[15], 1);
        assert_eq!(e.input().path, Some(&b"\0a\n="[..]));
        assert!(event_args(a, Event::Exec, &args(&["flags=0"])).is_err());
        assert!(event_args(a, Event::Exec, &args(&["path"])).is_err());
        assert!(event_args(a, Event::SocketBind, &args(&["addr=1.2.3"])).is_err());
        assert!(event_args(a, Event::SocketBind, &args(&["port=x"])).is_err());
        for bad in ["\\", "\\q", "\\x4", "\\xzz"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_path("a\\tb\\\\c\\\"").unwrap(), b"a\tb\\c\"");
    }

    #[test]
    fn values() {
        let a = tables::NATIVE;
        assert_eq!(parse_value(a, "10"), Ok(10));
        assert_eq!(parse_value(a, "0x10"), Ok(16));
        assert_eq!(parse_value(a, "010"), Ok(8));
        assert_eq!(parse_value(a, "-1"), Ok(u64::MAX));
        assert_eq!(parse_value(a, "NULL"), Ok(0));
        assert_eq!(parse_value(a, "O_CLOEXEC"), Ok(0o2000000));
        assert!(parse_value(a, "x").is_err());
        assert!(parse_value(a, "-").is_err());
        assert!(parse_value(a, "99999999999999999999").is_err());
    }
}
