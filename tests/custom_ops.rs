//! The custom ops' kernels (`src/ops/mediapipe.rs`, `src/ops/detection.rs`) on the committed
//! single-op models of `testdata/custom_ops/`: against numpy references written from the ops'
//! published semantics (`generate.py` there), and TFLite_Detection_PostProcess also against
//! LiteRT, which registers it by default (MediaPipe's ops it cannot run). Bad options and
//! shapes must give errors that name the op.

mod common;

use common::{as_f32, npy_value, rel_diff, testdata};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use tflq::interp::{Interpreter, Value};

fn dir() -> PathBuf {
    testdata("custom_ops")
}

fn cases() -> Vec<Json> {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("testdata/custom_ops/cases.json");
    let v: Json = serde_json::from_str(&text).unwrap();
    v.as_array().unwrap().clone()
}

fn name(c: &Json) -> &str {
    c["name"].as_str().unwrap()
}

fn count(c: &Json, key: &str) -> usize {
    c[key].as_u64().unwrap() as usize
}

fn file(c: &Json, suffix: &str) -> PathBuf {
    dir().join(format!("{}{suffix}", name(c)))
}

fn inputs(c: &Json) -> Vec<Value> {
    (0..count(c, "inputs")).map(|i| npy_value(&file(c, &format!(".in{i}.npy")))).collect()
}

fn run(path: &Path, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let model = tflq::load(path).map_err(|e| e.to_string())?;
    Interpreter::new(&model, 0).and_then(|i| i.run(inputs)).map_err(|e| e.to_string())
}

#[test]
fn every_case_matches_its_numpy_reference() {
    let mut failures = Vec::new();
    let mut ops = std::collections::BTreeSet::new();
    let all = cases();
    assert!(all.len() >= 20, "{} cases", all.len());
    for c in &all {
        ops.insert(c["op"].as_str().unwrap().to_string());
        let got = match run(&file(c, ".tflite"), inputs(c)) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{}: {e}", name(c)));
                continue;
            }
        };
        if got.len() != count(c, "outputs") {
            failures.push(format!("{}: {} outputs, expected {}", name(c), got.len(), count(c, "outputs")));
            continue;
        }
        let exact: Vec<u64> = c["exact"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        for (j, g) in got.iter().enumerate() {
            let want = npy_value(&file(c, &format!(".out{j}.npy")));
            if g.shape != want.shape {
                failures.push(format!("{} output {j}: shape {:?}, expected {:?}", name(c), g.shape, want.shape));
                continue;
            }
            let (g, w) = (as_f32(g), as_f32(&want));
            if exact.contains(&(j as u64)) {
                let wrong = g.iter().zip(&w).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                eprintln!("{:32} output {j}: exact, {wrong} differ", name(c));
                if wrong > 0 {
                    failures.push(format!("{} output {j}: {wrong} of {} values differ", name(c), w.len()));
                }
            } else {
                let r = rel_diff(&g, &w);
                eprintln!("{:32} output {j}: max rel diff {r:.3e}", name(c));
                if r > 1e-5 {
                    failures.push(format!("{} output {j}: max rel diff {r:e}", name(c)));
                }
            }
        }
    }
    let want = [
        "Convolution2DTransposeBias",
        "Landmarks2TransformMatrix",
        "MaxPoolingWithArgmax2D",
        "MaxUnpooling2D",
        "TFLite_Detection_PostProcess",
        "TransformLandmarks",
        "TransformTensorBilinear",
    ];
    assert_eq!(ops.iter().map(String::as_str).collect::<Vec<_>>(), want);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The output slots the op writes: fast NMS fills `per_anchor` of each detection's K slots,
/// regular NMS the first `num` slots; LiteRT leaves the others as they were.
fn written(det: &Json, num: usize) -> Vec<usize> {
    let k = det["k"].as_u64().unwrap() as usize;
    let slots = det["max_detections"].as_u64().unwrap() as usize * k;
    let per_anchor = det["per_anchor"].as_u64().unwrap() as usize;
    let regular = det["regular"].as_bool().unwrap();
    (0..slots).filter(|&s| if regular { s < num } else { s / k < num && s % k < per_anchor }).collect()
}

