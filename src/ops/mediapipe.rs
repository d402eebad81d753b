//! MediaPipe's custom ops, float32 as its CPU op resolver runs them:
//! Convolution2DTransposeBias, MaxPoolingWithArgmax2D, MaxUnpooling2D (options: raw C structs
//! of little-endian int32 fields), and TransformTensorBilinear, TransformLandmarks,
//! Landmarks2TransformMatrix (options: flexbuffer maps; the op code's version picks the v1 or
//! v2 form, as MediaPipe's resolver does). None has an integer rule: the full-integer modes
//! keep them float between DEQUANTIZE and QUANTIZE.

use super::util::{dims4, f32s, inp, required, FlexOptions};
use super::{checked_numel, EvalCtx, KResult, OpDef, PrepareCtx, Prepared};
use crate::ir::{Buf, Value};
use crate::kernels;
use crate::schema::TensorType;
use std::borrow::Cow;

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::custom("Convolution2DTransposeBias").kernel(prepare_transpose_conv_bias));
    add(OpDef::custom("MaxPoolingWithArgmax2D").kernel(prepare_max_pool_argmax));
    add(OpDef::custom("MaxUnpooling2D").kernel(prepare_max_unpool));
    add(OpDef::custom("TransformTensorBilinear").kernel(prepare_transform_tensor));
    add(OpDef::custom("TransformLandmarks").kernel(prepare_transform_landmarks));
    add(OpDef::custom("Landmarks2TransformMatrix").kernel(prepare_landmarks_to_matrix));
}

// ---------------------------------------------------------------------------------------------
// Shared checks and option readers

/// Input and output counts, and that every tensor the op reads or writes is FLOAT32 (MediaPipe's
/// kernels have no other type).
fn float_io(ctx: &PrepareCtx, inputs: usize, outputs: usize) -> KResult<()> {
    if ctx.op.inputs.len() != inputs || ctx.op.outputs.len() != outputs {
        return Err(format!(
            "takes {inputs} inputs and {outputs} outputs, the model gives {} and {}",
            ctx.op.inputs.len(),
            ctx.op.outputs.len()
        ));
    }
    for slot in 0..inputs {
        let t = ctx.input(slot).ok_or_else(|| format!("input {slot} is missing"))?;
        if t.dtype != TensorType::FLOAT32 {
            return Err(format!("input {slot} must be FLOAT32, got {:?}", t.dtype));
        }
    }
    for slot in 0..outputs {
        let t = ctx.output(slot)?;
        if t.dtype != TensorType::FLOAT32 {
            return Err(format!("output {slot} must be FLOAT32, got {:?}", t.dtype));
        }
    }
    Ok(())
}

/// The first `N` int32 fields of options stored as a raw C struct named `what`.
fn raw_fields<const N: usize>(ctx: &PrepareCtx, what: &str) -> KResult<[i32; N]> {
    let b = ctx.custom_options();
    if b.len() < 4 * N {
        return Err(format!("options must be a raw {what} of at least {} bytes, got {}", 4 * N, b.len()));
    }
    Ok(std::array::from_fn(|i| i32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])))
}

/// TfLitePadding: 1 SAME, 2 VALID (0, unknown, is refused).
fn same_padding(p: i32) -> KResult<bool> {
    match p {
        1 => Ok(true),
        2 => Ok(false),
        p => Err(format!("unknown padding {p} (1 is SAME, 2 VALID)")),
    }
}

fn positive(v: i32, what: &str) -> KResult<usize> {
    usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| format!("{what} must be positive, got {v}"))
}

/// The clamp of a TfLiteFusedActivation as TFLite's CalculateActivationRange gives it: RELU,
/// RELU_N1_TO_1 and RELU6 clamp, NONE and the non-clamp activations (4-6) do not.
fn activation_range(a: i32) -> KResult<(f32, f32)> {
    Ok(match a {
        1 => (0.0, f32::MAX),
        2 => (-1.0, 1.0),
        3 => (0.0, 6.0),
        0 | 4..=6 => (f32::MIN, f32::MAX),
        a => return Err(format!("unknown fused activation {a}")),
    })
}

