//! Keras GRU and LSTM classifiers, as TF converts them (a WHILE loop over time steps):
//! calibration runs the loop body every iteration, the int8 model quantizes the ops inside
//! the body (int16 activations there by default, int8 with `--loop-activations int8`), and
//! the official interpreter runs the result close to the float model.

mod common;

use common::*;
use std::path::Path;
use tflq::schema::{BuiltinOperator, TensorType};

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
    sqnr_db(&want, &got)
}

/// Converts `name` to int8 (with `extra` flags) and returns the model and the SQNR of its
/// output against float over the test series, after checking that the loop body is integer
/// (`body` activations) and its boundary float.
fn check(name: &str, extra: &[&str], body: TensorType) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let float = testdata(&format!("{name}.tflite"));
    let out = dir.path().join(format!("{name}.int8.tflite"));
    let report = dir.path().join("report.json");
    let calib = testdata("seq.calib.npy");
    let mut args: Vec<std::ffi::OsString> =
        vec!["convert".into(), float.clone().into(), "-o".into(), out.clone().into()];
    for a in ["--quantize", "int8", "--calibration-data"] {
        args.push(a.into());
    }
    args.push(calib.into());
    args.extend(["--report".into(), report.clone().into()]);
    args.extend(extra.iter().map(|a| a.into()));
    tflq_ok(&args);
    let model = tflq::load(&out).unwrap();
    // The loop body (the subgraph the WHILE op's body index names) computes on integers.
    let while_op = model.subgraphs[0]
        .operators
        .iter()
        .find(|op| model.operator_codes[op.opcode_index as usize].builtin == BuiltinOperator::WHILE)
        .expect("a WHILE op");
    let tflq::schema::BuiltinOptionsT::WhileOptions(w) = &while_op.builtin_options else { panic!("no WhileOptions") };
    let body_sg = &model.subgraphs[w.body_subgraph_index as usize];
    let outputs_of = |op: BuiltinOperator| {
        body_sg
            .operators
            .iter()
            .filter(|o| model.operator_codes[o.opcode_index as usize].builtin == op)
            .map(|o| body_sg.tensors[o.outputs[0] as usize].dtype)
            .collect::<Vec<_>>()
    };
    let fcs = outputs_of(BuiltinOperator::FULLY_CONNECTED);
    assert!(!fcs.is_empty() && fcs.iter().all(|&t| t == body), "{name}: body FCs {fcs:?}");
    for op in [BuiltinOperator::LOGISTIC, BuiltinOperator::TANH, BuiltinOperator::MUL, BuiltinOperator::ADD] {
        // INT32 ADDs are the loop counters.
        let types = outputs_of(op);
        assert!(types.iter().all(|&t| t == body || t == TensorType::INT32), "{name}: body {op:?} outputs {types:?}");
    }
    // The loop's own operands stay float, as TF writes them.
    let loop_out = &model.subgraphs[0].tensors[while_op.outputs[2] as usize];
    assert_eq!(loop_out.dtype, TensorType::FLOAT32);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(v["uncalibrated"].as_array().map_or(true, |a| a.is_empty()), "{name}: {}", v["uncalibrated"]);
    let db = sqnr_on_test_set(&float, &out, dir.path());
    eprintln!("{name} {extra:?}: SQNR {db:.1} dB over {} test series", read_npy(&testdata("seq.test_x.npy")).1[0]);
    db
}

#[test]
fn gru_quantizes_inside_its_loop() {
    let db = check("gru", &[], TensorType::INT16);
    assert!(db >= 25.0, "GRU: SQNR {db:.1} dB < 25 dB");
    let db8 = check("gru", &["--loop-activations", "int8"], TensorType::INT8);
    assert!(db8 >= 25.0 && db8 < db, "GRU with int8 loop activations: {db8:.1} dB (int16: {db:.1} dB)");
}

#[test]
fn lstm_quantizes_inside_its_loop() {
    let db = check("lstm", &[], TensorType::INT16);
    assert!(db >= 25.0, "LSTM: SQNR {db:.1} dB < 25 dB");
    // All-int8 loops lose more: the cell state's rounding compounds over the time steps.
    let db8 = check("lstm", &["--loop-activations", "int8"], TensorType::INT8);
    assert!(db8 >= 12.0 && db8 < db, "LSTM with int8 loop activations: {db8:.1} dB (int16: {db:.1} dB)");
}

#[test]
fn strict_accepts_a_loop_whose_body_is_integer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gru.tflite");
    let calib = testdata("seq.calib.npy");
    tflq!("convert", testdata("gru.tflite"), "-o", out, "--quantize", "int8", "--calibration-data", calib, "--strict");
    assert!(out.exists());
}

#[test]
fn weight_modes_quantize_the_weights_inside_loop_bodies() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["gru", "lstm"] {
        let float = testdata(&format!("{name}.tflite"));
        for (mode, dtype, floor) in [
            ("dynamic", TensorType::INT8, 30.0),
            ("weight-int8", TensorType::INT8, 30.0),
            ("float16", TensorType::FLOAT16, 60.0),
        ] {
            let out = dir.path().join(format!("{name}.{mode}.tflite"));
            // The fixtures' recurrent kernels are small; lower the threshold so they qualify.
            tflq!("convert", &float, "-o", &out, "--quantize", mode, "--min-weight-elements", "16");
            let m = tflq::load(&out).unwrap();
            let body_weights = m.subgraphs[1..]
                .iter()
                .flat_map(|sg| &sg.tensors)
                .filter(|t| t.dtype == dtype && m.is_constant(t))
                .count();
            assert!(body_weights > 0, "{name} {mode}: no {dtype:?} weights in the loop body");
            let db = sqnr_on_test_set(&float, &out, dir.path());
            assert!(db >= floor, "{name} {mode}: {db:.1} dB");
        }
    }
}
