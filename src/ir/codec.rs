//! The one place where tensor bytes become numbers and numbers become bytes: little-endian
//! decoding and encoding of every element type tflq reads (float16 and bfloat16 included),
//! affine dequantization, and [`Dense`], the checked view of a constant's data.

use super::dtype::{element_size, type_name};
use super::value::{Buf, Value, Values};
use super::{QuantParams, Tensor};
use crate::schema::TensorType;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use std::borrow::Cow;

/// Why tensor data could not be decoded. The messages name no tensor; callers add it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("cannot decode {0} elements")]
    UnsupportedType(String),
    #[error("shape {0:?} is not a valid constant shape")]
    BadShape(Vec<i32>),
    #[error("its buffer holds {actual} bytes, but its shape and type need {expected}")]
    DataSize { expected: usize, actual: usize },
    #[error("its {0} dense elements do not fit in memory")]
    TooLarge(usize),
    #[error("bad quantization parameters: {0}")]
    Quantization(String),
    #[error("it has no sparsity parameters")]
    NotSparse,
    #[error("malformed sparsity: {0}")]
    Sparsity(String),
    #[error("it is sparse; densify it first")]
    Sparse,
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    c.try_into().unwrap_or([0; N])
}

/// Decodes little-endian elements of `dtype` into the value type that holds them: floats as
/// F32, INT16 as I16, INT32/UINT16 as I32, INT64/UINT32/UINT64 as I64, and UINT8, INT8, BOOL as
/// themselves. A trailing partial element is ignored ([`Dense`] rules it out).
pub fn decode(dtype: TensorType, bytes: &[u8]) -> Result<Values, CodecError> {
    Ok(match dtype {
        TensorType::FLOAT32 | TensorType::FLOAT16 | TensorType::BFLOAT16 | TensorType::FLOAT64 => {
            Values::F32(decode_f32(dtype, bytes)?)
        }
        TensorType::INT32 => Values::I32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(le(c))).collect()),
        TensorType::INT16 => Values::I16(bytes.chunks_exact(2).map(|c| i16::from_le_bytes(le(c))).collect()),
        TensorType::UINT16 => {
            Values::I32(bytes.chunks_exact(2).map(|c| i32::from(u16::from_le_bytes(le(c)))).collect())
        }
        TensorType::INT64 | TensorType::UINT64 => {
            Values::I64(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(le(c))).collect())
        }
        TensorType::UINT32 => {
            Values::I64(bytes.chunks_exact(4).map(|c| i64::from(u32::from_le_bytes(le(c)))).collect())
        }
        TensorType::UINT8 => Values::U8(Buf::from_slice(bytes)),
        TensorType::INT8 => Values::I8(bytes.iter().map(|&b| b as i8).collect()),
        TensorType::BOOL => Values::Bool(bytes.iter().map(|&b| b != 0).collect()),
        TensorType::COMPLEX64 => Values::C64(
            bytes.chunks_exact(8).map(|c| [f32::from_le_bytes(le(&c[..4])), f32::from_le_bytes(le(&c[4..]))]).collect(),
        ),
        other => return Err(CodecError::UnsupportedType(type_name(other))),
    })
}

/// A container of decoded floats: the interpreter's aligned [`Buf`], or a plain `Vec`.
pub trait Floats: FromIterator<f32> + std::ops::DerefMut<Target = [f32]> {
    fn zeros(n: usize) -> Self;
}

impl Floats for Buf<f32> {
    fn zeros(n: usize) -> Self {
        Buf::filled(0.0, n)
    }
}

impl Floats for Vec<f32> {
    fn zeros(n: usize) -> Self {
        vec![0.0; n]
    }
}

/// Any numeric type's elements as f32 (integers through i64), in an aligned buffer.
pub fn decode_f32(dtype: TensorType, bytes: &[u8]) -> Result<Buf<f32>, CodecError> {
    decode_floats(dtype, bytes)
}

