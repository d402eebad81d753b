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
