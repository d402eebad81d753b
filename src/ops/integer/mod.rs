//! Integer kernels: the ops tflq writes in int8 and 16x8, computed as LiteRT's built-in
//! (optimized, x86-64) kernels compute them, bit for bit. Each family's registry entry points
//! here with [`OpDef::int_kernel`](super::OpDef::int_kernel); the arithmetic is in
//! [`crate::kernels::fixedpoint`]; the facts are in reference/tflite-kernel-facts.md §1–§3.
//!
//! Values are read as i32 whatever their width (I8 or I16) and written back in the output
//! tensor's type. Per-tensor parameters are read from the tensors at prepare time.

mod activation;
mod conv;
mod elementwise;
mod matmul;
pub(super) mod pointwise;
mod quant;
mod reduce;

pub(super) use activation::{exp, gelu, l2_normalize, log, log_softmax, sigmoid_or_tanh, softmax_any};
pub(super) use conv::{conv2d, depthwise, fully_connected};
pub(super) use elementwise::{compare, div, max_min, squared_difference};
pub(super) use matmul::{batch_matmul, transpose_conv};
pub use quant::quantize_to;
pub(super) use quant::{dequantize, quantize};
pub(super) use reduce::{reduce_max_min, reduce_prod, resize_bilinear, sum};

use super::util::{broadcast_shape, broadcast_strides, dims4, inp, opt_inp};
use super::Isa;
use super::{opts, KResult, PrepareCtx, Prepared};
use crate::ir::{Buf, Tensor, Value, Values};
use crate::kernels::fixedpoint as fp;
use crate::kernels::{int8, out_and_pad};
use crate::schema::{ActivationFunctionType as Act, BuiltinOptionsT as O, Padding, TensorType};

/// One scale and zero point.
#[derive(Clone, Copy, Debug)]
struct Q {
    scale: f32,
    zp: i32,
}

/// A tensor's (first) scale and zero point.
fn q_of(t: &Tensor) -> KResult<Q> {
    let qp = t.quantization.as_ref().ok_or_else(|| format!("tensor '{}' has no quantization", t.name()))?;
    let scale = *qp.scales().first().ok_or_else(|| format!("tensor '{}' has no scale", t.name()))?;
    let zp = qp.zero_points().first().copied().unwrap_or(0) as i32;
    Ok(Q { scale, zp })
}

/// The scales of a (weight) tensor, one per channel or one.
fn scales_of(t: &Tensor) -> KResult<Vec<f32>> {
    let qp = t.quantization.as_ref().ok_or_else(|| format!("tensor '{}' has no quantization", t.name()))?;
    if qp.scales().is_empty() {
        return Err(format!("tensor '{}' has no scale", t.name()));
    }
    Ok(qp.scales().to_vec())
}

fn input_t<'a>(ctx: &PrepareCtx<'a>, slot: usize) -> KResult<&'a Tensor> {
    ctx.input(slot).ok_or_else(|| format!("input {slot} is missing"))
}

/// The range of an integer type.
fn type_range(t: TensorType) -> KResult<(i32, i32)> {
    match t {
        TensorType::INT8 => Ok((-128, 127)),
        TensorType::INT16 => Ok((-32768, 32767)),
        TensorType::UINT8 => Ok((0, 255)),
        TensorType::INT32 => Ok((i32::MIN, i32::MAX)),
        other => Err(format!("no integer kernel for {}", crate::ir::dtype::type_name(other))),
    }
}

/// `CalculateActivationRangeQuantized`: the fused activation as a clamp of quantized values.
fn act_range(act: Act, out: &Tensor) -> KResult<(i32, i32)> {
    let (lo, hi) = type_range(out.dtype)?;
    let q = q_of(out)?;
    let quant = |f: f32| q.zp + (f / q.scale).round() as i32;
    Ok(match act {
        Act::NONE => (lo, hi),
        Act::RELU => (lo.max(quant(0.0)), hi),
        Act::RELU6 => (lo.max(quant(0.0)), hi.min(quant(6.0))),
        Act::RELU_N1_TO_1 => (lo.max(quant(-1.0)), hi.min(quant(1.0))),
        other => return Err(format!("fused activation {} on integers", other.0)),
    })
}

