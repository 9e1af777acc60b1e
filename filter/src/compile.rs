//! Compiler: the parse tree ([`ast`](super::ast)) to a [`Program`]; and
//! [`compile`], the whole pipeline (lexer → parser → this → program).
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
//!   swaps the two; the false exit of one rule is the first predicate of the
//!   next rule for the same syscall. Every target is a later predicate or
//!   an exit, so the program only moves forward.
//!
//! Rules with actions (`=> kill`, `=> log`, `=> errno N`; language v2) are
//! classified first ([`classify`], per key: the *deciding constant*, i.e.
//! the most severe rule reduced to `1`; which rules can still decide;
//! whether any live rule has a non-`allow` action). A key without live
//! action rules compiles exactly as above (v1). One with them becomes a
//! *first-match program* ([`action_group`]): its live rules in order of
//! severity (kill, errno, log, allow; source order within one), each
//! jumping to its action's exit when true and to the next rule when false,
//! the last one to the deciding constant's action or `REJECT`; its entry
//! goes to `act`, not `dispatch`. If no rule is left above the deciding
//! constant, the key's verdict is that constant (no predicates).
//!
//! The same traversal writes the readback code (prefix order, see
//! [`program::code`](super::program::code)) that the printer reads.
//!
//! Size is checked first, in source order ([`check_size`]), so that
//! `ProgramTooLarge` names the first rule that does not fit.
//!
//! # Worked example
//!
//! (Checked by the unit test `compile_doc_example`, which compiles the
//! policy below for x86_64 and compares the result with these tables.)
//!
//! ```text
//! default errno EPERM
//! read:  fd == 0 || fd > 2 && !(count & 0xfff)
//! write: fd == 1 || fd == 2
//! read:  count == 0
//! close: 1
//! kill:  pid < 0 && 0
//! ```
//!
//! The parser has already simplified the rules: `kill`'s (`pid < 0 && 0`)
//! folded to `0`, so `kill` keeps the default action; `close: 1` is a
//! constant; `&&` binds tighter than `||`, so `read`'s first rule is
//! `fd == 0 || (fd > 2 && !(count & 0xfff))`. The compiler emits:
//!
//! ```text
//! default:  errno EPERM
//! allow:    close (3)
//! dispatch: read (0) -> 0, write (1) -> 4; all others -> default
//!
//! pred  syscall  comparison       on true  on false
//!    0  read     fd == 0          ACCEPT   1
//!    1  read     fd > 2           2        3
//!    2  read     count & 0xfff    3        ACCEPT
//!    3  read     count == 0       ACCEPT   REJECT
//!    4  write    fd == 1          ACCEPT   5
//!    5  write    fd == 2          ACCEPT   REJECT
//!
//! code: GROUP 2, OR 2, LEAF, AND 2, LEAF, !LEAF, LEAF, GROUP 1, OR 2, LEAF, LEAF
//! ```
//!
//! How the targets come about, for `read` (a group of two rules):
//!
//! * rule 1 gets the exits (ACCEPT, 3): true allows, false falls through to
//!   rule 2, which starts at predicate 3 (rule 1 has 3 comparisons);
//! * its `||` passes its children (ACCEPT, next child): `fd == 0` gets
//!   (ACCEPT, 1), and the `&&` node, last child, the `||`'s own (ACCEPT, 3);
//! * the `&&` passes (next child, its false exit): `fd > 2` gets (2, 3), and
//!   the last child `!(count & 0xfff)` the `&&`'s own (ACCEPT, 3), which
//!   the `!` swaps to (3, ACCEPT);
//! * rule 2, the last one, gets (ACCEPT, REJECT).
//!
//! `read(5, buf, 16)` runs predicate 0 (false) → 1 (true) → 2 (`16 & 0xfff`,
//! true) → 3 (false) → REJECT: `errno EPERM`. `read(5, buf, 4096)` ends at
//! predicate 2 (false) → ACCEPT. `close(...)` is allowed by the bitmap
//! without a predicate; `kill(...)` and `openat(...)` find dispatch entry 0
//! and get the default action.
//!
//! Compare the comment above `predicate_parse()` in the kernel's
//! `kernel/trace/trace_events_filter.c`, which compiles
//! `a && !(!b || (c && g)) || d || e && !f` the same way: ftrace's
//! `struct prog_entry` has one `target` and a `when_to_branch` bit and falls
//! through to the next entry otherwise, with `TRUE`/`FALSE` at the end.
//! Here each predicate names both targets, so all the syscalls' programs
//! share one array without fall-through, and `!` costs nothing at run
//! time: it only swaps the two targets.

