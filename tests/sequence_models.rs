//! Keras GRU and LSTM classifiers, as TF converts them (a WHILE loop over time steps):
//! calibration runs the loop body every iteration, the int8 model quantizes the ops inside
//! the body, and the official interpreter runs the result close to the float model.

mod common;

use common::*;
use std::path::Path;
use tflq::schema::{BuiltinOperator, TensorType};

fn sqnr(want: &[f32], got: &[f32]) -> f64 {
    let s: f64 = want.iter().map(|&x| (x as f64).powi(2)).sum();
    let n: f64 = want.iter().zip(got).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    10.0 * (s / n.max(1e-30)).log10()
}

/// SQNR of `quant` against `float` in the official interpreter over the committed test series.
fn sqnr_on_test_set(float: &Path, quant: &Path, dir: &Path) -> f64 {
    let (_, shape, data) = read_npy(&testdata("seq.test_x.npy"));
    let per: usize = shape[1..].iter().product();
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for i in 0..shape[0] {
        let d = dir.join(format!("in-{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let v: Vec<f32> =
            data[i * per * 4..(i + 1) * per * 4].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        write_npy_f32(&d.join("input_0.npy"), &[1, shape[1], shape[2]], &v);
        let out = dir.join(format!("out-{i}"));
        oracle!("run", "--inputs", d, "--out", out, float, quant);
        want.extend(read_npy_f32(&out.join("m0/output_0.f32.npy")));
        got.extend(read_npy_f32(&out.join("m1/output_0.f32.npy")));
    }
    sqnr(&want, &got)
}

fn check(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let float = testdata(&format!("{name}.tflite"));
    let out = dir.path().join(format!("{name}.int8.tflite"));
    let report = dir.path().join("report.json");
    let calib = testdata("seq.calib.npy");
    tflq!("convert", float, "-o", out, "--quantize", "int8", "--calibration-data", calib, "--report", report);
    let model = tflq::load(&out).unwrap();
    // The loop body (the subgraph the WHILE op's body index names) computes in int8.
    let while_op = model.subgraphs[0]
        .operators
        .iter()
        .find(|op| model.operator_codes[op.opcode_index as usize].builtin == BuiltinOperator::WHILE)
        .expect("a WHILE op");
    let tflq::schema::BuiltinOptionsT::WhileOptions(w) = &while_op.builtin_options else { panic!("no WhileOptions") };
    let body = &model.subgraphs[w.body_subgraph_index as usize];
    let integer = |op: BuiltinOperator| {
        body.operators
            .iter()
            .filter(|o| model.operator_codes[o.opcode_index as usize].builtin == op)
            .map(|o| body.tensors[o.outputs[0] as usize].dtype)
            .collect::<Vec<_>>()
    };
    let fcs = integer(BuiltinOperator::FULLY_CONNECTED);
    assert!(!fcs.is_empty() && fcs.iter().all(|&t| t == TensorType::INT8), "{name}: body FCs {fcs:?}");
    for op in [BuiltinOperator::LOGISTIC, BuiltinOperator::TANH, BuiltinOperator::MUL, BuiltinOperator::ADD] {
        let types = integer(op);
        // INT32 ADDs are the loop counters.
        assert!(types.iter().all(|&t| t != TensorType::FLOAT32), "{name}: body {op:?} outputs {types:?}");
    }
    // The boundary of the loop stays float, as TF writes it.
    let loop_out = &model.subgraphs[0].tensors[while_op.outputs[0] as usize];
    assert!(matches!(loop_out.dtype, TensorType::FLOAT32 | TensorType::INT32), "{:?}", loop_out.dtype);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(v["uncalibrated"].as_array().map_or(true, |a| a.is_empty()), "{name}: {}", v["uncalibrated"]);
    let db = sqnr_on_test_set(&float, &out, dir.path());
    eprintln!("{name}: int8 SQNR {db:.1} dB over {} test series", read_npy(&testdata("seq.test_x.npy")).1[0]);
    assert!(db >= 25.0, "{name}: SQNR {db:.1} dB < 25 dB");
}

#[test]
fn gru_quantizes_inside_its_loop() {
    check("gru");
}

#[test]
fn lstm_quantizes_inside_its_loop() {
    check("lstm");
}
