//! `socket_connect` / `socket_bind` rules on loopback: IPv4, IPv6,
//! v4-mapped addresses, CIDR, AF_UNIX pathname and abstract sockets.

use std::os::fd::RawFd;

use strbox::sys;

use super::super::child::{install, spawn, Child};
use super::super::TestResult;
use super::{close, failed, fresh_dir, soft_begin, soft_end, DENY};
use crate::ensure;

const D: &str = "/tmp/evs";

/// A socket address as bytes, with its length.
#[derive(Clone)]
struct Addr {
    family: i32,
    bytes: Vec<u8>,
    what: String,
}

fn as_bytes<T>(v: &T) -> Vec<u8> {
    // SAFETY: reading the bytes of a plain-old-data sockaddr struct.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
        .to_vec()
}

fn v4(a: [u8; 4], port: u16) -> Addr {
    // SAFETY: all-zero sockaddr_in is valid.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = port.to_be();
    s.sin_addr.s_addr = u32::from_ne_bytes(a);
    Addr {
        family: libc::AF_INET,
        bytes: as_bytes(&s),
        what: format!("{}:{port}", std::net::Ipv4Addr::from(a)),
    }
}

fn v6(a: std::net::Ipv6Addr, port: u16) -> Addr {
    // SAFETY: all-zero sockaddr_in6 is valid.
    let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    s.sin6_port = port.to_be();
    s.sin6_addr.s6_addr = a.octets();
    Addr {
        family: libc::AF_INET6,
        bytes: as_bytes(&s),
        what: format!("[{a}]:{port}"),
    }
}

const LO6: std::net::Ipv6Addr = std::net::Ipv6Addr::LOCALHOST;

fn mapped(a: [u8; 4], port: u16) -> Addr {
    v6(std::net::Ipv4Addr::from(a).to_ipv6_mapped(), port)
}

/// An AF_UNIX address: a pathname (length with its NUL) or, starting with
/// a NUL byte, an abstract name (length without a terminator).
fn unix(path: &[u8]) -> Addr {
    // SAFETY: all-zero sockaddr_un is valid.
    let mut s: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    s.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, b) in s.sun_path.iter_mut().zip(path) {
        *d = *b as libc::c_char;
    }
    let off = std::mem::size_of::<libc::sa_family_t>();
    let len = off + path.len() + usize::from(path.first() != Some(&0));
    let mut bytes = as_bytes(&s);
    bytes.truncate(len);
    Addr {
        family: libc::AF_UNIX,
        bytes,
        what: format!("unix {:?}", String::from_utf8_lossy(path)),
    }
}

fn socket(family: i32) -> Result<RawFd, i32> {
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        Err(sys::errno())
    } else {
        Ok(fd)
    }
}

fn bind_fd(fd: RawFd, a: &Addr) -> Result<(), i32> {
    // SAFETY: a.bytes holds a sockaddr of its length.
    let r = unsafe {
        libc::bind(
            fd,
            a.bytes.as_ptr().cast(),
            a.bytes.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(sys::errno())
    }
}

/// A listening socket on `a` (kept open for the whole test).
fn listener(a: &Addr) -> Result<RawFd, String> {
    let fd = socket(a.family).map_err(|e| format!("socket for {}: errno {e}", a.what))?;
    let one: libc::c_int = 1;
    // SAFETY: a valid int option.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        )
    };
    bind_fd(fd, a).map_err(|e| format!("bind {}: errno {e}", a.what))?;
    // SAFETY: plain integer arguments.
    ensure!(
        unsafe { libc::listen(fd, 64) } == 0,
        "listen {}: errno {}",
        a.what,
        sys::errno()
    );
    Ok(fd)
}

