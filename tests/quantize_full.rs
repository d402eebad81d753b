//! Full-integer quantization (int8, int8/uint8 I/O, 16x8) calibrated by the
//! built-in interpreter: the same parameters as TF given the same samples,
//! accuracy at least TF's, every fixture valid in the official interpreter,
//! and clear errors for bad calibration data and flags.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tflq::ir::{Model, Tensor};
use tflq::schema::{BuiltinOperator, TensorType};

fn calibrated(input: &Path, dir: &Path, calib: &Path, extra: &[&str]) -> PathBuf {
    let tag = extra.join("_").replace("--", "");
    let out = dir.join(format!("{}.{tag}.tflite", name(input)));
    let mut args: Vec<std::ffi::OsString> = vec!["convert".into(), input.into(), "-o".into(), out.clone().into()];
    args.extend(["--calibration-data".into(), calib.into()]);
    args.extend(extra.iter().map(|a| a.into()));
    tflq_ok(&args);
    out
}

fn cnn(dir: &Path, extra: &[&str]) -> PathBuf {
    calibrated(&testdata("cnn.tflite"), dir, &testdata("cnn.calib.npy"), extra)
}

fn by_name(m: &Model) -> BTreeMap<String, &Tensor> {
    m.subgraphs[0].tensors.iter().map(|t| (t.name().to_string(), t)).collect()
}

fn close(a: f32, b: f32) -> bool {
    ((a - b) / b).abs() <= 1e-3
}

/// The tensor an op of kind `op` writes (first such op) and the one it reads.
fn io_of(m: &Model, op: BuiltinOperator, first: bool) -> (&Tensor, &Tensor) {
    let sg = &m.subgraphs[0];
    let mut ops = sg.operators.iter().filter(|o| m.operator_codes[o.opcode_index as usize].builtin == op);
    let o = if first { ops.next() } else { ops.next_back() }.unwrap();
    (&sg.tensors[o.inputs[0] as usize], &sg.tensors[o.outputs[0] as usize])
}

fn params(t: &Tensor) -> (f32, i64) {
    let q = t.quantization.as_ref().unwrap_or_else(|| panic!("{} has no quantization", t.name()));
    (q.scales()[0], q.zero_points()[0])
}

/// Compares every quantized tensor TF and we both have, by name.
fn compare_with_tf(ours: &Model, tf: &Model) -> usize {
    let ours_t = by_name(ours);
    let mut compared = 0;
    for (name, t) in by_name(tf) {
        let Some(q) = t.quantization.as_ref().filter(|q| !q.scales().is_empty()) else { continue };
        let Some(o) = ours_t.get(&name) else { continue };
        assert_eq!(o.dtype, t.dtype, "{name}: type");
        let oq = o.quantization.as_ref().unwrap_or_else(|| panic!("{name}: not quantized"));
        assert_eq!(oq.scales().len(), q.scales().len(), "{name}: scale count");
        for (a, b) in oq.scales().iter().zip(q.scales()) {
            assert!(close(*a, *b), "{name}: scale {a} vs TF {b}");
        }
        assert_eq!(oq.zero_points(), q.zero_points(), "{name}: zero points");
        let (a, b) = (ours.buffers[o.buffer as usize].data.as_bytes(), tf.buffers[t.buffer as usize].data.as_bytes());
        assert_eq!(a.len(), b.len(), "{name}: data size");
        match t.dtype {
            TensorType::INT8 => {
                let off = a.iter().zip(b).filter(|(x, y)| x != y).count();
                assert!(off * 1000 <= a.len().max(1), "{name}: {off} int8 values differ");
            }
            TensorType::INT32 | TensorType::INT64 => {
                let w = if t.dtype == TensorType::INT32 { 4 } else { 8 };
                for (x, y) in a.chunks(w).zip(b.chunks(w)) {
                    let v = |c: &[u8]| {
                        if w == 4 {
                            i32::from_le_bytes(c.try_into().unwrap()) as i64
                        } else {
                            i64::from_le_bytes(c.try_into().unwrap())
                        }
                    };
                    assert!((v(x) - v(y)).abs() <= 1, "{name}: bias {} vs TF {}", v(x), v(y));
                }
            }
            _ => {}
        }
        compared += 1;
    }
    compared
}

