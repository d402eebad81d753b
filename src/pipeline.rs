//! The pipeline on top of the library: load (a `.tflite` or a frozen GraphDef, told apart by
//! content) → fold → calibrate → quantize → write. The CLI runs these steps; each step's own
//! module knows nothing of the others.

pub mod compare;
pub mod exec;
#[doc(hidden)]
pub mod fuzz;
pub mod run;

use crate::calibrate::{self, data::SampleSet, CalibrateError, Grid, Method};
use crate::graphdef::{self, ImportError, ImportOptions};
use crate::ir::Model;
use crate::quantize::full_integer::{self, IntegerOptions};
use crate::quantize::{self, QuantizeError, Report};
use crate::savedmodel::{self, SavedModelError, SavedModelOptions};
use crate::tflite::{self, ReadError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    SavedModel(#[from] SavedModelError),
    #[error("{what}: tflq reads SavedModel directories; export one with `model.export(\"DIR\")` (Keras) or `tf.saved_model.save(obj, \"DIR\")` and pass DIR")]
    NotAModelFile { what: &'static str },
}

/// Why full-integer quantization failed.
#[derive(Debug, thiserror::Error)]
pub enum CalibratedError {
    #[error(transparent)]
    Quantize(#[from] QuantizeError),
    #[error(transparent)]
    Calibrate(#[from] CalibrateError),
}

/// Loads a model from a `.tflite`, a frozen GraphDef `.pb` (told apart by content) or a
/// SavedModel directory, with the importer's warnings (e.g. an unknown batch set to 1).
/// `saved.import` is ignored: `graph` is used for every importer.
pub fn load(path: &Path, graph: &ImportOptions, saved: &SavedModelOptions) -> Result<(Model, Vec<String>), LoadError> {
    if path.is_dir() {
        let opts = SavedModelOptions { import: graph.clone(), ..saved.clone() };
        return Ok(savedmodel::import_dir(path, &opts)?);
    }
    let source = tflite::reader::map_file(path)?;
    if let Some(what) = not_a_model_file(path, &source) {
        return Err(LoadError::NotAModelFile { what });
    }
    if has_tflite_identifier(&source) || !looks_like_graphdef(&source) {
        return Ok((tflite::read(source)?, Vec::new()));
    }
    Ok(graphdef::import_source(&source, graph)?)
}

/// Whether `head` (a file's first bytes) carries the `.tflite` file identifier `TFL3`.
pub fn has_tflite_identifier(head: &[u8]) -> bool {
    head.get(4..8) == Some(&b"TFL3"[..])
}

/// Files users pass for a model that tflq reads only as a SavedModel directory.
fn not_a_model_file(path: &Path, head: &[u8]) -> Option<&'static str> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "saved_model.pb" || head.starts_with(&[0x08, 0x01, 0x12]) {
        return Some("a saved_model.pb alone is not enough (its variables are beside it): pass its directory");
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Some("a Keras .h5 file is not a TensorFlow graph");
    }
    if head.starts_with(b"PK\x03\x04") && name.ends_with(".keras") {
        return Some("a .keras file holds Keras weights, not a TensorFlow graph");
    }
    None
}

/// A GraphDef starts with field 1 (node) or 4 (versions), length-delimited.
fn looks_like_graphdef(head: &[u8]) -> bool {
    matches!(head.first(), Some(0x0A) | Some(0x22))
}

/// Full-integer quantization calibrated on `samples`: refuse quantized input, fold
/// FLOAT16/sparse constants, run the float model over the samples, then rewrite the main
/// subgraph to integers and recompute versions and metadata. `progress` is called with the
/// number of samples calibrated so far. `method` chooses activation ranges from what
/// calibration saw (weights keep their own min/max per channel).
pub fn quantize_calibrated(
    model: &mut Model,
    samples: &SampleSet,
    opts: &IntegerOptions,
    method: Method,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Report, CalibratedError> {
    quantize_calibrated_timed(model, samples, opts, method, progress, &mut Stages::default())
}

/// How long the stages of [`quantize_calibrated`] took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stages {
    /// Folding FLOAT16/sparse constants.
    pub fold: std::time::Duration,
    /// Running the samples and choosing ranges.
    pub calibrate: std::time::Duration,
    /// Rewriting the model to integers.
    pub quantize: std::time::Duration,
}

/// [`quantize_calibrated`], recording how long each stage took in `stages`.
pub fn quantize_calibrated_timed(
    model: &mut Model,
    samples: &SampleSet,
    opts: &IntegerOptions,
    method: Method,
    progress: &(dyn Fn(usize) + Sync),
    stages: &mut Stages,
) -> Result<Report, CalibratedError> {
    let fold = std::time::Instant::now();
    let prepared = quantize::prepare(model)?;
    stages.fold = fold.elapsed();
    let start = std::time::Instant::now();
    let calibration = calibrate::calibrate_with(model, samples, method.needs_histograms(), progress)?;
    let grids: Vec<Grid> = full_integer::subgraph_activations(model, opts)
        .into_iter()
        .map(|a| match a {
            full_integer::Activations::Int8 => Grid::Int8,
            full_integer::Activations::Int16 => Grid::Int16,
        })
        .collect();
    let chosen = calibration.choose(method, &grids);
    let seconds = start.elapsed().as_secs_f64();
    stages.calibrate = start.elapsed();
    let rewrite = std::time::Instant::now();
    let mut ranges = Vec::new();
    for (g, (seen, chosen)) in calibration.ranges.iter().zip(&chosen).enumerate() {
        for (t, (s, c)) in seen.iter().zip(chosen).enumerate() {
            if let (Some(s), Some(c)) = (s, c) {
                let name = model.subgraphs[g].tensors[t].name().to_string();
                ranges.push(quantize::report::ActivationRange {
                    subgraph: g,
                    index: t,
                    tensor: name,
                    seen: *s,
                    chosen: *c,
                });
            }
        }
    }
    let measured = full_integer::Measured { ranges: &chosen, blocked: &calibration.blocked };
    let mut report = full_integer::quantize_full_integer(model, &measured, opts)?;
    let percentile = match method {
        Method::Percentile(p) => Some(p),
        _ => None,
    };
    report.calibration_method = Some((method.name(), percentile));
    report.activation_ranges = ranges;
    report.uncalibrated = calibration.skipped.iter().map(|s| (s.index, s.op.clone(), s.tensors)).collect();
    report.calibration = Some((samples.len(), seconds));
    if let Some(sg) = model.subgraphs.first() {
        let names = sg.inputs.iter().map(|&i| sg.tensors.get(i as usize).map_or("", |t| t.name()).to_string());
        report.calibration_shapes = names.zip(samples.shapes()).collect();
    }
    quantize::finish(model, &mut report, prepared, true);
    stages.quantize = rewrite.elapsed();
    Ok(report)
}