use super::ast::{node_kind, Leaf, Rule, Tree, NIL};
use super::error::{Error, ErrorCode, StageResult};
use super::event::{Event, EVENTS};
use super::limits::{
    MAX_CODE, MAX_NODES, MAX_NR, MAX_POLICY_BYTES, MAX_PROGRAM_PREDICATES, MAX_RULES,
};
use super::parser::{self, OpStack, ValStack};
use super::program::code;
use super::program::layout::{exit, Pred, Program, ACCEPT, REJECT};
use super::program::Verdict;
use super::types::{self, op};
use super::uapi::tables::Arch;

/// Rule keys ([`Rule::nr`]): syscall numbers `0..MAX_NR`, then one per
/// event.
const KEYS: usize = MAX_NR + EVENTS;

/// The event of a rule key, if it is one.
fn key_event(key: u16) -> Option<Event> {
    Event::from_index(usize::from(key).checked_sub(MAX_NR)?)
}

/// Whether the rule key is allowed outright (bitmap or event bit).
fn key_always_allows(out: &Program, key: u16) -> bool {
    match key_event(key) {
        Some(ev) => out.event_always_allows(ev),
        None => out.always_allows(u32::from(key)),
    }
}

/// What the compiler knows about one rule key (syscall or event) before
/// emitting it ([`classify`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyInfo {
    /// 1 + the source index of its *deciding constant*: the rule reduced
    /// to `1` with the most severe action (the first in source order among
    /// equals); 0: none.
    best: u16,
    /// Its live rules with predicates ([`live_pred`]).
    live: u16,
    /// A live rule or the deciding constant has an action other than
    /// `allow`: the key is compiled as a first-match program (`act`);
    /// otherwise exactly as in v1 (bitmap, `dispatch`).
    act: bool,
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
/// do not matter. 133 160 bytes ([`Scratch::SIZE`]).
pub struct Scratch {
    /// The parser's output, this module's input.
    pub(crate) tree: Tree,
    /// The parser's operator stack.
    pub(crate) ops: OpStack,
    /// The parser's operand stack.
    pub(crate) vals: ValStack,
    /// Rule indices sorted by syscall number.
    pub(crate) order: [u16; MAX_RULES],
    /// Counting-sort buckets, one per rule key (syscall number or event)
    /// (+1).
    pub(crate) bucket: [u16; KEYS + 1],
    /// The target computation's stack.
    pub(crate) stack: [Frame; MAX_CODE],
    /// Per rule key: deciding constant, live rules, action or not.
    pub(crate) keys: [KeyInfo; KEYS],
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
            tree: Tree::new(),
            ops: [parser::OpFrame::default(); super::limits::MAX_OPSTACK],
            vals: [0; super::limits::MAX_OPSTACK + 1],
            order: [0; MAX_RULES],
            bucket: [0; KEYS + 1],
            stack: [Frame::default(); MAX_CODE],
            keys: [KeyInfo::default(); KEYS],
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
    if src.len() > MAX_POLICY_BYTES {
        return Err(Error::at(src, ErrorCode::PolicyTooLarge, MAX_POLICY_BYTES));
    }
    let located = |(c, o)| Error::at(src, c, o);
    let s = scratch;
    let default =
        parser::parse(src, arch, &mut s.tree, &mut s.ops, &mut s.vals).map_err(located)?;
    out.set_default_verdict(default);
    emit(s, out).map_err(located)
}

/// The severity of a rule's action exit (`allow` 0 .. `kill` 3).
fn severity(action: u16) -> u8 {
    exit::verdict(action).map_or(0, Verdict::severity)
}

/// Source rule `i`.
fn source_rule(s: &Scratch, i: usize) -> Rule {
    s.tree.rules.get(i).copied().unwrap_or(Rule::ZERO)
}

