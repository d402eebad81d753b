//! Dynamic-range ("hybrid") kernels: float activations, constant INT8 weights, computed as
//! LiteRT's built-in hybrid kernels compute them (XNNPACK off), not by dequantizing the weights.
//!
//! Each kernel quantizes its float input on the fly (symmetric int8, or asymmetric with a zero
//! point), takes int8×int8 dot products in i32, and scales them back to float with
//! input scale × weight scale before the float bias and the fused activation. Float rounding
//! depends on the order of these operations, so each kernel follows the order of its LiteRT
//! counterpart (named in its comment); x86 builds of LiteRT take the NEON code through
//! NEON_2_SSE, and that is the path followed where the two differ.

use super::conv::ConvParams;
use super::util::{activate, dims4, f32s, inp, ints, opt_inp};
use super::{EvalCtx, KResult, Kernel, PrepareCtx, Prepared};
use crate::ir::{Buf, Value, Values};
use crate::kernels::out_and_pad;
use crate::schema::{ActivationFunctionType as Act, TensorType};

/// Whether input `slot` of the op is an INT8 tensor read by a float kernel: its hybrid form.
pub(super) fn is_hybrid(ctx: &PrepareCtx, slot: usize) -> bool {
    ctx.input(slot).is_some_and(|t| t.dtype == TensorType::INT8)
}

/// The weights' scales (one, or one per channel along `axis` of `channels`); zero points must be 0.
fn weight_scales(ctx: &PrepareCtx, slot: usize, axis: usize) -> KResult<Vec<f32>> {
    let t = ctx.input(slot).ok_or_else(|| format!("weights (input {slot}) are missing"))?;
    let q = t.quantization.as_ref().filter(|q| !q.scales().is_empty());
    let q = q.ok_or_else(|| format!("INT8 weights '{}' have no quantization scales", t.name()))?;
    if q.zero_points().iter().any(|&z| z != 0) {
        return Err(format!("INT8 weights '{}' have non-zero zero points (hybrid kernels need 0)", t.name()));
    }
    let scales = q.scales().to_vec();
    if scales.len() > 1 {
        let channels = t.shape().get(axis).copied().unwrap_or(-1);
        if q.quantized_dimension as usize != axis || channels != scales.len() as i32 {
            return Err(format!(
                "INT8 weights '{}': {} scales along dimension {} of shape {:?}; the hybrid kernel needs one or one per channel of dimension {axis}",
                t.name(),
                scales.len(),
                q.quantized_dimension,
                t.shape()
            ));
        }
    }
    Ok(scales)
}

/// The weights' values, checked against their shape.
fn i8s<'a>(v: &'a Value, what: &str) -> KResult<&'a [i8]> {
    match &v.values {
        Values::I8(x) if x.len() == v.numel() => Ok(x),
        Values::I8(x) => Err(format!("{what} has {} values for shape {:?}", x.len(), v.shape)),
        other => Err(format!("{what} must be INT8 for the hybrid kernel, got {}", other.type_name())),
    }
}

/// The scale of channel `c`: per channel, or the one scale.
fn scale_of(scales: &[f32], c: usize) -> f32 {
    if scales.len() == 1 {
        scales[0]
    } else {
        scales[c]
    }
}

/// `(min, max)` of LiteRT's `CalculateActivationRange` for float kernels: the clamp the conv
/// kernels apply (TANH and the rest are not applied by them).
fn act_range(act: Act) -> (f32, f32) {
    match act {
        Act::RELU => (0.0, f32::MAX),
        Act::RELU6 => (0.0, 6.0),
        Act::RELU_N1_TO_1 => (-1.0, 1.0),
        _ => (f32::MIN, f32::MAX),
    }
}

/// NEON's round-to-nearest without ARMv8 (what x86 runs through NEON_2_SSE): add ±0.5, then
/// truncate. (It differs from `round` where the addition itself rounds up, at 0.49999997.)
fn round_vector_lane(v: f32) -> i32 {
    let r = v + if v < 0.0 { -0.5 } else { 0.5 };
    r as i32
}

/// Elements handled by the 8-wide loop of LiteRT's quantizers; the rest use `round`.
fn vector_part(n: usize) -> usize {
    n & !7
}

