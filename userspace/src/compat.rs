//! Policies built from pairs, text or files (with `@include`), and
//! installing them with a compatibility choice in the spirit of the
//! `landlock` crate: a [`Compatibility::HardRequirement`] fails unless the
//! whole policy is enforced; [`Compatibility::BestEffort`] installs what
//! the running module supports and says what it enforced in a [`Status`]
//! (never a silent success that enforced nothing).
//!
//! ```no_run
//! use strbox::{Compatibility, Enforced, Policy, Sandbox};
//! let policy = Policy::from_pairs(&[("sys_read", "fd == 0"), ("sys_write", "fd == 1")])?;
//! assert_eq!(policy.text(), b"read: fd == 0\nwrite: fd == 1\n");
//! let status = Sandbox::from_policy(&policy)
//!     .no_new_privs(true)
//!     .compatibility(Compatibility::BestEffort)
//!     .apply()?;
//! if let Enforced::Partial(why) | Enforced::None(why) = &status.enforced {
//!     eprintln!("warning: {why}");
//! }
//! # Ok::<(), strbox::Error>(())
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use strbox_filter::uapi::tables::{self, Arch};
use strbox_filter::{Event, Program};

use crate::include::{self, IncludeError, Source, SourceMap};
use crate::{policy, InstallError, PolicyError};

/// The first ABI version with LSM-hook event rules (`file_open`, ...).
pub const ABI_EVENTS: u32 = 2;
/// The first ABI version with per-rule actions (`=>`) and `default allow`.
pub const ABI_ACTIONS: u32 = 3;

/// What to do when the running kernel cannot enforce the whole policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compatibility {
    /// Fail ([`Error::ModuleNotLoaded`], [`Error::AbiTooOld`]) unless the
    /// module is loaded and supports everything the policy uses.
    #[default]
    HardRequirement,
    /// Install what the module supports (the syscall rules without the
    /// event rules when the module predates events; nothing when it is not
    /// loaded) and say so in [`Status::enforced`].
    BestEffort,
}

/// How much of a policy is enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enforced {
    /// All of it.
    Full,
    /// A layer is installed, but without what the reason names.
    Partial(String),
    /// Nothing is installed, for the reason given.
    None(String),
}

/// What enforces the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The strbox kernel module (`PR_SECCOMP_SET`).
    Strbox,
    /// A seccomp-bpf filter generated from the same compiled policy
    /// (`strbox-bpf`): the same verdict for every syscall, but no event
    /// rules (seccomp sees registers, not the paths and addresses the LSM
    /// hooks see).
    Seccomp,
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// The strbox module (the default).
    #[default]
    Strbox,
    /// seccomp-bpf, on any kernel since 3.5 (the action cache needs 5.11).
    Seccomp,
    /// The module when it is loaded and supports the policy, else
    /// seccomp-bpf.
    Auto,
}

/// The outcome of an install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// How much is enforced.
    pub enforced: Enforced,
    /// By what.
    pub backend: Backend,
    /// The module's ABI version (`None`: not loaded).
    pub abi: Option<u32>,
}

/// What a policy needs from the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirements {
    /// The lowest ABI version that enforces all of it.
    pub abi: u32,
    /// The [`Event::bit`]s of the events it has rules for.
    pub events: u32,
    /// Whether it uses per-rule actions (`=>`) or `default allow`.
    pub actions: bool,
}

/// A policy that does not compile, located in the file the user wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedError {
    /// The file (or `<stdin>`, `<pairs>`, `<text>`).
    pub file: String,
    /// The error, its offset, line and column in that file.
    pub error: PolicyError,
    /// `FILE:LINE:COL: message`, the line and a caret.
    pub rendered: String,
}