/// The key info of rule key `key`.
fn key_info(s: &Scratch, key: u16) -> KeyInfo {
    s.keys.get(usize::from(key)).copied().unwrap_or_default()
}

/// Whether source rule `i` has predicates and can decide a verdict: not
/// reduced to `1`/`0`, and not hidden by its key's deciding constant (a
/// rule less severe than it can never be the most severe true rule, nor
/// can one of equal severity after it in source order; one of equal
/// severity before it only matters for errnos, which may differ).
fn live_pred(s: &Scratch, i: usize) -> bool {
    let r = source_rule(s, i);
    if s.tree.node(r.root).kind == node_kind::CONST {
        return false;
    }
    let Some(b) = usize::from(key_info(s, r.nr).best).checked_sub(1) else {
        return true;
    };
    let (rs, bs) = (severity(r.action), severity(source_rule(s, b).action));
    rs > bs || (rs == bs && i < b && exit::verdict(r.action).is_some_and(|v| v.severity() == 2))
}

/// Fills [`Scratch::keys`], the event masks and the constant-allow bitmap
/// (the only place that does), for the rules in source order.
fn classify(s: &mut Scratch, out: &mut Program) {
    s.keys.fill(KeyInfo::default());
    let mut syscall_rules = false;
    let n_rules = s.tree.rules().len();
    for i in 0..n_rules {
        let r = source_rule(s, i);
        match key_event(r.nr) {
            Some(ev) => out.set_event_rules(ev),
            None => syscall_rules = true,
        }
        let n = s.tree.node(r.root);
        if n.kind != node_kind::CONST || n.data == 0 {
            continue;
        }
        let best = key_info(s, r.nr).best;
        let better = match usize::from(best).checked_sub(1) {
            None => true,
            Some(b) => severity(r.action) > severity(source_rule(s, b).action),
        };
        if let (true, Some(k)) = (better, s.keys.get_mut(usize::from(r.nr))) {
            k.best = (i as u16).wrapping_add(1);
        }
    }
    for i in 0..n_rules {
        let r = source_rule(s, i);
        let info = key_info(s, r.nr);
        let live = live_pred(s, i);
        let decides = usize::from(info.best) == i.wrapping_add(1);
        let Some(k) = s.keys.get_mut(usize::from(r.nr)) else {
            continue;
        };
        if live {
            k.live = k.live.wrapping_add(1);
        }
        if (live || decides) && r.action != ACCEPT {
            k.act = true;
        }
    }
    // Keys whose deciding constant allows and that have no action rule:
    // allowed outright, as in v1.
    for i in 0..n_rules {
        let r = source_rule(s, i);
        let info = key_info(s, r.nr);
        if info.act || usize::from(info.best) != i.wrapping_add(1) {
            continue;
        }
        match key_event(r.nr) {
            Some(ev) => out.set_event_always_allows(ev),
            None => out.set_always_allows(usize::from(r.nr)),
        }
    }
    // A layer whose rules are all event rules leaves syscalls alone; one
    // without any rule restricts them (v1).
    if !syscall_rules && out.event_mask() != 0 {
        out.set_syscalls_unrestricted();
    }
}

/// Checks, in source order, that the compiled layer will fit, so that the
/// error names the first rule that does not fit.
fn check_size(s: &mut Scratch) -> StageResult<()> {
    // `bucket` marks keys that already have a group header.
    s.bucket.fill(0);
    let mut preds = 0usize;
    let mut units = 0usize;
    for i in 0..s.tree.rules().len() {
        let r = source_rule(s, i);
        let info = key_info(s, r.nr);
        let n = s.tree.node(r.root);
        let live = live_pred(s, i);
        // The deciding constant of a first-match program: one action unit.
        let trailing = info.act && info.live > 0 && usize::from(info.best) == i.wrapping_add(1);
        if !live && !trailing {
            continue;
        }
        if let Some(seen) = s.bucket.get_mut(usize::from(r.nr)) {
            if *seen == 0 {
                *seen = 1;
                units = units.wrapping_add(1);
            }
        }
        if info.act {
            units = units.wrapping_add(1);
        }
        if live {
            preds = preds.wrapping_add(usize::from(n.preds));
            units = units.wrapping_add(usize::from(n.units));
        }
        if preds > MAX_PROGRAM_PREDICATES || units > MAX_CODE {
            return Err((ErrorCode::ProgramTooLarge, r.offset as usize));
        }
    }
    Ok(())
}

