//! The weight passes: `quantize_dynamic` (int8 weights read by hybrid kernels),
//! `quantize_weight_only` (int8 weights behind explicit DEQUANTIZE ops) and
//! `quantize_float16` (float16 constants behind DEQUANTIZE), as TF's converter
//! does with Optimize.DEFAULT and supported_types=[float16].

use super::graph::{self, consumers};
use super::numerics::{quantize_symmetric_int8, to_f16_bytes, SymmetricInt8};
use super::report::{Quantized, Report, Skipped};
use crate::ir::{codec, Model, Operator, QuantParams, Tensor};
use crate::ops::{self, OpDef, OpKey, Role};
use crate::schema::{BuiltinOperator, TensorType};
use rayon::prelude::*;

#[derive(Debug, Clone)]
pub struct WeightOptions {
    /// Weights with fewer elements stay float (TF: 1024).
    pub min_weight_elements: usize,
    /// Per-tensor scales even where the op supports per-channel.
    pub per_tensor: bool,
}

impl Default for WeightOptions {
    fn default() -> Self {
        WeightOptions { min_weight_elements: 1024, per_tensor: false }
    }
}

/// A use of a constant as the weight operand of an op with a dynamic-range (hybrid) form.
#[derive(Clone, Copy)]
struct WeightUse {
    op: usize,
    slot: usize,
    def: &'static OpDef,
    /// The channel axis of per-channel scales; None: per tensor only.
    axis: Option<usize>,
}

/// How a float constant is used: as weights, or otherwise (operator, slot).
struct Uses {
    weight: Vec<WeightUse>,
    other: Vec<(usize, usize)>,
}

/// The channel axis of input `slot` of `def` when it is a weight operand the weight modes
/// quantize (`Some(None)`: per tensor only).
fn weight_axis(def: &OpDef, slot: usize) -> Option<Option<usize>> {
    def.hybrid?;
    match def.role(slot)? {
        Role::Weights { axis } => Some(axis),
        Role::Table => Some(None),
        Role::Bias { .. } => None,
    }
}

fn classify(model: &Model, si: usize, uses: &[(usize, usize)]) -> Uses {
    let sg = &model.subgraphs[si];
    let mut out = Uses { weight: Vec::new(), other: Vec::new() };
    for &(op, slot) in uses {
        let code = &model.operator_codes[sg.operators[op].opcode_index as usize];
        match ops::of_code(code).and_then(|def| Some((def, weight_axis(def, slot)?))) {
            Some((def, axis)) => out.weight.push(WeightUse { op, slot, def, axis }),
            None => out.other.push((op, slot)),
        }
    }
    out
}

fn op_name(model: &Model, si: usize, oi: usize) -> String {
    model.operator_codes[model.subgraphs[si].operators[oi].opcode_index as usize].name()
}

/// The float32 constants that operators read, per subgraph: (tensor, uses).
fn float_constants(model: &Model, si: usize) -> Vec<(usize, Vec<(usize, usize)>)> {
    let sg = &model.subgraphs[si];
    consumers(sg)
        .into_iter()
        .enumerate()
        .filter(|(ti, uses)| {
            let t = &sg.tensors[*ti];
            !uses.is_empty() && t.dtype == TensorType::FLOAT32 && model.is_constant(t)
        })
        .collect()
}

/// Whether any operator reads a float32 constant.
pub fn has_float_weights(model: &Model) -> bool {
    (0..model.subgraphs.len()).any(|si| !float_constants(model, si).is_empty())
}

/// A weight group: the uses that share one quantized form (same channel axis).
struct Group {
    axis: Option<usize>,
    uses: Vec<WeightUse>,
}

fn groups(uses: &[WeightUse], rank: usize, per_tensor: bool, hybrid: bool) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for &u in uses {
        // LiteRT's hybrid DEPTHWISE_CONV_2D reads one scale per channel whatever the tensor
        // holds (past the end of a per-tensor array): it stays per channel under --per-tensor.
        let channels_only = hybrid && u.def.key == OpKey::Builtin(BuiltinOperator::DEPTHWISE_CONV_2D);
        let axis = u.axis.filter(|&a| (!per_tensor || channels_only) && a < rank);
        match out.iter_mut().find(|g| g.axis == axis) {
            Some(g) => g.uses.push(u),
            None => out.push(Group { axis, uses: vec![u] }),
        }
    }
    out
}

