//! The minimum runtime version a model needs, from its (op, version) pairs.
//!
//! Every builtin op version first shipped in some TFLite runtime release. A
//! model can only run on a runtime at least as new as the newest of the
//! releases its ops need; the converter records that release as the
//! `min_runtime_version` metadata entry (a version string such as `"1.14.0"`,
//! NUL-padded to 16 bytes). This module holds the (op, version) -> release
//! table and recomputes the entry after a pass has changed op versions.
//!
//! The table's facts come from `FindMinimumRuntimeVersionForOp` in LiteRT's
//! `tflite/tools/versioning/runtime_version.cc` (google-ai-edge/LiteRT at
//! commit 05215c29, a superset of TensorFlow's copy, newest release 2.20.0).

use crate::ir::{Buffer, Data, Metadata, Model};
use crate::schema::BuiltinOperator;

/// Name of the metadata entry that holds the version string.
pub const METADATA_NAME: &str = "min_runtime_version";

/// Length the version string is NUL-padded to.
const PADDED_LEN: usize = 16;

/// (op, op version, first runtime release that supports it), sorted by
/// (op code, version) so that lookups can binary-search. Pairs the runtime
/// never had (e.g. BROADCAST_TO version 1, which was rolled back before
/// release and re-added under a new op code) are absent.
static TABLE: &[(BuiltinOperator, i32, &str)] = &[
    (BuiltinOperator::ADD, 1, "1.5.0"),
    (BuiltinOperator::ADD, 2, "1.14.0"),
    (BuiltinOperator::ADD, 3, "2.4.0"),
    (BuiltinOperator::ADD, 4, "2.6.0"),
    (BuiltinOperator::ADD, 5, "2.13.0"),
    (BuiltinOperator::AVERAGE_POOL_2D, 1, "1.5.0"),
    (BuiltinOperator::AVERAGE_POOL_2D, 2, "1.14.0"),
    (BuiltinOperator::AVERAGE_POOL_2D, 3, "2.3.0"),
    (BuiltinOperator::CONCATENATION, 1, "1.5.0"),
    (BuiltinOperator::CONCATENATION, 2, "1.14.0"),
    (BuiltinOperator::CONCATENATION, 3, "2.3.0"),
    (BuiltinOperator::CONCATENATION, 4, "2.14.0"),
    (BuiltinOperator::CONV_2D, 1, "1.5.0"),
    (BuiltinOperator::CONV_2D, 2, "1.14.0"),
    (BuiltinOperator::CONV_2D, 3, "1.14.0"),
    (BuiltinOperator::CONV_2D, 4, "2.3.0"),
    (BuiltinOperator::CONV_2D, 5, "2.4.0"),
    (BuiltinOperator::CONV_2D, 6, "2.9.0"),
    (BuiltinOperator::CONV_2D, 7, "2.11.0"),
    (BuiltinOperator::CONV_2D, 8, "2.15.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 1, "1.5.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 2, "1.12.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 3, "1.14.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 4, "2.2.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 5, "2.3.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 6, "2.3.0"),
    (BuiltinOperator::DEPTHWISE_CONV_2D, 7, "2.11.0"),
    (BuiltinOperator::DEPTH_TO_SPACE, 1, "2.1.0"),
    (BuiltinOperator::DEPTH_TO_SPACE, 2, "2.5.0"),
    (BuiltinOperator::DEQUANTIZE, 1, "1.13.1"),
    (BuiltinOperator::DEQUANTIZE, 2, "1.14.0"),
    (BuiltinOperator::DEQUANTIZE, 3, "1.15.0"),
    (BuiltinOperator::DEQUANTIZE, 4, "2.2.0"),
    (BuiltinOperator::DEQUANTIZE, 5, "2.7.0"),
    (BuiltinOperator::DEQUANTIZE, 6, "2.18.0"),
    (BuiltinOperator::EMBEDDING_LOOKUP, 1, "1.13.0"),
    (BuiltinOperator::EMBEDDING_LOOKUP, 2, "1.14.0"),
    (BuiltinOperator::EMBEDDING_LOOKUP, 3, "1.14.0"),
    (BuiltinOperator::EMBEDDING_LOOKUP, 4, "2.18.0"),
    (BuiltinOperator::FLOOR, 1, "1.9.0"),
    (BuiltinOperator::FULLY_CONNECTED, 1, "1.5.0"),
    (BuiltinOperator::FULLY_CONNECTED, 2, "1.10.0"),
    (BuiltinOperator::FULLY_CONNECTED, 3, "1.14.0"),
    (BuiltinOperator::FULLY_CONNECTED, 4, "1.14.0"),
    (BuiltinOperator::FULLY_CONNECTED, 5, "2.0.0"),
    (BuiltinOperator::FULLY_CONNECTED, 6, "2.1.0"),
    (BuiltinOperator::FULLY_CONNECTED, 7, "2.3.0"),
    (BuiltinOperator::FULLY_CONNECTED, 8, "2.3.0"),
    (BuiltinOperator::FULLY_CONNECTED, 9, "2.3.0"),
    (BuiltinOperator::FULLY_CONNECTED, 10, "2.11.0"),
    (BuiltinOperator::FULLY_CONNECTED, 11, "2.15.0"),
    (BuiltinOperator::FULLY_CONNECTED, 12, "2.17.0"),
    (BuiltinOperator::FULLY_CONNECTED, 13, "2.18.0"),
    (BuiltinOperator::HASHTABLE_LOOKUP, 1, "1.5.0"),
    (BuiltinOperator::L2_NORMALIZATION, 1, "1.5.0"),
    (BuiltinOperator::L2_NORMALIZATION, 2, "1.14.0"),
    (BuiltinOperator::L2_POOL_2D, 1, "1.5.0"),
    (BuiltinOperator::LOCAL_RESPONSE_NORMALIZATION, 1, "1.5.0"),
    (BuiltinOperator::LOGISTIC, 1, "1.14.0"),
    (BuiltinOperator::LOGISTIC, 2, "1.14.0"),
    (BuiltinOperator::LOGISTIC, 3, "2.3.0"),
    (BuiltinOperator::LSH_PROJECTION, 1, "1.5.0"),
    (BuiltinOperator::LSTM, 1, "1.7.0"),
    (BuiltinOperator::LSTM, 2, "1.10.0"),
    (BuiltinOperator::LSTM, 3, "1.14.0"),
    (BuiltinOperator::LSTM, 4, "2.3.0"),
    (BuiltinOperator::MAX_POOL_2D, 1, "1.5.0"),
    (BuiltinOperator::MAX_POOL_2D, 2, "1.14.0"),
    (BuiltinOperator::MAX_POOL_2D, 3, "2.3.0"),
    (BuiltinOperator::MUL, 1, "1.5.0"),
    (BuiltinOperator::MUL, 2, "1.14.0"),
    (BuiltinOperator::MUL, 3, "1.15.0"),
    (BuiltinOperator::MUL, 4, "2.3.0"),
    (BuiltinOperator::MUL, 5, "2.6.0"),
    (BuiltinOperator::MUL, 6, "2.11.0"),
    (BuiltinOperator::MUL, 7, "2.13.0"),
    (BuiltinOperator::RELU, 1, "1.5.0"),
    (BuiltinOperator::RELU, 2, "2.1.0"),
    (BuiltinOperator::RELU, 3, "2.5.0"),
    (BuiltinOperator::RELU_N1_TO_1, 1, "1.5.0"),
    (BuiltinOperator::RELU6, 1, "1.5.0"),
    (BuiltinOperator::RELU6, 2, "1.14.0"),
    (BuiltinOperator::RELU6, 3, "2.5.0"),
    (BuiltinOperator::RESHAPE, 1, "1.5.0"),
    (BuiltinOperator::RESIZE_BILINEAR, 1, "1.7.0"),
    (BuiltinOperator::RESIZE_BILINEAR, 2, "1.14.0"),
    (BuiltinOperator::RESIZE_BILINEAR, 3, "2.2.0"),
    (BuiltinOperator::RESIZE_BILINEAR, 4, "2.5.0"),
    (BuiltinOperator::RNN, 1, "1.5.0"),
    (BuiltinOperator::RNN, 2, "1.14.0"),
    (BuiltinOperator::RNN, 3, "2.3.0"),
    (BuiltinOperator::SOFTMAX, 1, "1.5.0"),
    (BuiltinOperator::SOFTMAX, 2, "1.14.0"),
    (BuiltinOperator::SOFTMAX, 3, "2.3.0"),
    (BuiltinOperator::SPACE_TO_DEPTH, 1, "1.5.0"),
    (BuiltinOperator::SPACE_TO_DEPTH, 2, "1.14.0"),
    (BuiltinOperator::SVDF, 1, "1.5.0"),
    (BuiltinOperator::SVDF, 2, "1.14.0"),
    (BuiltinOperator::SVDF, 3, "2.2.0"),
    (BuiltinOperator::SVDF, 4, "2.3.0"),
    (BuiltinOperator::TANH, 1, "1.14.0"),
    (BuiltinOperator::TANH, 2, "1.14.0"),
    (BuiltinOperator::TANH, 3, "2.3.0"),
    (BuiltinOperator::SKIP_GRAM, 1, "1.5.0"),
    (BuiltinOperator::EMBEDDING_LOOKUP_SPARSE, 1, "1.5.0"),
    (BuiltinOperator::PAD, 1, "1.5.0"),
    (BuiltinOperator::PAD, 2, "1.14.0"),
    (BuiltinOperator::PAD, 3, "2.4.0"),
    (BuiltinOperator::PAD, 4, "2.6.0"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_RNN, 1, "1.14.0"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_RNN, 2, "1.14.0"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_RNN, 3, "2.3.0"),
    (BuiltinOperator::GATHER, 1, "1.6.0"),
    (BuiltinOperator::GATHER, 2, "1.14.0"),
    (BuiltinOperator::GATHER, 3, "1.15.0"),
    (BuiltinOperator::GATHER, 4, "2.4.0"),
    (BuiltinOperator::GATHER, 5, "2.5.0"),
    (BuiltinOperator::GATHER, 6, "2.13.0"),
    (BuiltinOperator::GATHER, 7, "2.15.0"),
    (BuiltinOperator::BATCH_TO_SPACE_ND, 1, "1.6.0"),
    (BuiltinOperator::BATCH_TO_SPACE_ND, 2, "1.14.0"),
    (BuiltinOperator::BATCH_TO_SPACE_ND, 3, "2.3.0"),
    (BuiltinOperator::BATCH_TO_SPACE_ND, 4, "2.12.0"),
    (BuiltinOperator::SPACE_TO_BATCH_ND, 1, "1.6.0"),
    (BuiltinOperator::SPACE_TO_BATCH_ND, 2, "1.14.0"),
    (BuiltinOperator::SPACE_TO_BATCH_ND, 3, "2.3.0"),
    (BuiltinOperator::SPACE_TO_BATCH_ND, 4, "2.12.0"),
    (BuiltinOperator::TRANSPOSE, 1, "1.6.0"),
    (BuiltinOperator::TRANSPOSE, 2, "1.14.0"),
    (BuiltinOperator::TRANSPOSE, 3, "1.15.0"),
    (BuiltinOperator::TRANSPOSE, 4, "2.3.0"),
    (BuiltinOperator::TRANSPOSE, 5, "2.4.0"),
    (BuiltinOperator::TRANSPOSE, 6, "2.12.0"),
    (BuiltinOperator::TRANSPOSE, 7, "2.14.4"),
    (BuiltinOperator::MEAN, 1, "1.6.0"),
    (BuiltinOperator::MEAN, 2, "1.14.0"),
    (BuiltinOperator::MEAN, 3, "2.4.0"),
    (BuiltinOperator::SUB, 1, "1.6.0"),
    (BuiltinOperator::SUB, 2, "1.14.0"),
    (BuiltinOperator::SUB, 3, "2.3.0"),
    (BuiltinOperator::SUB, 4, "2.4.0"),
    (BuiltinOperator::SUB, 5, "2.4.0"),
    (BuiltinOperator::DIV, 1, "1.6.0"),
    (BuiltinOperator::DIV, 2, "2.3.0"),
    (BuiltinOperator::SQUEEZE, 1, "1.6.0"),
    (BuiltinOperator::SQUEEZE, 2, "2.5.0"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM, 1, "1.13.1"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM, 2, "1.14.0"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM, 3, "2.3.0"),
    (BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM, 4, "2.12.0"),
    (BuiltinOperator::STRIDED_SLICE, 1, "1.6.0"),
    (BuiltinOperator::STRIDED_SLICE, 2, "1.14.0"),
    (BuiltinOperator::STRIDED_SLICE, 3, "2.1.0"),
    (BuiltinOperator::STRIDED_SLICE, 4, "2.2.0"),
    (BuiltinOperator::STRIDED_SLICE, 5, "2.5.0"),
    (BuiltinOperator::STRIDED_SLICE, 6, "2.6.0"),
    (BuiltinOperator::STRIDED_SLICE, 7, "2.14.0"),
    (BuiltinOperator::STRIDED_SLICE, 8, "2.14.0"),
    (BuiltinOperator::BIDIRECTIONAL_SEQUENCE_RNN, 1, "1.14.0"),
    (BuiltinOperator::BIDIRECTIONAL_SEQUENCE_RNN, 2, "1.14.0"),
    (BuiltinOperator::BIDIRECTIONAL_SEQUENCE_RNN, 3, "2.3.0"),
    (BuiltinOperator::EXP, 1, "1.7.0"),
    (BuiltinOperator::EXP, 2, "2.12.0"),
    (BuiltinOperator::TOPK_V2, 1, "1.7.0"),
    (BuiltinOperator::TOPK_V2, 2, "1.14.0"),
    (BuiltinOperator::TOPK_V2, 3, "2.13.0"),
    (BuiltinOperator::SPLIT, 1, "1.5.0"),
    (BuiltinOperator::SPLIT, 2, "1.14.0"),
    (BuiltinOperator::SPLIT, 3, "1.14.0"),
    (BuiltinOperator::SPLIT, 4, "2.3.0"),
    (BuiltinOperator::LOG_SOFTMAX, 1, "1.14.0"),
    (BuiltinOperator::LOG_SOFTMAX, 2, "1.14.0"),
    (BuiltinOperator::BIDIRECTIONAL_SEQUENCE_LSTM, 1, "1.14.0"),
    (BuiltinOperator::BIDIRECTIONAL_SEQUENCE_LSTM, 2, "1.14.0"),
    (BuiltinOperator::BIDIRECTIONAL_SEQUENCE_LSTM, 3, "1.14.0"),
    (BuiltinOperator::CAST, 1, "1.5.0"),
    (BuiltinOperator::CAST, 2, "2.7.0"),
    (BuiltinOperator::CAST, 3, "2.8.0"),
    (BuiltinOperator::CAST, 4, "2.9.0"),
    (BuiltinOperator::CAST, 5, "2.12.0"),
    (BuiltinOperator::CAST, 6, "2.15.0"),
    (BuiltinOperator::CAST, 7, "2.17.0"),
    (BuiltinOperator::PRELU, 1, "1.8.0"),
    (BuiltinOperator::MAXIMUM, 1, "1.14.0"),
    (BuiltinOperator::MAXIMUM, 2, "1.14.0"),
    (BuiltinOperator::MAXIMUM, 3, "2.3.0"),
    (BuiltinOperator::MAXIMUM, 4, "2.3.0"),
    (BuiltinOperator::ARG_MAX, 1, "1.9.0"),
    (BuiltinOperator::ARG_MAX, 2, "1.14.0"),
    (BuiltinOperator::ARG_MAX, 3, "2.9.0"),
    (BuiltinOperator::MINIMUM, 1, "1.14.0"),
    (BuiltinOperator::MINIMUM, 2, "1.14.0"),
    (BuiltinOperator::MINIMUM, 3, "2.3.0"),
    (BuiltinOperator::MINIMUM, 4, "2.3.0"),
    (BuiltinOperator::LESS, 1, "1.14.0"),
    (BuiltinOperator::LESS, 2, "1.14.0"),
    (BuiltinOperator::LESS, 3, "2.13.0"),
    (BuiltinOperator::NEG, 1, "1.9.0"),
    (BuiltinOperator::PADV2, 1, "1.9.0"),
    (BuiltinOperator::PADV2, 2, "1.14.0"),
    (BuiltinOperator::PADV2, 3, "2.4.0"),
    (BuiltinOperator::PADV2, 4, "2.6.0"),
    (BuiltinOperator::GREATER, 1, "1.14.0"),
    (BuiltinOperator::GREATER, 2, "1.14.0"),
    (BuiltinOperator::GREATER_EQUAL, 1, "1.14.0"),
    (BuiltinOperator::GREATER_EQUAL, 2, "1.14.0"),
    (BuiltinOperator::GREATER_EQUAL, 3, "2.13.0"),
    (BuiltinOperator::LESS_EQUAL, 1, "1.14.0"),
    (BuiltinOperator::LESS_EQUAL, 2, "1.14.0"),
    (BuiltinOperator::SELECT, 1, "1.14.0"),
    (BuiltinOperator::SELECT, 2, "1.14.0"),
    (BuiltinOperator::SELECT, 3, "2.12.0"),
    (BuiltinOperator::SELECT, 4, "2.12.0"),
    (BuiltinOperator::SLICE, 1, "1.14.0"),
    (BuiltinOperator::SLICE, 2, "1.14.0"),
    (BuiltinOperator::SLICE, 3, "1.14.0"),
    (BuiltinOperator::SLICE, 4, "2.4.0"),
    (BuiltinOperator::SLICE, 5, "2.5.0"),
    (BuiltinOperator::SLICE, 6, "2.14.0"),
    (BuiltinOperator::SIN, 1, "1.9.0"),
    (BuiltinOperator::TRANSPOSE_CONV, 1, "1.9.0"),
    (BuiltinOperator::TRANSPOSE_CONV, 2, "2.2.0"),
    (BuiltinOperator::TRANSPOSE_CONV, 3, "2.3.0"),
    (BuiltinOperator::TRANSPOSE_CONV, 4, "2.13.0"),
    (BuiltinOperator::TRANSPOSE_CONV, 5, "2.15.0"),
    (BuiltinOperator::SPARSE_TO_DENSE, 1, "1.9.0"),
    (BuiltinOperator::SPARSE_TO_DENSE, 2, "1.14.0"),
    (BuiltinOperator::SPARSE_TO_DENSE, 3, "1.15.0"),
    (BuiltinOperator::TILE, 1, "1.10.1"),
    (BuiltinOperator::TILE, 2, "2.2.0"),
    (BuiltinOperator::TILE, 3, "2.8.0"),
    (BuiltinOperator::EXPAND_DIMS, 1, "1.10.0"),
    (BuiltinOperator::EQUAL, 1, "1.14.0"),
    (BuiltinOperator::EQUAL, 2, "1.14.0"),
    (BuiltinOperator::EQUAL, 3, "2.3.0"),
    (BuiltinOperator::EQUAL, 4, "2.13.0"),
    (BuiltinOperator::NOT_EQUAL, 1, "1.14.0"),
    (BuiltinOperator::NOT_EQUAL, 2, "1.14.0"),
    (BuiltinOperator::NOT_EQUAL, 3, "2.3.0"),
    (BuiltinOperator::LOG, 1, "1.14.0"),
    (BuiltinOperator::LOG, 2, "2.15.0"),
    (BuiltinOperator::SUM, 1, "1.10.0"),
    (BuiltinOperator::SUM, 2, "1.15.0"),
    (BuiltinOperator::SQRT, 1, "1.10.0"),
    (BuiltinOperator::RSQRT, 1, "1.10.0"),
    (BuiltinOperator::RSQRT, 2, "2.5.0"),
    (BuiltinOperator::RSQRT, 3, "2.15.0"),
    (BuiltinOperator::SHAPE, 1, "1.10.0"),
    (BuiltinOperator::POW, 1, "1.10.0"),
    (BuiltinOperator::ARG_MIN, 1, "1.9.0"),
    (BuiltinOperator::ARG_MIN, 2, "1.14.0"),
    (BuiltinOperator::ARG_MIN, 3, "2.9.0"),
    (BuiltinOperator::FAKE_QUANT, 1, "1.5.0"),
    (BuiltinOperator::FAKE_QUANT, 2, "1.10.0"),
    (BuiltinOperator::REDUCE_PROD, 1, "1.11.0"),
    (BuiltinOperator::REDUCE_PROD, 2, "2.6.0"),
    (BuiltinOperator::REDUCE_MAX, 1, "1.11.0"),
    (BuiltinOperator::REDUCE_MAX, 2, "1.14.0"),
    (BuiltinOperator::REDUCE_MAX, 3, "2.5.0"),
    (BuiltinOperator::PACK, 1, "1.11.0"),
    (BuiltinOperator::PACK, 2, "1.14.0"),
    (BuiltinOperator::PACK, 3, "2.3.0"),
    (BuiltinOperator::PACK, 4, "2.13.0"),
    (BuiltinOperator::LOGICAL_OR, 1, "1.11.0"),
    (BuiltinOperator::ONE_HOT, 1, "1.11.0"),
    (BuiltinOperator::LOGICAL_AND, 1, "1.11.0"),
    (BuiltinOperator::LOGICAL_NOT, 1, "1.11.0"),
    (BuiltinOperator::UNPACK, 1, "1.11.0"),
    (BuiltinOperator::UNPACK, 2, "1.14.0"),
    (BuiltinOperator::UNPACK, 3, "2.2.0"),
    (BuiltinOperator::UNPACK, 4, "2.3.0"),
    (BuiltinOperator::REDUCE_MIN, 1, "1.11.0"),
    (BuiltinOperator::REDUCE_MIN, 2, "1.14.0"),
    (BuiltinOperator::REDUCE_MIN, 3, "2.5.0"),
    (BuiltinOperator::FLOOR_DIV, 1, "1.14.0"),
    (BuiltinOperator::FLOOR_DIV, 2, "1.14.0"),
    (BuiltinOperator::FLOOR_DIV, 3, "2.13.0"),
    (BuiltinOperator::REDUCE_ANY, 1, "1.11.0"),
    (BuiltinOperator::SQUARE, 1, "1.12.0"),
    (BuiltinOperator::ZEROS_LIKE, 1, "1.12.0"),
    (BuiltinOperator::FILL, 1, "1.13.0"),
    (BuiltinOperator::FILL, 2, "2.3.0"),
    (BuiltinOperator::FILL, 3, "2.5.0"),
    (BuiltinOperator::FILL, 4, "2.12.0"),
    (BuiltinOperator::FLOOR_MOD, 1, "1.13.0"),
    (BuiltinOperator::FLOOR_MOD, 2, "2.13.0"),
    (BuiltinOperator::RANGE, 1, "1.13.0"),
    (BuiltinOperator::RANGE, 2, "2.14.0"),
    (BuiltinOperator::RESIZE_NEAREST_NEIGHBOR, 1, "1.13.1"),
    (BuiltinOperator::RESIZE_NEAREST_NEIGHBOR, 2, "1.14.0"),
    (BuiltinOperator::RESIZE_NEAREST_NEIGHBOR, 3, "2.3.0"),
    (BuiltinOperator::RESIZE_NEAREST_NEIGHBOR, 4, "2.4.0"),
    (BuiltinOperator::LEAKY_RELU, 1, "1.13.1"),
    (BuiltinOperator::LEAKY_RELU, 2, "2.3.0"),
    (BuiltinOperator::SQUARED_DIFFERENCE, 1, "1.13.1"),
    (BuiltinOperator::SQUARED_DIFFERENCE, 2, "2.5.0"),
    (BuiltinOperator::MIRROR_PAD, 1, "1.13.1"),
    (BuiltinOperator::MIRROR_PAD, 2, "2.3.0"),
    (BuiltinOperator::MIRROR_PAD, 3, "2.12.0"),
    (BuiltinOperator::ABS, 1, "1.13.0"),
    (BuiltinOperator::ABS, 2, "2.4.0"),
    (BuiltinOperator::ABS, 3, "2.5.0"),
    (BuiltinOperator::ABS, 4, "2.6.0"),
    (BuiltinOperator::ABS, 5, "2.12.0"),
    (BuiltinOperator::SPLIT_V, 1, "1.13.1"),
    (BuiltinOperator::SPLIT_V, 2, "2.3.0"),
    (BuiltinOperator::UNIQUE, 1, "1.14.0"),
    (BuiltinOperator::CEIL, 1, "1.14.0"),
    (BuiltinOperator::REVERSE_V2, 1, "1.14.0"),
    (BuiltinOperator::REVERSE_V2, 2, "2.2.0"),
    (BuiltinOperator::REVERSE_V2, 3, "2.5.0"),
    (BuiltinOperator::ADD_N, 1, "1.14.0"),
    (BuiltinOperator::GATHER_ND, 1, "1.14.0"),
    (BuiltinOperator::GATHER_ND, 2, "2.3.0"),
    (BuiltinOperator::GATHER_ND, 3, "2.5.0"),
    (BuiltinOperator::GATHER_ND, 4, "2.13.0"),
    (BuiltinOperator::GATHER_ND, 5, "2.16.0"),
    (BuiltinOperator::COS, 1, "1.14.0"),
    (BuiltinOperator::WHERE, 1, "1.14.0"),
    (BuiltinOperator::WHERE, 2, "2.8.0"),
    (BuiltinOperator::RANK, 1, "1.14.0"),
    (BuiltinOperator::ELU, 1, "1.14.0"),
    (BuiltinOperator::REVERSE_SEQUENCE, 1, "1.14.0"),
    (BuiltinOperator::MATRIX_DIAG, 1, "1.14.0"),
    (BuiltinOperator::QUANTIZE, 1, "1.14.0"),
    (BuiltinOperator::QUANTIZE, 2, "1.15.0"),
    (BuiltinOperator::QUANTIZE, 3, "2.7.0"),
    (BuiltinOperator::MATRIX_SET_DIAG, 1, "1.14.0"),
    (BuiltinOperator::ROUND, 1, "1.14.0"),
    (BuiltinOperator::HARD_SWISH, 1, "1.15.0"),
    (BuiltinOperator::IF, 1, "1.15.0"),
    (BuiltinOperator::WHILE, 1, "1.15.0"),
    (BuiltinOperator::NON_MAX_SUPPRESSION_V4, 1, "2.1.0"),
    (BuiltinOperator::NON_MAX_SUPPRESSION_V5, 1, "2.1.0"),
    (BuiltinOperator::SCATTER_ND, 1, "2.1.0"),
    (BuiltinOperator::SELECT_V2, 1, "2.2.0"),
    (BuiltinOperator::SELECT_V2, 2, "2.12.0"),
    (BuiltinOperator::DENSIFY, 1, "2.2.0"),
    (BuiltinOperator::SEGMENT_SUM, 1, "2.2.0"),
    (BuiltinOperator::BATCH_MATMUL, 1, "2.3.0"),
    (BuiltinOperator::BATCH_MATMUL, 2, "2.3.0"),
    (BuiltinOperator::BATCH_MATMUL, 3, "2.4.0"),
    (BuiltinOperator::BATCH_MATMUL, 4, "2.5.0"),
    (BuiltinOperator::CUMSUM, 1, "2.4.0"),
    (BuiltinOperator::CALL_ONCE, 1, "2.5.0"),
    (BuiltinOperator::BROADCAST_TO, 2, "2.5.0"),
    (BuiltinOperator::BROADCAST_TO, 3, "2.5.0"),
    (BuiltinOperator::RFFT2D, 1, "2.5.0"),
    (BuiltinOperator::CONV_3D, 1, "2.5.0"),
    (BuiltinOperator::IMAG, 1, "2.5.0"),
    (BuiltinOperator::REAL, 1, "2.5.0"),
    (BuiltinOperator::COMPLEX_ABS, 1, "2.5.0"),
    (BuiltinOperator::HASHTABLE, 1, "2.5.0"),
    (BuiltinOperator::HASHTABLE_FIND, 1, "2.5.0"),
    (BuiltinOperator::HASHTABLE_IMPORT, 1, "2.5.0"),
    (BuiltinOperator::HASHTABLE_SIZE, 1, "2.5.0"),
    (BuiltinOperator::REDUCE_ALL, 1, "2.6.0"),
    (BuiltinOperator::CONV_3D_TRANSPOSE, 1, "2.6.0"),
    (BuiltinOperator::VAR_HANDLE, 1, "2.6.0"),
    (BuiltinOperator::READ_VARIABLE, 1, "2.6.0"),
    (BuiltinOperator::ASSIGN_VARIABLE, 1, "2.6.0"),
    (BuiltinOperator::BROADCAST_ARGS, 1, "2.6.0"),
    (BuiltinOperator::RANDOM_STANDARD_NORMAL, 1, "2.8.0"),
    (BuiltinOperator::BUCKETIZE, 1, "2.8.0"),
    (BuiltinOperator::RANDOM_UNIFORM, 1, "2.8.0"),
    (BuiltinOperator::MULTINOMIAL, 1, "2.8.0"),
    (BuiltinOperator::GELU, 1, "2.9.0"),
    (BuiltinOperator::GELU, 2, "2.9.0"),
    (BuiltinOperator::DYNAMIC_UPDATE_SLICE, 1, "2.9.0"),
    (BuiltinOperator::DYNAMIC_UPDATE_SLICE, 2, "2.17.0"),
    (BuiltinOperator::DYNAMIC_UPDATE_SLICE, 3, "2.19.0"),
    (BuiltinOperator::DYNAMIC_UPDATE_SLICE, 4, "2.20.0"),
    (BuiltinOperator::RELU_0_TO_1, 1, "2.10.0"),
    (BuiltinOperator::UNSORTED_SEGMENT_PROD, 1, "2.10.0"),
    (BuiltinOperator::UNSORTED_SEGMENT_MAX, 1, "2.10.0"),
    (BuiltinOperator::UNSORTED_SEGMENT_SUM, 1, "2.10.0"),
    (BuiltinOperator::ATAN2, 1, "2.10.0"),
    (BuiltinOperator::UNSORTED_SEGMENT_MIN, 1, "2.11.0"),
    (BuiltinOperator::SIGN, 1, "2.11.0"),
    (BuiltinOperator::SIGN, 2, "2.12.0"),
    (BuiltinOperator::BITCAST, 1, "2.13.0"),
    (BuiltinOperator::BITWISE_XOR, 1, "2.13.0"),
    (BuiltinOperator::RIGHT_SHIFT, 1, "2.13.0"),
    (BuiltinOperator::STABLEHLO_ADD, 1, "2.16.0"),
    (BuiltinOperator::STABLEHLO_MULTIPLY, 1, "2.16.0"),
    (BuiltinOperator::STABLEHLO_MAXIMUM, 1, "2.16.0"),
    (BuiltinOperator::STABLEHLO_AND, 1, "2.17.0"),
    (BuiltinOperator::STABLEHLO_MINIMUM, 1, "2.16.0"),
    (BuiltinOperator::STABLEHLO_SCATTER, 1, "2.15.0"),
    (BuiltinOperator::STABLEHLO_PAD, 1, "2.16.0"),
    (BuiltinOperator::STABLEHLO_REDUCE_WINDOW, 1, "2.16.0"),
    (BuiltinOperator::STABLEHLO_GATHER, 1, "2.16.0"),
    (BuiltinOperator::DILATE, 1, "2.15.0"),
    (BuiltinOperator::STABLEHLO_RNG_BIT_GENERATOR, 1, "2.15.0"),
    (BuiltinOperator::REDUCE_WINDOW, 1, "2.15.0"),
    (BuiltinOperator::STABLEHLO_COMPOSITE, 1, "2.17.0"),
    (BuiltinOperator::STABLEHLO_SHIFT_LEFT, 1, "2.17.0"),
    (BuiltinOperator::STABLEHLO_CBRT, 1, "2.17.0"),
    (BuiltinOperator::STABLEHLO_CASE, 1, "2.17.0"),
];