/// Groups the rules by syscall number and emits each group.
fn emit(s: &mut Scratch, out: &mut Program) -> StageResult<()> {
    classify(s, out);
    check_size(s)?;
    let n_rules = s.tree.rules().len();
    // Counting sort of rule indices by syscall number (stable).
    s.bucket.fill(0);
    for r in s.tree.rules() {
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
    for (i, r) in s.tree.rules().iter().enumerate() {
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
        let Some(first) = s
            .order
            .get(i)
            .and_then(|&r| s.tree.rules.get(usize::from(r)))
        else {
            break;
        };
        let nr = first.nr;
        let mut j = i;
        while j < n_rules
            && s.order
                .get(j)
                .and_then(|&r| s.tree.rules.get(usize::from(r)))
                .is_some_and(|r| r.nr == nr)
        {
            j = j.wrapping_add(1);
        }
        group(s, out, i, j)?;
        i = j;
    }
    out.mark_eq_runs();
    Ok(())
}

fn rule_at(s: &Scratch, i: usize) -> Rule {
    s.order
        .get(i)
        .and_then(|&r| s.tree.rules.get(usize::from(r)))
        .copied()
        .unwrap_or(Rule::ZERO)
}

/// Emits the rules `order[from..to]` (all for one syscall or event).
fn group(s: &mut Scratch, out: &mut Program, from: usize, to: usize) -> StageResult<()> {
    let first = rule_at(s, from);
    let nr = usize::from(first.nr);
    let info = key_info(s, first.nr);
    if info.act {
        return action_group(s, out, from, to, info);
    }
    if key_always_allows(out, first.nr) {
        // One of its rules reduced to `1`: check_size has put the syscall in
        // the bitmap, and it needs no predicates.
        return Ok(());
    }
    // The other constant rules are `0`: dropped.
    let mut live = 0usize;
    for i in from..to {
        if s.tree.node(rule_at(s, i).root).kind != node_kind::CONST {
            live = live.wrapping_add(1);
        }
    }
    if live == 0 {
        return Ok(());
    }
    match key_event(first.nr) {
        Some(ev) => out.set_event_first_pred(ev),
        None => {
            if !out.set_first_pred(nr) {
                return Err((ErrorCode::SyscallNotSupported, first.offset as usize));
            }
        }
    }
    push_code(out, code::unit(code::GROUP, false, live), first.offset)?;
    let mut remaining = live;
    for i in from..to {
        let rule = rule_at(s, i);
        let root = s.tree.node(rule.root);
        if root.kind == node_kind::CONST {
            continue;
        }
        remaining = remaining.wrapping_sub(1);
        let on_false = if remaining == 0 {
            REJECT
        } else {
            out.next_pred().wrapping_add(root.preds)
        };
        lay_out(s, out, rule.root, ACCEPT, on_false, rule.offset)?;
    }
    Ok(())
}

/// Emits the rules `order[from..to]` of a key with action rules as a
/// first-match program: its live rules in order of severity (kill, errno,
/// log, allow; source order within one severity), each jumping to its
/// action's exit when true and to the next rule when false; the last
/// one's false exit is the deciding constant's action, or `REJECT` (the
/// default). The first true rule is then the most severe true rule.
fn action_group(
    s: &mut Scratch,
    out: &mut Program,
    from: usize,
    to: usize,
    info: KeyInfo,
) -> StageResult<()> {
    let first = rule_at(s, from);
    let key = usize::from(first.nr);
    let best = usize::from(info.best).checked_sub(1);
    let final_exit = best.map_or(REJECT, |b| source_rule(s, b).action);
    // The exit of the first rule in first-match order (the most severe).
    let mut top = final_exit;
    if info.live == 0 {
        out.set_action_entry(key, final_exit);
    } else {
        out.set_action_entry(key, out.next_pred().wrapping_add(1));
        let rules = usize::from(info.live).wrapping_add(usize::from(best.is_some()));
        push_code(out, code::unit(code::AGROUP, false, rules), first.offset)?;
        let mut remaining = info.live;
        for level in [3u8, 2, 1, 0] {
            for i in from..to {
                let src = usize::from(s.order.get(i).copied().unwrap_or(0));
                let rule = source_rule(s, src);
                if severity(rule.action) != level || !live_pred(s, src) {
                    continue;
                }
                if remaining == info.live {
                    top = rule.action;
                }
                remaining = remaining.wrapping_sub(1);
                let on_false = if remaining == 0 {
                    final_exit
                } else {
                    out.next_pred().wrapping_add(s.tree.node(rule.root).preds)
                };
                push_code(out, code::action_unit(rule.action, false), rule.offset)?;
                lay_out(s, out, rule.root, rule.action, on_false, rule.offset)?;
            }
        }
        if let Some(b) = best {
            let rule = source_rule(s, b);
            push_code(out, code::action_unit(rule.action, true), rule.offset)?;
        }
    }
    if let Some(ev) = key_event(first.nr) {
        // An unavailable path: the most severe of the rules' actions (as
        // if every rule were true) and the default, the rule's at equal
        // severity.
        let default = out.default_verdict();
        if let Some(v) = exit::verdict(top) {
            if v.severity() >= default.severity() && v != default {
                out.set_event_unavailable(ev, top);
            }
        }
    }
    Ok(())
}

/// Appends a readback unit, or fails with `ProgramTooLarge` at `offset`.
fn push_code(out: &mut Program, unit: u16, offset: u32) -> StageResult<()> {
    if out.push_code(unit) {
        Ok(())
    } else {
        Err((ErrorCode::ProgramTooLarge, offset as usize))
    }
}

/// Lays out one rule's tree from `root` with the given exits.
fn lay_out(
    s: &mut Scratch,
    out: &mut Program,
    root: u16,
    on_true: u16,
    on_false: u16,
    offset: u32,
) -> StageResult<()> {
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
        let n = s.tree.node(fr.node);
        let (t, f) = if n.neg {
            (fr.on_false, fr.on_true)
        } else {
            (fr.on_true, fr.on_false)
        };
        match n.kind {
            node_kind::LEAF => {
                push_code(out, code::unit(code::LEAF, n.neg, 0), offset)?;
                let leaf = s
                    .tree
                    .leaves
                    .get(usize::from(n.data))
                    .copied()
                    .unwrap_or(Leaf::ZERO);
                let mut p = if op::is_pooled(leaf.op) {
                    // Copy the literal into the program's pool, in
                    // predicate order (so the printed text recompiles to
                    // the same pool).
                    let (off, len, plen) = types::pool_parts(leaf.value);
                    let bytes = s.tree.pool.get(off..off.wrapping_add(len)).unwrap_or(&[]);
                    let Some(at) = out.push_pool(bytes) else {
                        return Err((ErrorCode::StringPoolFull, offset as usize));
                    };
                    Pred {
                        value: types::pool_ref(at, len, plen),
                        arg: leaf.arg,
                        op: leaf.op,
                        ..Pred::ZERO
                    }
                } else {
                    Pred::new(leaf.arg, leaf.op, types::ty_from_code(leaf.ty), leaf.value)
                };
                p.on_true = t;
                p.on_false = f;
                if !out.push_pred(p) {
                    return Err(err);
                }
            }
            node_kind::AND | node_kind::OR => {
                let is_and = n.kind == node_kind::AND;
                let kind = if is_and { code::AND } else { code::OR };
                push_code(out, code::unit(kind, n.neg, usize::from(n.data)), offset)?;
                // Children in order, with their targets; pushed, then the
                // pushed run is reversed so the first child is on top.
                let base = sp;
                let mut start = out.next_pred(); // first predicate of the child
                let mut c = n.first;
                let mut guard = MAX_NODES;
                while c != NIL {
                    guard = match guard.checked_sub(1) {
                        Some(g) => g,
                        None => return Err(err),
                    };
                    let cn = s.tree.node(c);
                    let next_start = start.wrapping_add(cn.preds);
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
