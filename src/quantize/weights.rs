//! The weight passes: `quantize_dynamic` (int8 weights read by hybrid kernels),
//! `quantize_weight_only` (int8 weights behind explicit DEQUANTIZE ops) and
//! `quantize_float16` (float16 constants behind DEQUANTIZE), as TF's converter
//! does with Optimize.DEFAULT and supported_types=[float16].

use super::graph::{self, consumers, is_constant};
use super::numerics::{i8_bytes, quantize_symmetric_int8, to_f16_bytes, with_f32, SymmetricInt8};
use super::policy::{self, weight_rule, WeightRule};
use super::report::{Quantized, Report, Skipped};
use crate::ir::{Model, Operator, QuantParams, Tensor};
use crate::schema::{BuiltinOperator, BuiltinOptionsT, TensorType};
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

/// How a float constant is used: as the weight of a supported op, or otherwise.
struct Uses {
    weight: Vec<(usize, &'static WeightRule)>,
    other: Vec<(usize, usize)>,
}

fn classify(model: &Model, si: usize, uses: &[(usize, usize)]) -> Uses {
    let sg = &model.subgraphs[si];
    let mut out = Uses { weight: Vec::new(), other: Vec::new() };
    for &(oi, slot) in uses {
        let code = &model.operator_codes[sg.operators[oi].opcode_index as usize];
        match weight_rule(code.builtin, slot).filter(|_| code.custom_code.is_none()) {
            Some(rule) => out.weight.push((oi, rule)),
            None => out.other.push((oi, slot)),
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
            !uses.is_empty() && t.dtype == TensorType::FLOAT32 && is_constant(model, t)
        })
        .collect()
}

/// Whether any operator reads a float32 constant.
pub fn has_float_weights(model: &Model) -> bool {
    (0..model.subgraphs.len()).any(|si| !float_constants(model, si).is_empty())
}

/// The tensor's shape, when its data holds exactly that many f32 values.
fn tensor_shape(model: &Model, t: &Tensor) -> Option<Vec<usize>> {
    let shape: Vec<usize> = t.shape().iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let bytes = model.buffers[t.buffer as usize].data.len();
    (bytes == t.num_elements()?.checked_mul(4)?).then_some(shape)
}

/// A weight group: the uses that share one quantized form (same channel axis).
struct Group {
    axis: Option<usize>,
    uses: Vec<(usize, &'static WeightRule)>,
}

fn groups(uses: &[(usize, &'static WeightRule)], rank: usize, per_tensor: bool) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for &(oi, rule) in uses {
        let axis = rule.channel_axis.filter(|&a| !per_tensor && a < rank);
        match out.iter_mut().find(|g| g.axis == axis) {
            Some(g) => g.uses.push((oi, rule)),
            None => out.push(Group { axis, uses: vec![(oi, rule)] }),
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
/// the output does not depend on scheduling.
fn for_each_int8_weight(
    model: &mut Model,
    opts: &WeightOptions,
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
            let first_op = op_name(model, si, u.weight[0].0);
            if t.sparsity.is_some() {
                report.skipped.push(skip("sparse weight, kept as it is".into(), first_op));
                continue;
            }
            let n = t.num_elements().unwrap_or(0);
            if n < opts.min_weight_elements {
                report.skipped.push(skip(format!("too small ({n} < {} elements)", opts.min_weight_elements), first_op));
                continue;
            }
            let Some(shape) = tensor_shape(model, t) else {
                report.skipped.push(skip("data size does not match the shape".into(), first_op));
                continue;
            };
            let groups = groups(&u.weight, shape.len(), opts.per_tensor);
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
            let q =
                with_f32(bytes, |v| j.groups.iter().map(|g| quantize_symmetric_int8(v, &j.shape, g.axis)).collect());
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
                &op_name(model, j.si, g.uses[0].0),
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
    let buffer = graph::add_buffer(model, i8_bytes(&q.values));
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
    // (subgraph, operator) → version needed; GATHER outputs to requantize.
    let mut versions: Vec<(usize, usize, i32)> = Vec::new();
    let mut gathers: Vec<(usize, usize)> = Vec::new();
    for_each_int8_weight(model, opts, &mut report, |model, si, ti, g, in_place, q| {
        let qt = int8_tensor(model, si, ti, in_place, q, g.axis);
        for &(oi, rule) in &g.uses {
            let op = &mut model.subgraphs[si].operators[oi];
            rewire(op, ti, qt);
            let v = if g.axis.is_some() { rule.hybrid_version_per_channel } else { rule.hybrid_version_per_tensor };
            versions.push((si, oi, v));
            if rule.asymmetric_inputs {
                set_asymmetric_inputs(op, rule.op);
            }
            if rule.op == BuiltinOperator::GATHER {
                gathers.push((si, oi));
            }
        }
    });
    for (si, oi, v) in versions {
        let code = model.subgraphs[si].operators[oi].opcode_index;
        graph::raise_versions(model, &[(code, v)]);
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
        let code = graph::opcode(model, BuiltinOperator::DEQUANTIZE, policy::DEQUANTIZE_INT8_VERSION);
        inserted.push((si, oi, graph::simple_op(code, qt, out as i32)));
    }
    // Insert back to front so earlier positions stay valid.
    inserted.sort_by_key(|&(si, oi, _)| std::cmp::Reverse((si, oi)));
    for (si, oi, op) in inserted {
        model.subgraphs[si].operators.insert(oi + 1, op);
    }
    report
}

/// Tells a hybrid FULLY_CONNECTED / BATCH_MATMUL to quantize its float input asymmetrically, as TF sets it.
fn set_asymmetric_inputs(op: &mut Operator, kind: BuiltinOperator) {
    if op.builtin_options == BuiltinOptionsT::NONE {
        // Absent options mean all defaults; write them out so the flag can be set.
        op.builtin_options = match kind {
            BuiltinOperator::FULLY_CONNECTED => BuiltinOptionsT::FullyConnectedOptions(Box::default()),
            BuiltinOperator::BATCH_MATMUL => BuiltinOptionsT::BatchMatMulOptions(Box::default()),
            _ => return,
        };
    }
    match &mut op.builtin_options {
        BuiltinOptionsT::FullyConnectedOptions(o) => o.asymmetric_quantize_inputs = true,
        BuiltinOptionsT::BatchMatMulOptions(o) => o.asymmetric_quantize_inputs = true,
        _ => {}
    }
}

/// Weight-only int8: weights stored int8 and turned back into float by DEQUANTIZE
/// ops at the start of the graph, so every kernel stays float.
pub fn quantize_weight_only(model: &mut Model, opts: &WeightOptions) -> Report {
    let mut report = Report::new("weight-int8");
    let mut prepend: Vec<(usize, Operator)> = Vec::new();
    for_each_int8_weight(model, opts, &mut report, |model, si, ti, g, in_place, q| {
        let qt = int8_tensor(model, si, ti, in_place, q, g.axis);
        let version = if g.axis.is_some() {
            policy::DEQUANTIZE_INT8_PER_CHANNEL_VERSION
        } else {
            policy::DEQUANTIZE_INT8_VERSION
        };
        let code = graph::opcode(model, BuiltinOperator::DEQUANTIZE, version);
        let sg = &mut model.subgraphs[si];
        let src = &sg.tensors[ti];
        let name = graph::unique_name(sg, src.name(), "_dequantized");
        let float =
            Tensor { name: Some(name), dtype: TensorType::FLOAT32, buffer: 0, quantization: None, ..src.clone() };
        let ft = graph::add_tensor(sg, float);
        for &(oi, _) in &g.uses {
            rewire(&mut sg.operators[oi], ti, ft);
        }
        prepend.push((si, graph::simple_op(code, qt, ft)));
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
            let bytes = with_f32(model_ref.buffers[t.buffer as usize].data.as_bytes(), to_f16_bytes);
            release(model_ref, t);
            bytes
        })
        .collect();
    for ((si, ti, uses, op), bytes) in jobs.into_iter().zip(converted) {
        report.quantized.push(Quantized::float16(si, ti, model.subgraphs[si].tensors[ti].name(), &op, bytes.len() / 2));
        let buffer = graph::add_buffer(model, bytes);
        let code = graph::opcode(model, BuiltinOperator::DEQUANTIZE, policy::DEQUANTIZE_FLOAT16_VERSION);
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
        prepend.push((si, graph::simple_op(code, ti as i32, ft)));
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