/// The first runtime release that supports version `version` of `op`, or
/// `None` if the table doesn't know the pair (custom ops, ops without a
/// recorded release, versions newer than the table).
pub fn op_runtime_version(op: BuiltinOperator, version: i32) -> Option<&'static str> {
    TABLE.binary_search_by(|&(o, v, _)| (o, v).cmp(&(op, version))).ok().map(|i| TABLE[i].2)
}

/// An operator code whose version is newer than any runtime release has: the runtime cannot
/// register it ("Registration failed"). Ops the table does not know are not judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator code {code} ({op}) has version {version}, but the newest the runtime knows is {newest}")]
pub struct VersionError {
    pub code: usize,
    pub op: String,
    pub version: i32,
    pub newest: i32,
}

/// Checks every builtin operator code against the newest version in the table.
pub fn check_versions(model: &Model) -> Result<(), VersionError> {
    for (code, c) in model.operator_codes.iter().enumerate() {
        let lo = TABLE.partition_point(|&(o, _, _)| o < c.builtin);
        // The table lags the runtime by a release here and there; a version tflq itself writes
        // (the registry's) is known too.
        let registry = crate::ops::registry().builtin(c.builtin).and_then(|d| d.versions.iter().copied().max());
        let table = TABLE[lo..].iter().take_while(|&&(o, _, _)| o == c.builtin).map(|&(_, v, _)| v).max();
        let newest = table.map(|t| registry.map_or(t, |r| t.max(r)));
        if let Some(newest) = newest {
            if c.version > newest {
                return Err(VersionError { code, op: c.name(), version: c.version, newest });
            }
        }
    }
    Ok(())
}

