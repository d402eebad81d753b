//! Small graph edits the passes share: who consumes a tensor, adding tensors, buffers,
//! operator codes and operators, and the version an edited operator needs.

use crate::ir::{Buffer, Data, Model, Operator, OperatorCode, Subgraph, Tensor};
use crate::ops::{self, OpSignature};
use crate::schema::BuiltinOperator;

/// For each tensor of a subgraph, the (operator, input slot) pairs that read it.
pub fn consumers(sg: &Subgraph) -> Vec<Vec<(usize, usize)>> {
    let mut out = vec![Vec::new(); sg.tensors.len()];
    for (oi, op) in sg.operators.iter().enumerate() {
        for (slot, &t) in op.inputs.iter().enumerate() {
            if t >= 0 {
                out[t as usize].push((oi, slot));
            }
        }
    }
    out
}

pub fn add_buffer(model: &mut Model, bytes: Vec<u8>) -> u32 {
    model.buffers.push(Buffer { data: Data::from(bytes) });
    (model.buffers.len() - 1) as u32
}

/// A name not yet used in the subgraph, built from `base` and `suffix`.
pub fn unique_name(sg: &Subgraph, base: &str, suffix: &str) -> String {
    let taken = |n: &str| sg.tensors.iter().any(|t| t.name() == n);
    let mut name = format!("{base}{suffix}");
    let mut i = 1;
    while taken(&name) {
        name = format!("{base}{suffix}_{i}");
        i += 1;
    }
    name
}

pub fn add_tensor(sg: &mut Subgraph, tensor: Tensor) -> i32 {
    sg.tensors.push(tensor);
    (sg.tensors.len() - 1) as i32
}

/// The index of the operator code for `op` (builtin, not custom), adding one if
/// the model has none; its version is raised to at least `version`.
pub fn opcode(model: &mut Model, op: BuiltinOperator, version: i32) -> u32 {
    if let Some(i) = model.operator_codes.iter().position(|c| c.builtin == op && c.custom_code.is_none()) {
        let c = &mut model.operator_codes[i];
        c.version = c.version.max(version);
        return i as u32;
    }
    model.operator_codes.push(OperatorCode { builtin: op, custom_code: None, version });
    (model.operator_codes.len() - 1) as u32
}

pub fn simple_op(opcode_index: u32, input: i32, output: i32) -> Operator {
    Operator { opcode_index, inputs: vec![input], outputs: vec![output], ..Operator::default() }
}

/// Raises each operator code's version to the highest version any of its users needs.
pub fn raise_versions(model: &mut Model, required: &[(u32, i32)]) {
    for &(code, v) in required {
        let c = &mut model.operator_codes[code as usize];
        c.version = c.version.max(v);
    }
}

/// The version operator `op` of subgraph `sg` needs, from the op registry (1 for an op it does
/// not know). `per_channel` says, for input slots whose granularity the pass chose, whether
/// they are per channel (a single-channel tensor's one scale does not say).
pub fn op_version(sg: &Subgraph, code: &OperatorCode, op: &Operator, per_channel: &[(usize, bool)]) -> i32 {
    let Some(def) = ops::of_code(code) else { return 1 };
    let mut sig = OpSignature::of(sg, op);
    for &(slot, pc) in per_channel {
        if let Some(Some(t)) = sig.inputs.get_mut(slot) {
            t.per_channel = pc;
        }
    }
    (def.version)(&sig)
}

/// [`op_version`] of a builtin operator of kind `op` (whose opcode index need not be set yet).
pub fn builtin_version(sg: &Subgraph, op: BuiltinOperator, o: &Operator, per_channel: &[(usize, bool)]) -> i32 {
    op_version(sg, &OperatorCode { builtin: op, custom_code: None, version: 1 }, o, per_channel)
}

/// The subgraphs that run as WHILE loop bodies, and every subgraph those call in turn.
pub fn loop_bodies(model: &Model) -> Vec<usize> {
    let calls_of = |si: usize| -> Vec<usize> {
        model.subgraphs[si]
            .operators
            .iter()
            .filter_map(|op| {
                let def = ops::of_code(model.operator_codes.get(op.opcode_index as usize)?)?;
                Some((def.calls?)(&op.builtin_options))
            })
            .flatten()
            .filter_map(|i| usize::try_from(i).ok().filter(|&i| i < model.subgraphs.len()))
            .collect()
    };
    let mut found: Vec<usize> = Vec::new();
    for sg in &model.subgraphs {
        for op in &sg.operators {
            let code = model.operator_codes.get(op.opcode_index as usize);
            if let (Some(c), crate::schema::BuiltinOptionsT::WhileOptions(w)) = (code, &op.builtin_options) {
                if c.builtin == BuiltinOperator::WHILE {
                    if let Ok(b) = usize::try_from(w.body_subgraph_index) {
                        found.push(b);
                    }
                }
            }
        }
    }
    // Subgraphs a body calls loop too; the walk is bounded by the subgraph count.
    let mut i = 0;
    while i < found.len() && found.len() <= model.subgraphs.len() {
        for c in calls_of(found[i]) {
            if !found.contains(&c) {
                found.push(c);
            }
        }
        i += 1;
    }
    found.retain(|&b| b < model.subgraphs.len());
    found
}
