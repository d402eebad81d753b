//! Moving blocks of the spatial axes to and from the batch axis: SPACE_TO_BATCH_ND and
//! BATCH_TO_SPACE_ND (which TF uses around dilated convolutions).

use super::util::{check, checked_numel, inp, ints, sizes};
use super::{IntegerRule, KResult, OpDef, OpSignature, Prepared};
use crate::ir::{Buf, Value};
use crate::schema::{BuiltinOperator as B, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    // Both only move values: the output keeps the input's parameters.
    add(OpDef::builtin(B::SPACE_TO_BATCH_ND)
        .int_kernel(super::integer::space_to_batch)
        .kernel(|_| {
            Ok(Prepared::one(|ins| {
                let v = inp(ins, 0)?;
                let (block, pads) = (sizes(inp(ins, 1)?, "block size")?, ints(inp(ins, 2)?)?);
                blocks(v, &block, &pads, true)
            }))
        })
        .integer(IntegerRule::same_as_input(0))
        .version(blocks_version, &[1, 2, 3]));
    add(OpDef::builtin(B::BATCH_TO_SPACE_ND)
        .int_same()
        .kernel(|_| {
            Ok(Prepared::one(|ins| {
                let v = inp(ins, 0)?;
                let (block, crops) = (sizes(inp(ins, 1)?, "block size")?, ints(inp(ins, 2)?)?);
                blocks(v, &block, &crops, false)
            }))
        })
        .integer(IntegerRule::same_as_input(0))
        .version(blocks_version, &[1, 2, 3]));
}

/// 16x8 2 (as TF's 16x8 quantizer writes it); otherwise 3 for an input not of rank 4, int8 2, float 1.
fn blocks_version(s: &OpSignature) -> i32 {
    match s.input_type(0) {
        TensorType::INT16 => 2,
        _ if s.input(0).is_some_and(|t| t.rank != 4) => 3,
        TensorType::INT8 => 2,
        _ => 1,
    }
}

/// SPACE_TO_BATCH_ND (`to_batch`, with `edges` the zero paddings) or BATCH_TO_SPACE_ND (with
/// `edges` the crops). With B the space side's batch and (i_0, …) a position inside a block,
/// batch element (i_0·b_1 + i_1 + …)·B + b at spatial position (o_0, …) holds the space side's
/// element b at (o_0·b_0 + i_0 − e_0, …), where e_j is the leading padding or crop.
pub(super) fn blocks(v: &Value, block: &[usize], edges: &[i64], to_batch: bool) -> KResult<Value> {
    check(v)?;
    let m = block.len();
    let name = if to_batch { "SPACE_TO_BATCH_ND" } else { "BATCH_TO_SPACE_ND" };
    if v.shape.len() < m + 1 || edges.len() != 2 * m || block.contains(&0) {
        return Err(format!("{name}: block {block:?} and edges {edges:?} for input {:?}", v.shape));
    }
    let edges: Vec<usize> = edges
        .iter()
        .map(|&e| usize::try_from(e))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{name}: negative padding or crop"))?;
    let prod: usize = block.iter().product();
    let rest: usize = v.shape[m + 1..].iter().product();
    // The space side's shape (batch, spatial) and the batch side's, in elements.
    let (space, batch): (Vec<usize>, Vec<usize>) = if to_batch {
        let mut b = vec![v.shape[0] * prod];
        for j in 0..m {
            let padded = v.shape[1 + j] + edges[2 * j] + edges[2 * j + 1];
            if padded % block[j] != 0 {
                return Err(format!("{name}: padded size {padded} is not a multiple of block {}", block[j]));
            }
            b.push(padded / block[j]);
        }
        (v.shape[..=m].to_vec(), b)
    } else {
        if v.shape[0] % prod != 0 {
            return Err(format!("{name}: batch {} is not a multiple of the block size {prod}", v.shape[0]));
        }
        let mut s = vec![v.shape[0] / prod];
        for j in 0..m {
            let full = v.shape[1 + j] * block[j];
            let kept = full
                .checked_sub(edges[2 * j] + edges[2 * j + 1])
                .ok_or_else(|| format!("{name}: crops {edges:?} exceed the size {full}"))?;
            s.push(kept);
        }
        (s, v.shape[..=m].to_vec())
    };
    let mut out_shape = if to_batch { batch.clone() } else { space.clone() };
    out_shape.extend_from_slice(&v.shape[m + 1..]);
    let n = checked_numel(&out_shape)?;
    // For every batch-side row (batch element, spatial position): the space-side row it maps
    // to, or None for padding.
    let nb = space[0];
    let batch_rows: usize = batch.iter().product();
    let mut map = Vec::with_capacity(batch_rows);
    let mut pos = vec![0usize; m];
    for ob in 0..batch[0] {
        let (mut blk, b) = (ob / nb, ob % nb);
        let mut inner = vec![0usize; m];
        for j in (0..m).rev() {
            inner[j] = blk % block[j];
            blk /= block[j];
        }
        pos.iter_mut().for_each(|p| *p = 0);
        let cells: usize = batch[1..].iter().product();
        for _ in 0..cells {
            let mut row = b;
            let mut inside = true;
            for j in 0..m {
                let s = (pos[j] * block[j] + inner[j]).checked_sub(edges[2 * j]);
                match s {
                    Some(s) if s < space[1 + j] => row = row * space[1 + j] + s,
                    _ => inside = false,
                }
            }
            map.push(inside.then_some(row));
            for j in (0..m).rev() {
                pos[j] += 1;
                if pos[j] < batch[1 + j] {
                    break;
                }
                pos[j] = 0;
            }
        }
    }
    let values = crate::map_values!(&v.values, x => {
        let mut out = Buf::filled(Default::default(), n);
        for (br, sr) in map.iter().enumerate() {
            let Some(sr) = *sr else { continue };
            let (dst, src) = if to_batch { (br, sr) } else { (sr, br) };
            out[dst * rest..(dst + 1) * rest].copy_from_slice(&x[src * rest..(src + 1) * rest]);
        }
        out
    });
    Ok(Value::new(out_shape, values))
}
