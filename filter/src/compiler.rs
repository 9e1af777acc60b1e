//! Compiler: parse tree (in [`Scratch`]) to a [`Program`].
//!
//! Rules are grouped by syscall number (a counting sort, so the output is
//! in number order whatever the source order). Per syscall:
//!
//! * a rule that reduced to `1` puts the syscall in the constant-allow
//!   bitmap (no predicates);
//! * rules that reduced to `0` are dropped; if none is left, the syscall
//!   keeps the default action (dispatch entry 0);
//! * otherwise the rules, OR'ed in source order, are laid out as a flat
//!   predicate program: one predicate per comparison, in source order, each
//!   with a jump target for "true" and one for "false". The targets are
//!   computed top-down with an explicit stack: in `a && b` the true-target
//!   of `a` is `b`'s first predicate; in `a || b` its false-target is; `!`
//!   swaps the two. Every target is a later predicate or an exit, so the
//!   program only moves forward.
//!
//! The same traversal writes the readback code (prefix order) used by the
//! [printer](super::printer).

use super::limits::{
    MAX_CODE, MAX_NODES, MAX_NR, MAX_OPSTACK, MAX_PREDICATES, MAX_PROGRAM_PREDICATES, MAX_RULES,
};
use super::parser::{self, OpFrame};
use super::program::{Pred, Program, ACCEPT, REJECT};
use super::uapi::tables::Arch;
use super::{Error, ErrorCode};

/// "No node".
pub(crate) const NIL: u16 = 0xffff;

/// Parse tree node kinds.
pub(crate) mod node_kind {
    /// A comparison (`data` = index in `Scratch::leaves`).
    pub(crate) const LEAF: u8 = 1;
    /// `&&` over `data` children.
    pub(crate) const AND: u8 = 2;
    /// `||` over `data` children.
    pub(crate) const OR: u8 = 3;
    /// Literal `1`/`0` (`data`).
    pub(crate) const CONST: u8 = 4;
}

/// Readback code units (`u16`): kind in bits 0..3, [`code::NEG`], and a
/// count in bits 4..16.
pub(crate) mod code {
    /// A comparison (the next predicate).
    pub(crate) const LEAF: u16 = 1;
    /// `&&` over `count` children that follow.
    pub(crate) const AND: u16 = 2;
    /// `||` over `count` children that follow.
    pub(crate) const OR: u16 = 3;
    /// A syscall's group header: `count` rules follow.
    pub(crate) const GROUP: u16 = 4;
    /// The subtree is negated.
    pub(crate) const NEG: u16 = 8;
    /// Mask of the kind bits.
    pub(crate) const KIND: u16 = 7;
    /// Shift of the count.
    pub(crate) const COUNT_SHIFT: u32 = 4;
    /// Largest count.
    pub(crate) const MAX_COUNT: usize = 0x0fff;
}

/// One parse tree node (12 bytes).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Node {
    pub(crate) kind: u8,
    pub(crate) neg: bool,
    /// Number of comparisons below (and including) this node.
    pub(crate) leaves: u16,
    /// Number of readback code units of this subtree.
    pub(crate) units: u16,
    /// First child (AND/OR).
    pub(crate) first: u16,
    /// Last child (AND/OR).
    pub(crate) last: u16,
    /// Next sibling.
    pub(crate) next: u16,
    /// LEAF: leaf index; AND/OR: child count; CONST: 0 or 1.
    pub(crate) data: u16,
}

impl Node {
    pub(crate) const ZERO: Node = Node {
        kind: 0,
        neg: false,
        leaves: 0,
        units: 0,
        first: NIL,
        last: NIL,
        next: NIL,
        data: 0,
    };
}

/// One parsed rule.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rule {
    /// Syscall number.
    pub(crate) nr: u16,
    /// Root node of its expression.
    pub(crate) root: u16,
    /// Offset of the syscall name in the source (for errors).
    pub(crate) offset: u32,
}

