//! The Model IR: an owned, mutable model that every input format is read into
//! and every pass works on. It holds no flatbuffer offsets; options and other
//! leaf tables are kept as the schema's owned types so that every field of the
//! format survives a round trip.

pub mod budget;
pub mod codec;
mod data;
pub mod dtype;
pub mod sparse;
mod validate;
mod value;

pub use codec::{CodecError, Dense};
pub use data::{special_file, Data, Source};
pub use validate::{cap, cap_list, IndexError, TensorError};
pub use value::{Buf, Elem, Value, Values, ALIGN_MIN_BYTES, LINE};

use crate::schema::{
    BuiltinOperator, BuiltinOptions2T, BuiltinOptionsT, CustomOptionsFormat, ExternalBufferGroupT, ExternalBufferT,
    QuantizationDetailsT, SparsityParametersT, TensorType, VariantSubTypeT,
};

/// The only model schema version the runtime accepts.
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub version: u32,
    pub description: Option<String>,
    pub operator_codes: Vec<OperatorCode>,
    pub subgraphs: Vec<Subgraph>,
    /// Buffer 0 is the empty sentinel that data-less tensors point to.
    pub buffers: Vec<Buffer>,
    pub metadata: Vec<Metadata>,
    pub signature_defs: Vec<SignatureDef>,
    /// Deprecated list of metadata buffer indices, kept for round trips.
    pub metadata_buffer: Option<Vec<i32>>,
    pub external_buffer_groups: Option<Vec<ExternalBufferGroupT>>,
    pub external_buffers: Option<Vec<ExternalBufferT>>,
}

impl Default for Model {
    fn default() -> Model {
        Model {
            version: SCHEMA_VERSION,
            description: None,
            operator_codes: Vec::new(),
            subgraphs: Vec::new(),
            buffers: vec![Buffer::default()],
            metadata: Vec::new(),
            signature_defs: Vec::new(),
            metadata_buffer: None,
            external_buffer_groups: None,
            external_buffers: None,
        }
    }
}

/// An entry of the operator-code table that operators refer to by index.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorCode {
    /// The real builtin code (the larger of the file's two opcode fields).
    pub builtin: BuiltinOperator,
    /// Set for custom ops (`builtin` is then CUSTOM).
    pub custom_code: Option<String>,
    pub version: i32,
}

