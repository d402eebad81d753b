//! Convolutions: CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV (f32, NHWC, TF's weight layouts).

use super::util::{activate, clamp_of, dims4, f32s, inp, ints, one, opt_inp};
use super::{
    fused_activation, opts, EvalCtx, FusedRanges, Hybrid, IntegerRule, KResult, Kernel, OpDef, OpSignature, PrepareCtx,
    Prepared, Role,
};
use crate::ir::{Buf, Value};
use crate::kernels::{self, out_and_pad, seen_range, Clamp, ConvGeom, Isa, PackedW};
use crate::schema::{ActivationFunctionType, BuiltinOperator as B, BuiltinOptionsT as O, Padding, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::CONV_2D)
        .kernel(prepare_conv2d)
        .int_kernel(super::integer::conv2d)
        .roles(&[(1, Role::Weights { axis: Some(0) }), (2, Role::Bias { input: 0, weights: 1 })])
        .hybrid(Hybrid { asymmetric_inputs: None, int8_output: false })
        .integer(IntegerRule { int16_options: Some(int64_bias), ..IntegerRule::calibrated(true) })
        .version(conv2d_version, &[1, 2, 3, 5])
        .activation(fused_activation!(Conv2DOptions, absorbs: Always)));
    add(OpDef::builtin(B::DEPTHWISE_CONV_2D)
        .kernel(prepare_depthwise)
        .int_kernel(super::integer::depthwise)
        .roles(&[(1, Role::Weights { axis: Some(3) }), (2, Role::Bias { input: 0, weights: 1 })])
        .hybrid(Hybrid { asymmetric_inputs: None, int8_output: false })
        .integer(IntegerRule::calibrated(true))
        .version(depthwise_version, &[1, 2, 3, 4, 6])
        .activation(fused_activation!(DepthwiseConv2DOptions, absorbs: Always)));
    add(OpDef::builtin(B::TRANSPOSE_CONV)
        .kernel(prepare_transpose_conv)
        .int_kernel(super::integer::transpose_conv)
        .roles(&[(1, Role::Weights { axis: Some(0) }), (3, Role::Bias { input: 2, weights: 1 })])
        .hybrid(Hybrid { asymmetric_inputs: None, int8_output: false })
        .integer(IntegerRule { int16_options: Some(int64_bias), ..IntegerRule::calibrated(true) })
        .version(transpose_conv_version, &[1, 2, 3, 4])
        .activation(fused_activation!(TransposeConvOptions, absorbs: WithBias)));
}

/// 16x8 conv-like kernels take a 64-bit bias (the option is set where the options exist).
pub(super) fn int64_bias(o: &mut O) {
    match o {
        O::Conv2DOptions(o) => o.quantized_bias_type = TensorType::INT64,
        O::FullyConnectedOptions(o) => o.quantized_bias_type = TensorType::INT64,
        O::TransposeConvOptions(o) => o.quantized_bias_type = TensorType::INT64,
        _ => {}
    }
}

/// Hybrid 5 (per channel) or 2, int8 and 16x8 3 (TF's legacy 16x8 quantizer writes the int8
/// numbers), float 1.
fn conv2d_version(s: &OpSignature) -> i32 {
    if s.hybrid(0, 1) {
        if s.input(1).is_some_and(|w| w.per_channel) {
            5
        } else {
            2
        }
    } else if s.integer(0) {
        3
    } else {
        1
    }
}

/// Hybrid 6 (per channel) or 4, integer 3, float 2 with dilation, else 1.
fn depthwise_version(s: &OpSignature) -> i32 {
    if s.hybrid(0, 1) {
        if s.input(1).is_some_and(|w| w.per_channel) {
            6
        } else {
            4
        }
    } else if s.integer(0) {
        3
    } else {
        match s.options {
            O::DepthwiseConv2DOptions(o) if o.dilation_h_factor != 1 || o.dilation_w_factor != 1 => 2,
            _ => 1,
        }
    }
}

/// TF's rule, whatever the types: 4 with a fused activation (older kernels ignore it), 3 with
/// a bias, 2 with int8 weights (hybrid and integer), else 1. (TF's 16x8 rule for 5 tests the
/// type of input 0, the output shape, so TF never writes 5.)
fn transpose_conv_version(s: &OpSignature) -> i32 {
    match s.options {
        O::TransposeConvOptions(o) if o.fused_activation_function != ActivationFunctionType::NONE => 4,
        _ if s.has_input(3) => 3,
        _ if s.hybrid(2, 1) || s.integer(2) => 2,
        _ => 1,
    }
}

/// Convolution geometry from the options (the field names of the conv tables).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvParams {
    pub same: bool,
    pub stride_h: i32,
    pub stride_w: i32,
    pub dilation_h: i32,
    pub dilation_w: i32,
    pub act: ActivationFunctionType,
}

