#!/usr/bin/env python3
"""Build the single-op agreement models in testdata/ops/ with pinned TensorFlow.

Run it through `scripts/gen-fixtures.sh --ops` (never in CI). Each case is a small
tf.function converted by TF's own converter, so the operator, its options and its operand
layout are what TF writes. It is stored as testdata/ops/<family>/<case>/ with
  model.tflite     the converted model
  input_<i>.npy    the inputs, one per model input in the model's order
and testdata/ops/manifest.json lists every case with the operators its model holds.
The Rust test tests/tf_ops.rs runs each model in tflq's interpreter and in the official
one on these inputs and compares the outputs.

A case's inputs are drawn from a seeded generator, so that reruns are identical.
"""

import inspect
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from ai_edge_litert import schema_py_generated as schema  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")
_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

CASES = []


def case(family, name, *inputs, expect, resource_variables=False, dynamic=None):
    """Registers fn as case `name`; `inputs` are numpy arrays; `expect` the op it must hold.

    `dynamic` lists input indices whose shape is left unknown in the signature (so that
    the converter cannot fold shape-only ops)."""

    def wrap(fn):
        CASES.append((family, name, fn, inputs, expect, resource_variables, dynamic or []))
        return fn

    return wrap


R = np.random.default_rng(20261201)


def f32(*shape, lo=-3.0, hi=3.0):
    return R.uniform(lo, hi, shape).astype(np.float32)


def i32(*shape, lo=0, hi=10):
    return R.integers(lo, hi, shape).astype(np.int32)


def i64(*shape, lo=0, hi=10):
    return R.integers(lo, hi, shape).astype(np.int64)


def boolean(*shape):
    return R.integers(0, 2, shape).astype(np.bool_)


def scalar(v, dtype):
    return np.array(v, dtype=dtype)


# ---------------------------------------------------------------- signal processing


@case("signal", "rfft2d", f32(2, 8, 16), expect="RFFT2D")
def _(x):
    return tf.abs(tf.signal.rfft2d(x, fft_length=[8, 16]))


@case("signal", "rfft2d_pad_crop", f32(1, 6, 12), expect="RFFT2D")
def _(x):
    c = tf.signal.rfft2d(x, fft_length=[8, 8])
    return tf.math.real(c), tf.math.imag(c)


@case("signal", "stft_magnitude", f32(2, 400, lo=-1, hi=1), expect="RFFT2D")
def _(x):
    s = tf.signal.stft(x, frame_length=64, frame_step=32, fft_length=64)
    return tf.math.log(tf.abs(s) + 1e-6)


@case("signal", "complex_abs", f32(3, 4, 8), expect="COMPLEX_ABS")
def _(x):
    return tf.abs(tf.signal.rfft2d(x, fft_length=[4, 8]))


# ---------------------------------------------------------------- generation


@case("generate", "range_int", scalar(2, np.int32), scalar(17, np.int32), scalar(3, np.int32), expect="RANGE")
def _(a, b, d):
    return tf.range(a, b, d)


@case("generate", "range_float", scalar(-1.5, np.float32), scalar(2.0, np.float32), scalar(0.25, np.float32), expect="RANGE")
def _(a, b, d):
    return tf.range(a, b, d)


@case("generate", "range_negative_delta", scalar(10, np.int32), scalar(-3, np.int32), scalar(-4, np.int32), expect="RANGE")
def _(a, b, d):
    return tf.range(a, b, d)


@case("generate", "fill", np.array([2, 3, 4], np.int32), scalar(1.5, np.float32), expect="FILL")
def _(dims, v):
    return tf.fill(dims, v)


@case("generate", "fill_int", np.array([3, 5], np.int32), scalar(-7, np.int32), expect="FILL")
def _(dims, v):
    return tf.fill(dims, v)


@case("generate", "zeros_like", f32(3, 4), expect="ZEROS_LIKE", dynamic=[0])
def _(x):
    return tf.zeros_like(x) + x * 0.5


@case("generate", "tile", f32(2, 3, 4), expect="TILE")
def _(x):
    return tf.tile(x, [2, 1, 3])


@case("generate", "tile_int_multiples_input", i32(2, 3, lo=-5, hi=5), np.array([3, 2], np.int32), expect="TILE")
def _(x, m):
    return tf.tile(x, m)


@case("generate", "broadcast_to", f32(3, 1, 4), expect="BROADCAST_TO")
def _(x):
    return tf.broadcast_to(x, [2, 3, 5, 4])


