//! Reference float interpreter: runs a model's subgraph on f32 tensors, for calibration and comparison.
//!
//! [`Interpreter::new`] prepares a subgraph once: it decodes every constant (FLOAT32, INT32, INT64,
//! and FLOAT16/INT8/sparse constants behind DEQUANTIZE/DENSIFY, which are folded), checks that every
//! operator has a kernel, and plans when each intermediate tensor can be freed. [`Interpreter::run`]
//! then executes the operators in file order (TFLite files are topologically sorted). The
//! interpreter holds no mutable state, so one instance can run many samples in parallel.

#[cfg(target_arch = "x86_64")]
mod avx;
mod conv;
pub(crate) mod elementwise;
mod kernels;
pub(crate) mod shape;
mod value;

use crate::ir::{Model, Operator, Subgraph, Tensor};
use crate::schema::{BuiltinOperator, TensorType};
use rayon::prelude::*;
use std::collections::BTreeMap;

pub use value::{Value, Values};

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
struct Step<'m> {
    /// Index of the operator in the subgraph.
    index: usize,
    op: BuiltinOperator,
    /// Tensors whose value can be dropped after this step.
    frees: Vec<usize>,
    /// CONV_2D filters, packed once for the GEMM microkernel.
    packed: Option<conv::PackedW>,
    /// FULLY_CONNECTED weights read in place from the model's (aligned) buffer.
    weights: Option<&'m [f32]>,
    /// A 1×1 CONV_2D whose output only the next step, a DEPTHWISE_CONV_2D, reads: when the run
    /// needs only ranges of intermediates, the two may run fused (`conv::expand_depthwise`).
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
    /// Decoded constants (and folded DEQUANTIZE/DENSIFY outputs), by tensor index.
    consts: Vec<Option<Value>>,
    /// Tensors that folded operators produced, observed at the start of every run.
    folded: Vec<usize>,
    steps: Vec<Step<'m>>,
    /// Smallest expanded tensor (elements) worth fusing a CONV_2D → DEPTHWISE_CONV_2D pair for.
    fuse_min_elements: usize,
}

