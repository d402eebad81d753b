//! An op's signature: what its version depends on (tensor types, ranks, granularity, scales
//! and options), as the official `op_version` logic reads it.

use crate::ir::{Operator, Subgraph, Tensor};
use crate::schema::{BuiltinOptionsT, TensorType};

/// One tensor of a signature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorSig {
    pub dtype: TensorType,
    pub rank: usize,
    /// Quantized with one scale per channel.
    pub per_channel: bool,
    /// The (first) quantization scale.
    pub scale: Option<f32>,
}

impl TensorSig {
    pub fn of(t: &Tensor) -> TensorSig {
        let q = t.quantization.as_ref();
        TensorSig {
            dtype: t.dtype,
            rank: t.shape().len(),
            per_channel: q.is_some_and(|q| q.scales().len() > 1),
            scale: q.and_then(|q| q.scales().first().copied()),
        }
    }
}

/// The types, ranks, granularity and options an op's version depends on.
#[derive(Debug, Clone)]
pub struct OpSignature<'a> {
    /// None for an omitted optional input.
    pub inputs: Vec<Option<TensorSig>>,
    pub outputs: Vec<TensorSig>,
    pub options: &'a BuiltinOptionsT,
}

impl<'a> OpSignature<'a> {
    /// The signature of `op` in `sg` (an index out of range reads as an omitted input).
    pub fn of(sg: &Subgraph, op: &'a Operator) -> OpSignature<'a> {
        let sig = |t: i32| usize::try_from(t).ok().and_then(|t| sg.tensors.get(t)).map(TensorSig::of);
        OpSignature {
            inputs: op.inputs.iter().map(|&t| sig(t)).collect(),
            outputs: op.outputs.iter().filter_map(|&t| sig(t)).collect(),
            options: &op.builtin_options,
        }
    }

    pub fn input(&self, slot: usize) -> Option<&TensorSig> {
        self.inputs.get(slot).and_then(Option::as_ref)
    }

    /// The type of input `slot` (FLOAT32 when it is omitted).
    pub fn input_type(&self, slot: usize) -> TensorType {
        self.input(slot).map_or(TensorType::FLOAT32, |t| t.dtype)
    }

    pub fn output_type(&self, i: usize) -> TensorType {
        self.outputs.get(i).map_or(TensorType::FLOAT32, |t| t.dtype)
    }

    /// Whether input `slot` is present.
    pub fn has_input(&self, slot: usize) -> bool {
        self.input(slot).is_some()
    }

    /// The activation in slot `data` is float and the weights in slot `weights` int8: a
    /// dynamic-range (hybrid) kernel.
    pub fn hybrid(&self, data: usize, weights: usize) -> bool {
        self.input_type(data) == TensorType::FLOAT32
            && matches!(self.input_type(weights), TensorType::INT8 | TensorType::INT4)
    }

    /// The activation in slot `data` is integer (int8, or int16 in 16x8).
    pub fn integer(&self, data: usize) -> bool {
        matches!(self.input_type(data), TensorType::INT8 | TensorType::INT16)
    }
}
