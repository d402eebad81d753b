//! `tflq run` and `tflq compare` on the cnn fixture, judged against the official interpreter.

mod common;

use common::{read_npy, read_npy_f32, rel_diff, testdata, write_npy};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// Samples of cnn.test_x.npy the oracle checks (one interpreter run each).
const N: usize = 8;

/// The first `N` test images as one .npy (sample axis first).
fn subset(dir: &Path) -> PathBuf {
    let (descr, shape, data) = read_npy(&testdata("cnn.test_x.npy"));
    let per: usize = shape[1..].iter().product::<usize>() * 4;
    let mut s = shape.clone();
    s[0] = N;
    let p = dir.join("x8.npy");
    write_npy(&p, &descr, &s, &data[..N * per]);
    p
}

/// The official interpreter's float32 outputs (output 0) of each model on each of the `N`
/// samples, via `oracle.py run`: `[model][sample * classes + class]`.
fn litert_outputs(dir: &Path, models: &[&Path]) -> Vec<Vec<f32>> {
    let (descr, shape, data) = read_npy(&testdata("cnn.test_x.npy"));
    let per: usize = shape[1..].iter().product::<usize>() * 4;
    let mut out = vec![Vec::new(); models.len()];
    for s in 0..N {
        let ins = dir.join(format!("in{s}"));
        std::fs::create_dir_all(&ins).unwrap();
        let mut one = shape.clone();
        one[0] = 1;
        write_npy(&ins.join("input_0.npy"), &descr, &one, &data[s * per..(s + 1) * per]);
        let res = dir.join(format!("out{s}"));
        let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "--resolver".into(), "builtin".into()];
        args.extend(["--out".into(), res.clone().into(), "--inputs".into(), ins.into()]);
        args.extend(models.iter().map(|m| m.as_os_str().to_owned()));
        common::oracle(args);
        for (k, o) in out.iter_mut().enumerate() {
            o.extend(read_npy_f32(&res.join(format!("m{k}/output_0.f32.npy"))));
        }
    }
    out
}

fn sqnr(x: &[f32], y: &[f32]) -> f64 {
    let s: f64 = x.iter().map(|&a| f64::from(a).powi(2)).sum();
    let e: f64 = x.iter().zip(y).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    10.0 * (s / e).log10()
}

/// Reads member `name` of an .npz as (descr, shape, data).
fn npz_member(path: &Path, name: &str, tmp: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let mut f = zip.by_name(&format!("{name}.npy")).unwrap_or_else(|_| panic!("no {name}.npy in {names:?}"));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
    let p = tmp.join("member.npy");
    std::fs::write(&p, bytes).unwrap();
    read_npy(&p)
}

fn weight_int8(dir: &Path) -> PathBuf {
    let p = dir.join("cnn.wi8.tflite");
    tflq!("convert", testdata("cnn.tflite"), "-o", p, "--quantize", "weight-int8");
    p
}

fn json(out: &std::process::Output) -> Json {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Exit status 1 and exactly one `error: …` line on stderr.
fn fails_with_one_line(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(out.stdout.is_empty(), "no output on failure");
    err
}

#[test]
fn run_writes_outputs_equal_to_litert() {
    let dir = tempfile::tempdir().unwrap();
    let x = subset(dir.path());
    let out = dir.path().join("y.npz");
    let o = tflq!("run", testdata("cnn.tflite"), "--input", x, "-o", out);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("StatefulPartitionedCall_1:0  float32 [8,10]  min "), "{text}");
    let (descr, shape, data) = npz_member(&out, "StatefulPartitionedCall_1:0", dir.path());
    assert_eq!((descr.as_str(), shape), ("<f4", vec![N, 10]));
    let got: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let want = litert_outputs(dir.path(), &[&testdata("cnn.tflite")]).remove(0);
    for s in 0..N {
        let d = rel_diff(&got[s * 10..(s + 1) * 10], &want[s * 10..(s + 1) * 10]);
        assert!(d <= 1e-5, "sample {s}: max rel diff {d:e}");
    }
    // --json: shape and statistics.
    let j = json(&tflq!("run", testdata("cnn.tflite"), "--input", dir.path().join("x8.npy"), "--json"));
    assert_eq!(j["samples"], N);
    let o0 = &j["outputs"][0];
    assert_eq!(o0["name"], "StatefulPartitionedCall_1:0");
    assert_eq!(o0["shape"], serde_json::json!([N, 10]));
    let max = want.iter().copied().fold(f32::MIN, f32::max);
    assert!((o0["max"].as_f64().unwrap() - f64::from(max)).abs() <= 1e-4 * f64::from(max.abs()), "{o0}");
}