/// `SymmetricQuantizeFloats`: scale max|x| / 127, values in [-127, 127]. Returns the scale.
pub(crate) fn quantize_symmetric(x: &[f32], q: &mut [i8]) -> f32 {
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in x {
        min = min.min(v);
        max = max.max(v);
    }
    if x.is_empty() {
        (min, max) = (0.0, 0.0);
    }
    let range = min.abs().max(max.abs());
    if range == 0.0 {
        q.fill(0);
        return 1.0;
    }
    let inv = 127.0 / range;
    let split = vector_part(x.len());
    for (i, (o, &v)) in q.iter_mut().zip(x).enumerate() {
        let r = if i < split { round_vector_lane(v * inv) } else { (inv * v).round() as i32 };
        *o = r.clamp(-127, 127) as i8;
    }
    range / 127.0
}

/// `AsymmetricQuantizeFloats`: the range [min(x, 0), max(x, 0)] onto [-128, 127], with TF's
/// nudged zero point (computed in double). Returns (scale, zero point).
pub(crate) fn quantize_asymmetric(x: &[f32], q: &mut [i8]) -> (f32, i32) {
    let (mut rmin, mut rmax) = (0f32, 0f32);
    for &v in x {
        rmin = rmin.min(v);
        rmax = rmax.max(v);
    }
    if rmin == rmax {
        q.fill(0);
        return (1.0, 0);
    }
    let (qmin, qmax) = (-128f64, 127f64);
    // The range is a float difference, the rest double.
    let scale = f64::from(rmax - rmin) / (qmax - qmin);
    let from_min = qmin - f64::from(rmin) / scale;
    let from_max = qmax - f64::from(rmax) / scale;
    let err_min = qmin.abs() + (f64::from(rmin) / scale).abs();
    let err_max = qmax.abs() + (f64::from(rmax) / scale).abs();
    let zp = if err_min < err_max { from_min } else { from_max };
    let offset = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        zp.round() as i32
    };
    let scale = scale as f32;
    let inv = if scale == 0.0 { 0.0 } else { (1.0 / f64::from(scale)) as f32 };
    let split = vector_part(x.len());
    for (i, (o, &v)) in q.iter_mut().zip(x).enumerate() {
        let r = if i < split {
            round_vector_lane(v * inv).wrapping_add(offset)
        } else {
            (offset as f32 + (inv * v).round()) as i32
        };
        *o = r.clamp(-128, 127) as i8;
    }
    (scale, offset)
}

/// Each of `rows` rows of `x` quantized on its own: the int8 values, scales and zero points.
fn quantize_rows(x: &[f32], rows: usize, asymmetric: bool) -> (Vec<i8>, Vec<f32>, Vec<i32>) {
    let k = x.len().checked_div(rows).unwrap_or(0);
    let mut q = vec![0i8; x.len()];
    let (mut scales, mut zps) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    if k == 0 {
        return (q, vec![1.0; rows], vec![0; rows]);
    }
    for (xr, qr) in x.chunks_exact(k).zip(q.chunks_exact_mut(k)) {
        let (s, z) = if asymmetric { quantize_asymmetric(xr, qr) } else { (quantize_symmetric(xr, qr), 0) };
        scales.push(s);
        zps.push(z);
    }
    (q, scales, zps)
}

/// Σ a·b in i32 (wrapping, as the C++ int32 arithmetic is assumed not to overflow).
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &y)| s.wrapping_add(i32::from(x) * i32::from(y)))
}

/// Σ of each of the first `rows` rows of width `k` (0 for rows `w` does not hold), as LiteRT's
/// SSE `ReductionSumVector` sums them: in eight i16 lanes that wrap (a pair of elements a lane
/// per 16, then one element a lane for a block of 8), the lanes then added in i32 with the last
/// `k mod 8` elements. Rows whose lanes pass ±32767 (long rows of one sign) come out wrapped,
/// and so does LiteRT's zero-point correction.
fn row_sums(w: &[i8], k: usize, rows: usize) -> Vec<i32> {
    let mut sums = vec![0i32; rows];
    if k == 0 {
        return sums;
    }
    for (s, r) in sums.iter_mut().zip(w.chunks_exact(k)) {
        let mut lanes = [0i16; 8];
        let mut blocks = r.chunks_exact(16);
        for b in &mut blocks {
            for (i, l) in lanes.iter_mut().enumerate() {
                *l = l.wrapping_add(i16::from(b[2 * i]) + i16::from(b[2 * i + 1]));
            }
        }
        let mut rest = blocks.remainder();
        if rest.len() >= 8 {
            for (l, &v) in lanes.iter_mut().zip(&rest[..8]) {
                *l = l.wrapping_add(i16::from(v));
            }
            rest = &rest[8..];
        }
        let lanes = lanes.iter().fold(0i32, |a, &l| a.wrapping_add(i32::from(l)));
        *s = rest.iter().fold(lanes, |a, &v| a.wrapping_add(i32::from(v)));
    }
    sums
}

