//! Elementwise kernels: numpy-style broadcasting binary ops, comparisons, selects, unary maths,
//! activations, softmax and normalization.

use super::value::{Elem, Value, Values};
use crate::schema::ActivationFunctionType;

pub(crate) type KResult<T> = Result<T, String>;

/// The numpy broadcast of two shapes.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> KResult<Vec<usize>> {
    crate::ir::broadcast_shape(a, b).ok_or_else(|| format!("shapes {a:?} and {b:?} do not broadcast"))
}

/// Strides of `shape` read as broadcast to `out` (0 along broadcast dimensions).
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let r = out.len();
    let mut strides = vec![0; r];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let o = i + r - shape.len();
        strides[o] = if shape[i] == 1 && out[o] != 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
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
) -> KResult<(Vec<usize>, Vec<O>)> {
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
    let mut res = vec![O::default(); n];
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
pub(crate) fn broadcast_to<T: Copy + Default>(v: &[T], shape: &[usize], out: &[usize]) -> KResult<Vec<T>> {
    if broadcast_shape(shape, out)? != out {
        return Err(format!("cannot broadcast {shape:?} to {out:?}"));
    }
    let n: usize = out.iter().product();
    let z = vec![T::default(); n];
    binary(v, shape, &z, out, |x, _| x).map(|(_, r)| r)
}

/// Applies a fused activation in place.
pub(crate) fn activate(x: &mut [f32], act: ActivationFunctionType) -> KResult<()> {
    match act {
        ActivationFunctionType::NONE => {}
        ActivationFunctionType::RELU => x.iter_mut().for_each(|v| *v = v.max(0.0)),
        ActivationFunctionType::RELU6 => x.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        ActivationFunctionType::RELU_N1_TO_1 => x.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0)),
        ActivationFunctionType::TANH => x.iter_mut().for_each(|v| *v = v.tanh()),
        ActivationFunctionType::SIGN_BIT => {
            x.iter_mut().for_each(|v| *v = if v.is_sign_negative() { 1.0 } else { 0.0 })
        }
        other => return Err(format!("unknown fused activation {}", other.0)),
    }
    Ok(())
}

