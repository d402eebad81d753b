//! Sparse constants (TFLite's `SparsityParameters`): decoding to dense row-major bytes.

use super::codec::{static_shape, CodecError};
use super::dtype::{element_size, type_name};
use super::Tensor;
use crate::schema::{DimensionType, SparseIndexVectorT, SparsityParametersT};

/// A zeroed buffer of `len` bytes, or an error instead of an allocation abort.
fn zeroed(elements: usize, len: usize) -> Result<Vec<u8>, CodecError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| CodecError::TooLarge(elements))?;
    v.resize(len, 0);
    Ok(v)
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
pub fn densify(tensor: &Tensor, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    let elem = element_size(tensor.dtype).ok_or_else(|| CodecError::UnsupportedType(type_name(tensor.dtype)))?;
    let (_, total) = static_shape(tensor)?;
    if data.len() % elem != 0 {
        return Err(CodecError::Sparsity(format!(
            "{} value bytes is not a whole number of {elem}-byte elements",
            data.len()
        )));
    }
    let offsets = positions(tensor, data.len() / elem)?;
    let out_len = total.checked_mul(elem).ok_or(CodecError::TooLarge(total))?;
    let mut out = zeroed(total, out_len)?;
    for (value, &off) in data.chunks_exact(elem).zip(&offsets) {
        // In bounds: every coordinate is below its extent, so off < total.
        let start = off * elem;
        out[start..start + elem].copy_from_slice(value);
    }
    Ok(out)
}

/// The stored values of `dense` (row-major elements of `elem` bytes, `tensor`'s shape) in
/// the walk order of `tensor.sparsity`: the inverse of `densify` for the same positions.
/// Re-encodes a tensor's new values (e.g. quantized) with its original sparsity pattern.
pub fn gather_stored(tensor: &Tensor, stored: usize, dense: &[u8], elem: usize) -> Result<Vec<u8>, CodecError> {
    let (_, total) = static_shape(tensor)?;
    if total.checked_mul(elem) != Some(dense.len()) {
        return Err(CodecError::Sparsity(format!("{} dense bytes for {total} elements of {elem} bytes", dense.len())));
    }
    let offsets = positions(tensor, stored)?;
    let mut out = Vec::with_capacity(offsets.len() * elem);
    for &off in &offsets {
        out.extend_from_slice(&dense[off * elem..(off + 1) * elem]);
    }
    Ok(out)
}

/// The dense element index of each of the `values` stored values of a sparse tensor, in
/// storage order, after checking that its format describes exactly that many.
fn positions(tensor: &Tensor, values: usize) -> Result<Vec<usize>, CodecError> {
    let sp = tensor.sparsity.as_ref().ok_or(CodecError::NotSparse)?;
    let (dims, total) = static_shape(tensor)?;
    let malformed = CodecError::Sparsity;
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

    Ok(offsets)
}

/// Bytes a sparse index vector takes in the file.
fn vector_bytes(v: &SparseIndexVectorT) -> usize {
    match v {
        SparseIndexVectorT::NONE => 0,
        SparseIndexVectorT::Int32Vector(x) => 4 * x.values.as_ref().map_or(0, Vec::len),
        SparseIndexVectorT::Uint16Vector(x) => 2 * x.values.as_ref().map_or(0, Vec::len),
        SparseIndexVectorT::Uint8Vector(x) => x.values.as_ref().map_or(0, Vec::len),
    }
}

/// Bytes the index arrays of a sparsity pattern take in the file.
pub fn index_bytes(sp: &SparsityParametersT) -> usize {
    sp.dim_metadata.iter().flatten().map(|m| vector_bytes(&m.array_segments) + vector_bytes(&m.array_indices)).sum()
}

/// Checks the sparsity parameters against the dense dims and resolves each traversed level's
/// extent and dense stride. Errors are details for `CodecError::Sparsity`.
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
    use crate::schema::{DimensionMetadataT, Int32VectorT, TensorType, Uint16VectorT, Uint8VectorT};

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

    fn densified(t: &Tensor, values: &[f32]) -> Result<Vec<f32>, CodecError> {
        let out = densify(t, &f32_bytes(values))?;
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
        assert_eq!(densify(&t, &[1, 2, 3, 4, 5, 6]).unwrap(), [1, 2, 3, 4, 5, 6]);
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
                Err(CodecError::Sparsity { .. }) => {}
                other => panic!("case {i}: expected a sparsity error, got {other:?}"),
            }
        }
        // A huge dense level with no data to back it is refused before any allocation.
        let t = sparse_tensor(&[1 << 30, 1 << 30], &[0, 1], &[], vec![dense(1 << 30), dense(1 << 30)]);
        assert!(matches!(densified(&t, &vals), Err(CodecError::Sparsity { .. })));
    }
}