/// A prepared kernel that takes no input in.
fn prepared(k: impl Kernel) -> Prepared {
    Prepared { kernel: Box::new(k), consumed: Vec::new() }
}

/// The bias of `n` channels, checked.
fn bias_of(bias: Option<&Value>, n: usize) -> KResult<Option<&[f32]>> {
    let Some(b) = bias else { return Ok(None) };
    let bv = f32s(b, "bias")?;
    if bv.len() != n {
        return Err(format!("bias has {} values for {n} output channels", bv.len()));
    }
    Ok(Some(bv))
}

// ---------------------------------------------------------------------------------------------
// FULLY_CONNECTED

/// Hybrid FULLY_CONNECTED (LiteRT's `EvalHybridDense` with the SSE
/// `MatrixBatchVectorMultiplyAccumulate`): output = bias + float(dot − zp·row sum) ×
/// (input scale × weight scale), then the activation.
struct FullyConnected {
    keep_num_dims: bool,
    act: Act,
    asymmetric: bool,
    scales: Vec<f32>,
}

pub(super) fn prepare_fully_connected(
    ctx: &PrepareCtx,
    keep_num_dims: bool,
    act: Act,
    asymmetric: bool,
) -> KResult<Prepared> {
    let scales = weight_scales(ctx, 1, 0)?;
    Ok(prepared(FullyConnected { keep_num_dims, act, asymmetric, scales }))
}

impl Kernel for FullyConnected {
    fn eval(&self, ins: &[Option<&Value>], _: &mut EvalCtx) -> KResult<Vec<Value>> {
        let x = inp(ins, 0)?;
        let xv = f32s(x, "input")?;
        let w = inp(ins, 1)?;
        let [o, k] = w.shape[..] else {
            return Err(format!("weights must be 2-D, got {:?}", w.shape));
        };
        let wv = i8s(w, "weights")?;
        if k == 0 || xv.len() % k != 0 {
            return Err(format!("input {:?} does not divide into rows of {k}", x.shape));
        }
        if self.scales.len() != 1 && self.scales.len() != o {
            return Err(format!("{} weight scales for {o} output channels", self.scales.len()));
        }
        let batch = xv.len() / k;
        let mut out: Buf<f32> = match bias_of(opt_inp(ins, 2), o)? {
            Some(b) => (0..batch).flat_map(|_| b.iter().copied()).collect(),
            None => Buf::filled(0.0, batch * o),
        };
        // An all-zero input skips the product: bias and activation only.
        if xv.iter().any(|&v| v != 0.0) {
            let (q, mut sf, zp) = quantize_rows(xv, batch, self.asymmetric);
            let per_channel = self.scales.len() > 1;
            if !per_channel {
                sf.iter_mut().for_each(|s| *s *= self.scales[0]);
            }
            let sums = row_sums(wv, k, o);
            for b in 0..batch {
                let qb = &q[b * k..(b + 1) * k];
                for r in 0..o {
                    let row_scale = if per_channel { self.scales[r] * sf[b] } else { sf[b] };
                    let sum = dot(&wv[r * k..(r + 1) * k], qb).wrapping_sub(zp[b].wrapping_mul(sums[r]));
                    out[b * o + r] += sum as f32 * row_scale;
                }
            }
        }
        activate(&mut out, self.act)?;
        let shape = if self.keep_num_dims && x.shape.last() == Some(&k) {
            let mut s = x.shape.clone();
            if let Some(last) = s.last_mut() {
                *last = o;
            }
            s
        } else {
            vec![batch, o]
        };
        Ok(vec![Value::f32(shape, out)])
    }
}

// ---------------------------------------------------------------------------------------------
// CONV_2D

