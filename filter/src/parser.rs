//! Parser: tokens to a parse tree ([`ast`](super::ast)), one line at a time.
//!
//! Expressions are parsed without recursion by an operator-precedence
//! (shunting-yard) machine whose two stacks are fixed arrays bounded by
//! [`MAX_DEPTH`]: at most one `(`, one `&&` and one `||` are pending per
//! nesting level, and consecutive `!` only toggle a flag. While reducing, the
//! tree is simplified: `&&`/`||` chains become one n-ary node, `!` is a flag
//! on a node (`!!x` is `x`), and `1`/`0` literals are folded away.
//! Names are [resolved](super::resolve) as they are read, so every leaf
//! holds an argument index, a type and a value already converted to it.
//!
//! A rule may end in `=> ACTION` (`allow`, `kill`, `log`, `errno NAME|N`):
//! `=>` ends the expression like the end of the line does, and the action
//! is stored with the rule as its jump exit ([`exit`]).
//!
//! Input: the [lexer](super::lexer)'s tokens; output: the [`Tree`] and the
//! default action. Nothing here knows how the tree is compiled.

use super::addr;
use super::ast::{node_kind, Leaf, Node, Rule, Tree, NIL};
use super::error::{ErrorCode, StageResult};
use super::event::{Event, FieldKind};
use super::lexer::{self, Lexer, Tok, Token};
use super::limits::{
    MAX_DEPTH, MAX_ERRNO, MAX_NODES, MAX_NR, MAX_OPSTACK, MAX_PREDICATES, MAX_RULES,
    MAX_STRING_BYTES,
};
use super::program::layout::exit;
use super::program::Verdict;
use super::resolve::{self, Val};
use super::types::{self, op};
use super::uapi::tables::{Arch, Syscall};

/// What a rule is for: its fields come from there.
#[derive(Clone, Copy)]
enum Subject {
    /// A syscall: its declared arguments and `arg0`..`arg5`.
    Syscall(&'static Syscall),
    /// An LSM-hook event: its fields.
    Event(Event),
}

/// Operator stack entry kinds.
const OP_PAREN: u8 = 0;
const OP_AND: u8 = 1;
const OP_OR: u8 = 2;

/// One pending operator of the shunting-yard machine.
#[derive(Clone, Copy, Default)]
pub(crate) struct OpFrame {
    kind: u8,
    /// For `(`: the group is negated (an odd number of `!` before it).
    neg: bool,
    /// Where the operator is (for "unbalanced '('").
    offset: u32,
}

/// The operator stack of the shunting-yard machine (in the caller's
/// [`Scratch`](super::Scratch)).
pub(crate) type OpStack = [OpFrame; MAX_OPSTACK];
/// Its operand stack: node ids.
pub(crate) type ValStack = [u16; MAX_OPSTACK + 1];

struct Parser<'a, 's> {
    lex: Lexer<'a>,
    arch: &'static Arch,
    tree: &'s mut Tree,
    ops: &'s mut OpStack,
    vals: &'s mut ValStack,
}

/// Parses a whole policy into `tree`, using `ops` and `vals` as the
/// expression stacks. Returns the default action.
pub(crate) fn parse(
    src: &[u8],
    arch: &'static Arch,
    tree: &mut Tree,
    ops: &mut OpStack,
    vals: &mut ValStack,
) -> StageResult<Verdict> {
    tree.clear();
    let mut p = Parser {
        lex: Lexer::new(src),
        arch,
        tree,
        ops,
        vals,
    };
    let mut out = Verdict::Kill;
    let mut seen_default = false;
    loop {
        let t = p.lex.next_token()?;
        match t.tok {
            Tok::Newline => continue,
            Tok::Eof => return Ok(out),
            Tok::Ident => {
                let t2 = p.lex.next_token()?;
                if t2.tok == Tok::Colon {
                    p.rule(&t)?;
                } else if p.lex.text(&t) == b"default" {
                    if seen_default {
                        return Err((ErrorCode::DuplicateDefault, t.start));
                    }
                    seen_default = true;
                    out = p.action(t2, ErrorCode::UnknownAction)?;
                } else {
                    return Err((ErrorCode::ExpectedColon, t2.start));
                }
            }
            _ => return Err((ErrorCode::ExpectedRule, t.start)),
        }
    }
}

fn is_end(t: &Token) -> bool {
    matches!(t.tok, Tok::Newline | Tok::Eof)
}

impl Parser<'_, '_> {
    /// `allow | kill | log | errno NAME | errno N` from its first token
    /// `t` (after `default` or `=>`), then the end of the line. `unknown`
    /// is the error for a `t` that starts no action.
    fn action(&mut self, t: Token, unknown: ErrorCode) -> StageResult<Verdict> {
        if t.tok != Tok::Ident {
            return Err((unknown, t.start));
        }
        let v = match self.lex.text(&t) {
            b"allow" => Verdict::Allow,
            b"kill" => Verdict::Kill,
            b"log" => Verdict::Log,
            b"errno" => {
                let v = self.lex.next_token()?;
                let n = match v.tok {
                    Tok::Ident => match resolve::errno(self.arch, self.lex.text(&v)) {
                        Some(n) => n,
                        None => return Err((ErrorCode::UnknownErrno, v.start)),
                    },
                    Tok::Number => i64::try_from(v.value).unwrap_or(i64::MAX),
                    Tok::Minus => return Err((ErrorCode::ErrnoOutOfRange, v.start)),
                    _ => return Err((ErrorCode::ExpectedValue, v.start)),
                };
                if n < 1 || n > i64::from(MAX_ERRNO) {
                    return Err((ErrorCode::ErrnoOutOfRange, v.start));
                }
                Verdict::Errno(n as u16)
            }
            _ => return Err((unknown, t.start)),
        };
        let end = self.lex.next_token()?;
        if !is_end(&end) {
            return Err((ErrorCode::ExpectedEndOfLine, end.start));
        }
        Ok(v)
    }

