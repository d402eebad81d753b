//! `tflq compare`: a float model and a quantized version of it, run on the same samples.
//!
//! - **Outputs** are matched by position (their shapes must agree). SQNR, cosine similarity
//!   and the errors are computed over every element of every sample together; top-1 agreement
//!   is reported when an output holds one score vector per sample (last dimension above 1)
//!   made by SOFTMAX, LOG_SOFTMAX or FULLY_CONNECTED.
//! - **Tensors**: every tensor an operator of QUANT computes is matched by name to the float
//!   tensor it stands for (QUANT's twins, named with the suffixes `_int8`, `_quantized`,
//!   `_dequantized`, `_requantized` and `_int16`, perhaps followed by `_N`, map back to the
//!   base name; when no name matches and both models run the same compute ops in the same
//!   order, an op's output stands for the same output of FLOAT's op in that position). Constants (weights) are not listed: their error shows in the tensors computed
//!   from them. `sqnr_db` is the accumulated error of QUANT's (dequantized) tensor against
//!   FLOAT's. `added_sqnr_db` is the error the tensor adds over its inputs': with
//!   noise-to-signal ratios `r = 10^(-sqnr/10)`, `r(tensor) - max r(inputs)`, in dB; tensors
//!   `layer_sqnr_db` is the op's own error: QUANT's op alone (with
//!   its constants and what derives from them only, such as a weight's DEQUANTIZE) fed FLOAT's
//!   values of its inputs, quantized with QUANT's parameters where it takes integers; null when
//!   exact, or when an input has no FLOAT twin. Tensors are ranked by it, worst first (those
//!   without one last, by `added_sqnr_db`).
//! - **Float ops**: in a QUANT with QUANTIZE operators, the other operators that compute float32.

use super::exec::{self, ExecError};
use crate::calibrate::data::SampleSet;
use crate::interp::{Interpreter, Value};
use crate::ir::{Model, Subgraph, Tensor};
use crate::schema::{BuiltinOperator, TensorType};
use rayon::prelude::*;
use serde_json::{json, Value as Json};
use std::collections::HashMap;

/// The suffixes tflq's passes give the tensors they add for an existing one.
pub const TWIN_SUFFIXES: &[&str] = &["_int8", "_quantized", "_dequantized", "_requantized", "_int16"];

pub struct OutputReport {
    pub name: String,
    /// None when QUANT's output equals FLOAT's exactly (infinite SQNR).
    pub sqnr_db: Option<f64>,
    pub cosine: f64,
    pub max_abs_error: f64,
    pub mean_abs_error: f64,
    pub top1_agreement: Option<f64>,
}

pub struct TensorReport {
    /// QUANT's tensor name, its index, and the FLOAT tensor it is compared with.
    pub name: String,
    pub index: usize,
    pub float_name: String,
    /// The QUANT operator that computes it.
    pub op: String,
    pub sqnr_db: Option<f64>,
    /// The op's own error: QUANT's op fed FLOAT's inputs (quantized with QUANT's parameters where
    /// it takes integers). Infinite when exact; None when the op could not run alone.
    pub layer_sqnr_db: Option<f64>,
    pub added_sqnr_db: Option<f64>,
    pub clipped_fraction: Option<f64>,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
}

pub struct FloatOp {
    pub op: String,
    pub index: usize,
    pub reason: String,
}

pub struct Comparison {
    pub outputs: Vec<OutputReport>,
    /// Worst first.
    pub tensors: Vec<TensorReport>,
    pub float_ops: Vec<FloatOp>,
    pub samples: usize,
    /// Mismatches that do not stop the comparison (output names that differ).
    pub warnings: Vec<String>,
}

impl Comparison {
    /// The lowest output SQNR (None when every output is exact).
    pub fn worst_output_sqnr(&self) -> Option<f64> {
        self.outputs.iter().filter_map(|o| o.sqnr_db).min_by(f64::total_cmp)
    }