/// Hybrid CONV_2D. With per-channel scales that differ (LiteRT's `EvalHybridPerChannel`,
/// im2col and a GEMM), the input is quantized asymmetrically per batch, padding takes the zero
/// point, and output = float(acc − zp·row sum) × (channel scale × input scale) + bias, clamped.
/// With one scale (`EvalHybrid`), symmetrically, padding 0, and output =
/// (0 + float(acc) × input scale·weight scale) + bias, clamped.
struct Conv2d {
    p: ConvParams,
    scales: Vec<f32>,
}

pub(super) fn prepare_conv2d(ctx: &PrepareCtx, p: ConvParams) -> KResult<Prepared> {
    let scales = weight_scales(ctx, 1, 0)?;
    Ok(prepared(Conv2d { p, scales }))
}

impl Kernel for Conv2d {
    fn eval(&self, ins: &[Option<&Value>], _: &mut EvalCtx) -> KResult<Vec<Value>> {
        let x = inp(ins, 0)?;
        let [n, h, wd, c] = dims4(&x.shape, "input")?;
        let w = inp(ins, 1)?;
        let [oc, kh, kw, ic] = dims4(&w.shape, "filter")?;
        let (xv, wv) = (f32s(x, "input")?, i8s(w, "filter")?);
        if ic != c {
            return Err(format!(
                "filter has {ic} input channels, the input {c} (grouped convolution is not supported)"
            ));
        }
        if self.scales.len() != 1 && self.scales.len() != oc {
            return Err(format!("{} filter scales for {oc} output channels", self.scales.len()));
        }
        let g = self.p.geom([n, h, wd, c], kh, kw, oc)?;
        let numel = super::checked_numel(&[n, g.oh, g.ow, oc])?;
        let bias = bias_of(opt_inp(ins, 2), oc)?;
        let (lo, hi) = act_range(self.p.act);
        let per_channel = self.scales.iter().any(|&s| s != self.scales[0]);
        let image = h * wd * c;
        let (q, mut sf, zp) = quantize_rows(xv, n, per_channel);
        if !per_channel {
            sf.iter_mut().for_each(|s| *s *= self.scales[0]);
        }
        let k = kh * kw * c;
        let sums = row_sums(wv, k, oc);
        let mut patch = vec![0i8; k];
        let mut out = Buf::filled(0f32, numel);
        for b in 0..n {
            // Padding is the zero point: it stands for 0.0.
            let pad = zp[b] as i8;
            let qb = &q[b * image..(b + 1) * image];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut t = 0;
                    for ky in 0..kh {
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.pad_h as isize;
                        for kx in 0..kw {
                            let ix = (ox * g.sw + kx * g.dw) as isize - g.pad_w as isize;
                            let dst = &mut patch[t..t + c];
                            if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= wd {
                                dst.fill(pad);
                            } else {
                                let s = (iy as usize * wd + ix as usize) * c;
                                dst.copy_from_slice(&qb[s..s + c]);
                            }
                            t += c;
                        }
                    }
                    let o0 = ((b * g.oh + oy) * g.ow + ox) * oc;
                    for (o, y) in out[o0..o0 + oc].iter_mut().enumerate() {
                        let acc = dot(&wv[o * k..(o + 1) * k], &patch);
                        let bo = bias.map_or(0.0, |bv| bv[o]);
                        let v = if per_channel {
                            let acc = acc.wrapping_sub(sums[o].wrapping_mul(zp[b]));
                            acc as f32 * (self.scales[o] * sf[b]) + bo
                        } else {
                            (0.0 + acc as f32 * sf[b]) + bo
                        };
                        *y = v.max(lo).min(hi);
                    }
                }
            }
        }
        Ok(vec![Value::f32(vec![n, g.oh, g.ow, oc], out)])
    }
}

// ---------------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D

/// Hybrid DEPTHWISE_CONV_2D (LiteRT's `DepthwiseConvHybridPerChannel`, general kernel): the
/// input quantized asymmetrically per batch, acc = Σ (q − zp)·w over the taps inside the image,
/// then float(acc) × channel scale × input scale + bias, clamped. The store loop takes channels
/// four at a time as (acc × channel scale) × input scale and the last `oc mod 4` as
/// (acc × input scale) × channel scale, which round differently: both are kept.
struct Depthwise {
    p: ConvParams,
    mult: i32,
    scales: Vec<f32>,
}

