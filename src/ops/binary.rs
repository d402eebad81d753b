//! Elementwise binary ops with numpy broadcasting: arithmetic (ADD, SUB, MUL, DIV, MAXIMUM,
//! MINIMUM, SQUARED_DIFFERENCE, POW, FLOOR_DIV, FLOOR_MOD, ATAN2), bitwise ops (BITWISE_XOR,
//! RIGHT_SHIFT), comparisons, logical ops, SELECT, and ADD_N.

use super::util::{activate, activate_int, broadcast_shape, broadcast_strides, inp, integer_2};
use super::{fused_activation, opts, IntegerRule, KResult, OpDef, OpSignature, PrepareCtx, Prepared};
use crate::ir::{Buf, Elem, Value, Values};
use crate::schema::{
    ActivationFunctionType, AddOptionsT, BuiltinOperator as B, BuiltinOptionsT as O, SubOptionsT, TensorType,
};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    let arith_op = |op: B, a: Arith| OpDef::builtin(op).kernel(move |ctx| prepare_arith(ctx, a));
    add(arith_op(B::ADD, Arith::Add)
        .int_kernel(|ctx| super::integer::add_sub(ctx, false))
        .integer(IntegerRule { int16_options: Some(general_scale_add), ..IntegerRule::calibrated(true) })
        .version(integer_2, &[1, 2])
        .activation(fused_activation!(AddOptions, absorbs: Always)));
    add(arith_op(B::SUB, Arith::Sub)
        .int_kernel(|ctx| super::integer::add_sub(ctx, true))
        .integer(IntegerRule { int16_options: Some(general_scale_sub), ..IntegerRule::calibrated(true) })
        .version(integer_2, &[1, 2])
        .activation(fused_activation!(SubOptions, absorbs: Always)));
    add(arith_op(B::MUL, Arith::Mul)
        .int_kernel(super::integer::mul)
        .integer(IntegerRule::calibrated(true))
        .version(mul_version, &[1, 2, 3])
        .activation(fused_activation!(MulOptions, absorbs: Always)));
    add(arith_op(B::DIV, Arith::Div)
        // The kernel runs int8 DIV models others wrote. tflq writes none: LiteRT's int8 DIV
        // returns far-off values where the dividend quantizes to its zero point (measured: -4.49
        // for a quotient of -0.014), which is common (ReLU outputs, centred data).
        .int_kernel(super::integer::div)
        .float_note("LiteRT's int8 DIV kernel is wrong where the dividend quantizes to its zero point; TF keeps DIV float in 16x8")
        .activation(fused_activation!(DivOptions, absorbs: Never)));
    add(arith_op(B::MAXIMUM, Arith::Max)
        .int_kernel(|ctx| super::integer::max_min(ctx, true))
        .integer(IntegerRule::shared())
        .version(integer_2, &[1, 2]));
    add(arith_op(B::MINIMUM, Arith::Min)
        .int_kernel(|ctx| super::integer::max_min(ctx, false))
        .integer(IntegerRule::shared())
        .version(integer_2, &[1, 2]));
    add(arith_op(B::SQUARED_DIFFERENCE, Arith::SqDiff)
        .int_kernel(super::integer::squared_difference)
        .integer(IntegerRule::calibrated(false))
        .version(integer_2, &[1, 2]));
    add(arith_op(B::POW, Arith::Pow));
    add(arith_op(B::FLOOR_DIV, Arith::FloorDiv));
    add(arith_op(B::FLOOR_MOD, Arith::FloorMod));
    for (op, c) in [
        (B::LESS, Cmp::Less),
        (B::LESS_EQUAL, Cmp::LessEq),
        (B::GREATER, Cmp::Greater),
        (B::GREATER_EQUAL, Cmp::GreaterEq),
        (B::EQUAL, Cmp::Eq),
        (B::NOT_EQUAL, Cmp::NotEq),
    ] {
        // LiteRT's int8 comparisons rescale each input (their output is bool); TF 2.21 writes
        // them at v2, and its 16x8 conversion fails to prepare (kernel facts §3.2).
        add(OpDef::builtin(op)
            .kernel(move |_| Ok(Prepared::one(move |ins| compare(inp(ins, 0)?, inp(ins, 1)?, c))))
            .int_kernel(move |ctx| super::integer::compare(ctx, c))
            .integer(IntegerRule::calibrated(false))
            .version(integer_2, &[1, 2]));
    }
    for (op, and) in [(B::LOGICAL_AND, true), (B::LOGICAL_OR, false)] {
        add(OpDef::builtin(op).kernel(move |_| Ok(Prepared::one(move |ins| logical(inp(ins, 0)?, inp(ins, 1)?, and)))));
    }
    add(OpDef::builtin(B::LOGICAL_NOT).kernel(|_| Ok(Prepared::one(|ins| logical_not(inp(ins, 0)?)))));
    add(OpDef::builtin(B::ATAN2).kernel(|_| Ok(Prepared::one(|ins| atan2(inp(ins, 0)?, inp(ins, 1)?)))));
    for (op, xor) in [(B::BITWISE_XOR, true), (B::RIGHT_SHIFT, false)] {
        add(OpDef::builtin(op).kernel(move |_| Ok(Prepared::one(move |ins| bitwise(inp(ins, 0)?, inp(ins, 1)?, xor)))));
    }
    add(OpDef::builtin(B::ADD_N).kernel(|_| Ok(Prepared::one(add_n))));
    let select_op = |v1: bool| {
        move |_: &PrepareCtx| Ok(Prepared::one(move |ins| select(inp(ins, 0)?, inp(ins, 1)?, inp(ins, 2)?, v1)))
    };
    add(OpDef::builtin(B::SELECT).kernel(select_op(true)));
    // LiteRT's SELECT_V2 copies x or y unchanged: both share the output's parameters.
    add(OpDef::builtin(B::SELECT_V2)
        .kernel(select_op(false))
        .int_same()
        .integer(IntegerRule::shared().int8_only())
        .version(|s| if s.integer(1) { 2 } else { 1 }, &[1, 2]));
}

