//! Data movement (any element type) and reductions.

use super::elementwise::KResult;
use super::value::{map_values, Elem, Value, Values};

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Most elements a computed tensor may have (2^31), so a malformed model gets an error, not an abort.
pub(crate) const MAX_ELEMENTS: usize = 1 << 31;

/// The element count of `shape`, refusing overflow and sizes beyond [`MAX_ELEMENTS`].
pub(crate) fn checked_numel(shape: &[usize]) -> KResult<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("a tensor of shape {shape:?} is too large"))
}

/// A normalized axis in 0..rank (negative counts from the end).
pub(crate) fn axis(a: i64, rank: usize) -> KResult<usize> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    if x < 0 || x >= r {
        return Err(format!("axis {a} is out of range for rank {rank}"));
    }
    Ok(x as usize)
}

/// Marks an element of a gather table that takes the fill value.
pub(crate) const FILL: usize = usize::MAX;

/// out[i0, …, ik] = src[Σ tables[d][i_d] · stride_d], or `fill` where any table entry is FILL.
/// The output shape is the tables' lengths; every non-FILL entry must be < shape[d].
pub(crate) fn gather_tables<T: Copy>(src: &[T], shape: &[usize], tables: &[Vec<usize>], fill: T) -> KResult<Vec<T>> {
    if tables.len() != shape.len() {
        return Err("rank mismatch".into());
    }
    for (d, t) in tables.iter().enumerate() {
        if t.iter().any(|&i| i != FILL && i >= shape[d]) {
            return Err(format!("index out of range for dimension {d} of {shape:?}"));
        }
    }
    let st = strides(shape);
    let out_shape: Vec<usize> = tables.iter().map(Vec::len).collect();
    let n = checked_numel(&out_shape)?;
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let r = shape.len();
    if r == 0 {
        out.push(*src.first().ok_or("empty scalar")?);
        return Ok(out);
    }
    let last = &tables[r - 1];
    let mut idx = vec![0usize; r - 1];
    let rows: usize = out_shape[..r - 1].iter().product();
    for _ in 0..rows {
        let mut base = 0usize;
        let mut pad = false;
        for d in 0..r - 1 {
            let t = tables[d][idx[d]];
            if t == FILL {
                pad = true;
                break;
            }
            base += t * st[d];
        }
        if pad {
            out.extend(std::iter::repeat(fill).take(last.len()));
        } else {
            for &t in last {
                out.push(if t == FILL { fill } else { src[base + t * st[r - 1]] });
            }
        }
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

fn check(v: &Value) -> KResult<()> {
    if v.values.len() != v.numel() {
        return Err(format!("tensor has {} values for shape {:?}", v.values.len(), v.shape));
    }
    Ok(())
}

/// Applies per-dimension gather tables to a value of any type.
pub(crate) fn gather_value(v: &Value, tables: &[Vec<usize>]) -> KResult<Value> {
    check(v)?;
    let shape = tables.iter().map(Vec::len).collect();
    let values = map_values!(&v.values, x => gather_tables(x, &v.shape, tables, Default::default())?);
    Ok(Value::new(shape, values))
}

/// RESHAPE target: one -1 is inferred; the element count must match.
pub(crate) fn reshape(v: &Value, target: &[i64]) -> KResult<Value> {
    check(v)?;
    let n = v.numel();
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        if d == -1 {
            if infer.replace(i).is_some() {
                return Err(format!("more than one -1 in shape {target:?}"));
            }
            shape.push(0);
        } else {
            let d = usize::try_from(d).map_err(|_| format!("bad dimension {d} in shape {target:?}"))?;
            known = known.checked_mul(d).ok_or("shape overflows")?;
            shape.push(d);
        }
    }
    if let Some(i) = infer {
        if known == 0 || n % known != 0 {
            return Err(format!("cannot reshape {:?} to {target:?}", v.shape));
        }
        shape[i] = n / known;
    } else if known != n {
        return Err(format!("cannot reshape {:?} ({n} values) to {target:?}", v.shape));
    }
    Ok(Value::new(shape, v.values.clone()))
}

/// TRANSPOSE by `perm`.
pub(crate) fn transpose(v: &Value, perm: &[i64]) -> KResult<Value> {
    check(v)?;
    let r = v.shape.len();
    if perm.len() != r {
        return Err(format!("perm {perm:?} for rank {r}"));
    }
    let p: Vec<usize> = perm.iter().map(|&a| axis(a, r)).collect::<KResult<_>>()?;
    let mut seen = vec![false; r];
    for &a in &p {
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("perm {perm:?} repeats an axis"));
        }
    }
    let st = strides(&v.shape);
    let out_shape: Vec<usize> = p.iter().map(|&a| v.shape[a]).collect();
    let n = v.numel();
    fn go<T: Copy>(src: &[T], out_shape: &[usize], ist: &[usize], n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        let r = out_shape.len();
        if n == 0 {
            return out;
        }
        if r == 0 {
            out.push(src[0]);
            return out;
        }
        let mut idx = vec![0usize; r];
        let mut off = 0usize;
        let inner = out_shape[r - 1];
        let istep = ist[r - 1];
        for _ in 0..n / inner {
            for k in 0..inner {
                out.push(src[off + k * istep]);
            }
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                off += ist[d];
                if idx[d] < out_shape[d] {
                    break;
                }
                off -= ist[d] * out_shape[d];
                idx[d] = 0;
            }
        }
        out
    }
    let ist: Vec<usize> = p.iter().map(|&a| st[a]).collect();
    let values = map_values!(&v.values, x => go(x, &out_shape, &ist, n));
    Ok(Value::new(out_shape, values))
}

