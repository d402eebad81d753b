//! fold_dequantize and densify: turn FLOAT16 constants behind DEQUANTIZE and
//! sparse constants behind DENSIFY into plain float32 constants.
//!
//! Both passes leave the now-unused source constants in place; `prune` drops them.

use crate::ir::{Buffer, Data, Model, Tensor};
use crate::schema::{BuiltinOperator, DimensionType, SparseIndexVectorT, SparsityParametersT, TensorType};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// Why a constant could not be folded. Each names the tensor and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    #[error("tensor '{tensor}' has no sparsity parameters")]
    NotSparse { tensor: String },
    #[error("tensor '{tensor}': malformed sparsity: {detail}")]
    Sparsity { tensor: String, detail: String },
    #[error("tensor '{tensor}': cannot decode {dtype} elements")]
    UnsupportedType { tensor: String, dtype: String },
    #[error("tensor '{tensor}': shape {shape:?} is not a valid constant shape")]
    BadShape { tensor: String, shape: Vec<i32> },
    #[error("tensor '{tensor}': its buffer holds {actual} bytes, but its shape and type need {expected}")]
    DataSize { tensor: String, expected: usize, actual: usize },
    #[error("tensor '{tensor}': bad quantization parameters: {detail}")]
    Quantization { tensor: String, detail: String },
    #[error("tensor '{tensor}': its {elements} dense elements do not fit in memory")]
    TooLarge { tensor: String, elements: usize },
    #[error("tensor '{output}' (output of {op}) has {actual} elements, but its input has {expected}")]
    ShapeMismatch { output: String, op: &'static str, expected: usize, actual: usize },
    #[error("the model already has the most buffers a file can index")]
    TooManyBuffers,
    /// Wraps an error with the operator it happened at.
    #[error("subgraph {subgraph}, operator {operator}: {inner}")]
    At { subgraph: usize, operator: usize, inner: Box<FoldError> },
}

/// Bytes per element of a type whose elements are whole bytes; None for
/// strings, packed sub-byte types and handles, which have no fixed element size.
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

fn type_name(t: TensorType) -> String {
    t.variant_name().map(str::to_string).unwrap_or_else(|| format!("type {}", t.0))
}

/// The dense dimensions of `t`, refusing negative (dynamic) ones and element counts that overflow.
fn dense_dims(t: &Tensor) -> Result<(Vec<usize>, usize), FoldError> {
    let bad = || FoldError::BadShape { tensor: t.name().to_string(), shape: t.shape().to_vec() };
    let dims = t.shape().iter().map(|&d| usize::try_from(d).map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?;
    let count = t.num_elements().ok_or_else(bad)?;
    Ok((dims, count))
}

/// A zeroed buffer of `len` bytes, or an error instead of an allocation abort.
fn zeroed(tensor: &Tensor, elements: usize, len: usize) -> Result<Vec<u8>, FoldError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| FoldError::TooLarge { tensor: tensor.name().to_string(), elements })?;
    v.resize(len, 0);
    Ok(v)
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
    let is_const =
        |t: &Tensor| !t.is_variable && model.buffers.get(t.buffer as usize).is_some_and(|b| !b.data.is_empty());
    let mut found = Vec::new();
    for (oi, op) in sg.operators.iter().enumerate() {
        if model.operator_codes.get(op.opcode_index as usize).map(|c| c.builtin) != Some(code) {
            continue;
        }
        let (&[input], &[output]) = (op.inputs.as_slice(), op.outputs.as_slice()) else { continue };
        let (Ok(input), Ok(output)) = (usize::try_from(input), usize::try_from(output)) else { continue };
        let (Some(tin), Some(tout)) = (sg.tensors.get(input), sg.tensors.get(output)) else { continue };
        let boundary = sg.inputs.iter().chain(&sg.outputs).any(|&t| t as i64 == output as i64);
        if is_const(tin) && !tout.is_variable && !boundary {
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
            let data = model.buffers[tin.buffer as usize].data.as_bytes();
            let Some((dtype, bytes)) = fold(tin, data).map_err(at)? else { continue };
            let expected = dense_dims(tin).map_err(at)?.1;
            let shape = match &tout.shape {
                Some(_) => {
                    let actual = dense_dims(tout).map_err(at)?.1;
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
                dense = densify_tensor_data(tin, data)?;
                &dense[..]
            }
            None => data,
        };
        Ok(Some((TensorType::FLOAT32, dequantize(tin, data)?)))
    })
}

