//! Structural checks on a Model: every index points at something that exists.
//! The reader runs them on what it read, the writer on what it is about to write.

use super::Model;

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