fn padding(p: Padding) -> KResult<bool> {
    match p {
        Padding::SAME => Ok(true),
        Padding::VALID => Ok(false),
        p => Err(format!("unknown padding {}", p.0)),
    }
}

macro_rules! conv_params {
    ($o:expr) => {
        ConvParams {
            same: padding($o.padding)?,
            stride_h: $o.stride_h,
            stride_w: $o.stride_w,
            dilation_h: $o.dilation_h_factor,
            dilation_w: $o.dilation_w_factor,
            act: $o.fused_activation_function,
        }
    };
}

impl ConvParams {
    /// The geometry of this convolution of an NHWC input by a kh×kw window to `oc` channels.
    pub(super) fn geom(&self, [n, h, wd, c]: [usize; 4], kh: usize, kw: usize, oc: usize) -> KResult<ConvGeom> {
        let (oh, pad_h) = out_and_pad(self.same, h, kh, self.stride_h, self.dilation_h)?;
        let (ow, pad_w) = out_and_pad(self.same, wd, kw, self.stride_w, self.dilation_w)?;
        let (sh, sw, dh, dw) =
            (self.stride_h as usize, self.stride_w as usize, self.dilation_h as usize, self.dilation_w as usize);
        let clamp = clamp_of(self.act).unwrap_or(Clamp::NONE);
        Ok(ConvGeom { n, h, wd, c, kh, kw, oc, mm: oc / c.max(1), oh, ow, pad_h, pad_w, sh, sw, dh, dw, clamp })
    }
}

/// The bias of `n` output channels as a slice (checked), or None.
fn bias_slice(bias: Option<&Value>, n: usize) -> KResult<Option<&[f32]>> {
    let Some(b) = bias else { return Ok(None) };
    let bv = f32s(b, "bias")?;
    if bv.len() != n {
        return Err(format!("bias has {} values for {n} output channels", bv.len()));
    }
    Ok(Some(bv))
}

/// `rows` rows of width `n`, each the bias (or zeros); and whether there was a bias.
pub(crate) fn bias_rows(bias: Option<&Value>, rows: usize, n: usize) -> KResult<(Buf<f32>, bool)> {
    match bias_slice(bias, n)? {
        None => Ok((Buf::filled(0f32, rows * n), false)),
        Some(bv) => {
            let mut out = Buf::with_capacity(rows * n);
            for _ in 0..rows {
                out.extend_from_slice(bv);
            }
            Ok((out, true))
        }
    }
}

/// A prepared CONV_2D: its filter packed once when it is constant and the activation a clamp.
struct Conv2d {
    p: ConvParams,
    isa: Isa,
    packed: Option<(PackedW, [usize; 4])>,
}

fn prepare_conv2d(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, Conv2DOptions);
    let p = conv_params!(o);
    if super::hybrid::is_hybrid(ctx, 1) {
        return super::hybrid::prepare_conv2d(ctx, p);
    }
    // The packed GEMM applies clamp activations as it stores; others run unpacked.
    let packed = match (clamp_of(p.act), ctx.constant_shape(1)) {
        (Some(_), Some(s)) if s.len() == 4 => {
            let k = s[1..].iter().product();
            ctx.constant_f32(1).and_then(|w| PackedW::new(&w, s[0], k)).map(|pw| (pw, [s[0], s[1], s[2], s[3]]))
        }
        _ => None,
    };
    let consumed = if packed.is_some() { vec![1] } else { Vec::new() };
    Ok(Prepared { kernel: Box::new(Conv2d { p, isa: ctx.isa, packed }), consumed })
}

impl Conv2d {
    /// The filter's shape: from the packed filter, or the input.
    fn filter_shape(&self, ins: &[Option<&Value>]) -> KResult<[usize; 4]> {
        match &self.packed {
            Some((_, s)) => Ok(*s),
            None => dims4(&inp(ins, 1)?.shape, "filter"),
        }
    }

