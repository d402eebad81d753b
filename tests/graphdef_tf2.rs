//! Frozen TF2/Keras 3 graphs (testdata/tf2ops/, made by testdata/generate_tf2ops.py):
//! each converts, runs in the official interpreter on the same random inputs as TF's own
//! conversion of the same function and agrees to 1e-5 (relative); the op lists are
//! checked against TF's where TF's choice is the reference (GELU, HARD_SWISH, no DIV,
//! PAD folded into the convolution).

mod common;

use common::root;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    root().join("testdata/tf2ops").join(name)
}

fn sidecar(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{name}.json"))).unwrap()).unwrap()
}

fn names(v: &Value) -> String {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect::<Vec<_>>().join(",")
}

fn ops(model: &Path) -> Vec<String> {
    let j: Value = serde_json::from_slice(&tflq!("dump", model, "--json").stdout).unwrap();
    j["subgraphs"][0]["operators"].as_array().unwrap().iter().map(|o| o["opcode"].as_str().unwrap().into()).collect()
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, &v| m.max(v.abs() as f64)).max(1e-30);
    a.iter().zip(b).fold(0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs())) / scale
}

/// Converts NAME.pb, runs it and NAME.tf.tflite on the same inputs, checks every output
/// (matched by name) to 1e-5 and returns (our ops, TF's ops).
fn check(name: &str) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::Builder::new().prefix(&format!("tflq-tf2-{name}-")).tempdir().unwrap();
    let sc = sidecar(name);
    let ours = dir.path().join(format!("{name}.tflite"));
    let pb = fixture(&format!("{name}.pb"));
    let (ins, outs) = (names(&sc["inputs"]), names(&sc["outputs"]));
    tflq!("convert", pb, "-o", &ours, "--input-arrays", ins, "--output-arrays", outs);
    let theirs = fixture(&format!("{name}.tf.tflite"));
    let res = oracle!("run", "--out", dir.path().join("run"), &ours, &theirs);
    let outputs = |k: usize| -> Vec<(String, Vec<f32>)> {
        res["models"][k]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let v = common::read_npy_f32(Path::new(o["file_f32"].as_str().unwrap()));
                (o["name"].as_str().unwrap_or("").to_string(), v)
            })
            .collect()
    };
    let (a, b) = (outputs(0), outputs(1));
    assert_eq!(a.len(), b.len(), "{name}: output count");
    for (j, (an, av)) in a.iter().enumerate() {
        let bv = b.iter().find(|(bn, _)| bn == an).map_or(&b[j].1, |(_, v)| v);
        let d = max_rel_diff(av, bv);
        assert!(d <= 1e-5, "{name}: output {an:?} differs from TF's conversion by {d:e} (relative)");
    }
    let (o, t) = (ops(&ours), ops(&theirs));
    eprintln!("{name}:\n  ours {o:?}\n  TF   {t:?}");
    (o, t)
}

fn count(ops: &[String], op: &str) -> usize {
    ops.iter().filter(|o| *o == op).count()
}

#[test]
fn einsum_keras_mha_and_einsum_dense() {
    let (o, t) = check("einsum_mha");
    for op in ["FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE", "SOFTMAX"] {
        assert_eq!(count(&o, op), count(&t, op), "{op} count");
    }
    assert!(o.len() <= t.len(), "{} ops, TF has {}", o.len(), t.len());
}

#[test]
fn einsum_equations() {
    let (o, t) = check("einsum_raw");
    for op in ["FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE"] {
        assert_eq!(count(&o, op), count(&t, op), "{op} count");
    }
    assert!(o.len() <= t.len(), "{} ops, TF has {}", o.len(), t.len());
}

#[test]
fn gelu_exact_erfc_and_tanh_forms() {
    let (o, t) = check("gelu");
    assert_eq!(count(&o, "GELU"), 3, "{o:?}");
    assert_eq!(o, t);
}

