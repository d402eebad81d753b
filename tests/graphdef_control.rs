//! Functional control flow in frozen GraphDefs (testdata/control/, made by
//! testdata/generate_control.py): While/If with library bodies become
//! WHILE/IF with subgraphs, Keras RNN TensorLists become dense tensors, and
//! every conversion runs in the official interpreter and matches TF's own
//! conversion of the same function. TF1 control flow gives one clear error.

mod common;

use common::{node, testdata, XorShift};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tflq::graphdef::proto::{
    attr_value, ArgDef, FunctionDef, FunctionDefLibrary, GraphDef, NameAttrList, NodeDef, OpDef, TensorShapeProto,
};
use tflq::graphdef::{import, ImportOptions};

/// (fixture, the control-flow op tflq must emit).
const FIXTURES: &[(&str, &str)] = &[
    ("ctrl_cond", "IF"),
    ("ctrl_while", "WHILE"),
    ("ctrl_gru", "WHILE"),
    ("ctrl_gru_nobatch", "WHILE"),
    ("ctrl_lstm", "WHILE"),
    ("ctrl_simplernn", "WHILE"),
    ("ctrl_tensorarray", "WHILE"),
    ("ctrl_stacked", "WHILE"),
];

fn ctl(name: &str) -> PathBuf {
    testdata(&format!("control/{name}"))
}

fn sidecar(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ctl(&format!("{name}.json"))).unwrap()).unwrap()
}

fn names(v: &Value) -> String {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect::<Vec<_>>().join(",")
}

fn outdir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("tflq-gdc-{tag}-")).tempdir().unwrap()
}

fn convert(name: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let sc = sidecar(name);
    let out = dir.join(format!("{name}.tflite"));
    let mut args: Vec<std::ffi::OsString> =
        vec!["convert".into(), ctl(&format!("{name}.pb")).into(), "-o".into(), out.clone().into()];
    args.extend(["--input-arrays".into(), names(&sc["inputs"]).into()]);
    args.extend(["--output-arrays".into(), names(&sc["outputs"]).into()]);
    args.extend(extra.iter().map(Into::into));
    common::tflq_ok(args);
    out
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "output sizes differ");
    let scale = b.iter().fold(0f64, |m, &v| m.max(v.abs() as f64)).max(1e-30);
    a.iter().zip(b).fold(0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs())) / scale
}

