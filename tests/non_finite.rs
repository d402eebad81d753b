//! Values that have no integer form (±Inf, NaN, near ±3.4e38, f64 beyond f32, denormals only)
//! in weights or calibration data: the full-integer modes refuse them, naming the tensor, or
//! clamp as TF does; they never write an Inf, NaN or zero scale. And 16x8 FULLY_CONNECTED
//! without options gets the options LiteRT's prepare reads.

mod common;

use common::*;
use std::path::Path;
use std::sync::Arc;
use tflq::ir::Source;
use tflq::schema::BuiltinOptionsT;
use tflq::tflite::writer::write_unchecked;
use tflq::tflite::{read, WriteOptions};

fn calib(dir: &Path, name: &str, f: impl Fn(usize, f32) -> f32) -> std::path::PathBuf {
    let (_, shape, _) = read_npy(&testdata("cnn.calib.npy"));
    let x = read_npy_f32(&testdata("cnn.calib.npy"));
    let y: Vec<f32> = x.iter().enumerate().map(|(i, &v)| f(i, v)).take(8 * x.len() / shape[0]).collect();
    let p = dir.join(name);
    let mut s = shape.clone();
    s[0] = 8;
    write_npy_f32(&p, &s, &y);
    p
}

fn convert(model: &Path, data: &Path, mode: &str, out: &Path) -> std::process::Output {
    tflq([
        "convert".as_ref(),
        model.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--quantize".as_ref(),
        mode.as_ref(),
        "--calibration-data".as_ref(),
        data.as_os_str(),
    ])
}

#[test]
fn infinite_calibration_data_is_refused_with_the_tensor_named() {
    let dir = tempfile::tempdir().unwrap();
    for (name, v) in [("inf", f32::INFINITY), ("big", 3.4e38), ("nan_then_inf", f32::NEG_INFINITY), ("nan", f32::NAN)] {
        let data = calib(dir.path(), &format!("{name}.npy"), |i, x| if i == 5 { v } else { x });
        for mode in ["int8", "int16x8"] {
            let out = dir.path().join(format!("{name}.{mode}.tflite"));
            let r = convert(&testdata("cnn.tflite"), &data, mode, &out);
            let err = String::from_utf8_lossy(&r.stderr);
            if r.status.success() {
                // A huge but finite value may still give finite scales: the output must load.
                oracle(["run".as_ref(), "--out".as_ref(), dir.path().join("o").as_os_str(), out.as_os_str()]);
                continue;
            }
            assert_eq!(r.status.code(), Some(1), "{name} {mode}: {err}");
            assert!(err.contains("tensor") && err.lines().count() == 1 && err.len() < 300, "{name} {mode}: {err}");
            assert!(!out.exists());
        }
    }
}

#[test]
fn denormal_only_data_gets_a_usable_scale() {
    let dir = tempfile::tempdir().unwrap();
    let data = calib(dir.path(), "denormal.npy", |i, _| if i % 2 == 0 { 1e-40 } else { 0.0 });
    for mode in ["int8", "int16x8"] {
        let out = dir.path().join(format!("denormal.{mode}.tflite"));
        tflq_ok([
            "convert".as_ref(),
            testdata("cnn.tflite").as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--quantize".as_ref(),
            mode.as_ref(),
            "--calibration-data".as_ref(),
            data.as_os_str(),
        ]);
        let m = tflq::load(&out).unwrap();
        for t in m.subgraphs.iter().flat_map(|s| &s.tensors) {
            for &s in t.quantization.as_ref().map_or(&[][..], |q| q.scales()) {
                assert!(s.is_normal() && s > 0.0, "{mode}: tensor {} has scale {s}", t.name());
            }
        }
        oracle(["run".as_ref(), "--out".as_ref(), dir.path().join("o").as_os_str(), out.as_os_str()]);
    }
}

#[test]
fn float64_data_beyond_float32_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut shape, _) = read_npy(&testdata("cnn.calib.npy"));
    shape[0] = 2;
    let n: usize = shape.iter().product();
    let bytes: Vec<u8> = (0..n).flat_map(|i| if i == 3 { 1e300f64 } else { 0.5 }.to_le_bytes()).collect();
    let data = dir.path().join("f64.npy");
    write_npy(&data, "<f8", &shape, &bytes);
    let out = dir.path().join("f64.tflite");
    let r = convert(&testdata("cnn.tflite"), &data, "int8", &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.lines().count() == 1 && err.len() < 300, "{err}");
    assert!(!out.exists());
}