/// A pending subtree of the target computation.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Frame {
    node: u16,
    on_true: u16,
    on_false: u16,
}

/// Working memory of [`compile`]: the parse tree and the stacks, so that
/// the parser and compiler themselves use only a few hundred bytes of
/// stack. Made of integers and `bool`s only: zeroed memory is a valid
/// value, so the kernel can allocate it zeroed; its contents between calls
/// do not matter. 114 696 bytes ([`Scratch::SIZE`]).
pub struct Scratch {
    pub(crate) nodes: [Node; MAX_NODES],
    pub(crate) leaves: [Pred; MAX_PREDICATES],
    pub(crate) rules: [Rule; MAX_RULES],
    pub(crate) order: [u16; MAX_RULES],
    pub(crate) bucket: [u16; MAX_NR + 1],
    pub(crate) stack: [Frame; MAX_CODE],
    pub(crate) ops: [OpFrame; MAX_OPSTACK],
    pub(crate) vals: [u16; MAX_OPSTACK + 1],
    pub(crate) n_nodes: u16,
    pub(crate) n_leaves: u16,
    pub(crate) n_rules: u16,
}

#[cfg(not(strbox_kmod))]
impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Scratch {
    /// Size in bytes.
    pub const SIZE: usize = core::mem::size_of::<Scratch>();

    /// An empty scratch area. This builds the value on the stack, so it does
    /// not exist in the kernel build: there, allocate zeroed memory.
    #[cfg(not(strbox_kmod))]
    pub fn new() -> Self {
        Scratch {
            nodes: [Node::ZERO; MAX_NODES],
            leaves: [Pred::ZERO; MAX_PREDICATES],
            rules: [Rule {
                nr: 0,
                root: 0,
                offset: 0,
            }; MAX_RULES],
            order: [0; MAX_RULES],
            bucket: [0; MAX_NR + 1],
            stack: [Frame {
                node: 0,
                on_true: 0,
                on_false: 0,
            }; MAX_CODE],
            ops: [OpFrame::default(); MAX_OPSTACK],
            vals: [0; MAX_OPSTACK + 1],
            n_nodes: 0,
            n_leaves: 0,
            n_rules: 0,
        }
    }
}

/// Parses, checks and compiles the policy `src` for `arch` into `out`,
/// using `scratch` as working memory. `out` is reset first; on error its
/// contents are unspecified (discard it).
pub fn compile(
    src: &[u8],
    arch: &'static Arch,
    scratch: &mut Scratch,
    out: &mut Program,
) -> Result<(), Error> {
    out.init_in_place();
    if src.len() > super::limits::MAX_POLICY_BYTES {
        return Err(Error::at(
            src,
            ErrorCode::PolicyTooLarge,
            super::limits::MAX_POLICY_BYTES,
        ));
    }
    let parsed = parser::parse(src, arch, scratch).map_err(|(c, o)| Error::at(src, c, o))?;
    out.default_action = parsed.default_action;
    out.default_errno = parsed.default_errno;
    emit(scratch, out).map_err(|(c, o)| Error::at(src, c, o))
}

type CResult<T> = Result<T, (ErrorCode, usize)>;

/// Checks, in source order, that the compiled layer will fit, so that
/// the error names the first rule that does not fit. Also fills the
/// constant-allow bitmap.
fn check_size(s: &mut Scratch, out: &mut Program) -> CResult<()> {
    let n_rules = usize::from(s.n_rules).min(MAX_RULES);
    for r in s.rules.iter().take(n_rules) {
        let n = node(s, r.root);
        if n.kind == node_kind::CONST && n.data != 0 {
            let nr = usize::from(r.nr);
            if let Some(w) = out.allow.get_mut(nr / 64) {
                *w |= 1u64 << (nr % 64);
            }
        }
    }
    // `bucket` marks syscalls that already have a group header.
    s.bucket.fill(0);
    let mut preds = 0usize;
    let mut units = 0usize;
    for r in s.rules.iter().take(n_rules) {
        let n = node(s, r.root);
        if n.kind == node_kind::CONST || out.always_allows(u32::from(r.nr)) {
            continue;
        }
        if let Some(seen) = s.bucket.get_mut(usize::from(r.nr)) {
            if *seen == 0 {
                *seen = 1;
                units = units.wrapping_add(1);
            }
        }
        preds = preds.wrapping_add(usize::from(n.leaves));
        units = units.wrapping_add(usize::from(n.units));
        if preds > MAX_PROGRAM_PREDICATES || units > MAX_CODE {
            return Err((ErrorCode::ProgramTooLarge, r.offset as usize));
        }
    }
    Ok(())
}

