//! Data movement that keeps every element: RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE,
//! CONCATENATION, PACK, UNPACK, SPLIT, SPLIT_V, TILE, BROADCAST_TO, DEPTH_TO_SPACE,
//! SPACE_TO_DEPTH; and CAST, BITCAST, SHAPE, FILL and ZEROS_LIKE.

use super::util::{
    axis, check, checked_numel, gather_value, inp, integer_2, ints, opt_inp, scalar_int, sizes, strides,
};
use super::{opts, IntegerRule, KResult, OpDef, Prepared};
use crate::ir::{Buf, Elem, Value, Values};
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT as O, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::RESHAPE).kernel(prepare_reshape).int_same().integer(IntegerRule::same_as_input(0)));
    add(OpDef::builtin(B::SQUEEZE)
        .int_same()
        .kernel(|ctx| {
            let dims = opts!(ctx, SqueezeOptions).squeeze_dims.unwrap_or_default();
            Ok(Prepared::one(move |ins| squeeze(inp(ins, 0)?, &dims)))
        })
        .integer(IntegerRule::same_as_input(0)));
    add(OpDef::builtin(B::EXPAND_DIMS)
        .int_same()
        .kernel(|_| Ok(Prepared::one(|ins| expand_dims(inp(ins, 0)?, scalar_int(inp(ins, 1)?)?))))
        .integer(IntegerRule::same_as_input(0)));
    add(OpDef::builtin(B::TRANSPOSE)
        .int_same()
        .kernel(|_| Ok(Prepared::one(|ins| transpose(inp(ins, 0)?, &ints(inp(ins, 1)?)?))))
        .integer(IntegerRule::same_as_input(0))
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::CONCATENATION)
        .int_same()
        .kernel(|ctx| {
            let axis = i64::from(opts!(ctx, ConcatenationOptions).axis);
            // The official interpreter ignores a fused activation here (measured), so do we.
            Ok(Prepared::one(move |ins| concat(&all(ins)?, axis)))
        })
        // LiteRT's integer kernels refuse a fused activation (the float one ignores it): cleared.
        .integer(IntegerRule { options: Some(no_concat_activation), ..IntegerRule::shared() })
        .version(integer_2, &[1, 2]));
    // LiteRT's int8 PACK requires every input to have the output's parameters.
    add(OpDef::builtin(B::PACK)
        .int_same()
        .kernel(|ctx| {
            let axis = i64::from(opts!(ctx, PackOptions).axis);
            Ok(Prepared::one(move |ins| {
                let vs: Vec<Value> = all(ins)?.into_iter().map(|v| expand_dims(v, axis)).collect::<KResult<_>>()?;
                concat(&vs.iter().collect::<Vec<_>>(), axis)
            }))
        })
        .integer(IntegerRule::shared())
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::UNPACK)
        .int_same()
        .kernel(|ctx| {
            let axis = i64::from(opts!(ctx, UnpackOptions).axis);
            Ok(Prepared::new(move |ins, _| unpack(inp(ins, 0)?, axis)))
        })
        .integer(IntegerRule::same_as_input(0))
        .version(unpack_version, &[1, 2]));
    add(OpDef::builtin(B::SPLIT)
        .int_same()
        .kernel(|ctx| {
            let n = ctx.op.outputs.len();
            Ok(Prepared::new(move |ins, _| {
                let v = inp(ins, 1)?;
                let a = axis(scalar_int(inp(ins, 0)?)?, v.shape.len())?;
                if n == 0 || v.shape[a] % n != 0 {
                    return Err(format!("cannot split {} into {n} equal parts", v.shape[a]));
                }
                split_sizes(v, a, &vec![v.shape[a] / n; n])
            }))
        })
        .integer(IntegerRule::same_as_input(1))
        .version(split_version, &[1, 2]));
    add(OpDef::builtin(B::SPLIT_V)
        .int_same()
        .kernel(|_| Ok(Prepared::new(|ins, _| split_v(inp(ins, 0)?, inp(ins, 1)?, inp(ins, 2)?)))));
    add(OpDef::builtin(B::TILE)
        .int_same()
        .kernel(|_| Ok(Prepared::one(|ins| tile(inp(ins, 0)?, &ints(inp(ins, 1)?)?))))
        .integer(IntegerRule::same_as_input(0))
        .version(|s| if s.integer(0) { 3 } else { 1 }, &[1, 3]));
    // BROADCAST_TO v1 was rolled back before release; the runtime starts at v2 (int16: v3).
    add(OpDef::builtin(B::BROADCAST_TO)
        .int_same()
        .kernel(|_| Ok(Prepared::one(|ins| broadcast_to(inp(ins, 0)?, inp(ins, 1)?))))
        .integer(IntegerRule::same_as_input(0))
        .version(|s| if s.input_type(0) == TensorType::INT16 { 3 } else { 2 }, &[2, 3]));
    add(OpDef::builtin(B::DEPTH_TO_SPACE)
        .kernel(|ctx| {
            let bs = opts!(ctx, DepthToSpaceOptions).block_size;
            Ok(Prepared::one(move |ins| depth_to_space(inp(ins, 0)?, bs)))
        })
        .int_same()
        .integer(IntegerRule::same_as_input(0).int8_only())
        .float_note(NO_INT16_SPACE_DEPTH)
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::SPACE_TO_DEPTH)
        .kernel(|ctx| {
            let bs = opts!(ctx, SpaceToDepthOptions).block_size;
            Ok(Prepared::one(move |ins| space_to_depth(inp(ins, 0)?, bs)))
        })
        .int_same()
        .integer(IntegerRule::same_as_input(0).int8_only())
        .float_note(NO_INT16_SPACE_DEPTH)
        .version(integer_2, &[1, 2]));
    add(OpDef::builtin(B::CAST).kernel(|ctx| {
        let to = ctx.output(0)?.dtype;
        Ok(Prepared::one(move |ins| cast(inp(ins, 0)?, to)))
    }));
    add(OpDef::builtin(B::BITCAST).kernel(|ctx| {
        let (from, to) = (ctx.input(0).ok_or("BITCAST input is missing")?.dtype, ctx.output(0)?.dtype);
        Ok(Prepared::one(move |ins| bitcast(inp(ins, 0)?, from, to)))
    }));
    // SHAPE reads only its input's dimensions: an int8 (int16) input is as good as a float one,
    // and its int32 output needs no parameters.
    add(OpDef::builtin(B::SHAPE)
        .kernel(|ctx| {
            let i64_out = ctx.output(0)?.dtype == TensorType::INT64;
            Ok(Prepared::one(move |ins| Ok(shape_of(inp(ins, 0)?, i64_out))))
        })
        .int_same()
        .integer(IntegerRule::calibrated(true)));
    add(OpDef::builtin(B::FILL).kernel(|_| Ok(Prepared::one(|ins| fill(inp(ins, 0)?, inp(ins, 1)?)))));
    add(OpDef::builtin(B::ZEROS_LIKE).kernel(|_| Ok(Prepared::one(|ins| Ok(zeros_like(inp(ins, 0)?))))));
}

