//! Dynamic-range, float16 and weight-only int8: tensor-by-tensor identity with
//! TF's own conversions, accuracy and validity in the official interpreter,
//! sizes, and refusals.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tflq::ir::{Model, Tensor};
use tflq::schema::{BuiltinOptionsT, TensorType};

fn quantize(input: &Path, mode: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{}.{mode}.tflite", name(input)));
    tflq!("convert", input, "-o", out, "--quantize", mode);
    out
}

fn by_name(m: &Model) -> BTreeMap<String, &Tensor> {
    m.subgraphs[0].tensors.iter().map(|t| (t.name().to_string(), t)).collect()
}

fn bytes<'a>(m: &'a Model, t: &Tensor) -> &'a [u8] {
    m.buffers[t.buffer as usize].data.as_bytes()
}

/// (op name, version) of every operator, in order.
fn op_versions(m: &Model) -> Vec<(String, i32)> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| {
            let c = &m.operator_codes[o.opcode_index as usize];
            (c.name(), c.version)
        })
        .collect()
}

fn sorted(mut v: Vec<(String, i32)>) -> Vec<(String, i32)> {
    v.sort();
    v
}

#[test]
fn dynamic_matches_tf_tensor_by_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let ours = tflq::load(&quantize(&testdata("cnn.tflite"), "dynamic", dir.path())).unwrap();
    let tf = tflq::load(&testdata("cnn.dynamic.tflite")).unwrap();
    let (ours_t, tf_t) = (by_name(&ours), by_name(&tf));
    let mut compared = 0;
    for (name, t) in &tf_t {
        let Some(o) = ours_t.get(name) else { panic!("TF has tensor {name:?}, we do not") };
        assert_eq!(o.dtype, t.dtype, "{name}: type");
        if t.dtype != TensorType::INT8 {
            continue;
        }
        let (qo, qt) = (o.quantization.as_ref().unwrap(), t.quantization.as_ref().unwrap());
        assert_eq!(qo.scales(), qt.scales(), "{name}: scales");
        assert_eq!(qo.zero_points(), qt.zero_points(), "{name}: zero points");
        assert_eq!(qo.quantized_dimension, qt.quantized_dimension, "{name}: axis");
        let (a, b) = (bytes(&ours, o), bytes(&tf, t));
        assert_eq!(a.len(), b.len(), "{name}: size");
        let off: Vec<i32> =
            a.iter().zip(b).map(|(&x, &y)| (x as i8 as i32 - y as i8 as i32).abs()).filter(|&d| d != 0).collect();
        assert!(off.iter().all(|&d| d == 1), "{name}: values differ by more than 1");
        assert!(off.len() * 1000 <= a.len(), "{name}: {} of {} values off by one", off.len(), a.len());
        compared += 1;
    }
    assert_eq!(compared, 3, "the CNN's three large weights are int8 in TF's model");
    assert_eq!(sorted(op_versions(&ours)), sorted(op_versions(&tf)), "op versions");
    // Every op's options equal TF's (hybrid FULLY_CONNECTED quantizes its input asymmetrically).
    let (oo, to) = (&ours.subgraphs[0].operators, &tf.subgraphs[0].operators);
    assert_eq!(oo.len(), to.len());
    for (i, (a, b)) in oo.iter().zip(to).enumerate() {
        assert_eq!(a.builtin_options, b.builtin_options, "operator {i} options");
    }
    assert!(oo.iter().any(
        |o| matches!(&o.builtin_options, BuiltinOptionsT::FullyConnectedOptions(f) if f.asymmetric_quantize_inputs)
    ));
    assert_eq!(ours.min_runtime_version(), tf.min_runtime_version());
}

#[test]
fn float16_matches_tf_tensor_by_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let ours = tflq::load(&quantize(&testdata("cnn.tflite"), "float16", dir.path())).unwrap();
    let tf = tflq::load(&testdata("cnn.float16.tflite")).unwrap();
    let ours_t = by_name(&ours);
    let mut compared = 0;
    for (name, t) in by_name(&tf) {
        if t.dtype == TensorType::FLOAT16 {
            let o = ours_t.get(&name).unwrap_or_else(|| panic!("no tensor {name:?}"));
            assert_eq!(o.dtype, TensorType::FLOAT16, "{name}");
            assert_eq!(bytes(&ours, o), bytes(&tf, t), "{name}: float16 bytes");
            compared += 1;
        }
    }
    assert_eq!(compared, 10, "every float constant, biases included");
    assert_eq!(sorted(op_versions(&ours)), sorted(op_versions(&tf)), "op versions");
    assert_eq!(ours.metadata_bytes("reduced_precision_support"), tf.metadata_bytes("reduced_precision_support"));
}