/// Every builtin op that has a kernel here.
pub(crate) const SUPPORTED: &[BuiltinOperator] = &[
    BuiltinOperator::CONV_2D,
    BuiltinOperator::DEPTHWISE_CONV_2D,
    BuiltinOperator::FULLY_CONNECTED,
    BuiltinOperator::TRANSPOSE_CONV,
    BuiltinOperator::BATCH_MATMUL,
    BuiltinOperator::ADD,
    BuiltinOperator::SUB,
    BuiltinOperator::MUL,
    BuiltinOperator::DIV,
    BuiltinOperator::MAXIMUM,
    BuiltinOperator::MINIMUM,
    BuiltinOperator::SQUARED_DIFFERENCE,
    BuiltinOperator::POW,
    BuiltinOperator::FLOOR_DIV,
    BuiltinOperator::FLOOR_MOD,
    BuiltinOperator::LESS,
    BuiltinOperator::LESS_EQUAL,
    BuiltinOperator::GREATER,
    BuiltinOperator::GREATER_EQUAL,
    BuiltinOperator::EQUAL,
    BuiltinOperator::NOT_EQUAL,
    BuiltinOperator::LOGICAL_AND,
    BuiltinOperator::LOGICAL_OR,
    BuiltinOperator::LOGICAL_NOT,
    BuiltinOperator::SELECT,
    BuiltinOperator::SELECT_V2,
    BuiltinOperator::RELU,
    BuiltinOperator::RELU6,
    BuiltinOperator::RELU_N1_TO_1,
    BuiltinOperator::RELU_0_TO_1,
    BuiltinOperator::LEAKY_RELU,
    BuiltinOperator::PRELU,
    BuiltinOperator::LOGISTIC,
    BuiltinOperator::TANH,
    BuiltinOperator::HARD_SWISH,
    BuiltinOperator::GELU,
    BuiltinOperator::ELU,
    BuiltinOperator::SQRT,
    BuiltinOperator::RSQRT,
    BuiltinOperator::ABS,
    BuiltinOperator::NEG,
    BuiltinOperator::EXP,
    BuiltinOperator::LOG,
    BuiltinOperator::SQUARE,
    BuiltinOperator::SIN,
    BuiltinOperator::COS,
    BuiltinOperator::FLOOR,
    BuiltinOperator::CEIL,
    BuiltinOperator::ROUND,
    BuiltinOperator::SIGN,
    BuiltinOperator::SOFTMAX,
    BuiltinOperator::LOG_SOFTMAX,
    BuiltinOperator::L2_NORMALIZATION,
    BuiltinOperator::MAX_POOL_2D,
    BuiltinOperator::AVERAGE_POOL_2D,
    BuiltinOperator::MEAN,
    BuiltinOperator::SUM,
    BuiltinOperator::REDUCE_MAX,
    BuiltinOperator::REDUCE_MIN,
    BuiltinOperator::REDUCE_PROD,
    BuiltinOperator::ARG_MAX,
    BuiltinOperator::ARG_MIN,
    BuiltinOperator::PAD,
    BuiltinOperator::PADV2,
    BuiltinOperator::MIRROR_PAD,
    BuiltinOperator::RESHAPE,
    BuiltinOperator::SQUEEZE,
    BuiltinOperator::EXPAND_DIMS,
    BuiltinOperator::TRANSPOSE,
    BuiltinOperator::CONCATENATION,
    BuiltinOperator::PACK,
    BuiltinOperator::UNPACK,
    BuiltinOperator::SPLIT,
    BuiltinOperator::SPLIT_V,
    BuiltinOperator::SLICE,
    BuiltinOperator::STRIDED_SLICE,
    BuiltinOperator::GATHER,
    BuiltinOperator::TILE,
    BuiltinOperator::BROADCAST_TO,
    BuiltinOperator::RESIZE_BILINEAR,
    BuiltinOperator::RESIZE_NEAREST_NEIGHBOR,
    BuiltinOperator::DEPTH_TO_SPACE,
    BuiltinOperator::SPACE_TO_DEPTH,
    BuiltinOperator::CAST,
    BuiltinOperator::SHAPE,
    BuiltinOperator::FILL,
    BuiltinOperator::ZEROS_LIKE,
    BuiltinOperator::DEQUANTIZE,
    BuiltinOperator::DENSIFY,
];

fn op_name(model: &Model, sg: &Subgraph, index: usize) -> String {
    sg.operators
        .get(index)
        .and_then(|o| model.operator_codes.get(o.opcode_index as usize))
        .map(|c| c.name())
        .unwrap_or_else(|| "?".to_string())
}