/// Clears CONCATENATION's fused activation, which LiteRT's float kernel ignores and its
/// integer kernels refuse ("params->activation != kTfLiteActNone").
fn no_concat_activation(o: &mut O) {
    if let O::ConcatenationOptions(c) = o {
        c.fused_activation_function = crate::schema::ActivationFunctionType::NONE;
    }
}

/// LiteRT's DEPTH_TO_SPACE and SPACE_TO_DEPTH take float32, uint8, int8, int32 and int64.
const NO_INT16_SPACE_DEPTH: &str =
    "LiteRT's kernel takes float32, uint8, int8, int32 and int64 only; TF keeps it float in 16x8";

/// Int8 2; int16 (16x8) 1, as TF's 16x8 quantizer writes it; float 1.
fn unpack_version(s: &super::OpSignature) -> i32 {
    if s.input_type(0) == TensorType::INT8 {
        2
    } else {
        1
    }
}

/// Integer 2 (the data is input 1), float 1.
fn split_version(s: &super::OpSignature) -> i32 {
    if s.integer(1) {
        2
    } else {
        1
    }
}

/// Every input, all present.
fn all<'a>(ins: &[Option<&'a Value>]) -> KResult<Vec<&'a Value>> {
    (0..ins.len()).map(|i| inp(ins, i)).collect()
}

