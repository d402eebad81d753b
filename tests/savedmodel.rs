//! SavedModel directories in: each TF-written fixture (testdata/generate_savedmodel.py)
//! converts to a model whose signature outputs match TF's own `from_saved_model`
//! conversion in the official interpreter, under the same keys; int8 on the SavedModel
//! equals int8 on TF's float conversion; bad directories get one clear line.

mod common;

use common::{node, oracle, testdata, tflq, tflq_ok};
use prost::Message;
use std::path::{Path, PathBuf};
use tflq::graphdef::proto::{
    attr_value::Value, FunctionDef, FunctionDefLibrary, GraphDef, NameAttrList, NodeDef, OpDef,
};
use tflq::savedmodel::proto::{MetaGraphDef, MetaInfoDef, SavedModel, SignatureDef, TensorInfo};

fn fixture(name: &str) -> PathBuf {
    testdata(&format!("savedmodel/{name}"))
}

/// Runs `model`'s signature over the fixture's sample inputs: outputs by key, flattened.
fn run_signature(model: &Path, inputs: &Path, dir: &Path, tag: &str) -> (serde_json::Value, Vec<(String, Vec<f32>)>) {
    let out = dir.join(format!("{tag}.npz"));
    let info = oracle(["signature".as_ref(), model.as_os_str(), inputs.as_os_str(), out.as_os_str()]);
    let file = std::fs::File::open(&out).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut arrays = Vec::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).unwrap();
        let name = member.name().trim_end_matches(".npy").to_string();
        let path = dir.join(format!("{tag}.{name}.npy"));
        let mut f = std::fs::File::create(&path).unwrap();
        std::io::copy(&mut member, &mut f).unwrap();
        arrays.push((name, common::read_npy_f32(&path)));
    }
    arrays.sort_by(|a, b| a.0.cmp(&b.0));
    (info["signatures"].clone(), arrays)
}

fn assert_matches_tf(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join(format!("{name}.tflite"));
    tflq_ok(["convert".as_ref(), fixture(name).as_os_str(), "-o".as_ref(), ours.as_os_str()]);
    let inputs = testdata(&format!("savedmodel/{name}.inputs.npz"));
    let (sig_ours, got) = run_signature(&ours, &inputs, dir.path(), "ours");
    let (sig_tf, want) = run_signature(&testdata(&format!("savedmodel/{name}.tf.tflite")), &inputs, dir.path(), "tf");
    assert_eq!(sig_ours, sig_tf, "{name}: signature keys differ from TF's");
    assert_eq!(got.len(), want.len());
    for ((k, g), (_, w)) in got.iter().zip(&want) {
        let d = common::rel_diff(w, g);
        assert!(d <= 1e-5, "{name} output {k}: relative difference {d} from TF's conversion");
    }
    // No more operators than TF writes (all subgraphs).
    let (ours_ops, tf_ops) = (ops(&ours), ops(&testdata(&format!("savedmodel/{name}.tf.tflite"))));
    assert!(ours_ops.len() <= tf_ops.len(), "{name}: {ours_ops:?}, TF has {tf_ops:?}");
}

/// Every operator's opcode name, over all subgraphs.
fn ops(model: &Path) -> Vec<String> {
    let out = tflq_ok(["dump".as_ref(), model.as_os_str(), "--json".as_ref()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["subgraphs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["operators"].as_array().unwrap().iter().map(|o| o["opcode"].as_str().unwrap().to_string()))
        .collect()
}

macro_rules! matches_tf {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            assert_matches_tf(stringify!($case));
        }
    )*};
}

matches_tf!(keras_cnn, module_dict, two_inputs, tf1_builder, keras2_adam, keras_gru, keras_encoder);

