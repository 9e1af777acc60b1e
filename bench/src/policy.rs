//! The benchmark's policies, and their seccomp-bpf twins.
//!
//! Each policy is written once, as strbox policy text. strbox gets that
//! text; the seccomp filter is generated from the same text by a small
//! independent front end (this file: a parser for the subset of the
//! language the benchmark uses, resolving fields, types and constants
//! through the same uapi tables) and a classic-BPF code generator in the
//! style libseccomp emits: check `arch`, load `nr`, dispatch on the number
//! (a binary-search tree of `JGE` jumps, or a linear `JEQ` chain), then per
//! syscall the argument comparisons as short-circuit jumps on 32-bit
//! halves, `RET ALLOW` or `RET ERRNO` (the policy's `default errno`).
//!
//! That the two agree is tested, not assumed: host tests run every
//! generated program in an interpreter against `strbox_filter`'s
//! evaluator on many argument vectors, and the guest test `bench_check`
//! installs both in the real kernel and compares what syscalls return.

use std::collections::BTreeMap;

use strbox_uapi::tables::{Arch, ArgType};

use super::bpf::{self, Asm, Insn, Label, Tgt, JEQ, JGE, JGT, JSET};

/// Comparison operators (the ftrace set plus strbox's `in`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&`: any bit in common
    AnyBit,
    /// `in`: every set bit of the argument is in the mask
    Subset,
}

/// One comparison of an argument, with the value already converted to
/// the argument's type (the low `width` bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cmp {
    /// Argument index `0..6`.
    pub arg: u8,
    /// Width of the argument's C type in bits (8, 16, 32 or 64).
    pub width: u32,
    /// Whether the C type is signed.
    pub signed: bool,
    /// The operator.
    pub op: Op,
    /// The constant, truncated to `width` bits.
    pub value: u64,
}