impl<'m> Interpreter<'m> {
    /// Prepares subgraph `subgraph` of `model`: decodes constants once (FLOAT32, INT32, INT64,
    /// FLOAT16/INT8 behind DEQUANTIZE, sparse behind DENSIFY), checks every op is supported (the
    /// error lists all unsupported op names), and plans execution and when to free each tensor.
    pub fn new(model: &'m Model, subgraph: usize) -> Result<Self, InterpError> {
        let sg = model
            .subgraphs
            .get(subgraph)
            .ok_or(InterpError::NoSubgraph { index: subgraph, count: model.subgraphs.len() })?;
        let nt = sg.tensors.len();
        let bad = |msg: String| InterpError::Model { msg };
        let check_index = |t: i32, what: &str| -> Result<Option<usize>, InterpError> {
            if t == -1 {
                return Ok(None);
            }
            usize::try_from(t)
                .ok()
                .filter(|&t| t < nt)
                .map(Some)
                .ok_or_else(|| bad(format!("{what} refers to tensor {t}, but the subgraph has {nt}")))
        };

        // Every op must have a kernel.
        let mut unsupported = Vec::new();
        let mut codes = Vec::with_capacity(sg.operators.len());
        for (i, op) in sg.operators.iter().enumerate() {
            let code = model.operator_codes.get(op.opcode_index as usize).ok_or_else(|| {
                bad(format!("operator {i} uses opcode index {}, which does not exist", op.opcode_index))
            })?;
            if code.builtin == BuiltinOperator::CUSTOM || !SUPPORTED.contains(&code.builtin) {
                unsupported.push(code.name());
            }
            codes.push(code.builtin);
        }
        if !unsupported.is_empty() {
            return Err(InterpError::UnsupportedOps { ops: unsupported });
        }

        let mut inputs = Vec::new();
        for &t in &sg.inputs {
            inputs.push(check_index(t, "a subgraph input")?.ok_or_else(|| bad("a subgraph input is -1".into()))?);
        }
        for &t in &sg.outputs {
            check_index(t, "a subgraph output")?.ok_or_else(|| bad("a subgraph output is -1".into()))?;
        }

        // Decode constants: tensors with data that are not subgraph inputs (in parallel; the
        // first failure in tensor order is reported).
        let roles = weight_roles(sg, &codes, &inputs);
        let in_place = |t: usize| -> Option<&'m [f32]> {
            let tensor = &sg.tensors[t];
            let bytes = model.buffers.get(tensor.buffer as usize)?.data.as_bytes();
            // SAFETY: every bit pattern is a valid f32; align_to yields only whole, aligned elements.
            let (head, body, tail) = unsafe { bytes.align_to::<f32>() };
            let numel = tensor.shape().iter().map(|&d| d as usize).product::<usize>();
            (cfg!(target_endian = "little") && head.is_empty() && tail.is_empty() && body.len() == numel)
                .then_some(body)
        };
        let decoded: Vec<Option<Result<Value, InterpError>>> = sg
            .tensors
            .par_iter()
            .enumerate()
            .map(|(i, t)| {
                if inputs.contains(&i) {
                    return None;
                }
                let data = model.buffers.get(t.buffer as usize).map(|b| b.data.as_bytes()).unwrap_or(&[]);
                if data.is_empty() {
                    return None;
                }
                let unread = match roles[i] {
                    WeightRole::ConvFilter => {
                        data.len() == 4 * t.shape().iter().map(|&d| d as usize).product::<usize>()
                    }
                    WeightRole::FcWeights => in_place(i).is_some(),
                    WeightRole::Other => false,
                };
                if unread {
                    // Packed below straight from the file's bytes, or read there by the kernel;
                    // the value keeps only its shape.
                    let shape = t.shape().iter().map(|&d| d as usize).collect();
                    return Some(Ok(Value::f32(shape, Vec::new())));
                }
                Some(value::decode_constant(t, data).map_err(|msg| InterpError::Constant {
                    index: i,
                    name: t.name().to_string(),
                    msg,
                }))
            })
            .collect();
        let mut consts: Vec<Option<Value>> = Vec::with_capacity(nt);
        for d in decoded {
            consts.push(d.transpose()?);
        }