/// A fresh socket's connect to `a`.
fn connect(a: &Addr) -> Result<(), i32> {
    let fd = socket(a.family)?;
    // SAFETY: a.bytes holds a sockaddr of its length.
    let r = unsafe {
        libc::connect(
            fd,
            a.bytes.as_ptr().cast(),
            a.bytes.len() as libc::socklen_t,
        )
    };
    let e = sys::errno();
    close(fd);
    if r == 0 {
        Ok(())
    } else {
        Err(e)
    }
}

/// A fresh socket's bind to `a` (the socket is closed afterwards).
fn bind(a: &Addr) -> Result<(), i32> {
    let fd = socket(a.family)?;
    let r = bind_fd(fd, a);
    close(fd);
    r
}

fn expect(what: &str, a: &Addr, r: Result<(), i32>, want: Result<(), i32>) -> Child {
    if r != want {
        return failed(format!("{what} {}: {r:?}, want {want:?}", a.what));
    }
    Ok(())
}

/// Brings the loopback interface up (and with it 127.0.0.1 and ::1).
fn lo_up() -> TestResult {
    let fd = socket(libc::AF_INET).map_err(|e| format!("socket: errno {e}"))?;
    // SAFETY: all-zero ifreq is valid; the name fits.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS with a valid ifreq.
    let r = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr) != 0 {
            -1
        } else {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr)
        }
    };
    let e = sys::errno();
    close(fd);
    ensure!(r == 0, "bringing lo up: errno {e}");
    Ok(())
}

/// Connects allowed/denied by family, address, CIDR, port and AF_UNIX path;
/// a v4-mapped IPv6 connect is judged by IPv4 rules; binds allowed/denied
/// by family, address and port (a denied AF_UNIX bind creates no socket
/// file). Kernel failures stay (ECONNREFUSED with no listener,
/// EADDRINUSE), and an event without rules stays unrestricted.
pub(super) fn events_socket_connect_bind() -> TestResult {
    lo_up()?;
    fresh_dir(D)?;
    let lo = [127, 0, 0, 1];
    // Listeners, made by this unfiltered process before any install.
    let mut fds = Vec::new();
    for a in [
        v4(lo, 8080),
        v4(lo, 8081),
        v4([0, 0, 0, 0], 8085),
        v6(LO6, 8090),
        v6(LO6, 8091),
        unix(format!("{D}/app.sock").as_bytes()),
        unix(format!("{D}/other.sock").as_bytes()),
        unix(b"\0evs-ok"),
        unix(b"\0evs-no"),
    ] {
        fds.push(listener(&a)?);
    }
    let errs: Vec<String> = [connects(), mapped_caught(), binds()]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let res = if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join(" | "))
    };
    for fd in fds {
        close(fd);
    }
    res
}

fn connects() -> TestResult {
    let lo = [127, 0, 0, 1];
    let policy = format!(
        "default errno EXDEV\n\
         socket_connect: family == AF_INET && addr == 127.0.0.1 && port == 8080\n\
         socket_connect: addr in 127.0.0.0/8 && port == 8085\n\
         socket_connect: family == AF_INET6 && addr == ::1 && port == 8090\n\
         socket_connect: family == AF_UNIX && path == \"{D}/app.sock\"\n\
         socket_connect: family == AF_UNIX && path == \"\\x00evs-ok\"\n\
         socket_connect: family == AF_INET && port == 8099\n"
    );
    spawn(|| {
        install(&policy)?;
        soft_begin();
        let deny = Err(DENY);
        for (a, want) in [
            (v4(lo, 8080), Ok(())),
            (v4(lo, 8081), deny),
            // CIDR, and the v4-mapped form of 127.0.0.1 matches it too.
            (v4(lo, 8085), Ok(())),
            (v4([127, 0, 0, 2], 8085), Ok(())),
            (mapped(lo, 8085), Ok(())),
            (mapped(lo, 8081), deny),
            // `family == AF_INET`: an AF_INET6 socket's connect is not that.
            (mapped(lo, 8080), deny),
            (v6(LO6, 8090), Ok(())),
            (v6(LO6, 8091), deny),
            (unix(format!("{D}/app.sock").as_bytes()), Ok(())),
            (unix(format!("{D}/other.sock").as_bytes()), deny),
            (unix(b"\0evs-ok"), Ok(())),
            (unix(b"\0evs-no"), deny),
            // No listener: allowed gets the kernel's ECONNREFUSED, denied
            // the policy errno (the hook runs before the connect).
            (v4(lo, 8099), Err(libc::ECONNREFUSED)),
            (v4(lo, 8098), deny),
            (unix(format!("{D}/missing.sock").as_bytes()), deny),
        ] {
            expect("connect", &a, connect(&a), want)?;
        }
        // No socket_bind rules: binds are unrestricted.
        let a = v4(lo, 9500);
        expect("bind without bind rules", &a, bind(&a), Ok(()))?;
        soft_end()
    })?
    .ok("connect rules")
}