/// A rule's expression.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expr {
    /// `1` / `0`
    Const(bool),
    /// A comparison.
    Cmp(Cmp),
    /// `!e`
    Not(Box<Expr>),
    /// `a && b`
    And(Box<Expr>, Box<Expr>),
    /// `a || b`
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed policy: per syscall number, the rules that allow it (OR'ed).
#[derive(Clone, Debug)]
pub struct Policy {
    /// The errno of `default errno` (the benchmark policies all use one).
    pub errno: u16,
    /// Syscall number → (name, its rules).
    pub rules: BTreeMap<u32, (&'static str, Vec<Expr>)>,
    /// `AUDIT_ARCH_*` of the table the policy was parsed for.
    pub audit_arch: u32,
}

/// How the generated filter finds a syscall's rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    /// A binary-search tree of `JGE` jumps on the number, with linear
    /// `JEQ` leaves of at most [`LEAF`] syscalls (libseccomp's
    /// `SCMP_FLTATR_CTL_OPTIMIZE = 2` does the same kind of search).
    Tree,
    /// One `JEQ` per syscall in number order (libseccomp's default shape).
    Linear,
}

/// Largest leaf of the [`Layout::Tree`] search.
pub const LEAF: usize = 4;

// ---------------------------------------------------------------- parsing

#[derive(Clone, PartialEq, Eq, Debug)]
enum Tok {
    Ident(String),
    Num(i128),
    Sym(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    const SYMS: [&str; 14] = [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "&", "|", "!", "(", ")", "-",
    ];
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let w = &s[st..i];
            if c.is_ascii_digit() {
                let v = if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
                    i128::from_str_radix(h, 16)
                } else if w.len() > 1 && w.starts_with('0') {
                    i128::from_str_radix(&w[1..], 8)
                } else {
                    w.parse()
                };
                out.push(Tok::Num(v.map_err(|_| format!("bad number {w:?}"))?));
            } else {
                out.push(Tok::Ident(w.to_string()));
            }
        } else {
            let sym = SYMS
                .iter()
                .find(|p| s[i..].starts_with(**p))
                .ok_or_else(|| format!("unexpected {:?}", c as char))?;
            out.push(Tok::Sym(sym));
            i += sym.len();
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    arch: &'static Arch,
    sys: &'a strbox_uapi::tables::Syscall,
}

fn width_signed(t: ArgType) -> (u32, bool) {
    t.width_signed()
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn eat(&mut self, sym: &'static str) -> bool {
        if self.peek() == Some(&Tok::Sym(sym)) {
            self.pos += 1;
            return true;
        }
        false
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, String> {
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err("missing )".into());
            }
            return Ok(e);
        }
        let field = match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) if n == 0 || n == 1 => {
                self.pos += 1;
                return Ok(Expr::Const(n == 1));
            }
            Some(Tok::Ident(f)) => f,
            t => return Err(format!("expected a predicate, got {t:?}")),
        };
        self.pos += 1;
        let (arg, ty) = match self.sys.args.iter().position(|a| a.name == field) {
            Some(i) => (i as u8, self.sys.args[i].ty),
            None => match field.strip_prefix("arg").and_then(|n| n.parse::<u8>().ok()) {
                Some(i) if i < 6 => {
                    let ty = self
                        .sys
                        .args
                        .get(usize::from(i))
                        .map_or(ArgType::U64, |a| a.ty);
                    (i, ty)
                }
                _ => return Err(format!("unknown field {field}")),
            },
        };
        let op = match self.toks.get(self.pos) {
            Some(Tok::Sym("==")) => Op::Eq,
            Some(Tok::Sym("!=")) => Op::Ne,
            Some(Tok::Sym("<")) => Op::Lt,
            Some(Tok::Sym("<=")) => Op::Le,
            Some(Tok::Sym(">")) => Op::Gt,
            Some(Tok::Sym(">=")) => Op::Ge,
            Some(Tok::Sym("&")) => Op::AnyBit,
            Some(Tok::Ident(i)) if i == "in" => Op::Subset,
            t => return Err(format!("expected an operator, got {t:?}")),
        };
        self.pos += 1;
        let mut v: i128 = self.term()?;
        while self.eat("|") {
            v = ((v as u64) | (self.term()? as u64)) as i128;
            // a mask of 64-bit values stays in u64 range
        }
        let (width, signed) = width_signed(ty);
        let lo = -(1i128 << (width - 1));
        let hi = (1i128 << width) - 1;
        if v < lo || v > hi {
            return Err(format!("value {v} out of range for {field}"));
        }
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        Ok(Expr::Cmp(Cmp {
            arg,
            width,
            signed,
            op,
            value: (v as u64) & mask,
        }))
    }
    fn term(&mut self) -> Result<i128, String> {
        let neg = self.eat("-");
        let v = match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) => n,
            Some(Tok::Ident(i)) if i == "NULL" => 0,
            Some(Tok::Ident(i)) => i128::from(
                self.arch
                    .constant(&i)
                    .ok_or_else(|| format!("unknown constant {i}"))?,
            ),
            t => return Err(format!("expected a value, got {t:?}")),
        };
        self.pos += 1;
        Ok(if neg { -v } else { v })
    }
}

impl Policy {
    /// Parses the benchmark's policy subset: `NAME: EXPR` rules, one
    /// `default errno NAME|N`, `#` comments.
    pub fn parse(text: &str, arch: &'static Arch) -> Result<Policy, String> {
        let mut p = Policy {
            errno: 0,
            rules: BTreeMap::new(),
            audit_arch: arch.audit_arch,
        };
        for (ln, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |e: String| format!("line {}: {e}", ln + 1);
            if let Some(rest) = line.strip_prefix("default ") {
                let e = rest
                    .trim()
                    .strip_prefix("errno ")
                    .ok_or_else(|| err("only `default errno` is supported".into()))?
                    .trim();
                let v = match e.parse::<u16>() {
                    Ok(n) => i64::from(n),
                    Err(_) => arch.errno(e).ok_or_else(|| err(format!("errno {e}")))?,
                };
                p.errno = u16::try_from(v).map_err(|_| err("errno".into()))?;
                continue;
            }
            let (name, expr) = line
                .split_once(':')
                .ok_or_else(|| err("expected NAME: EXPR".into()))?;
            let sys = arch
                .syscall(name.trim())
                .ok_or_else(|| err(format!("unknown syscall {name}")))?;
            let mut ps = Parser {
                toks: lex(expr).map_err(err)?,
                pos: 0,
                arch,
                sys,
            };
            let e = ps.or().map_err(err)?;
            if ps.pos != ps.toks.len() {
                return Err(err("trailing tokens".into()));
            }
            p.rules
                .entry(sys.nr)
                .or_insert_with(|| (sys.name, Vec::new()))
                .1
                .push(e);
        }
        if p.errno == 0 {
            return Err("the benchmark policies need `default errno`".into());
        }
        Ok(p)
    }