@case("generate", "broadcast_args", np.array([3, 1, 4], np.int32), np.array([5, 1], np.int32), expect="BROADCAST_ARGS")
def _(a, b):
    return tf.raw_ops.BroadcastArgs(s0=a, s1=b)


@case("generate", "one_hot", i32(4, 3, lo=-1, hi=6), expect="ONE_HOT")
def _(i):
    return tf.one_hot(i, depth=5, on_value=2.5, off_value=-1.0)


@case("generate", "one_hot_axis0", i32(6, lo=0, hi=4), expect="ONE_HOT")
def _(i):
    return tf.one_hot(i, depth=4, axis=0)


@case("generate", "reverse", f32(2, 3, 4, 5), expect="REVERSE_V2")
def _(x):
    return tf.reverse(x, axis=[1])


@case("generate", "reverse_two_axes", f32(3, 4, 5, 2), expect="REVERSE_V2")
def _(x):
    return tf.reverse(x, axis=[1, 2])


# ---------------------------------------------------------------- gather and scatter


@case("gather", "gather_nd", f32(4, 5, 3), np.array([[0, 1], [3, 4], [2, 0]], np.int32), expect="GATHER_ND")
def _(p, i):
    return tf.gather_nd(p, i)


@case("gather", "gather_nd_full_index", f32(4, 5), np.array([[[0, 1]], [[3, 4]]], np.int32), expect="GATHER_ND")
def _(p, i):
    return tf.gather_nd(p, i)


@case("gather", "scatter_nd", np.array([[1], [3], [1]], np.int32), f32(3, 4), expect="SCATTER_ND")
def _(i, u):
    return tf.scatter_nd(i, u, [5, 4])


@case("gather", "reverse_sequence", f32(3, 6, 2), np.array([2, 6, 0], np.int32), expect="REVERSE_SEQUENCE")
def _(x, lens):
    return tf.reverse_sequence(x, lens, seq_axis=1, batch_axis=0)


@case("gather", "reverse_sequence_batch1", f32(5, 3), np.array([1, 4, 5], np.int64), expect="REVERSE_SEQUENCE")
def _(x, lens):
    return tf.reverse_sequence(x, lens, seq_axis=0, batch_axis=1)


@case("gather", "matrix_diag", f32(2, 4), expect="MATRIX_DIAG")
def _(d):
    return tf.linalg.diag(d)


@case("gather", "matrix_set_diag", f32(2, 3, 4), f32(2, 3), expect="MATRIX_SET_DIAG")
def _(x, d):
    return tf.linalg.set_diag(x, d)


@case("gather", "sparse_to_dense", np.array([[0, 1], [2, 3], [3, 0]], np.int32), f32(3), expect="SPARSE_TO_DENSE")
def _(i, v):
    return tf.raw_ops.SparseToDense(sparse_indices=i, output_shape=[4, 5], sparse_values=v, default_value=-1.0)


@case("gather", "where", boolean(3, 4), expect="WHERE")
def _(c):
    return tf.where(c)


@case("gather", "where_float", f32(2, 3, 2), expect="WHERE")
def _(x):
    return tf.where(x > 0.5)


@case("gather", "unique", np.array([3, 1, 3, 7, 1, 1, 9], np.int32), expect="UNIQUE")
def _(x):
    y, idx = tf.unique(x)
    return y, idx


@case("gather", "unique_float", np.array([0.5, -1, 0.5, 2, -1], np.float32), expect="UNIQUE")
def _(x):
    y, idx = tf.unique(x)
    return y, idx


@case("gather", "segment_sum", f32(6, 3), np.array([0, 0, 1, 2, 2, 2], np.int32), expect="SEGMENT_SUM")
def _(x, s):
    return tf.math.segment_sum(x, s)


@case("gather", "unsorted_segment_sum", f32(5, 2), np.array([2, 0, 2, 1, 0], np.int32), expect="UNSORTED_SEGMENT_SUM")
def _(x, s):
    return tf.math.unsorted_segment_sum(x, s, 4)


@case("gather", "unsorted_segment_prod", f32(5, 2), np.array([2, 0, 2, 1, 0], np.int32), expect="UNSORTED_SEGMENT_PROD")
def _(x, s):
    return tf.math.unsorted_segment_prod(x, s, 3)


@case("gather", "unsorted_segment_max", f32(6), np.array([1, 1, 0, 3, 0, 1], np.int32), expect="UNSORTED_SEGMENT_MAX")
def _(x, s):
    return tf.math.unsorted_segment_max(x, s, 4)


