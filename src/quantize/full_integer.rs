//! `quantize_full_integer`: int8 (or 16x8) activations from calibrated ranges,
//! symmetric int8 weights, int32 (int64) biases, QUANTIZE/DEQUANTIZE at the
//! model's float boundary and around ops without an integer kernel.
//!
//! Each float tensor has a home domain: integer when an integer op (or an
//! integer model input) produces it, float otherwise. A consumer in the other
//! domain reads a twin made once by QUANTIZE or DEQUANTIZE, emitted just
//! before the first such consumer, so the operator order stays topological.

use super::graph::{self, consumers};
use super::numerics::{keep_scales_within, quantize_symmetric_int8_par};
use super::report::{FloatOp, Quantized, RelaxedActivation, Report};
use super::QuantizeError;
use crate::ir::{codec, Model, Operator, QuantParams, Subgraph, Tensor};
use crate::ops::{self, IntegerRule, OpDef, OutputParams, Role};
use crate::schema::{BuiltinOperator, TensorType};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activations {
    Int8,
    /// int16 activations, int8 weights, int64 bias ("16x8").
    Int16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoType {
    Float32,
    Int8,
    Uint8,
    Int16,
}

#[derive(Debug, Clone)]
pub struct IntegerOptions {
    pub activations: Activations,
    pub input_type: IoType,
    pub output_type: IoType,
    pub per_tensor: bool,
    /// An op without an integer kernel is an error instead of staying float.
    pub strict: bool,
    /// Activations inside WHILE loop bodies (None: as `activations`). A loop feeds its state
    /// back into itself, so its rounding errors compound over the iterations; int16 there
    /// keeps a recurrent model (LSTM, GRU) close to float at little cost.
    pub loop_activations: Option<Activations>,
}

/// Calibrated (min, max) per tensor of a subgraph; None where never observed.
pub type Ranges = Vec<Option<(f32, f32)>>;

/// What calibration measured, as this pass reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured<'a> {
    /// Per subgraph, per tensor (a subgraph calibration never ran may be absent or all None).
    pub ranges: &'a [Ranges],
    /// For each tensor of the main subgraph, the operator it could not be computed without
    /// (an op the calibrator cannot run).
    pub blocked: &'a [Option<usize>],
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct QParams {
    scale: f32,
    zero_point: i64,
}

impl Activations {
    fn dtype(self) -> TensorType {
        match self {
            Activations::Int8 => TensorType::INT8,
            Activations::Int16 => TensorType::INT16,
        }
    }

    /// Int8: asymmetric over the range widened to include 0. Int16: symmetric, zero point 0.
    /// A range too narrow for a normal float scale (empty, or of denormals only) gets the
    /// scale of an empty range, as TF clamps tiny ranges. None when the range is not finite or
    /// so wide that its scale is not (values near ±3.4e38).
    fn params(self, (min, max): (f32, f32)) -> Option<QParams> {
        if !(min.is_finite() && max.is_finite()) {
            return None;
        }
        let p = match self {
            Activations::Int8 => {
                let (lo, hi) = (min.min(0.0), max.max(0.0));
                let scale = (hi - lo) / 255.0;
                if !scale.is_normal() {
                    // An empty or tiny range: all its values round to the zero point.
                    return scale.is_finite().then_some(QParams { scale: 1.0 / 255.0, zero_point: -128 });
                }
                let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i64;
                QParams { scale, zero_point }
            }
            Activations::Int16 => {
                let scale = min.abs().max(max.abs()) / 32767.0;
                if !scale.is_normal() {
                    return scale.is_finite().then_some(QParams { scale: 1.0 / 32767.0, zero_point: 0 });
                }
                QParams { scale, zero_point: 0 }
            }
        };
        Some(p)
    }

    fn range(self) -> (f32, f32) {
        match self {
            Activations::Int8 => (-128.0, 127.0),
            Activations::Int16 => (-32768.0, 32767.0),
        }
    }
}

fn non_finite_range(tensor: String, (min, max): (f32, f32)) -> QuantizeError {
    QuantizeError::NonFinite {
        tensor: crate::ir::cap(&tensor, 80),
        what: format!(
            "its calibrated range [{min}, {max}] has no finite scale (Inf, NaN or values near ±3.4e38 in the \
             calibration data or the weights)"
        ),
    }
}

/// Refuses constant values that are not finite: they have no integer form.
fn non_finite_values(tensor: &str, what: &str, values: &[f32]) -> Result<(), QuantizeError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(QuantizeError::NonFinite {
            tensor: crate::ir::cap(tensor, 80),
            what: format!("its {what} hold {} at element {i}", values[i]),
        }),
    }
}

