//! The interpreter: runs a model's subgraph, float or quantized, for calibration, `run` and
//! `compare`.
//!
//! **Float and integer ops.** An operator whose outputs (or computed inputs) are quantized
//! INT8 or INT16 tensors runs its op's *integer* kernel (`OpDef::int_kernel`), which computes
//! what LiteRT's built-in kernels compute (XNNPACK off), byte for byte; every other operator
//! runs its float kernel. So a model tflq wrote in int8 or int16x8 runs as LiteRT runs it:
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tflq::interp::{Interpreter, Value, Values};
//! let model = tflq::load(std::path::Path::new("model.int8.tflite"))?;
//! let interp = Interpreter::new(&model, 0)?;
//! // Float inputs: a float-I/O model quantizes them itself (its first op is a QUANTIZE); for
//! // an INT8/INT16 input tensor they are quantized as LiteRT's QUANTIZE would. Integer
//! // inputs (Values::I8 / Values::I16) are taken as they are.
//! let outs = interp.run(vec![Value::f32(vec![1, 32, 32, 3], vec![0.5; 32 * 32 * 3])])?;
//! // Outputs keep their tensor's type: Values::I8 for an int8 output. Dequantize with the
//! // output tensor's parameters (`interp.outputs()` gives the tensor indices).
//! if let Values::I8(q) = &outs[0].values { println!("{} int8 values", q.len()); }
//! # Ok(()) }
//! ```
//! An integer op without an integer kernel in tflq is refused when the model is prepared
//! (listed as "OP (integer)" in [`InterpError::UnsupportedOps`]). A float op whose weights are
//! INT8 constants (dynamic-range models) runs its hybrid kernel, which quantizes its input on
//! the fly as LiteRT's hybrid kernel does, so that its float outputs are LiteRT's, bit for bit.
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
use crate::ops::{Calls, EvalCtx, Kernel, RunState};
use crate::schema::TensorType;
use std::collections::BTreeMap;

pub use crate::ir::{Value, Values};

use crate::ir::{cap, cap_list};

/// Why a model cannot be prepared or a run failed.
#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    #[error("subgraph {index} does not exist (the model has {count})")]
    NoSubgraph { index: usize, count: usize },
    #[error("unsupported ops for the float interpreter: {}", list_ops(.ops))]
    UnsupportedOps { ops: Vec<String> },
    #[error("malformed model: {}", cap(.msg, 240))]
    Model { msg: String },
    #[error("constant tensor {index} '{}': {}", cap(.name, 80), cap(.msg, 240))]
    Constant { index: usize, name: String, msg: String },
    #[error("the model takes {expected} inputs, got {got}")]
    InputCount { expected: usize, got: usize },
    #[error("input {index} '{}': expected shape {}, got {}", cap(.name, 80), cap_list(.expected, 8), cap_list(.got, 8))]
    InputShape { index: usize, name: String, expected: Vec<i32>, got: Vec<usize> },
    #[error("input {index} '{}': expected {expected} values, got {got}", cap(.name, 80))]
    InputType { index: usize, name: String, expected: String, got: String },
    #[error("input {index} '{}': shape {} needs {expected} values, got {got}", cap(.name, 80), cap_list(.shape, 8))]
    InputData { index: usize, name: String, shape: Vec<usize>, expected: usize, got: usize },
    #[error("operator {index} ({}): {}", cap(.op, 80), cap(.msg, 240))]
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

/// What [`Interpreter::run_ranged`] calls for each tensor: subgraph, tensor index, value (None
/// for an intermediate computed inside a fused kernel and never stored), and the kernel-tracked
/// range.
pub type RangeObserver<'a> = dyn FnMut(usize, usize, Option<&Value>, Option<Range>) + 'a;

pub use plan::Skipped;