    /// CONV_2D: im2col + GEMM. Also returns the output's (min, max) when the kernel tracked it.
    fn run(&self, ins: &[Option<&Value>]) -> KResult<(Value, Option<(f32, f32)>)> {
        let x = inp(ins, 0)?;
        let [n, h, wd, c] = dims4(&x.shape, "input")?;
        let [oc, kh, kw, ic] = self.filter_shape(ins)?;
        let xv = f32s(x, "input")?;
        if ic != c {
            return Err(format!(
                "filter has {ic} input channels, the input {c} (grouped convolution is not supported)"
            ));
        }
        let g = ConvGeom { mm: 1, ..self.p.geom([n, h, wd, c], kh, kw, oc)? };
        super::checked_numel(&[n, g.oh, g.ow, oc])?;
        let (m, k) = (n * g.oh * g.ow, kh * kw * c);
        let bias = opt_inp(ins, 2);
        let shape = vec![n, g.oh, g.ow, oc];
        // With packed weights the GEMM starts from the bias and clamps as it stores, into an
        // output it writes whole; otherwise the output starts as the bias and the activation is
        // a separate pass.
        if let (Some((pw, _)), Some(clamp)) = (&self.packed, clamp_of(self.p.act)) {
            let bias_v = bias_slice(bias, oc)?;
            let mut seen = None;
            let out = Buf::written(m * oc, |out| {
                g.for_row_blocks(xv, out, |rows, a, o| {
                    kernels::gemm_packed(self.isa, rows, a, pw, bias_v, clamp, o, &mut seen)
                })
            })?;
            return Ok((Value::f32(shape, out), seen.as_ref().and_then(seen_range)));
        }
        let wv = f32s(inp(ins, 1)?, "filter")?;
        let (mut out, has_bias) = bias_rows(bias, m, oc)?;
        let beta = if has_bias { 1.0 } else { 0.0 };
        // B = filterᵀ: element (kk, o) is w[o * k + kk].
        g.for_row_blocks(xv, &mut out, |rows, a, o| kernels::gemm(rows, k, oc, a, (k, 1), wv, (1, k), beta, o))?;
        activate(&mut out, self.p.act)?;
        Ok((Value::f32(shape, out), None))
    }
}

impl Kernel for Conv2d {
    fn eval(&self, ins: &[Option<&Value>], ctx: &mut EvalCtx) -> KResult<Vec<Value>> {
        let (v, range) = self.run(ins)?;
        ctx.range = range;
        one(v)
    }

    fn fuses_with(&self, next: &dyn Kernel) -> bool {
        let next: &dyn std::any::Any = next;
        self.packed.is_some() && next.downcast_ref::<Depthwise>().is_some()
    }

    fn eval_fused(
        &self,
        next: &dyn Kernel,
        ins: &[Option<&Value>],
        next_ins: &[Option<&Value>],
        min_elements: usize,
    ) -> KResult<Option<(Value, FusedRanges)>> {
        let next: &dyn std::any::Any = next;
        let (Some(dw), Some((pw, [oc, kh1, kw1, ic]))) = (next.downcast_ref::<Depthwise>(), &self.packed) else {
            return Ok(None);
        };
        let (Some(clamp1), Some(_)) = (clamp_of(self.p.act), clamp_of(dw.p.act)) else { return Ok(None) };
        let x = inp(ins, 0)?;
        let [n, h, wd, cin] = dims4(&x.shape, "input")?;
        let w2 = inp(next_ins, 1)?;
        let [one_, kh, kw, c] = dims4(&w2.shape, "filter")?;
        let pointwise = (*kh1, *kw1, self.p.stride_h, self.p.stride_w) == (1, 1, 1, 1);
        if n != 1 || !pointwise || *ic != cin || one_ != 1 || c != *oc || h * wd * c < min_elements {
            return Ok(None);
        }
        let g = dw.p.geom([1, h, wd, c], kh, kw, c)?;
        let (b1, b2) = (bias_slice(opt_inp(ins, 2), c)?, bias_slice(opt_inp(next_ins, 2), c)?);
        let (xv, wv) = (f32s(x, "input")?, f32s(w2, "filter")?);
        super::checked_numel(&[1, g.oh, g.ow, c])?;
        let Some((out, r1, r2)) = kernels::expand_depthwise(self.isa, &g, xv, cin, pw, b1, clamp1, wv, b2) else {
            return Ok(None);
        };
        if r1.is_none() && h * wd * c > 0 {
            return Ok(None);
        }
        Ok(Some((Value::f32(vec![1, g.oh, g.ow, c], out), (r1, r2))))
    }
}

/// A prepared DEPTHWISE_CONV_2D.
struct Depthwise {
    p: ConvParams,
    mult: i32,
    isa: Isa,
}

fn prepare_depthwise(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, DepthwiseConv2DOptions);
    if super::hybrid::is_hybrid(ctx, 1) {
        return super::hybrid::prepare_depthwise(ctx, conv_params!(o), o.depth_multiplier);
    }
    Ok(Prepared {
        kernel: Box::new(Depthwise { p: conv_params!(o), mult: o.depth_multiplier, isa: ctx.isa }),
        consumed: vec![],
    })
}

