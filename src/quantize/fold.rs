//! fold_dequantize and densify: turn FLOAT16 constants behind DEQUANTIZE and
//! sparse constants behind DENSIFY into plain float32 constants.
//!
//! Both passes leave the now-unused source constants in place; `prune` drops them.

use crate::ir::codec::{self, CodecError, Dense};
use crate::ir::{sparse, Buffer, Data, Model, Tensor};
use crate::schema::{BuiltinOperator, TensorType};

/// Why a constant could not be folded. Each names the tensor and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    #[error("tensor '{tensor}': {source}")]
    Data { tensor: String, source: CodecError },
    #[error("tensor '{output}' (output of {op}) has {actual} elements, but its input has {expected}")]
    ShapeMismatch { output: String, op: &'static str, expected: usize, actual: usize },
    #[error("the model already has the most buffers a file can index")]
    TooManyBuffers,
    /// Wraps an error with the operator it happened at.
    #[error("subgraph {subgraph}, operator {operator}: {inner}")]
    At { subgraph: usize, operator: usize, inner: Box<FoldError> },
}

/// A codec error about tensor `t`.
fn data_error(t: &Tensor) -> impl FnOnce(CodecError) -> FoldError + '_ {
    move |source| FoldError::Data { tensor: t.name().to_string(), source }
}

/// The element count of `t`'s static shape.
fn dense_count(t: &Tensor) -> Result<usize, FoldError> {
    codec::static_shape(t).map(|(_, n)| n).map_err(data_error(t))
}

/// What a pass needs from a candidate operator: its single input and output tensor indices.
struct Candidate {
    operator: usize,
    input: usize,
    output: usize,
}

/// Operators with opcode `code` whose single input is a non-variable constant and whose single
/// output may become one (it is no subgraph input or output, and not a variable).
fn candidates(model: &Model, si: usize, code: BuiltinOperator) -> Vec<Candidate> {
    let sg = &model.subgraphs[si];
    let mut found = Vec::new();
    for (oi, op) in sg.operators.iter().enumerate() {
        if model.operator_codes.get(op.opcode_index as usize).map(|c| c.builtin) != Some(code) {
            continue;
        }
        let (&[input], &[output]) = (op.inputs.as_slice(), op.outputs.as_slice()) else { continue };
        let (Ok(input), Ok(output)) = (usize::try_from(input), usize::try_from(output)) else { continue };
        let (Some(tin), Some(tout)) = (sg.tensors.get(input), sg.tensors.get(output)) else { continue };
        let boundary = sg.inputs.iter().chain(&sg.outputs).any(|&t| t as i64 == output as i64);
        if model.is_constant(tin) && !tout.is_variable && !boundary {
            found.push(Candidate { operator: oi, input, output });
        }
    }
    found
}

/// Runs `fold` on every candidate of `code`, makes each output a constant holding what it
/// returns, and removes the folded operators. `fold` returns None to leave an operator alone.
fn fold_ops(
    model: &mut Model,
    code: BuiltinOperator,
    op_name: &'static str,
    fold: impl Fn(&Tensor, &[u8]) -> Result<Option<(TensorType, Vec<u8>)>, FoldError>,
) -> Result<usize, FoldError> {
    let mut folded = 0;
    for si in 0..model.subgraphs.len() {
        let mut removed = Vec::new();
        for c in candidates(model, si, code) {
            let at = |inner| FoldError::At { subgraph: si, operator: c.operator, inner: Box::new(inner) };
            let sg = &model.subgraphs[si];
            let (tin, tout) = (&sg.tensors[c.input], &sg.tensors[c.output]);
            let data = model.tensor_bytes(tin);
            let Some((dtype, bytes)) = fold(tin, data).map_err(at)? else { continue };
            let expected = dense_count(tin).map_err(at)?;
            let shape = match &tout.shape {
                Some(_) => {
                    let actual = dense_count(tout).map_err(at)?;
                    if actual != expected {
                        let output = tout.name().to_string();
                        return Err(at(FoldError::ShapeMismatch { output, op: op_name, expected, actual }));
                    }
                    tout.shape.clone()
                }
                // A constant needs a shape; the op's output has the input's.
                None => tin.shape.clone(),
            };
            let in_quant = tin.quantization.clone();
            let buffer = u32::try_from(model.buffers.len()).map_err(|_| FoldError::TooManyBuffers)?;
            model.buffers.push(Buffer { data: Data::from(bytes) });
            let t = &mut model.subgraphs[si].tensors[c.output];
            t.shape = shape;
            t.dtype = dtype;
            t.buffer = buffer;
            t.sparsity = None;
            if dtype == TensorType::FLOAT32 {
                t.quantization = None;
            } else if t.quantization.is_none() {
                // A dense copy of a quantized constant keeps its parameters.
                t.quantization = in_quant;
            }
            removed.push(c.operator);
        }
        folded += removed.len();
        let mut oi = 0;
        model.subgraphs[si].operators.retain(|_| {
            oi += 1;
            removed.binary_search(&(oi - 1)).is_err()
        });
    }
    Ok(folded)
}

/// Replaces each DEQUANTIZE of a constant (FLOAT16, BFLOAT16, or per-tensor/per-channel
/// quantized INT8/UINT8/INT16) by a FLOAT32 constant holding the decoded values, so later
/// passes see plain float weights. Returns how many operators were folded.
pub fn fold_dequantize(model: &mut Model) -> Result<usize, FoldError> {
    fold_ops(model, BuiltinOperator::DEQUANTIZE, "DEQUANTIZE", |tin, data| {
        if !matches!(
            tin.dtype,
            TensorType::FLOAT16 | TensorType::BFLOAT16 | TensorType::INT8 | TensorType::UINT8 | TensorType::INT16
        ) {
            return Ok(None);
        }
        // A sparse constant is stored in traversal order: decode its dense form.
        let dense;
        let data = match tin.sparsity {
            Some(_) => {
                dense = sparse::densify(tin, data).map_err(data_error(tin))?;
                &dense[..]
            }
            None => data,
        };
        let d = Dense::with_shape(tin, data).map_err(data_error(tin))?;
        let real = codec::dequantize(d.dtype, d.bytes, &d.shape, tin.quantization.as_ref()).map_err(data_error(tin))?;
        Ok(Some((TensorType::FLOAT32, codec::encode_f32(&real))))
    })
}

/// Replaces each DENSIFY of a sparse constant by a dense constant of the same type.
/// Returns how many operators were folded.
pub fn densify(model: &mut Model) -> Result<usize, FoldError> {
    fold_ops(model, BuiltinOperator::DENSIFY, "DENSIFY", |tin, data| {
        if tin.sparsity.is_none() {
            return Ok(None);
        }
        Ok(Some((tin.dtype, sparse::densify(tin, data).map_err(data_error(tin))?)))
    })
}
