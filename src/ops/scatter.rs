//! Ops that move elements by index tensors: GATHER_ND, SCATTER_ND, SPARSE_TO_DENSE, WHERE,
//! UNIQUE, SEGMENT_SUM and UNSORTED_SEGMENT_{SUM,PROD,MAX,MIN}.

use super::util::{check, checked_numel, inp, ints, scalar_int, sizes, strides};
use super::{opts, KResult, OpDef, Prepared};
use crate::ir::{Buf, Elem, Value, Values};
use crate::schema::{BuiltinOperator as B, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::GATHER_ND).kernel(|_| Ok(Prepared::one(|ins| gather_nd(inp(ins, 0)?, inp(ins, 1)?)))));
    add(OpDef::builtin(B::SCATTER_ND)
        .kernel(|_| Ok(Prepared::one(|ins| scatter_nd(inp(ins, 0)?, inp(ins, 1)?, &sizes(inp(ins, 2)?, "shape")?)))));
    add(OpDef::builtin(B::SPARSE_TO_DENSE).kernel(|_| {
        Ok(Prepared::one(|ins| {
            sparse_to_dense(inp(ins, 0)?, &sizes(inp(ins, 1)?, "output shape")?, inp(ins, 2)?, inp(ins, 3)?)
        }))
    }));
    add(OpDef::builtin(B::WHERE).kernel(|_| Ok(Prepared::one(|ins| where_true(inp(ins, 0)?)))));
    add(OpDef::builtin(B::UNIQUE).kernel(|ctx| {
        let i64_idx = opts!(ctx, UniqueOptions).idx_out_type == TensorType::INT64;
        Ok(Prepared::new(move |ins, _| unique(inp(ins, 0)?, i64_idx)))
    }));
    add(OpDef::builtin(B::SEGMENT_SUM).kernel(|_| {
        Ok(Prepared::one(|ins| {
            let ids = inp(ins, 1)?;
            let ids_v = ints(ids)?;
            if ids_v.windows(2).any(|w| w[1] < w[0]) {
                return Err("SEGMENT_SUM segment ids must be sorted".into());
            }
            let n = ids_v.last().map_or(0, |&m| m + 1);
            segments(inp(ins, 0)?, ids, n, Segment::Sum)
        }))
    }));
    for (op, s) in [
        (B::UNSORTED_SEGMENT_SUM, Segment::Sum),
        (B::UNSORTED_SEGMENT_PROD, Segment::Prod),
        (B::UNSORTED_SEGMENT_MAX, Segment::Max),
        (B::UNSORTED_SEGMENT_MIN, Segment::Min),
    ] {
        add(OpDef::builtin(op).kernel(move |_| {
            Ok(Prepared::one(move |ins| segments(inp(ins, 0)?, inp(ins, 1)?, scalar_int(inp(ins, 2)?)?, s)))
        }));
    }
}

/// The flat offsets that index rows `[..., k]` of `idx` address in a tensor of `shape`, each
/// the start of a slice of `shape[k..]`; an error names an index outside the shape.
fn offsets(idx: &Value, shape: &[usize], what: &str) -> KResult<(Vec<usize>, usize)> {
    let k = *idx.shape.last().ok_or_else(|| format!("{what} indices must have rank 1 or more"))?;
    if k > shape.len() {
        return Err(format!("{what} index rows of {k} for a tensor of rank {}", shape.len()));
    }
    let v = ints(idx)?;
    let st = strides(shape);
    let slice: usize = shape[k..].iter().product();
    let rows: usize = idx.shape[..idx.shape.len() - 1].iter().product();
    if rows * k != v.len() {
        return Err(format!("{what} indices of shape {:?} hold {} values", idx.shape, v.len()));
    }
    let mut out = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut off = 0;
        for d in 0..k {
            let i = v[r * k + d];
            if i < 0 || i as usize >= shape[d] {
                return Err(format!("{what} index {i} is out of range for dimension {d} of {shape:?}"));
            }
            off += i as usize * st[d];
        }
        out.push(off);
    }
    Ok((out, slice))
}

/// GATHER_ND: for each index row, the slice of params it addresses.
fn gather_nd(params: &Value, idx: &Value) -> KResult<Value> {
    check(params)?;
    let (offs, slice) = offsets(idx, &params.shape, "GATHER_ND")?;
    let k = *idx.shape.last().expect("offsets checked the rank");
    let mut shape = idx.shape[..idx.shape.len() - 1].to_vec();
    shape.extend_from_slice(&params.shape[k..]);
    checked_numel(&shape)?;
    let values = crate::map_values!(&params.values, x => {
        let mut out = Buf::with_capacity(offs.len() * slice);
        for &o in &offs {
            out.extend_from_slice(&x[o..o + slice]);
        }
        out
    });
    Ok(Value::new(shape, values))
}

