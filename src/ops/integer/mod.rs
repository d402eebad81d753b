//! Integer kernels: the ops tflq writes in int8 and 16x8, computed as LiteRT's built-in
//! (optimized, x86-64) kernels compute them, bit for bit. Each family's registry entry points
//! here with [`OpDef::int_kernel`](super::OpDef::int_kernel); the arithmetic is in
//! [`crate::kernels::fixedpoint`]; the facts are in reference/tflite-kernel-facts.md §1–§3.
//!
//! Values are read as i32 whatever their width (I8 or I16) and written back in the output
//! tensor's type. Per-tensor parameters are read from the tensors at prepare time.

mod activation;
mod elementwise;
mod matmul;
pub(super) mod pointwise;
mod reduce;

pub(super) use activation::{exp, gelu, l2_normalize, log, log_softmax, sigmoid_or_tanh, softmax_any};
pub(super) use elementwise::{compare, div, max_min, squared_difference};
pub(super) use matmul::{batch_matmul, transpose_conv};
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

/// QUANTIZE: float → int8/int16 (`optimized_ops::AffineQuantize`: blocks of 8 rounded half
/// to even after a multiply by the f32 reciprocal, the tail half away after a division in
/// double), or a requantization of integers (`Requantize`: int8 → int8 in blocks of 16 with
/// the x86 rounding, everything else with the reference one). See [`quantize_to`]: the
/// vector part rounds as cvtps2dq does (nearest even; NaN and out of range give i32::MIN).
pub(super) fn quantize(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if out.quantization.as_ref().is_some_and(|q| q.scales().len() > 1) {
        return Err("per-channel QUANTIZE output is not supported by the integer interpreter".into());
    }
    let (lo, hi) = type_range(out.dtype)?;
    let dtype = out.dtype;
    if input.dtype == TensorType::FLOAT32 {
        let out = out.clone();
        return Ok(Prepared::one(move |ins| quantize_to(&out, inp(ins, 0)?)));
    }
    if !is_int(input.dtype) {
        return Err(format!("QUANTIZE from {}", crate::ir::dtype::type_name(input.dtype)));
    }
    let (iq, oq) = (q_of(input)?, q_of(out)?);
    let (m, s) = fp::quantize_multiplier(f64::from(iq.scale) / f64::from(oq.scale));
    let int8_to_int8 = input.dtype == TensorType::INT8 && dtype == TensorType::INT8;
    Ok(Prepared::one(move |ins| {
        let v = inp(ins, 0)?;
        let x = ints(v)?;
        let blocks = if int8_to_int8 { x.len() / 16 * 16 } else { 0 };
        let q = x.iter().enumerate().map(|(i, &a)| {
            let d = a - iq.zp;
            let r = if i < blocks { fp::mbqm_x86(d, m, s) } else { fp::mbqm(d, m, s) };
            r.saturating_add(oq.zp).clamp(lo, hi)
        });
        wrap(dtype, v.shape.clone(), q)
    }))
}

/// DEQUANTIZE of a computed int8/int16 tensor (`optimized_ops::Dequantize`): blocks of 8 as
/// f32(q)·s + f32(−z·s), two f32 roundings; the tail as f32(double(s)·(q − z)).
pub(super) fn dequantize(ctx: &PrepareCtx) -> KResult<Prepared> {
    let input = input_t(ctx, 0)?;
    if input.quantization.as_ref().is_some_and(|q| q.scales().len() > 1) {
        return Err("per-channel DEQUANTIZE of a computed tensor is not supported".into());
    }
    let q = q_of(input)?;
    let scale = f64::from(q.scale);
    let (s32, zs) = (q.scale, (-f64::from(q.zp) * scale) as f32);
    Ok(Prepared::one(move |ins| {
        let v = inp(ins, 0)?;
        let x = ints(v)?;
        let blocks = x.len() / 8 * 8;
        let out: Buf<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &a)| if i < blocks { a as f32 * s32 + zs } else { (scale * f64::from(a - q.zp)) as f32 })
            .collect();
        Ok(Value::f32(v.shape.clone(), out))
    }))
}

// ---------------------------------------------------------------- convolutions, FC

/// How a convolution's accumulators become outputs.
#[derive(Clone)]
enum Requant {
    /// int8: per-channel multipliers with the x86 rounding (ruy), for the channels below the
    /// bound; the reference rounding above it (the depthwise kernel's output stage rounds
    /// channels in groups of 8 in vector lanes, the remaining ones as the reference does).
    X86(Vec<(i32, i32)>, usize),
    /// 16x8 with int64 bias: the reference kernel's 16-bit multiplier overload.
    I64(Vec<(i32, i32)>),
    /// FULLY_CONNECTED 16x8: round half away of acc · double scale.
    Float(Vec<f64>),
}