@case("gather", "unsorted_segment_min", f32(6, 2), np.array([1, 1, 0, 2, 0, 1], np.int32), expect="UNSORTED_SEGMENT_MIN")
def _(x, s):
    return tf.math.unsorted_segment_min(x, s, 3)


@case("gather", "bucketize", f32(3, 5), expect="BUCKETIZE")
def _(x):
    return tf.raw_ops.Bucketize(input=x, boundaries=[-2.0, -0.5, 0.0, 1.0, 2.5])


# ---------------------------------------------------------------- reductions and scans


@case("reduce", "reduce_prod", f32(2, 3, 4, lo=0.5, hi=1.5), expect="REDUCE_PROD")
def _(x):
    return tf.reduce_prod(x, axis=[1])


@case("reduce", "reduce_prod_keepdims", f32(2, 3, 4, lo=-1.2, hi=1.2), expect="REDUCE_PROD")
def _(x):
    return tf.reduce_prod(x, axis=[0, 2], keepdims=True)


@case("reduce", "reduce_max", f32(2, 3, 4), expect="REDUCE_MAX")
def _(x):
    return tf.reduce_max(x, axis=[1])


@case("reduce", "reduce_min_keepdims", f32(2, 3, 4), expect="REDUCE_MIN")
def _(x):
    return tf.reduce_min(x, axis=[0, 2], keepdims=True)


@case("reduce", "reduce_any", boolean(3, 4, 2), expect="REDUCE_ANY")
def _(x):
    return tf.reduce_any(x, axis=[1])


@case("reduce", "reduce_all", boolean(3, 4, 2), expect="REDUCE_ALL")
def _(x):
    return tf.reduce_all(x, axis=[0, 2], keepdims=True)


@case("reduce", "arg_max", f32(3, 5, 4), expect="ARG_MAX")
def _(x):
    return tf.math.argmax(x, axis=1)


@case("reduce", "arg_min_int32", f32(3, 5), expect="ARG_MIN")
def _(x):
    return tf.math.argmin(x, axis=-1, output_type=tf.int32)


@case("reduce", "topk", f32(3, 10), expect="TOPK_V2")
def _(x):
    v, i = tf.math.top_k(x, k=4)
    return v, i


@case("reduce", "topk_ties", np.array([[1, 3, 3, 2, 3, 1]], np.float32), expect="TOPK_V2")
def _(x):
    v, i = tf.math.top_k(x, k=3)
    return v, i


@case("reduce", "cumsum", f32(3, 6), expect="CUMSUM")
def _(x):
    return tf.cumsum(x, axis=1)


@case("reduce", "cumsum_exclusive_reverse", f32(4, 3, 2), expect="CUMSUM")
def _(x):
    return tf.cumsum(x, axis=0, exclusive=True, reverse=True)


@case("reduce", "cumsum_int", i32(2, 5, lo=-4, hi=9), expect="CUMSUM")
def _(x):
    return tf.cumsum(x, axis=1, exclusive=True)


# ---------------------------------------------------------------- elementwise


@case("elementwise", "pow", f32(2, 3, lo=0.1, hi=3), f32(2, 3, lo=-2, hi=2), expect="POW")
def _(a, b):
    return tf.pow(a, b)


@case("elementwise", "pow_int", i32(4, lo=-3, hi=4), np.array([0, 1, 2, 3], np.int32), expect="POW")
def _(a, b):
    return tf.pow(a, b)


@case("elementwise", "floor_div", f32(3, 4), f32(1, 4, lo=0.5, hi=2), expect="FLOOR_DIV")
def _(a, b):
    return tf.math.floordiv(a, b)


@case("elementwise", "floor_div_int", i32(6, lo=-9, hi=9), np.array([4, -3, 2, -2, 5, 3], np.int32), expect="FLOOR_DIV")
def _(a, b):
    return tf.math.floordiv(a, b)


@case("elementwise", "floor_mod", f32(3, 4), f32(3, 1, lo=0.5, hi=2), expect="FLOOR_MOD")
def _(a, b):
    return tf.math.floormod(a, b)


@case("elementwise", "floor_mod_int", i32(6, lo=-9, hi=9), np.array([4, -3, 2, -2, 5, 3], np.int32), expect="FLOOR_MOD")
def _(a, b):
    return tf.math.floormod(a, b)


@case("elementwise", "select", boolean(3, 4), f32(3, 4), f32(3, 4), expect="SELECT")
def _(c, a, b):
    return tf.where(c, a, b)


