//! The per-op policy table: one place that says which operand of which op is a
//! weight, on which axis its channels lie, and which op version the hybrid or
//! weight-only form needs (facts from TF 2.21's converter and op_version rules).

use crate::schema::BuiltinOperator;

/// How an op takes a constant weight operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightRule {
    pub op: BuiltinOperator,
    /// The input slot of the weight.
    pub operand: usize,
    /// The channel axis for per-channel scales; None: per-tensor only.
    pub channel_axis: Option<usize>,
    /// Hybrid (int8 weights, float activations) op version, per-channel and per-tensor.
    pub hybrid_version_per_channel: i32,
    pub hybrid_version_per_tensor: i32,
    /// Whether the hybrid kernel is told to quantize its float input asymmetrically.
    pub asymmetric_inputs: bool,
}

const fn rule(
    op: BuiltinOperator,
    operand: usize,
    channel_axis: Option<usize>,
    pc: i32,
    pt: i32,
    asym: bool,
) -> WeightRule {
    WeightRule {
        op,
        operand,
        channel_axis,
        hybrid_version_per_channel: pc,
        hybrid_version_per_tensor: pt,
        asymmetric_inputs: asym,
    }
}

/// Ops whose constant weight is quantized by the dynamic-range and weight-only modes.
/// GATHER's table is quantized with the op writing int8 output, followed by DEQUANTIZE.
pub const WEIGHT_RULES: &[WeightRule] = &[
    rule(BuiltinOperator::CONV_2D, 1, Some(0), 5, 2, false),
    rule(BuiltinOperator::DEPTHWISE_CONV_2D, 1, Some(3), 6, 4, false),
    rule(BuiltinOperator::FULLY_CONNECTED, 1, Some(0), 12, 9, true),
    rule(BuiltinOperator::BATCH_MATMUL, 1, None, 4, 4, true),
    rule(BuiltinOperator::TRANSPOSE_CONV, 1, Some(0), 2, 2, false),
    rule(BuiltinOperator::GATHER, 0, None, 2, 2, false),
];

pub fn weight_rule(op: BuiltinOperator, operand: usize) -> Option<&'static WeightRule> {
    WEIGHT_RULES.iter().find(|r| r.op == op && r.operand == operand)
}

/// DEQUANTIZE versions by input: fp16 3, int8 per-tensor 2, int8 per-channel 5.
pub const DEQUANTIZE_FLOAT16_VERSION: i32 = 3;
pub const DEQUANTIZE_INT8_VERSION: i32 = 2;
pub const DEQUANTIZE_INT8_PER_CHANNEL_VERSION: i32 = 5;

/// How a full-integer op's float output gets its quantization parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputParams {
    /// From the calibrated range of the output.
    Calibrated,
    /// The same as the (quantized) input in this slot: the op only moves values.
    SameAsInput(usize),
    /// Fixed by the kernel: (scale, zero point) for int8, and for 16x8.
    Fixed { int8: (f32, i64), int16: (f32, i64) },
}

/// How a constant float input of a full-integer op is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstantRole {
    /// Symmetric int8 weights, per channel on this axis (per tensor with --per-tensor).
    Weights { axis: usize },
    /// Symmetric int8, per tensor (BATCH_MATMUL's constant right-hand side).
    WeightsPerTensor,
    /// int32 (int64 in 16x8) bias with scale input scale × weight scale.
    Bias { input: usize, weights: usize },
}

/// What the full-integer modes know about an op with an integer kernel.
#[derive(Debug, Clone, Copy)]
pub struct IntegerRule {
    pub op: BuiltinOperator,
    /// Op version written for the int8 kernel (16x8 writes the same numbers, as TF's quantizer does).
    pub version: i32,
    /// Whether the runtime has an int16-activation kernel for 16x8.
    pub int16: bool,
    pub output: OutputParams,
    /// All float inputs must share the output's parameters (requantized where they differ).
    pub inputs_share_output: bool,
    pub constants: &'static [(usize, ConstantRole)],
}

const CONV: &[(usize, ConstantRole)] =
    &[(1, ConstantRole::Weights { axis: 0 }), (2, ConstantRole::Bias { input: 0, weights: 1 })];
const DEPTHWISE: &[(usize, ConstantRole)] =
    &[(1, ConstantRole::Weights { axis: 3 }), (2, ConstantRole::Bias { input: 0, weights: 1 })];
const TRANSPOSE_CONV: &[(usize, ConstantRole)] =
    &[(1, ConstantRole::Weights { axis: 0 }), (3, ConstantRole::Bias { input: 2, weights: 1 })];
const MATMUL: &[(usize, ConstantRole)] = &[(1, ConstantRole::WeightsPerTensor)];

const fn int(op: BuiltinOperator, version: i32, int16: bool, output: OutputParams) -> IntegerRule {
    IntegerRule { op, version, int16, output, inputs_share_output: false, constants: &[] }
}

const fn same(op: BuiltinOperator, version: i32) -> IntegerRule {
    int(op, version, true, OutputParams::SameAsInput(0))
}

