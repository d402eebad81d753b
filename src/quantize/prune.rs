//! prune: drop unused tensors, buffers and operator codes; deduplicate buffers.
//!
//! Folding and quantizing leave the constants they replaced behind; pruning is what
//! makes the written file smaller. It never changes what the model computes.

use crate::ir::Model;
use std::collections::HashMap;

/// Marks for an old index whether it is kept, and where it goes.
const DROPPED: u32 = u32::MAX;

/// Removes what nothing refers to and merges identical constant buffers, reindexing every
/// reference. Deterministic: survivors keep their relative order, duplicates map to the
/// lowest index. A model that does not validate is left untouched, since its references
/// cannot be renumbered meaningfully.
pub fn prune(model: &mut Model) {
    if model.validate().is_err() {
        return;
    }
    prune_tensors(model);
    dedup_buffers(model);
    prune_buffers(model);
    prune_operator_codes(model);
}

/// New positions for the kept entries of `keep`, DROPPED for the others.
fn renumber(keep: &[bool]) -> Vec<u32> {
    let mut next = 0u32;
    keep.iter()
        .map(|&k| {
            if k {
                next += 1;
                next - 1
            } else {
                DROPPED
            }
        })
        .collect()
}

fn retain_marked<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// (a) Tensors no operator, subgraph input/output or signature refers to.
fn prune_tensors(model: &mut Model) {
    for (si, sg) in model.subgraphs.iter_mut().enumerate() {
        let mut keep = vec![false; sg.tensors.len()];
        let signature_tensors = model
            .signature_defs
            .iter()
            .filter(|sd| sd.subgraph_index as usize == si)
            .flat_map(|sd| sd.inputs.iter().chain(&sd.outputs))
            .map(|m| m.tensor_index as i64);
        let op_tensors = sg.operators.iter().flat_map(|op| {
            op.inputs.iter().chain(&op.outputs).chain(op.intermediates.iter().flatten()).map(|&t| t as i64)
        });
        for t in sg.inputs.iter().chain(&sg.outputs).map(|&t| t as i64).chain(op_tensors).chain(signature_tensors) {
            // -1 is an omitted optional input; validate() vouched for the rest.
            if let Some(k) = usize::try_from(t).ok().and_then(|t| keep.get_mut(t)) {
                *k = true;
            }
        }
        if keep.iter().all(|&k| k) {
            continue;
        }
        let map = renumber(&keep);
        let remap = |t: &mut i32| {
            if let Some(&n) = usize::try_from(*t).ok().and_then(|i| map.get(i)) {
                *t = n as i32;
            }
        };
        retain_marked(&mut sg.tensors, &keep);
        sg.inputs.iter_mut().chain(&mut sg.outputs).for_each(remap);
        for op in &mut sg.operators {
            op.inputs.iter_mut().chain(&mut op.outputs).chain(op.intermediates.iter_mut().flatten()).for_each(remap);
        }
        for sd in model.signature_defs.iter_mut().filter(|sd| sd.subgraph_index as usize == si) {
            for m in sd.inputs.iter_mut().chain(&mut sd.outputs) {
                m.tensor_index = map[m.tensor_index as usize];
            }
        }
    }
}

/// Buffers referenced by metadata (including the deprecated `metadata_buffer` list).
fn metadata_buffers(model: &Model) -> Vec<usize> {
    let listed = model.metadata_buffer.iter().flatten().filter_map(|&b| usize::try_from(b).ok());
    model.metadata.iter().map(|m| m.buffer as usize).chain(listed).filter(|&b| b < model.buffers.len()).collect()
}

