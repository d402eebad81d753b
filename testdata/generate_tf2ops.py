#!/usr/bin/env python3
"""Frozen TF2/Keras 3 graphs for the GraphDef importer, with TF's own conversions.

Run it through `scripts/gen-fixtures.sh --tf2ops [NAME...]` (pinned TF 2.21). It is
never run in CI: tests/graphdef_tf2.rs only reads what it writes to testdata/tf2ops/:

  NAME.pb         the frozen graph: `convert_variables_to_constants_v2` applied to a
                  concrete function with fixed input shapes, serialized deterministically
  NAME.tf.tflite  TF's conversion of the same concrete function
                  (`TFLiteConverter.from_concrete_functions`), the reference
  NAME.json       {"inputs", "outputs", "input_shapes", "graph_ops", "reference_tflite_ops"}

Weights come from a private seeded RandomState; every file stays well under 1 MB.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert import schema_py_generated as schema  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf2ops")
RNG = np.random.RandomState(2021)

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
keras.utils.set_random_seed(0)

_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_names(data):
    """Operator names of subgraph 0, in execution order."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    names = []
    for op in m.subgraphs[0].operators or []:
        code = m.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append(code.customCode.decode())
        else:
            names.append(_BUILTIN_NAMES.get(builtin, str(builtin)))
    return names


def rand(*shape, scale=0.5):
    return RNG.uniform(-scale, scale, shape).astype(np.float32)


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"wrote tf2ops/{name} ({len(data)} bytes)")
    assert len(data) < 1 << 20, f"{name} is over 1 MB"


def randomize(model):
    """Seeded random weights for every layer (batch-norm variances positive)."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            new = []
            for v, w in zip(layer.weights, ws):
                lo, hi = (0.5, 1.5) if ("gamma" in v.path or "variance" in v.path) else (-0.5, 0.5)
                new.append(RNG.uniform(lo, hi, v.shape).astype(np.float32))
            layer.set_weights(new)
        else:
            layer.set_weights([rand(*w.shape) for w in ws])


def write_frozen(name, fn, specs):
    """Freeze `fn` at `specs`, write NAME.pb, TF's NAME.tf.tflite and NAME.json."""
    concrete = tf.function(fn).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    write(f"{name}.pb", graph_def.SerializeToString(deterministic=True))
    # The frozen function, so TF sees the same constants (no resource variables).
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    data = conv.convert()
    inputs = [t.name.split(":")[0] for t in frozen.inputs]
    outputs = [t.name.split(":")[0] for t in frozen.outputs]
    sidecar = {
        "inputs": inputs,
        "outputs": outputs,
        "input_shapes": [list(s.shape) for s in specs],
        "graph_ops": sorted({n.op for n in graph_def.node}),
        "reference_tflite_ops": op_names(data),
    }
    write(f"{name}.json", (json.dumps(sidecar) + "\n").encode())
    write(f"{name}.tf.tflite", data)
    print(f"  graph ops: {' '.join(sidecar['graph_ops'])}")
    print(f"  TF ops:    {' '.join(sidecar['reference_tflite_ops'])}")


def spec(shape, name, dtype=tf.float32):
    return tf.TensorSpec(shape, dtype, name=name)


# --------------------------------------------------------------------------


def make_einsum_mha():
    """Keras 3 MultiHeadAttention (self-attention, 2 heads) and EinsumDense:
    abc,cde->abde, aecd,abcd->acbe, acbe,aecd->abcd, abcd,cde->abe, abc,cd->abd."""
    inp = keras.Input((6, 8), batch_size=1, name="x")
    y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    y = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d", name="ed")(y)
    model = keras.Model(inp, y)
    randomize(model)
    write_frozen("einsum_mha", lambda x: model(x, training=False), [spec([1, 6, 8], "x")])


