//! Integer pointwise kernels: HARD_SWISH, LEAKY_RELU, PRELU, SQRT, RSQRT and ABS, as LiteRT's
//! built-in x86 kernels compute them (`activations.cc`, `elementwise.cc`). Where a real
//! multiplier is formed from scales, it is formed in f32 as the kernels do, then widened.

use super::{broadcast2, input_t, ints, q_of, type_range, wrap, Q};
use crate::ir::Tensor;
use crate::kernels::fixedpoint as fp;
use crate::ops::util::inp;
use crate::ops::{opts, KResult, PrepareCtx, Prepared};
use crate::schema::TensorType;

/// The input and output tensors of a one-input op: of one type, one of `types`.
fn same_type<'a>(ctx: &PrepareCtx<'a>, op: &str, types: &[TensorType]) -> KResult<(&'a Tensor, &'a Tensor)> {
    let (input, out) = (input_t(ctx, 0)?, ctx.output(0)?);
    if input.dtype != out.dtype || !types.contains(&input.dtype) {
        return Err(format!(
            "{op}: no integer kernel from {} to {}",
            crate::ir::dtype::type_name(input.dtype),
            crate::ir::dtype::type_name(out.dtype)
        ));
    }
    Ok((input, out))
}

/// int16 kernels take symmetric tensors only (LiteRT's prepare checks the zero points).
fn zero_points_zero(op: &str, qs: &[Q]) -> KResult<()> {
    if qs.iter().any(|q| q.zp != 0) {
        return Err(format!("{op}: int16 tensors need zero point 0"));
    }
    Ok(())
}

// ---------------------------------------------------------------- HARD_SWISH

/// HARD_SWISH int8 (`reference_ops::HardSwish`: the x86 build has no vector path). All in
/// 16-bit fixed point: the input on a 2^7 finer scale, a "reluish" factor in [0, 1] from the
/// input rescaled so that 3 is 2^15, and their product by a truncating doubling high multiply.
pub(in crate::ops) fn hard_swish(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = same_type(ctx, "HARD_SWISH", &[TensorType::INT8])?;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let hires = (1.0f32 / 128.0) * qi.scale;
    let (m_out, e_out) = fp::quantize_multiplier(f64::from(hires / qo.scale));
    if e_out > 0 {
        return Err(format!("HARD_SWISH: output multiplier exponent {e_out} > 0 (LiteRT refuses it)"));
    }
    let (m_rel, e_rel) = fp::quantize_multiplier(f64::from(hires / (3.0f32 / 32768.0)));
    let (m_out, m_rel) = (fp::downscale_multiplier(m_out), fp::downscale_multiplier(m_rel));
    // The zero points are held as i16 in LiteRT's parameters.
    let (zi, zo) = (qi.zp as i16, qo.zp as i16);
    let one = move |q: i32| -> i32 {
        let v = (q as i16).wrapping_sub(zi).wrapping_mul(1 << 7);
        let preshift = fp::srdhm16(v, m_out);
        let mut r = v;
        if e_rel > 0 {
            r = fp::saturating_shl16(r, e_rel - 1);
        }
        r = fp::srdhm16(r, m_rel);
        if e_rel > 0 {
            r = fp::saturating_shl16(r, 1);
        }
        if e_rel < 0 {
            r = fp::rdbpot16(r, -e_rel);
        }
        let r = ((i32::from(r) + (1 << 15)) >> 1) as i16;
        let p = fp::sdhm16(r, preshift);
        i32::from(fp::rdbpot16(p, -e_out).wrapping_add(zo)).clamp(-128, 127)
    };
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        wrap(TensorType::INT8, x.shape.clone(), ints(x)?.iter().map(|&q| one(q)))
    }))
}

// ---------------------------------------------------------------- LEAKY_RELU, PRELU