/// int8 3 when the output's real multiplier s1·s2/s_out is at least 1 (TF's rule), else as
/// [`integer_2`].
fn mul_version(s: &OpSignature) -> i32 {
    let scale = |t: Option<&super::TensorSig>| t.and_then(|t| t.scale).map_or(0.0, f64::from);
    let out = scale(s.outputs.first());
    if s.input_type(0) == TensorType::INT8
        && s.inputs.len() == 2
        && out > 0.0
        && scale(s.input(0)) * scale(s.input(1)) / out >= 1.0
    {
        return 3;
    }
    integer_2(s)
}

/// 16x8 ADD with general (not power-of-two) scales.
fn general_scale_add(o: &mut O) {
    match o {
        O::AddOptions(o) => o.pot_scale_int16 = false,
        O::NONE => *o = O::AddOptions(Box::new(AddOptionsT { pot_scale_int16: false, ..AddOptionsT::default() })),
        _ => {}
    }
}

fn general_scale_sub(o: &mut O) {
    match o {
        O::SubOptions(o) => o.pot_scale_int16 = false,
        O::NONE => *o = O::SubOptions(Box::new(SubOptionsT { pot_scale_int16: false, ..SubOptionsT::default() })),
        _ => {}
    }
}

fn prepare_arith(ctx: &PrepareCtx, op: Arith) -> KResult<Prepared> {
    let act = match op {
        Arith::Add => opts!(ctx, AddOptions).fused_activation_function,
        Arith::Sub => opts!(ctx, SubOptions).fused_activation_function,
        Arith::Mul => opts!(ctx, MulOptions).fused_activation_function,
        Arith::Div => opts!(ctx, DivOptions).fused_activation_function,
        _ => ActivationFunctionType::NONE,
    };
    Ok(Prepared::one(move |ins| arith(inp(ins, 0)?, inp(ins, 1)?, op, act)))
}