/// SCATTER_ND: zeros of `shape` with each update slice added at its index row (repeated
/// rows add up).
fn scatter_nd(idx: &Value, updates: &Value, shape: &[usize]) -> KResult<Value> {
    check(updates)?;
    let n = checked_numel(shape)?;
    let (offs, slice) = offsets(idx, shape, "SCATTER_ND")?;
    if offs.len() * slice != updates.numel() {
        return Err(format!(
            "SCATTER_ND updates of shape {:?} for {} index rows of slices of {slice}",
            updates.shape,
            offs.len()
        ));
    }
    fn go<T: Elem>(x: &[T], offs: &[usize], slice: usize, n: usize, add: fn(T, T) -> T) -> Values {
        let mut out = Buf::filled(T::default(), n);
        for (r, &o) in offs.iter().enumerate() {
            for j in 0..slice {
                out[o + j] = add(out[o + j], x[r * slice + j]);
            }
        }
        T::wrap(out)
    }
    let values = match &updates.values {
        Values::F32(x) => go(x, &offs, slice, n, |a, b| a + b),
        Values::I32(x) => go(x, &offs, slice, n, i32::wrapping_add),
        Values::I64(x) => go(x, &offs, slice, n, i64::wrapping_add),
        Values::U8(x) => go(x, &offs, slice, n, u8::wrapping_add),
        Values::I8(x) => go(x, &offs, slice, n, i8::wrapping_add),
        Values::I16(x) => go(x, &offs, slice, n, i16::wrapping_add),
        Values::Bool(x) => go(x, &offs, slice, n, |a, b| a || b),
        Values::C64(_) => return Err("SCATTER_ND of complex values".into()),
    };
    Ok(Value::new(shape.to_vec(), values))
}

/// SPARSE_TO_DENSE: `default` everywhere, then each value at its index (a scalar, a row of a
/// 1-D index for 1-D outputs, or a row of an [n, rank] matrix); later values win.
fn sparse_to_dense(idx: &Value, shape: &[usize], values: &Value, default: &Value) -> KResult<Value> {
    let n = checked_numel(shape)?;
    let iv = ints(idx)?;
    let r = shape.len();
    // Each index as a row of `r` coordinates.
    let rows: Vec<&[i64]> = match idx.shape.len() {
        0 => vec![&iv[..]],
        1 if r == 1 => iv.chunks(1).collect(),
        1 => vec![&iv[..]],
        2 => iv.chunks(idx.shape[1].max(1)).collect(),
        d => return Err(format!("SPARSE_TO_DENSE indices of rank {d}")),
    };
    let st = strides(shape);
    let mut offs = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.len() != r {
            return Err(format!("SPARSE_TO_DENSE index {row:?} for an output of rank {r}"));
        }
        let mut o = 0;
        for (d, &i) in row.iter().enumerate() {
            if i < 0 || i as usize >= shape[d] {
                return Err(format!("SPARSE_TO_DENSE index {row:?} is outside {shape:?}"));
            }
            o += i as usize * st[d];
        }
        offs.push(o);
    }
    macro_rules! go {
        ($($var:ident),*) => {
            match (&values.values, &default.values) {
                $((Values::$var(v), Values::$var(d)) => {
                    let Some(&fill) = d.first() else { return Err("SPARSE_TO_DENSE default value is empty".into()) };
                    if v.len() != 1 && v.len() != offs.len() {
                        return Err(format!("SPARSE_TO_DENSE has {} values for {} indices", v.len(), offs.len()));
                    }
                    let mut out = Buf::filled(fill, n);
                    for (k, &o) in offs.iter().enumerate() {
                        out[o] = v[if v.len() == 1 { 0 } else { k }];
                    }
                    Values::$var(out)
                })*
                (a, b) => return Err(format!("SPARSE_TO_DENSE values {} and default {}", a.type_name(), b.type_name())),
            }
        };
    }
    let out = go!(F32, I32, I64, U8, I8, I16, Bool);
    Ok(Value::new(shape.to_vec(), out))
}

/// WHERE with one input: the coordinates (INT64, [count, rank]) of every true or non-zero element.
fn where_true(v: &Value) -> KResult<Value> {
    check(v)?;
    let truth: Vec<bool> = match &v.values {
        Values::Bool(x) => x.to_vec(),
        Values::F32(x) => x.iter().map(|&a| a != 0.0).collect(),
        Values::I32(x) => x.iter().map(|&a| a != 0).collect(),
        Values::I64(x) => x.iter().map(|&a| a != 0).collect(),
        Values::U8(x) => x.iter().map(|&a| a != 0).collect(),
        Values::I8(x) => x.iter().map(|&a| a != 0).collect(),
        Values::I16(x) => x.iter().map(|&a| a != 0).collect(),
        Values::C64(_) => return Err("WHERE of complex values".into()),
    };
    let r = v.shape.len();
    let st = strides(&v.shape);
    let mut out = Buf::new();
    let mut count = 0;
    for (i, _) in truth.iter().enumerate().filter(|(_, &t)| t) {
        count += 1;
        let mut rest = i;
        for &s in &st {
            out.push((rest / s) as i64);
            rest %= s;
        }
    }
    Ok(Value::new(vec![count, r], Values::I64(out)))
}