/// The elements of an integer value as i32.
fn ints(v: &Value) -> KResult<Buf<i32>> {
    Ok(match &v.values {
        Values::I8(x) => x.iter().map(|&a| i32::from(a)).collect(),
        Values::I16(x) => x.iter().map(|&a| i32::from(a)).collect(),
        Values::U8(x) => x.iter().map(|&a| i32::from(a)).collect(),
        Values::I32(x) => x.clone(),
        other => return Err(format!("expected integer values, got {}", other.type_name())),
    })
}

/// Values (already in range) as the output type.
fn wrap(dtype: TensorType, shape: Vec<usize>, v: impl Iterator<Item = i32>) -> KResult<Value> {
    let values = match dtype {
        TensorType::INT8 => Values::I8(v.map(|a| a as i8).collect()),
        TensorType::INT16 => Values::I16(v.map(|a| a as i16).collect()),
        TensorType::UINT8 => Values::U8(v.map(|a| a as u8).collect()),
        TensorType::INT32 => Values::I32(v.collect()),
        other => return Err(format!("no integer output of type {}", crate::ir::dtype::type_name(other))),
    };
    Ok(Value::new(shape, values))
}

fn is_int(t: TensorType) -> bool {
    matches!(t, TensorType::INT8 | TensorType::INT16 | TensorType::UINT8 | TensorType::INT32)
}

// ---------------------------------------------------------------- QUANTIZE, DEQUANTIZE

// ---------------------------------------------------------------- elementwise

/// The broadcast output shape and, for each of its elements, the indices it reads.
type Broadcast = (Vec<usize>, Vec<(usize, usize)>);

/// The output shape of a broadcast binary op, and the (a, b) index pairs of its elements.
fn broadcast2(a: &[usize], b: &[usize]) -> KResult<Broadcast> {
    let shape = broadcast_shape(a, b)?;
    let (sa, sb) = (broadcast_strides(a, &shape), broadcast_strides(b, &shape));
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let ia: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ib: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        pairs.push((ia, ib));
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok((shape, pairs))
}

fn fused_act(o: &O) -> Act {
    match o {
        O::AddOptions(o) => o.fused_activation_function,
        O::SubOptions(o) => o.fused_activation_function,
        O::MulOptions(o) => o.fused_activation_function,
        _ => Act::NONE,
    }
}

/// ADD and SUB (`reference_integer_ops/add.h`: left shift 20 for int8, 15 for int16).
pub(super) fn add_sub(ctx: &PrepareCtx, sub: bool) -> KResult<Prepared> {
    let (a, b, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    let (qa, qb, qo) = (q_of(a)?, q_of(b)?, q_of(out)?);
    let (lo, hi) = act_range(fused_act(ctx.options()), out)?;
    let left = if out.dtype == TensorType::INT16 { 15 } else { 20 };
    let twice_max = 2.0 * f64::from(qa.scale.max(qb.scale));
    let (m1, s1) = fp::quantize_multiplier(f64::from(qa.scale) / twice_max);
    let (m2, s2) = fp::quantize_multiplier(f64::from(qb.scale) / twice_max);
    let (mo, so) = fp::quantize_multiplier(twice_max / ((1i64 << left) as f64 * f64::from(qo.scale)));
    let dtype = out.dtype;
    let p = int8::AddParams {
        za: qa.zp,
        zb: qb.zp,
        left,
        ma: (m1, s1),
        mb: (m2, s2),
        mo: (mo, so),
        zo: qo.zp,
        lo,
        hi,
        sub,
    };
    let isa = ctx.isa;
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        if let (Values::I8(xv), Values::I8(yv), TensorType::INT8, true) =
            (&x.values, &y.values, dtype, x.shape == y.shape)
        {
            let mut out = Buf::filled(0i8, xv.len());
            int8::add_same_shape(isa, &p, xv, yv, &mut out)?;
            return Ok(Value::new(x.shape.clone(), Values::I8(out)));
        }
        let (xv, yv) = (ints(x)?, ints(y)?);
        let (shape, pairs) = broadcast2(&x.shape, &y.shape)?;
        // Same-shape int16 ADD: LiteRT's vector lanes for its blocks of 16 (int8: above).
        let lanes = if x.shape == y.shape && dtype == TensorType::INT16 { p.lanes(pairs.len()) } else { 0 };
        wrap(
            dtype,
            shape,
            pairs.iter().enumerate().map(
                |(k, &(i, j))| {
                    if k < lanes {
                        p.apply_lane(xv[i], yv[j])
                    } else {
                        p.apply(xv[i], yv[j])
                    }
                },
            ),
        )
    }))
}