/// One prepared subgraph.
struct Graph {
    /// Constants the kernels read (decoded once) and the values of folded ops, by tensor index.
    consts: Vec<Option<Value>>,
    /// Tensors that folded operators produced, observed at the start of every run.
    folded: Vec<usize>,
    steps: Vec<Step>,
    skipped: Vec<Skipped>,
    blocked: Vec<Option<usize>>,
}

/// A prepared model: its main subgraph and every subgraph that one runs. Holds only shared
/// data, so it is `Send + Sync` and runs many samples in parallel.
pub struct Interpreter<'m> {
    model: &'m Model,
    main: usize,
    /// Prepared subgraphs by index (None for those nothing runs).
    graphs: Vec<Option<Graph>>,
    /// Smallest intermediate (elements) worth running a fused pair for: smaller ones stay in
    /// L2 anyway, and row-sized GEMMs on narrow images are less efficient than one whole GEMM.
    fuse_min_elements: usize,
}

/// See [`Interpreter::fuse_min_elements`].
const FUSE_MIN_ELEMENTS: usize = 256 * 1024;

/// How deep subgraphs may run each other (a model whose WHILE body runs itself would recurse
/// without end).
const MAX_CALL_DEPTH: usize = 64;

fn op_name(model: &Model, sg: &Subgraph, index: usize) -> String {
    sg.operators
        .get(index)
        .and_then(|o| model.operator_codes.get(o.opcode_index as usize))
        .map(|c| c.name())
        .unwrap_or_else(|| "?".to_string())
}

impl<'m> Interpreter<'m> {
    /// Prepares subgraph `subgraph` of `model` and the subgraphs it runs (see the module
    /// documentation). The error for ops without a kernel lists every one of them.
    pub fn new(model: &'m Model, subgraph: usize) -> Result<Self, InterpError> {
        Interpreter::prepare(model, subgraph, false)
    }

    /// Like [`new`](Self::new), but an operator without a kernel does not refuse the model:
    /// it and everything computed from its outputs are left out of every run
    /// ([`skipped`](Self::skipped) lists them), so the rest can still be calibrated.
    pub fn partial(model: &'m Model, subgraph: usize) -> Result<Self, InterpError> {
        Interpreter::prepare(model, subgraph, true)
    }

    fn prepare(model: &'m Model, main: usize, partial: bool) -> Result<Self, InterpError> {
        let count = model.subgraphs.len();
        if main >= count {
            return Err(InterpError::NoSubgraph { index: main, count });
        }
        // Models that did not come through the reader (built or rewritten in memory) get its checks.
        model.validate().map_err(|e| InterpError::Model { msg: e.to_string() })?;
        crate::ops::check_model(model).map_err(|e| InterpError::Model { msg: e.to_string() })?;
        let mut graphs: Vec<Option<Graph>> = (0..count).map(|_| None).collect();
        let mut todo = vec![main];
        while let Some(g) = todo.pop() {
            if graphs[g].is_some() {
                continue;
            }
            // Only the main subgraph may be partial: the ops running the others need them whole.
            let plan = plan::Plan::new(model, &model.subgraphs[g], partial && g == main)?;
            for &c in &plan.calls {
                if c >= count {
                    return Err(InterpError::Model {
                        msg: format!("subgraph {g} runs subgraph {c}, which does not exist"),
                    });
                }
                todo.push(c);
            }
            let plan::Plan { consts, folded, steps, skipped, blocked, .. } = plan;
            graphs[g] = Some(Graph { consts, folded, steps, skipped, blocked });
        }
        Ok(Interpreter { model, main, graphs, fuse_min_elements: FUSE_MIN_ELEMENTS })
    }

    fn graph(&self, g: usize) -> &Graph {
        self.graphs[g].as_ref().expect("only prepared subgraphs are run")
    }

    /// Tensor indices of the main subgraph's inputs.
    pub fn inputs(&self) -> &[i32] {
        &self.model.subgraphs[self.main].inputs
    }

    /// Tensor indices of the main subgraph's outputs.
    pub fn outputs(&self) -> &[i32] {
        &self.model.subgraphs[self.main].outputs
    }

