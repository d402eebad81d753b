//! Compares a quantized model with its float original in tflq's own interpreter, for models
//! the official interpreter cannot run (MediaPipe's custom ops): how many builtin ops of the
//! quantized model are integer, and the SQNR of each output over the samples given.
//!
//! tflq's interpreter computes in float only, so the quantized model runs as simulated
//! quantization: its quantized constants are dequantized (weights, int32 biases), and every
//! tensor an integer op writes is rounded and clamped to its own int8 grid (scale, zero point)
//! right after that op. This is the quantized model's arithmetic except for the integer
//! kernels' fixed-point requantization (within one step of the grid).
//!
//! ```sh
//! cargo run --release --example compare_int8 -- FLOAT.tflite INT8.tflite DATA...
//! ```
//!
//! DATA is what `tflq convert --calibration-data` takes (.npy, .npz or a folder of images).
//! Prints one JSON object: `{"ops_integer", "ops_builtin", "ops_custom", "samples",
//! "outputs": [{"name", "sqnr_db"}]}`, sqnr_db a number or the string "inf" or "NaN". An op
//! counts as integer when none of its tensors is FLOAT32; QUANTIZE and DEQUANTIZE are left out
//! of both counts.

use std::path::PathBuf;
use tflq::calibrate::data::{load_samples, ImageOptions};
use tflq::calibrate::input_specs;
use tflq::interp::{Interpreter, Value, Values};
use tflq::ir::{codec, Buffer, Model, Operator, OperatorCode, Tensor};
use tflq::schema::{BuiltinOperator, TensorType};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: compare_int8 FLOAT.tflite INT8.tflite DATA...".into());
    }
    let float = tflq::load(std::path::Path::new(&args[0]))?;
    let quant = tflq::load(std::path::Path::new(&args[1]))?;
    let data: Vec<PathBuf> = args[2..].iter().map(PathBuf::from).collect();

    let sg = &quant.subgraphs[0];
    let (mut integer, mut builtin, mut custom) = (0, 0, 0);
    for op in &sg.operators {
        let code = &quant.operator_codes[op.opcode_index as usize];
        if code.builtin == BuiltinOperator::CUSTOM {
            custom += 1;
            continue;
        }
        if matches!(code.builtin, BuiltinOperator::QUANTIZE | BuiltinOperator::DEQUANTIZE) {
            continue;
        }
        builtin += 1;
        let float_tensor = op
            .inputs
            .iter()
            .chain(&op.outputs)
            .filter_map(|&t| usize::try_from(t).ok())
            .any(|t| sg.tensors[t].dtype == TensorType::FLOAT32);
        if !float_tensor {
            integer += 1;
        }
    }

    let samples = load_samples(&data, &input_specs(&float, None)?, None, &ImageOptions::default())?;
    let sim = simulated(&quant)?;
    let (fi, qi) = (Interpreter::new(&float, 0)?, Interpreter::new(&sim, 0)?);
    let names: Vec<String> =
        float.subgraphs[0].outputs.iter().map(|&t| float.subgraphs[0].tensors[t as usize].name().to_string()).collect();
    let mut power = vec![(0f64, 0f64); names.len()];
    for s in &samples {
        let ins: Vec<Value> = s.inputs.iter().map(|(shape, v)| Value::new(shape.clone(), v.clone())).collect();
        let (want, got) = (fi.run(ins.clone())?, qi.run(ins)?);
        for (p, (w, g)) in power.iter_mut().zip(want.iter().zip(&got)) {
            let (Values::F32(w), Values::F32(g)) = (&w.values, &g.values) else {
                return Err("outputs must be float32".into());
            };
            for (&a, &b) in w.iter().zip(g.iter()) {
                p.0 += f64::from(a) * f64::from(a);
                p.1 += (f64::from(a) - f64::from(b)).powi(2);
            }
        }
    }
    let outputs: Vec<serde_json::Value> = names
        .iter()
        .zip(&power)
        .map(|(n, &(signal, noise))| {
            let db = if noise == 0.0 { f64::INFINITY } else { 10.0 * (signal / noise).log10() };
            // JSON has no infinity or NaN: those are the strings "inf" and "NaN".
            let db = match db {
                d if d.is_finite() => serde_json::json!((d * 100.0).round() / 100.0),
                d if d.is_nan() => serde_json::json!("NaN"),
                _ => serde_json::json!("inf"),
            };
            serde_json::json!({"name": n, "sqnr_db": db})
        })
        .collect();
    let report = serde_json::json!({
        "ops_integer": integer, "ops_builtin": builtin, "ops_custom": custom,
        "samples": samples.len(), "outputs": outputs,
    });
    println!("{report}");
    Ok(())
}