fn prepare_reshape(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    // Without a shape input, the options' new_shape, else the output tensor's shape.
    let fallback: Vec<i64> = match ctx.options() {
        O::ReshapeOptions(o) if o.new_shape.is_some() => o.new_shape.iter().flatten().map(|&d| i64::from(d)).collect(),
        _ => ctx.output(0)?.shape().iter().map(|&d| i64::from(d)).collect(),
    };
    Ok(Prepared::one(move |ins| {
        let target = match opt_inp(ins, 1) {
            Some(s) if !s.shape.is_empty() => ints(s)?,
            _ => fallback.clone(),
        };
        reshape(inp(ins, 0)?, &target)
    }))
}

fn squeeze(v: &Value, dims: &[i32]) -> KResult<Value> {
    let r = v.shape.len();
    let mut drop = vec![false; r];
    if dims.is_empty() {
        drop.iter_mut().zip(&v.shape).for_each(|(d, &s)| *d = s == 1);
    } else {
        for &d in dims {
            let a = axis(i64::from(d), r)?;
            if v.shape[a] != 1 {
                return Err(format!("cannot squeeze dimension {a} of {:?}", v.shape));
            }
            drop[a] = true;
        }
    }
    let s = v.shape.iter().zip(&drop).filter(|(_, &d)| !d).map(|(&s, _)| s).collect();
    Ok(Value::new(s, v.values.clone()))
}

pub(crate) fn expand_dims(v: &Value, a: i64) -> KResult<Value> {
    let r = v.shape.len() as i64;
    let a = if a < 0 { a + r + 1 } else { a };
    if a < 0 || a > r {
        return Err(format!("axis {a} out of range for rank {r}"));
    }
    let mut s = v.shape.clone();
    s.insert(a as usize, 1);
    Ok(Value::new(s, v.values.clone()))
}

fn unpack(v: &Value, ax: i64) -> KResult<Vec<Value>> {
    let a = axis(ax, v.shape.len())?;
    let pieces = split_sizes(v, a, &vec![1; v.shape[a]])?;
    Ok(pieces
        .into_iter()
        .map(|mut p| {
            p.shape.remove(a);
            p
        })
        .collect())
}

fn split_v(v: &Value, sizes_v: &Value, axis_v: &Value) -> KResult<Vec<Value>> {
    let a = axis(scalar_int(axis_v)?, v.shape.len())?;
    let mut sizes = ints(sizes_v)?;
    let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
    if let Some(s) = sizes.iter_mut().find(|s| **s == -1) {
        *s = v.shape[a] as i64 - known;
    }
    let sizes: Vec<usize> =
        sizes.iter().map(|&s| usize::try_from(s)).collect::<Result<_, _>>().map_err(|_| "bad split sizes")?;
    split_sizes(v, a, &sizes)
}

fn broadcast_to(v: &Value, shape: &Value) -> KResult<Value> {
    let target = sizes(shape, "shape")?;
    let values = crate::map_values!(&v.values, x => super::binary::broadcast_to(x, &v.shape, &target)?);
    Ok(Value::new(target, values))
}

