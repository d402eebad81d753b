//! The ops that change a tensor's representation: DEQUANTIZE, DENSIFY and QUANTIZE; and
//! FAKE_QUANT, which rounds floats to a quantization grid.

use super::util::inp;
use super::{KResult, OpDef, OpSignature, Prepared};
use crate::ir::{codec, Tensor, Value, Values};
use crate::schema::{BuiltinOperator as B, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::DEQUANTIZE)
        .kernel(prepare_dequantize)
        // Per-channel computed tensors keep the float kernel's rule (tflq never writes them).
        .int_kernel(|ctx| {
            let per_channel = ctx.input(0).and_then(|t| t.quantization.as_ref()).is_some_and(|q| q.scales().len() > 1);
            if per_channel {
                prepare_dequantize(ctx)
            } else {
                super::integer::dequantize(ctx)
            }
        })
        .fold(dequantize_constant)
        .version(dequantize_version, &[1, 2, 3, 5]));
    // A DENSIFY of a computed tensor: the value is already dense.
    add(OpDef::builtin(B::DENSIFY)
        .kernel(|_| Ok(Prepared::one(|ins| Ok(inp(ins, 0)?.clone()))))
        .int_same()
        .fold(|_, v| Ok(v)));
    add(OpDef::builtin(B::FAKE_QUANT).kernel(|ctx| {
        let o = super::opts!(ctx, FakeQuantOptions);
        if o.narrow_range {
            return Err("FAKE_QUANT with narrow_range is not supported (the runtime refuses it too)".into());
        }
        if !((1..=16).contains(&o.num_bits) && o.min <= 0.0 && o.max >= 0.0 && o.min < o.max) {
            return Err(format!(
                "FAKE_QUANT needs 1-16 bits and min <= 0 <= max, min < max; got {} bits, [{}, {}]",
                o.num_bits, o.min, o.max
            ));
        }
        let grid = FakeQuant::nudged(o.min, o.max, (1 << o.num_bits) - 1);
        Ok(Prepared::one(move |ins| {
            let v = inp(ins, 0)?;
            let x = v.as_f32().ok_or("FAKE_QUANT needs FLOAT32")?;
            Ok(Value::f32(v.shape.clone(), x.iter().map(|&a| grid.apply(a)).collect::<crate::ir::Buf<f32>>()))
        }))
    }));
    // Float models have QUANTIZE where TF converted a fake-quant node (QUANTIZE → DEQUANTIZE).
    add(OpDef::builtin(B::QUANTIZE)
        .kernel(prepare_quantize)
        // Per-channel outputs (which tflq never writes for activations) keep the float kernel's rule.
        .int_kernel(|ctx| {
            let per_channel = ctx.output(0)?.quantization.as_ref().is_some_and(|q| q.scales().len() > 1);
            if per_channel {
                prepare_quantize(ctx)
            } else {
                super::integer::quantize(ctx)
            }
        })
        .version(quantize_version, &[1, 2]));
}

fn prepare_dequantize(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    let qp = ctx.input(0).and_then(|t| t.quantization.clone());
    Ok(Prepared::one(move |ins| {
        let v = inp(ins, 0)?;
        let real = codec::dequantize_values(v, qp.as_ref()).map_err(|e| e.to_string())?;
        Ok(Value::f32(v.shape.clone(), real))
    }))
}

fn prepare_quantize(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    let out = ctx.output(0)?;
    let qp = out.quantization.clone().ok_or("QUANTIZE output has no quantization parameters")?;
    let (dtype, shape_rank) = (out.dtype, out.shape().len());
    let (scales, zps) = (qp.scales().to_vec(), qp.zero_points().to_vec());
    if scales.is_empty() || scales.len() != zps.len() || scales.iter().any(|&s| !(s > 0.0 && s.is_finite())) {
        return Err(format!("QUANTIZE output has bad parameters: scales {scales:?}, zero points {zps:?}"));
    }
    let axis = usize::try_from(qp.quantized_dimension).map_err(|_| "bad quantized dimension")?;
    if scales.len() > 1 && axis >= shape_rank {
        return Err(format!("QUANTIZE per-channel axis {axis} for rank {shape_rank}"));
    }
    Ok(Prepared::one(move |ins| quantize(inp(ins, 0)?, dtype, &scales, &zps, axis)))
}

/// QUANTIZE of floats: round half to even of x · (1/scale) (the reciprocal in f32), plus the
/// zero point, clamped to the type, as the runtime's default (optimized) kernel computes it.
fn quantize(v: &Value, dtype: TensorType, scales: &[f32], zps: &[i64], axis: usize) -> KResult<Value> {
    let x = v
        .as_f32()
        .ok_or_else(|| format!("QUANTIZE of {} is not supported (only from FLOAT32)", v.values.type_name()))?;
    let (lo, hi) = match dtype {
        TensorType::INT8 => (-128i64, 127i64),
        TensorType::UINT8 => (0, 255),
        TensorType::INT16 => (-32768, 32767),
        other => return Err(format!("QUANTIZE to {} is not supported", crate::ir::dtype::type_name(other))),
    };
    // Per-channel: the channel of element i is (i / inner) % channels.
    let inner: usize =
        if scales.len() > 1 { v.shape.get(axis + 1..).map_or(1, |s| s.iter().product()) } else { x.len().max(1) };
    let channels = scales.len();
    if channels > 1 && v.shape.get(axis) != Some(&channels) {
        return Err(format!("QUANTIZE has {channels} scales for axis {axis} of {:?}", v.shape));
    }
    let q = x.iter().enumerate().map(|(i, &a)| {
        let c = if channels > 1 { (i / inner) % channels } else { 0 };
        let r = (a * (1.0 / scales[c])).round_ties_even();
        // NaN rounds to 0 here, as a float-to-int cast saturates it.
        ((r as i64).saturating_add(zps[c])).clamp(lo, hi)
    });
    let values = match dtype {
        TensorType::INT8 => Values::I8(q.map(|a| a as i8).collect()),
        TensorType::UINT8 => Values::U8(q.map(|a| a as u8).collect()),
        _ => Values::I16(q.map(|a| a as i16).collect()),
    };
    Ok(Value::new(v.shape.clone(), values))
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

/// The grid FAKE_QUANT rounds to: TF's range nudged so that 0 lies on it.
#[derive(Clone, Copy)]
struct FakeQuant {
    scale: f32,
    min: f32,
    max: f32,
}

impl FakeQuant {
    fn nudged(min: f32, max: f32, quant_max: i32) -> FakeQuant {
        let qmax = quant_max as f32;
        let scale = (max - min) / qmax;
        let zp_from_min = -min / scale;
        let zp = if zp_from_min < 0.0 {
            0.0
        } else if zp_from_min > qmax {
            qmax
        } else {
            zp_from_min.round()
        };
        FakeQuant { scale, min: -zp * scale, max: (qmax - zp) * scale }
    }

    /// Clamped to the grid's range, then rounded (half away from zero) to a grid point.
    fn apply(&self, x: f32) -> f32 {
        let c = x.max(self.min).min(self.max) - self.min;
        (c * (1.0 / self.scale)).round() * self.scale + self.min
    }
}