/// [`decode_f32`] into any [`Floats`] container.
pub fn decode_floats<C: Floats>(dtype: TensorType, bytes: &[u8]) -> Result<C, CodecError> {
    Ok(match dtype {
        TensorType::FLOAT32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(le(c))).collect(),
        TensorType::FLOAT16 => {
            let h: Vec<f16> = bytes.chunks_exact(2).map(|c| f16::from_le_bytes(le(c))).collect();
            let mut f = C::zeros(h.len());
            h.convert_to_f32_slice(&mut f);
            f
        }
        TensorType::BFLOAT16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes(le(c)).to_f32()).collect(),
        TensorType::FLOAT64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(le(c)) as f32).collect(),
        _ => decode_i64(dtype, bytes)?.into_iter().map(|v| v as f32).collect(),
    })
}

/// Any numeric type's elements as i64 (floats truncate toward zero, saturating).
pub fn decode_i64(dtype: TensorType, bytes: &[u8]) -> Result<Vec<i64>, CodecError> {
    Ok(match dtype {
        TensorType::INT32 => bytes.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes(le(c)))).collect(),
        TensorType::UINT32 => bytes.chunks_exact(4).map(|c| i64::from(u32::from_le_bytes(le(c)))).collect(),
        TensorType::INT64 | TensorType::UINT64 => bytes.chunks_exact(8).map(|c| i64::from_le_bytes(le(c))).collect(),
        TensorType::INT16 => bytes.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes(le(c)))).collect(),
        TensorType::UINT16 => bytes.chunks_exact(2).map(|c| i64::from(u16::from_le_bytes(le(c)))).collect(),
        TensorType::INT8 => bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        TensorType::UINT8 | TensorType::BOOL => bytes.iter().map(|&b| i64::from(b)).collect(),
        TensorType::FLOAT32 | TensorType::FLOAT16 | TensorType::BFLOAT16 | TensorType::FLOAT64 => {
            decode_floats::<Vec<f32>>(dtype, bytes)?.iter().map(|&v| v as i64).collect()
        }
        other => return Err(CodecError::UnsupportedType(type_name(other))),
    })
}

/// f32 values as little-endian bytes.
pub fn encode_f32(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

/// f32 values as bytes of a float type (rounded to nearest; float16 overflows to infinity).
pub fn encode_from_f32(dtype: TensorType, values: &[f32]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(values.len() * element_size(dtype).unwrap_or(4));
    match dtype {
        TensorType::FLOAT32 => return Ok(encode_f32(values)),
        TensorType::FLOAT64 => values.iter().for_each(|&v| out.extend_from_slice(&f64::from(v).to_le_bytes())),
        TensorType::FLOAT16 => values.iter().for_each(|&v| out.extend_from_slice(&f16::from_f32(v).to_le_bytes())),
        TensorType::BFLOAT16 => values.iter().for_each(|&v| out.extend_from_slice(&bf16::from_f32(v).to_le_bytes())),
        other => return Err(CodecError::UnsupportedType(type_name(other))),
    }
    Ok(out)
}

/// i64 values as bytes of an integer type, wrapped to its width (BOOL: non-zero is true).
pub fn encode_from_i64(dtype: TensorType, values: &[i64]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(values.len() * element_size(dtype).unwrap_or(8));
    for &v in values {
        match dtype {
            TensorType::INT32 | TensorType::UINT32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            TensorType::INT64 | TensorType::UINT64 => out.extend_from_slice(&v.to_le_bytes()),
            TensorType::INT16 | TensorType::UINT16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            TensorType::INT8 | TensorType::UINT8 => out.push(v as u8),
            TensorType::BOOL => out.push(u8::from(v != 0)),
            other => return Err(CodecError::UnsupportedType(type_name(other))),
        }
    }
    Ok(out)
}

/// The bytes as f32 values in place when they are aligned (mapped weights are: the writer
/// aligns buffers to 16 bytes) and whole, on a little-endian machine.
pub fn f32_view(bytes: &[u8]) -> Option<&[f32]> {
    if cfg!(target_endian = "big") {
        return None;
    }
    // SAFETY: every bit pattern is a valid f32; align_to yields only whole, aligned elements.
    let (head, body, tail) = unsafe { bytes.align_to::<f32>() };
    (head.is_empty() && tail.is_empty()).then_some(body)
}

/// Little-endian f32 bytes as values: in place when aligned, else decoded.
pub fn f32s(bytes: &[u8]) -> Cow<'_, [f32]> {
    match f32_view(bytes) {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(le(c))).collect()),
    }
}

