//! What a quantization run did: each tensor quantized, each float constant
//! left alone and why. Written as JSON by `--report`.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    pub subgraph: usize,
    pub index: usize,
    pub tensor: String,
    pub op: String,
    /// "per-channel", "per-tensor" or "float16".
    pub granularity: &'static str,
    pub axis: Option<usize>,
    pub dtype: &'static str,
    pub elements: usize,
    pub scale_range: Option<(f32, f32)>,
}

impl Quantized {
    pub fn int8(
        subgraph: usize,
        index: usize,
        tensor: &str,
        op: &str,
        axis: Option<usize>,
        elements: usize,
        scales: &[f32],
    ) -> Self {
        let lo = scales.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = scales.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        Quantized {
            subgraph,
            index,
            tensor: tensor.into(),
            op: op.into(),
            granularity: if axis.is_some() { "per-channel" } else { "per-tensor" },
            axis,
            dtype: "INT8",
            elements,
            scale_range: Some((lo, hi)),
        }
    }

    pub fn float16(subgraph: usize, index: usize, tensor: &str, op: &str, elements: usize) -> Self {
        Quantized {
            subgraph,
            index,
            tensor: tensor.into(),
            op: op.into(),
            granularity: "float16",
            axis: None,
            dtype: "FLOAT16",
            elements,
            scale_range: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub subgraph: usize,
    pub index: usize,
    pub tensor: String,
    pub op: String,
    pub reason: String,
}

/// An op left float in a full-integer model, between DEQUANTIZE and QUANTIZE.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatOp {
    pub subgraph: usize,
    pub index: usize,
    pub op: String,
    pub reason: String,
}

/// A fused activation replaced by an equivalent one whose bounds the runtime can quantize.
#[derive(Debug, Clone, PartialEq)]
pub struct RelaxedActivation {
    pub subgraph: usize,
    pub index: usize,
    pub op: String,
    pub from: String,
    pub to: String,
}

/// An activation tensor's range: seen by calibration, and chosen by the calibration method.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationRange {
    pub subgraph: usize,
    pub index: usize,
    pub tensor: String,
    pub seen: (f32, f32),
    pub chosen: (f32, f32),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub mode: String,
    pub quantized: Vec<Quantized>,
    pub skipped: Vec<Skipped>,
    pub float_ops: Vec<FloatOp>,
    pub relaxed_activations: Vec<RelaxedActivation>,
    /// Operators of the main subgraph calibration could not run: (index, op, tensors left
    /// uncalibrated because of it).
    pub uncalibrated: Vec<(usize, String, usize)>,
    /// Calibration: samples used and seconds taken.
    pub calibration: Option<(usize, f64)>,
    /// How activation ranges were chosen ("minmax", "percentile", "mse"), and the percentile.
    pub calibration_method: Option<(&'static str, Option<f64>)>,
    /// Every calibrated tensor's range, seen and chosen.
    pub activation_ranges: Vec<ActivationRange>,
    /// The shapes calibration ran each model input at (one per input name; several when the
    /// input's shape signature leaves dimensions open).
    pub calibration_shapes: Vec<(String, Vec<Vec<usize>>)>,
    /// Subgraphs whose activations differ from the mode's: (subgraph, activations, why).
    pub subgraph_activations: Vec<(usize, String, String)>,
    /// Constants folded before quantizing: FLOAT16/int8 behind DEQUANTIZE, sparse behind DENSIFY.
    pub folded_dequantize: usize,
    pub densified: usize,
    /// Folded constants that no pass replaced, given back their input encoding.
    pub restored: usize,
    /// Quantized weights stored with their sparse input's pattern, behind DENSIFY.
    pub stored_sparse: usize,
    /// Bytes of constant data in the input and in the output model.
    pub constant_bytes: (u64, u64),
    /// Of those, the index arrays of sparse constants.
    pub sparse_index_bytes: (u64, u64),
    /// Bytes of quantization parameters (scales, zero points) in the output (a quantized
    /// input is refused, so the input has none).
    pub quantization_bytes: u64,
}

impl Report {
    pub fn new(mode: &str) -> Report {
        Report { mode: mode.into(), ..Report::default() }
    }

    /// One line for the console: what was quantized, and what stayed float by kind and reason,
    /// with the same counts as the report.
    pub fn summary(&self) -> String {
        let mut line = format!("{}: {} tensors quantized", self.mode, self.quantized.len());
        if !self.skipped.is_empty() {
            let groups = group(self.skipped.iter().map(|s| (None, general(&s.reason))));
            line += &format!(", {} left float ({groups})", self.skipped.len());
        }
        let ops = self.float_ops.iter();
        let n = ops.clone().count();
        if n > 0 {
            let groups = group(ops.map(|f| (Some(f.op.as_str()), general(&f.reason))));
            line += &format!("; {n} {} left float: {groups}", if n == 1 { "op" } else { "ops" });
        }
        if self.restored > 0 {
            line += &format!("; {} constants kept as the input stored them", self.restored);
        }
        line
    }