/// LOGICAL_NOT.
fn logical_not(v: &Value) -> KResult<Value> {
    let Values::Bool(x) = &v.values else { return Err("LOGICAL_NOT needs BOOL".into()) };
    Ok(Value::new(v.shape.clone(), Values::Bool(x.iter().map(|&b| !b).collect())))
}

/// Calls `f(out_offset_start, a_offset, a_step, b_offset, b_step, len)` for every innermost row
/// of the broadcast output.
fn for_rows(out: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) {
    let r = out.len();
    if r == 0 {
        f(0, 0, 0, 0, 0, 1);
        return;
    }
    let inner = out[r - 1];
    let rows: usize = out[..r - 1].iter().product();
    if inner == 0 || rows == 0 {
        return;
    }
    let mut idx = vec![0usize; r - 1];
    let (mut oa, mut ob) = (0usize, 0usize);
    for row in 0..rows {
        f(row * inner, oa, sa[r - 1], ob, sb[r - 1], inner);
        // Advance the outer index.
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < out[d] {
                break;
            }
            oa -= sa[d] * out[d];
            ob -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// `f(a, b)` over the numpy broadcast of `a` and `b`.
pub(crate) fn binary<A: Copy, B: Copy, O: Copy + Default>(
    a: &[A],
    ash: &[usize],
    b: &[B],
    bsh: &[usize],
    f: impl Fn(A, B) -> O,
) -> KResult<(Vec<usize>, Buf<O>)> {
    if ash == bsh {
        return Ok((ash.to_vec(), a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()));
    }
    let out = broadcast_shape(ash, bsh)?;
    let n: usize = out.iter().product();
    if b.len() == 1 && a.len() == n {
        let y = b[0];
        return Ok((out, a.iter().map(|&x| f(x, y)).collect()));
    }
    if a.len() == 1 && b.len() == n {
        let x = a[0];
        return Ok((out, b.iter().map(|&y| f(x, y)).collect()));
    }
    let sa = broadcast_strides(ash, &out);
    let sb = broadcast_strides(bsh, &out);
    let mut res = Buf::filled(O::default(), n);
    for_rows(&out, &sa, &sb, |o, ia, da, ib, db, len| {
        let dst = &mut res[o..o + len];
        match (da, db) {
            (1, 1) => {
                for ((d, &x), &y) in dst.iter_mut().zip(&a[ia..ia + len]).zip(&b[ib..ib + len]) {
                    *d = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[ib];
                for (d, &x) in dst.iter_mut().zip(&a[ia..ia + len]) {
                    *d = f(x, y);
                }
            }
            _ => {
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = f(a[ia + k * da], b[ib + k * db]);
                }
            }
        }
    });
    Ok((out, res))
}

/// Broadcasts `v` to `out` (which must be a valid broadcast target).
pub(crate) fn broadcast_to<T: Copy + Default>(v: &[T], shape: &[usize], out: &[usize]) -> KResult<Buf<T>> {
    if broadcast_shape(shape, out)? != out {
        return Err(format!("cannot broadcast {shape:?} to {out:?}"));
    }
    let n: usize = out.iter().product();
    let z = Buf::filled(T::default(), n);
    binary(v, shape, &z, out, |x, _| x).map(|(_, r)| r)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    SqDiff,
    Pow,
    FloorDiv,
    FloorMod,
}

fn int_arith<T>(op: Arith) -> KResult<fn(T, T) -> Option<T>>
where
    T: num_like::Int,
{
    Ok(match op {
        Arith::Add => |a: T, b: T| a.add(b),
        Arith::Sub => |a: T, b: T| a.sub(b),
        Arith::Mul => |a: T, b: T| a.mul(b),
        Arith::Div => |a: T, b: T| a.div(b),
        Arith::Max => |a: T, b: T| Some(if a > b { a } else { b }),
        Arith::Min => |a: T, b: T| Some(if a < b { a } else { b }),
        Arith::SqDiff => |a: T, b: T| a.sub(b).and_then(|d| d.mul(d)),
        Arith::Pow => |a: T, b: T| a.pow(b),
        Arith::FloorDiv => |a: T, b: T| a.floor_div(b),
        Arith::FloorMod => |a: T, b: T| a.floor_mod(b),
    })
}

/// Integer helpers for the arithmetic kernels (wrapping like C++ for add/sub/mul).
pub(crate) mod num_like {
    pub(crate) trait Int: Copy + PartialOrd + Default {
        fn add(self, b: Self) -> Option<Self>;
        fn sub(self, b: Self) -> Option<Self>;
        fn mul(self, b: Self) -> Option<Self>;
        fn div(self, b: Self) -> Option<Self>;
        fn pow(self, b: Self) -> Option<Self>;
        fn floor_div(self, b: Self) -> Option<Self>;
        fn floor_mod(self, b: Self) -> Option<Self>;
    }
    macro_rules! int {
        ($t:ty) => {
            impl Int for $t {
                fn add(self, b: Self) -> Option<Self> {
                    Some(self.wrapping_add(b))
                }
                fn sub(self, b: Self) -> Option<Self> {
                    Some(self.wrapping_sub(b))
                }
                fn mul(self, b: Self) -> Option<Self> {
                    Some(self.wrapping_mul(b))
                }
                fn div(self, b: Self) -> Option<Self> {
                    self.checked_div(b)
                }
                fn pow(self, b: Self) -> Option<Self> {
                    u32::try_from(b).ok().map(|e| self.wrapping_pow(e))
                }
                fn floor_div(self, b: Self) -> Option<Self> {
                    let q = self.checked_div(b)?;
                    Some(if (self % b != 0) && ((self < 0) != (b < 0)) { q - 1 } else { q })
                }
                fn floor_mod(self, b: Self) -> Option<Self> {
                    let r = self.checked_rem(b)?;
                    Some(if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r })
                }
            }
        };
    }
    int!(i32);
    int!(i64);
}

fn f32_arith(op: Arith) -> fn(f32, f32) -> f32 {
    match op {
        Arith::Add => |a, b| a + b,
        Arith::Sub => |a, b| a - b,
        Arith::Mul => |a, b| a * b,
        Arith::Div => |a, b| a / b,
        Arith::Max => |a: f32, b: f32| if a > b || a.is_nan() { a } else { b },
        Arith::Min => |a: f32, b: f32| if a < b || a.is_nan() { a } else { b },
        Arith::SqDiff => |a, b| (a - b) * (a - b),
        Arith::Pow => |a: f32, b: f32| a.powf(b),
        Arith::FloorDiv => |a: f32, b: f32| (a / b).floor(),
        Arith::FloorMod => |a: f32, b: f32| {
            let r = a % b;
            if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                r + b
            } else {
                r
            }
        },
    }
}