pub(super) fn prepare_depthwise(ctx: &PrepareCtx, p: ConvParams, mult: i32) -> KResult<Prepared> {
    let scales = weight_scales(ctx, 1, 3)?;
    let oc = ctx.input(1).and_then(|t| t.shape().get(3).copied()).unwrap_or(1);
    if scales.len() == 1 && oc != 1 {
        // LiteRT's hybrid depthwise kernel reads a scale per channel, past the one there is.
        return Err(format!(
            "hybrid DEPTHWISE_CONV_2D needs one weight scale per output channel ({oc}), got 1 (LiteRT reads past it)"
        ));
    }
    Ok(prepared(Depthwise { p, mult, scales }))
}

impl Kernel for Depthwise {
    fn eval(&self, ins: &[Option<&Value>], _: &mut EvalCtx) -> KResult<Vec<Value>> {
        let (x, w) = (inp(ins, 0)?, inp(ins, 1)?);
        let [n, h, wd, c] = dims4(&x.shape, "input")?;
        let [one_, kh, kw, oc] = dims4(&w.shape, "filter")?;
        let (xv, wv) = (f32s(x, "input")?, i8s(w, "filter")?);
        if one_ != 1 || c == 0 || oc % c != 0 {
            return Err(format!("filter shape {:?} does not fit input channels {c}", w.shape));
        }
        let mm = oc / c;
        if self.mult > 0 && self.mult as usize != mm {
            return Err(format!("depth_multiplier {} but the filter gives {mm}", self.mult));
        }
        if self.scales.len() != oc && !(self.scales.len() == 1 && oc == 1) {
            return Err(format!("{} filter scales for {oc} output channels", self.scales.len()));
        }
        let g = self.p.geom([n, h, wd, c], kh, kw, oc)?;
        let numel = super::checked_numel(&[n, g.oh, g.ow, oc])?;
        let bias = bias_of(opt_inp(ins, 2), oc)?;
        let (lo, hi) = act_range(self.p.act);
        let image = h * wd * c;
        let (q, sf, zp) = quantize_rows(xv, n, true);
        let vector_channels = oc / 4 * 4;
        let mut acc = vec![0i32; oc];
        let mut out = Buf::filled(0f32, numel);
        for b in 0..n {
            let qb = &q[b * image..(b + 1) * image];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    acc.fill(0);
                    for ky in 0..kh {
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.pad_h as isize;
                        if iy < 0 || iy as usize >= h {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * g.sw + kx * g.dw) as isize - g.pad_w as isize;
                            if ix < 0 || ix as usize >= wd {
                                continue;
                            }
                            let src = &qb[(iy as usize * wd + ix as usize) * c..][..c];
                            let taps = &wv[(ky * kw + kx) * oc..][..oc];
                            for (ci, &v) in src.iter().enumerate() {
                                let v = i32::from(v) - zp[b];
                                for m in 0..mm {
                                    let o = ci * mm + m;
                                    acc[o] = acc[o].wrapping_add(v * i32::from(taps[o]));
                                }
                            }
                        }
                    }
                    let o0 = ((b * g.oh + oy) * g.ow + ox) * oc;
                    for (o, y) in out[o0..o0 + oc].iter_mut().enumerate() {
                        let a = acc[o] as f32;
                        let cs = scale_of(&self.scales, o);
                        let mut v = if o < vector_channels { a * cs * sf[b] } else { a * sf[b] * cs };
                        if let Some(bv) = bias {
                            v += bv[o];
                        }
                        *y = v.max(lo).min(hi);
                    }
                }
            }
        }
        Ok(vec![Value::f32(vec![n, g.oh, g.ow, oc], out)])
    }
}

// ---------------------------------------------------------------------------------------------
// TRANSPOSE_CONV

/// Hybrid TRANSPOSE_CONV (LiteRT's reference `HybridTransposeConv`, the only one): the input
/// quantized asymmetrically per batch, then a scatter that adds float((q − zp)·w) × channel
/// scale × input scale into the output one product at a time, in input order; then the bias and
/// the clamp. One weight scale serves every channel.
struct TransposeConv {
    p: ConvParams,
    scales: Vec<f32>,
}

pub(super) fn prepare_transpose_conv(ctx: &PrepareCtx, p: ConvParams) -> KResult<Prepared> {
    let scales = weight_scales(ctx, 1, 0)?;
    Ok(prepared(TransposeConv { p, scales }))
}

