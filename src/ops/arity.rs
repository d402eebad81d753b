//! How many inputs and outputs each builtin operator takes, and which input slots may be
//! omitted (-1), as LiteRT's kernels check them (`NumInputs`, `GetOptionalInputTensor`). The
//! reader and the writer check every operator against it ([`check_model`]), so no pass ever
//! sees, and no file ever gets, an operator its kernel would index past or dereference as null.

use crate::ir::Model;
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT};

/// An operator's operand counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity {
    pub min_inputs: usize,
    /// None: any number (variadic).
    pub max_inputs: Option<usize>,
    /// Slots that may hold -1 (an omitted optional input).
    pub optional: Optional,
    pub min_outputs: usize,
    pub max_outputs: Option<usize>,
}

/// Which input slots may be omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optional {
    None,
    Slots(&'static [usize]),
    /// Every slot but the first (the recurrent ops' many optional weights and states).
    AllButFirst,
}

impl Optional {
    fn allows(self, slot: usize) -> bool {
        match self {
            Optional::None => false,
            Optional::Slots(s) => s.contains(&slot),
            Optional::AllButFirst => slot > 0,
        }
    }
}

const fn exact(inputs: usize, outputs: usize) -> Arity {
    Arity {
        min_inputs: inputs,
        max_inputs: Some(inputs),
        optional: Optional::None,
        min_outputs: outputs,
        max_outputs: Some(outputs),
    }
}

const fn range(min: usize, max: usize, optional: &'static [usize]) -> Arity {
    Arity { min_inputs: min, max_inputs: Some(max), optional: Optional::Slots(optional), ..exact(0, 1) }
}

const fn variadic(min: usize) -> Arity {
    Arity { min_inputs: min, max_inputs: None, ..exact(0, 1) }
}

/// The LSTM input slots that may be omitted (CIFG, peepholes, projection, layer norm).
const LSTM_OPTIONAL: &[usize] = &[1, 5, 9, 10, 11, 12, 16, 17, 20, 21, 22, 23];

