//! Ops that make tensors from shapes, scalars or positions: RANGE, ONE_HOT, BROADCAST_ARGS,
//! RANK, MATRIX_DIAG, MATRIX_SET_DIAG, BUCKETIZE, REVERSE_V2 and REVERSE_SEQUENCE.

use super::util::{axis, check, checked_numel, gather_value, inp, ints, scalar_int, strides};
use super::{opts, KResult, OpDef, Prepared};
use crate::ir::{Buf, Elem, Value, Values};
use crate::schema::BuiltinOperator as B;

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::RANGE).kernel(|_| Ok(Prepared::one(|ins| range(inp(ins, 0)?, inp(ins, 1)?, inp(ins, 2)?)))));
    add(OpDef::builtin(B::ONE_HOT).kernel(|ctx| {
        let ax = i64::from(opts!(ctx, OneHotOptions).axis);
        Ok(Prepared::one(move |ins| one_hot(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?, inp(ins, 2)?, inp(ins, 3)?, ax)))
    }));
    add(OpDef::builtin(B::BROADCAST_ARGS)
        .kernel(|_| Ok(Prepared::one(|ins| broadcast_args(inp(ins, 0)?, inp(ins, 1)?)))));
    add(OpDef::builtin(B::RANK).kernel(|_| {
        Ok(Prepared::one(|ins| Ok(Value::new(vec![], Values::I32(vec![inp(ins, 0)?.shape.len() as i32].into())))))
    }));
    add(OpDef::builtin(B::MATRIX_DIAG).kernel(|_| Ok(Prepared::one(|ins| matrix_diag(inp(ins, 0)?)))));
    add(OpDef::builtin(B::MATRIX_SET_DIAG)
        .kernel(|_| Ok(Prepared::one(|ins| matrix_set_diag(inp(ins, 0)?, inp(ins, 1)?)))));
    add(OpDef::builtin(B::BUCKETIZE).kernel(|ctx| {
        let bounds = opts!(ctx, BucketizeOptions).boundaries.unwrap_or_default();
        if bounds.windows(2).any(|w| w[0] > w[1]) {
            return Err("BUCKETIZE boundaries must be sorted".into());
        }
        Ok(Prepared::one(move |ins| bucketize(inp(ins, 0)?, &bounds)))
    }));
    add(OpDef::builtin(B::REVERSE_V2).kernel(|_| Ok(Prepared::one(|ins| reverse(inp(ins, 0)?, &ints(inp(ins, 1)?)?)))));
    add(OpDef::builtin(B::REVERSE_SEQUENCE).kernel(|ctx| {
        let o = opts!(ctx, ReverseSequenceOptions);
        let (seq, batch) = (i64::from(o.seq_dim), i64::from(o.batch_dim));
        Ok(Prepared::one(move |ins| reverse_sequence(inp(ins, 0)?, &ints(inp(ins, 1)?)?, seq, batch)))
    }));
}

/// RANGE(start, limit, delta): start, start + delta, … (accumulated, as the runtime does) up
/// to but excluding limit.
fn range(start: &Value, limit: &Value, delta: &Value) -> KResult<Value> {
    fn scalar<T: Elem>(v: &Value, what: &str) -> KResult<T> {
        match T::slice(&v.values) {
            Some([x]) => Ok(*x),
            _ => Err(format!("RANGE {what} must be one value of the start's type")),
        }
    }
    fn go<T: Elem + std::ops::Add<Output = T>>(
        start: &Value,
        limit: &Value,
        delta: &Value,
        count: fn(T, T, T) -> f64,
    ) -> KResult<Value> {
        let (s, l, d) = (scalar::<T>(start, "start")?, scalar::<T>(limit, "limit")?, scalar::<T>(delta, "delta")?);
        let zero = T::default();
        if d == zero {
            return Err("RANGE delta is 0".into());
        }
        if !((s >= l && d < zero) || (s <= l && d > zero)) {
            return Err("RANGE delta has the wrong sign for start and limit".into());
        }
        let n = count(s, l, d);
        if !(0.0..=super::MAX_ELEMENTS as f64).contains(&n) {
            return Err(format!("RANGE would have {n} elements"));
        }
        let mut out = Buf::with_capacity(n as usize);
        let mut v = s;
        for k in 0..n as usize {
            // Every value pushed lies in [start, limit), so no step overflows.
            if k > 0 {
                v = v + d;
            }
            out.push(v);
        }
        Ok(Value::new(vec![n as usize], T::wrap(out)))
    }
    fn int_count(s: i128, l: i128, d: i128) -> f64 {
        (((l - s).abs() + d.abs() - 1) / d.abs()) as f64
    }
    match &start.values {
        Values::F32(_) => go::<f32>(start, limit, delta, |s, l, d| f64::from(((l - s) / d).abs().ceil())),
        Values::I32(_) => go::<i32>(start, limit, delta, |s, l, d| int_count(s.into(), l.into(), d.into())),
        Values::I64(_) => go::<i64>(start, limit, delta, |s, l, d| int_count(s.into(), l.into(), d.into())),
        other => Err(format!("RANGE of {}", other.type_name())),
    }
}

