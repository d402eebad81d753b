//! Reference float interpreter: runs a model's subgraph on f32 tensors, for calibration and comparison.
//!
//! [`Interpreter::new`] prepares a subgraph once: it checks that every operator has a kernel in
//! the op registry, folds the ops whose only input is a constant (FLOAT16/INT8 behind
//! DEQUANTIZE, sparse behind DENSIFY), prepares each kernel (which may take constant weights
//! in, packed or read in place), decodes the constants kernels still read, and plans when each
//! intermediate tensor can be freed. [`Interpreter::run`] then executes the operators in file
//! order (TFLite files are topologically sorted). The interpreter holds no mutable state, so
//! one instance can run many samples in parallel.

mod plan;

use crate::ir::{Model, Operator, Subgraph, Tensor};
use crate::ops::{EvalCtx, Kernel};
use crate::schema::TensorType;
use std::collections::BTreeMap;

pub use crate::ir::{Value, Values};

/// Why a model cannot be prepared or a run failed.
#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    #[error("subgraph {index} does not exist (the model has {count})")]
    NoSubgraph { index: usize, count: usize },
    #[error("unsupported ops for the float interpreter: {}", list_ops(.ops))]
    UnsupportedOps { ops: Vec<String> },
    #[error("malformed model: {msg}")]
    Model { msg: String },
    #[error("constant tensor {index} '{name}': {msg}")]
    Constant { index: usize, name: String, msg: String },
    #[error("the model takes {expected} inputs, got {got}")]
    InputCount { expected: usize, got: usize },
    #[error("input {index} '{name}': expected shape {expected:?}, got {got:?}")]
    InputShape { index: usize, name: String, expected: Vec<i32>, got: Vec<usize> },
    #[error("input {index} '{name}': expected {expected} values, got {got}")]
    InputType { index: usize, name: String, expected: String, got: String },
    #[error("input {index} '{name}': shape {shape:?} needs {expected} values, got {got}")]
    InputData { index: usize, name: String, shape: Vec<usize>, expected: usize, got: usize },
    #[error("operator {index} ({op}): {msg}")]
    Kernel { op: String, index: usize, msg: String },
}

