//! `tflq dump`: a model's tensors, operators and metadata, as a table for
//! people or as JSON with stable keys for scripts (see the README).

use crate::ir::{Model, QuantParams, Tensor};
use crate::schema::{BuiltinOperator, TensorType};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

fn type_name(t: TensorType) -> String {
    t.variant_name().map_or_else(|| format!("TYPE_{}", t.0), str::to_string)
}

fn tensor_bytes(model: &Model, t: &Tensor) -> usize {
    model.buffers.get(t.buffer as usize).map_or(0, |b| b.data.len())
}

/// Decodes a metadata value as text when it is printable (NUL padding removed).
fn printable(bytes: &[u8]) -> Option<&str> {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let s = std::str::from_utf8(&bytes[..end]).ok()?;
    (!s.is_empty() && s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t')).then_some(s)
}

fn quant_json(q: &Option<QuantParams>) -> Value {
    match q {
        Some(q) if q.is_meaningful() => json!({
            "scale": q.scales(),
            "zero_point": q.zero_points(),
            "quantized_dimension": q.quantized_dimension,
            "min": q.min,
            "max": q.max,
        }),
        _ => Value::Null,
    }
}

/// The model as JSON. `file_bytes` is the size of the file it came from, if any.
pub fn to_json(model: &Model, file_bytes: Option<u64>) -> Value {
    let operator_codes: Vec<Value> = model
        .operator_codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let builtin = (c.builtin != BuiltinOperator::CUSTOM).then(|| c.name());
            json!({"index": i, "builtin": builtin, "custom": c.custom_code, "version": c.version})
        })
        .collect();
    let subgraphs: Vec<Value> = model
        .subgraphs
        .iter()
        .enumerate()
        .map(|(si, sg)| {
            let tensors: Vec<Value> = sg
                .tensors
                .iter()
                .enumerate()
                .map(|(ti, t)| {
                    json!({
                        "index": ti,
                        "name": t.name(),
                        "type": type_name(t.dtype),
                        "shape": t.shape(),
                        "shape_signature": t.shape_signature,
                        "buffer": t.buffer,
                        "data_bytes": tensor_bytes(model, t),
                        "is_variable": t.is_variable,
                        "quantization": quant_json(&t.quantization),
                    })
                })
                .collect();
            let operators: Vec<Value> = sg
                .operators
                .iter()
                .enumerate()
                .map(|(oi, op)| {
                    let code = &model.operator_codes[op.opcode_index as usize];
                    json!({"index": oi, "opcode": code.name(), "version": code.version, "inputs": op.inputs, "outputs": op.outputs})
                })
                .collect();
            json!({"index": si, "name": sg.name, "inputs": sg.inputs, "outputs": sg.outputs, "tensors": tensors, "operators": operators})
        })
        .collect();
    let signature_defs: Vec<Value> = model
        .signature_defs
        .iter()
        .map(|sd| {
            let map = |list: &[crate::ir::TensorMap]| -> Map<String, Value> {
                list.iter().map(|m| (m.name.clone().unwrap_or_default(), json!(m.tensor_index))).collect()
            };
            json!({"key": sd.key, "subgraph_index": sd.subgraph_index, "inputs": map(&sd.inputs), "outputs": map(&sd.outputs)})
        })
        .collect();
    let metadata: Map<String, Value> = model
        .metadata
        .iter()
        .map(|m| {
            let bytes = model.buffers.get(m.buffer as usize).map_or(&[][..], |b| b.data.as_bytes());
            let v = match printable(bytes) {
                Some(s) => json!(s),
                None => json!({"bytes": bytes.len()}),
            };
            (m.name.clone().unwrap_or_default(), v)
        })
        .collect();
    json!({
        "version": model.version,
        "description": model.description,
        "operator_codes": operator_codes,
        "subgraphs": subgraphs,
        "signature_defs": signature_defs,
        "metadata": metadata,
        "buffers": model.buffers.len(),
        "file_bytes": file_bytes,
    })
}

fn fmt_shape(s: &[i32]) -> String {
    let parts: Vec<String> = s.iter().map(i32::to_string).collect();
    format!("[{}]", parts.join(","))
}

fn fmt_list(v: &[i32]) -> String {
    fmt_shape(v)
}

fn fmt_f(x: f32) -> String {
    format!("{x:.6e}")
}

