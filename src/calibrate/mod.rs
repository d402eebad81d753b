//! Calibration: run the float model over the user's samples with the built-in
//! interpreter and record the global min and max of every float tensor of the
//! main subgraph, as TF's calibrator does (no averaging). Samples run in parallel.
//! For the percentile and MSE methods the same pass also fills a bounded histogram per tensor.

pub mod data;
pub mod histogram;
pub mod images;
pub mod methods;
pub mod npy;

use crate::interp::{InterpError, Interpreter, Value, Values};
use crate::ir::Model;
use crate::schema::TensorType;
use data::{InputSpec, SampleSet, SampleType};
use histogram::Histogram;
pub use methods::{Grid, Method};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Calibrated (min, max) per tensor of the main subgraph; None where never computed.
pub type Ranges = Vec<Option<(f32, f32)>>;

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error("calibration: {0}")]
    Interp(#[from] InterpError),
    #[error("calibration sample {index}: {source}")]
    Sample { index: usize, source: InterpError },
    #[error("calibration: model input {name:?} has type {dtype}, which calibration data cannot supply")]
    InputType { name: String, dtype: String },
    #[error("--input-shapes gives {given} shapes, the model has {inputs} inputs")]
    InputShapeCount { given: usize, inputs: usize },
    #[error("--input-shapes: input {name:?} has shape signature {}, which cannot take {} (only its -1 dimensions can be set, to sizes of 1 or more)", compact(signature), compact(given))]
    InputShape { name: String, signature: Vec<i32>, given: Vec<i64> },
    #[error("calibration: the model has no subgraph")]
    NoSubgraph,
    #[error("calibration sample {index}, input tensor {input:?}: element {element} is {value} (calibration data must be finite; float64 values beyond float32's range become inf)")]
    NonFinite { index: usize, input: String, element: usize, value: f32 },
}

/// What the main subgraph's inputs expect, for the data loaders: each input's shape
/// signature, where -1 takes any size, or the `shapes` given for them (`--input-shapes`),
/// which may only fix the open dimensions (as the official interpreter's strict resize).
pub fn input_specs(model: &Model, shapes: Option<&[Vec<i64>]>) -> Result<Vec<InputSpec>, CalibrateError> {
    let sg = model.subgraphs.first().ok_or(CalibrateError::NoSubgraph)?;
    if let Some(given) = shapes {
        if given.len() != sg.inputs.len() {
            return Err(CalibrateError::InputShapeCount { given: given.len(), inputs: sg.inputs.len() });
        }
    }
    sg.inputs
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let t = &sg.tensors[i as usize];
            let dtype = match t.dtype {
                TensorType::FLOAT32 => SampleType::F32,
                TensorType::INT32 => SampleType::I32,
                TensorType::INT64 => SampleType::I64,
                TensorType::UINT8 => SampleType::U8,
                TensorType::INT8 => SampleType::I8,
                TensorType::INT16 => SampleType::I16,
                TensorType::BOOL => SampleType::Bool,
                other => return Err(CalibrateError::InputType { name: t.name().into(), dtype: format!("{other:?}") }),
            };
            let sig = signature(t);
            let mut shape: Vec<Option<usize>> = sig.iter().map(|&d| usize::try_from(d).ok()).collect();
            if let Some(given) = shapes.map(|g| &g[k]) {
                let fits = given.len() == sig.len()
                    && given.iter().zip(&sig).all(|(&g, &s)| g > 0 && (s < 0 || i64::from(s) == g));
                if !fits {
                    return Err(CalibrateError::InputShape {
                        name: t.name().into(),
                        signature: sig.clone(),
                        given: given.clone(),
                    });
                }
                shape = given.iter().map(|&g| usize::try_from(g).ok()).collect();
            }
            Ok(InputSpec { name: t.name().into(), shape, dtype, raw: None })
        })
        .collect()
}

/// `[1,-1,-1,3]`.
fn compact<T: std::fmt::Display>(dims: &[T]) -> String {
    format!("[{}]", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
}

/// A tensor's shape signature (-1 for open dimensions), or its shape when it has none.
fn signature(t: &crate::ir::Tensor) -> Vec<i32> {
    let shape = t.shape();
    let sig = t.shape_signature.as_deref().filter(|s| s.len() == shape.len()).unwrap_or(shape);
    // A dimension the shape already leaves open counts as open too.
    sig.iter().zip(shape).map(|(&s, &d)| if d < 0 { -1 } else { s }).collect()
}

fn merge(into: &mut Ranges, from: &Ranges) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = match (*a, *b) {
            (Some((l1, h1)), Some((l2, h2))) => Some((l1.min(l2), h1.max(h2))),
            (x, None) => x,
            (None, y) => y,
        };
    }
}

/// What calibration found: ranges per tensor of every subgraph, and what it could not run.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Per subgraph (all None for subgraphs nothing runs), per tensor: the global (min, max)
    /// over every sample and every time the tensor was computed (every loop iteration).
    pub ranges: Vec<Ranges>,
    /// Operators of the main subgraph the interpreter cannot run; they, and what depends on
    /// them, have no ranges.
    pub skipped: Vec<crate::interp::Skipped>,
    /// For each tensor of the main subgraph, the skipped operator it depends on.
    pub blocked: Vec<Option<usize>>,
    /// Per subgraph, per tensor, when asked for: the histogram of every value seen.
    pub histograms: Vec<Vec<Option<Histogram>>>,
}

