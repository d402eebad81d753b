//! Data movement that selects or adds elements: SLICE, STRIDED_SLICE, GATHER, PAD, PADV2,
//! MIRROR_PAD and DYNAMIC_UPDATE_SLICE.

use super::util::{
    axis, check, checked_numel, gather_tables, gather_value, inp, integer_2, ints, opt_inp, FILL, MAX_ELEMENTS,
};
use super::{opts, Hybrid, IntegerRule, KResult, OpDef, OpSignature, Prepared, Role};
use crate::ir::{Buf, Value, Values};
use crate::schema::{BuiltinOperator as B, MirrorPadMode};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::SLICE)
        .int_same()
        .kernel(|_| Ok(Prepared::one(|ins| slice(inp(ins, 0)?, &ints(inp(ins, 1)?)?, &ints(inp(ins, 2)?)?))))
        .integer(IntegerRule::same_as_input(0))
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::STRIDED_SLICE)
        .int_same()
        .kernel(|ctx| {
            let o = opts!(ctx, StridedSliceOptions);
            let p = StridedSliceParams {
                begin_mask: o.begin_mask,
                end_mask: o.end_mask,
                ellipsis_mask: o.ellipsis_mask,
                new_axis_mask: o.new_axis_mask,
                shrink_axis_mask: o.shrink_axis_mask,
                offset: o.offset,
            };
            Ok(Prepared::one(move |ins| {
                let begin = ints(inp(ins, 1)?)?;
                let strides = match opt_inp(ins, 3) {
                    Some(s) => ints(s)?,
                    None => vec![1; begin.len()],
                };
                strided_slice(inp(ins, 0)?, &begin, &ints(inp(ins, 2)?)?, &strides, &p)
            }))
        })
        .integer(IntegerRule::same_as_input(0))
        .version(strided_slice_version, &[1, 2, 4]));
    add(OpDef::builtin(B::GATHER)
        .int_same()
        .kernel(|ctx| {
            let o = opts!(ctx, GatherOptions);
            if o.batch_dims != 0 {
                return Err(format!("batch_dims {} is not supported", o.batch_dims));
            }
            Ok(Prepared::one(move |ins| {
                let idx = inp(ins, 1)?;
                gather(inp(ins, 0)?, &ints(idx)?, &idx.shape, i64::from(o.axis))
            }))
        })
        .roles(&[(0, Role::Table)])
        .hybrid(Hybrid { asymmetric_inputs: None, int8_output: true })
        .integer(IntegerRule::same_as_input(0))
        .version(integer_2, &[1, 2]));
    // PADV2's padding value may lie outside its input's range: the output takes its own
    // calibrated range (as TF's quantizer takes a same-scale op's result statistics), which the
    // input and the value share.
    for (op, rule) in [(B::PAD, IntegerRule::same_as_input(0)), (B::PADV2, IntegerRule::shared())] {
        add(OpDef::builtin(op)
            .kernel(|_| Ok(Prepared::one(|ins| pad(inp(ins, 0)?, &ints(inp(ins, 1)?)?, opt_inp(ins, 2)))))
            .int_kernel(super::integer::pad)
            .integer(rule)
            .version(integer_2, &[1, 2]));
    }
    add(OpDef::builtin(B::DYNAMIC_UPDATE_SLICE)
        .kernel(|_| Ok(Prepared::one(|ins| dynamic_update_slice(inp(ins, 0)?, inp(ins, 1)?, &ints(inp(ins, 2)?)?)))));
    add(OpDef::builtin(B::MIRROR_PAD)
        .kernel(|ctx| {
            let symmetric = opts!(ctx, MirrorPadOptions).mode == MirrorPadMode::SYMMETRIC;
            Ok(Prepared::one(move |ins| mirror_pad(inp(ins, 0)?, &ints(inp(ins, 1)?)?, symmetric)))
        })
        .int_same()
        .integer(IntegerRule::same_as_input(0))
        .version(integer_2, &[1, 2]));
}

