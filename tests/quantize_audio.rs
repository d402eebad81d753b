//! 16x8 against int8 on audio front ends: with the same calibration samples, int16
//! activations must never come out less accurate than int8 ones (SQNR against the float
//! model, both run in LiteRT's built-in kernels on held-out inputs).

mod common;

use common::*;

fn int16x8_not_below_int8(float: &std::path::Path, calib: &std::path::Path, test_x: &std::path::Path) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for mode in ["int8", "int16x8"] {
        let out = dir.path().join(format!("{mode}.tflite"));
        tflq!("convert", float, "-o", out, "--quantize", mode, "--calibration-data", calib);
        outs.push(out);
    }
    let inputs = samples(test_x, dir.path());
    let s = sqnrs(float, &[&outs[0], &outs[1]], &inputs, dir.path());
    eprintln!("{}: int8 {:.2} dB, int16x8 {:.2} dB", name(float), s[0], s[1]);
    assert!(s[1] >= s[0], "{}: int16x8 {:.2} dB below int8 {:.2} dB", name(float), s[1], s[0]);
    (s[0], s[1])
}

#[test]
fn int16x8_is_not_below_int8_on_a_log_magnitude_spectrogram() {
    // MIRROR_PAD, STRIDED_SLICE/PACK framing, DFT matmuls, SQUARE, SQRT, LOG, REDUCE_MAX, NEG.
    let (a, b) = int16x8_not_below_int8(
        &testdata("audio/logspec.tflite"),
        &testdata("audio/logspec.calib.npy"),
        &testdata("audio/logspec.test_x.npy"),
    );
    assert!(a > 10.0 && b > 10.0, "{a} {b}");
}