/// ONE_HOT: `depth` values along `axis` (−1 = last), on_value at each index and off_value
/// elsewhere; an index outside 0..depth gives only off_value.
fn one_hot(indices: &Value, depth: i64, on: &Value, off: &Value, ax: i64) -> KResult<Value> {
    let idx = ints(indices)?;
    let depth = usize::try_from(depth).map_err(|_| format!("ONE_HOT depth {depth}"))?;
    let r = indices.shape.len();
    let a = if ax == -1 { r } else { axis(ax, r + 1)? };
    let mut shape = indices.shape.clone();
    shape.insert(a, depth);
    let n = checked_numel(&shape)?;
    let outer: usize = indices.shape[..a].iter().product();
    let inner: usize = indices.shape[a..].iter().product();
    fn go<T: Elem>(
        idx: &[i64],
        on: &Value,
        off: &Value,
        (outer, depth, inner): (usize, usize, usize),
        n: usize,
    ) -> KResult<Values> {
        let (Some([on]), Some([off])) = (T::slice(&on.values), T::slice(&off.values)) else {
            return Err("ONE_HOT on_value and off_value must be scalars of the output type".into());
        };
        let mut out = Buf::filled(*off, n);
        for o in 0..outer {
            for i in 0..inner {
                let k = idx[o * inner + i];
                if (0..depth as i64).contains(&k) {
                    out[(o * depth + k as usize) * inner + i] = *on;
                }
            }
        }
        Ok(T::wrap(out))
    }
    let dims = (outer, depth, inner);
    let values = match &on.values {
        Values::F32(_) => go::<f32>(&idx, on, off, dims, n)?,
        Values::I32(_) => go::<i32>(&idx, on, off, dims, n)?,
        Values::I64(_) => go::<i64>(&idx, on, off, dims, n)?,
        Values::U8(_) => go::<u8>(&idx, on, off, dims, n)?,
        Values::I8(_) => go::<i8>(&idx, on, off, dims, n)?,
        Values::I16(_) => go::<i16>(&idx, on, off, dims, n)?,
        Values::Bool(_) => go::<bool>(&idx, on, off, dims, n)?,
        Values::C64(_) => return Err("ONE_HOT of complex values".into()),
    };
    Ok(Value::new(shape, values))
}

/// BROADCAST_ARGS: the broadcast of two shapes given as 1-D tensors.
fn broadcast_args(a: &Value, b: &Value) -> KResult<Value> {
    let (x, y) = (super::util::sizes(a, "shape")?, super::util::sizes(b, "shape")?);
    let out = super::broadcast_shape(&x, &y)?;
    let values = match &a.values {
        Values::I64(_) => Values::I64(out.iter().map(|&d| d as i64).collect()),
        _ => Values::I32(out.iter().map(|&d| d as i32).collect()),
    };
    Ok(Value::new(vec![out.len()], values))
}

/// MATRIX_DIAG: [..., n] → [..., n, n] with the input on the diagonal.
fn matrix_diag(v: &Value) -> KResult<Value> {
    check(v)?;
    let Some(&n) = v.shape.last() else { return Err("MATRIX_DIAG needs rank 1 or more".into()) };
    let mut shape = v.shape.clone();
    shape.push(n);
    let total = checked_numel(&shape)?;
    let batches = v.numel() / n.max(1);
    let values = crate::map_values!(&v.values, x => {
        let mut out = Buf::filled(Default::default(), total);
        for b in 0..batches {
            for i in 0..n {
                out[(b * n + i) * n + i] = x[b * n + i];
            }
        }
        out
    });
    Ok(Value::new(shape, values))
}