const fn calibrated(op: BuiltinOperator, version: i32, int16: bool) -> IntegerRule {
    int(op, version, int16, OutputParams::Calibrated)
}

const fn shared(op: BuiltinOperator, version: i32) -> IntegerRule {
    IntegerRule { inputs_share_output: true, ..int(op, version, true, OutputParams::Calibrated) }
}

const fn fixed(op: BuiltinOperator, int8: (f32, i64), int16: Option<(f32, i64)>) -> IntegerRule {
    let (int16_ok, i16p) = match int16 {
        Some(p) => (true, p),
        None => (false, (0.0, 0)),
    };
    int(op, 2, int16_ok, OutputParams::Fixed { int8, int16: i16p })
}

const fn weighted(op: BuiltinOperator, version: i32, constants: &'static [(usize, ConstantRole)]) -> IntegerRule {
    IntegerRule { constants, ..calibrated(op, version, true) }
}

/// Ops with integer kernels, the versions TF 2.21 writes for them, and their parameter rules.
/// An op not listed here stays float between DEQUANTIZE and QUANTIZE.
pub const INTEGER_RULES: &[IntegerRule] = &[
    weighted(BuiltinOperator::CONV_2D, 3, CONV),
    weighted(BuiltinOperator::DEPTHWISE_CONV_2D, 3, DEPTHWISE),
    weighted(BuiltinOperator::FULLY_CONNECTED, 4, CONV),
    weighted(BuiltinOperator::TRANSPOSE_CONV, 2, TRANSPOSE_CONV),
    weighted(BuiltinOperator::BATCH_MATMUL, 2, MATMUL),
    calibrated(BuiltinOperator::ADD, 2, true),
    calibrated(BuiltinOperator::SUB, 2, true),
    calibrated(BuiltinOperator::MUL, 2, true),
    calibrated(BuiltinOperator::MEAN, 2, true),
    calibrated(BuiltinOperator::SUM, 2, false),
    calibrated(BuiltinOperator::RELU, 2, true),
    calibrated(BuiltinOperator::RELU6, 2, true),
    calibrated(BuiltinOperator::RELU_N1_TO_1, 2, false),
    calibrated(BuiltinOperator::LEAKY_RELU, 1, true),
    calibrated(BuiltinOperator::PRELU, 1, false),
    calibrated(BuiltinOperator::HARD_SWISH, 1, false),
    calibrated(BuiltinOperator::GELU, 2, false),
    calibrated(BuiltinOperator::SQRT, 2, false),
    calibrated(BuiltinOperator::RSQRT, 2, false),
    calibrated(BuiltinOperator::SQUARED_DIFFERENCE, 2, false),
    fixed(BuiltinOperator::SOFTMAX, (1.0 / 256.0, -128), Some((1.0 / 32768.0, 0))),
    fixed(BuiltinOperator::LOGISTIC, (1.0 / 256.0, -128), Some((1.0 / 32768.0, 0))),
    fixed(BuiltinOperator::TANH, (1.0 / 128.0, 0), Some((1.0 / 32768.0, 0))),
    fixed(BuiltinOperator::LOG_SOFTMAX, (16.0 / 256.0, 127), None),
    fixed(BuiltinOperator::L2_NORMALIZATION, (1.0 / 128.0, 0), None),
    same(BuiltinOperator::RESHAPE, 1),
    same(BuiltinOperator::SQUEEZE, 1),
    same(BuiltinOperator::EXPAND_DIMS, 1),
    same(BuiltinOperator::TRANSPOSE, 2),
    same(BuiltinOperator::PAD, 2),
    same(BuiltinOperator::PADV2, 2),
    same(BuiltinOperator::MAX_POOL_2D, 2),
    same(BuiltinOperator::AVERAGE_POOL_2D, 2),
    same(BuiltinOperator::GATHER, 2),
    same(BuiltinOperator::SLICE, 2),
    same(BuiltinOperator::STRIDED_SLICE, 2),
    same(BuiltinOperator::DEPTH_TO_SPACE, 2),
    same(BuiltinOperator::SPACE_TO_DEPTH, 2),
    same(BuiltinOperator::RESIZE_BILINEAR, 2),
    same(BuiltinOperator::RESIZE_NEAREST_NEIGHBOR, 2),
    int(BuiltinOperator::SPLIT, 2, true, OutputParams::SameAsInput(1)),
    shared(BuiltinOperator::CONCATENATION, 2),
    shared(BuiltinOperator::MINIMUM, 2),
    shared(BuiltinOperator::MAXIMUM, 2),
];

pub fn integer_rule(op: BuiltinOperator) -> Option<&'static IntegerRule> {
    INTEGER_RULES.iter().find(|r| r.op == op)
}

/// QUANTIZE versions: int8 output 1, int16 output 2.
pub const QUANTIZE_VERSION: i32 = 1;
pub const QUANTIZE_INT16_VERSION: i32 = 2;
/// DEQUANTIZE of an int16 input.
pub const DEQUANTIZE_INT16_VERSION: i32 = 3;