    /// `NAME: EXPR` after the colon.
    fn rule(&mut self, name: &Token) -> StageResult<()> {
        let text = self.lex.text(name);
        let (subject, key) = if let Some(ev) = Event::from_name(text) {
            (Subject::Event(ev), MAX_NR.wrapping_add(ev as usize))
        } else {
            let Some(sys) = resolve::syscall(self.arch, text) else {
                return Err((ErrorCode::UnknownSyscall, name.start));
            };
            if sys.nr as usize >= MAX_NR {
                return Err((ErrorCode::SyscallNotSupported, name.start));
            }
            (Subject::Syscall(sys), sys.nr as usize)
        };
        let n = usize::from(self.tree.n_rules);
        if n >= MAX_RULES {
            return Err((ErrorCode::TooManyRules, name.start));
        }
        let (root, end) = self.expr(subject)?;
        let action = if end.tok == Tok::Arrow {
            let t = self.lex.next_token()?;
            exit::of(self.action(t, ErrorCode::UnknownRuleAction)?)
        } else {
            exit::ACCEPT
        };
        let Some(slot) = self.tree.rules.get_mut(n) else {
            return Err((ErrorCode::TooManyRules, name.start));
        };
        *slot = Rule {
            nr: key as u16,
            root,
            offset: name.start as u32,
            action,
        };
        self.tree.n_rules = self.tree.n_rules.wrapping_add(1);
        Ok(())
    }