    /// The stable JSON (DESIGN.md), with the `top` worst tensors (all when None).
    pub fn to_json(&self, top: Option<usize>) -> Json {
        let outputs: Vec<Json> = self
            .outputs
            .iter()
            .map(|o| {
                json!({"name": o.name, "sqnr_db": o.sqnr_db, "cosine": o.cosine, "max_abs_error": o.max_abs_error,
                       "mean_abs_error": o.mean_abs_error, "top1_agreement": o.top1_agreement})
            })
            .collect();
        let tensors: Vec<Json> = self
            .tensors
            .iter()
            .take(top.unwrap_or(usize::MAX))
            .map(|t| {
                json!({"name": t.name, "op": t.op, "sqnr_db": t.sqnr_db, "layer_sqnr_db": t.layer_sqnr_db.filter(|x| x.is_finite()),
                       "clipped_fraction": t.clipped_fraction, "scale": t.scale, "zero_point": t.zero_point,
                       "added_sqnr_db": t.added_sqnr_db, "float_name": t.float_name, "index": t.index})
            })
            .collect();
        let float_ops: Vec<Json> =
            self.float_ops.iter().map(|f| json!({"op": f.op, "index": f.index, "reason": f.reason})).collect();
        json!({"outputs": outputs, "tensors": tensors, "float_ops": float_ops, "samples": self.samples,
               "warnings": self.warnings})
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html_db(x: Option<f64>) -> String {
    x.map_or("inf".into(), |x| format!("{x:.2}"))
}

impl Comparison {
    /// A self-contained HTML page: the outputs, every tensor (worst first, with a bar for its
    /// accumulated SQNR) and the float ops.
    pub fn to_html(&self, title: &str) -> String {
        let mut h = String::new();
        h += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tflq compare</title><style>\n";
        h += "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 8px;\
              border-bottom:1px solid #ddd;text-align:right}td.n{text-align:left;font-family:monospace}\
              .bar{display:inline-block;height:10px;background:#c44}\n</style></head><body>\n";
        h += &format!("<h1>tflq compare</h1><p>{} ({} samples)</p>\n", escape(title), self.samples);
        h += "<h2>Outputs</h2><table><tr><th>name</th><th>SQNR dB</th><th>cosine</th><th>max |err|</th>\
              <th>mean |err|</th><th>top-1</th></tr>\n";
        for o in &self.outputs {
            let top1 = o.top1_agreement.map_or("-".into(), |a| format!("{:.1}%", a * 100.0));
            h += &format!(
                "<tr><td class=n>{}</td><td>{}</td><td>{:.6}</td><td>{:.6}</td><td>{:.6}</td><td>{top1}</td></tr>\n",
                escape(&o.name),
                html_db(o.sqnr_db),
                o.cosine,
                o.max_abs_error,
                o.mean_abs_error
            );
        }
        h += "</table>\n<h2>Tensors, worst first</h2><table><tr><th>layer dB</th><th>added dB</th><th>SQNR dB</th>\
              <th></th><th>clipped</th><th>op</th><th>name</th><th>scale</th><th>zero point</th></tr>\n";
        for t in &self.tensors {
            // A bar from 0 (60 dB and better) to full (0 dB and worse).
            let width = t.sqnr_db.map_or(0.0, |d| (60.0 - d).clamp(0.0, 60.0) * 2.0);
            let params = |v: String| if v.is_empty() { "-".to_string() } else { v };
            let scale = params(t.scale.iter().take(4).map(|x| format!("{x:.3e}")).collect::<Vec<_>>().join(" "));
            let zp = params(t.zero_point.iter().take(4).map(|x| x.to_string()).collect::<Vec<_>>().join(" "));
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=bar style=\"width:{width:.0}px\"></span></td>\
                 <td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{scale}</td><td>{zp}</td></tr>\n",
                t.layer_sqnr_db.map_or("-".into(), |a| html_db(Some(a).filter(|a| a.is_finite()))),
                t.added_sqnr_db.map_or("-".into(), |a| format!("{a:.2}")),
                html_db(t.sqnr_db),
                t.clipped_fraction.map_or("-".into(), |f| format!("{:.2}%", f * 100.0)),
                escape(&t.op),
                escape(&t.float_name)
            );
        }
        h += "</table>\n<h2>Float ops</h2>\n";
        if self.float_ops.is_empty() {
            h += "<p>none</p>\n";
        } else {
            h += "<table><tr><th>index</th><th>op</th><th>reason</th></tr>\n";
            for f in &self.float_ops {
                h += &format!(
                    "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>\n",
                    f.index,
                    escape(&f.op),
                    escape(&f.reason)
                );
            }
            h += "</table>\n";
        }
        h += "</body></html>\n";
        h
    }
}

/// Error sums between a reference `x` (FLOAT) and `y` (QUANT).
#[derive(Clone, Copy, Default)]
struct Acc {
    xx: f64,
    yy: f64,
    xy: f64,
    ee: f64,
    max_abs: f64,
    sum_abs: f64,
    n: u64,
    clipped: u64,
    top1_same: u64,
    top1_n: u64,
}

impl Acc {
    fn add(&mut self, x: &[f32], y: &[f32]) {
        for (&a, &b) in x.iter().zip(y) {
            let (a, b) = (f64::from(a), f64::from(b));
            let e = (a - b).abs();
            self.xx += a * a;
            self.yy += b * b;
            self.xy += a * b;
            self.ee += e * e;
            self.max_abs = self.max_abs.max(e);
            self.sum_abs += e;
        }
        self.n += x.len() as u64;
    }