impl Requant {
    #[inline]
    fn apply(&self, acc: i64, c: usize) -> i32 {
        match self {
            Requant::X86(m, vector) => {
                let (m, s) = m[c.min(m.len() - 1)];
                if c < *vector {
                    fp::mbqm_x86(acc as i32, m, s)
                } else {
                    fp::mbqm(acc as i32, m, s)
                }
            }
            Requant::I64(m) => {
                let (m, s) = m[c.min(m.len() - 1)];
                fp::mbqm_i64(acc, m, s)
            }
            Requant::Float(m) => {
                let r = (acc as f64 * m[c.min(m.len() - 1)]).round();
                r.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
            }
        }
    }
}

/// Per-channel real multipliers in_s · w_s[c] / out_s, in double (`PopulateConvolutionQuantizationParams`).
fn conv_reals(input: &Tensor, w: &Tensor, out: &Tensor) -> KResult<Vec<f64>> {
    let (iq, oq) = (q_of(input)?, q_of(out)?);
    Ok(scales_of(w)?.iter().map(|&ws| f64::from(iq.scale) * f64::from(ws) / f64::from(oq.scale)).collect())
}

/// The bias as i64 per output channel (None when there is no bias).
fn bias_values(b: Option<&Value>) -> KResult<Option<Vec<i64>>> {
    Ok(match b.map(|b| &b.values) {
        None => None,
        Some(Values::I32(x)) => Some(x.iter().map(|&a| i64::from(a)).collect()),
        Some(Values::I64(x)) => Some(x.to_vec()),
        Some(other) => return Err(format!("integer bias must be INT32 or INT64, got {}", other.type_name())),
    })
}

/// The filter's int8 values.
fn filter_i8(v: &Value) -> KResult<&[i8]> {
    match &v.values {
        Values::I8(x) => Ok(x),
        other => Err(format!("integer kernels need an INT8 filter, got {}", other.type_name())),
    }
}

struct ConvSetup {
    zi: i32,
    zo: i32,
    lo: i32,
    hi: i32,
    requant: Requant,
    dtype: TensorType,
    same: bool,
    stride: (i32, i32),
    dilation: (i32, i32),
}

fn conv_setup(ctx: &PrepareCtx, act: Act, padding: Padding, stride: (i32, i32), dil: (i32, i32)) -> KResult<ConvSetup> {
    let (input, w, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    let (lo, hi) = act_range(act, out)?;
    let reals = conv_reals(input, w, out)?;
    let wide = input.dtype == TensorType::INT16 && ctx.input(2).is_none_or_i64();
    let requant = if wide {
        Requant::I64(reals.iter().map(|&r| fp::quantize_multiplier(r)).collect())
    } else if input.dtype == TensorType::INT8 {
        Requant::X86(reals.iter().map(|&r| fp::quantize_multiplier(r)).collect(), usize::MAX)
    } else {
        return Err(format!(
            "no integer convolution for {} input with this bias",
            input.dtype.variant_name().unwrap_or("?")
        ));
    };
    let same = match padding {
        Padding::SAME => true,
        Padding::VALID => false,
        p => return Err(format!("unknown padding {}", p.0)),
    };
    Ok(ConvSetup {
        zi: q_of(input)?.zp,
        zo: q_of(out)?.zp,
        lo,
        hi,
        requant,
        dtype: out.dtype,
        same,
        stride,
        dilation: dil,
    })
}

/// Whether an optional tensor is absent or INT64 (the 16x8 bias the reference kernel takes).
trait BiasKind {
    fn is_none_or_i64(&self) -> bool;
}

impl BiasKind for Option<&Tensor> {
    fn is_none_or_i64(&self) -> bool {
        match self {
            None => true,
            Some(t) => t.dtype == TensorType::INT64,
        }
    }
}

/// CONV_2D (int8 per-channel with int32 bias; 16x8 with int64 bias).
pub(super) fn conv2d(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, Conv2DOptions);
    let c = conv_setup(
        ctx,
        o.fused_activation_function,
        o.padding,
        (o.stride_h, o.stride_w),
        (o.dilation_h_factor, o.dilation_w_factor),
    )?;
    if let Some(fast) = Int8Conv::new(ctx, &c.requant, c.zo, (c.lo, c.hi), false, usize::MAX, 0)? {
        let w_shape = fast.w_shape.clone();
        return Ok(fast.prepared(move |k, ins, w| {
            let x = inp(ins, 0)?;
            let g = conv_geom(&c, &x.shape, w.map_or(&w_shape[..], |w| &w.shape[..]), false)?;
            let packed = k.packed(w, g.oc, g.kh * g.kw * g.c)?;
            let (xv, bias) = (i8s(x)?, bias_i32(opt_inp(ins, 2))?);
            let mut out = Buf::filled(0i8, g.n * g.oh * g.ow * g.oc);
            int8::conv(k.isa, &g, xv, c.zi, &packed, bias, &k.stage, &mut out)?;
            Ok(Value::new(vec![g.n, g.oh, g.ow, g.oc], Values::I8(out)))
        }));
    }
    Ok(Prepared::one(move |ins| conv_eval(&c, ins, false)))
}

