//! Tensor values: a shape and a typed, row-major element vector.

use crate::ir::Tensor;
use crate::schema::TensorType;
use half::f16;

/// Elements of a tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    Bool(Vec<bool>),
}

/// A tensor value: its shape and elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::U8(v) => v.len(),
            Values::I8(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The variant's name: F32, I32, I64, U8, I8 or Bool.
    pub fn type_name(&self) -> &'static str {
        match self {
            Values::F32(_) => "F32",
            Values::I32(_) => "I32",
            Values::I64(_) => "I64",
            Values::U8(_) => "U8",
            Values::I8(_) => "I8",
            Values::Bool(_) => "Bool",
        }
    }
}

impl Value {
    pub fn new(shape: Vec<usize>, values: Values) -> Value {
        Value { shape, values }
    }

    pub fn f32(shape: Vec<usize>, v: Vec<f32>) -> Value {
        Value { shape, values: Values::F32(v) }
    }

    /// The f32 elements, or None for another type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.values {
            Values::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Number of elements the shape implies.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Element types a value can hold, for kernels generic over them.
pub(crate) trait Elem: Copy + PartialOrd + Default + Send + Sync + 'static {
    fn slice(v: &Values) -> Option<&[Self]>;
    fn wrap(v: Vec<Self>) -> Values;
}

macro_rules! elem {
    ($t:ty, $var:ident) => {
        impl Elem for $t {
            fn slice(v: &Values) -> Option<&[Self]> {
                match v {
                    Values::$var(x) => Some(x),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> Values {
                Values::$var(v)
            }
        }
    };
}
elem!(f32, F32);
elem!(i32, I32);
elem!(i64, I64);
elem!(u8, U8);
elem!(i8, I8);
elem!(bool, Bool);

/// Applies a generic expression to the vector of any variant, giving a vector of the same type:
/// `map_values!(values, v => expr)`, where `v: &Vec<T>` and `expr: Vec<T>`.
macro_rules! map_values {
    ($vals:expr, $v:ident => $body:expr) => {
        match $vals {
            $crate::interp::Values::F32($v) => $crate::interp::Values::F32($body),
            $crate::interp::Values::I32($v) => $crate::interp::Values::I32($body),
            $crate::interp::Values::I64($v) => $crate::interp::Values::I64($body),
            $crate::interp::Values::U8($v) => $crate::interp::Values::U8($body),
            $crate::interp::Values::I8($v) => $crate::interp::Values::I8($body),
            $crate::interp::Values::Bool($v) => $crate::interp::Values::Bool($body),
        }
    };
}
pub(crate) use map_values;

fn type_name(t: TensorType) -> String {
    t.variant_name().map(str::to_string).unwrap_or_else(|| format!("type {}", t.0))
}

/// Decodes a constant tensor's (possibly sparse) little-endian bytes.
/// FLOAT16 becomes F32 and INT16 becomes I32 (both only ever feed DEQUANTIZE here).
pub(crate) fn decode_constant(t: &Tensor, data: &[u8]) -> Result<Value, String> {
    let mut shape = Vec::with_capacity(t.shape().len());
    for &d in t.shape() {
        shape.push(usize::try_from(d).map_err(|_| format!("constant with dynamic shape {:?}", t.shape()))?);
    }
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("element count overflows")?;
    let dense;
    let data = if t.sparsity.is_some() {
        dense = crate::quantize::fold::densify_tensor_data(t, data).map_err(|e| e.to_string())?;
        &dense[..]
    } else {
        data
    };
    let elem = crate::quantize::fold::element_size(t.dtype)
        .ok_or_else(|| format!("{} constants are not supported", type_name(t.dtype)))?;
    let need = count.checked_mul(elem).ok_or("byte count overflows")?;
    if data.len() != need {
        return Err(format!("its buffer holds {} bytes, but its shape and type need {need}", data.len()));
    }
    let values = match t.dtype {
        TensorType::FLOAT32 => {
            Values::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        TensorType::FLOAT16 => {
            Values::F32(data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect())
        }
        TensorType::INT32 => {
            Values::I32(data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        TensorType::INT64 => {
            Values::I64(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
        }
        TensorType::INT16 => {
            Values::I32(data.chunks_exact(2).map(|c| i32::from(i16::from_le_bytes([c[0], c[1]]))).collect())
        }
        TensorType::UINT8 => Values::U8(data.to_vec()),
        TensorType::INT8 => Values::I8(data.iter().map(|&b| b as i8).collect()),
        TensorType::BOOL => Values::Bool(data.iter().map(|&b| b != 0).collect()),
        other => return Err(format!("{} constants are not supported", type_name(other))),
    };
    Ok(Value { shape, values })
}