/// Replaces each DENSIFY of a sparse constant by a dense constant of the same type.
/// Returns how many operators were folded.
pub fn densify(model: &mut Model) -> Result<usize, FoldError> {
    fold_ops(model, BuiltinOperator::DENSIFY, "DENSIFY", |tin, data| {
        if tin.sparsity.is_none() {
            return Ok(None);
        }
        Ok(Some((tin.dtype, densify_tensor_data(tin, data)?)))
    })
}

/// Decodes a dense constant of `t`'s type to little-endian f32 bytes.
fn dequantize(t: &Tensor, data: &[u8]) -> Result<Vec<u8>, FoldError> {
    let name = || t.name().to_string();
    let (dims, count) = dense_dims(t)?;
    let elem = element_size(t.dtype)
        .ok_or_else(|| FoldError::UnsupportedType { tensor: name(), dtype: type_name(t.dtype) })?;
    let expected = count.checked_mul(elem).ok_or_else(|| FoldError::TooLarge { tensor: name(), elements: count })?;
    if data.len() != expected {
        return Err(FoldError::DataSize { tensor: name(), expected, actual: data.len() });
    }
    let out_len = count.checked_mul(4).ok_or_else(|| FoldError::TooLarge { tensor: name(), elements: count })?;
    let mut out = zeroed(t, count, out_len)?;
    let values: Vec<f32> = match t.dtype {
        TensorType::FLOAT16 => {
            let h: Vec<f16> = data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect();
            let mut f = vec![0f32; h.len()];
            h.convert_to_f32_slice(&mut f);
            f
        }
        TensorType::BFLOAT16 => data.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        TensorType::INT8 => affine(t, &dims, data.iter().map(|&b| i64::from(b as i8)))?,
        TensorType::UINT8 => affine(t, &dims, data.iter().map(|&b| i64::from(b)))?,
        TensorType::INT16 => {
            affine(t, &dims, data.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))))?
        }
        _ => return Err(FoldError::UnsupportedType { tensor: name(), dtype: type_name(t.dtype) }),
    };
    for (o, v) in out.chunks_exact_mut(4).zip(values) {
        o.copy_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// real = scale[c] * (q - zero_point[c]), with c the index along `quantized_dimension`
/// (one scale means per-tensor). The integer difference is exact in f32 for 16-bit inputs,
/// so the single f32 product matches the interpreter's DEQUANTIZE kernels.
fn affine(t: &Tensor, dims: &[usize], q: impl Iterator<Item = i64>) -> Result<Vec<f32>, FoldError> {
    let bad = |detail: String| FoldError::Quantization { tensor: t.name().to_string(), detail };
    let qp = t.quantization.as_ref().ok_or_else(|| bad("it has none".into()))?;
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
            .filter(|&a| a < dims.len())
            .ok_or_else(|| bad(format!("quantized_dimension {} for rank {}", qp.quantized_dimension, dims.len())))?;
        if dims[axis] != channels {
            return Err(bad(format!("{channels} scales for dimension {axis} of size {}", dims[axis])));
        }
        dims[axis + 1..].iter().product::<usize>()
    };
    Ok(q.enumerate()
        .map(|(i, q)| {
            let c = if channels == 1 { 0 } else { (i / inner) % channels };
            let zp = zps.get(c).copied().unwrap_or(0);
            scales[c] * (q.saturating_sub(zp) as f32)
        })
        .collect())
}

/// One traversed dimension of a sparse tensor, validated.
struct Level {
    /// Extent of the expanded dimension this level walks.
    size: usize,
    /// Step in the dense (row-major, original-shape) element index per unit of this dimension.
    stride: usize,
    /// For SPARSE_CSR levels: segments (one more than the parent positions) and indices.
    csr: Option<(Vec<usize>, Vec<usize>)>,
}