@case("elementwise", "select_v2_broadcast", boolean(3, 1), f32(1, 4), f32(3, 4), expect="SELECT_V2")
def _(c, a, b):
    return tf.where(c, a, b)


@case("elementwise", "select_v1", boolean(3, 4), f32(3, 4), f32(3, 4), expect="SELECT")
def _(c, a, b):
    return tf.raw_ops.Select(condition=c, x=a, y=b)


@case("elementwise", "comparisons", f32(3, 4), f32(1, 4), expect="GREATER_EQUAL")
def _(a, b):
    return (tf.equal(a, b), tf.not_equal(a, a), tf.less(a, b), tf.less_equal(a, b),
            tf.greater(a, b), tf.greater_equal(a, b))


@case("elementwise", "comparisons_int", i32(3, 4, lo=-2, hi=3), i32(3, 1, lo=-2, hi=3), expect="LESS")
def _(a, b):
    return tf.equal(a, b), tf.less(a, b), tf.greater(a, b)


@case("elementwise", "logical", boolean(3, 4), boolean(1, 4), expect="LOGICAL_AND")
def _(a, b):
    return tf.logical_and(a, b), tf.logical_or(a, b), tf.logical_not(a)


@case("elementwise", "atan2", f32(3, 4), f32(3, 4), expect="ATAN2")
def _(a, b):
    return tf.math.atan2(a, b)


@case("elementwise", "add_n", f32(2, 3), f32(2, 3), f32(2, 3), expect="ADD_N")
def _(a, b, c):
    return tf.math.add_n([a, b, c])


@case("elementwise", "squared_difference", f32(2, 3), f32(1, 3), expect="SQUARED_DIFFERENCE")
def _(a, b):
    return tf.math.squared_difference(a, b)


@case("elementwise", "bitwise_xor", i32(3, 4, lo=-100, hi=100), i32(1, 4, lo=-100, hi=100), expect="BITWISE_XOR")
def _(a, b):
    return tf.bitwise.bitwise_xor(a, b)


@case("elementwise", "right_shift", i32(3, 4, lo=-1000, hi=1000), i32(3, 4, lo=0, hi=8), expect="RIGHT_SHIFT")
def _(a, b):
    return tf.bitwise.right_shift(a, b)


@case("elementwise", "unary_math", f32(3, 8), expect="SIN")
def _(x):
    return (tf.exp(x), tf.sin(x), tf.cos(x), tf.abs(x), tf.negative(x), tf.square(x), tf.sign(x),
            tf.round(x), tf.floor(x), tf.math.ceil(x))


@case("elementwise", "log_sqrt_rsqrt", f32(3, 8, lo=0.05, hi=5), expect="LOG")
def _(x):
    return tf.math.log(x), tf.sqrt(x), tf.math.rsqrt(x)


@case("elementwise", "elu", f32(3, 8), expect="ELU")
def _(x):
    return tf.nn.elu(x)


@case("elementwise", "abs_int", i32(3, 5, lo=-9, hi=9), expect="ABS")
def _(x):
    return tf.abs(x), tf.negative(x), tf.sign(x), tf.square(x)


@case("elementwise", "fake_quant", f32(3, 8, lo=-8, hi=8), expect="QUANTIZE")
def _(x):
    return tf.quantization.fake_quant_with_min_max_args(x, min=-6.0, max=6.0, num_bits=8, narrow_range=False)


@case("elementwise", "fake_quant_narrow", f32(3, 8, lo=-3, hi=5), expect="QUANTIZE")
def _(x):
    return tf.quantization.fake_quant_with_min_max_args(x, min=-2.0, max=4.0, num_bits=6, narrow_range=True)


# ---------------------------------------------------------------- types and shapes


@case("shape", "cast_types", f32(2, 5, lo=-300, hi=300), expect="CAST")
def _(x):
    i = tf.cast(x, tf.int32)
    return (i, tf.cast(x, tf.int64), tf.cast(i, tf.float32), tf.cast(x, tf.bool), tf.cast(x, tf.uint8),
            tf.cast(x, tf.int8), tf.cast(x, tf.int16), tf.cast(tf.cast(i, tf.int16), tf.float32))


@case("shape", "cast_bool", boolean(3, 3), expect="CAST")
def _(b):
    return tf.cast(b, tf.float32), tf.cast(b, tf.int32)


@case("shape", "shape", f32(2, 3, 5), expect="SHAPE", dynamic=[0])
def _(x):
    return tf.shape(x)


