//! Integer reductions, resizes and data movers with their own arithmetic.

use super::*;

/// Where each input element of a reduction goes.
struct Reduction {
    /// The output's shape.
    shape: Vec<usize>,
    /// Output index of every input element, in input order.
    target: Vec<usize>,
    outputs: usize,
    /// Elements reduced into each output.
    count: usize,
    /// No axis to reduce: the op copies its input.
    copy: bool,
}

fn reduction(shape: &[usize], axes: &Value, keep: bool) -> KResult<Reduction> {
    let rank = shape.len();
    let mut red = vec![false; rank];
    let list = super::super::util::ints(axes)?;
    for &a in &list {
        red[super::super::util::axis(a, rank)?] = true;
    }
    let kept: Vec<usize> = shape.iter().zip(&red).map(|(&d, &r)| if r { 1 } else { d }).collect();
    let outputs: usize = kept.iter().product();
    let count: usize = shape.iter().zip(&red).filter(|(_, &r)| r).map(|(&d, _)| d).product();
    let total: usize = shape.iter().product();
    let mut target = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        target.push((0..rank).fold(0, |acc, d| acc * kept[d] + if red[d] { 0 } else { idx[d] }));
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let out_shape = if keep { kept } else { (0..rank).filter(|&d| !red[d]).map(|d| shape[d]).collect() };
    Ok(Reduction { shape: out_shape, target, outputs, count, copy: !red.iter().any(|&r| r) })
}

/// What a quantized reduction reads at prepare time.
struct Setup {
    keep: bool,
    qi: Q,
    qo: Q,
    /// The output type's range.
    lo: i32,
    hi: i32,
    dtype: TensorType,
}

fn setup(ctx: &PrepareCtx) -> KResult<Setup> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    let keep = match ctx.options() {
        O::ReducerOptions(o) => o.keep_dims,
        _ => false,
    };
    let (lo, hi) = type_range(out.dtype)?;
    Ok(Setup { keep, qi: q_of(input)?, qo: q_of(out)?, lo, hi, dtype: out.dtype })
}

/// SUM int8/int16 (`optimized_ops::QuantizedMeanOrSum` with compute_sum): the raw sum in
/// int32, then round_half_away(f32(Σq)·(si/so) + (−zi·(si/so))·N) + zo, all in f32.
pub(in crate::ops) fn sum(ctx: &PrepareCtx) -> KResult<Prepared> {
    let Setup { keep, qi, qo, lo, hi, dtype } = setup(ctx)?;
    let scale = qi.scale / qo.scale;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let r = reduction(&x.shape, inp(ins, 1)?, keep)?;
        let xv = ints(x)?;
        if xv.is_empty() {
            return wrap(dtype, r.shape, std::iter::repeat(0).take(r.outputs));
        }
        let mut sums = vec![0i32; r.outputs];
        for (&v, &o) in xv.iter().zip(&r.target) {
            sums[o] = sums[o].wrapping_add(v);
        }
        let bias = -(qi.zp as f32) * scale * r.count as f32;
        let vals = sums.iter().map(|&t| ((t as f32 * scale + bias).round() as i32).saturating_add(qo.zp).clamp(lo, hi));
        wrap(dtype, r.shape, vals)
    }))
}

/// REDUCE_MAX and REDUCE_MIN: the largest (smallest) raw value; LiteRT requires the output's
/// parameters to be the input's, so nothing is rescaled.
pub(in crate::ops) fn reduce_max_min(ctx: &PrepareCtx, max: bool) -> KResult<Prepared> {
    let Setup { keep, qi, qo, lo, hi, dtype } = setup(ctx)?;
    if qi.scale != qo.scale || qi.zp != qo.zp {
        return Err("REDUCE_MAX/MIN: the output's parameters must be the input's".into());
    }
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let r = reduction(&x.shape, inp(ins, 1)?, keep)?;
        let xv = ints(x)?;
        let mut acc = vec![if max { lo } else { hi }; r.outputs];
        for (&v, &o) in xv.iter().zip(&r.target) {
            acc[o] = if max { acc[o].max(v) } else { acc[o].min(v) };
        }
        wrap(dtype, r.shape, acc.into_iter())
    }))
}

/// REDUCE_PROD int8/int16 (`optimized_ops::QuantizedReduceProd`): each product step is
/// rescaled by QM(si / so^(1/N)) with the int64 MBQM, in input order; the product once more,
/// plus zo. With no axis the input is copied unchanged.
pub(in crate::ops) fn reduce_prod(ctx: &PrepareCtx) -> KResult<Prepared> {
    let Setup { keep, qi, qo, lo, hi, dtype } = setup(ctx)?;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let r = reduction(&x.shape, inp(ins, 1)?, keep)?;
        let xv = ints(x)?;
        if r.copy {
            return wrap(dtype, r.shape, xv.iter().copied());
        }
        if xv.is_empty() || r.outputs == 0 {
            return wrap(dtype, r.shape, std::iter::repeat(0).take(r.outputs));
        }
        let n = (xv.len() / r.outputs) as f64;
        let (m, s) = fp::quantize_multiplier(f64::from(qi.scale) / f64::from(qo.scale).powf(1.0 / n));
        let mut acc: Vec<Option<i32>> = vec![None; r.outputs];
        for (&v, &o) in xv.iter().zip(&r.target) {
            let d = v - qi.zp;
            acc[o] = Some(match acc[o] {
                None => d,
                Some(p) => fp::mbqm_i64_trunc(i64::from(p) * i64::from(d), m, s),
            });
        }
        let vals = acc.iter().map(|p| {
            let p = p.unwrap_or(1);
            fp::mbqm_i64_trunc(i64::from(p), m, s).saturating_add(qo.zp).clamp(lo, hi)
        });
        wrap(dtype, r.shape, vals)
    }))
}

