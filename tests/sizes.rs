//! Every mode on fp16 and sparse inputs: constant data never grows, the file grows at most by
//! alignment, constants left unquantized keep the input's encoding, sparse weights are
//! quantized too, and every output runs in LiteRT (XNNPACK and the builtin kernels) close to
//! the float model.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use tflq::ir::Model;
use tflq::schema::TensorType;

const MODES: [&str; 5] = ["dynamic", "float16", "weight-int8", "int8", "int16x8"];

fn convert(input: &Path, mode: &str, calib: Option<&Path>, dir: &Path) -> (PathBuf, serde_json::Value) {
    let out = dir.join(format!("{}.{mode}.tflite", name(input)));
    let report = dir.join(format!("{}.{mode}.json", name(input)));
    match calib.filter(|_| mode.starts_with("int")) {
        Some(c) => {
            tflq!("convert", input, "-o", &out, "--quantize", mode, "--report", &report, "--calibration-data", c)
        }
        None => tflq!("convert", input, "-o", &out, "--quantize", mode, "--report", &report),
    };
    (out, serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap())
}

/// The worst output SQNR of `quantized` against `float` on the same random inputs, under `resolver`.
fn worst_sqnr(float: &Path, quantized: &Path, resolver: &str, dir: &Path) -> f64 {
    let out = dir.join(format!("run-{}-{resolver}", name(quantized)));
    let report = oracle!("run", "--out", &out, "--resolver", resolver, float, quantized);
    let n = report["models"][0]["outputs"].as_array().unwrap().len();
    (0..n)
        .map(|j| {
            let want = read_npy_f32(&out.join(format!("m0/output_{j}.f32.npy")));
            let got = read_npy_f32(&out.join(format!("m1/output_{j}.f32.npy")));
            sqnr_db(&want, &got)
        })
        .fold(f64::INFINITY, f64::min)
}

fn ops(m: &Model) -> Vec<String> {
    m.subgraphs[0].operators.iter().map(|o| m.operator_codes[o.opcode_index as usize].name()).collect()
}

/// Checks one model in every mode; returns (mode, constant ratio) pairs.
fn check_sizes(model: &str, calib: &str, failures: &mut Vec<String>) -> Vec<(String, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata(model);
    let mut ratios = Vec::new();
    for mode in MODES {
        let (out, r) = convert(&input, mode, Some(&testdata(calib)), dir.path());
        let s = &r["sizes"];
        let (file, constants) = (s["ratio"].as_f64().unwrap(), s["constant_ratio"].as_f64().unwrap());
        if constants > 1.0 {
            failures.push(format!("{model} {mode}: constant data grew {constants:.3}x"));
        }
        if file > 1.02 {
            failures.push(format!("{model} {mode}: file grew {file:.3}x"));
        }
        for resolver in ["default", "builtin"] {
            let db = worst_sqnr(&input, &out, resolver, dir.path());
            let floor = if mode == "float16" { 60.0 } else { 25.0 };
            if db < floor {
                failures.push(format!("{model} {mode} ({resolver}): SQNR {db:.1} dB < {floor}"));
            }
        }
        ratios.push((mode.to_string(), constants));
    }
    ratios
}

#[test]
fn sparse_fp16_convolutions_are_quantized_and_nothing_grows() {
    let mut failures = Vec::new();
    let ratios = check_sizes("sparse_fp16.tflite", "sparse_fp16.calib.npy", &mut failures);
    let dir = tempfile::tempdir().unwrap();
    let calib = testdata("sparse_fp16.calib.npy");
    for mode in ["int8", "int16x8"] {
        let (out, r) = convert(&testdata("sparse_fp16.tflite"), mode, Some(&calib), dir.path());
        let m = tflq::load(&out).unwrap();
        let sg = &m.subgraphs[0];
        // No convolution stays float, and their int8 filters keep the input's sparsity pattern.
        assert!(r["float_ops"].as_array().unwrap().is_empty(), "{mode}: {}", r["float_ops"]);
        // The one DEQUANTIZE left is the float output's.
        assert_eq!(ops(&m).iter().filter(|o| *o == "DEQUANTIZE").count(), 1, "{mode}: {:?}", ops(&m));
        let sparse_int8 = sg.tensors.iter().filter(|t| t.sparsity.is_some() && t.dtype == TensorType::INT8).count();
        assert_eq!(sparse_int8, 3, "{mode}: sparse int8 filters");
        assert_eq!(r["folded"]["stored_sparse"], 3);
    }
    let int8 = ratios.iter().find(|(m, _)| m == "int8").unwrap().1;
    assert!(int8 < 0.8, "int8 constants {int8:.3}x of the sparse fp16 input's");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn fp16_inputs_keep_their_fp16_constants() {
    let mut failures = Vec::new();
    let ratios = check_sizes("cnn.float16.tflite", "cnn.calib.npy", &mut failures);
    for (mode, c) in &ratios {
        let max = if mode == "float16" { 1.0 } else { 0.6 };
        if *c > max {
            failures.push(format!("cnn.float16 {mode}: constants {c:.3}x of the fp16 input's (> {max})"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Weights under --min-weight-elements and their biases stay FLOAT16 behind DEQUANTIZE;
    // the biases of hybrid kernels are float32, as XNNPACK needs them static.
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = convert(&testdata("cnn.float16.tflite"), "dynamic", None, dir.path());
    let m = tflq::load(&out).unwrap();
    let sg = &m.subgraphs[0];
    let fp16: Vec<&str> = sg.tensors.iter().filter(|t| t.dtype == TensorType::FLOAT16).map(|t| t.name()).collect();
    assert_eq!(fp16.len(), 4, "{fp16:?}");
    for (ti, t) in sg.tensors.iter().enumerate().filter(|(_, t)| t.dtype == TensorType::FLOAT16) {
        let readers: Vec<String> = sg
            .operators
            .iter()
            .filter(|o| o.inputs.contains(&(ti as i32)))
            .map(|o| m.operator_codes[o.opcode_index as usize].name())
            .collect();
        assert_eq!(readers, ["DEQUANTIZE"], "{}", t.name());
    }
}

#[test]
fn weight_modes_keep_sparse_weights_sparse_when_smaller() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["dynamic", "weight-int8"] {
        let (out, r) = convert(&testdata("sparse_fp16.tflite"), mode, None, dir.path());
        let m = tflq::load(&out).unwrap();
        let kept: Vec<&serde_json::Value> = r["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["reason"].as_str().unwrap().starts_with("sparse weight kept"))
            .collect();
        // Each sparse filter either stays sparse FLOAT16 (named in the report) or becomes dense int8.
        let sparse = m.subgraphs[0].tensors.iter().filter(|t| t.sparsity.is_some()).count();
        assert_eq!(sparse, kept.len(), "{mode}: {kept:?}");
        assert!(m.subgraphs[0].tensors.iter().all(|t| t.sparsity.is_none() || t.dtype == TensorType::FLOAT16));
    }
}