/// The options as a flexbuffer map (None when the op has no options bytes).
fn flex<'a>(ctx: &PrepareCtx<'a>) -> KResult<Option<FlexOptions<'a>>> {
    if ctx.custom_options().is_empty() {
        return Ok(None);
    }
    ctx.flex_options().map(|m| Some(FlexOptions(m)))
}

/// The first two rows of a transform matrix (at least 8 values; a 4x4 row-major matrix).
fn matrix_rows(m: &Value) -> KResult<[f32; 8]> {
    let v = f32s(m, "the matrix")?;
    if v.len() < 8 {
        return Err(format!("the matrix needs at least 8 values (two rows of 4), got shape {:?}", m.shape));
    }
    Ok(std::array::from_fn(|i| v[i]))
}

/// row · (x, y, 0, 1), summed in that order in f32.
fn apply_row(r: &[f32], x: f32, y: f32) -> f32 {
    r[0] * x + r[1] * y + r[2] * 0.0 + r[3]
}

// ---------------------------------------------------------------------------------------------
// Convolution2DTransposeBias

/// Transposed convolution with a bias, options a raw TfLiteTransposeConvParams (padding,
/// stride_w, stride_h). Weights [Cout, KH, KW, Cin] are reordered once when constant.
fn prepare_transpose_conv_bias(ctx: &PrepareCtx) -> KResult<Prepared> {
    float_io(ctx, 3, 1)?;
    let [padding, stride_w, stride_h] = raw_fields::<3>(ctx, "TfLiteTransposeConvParams")?;
    let same = same_padding(padding)?;
    let (sh, sw) = (positive(stride_h, "stride_h")?, positive(stride_w, "stride_w")?);
    let mut consumed = Vec::new();
    let packed = match (ctx.constant_f32(1), ctx.constant_shape(1)) {
        (Some(w), Some(shape)) => {
            consumed.push(1);
            Some(TconvWeights::new(&w, &shape)?)
        }
        _ => None,
    };
    let bias: Option<Vec<f32>> = ctx.constant_f32(2).map(Cow::into_owned);
    if bias.is_some() {
        consumed.push(2);
    }
    let p = Tconv { same, sh, sw, packed, bias };
    let mut prepared = Prepared::one(move |ins| p.eval(ins));
    prepared.consumed = consumed;
    Ok(prepared)
}

/// Weights reordered to [KH, KW, Cout, Cin], so that one GEMM gives every tap's outputs.
struct TconvWeights {
    oc: usize,
    kh: usize,
    kw: usize,
    ic: usize,
    w: Vec<f32>,
}

impl TconvWeights {
    fn new(w: &[f32], shape: &[usize]) -> KResult<TconvWeights> {
        let [oc, kh, kw, ic] = dims4(shape, "the weights")?;
        if checked_numel(shape)? != w.len() {
            return Err(format!("the weights have {} values for shape {shape:?}", w.len()));
        }
        if oc == 0 || kh == 0 || kw == 0 || ic == 0 {
            return Err(format!("the weights have an empty dimension: {shape:?}"));
        }
        let mut r = vec![0f32; w.len()];
        for o in 0..oc {
            for t in 0..kh * kw {
                let src = (o * kh * kw + t) * ic;
                let dst = (t * oc + o) * ic;
                r[dst..dst + ic].copy_from_slice(&w[src..src + ic]);
            }
        }
        Ok(TconvWeights { oc, kh, kw, ic, w: r })
    }
}

struct Tconv {
    same: bool,
    sh: usize,
    sw: usize,
    packed: Option<TconvWeights>,
    bias: Option<Vec<f32>>,
}

/// Output pixels a GEMM block computes at most (bounds the scratch to about 4 MB).
const TCONV_BLOCK: usize = 1 << 20;