/// LEAKY_RELU int8 and int16: v = q − zi, then zo + MBQM(v) by in_s/out_s for v ≥ 0 and by
/// in_s·α/out_s below. int8 runs the reference kernel, which negates the result of a positive
/// multiplier for a negative α; int16 runs the optimized one, which applies the signed
/// multiplier. Its AVX2 lanes are not compiled into LiteRT's x86 wheel (2.3.0 matched the
/// scalar loop on every int16 input), so every element takes the scalar loop.
pub(in crate::ops) fn leaky_relu(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = same_type(ctx, "LEAKY_RELU", &[TensorType::INT8, TensorType::INT16])?;
    let alpha = opts!(ctx, LeakyReluOptions).alpha;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let (ma, sa) = fp::quantize_multiplier(f64::from(qi.scale * alpha / qo.scale));
    let (mi, si) = fp::quantize_multiplier(f64::from(qi.scale / qo.scale));
    let dtype = out.dtype;
    let (lo, hi) = type_range(dtype)?;
    if dtype == TensorType::INT16 {
        zero_points_zero("LEAKY_RELU", &[qi, qo])?;
    }
    let negate = dtype == TensorType::INT8 && ma < 0;
    let ma = if negate { ma.wrapping_neg() } else { ma };
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = ints(x)?;
        let out = xv.iter().map(|&q| {
            let v = q - qi.zp;
            let r = if v >= 0 {
                fp::mbqm(v, mi, si)
            } else if negate {
                fp::mbqm(v, ma, sa).wrapping_neg()
            } else {
                fp::mbqm(v, ma, sa)
            };
            qo.zp.wrapping_add(r).clamp(lo, hi)
        });
        wrap(dtype, x.shape.clone(), out)
    }))
}

/// The scale and zero point LiteRT's kernels read from a tensor's legacy per-tensor fields:
/// zeros when it has several scales.
fn legacy_q(t: &Tensor) -> KResult<Q> {
    let n = t.quantization.as_ref().map_or(0, |q| q.scales().len());
    if n > 1 {
        return Ok(Q { scale: 0.0, zp: 0 });
    }
    q_of(t)
}

/// PRELU int8 (`reference_ops::Prelu` / `BroadcastPrelu4DSlow`): v = q − zi, then
/// zo + MBQM(v) by in_s/out_s for v ≥ 0, else MBQM(v·(a − za)) by in_s·a_s/out_s, with
/// alpha broadcast against the input.
pub(in crate::ops) fn prelu(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = same_type(ctx, "PRELU", &[TensorType::INT8])?;
    let alpha = input_t(ctx, 1)?;
    if alpha.dtype != TensorType::INT8 {
        return Err(format!("PRELU: alpha '{}' must be INT8 for an int8 input", alpha.name()));
    }
    let (qi, qa, qo) = (q_of(input)?, legacy_q(alpha)?, q_of(out)?);
    let (m1, s1) = fp::quantize_multiplier(f64::from(qi.scale / qo.scale));
    let (m2, s2) = fp::quantize_multiplier(f64::from(qi.scale * qa.scale / qo.scale));
    Ok(Prepared::one(move |ins| {
        let (x, a) = (inp(ins, 0)?, inp(ins, 1)?);
        let (xv, av) = (ints(x)?, ints(a)?);
        let (shape, pairs) = broadcast2(&x.shape, &a.shape)?;
        if shape != x.shape {
            return Err(format!("PRELU: alpha {:?} broadcasts the input {:?} to {shape:?}", a.shape, x.shape));
        }
        let out = pairs.iter().map(|&(i, j)| {
            let v = xv[i] - qi.zp;
            let r = if v >= 0 { fp::mbqm(v, m1, s1) } else { fp::mbqm(v.wrapping_mul(av[j] - qa.zp), m2, s2) };
            qo.zp.wrapping_add(r).clamp(-128, 127)
        });
        wrap(TensorType::INT8, shape, out)
    }))
}

// ---------------------------------------------------------------- SQRT, RSQRT, ABS