    /// Parses one expression up to the end of the line or `=>` (consumed,
    /// and returned with the root).
    fn expr(&mut self, subject: Subject) -> StageResult<(u16, Token)> {
        let mut n_ops = 0usize; // operator stack depth
        let mut n_vals = 0usize; // operand stack depth
        let mut depth = 0usize; // open parentheses
        let mut t = self.lex.next_token()?;
        loop {
            // Expecting an operand: any number of `!`, then `(` or a primary.
            let mut neg = false;
            while t.tok == Tok::Not {
                neg = !neg;
                t = self.lex.next_token()?;
            }
            match t.tok {
                Tok::LParen => {
                    depth = depth.wrapping_add(1);
                    if depth > MAX_DEPTH {
                        return Err((ErrorCode::TooDeep, t.start));
                    }
                    self.push_op(
                        &mut n_ops,
                        OpFrame {
                            kind: OP_PAREN,
                            neg,
                            offset: t.start as u32,
                        },
                        t.start,
                    )?;
                    t = self.lex.next_token()?;
                    continue;
                }
                Tok::Number => {
                    if t.end.wrapping_sub(t.start) != 1 || t.value > 1 {
                        return Err((ErrorCode::InvalidLiteral, t.start));
                    }
                    let id = self.new_const(t.value == 1, t.start)?;
                    self.toggle(id, neg);
                    self.push_val(&mut n_vals, id, t.start)?;
                    t = self.lex.next_token()?;
                }
                Tok::Ident => {
                    let (id, next) = self.predicate(subject, &t)?;
                    self.toggle(id, neg);
                    self.push_val(&mut n_vals, id, t.start)?;
                    t = next;
                }
                Tok::Quote | Tok::Str => return Err((ErrorCode::StringNotSupported, t.start)),
                _ => return Err((ErrorCode::ExpectedOperand, t.start)),
            }
            // Expecting an operator: `)`s, then `&&`, `||` or the end.
            loop {
                match t.tok {
                    Tok::RParen => {
                        loop {
                            let Some(top) = self.top_op(n_ops) else {
                                return Err((ErrorCode::UnbalancedClose, t.start));
                            };
                            n_ops = n_ops.wrapping_sub(1);
                            if top.kind == OP_PAREN {
                                if let Some(v) = self.top_val(n_vals) {
                                    self.toggle(v, top.neg);
                                }
                                break;
                            }
                            self.reduce(top.kind, &mut n_vals)?;
                        }
                        depth = depth.wrapping_sub(1);
                        t = self.lex.next_token()?;
                    }
                    Tok::AndAnd | Tok::OrOr => {
                        let kind = if t.tok == Tok::AndAnd { OP_AND } else { OP_OR };
                        // Reduce pending operators of higher or equal
                        // precedence (`&&` binds tighter than `||`).
                        while let Some(top) = self.top_op(n_ops) {
                            if top.kind == OP_PAREN || (kind == OP_AND && top.kind == OP_OR) {
                                break;
                            }
                            n_ops = n_ops.wrapping_sub(1);
                            self.reduce(top.kind, &mut n_vals)?;
                        }
                        self.push_op(
                            &mut n_ops,
                            OpFrame {
                                kind,
                                neg: false,
                                offset: t.start as u32,
                            },
                            t.start,
                        )?;
                        t = self.lex.next_token()?;
                        break;
                    }
                    Tok::Newline | Tok::Eof | Tok::Arrow => {
                        while let Some(top) = self.top_op(n_ops) {
                            if top.kind == OP_PAREN {
                                return Err((ErrorCode::UnbalancedOpen, top.offset as usize));
                            }
                            n_ops = n_ops.wrapping_sub(1);
                            self.reduce(top.kind, &mut n_vals)?;
                        }
                        return match (n_vals, self.top_val(n_vals)) {
                            (1, Some(v)) => Ok((v, t)),
                            _ => Err((ErrorCode::ExpectedOperand, t.start)),
                        };
                    }
                    Tok::Quote | Tok::Str => return Err((ErrorCode::StringNotSupported, t.start)),
                    _ => return Err((ErrorCode::ExpectedLogicalOp, t.start)),
                }
            }
        }
    }