fn per_tensor(p: QParams) -> QuantParams {
    QuantParams { scale: Some(vec![p.scale]), zero_point: Some(vec![p.zero_point]), ..QuantParams::default() }
}

fn params_of(t: &Tensor) -> Option<QParams> {
    let q = t.quantization.as_ref()?;
    Some(QParams { scale: *q.scales().first()?, zero_point: q.zero_points().first().copied().unwrap_or(0) })
}

fn min_max(values: &[f32]) -> (f32, f32) {
    values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

struct Rewriter<'r> {
    opts: &'r IntegerOptions,
    /// The subgraph rewritten, and its ranges.
    si: usize,
    ranges: &'r [Option<(f32, f32)>],
    blocked: &'r [Option<usize>],
    /// The names of the subgraph's operators as they were, by index.
    op_names: Vec<String>,
    sg: Subgraph,
    /// Uses per original tensor, to decide whether a constant can be converted in place.
    uses: Vec<usize>,
    quantized_home: Vec<bool>,
    /// Original tensors that hold float values (FLOAT32 in the input model).
    was_float: Vec<bool>,
    /// A uint8 model input or output and its int8 twin.
    uint8_inputs: HashMap<usize, usize>,
    int_twin: HashMap<usize, usize>,
    float_twin: HashMap<usize, usize>,
    requantized: HashMap<(usize, u32, i64), usize>,
    ops: Vec<Operator>,
    report: Report,
}