/// Integer 2; float 4 for inputs of rank over 4, else 1.
fn strided_slice_version(s: &OpSignature) -> i32 {
    if s.integer(0) {
        2
    } else if s.input(0).is_some_and(|t| t.rank > 4) {
        4
    } else {
        1
    }
}

/// SLICE: begin and size (-1 = to the end) per dimension.
pub(crate) fn slice(v: &Value, begin: &[i64], size: &[i64]) -> KResult<Value> {
    let r = v.shape.len();
    if begin.len() != r || size.len() != r {
        return Err(format!("begin {begin:?} / size {size:?} for rank {r}"));
    }
    let mut tables = Vec::with_capacity(r);
    for d in 0..r {
        let n = v.shape[d] as i64;
        let b = begin[d];
        let e = if size[d] == -1 { n } else { b.saturating_add(size[d]) };
        if b < 0 || e < b || e > n {
            return Err(format!("slice begin {b} size {} out of range for dimension {d} of {:?}", size[d], v.shape));
        }
        tables.push((b as usize..e as usize).collect());
    }
    gather_value(v, &tables)
}

pub(crate) struct StridedSliceParams {
    pub begin_mask: i32,
    pub end_mask: i32,
    pub ellipsis_mask: i32,
    pub new_axis_mask: i32,
    pub shrink_axis_mask: i32,
    pub offset: bool,
}

/// STRIDED_SLICE with TF's mask semantics (ellipsis, new axes, shrink).
pub(crate) fn strided_slice(
    v: &Value,
    begin: &[i64],
    end: &[i64],
    stride: &[i64],
    p: &StridedSliceParams,
) -> KResult<Value> {
    let n = begin.len();
    if end.len() != n || stride.len() != n {
        return Err("begin, end and strides differ in length".into());
    }
    let rank = v.shape.len();
    let bit = |m: i32, i: usize| i < 32 && (m >> i) & 1 == 1;
    // Build the dense spec: per input dimension (begin, end, stride, begin_mask, end_mask, shrink),
    // and the final shape with new axes.
    struct Dim {
        b: i64,
        e: i64,
        s: i64,
        bm: bool,
        em: bool,
        shrink: bool,
    }
    let full = |_: ()| Dim { b: 0, e: 0, s: 1, bm: true, em: true, shrink: false };
    let mut dense: Vec<Dim> = Vec::with_capacity(rank);
    // Final shape entries: Some(dense index) or None for a new axis.
    let mut layout: Vec<Option<usize>> = Vec::new();
    let mut saw_ellipsis = false;
    for i in 0..n {
        if bit(p.ellipsis_mask, i) && !saw_ellipsis {
            saw_ellipsis = true;
            let after = (i + 1..n).filter(|&j| !bit(p.new_axis_mask, j) || bit(p.ellipsis_mask, j)).count();
            let upto = rank.saturating_sub(after);
            while dense.len() < upto {
                layout.push(Some(dense.len()));
                dense.push(full(()));
            }
        } else if bit(p.new_axis_mask, i) {
            layout.push(None);
        } else {
            if dense.len() >= rank {
                return Err(format!("strided slice has more dimensions than the input {:?}", v.shape));
            }
            let e = if p.offset { begin[i].saturating_add(end[i]) } else { end[i] };
            layout.push(Some(dense.len()));
            dense.push(Dim {
                b: begin[i],
                e,
                s: stride[i],
                bm: bit(p.begin_mask, i),
                em: bit(p.end_mask, i),
                shrink: bit(p.shrink_axis_mask, i),
            });
        }
    }
    while dense.len() < rank {
        layout.push(Some(dense.len()));
        dense.push(full(()));
    }
    let mut tables = Vec::with_capacity(rank);
    for (d, dim) in dense.iter().enumerate() {
        let size = v.shape[d] as i64;
        if dim.s == 0 {
            return Err("stride 0".into());
        }
        if dim.shrink {
            let b = if dim.b < 0 { dim.b + size } else { dim.b };
            if b < 0 || b >= size {
                return Err(format!("shrink index {} out of range for dimension {d} of size {size}", dim.b));
            }
            tables.push(vec![b as usize]);
            continue;
        }
        let s = dim.s;
        let clampi = |x: i64| if s > 0 { x.clamp(0, size) } else { x.clamp(-1, size - 1) };
        let start = if dim.bm {
            if s > 0 {
                0
            } else {
                size - 1
            }
        } else {
            clampi(if dim.b < 0 { dim.b + size } else { dim.b })
        };
        let stop = if dim.em {
            if s > 0 {
                size
            } else {
                -1
            }
        } else {
            clampi(if dim.e < 0 { dim.e + size } else { dim.e })
        };
        let mut t = Vec::new();
        let mut x = start;
        while (s > 0 && x < stop) || (s < 0 && x > stop) {
            t.push(x as usize);
            x += s;
        }
        tables.push(t);
    }
    let g = gather_value(v, &tables)?;
    let shape: Vec<usize> = layout
        .iter()
        .filter_map(|l| match l {
            None => Some(1),
            Some(d) if dense[*d].shrink => None,
            Some(d) => Some(tables[*d].len()),
        })
        .collect();
    Ok(Value::new(shape, g.values))
}