/// Quantization parameters of every quantized tensor, sorted: ("type shape zero points", scales).
fn quant_params(model: &Path) -> Vec<(String, Vec<f64>)> {
    let out = tflq_ok(["dump".as_ref(), model.as_os_str(), "--json".as_ref()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut params: Vec<(String, Vec<f64>)> = v["subgraphs"][0]["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["quantization"].is_null())
        .map(|t| {
            let q = &t["quantization"];
            let scales = q["scale"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
            (format!("{} {} {}", t["type"], t["shape"], q["zero_point"]), scales)
        })
        .collect();
    params.sort_by(|a, b| a.partial_cmp(b).unwrap());
    params
}

/// Equal parameters, scales within 1e-6 relative: batch-norm factors that TF folded in its
/// own order may differ from ours in the last bit.
fn assert_same_params(name: &str, a: &[(String, Vec<f64>)], b: &[(String, Vec<f64>)]) {
    assert_eq!(a.len(), b.len(), "{name}: quantized tensor count");
    for ((ka, sa), (kb, sb)) in a.iter().zip(b) {
        assert_eq!(ka, kb, "{name}");
        assert_eq!(sa.len(), sb.len(), "{name} {ka}");
        for (x, y) in sa.iter().zip(sb) {
            assert!((x - y).abs() <= 1e-6 * y.abs(), "{name} {ka}: scale {x} vs TF-converted {y}");
        }
    }
}

#[test]
fn int8_equals_int8_of_tf_conversion() {
    for name in ["keras_cnn", "two_inputs"] {
        let dir = tempfile::tempdir().unwrap();
        let calib = testdata(&format!("savedmodel/{name}.inputs.npz"));
        let a = dir.path().join("a.tflite");
        let b = dir.path().join("b.tflite");
        let tf = testdata(&format!("savedmodel/{name}.tf.tflite"));
        for (src, out) in [(fixture(name), &a), (tf, &b)] {
            tflq_ok([
                "convert".as_ref(),
                src.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--quantize".as_ref(),
                "int8".as_ref(),
                "--calibration-method".as_ref(),
                "minmax".as_ref(),
                "--calibration-data".as_ref(),
                calib.as_os_str(),
            ]);
        }
        assert_same_params(name, &quant_params(&a), &quant_params(&b));
        let (_, got) = run_signature(&a, &calib, dir.path(), "a");
        let (_, want) = run_signature(&b, &calib, dir.path(), "b");
        assert_eq!(got, want, "{name}: int8 outputs differ");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &p);
        } else {
            std::fs::copy(e.path(), p).unwrap();
        }
    }
}

/// Converting `input` fails with one line containing every `needle`, and writes nothing.
fn fails_with(input: &Path, extra: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tflite");
    let mut args: Vec<&std::ffi::OsStr> = vec!["convert".as_ref(), input.as_os_str(), "-o".as_ref(), out.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let r = tflq(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{}: {err}", input.display());
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].len() < 400, "long error: {}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{:?} lacks {n:?}", lines[0]);
    }
    assert!(!out.exists());
}

#[test]
fn not_a_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(dir.path(), &[], &["not a SavedModel directory", "model.export"]);
    fails_with(&fixture("keras_cnn/saved_model.pb"), &[], &["saved_model.pb alone", "pass its directory"]);
    let keras = dir.path().join("m.keras");
    std::fs::write(&keras, b"PK\x03\x04 not really a zip").unwrap();
    fails_with(&keras, &[], &[".keras", "model.export"]);
    let h5 = dir.path().join("m.h5");
    std::fs::write(&h5, b"\x89HDF\r\n\x1a\n rest").unwrap();
    fails_with(&h5, &[], &[".h5", "model.export"]);
}

#[test]
fn unknown_signature_and_tags() {
    fails_with(&fixture("two_inputs"), &["--signature-key", "nope"], &["\"nope\"", "\"embed\"", "\"serving_default\""]);
    fails_with(&fixture("keras_cnn"), &["--saved-model-tags", "train"], &["[\"train\"]", "[\"serve\"]"]);
}

#[test]
fn other_signature_converts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.tflite");
    tflq_ok([
        "convert".as_ref(),
        fixture("two_inputs").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--signature-key".as_ref(),
        "embed".as_ref(),
    ]);
    let v = oracle(["schema".as_ref(), out.as_os_str()]);
    let sigs = v["signature_defs"].to_string();
    assert!(sigs.contains("embed") && sigs.contains("context"), "{sigs}");
}