/// CONCATENATION along `axis` (all inputs of one type).
pub(crate) fn concat(vs: &[&Value], ax: i64) -> KResult<Value> {
    let first = vs.first().ok_or("no inputs")?;
    let r = first.shape.len();
    let a = axis(ax, r)?;
    for v in vs {
        check(v)?;
        if v.shape.len() != r
            || v.values.type_name() != first.values.type_name()
            || v.shape.iter().enumerate().any(|(d, &s)| d != a && s != first.shape[d])
        {
            return Err(format!("cannot concatenate {:?} with {:?} along axis {a}", first.shape, v.shape));
        }
    }
    let outer: usize = first.shape[..a].iter().product();
    let mut shape = first.shape.clone();
    shape[a] = vs.iter().map(|v| v.shape[a]).sum();
    let chunk = |v: &Value| v.shape[a..].iter().product::<usize>();
    fn go<T: Elem>(vs: &[&Value], outer: usize, chunks: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(outer * chunks.iter().sum::<usize>());
        let srcs: Vec<&[T]> = vs.iter().map(|v| T::slice(&v.values).unwrap_or(&[])).collect();
        for o in 0..outer {
            for (s, &c) in srcs.iter().zip(chunks) {
                out.extend_from_slice(&s[o * c..(o + 1) * c]);
            }
        }
        out
    }
    let chunks: Vec<usize> = vs.iter().map(|v| chunk(v)).collect();
    let values = match &first.values {
        Values::F32(_) => Values::F32(go(vs, outer, &chunks)),
        Values::I32(_) => Values::I32(go(vs, outer, &chunks)),
        Values::I64(_) => Values::I64(go(vs, outer, &chunks)),
        Values::U8(_) => Values::U8(go(vs, outer, &chunks)),
        Values::I8(_) => Values::I8(go(vs, outer, &chunks)),
        Values::Bool(_) => Values::Bool(go(vs, outer, &chunks)),
    };
    Ok(Value::new(shape, values))
}