/// Groups the rules by syscall number and emits each group.
fn emit(s: &mut Scratch, out: &mut Program) -> CResult<()> {
    check_size(s, out)?;
    let n_rules = usize::from(s.n_rules).min(MAX_RULES);
    // Counting sort of rule indices by syscall number (stable).
    s.bucket.fill(0);
    for r in s.rules.iter().take(n_rules) {
        if let Some(b) = s.bucket.get_mut(usize::from(r.nr).wrapping_add(1)) {
            *b = b.wrapping_add(1);
        }
    }
    let mut sum = 0u16;
    for b in s.bucket.iter_mut() {
        sum = sum.wrapping_add(*b);
        *b = sum;
    }
    // bucket[nr] is now the start of nr's run; fill `order`.
    for (i, r) in s.rules.iter().take(n_rules).enumerate() {
        if let Some(b) = s.bucket.get_mut(usize::from(r.nr)) {
            if let Some(o) = s.order.get_mut(usize::from(*b)) {
                *o = i as u16;
            }
            *b = b.wrapping_add(1);
        }
    }
    // Now the run of nr ends at bucket[nr]; walk runs in order.
    let mut i = 0usize;
    while i < n_rules {
        let Some(first) = s.order.get(i).and_then(|&r| s.rules.get(usize::from(r))) else {
            break;
        };
        let nr = first.nr;
        let mut j = i;
        while j < n_rules
            && s.order
                .get(j)
                .and_then(|&r| s.rules.get(usize::from(r)))
                .is_some_and(|r| r.nr == nr)
        {
            j = j.wrapping_add(1);
        }
        group(s, out, i, j)?;
        i = j;
    }
    Ok(())
}

fn node(s: &Scratch, id: u16) -> Node {
    s.nodes.get(usize::from(id)).copied().unwrap_or(Node::ZERO)
}

fn rule_at(s: &Scratch, i: usize) -> Rule {
    s.order
        .get(i)
        .and_then(|&r| s.rules.get(usize::from(r)))
        .copied()
        .unwrap_or_default()
}

/// Emits the rules `order[from..to]` (all for one syscall).
fn group(s: &mut Scratch, out: &mut Program, from: usize, to: usize) -> CResult<()> {
    let first = rule_at(s, from);
    let nr = usize::from(first.nr);
    let mut live = 0usize;
    for i in from..to {
        let n = node(s, rule_at(s, i).root);
        if n.kind == node_kind::CONST {
            if n.data != 0 {
                // Constant true: the syscall is always allowed.
                if let Some(w) = out.allow.get_mut(nr / 64) {
                    *w |= 1u64 << (nr % 64);
                }
                return Ok(());
            }
        } else {
            live = live.wrapping_add(1);
        }
    }
    if live == 0 {
        return Ok(());
    }
    let Some(d) = out.dispatch.get_mut(nr) else {
        return Err((ErrorCode::SyscallNotSupported, first.offset as usize));
    };
    *d = out.n_preds.wrapping_add(1);
    push_code(
        out,
        code::GROUP | ((live.min(code::MAX_COUNT) as u16) << code::COUNT_SHIFT),
        first.offset,
    )?;
    let mut remaining = live;
    for i in from..to {
        let rule = rule_at(s, i);
        let root = node(s, rule.root);
        if root.kind == node_kind::CONST {
            continue;
        }
        remaining = remaining.wrapping_sub(1);
        let on_false = if remaining == 0 {
            REJECT
        } else {
            out.n_preds.wrapping_add(root.leaves)
        };
        lay_out(s, out, rule.root, ACCEPT, on_false, rule.offset)?;
    }
    Ok(())
}