#[test]
fn run_refuses_bad_inputs_and_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let x = subset(dir.path());
    let before = std::fs::read(&x).unwrap();
    let err = fails_with_one_line(&tflq_any!("run", testdata("cnn.tflite"), "--input", x, "-o", x));
    assert!(err.contains("is an input"), "{err}");
    assert_eq!(std::fs::read(&x).unwrap(), before);
    // An op tflq cannot run: the interpreter's one-line error, and no output file.
    let out = dir.path().join("never.npz");
    let bad = dir.path().join("bad.npy");
    common::write_npy_f32(&bad, &[2, 4], &[0.5; 8]);
    let err = fails_with_one_line(&tflq_any!("run", testdata("custom_op.tflite"), "--input", bad, "-o", out));
    assert!(err.contains("TflqTestCustom") || err.contains("input"), "{err}");
    assert!(!out.exists());
    // A wrong-shaped input.
    let err = fails_with_one_line(&tflq_any!("run", testdata("cnn.tflite"), "--input", bad, "-o", out));
    assert!(err.contains("expects samples of shape"), "{err}");
    assert!(!out.exists());
}

#[test]
fn compare_sqnr_agrees_with_litert() {
    let dir = tempfile::tempdir().unwrap();
    let x = subset(dir.path());
    let float = testdata("cnn.tflite");
    let wi8 = weight_int8(dir.path());
    let f16 = testdata("cnn.float16.tflite");
    let lite = litert_outputs(dir.path(), &[&float, &wi8, &f16]);
    for (k, quant) in [(1, &wi8), (2, &f16)] {
        let j = json(&tflq!("compare", float, quant, "--data", x, "--json"));
        assert_eq!(j["samples"], N);
        let o = &j["outputs"][0];
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "sqnr_db", "cosine", "max_abs_error", "mean_abs_error", "top1_agreement"]);
        let want = sqnr(&lite[0], &lite[k]);
        let got = o["sqnr_db"].as_f64().unwrap();
        eprintln!("{}: tflq {got:.3} dB, LiteRT {want:.3} dB", quant.display());
        assert!((got - want).abs() <= 0.05, "{}: SQNR {got} vs LiteRT's {want}", quant.display());
        assert_eq!(o["top1_agreement"], 1.0);
        assert!(o["cosine"].as_f64().unwrap() > 0.9999);
        for t in j["tensors"].as_array().unwrap() {
            for key in ["name", "op", "sqnr_db", "layer_sqnr_db", "clipped_fraction", "scale", "zero_point"] {
                assert!(t.get(key).is_some(), "tensor without {key}: {t}");
            }
        }
        // Every conv, pool and fully connected output of the cnn is compared (8 ops).
        assert_eq!(j["tensors"].as_array().unwrap().len(), 8, "{}", j["tensors"]);
        assert_eq!(j["float_ops"], serde_json::json!([]));
    }
}