/// Decodes a sparse constant (`tensor.sparsity`) to the dense row-major bytes of its `shape`.
///
/// TFLite's format: the tensor's dims are "expanded" to the original dims (each blocked one
/// divided by its block size) followed by one dim per `block_map` entry (the block extent).
/// `traversal_order` is the order these expanded dims are walked in, and `dim_metadata[l]`
/// describes the l-th walked dim: DENSE walks all `dense_size` positions; SPARSE_CSR walks,
/// for parent position p, `array_indices[array_segments[p]..array_segments[p+1]]`, and the
/// position of entry i is i. Values are stored in walk order, one per complete coordinate.
pub fn densify_tensor_data(tensor: &Tensor, data: &[u8]) -> Result<Vec<u8>, FoldError> {
    let name = || tensor.name().to_string();
    let sp = tensor.sparsity.as_ref().ok_or_else(|| FoldError::NotSparse { tensor: name() })?;
    let elem = element_size(tensor.dtype)
        .ok_or_else(|| FoldError::UnsupportedType { tensor: name(), dtype: type_name(tensor.dtype) })?;
    let (dims, total) = dense_dims(tensor)?;
    let malformed = |detail: String| FoldError::Sparsity { tensor: name(), detail };
    if data.len() % elem != 0 {
        return Err(malformed(format!("{} value bytes is not a whole number of {elem}-byte elements", data.len())));
    }
    let values = data.len() / elem;
    let out_len = total.checked_mul(elem).ok_or_else(|| FoldError::TooLarge { tensor: name(), elements: total })?;
    let levels = levels(&dims, sp).map_err(malformed)?;

    // Count the walk's positions level by level before materializing any, so a bogus
    // dense_size cannot make us allocate more than the file's own arrays justify.
    let mut count = 1usize;
    if total == 0 {
        count = 0;
    } else {
        for (l, lv) in levels.iter().enumerate() {
            count = match &lv.csr {
                None => count.checked_mul(lv.size).ok_or_else(|| malformed(format!("level {l} overflows")))?,
                Some((segs, idx)) => {
                    if segs.len().checked_sub(1) != Some(count) {
                        return Err(malformed(format!(
                            "level {l}: array_segments has {} entries, expected {count} parent positions + 1",
                            segs.len()
                        )));
                    }
                    if segs[0] != 0 {
                        return Err(malformed(format!("level {l}: array_segments starts at {}, not 0", segs[0])));
                    }
                    if let Some(w) = segs.windows(2).position(|w| w[1] < w[0]) {
                        return Err(malformed(format!("level {l}: array_segments decreases at entry {}", w + 1)));
                    }
                    if segs[count] != idx.len() {
                        return Err(malformed(format!(
                            "level {l}: array_segments ends at {}, but array_indices has {} entries",
                            segs[count],
                            idx.len()
                        )));
                    }
                    if let Some(&j) = idx.iter().find(|&&j| j >= lv.size) {
                        return Err(malformed(format!("level {l}: index {j} is outside the dimension's {}", lv.size)));
                    }
                    idx.len()
                }
            };
        }
    }
    if count != values {
        return Err(malformed(format!("the format describes {count} stored values, but the buffer holds {values}")));
    }

    // Walk: the dense element index of every position at the current level, in storage order.
    // A position's index in this list is exactly the parent index the next level uses.
    let mut offsets = vec![0usize];
    if total == 0 {
        offsets.clear();
    }
    for lv in &levels {
        let mut next = Vec::new();
        match &lv.csr {
            None => {
                for &base in &offsets {
                    next.extend((0..lv.size).map(|j| base + j * lv.stride));
                }
            }
            Some((segs, idx)) => {
                for (p, &base) in offsets.iter().enumerate() {
                    next.extend(idx[segs[p]..segs[p + 1]].iter().map(|&j| base + j * lv.stride));
                }
            }
        }
        offsets = next;
    }

    let mut out = zeroed(tensor, total, out_len)?;
    for (value, &off) in data.chunks_exact(elem).zip(&offsets) {
        // In bounds: every coordinate is below its extent, so off < total.
        let start = off * elem;
        out[start..start + elem].copy_from_slice(value);
    }
    Ok(out)
}

