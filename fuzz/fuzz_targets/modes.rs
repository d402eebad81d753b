//! Fuzzes a `.tflite` through every mode (dynamic, float16, weight-int8, int8 and int16x8
//! calibrated on generated samples): no panic, and any output passes the output gate and
//! round-trips (`tflq::pipeline::fuzz::tflite_every_mode`). `scripts/fuzz.sh modes` seeds it
//! with testdata/*.tflite.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tflq::pipeline::fuzz::tflite_every_mode(data));