impl Rewriter<'_> {
    fn add(&mut self, t: Tensor) -> usize {
        self.quantized_home.push(t.dtype != TensorType::FLOAT32);
        graph::add_tensor(&mut self.sg, t) as usize
    }

    /// Appends a QUANTIZE or DEQUANTIZE from `input` to `output`, at the version it needs.
    fn emit(&mut self, model: &mut Model, op: BuiltinOperator, input: usize, output: usize) {
        let mut o = graph::simple_op(0, input as i32, output as i32);
        let version = graph::builtin_version(&self.sg, op, &o, &[]);
        o.opcode_index = graph::opcode(model, op, version);
        self.ops.push(o);
    }

    /// Whether tensor `t` (an index from the input model's operators) held float values.
    fn float_data(&self, t: i32) -> bool {
        t >= 0 && self.was_float[t as usize]
    }

    fn range(&self, t: usize) -> Option<(f32, f32)> {
        self.ranges.get(t).copied().flatten()
    }

    /// The activation parameters of tensor `t` from its calibrated range.
    fn range_params(&self, t: usize) -> Result<QParams, QuantizeError> {
        let name = || self.sg.tensors[t].name().to_string();
        let range = self.range(t).ok_or_else(|| QuantizeError::NoRange(name()))?;
        self.opts.activations.params(range).ok_or_else(|| non_finite_range(name(), range))
    }

    /// The integer version of tensor `t`, requantized to `required` if given.
    fn quantized(&mut self, model: &mut Model, t: usize, required: Option<QParams>) -> Result<usize, QuantizeError> {
        let base = if self.quantized_home[t] {
            t
        } else if let Some(&q) = self.int_twin.get(&t) {
            q
        } else {
            let p = self.range_params(t)?;
            let src = &self.sg.tensors[t];
            let name = graph::unique_name(&self.sg, src.name(), "_quantized");
            let twin = Tensor {
                name: Some(name),
                dtype: self.opts.activations.dtype(),
                buffer: 0,
                quantization: Some(per_tensor(p)),
                ..src.clone()
            };
            let q = self.add(twin);
            self.emit(model, BuiltinOperator::QUANTIZE, t, q);
            self.int_twin.insert(t, q);
            q
        };
        let Some(req) = required else { return Ok(base) };
        let have = params_of(&self.sg.tensors[base]);
        if have == Some(req) {
            return Ok(base);
        }
        let key = (base, req.scale.to_bits(), req.zero_point);
        if let Some(&r) = self.requantized.get(&key) {
            return Ok(r);
        }
        let src = &self.sg.tensors[base];
        let name = graph::unique_name(&self.sg, src.name(), "_requantized");
        let twin = Tensor { name: Some(name), buffer: 0, quantization: Some(per_tensor(req)), ..src.clone() };
        let r = self.add(twin);
        self.emit(model, BuiltinOperator::QUANTIZE, base, r);
        self.requantized.insert(key, r);
        Ok(r)
    }

    /// The float version of tensor `t`.
    fn float(&mut self, model: &mut Model, t: usize) -> usize {
        if let Some(&q) = self.uint8_inputs.get(&t) {
            return self.float(model, q);
        }
        if !self.quantized_home[t] {
            return t;
        }
        if let Some(&f) = self.float_twin.get(&t) {
            return f;
        }
        let src = &self.sg.tensors[t];
        let name = graph::unique_name(&self.sg, src.name(), "_dequantized");
        let twin =
            Tensor { name: Some(name), dtype: TensorType::FLOAT32, buffer: 0, quantization: None, ..src.clone() };
        let f = self.add(twin);
        self.emit(model, BuiltinOperator::DEQUANTIZE, t, f);
        self.float_twin.insert(t, f);
        f
    }

    /// A quantized copy of constant `t` (in place when this is its only use).
    fn constant(&mut self, model: &mut Model, t: usize, dtype: TensorType, bytes: Vec<u8>, q: QuantParams) -> usize {
        let buffer = graph::add_buffer(model, bytes);
        if self.uses[t] == 1 {
            let x = &mut self.sg.tensors[t];
            x.dtype = dtype;
            x.buffer = buffer;
            x.quantization = Some(q);
            self.quantized_home[t] = true;
            return t;
        }
        let src = &self.sg.tensors[t];
        let suffix = if dtype == TensorType::INT8 { "_int8" } else { "_quantized" };
        let name = graph::unique_name(&self.sg, src.name(), suffix);
        self.add(Tensor { name: Some(name), dtype, buffer, quantization: Some(q), ..src.clone() })
    }

    /// Activation-like quantization of a constant from its own range (or given params).
    fn constant_as_activation(
        &mut self,
        model: &mut Model,
        t: usize,
        params: Option<QParams>,
    ) -> Result<usize, QuantizeError> {
        let values = codec::f32s(model.tensor_bytes(&self.sg.tensors[t]));
        non_finite_values(self.sg.tensors[t].name(), "values", &values)?;
        let p = match params {
            Some(p) => p,
            None => {
                let range = min_max(&values);
                let name = || self.sg.tensors[t].name().to_string();
                self.opts.activations.params(range).ok_or_else(|| non_finite_range(name(), range))?
            }
        };
        let (lo, hi) = self.opts.activations.range();
        let bytes: Vec<u8> = match self.opts.activations {
            Activations::Int8 => values
                .iter()
                .map(|&v| ((v / p.scale).round() + p.zero_point as f32).clamp(lo, hi) as i8 as u8)
                .collect(),
            Activations::Int16 => values
                .iter()
                .flat_map(|&v| (((v / p.scale).round() + p.zero_point as f32).clamp(lo, hi) as i16).to_le_bytes())
                .collect(),
        };
        Ok(self.constant(model, t, self.opts.activations.dtype(), bytes, per_tensor(p)))
    }

    fn weights(
        &mut self,
        model: &mut Model,
        si_op: &str,
        t: usize,
        axis: Option<usize>,
        bounds: Option<(f32, f32)>,
    ) -> Result<usize, QuantizeError> {
        let tensor = &self.sg.tensors[t];
        let shape: Vec<usize> = tensor.shape().iter().map(|&d| d.max(0) as usize).collect();
        let axis = axis.filter(|&a| !self.opts.per_tensor && a < shape.len());
        let values = codec::f32s(model.tensor_bytes(tensor));
        non_finite_values(tensor.name(), "weights", &values)?;
        let (mut q, elements) = (quantize_symmetric_int8_par(&values, &shape, axis), values.len());
        if let Some(b) = bounds {
            keep_scales_within(&mut q, &values, &shape, axis, b);
        }
        self.report.quantized.push(Quantized::int8(self.si, t, tensor.name(), si_op, axis, elements, &q.scales));
        let params = QuantParams {
            scale: Some(q.scales.clone()),
            zero_point: Some(vec![0; q.scales.len()]),
            quantized_dimension: axis.unwrap_or(0) as i32,
            ..QuantParams::default()
        };
        let bytes: Vec<u8> = q.values.into_iter().map(|v| v as u8).collect();
        Ok(self.constant(model, t, TensorType::INT8, bytes, params))
    }

    fn bias(
        &mut self,
        model: &mut Model,
        t: usize,
        input_scale: f32,
        weight_scales: &[f32],
    ) -> Result<usize, QuantizeError> {
        let values = codec::f32s(model.tensor_bytes(&self.sg.tensors[t]));
        let name = self.sg.tensors[t].name();
        non_finite_values(name, "bias", &values)?;
        let scales: Vec<f32> = weight_scales.iter().map(|&w| input_scale * w).collect();
        if let Some(s) = scales.iter().find(|s| !s.is_normal()) {
            return Err(QuantizeError::NonFinite {
                tensor: crate::ir::cap(name, 80),
                what: format!(
                    "its scale (input scale {input_scale} × weight scale) is {s}: the input's range is too narrow \
                     for its weights"
                ),
            });
        }
        let scale_of = |i: usize| if scales.len() == 1 { scales[0] } else { scales[i % scales.len()] };
        let (dtype, bytes): (TensorType, Vec<u8>) = match self.opts.activations {
            Activations::Int8 => (
                TensorType::INT32,
                values
                    .iter()
                    .enumerate()
                    .flat_map(|(i, &b)| {
                        ((b / scale_of(i)).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32).to_le_bytes()
                    })
                    .collect(),
            ),
            Activations::Int16 => (
                TensorType::INT64,
                values
                    .iter()
                    .enumerate()
                    .flat_map(|(i, &b)| ((b as f64 / scale_of(i) as f64).round() as i64).to_le_bytes())
                    .collect(),
            ),
        };
        let params = QuantParams {
            scale: Some(scales.clone()),
            zero_point: Some(vec![0; scales.len()]),
            quantized_dimension: 0, // a bias is 1-D, one value per output channel
            ..QuantParams::default()
        };
        Ok(self.constant(model, t, dtype, bytes, params))
    }

    /// Why op `op` must stay float, or None when it can run on integers.
    fn float_reason(&self, model: &Model, op: &Operator) -> Option<String> {
        let code = &model.operator_codes[op.opcode_index as usize];
        let name = code.name();
        let float_tensor = |t: i32| self.float_data(t);
        if !op.inputs.iter().chain(&op.outputs).any(|&t| float_tensor(t)) {
            return Some(String::new()); // no float data (e.g. index arithmetic): nothing to quantize
        }
        if ops::of_code(code).is_some_and(|d| d.calls.is_some()) {
            // Control flow computes nothing itself: its operands stay float, as TF writes them,
            // and the subgraphs it runs are quantized. Not a float op, so --strict accepts it.
            return Some(String::new());
        }
        let def = ops::of_code(code);
        let note = def.and_then(|d| d.float_note).map_or(String::new(), |n| format!(": {n}"));
        let Some((def, rule)) = def.and_then(|d| Some((d, d.integer?))) else {
            return Some(format!("no integer kernel for {name}{note}"));
        };
        let kernel = match self.opts.activations {
            Activations::Int8 => rule.int8,
            Activations::Int16 => rule.int16,
        };
        if !kernel {
            let width = if self.opts.activations == Activations::Int8 { "int8" } else { "int16" };
            return Some(format!("no {width} kernel for {name}{note}"));
        }
        if let crate::schema::BuiltinOptionsT::ResizeBilinearOptions(o) = &op.builtin_options {
            // Only XNNPACK's float kernel takes both; the builtin kernels refuse the op.
            if o.align_corners && o.half_pixel_centers {
                return Some(format!("{name} sets both align_corners and half_pixel_centers"));
            }
        }
        for (slot, &t) in op.inputs.iter().enumerate() {
            if !float_tensor(t) {
                continue;
            }
            let tensor = &self.sg.tensors[t as usize];
            let constant = model.is_constant(tensor);
            let weights_may_vary = rule.variable_weights && matches!(def.role(slot), Some(Role::Weights { .. }));
            if constant_role(def, slot).is_some() && !constant && !weights_may_vary {
                return Some(format!("{name} input {slot} ({}) is not constant", tensor.name()));
            }
            if constant {
                if tensor.sparsity.is_some() {
                    return Some(format!("{name} input {slot} ({}) is a sparse constant", tensor.name()));
                }
                if model.dense(tensor).is_err() {
                    return Some(format!(
                        "{name} input {slot} ({}): data size does not match its shape",
                        tensor.name()
                    ));
                }
            }
            if !constant && self.range(t as usize).is_none() {
                return Some(self.no_range_reason(t as usize));
            }
        }
        for &t in &op.outputs {
            if float_tensor(t) && rule.output == OutputParams::Calibrated && self.range(t as usize).is_none() {
                return Some(self.no_range_reason(t as usize));
            }
        }
        None
    }

    /// Why tensor `t` has no range: the op calibration could not run that it depends on, or none seen.
    fn no_range_reason(&self, t: usize) -> String {
        match self.blocked.get(t).copied().flatten() {
            Some(root) => {
                let name = self.op_names.get(root).map_or("?", String::as_str);
                format!("depends on {name} (operator {root}), which tflq cannot run")
            }
            None => format!("no calibration range for {}", self.sg.tensors[t].name()),
        }
    }

    /// The weight scales an int8 convolution or matrix product may have: XNNPACK (the default
    /// delegate) takes a per-channel rescale `input scale × weight scale / output scale` only
    /// within [2^-32, 256). A channel beyond it (weights near ±3.4e38, or almost zero) gets the
    /// bound, with margin: above it any non-zero input saturates the output anyway, and below
    /// it the channel adds less than one output step.
    fn weight_scale_bounds(
        &self,
        op: &Operator,
        def: &OpDef,
        rule: IntegerRule,
        shared: Option<QParams>,
    ) -> Result<Option<(f32, f32)>, QuantizeError> {
        if self.opts.activations != Activations::Int8 || rule.output != OutputParams::Calibrated {
            return Ok(None);
        }
        let input = def.roles.iter().find_map(|&(_, r)| match r {
            Role::Bias { input, .. } => Some(input),
            _ => None,
        });
        let (Some(&x), Some(&y)) = (input.and_then(|i| op.inputs.get(i)), op.outputs.first()) else {
            return Ok(None);
        };
        let (x, y) = (usize::try_from(x).ok(), usize::try_from(y).ok());
        let (Some(x), Some(y)) = (x, y) else { return Ok(None) };
        let in_scale = match params_of(&self.sg.tensors[x])
            .or_else(|| self.int_twin.get(&x).and_then(|&q| params_of(&self.sg.tensors[q])))
        {
            Some(p) => p.scale,
            None => self.range_params(x)?.scale,
        };
        let out_scale = match shared {
            Some(p) => p.scale,
            None => self.range_params(y)?.scale,
        };
        let ratio = out_scale / in_scale;
        Ok((ratio.is_finite() && ratio > 0.0).then(|| (ratio * 2f32.powi(-31), ratio * 255.0)))
    }

    fn integer_op(&mut self, model: &mut Model, mut op: Operator, def: &OpDef) -> Result<(), QuantizeError> {
        let rule: IntegerRule = def.integer.ok_or(QuantizeError::Internal("an integer op has an integer rule"))?;
        let op_name = model.operator_codes[op.opcode_index as usize].name();
        // Parameters the inputs must share (CONCATENATION, MINIMUM, MAXIMUM).
        let shared = if rule.inputs_share_output {
            let out = op.outputs[0] as usize;
            Some(self.range_params(out)?)
        } else {
            None
        };
        let mut bias_slots = Vec::new();
        for slot in 0..op.inputs.len() {
            let t = op.inputs[slot];
            if !self.float_data(t) {
                continue;
            }
            let t = t as usize;
            let constant = model.is_constant(&self.sg.tensors[t]);
            // A weights slot holding an activation (BATCH_MATMUL's right-hand side) is one.
            let role = constant_role(def, slot).filter(|_| constant || !rule.variable_weights);
            op.inputs[slot] = match role {
                Some(Role::Bias { .. }) => {
                    bias_slots.push(slot);
                    continue;
                }
                Some(Role::Weights { axis }) => {
                    let bounds = self.weight_scale_bounds(&op, def, rule, shared)?;
                    self.weights(model, &op_name, t, axis, bounds)?
                }
                Some(Role::Table) => return Err(QuantizeError::Internal("tables are not constant roles")),
                None if constant => {
                    // A constant moved by a same-scale op, or shared with the output, takes those parameters.
                    let params = shared.or(match rule.output {
                        OutputParams::SameAsInput(s) if s != slot => op
                            .inputs
                            .get(s)
                            .and_then(|&x| (x >= 0).then(|| params_of(&self.sg.tensors[x as usize])).flatten()),
                        _ => None,
                    });
                    self.constant_as_activation(model, t, params)?
                }
                None => self.quantized(model, t, shared)?,
            } as i32;
        }
        for slot in bias_slots {
            let Some(Role::Bias { input, weights }) = def.role(slot) else { continue };
            let input_scale = params_of(&self.sg.tensors[op.inputs[input] as usize]).map(|p| p.scale);
            let w = &self.sg.tensors[op.inputs[weights] as usize];
            let (Some(input_scale), Some(wq)) = (input_scale, w.quantization.clone()) else { continue };
            let t = op.inputs[slot] as usize;
            op.inputs[slot] = self.bias(model, t, input_scale, wq.scales())? as i32;
        }
        // Outputs.
        let mut after: Vec<(BuiltinOperator, usize, usize)> = Vec::new();
        for j in 0..op.outputs.len() {
            let t = op.outputs[j];
            if !self.float_data(t) {
                continue;
            }
            let t = t as usize;
            let p = match rule.output {
                OutputParams::Calibrated => match shared {
                    Some(p) => p,
                    None => self.range_params(t)?,
                },
                OutputParams::SameAsInput(s) => params_of(&self.sg.tensors[op.inputs[s] as usize])
                    .ok_or(QuantizeError::Internal("same-scale input has no parameters"))?,
                OutputParams::Fixed { int8, int16 } => {
                    let (scale, zero_point) = if self.opts.activations == Activations::Int8 { int8 } else { int16 };
                    QParams { scale, zero_point }
                }
            };
            let dtype = self.opts.activations.dtype();
            let graph_output = self.sg.outputs.contains(&(t as i32));
            match (graph_output, self.opts.output_type) {
                // A float or uint8 model output keeps its tensor; the op writes an integer
                // twin that other integer readers use directly, then a boundary op converts.
                (true, io @ (IoType::Float32 | IoType::Uint8)) => {
                    let name = graph::unique_name(&self.sg, self.sg.tensors[t].name(), "_quantized");
                    let twin = Tensor {
                        name: Some(name),
                        dtype,
                        buffer: 0,
                        quantization: Some(per_tensor(p)),
                        ..self.sg.tensors[t].clone()
                    };
                    let q = self.add(twin);
                    op.outputs[j] = q as i32;
                    self.int_twin.insert(t, q);
                    if io == IoType::Float32 {
                        after.push((BuiltinOperator::DEQUANTIZE, q, t));
                    } else {
                        let out = &mut self.sg.tensors[t];
                        out.dtype = TensorType::UINT8;
                        out.quantization = Some(per_tensor(QParams { scale: p.scale, zero_point: p.zero_point + 128 }));
                        // Float readers go through the int8 twin's DEQUANTIZE.
                        self.uint8_inputs.insert(t, q);
                        after.push((BuiltinOperator::QUANTIZE, q, t));
                    }
                }
                _ => {
                    let x = &mut self.sg.tensors[t];
                    x.dtype = dtype;
                    x.quantization = Some(per_tensor(p));
                    self.quantized_home[t] = true;
                }
            }
        }
        if let Some(set) = rule.options {
            set(&mut op.builtin_options);
        }
        if self.opts.activations == Activations::Int16 {
            if let Some(set) = rule.int16_options {
                set(&mut op.builtin_options);
            }
        }
        let version = graph::op_version(&self.sg, &model.operator_codes[op.opcode_index as usize], &op, &[]);
        graph::raise_versions(model, &[(op.opcode_index, version)]);
        self.ops.push(op);
        for (kind, from, to) in after {
            self.emit(model, kind, from, to);
        }
        Ok(())
    }
}