    /// Whether the syscall is allowed whatever its arguments (some rule is
    /// the literal `1`).
    pub fn unconditional(&self, nr: u32) -> bool {
        self.rules
            .get(&nr)
            .is_some_and(|(_, es)| es.contains(&Expr::Const(true)))
    }

    /// Evaluates the policy directly (the reference for the host tests'
    /// interpreter runs): `true` = allowed.
    pub fn allows(&self, nr: u32, args: &[u64; 6]) -> bool {
        self.rules
            .get(&nr)
            .is_some_and(|(_, es)| es.iter().any(|e| eval(e, args)))
    }

    /// The seccomp-bpf filter for this policy.
    pub fn to_bpf(&self, layout: Layout) -> Result<Vec<Insn>, String> {
        let deny = bpf::ret_errno(self.errno);
        let mut entries = Vec::new();
        for (&nr, (_, exprs)) in &self.rules {
            entries.push((nr, self.body(nr, exprs, deny)?));
        }
        let dispatch = match layout {
            Layout::Linear => chain(&entries, deny)?,
            Layout::Tree => tree(&entries, deny)?,
        };
        let mut a = Asm::new();
        let ok = a.label();
        a.load(bpf::OFF_ARCH);
        a.jmp(JEQ, self.audit_arch, Tgt::L(ok), Tgt::Next);
        // Another ABI's call (ia32, AArch32): the default action, as
        // strbox does. x32 numbers (nr | X32_SYSCALL_BIT) match no rule below.
        a.ret(deny);
        a.place(ok);
        a.load(bpf::OFF_NR);
        a.block(&dispatch);
        let prog = a.finish()?;
        bpf::validate(&prog).map_err(|e| e.0)?;
        Ok(prog)
    }

    fn body(&self, nr: u32, exprs: &[Expr], deny: u32) -> Result<Vec<Insn>, String> {
        let mut a = Asm::new();
        if self.unconditional(nr) {
            a.ret(bpf::RET_ALLOW);
            return a.finish();
        }
        let t = a.label();
        let f = a.label();
        for (i, e) in exprs.iter().enumerate() {
            if i + 1 == exprs.len() {
                cond(&mut a, e, t, f);
            } else {
                let next = a.label();
                cond(&mut a, e, t, next);
                a.place(next);
            }
        }
        a.place(t);
        a.ret(bpf::RET_ALLOW);
        a.place(f);
        a.ret(deny);
        a.finish()
    }
}

/// Linear `JEQ` chain: `if (nr == N) { body }` per syscall, then deny.
fn chain(entries: &[(u32, Vec<Insn>)], deny: u32) -> Result<Vec<Insn>, String> {
    let mut a = Asm::new();
    for (nr, body) in entries {
        let skip = a.label();
        a.jmp(JEQ, *nr, Tgt::Next, Tgt::L(skip));
        a.block(body);
        a.place(skip);
    }
    a.ret(deny);
    a.finish()
}

/// Binary search on the number: `if (nr >= K) right else left`, leaves
/// are short chains. Each subtree is a self-contained block.
fn tree(entries: &[(u32, Vec<Insn>)], deny: u32) -> Result<Vec<Insn>, String> {
    if entries.len() <= LEAF {
        return chain(entries, deny);
    }
    let mid = entries.len() / 2;
    let left = tree(&entries[..mid], deny)?;
    let right = tree(&entries[mid..], deny)?;
    let k = entries[mid].0;
    let mut a = Asm::new();
    let r = a.label();
    if left.len() <= 255 {
        a.jmp(JGE, k, Tgt::L(r), Tgt::Next);
    } else {
        // A conditional jump reaches 255 instructions: go through a JA.
        let l = a.label();
        a.jmp(JGE, k, Tgt::Next, Tgt::L(l));
        a.ja(r);
        a.place(l);
    }
    a.block(&left);
    a.place(r);
    a.block(&right);
    a.finish()
}

/// Emits `if (e) goto t; else goto f;` with short-circuit jumps.
fn cond(a: &mut Asm, e: &Expr, t: Label, f: Label) {
    match e {
        Expr::Const(true) => a.ja(t),
        Expr::Const(false) => a.ja(f),
        Expr::Not(x) => cond(a, x, f, t),
        Expr::And(x, y) => {
            let m = a.label();
            cond(a, x, m, f);
            a.place(m);
            cond(a, y, t, f);
        }
        Expr::Or(x, y) => {
            let m = a.label();
            cond(a, x, t, m);
            a.place(m);
            cond(a, y, t, f);
        }
        Expr::Cmp(c) => cmp(a, c, Tgt::L(t), Tgt::L(f)),
    }
}