/// An IPv4 rule catches a v4-mapped connect of an AF_INET6 socket.
fn mapped_caught() -> TestResult {
    let lo = [127, 0, 0, 1];
    spawn(|| {
        install("default errno EXDEV\nsocket_connect: !(addr in 127.0.0.0/8)\n")?;
        soft_begin();
        expect(
            "connect",
            &mapped(lo, 8080),
            connect(&mapped(lo, 8080)),
            Err(DENY),
        )?;
        expect("connect", &v4(lo, 8080), connect(&v4(lo, 8080)), Err(DENY))?;
        expect("connect", &v6(LO6, 8090), connect(&v6(LO6, 8090)), Ok(()))?;
        let a = unix(format!("{D}/app.sock").as_bytes());
        expect("connect", &a, connect(&a), Ok(()))?;
        soft_end()
    })?
    .ok("v4-mapped connect caught by an IPv4 rule")
}

fn binds() -> TestResult {
    let lo = [127, 0, 0, 1];
    let policy = format!(
        "default errno EXDEV\n\
         socket_bind: family == AF_INET6 && port >= 1024\n\
         socket_bind: family == AF_INET && addr == 127.0.0.1 && port >= 9000 && port < 9100\n\
         socket_bind: family == AF_INET && addr == 127.0.0.1 && port == 8080\n\
         socket_bind: family == AF_UNIX && path ~ \"{D}/b-ok*\"\n"
    );
    spawn(|| {
        install(&policy)?;
        soft_begin();
        let deny = Err(DENY);
        for (a, want) in [
            (v6(LO6, 9500), Ok(())),
            (v6(LO6, 1024), Ok(())),
            (v6(LO6, 1023), deny),
            (v6(LO6, 80), deny),
            (v4(lo, 9001), Ok(())),
            (v4(lo, 9099), Ok(())),
            (v4(lo, 9100), deny),
            (v4(lo, 8999), deny),
            (v4([127, 0, 0, 2], 9002), deny),
            (v4([0, 0, 0, 0], 9003), deny),
            // The kernel's own failure, under an allowing rule.
            (v4(lo, 8080), Err(libc::EADDRINUSE)),
            (unix(format!("{D}/b-ok1").as_bytes()), Ok(())),
            (unix(format!("{D}/b-no").as_bytes()), deny),
            (unix(b"\0b-ok"), deny),
        ] {
            expect("bind", &a, bind(&a), want)?;
        }
        if std::fs::symlink_metadata(format!("{D}/b-ok1")).is_err() {
            failed("the allowed AF_UNIX bind made no socket file".into())?;
        }
        if std::fs::symlink_metadata(format!("{D}/b-no")).is_ok() {
            failed("the denied AF_UNIX bind made a socket file: the bind ran".into())?;
        }
        // No socket_connect rules: connects are unrestricted.
        let a = v4(lo, 8081);
        expect("connect without connect rules", &a, connect(&a), Ok(()))?;
        soft_end()
    })?
    .ok("bind rules")
}
