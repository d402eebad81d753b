//! Integer TRANSPOSE_CONV and BATCH_MATMUL, as LiteRT's built-in kernels compute them on x86.
//!
//! TRANSPOSE_CONV int8 runs the optimized kernel (a GEMM into int32 accumulators, col2im, bias,
//! then `optimized_ops::Quantize`, whose NEON-on-SSE lanes round channels in groups of eight
//! with the x86 rule and the remaining channels with the reference one); 16x8 with an int64
//! (or no) bias runs the reference kernel with i64 accumulators and the 16-bit multiplier.
//! BATCH_MATMUL has only the reference kernel: int32 accumulators and the reference rounding
//! for int8, i64 accumulators and the 16-bit multiplier for int16.

use super::super::util::{dims4, inp, opt_inp};
use super::{act_range, input_t, ints, q_of, scales_of, type_range, wrap};
use super::{opts, KResult, PrepareCtx, Prepared};
use crate::ir::{Value, Values};
use crate::kernels::fixedpoint as fp;
use crate::kernels::out_and_pad;
use crate::schema::{Padding, TensorType};

// ---------------------------------------------------------------- TRANSPOSE_CONV

/// How the accumulators of a TRANSPOSE_CONV become outputs.
#[derive(Clone, Copy, PartialEq)]
enum Width {
    /// int8: int32 accumulators; x86 rounding for channels below the vector bound.
    Int8,
    /// 16x8 with an int64 bias or none: the reference kernel's i64 path.
    Int16,
}

/// TRANSPOSE_CONV (inputs: output shape, weights [O, KH, KW, I], input NHWC, optional bias):
/// int8 with per-channel or per-tensor weights and an int32 bias, 16x8 with an int64 bias.
pub(in crate::ops) fn transpose_conv(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, TransposeConvOptions);
    let (w, input, out) = (input_t(ctx, 1)?, input_t(ctx, 2)?, ctx.output(0)?);
    let bias = ctx.input(3);
    if w.dtype != TensorType::INT8 {
        return Err(format!("TRANSPOSE_CONV weights '{}' must be INT8", w.name()));
    }
    if out.dtype != input.dtype {
        return Err("TRANSPOSE_CONV output type differs from its input's".into());
    }
    let width = match (input.dtype, bias.map(|b| b.dtype)) {
        (TensorType::INT8, None | Some(TensorType::INT32)) => Width::Int8,
        (TensorType::INT16, None | Some(TensorType::INT64)) => {
            // An int32 bias type selects LiteRT's optimized 16x8 path (int32 accumulators).
            if o.quantized_bias_type == TensorType::INT32 {
                return Err("16x8 TRANSPOSE_CONV with int32 accumulators is not supported".into());
            }
            Width::Int16
        }
        (t, b) => {
            return Err(format!(
                "no integer TRANSPOSE_CONV for {} input with {} bias",
                crate::ir::dtype::type_name(t),
                b.map_or("no".to_string(), crate::ir::dtype::type_name)
            ))
        }
    };
    let (iq, oq) = (q_of(input)?, q_of(out)?);
    if width == Width::Int16 && (iq.zp != 0 || oq.zp != 0) {
        return Err("16x8 TRANSPOSE_CONV needs zero points 0".into());
    }
    let oc = w.shape().first().map_or(0, |&d| d.max(0) as usize);
    let scales = scales_of(w)?;
    let axis = w.quantization.as_ref().map_or(0, |q| q.quantized_dimension);
    if scales.len() != 1 && (scales.len() != oc || axis != 0) {
        return Err(format!(
            "weights '{}' have {} scales on axis {axis} for {oc} output channels (axis 0)",
            w.name(),
            scales.len()
        ));
    }
    // `PopulateConvolutionQuantizationParams`: in double, a per-tensor scale broadcast.
    let mults: Vec<(i32, i32)> = (0..oc)
        .map(|c| {
            let ws = scales[c.min(scales.len() - 1)];
            fp::quantize_multiplier(f64::from(iq.scale) * f64::from(ws) / f64::from(oq.scale))
        })
        .collect();
    let (lo, hi) = act_range(o.fused_activation_function, out)?;
    let same = match o.padding {
        Padding::SAME => true,
        Padding::VALID => false,
        p => return Err(format!("unknown padding {}", p.0)),
    };
    let (stride, dtype, zi, zo) = ((o.stride_h, o.stride_w), out.dtype, iq.zp, oq.zp);
    let vector = oc / 8 * 8;
    Ok(Prepared::one(move |ins| {
        let acc = transpose_conv_acc(ins, same, stride, zi)?;
        let (shape, acc, bias) = (acc.shape, acc.acc, acc.bias);
        let oc = shape[3];
        if mults.len() != oc {
            return Err(format!("weights have {oc} output channels, prepared for {}", mults.len()));
        }
        let vals = acc.iter().enumerate().map(|(i, &a)| {
            let c = i % oc;
            let a = a.wrapping_add(bias.as_ref().map_or(0, |b| b[c]));
            let (m, s) = mults[c];
            let r = match width {
                Width::Int8 => {
                    // int32 accumulators, wrapping as the kernel's do.
                    let a = a as i32;
                    let r = if c < vector { fp::mbqm_x86(a, m, s) } else { fp::mbqm(a, m, s) };
                    r.wrapping_add(zo)
                }
                Width::Int16 => fp::mbqm_i64(a, m, s),
            };
            r.clamp(lo, hi)
        });
        wrap(dtype, shape.to_vec(), vals)
    }))
}