/// SQRT int8 (`SqrtEvalQuantized`): in f32, sqrt(s_in·(q − zi)) / s_out truncated toward
/// zero, + zo. A negative real input is an error, as in LiteRT.
pub(in crate::ops) fn sqrt(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = same_type(ctx, "SQRT", &[TensorType::INT8])?;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = ints(x)?;
        let mut out = Vec::with_capacity(xv.len());
        for &q in xv.iter() {
            let real = qi.scale * (q - qi.zp) as f32;
            if real < 0.0 || real.is_nan() {
                return Err("SQRT: is only defined for non-negative values".into());
            }
            out.push(((real.sqrt() / qo.scale) as i32).wrapping_add(qo.zp).clamp(-128, 127));
        }
        wrap(TensorType::INT8, x.shape.clone(), out.into_iter())
    }))
}

/// RSQRT int8 (fixed point: `GetInvSqrtQuantizedMultiplierExp` of q − zi, then two
/// multiplier steps by 1/(√s_in·s_out)) and int16 (a 513-entry interpolated table of
/// 1/√x built in f32). Inputs below the zero point are errors, as in LiteRT.
pub(in crate::ops) fn rsqrt(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = same_type(ctx, "RSQRT", &[TensorType::INT8, TensorType::INT16])?;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let check = move |xv: &[i32]| {
        if xv.iter().any(|&q| q < qi.zp) {
            return Err("RSQRT: is only defined for positive values".to_string());
        }
        Ok(())
    };
    if input.dtype == TensorType::INT16 {
        zero_points_zero("RSQRT", &[qi, qo])?;
        let s_out = qo.scale;
        let table = lut16(qi, qo, move |v| if v <= 0.0 { 32767.0 * s_out } else { 1.0 / v.sqrt() });
        return Ok(Prepared::one(move |ins| {
            let x = inp(ins, 0)?;
            let xv = ints(x)?;
            check(&xv)?;
            wrap(TensorType::INT16, x.shape.clone(), xv.iter().map(|&q| i32::from(lut16_lookup(&table, q as i16))))
        }));
    }
    // 1 / (f32 √s_in · s_out), the division in double.
    let (m, s) = fp::quantize_multiplier(1.0 / f64::from(qi.scale.sqrt() * qo.scale));
    const SHIFT: i32 = 20;
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = ints(x)?;
        check(&xv)?;
        let out = xv.iter().map(|&q| {
            let v = q - qi.zp;
            if v == 0 {
                // LiteRT takes any value near 0 for the largest output.
                return 127;
            }
            let (mi, si) = fp::inv_sqrt_multiplier_exp(v, -1);
            let data = fp::mbqm(1, mi, si + SHIFT);
            fp::mbqm(data, m, s - SHIFT).wrapping_add(qo.zp).clamp(-128, 127)
        });
        wrap(TensorType::INT8, x.shape.clone(), out)
    }))
}

/// ABS int8 and int16 (`AbsEvalQuantized`): |q − zi|, requantized by in_s/out_s when the
/// scales differ, + zo.
pub(in crate::ops) fn abs(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (input, out) = same_type(ctx, "ABS", &[TensorType::INT8, TensorType::INT16])?;
    let (qi, qo) = (q_of(input)?, q_of(out)?);
    let dtype = out.dtype;
    if dtype == TensorType::INT16 {
        zero_points_zero("ABS", &[qi, qo])?;
    }
    let (lo, hi) = type_range(dtype)?;
    let rescale = qi.scale != qo.scale;
    let (m, s) = fp::quantize_multiplier(f64::from(qi.scale / qo.scale));
    Ok(Prepared::one(move |ins| {
        let x = inp(ins, 0)?;
        let xv = ints(x)?;
        let out = xv.iter().map(|&q| {
            let v = (q - qi.zp).abs();
            let r = if rescale { fp::mbqm(v, m, s) } else { v };
            r.wrapping_add(qo.zp).clamp(lo, hi)
        });
        wrap(dtype, x.shape.clone(), out)
    }))
}

// ---------------------------------------------------------------- int16 tables

