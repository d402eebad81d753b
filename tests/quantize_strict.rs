//! `--strict --input-type int8 --output-type int8` on models TF 2.21 converts integer-only
//! (testdata/strict/, see testdata/README.md): a MobileNetV3-style classifier, a transformer
//! encoder block and a Conv2DTranspose decoder. tflq must convert each, write the op versions
//! TF writes, keep float only what TF keeps float, and come within 1 dB of the SQNR of TF's
//! own integer-only model, both run in LiteRT against the float model on held-out inputs.

mod common;

use common::*;
use tflq::ir::Model;

/// (op name, version) of every operator of subgraph 0, sorted.
fn op_versions(m: &Model) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = m.subgraphs[0]
        .operators
        .iter()
        .map(|o| {
            let c = &m.operator_codes[o.opcode_index as usize];
            (c.name(), c.version)
        })
        .collect();
    v.sort();
    v
}

fn strict_like_tf(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let float = testdata(&format!("strict/{name}.tflite"));
    let tf = testdata(&format!("strict/{name}.tf_int8io.tflite"));
    let ours = dir.path().join(format!("{name}.int8io.tflite"));
    let report = dir.path().join("report.json");
    let calib = testdata(&format!("strict/{name}.calib.npy"));
    tflq!(
        "convert",
        float,
        "-o",
        ours,
        "--quantize",
        "int8",
        "--input-type",
        "int8",
        "--output-type",
        "int8",
        "--strict",
        "--calibration-data",
        calib,
        "--report",
        report
    );
    let (ours_m, tf_m) = (tflq::load(&ours).unwrap(), tflq::load(&tf).unwrap());
    assert_eq!(op_versions(&ours_m), op_versions(&tf_m), "{name}: ops and versions differ from TF's");
    // Only what TF's integer-only conversion keeps float too (NEG) stays float.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for f in v["float_ops"].as_array().unwrap() {
        assert_eq!(f["op"], "NEG", "{name}: {f}");
        assert!(f["reason"].as_str().unwrap().contains("TF"), "{name}: {f}");
    }
    let inputs = samples(&testdata(&format!("strict/{name}.test_x.npy")), dir.path());
    let s = sqnrs(&float, &[&ours, &tf], &inputs, dir.path());
    eprintln!("{name}: SQNR tflq {:.2} dB, TF {:.2} dB", s[0], s[1]);
    assert!(s[0] >= s[1] - 1.0, "{name}: SQNR {:.2} dB vs TF's {:.2} dB", s[0], s[1]);
}

#[test]
fn mobilenet_v3_blocks_convert_strictly_like_tf() {
    strict_like_tf("mnv3");
}

#[test]
fn transformer_encoder_block_converts_strictly_like_tf() {
    strict_like_tf("encoder");
}

#[test]
fn conv2d_transpose_decoder_converts_strictly_like_tf() {
    strict_like_tf("deconv");
}