/// The operand counts of builtin `op`; None for ops whose counts the table does not know
/// (then only the default rule of [`check_model`] applies: no omitted inputs, one output).
pub fn arity(op: B) -> Option<Arity> {
    Some(match op {
        B::ABS
        | B::CEIL
        | B::COS
        | B::EXP
        | B::FLOOR
        | B::LOG
        | B::LOGISTIC
        | B::NEG
        | B::RELU
        | B::RELU6
        | B::RELU_N1_TO_1
        | B::RELU_0_TO_1
        | B::RSQRT
        | B::SIN
        | B::SQRT
        | B::SQUARE
        | B::TANH
        | B::HARD_SWISH
        | B::ELU
        | B::GELU
        | B::LOGICAL_NOT
        | B::SIGN
        | B::ROUND
        | B::ZEROS_LIKE
        | B::CAST
        | B::DEQUANTIZE
        | B::QUANTIZE
        | B::L2_NORMALIZATION
        | B::LOCAL_RESPONSE_NORMALIZATION
        | B::SOFTMAX
        | B::LOG_SOFTMAX
        | B::LEAKY_RELU
        | B::SHAPE
        | B::RANK
        | B::BITCAST
        | B::REAL
        | B::IMAG
        | B::COMPLEX_ABS
        | B::DENSIFY
        | B::FAKE_QUANT
        | B::AVERAGE_POOL_2D
        | B::MAX_POOL_2D
        | B::L2_POOL_2D
        | B::SQUEEZE
        | B::SPACE_TO_DEPTH
        | B::DEPTH_TO_SPACE
        | B::MATRIX_DIAG
        | B::WHERE
        | B::BUCKETIZE
        | B::READ_VARIABLE => exact(1, 1),
        B::ADD
        | B::SUB
        | B::MUL
        | B::DIV
        | B::POW
        | B::MAXIMUM
        | B::MINIMUM
        | B::SQUARED_DIFFERENCE
        | B::FLOOR_DIV
        | B::FLOOR_MOD
        | B::EQUAL
        | B::NOT_EQUAL
        | B::LESS
        | B::LESS_EQUAL
        | B::GREATER
        | B::GREATER_EQUAL
        | B::LOGICAL_AND
        | B::LOGICAL_OR
        | B::ATAN2
        | B::PRELU
        | B::BROADCAST_ARGS
        | B::RIGHT_SHIFT
        | B::BITWISE_XOR
        | B::BATCH_MATMUL
        | B::EXPAND_DIMS
        | B::TRANSPOSE
        | B::MIRROR_PAD
        | B::GATHER
        | B::GATHER_ND
        | B::TILE
        | B::BROADCAST_TO
        | B::FILL
        | B::ARG_MAX
        | B::ARG_MIN
        | B::MEAN
        | B::SUM
        | B::REDUCE_MAX
        | B::REDUCE_MIN
        | B::REDUCE_PROD
        | B::REDUCE_ANY
        | B::REDUCE_ALL
        | B::RESIZE_BILINEAR
        | B::RESIZE_NEAREST_NEIGHBOR
        | B::CUMSUM
        | B::MATRIX_SET_DIAG
        | B::REVERSE_V2
        | B::REVERSE_SEQUENCE
        | B::SEGMENT_SUM
        | B::EMBEDDING_LOOKUP
        | B::RFFT2D => exact(2, 1),
        B::SLICE
        | B::RANGE
        | B::SELECT
        | B::SELECT_V2
        | B::SPACE_TO_BATCH_ND
        | B::BATCH_TO_SPACE_ND
        | B::SCATTER_ND
        | B::DYNAMIC_UPDATE_SLICE
        | B::PADV2 => exact(3, 1),
        B::STRIDED_SLICE | B::ONE_HOT | B::SPARSE_TO_DENSE => exact(4, 1),
        B::EMBEDDING_LOOKUP_SPARSE => exact(5, 1),
        B::PAD => range(2, 3, &[]),
        B::RESHAPE => range(1, 2, &[1]),
        // LiteRT reads CONV_2D's bias by count: an omitted (-1) bias fails its prepare.
        B::CONV_2D | B::DEPTHWISE_CONV_2D => range(2, 3, &[]),
        // TF writes CONV_3D without a bias as an omitted (-1) input; its kernel takes that.
        B::CONV_3D => range(2, 3, &[2]),
        B::FULLY_CONNECTED => Arity { max_outputs: Some(2), ..range(2, 3, &[2]) },
        B::TRANSPOSE_CONV | B::CONV_3D_TRANSPOSE => range(3, 4, &[3]),
        B::CONCATENATION | B::PACK | B::ADD_N => variadic(1),
        B::UNPACK => Arity { max_outputs: None, ..exact(1, 1) },
        B::SPLIT => Arity { max_outputs: None, ..exact(2, 1) },
        B::SPLIT_V => Arity { max_outputs: None, ..exact(3, 1) },
        B::TOPK_V2 => exact(2, 2),
        B::UNIQUE => exact(1, 2),
        B::SVDF => range(5, 5, &[3]),
        B::RNN | B::UNIDIRECTIONAL_SEQUENCE_RNN => range(5, 5, &[3]),
        B::LSTM | B::UNIDIRECTIONAL_SEQUENCE_LSTM => {
            Arity { optional: Optional::Slots(LSTM_OPTIONAL), max_outputs: None, ..range(20, 24, &[]) }
        }
        B::BIDIRECTIONAL_SEQUENCE_LSTM | B::BIDIRECTIONAL_SEQUENCE_RNN => {
            Arity { optional: Optional::AllButFirst, max_outputs: None, ..variadic(1) }
        }
        B::NON_MAX_SUPPRESSION_V4 => exact(5, 2),
        B::NON_MAX_SUPPRESSION_V5 => exact(6, 3),
        B::VAR_HANDLE => exact(0, 1),
        B::ASSIGN_VARIABLE => exact(2, 0),
        B::CALL_ONCE => Arity { max_inputs: Some(0), max_outputs: Some(0), ..exact(0, 0) },
        B::WHILE => Arity { max_inputs: None, max_outputs: None, ..exact(0, 0) },
        B::IF => Arity { max_inputs: None, max_outputs: None, ..exact(1, 0) },
        _ => return None,
    })
}