/// GATHER along `axis` (batch_dims 0).
pub(crate) fn gather(params: &Value, indices: &[i64], ishape: &[usize], ax: i64) -> KResult<Value> {
    check(params)?;
    let a = axis(ax, params.shape.len())?;
    let n = params.shape[a];
    let outer: usize = params.shape[..a].iter().product();
    let inner: usize = params.shape[a + 1..].iter().product();
    let mut idx = Vec::with_capacity(indices.len());
    for &i in indices {
        if i < 0 || i as usize >= n {
            return Err(format!("index {i} out of range [0, {n})"));
        }
        idx.push(i as usize);
    }
    fn go<T: Copy + Default>(src: &[T], outer: usize, n: usize, inner: usize, idx: &[usize]) -> Buf<T> {
        let mut out = Buf::with_capacity(outer * idx.len() * inner);
        for o in 0..outer {
            for &i in idx {
                let s = (o * n + i) * inner;
                out.extend_from_slice(&src[s..s + inner]);
            }
        }
        out
    }
    let mut shape = params.shape[..a].to_vec();
    shape.extend_from_slice(ishape);
    shape.extend_from_slice(&params.shape[a + 1..]);
    let values = crate::map_values!(&params.values, x => go(x, outer, n, inner, &idx));
    Ok(Value::new(shape, values))
}

/// PAD / PADV2: paddings [rank, 2], `fill` is a one-element value of the input's type (or None for zero).
pub(crate) fn pad(v: &Value, pads: &[i64], fill: Option<&Value>) -> KResult<Value> {
    check(v)?;
    let r = v.shape.len();
    if pads.len() != 2 * r {
        return Err(format!("paddings have {} values for rank {r}", pads.len()));
    }
    let mut out_shape = Vec::with_capacity(r);
    for d in 0..r {
        let (b, a) = (pads[2 * d], pads[2 * d + 1]);
        if b < 0 || a < 0 || b as u64 > MAX_ELEMENTS as u64 || a as u64 > MAX_ELEMENTS as u64 {
            return Err(format!("bad padding {b}, {a}"));
        }
        out_shape.push(v.shape[d] + b as usize + a as usize);
    }
    // The output, and the index tables (one entry per output position of each dimension).
    checked_numel(&out_shape)?;
    let table_len: usize = out_shape.iter().sum();
    crate::ir::budget::check_elements(table_len as u64, 8, || {
        format!("padding to shape {}", crate::ir::cap_list(&out_shape, 8))
    })
    .map_err(|e| e.to_string())?;
    let mut tables = Vec::with_capacity(r);
    for d in 0..r {
        let (b, a) = (pads[2 * d], pads[2 * d + 1]);
        let mut t = vec![FILL; b as usize];
        t.extend(0..v.shape[d]);
        t.extend(std::iter::repeat(FILL).take(a as usize));
        tables.push(t);
    }
    let shape = tables.iter().map(Vec::len).collect();
    macro_rules! go {
        ($($var:ident),*) => {
            match &v.values {
                $(Values::$var(x) => {
                    let f = match fill.map(|f| &f.values) {
                        None => Default::default(),
                        Some(Values::$var(f)) => *f.first().ok_or("empty pad value")?,
                        Some(other) => return Err(format!("pad value of type {}", other.type_name())),
                    };
                    Values::$var(gather_tables(x, &v.shape, &tables, f)?)
                })*
            }
        };
    }
    Ok(Value::new(shape, go!(F32, I32, I64, U8, I8, I16, Bool, C64)))
}

