//! Integer QUANTIZE and DEQUANTIZE, and float data quantized as LiteRT's QUANTIZE does.

use super::super::util::inp;
use super::{input_t, ints, is_int, q_of, type_range, wrap, KResult, PrepareCtx, Prepared};
use crate::ir::{Buf, Tensor, Value};
use crate::kernels::fixedpoint as fp;
use crate::schema::TensorType;

/// QUANTIZE: float → int8/int16 (`optimized_ops::AffineQuantize`: blocks of 8 rounded half
/// to even after a multiply by the f32 reciprocal, the tail half away after a division in
/// double), or a requantization of integers (`Requantize`: int8 → int8 in blocks of 16 with
/// the x86 rounding, everything else with the reference one). See [`quantize_to`]: the
/// vector part rounds as cvtps2dq does (nearest even; NaN and out of range give i32::MIN).
pub(crate) fn quantize(ctx: &PrepareCtx) -> KResult<Prepared> {
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
pub(crate) fn dequantize(ctx: &PrepareCtx) -> KResult<Prepared> {
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

/// 1.5·2^23: `(p + ROUND_MAGIC) - ROUND_MAGIC` is `p` rounded half to even for |p| < 2^22.
const ROUND_MAGIC: f32 = 12_582_912.0;
const ROUND_EXACT_BELOW: f32 = 4_194_304.0;

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
            if p.abs() < ROUND_EXACT_BELOW {
                // Adding and taking away 1.5·2^23 rounds to nearest even in the default
                // rounding mode: no libm call, and the loop vectorizes.
                ((p + ROUND_MAGIC) - ROUND_MAGIC) as i32
            } else if p.is_nan() || !(-2147483648.0..2147483648.0).contains(&p) {
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

#[cfg(test)]
mod tests {
    use super::{ROUND_EXACT_BELOW, ROUND_MAGIC};

    #[test]
    fn the_magic_rounding_is_round_half_to_even_where_it_is_used() {
        let mut x = 0x1234_5678u32;
        let mut values: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.25).collect();
        values.extend([4_194_303.5, -4_194_303.5, 4_194_302.5, 1e-30, -0.0, 0.49999997, -0.49999997]);
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            values.push((x as f32 / u32::MAX as f32 - 0.5) * 2.0 * ROUND_EXACT_BELOW);
        }
        for p in values.into_iter().filter(|p| p.abs() < ROUND_EXACT_BELOW) {
            assert_eq!(((p + ROUND_MAGIC) - ROUND_MAGIC) as i32, p.round_ties_even() as i32, "{p}");
        }
    }
}