    fn merge(&mut self, o: &Acc) {
        self.xx += o.xx;
        self.yy += o.yy;
        self.xy += o.xy;
        self.ee += o.ee;
        self.max_abs = self.max_abs.max(o.max_abs);
        self.sum_abs += o.sum_abs;
        self.n += o.n;
        self.clipped += o.clipped;
        self.top1_same += o.top1_same;
        self.top1_n += o.top1_n;
    }

    fn sqnr(&self) -> Option<f64> {
        (self.ee > 0.0).then(|| 10.0 * (self.xx / self.ee).log10())
    }

    /// Noise-to-signal ratio.
    fn nsr(&self) -> f64 {
        if self.ee == 0.0 {
            0.0
        } else if self.xx == 0.0 {
            f64::INFINITY
        } else {
            self.ee / self.xx
        }
    }

    fn cosine(&self) -> f64 {
        if self.xx == 0.0 && self.yy == 0.0 {
            1.0
        } else if self.xx == 0.0 || self.yy == 0.0 {
            0.0
        } else {
            self.xy / (self.xx.sqrt() * self.yy.sqrt())
        }
    }
}

/// The names a QUANT tensor may have in FLOAT: its own, then with twin suffixes taken off.
pub fn base_names(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    let mut cur = name.to_string();
    loop {
        // `x_int8_2`: unique_name's counter after the suffix.
        let without_counter = match cur.rsplit_once('_') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head.to_string(),
            _ => cur.clone(),
        };
        let stripped = [&without_counter, &cur]
            .iter()
            .find_map(|c| TWIN_SUFFIXES.iter().find_map(|s| c.strip_suffix(s)).map(str::to_string));
        match stripped {
            Some(s) if !s.is_empty() => {
                out.push(s.clone());
                cur = s;
            }
            _ => return out,
        }
    }
}

fn op_name(model: &Model, sg: &Subgraph, index: usize) -> String {
    model.operator_codes.get(sg.operators[index].opcode_index as usize).map_or("?".into(), |c| c.name())
}

fn builtin(model: &Model, sg: &Subgraph, index: usize) -> BuiltinOperator {
    model.operator_codes.get(sg.operators[index].opcode_index as usize).map_or(BuiltinOperator::CUSTOM, |c| c.builtin)
}

fn is_const(model: &Model, t: &Tensor) -> bool {
    !model.tensor_bytes(t).is_empty()
}

fn shape_of(t: &Tensor) -> Vec<i32> {
    t.shape_signature.clone().filter(|s| s.len() == t.shape().len()).unwrap_or_else(|| t.shape().to_vec())
}

