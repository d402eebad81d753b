//! Structural checks on a Model: every index points at something that exists.
//! The reader runs them on what it read, the writer on what it is about to write.

use super::dtype::{element_size, type_name};
use super::Model;
use crate::schema::TensorType;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {what} index {index} is out of range (there are {count})")]
pub struct IndexError {
    pub location: String,
    pub what: &'static str,
    pub index: i64,
    pub count: usize,
}

fn check(location: impl FnOnce() -> String, what: &'static str, index: i64, count: usize) -> Result<(), IndexError> {
    if index < 0 || index as u64 >= count as u64 {
        return Err(IndexError { location: location(), what, index, count });
    }
    Ok(())
}

impl Model {
    /// Checks every buffer, opcode, tensor and subgraph index in the model.
    pub fn validate(&self) -> Result<(), IndexError> {
        let nb = self.buffers.len();
        for (si, sg) in self.subgraphs.iter().enumerate() {
            let nt = sg.tensors.len();
            for (ti, t) in sg.tensors.iter().enumerate() {
                check(|| format!("subgraph {si}, tensor {ti}"), "buffer", t.buffer as i64, nb)?;
            }
            for (what, list) in [("input tensor", &sg.inputs), ("output tensor", &sg.outputs)] {
                for &t in list {
                    check(|| format!("subgraph {si}"), what, t as i64, nt)?;
                }
            }
            for (oi, op) in sg.operators.iter().enumerate() {
                let loc = || format!("subgraph {si}, operator {oi}");
                check(loc, "opcode", op.opcode_index as i64, self.operator_codes.len())?;
                for &t in op.inputs.iter().filter(|&&t| t != -1) {
                    check(loc, "input tensor", t as i64, nt)?;
                }
                for &t in op.outputs.iter().chain(op.intermediates.iter().flatten()) {
                    check(loc, "output tensor", t as i64, nt)?;
                }
            }
        }
        for (i, m) in self.metadata.iter().enumerate() {
            check(|| format!("metadata {i}"), "buffer", m.buffer as i64, nb)?;
        }
        for (i, sd) in self.signature_defs.iter().enumerate() {
            let loc = || format!("signature def {i}");
            check(loc, "subgraph", sd.subgraph_index as i64, self.subgraphs.len())?;
            let nt = self.subgraphs[sd.subgraph_index as usize].tensors.len();
            for m in sd.inputs.iter().chain(&sd.outputs) {
                check(loc, "tensor", m.tensor_index as i64, nt)?;
            }
        }
        Ok(())
    }
}