/// `real = scale[c] · (q − zero_point[c])`, with `c` the index along `quantized_dimension` of
/// `shape` (one scale means per-tensor). The integer difference is exact in f32 for 16-bit
/// inputs, so the single product matches the runtime's DEQUANTIZE kernels.
pub fn affine(q: impl Iterator<Item = i64>, shape: &[usize], qp: Option<&QuantParams>) -> Result<Buf<f32>, CodecError> {
    let bad = |detail: String| CodecError::Quantization(detail);
    let qp = qp.ok_or_else(|| bad("it has none".into()))?;
    let scales = qp.scales();
    let channels = scales.len();
    if channels == 0 {
        return Err(bad("no scale".into()));
    }
    let zps = qp.zero_points();
    if !zps.is_empty() && zps.len() != channels {
        return Err(bad(format!("{} scales but {} zero points", channels, zps.len())));
    }
    // Elements per step of the quantized dimension: the product of the dims after it.
    let inner = if channels == 1 {
        1
    } else {
        let axis = usize::try_from(qp.quantized_dimension)
            .ok()
            .filter(|&a| a < shape.len())
            .ok_or_else(|| bad(format!("quantized_dimension {} for rank {}", qp.quantized_dimension, shape.len())))?;
        if shape[axis] != channels {
            return Err(bad(format!("{channels} scales for dimension {axis} of size {}", shape[axis])));
        }
        shape[axis + 1..].iter().product::<usize>().max(1)
    };
    Ok(q.enumerate()
        .map(|(i, q)| {
            let c = if channels == 1 { 0 } else { (i / inner) % channels };
            let zp = zps.get(c).copied().unwrap_or(0);
            scales[c] * (q.saturating_sub(zp) as f32)
        })
        .collect())
}

/// The real values of quantized or reduced-precision data: FLOAT16 and BFLOAT16 decode as
/// they are, INT8, UINT8, INT16 and INT32 go through [`affine`].
pub fn dequantize(
    dtype: TensorType,
    bytes: &[u8],
    shape: &[usize],
    qp: Option<&QuantParams>,
) -> Result<Buf<f32>, CodecError> {
    match dtype {
        TensorType::FLOAT16 | TensorType::BFLOAT16 | TensorType::FLOAT32 => decode_f32(dtype, bytes),
        TensorType::INT8 | TensorType::UINT8 | TensorType::INT16 | TensorType::INT32 => {
            affine(decode_i64(dtype, bytes)?.into_iter(), shape, qp)
        }
        other => Err(CodecError::UnsupportedType(type_name(other))),
    }
}

/// [`dequantize`] for decoded values (integers as I8, U8, I16 or I32; floats pass through).
pub fn dequantize_values(v: &Value, qp: Option<&QuantParams>) -> Result<Buf<f32>, CodecError> {
    let q: Box<dyn Iterator<Item = i64> + '_> = match &v.values {
        Values::F32(x) => return Ok(x.clone()),
        Values::I8(x) => Box::new(x.iter().map(|&a| i64::from(a))),
        Values::I16(x) => Box::new(x.iter().map(|&a| i64::from(a))),
        Values::U8(x) => Box::new(x.iter().map(|&a| i64::from(a))),
        Values::I32(x) => Box::new(x.iter().map(|&a| i64::from(a))),
        other => return Err(CodecError::UnsupportedType(other.type_name().to_string())),
    };
    affine(q, &v.shape, qp)
}

/// A dense constant's data, checked once against its shape and type: `bytes` holds exactly
/// `numel · element size` bytes, so users need not check again.
#[derive(Debug, Clone)]
pub struct Dense<'a> {
    pub dtype: TensorType,
    pub shape: Vec<usize>,
    pub bytes: &'a [u8],
}