fn push_code(out: &mut Program, unit: u16, offset: u32) -> CResult<usize> {
    let i = usize::from(out.n_code);
    match out.code.get_mut(i) {
        Some(slot) if i < MAX_CODE => *slot = unit,
        _ => return Err((ErrorCode::ProgramTooLarge, offset as usize)),
    }
    out.n_code = out.n_code.wrapping_add(1);
    Ok(i)
}

/// Lays out one rule's tree from `root` with the given exits.
fn lay_out(
    s: &mut Scratch,
    out: &mut Program,
    root: u16,
    on_true: u16,
    on_false: u16,
    offset: u32,
) -> CResult<()> {
    let err = (ErrorCode::ProgramTooLarge, offset as usize);
    let mut sp = 0usize;
    match s.stack.get_mut(sp) {
        Some(f) => {
            *f = Frame {
                node: root,
                on_true,
                on_false,
            }
        }
        None => return Err(err),
    }
    sp = 1;
    // Each node is visited once; the bound only guards against a malformed
    // tree.
    let mut budget = MAX_NODES;
    while sp > 0 {
        budget = match budget.checked_sub(1) {
            Some(b) => b,
            None => return Err(err),
        };
        sp = sp.wrapping_sub(1);
        let Some(fr) = s.stack.get(sp).copied() else {
            return Err(err);
        };
        let n = node(s, fr.node);
        let (t, f) = if n.neg {
            (fr.on_false, fr.on_true)
        } else {
            (fr.on_true, fr.on_false)
        };
        let neg = if n.neg { code::NEG } else { 0 };
        match n.kind {
            node_kind::LEAF => {
                push_code(out, code::LEAF | neg, offset)?;
                let mut p = s
                    .leaves
                    .get(usize::from(n.data))
                    .copied()
                    .unwrap_or(Pred::ZERO);
                p.on_true = t;
                p.on_false = f;
                let i = usize::from(out.n_preds);
                match out.preds.get_mut(i) {
                    Some(slot) => *slot = p,
                    None => return Err((ErrorCode::ProgramTooLarge, offset as usize)),
                }
                out.n_preds = out.n_preds.wrapping_add(1);
            }
            node_kind::AND | node_kind::OR => {
                let is_and = n.kind == node_kind::AND;
                let kind = if is_and { code::AND } else { code::OR };
                let count = usize::from(n.data).min(code::MAX_COUNT) as u16;
                push_code(out, kind | neg | (count << code::COUNT_SHIFT), offset)?;
                // Children in order, with their targets; pushed, then the
                // pushed run is reversed so the first child is on top.
                let base = sp;
                let mut start = out.n_preds; // first predicate of the child
                let mut c = n.first;
                let mut guard = MAX_NODES;
                while c != NIL {
                    guard = match guard.checked_sub(1) {
                        Some(g) => g,
                        None => return Err(err),
                    };
                    let cn = node(s, c);
                    let next_start = start.wrapping_add(cn.leaves);
                    let (ct, cf) = if cn.next == NIL {
                        (t, f)
                    } else if is_and {
                        (next_start, f)
                    } else {
                        (t, next_start)
                    };
                    match s.stack.get_mut(sp) {
                        Some(slot) => {
                            *slot = Frame {
                                node: c,
                                on_true: ct,
                                on_false: cf,
                            }
                        }
                        None => return Err(err),
                    }
                    sp = sp.wrapping_add(1);
                    start = next_start;
                    c = cn.next;
                }
                if let Some(run) = s.stack.get_mut(base..sp) {
                    run.reverse();
                }
            }
            _ => return Err(err),
        }
    }
    Ok(())
}
