//! Frozen GraphDef (.pb) import: every fixture converts, runs in the official
//! interpreter and matches TF's own `from_frozen_graph` conversion; bad input
//! gives one clear error line.

mod common;

use common::{node, root, testdata, XorShift};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tflq::graphdef::proto::{attr_value, GraphDef, NodeDef, TensorShapeProto};
use tflq::graphdef::{import, ImportOptions};

/// Fixtures: NAME.pb beside NAME.tf.tflite and the NAME.json sidecar.
const FIXTURES: &[&str] = &["cnn_frozen", "gd_mnv2_block", "gd_tf1_a", "gd_tf1_b"];

fn sidecar(name: &str) -> Value {
    let text = std::fs::read_to_string(testdata(&format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn names(v: &Value) -> String {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect::<Vec<_>>().join(",")
}

fn op_count(model: &Path) -> usize {
    let out = tflq!("dump", model, "--json");
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    j["subgraphs"][0]["operators"].as_array().unwrap().len()
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, &v| m.max(v.abs() as f64)).max(1e-30);
    a.iter().zip(b).fold(0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs())) / scale
}

fn outdir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("tflq-gd-{tag}-")).tempdir().unwrap()
}

fn convert_fixture(name: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let sc = sidecar(name);
    let out = dir.join(format!("{name}.tflite"));
    let ins = names(&sc["inputs"]);
    let outs = names(&sc["outputs"]);
    let pb = testdata(&format!("{name}.pb"));
    let mut args: Vec<std::ffi::OsString> = vec!["convert".into(), pb.into(), "-o".into(), out.clone().into()];
    args.extend(["--input-arrays".into(), ins.into(), "--output-arrays".into(), outs.into()]);
    args.extend(extra.iter().map(Into::into));
    common::tflq_ok(args);
    out
}

/// Runs both models on the same inputs and returns each one's outputs.
fn run_both(ours: &Path, theirs: &Path, dir: &Path) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let res = oracle!("run", "--out", dir.join("run"), ours, theirs);
    let outs = |k: usize| -> Vec<Vec<f32>> {
        res["models"][k]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| common::read_npy_f32(Path::new(o["file_f32"].as_str().unwrap())))
            .collect()
    };
    (outs(0), outs(1))
}