impl Tconv {
    fn eval(&self, ins: &[Option<&Value>]) -> KResult<Value> {
        let x = inp(ins, 0)?;
        let [n, h, wd, c] = dims4(&x.shape, "the input")?;
        let xv = f32s(x, "the input")?;
        let owned;
        let w = match &self.packed {
            Some(w) => w,
            None => {
                let wv = inp(ins, 1)?;
                owned = TconvWeights::new(f32s(wv, "the weights")?, &wv.shape)?;
                &owned
            }
        };
        let bias = match &self.bias {
            Some(b) => &b[..],
            None => f32s(inp(ins, 2)?, "the bias")?,
        };
        if w.ic != c {
            return Err(format!("the weights have {} input channels, the input {c}", w.ic));
        }
        if bias.len() != w.oc {
            return Err(format!("the bias has {} values for {} output channels", bias.len(), w.oc));
        }
        if h == 0 || wd == 0 {
            return Err(format!("the input {:?} has no pixels", x.shape));
        }
        // MediaPipe's sizes: SAME pads kernel - (in - 1) mod stride - 1 in all, half before.
        let pad =
            |k: usize, i: usize, s: usize| if self.same { (k as i64 - ((i - 1) % s) as i64 - 1).max(0) } else { 0 };
        let (pad_h, pad_w) = (pad(w.kh, h, self.sh), pad(w.kw, wd, self.sw));
        let size =
            |s: usize, i: usize, k: usize, p: i64| (s as i64).checked_mul(i as i64 - 1).map(|v| v + k as i64 - p);
        let (oh, ow) = match (size(self.sh, h, w.kh, pad_h), size(self.sw, wd, w.kw, pad_w)) {
            (Some(oh), Some(ow)) if oh > 0 && ow > 0 => (oh as usize, ow as usize),
            _ => return Err("the output would be empty or too large".into()),
        };
        let (off_h, off_w) = ((pad_h / 2) as usize, (pad_w / 2) as usize);
        let oc = w.oc;
        let numel = checked_numel(&[n, oh, ow, oc])?;
        let mut out = Buf::with_capacity(numel);
        for _ in 0..n * oh * ow {
            out.extend_from_slice(bias);
        }
        let j = w.kh * w.kw * oc;
        let pixels = n * h * wd;
        let block = (TCONV_BLOCK / j).clamp(1, pixels.max(1));
        let mut col = vec![0f32; block * j];
        for p0 in (0..pixels).step_by(block) {
            let m = block.min(pixels - p0);
            let col = &mut col[..m * j];
            kernels::gemm(m, c, j, &xv[p0 * c..(p0 + m) * c], (c, 1), &w.w, (1, c), 0.0, col)?;
            for (dp, row) in col.chunks_exact(j).enumerate() {
                let p = p0 + dp;
                let (b, iy, ix) = (p / (h * wd), p / wd % h, p % wd);
                for ky in 0..w.kh {
                    let oy = (iy * self.sh + ky).wrapping_sub(off_h);
                    if oy >= oh {
                        continue;
                    }
                    for kx in 0..w.kw {
                        let ox = (ix * self.sw + kx).wrapping_sub(off_w);
                        if ox >= ow {
                            continue;
                        }
                        let d = ((b * oh + oy) * ow + ox) * oc;
                        let s = (ky * w.kw + kx) * oc;
                        out[d..d + oc].iter_mut().zip(&row[s..s + oc]).for_each(|(o, &v)| *o += v);
                    }
                }
            }
        }
        Ok(Value::f32(vec![n, oh, ow, oc], out))
    }
}

// ---------------------------------------------------------------------------------------------
// MaxPoolingWithArgmax2D and MaxUnpooling2D

/// A raw TfLitePoolParams: padding, stride_w, stride_h, filter_w, filter_h, activation.
struct Pool {
    same: bool,
    sh: usize,
    sw: usize,
    fh: usize,
    fw: usize,
    clamp: (f32, f32),
}

fn pool_params(ctx: &PrepareCtx) -> KResult<Pool> {
    let [padding, stride_w, stride_h, filter_w, filter_h, act] = raw_fields::<6>(ctx, "TfLitePoolParams")?;
    Ok(Pool {
        same: same_padding(padding)?,
        sh: positive(stride_h, "stride_h")?,
        sw: positive(stride_w, "stride_w")?,
        fh: positive(filter_h, "filter_h")?,
        fw: positive(filter_w, "filter_w")?,
        clamp: activation_range(act)?,
    })
}

