//! What the whole-path fuzz targets check, shared with the test that replays their seeds and
//! every crash they found (`tests/fuzz_regressions.rs`). Each function takes any bytes: an
//! error is fine, a panic or an invalid output is a finding (it panics with what broke).

use crate::calibrate::data::{open_samples, ImageOptions, InputSpec, SampleType};
use crate::calibrate::{self, Method};
use crate::graphdef::{self, ImportOptions};
use crate::ir::{Model, Source};
use crate::quantize::full_integer::{Activations, IntegerOptions, IoType};
use crate::quantize::{quantize_weights, WeightMode, WeightOptions};
use crate::tflite::{read, write, WriteOptions};
use std::path::PathBuf;
use std::sync::Arc;

/// Calibration inputs larger than this are not tried (the fuzzer wants many runs per second).
const MAX_SAMPLE_ELEMENTS: usize = 1 << 16;

/// The memory budget the whole-path checks run under: far below the fuzzer's 2 GB RSS limit,
/// so a run that stays under it shows every allocation was checked, and a model that asks for
/// a lot is refused in milliseconds rather than computed for seconds.
pub const FUZZ_BUDGET: u64 = 256 << 20;

fn fuzz_budget() {
    crate::ir::budget::set_max_bytes(FUZZ_BUDGET);
}

/// A written model must read back and write again to the same bytes.
fn assert_round_trip(model: &Model, what: &str) {
    let Ok(bytes) = write(model, &WriteOptions::default()) else { return };
    let again = read(Arc::new(Source::Owned(bytes.clone())))
        .unwrap_or_else(|e| panic!("{what}: the written model does not read back: {e}"));
    let rewritten = write(&again, &WriteOptions::default())
        .unwrap_or_else(|e| panic!("{what}: the re-read model does not pass the output gate: {e}"));
    assert!(bytes == rewritten, "{what}: write → read → write changed the bytes");
}

/// `.tflite` bytes through every mode: weight modes, and int8 / int16x8 calibrated on two
/// generated samples when the model has one small float input.
pub fn tflite_every_mode(data: &[u8]) {
    fuzz_budget();
    let Ok(model) = read(Arc::new(Source::Owned(data.to_vec()))) else { return };
    let opts = WeightOptions { min_weight_elements: 16, per_tensor: false };
    for mode in [WeightMode::Dynamic, WeightMode::Float16, WeightMode::WeightInt8] {
        let mut m = model.clone();
        if quantize_weights(&mut m, mode, &opts).is_ok() {
            assert_round_trip(&m, "weight mode");
        }
    }
    let Some(npy) = samples_for(&model) else { return };
    for activations in [Activations::Int8, Activations::Int16] {
        let mut m = model.clone();
        let int = IntegerOptions {
            activations,
            input_type: IoType::Float32,
            output_type: IoType::Float32,
            per_tensor: false,
            strict: false,
            loop_activations: None,
        };
        let Ok(specs) = calibrate::input_specs(&m, None) else { return };
        let Ok(samples) = open_samples(std::slice::from_ref(&npy.0), &specs, None, &ImageOptions::default()) else {
            return;
        };
        if super::quantize_calibrated(&mut m, &samples, &int, Method::MinMax, &|_| {}).is_ok() {
            assert_round_trip(&m, "full-integer mode");
        }
    }
}

/// A temporary `.npy` of two samples for a model with one small float input; removed on drop.
struct TempNpy(PathBuf);

impl Drop for TempNpy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn samples_for(model: &Model) -> Option<TempNpy> {
    let specs = calibrate::input_specs(model, None).ok()?;
    let [spec] = specs.as_slice() else { return None };
    if spec.dtype != SampleType::F32 {
        return None;
    }
    let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(1)).collect();
    let n: usize = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
    if n == 0 || n > MAX_SAMPLE_ELEMENTS {
        return None;
    }
    let dims: Vec<String> = std::iter::once(2).chain(shape.iter().copied()).map(|d| d.to_string()).collect();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", dims.join(", "));
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for i in 0..2 * n {
        let v = ((i * 7919) % 201) as f32 / 100.0 - 1.0;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let path =
        std::env::temp_dir().join(format!("tflq-fuzz-{}-{:?}.npy", std::process::id(), std::thread::current().id()));
    std::fs::write(&path, bytes).ok()?;
    Some(TempNpy(path))
}

/// Frozen GraphDef bytes through the importer; what it accepts must pass the output gate and
/// round-trip.
pub fn graphdef_import(data: &[u8]) {
    fuzz_budget();
    if let Ok(model) = graphdef::import(data, &ImportOptions::default()) {
        assert_round_trip(&model, "imported GraphDef");
    }
}

/// Calibration data bytes as a `.npy` and as a `.npz`, for a model input of 4 floats.
pub fn calibration_data(data: &[u8]) {
    fuzz_budget();
    let _ = crate::calibrate::npy::parse(data);
    let spec = InputSpec { name: "x".into(), shape: vec![Some(1), Some(4)], dtype: SampleType::F32, raw: None };
    for ext in ["npy", "npz"] {
        let path = std::env::temp_dir().join(format!(
            "tflq-fuzz-data-{}-{:?}.{ext}",
            std::process::id(),
            std::thread::current().id()
        ));
        if std::fs::write(&path, data).is_err() {
            continue;
        }
        if let Ok(set) =
            open_samples(std::slice::from_ref(&path), std::slice::from_ref(&spec), None, &ImageOptions::default())
        {
            for i in 0..set.len().min(64) {
                let _ = set.get(i);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}
