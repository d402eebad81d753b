//! fold_dequantize and densify: turn FLOAT16 constants behind DEQUANTIZE and
//! sparse constants behind DENSIFY into plain float32 constants, so the passes see plain
//! weights; then, once they ran, `restore` puts back what no pass replaced (so an fp16 or
//! sparse input keeps its encoding) and `resparsify` stores quantized weights that came from
//! sparse ones with their sparsity pattern when that is smaller.
//!
//! The folds leave the now-unused source constants in place; `prune` drops them.

use super::graph;
use crate::ir::codec::{self, CodecError, Dense};
use crate::ir::dtype::element_size;
use crate::ir::{sparse, Buffer, Data, Model, Operator, Tensor};
use crate::schema::{BuiltinOperator, SparsityParametersT, TensorType};

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
    records: &mut Vec<Folded>,
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
            let source_bytes = data.len();
            // Where the values' sparsity pattern came from: this input, or the fold that made it.
            let sparse = match &tin.sparsity {
                Some(sp) => Some(SparseOrigin {
                    sparsity: sp.clone(),
                    stored: data.len() / element_size(tin.dtype).unwrap_or(1).max(1),
                    values: data.len(),
                }),
                // Folds append their buffers, so records are sorted by buffer.
                None => {
                    records.binary_search_by_key(&tin.buffer, |r| r.buffer).ok().and_then(|k| records[k].sparse.clone())
                }
            };
            let before = tout.clone();
            let op = sg.operators[c.operator].clone();
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
            records.push(Folded { subgraph: si, output: c.output, buffer, before, op, sparse, source_bytes });
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
pub fn fold_dequantize(model: &mut Model, records: &mut Vec<Folded>) -> Result<usize, FoldError> {
    let fold = |tin: &Tensor, data: &[u8]| {
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
    };
    fold_ops(model, BuiltinOperator::DEQUANTIZE, "DEQUANTIZE", fold, records)
}

/// Replaces each DENSIFY of a sparse constant by a dense constant of the same type.
/// Returns how many operators were folded.
pub fn densify(model: &mut Model, records: &mut Vec<Folded>) -> Result<usize, FoldError> {
    let fold = |tin: &Tensor, data: &[u8]| {
        if tin.sparsity.is_none() {
            return Ok(None);
        }
        Ok(Some((tin.dtype, sparse::densify(tin, data).map_err(data_error(tin))?)))
    };
    fold_ops(model, BuiltinOperator::DENSIFY, "DENSIFY", fold, records)
}

/// One folded operator: enough to undo the fold.
#[derive(Debug, Clone)]
pub struct Folded {
    subgraph: usize,
    /// The operator's output tensor, now a constant in `buffer`.
    output: usize,
    buffer: u32,
    /// The output tensor as it was, and the operator that was removed.
    before: Tensor,
    op: Operator,
    /// Set when the values were stored sparse (here or earlier in the chain).
    sparse: Option<SparseOrigin>,
    /// Bytes of the constant the operator read.
    source_bytes: usize,
}

/// A sparsity pattern that folded values came from.
#[derive(Debug, Clone)]
struct SparseOrigin {
    sparsity: SparsityParametersT,
    /// How many values the pattern stores, and their bytes.
    stored: usize,
    values: usize,
}

impl SparseOrigin {
    /// Bytes the sparse form takes: its values and its index arrays.
    fn bytes(&self) -> usize {
        self.values + sparse::index_bytes(&self.sparsity)
    }
}

/// Every fold `fold_all` made, and how many of each kind.
#[derive(Debug, Default)]
pub struct Folding {
    pub records: Vec<Folded>,
    pub dequantize: usize,
    pub densify: usize,
}

/// Folds DEQUANTIZE and DENSIFY of constants until none is left, so chains such as sparse
/// FLOAT16 → DENSIFY → DEQUANTIZE become one float32 constant.
pub fn fold_all(model: &mut Model) -> Result<Folding, FoldError> {
    let mut f = Folding::default();
    loop {
        let dequantized = fold_dequantize(model, &mut f.records)?;
        let densified = densify(model, &mut f.records)?;
        f.dequantize += dequantized;
        f.densify += densified;
        if dequantized + densified == 0 {
            return Ok(f);
        }
    }
}