    /// The subgraphs this interpreter runs: the main one and those its operators run.
    pub fn subgraphs(&self) -> impl Iterator<Item = usize> + '_ {
        self.graphs.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|_| i))
    }

    /// Operators of the main subgraph a partial interpreter leaves out.
    pub fn skipped(&self) -> &[Skipped] {
        &self.graph(self.main).skipped
    }

    /// For each tensor of the main subgraph, the skipped operator it depends on.
    pub fn blocked(&self) -> &[Option<usize>] {
        &self.graph(self.main).blocked
    }

    /// Runs the main subgraph on `inputs` (in subgraph input order) and returns its outputs.
    ///
    /// A FLOAT32 value given for a quantized INT8/INT16 input is quantized first, with the
    /// input's parameters (as LiteRT's QUANTIZE kernel would); see the module documentation.
    pub fn run(&self, inputs: Vec<Value>) -> Result<Vec<Value>, InterpError> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Inputs given as real values for quantized integer input tensors, quantized.
    fn quantize_inputs(&self, inputs: Vec<Value>) -> Result<Vec<Value>, InterpError> {
        let sg = &self.model.subgraphs[self.main];
        inputs
            .into_iter()
            .enumerate()
            .map(|(k, v)| {
                let t = sg.inputs.get(k).and_then(|&t| sg.tensors.get(t as usize));
                match t {
                    Some(t)
                        if matches!(t.dtype, TensorType::INT8 | TensorType::UINT8 | TensorType::INT16)
                            && v.as_f32().is_some()
                            && t.quantization.as_ref().is_some_and(|q| q.scales().len() == 1) =>
                    {
                        crate::ops::quantize_to(t, &v).map_err(|msg| InterpError::InputType {
                            index: k,
                            name: t.name().to_string(),
                            expected: msg,
                            got: "F32".into(),
                        })
                    }
                    _ => Ok(v),
                }
            })
            .collect()
    }

    /// Like [`run`](Self::run), and calls `observe(tensor_index, value)` for every input and
    /// every operator output of the main subgraph, as soon as it is computed.
    pub fn run_observed(
        &self,
        inputs: Vec<Value>,
        observe: &mut dyn FnMut(usize, &Value),
    ) -> Result<Vec<Value>, InterpError> {
        let main = self.main;
        let inputs = self.quantize_inputs(inputs)?;
        let mut observe = |g: usize, t: usize, v: Option<&Value>, _: Option<Range>| {
            if let (true, Some(v)) = (g == main, v) {
                observe(t, v)
            }
        };
        let mut run = Run::new(self, &mut observe, false);
        let outs = run.graph(main, inputs)?;
        outs.into_iter().map(|o| o.ok_or_else(|| not_computed(self.skipped()))).collect()
    }

    /// For calibration: calls `observe(subgraph, tensor, value, range)` for every input and
    /// operator output of every subgraph run, as often as it is computed (every iteration of a
    /// loop), where `range` is its (min, max), NaN ignored, when the kernel tracked it as it
    /// stored the value (None otherwise; the observer then computes it). An intermediate that
    /// the interpreter computed inside a fused kernel without storing it comes with no value and
    /// always with its range. A partial interpreter computes what it can.
    pub fn run_ranged(&self, inputs: Vec<Value>, observe: &mut RangeObserver<'_>) -> Result<(), InterpError> {
        let mut run = Run::new(self, observe, true);
        run.graph(self.main, inputs).map(|_| ())
    }

    /// [`run_ranged`](Self::run_ranged) without fused pairs: every tensor comes with its value.
    pub fn run_ranged_unfused(&self, inputs: Vec<Value>, observe: &mut RangeObserver<'_>) -> Result<(), InterpError> {
        let mut run = Run::new(self, observe, false);
        run.graph(self.main, inputs).map(|_| ())
    }
}