/// DEPTHWISE_CONV_2D.
pub(super) fn depthwise(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, DepthwiseConv2DOptions);
    let c = conv_setup(
        ctx,
        o.fused_activation_function,
        o.padding,
        (o.stride_h, o.stride_w),
        (o.dilation_h_factor, o.dilation_w_factor),
    )?;
    let mut c = c;
    let oc = ctx.input(1).and_then(|w| w.shape().get(3)).map_or(0, |&d| d.max(0) as usize);
    if let Requant::X86(_, vector) = &mut c.requant {
        *vector = oc / 8 * 8;
    }
    if let Some(fast) = Int8Conv::new(ctx, &c.requant, c.zo, (c.lo, c.hi), true, oc / 8 * 8, 0)? {
        let w_shape = fast.w_shape.clone();
        let w_const = fast.weights.clone();
        return Ok(fast.prepared(move |k, ins, w| {
            let x = inp(ins, 0)?;
            let g = conv_geom(&c, &x.shape, w.map_or(&w_shape[..], |w| &w.shape[..]), true)?;
            let wv = match (w, &w_const) {
                (Some(w), _) => filter_i8(w)?,
                (None, Some(w)) => &w[..],
                (None, None) => return Err("the filter is missing".into()),
            };
            let (xv, bias) = (i8s(x)?, bias_i32(opt_inp(ins, 2))?);
            let mut out = Buf::filled(0i8, g.n * g.oh * g.ow * g.oc);
            int8::depthwise(k.isa, &g, xv, c.zi, wv, bias, &k.stage, &mut out)?;
            Ok(Value::new(vec![g.n, g.oh, g.ow, g.oc], Values::I8(out)))
        }));
    }
    Ok(Prepared::one(move |ins| conv_eval(&c, ins, true)))
}

/// The geometry of a convolution on input and filter shapes (NHWC; the filter
/// `[oc][kh][kw][c]`, or `[1][kh][kw][oc]` for a depthwise one).
fn conv_geom(c: &ConvSetup, x_shape: &[usize], w_shape: &[usize], depthwise: bool) -> KResult<int8::Geom> {
    let [n, h, wd, ic] = dims4(x_shape, "input")?;
    let [f0, kh, kw, f3] = dims4(w_shape, "filter")?;
    let oc = if depthwise { f3 } else { f0 };
    if depthwise {
        if f0 != 1 || ic == 0 || oc % ic != 0 {
            return Err(format!("depthwise filter {w_shape:?} for {ic} input channels"));
        }
    } else if f3 != ic {
        return Err(format!("filter has {f3} input channels, the input {ic}"));
    }
    let (oh, ph) = out_and_pad(c.same, h, kh, c.stride.0, c.dilation.0)?;
    let (ow, pw) = out_and_pad(c.same, wd, kw, c.stride.1, c.dilation.1)?;
    let (sh, sw, dh, dw) = (c.stride.0 as usize, c.stride.1 as usize, c.dilation.0 as usize, c.dilation.1 as usize);
    Ok(int8::Geom { n, h, w: wd, c: ic, kh, kw, oc, oh, ow, ph, pw, sh, sw, dh, dw })
}

/// The reference convolution (16x8, and int8 forms the int8 kernels do not take).
fn conv_eval(c: &ConvSetup, ins: &[Option<&Value>], depthwise: bool) -> KResult<Value> {
    let x = inp(ins, 0)?;
    let wv = inp(ins, 1)?;
    let g = conv_geom(c, &x.shape, &wv.shape, depthwise)?;
    let w = filter_i8(wv)?;
    let bias = bias_values(opt_inp(ins, 2))?;
    if bias.as_ref().is_some_and(|b| b.len() != g.oc) {
        return Err("bias length differs from the output channels".into());
    }
    let out = int8::reference::conv(&g, &ints(x)?, c.zi, w, bias.as_deref(), depthwise, |a, o| {
        (c.requant.apply(a, o).saturating_add(c.zo)).clamp(c.lo, c.hi)
    });
    wrap(c.dtype, vec![g.n, g.oh, g.ow, g.oc], out.into_iter())
}