/// Checks the sparsity parameters against the dense dims and resolves each traversed level's
/// extent and dense stride. Errors are details for `FoldError::Sparsity`.
fn levels(dims: &[usize], sp: &SparsityParametersT) -> Result<Vec<Level>, String> {
    let rank = dims.len();
    let order = sp.traversal_order.as_deref().ok_or("no traversal_order")?;
    let block_map = sp.block_map.as_deref().unwrap_or(&[]);
    let meta = sp.dim_metadata.as_deref().ok_or("no dim_metadata")?;
    let n = rank + block_map.len();
    if order.len() != n {
        return Err(format!(
            "traversal_order has {} entries, expected {n} ({rank} dims + {} block dims)",
            order.len(),
            block_map.len()
        ));
    }
    if meta.len() != n {
        return Err(format!("dim_metadata has {} entries, expected {n}", meta.len()));
    }
    // level_of[d]: the level walking expanded dim d.
    let mut level_of = vec![usize::MAX; n];
    for (l, &d) in order.iter().enumerate() {
        let d =
            usize::try_from(d).ok().filter(|&d| d < n).ok_or(format!("traversal_order entry {d} is out of range"))?;
        if level_of[d] != usize::MAX {
            return Err(format!("traversal_order names dim {d} twice"));
        }
        level_of[d] = l;
    }
    // The runtime pairs block dims with blocked dims in ascending order only.
    let mut blocked = vec![None; rank];
    for (k, &d) in block_map.iter().enumerate() {
        let d = usize::try_from(d).ok().filter(|&d| d < rank).ok_or(format!("block_map entry {d} is out of range"))?;
        if k > 0 && block_map[k - 1] >= block_map[k] {
            return Err("block_map is not strictly increasing".into());
        }
        let lm = &meta[level_of[rank + k]];
        if lm.format != DimensionType::DENSE {
            return Err(format!("block dim {k} is not DENSE"));
        }
        let size = usize::try_from(lm.dense_size)
            .ok()
            .filter(|&s| s > 0)
            .ok_or(format!("block dim {k} has dense_size {}", lm.dense_size))?;
        if dims[d] % size != 0 {
            return Err(format!("dim {d} of size {} is not a multiple of its block size {size}", dims[d]));
        }
        blocked[d] = Some(size);
    }
    // Row-major strides of the dense shape; a blocked dim's outer index steps over whole blocks.
    let mut dense_stride = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        dense_stride[d] = dense_stride[d + 1].checked_mul(dims[d + 1]).ok_or("the dense shape overflows")?;
    }
    let mut extent = Vec::with_capacity(n);
    for d in 0..rank {
        let b = blocked[d].unwrap_or(1);
        let stride = dense_stride[d].checked_mul(b).ok_or("the dense shape overflows")?;
        extent.push((dims[d] / b, stride));
    }
    for &d in block_map {
        let d = d as usize; // checked above
        extent.push((blocked[d].unwrap_or(1), dense_stride[d]));
    }

    order
        .iter()
        .zip(meta)
        .enumerate()
        .map(|(l, (&d, m))| {
            let (size, stride) = extent[d as usize];
            let csr = match m.format {
                DimensionType::DENSE => {
                    if usize::try_from(m.dense_size).ok() != Some(size) {
                        return Err(format!("level {l}: dense_size {} but the dim's extent is {size}", m.dense_size));
                    }
                    None
                }
                DimensionType::SPARSE_CSR => Some((
                    index_vector(&m.array_segments).map_err(|e| format!("level {l}: array_segments {e}"))?,
                    index_vector(&m.array_indices).map_err(|e| format!("level {l}: array_indices {e}"))?,
                )),
                f => return Err(format!("level {l}: unknown dimension format {}", f.0)),
            };
            Ok(Level { size, stride, csr })
        })
        .collect()
}