#[test]
fn detection_postprocess_matches_litert() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.get("detection").is_some()) {
        let d = tmp.path().join(name(c));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..count(c, "inputs") {
            std::fs::copy(file(c, &format!(".in{i}.npy")), d.join(format!("input_{i}.npy"))).unwrap();
        }
        let model = file(c, ".tflite");
        oracle!("run", "--inputs", d, "--out", d, model);
        let got = run(&model, inputs(c)).unwrap_or_else(|e| panic!("{}: {e}", name(c)));
        let theirs: Vec<Vec<f32>> = (0..4).map(|j| as_f32(&npy_value(&d.join(format!("m0/output_{j}.npy"))))).collect();
        let ours: Vec<Vec<f32>> = got.iter().map(as_f32).collect();
        let num = theirs[3][0] as usize;
        if ours[3] != theirs[3] {
            failures.push(format!("{}: {} detections, LiteRT {num}", name(c), ours[3][0]));
            continue;
        }
        let slots = written(&c["detection"], num);
        let pick = |v: &[f32], width: usize| -> Vec<f32> {
            slots.iter().flat_map(|&s| v[s * width..(s + 1) * width].to_vec()).collect()
        };
        let boxes = rel_diff(&pick(&ours[0], 4), &pick(&theirs[0], 4));
        let scores = rel_diff(&pick(&ours[2], 1), &pick(&theirs[2], 1));
        let classes_equal = pick(&ours[1], 1) == pick(&theirs[1], 1);
        eprintln!(
            "{:32} {num} detections, {} slots: boxes {boxes:.3e}, scores {scores:.3e}, classes {}",
            name(c),
            slots.len(),
            if classes_equal { "equal" } else { "DIFFER" }
        );
        if boxes > 1e-5 || scores > 1e-5 || !classes_equal {
            failures.push(format!("{}: boxes {boxes:e}, scores {scores:e}, classes equal {classes_equal}", name(c)));
        }
        for (j, o) in got.iter().enumerate() {
            let shape = npy_value(&d.join(format!("m0/output_{j}.npy"))).shape;
            if o.shape != shape {
                failures.push(format!("{} output {j}: shape {:?}, LiteRT {shape:?}", name(c), o.shape));
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "{checked} detection cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The model of case `case`, changed by `edit`, saved in `tmp`.
fn edited(tmp: &Path, case: &str, tag: &str, edit: impl FnOnce(&mut tflq::Model)) -> PathBuf {
    let mut model = tflq::load(&dir().join(format!("{case}.tflite"))).unwrap();
    edit(&mut model);
    let path = tmp.join(format!("{case}.{tag}.tflite"));
    tflq::save(&model, &path, &Default::default()).unwrap();
    path
}

fn raw(fields: &[i32]) -> Vec<u8> {
    fields.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Options from `bad_options.json` (written by generate.py).
fn bad(key: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir().join("bad_options.json")).unwrap();
    let v: Json = serde_json::from_str(&text).unwrap();
    let hex = v[key].as_str().unwrap_or_else(|| panic!("no {key} in bad_options.json"));
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

type Edit = Box<dyn FnOnce(&mut tflq::Model)>;

fn options(bytes: Vec<u8>) -> Edit {
    Box::new(move |m| m.subgraphs[0].operators[0].custom_options = Some(bytes.into()))
}

/// Gives tensor `t` shape `shape`.
fn reshape(t: usize, shape: &[i32]) -> Edit {
    let shape = shape.to_vec();
    Box::new(move |m| m.subgraphs[0].tensors[t].shape = Some(shape))
}

/// A case's input `i` with the shape `shape` (same values, or the first ones).
fn input_as(case: &str, i: usize, shape: &[usize]) -> Vec<Value> {
    let c = cases().into_iter().find(|c| name(c) == case).unwrap();
    let mut ins = inputs(&c);
    let n = shape.iter().product();
    if let tflq::interp::Values::F32(v) = &mut ins[i].values {
        *v = v[..n].to_vec().into();
    }
    ins[i].shape = shape.to_vec();
    ins
}

/// (case, tag, edit, inputs to run (None: the error comes when the model is prepared), words
/// the error must contain).
type BadCase = (&'static str, &'static str, Edit, Option<Vec<Value>>, &'static [&'static str]);

#[test]
fn bad_options_and_shapes_are_errors_that_name_the_op() {
    let tmp = tempfile::tempdir().unwrap();
    let mut unpool_far = input_as("unpool_f2_s2", 1, &[1, 3, 4, 3]);
    if let tflq::interp::Values::F32(v) = &mut unpool_far[1].values {
        v[7] = 40.1;
    }
    let edits: Vec<BadCase> = vec![
        (
            "tconv_same_s2_k3",
            "short",
            options(raw(&[1, 2])),
            None,
            &["Convolution2DTransposeBias", "at least 12 bytes, got 8"],
        ),
        ("tconv_same_s2_k3", "padding", options(raw(&[0, 2, 2])), None, &["unknown padding 0"]),
        ("tconv_same_s2_k3", "stride", options(raw(&[1, 0, 2])), None, &["stride_w must be positive"]),
        (
            "argmax_same_f3_s2",
            "filter",
            options(raw(&[1, 2, 2, 3, 0, 0])),
            None,
            &["MaxPoolingWithArgmax2D", "filter_h"],
        ),
        ("argmax_same_f3_s2", "activation", options(raw(&[1, 2, 2, 3, 3, 9])), None, &["fused activation 9"]),
        ("unpool_f2_s2", "short", options(raw(&[1, 2, 2, 2, 2])), None, &["MaxUnpooling2D", "TfLitePoolParams"]),
        (
            "unpool_f2_s2",
            "far index",
            options(raw(&[1, 2, 2, 2, 2, 0])),
            Some(unpool_far),
            &["MaxUnpooling2D", "40.1", "outside"],
        ),
        (
            "ttb_v2_shape_from_options",
            "no size",
            options(Vec::new()),
            None,
            &["TransformTensorBilinear", "no output size"],
        ),
        ("ttb_v1", "mode", options(bad("ttb_mode_nearest")), None, &["TransformTensorBilinear", "\"nearest\""]),
        ("ttb_v1", "size", options(bad("ttb_output_size_3")), None, &["output_size must have 2 values"]),
        (
            "ttb_v2",
            "channels",
            reshape(2, &[1, 6, 7, 5]),
            Some(input_as("ttb_v2", 0, &[1, 10, 12, 3])),
            &["5 channels"],
        ),
        (
            "tl_v1_d3_scale",
            "dimensions",
            options(bad("tl_dimensions_4")),
            None,
            &["TransformLandmarks", "2 or 3, got 4"],
        ),
        ("tl_v1_d3_scale", "scale", options(bad("tl_scale_0")), None, &["scale must not be 0"]),
        (
            "tl_v2_d3",
            "shape",
            reshape(0, &[1, 9, 5]),
            Some(input_as("tl_v2_d3", 0, &[1, 9, 5])),
            &["TransformLandmarks", "[1, N, 2 or 3]"],
        ),
        (
            "l2m_v2_odd_subset",
            "negative",
            options(bad("l2m_negative_index")),
            None,
            &["Landmarks2TransformMatrix", "negative, got -1"],
        ),
        ("l2m_v2_odd_subset", "scale", options(bad("l2m_scale_x_0")), None, &["scale_x and scale_y must be positive"]),
        ("l2m_v2_odd_subset", "empty", options(bad("l2m_empty_subset")), None, &["subset_idxs is empty"]),
        ("l2m_v2_odd_subset", "keys", options(bad("tl_scale_0")), None, &["option \"", "is missing"]),
        ("l2m_v2_odd_subset", "garbage", options(vec![7; 5]), None, &["Landmarks2TransformMatrix", "custom options"]),
        (
            "l2m_v2_odd_subset",
            "range",
            reshape(0, &[1, 10, 3]),
            Some(input_as("l2m_v2_odd_subset", 0, &[1, 10, 3])),
            &["landmark index 17 is out of range for 10 landmarks"],
        ),
        ("l2m_v1", "dimensions", options(bad("l2m_v1_dimensions_2")), None, &["dimensions must be 3"]),
        ("det_fast_bg", "iou", options(bad("det_iou_1_5")), None, &["TFLite_Detection_PostProcess", "(0, 1], got 1.5"]),
        ("det_fast_bg", "k", options(bad("det_k_0")), None, &["max_classes_per_detection must be at least 1"]),
        ("det_fast_bg", "dpc", options(bad("det_regular_dpc_0")), None, &["regular NMS needs"]),
        ("det_fast_bg", "type", options(bad("det_max_detections_string")), None, &["\"max_detections\"", "an int"]),
        ("det_fast_bg", "keys", options(bad("tl_scale_0")), None, &["option \"max_detections\" is missing"]),
        (
            "det_fast_bg",
            "anchors",
            reshape(2, &[20, 8]),
            Some(input_as("det_fast_bg", 0, &[1, 40, 4])),
            &["anchors must be [40, 4]"],
        ),
    ];
    let mut failures = Vec::new();
    for (case, tag, edit, ins, words) in edits {
        let path = edited(tmp.path(), case, tag, edit);
        let model = tflq::load(&path).unwrap();
        let result = Interpreter::new(&model, 0).map_err(|e| e.to_string()).and_then(|i| match ins {
            Some(ins) => i.run(ins).map(|_| ()).map_err(|e| e.to_string()),
            None => Err("prepared without an error".into()),
        });
        let msg = result.err().unwrap_or_else(|| "ran without an error".into());
        eprintln!("{case} ({tag}): {msg}");
        if msg.contains("without an error") || !words.iter().all(|w| msg.contains(w)) {
            failures.push(format!("{case} ({tag}): {msg}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_empty_batch_gives_empty_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    for (case, shape, out) in
        [("tconv_same_s2_k3", [0, 5, 6, 3], vec![0, 9, 12, 4]), ("argmax_same_f3_s2", [0, 7, 6, 3], vec![0, 4, 3, 3])]
    {
        let path = edited(tmp.path(), case, "empty", reshape(0, &shape));
        let x = Value {
            shape: shape.iter().map(|&d| d as usize).collect(),
            values: tflq::interp::Values::F32(vec![].into()),
        };
        let got = run(&path, vec![x]).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(got.iter().all(|v| v.shape == out && v.values.is_empty()), "{case}: {:?}", got[0].shape);
    }
}