/// The opcode index of builtin `op` in `m`, added when missing.
fn opcode(m: &mut Model, op: BuiltinOperator) -> u32 {
    if let Some(i) = m.operator_codes.iter().position(|c| c.builtin == op) {
        return i as u32;
    }
    m.operator_codes.push(OperatorCode { builtin: op, custom_code: None, version: 1 });
    (m.operator_codes.len() - 1) as u32
}

/// The quantized model `q` as float ops with int8 rounding (see the module documentation).
fn simulated(q: &Model) -> Result<Model, Box<dyn std::error::Error>> {
    let mut m = q.clone();
    let integer = |t: &Tensor| {
        matches!(t.dtype, TensorType::INT8 | TensorType::UINT8 | TensorType::INT16 | TensorType::INT32)
            && t.quantization.as_ref().is_some_and(|p| !p.scales().is_empty())
    };
    // Quantized constants become their real values; computed integer tensors become float and
    // remember their grid: (scale, lowest and highest step relative to the zero point).
    let mut grid = vec![None; m.subgraphs[0].tensors.len()];
    for (i, slot) in grid.iter_mut().enumerate() {
        let t = m.subgraphs[0].tensors[i].clone();
        if !integer(&t) {
            continue;
        }
        let qp = t.quantization.clone().unwrap_or_default();
        if t.buffer != 0 && !m.tensor_bytes(&t).is_empty() {
            let v = codec::decode_constant(&t, m.tensor_bytes(&t))?;
            let real = codec::dequantize_values(&v, Some(&qp))?;
            m.buffers.push(Buffer { data: codec::encode_f32(&real).into() });
            let t = &mut m.subgraphs[0].tensors[i];
            t.buffer = (m.buffers.len() - 1) as u32;
        } else {
            let (lo, hi) = match t.dtype {
                TensorType::INT8 => (-128.0, 127.0),
                TensorType::UINT8 => (0.0, 255.0),
                TensorType::INT16 => (-32768.0, 32767.0),
                _ => return Err(format!("tensor {i}: a computed INT32 tensor with quantization").into()),
            };
            let zp = *qp.zero_points().first().unwrap_or(&0) as f32;
            *slot = Some((qp.scales()[0], lo - zp, hi - zp));
        }
        let t = &mut m.subgraphs[0].tensors[i];
        t.dtype = TensorType::FLOAT32;
        t.quantization = None;
    }
    let (deq, mul, round, max, min) = (
        opcode(&mut m, BuiltinOperator::DEQUANTIZE),
        opcode(&mut m, BuiltinOperator::MUL),
        opcode(&mut m, BuiltinOperator::ROUND),
        opcode(&mut m, BuiltinOperator::MAXIMUM),
        opcode(&mut m, BuiltinOperator::MINIMUM),
    );
    let quantize = opcode(&mut m, BuiltinOperator::QUANTIZE);
    let mut buffers = std::mem::take(&mut m.buffers);
    let sg = &mut m.subgraphs[0];
    let mut scalar = |sg: &mut tflq::ir::Subgraph, v: f32| {
        buffers.push(Buffer { data: codec::encode_f32(&[v]).into() });
        sg.tensors.push(Tensor { shape: Some(vec![]), buffer: (buffers.len() - 1) as u32, ..Tensor::default() });
        (sg.tensors.len() - 1) as i32
    };
    let mut ops = Vec::with_capacity(sg.operators.len() * 2);
    for mut op in std::mem::take(&mut sg.operators) {
        // A QUANTIZE of a float is now a copy (a DEQUANTIZE of a float passes it on).
        if op.opcode_index == quantize {
            op.opcode_index = deq;
        }
        let mut after = Vec::new();
        for o in op.outputs.iter_mut() {
            let Some((scale, lo, hi)) = grid[*o as usize] else { continue };
            // out = clamp(round(raw / scale), lo, hi) · scale
            let raw = sg.tensors[*o as usize].clone();
            let fresh = |sg: &mut tflq::ir::Subgraph| {
                sg.tensors.push(Tensor { name: None, buffer: 0, ..raw.clone() });
                (sg.tensors.len() - 1) as i32
            };
            let x = fresh(sg);
            let chain = [(mul, 1.0 / scale), (round, f32::NAN), (max, lo), (min, hi), (mul, scale)];
            let mut from = x;
            for (k, &(code, c)) in chain.iter().enumerate() {
                let to = if k + 1 == chain.len() { *o } else { fresh(sg) };
                let mut inputs = vec![from];
                if !c.is_nan() {
                    inputs.push(scalar(sg, c));
                }
                after.push(Operator { opcode_index: code, inputs, outputs: vec![to], ..Operator::default() });
                from = to;
            }
            *o = x;
        }
        ops.push(op);
        ops.extend(after);
    }
    sg.operators = ops;
    m.buffers = buffers;
    Ok(m)
}