/// MIRROR_PAD: `symmetric` repeats the edge, REFLECT does not.
pub(crate) fn mirror_pad(v: &Value, pads: &[i64], symmetric: bool) -> KResult<Value> {
    let r = v.shape.len();
    if pads.len() != 2 * r {
        return Err(format!("paddings have {} values for rank {r}", pads.len()));
    }
    let mut tables = Vec::with_capacity(r);
    for d in 0..r {
        let n = v.shape[d] as i64;
        let (b, a) = (pads[2 * d], pads[2 * d + 1]);
        let lim = if symmetric { n } else { n - 1 };
        if b < 0 || a < 0 || b > lim || a > lim {
            return Err(format!("mirror padding {b}, {a} too large for dimension {n}"));
        }
        let mut t = Vec::with_capacity((n + a + b) as usize);
        for o in 0..n + a + b {
            let j = o - b;
            let i = if j < 0 {
                if symmetric {
                    -j - 1
                } else {
                    -j
                }
            } else if j >= n {
                if symmetric {
                    2 * n - 1 - j
                } else {
                    2 * (n - 1) - j
                }
            } else {
                j
            };
            t.push(i as usize);
        }
        tables.push(t);
    }
    gather_value(v, &tables)
}

/// DYNAMIC_UPDATE_SLICE: the input with `update` written at `start`, each start clamped so
/// that the update fits (as XLA defines it).
fn dynamic_update_slice(v: &Value, update: &Value, start: &[i64]) -> KResult<Value> {
    check(v)?;
    check(update)?;
    let r = v.shape.len();
    if update.shape.len() != r || start.len() != r || update.shape.iter().zip(&v.shape).any(|(u, d)| u > d) {
        return Err(format!("update {:?} at {start:?} into {:?}", update.shape, v.shape));
    }
    let begin: Vec<usize> = (0..r).map(|d| start[d].clamp(0, (v.shape[d] - update.shape[d]) as i64) as usize).collect();
    let st = super::util::strides(&v.shape);
    let rows: usize = update.shape[..r.saturating_sub(1)].iter().product();
    let inner = update.shape.last().copied().unwrap_or(1);
    macro_rules! go {
        ($($var:ident),*) => {
            match (&v.values, &update.values) {
                $((Values::$var(x), Values::$var(u)) => {
                    let mut out = x.clone();
                    let mut idx = vec![0usize; r.saturating_sub(1)];
                    for row in 0..rows {
                        let base: usize = (0..r).map(|d| (begin[d] + idx.get(d).copied().unwrap_or(0)) * st[d]).sum();
                        out[base..base + inner].copy_from_slice(&u[row * inner..(row + 1) * inner]);
                        for d in (0..idx.len()).rev() {
                            idx[d] += 1;
                            if idx[d] < update.shape[d] {
                                break;
                            }
                            idx[d] = 0;
                        }
                    }
                    Values::$var(out)
                })*
                (a, b) => return Err(format!("DYNAMIC_UPDATE_SLICE of {} with {}", a.type_name(), b.type_name())),
            }
        };
    }
    let values = go!(F32, I32, I64, U8, I8, I16, Bool);
    Ok(Value::new(v.shape.clone(), values))
}
