//! LSM-hook events: the four events a policy can have rules for besides
//! syscalls, their fields, and what a hook hands the evaluator
//! ([`EventInput`]). A leaf: imports nothing from the pipeline.
//!
//! | event | fields |
//! | --- | --- |
//! | `file_open` | `path` (string), `flags` (`u32`) |
//! | `exec` | `path` (string) |
//! | `socket_connect`, `socket_bind` | `family` (`u16`), `port` (`u16`), `addr` (IP address), `path` (string) |

use super::uapi::tables::ArgType;

/// An LSM-hook event a policy can have rules for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Event {
    /// A file is opened (`security_file_open`).
    FileOpen = 0,
    /// A program is executed (`security_bprm_check`).
    Exec = 1,
    /// A socket connects (`security_socket_connect`).
    SocketConnect = 2,
    /// A socket is bound (`security_socket_bind`).
    SocketBind = 3,
}

/// Number of events.
pub(crate) const EVENTS: usize = 4;

impl Event {
    /// Every event, in number order (the order of the canonical text).
    pub const ALL: [Event; EVENTS] = [
        Event::FileOpen,
        Event::Exec,
        Event::SocketConnect,
        Event::SocketBind,
    ];

    /// The event's name in a policy.
    pub fn name(self) -> &'static str {
        match self {
            Event::FileOpen => "file_open",
            Event::Exec => "exec",
            Event::SocketConnect => "socket_connect",
            Event::SocketBind => "socket_bind",
        }
    }

    /// The event called `name` (exactly; no `sys_` prefix).
    pub fn from_name(name: &[u8]) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name().as_bytes() == name)
    }

    /// `1 << (self as u8)`: the event's bit in [`Program::event_mask`](super::Program::event_mask).
    pub fn bit(self) -> u32 {
        1 << (self as u8)
    }

    /// The event numbered `i` (its `as u8` value).
    pub(crate) fn from_index(i: usize) -> Option<Event> {
        Event::ALL.get(i).copied()
    }

    /// The event's fields.
    pub(crate) fn fields(self) -> &'static [Field] {
        match self {
            Event::FileOpen => &[PATH, FLAGS],
            Event::Exec => &[PATH],
            Event::SocketConnect | Event::SocketBind => &[FAMILY, PORT, ADDR, PATH],
        }
    }

    /// The field named `name`.
    pub(crate) fn field(self, name: &[u8]) -> Option<Field> {
        self.fields()
            .iter()
            .copied()
            .find(|f| f.name.as_bytes() == name)
    }

    /// The field whose id is `id` (for printing).
    pub(crate) fn field_by_id(self, id: u8) -> Option<Field> {
        self.fields().iter().copied().find(|f| f.id == id)
    }
}

/// What a hook saw, in the kernel's own copy of the object (fields an
/// event does not have are ignored).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EventInput<'a> {
    /// `file_open`, `exec`: the path (`d_path` from the task's root);
    /// `socket_*`: the `AF_UNIX` `sun_path` (pathname sockets up to the
    /// first NUL, abstract ones as their raw bytes starting with `\0`), and
    /// `Some(b"")` for every other family. `None` = unavailable (say,
    /// longer than `PATH_MAX`): a layer with rules for the event then gives
    /// its default action whatever its expressions.
    pub path: Option<&'a [u8]>,
    /// `file_open`: the file's `f_flags`.
    pub flags: u64,
    /// `socket_*`: the address family.
    pub family: u64,
    /// `socket_*`: the port, host order.
    pub port: u64,
    /// `socket_*`: the IPv6 address bytes; IPv4 as `::ffff:a.b.c.d`; zero
    /// otherwise.
    pub addr: [u8; 16],
}

/// How a field's value is read and compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FieldKind {
    /// A string: `==`, `!=`, `~`.
    Str,
    /// An IP address: `==`, `!=`, `in` (CIDR).
    Addr,
    /// An integer of this C type: every numeric operator.
    Num(ArgType),
}

/// One field of an event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Field {
    /// Its name in a policy.
    pub(crate) name: &'static str,
    /// Its id: the argument index of its compiled predicates.
    pub(crate) id: u8,
    /// Its kind.
    pub(crate) kind: FieldKind,
}

/// Field ids (the `arg` of an event predicate).
pub(crate) mod field_id {
    /// `path`
    pub(crate) const PATH: u8 = 0;
    /// `flags`
    pub(crate) const FLAGS: u8 = 1;
    /// `family`
    pub(crate) const FAMILY: u8 = 2;
    /// `port`
    pub(crate) const PORT: u8 = 3;
    /// `addr`
    pub(crate) const ADDR: u8 = 4;
}

const PATH: Field = Field {
    name: "path",
    id: field_id::PATH,
    kind: FieldKind::Str,
};
const FLAGS: Field = Field {
    name: "flags",
    id: field_id::FLAGS,
    kind: FieldKind::Num(ArgType::U32),
};
const FAMILY: Field = Field {
    name: "family",
    id: field_id::FAMILY,
    kind: FieldKind::Num(ArgType::U16),
};
const PORT: Field = Field {
    name: "port",
    id: field_id::PORT,
    kind: FieldKind::Num(ArgType::U16),
};
const ADDR: Field = Field {
    name: "addr",
    id: field_id::ADDR,
    kind: FieldKind::Addr,
};

impl EventInput<'_> {
    /// The numeric field with id `id`, as a register (`None`: not numeric).
    #[inline(always)]
    pub(crate) fn reg(&self, id: u8) -> Option<u64> {
        match id {
            field_id::FLAGS => Some(self.flags),
            field_id::FAMILY => Some(self.family),
            field_id::PORT => Some(self.port),
            _ => None,
        }
    }
}