impl Kernel for TransposeConv {
    fn eval(&self, ins: &[Option<&Value>], _: &mut EvalCtx) -> KResult<Vec<Value>> {
        let out_shape = ints(inp(ins, 0)?)?;
        let (w, x) = (inp(ins, 1)?, inp(ins, 2)?);
        let [n, h, wd, c] = dims4(&x.shape, "input")?;
        let [oc, kh, kw, ic] = dims4(&w.shape, "weights")?;
        let (xv, wv) = (f32s(x, "input")?, i8s(w, "weights")?);
        if ic != c {
            return Err(format!("weights have {ic} input channels, the input {c}"));
        }
        if self.scales.len() != 1 && self.scales.len() != oc {
            return Err(format!("{} weight scales for {oc} output channels", self.scales.len()));
        }
        let os: Vec<usize> = out_shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| "negative output_shape")?;
        let [on, oh, ow, occ] = os[..] else {
            return Err(format!("output_shape must have 4 values, got {out_shape:?}"));
        };
        if on != n || occ != oc {
            return Err(format!(
                "output_shape {out_shape:?} does not match input {:?} / weights {:?}",
                x.shape, w.shape
            ));
        }
        let numel = super::checked_numel(&os)?;
        let (_, pad_h) = out_and_pad(self.p.same, oh, kh, self.p.stride_h, 1)?;
        let (_, pad_w) = out_and_pad(self.p.same, ow, kw, self.p.stride_w, 1)?;
        let (sh, sw) = (self.p.stride_h as usize, self.p.stride_w as usize);
        let bias = bias_of(opt_inp(ins, 3), oc)?;
        let (lo, hi) = act_range(self.p.act);
        let image = h * wd * c;
        let (q, sf, zp) = quantize_rows(xv, n, true);
        let mut out = Buf::filled(0f32, numel);
        for b in 0..n {
            for iy in 0..h {
                for ix in 0..wd {
                    for ci in 0..c {
                        let v = i32::from(q[b * image + (iy * wd + ix) * c + ci]) - zp[b];
                        for ky in 0..kh {
                            let oy = (iy * sh + ky) as isize - pad_h as isize;
                            if oy < 0 || oy as usize >= oh {
                                continue;
                            }
                            for kx in 0..kw {
                                let ox = (ix * sw + kx) as isize - pad_w as isize;
                                if ox < 0 || ox as usize >= ow {
                                    continue;
                                }
                                let d = ((b * oh + oy as usize) * ow + ox as usize) * oc;
                                for o in 0..oc {
                                    let acc = v * i32::from(wv[((o * kh + ky) * kw + kx) * c + ci]);
                                    out[d + o] += acc as f32 * scale_of(&self.scales, o) * sf[b];
                                }
                            }
                        }
                    }
                }
            }
        }
        for px in out.chunks_exact_mut(oc.max(1)) {
            for (o, y) in px.iter_mut().enumerate() {
                let mut v = *y;
                if let Some(bv) = bias {
                    v += bv[o];
                }
                *y = v.max(lo).min(hi);
            }
        }
        Ok(vec![Value::f32(os, out)])
    }
}

// ---------------------------------------------------------------------------------------------
// BATCH_MATMUL

/// Hybrid BATCH_MATMUL (LiteRT's `EvalHybrid` and reference `BatchMatMul` for int8 weights):
/// each row of x quantized on its own (symmetric, or asymmetric when the option is set); then
/// total = int(float(dot) − float(row sum)·zp) and out = 0 + scale × float(total). The batch
/// indexing, including that of the per-row scales, is LiteRT's over shapes extended to rank 5.
struct BatchMatMul {
    adj_x: bool,
    adj_y: bool,
    asymmetric: bool,
    scales: Vec<f32>,
}

pub(super) fn prepare_batch_matmul(ctx: &PrepareCtx, adj_x: bool, adj_y: bool, asymmetric: bool) -> KResult<Prepared> {
    let rank = ctx.input(1).map_or(0, |t| t.shape().len());
    // Per-channel scales are along the output (column) dimension of y.
    let axis = if adj_y { rank.saturating_sub(2) } else { rank.saturating_sub(1) };
    let scales = weight_scales(ctx, 1, axis)?;
    Ok(prepared(BatchMatMul { adj_x, adj_y, asymmetric, scales }))
}