/// One-line quantization summary; per-channel lists are abbreviated to their range.
fn quant_text(q: &Option<QuantParams>) -> String {
    let Some(q) = q.as_ref().filter(|q| q.is_meaningful()) else {
        return "-".into();
    };
    let scales = q.scales();
    let zps = q.zero_points();
    let mut s = match scales.len() {
        0 => String::new(),
        1 => format!("scale {} zp {}", fmt_f(scales[0]), zps.first().copied().unwrap_or(0)),
        n => {
            let lo = scales.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = scales.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let zlo = zps.iter().min().copied().unwrap_or(0);
            let zhi = zps.iter().max().copied().unwrap_or(0);
            let zp = if zlo == zhi { zlo.to_string() } else { format!("{zlo}..{zhi}") };
            format!("per-channel axis {} x{n}: scale {}..{} zp {zp}", q.quantized_dimension, fmt_f(lo), fmt_f(hi))
        }
    };
    if let (Some(mn), Some(mx)) = (&q.min, &q.max) {
        if let (Some(a), Some(b)) = (mn.first(), mx.first()) {
            let _ = write!(
                s,
                "{}range [{a}, {b}]{}",
                if s.is_empty() { "" } else { " " },
                if mn.len() > 1 { " (first)" } else { "" }
            );
        }
    }
    s
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The model as a table for people.
pub fn to_text(model: &Model, file_bytes: Option<u64>) -> String {
    let mut o = String::new();
    let size = file_bytes.map(|b| format!("{} bytes, ", group_digits(b))).unwrap_or_default();
    let _ = writeln!(
        o,
        "model: {size}schema v{}, {} subgraph(s), {} buffers, description {:?}",
        model.version,
        model.subgraphs.len(),
        model.buffers.len(),
        model.description.as_deref().unwrap_or("")
    );
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_type: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for (si, sg) in model.subgraphs.iter().enumerate() {
        let _ = writeln!(
            o,
            "\nsubgraph {si} {:?}: {} tensors, {} operators",
            sg.name.as_deref().unwrap_or(""),
            sg.tensors.len(),
            sg.operators.len()
        );
        for (label, list) in [("inputs", &sg.inputs), ("outputs", &sg.outputs)] {
            for &ti in list {
                let t = &sg.tensors[ti as usize];
                let _ = writeln!(o, "  {label:<7} #{ti} {} {} {}", t.name(), type_name(t.dtype), fmt_shape(t.shape()));
            }
        }
        let _ = writeln!(o, "  tensors:");
        let _ = writeln!(
            o,
            "    {:>5}  {:<8} {:<18} {:>10}  {:<44} name",
            "index", "type", "shape", "bytes", "quantization"
        );
        for (ti, t) in sg.tensors.iter().enumerate() {
            let mut shape = fmt_shape(t.shape());
            if let Some(sig) = &t.shape_signature {
                if sig.as_slice() != t.shape() {
                    shape = format!("{shape} sig {}", fmt_shape(sig));
                }
            }
            let bytes = tensor_bytes(model, t);
            let var = if t.is_variable { " (variable)" } else { "" };
            let sparse = if t.sparsity.is_some() { " (sparse)" } else { "" };
            let _ = writeln!(
                o,
                "    {ti:>5}  {:<8} {shape:<18} {:>10}  {:<44} {}{var}{sparse}",
                type_name(t.dtype),
                if bytes == 0 { "-".to_string() } else { group_digits(bytes as u64) },
                quant_text(&t.quantization),
                t.name()
            );
            let e = by_type.entry(type_name(t.dtype)).or_default();
            e.0 += 1;
            e.1 += bytes as u64;
        }
        let _ = writeln!(o, "  operators:");
        let _ = writeln!(o, "    {:>5}  {:<28} {:>3}  {:<24} outputs", "index", "opcode", "ver", "inputs");
        for (oi, op) in sg.operators.iter().enumerate() {
            let code = &model.operator_codes[op.opcode_index as usize];
            let name = code.name();
            let _ = writeln!(
                o,
                "    {oi:>5}  {name:<28} {:>3}  {:<24} {}",
                code.version,
                fmt_list(&op.inputs),
                fmt_list(&op.outputs)
            );
            *histogram.entry(name).or_default() += 1;
        }
    }
    let _ = writeln!(o, "\nsummary:");
    let ops: Vec<String> = histogram.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    let _ = writeln!(o, "  ops: {}", if ops.is_empty() { "none".into() } else { ops.join(", ") });
    let types: Vec<String> =
        by_type.iter().map(|(k, (n, b))| format!("{k} {} bytes in {n} tensor(s)", group_digits(*b))).collect();
    let _ = writeln!(o, "  bytes by type: {}", types.join("; "));
    if model.metadata.is_empty() {
        let _ = writeln!(o, "  metadata: none");
    }
    for m in &model.metadata {
        let bytes = model.buffers.get(m.buffer as usize).map_or(&[][..], |b| b.data.as_bytes());
        let name = m.name.as_deref().unwrap_or("");
        match printable(bytes) {
            Some(s) => _ = writeln!(o, "  metadata {name}: {s:?}"),
            None => _ = writeln!(o, "  metadata {name}: {} bytes", bytes.len()),
        }
    }
    if model.signature_defs.is_empty() {
        let _ = writeln!(o, "  signature defs: none");
    }
    for sd in &model.signature_defs {
        let map = |list: &[crate::ir::TensorMap]| -> String {
            let v: Vec<String> =
                list.iter().map(|m| format!("{}: #{}", m.name.as_deref().unwrap_or(""), m.tensor_index)).collect();
            v.join(", ")
        };
        let _ = writeln!(
            o,
            "  signature {:?} (subgraph {}): inputs {{{}}} outputs {{{}}}",
            sd.key.as_deref().unwrap_or(""),
            sd.subgraph_index,
            map(&sd.inputs),
            map(&sd.outputs)
        );
    }
    o
}
