//! Volumetric convolutions: CONV_3D and CONV_3D_TRANSPOSE (NDHWC), both as a GEMM over
//! gathered (or scattered) patches.

use super::util::{activate, checked_numel, f32s, inp, ints, opt_inp};
use super::{opts, KResult, OpDef, Prepared};
use crate::ir::{Buf, Value};
use crate::kernels::frame::out_and_pad;
use crate::kernels::gemm;
use crate::schema::{ActivationFunctionType, BuiltinOperator as B, Conv3DOptionsT, Padding};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::CONV_3D).kernel(|ctx| {
        let p = Params::of(&opts!(ctx, Conv3DOptions))?;
        Ok(Prepared::one(move |ins| conv3d(inp(ins, 0)?, inp(ins, 1)?, opt_inp(ins, 2), &p)))
    }));
    add(OpDef::builtin(B::CONV_3D_TRANSPOSE).kernel(|ctx| {
        let p = Params::of(&opts!(ctx, Conv3DOptions))?;
        Ok(Prepared::one(move |ins| {
            conv3d_transpose(&ints(inp(ins, 0)?)?, inp(ins, 1)?, inp(ins, 2)?, opt_inp(ins, 3), &p)
        }))
    }));
}

/// Patch rows gathered per GEMM, so that the patch matrix stays near 16 MB.
const PATCH_FLOATS: usize = 1 << 22;

struct Params {
    same: bool,
    /// Depth, height, width.
    stride: [i32; 3],
    dilation: [i32; 3],
    act: ActivationFunctionType,
}

impl Params {
    fn of(o: &Conv3DOptionsT) -> KResult<Params> {
        let same = match o.padding {
            Padding::SAME => true,
            Padding::VALID => false,
            p => return Err(format!("unknown padding {}", p.0)),
        };
        Ok(Params {
            same,
            stride: [o.stride_d, o.stride_h, o.stride_w],
            dilation: [o.dilation_d_factor, o.dilation_h_factor, o.dilation_w_factor],
            act: o.fused_activation_function,
        })
    }

    /// Output size and leading padding of each spatial axis for inputs `size` and kernel `k`.
    fn geometry(&self, size: [usize; 3], k: [usize; 3]) -> KResult<([usize; 3], [usize; 3])> {
        let mut out = [0; 3];
        let mut pad = [0; 3];
        for a in 0..3 {
            (out[a], pad[a]) = out_and_pad(self.same, size[a], k[a], self.stride[a], self.dilation[a])?;
        }
        Ok((out, pad))
    }
}

fn dims5(v: &Value, what: &str) -> KResult<[usize; 5]> {
    match v.shape[..] {
        [a, b, c, d, e] => Ok([a, b, c, d, e]),
        _ => Err(format!("{what} must be 5-D, got {:?}", v.shape)),
    }
}

fn bias_of(bias: Option<&Value>, n: usize) -> KResult<Option<&[f32]>> {
    let Some(b) = bias else { return Ok(None) };
    let v = f32s(b, "bias")?;
    if v.len() != n {
        return Err(format!("bias has {} values for {n} output channels", v.len()));
    }
    Ok(Some(v))
}

/// The input position a kernel tap reads (None when it falls in the padding).
fn tap(o: usize, stride: i32, k: usize, dilation: i32, pad: usize, size: usize) -> Option<usize> {
    (o * stride as usize + k * dilation as usize).checked_sub(pad).filter(|&i| i < size)
}

/// Calls `f(tap, position)` for every tap of the window at output position `pos`, in filter
/// order, with the input position the tap reads (None in the padding).
fn window(
    p: &Params,
    pos: [usize; 3],
    k: [usize; 3],
    size: [usize; 3],
    pad: [usize; 3],
    mut f: impl FnMut(usize, Option<[usize; 3]>),
) {
    let at = |a: usize, i: usize| tap(pos[a], p.stride[a], i, p.dilation[a], pad[a], size[a]);
    let mut t = 0;
    for a in 0..k[0] {
        let iz = at(0, a);
        for b in 0..k[1] {
            let iy = at(1, b);
            for c in 0..k[2] {
                let ix = at(2, c);
                f(t, iz.zip(iy).zip(ix).map(|((z, y), x)| [z, y, x]));
                t += 1;
            }
        }
    }
}