/// Runs the models (on random inputs from `seed`, or the ones in `inputs`) and returns each one's outputs.
fn run(models: &[&Path], dir: &Path, seed: u64, inputs: Option<&Path>) -> Vec<Vec<Vec<f32>>> {
    let mut args: Vec<std::ffi::OsString> =
        vec!["run".into(), "--out".into(), dir.join(format!("run{seed}")).into(), "--seed".into()];
    args.push(seed.to_string().into());
    if let Some(i) = inputs {
        args.extend(["--inputs".into(), i.into()]);
    }
    args.extend(models.iter().map(|m| m.into()));
    let res = common::oracle(args);
    (0..models.len())
        .map(|k| {
            res["models"][k]["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| common::read_npy_f32(Path::new(o["file_f32"].as_str().unwrap())))
                .collect()
        })
        .collect()
}

fn dump(model: &Path) -> Value {
    serde_json::from_slice(&tflq!("dump", model, "--json").stdout).unwrap()
}

/// Opcodes of every subgraph, and the subgraph count.
fn opcodes(model: &Path) -> (Vec<String>, usize) {
    let j = dump(model);
    let sgs = j["subgraphs"].as_array().unwrap();
    let ops = sgs
        .iter()
        .flat_map(|s| s["operators"].as_array().unwrap().iter().map(|o| o["opcode"].as_str().unwrap().to_string()))
        .collect();
    (ops, sgs.len())
}

fn assert_match(name: &str, ours: &[Vec<f32>], theirs: &[Vec<f32>], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{name}: output count");
    for (j, (x, y)) in ours.iter().zip(theirs).enumerate() {
        let d = rel(x, y);
        assert!(d <= 1e-5, "{name} ({what}): output {j} differs from the reference by {d:e} (relative)");
    }
}

#[test]
fn fixtures_match_tf_conversion() {
    let mut report = Vec::new();
    for &(name, op) in FIXTURES {
        let dir = outdir(name);
        let ours = convert(name, dir.path(), &[]);
        let theirs = ctl(&format!("{name}.tf.tflite"));
        for seed in 0..4 {
            let outs = run(&[&ours, &theirs], dir.path(), seed, None);
            assert_match(name, &outs[0], &outs[1], &format!("seed {seed}"));
        }
        let (ops, n_sg) = opcodes(&ours);
        assert!(ops.iter().any(|o| o == op), "{name}: no {op} in {ops:?}");
        assert!(n_sg >= 3, "{name}: {n_sg} subgraphs");
        assert_eq!(n_sg, opcodes(&ctl(&format!("{name}.tf.tflite"))).1, "{name}: subgraph count differs from TF's");
        let (tf_ops, tf_sg) = opcodes(&theirs);
        assert!(ops.len() <= tf_ops.len(), "{name}: {} ops, TF has {}", ops.len(), tf_ops.len());
        report.push(format!("{name}: {} ops in {n_sg} subgraphs (TF {} in {tf_sg})", ops.len(), tf_ops.len()));
    }
    eprintln!("{}", report.join("\n"));
}

/// x of shape [1, 4] whose sum has the given sign; `scale` sets the while loop's trip count.
fn write_x(dir: &Path, vals: [f32; 4]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    common::write_npy_f32(&dir.join("input_0.npy"), &[1, 4], &vals);
    dir.to_path_buf()
}

#[test]
fn cond_takes_both_branches_and_while_trip_counts_vary() {
    for name in ["ctrl_cond", "ctrl_while"] {
        let dir = outdir(name);
        let ours = convert(name, dir.path(), &[]);
        let theirs = ctl(&format!("{name}.tf.tflite"));
        let cases = [
            [0.5, 0.25, -0.1, 0.3],
            [-0.5, 0.2, -0.4, -0.3],
            [0.0, 0.0, 0.0, 0.0],
            [2.0, 1.5, 1.0, 0.5],
            [-3.0, -1.0, 0.1, -0.2],
        ];
        let mut seen = Vec::new();
        for (k, x) in cases.into_iter().enumerate() {
            let inputs = write_x(&dir.path().join(format!("in{k}")), x);
            let outs = run(&[&ours, &theirs], dir.path(), k as u64, Some(&inputs));
            assert_match(name, &outs[0], &outs[1], &format!("input {x:?}"));
            seen.push(outs[0][0].clone());
        }
        if name == "ctrl_cond" {
            // The then branch is a relu (never negative), the else branch a tanh of a product (here negative somewhere).
            assert!(seen[0].iter().all(|&v| v >= 0.0) && seen[1].iter().any(|&v| v < 0.0), "{seen:?}");
        }
    }
}

#[test]
fn rnn_batch_comes_from_the_input_shape() {
    // TF's converter needs the single-batch flag for Keras lists ([-1, units]
    // element shapes); tflq takes the batch from --input-shapes.
    let name = "ctrl_gru_nobatch";
    let dir = outdir("batch3");
    let ours = convert(name, dir.path(), &["--input-shapes", "3,5,4"]);
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::copy(ctl(&format!("{name}.x3.npy")), inputs.join("input_0.npy")).unwrap();
    let outs = run(&[&ours], dir.path(), 0, Some(&inputs));
    let want = common::read_npy_f32(&ctl(&format!("{name}.y3.npy")));
    assert_eq!(outs[0][0].len(), 24);
    assert_match(name, &outs[0], &[want], "batch 3 against Keras");
}

/// Runs a conversion that must fail: exit 1, one `error:` line containing every `needles`.
fn assert_fails(pb: &Path, needles: &[&str]) {
    let dir = outdir("bad");
    let out = dir.path().join("out.tflite");
    let res = tflq_any!("convert", pb, "-o", &out);
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

#[test]
fn tf1_control_flow_is_refused_clearly() {
    let pb = ctl("ctrl_tf1_while.pb");
    assert_fails(&pb, &["TF1 control flow", "enable_control_flow_v2", "TF2 SavedModel"]);
    let err = import(&std::fs::read(&pb).unwrap(), &ImportOptions::default()).unwrap_err().to_string();
    assert!(!err.contains("cycle"), "{err}");
}

// --- synthetic graphs: calls ------------------------------------------------------

fn arg(name: &str) -> ArgDef {
    ArgDef { name: name.into(), r#type: 1, ..Default::default() }
}

fn function(name: &str, nodes: Vec<NodeDef>, ret: &[(&str, &str)]) -> FunctionDef {
    FunctionDef {
        signature: Some(OpDef {
            name: name.into(),
            input_arg: vec![arg("a")],
            output_arg: ret.iter().map(|(n, _)| arg(n)).collect(),
            attr: vec![],
        }),
        node_def: nodes,
        ret: ret.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        attr: BTreeMap::new(),
        control_ret: BTreeMap::new(),
    }
}

fn graph(main: Vec<NodeDef>, funcs: Vec<FunctionDef>) -> Vec<u8> {
    let dim = [1, 4].iter().map(|&d| tflq::graphdef::proto::Dim { size: d, name: String::new() }).collect();
    let mut nodes = vec![node(
        "x",
        "Placeholder",
        &[],
        vec![
            ("dtype", attr_value::Value::Type(1)),
            ("shape", attr_value::Value::Shape(TensorShapeProto { dim, unknown_rank: false })),
        ],
    )];
    nodes.extend(main);
    let g = GraphDef { node: nodes, versions: None, version: 0, library: Some(FunctionDefLibrary { function: funcs }) };
    prost::Message::encode_to_vec(&g)
}

fn func_attr(name: &str) -> attr_value::Value {
    attr_value::Value::Func(NameAttrList { name: name.into(), attr: BTreeMap::new() })
}

#[test]
fn calls_are_inlined_and_recursion_is_refused() {
    // outer(a) = inner(a) + a through PartitionedCall; inner(a) = relu(a), called by name.
    let inner = function("inner", vec![node("r", "Relu", &["a"], vec![])], &[("out", "r:activations:0")]);
    let outer = function(
        "outer",
        vec![node("c", "inner", &["a"], vec![]), node("s", "AddV2", &["c:out:0", "a"], vec![])],
        &[("out", "s:z:0")],
    );
    let bytes = graph(
        vec![node("call", "StatefulPartitionedCall", &["x"], vec![("f", func_attr("outer"))])],
        vec![inner, outer],
    );
    let m = import(&bytes, &ImportOptions::default()).unwrap();
    assert_eq!(m.subgraphs.len(), 1);
    let codes: Vec<_> =
        m.subgraphs[0].operators.iter().map(|o| m.operator_codes[o.opcode_index as usize].builtin).collect();
    assert_eq!(codes, [tflq::schema::BuiltinOperator::RELU, tflq::schema::BuiltinOperator::ADD]);

    // A function that calls itself.
    let rec = function("rec", vec![node("again", "rec", &["a"], vec![])], &[("out", "again:out:0")]);
    let bytes = graph(vec![node("call", "PartitionedCall", &["x"], vec![("f", func_attr("rec"))])], vec![rec]);
    let err = import(&bytes, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("calls itself"), "{err}");

    // A call of a function the library does not have.
    let bytes = graph(vec![node("call", "PartitionedCall", &["x"], vec![("f", func_attr("nope"))])], vec![]);
    let err = import(&bytes, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("\"nope\"") && err.contains("library"), "{err}");
}

#[test]
fn constant_condition_inlines_the_branch_taken() {
    use tflq::graphdef::proto::TensorProto;
    use tflq::schema::BuiltinOperator as B;
    let relu = function("relu_fn", vec![node("r", "Relu", &["a"], vec![])], &[("out", "r:activations:0")]);
    let neg = function("neg_fn", vec![node("n", "Neg", &["a"], vec![])], &[("out", "n:y:0")]);
    for (value, want) in [(true, B::RELU), (false, B::NEG)] {
        let t = TensorProto { dtype: 10, bool_val: vec![value], ..Default::default() };
        let c = node(
            "c",
            "Const",
            &[],
            vec![("value", attr_value::Value::Tensor(t)), ("dtype", attr_value::Value::Type(10))],
        );
        let branches = vec![("then_branch", func_attr("relu_fn")), ("else_branch", func_attr("neg_fn"))];
        let bytes = graph(vec![c, node("if", "StatelessIf", &["c", "x"], branches)], vec![relu.clone(), neg.clone()]);
        let opts = ImportOptions { output_arrays: Some(vec!["if".into()]), ..Default::default() };
        let m = import(&bytes, &opts).unwrap();
        assert_eq!(m.subgraphs.len(), 1);
        let codes: Vec<_> =
            m.subgraphs[0].operators.iter().map(|o| m.operator_codes[o.opcode_index as usize].builtin).collect();
        assert_eq!(codes, [want]);
    }
}

#[test]
fn damaged_control_flow_graphs_never_panic() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let seeds: Vec<Vec<u8>> = FIXTURES.iter().map(|(n, _)| std::fs::read(ctl(&format!("{n}.pb"))).unwrap()).collect();
    let opts = ImportOptions { output_arrays: Some(vec!["Identity".into()]), ..Default::default() };
    let rounds = std::env::var("TFLQ_FUZZ_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    for round in 0..rounds {
        let mut data = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % data.len();
            if round % 2 == 0 {
                data[i] ^= 1 << (rng.next() % 8);
            } else {
                data[i] = rng.next() as u8;
            }
        }
        let _ = import(&data, &opts);
    }
}