/// (b) Points tensors sharing identical constant bytes at one buffer, the lowest-indexed.
/// Only buffers that just non-variable tensors read take part: a variable's buffer is its
/// own initial state, and metadata is no tensor data.
fn dedup_buffers(model: &mut Model) {
    let n = model.buffers.len();
    let mut eligible = vec![true; n];
    let mut used = vec![false; n];
    eligible[0] = false;
    for b in metadata_buffers(model) {
        eligible[b] = false;
    }
    for t in model.subgraphs.iter().flat_map(|sg| &sg.tensors) {
        let b = t.buffer as usize;
        used[b] = true;
        if t.is_variable {
            eligible[b] = false;
        }
    }
    // Candidates are grouped by length and leading bytes, so only likely
    // duplicates are compared in full and most weights are never read.
    let mut groups: HashMap<(usize, [u8; 32]), Vec<u32>> = HashMap::new();
    let mut canonical: Vec<u32> = (0..n as u32).collect();
    for (i, buf) in model.buffers.iter().enumerate() {
        if !(used[i] && eligible[i] && !buf.data.is_empty()) {
            continue;
        }
        let bytes = buf.data.as_bytes();
        let mut head = [0u8; 32];
        let k = bytes.len().min(32);
        head[..k].copy_from_slice(&bytes[..k]);
        let group = groups.entry((bytes.len(), head)).or_default();
        match group.iter().find(|&&j| model.buffers[j as usize].data.as_bytes() == bytes) {
            Some(&j) => canonical[i] = j,
            None => group.push(i as u32),
        }
    }
    for t in model.subgraphs.iter_mut().flat_map(|sg| &mut sg.tensors) {
        t.buffer = canonical[t.buffer as usize];
    }
}

/// (c) Buffers no tensor or metadata refers to. Buffer 0 stays as the empty sentinel, and
/// tensors with an empty buffer are pointed at it.
fn prune_buffers(model: &mut Model) {
    let n = model.buffers.len();
    let mut keep = vec![false; n];
    keep[0] = true;
    for t in model.subgraphs.iter_mut().flat_map(|sg| &mut sg.tensors) {
        if model.buffers[t.buffer as usize].data.is_empty() {
            t.buffer = 0;
        }
        keep[t.buffer as usize] = true;
    }
    for b in metadata_buffers(model) {
        keep[b] = true;
    }
    if keep.iter().all(|&k| k) {
        return;
    }
    let map = renumber(&keep);
    retain_marked(&mut model.buffers, &keep);
    for t in model.subgraphs.iter_mut().flat_map(|sg| &mut sg.tensors) {
        t.buffer = map[t.buffer as usize];
    }
    for m in &mut model.metadata {
        m.buffer = map[m.buffer as usize];
    }
    if let Some(list) = &mut model.metadata_buffer {
        // Entries that never named a buffer cannot be renumbered; they go.
        list.retain(|&b| usize::try_from(b).is_ok_and(|b| b < n));
        for b in list {
            *b = map[*b as usize] as i32;
        }
    }
}