/// MUL: MBQM((a − za)(b − zb), QM(f32(sa·sb/so))) + zo.
pub(super) fn mul(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (a, b, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    let (qa, qb, qo) = (q_of(a)?, q_of(b)?, q_of(out)?);
    let (lo, hi) = act_range(fused_act(ctx.options()), out)?;
    let (m, s) = fp::quantize_multiplier(f64::from(qa.scale * qb.scale / qo.scale));
    let dtype = out.dtype;
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        let (xv, yv) = (ints(x)?, ints(y)?);
        let (shape, pairs) = broadcast2(&x.shape, &y.shape)?;
        let out = pairs.iter().map(|&(i, j)| {
            let p = (xv[i] - qa.zp).wrapping_mul(yv[j] - qb.zp);
            fp::mbqm(p, m, s).saturating_add(qo.zp).clamp(lo, hi)
        });
        wrap(dtype, shape, out)
    }))
}

// ---------------------------------------------------------------- pooling

/// AVERAGE_POOL_2D and MAX_POOL_2D: no rescaling (the parameters are the input's); the
/// average rounds half away from zero over the window's valid taps.
pub(super) fn pool(ctx: &PrepareCtx, max: bool) -> KResult<Prepared> {
    let o = opts!(ctx, Pool2DOptions);
    let out = ctx.output(0)?;
    let (lo, hi) = act_range(o.fused_activation_function, out)?;
    let same = matches!(o.padding, Padding::SAME);
    let (fh, fw, sh, sw) = (o.filter_height as usize, o.filter_width as usize, o.stride_h, o.stride_w);
    let dtype = out.dtype;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let [n, h, wd, c] = dims4(&x.shape, "input")?;
        let xv = ints(x)?;
        let (oh, ph) = out_and_pad(same, h, fh, sh, 1)?;
        let (ow, pw) = out_and_pad(same, wd, fw, sw, 1)?;
        let mut out = Vec::with_capacity(n * oh * ow * c);
        for b in 0..n {
            for oy in 0..oh {
                let y0 = (oy * sh as usize) as isize - ph as isize;
                let (ys, ye) = (y0.max(0) as usize, ((y0 + fh as isize).min(h as isize)).max(0) as usize);
                for ox in 0..ow {
                    let x0 = (ox * sw as usize) as isize - pw as isize;
                    let (xs, xe) = (x0.max(0) as usize, ((x0 + fw as isize).min(wd as isize)).max(0) as usize);
                    for ch in 0..c {
                        let taps = (ys..ye).flat_map(|y| (xs..xe).map(move |xx| (y, xx)));
                        let at = |(y, xx): (usize, usize)| xv[((b * h + y) * wd + xx) * c + ch];
                        let r = if max {
                            taps.map(at).max().unwrap_or(lo)
                        } else {
                            let count = ((ye - ys) * (xe - xs)) as i32;
                            let sum: i32 = taps.map(at).sum();
                            if count == 0 {
                                0
                            } else if sum > 0 {
                                (sum + count / 2) / count
                            } else {
                                (sum - count / 2) / count
                            }
                        };
                        out.push(r.clamp(lo, hi));
                    }
                }
            }
        }
        wrap(dtype, vec![n, oh, ow, c], out.into_iter())
    }))
}