    /// `FIELD OP VALUE` starting at the field token. Returns the leaf and
    /// the first token after the value.
    fn predicate(&mut self, subject: Subject, field: &Token) -> StageResult<(u16, Token)> {
        let name = self.lex.text(field);
        let found = match subject {
            Subject::Syscall(sys) => {
                resolve::field(sys, name).map(|(a, ty)| (a, FieldKind::Num(ty)))
            }
            Subject::Event(ev) => ev.field(name).map(|f| (f.id, f.kind)),
        };
        let Some((arg, kind)) = found else {
            return Err((ErrorCode::UnknownField, field.start));
        };
        let o = self.lex.next_token()?;
        let ty = match kind {
            FieldKind::Num(ty) => ty,
            FieldKind::Str => return self.string_predicate(arg, field, &o),
            FieldKind::Addr => return self.addr_predicate(arg, field, &o),
        };
        // A string on a syscall argument keeps v1's error; on a numeric
        // event field it is the new one.
        let string_error = match subject {
            Subject::Syscall(_) => ErrorCode::StringNotSupported,
            Subject::Event(_) => ErrorCode::UnexpectedString,
        };
        let opc = match o.tok {
            Tok::Eq => op::EQ,
            Tok::Ne => op::NE,
            Tok::Lt => op::LT,
            Tok::Le => op::LE,
            Tok::Gt => op::GT,
            Tok::Ge => op::GE,
            Tok::Amp => op::BAND,
            Tok::Ident if self.lex.text(&o) == b"in" => op::IN,
            Tok::BadOp
            | Tok::Arrow
            | Tok::Tilde
            | Tok::Pipe
            | Tok::Not
            | Tok::Minus
            | Tok::Colon => return Err((ErrorCode::InvalidOperator, o.start)),
            _ => return Err((ErrorCode::ExpectedComparison, o.start)),
        };
        // VALUE = TERM ('|' TERM)*
        let mut first = self.lex.next_token()?;
        let value_start = first.start;
        let mut val = Val::ZERO;
        let next = loop {
            let term = match first.tok {
                Tok::Number => Val::from_u64(first.value),
                Tok::Minus => {
                    let n = self.lex.next_token()?;
                    if n.tok != Tok::Number {
                        return Err((ErrorCode::ExpectedValue, n.start));
                    }
                    match Val::negated(n.value) {
                        Some(v) => v,
                        None => return Err((ErrorCode::ValueOutOfRange, first.start)),
                    }
                }
                Tok::Ident => {
                    let text = self.lex.text(&first);
                    if text == b"NULL" {
                        Val::ZERO
                    } else {
                        match resolve::constant(self.arch, text) {
                            Some(c) => Val::from_i64(c),
                            None => return Err((ErrorCode::UnknownConstant, first.start)),
                        }
                    }
                }
                Tok::Quote => return Err((ErrorCode::StringNotSupported, first.start)),
                Tok::Str => return Err((string_error, first.start)),
                Tok::BadOp | Tok::Arrow | Tok::Tilde => {
                    return Err((ErrorCode::InvalidOperator, first.start))
                }
                _ => return Err((ErrorCode::ExpectedValue, first.start)),
            };
            val = val.or(term);
            let after = self.lex.next_token()?;
            if after.tok != Tok::Pipe {
                break after;
            }
            first = self.lex.next_token()?;
        };
        let Some(value) = resolve::fit(ty, val) else {
            return Err((ErrorCode::ValueOutOfRange, value_start));
        };
        let id = self.new_leaf(
            Leaf {
                value,
                arg,
                op: opc,
                ty: types::ty_code(ty),
            },
            field.start,
        )?;
        Ok((id, next))
    }

    /// `path OP "..."` after the field (`o` is the operator token).
    fn string_predicate(&mut self, arg: u8, field: &Token, o: &Token) -> StageResult<(u16, Token)> {
        let opc = match o.tok {
            Tok::Eq => op::STR_EQ,
            Tok::Ne => op::STR_NE,
            Tok::Tilde => op::GLOB,
            Tok::Ident if self.lex.text(o) == b"in" => {
                return Err((ErrorCode::InvalidOperator, o.start))
            }
            Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Amp
            | Tok::BadOp
            | Tok::Arrow
            | Tok::Pipe
            | Tok::Not
            | Tok::Minus
            | Tok::Colon => return Err((ErrorCode::InvalidOperator, o.start)),
            _ => return Err((ErrorCode::ExpectedComparison, o.start)),
        };
        let v = self.lex.next_token()?;
        if v.tok != Tok::Str {
            return Err((ErrorCode::ExpectedString, v.start));
        }
        let text = self.lex.text(&v);
        let len = v.value as usize;
        let off = self.pool_take(len, v.start)?;
        let dst = self
            .tree
            .pool
            .get_mut(off..off.wrapping_add(len))
            .unwrap_or(&mut []);
        for (d, b) in dst.iter_mut().zip(lexer::unescape(text)) {
            *d = b;
        }
        self.pooled_leaf(arg, opc, types::pool_ref(off, len, 0), field)
    }