#[test]
fn fixtures_match_tf_conversion() {
    let mut report = Vec::new();
    for name in FIXTURES {
        let dir = outdir(name);
        let ours = convert_fixture(name, dir.path(), &[]);
        let theirs = testdata(&format!("{name}.tf.tflite"));
        let (a, b) = run_both(&ours, &theirs, dir.path());
        assert_eq!(a.len(), b.len(), "{name}: output count");
        for (j, (x, y)) in a.iter().zip(&b).enumerate() {
            let d = max_rel_diff(x, y);
            assert!(d <= 1e-4, "{name}: output {j} differs from TF's conversion by {d:e} (relative)");
        }
        let (n_ours, n_tf) = (op_count(&ours), op_count(&theirs));
        assert!(n_ours <= n_tf, "{name}: {n_ours} ops, TF has {n_tf}");
        report.push(format!("{name}: {n_ours} ops (TF {n_tf})"));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn io_names_order_and_signature() {
    let dir = outdir("io");
    let ours = convert_fixture("cnn_frozen", dir.path(), &[]);
    let out = tflq!("dump", &ours, "--json");
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sg = &j["subgraphs"][0];
    let tensors = sg["tensors"].as_array().unwrap();
    let name_of = |i: &Value| tensors[i.as_u64().unwrap() as usize]["name"].as_str().unwrap().to_string();
    assert_eq!(name_of(&sg["inputs"][0]), "image");
    assert_eq!(name_of(&sg["outputs"][0]), "Identity");
    assert_eq!(j["version"], 3);
    let sig = &j["signature_defs"][0];
    assert_eq!(sig["key"], "serving_default");
    assert!(sig["inputs"].get("image").is_some() && sig["outputs"].get("Identity").is_some(), "{sig}");
    assert!(j["metadata"].get("min_runtime_version").is_some());

    // Cutting the graph: an intermediate node as the output.
    let cut = dir.path().join("cut.tflite");
    tflq!("convert", testdata("cnn_frozen.pb"), "-o", &cut, "--output-arrays", "cnn_1/pool1_1/MaxPool2d");
    let j: Value = serde_json::from_slice(&tflq!("dump", &cut, "--json").stdout).unwrap();
    let ops: Vec<&str> =
        j["subgraphs"][0]["operators"].as_array().unwrap().iter().map(|o| o["opcode"].as_str().unwrap()).collect();
    assert_eq!(ops, ["CONV_2D", "MAX_POOL_2D"]);
}

#[test]
fn quantize_modes_on_pb() {
    let dir = outdir("quant");
    let theirs = testdata("cnn_frozen.tf.tflite");
    for mode in ["dynamic", "float16", "weight-int8"] {
        let ours = convert_fixture("cnn_frozen", dir.path(), &["--quantize", mode]);
        let q = dir.path().join(format!("cnn_frozen.{mode}.tflite"));
        std::fs::rename(&ours, &q).unwrap();
        let (a, b) = run_both(&q, &theirs, &dir.path().join(mode));
        let d = max_rel_diff(&a[0], &b[0]);
        assert!(d < 0.05, "--quantize {mode}: relative difference {d} to the float model");
        let j: Value = serde_json::from_slice(&tflq!("dump", &q, "--json").stdout).unwrap();
        let types: Vec<&str> =
            j["subgraphs"][0]["tensors"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
        let want = if mode == "float16" { "FLOAT16" } else { "INT8" };
        assert!(types.contains(&want), "--quantize {mode}: no {want} tensor");
    }
}

/// Runs a conversion that must fail: exit 1, one `error:` line containing every `needles`, no output file.
fn assert_fails(pb: &Path, extra: &[&str], needles: &[&str]) {
    let dir = outdir("bad");
    let out = dir.path().join("out.tflite");
    let mut args: Vec<std::ffi::OsString> = vec!["convert".into(), pb.into(), "-o".into(), out.clone().into()];
    args.extend(extra.iter().map(Into::into));
    let res = common::tflq(args);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {err}");
    }
    assert!(!out.exists(), "an output file was written");
}

fn placeholder(name: &str, shape: Option<&[i64]>) -> NodeDef {
    let mut attrs = vec![("dtype", attr_value::Value::Type(1))];
    if let Some(s) = shape {
        let dim = s.iter().map(|&d| tflq::graphdef::proto::Dim { size: d, name: String::new() }).collect();
        attrs.push(("shape", attr_value::Value::Shape(TensorShapeProto { dim, unknown_rank: false })));
    }
    node(name, "Placeholder", &[], attrs)
}

fn write_graph(dir: &Path, nodes: Vec<NodeDef>) -> PathBuf {
    let g = GraphDef { node: nodes, versions: None, version: 0, library: None };
    let p = dir.join("g.pb");
    std::fs::write(&p, prost::Message::encode_to_vec(&g)).unwrap();
    p
}

#[test]
fn bad_input_errors() {
    let dir = outdir("errors");
    // Truncated .pb.
    let bytes = std::fs::read(testdata("cnn_frozen.pb")).unwrap();
    let trunc = dir.path().join("trunc.pb");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails(&trunc, &[], &["GraphDef"]);

    // Unsupported ops: all of them listed, with their nodes, in one error.
    let pb = write_graph(
        dir.path(),
        vec![
            placeholder("x", Some(&[1, 4])),
            node("foo1", "FooBar", &["x"], vec![]),
            node("r", "Relu", &["foo1"], vec![]),
            node("baz", "BazQux", &["r"], vec![]),
            node("foo2", "FooBar", &["baz", "^x"], vec![]),
        ],
    );
    assert_fails(&pb, &[], &["unsupported ops", "FooBar (foo1, foo2)", "BazQux (baz)"]);

    // Unknown rank with no --input-shapes.
    let pb = write_graph(dir.path(), vec![placeholder("x", None), node("y", "Relu", &["x"], vec![])]);
    assert_fails(&pb, &[], &["\"x\"", "--input-shapes"]);

    // An --output-arrays name that is not in the graph.
    assert_fails(&testdata("cnn_frozen.pb"), &["--output-arrays", "nope"], &["\"nope\"", "not a node"]);
    assert_fails(&testdata("cnn_frozen.pb"), &["--input-arrays", "missing_in"], &["\"missing_in\""]);
}

#[test]
fn unknown_batch_becomes_one_with_warning() {
    let bytes = std::fs::read(testdata("gd_tf1_b.pb")).unwrap();
    let (model, warnings) =
        tflq::graphdef::import_with_warnings(bytes::Bytes::from(bytes), &ImportOptions::default()).unwrap();
    assert!(warnings.iter().any(|w| w.contains("batch")), "{warnings:?}");
    let sg = &model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0] as usize].shape(), &[1, 8, 8, 4]);
}

#[test]
fn garbage_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = FIXTURES.iter().map(|n| std::fs::read(testdata(&format!("{n}.pb"))).unwrap()).collect();
    let opts = ImportOptions::default();
    for round in 0..400 {
        let mut data = seeds[round % seeds.len()].clone();
        match round % 4 {
            0 => {
                let cut = (rng.next() as usize) % data.len();
                data.truncate(cut);
            }
            1 => {
                for _ in 0..1 + rng.next() % 8 {
                    let i = (rng.next() as usize) % data.len();
                    data[i] = rng.next() as u8;
                }
            }
            2 => {
                let n = (rng.next() % 512) as usize;
                data = (0..n).map(|_| rng.next() as u8).collect();
            }
            _ => {
                let i = (rng.next() as usize) % data.len();
                data[i] ^= 1 << (rng.next() % 8);
            }
        }
        let _ = import(&data, &opts);
    }
    let _ = root();
}