fn int8_params(q: &SymmetricInt8, axis: Option<usize>) -> QuantParams {
    QuantParams {
        scale: Some(q.scales.clone()),
        zero_point: Some(vec![0; q.scales.len()]),
        quantized_dimension: axis.unwrap_or(0) as i32,
        ..QuantParams::default()
    }
}

/// Lets the input's pages go once a weight has been converted, so memory stays near one model's size.
fn release(model: &Model, t: &Tensor) {
    if let Some((src, range)) = model.buffers[t.buffer as usize].data.mapped_range() {
        src.release(range);
    }
}

/// One weight to quantize: where it is, its shape and the groups of its uses.
struct Job {
    si: usize,
    ti: usize,
    shape: Vec<usize>,
    groups: Vec<Group>,
    in_place: bool,
}

/// Which weights the int8 modes quantize, and why others are skipped. The
/// conversions run in parallel; `apply` then rewrites each group in order, so
/// the output does not depend on scheduling. `hybrid`: the weights feed hybrid kernels (dynamic).
fn for_each_int8_weight(
    model: &mut Model,
    opts: &WeightOptions,
    hybrid: bool,
    report: &mut Report,
    mut apply: impl FnMut(&mut Model, usize, usize, &Group, bool, &SymmetricInt8),
) {
    let mut jobs = Vec::new();
    for si in 0..model.subgraphs.len() {
        for (ti, uses) in float_constants(model, si) {
            let u = classify(model, si, &uses);
            let t = &model.subgraphs[si].tensors[ti];
            let skip =
                |reason: String, op: String| Skipped { subgraph: si, index: ti, tensor: t.name().into(), op, reason };
            if u.weight.is_empty() {
                let (oi, slot) = u.other[0];
                let op = op_name(model, si, oi);
                report.skipped.push(skip(format!("not a weight operand ({op} input {slot})"), op));
                continue;
            }
            let first_op = op_name(model, si, u.weight[0].op);
            if t.sparsity.is_some() {
                report.skipped.push(skip("sparse weight, kept as it is".into(), first_op));
                continue;
            }
            let n = t.num_elements().unwrap_or(0);
            if n < opts.min_weight_elements {
                report.skipped.push(skip(format!("too small ({n} < {} elements)", opts.min_weight_elements), first_op));
                continue;
            }
            let Ok(shape) = model.dense(t).map(|d| d.shape) else {
                report.skipped.push(skip("data size does not match the shape".into(), first_op));
                continue;
            };
            let groups = groups(&u.weight, shape.len(), opts.per_tensor, hybrid);
            let in_place = groups.len() == 1 && u.other.is_empty();
            jobs.push(Job { si, ti, shape, groups, in_place });
        }
    }
    let model_ref: &Model = model;
    let results: Vec<Vec<SymmetricInt8>> = jobs
        .par_iter()
        .map(|j| {
            let t = &model_ref.subgraphs[j.si].tensors[j.ti];
            let bytes = model_ref.buffers[t.buffer as usize].data.as_bytes();
            let v = codec::f32s(bytes);
            let q = j.groups.iter().map(|g| quantize_symmetric_int8(&v, &j.shape, g.axis)).collect();
            release(model_ref, t);
            q
        })
        .collect();
    for (j, qs) in jobs.iter().zip(results) {
        let n = j.shape.iter().product();
        for (g, q) in j.groups.iter().zip(&qs) {
            let t = &model.subgraphs[j.si].tensors[j.ti];
            report.quantized.push(Quantized::int8(
                j.si,
                j.ti,
                t.name(),
                &op_name(model, j.si, g.uses[0].op),
                g.axis,
                n,
                &q.scales,
            ));
            apply(model, j.si, j.ti, g, j.in_place, q);
        }
    }
}