/// CAST to `to` (the output tensor's type), as the runtime does: floats to integers truncate
/// and saturate to the target's range, NaN giving its maximum; integers wrap to its width; anything to BOOL is
/// `!= 0`, complex to real keeps the real part. Types the interpreter has no variant for are
/// held in a wider one: UINT16 as I32, UINT32 as I64, FLOAT16 (rounded) and FLOAT64 as F32.
fn cast(v: &Value, to: TensorType) -> KResult<Value> {
    enum Src {
        Ints(Vec<i64>),
        Floats(Vec<f64>),
        Complex(Vec<[f32; 2]>),
    }
    let src = match &v.values {
        Values::F32(x) => Src::Floats(x.iter().map(|&a| f64::from(a)).collect()),
        Values::I32(x) => Src::Ints(x.iter().map(|&a| i64::from(a)).collect()),
        Values::I64(x) => Src::Ints(x.to_vec()),
        Values::U8(x) => Src::Ints(x.iter().map(|&a| i64::from(a)).collect()),
        Values::I8(x) => Src::Ints(x.iter().map(|&a| i64::from(a)).collect()),
        Values::I16(x) => Src::Ints(x.iter().map(|&a| i64::from(a)).collect()),
        Values::Bool(x) => Src::Ints(x.iter().map(|&a| i64::from(u8::from(a))).collect()),
        Values::C64(x) => Src::Complex(x.to_vec()),
    };
    let real: Vec<f64> = match &src {
        Src::Ints(x) => x.iter().map(|&a| a as f64).collect(),
        Src::Floats(x) => x.clone(),
        Src::Complex(x) => x.iter().map(|c| f64::from(c[0])).collect(),
    };
    // Rust's `as` truncates and saturates; NaN goes to the maximum, as in the runtime.
    fn sat(a: f64, max: i64, to: fn(f64) -> i64) -> i64 {
        if a.is_nan() {
            max
        } else {
            to(a)
        }
    }
    // Integer targets: exact from integers (wrapped), truncated from floats.
    let int = |wrap: fn(i64) -> i64, trunc: fn(f64) -> i64| -> Vec<i64> {
        match &src {
            Src::Ints(x) => x.iter().map(|&a| wrap(a)).collect(),
            _ => real.iter().map(|&a| trunc(a)).collect(),
        }
    };
    let values = match to {
        TensorType::FLOAT32 | TensorType::FLOAT64 => Values::F32(real.iter().map(|&a| a as f32).collect()),
        TensorType::FLOAT16 => Values::F32(real.iter().map(|&a| half::f16::from_f64(a).to_f32()).collect()),
        TensorType::INT32 => Values::I32(
            int(|a| i64::from(a as i32), |a| sat(a, i32::MAX.into(), |a| a as i32 as i64))
                .iter()
                .map(|&a| a as i32)
                .collect(),
        ),
        TensorType::INT16 => Values::I16(
            int(|a| i64::from(a as i16), |a| sat(a, i16::MAX.into(), |a| a as i16 as i64))
                .iter()
                .map(|&a| a as i16)
                .collect(),
        ),
        TensorType::UINT16 => Values::I32(
            int(|a| i64::from(a as u16), |a| sat(a, u16::MAX.into(), |a| a as u16 as i64))
                .iter()
                .map(|&a| a as i32)
                .collect(),
        ),
        TensorType::INT64 => Values::I64(int(|a| a, |a| sat(a, i64::MAX, |a| a as i64)).into()),
        TensorType::UINT32 => {
            Values::I64(int(|a| i64::from(a as u32), |a| sat(a, u32::MAX.into(), |a| a as u32 as i64)).into())
        }
        TensorType::UINT8 => Values::U8(
            int(|a| i64::from(a as u8), |a| sat(a, u8::MAX.into(), |a| a as u8 as i64))
                .iter()
                .map(|&a| a as u8)
                .collect(),
        ),
        TensorType::INT8 => Values::I8(
            int(|a| i64::from(a as i8), |a| sat(a, i8::MAX.into(), |a| a as i8 as i64))
                .iter()
                .map(|&a| a as i8)
                .collect(),
        ),
        TensorType::BOOL => Values::Bool(match &src {
            Src::Complex(x) => x.iter().map(|c| c[0] != 0.0 || c[1] != 0.0).collect(),
            _ => real.iter().map(|&a| a != 0.0).collect(),
        }),
        TensorType::COMPLEX64 => Values::C64(match &src {
            Src::Complex(x) => x.iter().copied().collect(),
            _ => real.iter().map(|&a| [a as f32, 0.0]).collect(),
        }),
        other => return Err(format!("cast to {} is not supported", other.variant_name().unwrap_or("?"))),
    };
    Ok(Value::new(v.shape.clone(), values))
}