/// Whether tensor `t` of subgraph `si` is read by an operator or is a subgraph output.
fn is_read(model: &Model, si: usize, t: usize) -> bool {
    let sg = &model.subgraphs[si];
    sg.outputs.iter().any(|&o| o as i64 == t as i64)
        || sg.operators.iter().any(|op| op.inputs.iter().any(|&i| i as i64 == t as i64))
}

/// Per subgraph and tensor: how many operators read it (a subgraph output counts as one), and
/// whether one of them is a hybrid kernel, i.e. also reads an int8 constant directly (not a
/// DEQUANTIZE). XNNPACK needs such a kernel's other constants (the bias) static, and refuses
/// the model when one is computed by a DEQUANTIZE.
fn readers(model: &Model) -> Vec<Vec<(usize, bool)>> {
    model
        .subgraphs
        .iter()
        .map(|sg| {
            let mut r = vec![(0usize, false); sg.tensors.len()];
            let int8_constant = |i: i32| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| sg.tensors.get(i))
                    .is_some_and(|x| matches!(x.dtype, TensorType::INT8 | TensorType::INT4) && model.is_constant(x))
            };
            for op in &sg.operators {
                let dequantize = model.operator_codes.get(op.opcode_index as usize).map(|c| c.builtin)
                    == Some(BuiltinOperator::DEQUANTIZE);
                let hybrid = !dequantize && op.inputs.iter().any(|&i| int8_constant(i));
                for &i in &op.inputs {
                    if let Some(x) = usize::try_from(i).ok().and_then(|i| r.get_mut(i)) {
                        x.0 += 1;
                        x.1 |= hybrid;
                    }
                }
            }
            for &o in &sg.outputs {
                if let Some(x) = usize::try_from(o).ok().and_then(|o| r.get_mut(o)) {
                    x.0 += 1;
                }
            }
            r
        })
        .collect()
}

/// Undoes each fold whose constant no pass replaced and that is still read: the output is
/// computed again by the original operator from the original (FLOAT16, sparse) constant, so
/// constants left unquantized keep the input's encoding. Latest folds first, so a chain comes
/// back whole; restored operators go to the front of their subgraph in chain order.
/// Returns how many were restored.
pub fn restore(model: &mut Model, records: &mut Vec<Folded>) -> usize {
    restore_where(model, records, |_| true).len()
}

/// `restore` for the folds `pick` chooses; returns the restored ones.
fn restore_where(model: &mut Model, records: &mut Vec<Folded>, pick: impl Fn(&Folded) -> bool) -> Vec<Folded> {
    let mut readers = readers(model);
    let mut front: Vec<Vec<Operator>> = vec![Vec::new(); model.subgraphs.len()];
    let (mut kept, mut restored) = (Vec::new(), Vec::new());
    for r in std::mem::take(records).into_iter().rev() {
        let t = &model.subgraphs[r.subgraph].tensors[r.output];
        let (count, hybrid) = readers[r.subgraph][r.output];
        if !pick(&r) || t.buffer != r.buffer || count == 0 || hybrid {
            kept.push(r);
            continue;
        }
        // The restored operator now reads its source: a fold earlier in the chain is read again.
        for &i in &r.op.inputs {
            if let Some(x) = usize::try_from(i).ok().and_then(|i| readers[r.subgraph].get_mut(i)) {
                x.0 += 1;
            }
        }
        model.subgraphs[r.subgraph].tensors[r.output] = r.before.clone();
        front[r.subgraph].push(r.op.clone());
        restored.push(r);
    }
    kept.reverse();
    *records = kept;
    for (sg, mut ops) in model.subgraphs.iter_mut().zip(front) {
        if !ops.is_empty() {
            // Restored last-to-first: the first of a chain comes out last.
            ops.reverse();
            ops.append(&mut sg.operators);
            sg.operators = ops;
        }
    }
    restored
}

/// A sparse weight kept in its input form.
pub struct KeptSparse {
    pub subgraph: usize,
    pub tensor: usize,
    pub name: String,
    /// Bytes of its stored values and of its index arrays.
    pub values: usize,
    pub indices: usize,
    /// What dense int8 would take, with the growth of its op's float32 bias.
    pub dense: usize,
}