        // Which tensors are available, and fold DEQUANTIZE/DENSIFY of constants.
        let mut available: Vec<bool> = consts.iter().map(Option::is_some).collect();
        for &i in &inputs {
            available[i] = true;
        }
        let mut folded = Vec::new();
        let mut planned: Vec<(usize, BuiltinOperator)> = Vec::new();
        for (i, op) in sg.operators.iter().enumerate() {
            let code = codes[i];
            let mut ins = Vec::with_capacity(op.inputs.len());
            for &t in &op.inputs {
                if let Some(t) = check_index(t, &format!("operator {i}'s input"))? {
                    if !available[t] {
                        return Err(bad(format!(
                            "operator {i} ({}) reads tensor {t} '{}' before anything produces it",
                            op_name(model, sg, i),
                            sg.tensors[t].name()
                        )));
                    }
                    ins.push(t);
                }
            }
            let mut outs = Vec::with_capacity(op.outputs.len());
            for &t in &op.outputs {
                let t = check_index(t, &format!("operator {i}'s output"))?
                    .ok_or_else(|| bad(format!("operator {i} has a -1 output")))?;
                if consts[t].is_some() || inputs.contains(&t) {
                    return Err(bad(format!("operator {i} writes tensor {t}, which is a constant or input")));
                }
                outs.push(t);
            }
            let foldable = matches!(code, BuiltinOperator::DEQUANTIZE | BuiltinOperator::DENSIFY)
                && ins.len() == 1
                && outs.len() == 1
                && (consts[ins[0]].is_some() || sg.tensors[ins[0]].sparsity.is_some() && !inputs.contains(&ins[0]));
            if foldable {
                let (tin, tout) = (ins[0], outs[0]);
                let v = fold_constant(model, sg, code, tin, consts[tin].as_ref())
                    .map_err(|msg| InterpError::Kernel { op: op_name(model, sg, i), index: i, msg })?;
                consts[tout] = Some(v);
                folded.push(tout);
            } else {
                planned.push((i, code));
            }
            for t in outs {
                available[t] = true;
            }
        }
        for &t in &sg.outputs {
            if !available[t as usize] {
                return Err(bad(format!("subgraph output {t} is never computed")));
            }
        }