impl OperatorCode {
    /// The op's name as users know it: the builtin name, or the custom code.
    pub fn name(&self) -> String {
        if self.builtin == BuiltinOperator::CUSTOM {
            if let Some(c) = &self.custom_code {
                return c.clone();
            }
        }
        match self.builtin.variant_name() {
            Some(n) => n.to_string(),
            None => format!("BUILTIN_{}", self.builtin.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subgraph {
    pub name: Option<String>,
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub operators: Vec<Operator>,
    pub debug_metadata_index: i32,
}

impl Default for Subgraph {
    fn default() -> Subgraph {
        Subgraph {
            name: None,
            tensors: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            operators: Vec::new(),
            debug_metadata_index: -1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: Option<String>,
    pub shape: Option<Vec<i32>>,
    pub dtype: TensorType,
    pub buffer: u32,
    pub quantization: Option<QuantParams>,
    pub is_variable: bool,
    pub sparsity: Option<SparsityParametersT>,
    /// The shape with -1 for dynamic dimensions.
    pub shape_signature: Option<Vec<i32>>,
    pub has_rank: bool,
    pub variant_tensors: Option<Vec<VariantSubTypeT>>,
    pub external_buffer: u32,
}

impl Default for Tensor {
    fn default() -> Tensor {
        Tensor {
            name: None,
            shape: None,
            dtype: TensorType::FLOAT32,
            buffer: 0,
            quantization: None,
            is_variable: false,
            sparsity: None,
            shape_signature: None,
            has_rank: false,
            variant_tensors: None,
            external_buffer: 0,
        }
    }
}

impl Tensor {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    pub fn shape(&self) -> &[i32] {
        self.shape.as_deref().unwrap_or(&[])
    }

    /// Number of elements, or None when a dimension is negative or the count overflows.
    pub fn num_elements(&self) -> Option<usize> {
        self.shape().iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
    }
}

impl Model {
    /// The bytes of tensor `t`'s buffer (empty when it has none).
    pub fn tensor_bytes(&self, t: &Tensor) -> &[u8] {
        self.buffers.get(t.buffer as usize).map_or(&[], |b| b.data.as_bytes())
    }

    /// Whether `t` holds constant data (a non-empty buffer) rather than being computed or a variable.
    pub fn is_constant(&self, t: &Tensor) -> bool {
        !t.is_variable && !self.tensor_bytes(t).is_empty()
    }

    /// Bytes of constant data: every buffer some tensor reads, each counted once, and the
    /// index arrays of sparse constants.
    pub fn constant_bytes(&self) -> u64 {
        let mut seen = vec![false; self.buffers.len()];
        let mut total = 0u64;
        for t in self.subgraphs.iter().flat_map(|sg| &sg.tensors) {
            let b = t.buffer as usize;
            if b < seen.len() && !std::mem::replace(&mut seen[b], true) {
                total += self.buffers[b].data.as_bytes().len() as u64;
            }
        }
        total + self.sparse_index_bytes()
    }

    /// Bytes the quantization parameters' arrays take in the file (scales, zero points, min, max).
    pub fn quantization_bytes(&self) -> u64 {
        let tensors = self.subgraphs.iter().flat_map(|sg| &sg.tensors);
        let q = tensors.filter_map(|t| t.quantization.as_ref());
        let len = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, Vec::len) as u64;
        q.map(|q| 4 * (q.scales().len() as u64 + len(&q.min) + len(&q.max)) + 8 * q.zero_points().len() as u64).sum()
    }

    /// Bytes of the index arrays of sparse constants (part of `constant_bytes`).
    pub fn sparse_index_bytes(&self) -> u64 {
        let tensors = self.subgraphs.iter().flat_map(|sg| &sg.tensors);
        tensors.filter_map(|t| t.sparsity.as_ref()).map(|sp| sparse::index_bytes(sp) as u64).sum()
    }

    /// The checked view of constant `t`'s dense data.
    pub fn dense(&self, t: &Tensor) -> Result<Dense<'_>, CodecError> {
        Dense::of(t, self.tensor_bytes(t))
    }
}

/// Quantization parameters of a tensor. Per-tensor has one scale and zero point;
/// per-channel has one per slice of `quantized_dimension`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantParams {
    pub min: Option<Vec<f32>>,
    pub max: Option<Vec<f32>>,
    pub scale: Option<Vec<f32>>,
    pub zero_point: Option<Vec<i64>>,
    pub details: QuantizationDetailsT,
    pub quantized_dimension: i32,
}

impl QuantParams {
    pub fn scales(&self) -> &[f32] {
        self.scale.as_deref().unwrap_or(&[])
    }

    pub fn zero_points(&self) -> &[i64] {
        self.zero_point.as_deref().unwrap_or(&[])
    }

    /// True when the parameters carry anything: scales, a calibrated range or custom details.
    pub fn is_meaningful(&self) -> bool {
        !self.scales().is_empty()
            || self.min.as_ref().is_some_and(|v| !v.is_empty())
            || self.max.as_ref().is_some_and(|v| !v.is_empty())
            || self.details != QuantizationDetailsT::NONE
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buffer {
    pub data: Data,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub opcode_index: u32,
    /// Tensor indices; -1 marks an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub builtin_options: BuiltinOptionsT,
    pub builtin_options_2: BuiltinOptions2T,
    /// Custom options, wherever the file kept them (inline or after the flatbuffer).
    pub custom_options: Option<Data>,
    pub custom_options_format: CustomOptionsFormat,
    pub mutating_variable_inputs: Option<Vec<bool>>,
    pub intermediates: Option<Vec<i32>>,
    pub debug_metadata_index: i32,
}

impl Default for Operator {
    fn default() -> Operator {
        Operator {
            opcode_index: 0,
            inputs: Vec::new(),
            outputs: Vec::new(),
            builtin_options: BuiltinOptionsT::NONE,
            builtin_options_2: BuiltinOptions2T::NONE,
            custom_options: None,
            custom_options_format: CustomOptionsFormat::FLEXBUFFERS,
            mutating_variable_inputs: None,
            intermediates: None,
            debug_metadata_index: -1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub name: Option<String>,
    pub buffer: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignatureDef {
    pub key: Option<String>,
    pub subgraph_index: u32,
    pub inputs: Vec<TensorMap>,
    pub outputs: Vec<TensorMap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorMap {
    pub name: Option<String>,
    pub tensor_index: u32,
}

/// NumPy broadcasting of two shapes (dimensions aligned from the right, 1
/// stretches); None when they do not broadcast. Shared by the importer's
/// constant folding and the interpreter.
pub fn broadcast_shape<T: Copy + PartialEq + From<u8>>(a: &[T], b: &[T]) -> Option<Vec<T>> {
    let one = T::from(1);
    let n = a.len().max(b.len());
    let dim = |s: &[T], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { one };
    (0..n)
        .map(|i| {
            let (da, db) = (dim(a, i), dim(b, i));
            if da == db || db == one {
                Some(da)
            } else if da == one {
                Some(db)
            } else {
                None
            }
        })
        .collect()
}

impl Model {
    /// The metadata entry called `name`, with its buffer's bytes.
    pub fn metadata_bytes(&self, name: &str) -> Option<&[u8]> {
        let m = self.metadata.iter().find(|m| m.name.as_deref() == Some(name))?;
        self.buffers.get(m.buffer as usize).map(|b| b.data.as_bytes())
    }

    /// The `min_runtime_version` metadata, decoded (the buffer is NUL-padded).
    pub fn min_runtime_version(&self) -> Option<String> {
        let bytes = self.metadata_bytes("min_runtime_version")?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[..end]).ok().map(str::to_string)
    }
}