/// Numeric components of a dotted version string, for ordering: "1.14.0"
/// sorts after "1.5.0". A component that isn't a number counts as 0 (the
/// table has none); a string that is a prefix of another sorts first.
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|c| c.parse().unwrap_or(0)).collect()
}

/// The newest runtime release required by any operator of any subgraph.
///
/// Operators whose code the table doesn't know are skipped rather than
/// treated as an error, as the converter does: custom ops, ops with no
/// recorded release, op versions newer than the table, and operators whose
/// `opcode_index` is out of range. `None` when no operator is known (the
/// converter writes an empty string then).
pub fn min_runtime_version(model: &Model) -> Option<String> {
    model
        .subgraphs
        .iter()
        .flat_map(|sg| &sg.operators)
        .filter_map(|op| model.operator_codes.get(op.opcode_index as usize))
        .filter(|code| code.builtin != BuiltinOperator::CUSTOM)
        .filter_map(|code| op_runtime_version(code.builtin, code.version))
        .max_by_key(|v| version_key(v))
        .map(str::to_string)
}

/// The metadata bytes for `version`: the string NUL-padded to 16 bytes, or,
/// if it doesn't fit, the string followed by a single NUL.
fn padded(version: &str) -> Vec<u8> {
    let mut bytes = version.as_bytes().to_vec();
    bytes.resize(PADDED_LEN.max(bytes.len() + 1), 0);
    bytes
}