/// MATRIX_SET_DIAG: the input with its main diagonal (of the last two axes) replaced.
fn matrix_set_diag(v: &Value, d: &Value) -> KResult<Value> {
    check(v)?;
    check(d)?;
    let r = v.shape.len();
    if r < 2 {
        return Err("MATRIX_SET_DIAG needs rank 2 or more".into());
    }
    let (m, n) = (v.shape[r - 2], v.shape[r - 1]);
    let k = m.min(n);
    let mut want = v.shape[..r - 2].to_vec();
    want.push(k);
    if d.shape != want {
        return Err(format!("MATRIX_SET_DIAG diagonal has shape {:?}, expected {want:?}", d.shape));
    }
    let batches: usize = v.shape[..r - 2].iter().product();
    macro_rules! go {
        ($($var:ident),*) => {
            match (&v.values, &d.values) {
                $((Values::$var(x), Values::$var(y)) => {
                    let mut out = x.clone();
                    for b in 0..batches {
                        for i in 0..k {
                            out[b * m * n + i * n + i] = y[b * k + i];
                        }
                    }
                    Values::$var(out)
                })*
                (a, b) => return Err(format!("MATRIX_SET_DIAG of {} and {}", a.type_name(), b.type_name())),
            }
        };
    }
    let values = go!(F32, I32, I64, U8, I8, I16, Bool);
    Ok(Value::new(v.shape.clone(), values))
}

/// BUCKETIZE: for each element, how many boundaries are at or below it.
fn bucketize(v: &Value, bounds: &[f32]) -> KResult<Value> {
    let x: Vec<f64> = match &v.values {
        Values::F32(x) => x.iter().map(|&a| f64::from(a)).collect(),
        Values::I32(x) => x.iter().map(|&a| f64::from(a)).collect(),
        Values::I64(x) => x.iter().map(|&a| a as f64).collect(),
        other => return Err(format!("BUCKETIZE of {}", other.type_name())),
    };
    let out = x.iter().map(|&a| bounds.partition_point(|&b| f64::from(b) <= a) as i32).collect();
    Ok(Value::new(v.shape.clone(), Values::I32(out)))
}

/// REVERSE_V2: the input reversed along each axis listed.
fn reverse(v: &Value, axes: &[i64]) -> KResult<Value> {
    let r = v.shape.len();
    let mut flip = vec![false; r];
    for &a in axes {
        flip[axis(a, r)?] = true;
    }
    let tables: Vec<Vec<usize>> =
        v.shape.iter().zip(&flip).map(|(&d, &f)| if f { (0..d).rev().collect() } else { (0..d).collect() }).collect();
    gather_value(v, &tables)
}

/// REVERSE_SEQUENCE: along `seq`, the first lengths[b] elements of each batch b (along
/// `batch`) reversed; the rest unchanged.
fn reverse_sequence(v: &Value, lengths: &[i64], seq: i64, batch: i64) -> KResult<Value> {
    check(v)?;
    let r = v.shape.len();
    let (s, b) = (axis(seq, r)?, axis(batch, r)?);
    if s == b {
        return Err("REVERSE_SEQUENCE seq_dim and batch_dim are the same".into());
    }
    if lengths.len() != v.shape[b] {
        return Err(format!("REVERSE_SEQUENCE has {} lengths for a batch of {}", lengths.len(), v.shape[b]));
    }
    if let Some(&l) = lengths.iter().find(|&&l| l < 0 || l as usize > v.shape[s]) {
        return Err(format!("REVERSE_SEQUENCE length {l} for a sequence of {}", v.shape[s]));
    }
    let st = strides(&v.shape);
    let n = v.numel();
    // Source offset of each output element: walk every index once.
    let mut src = Vec::with_capacity(n);
    let mut idx = vec![0usize; r];
    for _ in 0..n {
        let len = lengths[idx[b]] as usize;
        let mut off = 0;
        for d in 0..r {
            let i = if d == s && idx[d] < len { len - 1 - idx[d] } else { idx[d] };
            off += i * st[d];
        }
        src.push(off);
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < v.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let values = crate::map_values!(&v.values, x => src.iter().map(|&o| x[o]).collect::<Buf<_>>());
    Ok(Value::new(v.shape.clone(), values))
}