// ---------------------------------------------------------------- activations

/// RELU, RELU6, RELU_N1_TO_1 and RELU_0_TO_1: a requantization (QM(f32(si/so))) clamped to
/// the activation's range (`QuantizedReluX`).
pub(super) fn relu(ctx: &PrepareCtx, lo_f: f32, hi_f: Option<f32>) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let (tlo, thi) = type_range(out.dtype)?;
    let (m, s) = fp::quantize_multiplier(f64::from(qi.scale / qo.scale));
    let lo = tlo.max(qo.zp + (lo_f / qo.scale).round() as i32);
    let hi = hi_f.map_or(thi, |h| thi.min(qo.zp + (h / qo.scale).round() as i32));
    let dtype = out.dtype;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = ints(x)?;
        let out = xv.iter().map(|&a| (qo.zp + fp::mbqm(a - qi.zp, m, s)).clamp(lo, hi));
        wrap(dtype, x.shape.clone(), out)
    }))
}

/// An int8 op by a 256-entry table built in f32 (`LUTPopulate`): LOGISTIC and TANH.
pub(super) fn lut8(ctx: &PrepareCtx, f: fn(f32) -> f32) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype != TensorType::INT8 || out.dtype != TensorType::INT8 {
        return Err("only the int8 form has an integer kernel here".into());
    }
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let inv = 1.0 / qo.scale;
    let table: Vec<i8> = (-128..=127)
        .map(|v: i32| {
            let x = qi.scale * (v - qi.zp) as f32;
            let r = (f(x) * inv).round();
            ((r + qo.zp as f32) as i32).clamp(-128, 127) as i8
        })
        .collect();
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let Values::I8(xv) = &x.values else { return Err("expected INT8".into()) };
        let out: Buf<i8> = xv.iter().map(|&a| table[(i32::from(a) + 128) as usize]).collect();
        Ok(Value::new(x.shape.clone(), Values::I8(out)))
    }))
}

pub(super) fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub(super) fn tanh(x: f32) -> f32 {
    x.tanh()
}

// ---------------------------------------------------------------- data movement

/// PAD and PADV2: padding with the output's zero point (PAD) or the given value (PADV2).
pub(super) fn pad(ctx: &PrepareCtx) -> KResult<Prepared> {
    let out = ctx.output(0)?;
    let (zo, dtype) = (q_of(out)?.zp, out.dtype);
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let pads = super::util::ints(inp(ins, 1)?)?;
        let fill = match opt_inp(ins, 2) {
            Some(f) => f.clone(),
            None => wrap(dtype, vec![1], std::iter::once(zo))?,
        };
        super::index::pad(x, &pads, Some(&fill))
    }))
}

/// SPACE_TO_BATCH_ND: the padding holds the output's zero point.
pub(super) fn space_to_batch(ctx: &PrepareCtx) -> KResult<Prepared> {
    let out = ctx.output(0)?;
    let (zo, dtype) = (q_of(out)?.zp, out.dtype);
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        // Moved as offsets from the zero point, so that the padding's zeros are the zero point.
        let shifted: Buf<i32> = ints(x)?.iter().map(|&a| a - zo).collect();
        let shifted = Value::new(x.shape.clone(), Values::I32(shifted));
        let block = super::util::sizes(inp(ins, 1)?, "block size")?;
        let pads = super::util::ints(inp(ins, 2)?)?;
        let moved = super::space::blocks(&shifted, &block, &pads, true)?;
        let Values::I32(v) = &moved.values else { return Err("SPACE_TO_BATCH_ND changed the type".into()) };
        wrap(dtype, moved.shape.clone(), v.iter().map(|&a| a + zo))
    }))
}

