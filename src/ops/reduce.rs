//! Reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, ARG_MAX and ARG_MIN.

use super::util::{axis, check, inp, integer_2, ints, scalar_int, strides};
use super::{opts, IntegerRule, KResult, OpDef, Prepared};
use crate::ir::{Buf, Value, Values};
use crate::schema::{BuiltinOperator as B, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    for (op, r) in [
        (B::MEAN, Reduce::Mean),
        (B::SUM, Reduce::Sum),
        (B::REDUCE_MAX, Reduce::Max),
        (B::REDUCE_MIN, Reduce::Min),
        (B::REDUCE_PROD, Reduce::Prod),
    ] {
        let def = OpDef::builtin(op).kernel(move |ctx| {
            let keep = opts!(ctx, ReducerOptions).keep_dims;
            Ok(Prepared::one(move |ins| reduce(inp(ins, 0)?, &ints(inp(ins, 1)?)?, keep, r)))
        });
        add(match r {
            Reduce::Mean => def.integer(IntegerRule::calibrated(true)).version(integer_2, &[1, 2]),
            Reduce::Sum => def.integer(IntegerRule::calibrated(false)).version(integer_2, &[1, 2]),
            _ => def,
        });
    }
    for (op, max) in [(B::ARG_MAX, true), (B::ARG_MIN, false)] {
        add(OpDef::builtin(op).kernel(move |ctx| {
            let i64_out = ctx.output(0)?.dtype == TensorType::INT64;
            Ok(Prepared::one(move |ins| arg_reduce(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?, max, i64_out)))
        }));
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reduce {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
}

/// Reduces over `axes` (negative allowed, repeats ignored); keep_dims keeps them as 1.
pub fn reduce(v: &Value, axes: &[i64], keep: bool, op: Reduce) -> KResult<Value> {
    check(v)?;
    let r = v.shape.len();
    let mut red = vec![false; r];
    for &a in axes {
        red[axis(a, r)?] = true;
    }
    let kept: Vec<usize> = v.shape.iter().zip(&red).map(|(&d, &x)| if x { 1 } else { d }).collect();
    let ost = strides(&kept);
    // Strides of the output read by input index: 0 along reduced axes.
    let st: Vec<usize> = ost.iter().zip(&red).map(|(&s, &x)| if x { 0 } else { s }).collect();
    let on: usize = kept.iter().product();
    let count: usize = v.shape.iter().zip(&red).filter(|(_, &x)| x).map(|(&d, _)| d).product();
    fn go<T: Copy + Default>(
        src: &[T],
        shape: &[usize],
        st: &[usize],
        on: usize,
        init: T,
        f: impl Fn(T, T) -> T,
    ) -> Buf<T> {
        let mut out = Buf::filled(init, on);
        let r = shape.len();
        if src.is_empty() {
            return out;
        }
        if r == 0 {
            out[0] = f(out[0], src[0]);
            return out;
        }
        let inner = shape[r - 1];
        let istep = st[r - 1];
        let mut idx = vec![0usize; r];
        let mut off = 0usize;
        for row in src.chunks_exact(inner) {
            for (k, &x) in row.iter().enumerate() {
                let o = off + k * istep;
                out[o] = f(out[o], x);
            }
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                off += st[d];
                if idx[d] < shape[d] {
                    break;
                }
                off -= st[d] * shape[d];
                idx[d] = 0;
            }
        }
        out
    }
    let values = match &v.values {
        Values::F32(x) => {
            let mut o = match op {
                Reduce::Sum | Reduce::Mean => go(x, &v.shape, &st, on, 0.0, |a, b| a + b),
                Reduce::Max => go(x, &v.shape, &st, on, f32::NEG_INFINITY, f32::max),
                Reduce::Min => go(x, &v.shape, &st, on, f32::INFINITY, f32::min),
                Reduce::Prod => go(x, &v.shape, &st, on, 1.0, |a, b| a * b),
            };
            if op == Reduce::Mean {
                let c = count.max(1) as f32;
                o.iter_mut().for_each(|x| *x /= c);
            }
            Values::F32(o)
        }
        Values::I32(x) => Values::I32(match op {
            Reduce::Sum => go(x, &v.shape, &st, on, 0, i32::wrapping_add),
            Reduce::Mean => {
                let s =
                    go(x.iter().map(|&a| i64::from(a)).collect::<Vec<_>>().as_slice(), &v.shape, &st, on, 0, |a, b| {
                        a + b
                    });
                s.into_iter().map(|a| (a / count.max(1) as i64) as i32).collect()
            }
            Reduce::Max => go(x, &v.shape, &st, on, i32::MIN, i32::max),
            Reduce::Min => go(x, &v.shape, &st, on, i32::MAX, i32::min),
            Reduce::Prod => go(x, &v.shape, &st, on, 1, i32::wrapping_mul),
        }),
        Values::I64(x) => Values::I64(match op {
            Reduce::Sum => go(x, &v.shape, &st, on, 0, i64::wrapping_add),
            Reduce::Mean => {
                go(x, &v.shape, &st, on, 0, i64::wrapping_add).into_iter().map(|a| a / count.max(1) as i64).collect()
            }
            Reduce::Max => go(x, &v.shape, &st, on, i64::MIN, i64::max),
            Reduce::Min => go(x, &v.shape, &st, on, i64::MAX, i64::min),
            Reduce::Prod => go(x, &v.shape, &st, on, 1, i64::wrapping_mul),
        }),
        other => return Err(format!("{op:?} of {}", other.type_name())),
    };
    let shape = if keep { kept } else { v.shape.iter().zip(&red).filter(|(_, &x)| !x).map(|(&d, _)| d).collect() };
    Ok(Value::new(shape, values))
}

/// ARG_MAX / ARG_MIN along `axis`; the first extreme wins.
pub(crate) fn arg_reduce(v: &Value, ax: i64, max: bool, i64_out: bool) -> KResult<Value> {
    check(v)?;
    let a = axis(ax, v.shape.len())?;
    let n = v.shape[a];
    let outer: usize = v.shape[..a].iter().product();
    let inner: usize = v.shape[a + 1..].iter().product();
    fn go<T: PartialOrd + Copy>(x: &[T], outer: usize, n: usize, inner: usize, max: bool) -> Buf<i64> {
        let mut out = Buf::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let mut best = 0usize;
                for k in 1..n {
                    let (c, b) = (x[(o * n + k) * inner + i], x[(o * n + best) * inner + i]);
                    if (max && c > b) || (!max && c < b) {
                        best = k;
                    }
                }
                out.push(best as i64);
            }
        }
        out
    }
    if n == 0 {
        return Err("arg reduction over an empty axis".into());
    }
    let r = match &v.values {
        Values::F32(x) => go(x, outer, n, inner, max),
        Values::I32(x) => go(x, outer, n, inner, max),
        Values::I64(x) => go(x, outer, n, inner, max),
        Values::U8(x) => go(x, outer, n, inner, max),
        Values::I8(x) => go(x, outer, n, inner, max),
        Values::Bool(x) => go(x, outer, n, inner, max),
        Values::C64(_) => return Err("arg reduction of complex values".into()),
    };
    let mut shape = v.shape.clone();
    shape.remove(a);
    let values = if i64_out { Values::I64(r) } else { Values::I32(r.into_iter().map(|x| x as i32).collect()) };
    Ok(Value::new(shape, values))
}
