//! The parse tree: what the [parser](super::parser) produces and the
//! [compiler](mod@super::compile) consumes. Plain data and a few accessors.
//!
//! A policy is a list of [`Rule`]s (one per `EVENT: EXPR` line, in source
//! order) plus its default action (a [`Verdict`](super::program::Verdict)). Each rule's expression is a tree of
//! [`Node`]s in one arena ([`Tree::nodes`], indices are `u16`, [`NIL`] is
//! "none"):
//!
//! * a [`node_kind::LEAF`] is one comparison, already resolved and typed:
//!   its [`Leaf`] (argument index, operator, type, value converted to the
//!   type) is in [`Tree::leaves`];
//! * [`node_kind::AND`] / [`node_kind::OR`] are n-ary: the children are a
//!   linked list (`first`, then `next` of each child, `last` for appending);
//! * [`node_kind::CONST`] is a `1`/`0` the parser could not fold away (only
//!   ever a whole rule: folding removes it from any `&&`/`||`);
//! * negation is a flag on a node (`!!x` is `x`).
//!
//! Everything here is integers and `bool`s, so zeroed memory is a valid
//! [`Tree`] (it lives in the caller's [`Scratch`](super::Scratch)).

use super::limits::{MAX_NODES, MAX_PREDICATES, MAX_RULES, MAX_STRING_BYTES};

/// "No node".
pub(crate) const NIL: u16 = 0xffff;

/// Node kinds ([`Node::kind`]).
pub(crate) mod node_kind {
    /// A comparison (`data` = index in [`Tree::leaves`](super::Tree::leaves)).
    pub(crate) const LEAF: u8 = 1;
    /// `&&` over `data` children.
    pub(crate) const AND: u8 = 2;
    /// `||` over `data` children.
    pub(crate) const OR: u8 = 3;
    /// Literal `1`/`0` (`data`).
    pub(crate) const CONST: u8 = 4;
}

/// One parse tree node (14 bytes).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Node {
    /// One of [`node_kind`].
    pub(crate) kind: u8,
    /// The subtree is negated.
    pub(crate) neg: bool,
    /// Number of comparisons below (and including) this node: the compiled
    /// predicates it will take (literals take none).
    pub(crate) preds: u16,
    /// Number of readback code units it will take (one per comparison and
    /// per `&&`/`||` node).
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

const _: () = assert!(core::mem::size_of::<Node>() == 14);

impl Node {
    /// The all-zero-but-unlinked node (unused slots, out-of-range reads).
    pub(crate) const ZERO: Node = Node {
        kind: 0,
        neg: false,
        preds: 0,
        units: 0,
        first: NIL,
        last: NIL,
        next: NIL,
        data: 0,
    };

    /// A comparison node for leaf `leaf`: one predicate, one code unit.
    pub(crate) fn leaf(leaf: u16) -> Node {
        Node {
            kind: node_kind::LEAF,
            neg: false,
            preds: 1,
            units: 1,
            first: NIL,
            last: NIL,
            next: NIL,
            data: leaf,
        }
    }

    /// A literal `1` (`true`) or `0`: no predicate, no code unit.
    pub(crate) fn constant(value: bool) -> Node {
        Node {
            kind: node_kind::CONST,
            neg: false,
            preds: 0,
            units: 0,
            first: NIL,
            last: NIL,
            next: NIL,
            data: u16::from(value),
        }
    }
}

/// One comparison, resolved: `args[arg] OP value` in the argument's type
/// (16 bytes). On a string or address field of an event, `arg` is the
/// field id, `op` one of the pooled operators, and `value` a
/// [`pool_ref`](super::types::pool_ref) into [`Tree::pool`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Leaf {
    /// The written value converted to the argument's type: sign- or
    /// zero-extended from the type's width to 64 bits.
    pub(crate) value: u64,
    /// Argument index, `0..6`.
    pub(crate) arg: u8,
    /// One of [`types::op`](super::types::op).
    pub(crate) op: u8,
    /// The argument's type, as [`types::ty_code`](super::types::ty_code).
    pub(crate) ty: u8,
}

const _: () = assert!(core::mem::size_of::<Leaf>() == 16);

impl Leaf {
    /// The all-zero leaf (unused slots).
    pub(crate) const ZERO: Leaf = Leaf {
        value: 0,
        arg: 0,
        op: 0,
        ty: 0,
    };
}

/// One parsed rule (`EVENT: EXPR`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rule {
    /// What the rule is for: a syscall number (`< MAX_NR`), or
    /// `MAX_NR + event` for an event rule (so events sort after syscalls).
    pub(crate) nr: u16,
    /// Root node of its expression.
    pub(crate) root: u16,
    /// Offset of the syscall name in the source (for errors).
    pub(crate) offset: u32,
    /// What the rule does when its expression is true, as a jump exit
    /// ([`exit`](super::program::layout::exit)): `ACCEPT` for a plain
    /// (allow) rule.
    pub(crate) action: u16,
}

impl Rule {
    /// The all-zero rule (unused slots).
    pub(crate) const ZERO: Rule = Rule {
        nr: 0,
        root: 0,
        offset: 0,
        action: 0,
    };
}

/// The parse tree of one policy: node arena, comparisons, rules.
pub(crate) struct Tree {
    /// Node arena.
    pub(crate) nodes: [Node; MAX_NODES],
    /// One slot per comparison and per `1`/`0` in the text (literals take a
    /// slot too, so that [`MAX_PREDICATES`] counts both).
    pub(crate) leaves: [Leaf; MAX_PREDICATES],
    /// Rules in source order.
    pub(crate) rules: [Rule; MAX_RULES],
    /// Nodes in use.
    pub(crate) n_nodes: u16,
    /// Leaf slots in use.
    pub(crate) n_leaves: u16,
    /// Rules in use.
    pub(crate) n_rules: u16,
    /// The decoded string and address literals of the text, in text order.
    pub(crate) pool: [u8; MAX_STRING_BYTES],
    /// Pool bytes in use.
    pub(crate) n_pool: u16,
}

impl Tree {
    /// An empty tree (host builds only: it is built on the stack).
    #[cfg(not(strbox_kmod))]
    pub(crate) const fn new() -> Tree {
        Tree {
            nodes: [Node::ZERO; MAX_NODES],
            leaves: [Leaf::ZERO; MAX_PREDICATES],
            rules: [Rule::ZERO; MAX_RULES],
            n_nodes: 0,
            n_leaves: 0,
            n_rules: 0,
            pool: [0; MAX_STRING_BYTES],
            n_pool: 0,
        }
    }

    /// Forgets every node, leaf and rule.
    pub(crate) fn clear(&mut self) {
        self.n_nodes = 0;
        self.n_leaves = 0;
        self.n_rules = 0;
        self.n_pool = 0;
    }

    /// Node `id` (a zero node if out of range).
    pub(crate) fn node(&self, id: u16) -> Node {
        self.nodes
            .get(usize::from(id))
            .copied()
            .unwrap_or(Node::ZERO)
    }

    /// The rules in use, in source order.
    pub(crate) fn rules(&self) -> &[Rule] {
        let n = usize::from(self.n_rules).min(MAX_RULES);
        self.rules.get(..n).unwrap_or(&[])
    }
}