/// SOFTMAX int8 → int8 (`optimized_ops::Softmax` with the float table, as on x86): T[d] =
/// expf(−(s·β)·d) for d = max − q, the sum in f32 in index order, out = round(T · 1/(sum·so)) + zo.
pub(super) fn softmax(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype != TensorType::INT8 || out.dtype != TensorType::INT8 {
        return Err("only int8 SOFTMAX has an integer kernel here".into());
    }
    let beta = opts!(ctx, SoftmaxOptions).beta;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let scale = -qi.scale * beta;
    let table: Vec<f32> = (0..=255).map(|d: i32| (scale * d as f32).exp()).collect();
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let Values::I8(xv) = &x.values else { return Err("expected INT8".into()) };
        let last = *x.shape.last().ok_or("SOFTMAX of a scalar")?;
        let mut out = Buf::with_capacity(xv.len());
        for row in xv.chunks(last.max(1)) {
            let max = row.iter().copied().max().map_or(-128, i32::from);
            let t = |q: i8| table[(max - i32::from(q)) as usize];
            let sum: f32 = row.iter().fold(0.0f32, |s, &q| s + t(q));
            let inv = 1.0 / (sum * qo.scale);
            out.extend(row.iter().map(|&q| (((t(q) * inv).round() as i32) + qo.zp).clamp(-128, 127) as i8));
        }
        Ok(Value::new(x.shape.clone(), Values::I8(out)))
    }))
}

/// MEAN int8/int16 (`reference_ops::QuantizedMeanOrSum`, which LiteRT's built-in kernel runs
/// except for int8 4-D means over H and W with keep_dims, [`reduce::mean_hw`]):
/// MBQM(Σq − z·N, M', s') + zo with the multiplier of si/so divided by N.
pub(super) fn mean(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    let keep = opts!(ctx, ReducerOptions).keep_dims;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let (tlo, thi) = type_range(out.dtype)?;
    let (m, s) = fp::quantize_multiplier(f64::from(qi.scale) / f64::from(qo.scale));
    let (dtype, int8) = (out.dtype, input.dtype == TensorType::INT8);
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let rank = x.shape.len();
        let mut axes = Vec::new();
        for a in super::util::ints(inp(ins, 1)?)? {
            let a = super::util::axis(a, rank)?;
            if !axes.contains(&a) {
                axes.push(a);
            }
        }
        if int8 && keep && rank == 4 && axes.len() == 2 && axes.contains(&1) && axes.contains(&2) {
            return reduce::mean_hw(x, qi, qo);
        }
        let xv = ints(x)?;
        let n: usize = axes.iter().map(|&a| x.shape[a]).product();
        let out_dims: Vec<usize> = (0..rank).map(|d| if axes.contains(&d) { 1 } else { x.shape[d] }).collect();
        let total: usize = out_dims.iter().product();
        let mut sums = vec![0i32; total];
        let mut idx = vec![0usize; rank];
        for &v in xv.iter() {
            let o = (0..rank).fold(0, |acc, d| acc * out_dims[d] + if axes.contains(&d) { 0 } else { idx[d] });
            sums[o] = sums[o].wrapping_add(v);
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < x.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        let (mut mm, mut ss) = (m, s);
        if n > 0 {
            let shift = (63 - (n as u64).leading_zeros() as i32).min(32).min(31 + s);
            mm = ((i64::from(m) << shift) / n as i64) as i32;
            ss = s - shift;
        }
        let vals = sums.iter().map(|&t| {
            let shifted = t.wrapping_sub(qi.zp.wrapping_mul(n as i32));
            (fp::mbqm(shifted, mm, ss) + qo.zp).clamp(tlo, thi)
        });
        let shape =
            if keep { out_dims.clone() } else { (0..rank).filter(|d| !axes.contains(d)).map(|d| x.shape[d]).collect() };
        wrap(dtype, shape, vals)
    }))
}
