//! Reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_ANY, REDUCE_ALL, ARG_MAX
//! and ARG_MIN; and along one axis, CUMSUM and TOPK_V2.

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
            Reduce::Mean => {
                def.int_kernel(super::integer::mean).integer(IntegerRule::calibrated(true)).version(integer_2, &[1, 2])
            }
            Reduce::Sum => {
                def.int_kernel(super::integer::sum).integer(IntegerRule::calibrated(true)).version(integer_2, &[1, 2])
            }
            // The largest (smallest) element keeps its input's parameters, as TF writes it.
            Reduce::Max | Reduce::Min => def
                .int_kernel(move |ctx| super::integer::reduce_max_min(ctx, r == Reduce::Max))
                .integer(IntegerRule::same_as_input(0))
                .version(integer_2, &[1, 2]),
            Reduce::Prod => def
                .int_kernel(super::integer::reduce_prod)
                .integer(IntegerRule::calibrated(true))
                .version(integer_2, &[1, 2]),
        });
    }
    for (op, any) in [(B::REDUCE_ANY, true), (B::REDUCE_ALL, false)] {
        add(OpDef::builtin(op).kernel(move |ctx| {
            let keep = opts!(ctx, ReducerOptions).keep_dims;
            Ok(Prepared::one(move |ins| reduce_bool(inp(ins, 0)?, &ints(inp(ins, 1)?)?, keep, any)))
        }));
    }
    add(OpDef::builtin(B::CUMSUM).kernel(|ctx| {
        let o = opts!(ctx, CumsumOptions);
        Ok(Prepared::one(move |ins| cumsum(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?, o.exclusive, o.reverse)))
    }));
    add(OpDef::builtin(B::TOPK_V2).kernel(|ctx| {
        let index_type = ctx.output(1)?.dtype;
        Ok(Prepared::new(move |ins, _| top_k(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?, index_type)))
    }));
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
        Values::I16(x) => go(x, outer, n, inner, max),
        Values::Bool(x) => go(x, outer, n, inner, max),
        Values::C64(_) => return Err("arg reduction of complex values".into()),
    };
    let mut shape = v.shape.clone();
    shape.remove(a);
    let values = if i64_out { Values::I64(r) } else { Values::I32(r.into_iter().map(|x| x as i32).collect()) };
    Ok(Value::new(shape, values))
}

/// REDUCE_ANY / REDUCE_ALL over `axes`.
fn reduce_bool(v: &Value, axes: &[i64], keep: bool, any: bool) -> KResult<Value> {
    let Values::Bool(x) = &v.values else {
        return Err(format!("REDUCE_ANY/ALL need BOOL, got {}", v.values.type_name()));
    };
    let as_int = Value::new(v.shape.clone(), Values::I32(x.iter().map(|&b| i32::from(b)).collect()));
    // Over an empty set ANY is false and ALL true, as the max and min of nothing clamp to.
    let r = reduce(&as_int, axes, keep, if any { Reduce::Max } else { Reduce::Min })?;
    let Values::I32(y) = &r.values else { unreachable!("reduce keeps the type") };
    Ok(Value::new(r.shape.clone(), Values::Bool(y.iter().map(|&a| if any { a > 0 } else { a != 0 }).collect())))
}