    pub fn to_json(&self, input_bytes: u64, output_bytes: u64, seconds: f64) -> Value {
        let quantized: Vec<Value> = self
            .quantized
            .iter()
            .map(|q| {
                json!({
                    "subgraph": q.subgraph, "index": q.index, "tensor": q.tensor, "op": q.op,
                    "type": q.dtype, "granularity": q.granularity, "axis": q.axis, "elements": q.elements,
                    "scale_min": q.scale_range.map(|r| r.0), "scale_max": q.scale_range.map(|r| r.1),
                })
            })
            .collect();
        let skipped: Vec<Value> = self
            .skipped
            .iter()
            .map(|s| json!({"subgraph": s.subgraph, "index": s.index, "tensor": s.tensor, "op": s.op, "reason": s.reason}))
            .collect();
        let float_ops: Vec<Value> = self
            .float_ops
            .iter()
            .map(|f| json!({"index": f.index, "op": f.op, "reason": f.reason, "subgraph": f.subgraph}))
            .collect();
        let relaxed: Vec<Value> = self
            .relaxed_activations
            .iter()
            .map(|r| json!({"index": r.index, "op": r.op, "from": r.from, "to": r.to, "subgraph": r.subgraph}))
            .collect();
        json!({
            "mode": self.mode,
            "quantized": quantized,
            "skipped": skipped,
            "float_ops": float_ops,
            "relaxed_activations": relaxed,
            "subgraph_activations": self.subgraph_activations.iter().map(|(s, a, why)| json!({"subgraph": s, "activations": a, "reason": why})).collect::<Vec<_>>(),
            "uncalibrated": self.uncalibrated.iter().map(|(i, op, n)| json!({"index": i, "op": op, "tensors": n})).collect::<Vec<_>>(),
            "calibration": self.calibration.map(|(n, s)| {
                let shapes: serde_json::Map<String, Value> =
                    self.calibration_shapes.iter().map(|(name, v)| (name.clone(), json!(v))).collect();
                let ranges: Vec<Value> = self
                    .activation_ranges
                    .iter()
                    .map(|r| {
                        json!({"subgraph": r.subgraph, "index": r.index, "tensor": r.tensor,
                               "min": r.seen.0, "max": r.seen.1, "range_min": r.chosen.0, "range_max": r.chosen.1})
                    })
                    .collect();
                let (method, percentile) = self.calibration_method.map_or((None, None), |(m, p)| (Some(m), p));
                json!({"samples": n, "seconds": s, "input_shapes": shapes, "method": method,
                       "percentile": percentile, "ranges": ranges})
            }),
            "folded": {"dequantize": self.folded_dequantize, "densify": self.densified,
                       "restored": self.restored, "stored_sparse": self.stored_sparse,
                       "why": "FLOAT16 and sparse constants are decoded so the passes see float32 weights; those left unquantized get their input encoding back"},
            "sizes": {"input_bytes": input_bytes, "output_bytes": output_bytes,
                      "ratio": output_bytes as f64 / input_bytes.max(1) as f64,
                      "input_constant_bytes": self.constant_bytes.0, "output_constant_bytes": self.constant_bytes.1,
                      "constant_ratio": self.constant_bytes.1 as f64 / self.constant_bytes.0.max(1) as f64,
                      "input_sparse_index_bytes": self.sparse_index_bytes.0,
                      "output_sparse_index_bytes": self.sparse_index_bytes.1,
                      "output_quantization_bytes": self.quantization_bytes},
            "seconds": seconds,
        })
    }
}

/// A reason without the names and numbers of one tensor or operator, so equal causes group.
fn general(reason: &str) -> String {
    let reason = reason.split(": ").next().unwrap_or(reason);
    let mut out = String::new();
    let mut depth = 0;
    for c in reason.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().filter(|w| !w.chars().all(|c| c.is_ascii_digit())).collect();
    words.join(" ").trim_end_matches([':', ',', ';']).to_string()
}

/// "CONV_2D x10 (reason), …" for (op, reason) pairs, most frequent first, at most five groups.
fn group<'a>(items: impl Iterator<Item = (Option<&'a str>, String)>) -> String {
    let mut counts: Vec<((Option<&'a str>, String), usize)> = Vec::new();
    for key in items {
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let shown: Vec<String> = counts
        .iter()
        .take(5)
        .map(|((op, why), n)| match op {
            Some(op) => {
                let why = why.replace(&format!(" for {op}"), "");
                format!("{op} x{n} ({})", why.strip_prefix(op).map_or(why.as_str(), str::trim_start))
            }
            None => format!("{why} x{n}"),
        })
        .collect();
    let more = counts.len().saturating_sub(5);
    if more > 0 {
        format!("{}, and {more} more kinds", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
