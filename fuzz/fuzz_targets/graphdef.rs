//! Fuzzes frozen GraphDef import: no panic, and an accepted graph passes the output gate and
//! round-trips (`tflq::pipeline::fuzz::graphdef_import`). `scripts/fuzz.sh graphdef` seeds it
//! with the committed .pb fixtures.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tflq::pipeline::fuzz::graphdef_import(data));