/// The int8 copy (or in-place conversion) of weight `ti` for one group; returns its index.
fn int8_tensor(model: &mut Model, si: usize, ti: usize, in_place: bool, q: &SymmetricInt8, axis: Option<usize>) -> i32 {
    let buffer = graph::add_buffer(model, q.values.iter().map(|&v| v as u8).collect());
    let sg = &mut model.subgraphs[si];
    let params = int8_params(q, axis);
    if in_place {
        let t = &mut sg.tensors[ti];
        t.dtype = TensorType::INT8;
        t.buffer = buffer;
        t.quantization = Some(params);
        return ti as i32;
    }
    let src = &sg.tensors[ti];
    let name = graph::unique_name(sg, src.name(), "_int8");
    let t = Tensor { name: Some(name), dtype: TensorType::INT8, buffer, quantization: Some(params), ..src.clone() };
    graph::add_tensor(sg, t)
}

fn rewire(op: &mut Operator, from: usize, to: i32) {
    for i in op.inputs.iter_mut() {
        if *i == from as i32 {
            *i = to;
        }
    }
}

/// Dynamic-range quantization: int8 weights that hybrid kernels read directly.
pub fn quantize_dynamic(model: &mut Model, opts: &WeightOptions) -> Report {
    let mut report = Report::new("dynamic");
    // (subgraph, operator, weight slot, per channel) of each rewired op; GATHER outputs to requantize.
    let mut rewired: Vec<(usize, usize, usize, bool)> = Vec::new();
    let mut gathers: Vec<(usize, usize)> = Vec::new();
    for_each_int8_weight(model, opts, true, &mut report, |model, si, ti, g, in_place, q| {
        let qt = int8_tensor(model, si, ti, in_place, q, g.axis);
        for u in &g.uses {
            let op = &mut model.subgraphs[si].operators[u.op];
            rewire(op, ti, qt);
            rewired.push((si, u.op, u.slot, g.axis.is_some()));
            let hybrid = u.def.hybrid.expect("weight uses have a hybrid form");
            if let Some(asymmetric) = hybrid.asymmetric_inputs {
                asymmetric(&mut op.builtin_options);
            }
            if hybrid.int8_output {
                gathers.push((si, u.op));
            }
        }
    });
    for (si, oi, slot, per_channel) in rewired {
        let sg = &model.subgraphs[si];
        let op = &sg.operators[oi];
        let v = graph::op_version(sg, &model.operator_codes[op.opcode_index as usize], op, &[(slot, per_channel)]);
        graph::raise_versions(model, &[(op.opcode_index, v)]);
    }
    // GATHER of an int8 table writes int8 with the table's scale; DEQUANTIZE restores float for its readers.
    let mut inserted: Vec<(usize, usize, Operator)> = Vec::new();
    for (si, oi) in gathers {
        let sg = &model.subgraphs[si];
        let table = sg.tensors[sg.operators[oi].inputs[0] as usize].quantization.clone();
        let out = sg.operators[oi].outputs[0] as usize;
        let name = graph::unique_name(sg, sg.tensors[out].name(), "_int8");
        let t = Tensor {
            name: Some(name),
            dtype: TensorType::INT8,
            buffer: 0,
            quantization: table,
            ..sg.tensors[out].clone()
        };
        let sg = &mut model.subgraphs[si];
        let qt = graph::add_tensor(sg, t);
        sg.operators[oi].outputs[0] = qt;
        let mut deq = graph::simple_op(0, qt, out as i32);
        let v = graph::builtin_version(sg, BuiltinOperator::DEQUANTIZE, &deq, &[(0, false)]);
        deq.opcode_index = graph::opcode(model, BuiltinOperator::DEQUANTIZE, v);
        inserted.push((si, oi, deq));
    }
    // Insert back to front so earlier positions stay valid.
    inserted.sort_by_key(|&(si, oi, _)| std::cmp::Reverse((si, oi)));
    for (si, oi, op) in inserted {
        model.subgraphs[si].operators.insert(oi + 1, op);
    }
    report
}