    /// `addr OP ADDRESS[/LEN]` after the field (`o` is the operator token).
    fn addr_predicate(&mut self, arg: u8, field: &Token, o: &Token) -> StageResult<(u16, Token)> {
        let opc = match o.tok {
            Tok::Eq => op::ADDR_EQ,
            Tok::Ne => op::ADDR_NE,
            Tok::Ident if self.lex.text(o) == b"in" => op::ADDR_IN,
            Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Amp
            | Tok::Tilde
            | Tok::BadOp
            | Tok::Arrow
            | Tok::Pipe
            | Tok::Not
            | Tok::Minus
            | Tok::Colon => return Err((ErrorCode::InvalidOperator, o.start)),
            _ => return Err((ErrorCode::ExpectedComparison, o.start)),
        };
        let v = self.lex.address()?;
        match v.tok {
            Tok::Addr => {}
            Tok::Str => return Err((ErrorCode::UnexpectedString, v.start)),
            _ => return Err((ErrorCode::InvalidAddress, v.start)),
        }
        let text = self.lex.text(&v);
        if opc != op::ADDR_IN {
            // A prefix only makes sense with `in`.
            if let Some(slash) = text.iter().position(|&b| b == b'/') {
                return Err((ErrorCode::InvalidPrefix, v.start.wrapping_add(slash)));
            }
        }
        let cidr = match addr::parse_cidr(text) {
            Ok(c) => c,
            Err((code, at)) => return Err((code, v.start.wrapping_add(at))),
        };
        let off = self.pool_take(16, v.start)?;
        if let Some(dst) = self.tree.pool.get_mut(off..off.wrapping_add(16)) {
            dst.copy_from_slice(&cidr.addr);
        }
        self.pooled_leaf(arg, opc, types::pool_ref(off, 16, cidr.plen), field)
    }

    /// Claims `len` bytes of the string pool ([`MAX_STRING_BYTES`]).
    fn pool_take(&mut self, len: usize, at: usize) -> StageResult<usize> {
        let off = usize::from(self.tree.n_pool);
        let end = off.wrapping_add(len);
        if end > MAX_STRING_BYTES {
            return Err((ErrorCode::StringPoolFull, at));
        }
        self.tree.n_pool = end as u16;
        Ok(off)
    }

    /// The leaf of a string or address comparison, and the token after it.
    fn pooled_leaf(
        &mut self,
        arg: u8,
        opc: u8,
        value: u64,
        field: &Token,
    ) -> StageResult<(u16, Token)> {
        let id = self.new_leaf(
            Leaf {
                value,
                arg,
                op: opc,
                ty: 0,
            },
            field.start,
        )?;
        Ok((id, self.lex.next_token()?))
    }

    /// A comparison leaf and its node.
    fn new_leaf(&mut self, leaf: Leaf, at: usize) -> StageResult<u16> {
        let i = self.take_leaf_slot(at)?;
        if let Some(slot) = self.tree.leaves.get_mut(usize::from(i)) {
            *slot = leaf;
        }
        self.alloc(Node::leaf(i), at)
    }

    /// A literal `1`/`0`: a node of its own, and it takes a leaf slot so
    /// that literals count as predicates.
    fn new_const(&mut self, value: bool, at: usize) -> StageResult<u16> {
        let i = self.take_leaf_slot(at)?;
        if let Some(slot) = self.tree.leaves.get_mut(usize::from(i)) {
            *slot = Leaf::ZERO;
        }
        self.alloc(Node::constant(value), at)
    }

    /// Claims the next leaf slot ([`MAX_PREDICATES`]).
    fn take_leaf_slot(&mut self, at: usize) -> StageResult<u16> {
        let i = self.tree.n_leaves;
        if usize::from(i) >= MAX_PREDICATES {
            return Err((ErrorCode::TooManyPredicates, at));
        }
        self.tree.n_leaves = i.wrapping_add(1);
        Ok(i)
    }

    fn alloc(&mut self, node: Node, at: usize) -> StageResult<u16> {
        let i = usize::from(self.tree.n_nodes);
        if i >= MAX_NODES {
            return Err((ErrorCode::TooManyPredicates, at));
        }
        match self.tree.nodes.get_mut(i) {
            Some(slot) => *slot = node,
            None => return Err((ErrorCode::TooManyPredicates, at)),
        }
        self.tree.n_nodes = self.tree.n_nodes.wrapping_add(1);
        Ok(i as u16)
    }

