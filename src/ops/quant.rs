//! The ops that change a tensor's representation: DEQUANTIZE, DENSIFY and QUANTIZE.

use super::util::inp;
use super::{KResult, OpDef, OpSignature, Prepared};
use crate::ir::{codec, Tensor, Value};
use crate::schema::{BuiltinOperator as B, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::DEQUANTIZE)
        .kernel(|ctx| {
            let qp = ctx.input(0).and_then(|t| t.quantization.clone());
            Ok(Prepared::one(move |ins| {
                let v = inp(ins, 0)?;
                let real = codec::dequantize_values(v, qp.as_ref()).map_err(|e| e.to_string())?;
                Ok(Value::f32(v.shape.clone(), real))
            }))
        })
        .fold(dequantize_constant)
        .version(dequantize_version, &[1, 2, 3, 5]));
    // A DENSIFY of a computed tensor: the value is already dense.
    add(OpDef::builtin(B::DENSIFY).kernel(|_| Ok(Prepared::one(|ins| Ok(inp(ins, 0)?.clone())))).fold(|_, v| Ok(v)));
    // No float kernel: a float model has no QUANTIZE, and a quantized one is not calibrated.
    add(OpDef::builtin(B::QUANTIZE).version(quantize_version, &[1, 2]));
}

/// The value of a DEQUANTIZE of constant `t`, decoded as `v` (FLOAT16 is already f32).
fn dequantize_constant(t: &Tensor, v: Value) -> KResult<Value> {
    let real = codec::dequantize_values(&v, t.quantization.as_ref()).map_err(|e| e.to_string())?;
    Ok(Value::f32(v.shape, real))
}

/// FLOAT16 and INT16 inputs 3, per-channel int8 5, int8 2.
fn dequantize_version(s: &OpSignature) -> i32 {
    match s.input(0) {
        Some(t) if matches!(t.dtype, TensorType::FLOAT16 | TensorType::INT16) => 3,
        Some(t) if matches!(t.dtype, TensorType::INT8 | TensorType::UINT8) => {
            if t.per_channel {
                5
            } else {
                2
            }
        }
        _ => 1,
    }
}

/// An int16 output 2, else 1.
fn quantize_version(s: &OpSignature) -> i32 {
    if s.output_type(0) == TensorType::INT16 {
        2
    } else {
        1
    }
}