fn op_versions(m: &Model) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = m.subgraphs[0]
        .operators
        .iter()
        .map(|o| (m.operator_codes[o.opcode_index as usize].name(), m.operator_codes[o.opcode_index as usize].version))
        .collect();
    v.sort();
    v
}

#[test]
fn int8_parameters_match_tf_given_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let ours = tflq::load(&cnn(dir.path(), &["--quantize", "int8"])).unwrap();
    let tf = tflq::load(&testdata("cnn.int8.tflite")).unwrap();
    let n = compare_with_tf(&ours, &tf);
    assert!(n >= 16, "only {n} tensors compared");
    // The boundary tensors have other names; compare them by role.
    let ((_, oq), (_, tq)) =
        (io_of(&ours, BuiltinOperator::QUANTIZE, true), io_of(&tf, BuiltinOperator::QUANTIZE, true));
    let (po, pt) = (params(oq), params(tq));
    assert!(close(po.0, pt.0) && po.1 == pt.1, "input {po:?} vs TF {pt:?}");
    let ((oi, _), (ti, _)) =
        (io_of(&ours, BuiltinOperator::DEQUANTIZE, false), io_of(&tf, BuiltinOperator::DEQUANTIZE, false));
    let (po, pt) = (params(oi), params(ti));
    assert!(close(po.0, pt.0) && po.1 == pt.1, "output {po:?} vs TF {pt:?}");
    assert_eq!(op_versions(&ours), op_versions(&tf));
    assert_eq!(ours.min_runtime_version(), tf.min_runtime_version());
}

#[test]
fn int8_io_matches_tf() {
    let dir = tempfile::tempdir().unwrap();
    let ours =
        tflq::load(&cnn(dir.path(), &["--quantize", "int8", "--input-type", "int8", "--output-type", "int8"])).unwrap();
    let tf = tflq::load(&testdata("cnn.int8io.tflite")).unwrap();
    assert!(compare_with_tf(&ours, &tf) >= 16);
    for (o, t) in [(&ours, &tf)] {
        let (os, ts) = (&o.subgraphs[0], &t.subgraphs[0]);
        for (a, b) in [(os.inputs[0], ts.inputs[0]), (os.outputs[0], ts.outputs[0])] {
            let (x, y) = (&os.tensors[a as usize], &ts.tensors[b as usize]);
            assert_eq!(x.dtype, TensorType::INT8);
            assert_eq!(y.dtype, TensorType::INT8);
            let (px, py) = (params(x), params(y));
            assert!(close(px.0, py.0) && px.1 == py.1, "{}: {px:?} vs TF {py:?}", x.name());
        }
    }
    assert_eq!(op_versions(&ours), op_versions(&tf));
}

#[test]
fn uint8_io_shifts_the_zero_point_by_128() {
    let dir = tempfile::tempdir().unwrap();
    let m = tflq::load(&cnn(dir.path(), &["--quantize", "int8", "--input-type", "uint8", "--output-type", "uint8"]))
        .unwrap();
    let sg = &m.subgraphs[0];
    let input = &sg.tensors[sg.inputs[0] as usize];
    assert_eq!(input.dtype, TensorType::UINT8);
    let (q_in, q_out) = io_of(&m, BuiltinOperator::QUANTIZE, true);
    assert_eq!(q_in.name(), input.name(), "the first op converts the uint8 input");
    assert_eq!(q_out.dtype, TensorType::INT8);
    let (pu, pi) = (params(q_in), params(q_out));
    assert_eq!(pu.0, pi.0);
    assert_eq!(pu.1, pi.1 + 128);
    let output = &sg.tensors[sg.outputs[0] as usize];
    assert_eq!(output.dtype, TensorType::UINT8);
}