/// A TRANSPOSE_CONV's accumulators (without bias), NHWC, and its bias per channel.
struct TransposeAcc {
    shape: [usize; 4],
    acc: Vec<i64>,
    bias: Option<Vec<i64>>,
}

/// Scatters every input pixel through the filter into the output (integer sums are exact, so
/// the order of LiteRT's GEMM and col2im does not matter).
fn transpose_conv_acc(ins: &[Option<&Value>], same: bool, stride: (i32, i32), zi: i32) -> KResult<TransposeAcc> {
    let os = super::super::util::sizes(inp(ins, 0)?, "output shape")?;
    let wv = inp(ins, 1)?;
    let x = inp(ins, 2)?;
    let Values::I8(w) = &wv.values else {
        return Err(format!("TRANSPOSE_CONV weights must be INT8, got {}", wv.values.type_name()));
    };
    let [n, h, wd, c] = dims4(&x.shape, "input")?;
    let [oc, kh, kw, ic] = dims4(&wv.shape, "weights")?;
    let [on, oh, ow, occ] = dims4(&os, "output shape")?;
    if ic != c || on != n || occ != oc || oh == 0 || ow == 0 {
        return Err(format!("output shape {os:?} does not fit input {:?} and weights {:?}", x.shape, wv.shape));
    }
    super::super::checked_numel(&os)?;
    let (ih, pad_h) = out_and_pad(same, oh, kh, stride.0, 1)?;
    let (iw, pad_w) = out_and_pad(same, ow, kw, stride.1, 1)?;
    if (ih, iw) != (h, wd) {
        return Err(format!("output shape {os:?} needs an input of {ih}x{iw}, got {h}x{wd}"));
    }
    let xv = ints(x)?;
    if xv.len() != n * h * wd * c || w.len() != oc * kh * kw * ic {
        return Err("TRANSPOSE_CONV operands do not fill their shapes".into());
    }
    let bias = match opt_inp(ins, 3).map(|b| &b.values) {
        None => None,
        Some(Values::I32(b)) => Some(b.iter().map(|&a| i64::from(a)).collect::<Vec<_>>()),
        Some(Values::I64(b)) => Some(b.to_vec()),
        Some(other) => return Err(format!("TRANSPOSE_CONV bias must be INT32 or INT64, got {}", other.type_name())),
    };
    if bias.as_ref().is_some_and(|b| b.len() != oc) {
        return Err(format!("bias length differs from the {oc} output channels"));
    }
    let (sh, sw) = (stride.0 as usize, stride.1 as usize);
    let mut acc = vec![0i64; n * oh * ow * oc];
    let mut px = vec![0i64; c];
    for b in 0..n {
        for iy in 0..h {
            for ix in 0..wd {
                let src = &xv[((b * h + iy) * wd + ix) * c..][..c];
                px.iter_mut().zip(src).for_each(|(p, &v)| *p = i64::from(v) - i64::from(zi));
                for ky in 0..kh {
                    let Some(oy) = (iy * sh + ky).checked_sub(pad_h).filter(|&y| y < oh) else { continue };
                    for kx in 0..kw {
                        let Some(ox) = (ix * sw + kx).checked_sub(pad_w).filter(|&x| x < ow) else { continue };
                        let dst = &mut acc[((b * oh + oy) * ow + ox) * oc..][..oc];
                        for (o, a) in dst.iter_mut().enumerate() {
                            let wrow = &w[((o * kh + ky) * kw + kx) * ic..][..ic];
                            *a += wrow.iter().zip(&px).map(|(&wv, &p)| i64::from(wv) * p).sum::<i64>();
                        }
                    }
                }
            }
        }
    }
    Ok(TransposeAcc { shape: [n, oh, ow, oc], acc, bias })
}