/// The tensor's static shape, refusing dynamic dimensions and element counts that overflow.
pub fn static_shape(t: &Tensor) -> Result<(Vec<usize>, usize), CodecError> {
    let bad = || CodecError::BadShape(t.shape().to_vec());
    let dims = t.shape().iter().map(|&d| usize::try_from(d).map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?;
    let count = t.num_elements().ok_or_else(bad)?;
    Ok((dims, count))
}

impl<'a> Dense<'a> {
    /// Checks `bytes` (dense, not sparse) against `t`'s shape and type.
    pub fn of(t: &Tensor, bytes: &'a [u8]) -> Result<Dense<'a>, CodecError> {
        if t.sparsity.is_some() {
            return Err(CodecError::Sparse);
        }
        Dense::with_shape(t, bytes)
    }

    /// Like [`of`](Self::of), for bytes already densified from `t`'s sparse form.
    pub fn with_shape(t: &Tensor, bytes: &'a [u8]) -> Result<Dense<'a>, CodecError> {
        let (shape, count) = static_shape(t)?;
        let elem = element_size(t.dtype).ok_or_else(|| CodecError::UnsupportedType(type_name(t.dtype)))?;
        let expected = count.checked_mul(elem).ok_or(CodecError::TooLarge(count))?;
        if bytes.len() != expected {
            return Err(CodecError::DataSize { expected, actual: bytes.len() });
        }
        Ok(Dense { dtype: t.dtype, shape, bytes })
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements, decoded ([`decode`]).
    pub fn decode(&self) -> Result<Value, CodecError> {
        Ok(Value::new(self.shape.clone(), decode(self.dtype, self.bytes)?))
    }

    /// FLOAT32 elements, in place when aligned; None for other types.
    pub fn f32s(&self) -> Option<Cow<'a, [f32]>> {
        (self.dtype == TensorType::FLOAT32).then(|| f32s(self.bytes))
    }
}

/// Decodes a constant, densifying it first when it is sparse.
pub fn decode_constant(t: &Tensor, bytes: &[u8]) -> Result<Value, CodecError> {
    if t.sparsity.is_some() {
        let dense = super::sparse::densify(t, bytes)?;
        return Dense::with_shape(t, &dense)?.decode();
    }
    Dense::of(t, bytes)?.decode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_int8_dequantizes_along_its_axis() {
        let qp = QuantParams {
            scale: Some(vec![0.5, 2.0, 0.25]),
            zero_point: Some(vec![0, 1, -2]),
            quantized_dimension: 1,
            ..Default::default()
        };
        let q = [2i8, 3, -2, -4, 1, 6].map(|x| x as u8);
        let got = dequantize(TensorType::INT8, &q, &[2, 3], Some(&qp)).unwrap();
        assert_eq!(&got[..], [1.0, 4.0, 0.0, -2.0, 0.0, 2.0]);
        let err = dequantize(TensorType::INT8, &q, &[3, 2], Some(&qp)).unwrap_err();
        assert_eq!(err.to_string(), "bad quantization parameters: 3 scales for dimension 1 of size 2");
    }

    #[test]
    fn float16_and_bfloat16_decode_exactly() {
        let h: Vec<u8> =
            [1.5f32, -65504.0, 0.000061035156].iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect();
        assert_eq!(&decode_f32(TensorType::FLOAT16, &h).unwrap()[..], [1.5, -65504.0, 0.000061035156]);
        let b = encode_from_f32(TensorType::BFLOAT16, &[1.0, -2.5]).unwrap();
        assert_eq!(&decode_f32(TensorType::BFLOAT16, &b).unwrap()[..], [1.0, -2.5]);
    }

    #[test]
    fn integers_round_trip_through_i64() {
        for t in [TensorType::INT8, TensorType::UINT8, TensorType::INT16, TensorType::INT32, TensorType::INT64] {
            let v = [0i64, 1, 7, 100];
            let bytes = encode_from_i64(t, &v).unwrap();
            assert_eq!(decode_i64(t, &bytes).unwrap(), v, "{t:?}");
        }
        assert!(decode(TensorType::STRING, &[]).is_err());
    }

    #[test]
    fn dense_checks_the_size_once() {
        let t = Tensor { shape: Some(vec![2, 2]), ..Tensor::default() };
        let bytes = encode_f32(&[1.0, 2.0, 3.0, 4.0]);
        let d = Dense::of(&t, &bytes).unwrap();
        assert_eq!((d.numel(), &d.f32s().unwrap()[..]), (4, &[1.0, 2.0, 3.0, 4.0][..]));
        let err = Dense::of(&t, &bytes[..12]).unwrap_err();
        assert_eq!(err, CodecError::DataSize { expected: 16, actual: 12 });
        let dynamic = Tensor { shape: Some(vec![-1, 2]), ..Tensor::default() };
        assert_eq!(Dense::of(&dynamic, &bytes).unwrap_err(), CodecError::BadShape(vec![-1, 2]));
    }
}
