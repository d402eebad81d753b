//! Fuzzes calibration data parsing (`.npy` and `.npz`, headers, CRCs, inflation limits):
//! no panic, no unbounded allocation (`tflq::pipeline::fuzz::calibration_data`).
//! `scripts/fuzz.sh data` seeds it with testdata's .npy and .npz files.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tflq::pipeline::fuzz::calibration_data(data));