/// A tensor whose data or quantization parameters a runtime cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subgraph {subgraph}, tensor {tensor} ({name}): {what}")]
pub struct TensorError {
    pub subgraph: usize,
    pub tensor: usize,
    /// The tensor's name, capped in length.
    pub name: String,
    pub what: String,
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn cap(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// A list shown in a message: at most `max` items, then `… N items`.
pub fn cap_list<T: std::fmt::Display>(items: &[T], max: usize) -> String {
    let shown: Vec<String> = items.iter().take(max).map(T::to_string).collect();
    if items.len() <= max {
        format!("[{}]", shown.join(", "))
    } else {
        format!("[{}, … {} items]", shown.join(", "), items.len())
    }
}

/// The highest tensor rank accepted (LiteRT's kernels take at most 6 or 8 dimensions).
pub const MAX_RANK: usize = 16;

/// The most elements a tensor may have: LiteRT counts them in a signed 32-bit int in places.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 31;

/// The range of zero points type `t` can hold, for the integer types a runtime quantizes.
fn zero_point_range(t: TensorType) -> Option<(i64, i64)> {
    Some(match t {
        TensorType::INT8 => (-128, 127),
        TensorType::UINT8 => (0, 255),
        TensorType::INT16 => (-32768, 32767),
        TensorType::UINT16 => (0, 65535),
        TensorType::INT4 => (-8, 7),
        TensorType::INT32 | TensorType::INT64 => (i64::MIN, i64::MAX),
        _ => return None,
    })
}

impl Model {
    /// Checks every tensor's shape (rank at most [`MAX_RANK`], no negative dimension, at most
    /// 2^31 elements) and every constant's data against its shape and type: a dense constant of a type with
    /// a fixed element size must hold exactly shape × element size bytes. Sparse constants,
    /// strings, packed sub-byte types and handles are not checked. Linear in the tensor count.
    pub fn validate_data(&self) -> Result<(), TensorError> {
        for (si, sg) in self.subgraphs.iter().enumerate() {
            for (ti, t) in sg.tensors.iter().enumerate() {
                let err = |what: String| TensorError { subgraph: si, tensor: ti, name: cap(t.name(), 80), what };
                // A shape holds sizes (-1 for a dynamic dimension lives in the shape signature).
                if t.shape().len() > MAX_RANK {
                    return Err(err(format!("shape {} has rank {}", cap_list(t.shape(), 8), t.shape().len())));
                }
                if t.shape().iter().any(|&d| d < 0) {
                    return Err(err(format!("shape {} has a negative dimension", cap_list(t.shape(), 8))));
                }
                if !matches!(t.num_elements(), Some(n) if n <= MAX_TENSOR_ELEMENTS) {
                    return Err(err(format!("shape {} has more than 2^31 elements", cap_list(t.shape(), 8))));
                }
                let len = self.tensor_bytes(t).len();
                if len > 0 && t.is_variable {
                    return Err(err("a variable tensor with constant data (the runtime refuses it)".into()));
                }
                if len == 0 || t.sparsity.is_some() {
                    continue;
                }
                let Some(elem) = element_size(t.dtype) else { continue };
                let shape = t.shape();
                if shape.iter().any(|&d| d < 0) {
                    return Err(err(format!("constant with unknown dimensions, shape {}", cap_list(shape, 8))));
                }
                let need = t.num_elements().and_then(|n| n.checked_mul(elem));
                if need != Some(len) {
                    let need = need.map_or("more than fits in memory".to_string(), |n| format!("{n}"));
                    return Err(err(format!(
                        "its buffer holds {len} bytes, but its shape {} and type {} need {need}",
                        cap_list(shape, 8),
                        type_name(t.dtype)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks the quantization parameters of every integer tensor: scales finite and > 0, one
    /// per tensor or one per slice of an existing `quantized_dimension`, zero points as many and
    /// within the type's range.
    pub fn validate_quantization(&self) -> Result<(), TensorError> {
        for (si, sg) in self.subgraphs.iter().enumerate() {
            for (ti, t) in sg.tensors.iter().enumerate() {
                let Some(q) = &t.quantization else { continue };
                let (scales, zps) = (q.scales(), q.zero_points());
                if scales.is_empty() {
                    continue;
                }
                let err = |what: String| TensorError { subgraph: si, tensor: ti, name: cap(t.name(), 80), what };
                // The runtime checks the counts on a tensor of any type; values only matter to
                // the integer types.
                if !zps.is_empty() && zps.len() != scales.len() {
                    return Err(err(format!("{} scales but {} zero points", scales.len(), zps.len())));
                }
                if let Some((lo, hi)) = zero_point_range(t.dtype) {
                    if let Some((c, s)) = scales.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
                        return Err(err(format!("scale {c} is {s}; scales must be finite and above 0")));
                    }
                    if let Some(z) = zps.iter().find(|&&z| z < lo || z > hi) {
                        return Err(err(format!("zero point {z} is outside {} [{lo}, {hi}]", type_name(t.dtype))));
                    }
                }
                if scales.len() > 1 && !zps.is_empty() {
                    let dim = usize::try_from(q.quantized_dimension).ok().and_then(|d| t.shape().get(d));
                    if dim.map(|&d| d as i64) != Some(scales.len() as i64) {
                        return Err(err(format!(
                            "{} scales along dimension {} of shape {}",
                            scales.len(),
                            q.quantized_dimension,
                            cap_list(t.shape(), 8)
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_keep_messages_short() {
        let dims = vec![1; 16_777_216];
        assert_eq!(cap_list(&dims, 3), "[1, 1, 1, … 16777216 items]");
        assert_eq!(cap_list(&[1, 2], 3), "[1, 2]");
        assert_eq!(cap(&"x".repeat(1000), 5), "xxxxx…");
        assert_eq!(cap("short", 5), "short");
    }
}