/// Row-major `[.., a, b]` matrices transposed to `[.., b, a]`.
fn transpose_last2<T: Copy>(v: &[T], shape: &[usize]) -> Vec<T> {
    let r = shape.len();
    let (a, b) = (shape[r - 2], shape[r - 1]);
    let mut out = Vec::with_capacity(v.len());
    if a * b == 0 {
        return v.to_vec();
    }
    for m in v.chunks_exact(a * b) {
        for j in 0..b {
            for i in 0..a {
                out.push(m[i * b + j]);
            }
        }
    }
    out
}

/// `shape` left-padded with 1s to rank 5.
fn extend5(shape: &[usize]) -> KResult<[usize; 5]> {
    if shape.len() > 5 {
        return Err(format!("rank {} is over 5", shape.len()));
    }
    let mut e = [1usize; 5];
    e[5 - shape.len()..].copy_from_slice(shape);
    Ok(e)
}

/// LiteRT's `extent`: the stride of dimension `d`, or 0 where it is 1 (broadcast).
fn extent(e: &[usize; 5], d: usize) -> usize {
    if e[d] == 1 {
        0
    } else {
        e[d + 1..].iter().product()
    }
}

fn broadcast_dim(a: usize, b: usize) -> KResult<usize> {
    match (a, b) {
        _ if a == b => Ok(a),
        (1, _) => Ok(b),
        (_, 1) => Ok(a),
        _ => Err(format!("batch dimensions {a} and {b} do not broadcast")),
    }
}