/// `LUTPopulate<int16_t>` (float): 512 samples of `f` over the input's range plus the last
/// point, each biased by half the error of linear interpolation at the midpoint.
fn lut16(qi: Q, qo: Q, f: impl Fn(f32) -> f32) -> Vec<i16> {
    let in_min = qi.scale * (-32768 - qi.zp) as f32;
    let in_max = qi.scale * (32767 - qi.zp) as f32;
    let out_min = qo.scale * (-32768 - qo.zp) as f32;
    let out_max = qo.scale * (32767 - qo.zp) as f32;
    const STEPS: usize = 512;
    let step = (in_max - in_min) / STEPS as f32;
    let half = step / 2.0;
    let inv = 65536.0f32 / (out_max - out_min);
    let to_i16 = |v: f32| v.clamp(-32768.0, 32767.0) as i16;
    let mut lut = Vec::with_capacity(STEPS + 1);
    for i in 0..STEPS {
        let at = in_min + i as f32 * step;
        let (val, mid, next) = (f(at), f(at + half), f(in_min + (i + 1) as f32 * step));
        let sample = (val * inv).round();
        let interp = ((next * inv + (val * inv).round()) / 2.0).round();
        let bias = ((interp - (mid * inv).round()) / 2.0).round();
        lut.push(to_i16(sample - bias));
    }
    lut.push(to_i16((f(in_max) * inv).round()));
    lut
}

/// `LUTLookup` for int16: the top 9 bits index, the low 7 interpolate (slope held in i16).
fn lut16_lookup(lut: &[i16], q: i16) -> i16 {
    let index = (256 + i32::from(q >> 7)) as usize;
    let offset = i32::from(q & 0x7f);
    let base = lut[index];
    let slope = i32::from(lut[index + 1].wrapping_sub(base));
    let delta = (slope * offset + 64) >> 7;
    (i32::from(base) + delta) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut16_interpolates_between_entries() {
        let q = Q { scale: 1.0 / 256.0, zp: 0 };
        let lut = lut16(q, q, |v| v);
        assert_eq!(lut.len(), 513);
        // The identity within 2: LiteRT scales by 65536 over the output range (65535 LSBs) and
        // samples half an LSB off the integers.
        for x in (-32768..=32767).step_by(97) {
            let want = f64::from(x) * 65536.0 / 65535.0;
            let got = f64::from(lut16_lookup(&lut, x as i16));
            assert!((got - want).abs() <= 2.0, "{x}: {got} vs {want}");
        }
    }

    #[test]
    fn sixteen_bit_primitives_follow_gemmlowp() {
        // Truncating, not rounding: −1.5 → −1.
        assert_eq!(fp::sdhm16(-3, 1 << 14), -1);
        assert_eq!(fp::sdhm16(i16::MIN, i16::MIN), i16::MAX);
        assert_eq!(fp::rdbpot16(5, 1), 3);
        assert_eq!(fp::rdbpot16(-5, 1), -3);
        // From 16 on the i16 mask is all ones: a non-negative value gives 1.
        assert_eq!(fp::rdbpot16(0, 16), 1);
        assert_eq!(fp::rdbpot16(-7, 20), -1);
        assert_eq!(fp::saturating_shl16(3, 2), 12);
        assert_eq!(fp::saturating_shl16(300, 7), i16::MAX);
        assert_eq!(fp::saturating_shl16(-300, 7), i16::MIN);
        assert_eq!(fp::saturating_shl(-(1 << 25) + 1, 6), (-(1 << 25) + 1) << 6);
        assert_eq!(fp::saturating_shl(-(1 << 25), 6), i32::MIN);
        assert_eq!(fp::saturating_shl(1 << 25, 6), i32::MAX);
    }

    #[test]
    fn inverse_square_root_multiplier() {
        assert_eq!(fp::inv_sqrt_multiplier_exp(1, -1), (i32::MAX, 0));
        // RSQRT's first step: 2^20/√v.
        for v in [2, 4, 100, 255, 1 << 20, i32::MAX] {
            let (m, s) = fp::inv_sqrt_multiplier_exp(v, -1);
            let got = f64::from(fp::mbqm(1 << 10, m, s + 10));
            let want = f64::from(1 << 20) / f64::from(v).sqrt();
            assert!((got - want).abs() <= 2.0, "{v}: {got} vs {want}");
        }
    }
}