/// What is wrong with an operator's operands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subgraph {subgraph}, {}: {what}", self.place())]
pub struct OperandError {
    pub subgraph: usize,
    /// [`OperandError::SUBGRAPH`] for a fault of the subgraph itself (its inputs).
    pub operator: usize,
    pub op: String,
    pub what: String,
}

impl OperandError {
    pub const SUBGRAPH: usize = usize::MAX;
    /// A fault of one of the subgraph's tensors, not of an operator.
    pub const TENSORS: usize = usize::MAX - 1;

    fn place(&self) -> String {
        if self.operator == Self::SUBGRAPH {
            "its inputs".into()
        } else if self.operator == Self::TENSORS {
            "its tensors".into()
        } else {
            format!("operator {} ({})", self.operator, self.op)
        }
    }
}

fn count(n: usize, min: usize, max: Option<usize>) -> Option<String> {
    match max {
        Some(max) if n > max || n < min => Some(if min == max { format!("{min}") } else { format!("{min} to {max}") }),
        None if n < min => Some(format!("at least {min}")),
        _ => None,
    }
}

/// Checks every builtin operator of `model` against its [`arity`]: operand counts, omitted
/// inputs only in optional slots, and the subgraphs control flow calls in range. Ops the table
/// does not know may omit no input and must have an output; custom ops are not checked.
/// Indices must already be in range ([`Model::validate`]).
pub fn check_model(model: &Model) -> Result<(), OperandError> {
    let nsub = model.subgraphs.len();
    for (si, sg) in model.subgraphs.iter().enumerate() {
        // The operator that writes each tensor: an op may only read tensors written before it.
        let mut writer = vec![usize::MAX; sg.tensors.len()];
        for (oi, op) in sg.operators.iter().enumerate() {
            for &t in &op.outputs {
                if let Some(w) = usize::try_from(t).ok().and_then(|t| writer.get_mut(t)) {
                    if *w == usize::MAX {
                        *w = oi;
                    }
                }
            }
        }
        for (oi, op) in sg.operators.iter().enumerate() {
            let late = op.inputs.iter().find_map(|&t| {
                let w = *usize::try_from(t).ok().and_then(|t| writer.get(t))?;
                (w != usize::MAX && w >= oi).then_some((t, w))
            });
            if let Some((t, w)) = late {
                let name = model.operator_codes.get(op.opcode_index as usize).map_or("?".into(), |c| c.name());
                return Err(OperandError {
                    subgraph: si,
                    operator: oi,
                    op: name,
                    what: format!("reads tensor {t}, which operator {w} computes later (a cycle, or ops out of order)"),
                });
            }
        }
        for (oi, op) in sg.operators.iter().enumerate() {
            let Some(code) = model.operator_codes.get(op.opcode_index as usize) else { continue };
            if code.builtin == B::CUSTOM {
                continue;
            }
            let err = |what: String| OperandError { subgraph: si, operator: oi, op: code.name(), what };
            if code.version < 1 {
                return Err(err(format!("op version {} (versions start at 1)", code.version)));
            }
            let a = arity(code.builtin).unwrap_or(Arity { max_inputs: None, max_outputs: None, ..exact(0, 1) });
            let (ni, no) = (op.inputs.len(), op.outputs.len());
            if let Some(want) = count(ni, a.min_inputs, a.max_inputs) {
                return Err(err(format!("{ni} inputs, the op takes {want}")));
            }
            if let Some(want) = count(no, a.min_outputs, a.max_outputs) {
                return Err(err(format!("{no} outputs, the op has {want}")));
            }
            if let Some(k) = op.inputs.iter().enumerate().position(|(k, &t)| t < 0 && !a.optional.allows(k)) {
                return Err(err(format!("input {k} is omitted (-1), but the op requires it")));
            }
            if op.outputs.iter().any(|&t| t < 0) {
                return Err(err("an output is omitted (-1)".into()));
            }
            if let Some(what) = weighted_types(model, &sg.tensors, code.builtin, &op.inputs) {
                return Err(err(what));
            }
            for &called in calls(&op.builtin_options).iter() {
                if called < 0 || called as usize >= nsub {
                    return Err(err(format!("calls subgraph {called}, but there are {nsub}")));
                }
                if called as usize == si && code.builtin == B::CALL_ONCE {
                    return Err(err("calls its own subgraph".into()));
                }
            }
        }
    }
    for (si, sg) in model.subgraphs.iter().enumerate() {
        super::consistency::check_graph(model, si, sg)?;
        super::shapes::check_shapes(model, si, sg)?;
    }
    Ok(())
}