/// Max pooling that also gives, per output element, where in its window the maximum was:
/// `fy * filter_w + fx + 0.1` (float) for the first strict maximum in row-major window order,
/// counted from the padded window's origin.
fn prepare_max_pool_argmax(ctx: &PrepareCtx) -> KResult<Prepared> {
    float_io(ctx, 1, 2)?;
    let p = pool_params(ctx)?;
    Ok(Prepared::new(move |ins, _: &mut EvalCtx| max_pool_argmax(inp(ins, 0)?, &p)))
}

fn max_pool_argmax(x: &Value, p: &Pool) -> KResult<Vec<Value>> {
    let [n, h, wd, c] = dims4(&x.shape, "the input")?;
    let xv = f32s(x, "the input")?;
    let (oh, pad_h) = kernels::out_and_pad(p.same, h, p.fh, p.sh as i32, 1)?;
    let (ow, pad_w) = kernels::out_and_pad(p.same, wd, p.fw, p.sw as i32, 1)?;
    let numel = checked_numel(&[n, oh, ow, c])?;
    let mut out = Buf::filled(0f32, numel);
    let mut idx = Buf::filled(0f32, numel);
    let mut arg = vec![0usize; c];
    let (lo, hi) = p.clamp;
    for b in 0..n {
        for oy in 0..oh {
            let y0 = (oy * p.sh) as isize - pad_h as isize;
            let fy0 = (-y0).max(0) as usize;
            let fy1 = (h as isize - y0).clamp(0, p.fh as isize) as usize;
            for ox in 0..ow {
                let x0 = (ox * p.sw) as isize - pad_w as isize;
                let fx0 = (-x0).max(0) as usize;
                let fx1 = (wd as isize - x0).clamp(0, p.fw as isize) as usize;
                let o = ((b * oh + oy) * ow + ox) * c;
                let acc = &mut out[o..o + c];
                acc.fill(f32::MIN);
                arg.fill(0);
                for fy in fy0..fy1 {
                    for fx in fx0..fx1 {
                        let (iy, ix) = ((y0 + fy as isize) as usize, (x0 + fx as isize) as usize);
                        let s = ((b * h + iy) * wd + ix) * c;
                        let k = fy * p.fw + fx;
                        for ((a, g), &v) in acc.iter_mut().zip(arg.iter_mut()).zip(&xv[s..s + c]) {
                            if v > *a {
                                *a = v;
                                *g = k;
                            }
                        }
                    }
                }
                acc.iter_mut().for_each(|a| *a = a.max(lo).min(hi));
                idx[o..o + c].iter_mut().zip(&arg).for_each(|(i, &g)| *i = g as f32 + 0.1);
            }
        }
    }
    let shape = vec![n, oh, ow, c];
    Ok(vec![Value::f32(shape.clone(), out), Value::f32(shape, idx)])
}

/// The inverse of MaxPoolingWithArgmax2D: each input value goes to where its window index
/// says, in a zero output of [N, h·filter_h, w·filter_w, C]; a later write wins.
fn prepare_max_unpool(ctx: &PrepareCtx) -> KResult<Prepared> {
    float_io(ctx, 2, 1)?;
    let p = pool_params(ctx)?;
    Ok(Prepared::one(move |ins| max_unpool(inp(ins, 0)?, inp(ins, 1)?, &p)))
}

fn max_unpool(x: &Value, indices: &Value, p: &Pool) -> KResult<Value> {
    let [n, h, wd, c] = dims4(&x.shape, "the input")?;
    if indices.shape != x.shape {
        return Err(format!("the indices have shape {:?}, the input {:?}", indices.shape, x.shape));
    }
    let (xv, iv) = (f32s(x, "the input")?, f32s(indices, "the indices")?);
    let (oh, ow) = match (h.checked_mul(p.fh), wd.checked_mul(p.fw)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err("the output is too large".into()),
    };
    let mut out = Buf::filled(0f32, checked_numel(&[n, oh, ow, c])?);
    // TFLite's ComputePadding(stride, 1, in = output size, filter, out = input size).
    let pad = |s: usize, i: usize, f: usize, o: usize| ((i as i64 - 1) * s as i64 + f as i64 - o as i64).max(0) / 2;
    let (pad_h, pad_w) = (pad(p.sh, h, p.fh, oh), pad(p.sw, wd, p.fw, ow));
    let fw = p.fw as i64;
    for (e, (&v, &index)) in xv.iter().zip(iv).enumerate() {
        let (ch, px) = (e % c, e / c);
        let (b, iy, ix) = (px / (h * wd), px / wd % h, px % wd);
        // C's float-to-int conversion and its truncating division and remainder.
        let k = index as i32 as i64;
        let y = iy as i64 * p.sh as i64 - pad_h + k / fw;
        let x = ix as i64 * p.sw as i64 - pad_w + k % fw;
        if y < 0 || y >= oh as i64 || x < 0 || x >= ow as i64 {
            return Err(format!("index {index} at input ({b}, {iy}, {ix}, {ch}) points outside the {oh}x{ow} output"));
        }
        out[((b * oh + y as usize) * ow + x as usize) * c + ch] = v;
    }
    Ok(Value::f32(vec![n, oh, ow, c], out))
}

