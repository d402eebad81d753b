//! The element types of the format: size and name, in one table.

use crate::schema::TensorType;

/// Bytes per element of a type whose elements are whole bytes; None for strings, packed
/// sub-byte types (INT4, INT2, UINT4) and handles, which have no fixed element size.
pub fn element_size(t: TensorType) -> Option<usize> {
    Some(match t {
        TensorType::BOOL
        | TensorType::INT8
        | TensorType::UINT8
        | TensorType::FLOAT8_E4M3FN
        | TensorType::FLOAT8_E5M2 => 1,
        TensorType::FLOAT16 | TensorType::BFLOAT16 | TensorType::INT16 | TensorType::UINT16 => 2,
        TensorType::FLOAT32 | TensorType::INT32 | TensorType::UINT32 => 4,
        TensorType::FLOAT64 | TensorType::INT64 | TensorType::UINT64 | TensorType::COMPLEX64 => 8,
        TensorType::COMPLEX128 => 16,
        _ => return None,
    })
}

/// The type's schema name (`FLOAT32`), or `type N` for a value the schema does not know.
pub fn type_name(t: TensorType) -> String {
    t.variant_name().map(str::to_string).unwrap_or_else(|| format!("type {}", t.0))
}

/// Whether values of this type are floating point.
pub fn is_float(t: TensorType) -> bool {
    matches!(t, TensorType::FLOAT32 | TensorType::FLOAT16 | TensorType::BFLOAT16 | TensorType::FLOAT64)
}