/// Whether FLOAT's output `t` holds class scores: made by SOFTMAX, LOG_SOFTMAX or
/// FULLY_CONNECTED (logits), perhaps through reshapes. A landmark or box regressor's last
/// dimension is no class axis, so top-1 agreement would mean nothing there.
fn is_scores(model: &Model, sg: &Subgraph, t: i32) -> bool {
    let mut t = t;
    for _ in 0..8 {
        let Some(i) = sg.operators.iter().position(|o| o.outputs.contains(&t)) else { return false };
        match builtin(model, sg, i) {
            BuiltinOperator::SOFTMAX | BuiltinOperator::LOG_SOFTMAX | BuiltinOperator::FULLY_CONNECTED => return true,
            BuiltinOperator::RESHAPE | BuiltinOperator::SQUEEZE | BuiltinOperator::DEQUANTIZE => {
                let Some(&x) = sg.operators[i].inputs.first() else { return false };
                t = x;
            }
            _ => return false,
        }
    }
    false
}

/// Checks that QUANT has FLOAT's inputs and outputs (count and shapes); warnings for names.
fn check_pair(float: &Model, quant: &Model) -> Result<Vec<String>, ExecError> {
    let (Some(f), Some(q)) = (float.subgraphs.first(), quant.subgraphs.first()) else {
        return Err(ExecError::Mismatch("a model has no subgraph".into()));
    };
    let mut warnings = Vec::new();
    for (what, fl, ql) in [("input", &f.inputs, &q.inputs), ("output", &f.outputs, &q.outputs)] {
        if fl.len() != ql.len() {
            return Err(ExecError::Mismatch(format!(
                "the models are not a float/quantized pair: FLOAT has {} {what}s, QUANT has {}",
                fl.len(),
                ql.len()
            )));
        }
        for (k, (&a, &b)) in fl.iter().zip(ql.iter()).enumerate() {
            let (ta, tb) = (&f.tensors[a as usize], &q.tensors[b as usize]);
            if shape_of(ta) != shape_of(tb) {
                return Err(ExecError::Mismatch(format!(
                    "the models are not a float/quantized pair: {what} {k} is \"{}\" {:?} in FLOAT but \"{}\" {:?} in QUANT",
                    ta.name(),
                    shape_of(ta),
                    tb.name(),
                    shape_of(tb)
                )));
            }
            if !base_names(tb.name()).iter().any(|n| n == ta.name()) {
                warnings.push(format!("{what} {k} is \"{}\" in FLOAT but \"{}\" in QUANT", ta.name(), tb.name()));
            }
        }
    }
    Ok(warnings)
}

/// One QUANT tensor and its FLOAT twin.
struct Pair {
    quant: usize,
    float: usize,
    producer: usize,
}