/// Recomputes the `min_runtime_version` metadata entry and stores it,
/// replacing the data of an existing entry's buffer or adding a new entry and
/// buffer. The model is left unchanged when no operator is in the table.
///
/// The converter only ever rewrites an existing entry in place; adding one
/// when it's missing is this crate's choice, so that every written model
/// carries it. An entry that points at the shared empty buffer 0 or at a
/// missing buffer gets a fresh buffer instead of clobbering that one.
pub fn set_min_runtime_version(model: &mut Model) {
    let Some(version) = min_runtime_version(model) else { return };
    let data = Data::from(padded(&version));
    let n_buffers = model.buffers.len();
    let existing = model.metadata.iter_mut().find(|m| m.name.as_deref() == Some(METADATA_NAME));
    match existing {
        Some(m) if m.buffer != 0 && (m.buffer as usize) < n_buffers => {
            model.buffers[m.buffer as usize].data = data;
        }
        Some(m) => {
            m.buffer = n_buffers as u32;
            model.buffers.push(Buffer { data });
        }
        None => {
            model.buffers.push(Buffer { data });
            model.metadata.push(Metadata { name: Some(METADATA_NAME.into()), buffer: n_buffers as u32 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Operator, OperatorCode, Subgraph};
    use std::path::{Path, PathBuf};

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
    }

    /// A one-subgraph model with one operator per (op, version) code.
    fn model_with(codes: &[(BuiltinOperator, i32)]) -> Model {
        let mut model = Model::default();
        let mut sg = Subgraph::default();
        for (i, &(builtin, version)) in codes.iter().enumerate() {
            let custom_code = (builtin == BuiltinOperator::CUSTOM).then(|| "MyOp".to_string());
            model.operator_codes.push(OperatorCode { builtin, custom_code, version });
            sg.operators.push(Operator { opcode_index: i as u32, ..Operator::default() });
        }
        model.subgraphs.push(sg);
        model
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert_eq!(TABLE.len(), 399);
        for w in TABLE.windows(2) {
            assert!((w[0].0, w[0].1) < (w[1].0, w[1].1), "{:?} before {:?}", w[0], w[1]);
        }
        for &(_, v, s) in TABLE {
            assert!(v >= 1);
            assert_eq!(version_key(s).len(), 3, "{s}");
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(op_runtime_version(BuiltinOperator::CONV_2D, 1), Some("1.5.0"));
        assert_eq!(op_runtime_version(BuiltinOperator::CONV_2D, 3), Some("1.14.0"));
        assert_eq!(op_runtime_version(BuiltinOperator::FULLY_CONNECTED, 13), Some("2.18.0"));
        assert_eq!(op_runtime_version(BuiltinOperator::TILE, 1), Some("1.10.1"));
        assert_eq!(op_runtime_version(BuiltinOperator::TRANSPOSE, 7), Some("2.14.4"));
        assert_eq!(op_runtime_version(BuiltinOperator::DYNAMIC_UPDATE_SLICE, 4), Some("2.20.0"));
        assert_eq!(op_runtime_version(BuiltinOperator::STABLEHLO_CASE, 1), Some("2.17.0"));
        assert_eq!(op_runtime_version(BuiltinOperator::BROADCAST_TO, 1), None);
        assert_eq!(op_runtime_version(BuiltinOperator::CONV_2D, 99), None);
        assert_eq!(op_runtime_version(BuiltinOperator::CUSTOM, 1), None);
        assert_eq!(op_runtime_version(BuiltinOperator(-7), 1), None);
    }

    #[test]
    fn versions_compare_numerically() {
        let m = model_with(&[
            (BuiltinOperator::CONV_2D, 2),    // 1.14.0
            (BuiltinOperator::TILE, 1),       // 1.10.1
            (BuiltinOperator::RESHAPE, 1),    // 1.5.0
            (BuiltinOperator::CUSTOM, 1),     // skipped
            (BuiltinOperator::CONV_2D, 1000), // unknown: skipped
        ]);
        assert_eq!(min_runtime_version(&m).as_deref(), Some("1.14.0"));
        let m = model_with(&[(BuiltinOperator::ADD, 5), (BuiltinOperator::CONV_2D, 6)]);
        assert_eq!(min_runtime_version(&m).as_deref(), Some("2.13.0"));
        assert_eq!(min_runtime_version(&model_with(&[(BuiltinOperator::CUSTOM, 1)])), None);
        assert_eq!(min_runtime_version(&Model::default()), None);
    }

    #[test]
    fn padding() {
        assert_eq!(padded("1.14.0"), b"1.14.0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(padded("0123456789abcdef"), b"0123456789abcdef\0");
    }

    #[test]
    fn set_adds_then_overwrites() {
        let mut m = model_with(&[(BuiltinOperator::RESHAPE, 1)]);
        set_min_runtime_version(&mut m);
        assert_eq!(m.metadata.len(), 1);
        assert_eq!(m.buffers.len(), 2);
        assert_eq!(m.metadata_bytes(METADATA_NAME).unwrap(), padded("1.5.0").as_slice());
        assert_eq!(m.min_runtime_version().as_deref(), Some("1.5.0"));

        m.operator_codes[0] = OperatorCode { builtin: BuiltinOperator::CONV_2D, custom_code: None, version: 7 };
        set_min_runtime_version(&mut m);
        assert_eq!(m.metadata.len(), 1);
        assert_eq!(m.buffers.len(), 2);
        assert_eq!(m.min_runtime_version().as_deref(), Some("2.11.0"));

        // Nothing known: left as is.
        let before = m.clone();
        m.operator_codes[0] = OperatorCode { builtin: BuiltinOperator::CUSTOM, custom_code: None, version: 1 };
        let expect = Model { operator_codes: m.operator_codes.clone(), ..before };
        set_min_runtime_version(&mut m);
        assert_eq!(m, expect);
    }

    #[test]
    fn set_never_writes_into_buffer_zero() {
        let mut m = model_with(&[(BuiltinOperator::RESHAPE, 1)]);
        m.metadata.push(Metadata { name: Some(METADATA_NAME.into()), buffer: 0 });
        set_min_runtime_version(&mut m);
        assert!(m.buffers[0].data.is_empty());
        assert_eq!(m.metadata[0].buffer, 1);
        assert_eq!(m.min_runtime_version().as_deref(), Some("1.5.0"));
    }

    #[test]
    fn cnn_int8_fixture() {
        let mut model = crate::load(&testdata("cnn.int8.tflite")).unwrap();
        assert_eq!(model.min_runtime_version().as_deref(), Some("1.14.0"));
        assert_eq!(min_runtime_version(&model).as_deref(), Some("1.14.0"));
        let (n_meta, n_buf) = (model.metadata.len(), model.buffers.len());
        set_min_runtime_version(&mut model);
        assert_eq!((model.metadata.len(), model.buffers.len()), (n_meta, n_buf));
        assert_eq!(model.min_runtime_version().as_deref(), Some("1.14.0"));
    }

    /// Fixtures whose stamp is known to be stale. TF quantizes models with
    /// int16 activations with its older calibrate-and-quantize path instead of
    /// the MLIR quantizer, and that path bumps op versions without refreshing
    /// the metadata: the file keeps the float model's "1.5.0" although its
    /// CONV_2D v3, MAX_POOL_2D v2, FULLY_CONNECTED v4 and DEQUANTIZE v2 all
    /// first shipped in 1.14.0.
    const STALE: &[(&str, &str, &str)] = &[("cnn.int16x8.tflite", "1.5.0", "1.14.0")];

    #[test]
    fn stale_fixtures() {
        for &(name, stamped, expect) in STALE {
            let model = crate::load(&testdata(name)).unwrap();
            assert_eq!(model.min_runtime_version().as_deref(), Some(stamped), "{name}");
            assert_eq!(min_runtime_version(&model).as_deref(), Some(expect), "{name}");
        }
    }

    /// Every other fixture the converter stamped agrees with the recomputed value.
    #[test]
    fn fixtures_agree_with_converter() {
        let mut checked = 0;
        let mut mismatches = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(testdata(""))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
            .filter(|p| !STALE.iter().any(|s| p.file_name().is_some_and(|n| n == s.0)))
            .collect();
        paths.sort();
        for path in paths {
            let Ok(model) = crate::load(&path) else { continue };
            let Some(stamped) = model.min_runtime_version() else { continue };
            checked += 1;
            let ours = min_runtime_version(&model);
            if ours.as_deref() != Some(stamped.as_str()) {
                mismatches.push(format!("{}: converter {stamped:?}, ours {ours:?}", path.display()));
            }
        }
        assert!(checked >= 20, "only {checked} stamped fixtures");
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }
}