#[test]
fn compare_ranks_a_damaged_weight_scale_first() {
    let dir = tempfile::tempdir().unwrap();
    let x = subset(dir.path());
    let wi8 = weight_int8(dir.path());
    let mut model = tflq::load(&wi8).unwrap();
    // The second CONV_2D's weights: an int8 constant behind a DEQUANTIZE. Triple its scales.
    let sg = &model.subgraphs[0];
    let code = |o: &tflq::ir::Operator| model.operator_codes[o.opcode_index as usize].name();
    let conv = sg.operators.iter().filter(|o| code(o) == "CONV_2D").nth(1).unwrap();
    let damaged_output = sg.tensors[conv.outputs[0] as usize].name().to_string();
    let deq = sg.operators.iter().find(|o| code(o) == "DEQUANTIZE" && o.outputs[0] == conv.inputs[1]).unwrap();
    let weight = deq.inputs[0] as usize;
    let q = model.subgraphs[0].tensors[weight].quantization.as_mut().unwrap();
    for s in q.scale.as_mut().unwrap() {
        *s *= 3.0;
    }
    let damaged = dir.path().join("damaged.tflite");
    tflq::save(&model, &damaged, &tflq::WriteOptions::default()).unwrap();

    let j = json(&tflq!("compare", testdata("cnn.tflite"), damaged, "--data", x, "--json", "--top", "3"));
    let tensors = j["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 3);
    assert_eq!(tensors[0]["name"], damaged_output.as_str(), "{}", j["tensors"]);
    assert_eq!(tensors[0]["op"], "CONV_2D");
    assert!(tensors[0]["sqnr_db"].as_f64().unwrap() < 10.0, "{}", tensors[0]);
    // The op alone, fed the float model's inputs, shows the same fault.
    assert!(tensors[0]["layer_sqnr_db"].as_f64().unwrap() < 10.0, "{}", tensors[0]);
    // The ops after it add little error of their own.
    for t in &tensors[1..] {
        // null: an exact layer.
        assert!(t["layer_sqnr_db"].as_f64().map_or(true, |x| x > 30.0), "{t}");
    }
    // --tensor: that one only.
    let one =
        json(&tflq!("compare", testdata("cnn.tflite"), damaged, "--data", x, "--json", "--tensor", damaged_output));
    assert_eq!(one["tensors"].as_array().unwrap().len(), 1);
    assert_eq!(one["tensors"][0]["name"], damaged_output.as_str());
    let err =
        fails_with_one_line(&tflq_any!("compare", testdata("cnn.tflite"), damaged, "--data", x, "--tensor", "nope"));
    assert!(err.contains("no such tensor"), "{err}");
    // The undamaged model ranks it lower, with a far better SQNR.
    let good = json(&tflq!("compare", testdata("cnn.tflite"), wi8, "--data", dir.path().join("x8.npy"), "--json"));
    let t = good["tensors"].as_array().unwrap().iter().find(|t| t["name"] == damaged_output.as_str()).unwrap();
    assert!(t["sqnr_db"].as_f64().unwrap() > 40.0, "{t}");
    // The first quantized layer: its own error is all its error.
    let (own, acc) = (t["layer_sqnr_db"].as_f64().unwrap(), t["sqnr_db"].as_f64().unwrap());
    assert!((own - acc).abs() < 0.01, "{t}");
}

#[test]
fn compare_min_sqnr_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let x = subset(dir.path());
    let float = testdata("cnn.tflite");
    let f16 = testdata("cnn.float16.tflite");
    // --min-sqnr: 3 below it, 0 above it; the report is printed either way.
    let o = tflq_any!("compare", float, f16, "--data", x, "--min-sqnr", "200");
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("SQNR"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("below --min-sqnr 200"));
    tflq!("compare", float, f16, "--data", x, "--min-sqnr", "40");
    // --html: a page with the output and the tensors; none when the run fails.
    let html = dir.path().join("report.html");
    tflq!("compare", float, f16, "--data", x, "--html", html);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("StatefulPartitionedCall_1:0"), "{page}");
    assert!(page.contains("cnn_1/conv2_1/Relu"), "{page}");
    let never = dir.path().join("never.html");
    let o = tflq_any!("compare", float, testdata("mlp.tflite"), "--data", x, "--html", never);
    assert_eq!(o.status.code(), Some(1));
    assert!(!never.exists());
    // A pair that is not one: different inputs.
    let err = fails_with_one_line(&tflq_any!("compare", float, testdata("mlp.tflite"), "--data", x));
    assert!(err.contains("not a float/quantized pair"), "{err}");
    // Missing data: a path that does not exist; no --data at all is a usage error.
    let err = fails_with_one_line(&tflq_any!("compare", float, f16, "--data", dir.path().join("missing.npy")));
    assert!(err.contains("missing.npy"), "{err}");
    assert_eq!(tflq_any!("compare", float, f16).status.code(), Some(2));
    // A wrong-shaped input.
    let bad = dir.path().join("bad.npy");
    common::write_npy_f32(&bad, &[2, 28, 28, 1], &vec![0.5; 2 * 28 * 28]);
    let err = fails_with_one_line(&tflq_any!("compare", float, f16, "--data", bad));
    assert!(err.contains("expects samples of shape"), "{err}");
}