/// For each tensor of QUANT's main subgraph, the FLOAT tensor it stands for (computed, float32,
/// of the same shape), if any.
fn twins(float: &Model, quant: &Model) -> Vec<Option<usize>> {
    let (f, q) = (&float.subgraphs[0], &quant.subgraphs[0]);
    let mut computed = vec![false; f.tensors.len()];
    for &t in f.inputs.iter().chain(f.operators.iter().flat_map(|o| &o.outputs)) {
        if let Some(c) = usize::try_from(t).ok().and_then(|t| computed.get_mut(t)) {
            *c = true;
        }
    }
    let by_name: HashMap<&str, usize> = f
        .tensors
        .iter()
        .enumerate()
        .filter(|(i, t)| computed[*i] && t.dtype == TensorType::FLOAT32 && !is_const(float, t))
        .map(|(i, t)| (t.name(), i))
        .collect();
    // When names do not match (another converter named QUANT's tensors), an output of the k-th
    // compute op of QUANT stands for the same output of FLOAT's k-th op, if both run the same ops.
    let compute = |m: &Model, sg: &Subgraph| -> Vec<usize> {
        (0..sg.operators.len())
            .filter(|&i| !matches!(builtin(m, sg, i), BuiltinOperator::QUANTIZE | BuiltinOperator::DEQUANTIZE))
            .collect()
    };
    let (fc, qc) = (compute(float, f), compute(quant, q));
    let same_ops =
        fc.len() == qc.len() && fc.iter().zip(&qc).all(|(&a, &b)| op_name(float, f, a) == op_name(quant, q, b));
    let mut by_position: HashMap<usize, usize> = HashMap::new();
    let mut link = |xs: &[i32], ys: &[i32]| {
        for (&x, &y) in xs.iter().zip(ys) {
            if let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) {
                if by_name.get(f.tensors[x].name()) == Some(&x) {
                    by_position.insert(y, x);
                }
            }
        }
    };
    link(&f.inputs, &q.inputs);
    if same_ops {
        for (&a, &b) in fc.iter().zip(&qc) {
            link(&f.operators[a].outputs, &q.operators[b].outputs);
        }
    }
    let mut out: Vec<Option<usize>> = q
        .tensors
        .iter()
        .enumerate()
        .map(|(t, qt)| {
            if is_const(quant, qt) || (qt.dtype != TensorType::FLOAT32 && exec::quantized(qt).is_none()) {
                return None;
            }
            let named = base_names(qt.name()).iter().find_map(|n| by_name.get(n.as_str()).copied());
            named.or_else(|| by_position.get(&t).copied()).filter(|&ft| f.tensors[ft].shape() == qt.shape())
        })
        .collect();
    // A QUANTIZE or DEQUANTIZE output stands for what its input stands for (other converters
    // name these twins their own way, e.g. TF's `x1`), in file (topological) order.
    for (i, op) in q.operators.iter().enumerate() {
        if !matches!(builtin(quant, q, i), BuiltinOperator::QUANTIZE | BuiltinOperator::DEQUANTIZE) {
            continue;
        }
        let (Some(&a), Some(&b)) = (op.inputs.first(), op.outputs.first()) else { continue };
        let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else { continue };
        if b >= out.len()
            || out[b].is_some()
            || exec::quantized(&q.tensors[b]).is_none() && q.tensors[b].dtype != TensorType::FLOAT32
        {
            continue;
        }
        if let Some(ft) = out.get(a).copied().flatten().filter(|&ft| f.tensors[ft].shape() == q.tensors[b].shape()) {
            out[b] = Some(ft);
        }
    }
    out
}

/// One op alone: its model, and its fed inputs with their FLOAT twins (QUANT tensor, FLOAT tensor).
type Layer = (Model, Vec<(usize, usize)>);

/// A [`Layer`] prepared to run.
type LayerRun<'m> = (Interpreter<'m>, &'m [(usize, usize)]);

fn pairs(quant: &Model, twins: &[Option<usize>]) -> Vec<Pair> {
    let q = &quant.subgraphs[0];
    let mut out = Vec::new();
    for (oi, op) in q.operators.iter().enumerate() {
        for &t in &op.outputs {
            let Ok(t) = usize::try_from(t) else { continue };
            if let Some(ft) = twins[t] {
                out.push(Pair { quant: t, float: ft, producer: oi });
            }
        }
    }
    out
}

/// QUANT's operator `op` alone, computing tensor `out`: a model whose inputs are the op's
/// computed inputs (each with its FLOAT twin, to be fed FLOAT's value), with the constants and
/// the ops that derive values from constants only (DEQUANTIZE of a weight). None when an input
/// has no twin.
fn layer_model(quant: &Model, op: usize, out: usize, twins: &[Option<usize>]) -> Option<Layer> {
    let q = &quant.subgraphs[0];
    let mut producer = vec![None; q.tensors.len()];
    for (i, o) in q.operators.iter().enumerate() {
        for &t in &o.outputs {
            if let Some(p) = usize::try_from(t).ok().and_then(|t| producer.get_mut(t)) {
                *p = Some(i);
            }
        }
    }
    let mut ops = vec![op];
    let mut inputs: Vec<(usize, usize)> = Vec::new();
    let mut todo: Vec<i32> = q.operators[op].inputs.clone();
    let mut seen = std::collections::HashSet::new();
    // Each input: a constant, derived from constants only, or fed (it needs a twin).
    fn from_constants(quant: &Model, q: &Subgraph, producer: &[Option<usize>], t: usize, depth: usize) -> bool {
        if is_const(quant, &q.tensors[t]) {
            return true;
        }
        depth < 8
            && producer[t].is_some_and(|p| {
                let ins = &q.operators[p].inputs;
                !ins.is_empty()
                    && ins.iter().all(|&i| i < 0 || from_constants(quant, q, producer, i as usize, depth + 1))
            })
    }
    while let Some(t) = todo.pop() {
        let Ok(t) = usize::try_from(t) else { continue };
        if !seen.insert(t) || is_const(quant, &q.tensors[t]) {
            continue;
        }
        if from_constants(quant, q, &producer, t, 0) {
            let p = producer[t]?;
            if !ops.contains(&p) {
                ops.push(p);
                todo.extend(&q.operators[p].inputs);
            }
            continue;
        }
        inputs.push((t, twins[t]?));
    }
    ops.sort_unstable();
    let mut sg = q.clone();
    sg.operators = ops.iter().map(|&i| q.operators[i].clone()).collect();
    sg.inputs = inputs.iter().map(|&(t, _)| t as i32).collect();
    sg.outputs = vec![out as i32];
    let mut model = quant.clone();
    model.subgraphs[0] = sg;
    Some((model, inputs))
}

