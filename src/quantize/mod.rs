//! Quantization passes over the Model IR. Which operand of which op is a weight, on which
//! axis, and the versions rewritten ops need come from the op registry (`crate::ops`).

pub mod fold;
pub mod full_integer;
mod graph;
pub mod numerics;
pub mod prune;
pub mod report;
pub mod weights;

pub use report::Report;
pub use weights::WeightOptions;

use crate::ir::{Data, Metadata, Model};
use crate::schema::{BuiltinOperator, TensorType};

/// The weight-only modes (no calibration data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightMode {
    /// Int8 weights, float activations, hybrid kernels (TF's Optimize.DEFAULT without data).
    Dynamic,
    /// Float16 constants behind DEQUANTIZE.
    Float16,
    /// Int8 weights behind explicit DEQUANTIZE ops; every kernel stays float.
    WeightInt8,
}

#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error("the model is already quantized (subgraph {subgraph}, tensor {index} {name:?} is {dtype} with scales); quantize its float original instead")]
    AlreadyQuantized { subgraph: usize, index: usize, name: String, dtype: String },
    #[error("the model is already quantized (it has a QUANTIZE op); quantize its float original instead")]
    HasQuantizeOp,
    #[error("the model has no float32 weights to quantize")]
    NoFloatWeights,
    #[error(transparent)]
    Fold(#[from] fold::FoldError),
    #[error("no calibration range for tensor {0:?}: the calibration run never computed it")]
    NoRange(String),
    #[error("model output {tensor:?} is computed from {op} (operator {index}), which tflq cannot run, so it was not calibrated; keep it float with --output-type float32")]
    Uncalibrated { tensor: String, op: String, index: usize },
    #[error("--strict: {0}")]
    Strict(String),
    #[error("--{what}-type {io} is not available with --quantize {mode}")]
    IoType { what: &'static str, io: String, mode: &'static str },
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error("invalid model: {0}")]
    Invalid(String),
    #[error("tensor {tensor:?}: {what}")]
    NonFinite { tensor: String, what: String },
}

/// Refuses models that already carry integer-quantized tensors: quantizing twice loses accuracy for nothing.
pub fn check_not_quantized(model: &Model) -> Result<(), QuantizeError> {
    for (si, sg) in model.subgraphs.iter().enumerate() {
        for (ti, t) in sg.tensors.iter().enumerate() {
            let integer =
                matches!(t.dtype, TensorType::INT8 | TensorType::UINT8 | TensorType::INT16 | TensorType::INT4);
            if integer && t.quantization.as_ref().is_some_and(|q| !q.scales().is_empty()) {
                return Err(QuantizeError::AlreadyQuantized {
                    subgraph: si,
                    index: ti,
                    name: t.name().into(),
                    dtype: format!("{:?}", t.dtype),
                });
            }
        }
        let quantize = |o: &crate::ir::Operator| {
            model.operator_codes[o.opcode_index as usize].builtin == BuiltinOperator::QUANTIZE
        };
        if sg.operators.iter().any(quantize) {
            return Err(QuantizeError::HasQuantizeOp);
        }
    }
    Ok(())
}

/// Runs a weight-only mode: refuse quantized input, fold FLOAT16/sparse
/// constants to float32, quantize, drop what became unused, and recompute
/// op versions and `min_runtime_version`.
pub fn quantize_weights(model: &mut Model, mode: WeightMode, opts: &WeightOptions) -> Result<Report, QuantizeError> {
    let mut prepared = prepare(model)?;
    let kept = match mode {
        WeightMode::Float16 => Vec::new(),
        _ => fold::keep_small_sparse(model, &mut prepared.folding.records),
    };
    if !weights::has_float_weights(model) {
        return Err(QuantizeError::NoFloatWeights);
    }
    let mut report = match mode {
        WeightMode::Dynamic => weights::quantize_dynamic(model, opts),
        WeightMode::WeightInt8 => weights::quantize_weight_only(model, opts),
        WeightMode::Float16 => {
            // FLOAT16 (and sparse) input constants are already as small as this mode makes them.
            let restored = fold::restore(model, &mut prepared.folding.records);
            let mut r = weights::quantize_float16(model);
            r.restored = restored;
            set_metadata(model, "reduced_precision_support", b"fp16accfp32".to_vec());
            r
        }
    };
    for k in kept {
        let reason = format!(
            "sparse weight kept as it is: {} value bytes and {} index bytes, dense int8 would take {}",
            k.values, k.indices, k.dense
        );
        let (subgraph, index, tensor) = (k.subgraph, k.tensor, k.name);
        report.skipped.push(report::Skipped { subgraph, index, tensor, op: "DENSIFY".into(), reason });
    }
    finish(model, &mut report, prepared, false);
    Ok(report)
}

/// What `prepare` did, for `finish` and the report.
#[derive(Debug, Default)]
pub struct Prepared {
    folding: fold::Folding,
    input_constant_bytes: u64,
    input_sparse_index_bytes: u64,
}

/// Every mode's first steps: refuse quantized input, then fold FLOAT16 and sparse constants
/// to float32 (to a fixed point, so sparse FLOAT16 chains fold whole).
pub fn prepare(model: &mut Model) -> Result<Prepared, QuantizeError> {
    // Models that did not come through the reader (built or rewritten in memory) get its checks.
    model.validate().map_err(|e| QuantizeError::Invalid(e.to_string()))?;
    model.validate_data().map_err(|e| QuantizeError::Invalid(e.to_string()))?;
    crate::ops::check_model(model).map_err(|e| QuantizeError::Invalid(e.to_string()))?;
    crate::ops::check_options(model).map_err(|e| QuantizeError::Invalid(e.to_string()))?;
    check_not_quantized(model)?;
    let input_constant_bytes = model.constant_bytes();
    let input_sparse_index_bytes = model.sparse_index_bytes();
    Ok(Prepared { folding: fold::fold_all(model)?, input_constant_bytes, input_sparse_index_bytes })
}

/// Every mode's last steps: give constants no pass replaced back their input encoding,
/// store quantized weights of sparse inputs sparse where smaller (`sparse_int8`), drop what became unused
/// and recompute `min_runtime_version`.
pub fn finish(model: &mut Model, report: &mut Report, mut prepared: Prepared, sparse_int8: bool) {
    let f = &mut prepared.folding;
    report.folded_dequantize = f.dequantize;
    report.densified = f.densify;
    report.restored += fold::restore(model, &mut f.records);
    // Full-integer kernels read an int8 DENSIFY output correctly; the weight-only modes' do not.
    if sparse_int8 {
        report.stored_sparse = fold::resparsify(model, &f.records);
    }
    prune::prune(model);
    crate::tflite::versions::set_min_runtime_version(model);
    report.constant_bytes = (prepared.input_constant_bytes, model.constant_bytes());
    report.sparse_index_bytes = (prepared.input_sparse_index_bytes, model.sparse_index_bytes());
    report.quantization_bytes = model.quantization_bytes();
}

/// Sets (or replaces) a metadata entry with its own buffer.
fn set_metadata(model: &mut Model, name: &str, bytes: Vec<u8>) {
    if let Some(m) = model.metadata.iter().find(|m| m.name.as_deref() == Some(name)) {
        if m.buffer != 0 {
            model.buffers[m.buffer as usize].data = Data::from(bytes);
            return;
        }
    }
    model.metadata.retain(|m| m.name.as_deref() != Some(name));
    let buffer = graph::add_buffer(model, bytes);
    model.metadata.push(Metadata { name: Some(name.into()), buffer });
}
