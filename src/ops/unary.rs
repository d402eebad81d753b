//! Elementwise unary ops: activations (RELU family, LEAKY_RELU, PRELU, LOGISTIC, TANH,
//! HARD_SWISH, GELU, ELU) and maths (SQRT, RSQRT, ABS, NEG, EXP, LOG, SQUARE, SIN, COS, FLOOR,
//! CEIL, ROUND, SIGN).

use super::binary::binary;
use super::integer::pointwise;
use super::util::{inp, integer_2};
use super::{opts, IntegerRule, KResult, OpDef, Prepared};
use crate::ir::{Buf, Value, Values};
use crate::schema::BuiltinOperator as B;

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    let un = |op: B, u: Unary| OpDef::builtin(op).kernel(move |_| Ok(Prepared::one(move |ins| unary(inp(ins, 0)?, u))));
    let int2 = |d: OpDef, int16: bool| d.integer(IntegerRule::calibrated(int16)).version(integer_2, &[1, 2]);
    add(int2(un(B::RELU, Unary::Relu), true).int_kernel(|ctx| super::integer::relu(ctx, 0.0, None)));
    add(int2(un(B::RELU6, Unary::Relu6), true).int_kernel(|ctx| super::integer::relu(ctx, 0.0, Some(6.0))));
    // Version 1 in every mode: LiteRT registers no RELU_N1_TO_1 v2 (TF 2.21 writes v2 for
    // int8, which LiteRT then refuses), and its v1 kernel runs int8.
    add(un(B::RELU_N1_TO_1, Unary::ReluN1To1)
        .int_kernel(|ctx| super::integer::relu(ctx, -1.0, Some(1.0)))
        .integer(IntegerRule::calibrated(false)));
    add(un(B::RELU_0_TO_1, Unary::Relu0To1));
    add(OpDef::builtin(B::LEAKY_RELU)
        .kernel(|ctx| {
            let alpha = opts!(ctx, LeakyReluOptions).alpha;
            Ok(Prepared::one(move |ins| unary(inp(ins, 0)?, Unary::LeakyRelu(alpha))))
        })
        .int_kernel(pointwise::leaky_relu)
        .integer(IntegerRule::calibrated(true)));
    add(OpDef::builtin(B::PRELU)
        .kernel(|_| Ok(Prepared::one(|ins| prelu(inp(ins, 0)?, inp(ins, 1)?))))
        .int_kernel(pointwise::prelu)
        .integer(IntegerRule::calibrated(false)));
    add(OpDef::builtin(B::LOGISTIC)
        .kernel(|_| Ok(Prepared::one(|ins| unary(inp(ins, 0)?, Unary::Logistic))))
        .int_kernel(|ctx| super::integer::sigmoid_or_tanh(ctx, false))
        .integer(IntegerRule::fixed((1.0 / 256.0, -128), Some((1.0 / 32768.0, 0))))
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::TANH)
        .kernel(|_| Ok(Prepared::one(|ins| unary(inp(ins, 0)?, Unary::Tanh))))
        .int_kernel(|ctx| super::integer::sigmoid_or_tanh(ctx, true))
        .integer(IntegerRule::fixed((1.0 / 128.0, 0), Some((1.0 / 32768.0, 0))))
        .version(integer_2, &[1, 2]));
    add(un(B::HARD_SWISH, Unary::HardSwish)
        .int_kernel(pointwise::hard_swish)
        .integer(IntegerRule::calibrated(false))
        .float_note("LiteRT's HARD_SWISH prepares uint8 and int8 only; TF keeps it float in 16x8"));
    add(int2(
        OpDef::builtin(B::GELU).kernel(|ctx| {
            let approximate = opts!(ctx, GeluOptions).approximate;
            Ok(Prepared::one(move |ins| unary(inp(ins, 0)?, Unary::Gelu { approximate })))
        }),
        true,
    )
    .int_kernel(super::integer::gelu));
    add(un(B::ELU, Unary::Elu));
    // SQRT: TF keeps it float in 16x8, although LiteRT's kernel would take int16.
    add(int2(un(B::SQRT, Unary::Sqrt), false)
        .int_kernel(pointwise::sqrt)
        .float_note("TF's converter keeps SQRT float in 16x8"));
    add(int2(un(B::RSQRT, Unary::Rsqrt), true).int_kernel(pointwise::rsqrt));
    // Each with its own calibrated output range, as TF quantizes them.
    add(int2(un(B::ABS, Unary::Abs), true).int_kernel(pointwise::abs));
    add(int2(un(B::EXP, Unary::Exp), true).int_kernel(super::integer::exp));
    add(int2(un(B::LOG, Unary::Log), true).int_kernel(super::integer::log));
    // TF 2.21's TFLITE_BUILTINS_INT8 conversion of a layer norm keeps its NEG float (testdata/strict/encoder.tf_int8io.tflite).
    add(un(B::NEG, Unary::Neg).float_in_tf(
        "LiteRT's NEG negates the stored integers without requantizing, which is wrong for \
         asymmetric int8; TF's integer-only conversion keeps it float too",
    ));
    add(un(B::SQUARE, Unary::Square)
        .float_note("LiteRT's SQUARE takes float32 and plain integers only; TF keeps it float"));
    for (op, u) in [
        (B::SIN, Unary::Sin),
        (B::COS, Unary::Cos),
        (B::FLOOR, Unary::Floor),
        (B::CEIL, Unary::Ceil),
        (B::ROUND, Unary::Round),
        (B::SIGN, Unary::Sign),
    ] {
        add(un(op, u));
    }
}