#[test]
fn broadcast_select_cast_range() {
    let (o, t) = check("misc");
    for op in ["BROADCAST_TO", "BATCH_MATMUL", "SELECT", "SELECT_V2", "CAST", "GREATER"] {
        assert_eq!(count(&o, op), count(&t, op), "{op} count");
    }
    assert!(o.len() <= t.len(), "{} ops, TF has {}", o.len(), t.len());
}

#[test]
fn hard_swish_and_pad_folding() {
    let (o, t) = check("hardswish_pad");
    assert_eq!(o, t);
    assert_eq!(count(&o, "DIV"), 0);
}

#[test]
fn mobilenet_v3_small_op_coverage() {
    let (o, t) = check("mnv3_small");
    for op in ["HARD_SWISH", "PAD", "DIV", "CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "ADD"] {
        assert_eq!(count(&o, op), count(&t, op), "{op} count");
    }
    assert_eq!(o.len(), t.len());
}

/// A one-line `error:` from converting a hand-built graph.
fn convert_error(nodes: Vec<tflq::graphdef::proto::NodeDef>) -> String {
    use tflq::graphdef::proto::GraphDef;
    let dir = tempfile::Builder::new().prefix("tflq-tf2-err-").tempdir().unwrap();
    let pb = dir.path().join("g.pb");
    let g = GraphDef { node: nodes, versions: None, version: 0, library: None };
    std::fs::write(&pb, prost::Message::encode_to_vec(&g)).unwrap();
    let out = dir.path().join("o.tflite");
    let res = common::tflq(["convert".as_ref(), pb.as_os_str(), "-o".as_ref(), out.as_os_str()]);
    assert_eq!(res.status.code(), Some(1));
    assert!(!out.exists());
    String::from_utf8_lossy(&res.stderr).into_owned()
}

fn nd(
    name: &str,
    op: &str,
    inputs: &[&str],
    attrs: Vec<(&str, tflq::graphdef::proto::attr_value::Value)>,
) -> tflq::graphdef::proto::NodeDef {
    use tflq::graphdef::proto::{AttrValue, NodeDef};
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        device: String::new(),
        attr: attrs.into_iter().map(|(k, v)| (k.to_string(), AttrValue { value: Some(v) })).collect(),
    }
}

fn ph(name: &str, shape: &[i64]) -> tflq::graphdef::proto::NodeDef {
    use tflq::graphdef::proto::{attr_value::Value, Dim, TensorShapeProto};
    let dim = shape.iter().map(|&d| Dim { size: d, name: String::new() }).collect();
    nd(
        name,
        "Placeholder",
        &[],
        vec![("dtype", Value::Type(1)), ("shape", Value::Shape(TensorShapeProto { dim, unknown_rank: false }))],
    )
}

#[test]
fn unsupported_einsum_and_lone_erf_are_clear_errors() {
    use tflq::graphdef::proto::attr_value::Value;
    let eq = |s: &str| ("equation", Value::S(s.as_bytes().to_vec().into()));
    // A trace-like equation (label summed over one operand) names the equation.
    let e =
        convert_error(vec![ph("a", &[2, 3]), ph("b", &[3, 4]), nd("e", "Einsum", &["a", "b"], vec![eq("ij,jk->k")])]);
    assert!(e.contains("Einsum equation \"ij,jk->k\" is not supported"), "{e}");
    let e = convert_error(vec![
        ph("a", &[2, 3]),
        ph("b", &[3, 4]),
        nd("e", "Einsum", &["a", "b"], vec![eq("...j,jk->...k")]),
    ]);
    assert!(e.contains("ellipsis"), "{e}");
    // Erf that is not part of a GELU.
    let e = convert_error(vec![ph("x", &[2, 3]), nd("erf", "Erf", &["x"], vec![])]);
    assert!(e.lines().count() == 1 && e.contains("Erf/Erfc (erf)") && e.contains("no ERF builtin"), "{e}");
}

#[test]
fn einsum_tf_keras_equations() {
    let (o, t) = check("einsum_keras2");
    for op in ["FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE", "RESHAPE"] {
        assert_eq!(count(&o, op), count(&t, op), "{op} count");
    }
    assert_eq!(o.len(), t.len());
}