/// An int8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED for the int8 kernels: its output
/// stage, and the filter when it is a constant (packed for the GEMM ones), taken in at
/// prepare.
struct Int8Conv {
    isa: Isa,
    stage: int8::OutStage,
    /// Packed GEMM weights of a constant filter.
    packed: Option<int8::PackedW8>,
    /// A constant filter as it is (depthwise).
    weights: Option<std::sync::Arc<[i8]>>,
    w_shape: Vec<usize>,
    /// The filter's zero point (per-tensor FULLY_CONNECTED), subtracted when packing.
    zw: i32,
}

impl Int8Conv {
    /// Some when the op's input, filter and output are INT8, the bias absent or INT32 and the
    /// output stage the x86 one (`x86_below`: the channels it covers); `zw` is the filter's
    /// zero point the kernel subtracts.
    #[allow(clippy::too_many_arguments)]
    fn new(
        ctx: &PrepareCtx,
        requant: &Requant,
        zo: i32,
        (lo, hi): (i32, i32),
        depthwise: bool,
        x86_below: usize,
        zw: i32,
    ) -> KResult<Option<Int8Conv>> {
        let (input, w, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
        let int8 = [input.dtype, w.dtype, out.dtype].iter().all(|&t| t == TensorType::INT8);
        let bias_ok = ctx.input(2).map_or(true, |b| b.dtype == TensorType::INT32);
        let Requant::X86(params, _) = requant else { return Ok(None) };
        if !int8 || !bias_ok {
            return Ok(None);
        }
        let oc = w.shape().get(if depthwise { 3 } else { 0 }).map_or(0, |&d| d.max(0) as usize);
        if oc == 0 || (params.len() != 1 && params.len() != oc) {
            return Ok(None);
        }
        let stage = int8::OutStage::new(params, oc, x86_below, zo, lo, hi)?;
        let mut k = Int8Conv { isa: ctx.isa, stage, packed: None, weights: None, w_shape: Vec::new(), zw };
        if let (Some(wv), Some(shape)) = (ctx.constant_i8(1), ctx.constant_shape(1)) {
            if wv.len() != shape.iter().product::<usize>() {
                return Err(format!("the filter holds {} values for its shape {shape:?}", wv.len()));
            }
            if depthwise {
                k.weights = Some(wv.into());
            } else if let Some(&n) = shape.first() {
                k.packed = Some(int8::PackedW8::new(&wv, n, shape[1..].iter().product(), zw)?);
            }
            k.w_shape = shape;
        }
        Ok(Some(k))
    }

    /// The packed weights: those of prepare, or `w` packed now (a filter computed at run time).
    fn packed<'a>(
        &'a self,
        w: Option<&Value>,
        n: usize,
        depth: usize,
    ) -> KResult<std::borrow::Cow<'a, int8::PackedW8>> {
        match (&self.packed, w) {
            (Some(p), _) if p.n == n && p.depth == depth => Ok(std::borrow::Cow::Borrowed(p)),
            (_, Some(w)) => Ok(std::borrow::Cow::Owned(int8::PackedW8::new(filter_i8(w)?, n, depth, self.zw)?)),
            _ => Err("the packed filter does not match the input".into()),
        }
    }

    /// The kernel: `f(self, inputs, filter value)`, the filter None when prepare took it in.
    fn prepared(
        self,
        f: impl Fn(&Int8Conv, &[Option<&Value>], Option<&Value>) -> KResult<Value> + Send + Sync + 'static,
    ) -> Prepared {
        let consumed = self.packed.is_some() || self.weights.is_some();
        let mut p = Prepared::one(move |ins| f(&self, ins, if consumed { None } else { Some(inp(ins, 1)?) }));
        if consumed {
            p.consumed = vec![1];
        }
        p
    }
}

/// An INT8 value's elements.
fn i8s(v: &Value) -> KResult<&[i8]> {
    match &v.values {
        Values::I8(x) => Ok(x),
        other => Err(format!("expected INT8 values, got {}", other.type_name())),
    }
}