/// Restores, before a weight-only mode runs, the sparse weights whose sparse input form is
/// no bigger than dense int8 would be. Those modes write dense int8 only: XNNPACK refuses a
/// hybrid kernel whose int8 weight comes from a DENSIFY, and computes wrong values from an
/// int8 DENSIFY → DEQUANTIZE chain.
pub fn keep_small_sparse(model: &mut Model, records: &mut Vec<Folded>) -> Vec<KeptSparse> {
    // Quantizing a weight also makes its op's other folded constants (the bias) float32.
    let growth = |r: &Folded| -> usize {
        let sg = &model.subgraphs[r.subgraph];
        let readers = sg.operators.iter().filter(|op| op.inputs.iter().any(|&i| i as i64 == r.output as i64));
        let others: std::collections::BTreeSet<i32> = readers.flat_map(|op| op.inputs.iter().copied()).collect();
        let folded = |i: i32| {
            records.iter().find(|x| x.subgraph == r.subgraph && x.output as i64 == i as i64 && x.sparse.is_none())
        };
        others
            .into_iter()
            .filter(|&i| i as i64 != r.output as i64)
            .filter_map(folded)
            .map(|x| model.buffers[x.buffer as usize].data.as_bytes().len().saturating_sub(x.source_bytes))
            .sum()
    };
    let sizes: Vec<(usize, usize, usize, usize)> = records
        .iter()
        .filter_map(|r| Some((r.subgraph, r.output, r.sparse.as_ref()?.bytes(), r.before.num_elements()? + growth(r))))
        .collect();
    let size_of = |r: &Folded| sizes.iter().find(|s| (s.0, s.1) == (r.subgraph, r.output)).map(|s| (s.2, s.3));
    let restored = restore_where(model, records, |r| size_of(r).is_some_and(|(sparse, dense)| sparse <= dense));
    restored
        .iter()
        .filter(|r| r.before.dtype == TensorType::FLOAT32)
        .filter_map(|r| {
            let (bytes, dense) = size_of(r)?;
            let values = r.sparse.as_ref()?.values;
            let (subgraph, tensor, name) = (r.subgraph, r.output, r.before.name().to_string());
            Some(KeptSparse { subgraph, tensor, name, values, indices: bytes - values, dense })
        })
        .collect()
}

/// Stores each dense INT8 or FLOAT16 constant that a pass made from a folded sparse constant
/// (the fold's own tensor, or a copy named after it) with the original's sparsity pattern,
/// behind a DENSIFY, when every non-zero value lies in the pattern and the sparse form with
/// its indices is smaller. Returns how many were stored sparse.
pub fn resparsify(model: &mut Model, records: &[Folded]) -> usize {
    let mut done = 0;
    for r in records {
        let Some(origin) = &r.sparse else { continue };
        let indices = sparse::index_bytes(&origin.sparsity);
        let base = r.before.name().to_string();
        for ti in 0..model.subgraphs[r.subgraph].tensors.len() {
            let t = &model.subgraphs[r.subgraph].tensors[ti];
            let Some(elem) = element_size(t.dtype) else { continue };
            if !matches!(t.dtype, TensorType::INT8 | TensorType::FLOAT16)
                || t.sparsity.is_some()
                || !model.is_constant(t)
                || t.shape != r.before.shape
                || !t.name().starts_with(&base)
                || !is_read(model, r.subgraph, ti)
            {
                continue;
            }
            let dense = model.tensor_bytes(t);
            if origin.stored * elem + indices >= dense.len() {
                continue;
            }
            let probe = Tensor { sparsity: Some(origin.sparsity.clone()), ..t.clone() };
            let Ok(stored) = sparse::gather_stored(&probe, origin.stored, dense, elem) else { continue };
            let nonzero = |b: &[u8]| b.chunks_exact(elem).filter(|v| v.iter().any(|&x| x != 0)).count();
            // Lossless only when the pattern holds every non-zero value.
            if nonzero(&stored) != nonzero(dense) {
                continue;
            }
            let buffer = graph::add_buffer(model, stored);
            let sg = &mut model.subgraphs[r.subgraph];
            let name = graph::unique_name(sg, sg.tensors[ti].name(), "_sparse");
            let s = graph::add_tensor(sg, Tensor { name: Some(name), buffer, ..probe });
            sg.tensors[ti].buffer = 0;
            let op = graph::simple_op(graph::opcode(model, BuiltinOperator::DENSIFY, 1), s, ti as i32);
            model.subgraphs[r.subgraph].operators.insert(0, op);
            done += 1;
        }
    }
    done
}