impl Kernel for Depthwise {
    /// Input NHWC, filter [1, KH, KW, C·multiplier]; a direct kernel that adds the bias and
    /// clamps as it stores, tracking the output's range when it can.
    fn eval(&self, ins: &[Option<&Value>], ctx: &mut EvalCtx) -> KResult<Vec<Value>> {
        let (x, w) = (inp(ins, 0)?, inp(ins, 1)?);
        let [n, h, wd, c] = dims4(&x.shape, "input")?;
        let [one_, kh, kw, oc] = dims4(&w.shape, "filter")?;
        let (xv, wv) = (f32s(x, "input")?, f32s(w, "filter")?);
        if one_ != 1 || c == 0 || oc % c != 0 {
            return Err(format!("filter shape {:?} does not fit input channels {c}", w.shape));
        }
        let mm = oc / c;
        if self.mult > 0 && self.mult as usize != mm {
            return Err(format!("depth_multiplier {} but the filter gives {mm}", self.mult));
        }
        let g = self.p.geom([n, h, wd, c], kh, kw, oc)?;
        let bias = bias_slice(opt_inp(ins, 2), oc)?;
        let mut seen = None;
        let numel = super::checked_numel(&[n, g.oh, g.ow, oc])?;
        let mut out = Buf::written(numel, |out| kernels::depthwise(self.isa, &g, xv, wv, bias, out, &mut seen))?;
        ctx.range = if clamp_of(self.p.act).is_some() {
            seen.as_ref().and_then(seen_range)
        } else {
            activate(&mut out, self.p.act)?;
            None
        };
        one(Value::f32(vec![n, g.oh, g.ow, oc], out))
    }
}

fn prepare_transpose_conv(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, TransposeConvOptions);
    let p = ConvParams {
        same: padding(o.padding)?,
        stride_h: o.stride_h,
        stride_w: o.stride_w,
        dilation_h: 1,
        dilation_w: 1,
        act: o.fused_activation_function,
    };
    if super::hybrid::is_hybrid(ctx, 1) {
        return super::hybrid::prepare_transpose_conv(ctx, p);
    }
    Ok(Prepared::one(move |ins| transpose_conv(&ints(inp(ins, 0)?)?, inp(ins, 1)?, inp(ins, 2)?, opt_inp(ins, 3), &p)))
}

/// TRANSPOSE_CONV: output_shape, weights [O, KH, KW, I], input NHWC, optional bias.
fn transpose_conv(out_shape: &[i64], w: &Value, x: &Value, bias: Option<&Value>, p: &ConvParams) -> KResult<Value> {
    let [n, h, wd, c] = dims4(&x.shape, "input")?;
    let [oc, kh, kw, ic] = dims4(&w.shape, "weights")?;
    let xv = f32s(x, "input")?;
    let wv = f32s(w, "weights")?;
    if ic != c {
        return Err(format!("weights have {ic} input channels, the input {c}"));
    }
    let os: Vec<usize> =
        out_shape.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| "negative output_shape")?;
    let [on, oh, ow, occ] = os[..] else {
        return Err(format!("output_shape must have 4 values, got {out_shape:?}"));
    };
    if on != n || occ != oc {
        return Err(format!("output_shape {out_shape:?} does not match input {:?} / weights {:?}", x.shape, w.shape));
    }
    super::checked_numel(&os)?;
    super::checked_numel(&[n, h, wd, kh, kw, oc])?;
    // Padding as for the forward convolution from the output to the input.
    let (_, pad_h) = out_and_pad(p.same, oh, kh, p.stride_h, 1)?;
    let (_, pad_w) = out_and_pad(p.same, ow, kw, p.stride_w, 1)?;
    let (sh, sw) = (p.stride_h as usize, p.stride_w as usize);
    // Weights reordered to [KH, KW, O, I], so that each (ky, kx) gives O contiguous outputs.
    let mut wr = vec![0f32; wv.len()];
    for o in 0..oc {
        for t in 0..kh * kw {
            let src = (o * kh * kw + t) * c;
            let dst = (t * oc + o) * c;
            wr[dst..dst + c].copy_from_slice(&wv[src..src + c]);
        }
    }
    let m = n * h * wd;
    let j = kh * kw * oc;
    let mut col = Buf::filled(0f32, m * j);
    kernels::gemm(m, c, j, xv, (c, 1), &wr, (1, c), 0.0, &mut col)?;
    let mut out = Buf::filled(0f32, n * oh * ow * oc);
    for b in 0..n {
        for iy in 0..h {
            for ix in 0..wd {
                let row = &col[((b * h + iy) * wd + ix) * j..][..j];
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
                        let s = (ky * kw + kx) * oc;
                        for (o, &v) in out[d..d + oc].iter_mut().zip(&row[s..s + oc]) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }
    if let Some(bv) = bias_slice(bias, oc)? {
        for px in out.chunks_exact_mut(oc) {
            px.iter_mut().zip(bv).for_each(|(o, &b)| *o += b);
        }
    }
    activate(&mut out, p.act)?;
    Ok(Value::f32(vec![n, oh, ow, oc], out))
}