#[test]
fn corrupt_variables() {
    let dir = tempfile::tempdir().unwrap();
    let sm = dir.path().join("sm");
    copy_dir(&fixture("module_dict"), &sm);
    let data = sm.join("variables/variables.data-00000-of-00001");
    // A flipped byte in the tensor data fails its CRC.
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[0] ^= 0x55;
    std::fs::write(&data, &bytes).unwrap();
    fails_with(&sm, &[], &["variables"]);
    // A missing shard is named.
    std::fs::remove_file(&data).unwrap();
    fails_with(&sm, &[], &["variables.data-00000-of-00001"]);
    // A truncated index.
    copy_dir(&fixture("module_dict"), &sm);
    let index = sm.join("variables/variables.index");
    let bytes = std::fs::read(&index).unwrap();
    std::fs::write(&index, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&sm, &[], &["variables.index"]);
    // A truncated saved_model.pb.
    copy_dir(&fixture("module_dict"), &sm);
    let pb = sm.join("saved_model.pb");
    let bytes = std::fs::read(&pb).unwrap();
    std::fs::write(&pb, &bytes[..bytes.len() / 3]).unwrap();
    fails_with(&sm, &[], &["saved_model.pb"]);
}

/// A SavedModel whose serving signature maps input `x` to the output `out:0`.
fn write_saved_model(dir: &Path, nodes: Vec<NodeDef>, library: Vec<FunctionDef>) {
    let mut all = vec![node("x", "Placeholder", &[], vec![("dtype", Value::Type(1))])];
    all.extend(nodes);
    let mut sig = SignatureDef::default();
    sig.inputs.insert("x".into(), TensorInfo { name: "x:0".into(), dtype: 1, ..Default::default() });
    sig.outputs.insert("y".into(), TensorInfo { name: "out:0".into(), dtype: 1, ..Default::default() });
    let meta = MetaGraphDef {
        meta_info_def: Some(MetaInfoDef { tags: vec!["serve".into()], ..Default::default() }),
        graph_def: Some(GraphDef {
            node: all,
            library: Some(FunctionDefLibrary { function: library }),
            ..Default::default()
        }),
        signature_def: [("serving_default".to_string(), sig)].into_iter().collect(),
        ..Default::default()
    };
    let sm = SavedModel { saved_model_schema_version: 1, meta_graphs: vec![meta] };
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("saved_model.pb"), sm.encode_to_vec()).unwrap();
}