impl Calibration {
    /// The ranges `method` picks, per subgraph and tensor, for the grid each subgraph is
    /// quantized to (`grids[subgraph]`; Int8 where absent). Min/max returns the ranges as seen.
    pub fn choose(&self, method: Method, grids: &[Grid]) -> Vec<Ranges> {
        if method == Method::MinMax {
            return self.ranges.clone();
        }
        self.ranges
            .iter()
            .enumerate()
            .map(|(g, ranges)| {
                let grid = grids.get(g).copied().unwrap_or(Grid::Int8);
                let hists = self.histograms.get(g);
                ranges
                    .par_iter()
                    .enumerate()
                    .map(|(t, r)| {
                        let h = hists.and_then(|h| h.get(t)).and_then(Option::as_ref);
                        r.map(|seen| methods::choose(method, seen, h, grid))
                    })
                    .collect()
            })
            .collect()
    }
}

/// What one worker accumulates.
struct Acc {
    ranges: Vec<Ranges>,
    histograms: Vec<Vec<Option<Histogram>>>,
}

impl Acc {
    fn merge(mut self, other: Acc) -> Acc {
        merge_all(&mut self.ranges, &other.ranges);
        for (a, b) in self.histograms.iter_mut().zip(other.histograms) {
            for (x, y) in a.iter_mut().zip(b) {
                match (x.as_mut(), y) {
                    (Some(x), Some(y)) => x.merge(&y),
                    (None, y) => *x = y,
                    (_, None) => {}
                }
            }
        }
        self
    }
}

fn merge_all(into: &mut [Ranges], from: &[Ranges]) {
    for (a, b) in into.iter_mut().zip(from) {
        merge(a, b);
    }
}

/// Runs every sample through the float model and returns each float tensor's global range.
/// `progress` is called with the number of samples done so far. Operators tflq cannot run are
/// left out with what depends on them (see [`Calibration::skipped`]).
pub fn calibrate(
    model: &Model,
    samples: &SampleSet,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Calibration, CalibrateError> {
    calibrate_with(model, samples, false, progress)
}

/// [`calibrate`], also filling [`Calibration::histograms`] when `histograms` is set. The
/// histograms merge exactly in any order, so they do not depend on how samples were scheduled.
pub fn calibrate_with(
    model: &Model,
    samples: &SampleSet,
    histograms: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Calibration, CalibrateError> {
    let interp = Interpreter::partial(model, 0)?;
    let sizes: Vec<usize> = model.subgraphs.iter().map(|sg| sg.tensors.len()).collect();
    let empty = || Acc {
        ranges: sizes.iter().map(|&n| vec![None; n]).collect(),
        histograms: if histograms { sizes.iter().map(|&n| vec![None; n]).collect() } else { Vec::new() },
    };
    let done = AtomicUsize::new(0);
    let acc = (0..samples.len())
        .into_par_iter()
        .try_fold(empty, |mut local, index| {
            // Decoded here, by the worker that runs it.
            let inputs: Vec<Value> =
                samples.get(index)?.inputs.into_iter().map(|(shape, values)| Value { shape, values }).collect();
            // A NaN or Inf input gives no range (NaN) or no scale (Inf) to what it reaches, which
            // would leave those ops float without an error.
            for (k, v) in inputs.iter().enumerate() {
                if let Values::F32(x) = &v.values {
                    if let Some(element) = x.iter().position(|e| !e.is_finite()) {
                        let input = model.subgraphs[0]
                            .inputs
                            .get(k)
                            .and_then(|&t| model.subgraphs[0].tensors.get(t as usize).and_then(|t| t.name.clone()));
                        return Err(CalibrateError::NonFinite {
                            index,
                            input: input.unwrap_or_else(|| format!("#{k}")),
                            element,
                            value: x[element],
                        });
                    }
                }
            }
            let mut observe = |g: usize, t: usize, value: Option<&Value>, tracked: Option<(f32, f32)>| {
                // Kernels that tracked the range as they stored it save a pass; fused
                // intermediates come with their range only.
                let range = match value.map(|v| &v.values) {
                    Some(Values::F32(v)) => tracked.or_else(|| min_max(v)),
                    Some(_) => None,
                    None => tracked,
                };
                if let Some(range) = range {
                    merge_one(&mut local.ranges[g][t], range);
                }
                if let (true, Some(Values::F32(v))) = (histograms, value.map(|v| &v.values)) {
                    local.histograms[g][t].get_or_insert_with(Histogram::new).add(v);
                }
            };
            // Histograms need every value, so no fused pair may keep its intermediate to itself.
            let run = if histograms {
                interp.run_ranged_unfused(inputs, &mut observe)
            } else {
                interp.run_ranged(inputs, &mut observe)
            };
            run.map_err(|source| CalibrateError::Sample { index, source })?;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok::<Acc, CalibrateError>(local)
        })
        .try_reduce(empty, |a, b| Ok(a.merge(b)))?;
    Ok(Calibration {
        ranges: acc.ranges,
        skipped: interp.skipped().to_vec(),
        blocked: interp.blocked().to_vec(),
        histograms: acc.histograms,
    })
}

/// The smallest and largest values (NaN ignored), over 8 lanes so the loop vectorizes.
fn min_max(v: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let (mut l, mut h) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in lo.iter().chain(chunks.remainder()) {
        l = if x < l { x } else { l };
    }
    for &x in hi.iter().chain(chunks.remainder()) {
        h = if x > h { x } else { h };
    }
    (l <= h).then_some((l, h))
}

fn merge_one(slot: &mut Option<(f32, f32)>, (lo, hi): (f32, f32)) {
    *slot = Some(match *slot {
        Some((a, b)) => (a.min(lo), b.max(hi)),
        None => (lo, hi),
    });
}