impl Kernel for BatchMatMul {
    fn eval(&self, ins: &[Option<&Value>], _: &mut EvalCtx) -> KResult<Vec<Value>> {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        let (xv, yv) = (f32s(x, "x")?, i8s(y, "y")?);
        if x.shape.len() < 2 || y.shape.len() < 2 {
            return Err(format!("operands must have rank >= 2, got {:?} and {:?}", x.shape, y.shape));
        }
        let (mut xs, mut ys) = (x.shape.clone(), y.shape.clone());
        let rows_out = if self.adj_x { xs[xs.len() - 1] } else { xs[xs.len() - 2] };
        // LiteRT folds x [.., Q, R, S] · y [.., 1, X, Y] into x [.., Q·R, S] · y [.., X, Y].
        if !self.adj_x && xs.len() > 2 && ys.len() > 2 && ys[ys.len() - 3] == 1 {
            let r = xs.len();
            xs = [&xs[..r - 3], &[xs[r - 3] * xs[r - 2], xs[r - 1]]].concat();
            let r = ys.len();
            ys.remove(r - 3);
        }
        // x as [.., M, K] and y as [.., N, K], row-major.
        let xt;
        let xm: &[f32] = if self.adj_x {
            xt = transpose_last2(xv, &xs);
            let r = xs.len();
            xs.swap(r - 2, r - 1);
            &xt
        } else {
            xv
        };
        let yt;
        let ym: &[i8] = if self.adj_y {
            yv
        } else {
            yt = transpose_last2(yv, &ys);
            let r = ys.len();
            ys.swap(r - 2, r - 1);
            &yt
        };
        let (m, k) = (xs[xs.len() - 2], xs[xs.len() - 1]);
        let (nn, k2) = (ys[ys.len() - 2], ys[ys.len() - 1]);
        if k != k2 {
            return Err(format!("inner dimensions differ: {:?} and {:?}", x.shape, y.shape));
        }
        if self.scales.len() != 1 && self.scales.len() != nn {
            return Err(format!("{} weight scales for {nn} output columns", self.scales.len()));
        }
        if k == 0 {
            return Err("x and y have inner dimension 0".into());
        }
        // LiteRT's roles: lhs = the weights [.., N, K], rhs = the input as [.., K, M].
        let (le, re) = (extend5(&ys)?, extend5(&xs)?);
        let rows = xm.len().checked_div(k).unwrap_or(0);
        let (q, mut sf, zp) = quantize_rows(xm, rows, self.asymmetric);
        if self.scales.len() == 1 {
            sf.iter_mut().for_each(|s| *s *= self.scales[0]);
        }
        // Row sums of every weight matrix of dimensions 1..3 (LiteRT leaves out dimension 0).
        let weight_rows = le[1] * le[2] * nn;
        let sums = row_sums(ym, k, weight_rows);
        let bd = [broadcast_dim(le[0], re[0])?, broadcast_dim(le[1], re[1])?, broadcast_dim(le[2], re[2])?];
        let (lx, rx) =
            ([extent(&le, 0), extent(&le, 1), extent(&le, 2)], [extent(&re, 0), extent(&re, 1), extent(&re, 2)]);
        let numel = super::checked_numel(&[bd[0], bd[1], bd[2], m, nn])?;
        let mut out = Buf::filled(0f32, numel);
        let ioff = |d: usize| if rx[d] == 0 { 0 } else { m };
        let woff = |d: usize| if lx[d] == 0 { 0 } else { nn };
        for b0 in 0..bd[0] {
            for b1 in 0..bd[1] {
                for b2 in 0..bd[2] {
                    let l0 = b0 * lx[0] + b1 * lx[1] + b2 * lx[2];
                    let r0 = b0 * rx[0] + b1 * rx[1] + b2 * rx[2];
                    let s0 = b0 * ioff(0) + b1 * ioff(1) + b2 * ioff(2);
                    let w0 = b0 * woff(0) + b1 * woff(1) + b2 * woff(2);
                    let o0 = ((b0 * bd[1] + b1) * bd[2] + b2) * m * nn;
                    for j in 0..m {
                        let (scale, offset) = (sf[s0 + j], zp[s0 + j] as f32);
                        let qj = &q[r0 + j * k..][..k];
                        for i in 0..nn {
                            let total = dot(&ym[l0 + i * k..][..k], qj);
                            let sum = *sums.get(w0 + i).ok_or("weight batches LiteRT's kernel does not index")?;
                            let total = (total as f32 - sum as f32 * offset) as i32;
                            let s = if self.scales.len() == 1 { scale } else { scale * self.scales[i] };
                            out[o0 + j * nn + i] = 0.0 + s * total as f32;
                        }
                    }
                }
            }
        }
        let ob: Vec<usize> = super::broadcast_shape(&x.shape[..x.shape.len() - 2], &y.shape[..y.shape.len() - 2])?;
        let mut shape = ob;
        shape.push(rows_out);
        shape.push(nn);
        if super::checked_numel(&shape)? != numel {
            return Err(format!("output shape {shape:?} does not hold {numel} values"));
        }
        Ok(vec![Value::f32(shape, out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_quantization_rounds_as_litert_x86() {
        // 9 values: the first 8 round by ±0.5-and-truncate, the ninth by round().
        let x = [127.0, -63.5, 0.25, 1.5, -2.5, 0.0, 10.0, -127.0, 2.5];
        let mut q = [0i8; 9];
        let s = quantize_symmetric(&x, &mut q);
        assert_eq!(s, 1.0);
        assert_eq!(q, [127, -64, 0, 2, -3, 0, 10, -127, 3]);
        let mut q = [0i8; 3];
        assert_eq!(quantize_symmetric(&[0.0; 3], &mut q), 1.0);
    }

    #[test]
    fn row_sums_wrap_in_i16_lanes_as_litert_sse() {
        // 16·300 + 8 + 3 elements of 100: each lane gets 300 pairs (60000, wrapped to -5536)
        // and 100 more; the tail of 3 adds in i32.
        let w = vec![100i8; 16 * 300 + 8 + 3];
        let lane = (60000i32 - 65536) + 100;
        assert_eq!(row_sums(&w, w.len(), 1), [8 * lane + 300]);
        // Short rows do not wrap; missing rows are 0.
        assert_eq!(row_sums(&[1, -2, 3, 4, 5], 5, 2), [11, 0]);
    }

    #[test]
    fn asymmetric_quantization_nudges_the_zero_point() {
        let x: Vec<f32> = (0..10).map(|i| i as f32 * 0.5 - 1.0).collect();
        let mut q = vec![0i8; 10];
        let (s, zp) = quantize_asymmetric(&x, &mut q);
        let scale = f64::from(3.5f32 - -1.0f32) / 255.0;
        assert_eq!(s, scale as f32);
        assert_eq!(zp, (-128.0 + 1.0 / scale).round() as i32);
        assert_eq!(zp, -71);
        assert_eq!(q[0], -128);
        assert_eq!(q[9], 127);
        // An all-positive input still spans 0: min(x, 0) = 0 maps to -128.
        let (_, zp) = quantize_asymmetric(&[1.0, 2.0], &mut [0i8; 2]);
        assert_eq!(zp, -128);
    }
}