/// Weight-only int8: weights stored int8 and turned back into float by DEQUANTIZE
/// ops at the start of the graph, so every kernel stays float.
pub fn quantize_weight_only(model: &mut Model, opts: &WeightOptions) -> Report {
    let mut report = Report::new("weight-int8");
    let mut prepend: Vec<(usize, Operator)> = Vec::new();
    for_each_int8_weight(model, opts, false, &mut report, |model, si, ti, g, in_place, q| {
        let qt = int8_tensor(model, si, ti, in_place, q, g.axis);
        let sg = &mut model.subgraphs[si];
        let src = &sg.tensors[ti];
        let name = graph::unique_name(sg, src.name(), "_dequantized");
        let float =
            Tensor { name: Some(name), dtype: TensorType::FLOAT32, buffer: 0, quantization: None, ..src.clone() };
        let ft = graph::add_tensor(sg, float);
        for u in &g.uses {
            rewire(&mut sg.operators[u.op], ti, ft);
        }
        let mut deq = graph::simple_op(0, qt, ft);
        let v = graph::builtin_version(sg, BuiltinOperator::DEQUANTIZE, &deq, &[(0, g.axis.is_some())]);
        deq.opcode_index = graph::opcode(model, BuiltinOperator::DEQUANTIZE, v);
        prepend.push((si, deq));
    });
    prepend_ops(model, prepend);
    report
}

/// Float16: every float32 constant an operator reads becomes FLOAT16, turned
/// back into float32 by a DEQUANTIZE op (version 3) at the start of the graph.
pub fn quantize_float16(model: &mut Model) -> Report {
    let mut report = Report::new("float16");
    let mut prepend: Vec<(usize, Operator)> = Vec::new();
    let mut jobs = Vec::new();
    for si in 0..model.subgraphs.len() {
        for (ti, uses) in float_constants(model, si) {
            let t = &model.subgraphs[si].tensors[ti];
            let op = op_name(model, si, uses[0].0);
            if t.sparsity.is_some() {
                report.skipped.push(Skipped {
                    subgraph: si,
                    index: ti,
                    tensor: t.name().into(),
                    op,
                    reason: "sparse, kept as it is".into(),
                });
                continue;
            }
            jobs.push((si, ti, uses, op));
        }
    }
    let model_ref: &Model = model;
    let converted: Vec<Vec<u8>> = jobs
        .par_iter()
        .map(|(si, ti, _, _)| {
            let t = &model_ref.subgraphs[*si].tensors[*ti];
            let bytes = to_f16_bytes(&codec::f32s(model_ref.tensor_bytes(t)));
            release(model_ref, t);
            bytes
        })
        .collect();
    for ((si, ti, uses, op), bytes) in jobs.into_iter().zip(converted) {
        report.quantized.push(Quantized::float16(si, ti, model.subgraphs[si].tensors[ti].name(), &op, bytes.len() / 2));
        let buffer = graph::add_buffer(model, bytes);
        let sg = &mut model.subgraphs[si];
        let name = graph::unique_name(sg, sg.tensors[ti].name(), "_dequantized");
        let float = Tensor { name: Some(name), buffer: 0, ..sg.tensors[ti].clone() };
        let t = &mut sg.tensors[ti];
        t.dtype = TensorType::FLOAT16;
        t.buffer = buffer;
        t.quantization = None;
        let ft = graph::add_tensor(sg, float);
        for &(oi, _) in &uses {
            rewire(&mut sg.operators[oi], ti, ft);
        }
        let mut deq = graph::simple_op(0, ti as i32, ft);
        let v = graph::builtin_version(sg, BuiltinOperator::DEQUANTIZE, &deq, &[]);
        deq.opcode_index = graph::opcode(model, BuiltinOperator::DEQUANTIZE, v);
        prepend.push((si, deq));
    }
    prepend_ops(model, prepend);
    report
}

fn prepend_ops(model: &mut Model, ops: Vec<(usize, Operator)>) {
    for si in 0..model.subgraphs.len() {
        let mut new: Vec<Operator> = ops.iter().filter(|(s, _)| *s == si).map(|(_, o)| o.clone()).collect();
        if !new.is_empty() {
            let sg = &mut model.subgraphs[si];
            new.append(&mut sg.operators);
            sg.operators = new;
        }
    }
}