/// Signal-to-quantization-noise ratio in dB of `got` against `want`.
fn sqnr(want: &[f32], got: &[f32]) -> f64 {
    let signal: f64 = want.iter().map(|&x| (x as f64).powi(2)).sum();
    let noise: f64 = want.iter().zip(got).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    if noise == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (signal / noise).log10()
}

/// Runs the float model and `quantized` on the same inputs; the worst SQNR over outputs.
fn worst_sqnr(float: &Path, quantized: &Path, inputs: Option<&Path>, dir: &Path) -> f64 {
    let out = dir.join(format!("run-{}", name(quantized)));
    let report = match inputs {
        Some(i) => oracle!("run", "--out", out, "--inputs", i, float, quantized),
        None => oracle!("run", "--out", out, float, quantized),
    };
    let n = report["models"][0]["outputs"].as_array().unwrap().len();
    (0..n)
        .map(|j| {
            let want = read_npy_f32(&out.join(format!("m0/output_{j}.f32.npy")));
            let got = read_npy_f32(&out.join(format!("m1/output_{j}.f32.npy")));
            assert!(got.iter().all(|v| v.is_finite()), "{}: non-finite output", name(quantized));
            sqnr(&want, &got)
        })
        .fold(f64::INFINITY, f64::min)
}

/// A batch of real test images for the CNN, as an oracle input directory.
fn cnn_inputs(dir: &Path) -> PathBuf {
    let d = dir.join("cnn-inputs");
    std::fs::create_dir_all(&d).unwrap();
    // The oracle takes DIR/input_0.npy; use the first labelled test image (batch 1).
    let (_, shape, data) = read_npy(&testdata("cnn.test_x.npy"));
    let one: usize = shape[1..].iter().product();
    let values: Vec<f32> = data[..one * 4].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    write_npy_f32(&d.join("input_0.npy"), &[1, shape[1], shape[2], shape[3]], &values);
    d
}

#[test]
fn cnn_accuracy_and_size_in_litert() {
    let dir = tempfile::tempdir().unwrap();
    let float = testdata("cnn.tflite");
    let inputs = cnn_inputs(dir.path());
    let float_bytes = std::fs::metadata(&float).unwrap().len() as f64;
    for (mode, min_db, max_ratio) in [("dynamic", 35.0, 0.28), ("float16", 60.0, 0.51), ("weight-int8", 35.0, 0.28)] {
        let q = quantize(&float, mode, dir.path());
        let db = worst_sqnr(&float, &q, Some(&inputs), dir.path());
        assert!(db >= min_db, "{mode}: SQNR {db:.1} dB < {min_db}");
        let ratio = std::fs::metadata(&q).unwrap().len() as f64 / float_bytes;
        assert!(ratio <= max_ratio, "{mode}: size ratio {ratio:.3} > {max_ratio}");
        // TF's own result on the same input, for the record in failures.
        eprintln!("{mode}: {db:.1} dB, size ratio {ratio:.3}");
    }
    // And as good as TF's own dynamic-range model on the same input (within 1 dB).
    let ours = worst_sqnr(&float, &quantize(&float, "dynamic", dir.path()), Some(&inputs), dir.path());
    let tf = worst_sqnr(&float, &testdata("cnn.dynamic.tflite"), Some(&inputs), dir.path());
    assert!(ours >= tf - 1.0, "ours {ours:.1} dB vs TF {tf:.1} dB");
}

/// Fixtures whose only constants are integer (shapes, paddings, indices): nothing to quantize.
const NO_FLOAT_WEIGHTS: &[&str] = &["op_resize.tflite"];