/// "X (2 ops), Y": each distinct name once, in first-seen order, with its count when above one.
fn list_ops(ops: &[String]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in ops {
        let c = counts.entry(o.as_str()).or_insert(0);
        if *c == 0 {
            order.push(o.as_str());
        }
        *c += 1;
    }
    order
        .iter()
        .map(|o| match counts[o] {
            1 => (*o).to_string(),
            n => format!("{o} ({n} ops)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One operator to execute.
struct Step {
    /// Index of the operator in the subgraph.
    index: usize,
    kernel: Box<dyn Kernel>,
    /// Tensors whose value can be dropped after this step.
    frees: Vec<usize>,
    /// This op and the next may run as one fused kernel when the run needs only the ranges of
    /// intermediates (the next op alone reads this op's only output).
    fuse_next: bool,
}

/// A tensor's (min, max).
pub type Range = (f32, f32);

/// What [`Interpreter::run_ranged`] calls for each tensor: index, value (None for an
/// intermediate computed inside a fused kernel and never stored), and the kernel-tracked range.
pub type RangeObserver<'a> = dyn FnMut(usize, Option<&Value>, Option<Range>) + 'a;

/// A prepared subgraph. Holds only shared data, so it is `Send + Sync`.
pub struct Interpreter<'m> {
    model: &'m Model,
    sg: &'m Subgraph,
    /// Constants the kernels read (decoded once) and the values of folded ops, by tensor index.
    consts: Vec<Option<Value>>,
    /// Tensors that folded operators produced, observed at the start of every run.
    folded: Vec<usize>,
    steps: Vec<Step>,
    /// Smallest intermediate (elements) worth running a fused pair for: smaller ones stay in
    /// L2 anyway, and row-sized GEMMs on narrow images are less efficient than one whole GEMM.
    fuse_min_elements: usize,
}

/// See [`Interpreter::fuse_min_elements`].
const FUSE_MIN_ELEMENTS: usize = 256 * 1024;

fn op_name(model: &Model, sg: &Subgraph, index: usize) -> String {
    sg.operators
        .get(index)
        .and_then(|o| model.operator_codes.get(o.opcode_index as usize))
        .map(|c| c.name())
        .unwrap_or_else(|| "?".to_string())
}

impl<'m> Interpreter<'m> {
    /// Prepares subgraph `subgraph` of `model` (see the module documentation). The error for
    /// ops without a kernel lists every one of them.
    pub fn new(model: &'m Model, subgraph: usize) -> Result<Self, InterpError> {
        let sg = model
            .subgraphs
            .get(subgraph)
            .ok_or(InterpError::NoSubgraph { index: subgraph, count: model.subgraphs.len() })?;
        let plan = plan::Plan::new(model, sg)?;
        Ok(Interpreter {
            model,
            sg,
            consts: plan.consts,
            folded: plan.folded,
            steps: plan.steps,
            fuse_min_elements: FUSE_MIN_ELEMENTS,
        })
    }

    /// Tensor indices of the subgraph's inputs.
    pub fn inputs(&self) -> &[i32] {
        &self.sg.inputs
    }

    /// Tensor indices of the subgraph's outputs.
    pub fn outputs(&self) -> &[i32] {
        &self.sg.outputs
    }

    /// Runs the subgraph on `inputs` (in subgraph input order) and returns its outputs.
    pub fn run(&self, inputs: Vec<Value>) -> Result<Vec<Value>, InterpError> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Like [`run`](Self::run), and calls `observe(tensor_index, value)` for every subgraph input
    /// and every operator output, as soon as it is computed.
    pub fn run_observed(
        &self,
        inputs: Vec<Value>,
        observe: &mut dyn FnMut(usize, &Value),
    ) -> Result<Vec<Value>, InterpError> {
        self.run_impl(
            inputs,
            &mut |t, v, _| {
                if let Some(v) = v {
                    observe(t, v)
                }
            },
            false,
        )
    }

    /// For calibration: calls `observe(tensor_index, value, range)` for every subgraph input
    /// and operator output, where `range` is its (min, max), NaN ignored, when the kernel
    /// tracked it as it stored the value (None otherwise; the observer then computes it). An
    /// intermediate that the interpreter computed inside a fused kernel without storing it
    /// comes with no value and always with its range.
    pub fn run_ranged(&self, inputs: Vec<Value>, observe: &mut RangeObserver<'_>) -> Result<Vec<Value>, InterpError> {
        self.run_impl(inputs, observe, true)
    }

    fn run_impl(
        &self,
        inputs: Vec<Value>,
        observe: &mut RangeObserver<'_>,
        fuse: bool,
    ) -> Result<Vec<Value>, InterpError> {
        let sg = self.sg;
        if inputs.len() != sg.inputs.len() {
            return Err(InterpError::InputCount { expected: sg.inputs.len(), got: inputs.len() });
        }
        let mut slots: Vec<Option<Value>> = vec![None; sg.tensors.len()];
        for (k, v) in inputs.into_iter().enumerate() {
            let ti = sg.inputs[k] as usize;
            check_input(k, &sg.tensors[ti], &v)?;
            observe(ti, Some(&v), None);
            slots[ti] = Some(v);
        }
        for &t in &self.folded {
            if let Some(v) = &self.consts[t] {
                observe(t, Some(v), None);
            }
        }
        let kernel_error =
            |index: usize, msg: String| InterpError::Kernel { op: op_name(self.model, sg, index), index, msg };
        let mut s = 0;
        while s < self.steps.len() {
            let step = &self.steps[s];
            let op = &sg.operators[step.index];
            let gather = |op: &Operator| -> Vec<Option<&Value>> {
                op.inputs
                    .iter()
                    .map(
                        |&t| if t < 0 { None } else { self.consts[t as usize].as_ref().or(slots[t as usize].as_ref()) },
                    )
                    .collect()
            };
            if fuse && step.fuse_next {
                let next = &self.steps[s + 1];
                let op2 = &sg.operators[next.index];
                let fused = step
                    .kernel
                    .eval_fused(&*next.kernel, &gather(op), &gather(op2), self.fuse_min_elements)
                    .map_err(|msg| kernel_error(step.index, msg))?;
                if let Some((v, (mid, out))) = fused {
                    observe(op.outputs[0] as usize, None, mid);
                    observe(op2.outputs[0] as usize, Some(&v), out);
                    slots[op2.outputs[0] as usize] = Some(v);
                    for &t in step.frees.iter().chain(&next.frees) {
                        slots[t] = None;
                    }
                    s += 2;
                    continue;
                }
            }
            let mut ctx = EvalCtx::default();
            let outs = step.kernel.eval(&gather(op), &mut ctx).map_err(|msg| kernel_error(step.index, msg))?;
            if outs.len() != op.outputs.len() {
                return Err(kernel_error(
                    step.index,
                    format!("produced {} outputs, the model lists {}", outs.len(), op.outputs.len()),
                ));
            }
            for (i, (v, &t)) in outs.into_iter().zip(&op.outputs).enumerate() {
                observe(t as usize, Some(&v), if i == 0 { ctx.range } else { None });
                slots[t as usize] = Some(v);
            }
            for &t in &step.frees {
                slots[t] = None;
            }
            s += 1;
        }
        let mut result = Vec::with_capacity(sg.outputs.len());
        for &t in &sg.outputs {
            let t = t as usize;
            let v = match slots[t].take() {
                Some(v) => v,
                None => self.consts[t]
                    .clone()
                    .ok_or_else(|| InterpError::Model { msg: format!("subgraph output {t} was not computed") })?,
            };
            // The same tensor may be listed twice as an output.
            slots[t] = Some(v.clone());
            result.push(v);
        }
        Ok(result)
    }
}

/// Type and shape checks of input `k` against its tensor. A -1 in the shape signature accepts any size.
fn check_input(k: usize, t: &Tensor, v: &Value) -> Result<(), InterpError> {
    let name = || t.name().to_string();
    let expected_type = match t.dtype {
        TensorType::FLOAT32 => "F32",
        TensorType::INT32 => "I32",
        TensorType::INT64 => "I64",
        TensorType::UINT8 => "U8",
        TensorType::INT8 => "I8",
        TensorType::BOOL => "Bool",
        other => {
            return Err(InterpError::InputType {
                index: k,
                name: name(),
                expected: other.variant_name().unwrap_or("?").to_string(),
                got: v.values.type_name().to_string(),
            })
        }
    };
    if v.values.type_name() != expected_type {
        return Err(InterpError::InputType {
            index: k,
            name: name(),
            expected: expected_type.to_string(),
            got: v.values.type_name().to_string(),
        });
    }
    let shape = t.shape();
    let sig = t.shape_signature.as_deref().filter(|s| s.len() == shape.len()).unwrap_or(shape);
    let ok = v.shape.len() == shape.len()
        && v.shape.iter().zip(shape.iter().zip(sig)).all(|(&g, (&d, &s))| s < 0 || d < 0 || g as i64 == d as i64);
    if !ok {
        return Err(InterpError::InputShape { index: k, name: name(), expected: sig.to_vec(), got: v.shape.clone() });
    }
    let expected = v.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
    if v.values.len() != expected {
        return Err(InterpError::InputData {
            index: k,
            name: name(),
            shape: v.shape.clone(),
            expected,
            got: v.values.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
