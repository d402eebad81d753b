//! Small graph edits the passes share: who consumes a tensor, adding tensors,
//! buffers, operator codes and operators.

use crate::ir::{Buffer, Data, Model, Operator, OperatorCode, Subgraph, Tensor};
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

/// Whether a tensor holds constant data (a non-empty buffer).
pub fn is_constant(model: &Model, t: &Tensor) -> bool {
    !t.is_variable && model.buffers.get(t.buffer as usize).is_some_and(|b| !b.data.is_empty())
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