fn not_computed(skipped: &[Skipped]) -> InterpError {
    let ops = skipped.iter().map(|s| s.op.clone()).collect();
    InterpError::UnsupportedOps { ops }
}

/// One run of the model: the observer, and the state that lives through it.
struct Run<'r, 'o, 'm> {
    interp: &'r Interpreter<'m>,
    observe: &'r mut RangeObserver<'o>,
    fuse: bool,
    state: RunState,
    depth: usize,
    /// Bytes of the values alive in this run (all subgraphs), checked against `live_cap` after
    /// every op: each tensor may be under the budget while the ones alive together are not.
    live: u64,
    /// This run's share of the memory budget: samples run in parallel, one per worker thread.
    live_cap: u64,
    threads: u64,
}

impl<'r, 'o, 'm> Run<'r, 'o, 'm> {
    fn new(interp: &'r Interpreter<'m>, observe: &'r mut RangeObserver<'o>, fuse: bool) -> Self {
        let threads = rayon::current_num_threads().max(1) as u64;
        let live_cap = crate::ir::budget::max_bytes() / threads;
        Run { interp, observe, fuse, state: RunState::default(), depth: 0, live: 0, live_cap, threads }
    }
}

impl Calls for Run<'_, '_, '_> {
    fn call(&mut self, index: usize, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(format!("subgraphs run each other more than {MAX_CALL_DEPTH} deep"));
        }
        if !self.interp.graphs.get(index).is_some_and(Option::is_some) {
            return Err(format!("subgraph {index} was not prepared"));
        }
        self.depth += 1;
        let outs = self.graph(index, inputs);
        self.depth -= 1;
        let outs = outs.map_err(|e| format!("subgraph {index}: {e}"))?;
        outs.into_iter().map(|o| o.ok_or_else(|| format!("subgraph {index}: an output was not computed"))).collect()
    }

    fn state(&mut self) -> &mut RunState {
        &mut self.state
    }
}