/// The role of a constant input of an integer op; a table (GATHER's) is quantized like an activation.
fn constant_role(def: &OpDef, slot: usize) -> Option<Role> {
    def.role(slot).filter(|r| *r != Role::Table)
}

fn check_io(opts: &IntegerOptions) -> Result<(), QuantizeError> {
    let ok = |t: IoType| match opts.activations {
        Activations::Int8 => matches!(t, IoType::Float32 | IoType::Int8 | IoType::Uint8),
        Activations::Int16 => matches!(t, IoType::Float32 | IoType::Int16),
    };
    for (what, t) in [("input", opts.input_type), ("output", opts.output_type)] {
        if !ok(t) {
            return Err(QuantizeError::IoType {
                what,
                io: format!("{t:?}").to_lowercase(),
                mode: if opts.activations == Activations::Int8 { "int8" } else { "int16x8" },
            });
        }
    }
    Ok(())
}

/// Rewrites every calibrated subgraph to integer arithmetic using the measured ranges. The
/// main subgraph's inputs and outputs take the types `opts` asks for; other subgraphs (WHILE
/// and IF bodies) keep float boundaries, as TF's quantizer leaves them.
pub fn quantize_full_integer(
    model: &mut Model,
    measured: &Measured<'_>,
    opts: &IntegerOptions,
) -> Result<Report, QuantizeError> {
    check_io(opts)?;
    if model.subgraphs.is_empty() {
        return Err(QuantizeError::NoFloatWeights);
    }
    let mode = if opts.activations == Activations::Int8 { "int8" } else { "int16x8" };
    let mut report = Report::new(mode);
    let inner = IntegerOptions { input_type: IoType::Float32, output_type: IoType::Float32, ..opts.clone() };
    let looped = IntegerOptions { activations: opts.loop_activations.unwrap_or(opts.activations), ..inner.clone() };
    let loops = graph::loop_bodies(model);
    for si in 0..model.subgraphs.len() {
        let ranges = measured.ranges.get(si).map_or(&[][..], Vec::as_slice);
        if si > 0 && ranges.iter().all(Option::is_none) {
            continue; // never run while calibrating: left as it is
        }
        let blocked = if si == 0 { measured.blocked } else { &[] };
        let sub_opts = match si {
            0 => opts,
            _ if loops.contains(&si) => &looped,
            _ => &inner,
        };
        if sub_opts.activations != opts.activations {
            report.subgraph_activations.push((si, "int16".into(), "WHILE loop body".into()));
        }
        report = rewrite_subgraph(model, si, ranges, blocked, sub_opts, report)?;
    }
    relax_unquantizable_activations(model, &mut report);
    Ok(report)
}