/// Everything that can go wrong building or installing a policy.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A policy file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An `@include` line could not be expanded.
    Include(IncludeError),
    /// A pair given to [`Policy::from_pairs`] cannot be one rule: its name
    /// is empty or contains `:`, or one of them contains a newline.
    Pair {
        /// The pair's index.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The policy does not compile.
    Policy(LocatedError),
    /// The strbox module is not loaded (hard requirement).
    ModuleNotLoaded,
    /// The module's ABI predates something the policy uses (hard
    /// requirement).
    AbiTooOld {
        /// The module's version.
        have: u32,
        /// The version the policy needs.
        need: u32,
        /// What needs it.
        feature: &'static str,
    },
    /// `PR_SET_NO_NEW_PRIVS` failed.
    NoNewPrivs(io::Error),
    /// The policy has no seccomp-bpf equivalent (event rules with a hard
    /// requirement; a filter beyond `BPF_MAXINSNS`).
    Seccomp(strbox_bpf::Error),
    /// The kernel refused the seccomp filter (`seccomp(2)`'s errno).
    SeccompInstall(io::Error),
    /// The kernel refused the layer (`PR_SECCOMP_SET`); its policy error,
    /// if any, is located in the file the user wrote.
    Install {
        /// The kernel's answer.
        error: InstallError,
        /// Its policy error in the user's file, if any.
        located: Option<LocatedError>,
    },
}