// ---------------------------------------------------------------------------------------------
// TransformTensorBilinear

/// Samples data [1, H, W, C] bilinearly at the points a 4x4 matrix maps each output pixel
/// (x, y, 0, 1) to; points outside [0, W-1] x [0, H-1] give 0, neighbours outside the image
/// count as 0. v2 first moves the matrix to pixel centres. The output size is the output
/// tensor's, or the options' (output_height/output_width in v2, output_size in v1) when the
/// file does not give it.
fn prepare_transform_tensor(ctx: &PrepareCtx) -> KResult<Prepared> {
    float_io(ctx, 2, 1)?;
    let v2 = ctx.version >= 2;
    let mut hw = None;
    if let Some(o) = flex(ctx)? {
        if v2 {
            if let (Some(h), Some(w)) = (o.i32("output_height")?, o.i32("output_width")?) {
                hw = Some((h, w));
            }
        } else {
            if let Some(mode) = o.str("mode")? {
                if mode != "bilinear" {
                    return Err(format!("mode {mode:?}: only \"bilinear\" is supported"));
                }
            }
            if let Some(s) = o.i32s("output_size")? {
                match s[..] {
                    [h, w] => hw = Some((h, w)),
                    _ => return Err(format!("output_size must have 2 values, got {s:?}")),
                }
            }
        }
    }
    let shape = ctx.output(0)?.shape();
    let (oh, ow, oc) = match *shape {
        [_, h, w, c] if h > 0 && w > 0 && c > 0 => (h as usize, w as usize, Some(c as usize)),
        _ => match hw {
            Some((h, w)) => (positive(h, "output height")?, positive(w, "output width")?, None),
            None => return Err(format!("the output's shape {shape:?} and the options give no output size")),
        },
    };
    checked_numel(&[oh, ow])?;
    Ok(Prepared::one(move |ins| transform_tensor(inp(ins, 0)?, inp(ins, 1)?, v2, oh, ow, oc)))
}

fn transform_tensor(x: &Value, m: &Value, v2: bool, oh: usize, ow: usize, oc: Option<usize>) -> KResult<Value> {
    let [n, h, wd, c] = dims4(&x.shape, "the data")?;
    if n != 1 {
        return Err(format!("the data must have batch 1, got {:?}", x.shape));
    }
    if let Some(oc) = oc.filter(|&oc| oc != c) {
        return Err(format!("the output has {oc} channels, the data {c}"));
    }
    let xv = f32s(x, "the data")?;
    let mut r = matrix_rows(m)?;
    if v2 {
        // Pixel centres: row[3] += 0.5·row[0] + 0.5·row[1] − 0.5, in double as MediaPipe does.
        for row in r.chunks_exact_mut(4) {
            let d = f64::from(row[0]) * 0.5 + f64::from(row[1]) * 0.5 - 0.5;
            row[3] = (f64::from(row[3]) + d) as f32;
        }
    }
    let mut out = Buf::filled(0f32, checked_numel(&[1, oh, ow, c])?);
    let (hf, wf) = ((h as f32) - 1.0, (wd as f32) - 1.0);
    let at = |y: i64, x: i64| {
        (y >= 0 && x >= 0 && y < h as i64 && x < wd as i64).then(|| (y as usize * wd + x as usize) * c)
    };
    for oy in 0..oh {
        for ox in 0..ow {
            let (px, py) = (ox as f32, oy as f32);
            let (tx, ty) = (apply_row(&r[..4], px, py), apply_row(&r[4..], px, py));
            // NaN fails every comparison; it is outside too.
            if !(tx >= 0.0 && tx <= wf && ty >= 0.0 && ty <= hf) {
                continue;
            }
            let (fx, fy) = (tx.floor(), ty.floor());
            let (right, lower) = (f64::from(tx - fx), f64::from(ty - fy));
            let (x0, y0) = (fx as i64, fy as i64);
            let corners = [at(y0, x0), at(y0, x0 + 1), at(y0 + 1, x0), at(y0 + 1, x0 + 1)];
            let read = |k: usize, ch: usize| corners[k].map_or(0.0, |o| f64::from(xv[o + ch]));
            let o = (oy * ow + ox) * c;
            for (ch, v) in out[o..o + c].iter_mut().enumerate() {
                let upper = ((1.0 - right) * read(0, ch) + right * read(1, ch)) as f32;
                let below = ((1.0 - right) * read(2, ch) + right * read(3, ch)) as f32;
                *v = (lower * f64::from(below) + (1.0 - lower) * f64::from(upper)) as f32;
            }
        }
    }
    Ok(Value::f32(vec![1, oh, ow, c], out))
}