#[test]
fn garbage_tf2_graphs_never_panic() {
    // Byte flips and truncations of the tf2ops graphs: errors, never panics.
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let opts = tflq::graphdef::ImportOptions::default();
    for name in ["einsum_mha", "einsum_raw", "einsum_keras2", "gelu", "misc", "hardswish_pad"] {
        let seed = std::fs::read(fixture(&format!("{name}.pb"))).unwrap();
        for round in 0..60 {
            let mut data = seed.clone();
            if round % 3 == 0 {
                data.truncate(next() as usize % data.len());
            } else {
                for _ in 0..1 + next() % 4 {
                    let i = next() as usize % data.len();
                    data[i] ^= 1 << (next() % 8);
                }
            }
            let _ = tflq::graphdef::import(&data, &opts);
        }
    }
}

#[test]
fn constant_erf_and_erfc_fold() {
    use tflq::graphdef::proto::{attr_value::Value, Dim, GraphDef, TensorProto, TensorShapeProto};
    let shape = TensorShapeProto { dim: vec![Dim { size: 2, name: String::new() }], unknown_rank: false };
    let t = TensorProto { dtype: 1, tensor_shape: Some(shape), float_val: vec![0.5, -1.0], ..Default::default() };
    let g = GraphDef {
        node: vec![
            nd("c", "Const", &[], vec![("value", Value::Tensor(t)), ("dtype", Value::Type(1))]),
            nd("e", "Erf", &["c"], vec![]),
            nd("ec", "Erfc", &["c"], vec![]),
        ],
        versions: None,
        version: 0,
        library: None,
    };
    let opts =
        tflq::graphdef::ImportOptions { output_arrays: Some(vec!["e".into(), "ec".into()]), ..Default::default() };
    let m = tflq::graphdef::import(&prost::Message::encode_to_vec(&g), &opts).unwrap();
    let sg = &m.subgraphs[0];
    let vals = |k: usize| -> Vec<f32> {
        let b = &m.buffers[sg.tensors[sg.outputs[k] as usize].buffer as usize];
        b.data.as_bytes().chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    };
    let near = |a: &[f32], b: &[f64]| a.iter().zip(b).all(|(&x, &y)| (x as f64 - y).abs() < 1e-7);
    assert!(near(&vals(0), &[0.520_499_877_813_046_5, -0.842_700_792_949_714_9]), "{:?}", vals(0));
    assert!(near(&vals(1), &[0.479_500_122_186_954, 1.842_700_792_949_715]), "{:?}", vals(1));
}

#[test]
fn keras_activations() {
    let (o, t) = check("activations");
    let mut a = o.clone();
    let mut b = t.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same ops as TF's, in any order");
}

#[test]
fn keras_text_encoder() {
    // Embedding (GatherV2 with Keras's negative-index SelectV2), LayerNormalization,
    // MultiHeadAttention, Dense+GELU on rank-3 inputs (keep_num_dims), softmax head.
    let (o, t) = check("transformer");
    let mut a = o.clone();
    let mut b = t.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same ops as TF's, in any order");
}

#[test]
fn keras_vision_layers() {
    // TF keeps SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND (and a bias ADD) around Keras 3's
    // dilated convolutions; tflq folds the pattern into the convolution's dilation.
    let (o, t) = check("keras_layers");
    let dilation = ["SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"];
    for op in &t {
        if !dilation.contains(&op.as_str()) {
            assert!(o.contains(op), "{op} missing");
        }
    }
    for op in ["TILE", "RESHAPE", "PAD", "CONV_2D", "TRANSPOSE_CONV", "STRIDED_SLICE", "CONCATENATION"] {
        assert_eq!(count(&o, op), count(&t, op), "{op} count");
    }
    assert!(o.iter().all(|op| !dilation.contains(&op.as_str())));
    assert!(o.len() < t.len(), "{} ops, TF has {}", o.len(), t.len());
}