// ---------------------------------------------------------------- BATCH_MATMUL

/// BATCH_MATMUL int8 × int8 → int8, int16 × int16 → int16 and int16 × int8 → int16 (a constant
/// right-hand side in 16x8), with adj_x/adj_y and broadcast batch dimensions (ranks 2 to 5).
/// The multiplier is QM(double(f32(s_lhs · s_rhs)) / double(s_out)) (`GetQuantizedConvolutionMultipler`).
pub(in crate::ops) fn batch_matmul(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, BatchMatMulOptions);
    let (lhs, rhs, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    let wide = match (lhs.dtype, rhs.dtype, out.dtype) {
        (TensorType::INT8, TensorType::INT8, TensorType::INT8) => false,
        (TensorType::INT16, TensorType::INT16 | TensorType::INT8, TensorType::INT16) => true,
        (a, b, c) => {
            return Err(format!(
                "no integer BATCH_MATMUL for {} × {} → {}",
                crate::ir::dtype::type_name(a),
                crate::ir::dtype::type_name(b),
                crate::ir::dtype::type_name(c)
            ))
        }
    };
    // The kernel reads the per-tensor parameters only (a per-channel tensor has none).
    for t in [lhs, rhs, out] {
        if t.quantization.as_ref().is_some_and(|q| q.scales().len() > 1) {
            return Err(format!("BATCH_MATMUL operand '{}' is quantized per channel", t.name()));
        }
    }
    let (ql, qr, qo) = (q_of(lhs)?, q_of(rhs)?, q_of(out)?);
    if wide && (ql.zp != 0 || qr.zp != 0 || qo.zp != 0) {
        return Err("int16 BATCH_MATMUL needs zero points 0".into());
    }
    let (m, s) = fp::quantize_multiplier(f64::from(ql.scale * qr.scale) / f64::from(qo.scale));
    let (lo, hi) = type_range(out.dtype)?;
    let (adj_x, adj_y, dtype) = (o.adj_x, o.adj_y, out.dtype);
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        let g = MatMulGeom::new(&x.shape, &y.shape, adj_x, adj_y)?;
        let (xv, yv) = (ints(x)?, ints(y)?);
        if xv.len() != x.numel() || yv.len() != y.numel() {
            return Err("BATCH_MATMUL operands do not fill their shapes".into());
        }
        let mut out = Vec::with_capacity(g.batches.len() * g.m * g.n);
        for &(bx, by) in &g.batches {
            let (a, b) = (&xv[bx * g.m * g.k..][..g.m * g.k], &yv[by * g.k * g.n..][..g.k * g.n]);
            for i in 0..g.m {
                for j in 0..g.n {
                    let lhs_at = |k: usize| a[if adj_x { k * g.m + i } else { i * g.k + k }].wrapping_sub(ql.zp);
                    let rhs_at = |k: usize| b[if adj_y { j * g.k + k } else { k * g.n + j }].wrapping_sub(qr.zp);
                    let r = if wide {
                        let t: i64 = (0..g.k).map(|k| i64::from(lhs_at(k)) * i64::from(rhs_at(k))).sum();
                        fp::mbqm_i64(t, m, s)
                    } else {
                        // int32 accumulators, wrapping as the kernel's do.
                        let t = (0..g.k).fold(0i32, |t, k| t.wrapping_add(lhs_at(k).wrapping_mul(rhs_at(k))));
                        fp::mbqm(t, m, s)
                    };
                    out.push(r.wrapping_add(qo.zp).clamp(lo, hi));
                }
            }
        }
        wrap(dtype, g.shape, out.into_iter())
    }))
}