fn index_vector(v: &SparseIndexVectorT) -> Result<Vec<usize>, String> {
    Ok(match v {
        SparseIndexVectorT::NONE => return Err("is missing".into()),
        SparseIndexVectorT::Int32Vector(v) => v
            .values
            .iter()
            .flatten()
            .map(|&x| usize::try_from(x).map_err(|_| format!("holds negative value {x}")))
            .collect::<Result<_, _>>()?,
        SparseIndexVectorT::Uint16Vector(v) => v.values.iter().flatten().map(|&x| usize::from(x)).collect(),
        SparseIndexVectorT::Uint8Vector(v) => v.values.iter().flatten().map(|&x| usize::from(x)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::QuantParams;
    use crate::schema::{DimensionMetadataT, Int32VectorT, Uint16VectorT, Uint8VectorT};

    fn dense(size: i32) -> DimensionMetadataT {
        DimensionMetadataT { format: DimensionType::DENSE, dense_size: size, ..Default::default() }
    }

    fn csr(segments: &[i32], indices: &[u8]) -> DimensionMetadataT {
        DimensionMetadataT {
            format: DimensionType::SPARSE_CSR,
            dense_size: 0,
            array_segments: SparseIndexVectorT::Int32Vector(Box::new(Int32VectorT { values: Some(segments.to_vec()) })),
            array_indices: SparseIndexVectorT::Uint8Vector(Box::new(Uint8VectorT { values: Some(indices.to_vec()) })),
        }
    }

    fn sparse_tensor(shape: &[i32], order: &[i32], block_map: &[i32], meta: Vec<DimensionMetadataT>) -> Tensor {
        Tensor {
            name: Some("w".into()),
            shape: Some(shape.to_vec()),
            sparsity: Some(SparsityParametersT {
                traversal_order: Some(order.to_vec()),
                block_map: Some(block_map.to_vec()),
                dim_metadata: Some(meta),
            }),
            ..Default::default()
        }
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn densified(t: &Tensor, values: &[f32]) -> Result<Vec<f32>, FoldError> {
        let out = densify_tensor_data(t, &f32_bytes(values))?;
        Ok(out.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
    }

    #[rustfmt::skip]
    const MATRIX: [f32; 16] = [
        1., 0., 0., 2.,
        0., 0., 3., 0.,
        0., 0., 0., 0.,
        4., 5., 0., 6.,
    ];

    #[test]
    fn csr_rows() {
        let t = sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(4), csr(&[0, 2, 3, 3, 6], &[0, 3, 2, 0, 1, 3])]);
        assert_eq!(densified(&t, &[1., 2., 3., 4., 5., 6.]).unwrap(), MATRIX);
    }

    #[test]
    fn csr_columns_via_traversal_order() {
        // Walk columns first (CSC): column 0 holds rows 0 and 3, column 1 row 3, ...
        let t = sparse_tensor(&[4, 4], &[1, 0], &[], vec![dense(4), csr(&[0, 2, 3, 4, 6], &[0, 3, 3, 1, 0, 3])]);
        assert_eq!(densified(&t, &[1., 4., 5., 3., 2., 6.]).unwrap(), MATRIX);
    }

    #[test]
    fn two_by_two_blocks() {
        // Block row 0 keeps block column 0, block row 1 keeps block column 1; each block is dense, row-major.
        let t = sparse_tensor(
            &[4, 4],
            &[0, 1, 2, 3],
            &[0, 1],
            vec![dense(2), csr(&[0, 1, 2], &[0, 1]), dense(2), dense(2)],
        );
        #[rustfmt::skip]
        let want = [
            1., 2., 0., 0.,
            3., 4., 0., 0.,
            0., 0., 5., 6.,
            0., 0., 7., 8.,
        ];
        assert_eq!(densified(&t, &[1., 2., 3., 4., 5., 6., 7., 8.]).unwrap(), want);
    }

    #[test]
    fn one_by_four_blocks_like_fully_connected() {
        // [2, 8] with block_map [1], block 4: row 0 keeps block 1, row 1 keeps blocks 0 and 1.
        let mut meta = vec![dense(2), csr(&[0, 1, 3], &[1, 0, 1]), dense(4)];
        meta[1].array_segments =
            SparseIndexVectorT::Uint16Vector(Box::new(Uint16VectorT { values: Some(vec![0, 1, 3]) }));
        let t = sparse_tensor(&[2, 8], &[0, 1, 2], &[1], meta);
        let values: Vec<f32> = (1..=12).map(|x| x as f32).collect();
        let want = [0., 0., 0., 0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];
        assert_eq!(densified(&t, &values).unwrap(), want);
    }

    #[test]
    fn int8_elements_and_all_dense() {
        let mut t = sparse_tensor(&[2, 3], &[0, 1], &[], vec![dense(2), dense(3)]);
        t.dtype = TensorType::INT8;
        assert_eq!(densify_tensor_data(&t, &[1, 2, 3, 4, 5, 6]).unwrap(), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn malformed_sparsity_is_an_error() {
        let vals = [1., 2., 3., 4., 5., 6.];
        let cases = [
            // Index 4 is outside a 4-wide row.
            sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(4), csr(&[0, 2, 3, 3, 6], &[0, 4, 2, 0, 1, 3])]),
            // Segments for 3 rows only.
            sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(4), csr(&[0, 2, 3, 6], &[0, 3, 2, 0, 1, 3])]),
            // Decreasing segments.
            sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(4), csr(&[0, 3, 2, 3, 6], &[0, 3, 2, 0, 1, 3])]),
            // dense_size disagrees with the shape.
            sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(5), csr(&[0, 2, 3, 3, 6], &[0, 3, 2, 0, 1, 3])]),
            // Not a permutation.
            sparse_tensor(&[4, 4], &[0, 0], &[], vec![dense(4), csr(&[0, 2, 3, 3, 6], &[0, 3, 2, 0, 1, 3])]),
            // Block size 3 does not divide 4.
            sparse_tensor(&[4, 4], &[0, 1, 2], &[1], vec![dense(4), csr(&[0, 1, 1, 1, 1], &[0]), dense(3)]),
            // Too few values for the described positions (7 needed).
            sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(4), csr(&[0, 2, 3, 3, 7], &[0, 3, 2, 0, 1, 3, 2])]),
            // Missing metadata for a dim.
            sparse_tensor(&[4, 4], &[0, 1], &[], vec![dense(4)]),
        ];
        for (i, t) in cases.iter().enumerate() {
            match densified(t, &vals) {
                Err(FoldError::Sparsity { .. }) => {}
                other => panic!("case {i}: expected a sparsity error, got {other:?}"),
            }
        }
        // A huge dense level with no data to back it is refused before any allocation.
        let t = sparse_tensor(&[1 << 30, 1 << 30], &[0, 1], &[], vec![dense(1 << 30), dense(1 << 30)]);
        assert!(matches!(densified(&t, &vals), Err(FoldError::Sparsity { .. })));
    }

    #[test]
    fn per_channel_int8_dequantizes_along_its_axis() {
        let t = Tensor {
            name: Some("q".into()),
            shape: Some(vec![2, 3]),
            dtype: TensorType::INT8,
            quantization: Some(QuantParams {
                scale: Some(vec![0.5, 2.0, 0.25]),
                zero_point: Some(vec![0, 1, -2]),
                quantized_dimension: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let q = [2i8, 3, -2, -4, 1, 6].map(|x| x as u8);
        let out = dequantize(&t, &q).unwrap();
        let got: Vec<f32> = out.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(got, [1.0, 4.0, 0.0, -2.0, 0.0, 2.0]);
    }

    #[test]
    fn float16_decodes_exactly() {
        let t = Tensor { shape: Some(vec![3]), dtype: TensorType::FLOAT16, ..Default::default() };
        let h: Vec<u8> =
            [1.5f32, -65504.0, 0.000061035156].iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect();
        let out = dequantize(&t, &h).unwrap();
        assert_eq!(out, f32_bytes(&[1.5, -65504.0, 0.000061035156]));
    }
}