/// The activations each subgraph is quantized to under `opts` (loop bodies may differ).
pub fn subgraph_activations(model: &Model, opts: &IntegerOptions) -> Vec<Activations> {
    let loops = graph::loop_bodies(model);
    (0..model.subgraphs.len())
        .map(|si| match si {
            _ if si > 0 && loops.contains(&si) => opts.loop_activations.unwrap_or(opts.activations),
            _ => opts.activations,
        })
        .collect()
}

/// Rewrites subgraph `si`, adding what it did to `report`.
fn rewrite_subgraph(
    model: &mut Model,
    si: usize,
    ranges: &[Option<(f32, f32)>],
    blocked: &[Option<usize>],
    opts: &IntegerOptions,
    report: Report,
) -> Result<Report, QuantizeError> {
    let sg = std::mem::take(&mut model.subgraphs[si]);
    let uses = consumers(&sg).iter().map(Vec::len).collect();
    let was_float: Vec<bool> = sg.tensors.iter().map(|t| t.dtype == TensorType::FLOAT32).collect();
    let quantized_home = vec![false; sg.tensors.len()];
    let op_names = sg.operators.iter().map(|o| model.operator_codes[o.opcode_index as usize].name()).collect();
    let mut rw = Rewriter {
        opts,
        si,
        ranges,
        blocked,
        op_names,
        sg,
        uses,
        quantized_home,
        was_float,
        uint8_inputs: HashMap::new(),
        int_twin: HashMap::new(),
        float_twin: HashMap::new(),
        requantized: HashMap::new(),
        ops: Vec::new(),
        report,
    };
    let result = rewrite(model, &mut rw);
    let Rewriter { sg, ops, report, .. } = rw;
    model.subgraphs[si] = sg;
    result?;
    model.subgraphs[si].operators = ops;
    Ok(report)
}