/// An INT32 bias (None when there is none).
fn bias_i32(b: Option<&Value>) -> KResult<Option<&[i32]>> {
    match b.map(|b| &b.values) {
        None => Ok(None),
        Some(Values::I32(x)) => Ok(Some(x)),
        Some(other) => Err(format!("an int8 kernel's bias must be INT32, got {}", other.type_name())),
    }
}

/// FULLY_CONNECTED: int8 (ruy, x86 rounding, per-channel or per-tensor multipliers) and 16x8
/// (the reference kernel's float requantization).
pub(super) fn fully_connected(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, FullyConnectedOptions);
    let (input, w, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    let (lo, hi) = act_range(o.fused_activation_function, out)?;
    let reals = conv_reals(input, w, out)?;
    let requant = match input.dtype {
        TensorType::INT8 => Requant::X86(reals.iter().map(|&r| fp::quantize_multiplier(r)).collect(), usize::MAX),
        TensorType::INT16 => Requant::Float(reals.clone()),
        other => return Err(format!("no integer FULLY_CONNECTED for {}", crate::ir::dtype::type_name(other))),
    };
    let (zi, zo) = (q_of(input)?.zp, q_of(out)?.zp);
    // Per-tensor filters may have a zero point; per-channel ones are symmetric.
    let zw = if reals.len() == 1 { q_of(w)?.zp } else { 0 };
    let (dtype, keep) = (out.dtype, o.keep_num_dims);
    let out_shape = move |x: &Value, batches: usize, units: usize| {
        if keep {
            let mut s = x.shape.clone();
            if let Some(l) = s.last_mut() {
                *l = units;
            }
            s
        } else {
            vec![batches, units]
        }
    };
    let fc_dims = |w_shape: &[usize], len: usize| -> KResult<(usize, usize)> {
        let (units, depth) = match w_shape[..] {
            [u, d] => (u, d),
            _ => return Err(format!("filter must be 2-D, got {w_shape:?}")),
        };
        if depth == 0 || len % depth != 0 {
            return Err(format!("input of {len} values for depth {depth}"));
        }
        Ok((units, depth))
    };
    if let Some(fast) = Int8Conv::new(ctx, &requant, zo, (lo, hi), false, usize::MAX, zw)? {
        let w_shape = fast.w_shape.clone();
        return Ok(fast.prepared(move |k, ins, w| {
            let x = inp(ins, 0)?;
            let xv = i8s(x)?;
            let (units, depth) = fc_dims(w.map_or(&w_shape[..], |w| &w.shape[..]), xv.len())?;
            let packed = k.packed(w, units, depth)?;
            let bias = bias_i32(opt_inp(ins, 2))?;
            let batches = xv.len() / depth;
            let mut out = Buf::filled(0i8, batches * units);
            int8::fully_connected(k.isa, xv, zi, &packed, bias, &k.stage, &mut out)?;
            Ok(Value::new(out_shape(x, batches, units), Values::I8(out)))
        }));
    }
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let wv = inp(ins, 1)?;
        let w = filter_i8(wv)?;
        let xv = ints(x)?;
        let (units, depth) = fc_dims(&wv.shape, xv.len())?;
        let bias = bias_values(opt_inp(ins, 2))?;
        if bias.as_ref().is_some_and(|b| b.len() != units) {
            return Err("bias length differs from the units".into());
        }
        let out = int8::reference::fully_connected(&xv, zi, w, zw, depth, bias.as_deref(), |acc, u| {
            requant.apply(acc, u).saturating_add(zo).clamp(lo, hi)
        });
        wrap(dtype, out_shape(x, xv.len() / depth, units), out.into_iter())
    }))
}

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

/// Real values quantized to tensor `t`'s type and parameters as LiteRT's QUANTIZE computes it
/// (for feeding float data to a model whose inputs are int8 or int16).
pub fn quantize_to(t: &Tensor, v: &Value) -> KResult<Value> {
    let x = v.as_f32().ok_or("quantizing needs FLOAT32 values")?;
    let (lo, hi) = type_range(t.dtype)?;
    let q = q_of(t)?;
    let scale = f64::from(q.scale);
    let recip = (1.0 / scale) as f32;
    let blocks = x.len() / 8 * 8;
    let out = x.iter().enumerate().map(|(i, &a)| {
        let r = if i < blocks {
            let p = a * recip;
            if p.is_nan() || !(-2147483648.0..2147483648.0).contains(&p) {
                i32::MIN
            } else {
                p.round_ties_even() as i32
            }
        } else {
            (f64::from(a) / scale).round() as i32
        };
        r.wrapping_add(q.zp).clamp(lo, hi)
    });
    wrap(t.dtype, v.shape.clone(), out)
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