#[test]
fn int16x8_matches_tf_scales() {
    let dir = tempfile::tempdir().unwrap();
    let ours = tflq::load(&cnn(dir.path(), &["--quantize", "int16x8"])).unwrap();
    let tf = tflq::load(&testdata("cnn.int16x8.tflite")).unwrap();
    let ours_t = by_name(&ours);
    let mut compared = 0;
    for (name, t) in by_name(&tf) {
        if t.dtype == TensorType::INT16 {
            if let Some(o) = ours_t.get(&name) {
                assert_eq!(o.dtype, TensorType::INT16, "{name}");
                let (a, b) = (params(o), params(t));
                assert!(close(a.0, b.0) && a.1 == 0 && b.1 == 0, "{name}: {a:?} vs TF {b:?}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 7, "compared {compared}");
    assert!(ours.subgraphs[0].tensors.iter().any(|t| t.dtype == TensorType::INT64), "16x8 biases are int64");
}

/// SQNR in dB of `got` against `want`.
fn sqnr(want: &[f32], got: &[f32]) -> f64 {
    let s: f64 = want.iter().map(|&x| (x as f64).powi(2)).sum();
    let n: f64 = want.iter().zip(got).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// Batch-1 test images for the CNN, as oracle input directories.
fn cnn_test_inputs(dir: &Path, count: usize) -> Vec<PathBuf> {
    let (_, shape, data) = read_npy(&testdata("cnn.test_x.npy"));
    let per: usize = shape[1..].iter().product();
    (0..count)
        .map(|i| {
            let d = dir.join(format!("test-{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let values: Vec<f32> = data[i * per * 4..(i + 1) * per * 4]
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            write_npy_f32(&d.join("input_0.npy"), &[1, shape[1], shape[2], shape[3]], &values);
            d
        })
        .collect()
}

fn sqnr_on(float: &Path, quantized: &Path, inputs: &[PathBuf], dir: &Path) -> f64 {
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for (i, input) in inputs.iter().enumerate() {
        let out = dir.join(format!("sq-{}-{i}", name(quantized)));
        oracle!("run", "--out", out, "--inputs", input, float, quantized);
        want.extend(read_npy_f32(&out.join("m0/output_0.f32.npy")));
        got.extend(read_npy_f32(&out.join("m1/output_0.f32.npy")));
    }
    sqnr(&want, &got)
}

#[test]
fn cnn_accuracy_at_least_tf_and_sqnr_within_1_db() {
    let dir = tempfile::tempdir().unwrap();
    let ours = cnn(dir.path(), &["--quantize", "int8"]);
    let tf = testdata("cnn.int8.tflite");
    let (x, y) = (testdata("cnn.test_x.npy"), testdata("cnn.test_y.npy"));
    let acc = |m: &Path| oracle!("accuracy", m, x, y)["accuracy"].as_f64().unwrap();
    let (a_ours, a_tf, a_float) = (acc(&ours), acc(&tf), acc(&testdata("cnn.tflite")));
    eprintln!("accuracy: ours {a_ours:.4}, TF {a_tf:.4}, float {a_float:.4}");
    assert!(a_ours >= a_tf, "int8 accuracy {a_ours} < TF's {a_tf}");
    let inputs = cnn_test_inputs(dir.path(), 16);
    let float = testdata("cnn.tflite");
    let (s_ours, s_tf) = (sqnr_on(&float, &ours, &inputs, dir.path()), sqnr_on(&float, &tf, &inputs, dir.path()));
    eprintln!("SQNR: ours {s_ours:.2} dB, TF {s_tf:.2} dB");
    assert!(s_ours >= s_tf - 1.0, "SQNR {s_ours:.2} dB vs TF {s_tf:.2} dB");
}

/// TF's own quantized fixtures and the custom op cannot be calibrated.
fn calibratable(f: &Path) -> bool {
    let n = name(f);
    runnable(f)
        && !["cnn.dynamic.tflite", "cnn.int8.tflite", "cnn.int8io.tflite", "cnn.int16x8.tflite"].contains(&n.as_str())
}

#[test]
fn every_fixture_in_every_full_integer_mode_runs_in_litert() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let modes: [(&[&str], f64); 4] = [
        (&["--quantize", "int8"], 20.0),
        (&["--quantize", "int8", "--input-type", "int8", "--output-type", "int8"], 20.0),
        (&["--quantize", "int8", "--input-type", "uint8", "--output-type", "uint8"], 20.0),
        (&["--quantize", "int16x8"], 30.0),
    ];
    for f in tflite_fixtures().into_iter().filter(|f| calibratable(f)) {
        let n = name(&f);
        let calib = dir.path().join(format!("{n}.npz"));
        oracle!("calib", "--n", "16", f, calib);
        for (extra, min_db) in modes {
            let out = dir.path().join(format!("{n}.{}.tflite", extra.join("_").replace("--", "")));
            let mut args: Vec<std::ffi::OsString> =
                vec!["convert".into(), f.clone().into(), "-o".into(), out.clone().into()];
            args.extend(["--calibration-data".into(), calib.clone().into()]);
            args.extend(extra.iter().map(|a| a.into()));
            let r = tflq(&args);
            if !r.status.success() {
                failures.push(format!("{n} {extra:?}: {}", String::from_utf8_lossy(&r.stderr)));
                continue;
            }
            let run = dir.path().join(format!("run-{}", name(&out)));
            let report = oracle!("run", "--out", run, f, out);
            // TFLite's own kernels (no XNNPACK delegate) check more at prepare time.
            let builtin = dir.path().join(format!("builtin-{}", name(&out)));
            oracle!("run", "--resolver", "builtin", "--out", builtin, out);
            let outputs = report["models"][1]["outputs"].as_array().unwrap();
            for (j, o) in outputs.iter().enumerate() {
                let want = read_npy_f32(&run.join(format!("m0/output_{j}.f32.npy")));
                let got = read_npy_f32(&run.join(format!("m1/output_{j}.f32.npy")));
                let db = sqnr(&want, &got);
                if db < min_db {
                    failures.push(format!("{n} {extra:?} output {j}: SQNR {db:.1} dB < {min_db}"));
                }
                if want.iter().any(|&v| v != 0.0) && got.iter().all(|&v| v == 0.0) {
                    failures.push(format!("{n} {extra:?} output {j}: all zeros"));
                }
                // Raw integer outputs must not sit at the type's limits.
                let (descr, _, raw) = read_npy(&run.join(format!("m1/output_{j}.npy")));
                let (lo, hi): (i64, i64) = match descr.as_str() {
                    "|i1" => (-128, 127),
                    "|u1" => (0, 255),
                    "<i2" => (-32768, 32767),
                    _ => continue,
                };
                let w = if descr == "<i2" { 2 } else { 1 };
                let vals: Vec<i64> = raw
                    .chunks(w)
                    .map(|c| match descr.as_str() {
                        "|i1" => c[0] as i8 as i64,
                        "|u1" => c[0] as i64,
                        _ => i16::from_le_bytes([c[0], c[1]]) as i64,
                    })
                    .collect();
                let saturated = vals.iter().filter(|&&v| v == lo || v == hi).count();
                if saturated * 2 > vals.len() {
                    failures.push(format!(
                        "{n} {extra:?} output {j} ({}): {saturated} of {} values saturated",
                        o["dtype"],
                        vals.len()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn report_and_strict() {
    let dir = tempfile::tempdir().unwrap();
    let f = testdata("sparse_densify.tflite");
    let calib = dir.path().join("s.npz");
    oracle!("calib", f, calib);
    let out = dir.path().join("s.tflite");
    let report = dir.path().join("s.json");
    tflq!("convert", f, "-o", out, "--quantize", "int8", "--calibration-data", calib, "--report", report);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let float_ops = v["float_ops"].as_array().unwrap();
    assert_eq!(float_ops.len(), 1);
    assert_eq!(float_ops[0]["op"], "FULLY_CONNECTED");
    assert!(float_ops[0]["reason"].as_str().unwrap().contains("sparse"));
    assert_eq!(v["calibration"]["samples"], 16);
    // --strict refuses instead, and writes nothing.
    let strict = dir.path().join("strict.tflite");
    let r = tflq_any!("convert", f, "-o", strict, "--quantize", "int8", "--calibration-data", calib, "--strict");
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--strict") && err.contains("FULLY_CONNECTED"), "{err}");
    assert!(!strict.exists());
}

#[test]
fn tiny_activation_ranges_still_prepare_in_the_builtin_kernels() {
    // Inputs of magnitude 1e-12 give every activation a scale near 1e-14, so the RELU6 bound
    // 6/scale overflows int32: LiteRT's builtin kernels refuse such a model at prepare time
    // (XNNPACK does not check). tflq replaces those no-op clamps and says so in the report.
    let dir = tempfile::tempdir().unwrap();
    let mut model = tflq::load(&testdata("gd_mnv2_block.tf.tflite")).unwrap();
    // Zero biases, so that tiny inputs give tiny activations all the way through.
    let sg = &model.subgraphs[0];
    let biases: Vec<usize> = sg
        .operators
        .iter()
        .filter(|o| o.inputs.len() == 3 && o.inputs[2] >= 0)
        .map(|o| sg.tensors[o.inputs[2] as usize].buffer as usize)
        .collect();
    for b in biases {
        let len = model.buffers[b].data.as_bytes().len();
        model.buffers[b].data = tflq::ir::Data::from(vec![0u8; len]);
    }
    let f = dir.path().join("no_bias.tflite");
    tflq::save(&model, &f, &Default::default()).unwrap();
    let relu6 = model.subgraphs[0]
        .operators
        .iter()
        .filter(|o| {
            let def = tflq::ops::of_code(&model.operator_codes[o.opcode_index as usize]);
            def.and_then(|d| d.fused_activation(&o.builtin_options))
                == Some(tflq::schema::ActivationFunctionType::RELU6)
        })
        .count();
    assert!(relu6 >= 2, "the fixture should have fused RELU6 ops, found {relu6}");
    let n = 8 * 16 * 16 * 8;
    let tiny: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.3) * 1e-12).collect();
    let calib = dir.path().join("tiny.npy");
    write_npy_f32(&calib, &[8, 16, 16, 8], &tiny);
    for mode in ["int8", "int16x8"] {
        let out = dir.path().join(format!("tiny.{mode}.tflite"));
        let report = dir.path().join(format!("tiny.{mode}.json"));
        tflq!("convert", f, "-o", out, "--quantize", mode, "--calibration-data", calib, "--report", report);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let relaxed = v["relaxed_activations"].as_array().unwrap();
        assert_eq!(relaxed.len(), relu6, "{mode}: {relaxed:?}");
        let to = if mode == "int8" { "NONE" } else { "RELU" };
        assert!(relaxed.iter().all(|r| r["from"] == "RELU6" && r["to"] == to), "{mode}: {relaxed:?}");
        let run = dir.path().join(format!("run-{mode}"));
        oracle!("run", "--resolver", "builtin", "--out", run, f, out);
    }
    // Ordinary ranges keep TF's activations untouched.
    let calib = dir.path().join("normal.npz");
    oracle!("calib", f, calib);
    let out = dir.path().join("normal.tflite");
    let report = dir.path().join("normal.json");
    tflq!("convert", f, "-o", out, "--quantize", "int8", "--calibration-data", calib, "--report", report);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["relaxed_activations"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_calibration_data_and_flags_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.tflite");
    let cnn = testdata("cnn.tflite");
    let fail = |args: &[std::ffi::OsString], want: &[&str]| {
        let r = tflq(args);
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for w in want {
            assert!(err.contains(w), "{args:?}: want {w:?} in {err}");
        }
        assert!(!out.exists());
    };
    let base = |extra: &[&str]| -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> =
            vec!["convert".into(), cnn.clone().into(), "-o".into(), out.clone().into()];
        v.extend(extra.iter().map(|a| a.into()));
        v
    };
    fail(&base(&["--quantize", "int8"]), &["needs --calibration-data"]);
    // Wrong sample shape: names the input and the shape it expects.
    let wrong = dir.path().join("wrong.npy");
    write_npy_f32(&wrong, &[4, 28, 28, 1], &vec![0.5; 4 * 28 * 28]);
    let w = wrong.to_string_lossy().into_owned();
    fail(
        &base(&["--quantize", "int8", "--calibration-data", &w]),
        &["serving_default_image:0", "[32,32,3]", "[4,28,28,1]"],
    );
    // Wrong dtype.
    let ints = dir.path().join("ints.npy");
    write_npy(&ints, "<i4", &[2, 32, 32, 3], &vec![0u8; 2 * 32 * 32 * 3 * 4]);
    let i = ints.to_string_lossy().into_owned();
    fail(&base(&["--quantize", "int8", "--calibration-data", &i]), &["float32", "int32"]);
    // Flags that do not go together.
    let calib = testdata("cnn.calib.npy").to_string_lossy().into_owned();
    fail(
        &base(&["--quantize", "int16x8", "--calibration-data", &calib, "--input-type", "int8"]),
        &["--input-type int8", "int16x8"],
    );
    fail(&base(&["--quantize", "dynamic", "--calibration-data", &calib]), &["only used by --quantize int8"]);
    fail(&base(&["--quantize", "int8", "--calibration-data", "/nonexistent/calib.npy"]), &["/nonexistent/calib.npy"]);
}

#[test]
fn an_unknown_custom_op_leaves_only_what_depends_on_it_float() {
    let dir = tempfile::tempdir().unwrap();
    let f = testdata("custom_mid.tflite");
    let calib = dir.path().join("x.npy");
    write_npy_f32(&calib, &[16, 64], &(0..16 * 64).map(|i| ((i * 37) % 101) as f32 / 101.0).collect::<Vec<_>>());
    let out = dir.path().join("int8.tflite");
    let rep = dir.path().join("r.json");
    let r = tflq!("convert", f, "-o", out, "--quantize", "int8", "--calibration-data", calib, "--report", rep);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("TflqUnknownMiddle (operator 1)") && err.contains("3 tensors"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(v["uncalibrated"], serde_json::json!([{"index": 1, "op": "TflqUnknownMiddle", "tensors": 3}]));
    let float_ops = v["float_ops"].as_array().unwrap();
    assert_eq!(float_ops.len(), 3, "{float_ops:?}");
    for f in &float_ops[1..] {
        assert_eq!(f["op"], "FULLY_CONNECTED");
        assert!(f["reason"].as_str().unwrap().contains("depends on TflqUnknownMiddle (operator 1)"), "{f}");
    }
    // Upstream of the op is integer; downstream keeps its float weights.
    let m = tflq::load(&out).unwrap();
    let sg = &m.subgraphs[0];
    let fcs: Vec<_> = sg
        .operators
        .iter()
        .filter(|o| m.operator_codes[o.opcode_index as usize].builtin == BuiltinOperator::FULLY_CONNECTED)
        .map(|o| (sg.tensors[o.inputs[1] as usize].dtype, sg.tensors[o.outputs[0] as usize].dtype))
        .collect();
    assert_eq!(
        fcs,
        [
            (TensorType::INT8, TensorType::INT8),
            (TensorType::FLOAT32, TensorType::FLOAT32),
            (TensorType::FLOAT32, TensorType::FLOAT32)
        ]
    );
    // --strict refuses, naming the op, and writes nothing.
    let strict = dir.path().join("strict.tflite");
    let r = tflq_any!("convert", f, "-o", strict, "--quantize", "int8", "--calibration-data", calib, "--strict");
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--strict") && err.contains("TflqUnknownMiddle"), "{err}");
    assert!(!strict.exists());
}
