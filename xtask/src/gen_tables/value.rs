//! Integers with C's LP64 types: `IntTy` (int, unsigned int, long,
//! unsigned long) with the usual arithmetic conversions, `Val` (a value and
//! its type), `Scalar` (a scalar C type's width and signedness, for casts and
//! argument types), integer literals (`parse_number`, C11 6.4.4.1), the
//! evaluation error `EvalErr` (unknown to this generator vs. invalid) and
//! three-valued truth `Tri` for conditions that may be undecidable.
//!
//! Uses no other file; lex.rs, expr.rs and the files that use them build
//! on it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IntTy {
    Int,
    UInt,
    Long,
    ULong,
}

impl IntTy {
    fn unsigned(self) -> bool {
        matches!(self, IntTy::UInt | IntTy::ULong)
    }
    fn rank(self) -> u8 {
        match self {
            IntTy::Int | IntTy::UInt => 1,
            IntTy::Long | IntTy::ULong => 2,
        }
    }
    pub(super) fn wrap(self, v: i128) -> i128 {
        match self {
            IntTy::Int => v as i32 as i128,
            IntTy::UInt => v as u32 as i128,
            IntTy::Long => v as i64 as i128,
            IntTy::ULong => v as u64 as i128,
        }
    }
    pub(super) fn bits(self) -> u32 {
        if self.rank() == 1 {
            32
        } else {
            64
        }
    }
    /// C's usual arithmetic conversions (both operands already promoted).
    pub(super) fn common(a: IntTy, b: IntTy) -> IntTy {
        if a == b {
            return a;
        }
        if a.unsigned() == b.unsigned() {
            return if a.rank() >= b.rank() { a } else { b };
        }
        let (u, s) = if a.unsigned() { (a, b) } else { (b, a) };
        if u.rank() >= s.rank() {
            u
        } else {
            s // long can represent every unsigned int
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Val {
    pub(super) v: i128,
    pub(super) ty: IntTy,
}

impl Val {
    pub(super) fn new(v: i128, ty: IntTy) -> Val {
        Val { v: ty.wrap(v), ty }
    }
    pub(super) fn int(v: i128) -> Val {
        Val::new(v, IntTy::Int)
    }
    pub(super) fn to_i64(self) -> i64 {
        self.v as i64
    }
}

/// A scalar C type: width in bits and signedness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Scalar {
    pub(super) bits: u32,
    pub(super) signed: bool,
}

impl Scalar {
    pub(super) fn cast(self, v: Val) -> Val {
        let x = match (self.bits, self.signed) {
            (8, true) => v.v as i8 as i128,
            (8, false) => v.v as u8 as i128,
            (16, true) => v.v as i16 as i128,
            (16, false) => v.v as u16 as i128,
            (32, true) => v.v as i32 as i128,
            (32, false) => v.v as u32 as i128,
            (_, true) => v.v as i64 as i128,
            (_, false) => v.v as u64 as i128,
        };
        let ty = match (self.bits, self.signed) {
            (b, _) if b < 32 => IntTy::Int,
            (32, true) => IntTy::Int,
            (32, false) => IntTy::UInt,
            (_, true) => IntTy::Long,
            (_, false) => IntTy::ULong,
        };
        Val::new(x, ty)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EvalErr {
    /// Depends on something this generator cannot know.
    Unknown,
    /// Not a constant expression it can evaluate.
    Invalid(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    pub(super) fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }
    pub(super) fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }
    pub(super) fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

pub(super) fn parse_number(s: &str, pp: bool) -> Result<Val, EvalErr> {
    let lower = s.to_ascii_lowercase();
    let digits = lower.trim_end_matches(['u', 'l']);
    let suffix = &lower[digits.len()..];
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(b) = digits.strip_prefix("0b") {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    let v = u128::from_str_radix(body, radix).map_err(|_| EvalErr::Invalid("bad number"))?;
    if v > u64::MAX as u128 {
        return Err(EvalErr::Invalid("number too large"));
    }
    let v = v as i128;
    let unsigned = suffix.contains('u');
    let long = suffix.contains('l');
    if !matches!(suffix, "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu") {
        return Err(EvalErr::Invalid("bad number suffix"));
    }
    // C11 6.4.4.1: the first type of the list that can represent the value.
    let mut cands: Vec<IntTy> = Vec::new();
    if !long {
        if !unsigned {
            cands.push(IntTy::Int);
        }
        if unsigned || radix != 10 {
            cands.push(IntTy::UInt);
        }
    }
    if !unsigned {
        cands.push(IntTy::Long);
    }
    if unsigned || radix != 10 {
        cands.push(IntTy::ULong);
    }
    let ty = cands
        .into_iter()
        .find(|t| t.wrap(v) == v)
        .ok_or(EvalErr::Invalid("number too large for its type"))?;
    // #if arithmetic is done in intmax_t / uintmax_t.
    let ty = match (pp, ty) {
        (true, IntTy::Int) => IntTy::Long,
        (true, IntTy::UInt) => IntTy::ULong,
        (_, t) => t,
    };
    Ok(Val::new(v, ty))
}