@case("shape", "pack_unpack", f32(3, 4), f32(3, 4), expect="PACK")
def _(a, b):
    p = tf.stack([a, b], axis=1)
    u = tf.unstack(a, axis=1)
    return (p,) + tuple(u)


@case("shape", "split_v", f32(2, 9), expect="SPLIT_V")
def _(x):
    return tuple(tf.split(x, [2, 3, 4], axis=1))


@case("shape", "split_v_inferred", f32(7, 2), expect="SPLIT_V")
def _(x):
    return tuple(tf.split(x, [1, -1, 2], axis=0))


@case("shape", "bitcast", f32(2, 3), expect="BITCAST")
def _(x):
    return tf.bitcast(x, tf.int32)


# ---------------------------------------------------------------- layout


@case("layout", "space_to_batch_nd", f32(2, 5, 6, 3), expect="SPACE_TO_BATCH_ND")
def _(x):
    return tf.space_to_batch_nd(x, block_shape=[2, 3], paddings=[[1, 0], [0, 0]])


@case("layout", "batch_to_space_nd", f32(12, 3, 2, 3), expect="BATCH_TO_SPACE_ND")
def _(x):
    return tf.batch_to_space(x, block_shape=[2, 3], crops=[[1, 0], [0, 2]])


@case("layout", "conv3d_same", f32(1, 5, 6, 7, 3), expect="CONV_3D")
def _(x):
    w = tf.constant(R.uniform(-0.5, 0.5, (3, 3, 2, 3, 4)).astype(np.float32))
    return tf.nn.relu(tf.nn.conv3d(x, w, strides=[1, 1, 2, 1, 1], padding="SAME") + 0.1)


@case("layout", "conv3d_valid_dilated", f32(2, 6, 5, 6, 2), expect="CONV_3D")
def _(x):
    w = tf.constant(R.uniform(-0.5, 0.5, (2, 2, 3, 2, 3)).astype(np.float32))
    return tf.nn.conv3d(x, w, strides=[1, 1, 1, 1, 1], padding="VALID", dilations=[1, 2, 1, 1, 1])


@case("layout", "conv3d_transpose", f32(1, 3, 4, 4, 2), expect="CONV_3D_TRANSPOSE")
def _(x):
    w = tf.constant(R.uniform(-0.5, 0.5, (2, 3, 3, 5, 2)).astype(np.float32))
    return tf.nn.conv3d_transpose(x, w, output_shape=[1, 6, 8, 8, 5], strides=[1, 2, 2, 2, 1], padding="SAME")


@case("layout", "local_response_normalization", f32(1, 4, 5, 9), expect="LOCAL_RESPONSE_NORMALIZATION")
def _(x):
    return tf.nn.local_response_normalization(x, depth_radius=2, bias=1.5, alpha=0.3, beta=0.75)


# ---------------------------------------------------------------- non-max suppression


def _boxes(n):
    y = R.uniform(0, 1, (n, 2)).astype(np.float32)
    x = R.uniform(0, 1, (n, 2)).astype(np.float32)
    return np.stack([y.min(1), x.min(1), y.max(1), x.max(1)], axis=1)


@case("nms", "nms_v4", _boxes(20), R.uniform(0, 1, 20).astype(np.float32), expect="NON_MAX_SUPPRESSION_V4")
def _(b, s):
    i, n = tf.image.non_max_suppression_padded(b, s, max_output_size=6, iou_threshold=0.4,
                                               score_threshold=0.2, pad_to_max_output_size=True)
    return i, n


@case("nms", "nms_v5", _boxes(16), R.uniform(0, 1, 16).astype(np.float32), expect="NON_MAX_SUPPRESSION_V5")
def _(b, s):
    i, sc = tf.image.non_max_suppression_with_scores(b, s, max_output_size=5, iou_threshold=0.5,
                                                     score_threshold=0.1, soft_nms_sigma=0.0)
    return i, sc


@case("nms", "nms_v5_soft", _boxes(24), R.uniform(0, 1, 24).astype(np.float32), expect="NON_MAX_SUPPRESSION_V5")
def _(b, s):
    i, sc = tf.image.non_max_suppression_with_scores(b, s, max_output_size=8, iou_threshold=0.6,
                                                     score_threshold=0.05, soft_nms_sigma=0.4)
    return i, sc


# ---------------------------------------------------------------- control flow and state


@case("control", "while_loop", f32(2, 3), scalar(4, np.int32), expect="WHILE")
def _(x, n):
    def body(i, acc):
        return i + 1, tf.tanh(acc * 1.5 + 0.1)

    _, out = tf.while_loop(lambda i, acc: i < n, body, [tf.constant(0), x])
    return out