/// BITCAST: the same bytes read as `to`. A narrower target adds a last axis; a wider one
/// takes the last axis away, which must hold exactly one target element.
fn bitcast(v: &Value, from: TensorType, to: TensorType) -> KResult<Value> {
    use crate::ir::codec;
    let size = |t: TensorType| crate::ir::dtype::element_size(t).ok_or_else(|| format!("BITCAST of {t:?}"));
    let (a, b) = (size(from)?, size(to)?);
    let bytes = match &v.values {
        Values::F32(x) => codec::encode_from_f32(from, x),
        Values::C64(_) => return Err("BITCAST of complex values".into()),
        other => {
            let x: Vec<i64> = match other {
                Values::I32(x) => x.iter().map(|&a| i64::from(a)).collect(),
                Values::I64(x) => x.to_vec(),
                Values::U8(x) => x.iter().map(|&a| i64::from(a)).collect(),
                Values::I8(x) => x.iter().map(|&a| i64::from(a)).collect(),
                Values::I16(x) => x.iter().map(|&a| i64::from(a)).collect(),
                Values::Bool(x) => x.iter().map(|&a| i64::from(a)).collect(),
                _ => unreachable!("floats and complex handled above"),
            };
            codec::encode_from_i64(from, &x)
        }
    }
    .map_err(|e| format!("BITCAST: {e}"))?;
    let mut shape = v.shape.clone();
    if a > b {
        shape.push(a / b);
    } else if a < b {
        if shape.last() != Some(&(b / a)) {
            return Err(format!("BITCAST from {a}-byte to {b}-byte elements needs a last axis of {}", b / a));
        }
        shape.pop();
    }
    let values = codec::decode(to, &bytes).map_err(|e| format!("BITCAST: {e}"))?;
    Ok(Value::new(shape, values))
}

fn shape_of(v: &Value, i64_out: bool) -> Value {
    let s = vec![v.shape.len()];
    if i64_out {
        Value::new(s, Values::I64(v.shape.iter().map(|&d| d as i64).collect()))
    } else {
        Value::new(s, Values::I32(v.shape.iter().map(|&d| d as i32).collect()))
    }
}

fn fill(dims: &Value, val: &Value) -> KResult<Value> {
    let dims = sizes(dims, "dims")?;
    if val.values.len() != 1 {
        return Err("the fill value must be a scalar".into());
    }
    let n = checked_numel(&dims)?;
    let values = crate::map_values!(&val.values, x => Buf::filled(x[0], n));
    Ok(Value::new(dims, values))
}

fn zeros_like(v: &Value) -> Value {
    let n = v.values.len();
    let values = match &v.values {
        Values::F32(_) => Values::F32(Buf::filled(0.0, n)),
        Values::I32(_) => Values::I32(Buf::filled(0, n)),
        Values::I64(_) => Values::I64(Buf::filled(0, n)),
        Values::U8(_) => Values::U8(Buf::filled(0, n)),
        Values::I8(_) => Values::I8(Buf::filled(0, n)),
        Values::I16(_) => Values::I16(Buf::filled(0, n)),
        Values::Bool(_) => Values::Bool(Buf::filled(false, n)),
        Values::C64(_) => Values::C64(Buf::filled([0.0; 2], n)),
    };
    Value::new(v.shape.clone(), values)
}

/// RESHAPE target: one -1 is inferred; the element count must match.
pub(crate) fn reshape(v: &Value, target: &[i64]) -> KResult<Value> {
    check(v)?;
    let n = v.numel();
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        if d == -1 {
            if infer.replace(i).is_some() {
                return Err(format!("more than one -1 in shape {target:?}"));
            }
            shape.push(0);
        } else {
            let d = usize::try_from(d).map_err(|_| format!("bad dimension {d} in shape {target:?}"))?;
            known = known.checked_mul(d).ok_or("shape overflows")?;
            shape.push(d);
        }
    }
    if let Some(i) = infer {
        if known == 0 || n % known != 0 {
            return Err(format!("cannot reshape {:?} to {target:?}", v.shape));
        }
        shape[i] = n / known;
    } else if known != n {
        return Err(format!("cannot reshape {:?} ({n} values) to {target:?}", v.shape));
    }
    Ok(Value::new(shape, v.values.clone()))
}