/// The runtime quantizes a fused activation's bounds with the output's parameters when it
/// prepares the op, and refuses the model when `bound / scale` overflows int32 (a RELU6 output
/// calibrated to a range below ~3e-9, as in deep random-weight models; ai-edge-quantizer's
/// int8 MobileNetV2 has the same problem).
/// Such a bound lies far beyond the integer range, so clamping to it does nothing: RELU6 becomes
/// RELU, or NONE when its lower bound is below the range as well (RELU_N1_TO_1 likewise).
fn relax_unquantizable_activations(model: &mut Model, report: &mut Report) {
    use crate::schema::ActivationFunctionType as A;
    let codes: Vec<BuiltinOperator> = model.operator_codes.iter().map(|c| c.builtin).collect();
    let defs: Vec<Option<&OpDef>> = model.operator_codes.iter().map(ops::of_code).collect();
    for (si, sg) in model.subgraphs.iter_mut().enumerate() {
        for (index, op) in sg.operators.iter_mut().enumerate() {
            let Some(Some(def)) = defs.get(op.opcode_index as usize) else { continue };
            let (Some(act), Some(field)) = (def.fused_activation(&op.builtin_options), def.activation) else {
                continue;
            };
            let (lo, hi) = match act {
                A::RELU6 => (0.0, 6.0),
                A::RELU_N1_TO_1 => (-1.0, 1.0),
                _ => continue,
            };
            let Some(out) = op.outputs.first().and_then(|&t| usize::try_from(t).ok()).and_then(|t| sg.tensors.get(t))
            else {
                continue;
            };
            let (qmin, qmax) = match out.dtype {
                TensorType::INT8 => Activations::Int8.range(),
                TensorType::INT16 => Activations::Int16.range(),
                _ => continue,
            };
            let (qmin, qmax) = (f64::from(qmin), f64::from(qmax));
            let Some(p) = params_of(out).filter(|p| p.scale > 0.0) else { continue };
            let q = |bound: f64| (bound / f64::from(p.scale)).round();
            if q(lo).abs() <= f64::from(i32::MAX) && q(hi).abs() <= f64::from(i32::MAX) {
                continue;
            }
            let zp = p.zero_point as f64;
            let (lower_noop, upper_noop) = (zp + q(lo) <= qmin, zp + q(hi) >= qmax);
            let to = match (lower_noop, upper_noop) {
                (true, true) => A::NONE,
                (false, true) if lo == 0.0 => A::RELU,
                _ => continue,
            };
            (field.set)(&mut op.builtin_options, to);
            report.relaxed_activations.push(RelaxedActivation {
                subgraph: si,
                index,
                op: codes.get(op.opcode_index as usize).map_or("?".into(), |c| c.variant_name().unwrap_or("?").into()),
                from: act.variant_name().unwrap_or("?").into(),
                to: to.variant_name().unwrap_or("?").into(),
            });
        }
    }
}