fn int_binary<T: num_like::Int + Elem + From<i8>>(
    a: &[T],
    ash: &[usize],
    b: &[T],
    bsh: &[usize],
    op: Arith,
    act: ActivationFunctionType,
) -> KResult<Value> {
    let f = int_arith::<T>(op)?;
    let (shape, r) = binary(a, ash, b, bsh, f)?;
    let mut out: Buf<T> = Buf::with_capacity(r.len());
    for v in r {
        out.push(v.ok_or_else(|| format!("{op:?}: division by zero or negative exponent"))?);
    }
    activate_int(&mut out, act)?;
    Ok(Value::new(shape, T::wrap(out)))
}

/// ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, POW, FLOOR_DIV, FLOOR_MOD.
pub(crate) fn arith(a: &Value, b: &Value, op: Arith, act: ActivationFunctionType) -> KResult<Value> {
    match (&a.values, &b.values) {
        // Same shapes, the residual connections of most CNNs: a plain loop that vectorizes
        // (f32_arith's function pointer does not).
        (Values::F32(x), Values::F32(y)) if a.shape == b.shape && matches!(op, Arith::Add | Arith::Mul) => {
            let mut r: Buf<f32> = match op {
                Arith::Add => x.iter().zip(y).map(|(p, q)| p + q).collect(),
                _ => x.iter().zip(y).map(|(p, q)| p * q).collect(),
            };
            activate(&mut r, act)?;
            Ok(Value::f32(a.shape.clone(), r))
        }
        (Values::F32(x), Values::F32(y)) => {
            let (shape, mut r) = binary(x, &a.shape, y, &b.shape, f32_arith(op))?;
            activate(&mut r, act)?;
            Ok(Value::f32(shape, r))
        }
        (Values::I32(x), Values::I32(y)) => int_binary(x, &a.shape, y, &b.shape, op, act),
        (Values::I64(x), Values::I64(y)) => int_binary(x, &a.shape, y, &b.shape, op, act),
        (x, y) => Err(format!("{op:?} of {} and {} is not supported", x.type_name(), y.type_name())),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Cmp {
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Eq,
    NotEq,
}

fn cmp_typed<T: Elem>(a: &[T], ash: &[usize], b: &[T], bsh: &[usize], op: Cmp) -> KResult<Value> {
    let f: fn(T, T) -> bool = match op {
        Cmp::Less => |x, y| x < y,
        Cmp::LessEq => |x, y| x <= y,
        Cmp::Greater => |x, y| x > y,
        Cmp::GreaterEq => |x, y| x >= y,
        Cmp::Eq => |x, y| x == y,
        Cmp::NotEq => |x, y| x != y,
    };
    let (shape, r) = binary(a, ash, b, bsh, f)?;
    Ok(Value::new(shape, Values::Bool(r)))
}

/// LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL.
pub(crate) fn compare(a: &Value, b: &Value, op: Cmp) -> KResult<Value> {
    match (&a.values, &b.values) {
        (Values::F32(x), Values::F32(y)) => cmp_typed(x, &a.shape, y, &b.shape, op),
        (Values::I32(x), Values::I32(y)) => cmp_typed(x, &a.shape, y, &b.shape, op),
        (Values::I64(x), Values::I64(y)) => cmp_typed(x, &a.shape, y, &b.shape, op),
        (Values::U8(x), Values::U8(y)) => cmp_typed(x, &a.shape, y, &b.shape, op),
        (Values::I8(x), Values::I8(y)) => cmp_typed(x, &a.shape, y, &b.shape, op),
        (Values::Bool(x), Values::Bool(y)) => cmp_typed(x, &a.shape, y, &b.shape, op),
        (x, y) => Err(format!("comparison of {} and {}", x.type_name(), y.type_name())),
    }
}

/// LOGICAL_AND / LOGICAL_OR.
pub(crate) fn logical(a: &Value, b: &Value, and: bool) -> KResult<Value> {
    match (&a.values, &b.values) {
        (Values::Bool(x), Values::Bool(y)) => {
            let (shape, r) = if and {
                binary(x, &a.shape, y, &b.shape, |p, q| p && q)?
            } else {
                binary(x, &a.shape, y, &b.shape, |p, q| p || q)?
            };
            Ok(Value::new(shape, Values::Bool(r)))
        }
        _ => Err("logical ops need BOOL inputs".into()),
    }
}

fn select_typed<T: Elem>(
    c: &Value,
    cond: &[bool],
    x: &[T],
    xsh: &[usize],
    y: &[T],
    ysh: &[usize],
    v1: bool,
) -> KResult<Value> {
    // SELECT (v1) also takes a rank-1 condition that picks whole rows of x and y.
    if v1 && c.shape.len() == 1 && xsh.len() > 1 && xsh == ysh && c.shape[0] == xsh[0] && xsh[0] > 0 {
        let row = x.len() / xsh[0];
        let mut out = Buf::with_capacity(x.len());
        for (r, &p) in cond.iter().enumerate() {
            let src = if p { x } else { y };
            out.extend_from_slice(&src[r * row..(r + 1) * row]);
        }
        return Ok(Value::new(xsh.to_vec(), T::wrap(out)));
    }
    let xy = broadcast_shape(xsh, ysh)?;
    let out = broadcast_shape(&c.shape, &xy)?;
    let cb = broadcast_to(cond, &c.shape, &out)?;
    let xb = broadcast_to(x, xsh, &out)?;
    let yb = broadcast_to(y, ysh, &out)?;
    let r = cb.iter().zip(xb.iter().zip(&yb)).map(|(&p, (&a, &b))| if p { a } else { b }).collect();
    Ok(Value::new(out, T::wrap(r)))
}

/// SELECT / SELECT_V2.
pub(crate) fn select(c: &Value, x: &Value, y: &Value, v1: bool) -> KResult<Value> {
    let Values::Bool(cond) = &c.values else {
        return Err("the condition must be BOOL".into());
    };
    macro_rules! go {
        ($($var:ident),*) => {
            match (&x.values, &y.values) {
                $((Values::$var(a), Values::$var(b)) => select_typed(c, cond, a, &x.shape, b, &y.shape, v1),)*
                (a, b) => Err(format!("select between {} and {}", a.type_name(), b.type_name())),
            }
        };
    }
    go!(F32, I32, I64, U8, I8, I16, Bool)
}

/// ATAN2(y, x), elementwise (broadcasting too, which the runtime does not need).
fn atan2(y: &Value, x: &Value) -> KResult<Value> {
    match (&y.values, &x.values) {
        (Values::F32(a), Values::F32(b)) => {
            let (shape, r) = binary(a, &y.shape, b, &x.shape, f32::atan2)?;
            Ok(Value::f32(shape, r))
        }
        (a, b) => Err(format!("ATAN2 of {} and {}", a.type_name(), b.type_name())),
    }
}

/// Integer ops the bitwise kernels share.
trait Bits: Elem + std::ops::BitXor<Output = Self> + std::ops::Shr<u32, Output = Self> + Into<i64> {
    const BITS: u32;
}
impl Bits for i8 {
    const BITS: u32 = 8;
}
impl Bits for u8 {
    const BITS: u32 = 8;
}
impl Bits for i32 {
    const BITS: u32 = 32;
}

fn bitwise_typed<T: Bits>(a: &[T], ash: &[usize], b: &[T], bsh: &[usize], xor: bool) -> KResult<Value> {
    let (shape, r) = if xor {
        binary(a, ash, b, bsh, |p, q| p ^ q)?
    } else {
        // A shift below 0 counts as 0 and one past the width as width − 1, as the runtime clamps it.
        binary(a, ash, b, bsh, |p, q| p >> (q.into().clamp(0, i64::from(T::BITS) - 1) as u32))?
    };
    Ok(Value::new(shape, T::wrap(r)))
}

/// BITWISE_XOR, or RIGHT_SHIFT (arithmetic for signed types).
fn bitwise(a: &Value, b: &Value, xor: bool) -> KResult<Value> {
    match (&a.values, &b.values) {
        (Values::I32(x), Values::I32(y)) => bitwise_typed(x, &a.shape, y, &b.shape, xor),
        (Values::I8(x), Values::I8(y)) => bitwise_typed(x, &a.shape, y, &b.shape, xor),
        (Values::U8(x), Values::U8(y)) => bitwise_typed(x, &a.shape, y, &b.shape, xor),
        (x, y) => Err(format!("bitwise op of {} and {}", x.type_name(), y.type_name())),
    }
}

/// ADD_N: the sum of every input, all of one shape, added in input order.
fn add_n(ins: &[Option<&Value>]) -> KResult<Value> {
    let first = inp(ins, 0)?;
    let mut acc = first.clone();
    for i in 1..ins.len() {
        let v = inp(ins, i)?;
        if v.shape != first.shape {
            return Err(format!("ADD_N input {i} has shape {:?}, input 0 {:?}", v.shape, first.shape));
        }
        acc = arith(&acc, v, Arith::Add, ActivationFunctionType::NONE)?;
    }
    Ok(acc)
}