fn activate_int<T: Copy + PartialOrd + From<i8>>(x: &mut [T], act: ActivationFunctionType) -> KResult<()> {
    let clamp = |v: &mut T, lo: Option<i8>, hi: Option<i8>| {
        if let Some(lo) = lo {
            if *v < T::from(lo) {
                *v = T::from(lo);
            }
        }
        if let Some(hi) = hi {
            if *v > T::from(hi) {
                *v = T::from(hi);
            }
        }
    };
    match act {
        ActivationFunctionType::NONE => {}
        ActivationFunctionType::RELU => x.iter_mut().for_each(|v| clamp(v, Some(0), None)),
        ActivationFunctionType::RELU6 => x.iter_mut().for_each(|v| clamp(v, Some(0), Some(6))),
        ActivationFunctionType::RELU_N1_TO_1 => x.iter_mut().for_each(|v| clamp(v, Some(-1), Some(1))),
        other => return Err(format!("fused activation {} on integers", other.0)),
    }
    Ok(())
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
    let mut out: Vec<T> = Vec::with_capacity(r.len());
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
            let mut r: Vec<f32> = match op {
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
        let mut out = Vec::with_capacity(x.len());
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
    go!(F32, I32, I64, U8, I8, Bool)
}

/// The error function, to about 1e-7 absolute (Abramowitz & Stegun 7.1.26 is too coarse, so
/// this uses the complementary-error-function rational approximation of Numerical Recipes).
pub(crate) fn erf(x: f32) -> f32 {
    let x = f64::from(x);
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    let e = 1.0 - r;
    (if x >= 0.0 { e } else { -e }) as f32
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Unary {
    Relu,
    Relu6,
    ReluN1To1,
    Relu0To1,
    LeakyRelu(f32),
    Logistic,
    Tanh,
    HardSwish,
    Gelu { approximate: bool },
    Elu,
    Sqrt,
    Rsqrt,
    Abs,
    Neg,
    Exp,
    Log,
    Square,
    Sin,
    Cos,
    Floor,
    Ceil,
    Round,
    Sign,
}

fn unary_f32(op: Unary, x: f32) -> f32 {
    match op {
        Unary::Relu => x.max(0.0),
        Unary::Relu6 => x.clamp(0.0, 6.0),
        Unary::ReluN1To1 => x.clamp(-1.0, 1.0),
        Unary::Relu0To1 => x.clamp(0.0, 1.0),
        Unary::LeakyRelu(a) => {
            if x > 0.0 {
                x
            } else {
                x * a
            }
        }
        Unary::Logistic => 1.0 / (1.0 + (-x).exp()),
        Unary::Tanh => x.tanh(),
        Unary::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        Unary::Gelu { approximate: true } => {
            0.5 * x * (1.0 + ((2.0f32 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
        }
        Unary::Gelu { approximate: false } => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
        Unary::Elu => {
            if x < 0.0 {
                x.exp_m1()
            } else {
                x
            }
        }
        Unary::Sqrt => x.sqrt(),
        Unary::Rsqrt => 1.0 / x.sqrt(),
        Unary::Abs => x.abs(),
        Unary::Neg => -x,
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Square => x * x,
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        // Round half to even, as TFLite's ROUND.
        Unary::Round => {
            let r = x.round();
            if (x - x.trunc()).abs() == 0.5 {
                2.0 * (x / 2.0).round()
            } else {
                r
            }
        }
        Unary::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
    }
}

/// Unary maths and activations.
pub(crate) fn unary(v: &Value, op: Unary) -> KResult<Value> {
    match &v.values {
        Values::F32(x) => Ok(Value::f32(v.shape.clone(), x.iter().map(|&x| unary_f32(op, x)).collect())),
        Values::I32(x) => {
            let f: fn(i32) -> i32 = match op {
                Unary::Abs => |a| a.wrapping_abs(),
                Unary::Neg => |a| a.wrapping_neg(),
                Unary::Square => |a| a.wrapping_mul(a),
                Unary::Relu => |a| a.max(0),
                Unary::Sign => |a| a.signum(),
                _ => return Err(format!("{op:?} on INT32")),
            };
            Ok(Value::new(v.shape.clone(), Values::I32(x.iter().map(|&a| f(a)).collect())))
        }
        Values::I64(x) => {
            let f: fn(i64) -> i64 = match op {
                Unary::Abs => |a| a.wrapping_abs(),
                Unary::Neg => |a| a.wrapping_neg(),
                Unary::Square => |a| a.wrapping_mul(a),
                Unary::Sign => |a| a.signum(),
                _ => return Err(format!("{op:?} on INT64")),
            };
            Ok(Value::new(v.shape.clone(), Values::I64(x.iter().map(|&a| f(a)).collect())))
        }
        other => Err(format!("{op:?} on {}", other.type_name())),
    }
}

/// PRELU: x for x >= 0, else alpha * x, alpha broadcast against x.
pub(crate) fn prelu(x: &Value, alpha: &Value) -> KResult<Value> {
    let (Some(a), Some(al)) = (x.as_f32(), alpha.as_f32()) else {
        return Err("PRELU needs FLOAT32 inputs".into());
    };
    let (shape, r) = binary(a, &x.shape, al, &alpha.shape, |v, s| if v >= 0.0 { v } else { v * s })?;
    Ok(Value::f32(shape, r))
}

/// Rows along the last dimension: (count, length).
fn rows(v: &Value) -> KResult<(usize, usize)> {
    let d = *v.shape.last().ok_or("needs rank >= 1")?;
    if d == 0 {
        return Ok((0, 0));
    }
    Ok((v.numel() / d, d))
}

/// SOFTMAX over the last dimension, with `beta`.
pub(crate) fn softmax(v: &Value, beta: f32) -> KResult<Value> {
    let x = v.as_f32().ok_or("SOFTMAX needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let mut out = vec![0f32; x.len()];
    for r in 0..n {
        let src = &x[r * d..(r + 1) * d];
        let dst = &mut out[r * d..(r + 1) * d];
        let m = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for (o, &s) in dst.iter_mut().zip(src) {
            *o = ((s - m) * beta).exp();
            sum += *o;
        }
        let inv = 1.0 / sum;
        dst.iter_mut().for_each(|o| *o *= inv);
    }
    Ok(Value::f32(v.shape.clone(), out))
}

/// LOG_SOFTMAX over the last dimension.
pub(crate) fn log_softmax(v: &Value) -> KResult<Value> {
    let x = v.as_f32().ok_or("LOG_SOFTMAX needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let mut out = vec![0f32; x.len()];
    for r in 0..n {
        let src = &x[r * d..(r + 1) * d];
        let m = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = src.iter().map(|&s| (s - m).exp()).sum();
        let l = sum.ln();
        for (o, &s) in out[r * d..(r + 1) * d].iter_mut().zip(src) {
            *o = s - m - l;
        }
    }
    Ok(Value::f32(v.shape.clone(), out))
}

/// L2_NORMALIZATION over the last dimension (epsilon 1e-6 on the norm, as TFLite).
pub(crate) fn l2_normalize(v: &Value, act: ActivationFunctionType) -> KResult<Value> {
    let x = v.as_f32().ok_or("L2_NORMALIZATION needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let mut out = vec![0f32; x.len()];
    for r in 0..n {
        let src = &x[r * d..(r + 1) * d];
        let sq: f32 = src.iter().map(|&s| s * s).sum();
        let norm = sq.sqrt().max(1e-6);
        for (o, &s) in out[r * d..(r + 1) * d].iter_mut().zip(src) {
            *o = s / norm;
        }
    }
    activate(&mut out, act)?;
    Ok(Value::f32(v.shape.clone(), out))
}