    /// Applies a `!` (if `neg`) to node `id`: constants flip, other nodes
    /// toggle their negation flag.
    fn toggle(&mut self, id: u16, neg: bool) {
        if !neg {
            return;
        }
        if let Some(n) = self.tree.nodes.get_mut(usize::from(id)) {
            if n.kind == node_kind::CONST {
                n.data ^= 1;
            } else {
                n.neg = !n.neg;
            }
        }
    }

    fn push_op(&mut self, n_ops: &mut usize, f: OpFrame, at: usize) -> StageResult<()> {
        match self.ops.get_mut(*n_ops) {
            Some(slot) => *slot = f,
            None => return Err((ErrorCode::TooDeep, at)),
        }
        *n_ops = n_ops.wrapping_add(1);
        Ok(())
    }

    fn top_op(&self, n_ops: usize) -> Option<OpFrame> {
        self.ops.get(n_ops.checked_sub(1)?).copied()
    }

    fn push_val(&mut self, n_vals: &mut usize, v: u16, at: usize) -> StageResult<()> {
        match self.vals.get_mut(*n_vals) {
            Some(slot) => *slot = v,
            None => return Err((ErrorCode::TooDeep, at)),
        }
        *n_vals = n_vals.wrapping_add(1);
        Ok(())
    }

    fn top_val(&self, n_vals: usize) -> Option<u16> {
        self.vals.get(n_vals.checked_sub(1)?).copied()
    }

    /// Pops two operands, combines them with `&&` or `||`, pushes the result.
    fn reduce(&mut self, kind: u8, n_vals: &mut usize) -> StageResult<()> {
        let (Some(y), Some(x)) = (self.top_val(*n_vals), self.top_val(n_vals.wrapping_sub(1)))
        else {
            return Err((ErrorCode::ExpectedOperand, 0));
        };
        *n_vals = n_vals.wrapping_sub(2);
        let kind = if kind == OP_AND {
            node_kind::AND
        } else {
            node_kind::OR
        };
        let v = self.combine(kind, x, y)?;
        self.push_val(n_vals, v, 0)
    }

    fn node(&self, id: u16) -> Node {
        self.tree.node(id)
    }

    fn set_node(&mut self, id: u16, n: Node) {
        if let Some(slot) = self.tree.nodes.get_mut(usize::from(id)) {
            *slot = n;
        }
    }

    /// `x && y` or `x || y`, simplified: constants fold, and un-negated
    /// nodes of the same kind merge into one n-ary node.
    fn combine(&mut self, kind: u8, x: u16, y: u16) -> StageResult<u16> {
        let nx = self.node(x);
        let ny = self.node(y);
        // The constant that decides the result (0 for &&, 1 for ||) and the
        // one that is neutral.
        let absorbing = u16::from(kind == node_kind::OR);
        if nx.kind == node_kind::CONST {
            return Ok(if nx.data == absorbing { x } else { y });
        }
        if ny.kind == node_kind::CONST {
            return Ok(if ny.data == absorbing { y } else { x });
        }
        let (target, mut nt) = if nx.kind == kind && !nx.neg {
            (x, nx)
        } else {
            let n = Node {
                kind,
                neg: false,
                preds: nx.preds,
                units: nx.units.wrapping_add(1),
                first: x,
                last: x,
                next: NIL,
                data: 1,
            };
            (self.alloc(n, 0)?, n)
        };
        // Append y (or y's children) after the last child.
        let (first, last, count, units) = if ny.kind == kind && !ny.neg {
            // y's own unit disappears in the merge
            (ny.first, ny.last, ny.data, ny.units.wrapping_sub(1))
        } else {
            (y, y, 1, ny.units)
        };
        let mut tail = self.node(nt.last);
        tail.next = first;
        self.set_node(nt.last, tail);
        nt.last = last;
        nt.preds = nt.preds.wrapping_add(ny.preds);
        nt.units = nt.units.wrapping_add(units);
        nt.data = nt.data.wrapping_add(count);
        self.set_node(target, nt);
        Ok(target)
    }
}