#[test]
fn infinite_weights_are_refused_in_the_integer_modes() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = tflq::load(&testdata("cnn.tflite")).unwrap();
    let w = m.subgraphs[0].operators[0].inputs[1] as usize;
    let b = m.subgraphs[0].tensors[w].buffer as usize;
    let mut bytes = m.buffers[b].data.as_bytes().to_vec();
    bytes[..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    m.buffers[b].data = tflq::ir::Data::from(bytes);
    let model = dir.path().join("inf_weights.tflite");
    std::fs::write(&model, write_unchecked(&m, &WriteOptions::default()).unwrap()).unwrap();
    for mode in ["int8", "int16x8"] {
        let out = dir.path().join(format!("o.{mode}.tflite"));
        let r = convert(&model, &testdata("cnn.calib.npy"), mode, &out);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{mode}: {err}");
        assert!(err.contains("inf") && err.contains("tensor"), "{mode}: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn int16x8_fully_connected_without_options_passes_prepare() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = read(Arc::new(Source::Owned(std::fs::read(testdata("mlp.tflite")).unwrap()))).unwrap();
    for op in &mut m.subgraphs[0].operators {
        op.builtin_options = BuiltinOptionsT::NONE;
    }
    let model = dir.path().join("fc_no_options.tflite");
    std::fs::write(&model, tflq::tflite::write(&m, &WriteOptions::default()).unwrap()).unwrap();
    let data = dir.path().join("x.npy");
    let x: Vec<f32> = (0..8 * 64).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
    write_npy_f32(&data, &[8, 64], &x);
    let out = dir.path().join("fc.int16x8.tflite");
    let r = convert(&model, &data, "int16x8", &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    oracle(["run".as_ref(), "--out".as_ref(), dir.path().join("o").as_os_str(), out.as_os_str()]);
}

/// int8 weights whose channel rescale (input scale × weight scale / output scale) falls outside
/// XNNPACK's [2^-32, 256): a FULLY_CONNECTED scaled by 1e-6 with one all-zero channel (scale 1,
/// against a tiny output scale), and a convolution channel of weights near 1e-30. The
/// quantizer keeps each channel's scale within the bounds, so LiteRT loads and runs the output.
#[test]
fn weight_scales_stay_within_the_delegates_rescale_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = tflq::load(&testdata("cnn.tflite")).unwrap();
    let sg = &m.subgraphs[0];
    let fc = sg.operators.iter().find(|o| m.operator_codes[o.opcode_index as usize].name() == "FULLY_CONNECTED");
    let fc_w = fc.unwrap().inputs[1] as usize;
    let fc_row = sg.tensors[fc_w].shape()[1] as usize;
    let conv_w = sg.operators[0].inputs[1] as usize;
    let conv_row: usize = sg.tensors[conv_w].shape()[1..].iter().map(|&d| d as usize).product();
    type Edit = fn(usize, usize, f32) -> f32;
    let edits: [(usize, Edit, usize); 2] = [
        (fc_w, |i, row, w| if i < row { 0.0 } else { w * 1e-6 }, fc_row),
        (conv_w, |i, row, w| if i < row { 1e-30 } else { w }, conv_row),
    ];
    for (t, edit, row) in edits {
        let b = m.subgraphs[0].tensors[t].buffer as usize;
        let values: Vec<u8> = m.buffers[b]
            .data
            .as_bytes()
            .chunks(4)
            .enumerate()
            .flat_map(|(i, c)| edit(i, row, f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
            .collect();
        m.buffers[b].data = tflq::ir::Data::from(values);
    }
    let model = dir.path().join("extreme_weights.tflite");
    std::fs::write(&model, write_unchecked(&m, &WriteOptions::default()).unwrap()).unwrap();
    let out = dir.path().join("o.int8.tflite");
    let r = convert(&model, &testdata("cnn.calib.npy"), "int8", &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    oracle(["run".as_ref(), "--out".as_ref(), dir.path().join("o").as_os_str(), out.as_os_str()]);
}
