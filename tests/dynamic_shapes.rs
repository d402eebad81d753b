//! Models whose inputs leave dimensions open (shape signature -1): calibration takes each
//! sample at its own size, `--input-shapes` fixes the open dimensions of a `.tflite`, the
//! written model keeps its signature, and bad shapes get errors that name the input.

mod common;

use common::*;
use std::path::Path;
use tflq::calibrate::data::{load_samples, ImageOptions};

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The input shapes the report says calibration ran at.
fn shapes(r: &serde_json::Value) -> Vec<Vec<u64>> {
    let shapes = &r["calibration"]["input_shapes"]["serving_default_image:0"];
    shapes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect())
        .collect()
}

#[test]
fn calibrates_on_samples_of_two_sizes_and_keeps_the_signature() {
    let dir = tempfile::tempdir().unwrap();
    let float = testdata("dynamic_hw.tflite");
    let (a, b) = (testdata("calib/dynamic_24x32.npz"), testdata("calib/dynamic_40x40.npz"));
    let out = dir.path().join("int8.tflite");
    let rep = dir.path().join("r.json");
    tflq!(
        "convert",
        float,
        "-o",
        out,
        "--quantize",
        "int8",
        "--calibration-data",
        a,
        "--calibration-data",
        b,
        "--report",
        rep
    );
    let r = report(&rep);
    assert_eq!(r["calibration"]["samples"], 12);
    assert_eq!(shapes(&r), [[1, 24, 32, 3], [1, 40, 40, 3]]);
    let model = tflq::load(&out).unwrap();
    let sg = &model.subgraphs[0];
    let input = &sg.tensors[sg.inputs[0] as usize];
    assert_eq!(input.shape_signature.as_deref(), Some(&[-1, -1, -1, 3][..]));
    // The official interpreter runs it at both sizes, close to the float model.
    let float_model = tflq::load(&float).unwrap();
    let specs = tflq::calibrate::input_specs(&float_model, None).unwrap();
    for (k, data) in [a, b].iter().enumerate() {
        let samples = load_samples(std::slice::from_ref(data), &specs, Some(3), &ImageOptions::default()).unwrap();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        for (i, s) in samples.iter().enumerate() {
            let (shape, values) = &s.inputs[0];
            let tflq::calibrate::data::SampleValues::F32(v) = values else { panic!("float input") };
            let d = dir.path().join(format!("in-{k}-{i}"));
            std::fs::create_dir_all(&d).unwrap();
            write_npy_f32(&d.join("input_0.npy"), shape, v);
            let o = dir.path().join(format!("out-{k}-{i}"));
            oracle!("run", "--inputs", d, "--out", o, float, out);
            want.extend(read_npy_f32(&o.join("m0/output_0.f32.npy")));
            got.extend(read_npy_f32(&o.join("m1/output_0.f32.npy")));
        }
        let db = sqnr_db(&want, &got);
        eprintln!("{}: int8 SQNR {db:.1} dB", name(data));
        assert!(db >= 25.0, "{}: SQNR {db:.1} dB", name(data));
    }
}

#[test]
fn images_keep_their_own_size_unless_input_shapes_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let float = testdata("dynamic_hw.tflite");
    let images = testdata("calib/mixed_images");
    let rep = dir.path().join("r.json");
    let out = dir.path().join("a.tflite");
    tflq!("convert", float, "-o", out, "--quantize", "int8", "--calibration-data", images, "--report", rep);
    assert_eq!(shapes(&report(&rep)), [[1, 24, 40, 3], [1, 16, 16, 3], [1, 8, 8, 3]]);
    tflq!(
        "convert",
        float,
        "-o",
        out,
        "--quantize",
        "int8",
        "--calibration-data",
        images,
        "--input-shapes",
        "1,40,48,3",
        "--report",
        rep
    );
    assert_eq!(shapes(&report(&rep)), [[1, 40, 48, 3]]);
    // The model itself is unchanged: its input still takes any height and width.
    let model = tflq::load(&out).unwrap();
    let sg = &model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0] as usize].shape_signature.as_deref(), Some(&[-1, -1, -1, 3][..]));
}

/// Runs a conversion that must fail with one line naming `needles`, writing nothing.
fn refused(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tflite");
    let mut all: Vec<std::ffi::OsString> =
        vec!["convert".into(), testdata("dynamic_hw.tflite").into(), "-o".into(), out.clone().into()];
    all.extend(args.iter().map(|a| a.into()));
    let r = tflq(&all);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err} lacks {n:?}");
    }
    assert!(!out.exists());
}

#[test]
fn bad_shapes_are_refused_with_the_input_and_its_signature() {
    let images = testdata("calib/mixed_images");
    let images = images.to_str().unwrap();
    let int8 = ["--quantize", "int8", "--calibration-data", images];
    let with = |extra: &[&'static str]| [&int8[..], extra].concat();
    // A fixed dimension cannot change, and the rank must match.
    refused(&with(&["--input-shapes", "1,40,48,4"]), &["serving_default_image:0", "[-1,-1,-1,3]", "[1,40,48,4]"]);
    refused(&with(&["--input-shapes", "1,40,48"]), &["[-1,-1,-1,3]", "[1,40,48]"]);
    refused(&with(&["--input-shapes", "1,0,48,3"]), &["[1,0,48,3]"]);
    refused(&with(&["--input-shapes", "1,40,48,3:1,4"]), &["2 shapes", "1 inputs"]);
    // Samples whose fixed dimension differs from the signature's.
    let npy = testdata("cnn.test_y.npy");
    refused(
        &["--quantize", "int8", "--calibration-data", npy.to_str().unwrap()],
        &["serving_default_image:0", "-1 is any size"],
    );
    // Flags that mean nothing for a .tflite.
    refused(&["--quantize", "dynamic", "--input-shapes", "1,40,48,3"], &["--input-shapes", "int8"]);
    refused(&["--input-arrays", "x"], &["--input-arrays"]);
}