/// TRANSPOSE by `perm`.
pub(crate) fn transpose(v: &Value, perm: &[i64]) -> KResult<Value> {
    check(v)?;
    let r = v.shape.len();
    if perm.len() != r {
        return Err(format!("perm {perm:?} for rank {r}"));
    }
    let p: Vec<usize> = perm.iter().map(|&a| axis(a, r)).collect::<KResult<_>>()?;
    let mut seen = vec![false; r];
    for &a in &p {
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("perm {perm:?} repeats an axis"));
        }
    }
    let st = strides(&v.shape);
    let out_shape: Vec<usize> = p.iter().map(|&a| v.shape[a]).collect();
    let n = v.numel();
    fn go<T: Copy + Default>(src: &[T], out_shape: &[usize], ist: &[usize], n: usize) -> Buf<T> {
        let mut out = Buf::with_capacity(n);
        let r = out_shape.len();
        if n == 0 {
            return out;
        }
        if r == 0 {
            out.push(src[0]);
            return out;
        }
        let mut idx = vec![0usize; r];
        let mut off = 0usize;
        let inner = out_shape[r - 1];
        let istep = ist[r - 1];
        for _ in 0..n / inner {
            for k in 0..inner {
                out.push(src[off + k * istep]);
            }
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                off += ist[d];
                if idx[d] < out_shape[d] {
                    break;
                }
                off -= ist[d] * out_shape[d];
                idx[d] = 0;
            }
        }
        out
    }
    let ist: Vec<usize> = p.iter().map(|&a| st[a]).collect();
    let values = crate::map_values!(&v.values, x => go(x, &out_shape, &ist, n));
    Ok(Value::new(out_shape, values))
}

/// CONCATENATION along `axis` (all inputs of one type).
pub(crate) fn concat(vs: &[&Value], ax: i64) -> KResult<Value> {
    let first = vs.first().ok_or("no inputs")?;
    let r = first.shape.len();
    let a = axis(ax, r)?;
    for v in vs {
        check(v)?;
        if v.shape.len() != r
            || v.values.type_name() != first.values.type_name()
            || v.shape.iter().enumerate().any(|(d, &s)| d != a && s != first.shape[d])
        {
            return Err(format!("cannot concatenate {:?} with {:?} along axis {a}", first.shape, v.shape));
        }
    }
    let outer: usize = first.shape[..a].iter().product();
    let mut shape = first.shape.clone();
    shape[a] = vs.iter().map(|v| v.shape[a]).sum();
    crate::ops::util::checked_numel(&shape)?;
    let chunk = |v: &Value| v.shape[a..].iter().product::<usize>();
    fn go<T: Elem>(vs: &[&Value], outer: usize, chunks: &[usize]) -> Buf<T> {
        let mut out = Buf::with_capacity(outer * chunks.iter().sum::<usize>());
        let srcs: Vec<&[T]> = vs.iter().map(|v| T::slice(&v.values).unwrap_or(&[])).collect();
        for o in 0..outer {
            for (s, &c) in srcs.iter().zip(chunks) {
                out.extend_from_slice(&s[o * c..(o + 1) * c]);
            }
        }
        out
    }
    let chunks: Vec<usize> = vs.iter().map(|v| chunk(v)).collect();
    let values = match &first.values {
        Values::F32(_) => Values::F32(go(vs, outer, &chunks)),
        Values::I32(_) => Values::I32(go(vs, outer, &chunks)),
        Values::I64(_) => Values::I64(go(vs, outer, &chunks)),
        Values::U8(_) => Values::U8(go(vs, outer, &chunks)),
        Values::I8(_) => Values::I8(go(vs, outer, &chunks)),
        Values::I16(_) => Values::I16(go(vs, outer, &chunks)),
        Values::Bool(_) => Values::Bool(go(vs, outer, &chunks)),
        Values::C64(_) => Values::C64(go(vs, outer, &chunks)),
    };
    Ok(Value::new(shape, values))
}