@case("control", "cond", f32(2, 3), scalar(True, np.bool_), expect="IF")
def _(x, p):
    return tf.cond(p, lambda: tf.nn.relu(x) * 2.0, lambda: x - 1.0)


@case("control", "cond_false", f32(2, 3), scalar(False, np.bool_), expect="IF")
def _(x, p):
    return tf.cond(p, lambda: tf.nn.relu(x) * 2.0, lambda: tf.exp(x))


class _Counter(tf.Module):
    def __init__(self):
        self.v = tf.Variable(tf.constant([1.0, 2.0, 3.0]))

    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
    def __call__(self, x):
        self.v.assign_add(x)
        return self.v.read_value() * 2.0


# ---------------------------------------------------------------- driver


def convert(fn, inputs, resource_variables, dynamic):
    specs = []
    for k, a in enumerate(inputs):
        shape = [None] * a.ndim if k in dynamic else list(a.shape)
        specs.append(tf.TensorSpec(shape, tf.as_dtype(a.dtype)))
    module = tf.Module()
    module.f = tf.function(fn, input_signature=specs)
    concrete = module.f.get_concrete_function()
    c = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if resource_variables:
        c.experimental_enable_resource_variables = True
    return c.convert()


def op_names(data):
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    names = set()
    for sg in m.subgraphs or []:
        for op in sg.operators or []:
            code = m.operatorCodes[op.opcodeIndex]
            b = max(code.builtinCode, code.deprecatedBuiltinCode)
            names.add(code.customCode.decode() if b == schema.BuiltinOperator.CUSTOM else _BUILTIN_NAMES.get(b, str(b)))
    return sorted(names)


def model_order(data, fn, inputs):
    """The inputs in the model's input order (the converter does not keep the argument order)."""
    names = [d["name"] for d in Interpreter(model_content=data).get_input_details()]
    params = list(inspect.signature(fn).parameters) if fn is not None else ["x"]
    by_name = dict(zip(params, inputs))
    out = []
    for n in names:
        key = n.removeprefix("serving_default_").removesuffix(":0")
        if key not in by_name:
            raise ValueError(f"model input {n} is none of the arguments {params}")
        out.append(by_name[key])
    return out


def check_runs(data, inputs):
    interp = Interpreter(model_content=data)
    details = interp.get_input_details()
    if len(details) != len(inputs):
        raise ValueError(f"{len(details)} model inputs, {len(inputs)} arrays")
    for d, a in zip(details, inputs):
        if tuple(d["shape"]) != a.shape:
            interp.resize_tensor_input(d["index"], list(a.shape))
    interp.allocate_tensors()
    for d, a in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], a)
    interp.invoke()


def write_case(family, name, data, inputs):
    d = os.path.join(ROOT, family, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.tflite"), "wb") as f:
        f.write(data)
    for i, a in enumerate(inputs):
        np.save(os.path.join(d, f"input_{i}.npy"), a)


def main():
    only = set(sys.argv[1:])
    if not only and os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    manifest_path = os.path.join(ROOT, "manifest.json")
    manifest = {}
    if only and os.path.exists(manifest_path):
        manifest = json.load(open(manifest_path))
    failures = []
    cases = list(CASES) + [("control", "resource_variable", None, (np.array([0.5, -1.0, 2.0], np.float32),),
                            "ASSIGN_VARIABLE", True, [])]
    for family, name, fn, inputs, expect, rv, dynamic in cases:
        if only and name not in only:
            continue
        try:
            if fn is None:
                m = _Counter()
                c = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
                c.experimental_enable_resource_variables = True
                data = c.convert()
            else:
                data = convert(fn, inputs, rv, dynamic)
            inputs = model_order(data, fn, inputs)
            ops = op_names(data)
            if expect not in ops:
                raise ValueError(f"converter did not emit {expect}: {ops}")
            check_runs(data, inputs)
        except Exception as e:  # report every failure, then fail
            failures.append(f"{family}/{name}: {e}")
            continue
        write_case(family, name, data, inputs)
        manifest[f"{family}/{name}"] = {"ops": ops, "bytes": len(data)}
        print(f"{family + '/' + name:44s} {len(data):7d}  {' '.join(ops)}")
    os.makedirs(ROOT, exist_ok=True)
    with open(manifest_path, "w") as f:
        json.dump(dict(sorted(manifest.items())), f, indent=1)
        f.write("\n")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