impl Run<'_, '_, '_> {
    /// Runs subgraph `g`; its outputs, None for those a partial plan cannot compute.
    fn graph(&mut self, g: usize, inputs: Vec<Value>) -> Result<Vec<Option<Value>>, InterpError> {
        let interp = self.interp;
        let (sg, graph) = (&interp.model.subgraphs[g], interp.graph(g));
        if inputs.len() != sg.inputs.len() {
            return Err(InterpError::InputCount { expected: sg.inputs.len(), got: inputs.len() });
        }
        let mut slots: Vec<Option<Value>> = vec![None; sg.tensors.len()];
        for (k, v) in inputs.into_iter().enumerate() {
            let ti = sg.inputs[k] as usize;
            check_input(k, &sg.tensors[ti], &v)?;
            (self.observe)(g, ti, Some(&v), None);
            self.free(&mut slots[ti]);
            self.live += v.values.byte_len();
            slots[ti] = Some(v);
        }
        for &t in &graph.folded {
            if let Some(v) = &graph.consts[t] {
                (self.observe)(g, t, Some(v), None);
            }
        }
        let mut s = 0;
        while s < graph.steps.len() {
            s = self.step(g, s, &mut slots)?;
        }
        let mut result = Vec::with_capacity(sg.outputs.len());
        for &t in &sg.outputs {
            let t = t as usize;
            let v = match slots[t].take() {
                Some(v) => Some(v),
                None if graph.blocked[t].is_some() => None,
                None => Some(
                    graph.consts[t]
                        .clone()
                        .ok_or_else(|| InterpError::Model { msg: format!("subgraph output {t} was not computed") })?,
                ),
            };
            // The same tensor may be listed twice as an output.
            slots[t] = v.clone();
            result.push(v);
        }
        Ok(result)
    }

    /// Runs step `s` of subgraph `g` (with the next, when the two run fused) and returns the
    /// index of the step to run next.
    fn step(&mut self, g: usize, s: usize, slots: &mut [Option<Value>]) -> Result<usize, InterpError> {
        let interp = self.interp;
        let (sg, graph) = (&interp.model.subgraphs[g], interp.graph(g));
        let step = &graph.steps[s];
        let op = &sg.operators[step.index];
        let kernel_error =
            |index: usize, msg: String| InterpError::Kernel { op: op_name(interp.model, sg, index), index, msg };
        let gather = |op: &Operator, slots| gather(op, &graph.consts, slots);
        // Outputs are checked against what this run may still hold before they are allocated.
        let headroom = crate::ir::budget::Headroom::set(self.live_cap.saturating_sub(self.live));
        if self.fuse && step.fuse_next {
            let next = &graph.steps[s + 1];
            let op2 = &sg.operators[next.index];
            let fused = step
                .kernel
                .eval_fused(&*next.kernel, &gather(op, slots), &gather(op2, slots), interp.fuse_min_elements)
                .map_err(|msg| kernel_error(step.index, msg))?;
            if let Some((v, (mid, out))) = fused {
                (self.observe)(g, op.outputs[0] as usize, None, mid);
                (self.observe)(g, op2.outputs[0] as usize, Some(&v), out);
                self.live += v.values.byte_len();
                slots[op2.outputs[0] as usize] = Some(v);
                self.check_live().map_err(|msg| kernel_error(next.index, msg))?;
                for &t in step.frees.iter().chain(&next.frees) {
                    self.free(&mut slots[t]);
                }
                return Ok(s + 2);
            }
        }
        let (outs, range) = {
            let ins = gather(op, slots);
            let mut ctx = EvalCtx::new(self);
            let outs = step.kernel.eval(&ins, &mut ctx).map_err(|msg| kernel_error(step.index, msg))?;
            (outs, ctx.range)
        };
        drop(headroom);
        if outs.len() != op.outputs.len() {
            let msg = format!("produced {} outputs, the model lists {}", outs.len(), op.outputs.len());
            return Err(kernel_error(step.index, msg));
        }
        for (i, (v, &t)) in outs.into_iter().zip(&op.outputs).enumerate() {
            (self.observe)(g, t as usize, Some(&v), if i == 0 { range } else { None });
            self.free(&mut slots[t as usize]);
            self.live += v.values.byte_len();
            slots[t as usize] = Some(v);
        }
        self.check_live().map_err(|msg| kernel_error(step.index, msg))?;
        for &t in &step.frees {
            self.free(&mut slots[t]);
        }
        Ok(s + 1)
    }

    fn free(&mut self, slot: &mut Option<Value>) {
        if let Some(v) = slot.take() {
            self.live = self.live.saturating_sub(v.values.byte_len());
        }
    }

    fn check_live(&self) -> Result<(), String> {
        if self.live <= self.live_cap {
            return Ok(());
        }
        let human = crate::ir::budget::human;
        Err(format!(
            "the tensors alive after it need {}, over one run's share ({}, 1/{}) of the memory budget (--max-memory raises it)",
            human(self.live),
            human(self.live_cap),
            self.threads
        ))
    }
}

/// The values of `op`'s inputs: constants, or computed (None for an omitted optional input).
fn gather<'a>(op: &Operator, consts: &'a [Option<Value>], slots: &'a [Option<Value>]) -> Vec<Option<&'a Value>> {
    let value = |t: i32| usize::try_from(t).ok().and_then(|t| consts[t].as_ref().or(slots[t].as_ref()));
    op.inputs.iter().map(|&t| value(t)).collect()
}

/// Type and shape checks of input `k` against its tensor. A -1 in the shape signature accepts any size.
fn check_input(k: usize, t: &Tensor, v: &Value) -> Result<(), InterpError> {
    let name = || t.name().to_string();
    let Some(expected_type) = Values::variant_for(t.dtype) else {
        return Err(InterpError::InputType {
            index: k,
            name: name(),
            expected: t.dtype.variant_name().unwrap_or("?").to_string(),
            got: v.values.type_name().to_string(),
        });
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