// ---------------------------------------------------------------------------------------------
// TransformLandmarks

/// Maps each landmark's (x, y) by the first two rows of a 4x4 matrix applied to (x, y, 0, 1)
/// and copies z. v2: landmarks [1, N, D], D = 2 or 3, no options. v1: landmarks [1, H, W, C]
/// holding C / `dimensions` landmarks per pixel, options `dimensions` (default 3) and `scale`
/// (default 1, multiplies the matrix's translation).
fn prepare_transform_landmarks(ctx: &PrepareCtx) -> KResult<Prepared> {
    float_io(ctx, 2, 1)?;
    let form = if ctx.version >= 2 {
        None
    } else {
        let o = flex(ctx)?;
        let dims = o.as_ref().map(|o| o.i32("dimensions")).transpose()?.flatten().unwrap_or(3);
        let scale = o.as_ref().map(|o| o.f32("scale")).transpose()?.flatten().unwrap_or(1.0);
        if dims != 2 && dims != 3 {
            return Err(format!("dimensions must be 2 or 3, got {dims}"));
        }
        if scale == 0.0 {
            return Err("scale must not be 0".into());
        }
        Some((dims as usize, scale))
    };
    Ok(Prepared::one(move |ins| transform_landmarks(inp(ins, 0)?, inp(ins, 1)?, form)))
}

fn transform_landmarks(x: &Value, m: &Value, v1: Option<(usize, f32)>) -> KResult<Value> {
    let xv = f32s(x, "the landmarks")?;
    let mut r = matrix_rows(m)?;
    let dims = match (v1, &x.shape[..]) {
        (None, &[1, _, d]) if d == 2 || d == 3 => d,
        (None, s) => return Err(format!("the landmarks must be [1, N, 2 or 3], got {s:?}")),
        (Some((d, scale)), &[1, _, _, c]) if c % d == 0 => {
            r[3] *= scale;
            r[7] *= scale;
            d
        }
        (Some((d, _)), s) => {
            return Err(format!("the landmarks must be [1, H, W, C] with C a multiple of {d}, got {s:?}"))
        }
    };
    let mut out = Buf::from_slice(xv);
    for l in out.chunks_exact_mut(dims) {
        let (x, y) = (l[0], l[1]);
        l[0] = apply_row(&r[..4], x, y);
        l[1] = apply_row(&r[4..], x, y);
    }
    Ok(Value::f32(x.shape.clone(), out))
}

// ---------------------------------------------------------------------------------------------
// Landmarks2TransformMatrix