impl Error {
    /// A report for a terminal: a policy or `@include` error with its
    /// source line and a caret, anything else as one line. Ends with a
    /// newline.
    pub fn render(&self) -> String {
        match self {
            Error::Policy(l)
            | Error::Install {
                located: Some(l), ..
            } => l.rendered.clone(),
            Error::Include(e) => e.render(),
            _ => format!("{self}\n"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Include(e) => write!(f, "{e}"),
            Error::Pair { index, reason } => write!(f, "pair {index}: {reason}"),
            Error::Policy(l) => write!(
                f,
                "{}:{}:{}: {}",
                l.file,
                l.error.line,
                l.error.column,
                l.error.message()
            ),
            Error::ModuleNotLoaded => write!(
                f,
                "the strbox kernel module is not loaded (PR_STRBOX_ABI_VERSION failed)"
            ),
            Error::AbiTooOld {
                have,
                need,
                feature,
            } => write!(
                f,
                "the strbox module's ABI version is {have}; {feature} need version {need}"
            ),
            Error::NoNewPrivs(e) => write!(f, "PR_SET_NO_NEW_PRIVS: {e}"),
            Error::Seccomp(e) => write!(f, "seccomp backend: {e}"),
            Error::SeccompInstall(e) => write!(f, "seccomp(SECCOMP_SET_MODE_FILTER): {e}"),
            Error::Install {
                located: Some(l), ..
            } => write!(
                f,
                "policy rejected by the kernel: {}:{}:{}: {}",
                l.file,
                l.error.line,
                l.error.column,
                l.error.message()
            ),
            Error::Install { error, .. } => write!(f, "PR_SECCOMP_SET: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            Error::Include(e) => Some(e),
            Error::NoNewPrivs(e) => Some(e),
            Error::Seccomp(e) => Some(e),
            Error::SeccompInstall(e) => Some(e),
            Error::Install { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<IncludeError> for Error {
    fn from(e: IncludeError) -> Error {
        Error::Include(e)
    }
}

/// A policy text (after `@include` expansion) and where its bytes came
/// from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    text: Vec<u8>,
    map: SourceMap,
}

impl Policy {
    /// Ingo Molnar's form: `(syscall, filter)` pairs, one rule each, in
    /// order. A `sys_` prefix is dropped (`("sys_read", "fd == 0")` is
    /// `read: fd == 0`); names may also be events (`file_open`).
    pub fn from_pairs<N: AsRef<str>, F: AsRef<str>>(pairs: &[(N, F)]) -> Result<Policy, Error> {
        let mut text = String::new();
        for (index, (name, filter)) in pairs.iter().enumerate() {
            let (name, filter) = (name.as_ref().trim(), filter.as_ref().trim());
            let name = name.strip_prefix("sys_").unwrap_or(name);
            let reason = if name.is_empty() {
                Some("empty syscall name")
            } else if name.contains(':') || name.contains('#') {
                Some("the name contains ':' or '#'")
            } else if name.contains('\n') || filter.contains('\n') {
                Some("a newline would start another rule")
            } else if filter.is_empty() {
                Some("empty filter (write 1 to allow the syscall whatever its arguments)")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::Pair { index, reason });
            }
            text.push_str(name);
            text.push_str(": ");
            text.push_str(filter);
            text.push('\n');
        }
        Ok(Policy::named("<pairs>", text.into_bytes()))
    }

    /// A policy text as is (no `@include` expansion: the text has no
    /// directory to resolve paths from), named `<text>` in errors.
    pub fn from_text(text: impl Into<Vec<u8>>) -> Policy {
        Policy::named("<text>", text.into())
    }

    /// A policy text named `name` in errors, unexpanded.
    pub fn named(name: &str, text: Vec<u8>) -> Policy {
        let map = SourceMap::single(name, &text);
        Policy { text, map }
    }

    /// A policy text named `name`, its `@include` lines expanded relative
    /// to `dir`.
    pub fn from_source(name: &str, text: Vec<u8>, dir: &Path) -> Result<Policy, Error> {
        let (text, map) = include::expand(name, text, dir, None)?;
        Ok(Policy { text, map })
    }

    /// Reads `path` and expands its `@include` lines (relative to the
    /// including file, at most [`MAX_INCLUDE_DEPTH`](crate::MAX_INCLUDE_DEPTH)
    /// deep, cycles refused).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, Error> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let identity = std::fs::canonicalize(path).ok();
        let (text, map) = include::expand(&path.display().to_string(), text, dir, identity)?;
        Ok(Policy { text, map })
    }

    /// The text handed to the kernel (includes expanded).
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The files the policy was read from, the top one first.
    pub fn sources(&self) -> &[Source] {
        &self.map.sources
    }

    /// A compile error of [`Policy::text`] (offset, line and column in the
    /// expanded text) located in the file the user wrote.
    pub fn locate(&self, e: &PolicyError) -> LocatedError {
        let (src, mapped) = self.map.locate(e);
        LocatedError {
            file: src.name.clone(),
            error: mapped,
            rendered: policy::render_error(&src.name, &src.text, &mapped),
        }
    }

    /// Compiles the policy for `arch` on the host (the kernel compiles the
    /// same text with the same code).
    pub fn compile(&self, arch: &'static Arch) -> Result<Box<Program>, Error> {
        policy::compile_policy(&self.text, arch).map_err(|e| Error::Policy(self.locate(&e)))
    }

    /// What the policy needs from the module: events need ABI
    /// [`ABI_EVENTS`] (from the compiled program's event mask), per-rule
    /// actions and `default allow` need [`ABI_ACTIONS`] (a textual check:
    /// `=>` outside strings and comments, or a `default allow` line).
    pub fn requirements(&self) -> Result<Requirements, Error> {
        let prog = self.compile(tables::NATIVE)?;
        Ok(requirements(&prog, &self.text))
    }

    /// Decides what to install on a module of ABI version `abi` (`None`:
    /// not loaded): the text to install (`None`: nothing) and the status
    /// it gives once installed. [`Sandbox::apply`] is this plus the
    /// install; `strbox run` uses it to prepare a child before forking.
    pub fn plan(&self, compat: Compatibility, abi: Option<u32>) -> Result<Plan, Error> {
        self.plan_for(BackendChoice::Strbox, compat, abi)
    }

    /// [`Policy::plan`] for a backend choice: [`BackendChoice::Auto`]
    /// takes the module when it is loaded and its ABI supports the
    /// policy, else seccomp-bpf.
    pub fn plan_for(
        &self,
        backend: BackendChoice,
        compat: Compatibility,
        abi: Option<u32>,
    ) -> Result<Plan, Error> {
        let prog = self.compile(tables::NATIVE)?;
        let req = requirements(&prog, &self.text);
        let seccomp = match backend {
            BackendChoice::Strbox => false,
            BackendChoice::Seccomp => true,
            BackendChoice::Auto => abi.is_none_or(|have| have < req.abi),
        };
        if seccomp {
            return seccomp_plan(&prog, compat, abi);
        }
        let status = |enforced| Status {
            enforced,
            backend: Backend::Strbox,
            abi,
        };
        let Some(have) = abi else {
            return match compat {
                Compatibility::HardRequirement => Err(Error::ModuleNotLoaded),
                Compatibility::BestEffort => Ok(Plan {
                    text: None,
                    bpf: None,
                    status: status(Enforced::None(
                        "the strbox kernel module is not loaded: nothing is enforced".into(),
                    )),
                }),
            };
        };
        if have >= req.abi {
            return Ok(Plan {
                text: Some(self.text.clone()),
                bpf: None,
                status: status(Enforced::Full),
            });
        }
        let (need, feature) = if req.actions && have < ABI_ACTIONS {
            (ABI_ACTIONS, "per-rule actions (=>) and `default allow`")
        } else {
            (
                ABI_EVENTS,
                "event rules (file_open, exec, socket_connect, socket_bind)",
            )
        };
        if compat == Compatibility::HardRequirement {
            return Err(Error::AbiTooOld {
                have,
                need,
                feature,
            });
        }
        if need == ABI_ACTIONS {
            return Ok(Plan {
                text: None,
                bpf: None,
                status: status(Enforced::None(format!(
                    "the policy uses {feature}, which need ABI {need} (the module has {have}): nothing is enforced"
                ))),
            });
        }
        match without_events(&prog) {
            Some(text) => Ok(Plan {
                text: Some(text.into_bytes()),
                bpf: None,
                status: status(Enforced::Partial(format!(
                    "{} rules not enforced: events need ABI {ABI_EVENTS}, the module has {have}",
                    event_names(req.events)
                ))),
            }),
            None => Ok(Plan {
                text: None,
                bpf: None,
                status: status(Enforced::None(format!(
                    "the policy has only event rules ({}), which need ABI {ABI_EVENTS} (the module has {have}): nothing is enforced",
                    event_names(req.events)
                ))),
            }),
        }
    }
}

/// What [`Policy::plan`] decided: at most one of `text` and `bpf`.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The text to install with `PR_SECCOMP_SET`, or `None`.
    pub text: Option<Vec<u8>>,
    /// The seccomp-bpf filter to install, or `None`.
    pub bpf: Option<Vec<strbox_bpf::Insn>>,
    /// The status once it is installed.
    pub status: Status,
}

/// The seccomp-bpf plan for a compiled policy: the whole policy, or with
/// [`Compatibility::BestEffort`] its syscall rules without its event
/// rules (which seccomp cannot see).
fn seccomp_plan(prog: &Program, compat: Compatibility, abi: Option<u32>) -> Result<Plan, Error> {
    let arch = tables::NATIVE;
    let status = |enforced| Status {
        enforced,
        backend: Backend::Seccomp,
        abi,
    };
    let events = prog.event_mask();
    if events == 0 || compat == Compatibility::HardRequirement {
        let bpf =
            strbox_bpf::generate(prog, arch, strbox_bpf::Layout::Tree).map_err(Error::Seccomp)?;
        return Ok(Plan {
            text: None,
            bpf: Some(bpf),
            status: status(Enforced::Full),
        });
    }
    let why = format!(
        "{} rules not enforced: seccomp-bpf sees syscall registers, not paths or addresses",
        event_names(events)
    );
    let Some(text) = without_events(prog) else {
        return Ok(Plan {
            text: None,
            bpf: None,
            status: status(Enforced::None(format!(
                "the policy has only event rules ({}), which seccomp-bpf cannot enforce: nothing is enforced",
                event_names(events)
            ))),
        });
    };
    let syscalls_only = crate::policy::compile_policy(text.as_bytes(), arch).map_err(|e| {
        Error::Policy(Policy::named("<syscall rules>", text.clone().into_bytes()).locate(&e))
    })?;
    let bpf = strbox_bpf::generate(&syscalls_only, arch, strbox_bpf::Layout::Tree)
        .map_err(Error::Seccomp)?;
    Ok(Plan {
        text: None,
        bpf: Some(bpf),
        status: status(Enforced::Partial(why)),
    })
}

/// The requirements of a compiled program and its text.
pub fn requirements(prog: &Program, text: &[u8]) -> Requirements {
    let events = prog.event_mask();
    let actions = uses_actions(text);
    let abi = if actions {
        ABI_ACTIONS
    } else if events != 0 {
        ABI_EVENTS
    } else {
        1
    };
    Requirements {
        abi,
        events,
        actions,
    }
}

/// `file_open, exec` for an event mask.
fn event_names(mask: u32) -> String {
    let names: Vec<&str> = Event::ALL
        .iter()
        .filter(|e| mask & e.bit() != 0)
        .map(|e| e.name())
        .collect();
    names.join(", ")
}

/// The canonical text of `prog` without its event rules, or `None` when
/// it has no syscall rules (an event-only layer leaves syscalls alone).
fn without_events(prog: &Program) -> Option<String> {
    if prog.syscalls_unrestricted() {
        return None;
    }
    let text = policy::canonical(prog, tables::NATIVE);
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| {
            !Event::ALL.iter().any(|e| {
                line.strip_prefix(e.name())
                    .is_some_and(|r| r.starts_with(':'))
            })
        })
        .collect();
    Some(kept)
}

/// Whether `text` uses per-rule actions (`=>` outside strings and
/// comments) or a `default allow` line.
pub fn uses_actions(text: &[u8]) -> bool {
    for line in text.split(|&b| b == b'\n') {
        let mut words = line
            .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
            .filter(|w| !w.is_empty());
        if words.next() == Some(b"default") && words.next() == Some(b"allow") {
            return true;
        }
        let mut in_str = false;
        let mut i = 0;
        while i < line.len() {
            match (in_str, line[i]) {
                (false, b'#') => break,
                (false, b'"') => in_str = true,
                (false, b'=') if line.get(i + 1) == Some(&b'>') => return true,
                (true, b'\\') => i += 1,
                (true, b'"') => in_str = false,
                _ => {}
            }
            i += 1;
        }
    }
    false
}

impl crate::Sandbox<'_> {
    /// A sandbox for `policy` (its expanded text), with the default
    /// compatibility ([`Compatibility::HardRequirement`]).
    pub fn from_policy(policy: &Policy) -> crate::Sandbox<'_> {
        let mut s = crate::Sandbox::new(&policy.text);
        s.source = Some(policy);
        s
    }

    /// What to do when the module cannot enforce all of the policy (only
    /// [`Sandbox::apply`](crate::Sandbox::apply) looks at it).
    pub fn compatibility(mut self, compat: Compatibility) -> Self {
        self.compat = compat;
        self
    }

    /// Which backend enforces the policy (only
    /// [`Sandbox::apply`](crate::Sandbox::apply) looks at it; default
    /// [`BackendChoice::Strbox`]). [`Status::backend`] says which one did.
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.backend = backend;
        self
    }

    /// Installs the layer according to the compatibility choice, after
    /// checking the policy on the host: `Ok(status)` says how much is
    /// enforced (with [`Compatibility::HardRequirement`] always
    /// [`Enforced::Full`]). A module that lacks a hook the policy's events
    /// need (`EOPNOTSUPP`) is, with [`Compatibility::BestEffort`], retried
    /// without the event rules.
    pub fn apply(&self) -> Result<Status, Error> {
        let owned;
        let policy = match self.source {
            Some(p) => p,
            None => {
                owned = Policy::named("<text>", self.policy.to_vec());
                &owned
            }
        };
        let plan = policy.plan_for(self.backend, self.compat, crate::abi_version())?;
        if let Some(bpf) = &plan.bpf {
            if self.no_new_privs {
                crate::set_no_new_privs().map_err(Error::NoNewPrivs)?;
            }
            let flags = if self.tsync {
                strbox_bpf::install::FLAG_TSYNC
            } else {
                0
            };
            strbox_bpf::install_with(bpf, flags).map_err(|e| {
                Error::SeccompInstall(if e < 0 {
                    io::Error::other(format!("TSYNC: thread {} could not be synchronised", -e))
                } else {
                    io::Error::from_raw_os_error(e)
                })
            })?;
            return Ok(plan.status);
        }
        let Some(text) = &plan.text else {
            return Ok(plan.status);
        };
        if self.no_new_privs {
            crate::set_no_new_privs().map_err(Error::NoNewPrivs)?;
        }
        let located = |error: InstallError| {
            let located = error
                .policy
                .filter(|_| text == policy.text())
                .map(|e| policy.locate(&e));
            Error::Install { error, located }
        };
        match crate::install_raw(text, self.flags()) {
            Ok(()) => Ok(plan.status),
            Err(e)
                if e.errno == libc::EOPNOTSUPP
                    && self.compat == Compatibility::BestEffort
                    && plan.status.enforced == Enforced::Full =>
            {
                let prog = policy.compile(tables::NATIVE)?;
                let mut status = plan.status.clone();
                match without_events(&prog) {
                    Some(t) => {
                        crate::install_raw(t.as_bytes(), self.flags()).map_err(located)?;
                        status.enforced = Enforced::Partial(format!(
                            "{} rules not enforced: this kernel lacks a hook they need",
                            event_names(prog.event_mask())
                        ));
                    }
                    None => {
                        status.enforced = Enforced::None(format!(
                            "this kernel lacks a hook the event rules ({}) need: nothing is enforced",
                            event_names(prog.event_mask())
                        ));
                    }
                }
                Ok(status)
            }
            Err(e) => Err(located(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_INCLUDE_DEPTH as MAX_DEPTH;

    #[test]
    fn pairs_form() {
        let p = Policy::from_pairs(&[("sys_read", "fd == 0"), ("sys_write", "fd == 1")]).unwrap();
        assert_eq!(p.text(), b"read: fd == 0\nwrite: fd == 1\n");
        assert!(p.compile(tables::NATIVE).is_ok());
        let owned = vec![("exit_group".to_string(), "1".to_string())];
        assert_eq!(
            Policy::from_pairs(&owned).unwrap().text(),
            b"exit_group: 1\n"
        );
        for bad in [
            ("", "1"),
            ("read", ""),
            ("read", "1\nwrite: 1"),
            ("a:b", "1"),
        ] {
            assert!(matches!(
                Policy::from_pairs(&[("getpid", "1"), bad]),
                Err(Error::Pair { index: 1, .. })
            ));
        }
        let e = Policy::from_pairs(&[("read", "fd = 0")])
            .unwrap()
            .compile(tables::NATIVE)
            .unwrap_err();
        assert_eq!(
            e.render(),
            "<pairs>:1:10: invalid operator\n    read: fd = 0\n             ^\n"
        );
    }

    #[test]
    fn action_detection() {
        assert!(!uses_actions(
            b"read: fd == 0\n# a => b\nfile_open: path == \"=>\"\n"
        ));
        assert!(uses_actions(b"read: fd == 0 => errno EPERM\n"));
        assert!(uses_actions(b"  default   allow\n"));
        assert!(!uses_actions(b"default kill\n"));
    }

    #[test]
    fn requirements_and_plans() {
        let sys = Policy::from_text("read: 1\n");
        let ev = Policy::from_text("read: 1\nfile_open: path == \"/x\"\n");
        let ev_only = Policy::from_text("exec: 0\n");
        assert_eq!(sys.requirements().unwrap().abi, 1);
        let r = ev.requirements().unwrap();
        assert_eq!(
            (r.abi, r.events, r.actions),
            (2, Event::FileOpen.bit(), false)
        );

        let hard = Compatibility::HardRequirement;
        let best = Compatibility::BestEffort;
        assert!(matches!(sys.plan(hard, None), Err(Error::ModuleNotLoaded)));
        let p = sys.plan(best, None).unwrap();
        assert_eq!(p.text, None);
        assert!(matches!(p.status.enforced, Enforced::None(_)));
        assert_eq!(p.status.abi, None);

        let p = ev.plan(hard, Some(2)).unwrap();
        assert_eq!(p.text.as_deref(), Some(ev.text()));
        assert_eq!(p.status.enforced, Enforced::Full);
        assert!(matches!(
            ev.plan(hard, Some(1)),
            Err(Error::AbiTooOld {
                have: 1,
                need: 2,
                ..
            })
        ));
        let p = ev.plan(best, Some(1)).unwrap();
        assert_eq!(p.text.as_deref(), Some(&b"default kill\nread: 1\n"[..]));
        match p.status.enforced {
            Enforced::Partial(why) => assert!(why.contains("file_open"), "{why}"),
            other => panic!("{other:?}"),
        }
        let p = ev_only.plan(best, Some(1)).unwrap();
        assert_eq!(p.text, None);
        assert!(matches!(p.status.enforced, Enforced::None(_)));

        // Actions and `default allow` need ABI 3: nothing less enforces
        // them, not even in part.
        for text in [
            "default allow\nptrace: 1 => kill\n",
            "read: fd == 0 => errno EPERM\nread: 1\n",
        ] {
            let act = Policy::from_text(text);
            let r = act.requirements().unwrap();
            assert_eq!((r.abi, r.actions), (ABI_ACTIONS, true), "{text}");
            assert_eq!(
                act.plan(hard, Some(3)).unwrap().status.enforced,
                Enforced::Full
            );
            assert!(matches!(
                act.plan(hard, Some(2)),
                Err(Error::AbiTooOld {
                    have: 2,
                    need: 3,
                    ..
                })
            ));
            let p = act.plan(best, Some(2)).unwrap();
            assert_eq!(p.text, None);
            assert!(matches!(p.status.enforced, Enforced::None(_)));
        }
    }

    #[test]
    fn errors_display() {
        let e = Error::AbiTooOld {
            have: 1,
            need: 2,
            feature: "event rules",
        };
        assert_eq!(
            e.to_string(),
            "the strbox module's ABI version is 1; event rules need version 2"
        );
        assert!(Error::ModuleNotLoaded.to_string().contains("not loaded"));
        let e: Box<dyn std::error::Error> = Box::new(Error::ModuleNotLoaded);
        assert!(e.source().is_none());
    }

    /// A fresh directory under the system's temporary one.
    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("strbox-lib-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn include_relative_to_the_including_file() {
        let d = tmpdir("rel");
        std::fs::create_dir_all(d.join("sub/inner")).unwrap();
        std::fs::write(
            d.join("top.p"),
            "# top\n@include \"sub/a.p\"\nexit_group: 1\n",
        )
        .unwrap();
        std::fs::write(
            d.join("sub/a.p"),
            "  @include \"inner/b.p\" # nested\nwrite: fd == 1",
        )
        .unwrap();
        std::fs::write(d.join("sub/inner/b.p"), "read: fd == 0\n").unwrap();
        let p = Policy::from_file(d.join("top.p")).unwrap();
        assert_eq!(
            p.text(),
            b"# top\nread: fd == 0\nwrite: fd == 1\nexit_group: 1\n"
        );
        assert_eq!(p.sources().len(), 3);
        assert!(p.compile(tables::NATIVE).is_ok());
    }

    #[test]
    fn include_error_names_the_included_file() {
        let d = tmpdir("loc");
        std::fs::write(
            d.join("top.p"),
            "read: 1\n@include \"b.p\"\nwrite: fd == 1\nopenat: x\n",
        )
        .unwrap();
        std::fs::write(d.join("b.p"), "# b\ngetpid: 1\n\tkill: pid === 1\n").unwrap();
        let p = Policy::from_file(d.join("top.p")).unwrap();
        let e = p.compile(tables::NATIVE).unwrap_err();
        let b = d.join("b.p").display().to_string();
        assert_eq!(
            e.render(),
            format!("{b}:3:14: invalid operator\n    \tkill: pid === 1\n    \t            ^\n")
        );
        match &e {
            Error::Policy(l) => assert_eq!(
                (l.file.as_str(), l.error.line, l.error.column),
                (b.as_str(), 3, 14)
            ),
            other => panic!("{other:?}"),
        }
        // After the include, errors are in the top file again.
        std::fs::write(d.join("b.p"), "getpid: 1").unwrap();
        let p = Policy::from_file(d.join("top.p")).unwrap();
        let e = p.compile(tables::NATIVE).unwrap_err();
        let top = d.join("top.p").display().to_string();
        assert!(
            e.render().starts_with(&format!("{top}:4:9: ")),
            "{}",
            e.render()
        );
    }

    #[test]
    fn include_errors_name_the_including_line() {
        let d = tmpdir("inc");
        std::fs::write(d.join("top.p"), "read: 1\n@include \"missing.p\"\n").unwrap();
        let e = Policy::from_file(d.join("top.p")).unwrap_err();
        let top = d.join("top.p").display().to_string();
        assert!(
            matches!(&e, Error::Include(i) if matches!(i.kind, crate::IncludeErrorKind::Read(..)))
        );
        assert!(
            e.to_string()
                .starts_with(&format!("{top}:2:10: cannot include ")),
            "{e}"
        );
        assert!(
            e.render()
                .ends_with("\n    @include \"missing.p\"\n             ^\n"),
            "{}",
            e.render()
        );

        std::fs::write(d.join("top.p"), "@inclde \"x\"\n").unwrap();
        let e = Policy::from_file(d.join("top.p")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{top}:1:1: unknown directive")),
            "{e}"
        );

        // A cycle: top -> a -> top.
        std::fs::write(d.join("top.p"), "read: 1\n@include \"a.p\"\n").unwrap();
        std::fs::write(d.join("a.p"), "\n\n@include \"./top.p\"\n").unwrap();
        let e = Policy::from_file(d.join("top.p")).unwrap_err();
        let a = d.join("a.p").display().to_string();
        assert!(
            e.to_string()
                .starts_with(&format!("{a}:3:10: @include cycle: {top} -> ")),
            "{e}"
        );
        // Including oneself.
        std::fs::write(d.join("a.p"), "@include \"a.p\"\n").unwrap();
        std::fs::write(d.join("top.p"), "@include \"a.p\"\n").unwrap();
        assert!(matches!(
            Policy::from_file(d.join("top.p")),
            Err(Error::Include(crate::IncludeError {
                kind: crate::IncludeErrorKind::Cycle(_),
                line: 1,
                ..
            }))
        ));
    }

    #[test]
    fn include_depth_limit() {
        let d = tmpdir("depth");
        // f0 includes f1 ... includes fN; fN is plain.
        let chain = |n: usize| {
            for i in 0..n {
                std::fs::write(
                    d.join(format!("f{i}.p")),
                    format!("@include \"f{}.p\"\n", i + 1),
                )
                .unwrap();
            }
            std::fs::write(d.join(format!("f{n}.p")), "read: 1\n").unwrap();
            Policy::from_file(d.join("f0.p"))
        };
        assert_eq!(chain(MAX_DEPTH).unwrap().text(), b"read: 1\n");
        let e = chain(MAX_DEPTH + 1).unwrap_err();
        let last = d.join(format!("f{MAX_DEPTH}.p")).display().to_string();
        assert!(
            e.to_string()
                .starts_with(&format!("{last}:1:1: @include nested too deep")),
            "{e}"
        );
    }

    #[test]
    fn from_source_expands_relative_to_dir() {
        let d = tmpdir("src");
        std::fs::write(d.join("a.p"), "read: 1\n").unwrap();
        let p = Policy::from_source("<stdin>", b"@include \"a.p\"\nwrite: fd = 1\n".to_vec(), &d)
            .unwrap();
        let e = p.compile(tables::NATIVE).unwrap_err();
        assert!(
            e.render().starts_with("<stdin>:2:11: invalid operator\n"),
            "{}",
            e.render()
        );
        // Plain text is not expanded.
        assert!(Policy::from_text("@include \"a.p\"\n")
            .compile(tables::NATIVE)
            .is_err());
    }
}