/// CUMSUM along `axis`, summed in order (from the end when `reverse`); `exclusive` leaves
/// each element out of its own sum.
fn cumsum(v: &Value, ax: i64, exclusive: bool, reverse: bool) -> KResult<Value> {
    check(v)?;
    let a = axis(ax, v.shape.len())?;
    let n = v.shape[a];
    let outer: usize = v.shape[..a].iter().product();
    let inner: usize = v.shape[a + 1..].iter().product();
    fn go<T: Copy + Default + std::ops::Add<Output = T>>(
        x: &[T],
        (outer, n, inner): (usize, usize, usize),
        exclusive: bool,
        reverse: bool,
        add: fn(T, T) -> T,
    ) -> Buf<T> {
        let mut out = Buf::filled(T::default(), x.len());
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = T::default();
                for step in 0..n {
                    let k = if reverse { n - 1 - step } else { step };
                    let at = (o * n + k) * inner + i;
                    if exclusive {
                        out[at] = acc;
                        acc = add(acc, x[at]);
                    } else {
                        acc = add(acc, x[at]);
                        out[at] = acc;
                    }
                }
            }
        }
        out
    }
    let dims = (outer, n, inner);
    let values = match &v.values {
        Values::F32(x) => Values::F32(go(x, dims, exclusive, reverse, |p, q| p + q)),
        Values::I32(x) => Values::I32(go(x, dims, exclusive, reverse, i32::wrapping_add)),
        Values::I64(x) => Values::I64(go(x, dims, exclusive, reverse, i64::wrapping_add)),
        other => return Err(format!("CUMSUM of {}", other.type_name())),
    };
    Ok(Value::new(v.shape.clone(), values))
}

/// TOPK_V2: the `k` largest of each last-axis row, largest first; equal values keep their
/// order and NaN counts as the smallest. Outputs the values and their indices.
fn top_k(v: &Value, k: i64, index_type: TensorType) -> KResult<Vec<Value>> {
    check(v)?;
    let Some(&n) = v.shape.last() else { return Err("TOPK_V2 needs an input of rank 1 or more".into()) };
    let k = usize::try_from(k).ok().filter(|&k| k <= n).ok_or_else(|| format!("k = {k} for rows of {n}"))?;
    let rows = v.numel() / n.max(1);
    fn go<T: Copy + PartialOrd + Default>(x: &[T], n: usize, k: usize, rows: usize) -> (Buf<T>, Vec<i64>) {
        // Before: a larger value, or an equal one earlier; NaN (unordered with itself) last.
        let before = |row: &[T], a: usize, b: usize| -> std::cmp::Ordering {
            let (p, q) = (row[a], row[b]);
            #[allow(clippy::eq_op)]
            let (pn, qn) = (p != p, q != q);
            match (pn, qn) {
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if !pn && p > q => std::cmp::Ordering::Less,
                _ if !pn && p < q => std::cmp::Ordering::Greater,
                _ => a.cmp(&b),
            }
        };
        let mut vals = Buf::with_capacity(rows * k);
        let mut idx = Vec::with_capacity(rows * k);
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for r in 0..rows {
            let row = &x[r * n..(r + 1) * n];
            order.clear();
            order.extend(0..n);
            if k > 0 && k < n {
                order.select_nth_unstable_by(k - 1, |&a, &b| before(row, a, b));
            }
            order.truncate(k);
            order.sort_unstable_by(|&a, &b| before(row, a, b));
            for &i in &order {
                vals.push(row[i]);
                idx.push(i as i64);
            }
        }
        (vals, idx)
    }
    let (values, idx) = match &v.values {
        Values::F32(x) => {
            let (a, i) = go(x, n, k, rows);
            (Values::F32(a), i)
        }
        Values::I32(x) => {
            let (a, i) = go(x, n, k, rows);
            (Values::I32(a), i)
        }
        Values::I64(x) => {
            let (a, i) = go(x, n, k, rows);
            (Values::I64(a), i)
        }
        Values::U8(x) => {
            let (a, i) = go(x, n, k, rows);
            (Values::U8(a), i)
        }
        Values::I8(x) => {
            let (a, i) = go(x, n, k, rows);
            (Values::I8(a), i)
        }
        other => return Err(format!("TOPK_V2 of {}", other.type_name())),
    };
    let mut shape = v.shape.clone();
    *shape.last_mut().expect("rank checked") = k;
    let indices = match index_type {
        TensorType::INT64 => Values::I64(idx.into_iter().collect()),
        _ => Values::I32(idx.into_iter().map(|i| i as i32).collect()),
    };
    Ok(vec![Value::new(shape.clone(), values), Value::new(shape, indices)])
}
