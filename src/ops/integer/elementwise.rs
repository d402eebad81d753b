//! Integer element-wise binary ops, comparisons and selects.

use super::super::binary::Cmp;
use super::*;

/// MAXIMUM and MINIMUM (`maximum_minimum.cc`): the larger (smaller) raw value, no rescaling;
/// both inputs carry the output's parameters (the registry's `shared` rule).
pub(in crate::ops) fn max_min(ctx: &PrepareCtx, max: bool) -> KResult<Prepared> {
    let out = ctx.output(0)?;
    let dtype = out.dtype;
    type_range(dtype)?;
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        let (xv, yv) = (ints(x)?, ints(y)?);
        let (shape, pairs) = broadcast2(&x.shape, &y.shape)?;
        let pick = |a: i32, b: i32| if max { a.max(b) } else { a.min(b) };
        wrap(dtype, shape, pairs.iter().map(|&(i, j)| pick(xv[i], yv[j])))
    }))
}

/// An input's offset and multiplier as `comparisons.cc` scales it: its own scale as a
/// multiplier smaller than one (a scale of 1 or more has no such multiplier there).
fn input_scaling(t: &Tensor) -> KResult<(i32, i32, i32)> {
    let q = q_of(t)?;
    let (m, s) = fp::quantize_multiplier(f64::from(q.scale));
    if s > 0 {
        return Err(format!("tensor '{}': scale {} is not below 1", t.name(), q.scale));
    }
    Ok((q.zp, m, s))
}

/// LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL on int8/int16
/// (`ComparisonWithScaling`): each input becomes MBQM_<1((q − z)·2^8, QM(s)) and the two
/// results are compared, so inputs with different parameters compare by real value.
pub(in crate::ops) fn compare(ctx: &PrepareCtx, op: Cmp) -> KResult<Prepared> {
    let (a, b) = (input_t(ctx, 0)?, input_t(ctx, 1)?);
    if a.dtype != b.dtype {
        return Err("comparison inputs must have the same type".into());
    }
    let (sa, sb) = (input_scaling(a)?, input_scaling(b)?);
    let scaled = |v: &Value, (z, m, s): (i32, i32, i32)| -> KResult<Value> {
        let q = ints(v)?.iter().map(|&q| fp::mbqm_smaller_than_one((q - z) << 8, m, s)).collect();
        Ok(Value::new(v.shape.clone(), Values::I32(q)))
    };
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        super::super::binary::compare(&scaled(x, sa)?, &scaled(y, sb)?, op)
    }))
}

/// SQUARED_DIFFERENCE int8 (`squared_difference.cc`): both inputs shifted left 7 and scaled
/// by s/(2·max s), their difference squared and scaled by (2·max s)²/(2^14·so).
pub(in crate::ops) fn squared_difference(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (a, b, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    if out.dtype != TensorType::INT8 || a.dtype != TensorType::INT8 || b.dtype != TensorType::INT8 {
        return Err("LiteRT's integer SQUARED_DIFFERENCE is int8 only".into());
    }
    let (qa, qb, qo) = (q_of(a)?, q_of(b)?, q_of(out)?);
    // 2·max in f32 (exact), the ratios in double.
    let twice_max = f64::from(2.0 * qa.scale.max(qb.scale));
    let below_one = |r: f64| {
        let (m, s) = fp::quantize_multiplier(r);
        if r >= 1.0 || s > 0 {
            return Err(format!("SQUARED_DIFFERENCE multiplier {r} is not below 1"));
        }
        Ok((m, s))
    };
    let (m1, s1) = below_one(f64::from(qa.scale) / twice_max)?;
    let (m2, s2) = below_one(f64::from(qb.scale) / twice_max)?;
    let (mo, so) = below_one(twice_max * twice_max / f64::from((1 << 14) as f32 * qo.scale))?;
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        let (xv, yv) = (ints(x)?, ints(y)?);
        let (shape, pairs) = broadcast2(&x.shape, &y.shape)?;
        let out = pairs.iter().map(|&(i, j)| {
            let p = fp::mbqm_smaller_than_one((xv[i] - qa.zp) << 7, m1, s1);
            let q = fp::mbqm_smaller_than_one((yv[j] - qb.zp) << 7, m2, s2);
            let d = p - q;
            (fp::mbqm_smaller_than_one(d.wrapping_mul(d), mo, so) + qo.zp).clamp(-128, 127)
        });
        wrap(TensorType::INT8, shape, out)
    }))
}

/// DIV int8 (`reference_ops::DivElementwise`, which the built-in kernel runs): the divisor's
/// reciprocal in Q0.31 (gemmlowp's Newton-Raphson), the dividend shifted up by its headroom,
/// one high multiply, then MBQM_<1 by QM(f32(s1/(s2·so))) with the shifts combined.
pub(in crate::ops) fn div(ctx: &PrepareCtx) -> KResult<Prepared> {
    let (a, b, out) = (input_t(ctx, 0)?, input_t(ctx, 1)?, ctx.output(0)?);
    if out.dtype != TensorType::INT8 {
        return Err("only int8 DIV has an integer kernel here".into());
    }
    let (qa, qb, qo) = (q_of(a)?, q_of(b)?, q_of(out)?);
    let act = match ctx.options() {
        O::DivOptions(o) => o.fused_activation_function,
        _ => Act::NONE,
    };
    let (lo, hi) = act_range(act, out)?;
    let (m, s) = fp::quantize_multiplier(f64::from(qa.scale / (qb.scale * qo.scale)));
    Ok(Prepared::one(move |ins| {
        let (x, y) = (inp(ins, 0)?, inp(ins, 1)?);
        let (xv, yv) = (ints(x)?, ints(y)?);
        if yv.contains(&qb.zp) {
            return Err("DIV: division by zero".into());
        }
        let (shape, pairs) = broadcast2(&x.shape, &y.shape)?;
        let mut out = Vec::with_capacity(pairs.len());
        for &(i, j) in &pairs {
            let (mut n, mut d) = (xv[i] - qa.zp, yv[j] - qb.zp);
            if d < 0 {
                n = -n;
                d = -d;
            }
            let (inv, recip_shift) = fp::reciprocal(d);
            let headroom = fp::leading_sign_bits(n);
            let quotient = fp::srdhm(n.wrapping_shl(headroom as u32), inv);
            let right = recip_shift + headroom - s;
            if !(0..=63).contains(&right) {
                return Err(format!("DIV: quotient shift {right} out of range"));
            }
            out.push((qo.zp + fp::rdbpot_wide(fp::srdhm(quotient, m), right as u32)).clamp(lo, hi));
        }
        wrap(TensorType::INT8, shape, out.into_iter())
    }))
}