/// CONV_3D: x [N, D, H, W, C] by filter [KD, KH, KW, C, O] (plus bias [O]).
fn conv3d(x: &Value, w: &Value, bias: Option<&Value>, p: &Params) -> KResult<Value> {
    let [n, d, h, wd, c] = dims5(x, "CONV_3D input")?;
    let [kd, kh, kw, wc, oc] = dims5(w, "CONV_3D filter")?;
    if wc != c {
        return Err(format!("CONV_3D filter has {wc} input channels, the input {c}"));
    }
    if [kd, kh, kw, c, oc].contains(&0) {
        return Err(format!("CONV_3D filter {:?} has an empty axis", w.shape));
    }
    let (xv, wv) = (f32s(x, "input")?, f32s(w, "filter")?);
    let bias = bias_of(bias, oc)?;
    let (o, pad) = p.geometry([d, h, wd], [kd, kh, kw])?;
    let shape = vec![n, o[0], o[1], o[2], oc];
    let total = checked_numel(&shape)?;
    let k = kd * kh * kw * c;
    let rows = o[0] * o[1] * o[2];
    let mut out = Buf::filled(0.0f32, total);
    let chunk = (PATCH_FLOATS / k.max(1)).clamp(1, rows.max(1));
    let mut patch = vec![0.0f32; chunk * k];
    for b in 0..n {
        let src = &xv[b * d * h * wd * c..(b + 1) * d * h * wd * c];
        for start in (0..rows).step_by(chunk) {
            let m = chunk.min(rows - start);
            for (r, row) in patch.chunks_exact_mut(k).take(m).enumerate() {
                let at = start + r;
                let pos = [at / (o[1] * o[2]), at / o[2] % o[1], at % o[2]];
                window(p, pos, [kd, kh, kw], [d, h, wd], pad, |t, at| {
                    let dst = &mut row[t * c..(t + 1) * c];
                    match at {
                        Some([iz, iy, ix]) => {
                            let s = ((iz * h + iy) * wd + ix) * c;
                            dst.copy_from_slice(&src[s..s + c]);
                        }
                        None => dst.fill(0.0),
                    }
                });
            }
            let dst = &mut out[(b * rows + start) * oc..(b * rows + start + m) * oc];
            if let Some(bv) = bias {
                dst.chunks_exact_mut(oc).for_each(|r| r.copy_from_slice(bv));
            }
            gemm(m, k, oc, &patch, (k, 1), wv, (oc, 1), if bias.is_some() { 1.0 } else { 0.0 }, dst)?;
        }
    }
    activate(&mut out, p.act)?;
    Ok(Value::f32(shape, out))
}

/// CONV_3D_TRANSPOSE: the output [N, D, H, W, O] of `out_shape` that CONV_3D with this filter
/// [KD, KH, KW, O, C] would map to x [N, d, h, w, C]; every input element scatters its
/// products into the output.
fn conv3d_transpose(out_shape: &[i64], w: &Value, x: &Value, bias: Option<&Value>, p: &Params) -> KResult<Value> {
    let shape: Vec<usize> = out_shape
        .iter()
        .map(|&s| usize::try_from(s))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("bad CONV_3D_TRANSPOSE output shape {out_shape:?}"))?;
    let [n, od, oh, ow, oc] = shape[..] else {
        return Err(format!("CONV_3D_TRANSPOSE output shape must have 5 values, got {out_shape:?}"));
    };
    let [kd, kh, kw, woc, wc] = dims5(w, "CONV_3D_TRANSPOSE filter")?;
    let [xn, d, h, wd, c] = dims5(x, "CONV_3D_TRANSPOSE input")?;
    if woc != oc || wc != c || xn != n {
        return Err(format!(
            "CONV_3D_TRANSPOSE filter {:?}, input {:?} and output shape {out_shape:?} disagree",
            w.shape, x.shape
        ));
    }
    if [kd, kh, kw, c, oc].contains(&0) {
        return Err(format!("CONV_3D_TRANSPOSE filter {:?} has an empty axis", w.shape));
    }
    let (xv, wv) = (f32s(x, "input")?, f32s(w, "filter")?);
    let bias = bias_of(bias, oc)?;
    // The forward convolution of the output must give the input's spatial size.
    let (fwd, pad) = p.geometry([od, oh, ow], [kd, kh, kw])?;
    if fwd != [d, h, wd] {
        return Err(format!("CONV_3D_TRANSPOSE output shape {out_shape:?} does not map to input {:?}", x.shape));
    }
    let total = checked_numel(&shape)?;
    let taps = kd * kh * kw * oc;
    let rows = d * h * wd;
    let mut out = Buf::filled(0.0f32, total);
    let chunk = (PATCH_FLOATS / taps.max(1)).clamp(1, rows.max(1));
    let mut cols = vec![0.0f32; chunk * taps];
    for b in 0..n {
        let dst = &mut out[b * od * oh * ow * oc..(b + 1) * od * oh * ow * oc];
        for start in (0..rows).step_by(chunk) {
            let m = chunk.min(rows - start);
            let src = &xv[(b * rows + start) * c..(b * rows + start + m) * c];
            // cols[r, tap·O + o] = Σ_c x[r, c] · w[tap, o, c]
            gemm(m, c, taps, src, (c, 1), wv, (1, c), 0.0, &mut cols)?;
            for (r, col) in cols.chunks_exact(taps).take(m).enumerate() {
                let at = start + r;
                let pos = [at / (h * wd), at / wd % h, at % wd];
                window(p, pos, [kd, kh, kw], [od, oh, ow], pad, |t, at| {
                    if let Some([iz, iy, ix]) = at {
                        let o = ((iz * oh + iy) * ow + ix) * oc;
                        dst[o..o + oc].iter_mut().zip(&col[t * oc..(t + 1) * oc]).for_each(|(q, v)| *q += v);
                    }
                });
            }
        }
    }
    if let Some(bv) = bias {
        out.chunks_exact_mut(oc).for_each(|r| r.iter_mut().zip(bv).for_each(|(q, b)| *q += b));
    }
    activate(&mut out, p.act)?;
    Ok(Value::f32(shape, out))
}