/// The subgraphs a control-flow op's options name.
fn calls(o: &BuiltinOptionsT) -> Vec<i32> {
    match o {
        BuiltinOptionsT::WhileOptions(w) => vec![w.cond_subgraph_index, w.body_subgraph_index],
        BuiltinOptionsT::IfOptions(i) => vec![i.then_subgraph_index, i.else_subgraph_index],
        BuiltinOptionsT::CallOnceOptions(c) => vec![c.init_subgraph_index],
        _ => Vec::new(),
    }
}

/// The largest stride or dilation accepted: LiteRT's kernels compute output sizes and offsets
/// in 16-bit-safe int arithmetic only below this (TF's converter never writes more).
pub const MAX_STRIDE: i32 = 32767;

/// Checks the options of spatial operators: they must be the op's own table (an op without
/// it would run with strides of 0), with strides, dilations and pool windows in 1..=32767.
pub fn check_options(model: &Model) -> Result<(), OperandError> {
    for (si, sg) in model.subgraphs.iter().enumerate() {
        for (oi, op) in sg.operators.iter().enumerate() {
            let Some(code) = model.operator_codes.get(op.opcode_index as usize) else { continue };
            let err = |what: String| OperandError { subgraph: si, operator: oi, op: code.name(), what };
            let o = &op.builtin_options;
            let fields: Vec<(&str, i32)> = match (code.builtin, o) {
                (B::CONV_2D, BuiltinOptionsT::Conv2DOptions(c)) => vec![
                    ("stride_w", c.stride_w),
                    ("stride_h", c.stride_h),
                    ("dilation_w_factor", c.dilation_w_factor),
                    ("dilation_h_factor", c.dilation_h_factor),
                ],
                (B::DEPTHWISE_CONV_2D, BuiltinOptionsT::DepthwiseConv2DOptions(c)) => vec![
                    ("stride_w", c.stride_w),
                    ("stride_h", c.stride_h),
                    ("dilation_w_factor", c.dilation_w_factor),
                    ("dilation_h_factor", c.dilation_h_factor),
                ],
                (B::AVERAGE_POOL_2D | B::MAX_POOL_2D | B::L2_POOL_2D, BuiltinOptionsT::Pool2DOptions(c)) => vec![
                    ("stride_w", c.stride_w),
                    ("stride_h", c.stride_h),
                    ("filter_width", c.filter_width),
                    ("filter_height", c.filter_height),
                ],
                (B::TRANSPOSE_CONV, BuiltinOptionsT::TransposeConvOptions(c)) => {
                    vec![("stride_w", c.stride_w), ("stride_h", c.stride_h)]
                }
                (B::CONV_3D | B::CONV_3D_TRANSPOSE, BuiltinOptionsT::Conv3DOptions(c)) => vec![
                    ("stride_d", c.stride_d),
                    ("stride_w", c.stride_w),
                    ("stride_h", c.stride_h),
                    ("dilation_d_factor", c.dilation_d_factor),
                    ("dilation_w_factor", c.dilation_w_factor),
                    ("dilation_h_factor", c.dilation_h_factor),
                ],
                (
                    B::CONV_2D
                    | B::DEPTHWISE_CONV_2D
                    | B::AVERAGE_POOL_2D
                    | B::MAX_POOL_2D
                    | B::L2_POOL_2D
                    | B::TRANSPOSE_CONV
                    | B::CONV_3D
                    | B::CONV_3D_TRANSPOSE,
                    o,
                ) => {
                    let what = match o {
                        BuiltinOptionsT::NONE => "has no options (its strides would be 0)".to_string(),
                        o => format!("has {} instead of its own options", o.union_type().variant_name().unwrap_or("?")),
                    };
                    return Err(err(what));
                }
                _ => continue,
            };
            if let Some((name, v)) = fields.into_iter().find(|&(_, v)| !(1..=MAX_STRIDE).contains(&v)) {
                return Err(err(format!("{name} is {v}; it must be 1 to {MAX_STRIDE}")));
            }
        }
    }
    Ok(())
}