/// The 4x4 matrix that maps a crop's pixels to the landmarks' frame: the crop is the bounding
/// box of a subset of landmarks, rotated so that the line from the left to the right rotation
/// landmark has the target angle.
fn prepare_landmarks_to_matrix(ctx: &PrepareCtx) -> KResult<Prepared> {
    float_io(ctx, 1, 1)?;
    let o = flex(ctx)?.ok_or("the op has no options")?;
    let index = |v: i32, what: &str| usize::try_from(v).map_err(|_| format!("{what} must not be negative, got {v}"));
    let subset = |key: &str| -> KResult<Vec<usize>> {
        let s = required(o.i32s(key)?, key)?;
        if s.is_empty() {
            return Err(format!("{key} is empty"));
        }
        // Read as pairs with an odd tail paired with itself; the box only needs the points.
        s.iter().map(|&i| index(i, key)).collect()
    };
    let left = index(required(o.i32("left_rotation_idx")?, "left_rotation_idx")?, "left_rotation_idx")?;
    let right = index(required(o.i32("right_rotation_idx")?, "right_rotation_idx")?, "right_rotation_idx")?;
    let form = if ctx.version >= 2 {
        let f = |key: &str| required(o.f32(key)?, key);
        let (scale_x, scale_y) = (f("scale_x")?, f("scale_y")?);
        if !(scale_x > 0.0 && scale_y > 0.0) {
            return Err(format!("scale_x and scale_y must be positive, got {scale_x} and {scale_y}"));
        }
        let out = |key: &str| positive(required(o.i32(key)?, key)?, key);
        L2m::V2 {
            subset: subset("subset_idxs")?,
            target: f("target_rotation_radians")?,
            out_h: out("output_height")? as f32,
            out_w: out("output_width")? as f32,
            scale_x,
            scale_y,
        }
    } else {
        let hw = |key: &str| -> KResult<(f32, f32)> {
            match required(o.i32s(key)?, key)?[..] {
                [h, w] if h > 0 && w > 0 => Ok((h as f32, w as f32)),
                ref s => Err(format!("{key} must be two positive sizes, got {s:?}")),
            }
        };
        let dims = required(o.i32("dimensions")?, "dimensions")?;
        if dims != 3 {
            return Err(format!("dimensions must be 3, got {dims}"));
        }
        let range = required(o.i32("landmarks_range")?, "landmarks_range")?;
        let multiplier = required(o.f32("bbox_size_multiplier")?, "bbox_size_multiplier")?;
        if multiplier == 0.0 {
            return Err("bbox_size_multiplier must not be 0".into());
        }
        L2m::V1 {
            subset: subset("subset")?,
            input_hw: hw("input_hw")?,
            output_hw: hw("output_hw")?,
            range: positive(range, "landmarks_range")? as f32,
            multiplier,
        }
    };
    Ok(Prepared::one(move |ins| landmarks_to_matrix(inp(ins, 0)?, left, right, &form)))
}

enum L2m {
    V2 { subset: Vec<usize>, target: f32, out_h: f32, out_w: f32, scale_x: f32, scale_y: f32 },
    V1 { subset: Vec<usize>, input_hw: (f32, f32), output_hw: (f32, f32), range: f32, multiplier: f32 },
}

type Mat4 = [[f32; 4]; 4];

fn mat4_mul(a: &Mat4, b: &Mat4) -> Mat4 {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..4).fold(0.0, |s, k| s + a[r][k] * b[k][c])))
}

fn mat3_mul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..3).fold(0.0, |s, k| s + a[r][k] * b[k][c])))
}