/// The int8 MEAN over H and W of a 4-D input with keep_dims (`optimized_integer_ops::Mean`):
/// MBQM(Σq, QM(f32(si/(N·so)))) + zo − trunc(f32(zi·si/so) ± 0.5). Channels in blocks of
/// 16 go through vector lanes (the x86 rounding), the rest through the scalar tail.
pub(super) fn mean_hw(x: &Value, qi: Q, qo: Q) -> KResult<Value> {
    let [n, h, w, c] = dims4(&x.shape, "input")?;
    let xv = ints(x)?;
    let count = (h * w) as i32 as f32;
    let temp = qi.zp as f32 * qi.scale / qo.scale;
    let temp = if temp > 0.0 { temp + 0.5 } else { temp - 0.5 };
    let bias = qo.zp - temp as i32;
    let (m, s) = fp::quantize_multiplier(f64::from(qi.scale / (count * qo.scale)));
    let vector = c / 16 * 16;
    let mut out = Vec::with_capacity(n * c);
    for b in 0..n {
        for ch in 0..c {
            let mut acc = 0i32;
            for p in 0..h * w {
                acc = acc.wrapping_add(xv[(b * h * w + p) * c + ch]);
            }
            let r = if ch < vector { fp::mbqm_x86(acc, m, s) } else { fp::mbqm(acc, m, s) };
            out.push(r.wrapping_add(bias).clamp(-128, 127));
        }
    }
    wrap(TensorType::INT8, vec![n, 1, 1, c], out.into_iter())
}

/// The source row (column) of output index `v`, in 10-bit fixed point, and its two neighbours
/// (`ComputeInterpolationValuesInteger`). Very large upscales round the scale so far down
/// that the lower neighbour leaves the input, where LiteRT reads past its buffer: refused.
fn source_10(v: i32, scale: i32, half_pixel: bool, size: i32) -> KResult<(i32, i32, i32)> {
    let mut src = v.wrapping_mul(scale);
    if half_pixel {
        src = src.wrapping_add(scale / 2 - (1 << 9));
    }
    let lo = (src / (1 << 10)).max(0);
    let hi = (src.saturating_add((1 << 10) - 1) / (1 << 10)).min(size - 1);
    if lo >= size || hi < 0 {
        return Err(format!("RESIZE_BILINEAR: output {v} reads row {lo} of {size}"));
    }
    Ok((src, lo, hi))
}

/// The 10-bit scale of one axis: in/out rounded, or (in−1)/(out−1) with align_corners.
fn scale_10(input: i32, output: i32, align: bool) -> i32 {
    if align && output > 1 {
        (input - 1).wrapping_mul(1 << 10).wrapping_add((output - 1) / 2) / (output - 1)
    } else {
        input.wrapping_mul(1 << 10).wrapping_add(output / 2) / output
    }
}

/// RESIZE_BILINEAR int8/int16 (`reference_ops::ResizeBilinearInteger`, which the built-in
/// kernel runs for both): 10-bit weights, a 20-bit sum rounded half away from zero. No
/// rescaling: the output keeps the input's parameters.
pub(in crate::ops) fn resize_bilinear(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (align, half) = match ctx.options() {
        O::ResizeBilinearOptions(o) => (o.align_corners, o.half_pixel_centers),
        _ => (false, false),
    };
    let dtype = ctx.output(0)?.dtype;
    type_range(dtype)?;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let [n, h, w, c] = dims4(&x.shape, "input")?;
        let size = super::super::util::ints(inp(ins, 1)?)?;
        let [oh, ow] = size[..] else { return Err("RESIZE_BILINEAR size must hold 2 values".into()) };
        let (oh, ow) = (i32::try_from(oh).unwrap_or(0), i32::try_from(ow).unwrap_or(0));
        if oh <= 0 || ow <= 0 || h == 0 || w == 0 {
            return Err(format!("RESIZE_BILINEAR to {oh}x{ow} from {h}x{w}"));
        }
        let xv = ints(x)?;
        let (hi, wi) =
            (i32::try_from(h).map_err(|_| "input too tall")?, i32::try_from(w).map_err(|_| "input too wide")?);
        let (hs, ws) = (scale_10(hi, oh, align), scale_10(wi, ow, align));
        let cols = (0..ow).map(|xo| source_10(xo, ws, half, wi)).collect::<KResult<Vec<_>>>()?;
        let mut out = Vec::with_capacity(n * oh as usize * ow as usize * c);
        let at =
            |b: usize, y: i32, xx: i32, ch: usize| i64::from(xv[((b * h + y as usize) * w + xx as usize) * c + ch]);
        for b in 0..n {
            for yo in 0..oh {
                let (sy, y0, y1) = source_10(yo, hs, half, hi)?;
                let (fy, gy) = (i64::from(sy - (1 << 10) * y0), i64::from((1 << 10) - (sy - (1 << 10) * y0)));
                for &(sx, x0, x1) in &cols {
                    let (fx, gx) = (i64::from(sx - (1 << 10) * x0), i64::from((1 << 10) - (sx - (1 << 10) * x0)));
                    for ch in 0..c {
                        let v = at(b, y0, x0, ch) * gy * gx
                            + at(b, y1, x0, ch) * fy * gx
                            + at(b, y0, x1, ch) * gy * fx
                            + at(b, y1, x1, ch) * fy * fx;
                        let round = if v > 0 { 1 << 19 } else { -(1 << 19) };
                        out.push(((v + round) / (1 << 20)) as i32);
                    }
                }
            }
        }
        wrap(dtype, vec![n, oh as usize, ow as usize, c], out.into_iter())
    }))
}