fn rewrite(model: &mut Model, rw: &mut Rewriter<'_>) -> Result<(), QuantizeError> {
    // Integer model inputs are quantized in place (uint8 through an int8 twin).
    for &t in &rw.sg.inputs.clone() {
        let t = t as usize;
        if rw.sg.tensors[t].dtype != TensorType::FLOAT32 || rw.opts.input_type == IoType::Float32 {
            continue;
        }
        let p = rw.range_params(t)?;
        if rw.opts.input_type == IoType::Uint8 {
            // Consumers read an int8 twin, made by QUANTIZE from the uint8 input (same scale, zero point + 128).
            let q = rw.quantized(model, t, None)?;
            let x = &mut rw.sg.tensors[t];
            x.dtype = TensorType::UINT8;
            x.quantization = Some(per_tensor(QParams { scale: p.scale, zero_point: p.zero_point + 128 }));
            rw.uint8_inputs.insert(t, q);
        } else {
            let x = &mut rw.sg.tensors[t];
            x.dtype = rw.opts.activations.dtype();
            x.quantization = Some(per_tensor(p));
            rw.quantized_home[t] = true;
        }
    }
    let original = std::mem::take(&mut rw.sg.operators);
    for (oi, op) in original.into_iter().enumerate() {
        let unrun = op.outputs.iter().any(|&t| usize::try_from(t).is_ok_and(|t| rw.blocked.get(t) == Some(&Some(oi))));
        let reason = if unrun {
            let name = &rw.op_names[oi];
            Some(format!("tflq has no kernel to run {name} (operator {oi}), so it and what is computed from it were not calibrated"))
        } else {
            rw.float_reason(model, &op)
        };
        match reason {
            None => {
                let def = ops::of_code(&model.operator_codes[op.opcode_index as usize])
                    .ok_or(QuantizeError::Internal("an integer op is in the registry"))?;
                rw.integer_op(model, op, def)?;
            }
            Some(reason) => {
                if !reason.is_empty() {
                    // What TF's integer-only conversion keeps float too (NEG) does not fail --strict.
                    let like_tf = ops::of_code(&model.operator_codes[op.opcode_index as usize])
                        .is_some_and(|d| d.float_in_tf && d.integer.is_none());
                    if rw.opts.strict && !like_tf {
                        return Err(QuantizeError::Strict(reason));
                    }
                    let name = model.operator_codes[op.opcode_index as usize].name();
                    rw.report.float_ops.push(FloatOp { subgraph: rw.si, index: oi, op: name, reason });
                }
                let mut op = op;
                for slot in 0..op.inputs.len() {
                    let t = op.inputs[slot];
                    if t >= 0 && rw.was_float[t as usize] {
                        op.inputs[slot] = rw.float(model, t as usize) as i32;
                    }
                }
                rw.ops.push(op);
            }
        }
    }
    // Integer outputs produced by float ops (or passed straight from an input).
    let outputs = rw.sg.outputs.clone();
    for (i, &t) in outputs.iter().enumerate() {
        let t = t as usize;
        let want_int = rw.opts.output_type != IoType::Float32;
        if want_int && rw.sg.tensors[t].dtype == TensorType::FLOAT32 {
            if let (None, Some(&Some(root))) = (rw.range(t), rw.blocked.get(t)) {
                return Err(QuantizeError::Uncalibrated {
                    tensor: rw.sg.tensors[t].name().into(),
                    op: rw.op_names[root].clone(),
                    index: root,
                });
            }
            let q = rw.quantized(model, t, None)?;
            rw.sg.outputs[i] = q as i32;
            for sd in model.signature_defs.iter_mut().filter(|s| s.subgraph_index as usize == rw.si) {
                for m in sd.outputs.iter_mut().filter(|m| m.tensor_index == t as u32) {
                    m.tensor_index = q as u32;
                }
            }
        }
    }
    Ok(())
}