fn is_ordering(op: Op) -> bool {
    matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge)
}

/// One comparison on the argument's low `width` bits. Only ordering
/// comparisons of signed types need the sign bias (`x ^ 1 << (w-1)`
/// turns a signed order into an unsigned one); `==`, `!=`, `&` and `in`
/// on the low `width` bits are exact for sign-extended values too.
fn cmp(a: &mut Asm, c: &Cmp, t: Tgt, f: Tgt) {
    let bias = c.signed && is_ordering(c.op);
    if c.width <= 32 {
        let mask = if c.width == 32 {
            u32::MAX
        } else {
            (1u32 << c.width) - 1
        };
        a.load(bpf::off_arg_lo(c.arg));
        if c.width < 32 {
            a.and(mask);
        }
        let mut v = c.value as u32;
        if bias {
            let b = 1u32 << (c.width - 1);
            a.xor(b);
            v ^= b;
        }
        word_cmp(a, c.op, v, mask, t, f);
        return;
    }
    // 64 bits: high word decides unless equal, then the low word.
    let (mut hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    a.load(bpf::off_arg_hi(c.arg));
    if bias {
        a.xor(1 << 31);
        hi ^= 1 << 31;
    }
    let lo_tgt = a.label();
    let l = Tgt::L(lo_tgt);
    match c.op {
        Op::Eq => a.jmp(JEQ, hi, l, f),
        Op::Ne => a.jmp(JEQ, hi, l, t),
        Op::Gt | Op::Ge => {
            a.jmp(JGT, hi, t, Tgt::Next);
            a.jmp(JEQ, hi, l, f);
        }
        Op::Lt | Op::Le => {
            a.jmp(JGT, hi, f, Tgt::Next);
            a.jmp(JEQ, hi, l, t);
        }
        Op::AnyBit => a.jmp(JSET, hi, t, l),
        Op::Subset => a.jmp(JSET, !hi, f, l),
    }
    a.place(lo_tgt);
    a.load(bpf::off_arg_lo(c.arg));
    word_cmp(a, c.op, lo, u32::MAX, t, f);
}

/// `A op v` on one 32-bit word (unsigned), jumping to `t` or `f`.
fn word_cmp(a: &mut Asm, op: Op, v: u32, mask: u32, t: Tgt, f: Tgt) {
    match op {
        Op::Eq => a.jmp(JEQ, v, t, f),
        Op::Ne => a.jmp(JEQ, v, f, t),
        Op::Lt => a.jmp(JGE, v, f, t),
        Op::Le => a.jmp(JGT, v, f, t),
        Op::Gt => a.jmp(JGT, v, t, f),
        Op::Ge => a.jmp(JGE, v, t, f),
        Op::AnyBit => a.jmp(JSET, v, t, f),
        // every set bit inside the mask: no bit outside it
        Op::Subset => a.jmp(JSET, !v & mask, f, t),
    }
}

/// Direct evaluation of an expression (used by [`Policy::allows`]).
fn eval(e: &Expr, args: &[u64; 6]) -> bool {
    match e {
        Expr::Const(b) => *b,
        Expr::Not(x) => !eval(x, args),
        Expr::And(x, y) => eval(x, args) && eval(y, args),
        Expr::Or(x, y) => eval(x, args) || eval(y, args),
        Expr::Cmp(c) => {
            let raw = args[usize::from(c.arg)];
            let mask = if c.width == 64 {
                u64::MAX
            } else {
                (1u64 << c.width) - 1
            };
            let (x, v) = (raw & mask, c.value);
            let b = if c.signed { 1u64 << (c.width - 1) } else { 0 };
            match c.op {
                Op::Eq => x == v,
                Op::Ne => x != v,
                Op::Lt => (x ^ b) < (v ^ b),
                Op::Le => (x ^ b) <= (v ^ b),
                Op::Gt => (x ^ b) > (v ^ b),
                Op::Ge => (x ^ b) >= (v ^ b),
                Op::AnyBit => x & v != 0,
                Op::Subset => x & !v & mask == 0,
            }
        }
    }
}

/// Every constant a policy compares with (for test argument vectors).
pub fn constants(p: &Policy) -> Vec<(u8, u64)> {
    fn walk(e: &Expr, out: &mut Vec<(u8, u64)>) {
        match e {
            Expr::Const(_) => {}
            Expr::Cmp(c) => out.push((c.arg, c.value)),
            Expr::Not(x) => walk(x, out),
            Expr::And(x, y) | Expr::Or(x, y) => {
                walk(x, out);
                walk(y, out);
            }
        }
    }
    let mut out = Vec::new();
    for (_, es) in p.rules.values() {
        for e in es {
            walk(e, &mut out);
        }
    }
    out
}

// ------------------------------------------------------------- policies

/// The errno every benchmark policy denies with.
pub const DENY_ERRNO: &str = "EPERM";

/// Policy A: Ingo Molnar's four rules from the 2009 proposal, plus what
/// the benchmark process itself needs once filtered.
pub fn ingo() -> String {
    "\
default errno EPERM
read:          fd == 0
write:         fd == 1
rt_sigreturn:  1
gettimeofday:  tz == NULL
# what the benchmark child needs besides
exit_group:    1
clock_gettime: 1
getppid:       1
"
    .to_string()
}

/// Argument rules of policy B (those using constants of both arches).
const ALLOWLIST_RULES: &str = "\
read:     fd == 0 || fd > 2 && count < 0x100000
write:    fd == 1 || fd == 2
openat:   dfd == AT_FDCWD && flags in O_RDONLY|O_CLOEXEC|O_NONBLOCK|O_DIRECTORY
mmap:     !(prot & PROT_EXEC) && (flags & MAP_PRIVATE)
mprotect: prot in PROT_READ|PROT_WRITE
socket:   family == AF_UNIX || family == AF_INET && type in SOCK_STREAM|SOCK_CLOEXEC
ioctl:    fd < 3 && cmd == 0x5401
fcntl:    cmd == F_GETFL || cmd == F_SETFL || cmd == F_GETFD || cmd == F_SETFD
clone:    !(clone_flags & CLONE_NEWUSER)
kill:     pid == 0 || sig == 0
lseek:    offset >= 0 && whence <= 2
";

/// Syscalls policy B never allows (`getsid` is the benchmark's "denied"
/// probe; the rest is what an allowlist would leave out anyway).
pub const ALLOWLIST_DENIED: &[&str] = &[
    "getsid",
    "ptrace",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "swapon",
    "swapoff",
    "mount",
    "umount2",
    "pivot_root",
];

/// Syscalls policy B must allow (the benchmark child's own, and the
/// install calls for stacking).
const ALLOWLIST_NEEDED: &[&str] = &[
    "exit_group",
    "exit",
    "rt_sigreturn",
    "clock_gettime",
    "gettimeofday",
    "getppid",
    "prctl",
    "seccomp",
    "brk",
    "munmap",
    "close",
];

/// How many syscalls policy B names.
pub const ALLOWLIST_SIZE: usize = 300;

/// Policy B: an allowlist of [`ALLOWLIST_SIZE`] syscalls of `arch` (the
/// argument rules above, the syscalls the benchmark needs, then the rest
/// in number order) with `default errno EPERM`.
pub fn allowlist(arch: &'static Arch) -> String {
    let mut s = String::from("default errno EPERM\n");
    let mut named: Vec<&str> = Vec::new();
    for l in ALLOWLIST_RULES.lines() {
        s.push_str(l);
        s.push('\n');
        let n = l.split(':').next().unwrap_or("").trim();
        if !named.contains(&n) {
            named.push(n);
        }
    }
    for n in ALLOWLIST_NEEDED {
        if !named.contains(n) && arch.syscall(n).is_some() {
            s.push_str(&format!("{n}: 1\n"));
            named.push(n);
        }
    }
    let mut by_nr: Vec<_> = arch.syscalls.iter().collect();
    by_nr.sort_by_key(|s| s.nr);
    for sys in by_nr {
        if named.len() >= ALLOWLIST_SIZE {
            break;
        }
        if named.contains(&sys.name) || ALLOWLIST_DENIED.contains(&sys.name) {
            continue;
        }
        s.push_str(&format!("{}: 1\n", sys.name));
        named.push(sys.name);
    }
    s
}

#[cfg(test)]
mod tests;