#[test]
fn compare_lists_float_ops_of_a_partly_quantized_model() {
    let dir = tempfile::tempdir().unwrap();
    let calib = dir.path().join("calib.npy");
    let values: Vec<f32> = (0..4 * 64).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    common::write_npy_f32(&calib, &[4, 64], &values);
    let q = dir.path().join("mid.int8.tflite");
    tflq!("convert", testdata("custom_mid.tflite"), "-o", q, "--quantize", "int8", "--calibration-data", calib);
    let model = tflq::load(&q).unwrap();
    let ops = tflq::pipeline::compare::float_ops(&model);
    let custom = ops.iter().find(|o| o.op == "TflqUnknownMiddle").unwrap_or_else(|| panic!("not listed"));
    assert!(custom.reason.contains("float32"), "{}", custom.reason);
    assert!(ops.iter().all(|o| o.op != "QUANTIZE" && o.op != "DEQUANTIZE"));
    // A float model, and a weight-only one, have no QUANTIZE: nothing is "left" float.
    assert!(tflq::pipeline::compare::float_ops(&tflq::load(&testdata("cnn.float16.tflite")).unwrap()).is_empty());

    let names = tflq::pipeline::compare::base_names("conv_int8_2_dequantized");
    assert_eq!(names, ["conv_int8_2_dequantized", "conv_int8_2", "conv"]);
}

#[test]
fn compare_of_integer_models_agrees_with_litert() {
    let dir = tempfile::tempdir().unwrap();
    let x = subset(dir.path());
    let float = testdata("cnn.tflite");
    let calib = testdata("cnn.calib.npy");
    let i16 = dir.path().join("cnn.int16x8.tflite");
    tflq!("convert", &float, "-o", &i16, "--quantize", "int16x8", "--calibration-data", &calib);
    let (i8, i8io) = (testdata("cnn.int8.tflite"), testdata("cnn.int8io.tflite"));
    let lite = litert_outputs(dir.path(), &[&float, &i8, &i8io, &i16]);
    for (k, quant) in [(1, &i8), (2, &i8io), (3, &i16)] {
        let j = json(&tflq!("compare", &float, quant, "--data", &x, "--json"));
        let want = sqnr(&lite[0], &lite[k]);
        let got = j["outputs"][0]["sqnr_db"].as_f64().unwrap();
        eprintln!("{}: tflq {got:.3} dB, LiteRT {want:.3} dB", quant.display());
        assert!((got - want).abs() <= 0.05, "{}: SQNR {got} vs LiteRT's {want}", quant.display());
        let clipped = j["tensors"].as_array().unwrap().iter().filter_map(|t| t["clipped_fraction"].as_f64());
        assert!(clipped.count() > 0, "{}: no clipped fraction for a quantized tensor", quant.display());
    }
}

#[test]
fn run_takes_integer_data_for_an_integer_input_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("cnn.int8io.tflite");
    let m = tflq::load(&model).unwrap();
    let t = &m.subgraphs[0].tensors[m.subgraphs[0].inputs[0] as usize];
    let q = t.quantization.as_ref().unwrap();
    let (s, zp) = (q.scales()[0], q.zero_points()[0] as i32);
    // Integer samples, and the float values they stand for (which quantize back to them).
    let (_, shape, data) = read_npy(&testdata("cnn.test_x.npy"));
    let per: usize = shape[1..].iter().product();
    let xs: Vec<f32> = data[..N * per * 4].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let ints: Vec<i8> = xs.iter().map(|&x| ((x / s).round() as i32 + zp).clamp(-128, 127) as i8).collect();
    let floats: Vec<f32> = ints.iter().map(|&v| (i32::from(v) - zp) as f32 * s).collect();
    let mut sh = shape.clone();
    sh[0] = N;
    let (pi, pf) = (dir.path().join("xi8.npy"), dir.path().join("xf.npy"));
    write_npy(&pi, "|i1", &sh, &ints.iter().map(|&v| v as u8).collect::<Vec<u8>>());
    common::write_npy_f32(&pf, &sh, &floats);
    let (oi, of) = (dir.path().join("yi.npz"), dir.path().join("yf.npz"));
    tflq!("run", &model, "--input", pi, "-o", oi);
    tflq!("run", &model, "--input", pf, "-o", of);
    let name = "StatefulPartitionedCall_1:0";
    let (a, b) = (npz_member(&oi, name, dir.path()), npz_member(&of, name, dir.path()));
    assert_eq!(a.1, vec![N, 10]);
    assert_eq!(a, b, "int8 data and the float data it stands for give different outputs");
    // A float input refuses int8 data, saying so once.
    let err = fails_with_one_line(&tflq_any!("run", testdata("cnn.tflite"), "--input", dir.path().join("xi8.npy")));
    assert!(err.contains("is float32 but the array is int8"), "{err}");
    assert_eq!(err.matches("xi8.npy").count(), 1, "the message repeats itself: {err}");
}