#[test]
fn every_fixture_in_every_mode_runs_in_litert() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for f in tflite_fixtures() {
        let n = name(&f);
        let already_quantized =
            ["cnn.dynamic.tflite", "cnn.int8.tflite", "cnn.int8io.tflite", "cnn.int16x8.tflite"].contains(&n.as_str());
        for mode in ["dynamic", "float16", "weight-int8"] {
            let out = dir.path().join(format!("{n}.{mode}.tflite"));
            let r = tflq_any!("convert", f, "-o", out, "--quantize", mode);
            let err = String::from_utf8_lossy(&r.stderr).into_owned();
            if already_quantized || NO_FLOAT_WEIGHTS.contains(&n.as_str()) {
                let want = if already_quantized { "already quantized" } else { "no float32 weights" };
                if r.status.code() != Some(1) || !err.contains(want) || out.exists() {
                    failures.push(format!("{n} {mode}: expected a refusal ({want}), got {err}"));
                }
                continue;
            }
            if !r.status.success() {
                failures.push(format!("{n} {mode}: {err}"));
                continue;
            }
            if !runnable(&f) {
                tflq::load(&out).unwrap();
                continue;
            }
            let db = worst_sqnr(&f, &out, None, dir.path());
            let min_db = if mode == "float16" { 50.0 } else { 20.0 };
            if db < min_db {
                failures.push(format!("{n} {mode}: SQNR {db:.1} dB < {min_db}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn fp16_and_sparse_inputs_get_quantized() {
    let dir = tempfile::tempdir().unwrap();
    // TF's float16 CNN as input: FLOAT16 constants behind DEQUANTIZE are folded, then quantized;
    // the small ones stay FLOAT16 (tests/sizes.rs).
    let q = quantize(&testdata("cnn.float16.tflite"), "dynamic", dir.path());
    let m = tflq::load(&q).unwrap();
    assert_eq!(m.subgraphs[0].tensors.iter().filter(|t| t.dtype == TensorType::INT8).count(), 3);
    let db = worst_sqnr(&testdata("cnn.tflite"), &q, Some(&cnn_inputs(dir.path())), dir.path());
    assert!(db >= 35.0, "fp16 input, dynamic: {db:.1} dB");

    let q = quantize(&testdata("fp16_weights.tflite"), "dynamic", dir.path());
    let m = tflq::load(&q).unwrap();
    assert!(m.subgraphs[0].tensors.iter().any(|t| t.dtype == TensorType::INT8));
    assert!(worst_sqnr(&testdata("fp16_weights.tflite"), &q, None, dir.path()) >= 30.0);

    // The sparse conv filter (85% zeros) is smaller sparse float32 than dense int8 would be:
    // dynamic keeps it behind its DENSIFY, full-integer int8 stores it sparse int8.
    let q = quantize(&testdata("sparse_densify.tflite"), "dynamic", dir.path());
    let m = tflq::load(&q).unwrap();
    let ops: Vec<String> =
        m.subgraphs[0].operators.iter().map(|o| m.operator_codes[o.opcode_index as usize].name()).collect();
    assert_eq!(ops.iter().filter(|o| *o == "DENSIFY").count(), 1, "{ops:?}");
    let conv = m.subgraphs[0]
        .operators
        .iter()
        .find(|o| m.operator_codes[o.opcode_index as usize].name() == "CONV_2D")
        .unwrap();
    assert_eq!(m.subgraphs[0].tensors[conv.inputs[1] as usize].dtype, TensorType::FLOAT32);
    assert!(worst_sqnr(&testdata("sparse_densify.tflite"), &q, None, dir.path()) >= 30.0);
}

#[test]
fn report_lists_quantized_and_skipped_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.tflite");
    let report = dir.path().join("report.json");
    let r = tflq!("convert", testdata("cnn.tflite"), "-o", out, "--quantize", "dynamic", "--report", report);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("3 tensors quantized") && stderr.contains("493740 -> "), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["mode"], "dynamic");
    let quantized = v["quantized"].as_array().unwrap();
    assert_eq!(quantized.len(), 3);
    assert!(quantized.iter().all(|q| q["granularity"] == "per-channel" && q["scale_min"].as_f64().unwrap() > 0.0));
    let skipped = v["skipped"].as_array().unwrap();
    let reason = |tensor: &str| {
        skipped.iter().find(|s| s["tensor"] == tensor).map(|s| s["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("cnn_1/conv1_1/convolution").unwrap(), "too small (864 < 1024 elements)");
    assert!(reason("cnn_1/logits_1/BiasAdd").unwrap().starts_with("not a weight operand (FULLY_CONNECTED input 2)"));
    assert!(v["sizes"]["ratio"].as_f64().unwrap() < 0.28);

    // The threshold and granularity flags.
    let r2 = dir.path().join("r2.json");
    tflq!(
        "convert",
        testdata("cnn.tflite"),
        "-o",
        out,
        "--quantize",
        "dynamic",
        "--min-weight-elements",
        "0",
        "--per-tensor",
        "--report",
        r2
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&r2).unwrap()).unwrap();
    let quantized = v["quantized"].as_array().unwrap();
    assert_eq!(quantized.len(), 5, "all five weights, conv1 and logits included");
    assert!(quantized.iter().all(|q| q["granularity"] == "per-tensor"));
    let m = tflq::load(&out).unwrap();
    let versions: BTreeMap<String, i32> = m.operator_codes.iter().map(|c| (c.name(), c.version)).collect();
    assert_eq!(versions["CONV_2D"], 2);
    assert_eq!(versions["FULLY_CONNECTED"], 9);
}

#[test]
fn refusals_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.tflite");
    let r = tflq_any!("convert", testdata("cnn.int8.tflite"), "-o", out, "--quantize", "dynamic");
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.starts_with("error: ") && err.contains("already quantized") && err.lines().count() == 1, "{err}");
    let r = tflq_any!("convert", testdata("op_resize.tflite"), "-o", out, "--quantize", "float16");
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no float32 weights"));
    let r = tflq_any!("convert", testdata("cnn.tflite"), "-o", out, "--quantize", "int4");
    assert_eq!(r.status.code(), Some(2));
    assert!(!out.exists());
}