/// (d) Operator codes no operator uses.
fn prune_operator_codes(model: &mut Model) {
    let mut keep = vec![false; model.operator_codes.len()];
    for op in model.subgraphs.iter().flat_map(|sg| &sg.operators) {
        keep[op.opcode_index as usize] = true;
    }
    if keep.iter().all(|&k| k) {
        return;
    }
    let map = renumber(&keep);
    retain_marked(&mut model.operator_codes, &keep);
    for op in model.subgraphs.iter_mut().flat_map(|sg| &mut sg.operators) {
        op.opcode_index = map[op.opcode_index as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Buffer, Data, Metadata, Operator, OperatorCode, SignatureDef, Subgraph, Tensor, TensorMap};
    use crate::schema::BuiltinOperator;

    fn tensor(name: &str, buffer: u32) -> Tensor {
        Tensor { name: Some(name.into()), shape: Some(vec![2]), buffer, ..Default::default() }
    }

    fn buffer(bytes: &[u8]) -> Buffer {
        Buffer { data: Data::from(bytes.to_vec()) }
    }

    fn code(op: BuiltinOperator) -> OperatorCode {
        OperatorCode { builtin: op, custom_code: None, version: 1 }
    }

    /// in(0) → ADD(in, w1) → mid(3) → MUL(mid, w2, -1) → out(5); tensors 1 and 6 are unused,
    /// w2's bytes equal w1's, buffer 5 is orphaned, buffer 6 is metadata.
    fn model() -> Model {
        Model {
            operator_codes: vec![code(BuiltinOperator::SUB), code(BuiltinOperator::ADD), code(BuiltinOperator::MUL)],
            subgraphs: vec![Subgraph {
                tensors: vec![
                    tensor("in", 1),
                    tensor("unused", 2),
                    tensor("w1", 3),
                    tensor("mid", 0),
                    tensor("w2", 4),
                    tensor("out", 7),
                    tensor("unused2", 2),
                ],
                inputs: vec![0],
                outputs: vec![5],
                operators: vec![
                    Operator { opcode_index: 1, inputs: vec![0, 2], outputs: vec![3], ..Default::default() },
                    Operator { opcode_index: 2, inputs: vec![3, 4, -1], outputs: vec![5], ..Default::default() },
                ],
                ..Default::default()
            }],
            buffers: vec![
                Buffer::default(),
                Buffer::default(),
                buffer(&[9; 8]),
                buffer(&[1; 8]),
                buffer(&[1; 8]),
                buffer(&[5; 8]),
                buffer(b"meta"),
                Buffer::default(),
            ],
            metadata: vec![Metadata { name: Some("m".into()), buffer: 6 }],
            signature_defs: vec![SignatureDef {
                key: Some("s".into()),
                subgraph_index: 0,
                inputs: vec![TensorMap { name: Some("x".into()), tensor_index: 0 }],
                outputs: vec![TensorMap { name: Some("y".into()), tensor_index: 5 }],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn prunes_and_reindexes_everything() {
        let mut m = model();
        prune(&mut m);
        m.validate().unwrap();
        let sg = &m.subgraphs[0];
        let names: Vec<_> = sg.tensors.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["in", "w1", "mid", "w2", "out"]);
        assert_eq!(sg.operators[0].inputs, [0, 1]);
        assert_eq!(sg.operators[1].inputs, [2, 3, -1]);
        assert_eq!(sg.operators[1].outputs, [4]);
        assert_eq!(sg.outputs, [4]);
        assert_eq!(m.signature_defs[0].outputs[0].tensor_index, 4);
        // Empty buffers collapse to 0, w2 shares w1's, orphans and duplicates are gone.
        let bufs: Vec<_> = sg.tensors.iter().map(|t| t.buffer).collect();
        assert_eq!(bufs, [0, 1, 0, 1, 0]);
        assert_eq!(m.buffers.len(), 3);
        assert_eq!(m.metadata_bytes("m"), Some(&b"meta"[..]));
        // SUB was unused.
        assert_eq!(
            m.operator_codes.iter().map(|c| c.builtin).collect::<Vec<_>>(),
            [BuiltinOperator::ADD, BuiltinOperator::MUL]
        );
        assert_eq!((sg.operators[0].opcode_index, sg.operators[1].opcode_index), (0, 1));
        // Idempotent.
        let once = m.clone();
        prune(&mut m);
        assert_eq!(m, once);
    }

    #[test]
    fn variables_keep_their_own_buffer() {
        let mut m = model();
        m.subgraphs[0].tensors[4].is_variable = true;
        prune(&mut m);
        let sg = &m.subgraphs[0];
        assert_ne!(sg.tensors[1].buffer, sg.tensors[3].buffer);
        assert_eq!(m.buffers.len(), 4);
    }

    #[test]
    fn an_invalid_model_is_left_alone() {
        let mut m = model();
        m.subgraphs[0].operators[0].inputs[0] = 99;
        let before = m.clone();
        prune(&mut m);
        assert_eq!(m, before);
    }
}
