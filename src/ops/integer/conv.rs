//! Integer CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: their output stages, and the int8
//! kernels or the reference loops behind them.

use super::super::util::{dims4, inp, opt_inp};
use super::{act_range, input_t, ints, opts, q_of, scales_of, wrap, Isa, KResult, PrepareCtx, Prepared};
use crate::ir::{Buf, Tensor, Value, Values};
use crate::kernels::fixedpoint as fp;
use crate::kernels::{int8, out_and_pad};
use crate::schema::{ActivationFunctionType as Act, Padding, TensorType};

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
pub(crate) fn conv2d(ctx: &PrepareCtx) -> KResult<Prepared> {
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
pub(crate) fn depthwise(ctx: &PrepareCtx) -> KResult<Prepared> {
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
pub(crate) fn fully_connected(ctx: &PrepareCtx) -> KResult<Prepared> {
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