def make_einsum_raw():
    """tf.einsum equations beyond Keras's: BTNH,BSNH->BNTS, a batch matmul with a
    transposed operand, a matrix-vector product and a transposed output."""
    w_vec = rand(8)
    w_mat = rand(8, 3)

    def fn(q, k):
        s = tf.einsum("BTNH,BSNH->BNTS", q, k)  # [1,2,3,5]
        o = tf.einsum("BNTS,BSNH->BTNH", s, k)  # [1,3,2,4]
        mv = tf.einsum("btnh,h->btn", q, w_vec[:4])  # [1,3,2]
        t = tf.einsum("bij,jk->bki", tf.reshape(q, [1, 3, 8]), w_mat)  # [1,3,3]
        bm = tf.einsum("bij,bkj->bik", tf.reshape(q, [1, 3, 8]), tf.reshape(k, [1, 5, 8]))  # [1,3,5]
        return (tf.identity(o, name="o"), tf.identity(mv, name="mv"), tf.identity(t, name="t"),
                tf.identity(bm, name="bm"))

    write_frozen("einsum_raw", fn, [spec([1, 3, 2, 4], "q"), spec([1, 5, 2, 4], "k")])


def make_einsum_keras2():
    """The equations tf_keras (Keras 2) MultiHeadAttention / EinsumDense emit, as raw Einsum
    nodes with constant weights: abc,cde->abde, aecd,abcd->acbe, acbe,aecd->abcd,
    abcd,cde->abe, abc,cd->abd."""
    wq, wk, wv = rand(8, 2, 4), rand(8, 2, 4), rand(8, 2, 4)
    wo, wd = rand(2, 4, 8), rand(8, 5)

    def fn(x):
        q = tf.einsum("abc,cde->abde", x, wq)  # [1,6,2,4]
        k = tf.einsum("abc,cde->abde", x, wk)
        v = tf.einsum("abc,cde->abde", x, wv)
        s = tf.nn.softmax(tf.einsum("aecd,abcd->acbe", k, q))  # [1,2,6,6]
        o = tf.einsum("acbe,aecd->abcd", s, v)  # [1,6,2,4]
        o = tf.einsum("abcd,cde->abe", o, wo)  # [1,6,8]
        return tf.identity(tf.einsum("abc,cd->abd", o, wd), name="y")

    write_frozen("einsum_keras2", fn, [spec([1, 6, 8], "x")])


def make_gelu():
    """GELU forms after matmuls: Keras 3 exact (erfc), tanh approximation (pow), the
    older 0.5·x·(1+erf(x/√2)) written with tf ops, and two tanh forms TF does not fuse."""
    w1, w2, w3, w4, w5 = (rand(8, 8) for _ in range(5))

    def fn(x):
        a = tf.matmul(x, w1)
        a = keras.activations.gelu(a, approximate=False)
        b = tf.matmul(a, w2)
        b = keras.activations.gelu(b, approximate=True)
        c = tf.matmul(b, w3)
        c = 0.5 * c * (1.0 + tf.math.erf(c / np.float32(np.sqrt(2.0))))
        # Forms TF leaves unfused: x·x·x for the cube, and 0.5 outside (x·(1+tanh)).
        k0, k1 = np.float32(0.7978845608), np.float32(0.044715)
        d = tf.matmul(c, w4)
        d = 0.5 * d * (1.0 + tf.tanh(k0 * (d + k1 * d * d * d)))
        e = tf.matmul(d, w5)
        e = 0.5 * (e * (1.0 + tf.tanh(k0 * (e + k1 * tf.pow(e, 3.0)))))
        return tf.identity(e, name="y")

    write_frozen("gelu", fn, [spec([2, 8], "x")])


def make_misc():
    """BroadcastTo, SelectV2 (tf.where, same shapes and broadcasting), BatchMatMulV2 with
    broadcasting, Greater, Cast float↔int32, a constant Range, BroadcastArgs of static shapes."""
    w = rand(3, 4, 5)

    def fn(x, y):
        b = tf.broadcast_to(x, [2, 3, 4])  # x: [3, 4]
        m = tf.matmul(b, w[None][:, 0])  # [2,3,4] x [1,4,5] -> [2,3,5]
        sel = tf.where(m > 0.0, m, 0.1 * m)
        i = tf.cast(tf.cast(y * 4.0, tf.int32), tf.float32)  # y: [2,3,5]
        r = tf.range(5, dtype=tf.float32)
        sel2 = tf.where(y > 0.5, y, tf.constant(rand(5)))  # broadcast: SELECT_V2
        # BroadcastArgs of a static shape: folded by TF and tflq alike.
        bshape = tf.raw_ops.BroadcastArgs(s0=tf.shape(sel2), s1=tf.constant([2, 1, 1]))
        return tf.identity(tf.broadcast_to(sel + i + r + sel2, bshape), name="out")

    write_frozen("misc", fn, [spec([3, 4], "x"), spec([2, 3, 5], "y")])