/// Splits `v` along `axis` into pieces of the given sizes.
pub(crate) fn split_sizes(v: &Value, ax: usize, sizes: &[usize]) -> KResult<Vec<Value>> {
    check(v)?;
    if sizes.iter().sum::<usize>() != v.shape[ax] {
        return Err(format!("split sizes {sizes:?} do not sum to {}", v.shape[ax]));
    }
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for &s in sizes {
        let tables: Vec<Vec<usize>> = v
            .shape
            .iter()
            .enumerate()
            .map(|(d, &n)| if d == ax { (start..start + s).collect() } else { (0..n).collect() })
            .collect();
        out.push(gather_value(v, &tables)?);
        start += s;
    }
    Ok(out)
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
    fn go<T: Copy>(src: &[T], outer: usize, n: usize, inner: usize, idx: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(outer * idx.len() * inner);
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
    let values = map_values!(&params.values, x => go(x, outer, n, inner, &idx));
    Ok(Value::new(shape, values))
}

/// PAD / PADV2: paddings [rank, 2], `fill` is a one-element value of the input's type (or None for zero).
pub(crate) fn pad(v: &Value, pads: &[i64], fill: Option<&Value>) -> KResult<Value> {
    check(v)?;
    let r = v.shape.len();
    if pads.len() != 2 * r {
        return Err(format!("paddings have {} values for rank {r}", pads.len()));
    }
    let mut tables = Vec::with_capacity(r);
    for d in 0..r {
        let (b, a) = (pads[2 * d], pads[2 * d + 1]);
        if b < 0 || a < 0 || b as u64 > MAX_ELEMENTS as u64 || a as u64 > MAX_ELEMENTS as u64 {
            return Err(format!("bad padding {b}, {a}"));
        }
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
    Ok(Value::new(shape, go!(F32, I32, I64, U8, I8, Bool)))
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

/// TILE by `multiples`.
pub(crate) fn tile(v: &Value, multiples: &[i64]) -> KResult<Value> {
    if multiples.len() != v.shape.len() {
        return Err(format!("multiples {multiples:?} for rank {}", v.shape.len()));
    }
    let mut tables = Vec::new();
    for (d, &m) in multiples.iter().enumerate() {
        let m = usize::try_from(m).map_err(|_| "negative multiple")?;
        checked_numel(&[m, v.shape[d]])?;
        tables.push((0..m).flat_map(|_| 0..v.shape[d]).collect());
    }
    gather_value(v, &tables)
}

/// DEPTH_TO_SPACE (NHWC, DCR order as TFLite).
pub(crate) fn depth_to_space(v: &Value, bs: i32) -> KResult<Value> {
    check(v)?;
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let bs = usize::try_from(bs).ok().filter(|&b| b > 0).ok_or("block size must be positive")?;
    if c % (bs * bs) != 0 {
        return Err(format!("depth {c} is not a multiple of {}", bs * bs));
    }
    let oc = c / (bs * bs);
    let (oh, ow) = (h * bs, w * bs);
    fn go<T: Copy>(x: &[T], n: usize, h: usize, w: usize, c: usize, bs: usize, oc: usize) -> Vec<T> {
        let (oh, ow) = (h * bs, w * bs);
        let mut out = Vec::with_capacity(x.len());
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let s = ((b * h + oy / bs) * w + ox / bs) * c + ((oy % bs) * bs + ox % bs) * oc;
                    out.extend_from_slice(&x[s..s + oc]);
                }
            }
        }
        out
    }
    let values = map_values!(&v.values, x => go(x, n, h, w, c, bs, oc));
    Ok(Value::new(vec![n, oh, ow, oc], values))
}

/// SPACE_TO_DEPTH (NHWC).
pub(crate) fn space_to_depth(v: &Value, bs: i32) -> KResult<Value> {
    check(v)?;
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let bs = usize::try_from(bs).ok().filter(|&b| b > 0).ok_or("block size must be positive")?;
    if h % bs != 0 || w % bs != 0 {
        return Err(format!("spatial size {h}x{w} is not a multiple of {bs}"));
    }
    let (oh, ow) = (h / bs, w / bs);
    fn go<T: Copy>(x: &[T], n: usize, h: usize, w: usize, c: usize, bs: usize) -> Vec<T> {
        let (oh, ow) = (h / bs, w / bs);
        let mut out = Vec::with_capacity(x.len());
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for by in 0..bs {
                        for bx in 0..bs {
                            let s = ((b * h + oy * bs + by) * w + ox * bs + bx) * c;
                            out.extend_from_slice(&x[s..s + c]);
                        }
                    }
                }
            }
        }
        out
    }
    let values = map_values!(&v.values, x => go(x, n, h, w, c, bs));
    Ok(Value::new(vec![n, oh, ow, c * bs * bs], values))
}