/// Type and shape agreement of the ops with weights (the input's type against the weights',
/// the bias against the filter's output channels), as LiteRT's prepare checks them.
fn weighted_types(model: &Model, tensors: &[crate::ir::Tensor], op: B, inputs: &[i32]) -> Option<String> {
    use crate::schema::TensorType as T;
    if !matches!(op, B::CONV_2D | B::DEPTHWISE_CONV_2D | B::FULLY_CONNECTED | B::CONV_3D) {
        return None;
    }
    let get = |slot: usize| inputs.get(slot).and_then(|&t| usize::try_from(t).ok()).and_then(|t| tensors.get(t));
    let (x, w) = (get(0)?, get(1)?);
    let float = |t: T| matches!(t, T::FLOAT32 | T::FLOAT16);
    let quantized = |t: &crate::ir::Tensor| t.quantization.as_ref().is_some_and(|q| !q.scales().is_empty());
    let ok = match x.dtype {
        T::FLOAT32 => float(w.dtype) || (matches!(w.dtype, T::INT8 | T::UINT8 | T::INT4) && quantized(w)),
        T::INT8 | T::UINT8 | T::INT16 => {
            matches!(w.dtype, T::INT8 | T::UINT8 | T::INT4) && quantized(w) && quantized(x)
        }
        _ => false,
    };
    let name = crate::ir::dtype::type_name;
    if !ok {
        return Some(format!("input of type {} with weights of type {}", name(x.dtype), name(w.dtype)));
    }
    if op != B::FULLY_CONNECTED && x.shape.is_some() && x.shape().len() != if op == B::CONV_3D { 5 } else { 4 } {
        return Some(format!("input of rank {}", x.shape().len()));
    }
    if let Some(b) = get(2) {
        let bias_ok = match x.dtype {
            T::FLOAT32 => b.dtype == T::FLOAT32,
            T::INT8 | T::UINT8 => b.dtype == T::INT32,
            _ => matches!(b.dtype, T::INT32 | T::INT64),
        };
        if !bias_ok {
            return Some(format!("input of type {} with a bias of type {}", name(x.dtype), name(b.dtype)));
        }
        let channels = if op == B::DEPTHWISE_CONV_2D { w.shape().last() } else { w.shape().first() };
        let n = b.num_elements();
        if let (Some(&c), Some(n)) = (channels, n) {
            if model.is_constant(b) && c >= 0 && n != c as usize {
                return Some(format!("a bias of {n} values for {c} output channels"));
            }
        }
    }
    None
}