#[test]
fn input_shapes_override_in_library() {
    // (The CLI's --input-shapes goes through the same ImportOptions.)
    let bytes = bytes::Bytes::from(std::fs::read(testdata("gd_tf1_b.pb")).unwrap());
    let opts = ImportOptions {
        input_arrays: Some(vec!["input".into()]),
        output_arrays: Some(vec!["out".into()]),
        input_shapes: Some(vec![vec![1, 8, 8, 4]]),
    };
    let (model, warnings) = tflq::graphdef::import_with_warnings(bytes.clone(), &opts).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(model.subgraphs[0].tensors[model.subgraphs[0].inputs[0] as usize].shape(), &[1, 8, 8, 4]);
    let two = ImportOptions { input_shapes: Some(vec![vec![1, 8, 8, 4], vec![1]]), ..opts };
    let err = tflq::graphdef::import_with_warnings(bytes, &two).unwrap_err().to_string();
    assert!(err.contains("2 shapes for 1 input"), "{err}");
}

fn const_node(name: &str, t: tflq::graphdef::proto::TensorProto) -> NodeDef {
    let dtype = t.dtype;
    node(name, "Const", &[], vec![("value", attr_value::Value::Tensor(t)), ("dtype", attr_value::Value::Type(dtype))])
}

fn shape_proto(dims: &[i64]) -> Option<TensorShapeProto> {
    let dim = dims.iter().map(|&d| tflq::graphdef::proto::Dim { size: d, name: String::new() }).collect();
    Some(TensorShapeProto { dim, unknown_rank: false })
}

#[test]
fn constants_typed_fields_fill_rule_and_half() {
    use tflq::graphdef::proto::TensorProto;
    let f = TensorProto { dtype: 1, tensor_shape: shape_proto(&[5]), float_val: vec![1.0, 2.0], ..Default::default() };
    let z = TensorProto { dtype: 3, tensor_shape: shape_proto(&[3]), ..Default::default() };
    let h = TensorProto {
        dtype: 19,
        tensor_shape: shape_proto(&[4]),
        half_val: vec![14336, 15360, 15872, 16384],
        ..Default::default()
    };
    let b =
        TensorProto { dtype: 10, tensor_shape: shape_proto(&[3]), bool_val: vec![true, false], ..Default::default() };
    let i64c = TensorProto { dtype: 9, tensor_shape: shape_proto(&[2]), int64_val: vec![-7], ..Default::default() };
    // Const -> Identity -> output (the whole output folds to a constant tensor).
    let g = GraphDef {
        node: vec![
            const_node("f", f),
            const_node("z", z),
            const_node("h", h),
            const_node("b", b),
            const_node("l", i64c),
            node("fo", "Identity", &["f"], vec![]),
        ],
        versions: None,
        version: 0,
        library: None,
    };
    let bytes = prost::Message::encode_to_vec(&g);
    let opts = ImportOptions {
        output_arrays: Some(["fo", "z", "h", "b", "l"].iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let m = import(&bytes, &opts).unwrap();
    let sg = &m.subgraphs[0];
    let data = |k: usize| m.buffers[sg.tensors[sg.outputs[k] as usize].buffer as usize].data.as_bytes().to_vec();
    let f32s: Vec<f32> = data(0).chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(f32s, [1.0, 2.0, 2.0, 2.0, 2.0]);
    assert_eq!(data(1), [0u8; 12]);
    let halfs: Vec<f32> =
        data(2).chunks(2).map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32()).collect();
    assert_eq!(halfs, [0.5, 1.0, 1.5, 2.0]);
    assert_eq!(sg.tensors[sg.outputs[2] as usize].dtype, tflq::schema::TensorType::FLOAT16);
    assert_eq!(data(3), [1, 0, 0]);
    let longs: Vec<i64> = data(4).chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(longs, [-7, -7]);
    assert_eq!(sg.tensors[sg.outputs[0] as usize].name(), "fo");
}

#[test]
fn untouched_constants_stay_views_of_the_input() {
    // Weights that pass through unchanged are not copied: their buffers point
    // into the input bytes (load_any passes a map of the file the same way).
    let mut views = 0;
    for name in FIXTURES {
        let bytes = bytes::Bytes::from(std::fs::read(testdata(&format!("{name}.pb"))).unwrap());
        let range = bytes.as_ptr_range();
        let (model, _) = tflq::graphdef::import_with_warnings(bytes.clone(), &ImportOptions::default()).unwrap();
        let inside = model.buffers.iter().filter(|b| !b.data.is_empty() && range.contains(&b.data.as_bytes().as_ptr()));
        let n = inside.count();
        eprintln!("{name}: {n} of {} buffers are views of the input", model.buffers.len());
        views += n;
    }
    assert!(views > 0, "no constant stayed a view of the input");
}