/// RESIZE_BILINEAR, exactly TFLite's reference arithmetic.
pub(crate) fn resize_bilinear(v: &Value, size: &[i64], align: bool, half: bool) -> KResult<Value> {
    let x = v.as_f32().ok_or("RESIZE_BILINEAR needs FLOAT32")?;
    check(v)?;
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let [oh, ow] = size[..] else { return Err("size must have 2 values".into()) };
    let (oh, ow) = (usize::try_from(oh).map_err(|_| "bad size")?, usize::try_from(ow).map_err(|_| "bad size")?);
    checked_numel(&[n, oh, ow, c])?;
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        return Err("empty resize".into());
    }
    let scale = |i: usize, o: usize| {
        if align && o > 1 {
            (i - 1) as f32 / (o - 1) as f32
        } else {
            i as f32 / o as f32
        }
    };
    let interp = |v: usize, s: f32, size: usize| {
        let sv = if half { (v as f32 + 0.5) * s - 0.5 } else { v as f32 * s };
        let lo = (sv.floor() as i32).max(0) as usize;
        let hi = (sv.ceil() as i32).min(size as i32 - 1).max(0) as usize;
        (sv, lo, hi)
    };
    let (hs, ws) = (scale(h, oh), scale(w, ow));
    let mut out = Vec::with_capacity(n * oh * ow * c);
    let xs: Vec<(f32, usize, usize)> = (0..ow).map(|x| interp(x, ws, w)).collect();
    for b in 0..n {
        for y in 0..oh {
            let (iy, y0, y1) = interp(y, hs, h);
            let dy = iy - y0 as f32;
            for &(ix, x0, x1) in &xs {
                let dx = ix - x0 as f32;
                let p = |yy: usize, xx: usize| ((b * h + yy) * w + xx) * c;
                let (a, bb, cc, d) = (p(y0, x0), p(y1, x0), p(y0, x1), p(y1, x1));
                for k in 0..c {
                    out.push(
                        x[a + k] * (1.0 - dy) * (1.0 - dx)
                            + x[bb + k] * dy * (1.0 - dx)
                            + x[cc + k] * (1.0 - dy) * dx
                            + x[d + k] * dy * dx,
                    );
                }
            }
        }
    }
    Ok(Value::f32(vec![n, oh, ow, c], out))
}

/// RESIZE_NEAREST_NEIGHBOR, TFLite's reference index arithmetic.
pub(crate) fn resize_nearest(v: &Value, size: &[i64], align: bool, half: bool) -> KResult<Value> {
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let [oh, ow] = size[..] else { return Err("size must have 2 values".into()) };
    let (oh, ow) = (usize::try_from(oh).map_err(|_| "bad size")?, usize::try_from(ow).map_err(|_| "bad size")?);
    if h == 0 || w == 0 {
        return Err("empty input".into());
    }
    let near = |v: usize, i: usize, o: usize| -> usize {
        let scale = if align && o > 1 { (i - 1) as f32 / (o - 1) as f32 } else { i as f32 / o as f32 };
        let off = if half { 0.5 } else { 0.0 };
        let s = (v as f32 + off) * scale;
        let mut r = if align { s.round() as i32 } else { s.floor() as i32 }.min(i as i32 - 1);
        if half {
            r = r.max(0);
        }
        r.max(0) as usize
    };
    let tables = vec![
        (0..n).collect(),
        (0..oh).map(|y| near(y, h, oh)).collect(),
        (0..ow).map(|x| near(x, w, ow)).collect(),
        (0..c).collect(),
    ];
    gather_value(v, &tables)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reduce {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
}

/// Reduces over `axes` (negative allowed, repeats ignored); keep_dims keeps them as 1.
pub(crate) fn reduce(v: &Value, axes: &[i64], keep: bool, op: Reduce) -> KResult<Value> {
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
    fn go<T: Copy>(src: &[T], shape: &[usize], st: &[usize], on: usize, init: T, f: impl Fn(T, T) -> T) -> Vec<T> {
        let mut out = vec![init; on];
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
    fn go<T: PartialOrd + Copy>(x: &[T], outer: usize, n: usize, inner: usize, max: bool) -> Vec<i64> {
        let mut out = Vec::with_capacity(outer * inner);
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
    };
    let mut shape = v.shape.clone();
    shape.remove(a);
    let values = if i64_out { Values::I64(r) } else { Values::I32(r.into_iter().map(|x| x as i32).collect()) };
    Ok(Value::new(shape, values))
}