/// The error function, to about 1e-7 absolute (Abramowitz & Stegun 7.1.26 is too coarse, so
/// this uses the complementary-error-function rational approximation of Numerical Recipes).
pub(crate) fn erf(x: f32) -> f32 {
    let x = f64::from(x);
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    let e = 1.0 - r;
    (if x >= 0.0 { e } else { -e }) as f32
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Unary {
    Relu,
    Relu6,
    ReluN1To1,
    Relu0To1,
    LeakyRelu(f32),
    Logistic,
    Tanh,
    HardSwish,
    Gelu { approximate: bool },
    Elu,
    Sqrt,
    Rsqrt,
    Abs,
    Neg,
    Exp,
    Log,
    Square,
    Sin,
    Cos,
    Floor,
    Ceil,
    Round,
    Sign,
}

fn unary_f32(op: Unary, x: f32) -> f32 {
    match op {
        Unary::Relu => x.max(0.0),
        Unary::Relu6 => x.clamp(0.0, 6.0),
        Unary::ReluN1To1 => x.clamp(-1.0, 1.0),
        Unary::Relu0To1 => x.clamp(0.0, 1.0),
        Unary::LeakyRelu(a) => {
            if x > 0.0 {
                x
            } else {
                x * a
            }
        }
        Unary::Logistic => 1.0 / (1.0 + (-x).exp()),
        Unary::Tanh => x.tanh(),
        Unary::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        Unary::Gelu { approximate: true } => {
            0.5 * x * (1.0 + ((2.0f32 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
        }
        Unary::Gelu { approximate: false } => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
        Unary::Elu => {
            if x < 0.0 {
                x.exp_m1()
            } else {
                x
            }
        }
        Unary::Sqrt => x.sqrt(),
        Unary::Rsqrt => 1.0 / x.sqrt(),
        Unary::Abs => x.abs(),
        Unary::Neg => -x,
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Square => x * x,
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        // Round half to even, as TFLite's ROUND.
        Unary::Round => {
            let r = x.round();
            if (x - x.trunc()).abs() == 0.5 {
                2.0 * (x / 2.0).round()
            } else {
                r
            }
        }
        Unary::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
    }
}

/// Unary maths and activations.
pub(crate) fn unary(v: &Value, op: Unary) -> KResult<Value> {
    match &v.values {
        Values::F32(x) => Ok(Value::f32(v.shape.clone(), x.iter().map(|&x| unary_f32(op, x)).collect::<Buf<f32>>())),
        Values::I32(x) => {
            let f: fn(i32) -> i32 = match op {
                Unary::Abs => |a| a.wrapping_abs(),
                Unary::Neg => |a| a.wrapping_neg(),
                Unary::Square => |a| a.wrapping_mul(a),
                Unary::Relu => |a| a.max(0),
                Unary::Sign => |a| a.signum(),
                _ => return Err(format!("{op:?} on INT32")),
            };
            Ok(Value::new(v.shape.clone(), Values::I32(x.iter().map(|&a| f(a)).collect())))
        }
        Values::I64(x) => {
            let f: fn(i64) -> i64 = match op {
                Unary::Abs => |a| a.wrapping_abs(),
                Unary::Neg => |a| a.wrapping_neg(),
                Unary::Square => |a| a.wrapping_mul(a),
                Unary::Sign => |a| a.signum(),
                _ => return Err(format!("{op:?} on INT64")),
            };
            Ok(Value::new(v.shape.clone(), Values::I64(x.iter().map(|&a| f(a)).collect())))
        }
        other => Err(format!("{op:?} on {}", other.type_name())),
    }
}

/// PRELU: x for x >= 0, else alpha * x, alpha broadcast against x.
pub(crate) fn prelu(x: &Value, alpha: &Value) -> KResult<Value> {
    let (Some(a), Some(al)) = (x.as_f32(), alpha.as_f32()) else {
        return Err("PRELU needs FLOAT32 inputs".into());
    };
    let (shape, r) = binary(a, &x.shape, al, &alpha.shape, |v, s| if v >= 0.0 { v } else { v * s })?;
    Ok(Value::f32(shape, r))
}