        // Liveness: free a tensor after its last consumer, unless it is a subgraph output.
        let mut last_use: Vec<Option<usize>> = vec![None; nt];
        for (s, &(i, _)) in planned.iter().enumerate() {
            let op = &sg.operators[i];
            for &t in op.inputs.iter().chain(op.outputs.iter()) {
                if t >= 0 {
                    last_use[t as usize] = Some(s);
                }
            }
        }
        for &t in &inputs {
            // An input nobody reads is freed right away.
            last_use[t].get_or_insert(0);
        }
        let mut frees: Vec<Vec<usize>> = vec![Vec::new(); planned.len()];
        for (t, lu) in last_use.iter().enumerate() {
            if let Some(s) = lu {
                if consts[t].is_none() && !sg.outputs.contains(&(t as i32)) && *s < frees.len() {
                    frees[*s].push(t);
                }
            }
        }
        let mut steps: Vec<Step<'m>> = planned
            .into_par_iter()
            .zip(frees)
            .map(|((index, op), frees)| {
                let packed = if op == BuiltinOperator::CONV_2D {
                    sg.operators[index]
                        .inputs
                        .get(1)
                        .and_then(|&t| usize::try_from(t).ok())
                        .and_then(|t| consts[t].as_ref().map(|w| (t, w)))
                        .filter(|(_, w)| w.shape.len() == 4)
                        .and_then(|(t, w)| {
                            let k = w.shape[1..].iter().product();
                            if roles[t] == WeightRole::ConvFilter {
                                let tensor = &sg.tensors[t];
                                let bytes = model.buffers.get(tensor.buffer as usize)?.data.as_bytes();
                                crate::quantize::numerics::with_f32(bytes, |v| conv::PackedW::new(v, w.shape[0], k))
                            } else {
                                conv::PackedW::new(w.as_f32()?, w.shape[0], k)
                            }
                        })
                } else {
                    None
                };
                let weights = if op == BuiltinOperator::FULLY_CONNECTED {
                    sg.operators[index]
                        .inputs
                        .get(1)
                        .and_then(|&t| usize::try_from(t).ok())
                        .filter(|&t| roles[t] == WeightRole::FcWeights)
                        .and_then(in_place)
                } else {
                    None
                };
                Step { index, op, frees, packed, weights, fuse_next: false }
            })
            .collect();
        let mut readers = vec![0usize; nt];
        for op in &sg.operators {
            for &t in &op.inputs {
                if let Some(t) = usize::try_from(t).ok().filter(|&t| t < nt) {
                    readers[t] += 1;
                }
            }
        }
        for i in 1..steps.len() {
            let (a, b) = (&sg.operators[steps[i - 1].index], &sg.operators[steps[i].index]);
            let fusable = steps[i - 1].op == BuiltinOperator::CONV_2D
                && steps[i - 1].packed.is_some()
                && steps[i].op == BuiltinOperator::DEPTHWISE_CONV_2D
                && a.outputs.len() == 1
                && b.inputs.first() == a.outputs.first()
                && usize::try_from(a.outputs[0]).is_ok_and(|t| readers[t] == 1)
                && !sg.outputs.contains(&a.outputs[0]);
            steps[i - 1].fuse_next = fusable;
        }
        Ok(Interpreter { fuse_min_elements: conv::FUSE_MIN_ELEMENTS, model, sg, consts, folded, steps })
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
            fn ctx_of<'a>(sg: &'a Subgraph, step: &'a Step<'_>, op: &'a Operator) -> kernels::Ctx<'a> {
                kernels::Ctx {
                    op,
                    tensors: &sg.tensors,
                    code: step.op,
                    packed: step.packed.as_ref(),
                    weights: step.weights,
                    range: std::cell::Cell::new(None),
                }
            }
            if fuse && step.fuse_next {
                let next = &self.steps[s + 1];
                let op2 = &sg.operators[next.index];
                let fused = kernels::expand_depthwise(
                    &ctx_of(sg, step, op),
                    &gather(op),
                    &ctx_of(sg, next, op2),
                    &gather(op2),
                    self.fuse_min_elements,
                )
                .map_err(|msg| kernel_error(step.index, msg))?;
                if let Some((v, mid, out)) = fused {
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
            let (outs, range) = {
                let ins = gather(op);
                let ctx = ctx_of(sg, step, op);
                let outs = kernels::run(&ctx, &ins).map_err(|msg| kernel_error(step.index, msg))?;
                (outs, ctx.range.get())
            };
            if outs.len() != op.outputs.len() {
                return Err(kernel_error(
                    step.index,
                    format!("produced {} outputs, the model lists {}", outs.len(), op.outputs.len()),
                ));
            }
            for (i, (v, &t)) in outs.into_iter().zip(&op.outputs).enumerate() {
                observe(t as usize, Some(&v), if i == 0 { range } else { None });
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

/// How a float32 constant is read, when a single kind of kernel reads it and needs no decoded
/// copy: CONV_2D filters of ops whose activation the packed GEMM applies are packed straight
/// from the file's bytes, FULLY_CONNECTED weights are read in place (MobileNetV2: 13.8 of its
/// 14 MB of weights not copied).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WeightRole {
    ConvFilter,
    FcWeights,
    Other,
}

fn weight_roles(sg: &Subgraph, codes: &[BuiltinOperator], inputs: &[usize]) -> Vec<WeightRole> {
    let nt = sg.tensors.len();
    let (mut filter, mut fc, mut other) = (vec![false; nt], vec![false; nt], vec![false; nt]);
    for (op, &code) in sg.operators.iter().zip(codes) {
        let clamp = crate::ir::fused_activation(&op.builtin_options).and_then(conv::Clamp::of).is_some();
        for (j, &t) in op.inputs.iter().enumerate() {
            let Some(t) = usize::try_from(t).ok().filter(|&t| t < nt) else { continue };
            match (code, j) {
                (BuiltinOperator::CONV_2D, 1) if clamp => filter[t] = true,
                (BuiltinOperator::FULLY_CONNECTED, 1) => fc[t] = true,
                _ => other[t] = true,
            }
        }
        for &t in &op.outputs {
            if let Some(t) = usize::try_from(t).ok().filter(|&t| t < nt) {
                other[t] = true;
            }
        }
    }
    for &t in &sg.outputs {
        if let Some(t) = usize::try_from(t).ok().filter(|&t| t < nt) {
            other[t] = true;
        }
    }
    (0..nt)
        .map(|t| {
            let tensor = &sg.tensors[t];
            let plain = !other[t]
                && !inputs.contains(&t)
                && tensor.dtype == TensorType::FLOAT32
                && tensor.sparsity.is_none()
                && tensor.shape().iter().all(|&d| d > 0);
            match (filter[t], fc[t]) {
                (true, false) if plain && tensor.shape().len() == 4 => WeightRole::ConvFilter,
                (false, true) if plain && tensor.shape().len() == 2 => WeightRole::FcWeights,
                _ => WeightRole::Other,
            }
        })
        .collect()
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

/// The value of a DEQUANTIZE or DENSIFY of a constant.
fn fold_constant(
    model: &Model,
    sg: &Subgraph,
    code: BuiltinOperator,
    tin: usize,
    decoded: Option<&Value>,
) -> Result<Value, String> {
    let t = &sg.tensors[tin];
    let v = match decoded {
        Some(v) => v.clone(),
        None => {
            let data = model.buffers.get(t.buffer as usize).map(|b| b.data.as_bytes()).unwrap_or(&[]);
            value::decode_constant(t, data)?
        }
    };
    if code == BuiltinOperator::DENSIFY {
        return Ok(v);
    }
    kernels::dequantize(&v, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Data;

    /// TF's MobileNetV2 block fixture (1×1 expand → depthwise → project) widened from 24 to 32
    /// channels, so that the expand/depthwise pair qualifies for fusion.
    fn widened_block() -> Model {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/gd_mnv2_block.tf.tflite");
        let mut m = crate::load(&path).expect("fixture loads");
        let sg = &mut m.subgraphs[0];
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let mut new_buffers = Vec::new();
        let has_data: Vec<bool> = m.buffers.iter().map(|b| !b.data.as_bytes().is_empty()).collect();
        for t in sg.tensors.iter_mut() {
            let Some(shape) = t.shape.as_mut() else { continue };
            if !shape.contains(&24) {
                continue;
            }
            shape.iter_mut().filter(|d| **d == 24).for_each(|d| *d = 32);
            t.shape_signature = None;
            if has_data[t.buffer as usize] {
                let n: i32 = shape.iter().product();
                let bytes: Vec<u8> = (0..n).flat_map(|_| next().to_le_bytes()).collect();
                new_buffers.push((t.buffer as usize, bytes));
            }
        }
        for (b, bytes) in new_buffers {
            m.buffers[b].data = Data::from(bytes);
        }
        m
    }

    #[test]
    fn fused_runs_match_unfused_runs() {
        let model = widened_block();
        let mut interp = Interpreter::new(&model, 0).unwrap();
        assert!(interp.steps.iter().any(|s| s.fuse_next), "the expand/depthwise pair should be marked");
        interp.fuse_min_elements = 0;
        let n = 16 * 16 * 8;
        let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let input = || vec![Value::f32(vec![1, 16, 16, 8], x.clone())];
        let mut plain: Vec<Option<Range>> = vec![None; model.subgraphs[0].tensors.len()];
        let want = interp
            .run_observed(input(), &mut |t, v| {
                let f = v.as_f32().unwrap();
                plain[t] = Some((
                    f.iter().copied().fold(f32::INFINITY, f32::min),
                    f.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                ));
            })
            .unwrap();
        let mut fused_mid = Vec::new();
        let mut fused: Vec<Option<Range>> = vec![None; plain.len()];
        let got = interp
            .run_ranged(input(), &mut |t, v, r| {
                if v.is_none() {
                    fused_mid.push(t);
                }
                fused[t] = r.or_else(|| {
                    let f = v?.as_f32()?;
                    Some((
                        f.iter().copied().fold(f32::INFINITY, f32::min),
                        f.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                    ))
                });
            })
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(fused_mid.len(), 1, "one intermediate computed without being stored");
        assert_eq!(fused, plain, "every tensor's range, the fused intermediate's included");
    }
}