def make_hardswish_pad():
    """MobileNetV3-style stem and SE block: ZeroPadding2D(1) + Conv2D 3x3 stride 2 'valid',
    hard-swish (x·relu6(x+3)/6) and hard-sigmoid (relu6(x+3)·(1/6)), depthwise with padding."""
    L = keras.layers
    inp = keras.Input((16, 16, 3), batch_size=1, name="x")
    y = L.ZeroPadding2D(1, name="pad0")(inp)
    y = L.Conv2D(8, 3, strides=2, padding="valid", use_bias=False, name="stem")(y)
    y = L.BatchNormalization(name="stem_bn")(y)
    y = L.Activation("hard_swish", name="hs0")(y)
    y2 = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad1")(y)
    y2 = L.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False, name="dw")(y2)
    y2 = L.BatchNormalization(name="dw_bn")(y2)
    y2 = L.ReLU(name="dw_relu")(y2)
    s = L.GlobalAveragePooling2D(keepdims=True, name="se_pool")(y2)
    s = L.Conv2D(4, 1, name="se_reduce")(s)
    s = L.ReLU(name="se_relu")(s)
    s = L.Conv2D(8, 1, name="se_expand")(s)
    s = L.ReLU(6.0)(s + 3.0) * (1.0 / 6.0)
    y2 = L.Multiply(name="se_mul")([y2, s])
    y3 = L.Conv2D(8, 3, padding="same", name="conv_same")(y2)
    # ZeroPadding2D + 'valid' conv where the padding is SAME's (stride 1 and stride 2)
    y3 = L.ZeroPadding2D(1, name="pad2")(y3)
    y3 = L.Conv2D(8, 3, padding="valid", name="conv_p1")(y3)
    y3 = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad3")(y3)
    y3 = L.Conv2D(8, 3, strides=2, padding="valid", name="conv_p2")(y3)
    # the explicit x * relu6(x + 3) / 6 form
    y3 = y3 * L.ReLU(6.0)(y3 + 3.0) / 6.0
    model = keras.Model(inp, y3)
    randomize(model)
    write_frozen("hardswish_pad", lambda x: model(x, training=False), [spec([1, 16, 16, 3], "x")])


def make_mnv3_small():
    """Keras MobileNetV3Small(alpha=0.35, 96x96, include_top=False) with seeded random
    weights: op coverage only (hard-swish, SE blocks, ZeroPadding2D + strided convs)."""
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(96, 96, 3), alpha=0.35, include_top=False,
        minimalistic=False, include_preprocessing=False)
    randomize(model)
    write_frozen("mnv3_small", lambda x: model(x, training=False), [spec([1, 96, 96, 3], "x")])


def make_activations():
    """Keras 3 activations after matmuls (TF's converter decomposes or fuses each):
    softplus, selu, softsign, log_softmax, mish, log_sigmoid, hard_tanh (min/max clamp),
    silu, elu, tanh_shrink, squareplus, sparse_plus, hard_sigmoid, plus tf.math.expm1,
    relu6 as a clamp and max(x, 0) followed by min(·, 1)."""
    A = keras.activations
    acts = [A.softplus, A.selu, A.softsign, A.log_softmax, A.mish, A.log_sigmoid, A.hard_tanh,
            A.silu, A.elu, A.tanh_shrink, A.squareplus, A.sparse_plus, A.hard_sigmoid,
            tf.math.expm1, lambda v: tf.minimum(tf.maximum(v, 0.0), 6.0),
            lambda v: tf.minimum(tf.maximum(v, 0.0), 1.0)]
    ws = [rand(8, 8) for _ in acts]

    def fn(x):
        for f, w in zip(acts, ws):
            x = f(tf.matmul(x, w))
        return tf.identity(x, name="y")

    write_frozen("activations", fn, [spec([2, 8], "x")])