#[test]
fn cyclic_function_library() {
    let dir = tempfile::tempdir().unwrap();
    let call = |name: &str, f: &str, input: &str| {
        node(
            name,
            "PartitionedCall",
            &[input],
            vec![("f", Value::Func(NameAttrList { name: f.into(), ..Default::default() }))],
        )
    };
    let arg = tflq::graphdef::proto::ArgDef { name: "a".into(), r#type: 1, ..Default::default() };
    let ret = tflq::graphdef::proto::ArgDef { name: "r".into(), r#type: 1, ..Default::default() };
    let f = FunctionDef {
        signature: Some(OpDef {
            name: "loop_f".into(),
            input_arg: vec![arg],
            output_arg: vec![ret],
            ..Default::default()
        }),
        node_def: vec![call("again", "loop_f", "a")],
        ret: [("r".to_string(), "again:output:0".to_string())].into_iter().collect(),
        ..Default::default()
    };
    write_saved_model(dir.path(), vec![call("out", "loop_f", "x")], vec![f]);
    fails_with(dir.path(), &[], &["cyclic", "loop_f"]);
}

#[test]
fn tf1_control_flow_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = vec![
        node("enter", "Enter", &["x"], vec![]),
        node("merge", "Merge", &["enter", "next"], vec![]),
        node("next", "NextIteration", &["merge"], vec![]),
        node("out", "Exit", &["merge"], vec![]),
    ];
    write_saved_model(dir.path(), nodes, vec![]);
    fails_with(dir.path(), &[], &["TF1 control flow", "Merge", "enable_control_flow_v2"]);
}

/// Every quantization mode converts a SavedModel, and the result runs in the official
/// interpreter close to TF's float conversion (calibration `.npz` keyed by signature inputs).
#[test]
fn every_mode_on_saved_models() {
    for (name, floor_db) in [("keras_cnn", 35.0), ("keras_encoder", 25.0), ("keras_gru", 35.0)] {
        let dir = tempfile::tempdir().unwrap();
        let inputs = testdata(&format!("savedmodel/{name}.inputs.npz"));
        let (_, want) = run_signature(&testdata(&format!("savedmodel/{name}.tf.tflite")), &inputs, dir.path(), "tf");
        for mode in ["dynamic", "float16", "weight-int8", "int8", "int16x8"] {
            let out = dir.path().join(format!("{mode}.tflite"));
            let mut args: Vec<&std::ffi::OsStr> = vec![
                "convert".as_ref(),
                fixture(name).into_os_string().leak(),
                "-o".as_ref(),
                out.as_os_str(),
                "--quantize".as_ref(),
                mode.as_ref(),
                "--min-weight-elements".as_ref(),
                "16".as_ref(),
            ];
            if mode.starts_with("int") {
                args.extend(["--calibration-data".as_ref(), inputs.as_os_str()]);
            }
            tflq_ok(args);
            let (_, got) = run_signature(&out, &inputs, dir.path(), mode);
            for ((k, g), (_, w)) in got.iter().zip(&want) {
                let db = common::sqnr_db(w, g);
                eprintln!("{name} {mode} {k}: {db:.1} dB");
                assert!(db >= floor_db, "{name} {mode} output {k}: SQNR {db:.1} dB against TF's float conversion");
            }
        }
    }
}

/// A long producer chain freezes (no stack overflow); one past the depth limit is refused.
#[test]
fn deep_graphs() {
    for (n, ok) in [(19_000usize, true), (25_000, false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::with_capacity(n);
        let mut prev = "x".to_string();
        for i in 0..n {
            let name = if i + 1 == n { "out".to_string() } else { format!("r{i}") };
            nodes.push(node(&name, "Relu", &[&prev], vec![("T", Value::Type(1))]));
            prev = name;
        }
        write_saved_model(&dir.path().join("sm"), nodes, vec![]);
        let sm = dir.path().join("sm");
        if ok {
            let out = dir.path().join("o.tflite");
            tflq_ok([
                "convert".as_ref(),
                sm.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--input-shapes".as_ref(),
                "1,4".as_ref(),
            ]);
        } else {
            fails_with(&sm, &["--input-shapes", "1,4"], &["deeper than"]);
        }
    }
}

/// Unsupported ops: one line naming each op with a few of its nodes, however many there are.
#[test]
fn unsupported_ops_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    let mut prev = "x".to_string();
    for i in 0..40 {
        let name = if i == 39 { "out".to_string() } else { format!("a_rather_long_scope_name/{i}/Unknown") };
        let op = if i % 2 == 0 { "MadeUpOp" } else { "AnotherMadeUpOp" };
        nodes.push(node(&name, op, &[&prev], vec![]));
        prev = name;
    }
    write_saved_model(dir.path(), nodes, vec![]);
    fails_with(
        dir.path(),
        &["--input-shapes", "1,4"],
        &["unsupported ops", "MadeUpOp (", "AnotherMadeUpOp (", "17 more"],
    );
}

/// `dump`, `run` and `compare` take a SavedModel directory too (converted on the fly).
#[test]
fn dump_and_run_take_directories() {
    let out = tflq_ok(["dump".as_ref(), fixture("two_inputs").as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serving_default_features:0"), "{text}");
    let inputs = testdata("savedmodel/two_inputs.inputs.npz");
    let out = tflq_ok(["run".as_ref(), fixture("two_inputs").as_os_str(), "--input".as_ref(), inputs.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ran 4 sample(s)"), "{text}");
}