fn landmarks_to_matrix(x: &Value, left: usize, right: usize, form: &L2m) -> KResult<Value> {
    let xv = f32s(x, "the landmarks")?;
    let n = match (form, &x.shape[..]) {
        (L2m::V2 { .. }, &[1, n, 3]) => n,
        (L2m::V2 { .. }, s) => return Err(format!("the landmarks must be [1, N, 3], got {s:?}")),
        (L2m::V1 { .. }, &[1, 1, 1, k]) if k % 3 == 0 => k / 3,
        (L2m::V1 { .. }, s) => return Err(format!("the landmarks must be [1, 1, 1, 3·N], got {s:?}")),
    };
    let subset = match form {
        L2m::V2 { subset, .. } | L2m::V1 { subset, .. } => subset,
    };
    if let Some(&i) = [left, right].iter().chain(subset).find(|&&i| i >= n) {
        return Err(format!("landmark index {i} is out of range for {n} landmarks"));
    }
    let xy = |i: usize| (xv[3 * i], xv[3 * i + 1]);
    let ((xl, yl), (xr, yr)) = (xy(left), xy(right));
    let m: Mat4 = match *form {
        L2m::V2 { target, out_h, out_w, scale_x, scale_y, .. } => {
            let r = target - (yr - yl).atan2(xr - xl);
            let (c, s) = (r.cos(), r.sin());
            let (ci, si) = ((-r).cos(), (-r).sin());
            let rotated = |i: usize| {
                let (x, y) = xy(i);
                (c * x + -s * y + 0.0, s * x + c * y + 0.0)
            };
            let (mut lo, mut hi) = (rotated(subset[0]), rotated(subset[0]));
            for &i in &subset[1..] {
                let (x, y) = rotated(i);
                (lo.0, lo.1, hi.0, hi.1) = (lo.0.min(x), lo.1.min(y), hi.0.max(x), hi.1.max(y));
            }
            let (w, h) = (hi.0 - lo.0, hi.1 - lo.1);
            let (mx, my) = ((lo.0 + hi.0) / 2.0, (lo.1 + hi.1) / 2.0);
            let (cx, cy) = (ci * mx + -si * my + 0.0, si * mx + ci * my + 0.0);
            let shift = [[1.0, 0.0, 0.0, cx], [0.0, 1.0, 0.0, cy], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
            let rot = [[ci, -si, 0.0, 0.0], [si, ci, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
            let (sx, sy) = (scale_x * w / out_w, scale_y * h / out_h);
            let scale = [[sx, 0.0, 0.0, 0.0], [0.0, sy, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
            let (hx, hy) = (-(f64::from(out_w) / 2.0) as f32, -(f64::from(out_h) / 2.0) as f32);
            let back = [[1.0, 0.0, 0.0, hx], [0.0, 1.0, 0.0, hy], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
            mat4_mul(&mat4_mul(&mat4_mul(&shift, &rot), &scale), &back)
        }
        L2m::V1 { input_hw: (ih, iw), output_hw: (oh, ow), range, multiplier, .. } => {
            let a = -((yr - yl) / (xr - xl)).atan();
            let (c, s) = (a.cos(), a.sin());
            let (mut lo, mut hi) = ((100000f32, 100000f32), (-100000f32, -100000f32));
            for &i in subset {
                let (x, y) = xy(i);
                let (rx, ry) = (x * c - y * s, x * s + y * c);
                (lo.0, lo.1, hi.0, hi.1) = (lo.0.min(rx), lo.1.min(ry), hi.0.max(rx), hi.1.max(ry));
            }
            let (bw, bh) = ((hi.0 - lo.0) * multiplier, (hi.1 - lo.1) * multiplier);
            let scale = [[bw / range, 0.0, 0.0], [0.0, bh / range, 0.0], [0.0, 0.0, 1.0]];
            let half = |v: f32| (f64::from(v) / 2.0) as f32;
            let (mx, my) = (half(hi.0 + lo.0), half(hi.1 + lo.1));
            let (ci, si) = ((-a).cos(), (-a).sin());
            let (rx, ry) = (mx * ci - my * si, mx * si + my * ci);
            let to_unit = |v: f32| (f64::from(v / range) * 2.0 - 1.0) as f32;
            let rotation = [[ci, -si, to_unit(rx)], [si, ci, to_unit(ry)], [0.0, 0.0, 1.0]];
            let rel = |o: f32| (2.0 / (f64::from(o) - 1.0)) as f32;
            let to_relative = [[rel(ow), 0.0, -1.0], [0.0, rel(oh), -1.0], [0.0, 0.0, 1.0]];
            let abs = |i: f32| ((f64::from(i) - 1.0) / 2.0) as f32;
            let to_absolute = [[abs(iw), 0.0, abs(iw)], [0.0, abs(ih), abs(ih)], [0.0, 0.0, 1.0]];
            let t = mat3_mul(&mat3_mul(&mat3_mul(&to_absolute, &rotation), &scale), &to_relative);
            [
                [t[0][0], t[0][1], 0.0, t[0][2]],
                [t[1][0], t[1][1], 0.0, t[1][2]],
                [t[2][0], t[2][1], t[2][2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ]
        }
    };
    let flat: Vec<f32> = m.iter().flatten().copied().collect();
    Ok(Value::f32(vec![1, 4, 4], flat))
}