def make_transformer():
    """A small Keras 3 text encoder on int32 token ids [1, 8] (ids 0..9 in the tests):
    Embedding + position embedding (arange), pre-norm transformer block (LayerNormalization,
    MultiHeadAttention, Dense with GELU, residual adds), GlobalAveragePooling1D, softmax."""
    L = keras.layers
    ids = keras.Input((8,), batch_size=1, dtype="int32", name="ids")
    tok = L.Embedding(12, 16, name="tok")(ids)
    pos = L.Embedding(8, 16, name="pos")(keras.ops.arange(8)[None, :])
    x = tok + pos
    h = L.LayerNormalization(epsilon=1e-5, name="ln1")(x)
    h = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(h, h)
    x = x + h
    h = L.LayerNormalization(epsilon=1e-5, name="ln2")(x)
    h = L.Dense(32, activation="gelu", name="ff1")(h)
    h = L.Dense(16, name="ff2")(h)
    x = x + h
    y = L.GlobalAveragePooling1D(name="gap")(x)
    y = L.Dense(4, activation="softmax", name="head")(y)
    model = keras.Model(ids, y)
    randomize(model)
    write_frozen("transformer", lambda t: model(t, training=False), [spec([1, 8], "ids", tf.int32)])


def make_keras_layers():
    """Keras 3 vision/sequence layers: Rescaling, Conv1D, SeparableConv2D, dilated Conv2D and
    DepthwiseConv2D, Conv2DTranspose, UpSampling2D, Cropping2D, MaxPooling/AveragePooling,
    Concatenate, GlobalMaxPooling2D, Flatten, Dense."""
    L = keras.layers
    inp = keras.Input((16, 16, 3), batch_size=1, name="x")
    x = L.Rescaling(1.0 / 255, offset=-0.5, name="rescale")(inp)
    a = L.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")(x)
    b = L.Conv2D(8, 3, padding="same", dilation_rate=2, name="dil")(x)
    c = L.DepthwiseConv2D(3, padding="same", dilation_rate=2, name="dwdil")(x)
    y = L.Concatenate(name="cat")([a, b, c])
    y = L.MaxPooling2D(2, name="mp")(y)
    y = L.Conv2DTranspose(6, 3, strides=2, padding="same", name="deconv")(y)
    y = L.UpSampling2D(2, name="up")(y)
    y = L.Cropping2D(((2, 2), (4, 4)), name="crop")(y)
    y = L.AveragePooling2D(2, name="ap")(y)
    g = L.GlobalMaxPooling2D(name="gmp")(y)
    s = L.Reshape((12, 6), name="seq")(y[:, 0])
    s = L.Conv1D(4, 3, padding="causal", name="c1d")(s)
    s = L.Flatten(name="flat")(s)
    y = L.Concatenate(name="cat2")([g, s])
    y = L.Dense(5, name="out")(y)
    model = keras.Model(inp, y)
    randomize(model)
    write_frozen("keras_layers", lambda t: model(t, training=False), [spec([1, 16, 16, 3], "x")])


MAKERS = {
    "einsum_mha": make_einsum_mha,
    "einsum_raw": make_einsum_raw,
    "gelu": make_gelu,
    "misc": make_misc,
    "hardswish_pad": make_hardswish_pad,
    "mnv3_small": make_mnv3_small,
    # New fixtures go last: the seed is the index here.
    "einsum_keras2": make_einsum_keras2,
    "activations": make_activations,
    "transformer": make_transformer,
    "keras_layers": make_keras_layers,
}


def main():
    names = sys.argv[1:] or list(MAKERS)
    for n in names:
        if n not in MAKERS:
            sys.exit(f"unknown fixture {n!r}; known: {' '.join(MAKERS)}")
    global RNG
    for n in names:
        print(n)
        # Each fixture has its own seed, so one can be rebuilt alone.
        RNG = np.random.RandomState(2021 + list(MAKERS).index(n))
        keras.utils.set_random_seed(list(MAKERS).index(n))
        MAKERS[n]()


if __name__ == "__main__":
    main()