/// UNIQUE of a 1-D tensor: the distinct values in first-seen order, and for each element the
/// position of its value among them.
fn unique(v: &Value, i64_idx: bool) -> KResult<Vec<Value>> {
    check(v)?;
    if v.shape.len() != 1 {
        return Err(format!("UNIQUE needs a 1-D input, got {:?}", v.shape));
    }
    fn go<T: Elem>(x: &[T], key: fn(T) -> u64) -> (Buf<T>, Vec<i64>) {
        let mut seen = std::collections::HashMap::new();
        let mut vals = Buf::new();
        let idx = x
            .iter()
            .map(|&a| {
                *seen.entry(key(a)).or_insert_with(|| {
                    vals.push(a);
                    vals.len() as i64 - 1
                })
            })
            .collect();
        (vals, idx)
    }
    // Floats by bit pattern, with −0 as +0 (they compare equal).
    let (values, idx) = match &v.values {
        Values::F32(x) => {
            let (a, i) = go(x, |f| if f == 0.0 { 0 } else { u64::from(f.to_bits()) });
            (Values::F32(a), i)
        }
        Values::I32(x) => {
            let (a, i) = go(x, |a| a as u64);
            (Values::I32(a), i)
        }
        Values::I64(x) => {
            let (a, i) = go(x, |a| a as u64);
            (Values::I64(a), i)
        }
        Values::U8(x) => {
            let (a, i) = go(x, u64::from);
            (Values::U8(a), i)
        }
        Values::I8(x) => {
            let (a, i) = go(x, |a| a as u64);
            (Values::I8(a), i)
        }
        other => return Err(format!("UNIQUE of {}", other.type_name())),
    };
    let n = values.len();
    let idx = if i64_idx {
        Values::I64(idx.into_iter().collect())
    } else {
        Values::I32(idx.into_iter().map(|i| i as i32).collect())
    };
    Ok(vec![Value::new(vec![n], values), Value::new(v.shape.clone(), idx)])
}

#[derive(Clone, Copy, Debug)]
enum Segment {
    Sum,
    Prod,
    Max,
    Min,
}

/// The segment reductions: output row `s` combines every data row whose id is `s`, starting
/// from the op's identity (0, 1, the lowest or the highest value). Negative ids are skipped.
fn segments(data: &Value, ids: &Value, count: i64, op: Segment) -> KResult<Value> {
    check(data)?;
    let idv = ints(ids)?;
    let k = ids.shape.len();
    if data.shape.len() < k.max(1) || data.shape[..k] != ids.shape[..] {
        return Err(format!("segment ids of shape {:?} for data of shape {:?}", ids.shape, data.shape));
    }
    let count = usize::try_from(count).map_err(|_| format!("{count} segments"))?;
    if let Some(&bad) = idv.iter().find(|&&s| s >= count as i64) {
        return Err(format!("segment id {bad} for {count} segments"));
    }
    let mut shape = vec![count];
    shape.extend_from_slice(&data.shape[k..]);
    let n = checked_numel(&shape)?;
    let slice: usize = data.shape[k..].iter().product();
    fn go<T: Elem>(x: &[T], ids: &[i64], slice: usize, n: usize, init: T, f: fn(T, T) -> T) -> Values {
        let mut out = Buf::filled(init, n);
        for (r, &s) in ids.iter().enumerate() {
            if s < 0 {
                continue;
            }
            let o = s as usize * slice;
            for j in 0..slice {
                out[o + j] = f(out[o + j], x[r * slice + j]);
            }
        }
        T::wrap(out)
    }
    macro_rules! typed {
        ($x:expr, $t:ty, $add:expr, $mul:expr, $max:expr, $min:expr) => {
            match op {
                Segment::Sum => go::<$t>($x, &idv, slice, n, 0 as $t, $add),
                Segment::Prod => go::<$t>($x, &idv, slice, n, 1 as $t, $mul),
                Segment::Max => go::<$t>($x, &idv, slice, n, <$t>::MIN, $max),
                Segment::Min => go::<$t>($x, &idv, slice, n, <$t>::MAX, $min),
            }
        };
    }
    let values = match &data.values {
        Values::F32(x) => typed!(x, f32, |a, b| a + b, |a, b| a * b, f32::max, f32::min),
        Values::I32(x) => typed!(x, i32, i32::wrapping_add, i32::wrapping_mul, i32::max, i32::min),
        Values::I64(x) => typed!(x, i64, i64::wrapping_add, i64::wrapping_mul, i64::max, i64::min),
        other => return Err(format!("segment reduction of {}", other.type_name())),
    };
    Ok(Value::new(shape, values))
}