/// The shapes of one BATCH_MATMUL: rows m, depth k, columns n, the output shape, and for each
/// output matrix the matrices of the two operands it multiplies.
struct MatMulGeom {
    m: usize,
    k: usize,
    n: usize,
    shape: Vec<usize>,
    batches: Vec<(usize, usize)>,
}

impl MatMulGeom {
    fn new(xs: &[usize], ys: &[usize], adj_x: bool, adj_y: bool) -> KResult<MatMulGeom> {
        let (xr, yr) = (xs.len(), ys.len());
        if !(2..=5).contains(&xr) || !(2..=5).contains(&yr) {
            return Err(format!("BATCH_MATMUL operands must have rank 2 to 5, got {xs:?} and {ys:?}"));
        }
        let (m, k) = if adj_x { (xs[xr - 1], xs[xr - 2]) } else { (xs[xr - 2], xs[xr - 1]) };
        let (k2, n) = if adj_y { (ys[yr - 1], ys[yr - 2]) } else { (ys[yr - 2], ys[yr - 1]) };
        if k != k2 {
            return Err(format!("BATCH_MATMUL inner dimensions differ: {xs:?} and {ys:?}"));
        }
        // Batch dimensions, right-aligned; a dimension of 1 broadcasts.
        let rank = xr.max(yr) - 2;
        let pad = |s: &[usize]| -> Vec<usize> {
            let b = &s[..s.len() - 2];
            std::iter::repeat(1).take(rank - b.len()).chain(b.iter().copied()).collect()
        };
        let (bx, by) = (pad(xs), pad(ys));
        let mut shape = Vec::with_capacity(rank + 2);
        for (&a, &b) in bx.iter().zip(&by) {
            if a != b && a != 1 && b != 1 {
                return Err(format!("BATCH_MATMUL batch dimensions do not broadcast: {xs:?} and {ys:?}"));
            }
            shape.push(if a == 1 { b } else { a });
        }
        let total = super::super::checked_numel(&shape)?;
        super::super::checked_numel(&[total, m, n])?;
        let mut batches = Vec::with_capacity(total);
        let mut idx = vec![0usize; rank];
        for _ in 0..total {
            let (mut ox, mut oy) = (0, 0);
            for d in 0..rank {
                ox = ox * bx[d] + if bx[d] == 1 { 0 } else { idx[d] };
                oy = oy * by[d] + if by[d] == 1 { 0 } else { idx[d] };
            }
            batches.push((ox, oy));
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        shape.extend([m, n]);
        Ok(MatMulGeom { m, k, n, shape, batches })
    }
}

#[cfg(test)]
mod tests {
    use super::MatMulGeom;

    #[test]
    fn batch_dimensions_broadcast_from_the_right() {
        // [2,1] × [3] batches: output [2,3]; the left operand advances on the first axis only.
        let g = MatMulGeom::new(&[2, 1, 3, 4], &[3, 4, 5], false, false).unwrap();
        assert_eq!((g.m, g.k, g.n), (3, 4, 5));
        assert_eq!(g.shape, vec![2, 3, 3, 5]);
        assert_eq!(g.batches, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        let g = MatMulGeom::new(&[4, 3], &[5, 4], true, true).unwrap();
        assert_eq!((g.m, g.k, g.n, g.shape.clone()), (3, 4, 5, vec![3, 5]));
        assert!(MatMulGeom::new(&[2, 3, 4], &[3, 4, 5], false, false).is_err());
        assert!(MatMulGeom::new(&[3, 4], &[5, 4], false, false).is_err());
        assert!(MatMulGeom::new(&[4], &[4, 5], false, false).is_err());
        assert!(MatMulGeom::new(&[1, 1, 1, 1, 2, 3], &[3, 4], false, false).is_err());
    }
}