/// Splits `v` along `axis` into pieces of the given sizes.
pub(crate) fn split_sizes(v: &Value, ax: usize, sizes: &[usize]) -> KResult<Vec<Value>> {
    check(v)?;
    if sizes.iter().sum::<usize>() != v.shape[ax] {
        return Err(format!("split sizes {sizes:?} do not sum to {}", v.shape[ax]));
    }
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for &s in sizes {
        let tables: Vec<Vec<usize>> = v
            .shape
            .iter()
            .enumerate()
            .map(|(d, &n)| if d == ax { (start..start + s).collect() } else { (0..n).collect() })
            .collect();
        out.push(gather_value(v, &tables)?);
        start += s;
    }
    Ok(out)
}

/// TILE by `multiples`.
pub(crate) fn tile(v: &Value, multiples: &[i64]) -> KResult<Value> {
    if multiples.len() != v.shape.len() {
        return Err(format!("multiples {multiples:?} for rank {}", v.shape.len()));
    }
    let mut tables = Vec::new();
    for (d, &m) in multiples.iter().enumerate() {
        let m = usize::try_from(m).map_err(|_| "negative multiple")?;
        checked_numel(&[m, v.shape[d]])?;
        tables.push((0..m).flat_map(|_| 0..v.shape[d]).collect());
    }
    gather_value(v, &tables)
}

/// DEPTH_TO_SPACE (NHWC, DCR order as TFLite).
pub(crate) fn depth_to_space(v: &Value, bs: i32) -> KResult<Value> {
    check(v)?;
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let bs = usize::try_from(bs).ok().filter(|&b| b > 0).ok_or("block size must be positive")?;
    if c % (bs * bs) != 0 {
        return Err(format!("depth {c} is not a multiple of {}", bs * bs));
    }
    let oc = c / (bs * bs);
    let (oh, ow) = (h * bs, w * bs);
    fn go<T: Copy + Default>(x: &[T], n: usize, h: usize, w: usize, c: usize, bs: usize, oc: usize) -> Buf<T> {
        let (oh, ow) = (h * bs, w * bs);
        let mut out = Buf::with_capacity(x.len());
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let s = ((b * h + oy / bs) * w + ox / bs) * c + ((oy % bs) * bs + ox % bs) * oc;
                    out.extend_from_slice(&x[s..s + oc]);
                }
            }
        }
        out
    }
    let values = crate::map_values!(&v.values, x => go(x, n, h, w, c, bs, oc));
    Ok(Value::new(vec![n, oh, ow, oc], values))
}

/// SPACE_TO_DEPTH (NHWC).
pub(crate) fn space_to_depth(v: &Value, bs: i32) -> KResult<Value> {
    check(v)?;
    let [n, h, w, c] = v.shape[..] else { return Err("input must be 4-D".into()) };
    let bs = usize::try_from(bs).ok().filter(|&b| b > 0).ok_or("block size must be positive")?;
    if h % bs != 0 || w % bs != 0 {
        return Err(format!("spatial size {h}x{w} is not a multiple of {bs}"));
    }
    let (oh, ow) = (h / bs, w / bs);
    fn go<T: Copy + Default>(x: &[T], n: usize, h: usize, w: usize, c: usize, bs: usize) -> Buf<T> {
        let (oh, ow) = (h / bs, w / bs);
        let mut out = Buf::with_capacity(x.len());
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for by in 0..bs {
                        for bx in 0..bs {
                            let s = ((b * h + oy * bs + by) * w + ox * bs + bx) * c;
                            out.extend_from_slice(&x[s..s + c]);
                        }
                    }
                }
            }
        }
        out
    }
    let values = crate::map_values!(&v.values, x => go(x, n, h, w, c, bs));
    Ok(Value::new(vec![n, oh, ow, c * bs * bs], values))
}