/// The operators of `quant` that compute float32, when it has QUANTIZE operators (none otherwise).
pub fn float_ops(quant: &Model) -> Vec<FloatOp> {
    let q = &quant.subgraphs[0];
    let n = q.operators.len();
    let has_quantize = (0..n).any(|i| builtin(quant, q, i) == BuiltinOperator::QUANTIZE);
    if !has_quantize {
        return Vec::new();
    }
    let mut producer = vec![None; q.tensors.len()];
    for (i, op) in q.operators.iter().enumerate() {
        for &t in &op.outputs {
            if let Some(p) = usize::try_from(t).ok().and_then(|t| producer.get_mut(t)) {
                *p = Some(i);
            }
        }
    }
    let dequantized_activation = |t: i32| {
        usize::try_from(t).ok().and_then(|t| producer[t]).is_some_and(|p| {
            builtin(quant, q, p) == BuiltinOperator::DEQUANTIZE
                && q.operators[p].inputs.first().is_some_and(|&i| i >= 0 && !is_const(quant, &q.tensors[i as usize]))
        })
    };
    let feeds_quantize = |t: i32| {
        q.operators
            .iter()
            .enumerate()
            .any(|(i, o)| builtin(quant, q, i) == BuiltinOperator::QUANTIZE && o.inputs.contains(&t))
    };
    let mut out = Vec::new();
    for i in 0..n {
        let b = builtin(quant, q, i);
        if b == BuiltinOperator::QUANTIZE || b == BuiltinOperator::DEQUANTIZE {
            continue;
        }
        let op = &q.operators[i];
        let float_out = op.outputs.iter().any(|&t| t >= 0 && q.tensors[t as usize].dtype == TensorType::FLOAT32);
        if !float_out {
            continue;
        }
        let reason =
            if op.inputs.iter().any(|&t| dequantized_activation(t)) && op.outputs.iter().any(|&t| feeds_quantize(t)) {
                "computes in float32 between DEQUANTIZE and QUANTIZE"
            } else {
                "computes in float32 in a quantized model"
            };
        out.push(FloatOp { op: op_name(quant, q, i), index: i, reason: reason.into() });
    }
    out
}

/// What one sample gives: output sums, tensor sums, layer-own sums.
type Sums = (Vec<Acc>, Vec<Acc>, Vec<Acc>);

