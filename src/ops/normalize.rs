//! Normalizations over the last dimension: SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION and
//! LOCAL_RESPONSE_NORMALIZATION.

use super::util::{activate, inp, integer_2};
use super::{opts, IntegerRule, KResult, OpDef, Prepared};
use crate::ir::{Buf, Value};
use crate::schema::{ActivationFunctionType, BuiltinOperator as B};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::SOFTMAX)
        .kernel(|ctx| {
            let beta = opts!(ctx, SoftmaxOptions).beta;
            Ok(Prepared::one(move |ins| softmax(inp(ins, 0)?, beta)))
        })
        .int_kernel(super::integer::softmax_any)
        .integer(IntegerRule::fixed((1.0 / 256.0, -128), Some((1.0 / 32768.0, 0))))
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::LOG_SOFTMAX)
        .kernel(|_| Ok(Prepared::one(|ins| log_softmax(inp(ins, 0)?))))
        .int_kernel(super::integer::log_softmax)
        .integer(IntegerRule::fixed((16.0 / 256.0, 127), None))
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::L2_NORMALIZATION)
        .kernel(|ctx| {
            let act = opts!(ctx, L2NormOptions).fused_activation_function;
            Ok(Prepared::one(move |ins| l2_normalize(inp(ins, 0)?, act)))
        })
        .int_kernel(super::integer::l2_normalize)
        .integer(IntegerRule::fixed((1.0 / 128.0, 0), None))
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::LOCAL_RESPONSE_NORMALIZATION).kernel(|ctx| {
        let o = opts!(ctx, LocalResponseNormalizationOptions);
        Ok(Prepared::one(move |ins| lrn(inp(ins, 0)?, o.radius, o.bias, o.alpha, o.beta)))
    }));
}

/// LOCAL_RESPONSE_NORMALIZATION: x · (bias + alpha · Σ x²)^−beta, the sum over the channels
/// within `radius` of each one.
fn lrn(v: &Value, radius: i32, bias: f32, alpha: f32, beta: f32) -> KResult<Value> {
    let x = v.as_f32().ok_or("LOCAL_RESPONSE_NORMALIZATION needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let r = usize::try_from(radius).map_err(|_| format!("negative radius {radius}"))?;
    let mut out = Buf::filled(0.0f32, x.len());
    for row in 0..n {
        let src = &x[row * d..(row + 1) * d];
        for c in 0..d {
            let (lo, hi) = (c.saturating_sub(r), (c + r + 1).min(d));
            let sum: f32 = src[lo..hi].iter().map(|&a| a * a).sum();
            out[row * d + c] = src[c] * (bias + alpha * sum).powf(-beta);
        }
    }
    Ok(Value::f32(v.shape.clone(), out))
}

/// Rows along the last dimension: (count, length).
fn rows(v: &Value) -> KResult<(usize, usize)> {
    let d = *v.shape.last().ok_or("needs rank >= 1")?;
    if d == 0 {
        return Ok((0, 0));
    }
    Ok((v.numel() / d, d))
}

/// SOFTMAX over the last dimension, with `beta`.
pub(crate) fn softmax(v: &Value, beta: f32) -> KResult<Value> {
    let x = v.as_f32().ok_or("SOFTMAX needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let mut out = Buf::filled(0f32, x.len());
    for r in 0..n {
        let src = &x[r * d..(r + 1) * d];
        let dst = &mut out[r * d..(r + 1) * d];
        let m = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for (o, &s) in dst.iter_mut().zip(src) {
            *o = ((s - m) * beta).exp();
            sum += *o;
        }
        let inv = 1.0 / sum;
        dst.iter_mut().for_each(|o| *o *= inv);
    }
    Ok(Value::f32(v.shape.clone(), out))
}

/// LOG_SOFTMAX over the last dimension.
pub(crate) fn log_softmax(v: &Value) -> KResult<Value> {
    let x = v.as_f32().ok_or("LOG_SOFTMAX needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let mut out = Buf::filled(0f32, x.len());
    for r in 0..n {
        let src = &x[r * d..(r + 1) * d];
        let m = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = src.iter().map(|&s| (s - m).exp()).sum();
        let l = sum.ln();
        for (o, &s) in out[r * d..(r + 1) * d].iter_mut().zip(src) {
            *o = s - m - l;
        }
    }
    Ok(Value::f32(v.shape.clone(), out))
}

/// L2_NORMALIZATION over the last dimension (epsilon 1e-6 on the norm, as TFLite).
pub(crate) fn l2_normalize(v: &Value, act: ActivationFunctionType) -> KResult<Value> {
    let x = v.as_f32().ok_or("L2_NORMALIZATION needs FLOAT32")?;
    let (n, d) = rows(v)?;
    let mut out = Buf::filled(0f32, x.len());
    for r in 0..n {
        let src = &x[r * d..(r + 1) * d];
        let sq: f32 = src.iter().map(|&s| s * s).sum();
        let norm = sq.sqrt().max(1e-6);
        for (o, &s) in out[r * d..(r + 1) * d].iter_mut().zip(src) {
            *o = s / norm;
        }
    }
    activate(&mut out, act)?;
    Ok(Value::f32(v.shape.clone(), out))
}