/// Runs FLOAT and QUANT on every sample (samples in parallel, the two models side by side) and
/// compares them.
pub fn compare(float: &Model, quant: &Model, samples: &SampleSet) -> Result<Comparison, ExecError> {
    let warnings = check_pair(float, quant)?;
    let fi = Interpreter::new(float, 0)?;
    let qi = Interpreter::new(quant, 0)?;
    let twins = twins(float, quant);
    let pairs = pairs(quant, &twins);
    let (f, q) = (&float.subgraphs[0], &quant.subgraphs[0]);
    // Each op alone, fed FLOAT's values: its own error.
    let layers: Vec<Option<Layer>> = pairs.iter().map(|p| layer_model(quant, p.producer, p.quant, &twins)).collect();
    let layer_interps: Vec<Option<LayerRun>> = layers
        .iter()
        .map(|l| l.as_ref().and_then(|(m, ins)| Interpreter::new(m, 0).ok().map(|i| (i, ins.as_slice()))))
        .collect();
    let mut want_f = vec![false; f.tensors.len()];
    let mut want_q = vec![false; q.tensors.len()];
    for p in &pairs {
        want_f[p.float] = true;
        want_q[p.quant] = true;
    }
    for (_, ins) in layer_interps.iter().flatten() {
        for &(_, ft) in ins.iter() {
            want_f[ft] = true;
        }
    }
    let n_out = f.outputs.len();
    let scores: Vec<bool> = f.outputs.iter().map(|&t| is_scores(float, f, t)).collect();
    let empty = || (vec![Acc::default(); n_out], vec![Acc::default(); pairs.len()], vec![Acc::default(); pairs.len()]);
    let one = |index: usize| -> Result<Sums, ExecError> {
        let sample_err = |source| ExecError::Sample { index, source };
        let inputs = exec::inputs(samples, index)?;
        let q_inputs = inputs.clone();
        let (fr, qr) = rayon::join(
            || {
                let mut seen: Vec<Option<(Vec<usize>, Vec<f32>)>> = vec![None; f.tensors.len()];
                let outs = fi.run_observed(inputs, &mut |t, v: &Value| {
                    if want_f[t] {
                        seen[t] = v.as_f32().map(|x| (v.shape.clone(), x.to_vec()));
                    }
                });
                outs.map(|o| (o, seen))
            },
            || {
                let mut seen: Vec<Option<Vec<f32>>> = vec![None; q.tensors.len()];
                let outs = qi.run_observed(q_inputs, &mut |t, v: &Value| {
                    if want_q[t] {
                        seen[t] = exec::to_f32(&q.tensors[t], v);
                    }
                });
                outs.map(|o| (o, seen))
            },
        );
        let (fo, fseen) = fr.map_err(sample_err)?;
        let (qo, qseen) = qr.map_err(sample_err)?;
        let (mut outs, mut tens, mut own) = empty();
        for (k, acc) in outs.iter_mut().enumerate() {
            let x = exec::to_f32(&f.tensors[f.outputs[k] as usize], &fo[k]).unwrap_or_default();
            let y = exec::to_f32(&q.tensors[q.outputs[k] as usize], &qo[k]).unwrap_or_default();
            if x.len() != y.len() {
                return Err(ExecError::Mismatch(format!(
                    "sample {index}: output {k} has shape {:?} in FLOAT but {:?} in QUANT",
                    fo[k].shape, qo[k].shape
                )));
            }
            acc.add(&x, &y);
            let classes = fo[k].shape.last().copied().unwrap_or(0);
            if scores[k] && classes > 1 && x.len() == classes {
                let argmax = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
                acc.top1_n += 1;
                acc.top1_same += u64::from(argmax(&x) == argmax(&y));
            }
        }
        for ((p, acc), layer) in pairs.iter().zip(own.iter_mut()).zip(&layer_interps) {
            let (Some((interp, ins)), Some((_, x))) = (layer, &fseen[p.float]) else { continue };
            let Some(inputs) = ins
                .iter()
                .map(|&(_, ft)| {
                    // Float values: the op's own interpreter quantizes them for integer inputs.
                    let (shape, v) = fseen[ft].as_ref()?;
                    Some(Value::f32(shape.clone(), v.clone()))
                })
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            // An op that cannot run alone (it reads state) has no own error.
            let Ok(mut y) = interp.run(inputs) else { continue };
            if let Some(y) = y.pop().and_then(|v| exec::to_f32(&q.tensors[p.quant], &v)).filter(|y| y.len() == x.len())
            {
                acc.add(x, &y);
            }
        }
        for (p, acc) in pairs.iter().zip(tens.iter_mut()) {
            let (Some((_, x)), Some(y)) = (&fseen[p.float], &qseen[p.quant]) else { continue };
            if x.len() != y.len() {
                continue;
            }
            acc.add(x, y);
            let qt = &q.tensors[p.quant];
            if let (Some(qp), Some((lo, hi))) = (exec::quantized(qt), exec::int_range(qt.dtype)) {
                let shape: Vec<usize> = qt.shape().iter().map(|&d| d.max(1) as usize).collect();
                for (i, &v) in x.iter().enumerate() {
                    let (s, zp) = exec::params_at(qp, &shape, i);
                    let (s, v) = (f64::from(s), f64::from(v));
                    if v < (lo - zp) as f64 * s - s / 2.0 || v > (hi - zp) as f64 * s + s / 2.0 {
                        acc.clipped += 1;
                    }
                }
            }
        }
        Ok((outs, tens, own))
    };
    let (outs, tens, own) = (0..samples.len()).into_par_iter().map(one).try_reduce(empty, |mut a, b| {
        a.0.iter_mut().zip(&b.0).for_each(|(x, y)| x.merge(y));
        a.1.iter_mut().zip(&b.1).for_each(|(x, y)| x.merge(y));
        a.2.iter_mut().zip(&b.2).for_each(|(x, y)| x.merge(y));
        Ok(a)
    })?;

    let outputs = outs
        .iter()
        .enumerate()
        .map(|(k, a)| OutputReport {
            name: f.tensors[f.outputs[k] as usize].name().to_string(),
            sqnr_db: a.sqnr(),
            cosine: a.cosine(),
            max_abs_error: a.max_abs,
            mean_abs_error: if a.n > 0 { a.sum_abs / a.n as f64 } else { 0.0 },
            top1_agreement: (a.top1_n > 0).then(|| a.top1_same as f64 / a.top1_n as f64),
        })
        .collect();

    // The noise each tensor's inputs carry: the largest of their ratios.
    let nsr_of: HashMap<usize, f64> =
        pairs.iter().zip(&tens).filter(|(_, a)| a.n > 0).map(|(p, a)| (p.quant, a.nsr())).collect();
    let mut tensors: Vec<TensorReport> = pairs
        .iter()
        .zip(&tens)
        .zip(&own)
        .filter(|((_, a), _)| a.n > 0)
        .map(|((p, a), own)| {
            let upstream = q.operators[p.producer]
                .inputs
                .iter()
                .filter_map(|&t| usize::try_from(t).ok().and_then(|t| nsr_of.get(&t)))
                .fold(0.0f64, |m, &r| m.max(r));
            let added = a.nsr() - upstream;
            let qt = &q.tensors[p.quant];
            let quantized = exec::quantized(qt);
            TensorReport {
                name: qt.name().to_string(),
                index: p.quant,
                float_name: f.tensors[p.float].name().to_string(),
                op: op_name(quant, q, p.producer),
                sqnr_db: a.sqnr(),
                layer_sqnr_db: (own.n > 0).then(|| own.sqnr().unwrap_or(f64::INFINITY)),
                added_sqnr_db: (added > 0.0).then(|| -10.0 * added.log10()),
                clipped_fraction: quantized.map(|_| a.clipped as f64 / a.n.max(1) as f64),
                scale: quantized.map_or(Vec::new(), |qp| qp.scales().to_vec()),
                zero_point: quantized.map_or(Vec::new(), |qp| qp.zero_points().to_vec()),
            }
        })
        .collect();
    // Worst own error first; ops that could not run alone go after, by the error they add.
    let db = |x: Option<f64>| x.unwrap_or(f64::INFINITY);
    tensors.sort_by(|a, b| {
        a.layer_sqnr_db
            .is_none()
            .cmp(&b.layer_sqnr_db.is_none())
            .then(db(a.layer_sqnr_db).total_cmp(&db(b.layer_sqnr_db)))
            .then(db(a.added_sqnr_db).total_cmp(&db(b.added_sqnr_db)))
            .then(a.index.cmp(&b.index))
    });
    Ok(Comparison { outputs, tensors, float_ops: float_ops(quant), samples: samples.len(), warnings })
}
