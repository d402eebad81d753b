#!/usr/bin/env python3
"""Build the committed test fixtures in testdata/ with a pinned TensorFlow.

Run it through scripts/gen-fixtures.sh, which creates the pinned .venv-gen.
It is never run in CI: the Rust tests only read the files it writes.

Every fixture is described in testdata/README.md. In short:
  * cnn*.tflite / cnn.*.npy   a small CIFAR-style CNN trained on scikit-learn's
                              digits, plus TF's own quantized conversions of it
  * op_*.tflite, mlp.tflite   tiny float models, one per op family
  * with_signature / no_signature / fp16_weights / sparse_densify / custom_op
                              models that exercise reader/writer corner cases
  * cnn_frozen.pb (+ .json, .tf.tflite)  a frozen GraphDef of the CNN

Seeds are fixed so that reruns give the same weights on the same machine;
bit-identical output across CPUs/TF builds is not guaranteed.
"""

import json
import os
import sys

# Quiet TF and keep it from competing for the (2) cores with other builds.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import flatbuffers  # noqa: E402
from flatbuffers import flexbuffers  # noqa: E402
from ai_edge_litert import schema_py_generated as schema  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

keras = tf.keras

OUT = os.path.dirname(os.path.abspath(__file__))

CALIB_N = 80  # samples in cnn.calib.npy (12 KiB each; 80 keeps it < 1 MB)
TEST_N = 80  # samples in cnn.test_x.npy, kept small so the file stays < 1 MB
EPOCHS = 4

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.keras.utils.set_random_seed(0)
tf.config.experimental.enable_op_determinism()


def path(name):
    return os.path.join(OUT, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    print(f"wrote {name} ({len(data)} bytes)")


def convert(converter):
    return converter.convert()


# --------------------------------------------------------------------------
# Flatbuffer helpers (object API of the TFLite schema)


def load_model_t(data):
    return schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))


def pack_model_t(model_t):
    builder = flatbuffers.Builder(1024)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_names(data):
    """Operator names of subgraph 0, in execution order."""
    m = load_model_t(data)
    names = []
    for op in m.subgraphs[0].operators or []:
        code = m.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append(code.customCode.decode())
        else:
            names.append(_BUILTIN_NAMES.get(builtin, str(builtin)))
    return names


# --------------------------------------------------------------------------
# Data: scikit-learn digits, 8x8 grey in [0, 16] -> 32x32x3 in [0, 1]


def digits_to_rgb32(images):
    out = np.empty((len(images), 32, 32, 3), np.float32)
    for i, img in enumerate(images):
        # Bilinear upsampling through PIL on float ("F") images: smooth and
        # deterministic.
        small = Image.fromarray((img / 16.0).astype(np.float32), mode="F")
        big = np.asarray(small.resize((32, 32), Image.BILINEAR), np.float32)
        out[i] = np.clip(big, 0.0, 1.0)[:, :, None]
    return out


def load_data():
    d = load_digits()
    x = digits_to_rgb32(d.images)
    y = d.target.astype(np.int64)
    perm = np.random.RandomState(0).permutation(len(x))
    x, y = x[perm], y[perm]
    x_test, y_test = x[:TEST_N], y[:TEST_N]
    x_train, y_train = x[TEST_N:], y[TEST_N:]
    calib = np.ascontiguousarray(x_train[:CALIB_N])
    return x_train, y_train, x_test, y_test, calib


# --------------------------------------------------------------------------
# The CNN and TF's conversions of it


def build_cnn(batch_size=None):
    inp = keras.Input(shape=(32, 32, 3), name="image", batch_size=batch_size)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", name="conv3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="fc1")(x)
    out = keras.layers.Dense(10, name="logits")(x)  # logits, no softmax
    return keras.Model(inp, out, name="cnn")


def tflite_accuracy(data, x, y):
    interp = Interpreter(model_content=data, num_threads=1)
    interp.allocate_tensors()
    ind = interp.get_input_details()[0]
    outd = interp.get_output_details()[0]
    correct = 0
    for i in range(len(x)):
        sample = x[i : i + 1]
        if ind["dtype"] != np.float32:
            scale, zp = ind["quantization"]
            info = np.iinfo(ind["dtype"])
            sample = np.clip(np.round(sample / scale + zp), info.min, info.max).astype(ind["dtype"])
        interp.set_tensor(ind["index"], sample)
        interp.invoke()
        out = interp.get_tensor(outd["index"])
        correct += int(np.argmax(out[0]) == y[i])
    return correct / len(x)


def make_cnn():
    x_train, y_train, x_test, y_test, calib = load_data()
    model = build_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, shuffle=True, verbose=2)
    _, keras_acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"keras test accuracy: {keras_acc:.4f}")

    # Convert a batch-1 copy: with a static batch, Flatten is a plain RESHAPE
    # instead of a SHAPE/STRIDED_SLICE/PACK/RESHAPE chain.
    trained = model
    model = build_cnn(batch_size=1)
    model.set_weights(trained.get_weights())

    np.save(path("cnn.calib.npy"), calib)
    np.save(path("cnn.test_x.npy"), np.ascontiguousarray(x_test, np.float32))
    np.save(path("cnn.test_y.npy"), y_test.astype(np.int64))

    yielded = []

    def representative_dataset():
        # One sample per step, in the order stored in cnn.calib.npy.
        for i in range(len(calib)):
            sample = calib[i : i + 1]
            yielded.append(sample)
            yield [sample]

    def conv(**kw):
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        for k, v in kw.items():
            if k == "supported_types":
                c.target_spec.supported_types = v
            elif k == "supported_ops":
                c.target_spec.supported_ops = v
            else:
                setattr(c, k, v)
        return convert(c)

    D = [tf.lite.Optimize.DEFAULT]
    models = {
        "cnn.tflite": conv(),
        "cnn.dynamic.tflite": conv(optimizations=D),
        "cnn.float16.tflite": conv(optimizations=D, supported_types=[tf.float16]),
    }
    yielded.clear()
    models["cnn.int8.tflite"] = conv(optimizations=D, representative_dataset=representative_dataset)
    # The calibrator must have seen exactly the stored samples, in order.
    assert len(yielded) == len(calib) and all(np.array_equal(a, calib[i : i + 1]) for i, a in enumerate(yielded))
    models["cnn.int8io.tflite"] = conv(
        optimizations=D,
        representative_dataset=representative_dataset,
        inference_input_type=tf.int8,
        inference_output_type=tf.int8,
    )
    models["cnn.int16x8.tflite"] = conv(
        optimizations=D,
        representative_dataset=representative_dataset,
        supported_ops=[tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8],
    )
    for name, data in models.items():
        write(name, data)

    acc = {"keras": keras_acc}
    for name, data in models.items():
        acc[name] = tflite_accuracy(data, x_test, y_test)
    print("CNN test accuracy (n=%d):" % len(x_test))
    for k, v in acc.items():
        print(f"  {k:24s} {v:.4f}")

    make_frozen(model)
    return acc


def make_frozen(model):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda image: model(image, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 32, 32, 3], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    # deterministic=True sorts map fields (node attrs) so reruns match byte for byte.
    write("cnn_frozen.pb", graph_def.SerializeToString(deterministic=True))
    # Names without the ":0" output suffix, as TF's converters expect them.
    inputs = [t.name.split(":")[0] for t in frozen.inputs]
    outputs = [t.name.split(":")[0] for t in frozen.outputs]
    sidecar = {"inputs": inputs, "outputs": outputs, "input_shapes": [[1, 32, 32, 3]]}
    write("cnn_frozen.json", (json.dumps(sidecar) + "\n").encode())
    print("frozen graph ops:", sorted({n.op for n in graph_def.node}))

    c = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        path("cnn_frozen.pb"),
        input_arrays=inputs,
        output_arrays=outputs,
        input_shapes={inputs[0]: [1, 32, 32, 3]},
    )
    write("cnn_frozen.tf.tflite", convert(c))


# --------------------------------------------------------------------------
# Small op-coverage models (random weights; only the graph matters)


_RNG = np.random.RandomState(1234)


def fill_zero_weights(model):
    """Give all-zero variables (Keras' default bias init) small random values.

    A zero bias is dropped by the converter (FULLY_CONNECTED gets bias index
    -1, TRANSPOSE_CONV loses its bias input); random ones keep bias tensors
    in the fixtures so that bias quantization is exercised.
    """
    for w in model.weights:
        v = w.numpy()
        if v.size and not np.any(v):
            w.assign(_RNG.uniform(-0.1, 0.1, v.shape).astype(v.dtype))
    return model


def from_keras(model):
    fill_zero_weights(model)
    return convert(tf.lite.TFLiteConverter.from_keras_model(model))


def from_function(fn, *specs):
    """Convert a tf.function with fixed input signature (constants embedded)."""
    module = tf.Module()
    module.f = tf.function(fn, input_signature=list(specs))
    concrete = module.f.get_concrete_function()
    return convert(tf.lite.TFLiteConverter.from_concrete_functions([concrete], module))


def rand(*shape, scale=0.5):
    # Drawn from one shared stream so equal shapes still get distinct values
    # (the converter would otherwise merge identical constants).
    return tf.constant(_RNG.uniform(-scale, scale, shape).astype(np.float32))


def op_models():
    L = keras.layers
    out = {}

    # DEPTHWISE_CONV_2D: filter [1,3,3,32*4] = 1152 elements.
    inp = keras.Input((8, 8, 32), name="x", batch_size=1)
    y = L.DepthwiseConv2D(3, depth_multiplier=4, padding="same", activation="relu")(inp)
    y = L.Conv2D(16, 1)(y)  # 128*16 = 2048
    out["op_depthwise.tflite"] = from_keras(keras.Model(inp, y))

    # CONCATENATION of two FC branches.
    inp = keras.Input((64,), name="x", batch_size=1)
    a = L.Dense(32, activation="relu")(inp)
    b = L.Dense(48, activation="tanh")(inp)
    y = L.Concatenate()([a, b])
    y = L.Dense(10)(y)
    out["op_concat.tflite"] = from_keras(keras.Model(inp, y))

    # SOFTMAX after an FC with 64*32 = 2048 weights.
    inp = keras.Input((64,), name="x", batch_size=1)
    y = L.Dense(32)(inp)
    y = L.Softmax()(y)
    out["op_softmax.tflite"] = from_keras(keras.Model(inp, y))

    # ADD and MUL of two branches, plus MUL/ADD by broadcast constants.
    w1, w2 = rand(64, 64), rand(64, 64)
    c_mul, c_add = rand(1, 64, scale=2.0), rand(1, 64, scale=1.0)

    def addmul(x):
        a = tf.matmul(x, w1)
        b = tf.nn.relu(tf.matmul(x, w2))
        s = a + b  # ADD of two branches
        p = a * b  # MUL of two branches
        return (s * c_mul) + (p + c_add) * 0.5

    out["op_addmul.tflite"] = from_function(addmul, tf.TensorSpec([1, 64], tf.float32, name="x"))

    # PAD (ZeroPadding2D) followed by a valid conv (3*3*4*32 = 1152 weights).
    inp = keras.Input((8, 8, 4), name="x", batch_size=1)
    y = L.ZeroPadding2D(((1, 2), (2, 1)))(inp)
    y = L.Conv2D(32, 3, activation="relu")(y)
    out["op_pad.tflite"] = from_keras(keras.Model(inp, y))

    # MEAN: conv then global average pooling over H, W.
    inp = keras.Input((8, 8, 8), name="x", batch_size=1)
    y = L.Conv2D(32, 3, padding="same")(inp)  # 3*3*8*32 = 2304
    y = L.GlobalAveragePooling2D()(y)
    y = L.Dense(10)(y)
    out["op_mean.tflite"] = from_keras(keras.Model(inp, y))

    # RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR, concatenated on channels.
    def resize(x):
        a = tf.image.resize(x, [16, 16], method="bilinear")
        b = tf.image.resize(x, [16, 16], method="nearest")
        return tf.concat([a, b], axis=-1)

    out["op_resize.tflite"] = from_function(resize, tf.TensorSpec([1, 8, 8, 4], tf.float32, name="x"))

    # TRANSPOSE_CONV: 3*3*16*16 = 2304 weights, stride 2.
    inp = keras.Input((8, 8, 16), name="x", batch_size=1)
    y = L.Conv2DTranspose(16, 3, strides=2, padding="same")(inp)
    out["op_transpose_conv.tflite"] = from_keras(keras.Model(inp, y))

    # BATCH_MATMUL: batch 4 on both sides so it cannot become FULLY_CONNECTED.
    rhs = rand(4, 32, 48)  # 6144 elements

    def bmm(x):
        return tf.matmul(x, rhs)

    out["op_batch_matmul.tflite"] = from_function(bmm, tf.TensorSpec([4, 8, 32], tf.float32, name="x"))

    # GATHER from a Keras Embedding: vocab 64 (>= 10 so the oracle's [0,10)
    # indices are valid), 64*32 = 2048 elements; int32 indices.
    inp = keras.Input((8,), dtype="int32", name="ids", batch_size=1)
    y = L.Embedding(64, 32)(inp)
    y = L.Flatten()(y)
    y = L.Dense(4)(y)
    out["op_embedding.tflite"] = from_keras(keras.Model(inp, y))

    # Plain MLP, also the base of fp16_weights / custom_op.
    mlp = build_mlp()
    out["mlp.tflite"] = from_keras(mlp)
    return out, mlp


def sequence_models():
    """Sequence ops, which TF 2.21 emits only through its op-fusion interfaces.

    UNIDIRECTIONAL_SEQUENCE_LSTM comes from a Keras-2-style function marked
    `api_implements="lstm_..."` (Keras 3 layers are not fused), EMBEDDING_LOOKUP
    from an `embedding_matmul` function, UNIDIRECTIONAL_SEQUENCE_RNN from a TF1
    OpHint stub. Their state operands become variable tensors without data.
    """
    rng = np.random.default_rng(11)

    def const(*shape):
        return tf.constant(rng.uniform(-0.5, 0.5, shape).astype(np.float32))

    out = {}
    B, T, N, U = 1, 6, 8, 16

    def keras_lstm(time_major):
        # Keras's standard_lstm arguments and five results; the converter replaces the body.
        def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
            h, c, outs = init_h, init_c, []
            for x in tf.unstack(inputs, axis=0 if time_major else 1):
                z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
                i, f, g, o = tf.split(z, 4, axis=1)
                c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                h = tf.sigmoid(o) * tf.tanh(c)
                outs.append(h)
            return h, tf.stack(outs, axis=0 if time_major else 1), h, c, tf.constant(0.0)

        attributes = {
            "api_implements": f"lstm_{'tm' if time_major else 'bm'}0123456789",
            "api_preferred_device": "CPU",
            "time_major": time_major,
            "go_backwards": False,
        }
        return tf.function(standard_lstm, experimental_attributes=attributes, autograph=False)

    # Batch-major LSTM between two FCs, so that int8 puts (de)quantization around it.
    lstm = keras_lstm(False)
    w_in, kernel, rec, bias, w_out = const(N, N), const(N, 4 * U), const(U, 4 * U), const(4 * U), const(U, 4)

    def lstm_model(x):
        x = tf.reshape(tf.matmul(tf.reshape(x, [B * T, N]), w_in), [B, T, N])
        _, seq, _, _, _ = lstm(x, tf.zeros([B, U]), tf.zeros([B, U]), kernel, rec, bias)
        return tf.matmul(tf.reshape(seq, [B * T, U]), w_out)

    out["op_lstm.tflite"] = from_function(lstm_model, tf.TensorSpec([B, T, N], tf.float32, name="x"))

    # Time-major, batch 2, the sequence itself as the output.
    lstm_tm = keras_lstm(True)
    kernel2, rec2, bias2 = const(N, 4 * U), const(U, 4 * U), const(4 * U)

    def lstm_tm_model(x):
        return lstm_tm(x, tf.zeros([2, U]), tf.zeros([2, U]), kernel2, rec2, bias2)[1]

    out["op_lstm_time_major.tflite"] = from_function(lstm_tm_model, tf.TensorSpec([T, 2, N], tf.float32, name="x"))

    # EMBEDDING_LOOKUP: 16 rows (>= 10 for the oracle's ids in [0,10)), then an FC.
    table, w_emb = const(16, 8), const(4 * 8, 3)
    lookup = tf.function(
        lambda params, ids: tf.gather(params, ids), experimental_implements="embedding_matmul", autograph=False
    )

    def embedding_model(ids):
        return tf.matmul(tf.reshape(lookup(table, ids), [1, 4 * 8]), w_emb)

    out["op_embedding_lookup.tflite"] = from_function(embedding_model, tf.TensorSpec([4], tf.int32, name="ids"))

    # UNIDIRECTIONAL_SEQUENCE_RNN from an OpHint stub (time-major, tanh, zero initial state).
    tf1 = tf.compat.v1
    n, units, steps, batch = 4, 5, 5, 2
    with tf.Graph().as_default() as g:
        x = tf1.placeholder(tf.float32, [steps, batch, n], name="x")
        hint = tf1.lite.OpHint("UnidirectionalSequenceRnn")
        operands = [x, const(units, n), const(units, units), const(units), tf.zeros([batch, units])]
        xi, wi, ri, bi, h = [hint.add_input(v, index_override=k) for k, v in enumerate(operands)]
        outs = []
        for t in range(steps):
            h = tf.tanh(tf.matmul(xi[t], wi, transpose_b=True) + tf.matmul(h, ri, transpose_b=True) + bi)
            outs.append(h)
        hint.add_output(h, index_override=0)
        y = tf.identity(hint.add_output(tf.stack(outs), index_override=1), name="y")
        del y
        with tf1.Session(graph=g) as sess:
            stubbed = tf1.lite.experimental.convert_op_hints_to_stubs(session=sess)
    converter = tf1.lite.TFLiteConverter(stubbed, None, None, [("x", [steps, batch, n])], ["y"])
    out["op_sequence_rnn.tflite"] = convert(converter)
    return out


def build_mlp():
    L = keras.layers
    inp = keras.Input((64,), name="x")
    y = L.Dense(128, activation="relu", name="fc1")(inp)
    y = L.Dense(64, activation="relu", name="fc2")(y)
    y = L.Dense(10, name="fc3")(y)
    return keras.Model(inp, y, name="mlp")


# --------------------------------------------------------------------------
# Reader/writer corner cases


def signature_models():
    out = {}

    class Scorer(tf.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.RandomState(7)
            self.w = tf.Variable(rng.normal(0, 0.1, (32, 40)).astype(np.float32))
            self.b = tf.Variable(rng.normal(0, 0.1, (40,)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 32], tf.float32, name="features")])
        def serve(self, features):
            logits = tf.matmul(features, self.w) + self.b
            return {"scores": tf.nn.softmax(logits), "logits": logits}

    m = Scorer()
    c = tf.lite.TFLiteConverter.from_concrete_functions([m.serve.get_concrete_function()], m)
    data = convert(c)
    out["with_signature.tflite"] = data

    mt = load_model_t(data)
    assert mt.signatureDefs, "expected a signature def"
    assert mt.signatureDefs[0].signatureKey == b"serving_default", mt.signatureDefs[0].signatureKey
    mt.signatureDefs = None
    stripped = pack_model_t(mt)
    assert not load_model_t(stripped).signatureDefs
    out["no_signature.tflite"] = stripped
    return out


def add_custom_code(mt, name):
    """Appends the operator code of custom op `name` (version 1) to model `mt`."""
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = name
    code.version = 1
    mt.operatorCodes.append(code)


def other_producer_models(mlp, mlp_model_bytes):
    out = {}

    # float16 weights (same MLP weights as mlp.tflite): FLOAT16 constants
    # behind DEQUANTIZE ops.
    c = tf.lite.TFLiteConverter.from_keras_model(mlp)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]
    out["fp16_weights.tflite"] = convert(c)

    # Sparse weights. TF's DenseToSparse pass encodes a float constant that is
    # >= 30% zeros. When the zeros match a block shape the op's kernel supports
    # (FULLY_CONNECTED: 1x4 blocks along the input dimension) the op reads the
    # sparse tensor directly; otherwise (CONV_2D, element-wise zeros) the
    # tensor is followed by a DENSIFY op.
    L = keras.layers
    inp = keras.Input((8, 8, 16), name="x", batch_size=1)
    conv = L.Conv2D(32, 3, padding="same", name="sparse_conv")
    y = conv(inp)
    y = L.Flatten()(y)
    fc = L.Dense(64, name="sparse_fc")
    y = fc(y)
    model = fill_zero_weights(keras.Model(inp, y))
    rng = np.random.RandomState(3)
    kernel, bias = conv.get_weights()
    # ~85% zeros: whole (in, out) channel pairs are zero across the 3x3 window.
    mask = (rng.rand(1, 1, 16, 32) < 0.15).astype(np.float32)
    conv.set_weights([kernel * mask, bias])
    kernel, bias = fc.get_weights()  # Keras layout [in, out]
    # ~90% zeros in blocks of 4 consecutive inputs.
    block = (rng.rand(kernel.shape[0] // 4, kernel.shape[1]) < 0.1).astype(np.float32)
    fc.set_weights([kernel * np.kron(block, np.ones((4, 1), np.float32)), bias])
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    data = convert(c)
    mt = load_model_t(data)
    assert "DENSIFY" in op_names(data), op_names(data)
    assert sum(t.sparsity is not None for t in mt.subgraphs[0].tensors) == 2, "expected two sparse tensors"
    out["sparse_densify.tflite"] = data

    # Custom op appended to the MLP: output -> TflqTestCustom -> new output.
    mt = load_model_t(mlp_model_bytes)
    add_custom_code(mt, "TflqTestCustom")
    sg = mt.subgraphs[0]
    old_out = sg.outputs[0]
    src = sg.tensors[old_out]
    buf = schema.BufferT()
    mt.buffers.append(buf)
    t = schema.TensorT()
    t.shape = list(src.shape)
    t.shapeSignature = None if src.shapeSignature is None else list(src.shapeSignature)
    t.type = schema.TensorType.FLOAT32
    t.buffer = len(mt.buffers) - 1
    t.name = "tflq_custom_out"
    sg.tensors.append(t)
    new_out = len(sg.tensors) - 1
    op = schema.OperatorT()
    op.opcodeIndex = len(mt.operatorCodes) - 1
    op.inputs = [old_out]
    op.outputs = [new_out]
    opts = flexbuffers.Dumps({"alpha": 0.5, "mode": "identity", "k": 3})
    op.customOptions = list(opts)
    op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    sg.operators.append(op)
    sg.outputs = [new_out]
    for sig in mt.signatureDefs or []:
        for tm in sig.outputs:
            if tm.tensorIndex == old_out:
                tm.tensorIndex = new_out
    out["custom_op.tflite"] = pack_model_t(mt)
    return out


def sparse_fp16_model():
    """Sparse FLOAT16 conv filters: sparse constant -> DENSIFY -> DEQUANTIZE -> CONV_2D, the
    chain MediaPipe's sparse detection models use (TF's sparsity with float16 weights)."""
    L = keras.layers
    rng = np.random.RandomState(5)
    inp = keras.Input((16, 16, 8), name="x", batch_size=1)
    convs = [L.Conv2D(32, 3, padding="same", activation="relu", name="sparse_conv1"),
             L.Conv2D(64, 3, padding="same", activation="relu", name="sparse_conv2"),
             L.Conv2D(48, 1, name="sparse_conv3")]
    y = inp
    for c in convs:
        y = c(y)
    y = L.GlobalAveragePooling2D()(y)
    model = fill_zero_weights(keras.Model(inp, y))
    for c in convs:
        kernel, bias = c.get_weights()
        # ~75% zeros, whole (in, out) channel pairs across the window: DENSIFY, not block-sparse FC.
        mask = (rng.rand(1, 1, *kernel.shape[2:]) < 0.25).astype(np.float32)
        c.set_weights([kernel * mask, bias])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY, tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    data = convert(conv)
    names = op_names(data)
    assert names.count("DENSIFY") == 3 and "DEQUANTIZE" in names, names
    x = rng.uniform(0, 1, (24, 16, 16, 8)).astype(np.float32)
    np.save(path("sparse_fp16.calib.npy"), x)
    return {"sparse_fp16.tflite": data}


def custom_mid_model(mlp_model_bytes):
    """The MLP with a custom op nothing knows between its first and second layers."""
    mt = load_model_t(mlp_model_bytes)
    add_custom_code(mt, "TflqUnknownMiddle")
    sg = mt.subgraphs[0]
    first = sg.operators[0]
    mid = first.outputs[0]
    src = sg.tensors[mid]
    mt.buffers.append(schema.BufferT())
    t = schema.TensorT()
    t.shape = list(src.shape)
    t.shapeSignature = None if src.shapeSignature is None else list(src.shapeSignature)
    t.type = schema.TensorType.FLOAT32
    t.buffer = len(mt.buffers) - 1
    t.name = "tflq_unknown_out"
    sg.tensors.append(t)
    new = len(sg.tensors) - 1
    for op in sg.operators[1:]:
        op.inputs = [new if i == mid else i for i in op.inputs]
    op = schema.OperatorT()
    op.opcodeIndex = len(mt.operatorCodes) - 1
    op.inputs = [mid]
    op.outputs = [new]
    op.customOptions = list(flexbuffers.Dumps({"scale": 1.0}))
    op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    sg.operators.insert(1, op)
    return {"custom_mid.tflite": pack_model_t(mt)}


def keras_rnn_models():
    """Keras GRU and LSTM classifiers over [10, 8] sequences, as TF 2.21 converts them (a
    WHILE loop over the time steps), with calibration and test inputs.

    The task: say which of four frequency bands a noisy multi-channel sine lies in. Each
    model trains for 8 epochs (a few seconds) to about 90% accuracy on held-out series."""
    L = keras.layers
    rng = np.random.RandomState(11)

    def series(n):
        t = np.linspace(0, 1, 10, dtype=np.float32)[None, :, None]
        band = rng.randint(0, 4, n)
        freq = (0.5 + band[:, None, None] * 0.7 + rng.uniform(0, 0.6, (n, 1, 8))).astype(np.float32)
        phase = rng.uniform(0, 6.3, (n, 1, 8)).astype(np.float32)
        x = (np.sin(2 * np.pi * freq * t + phase) + rng.normal(0, 0.15, (n, 10, 8))).astype(np.float32)
        return x, band

    x_train, y_train = series(3000)
    x_calib, _ = series(64)
    x_test, y_test = series(32)
    np.save(path("seq.calib.npy"), x_calib)
    np.save(path("seq.test_x.npy"), x_test)
    out = {}
    for name, layer in (("gru", L.GRU), ("lstm", L.LSTM)):
        inp = keras.Input((10, 8), name="series", batch_size=1)
        y = layer(16, name=name)(inp)
        y = L.Dense(4, name="head")(y)
        model = keras.Model(inp, y)
        # Train with a free batch size on the same layers, then convert the batch-1 model.
        trainer = keras.Sequential([keras.Input((10, 8)), model.get_layer(name), model.get_layer("head")])
        trainer.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        trainer.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
        print(f"{name}: test accuracy {trainer.evaluate(x_test, y_test, verbose=0)[1]:.3f}")
        data = convert(tf.lite.TFLiteConverter.from_keras_model(model))
        assert "WHILE" in op_names(data), op_names(data)
        out[f"{name}.tflite"] = data
    return out


def audio_model():
    """A keyword-spotting-style classifier with its spectrogram in the graph: waveform [1, 4000]
    → STFT (RFFT2D) → magnitude → mel filterbank → log → conv → pooled → 4 logits."""
    L = keras.layers
    rng = np.random.RandomState(17)
    mel = tf.constant(np.abs(rng.normal(0, 0.1, (129, 24))).astype(np.float32))
    conv = L.Conv2D(8, 3, padding="same", activation="relu")
    head = L.Dense(4)
    wave = keras.Input((4000,), name="waveform", batch_size=1)
    conv.build((1, None, 24, 1))
    head.build((1, 8))
    fill_zero_weights(keras.Sequential([keras.Input((30, 24, 1)), conv, L.GlobalAveragePooling2D(), head]))

    @tf.function(input_signature=[tf.TensorSpec([1, 4000], tf.float32, name="waveform")])
    def classify(x):
        spec = tf.abs(tf.signal.stft(x, frame_length=256, frame_step=128, fft_length=256))
        logmel = tf.math.log(tf.matmul(spec, mel) + 1e-3)
        y = conv(logmel[..., None])
        return head(tf.reduce_mean(y, axis=[1, 2]))

    del wave
    module = tf.Module()
    module.f = classify
    data = convert(tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], module))
    assert "RFFT2D" in op_names(data), op_names(data)
    return {"audio_spectrogram.tflite": data}


def dynamic_models():
    """A small convnet whose input height and width are open ([-1,-1,-1,3] signature), and
    calibration arrays at two sizes."""
    L = keras.layers
    inp = keras.Input((None, None, 3), name="image")
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = L.Conv2D(16, 1, activation="relu")(y)
    y = L.GlobalAveragePooling2D()(y)
    y = L.Dense(10)(y)
    model = fill_zero_weights(keras.Model(inp, y))
    rng = np.random.RandomState(5)
    for h, w in ((24, 32), (40, 40)):
        np.savez(path(f"calib/dynamic_{h}x{w}.npz"), image=rng.uniform(0, 1, (6, 1, h, w, 3)).astype(np.float32))
    return {"dynamic_hw.tflite": from_keras(model)}


# --------------------------------------------------------------------------
# Models TF converts integer-only (--strict int8 I/O targets), with TF's own conversion


STRICT_CALIB_N = 32  # calibration samples per model (the exact representative dataset)
STRICT_TEST_N = 8  # held-out samples the SQNR is measured on


def strict_models():
    """testdata/strict/NAME.tflite (float), NAME.tf_int8io.tflite (TF integer-only with int8
    I/O, from the samples in NAME.calib.npy, one per step), NAME.test_x.npy (held-out inputs).

    * mnv3: MobileNetV3-Small blocks from Keras (hard-swish, squeeze-excite with hard-sigmoid
      and multiply, global pooling), trained 2 epochs on the digits images.
    * encoder: a transformer encoder block (MultiHeadAttention, so BATCH_MATMUL of two
      activations and SOFTMAX; layer norms; a GELU feed-forward), random weights.
    * deconv: Conv2DTranspose upsampling with an open batch dimension, so the converter
      computes the output shape in the graph (SHAPE, STRIDED_SLICE, PACK).
    """
    from keras.src.applications import mobilenet_v3 as mnv3

    L = keras.layers
    os.makedirs(path("strict"), exist_ok=True)
    rng = np.random.RandomState(21)
    x_train, y_train, x_test, _, _ = load_data()
    models = {}

    # (a) MobileNetV3-style classifier: Keras' MobileNetV3Small preprocessing, blocks and top
    # (the smallest Keras MobileNetV3Small, alpha 0.35, is 1.4 MB), with an open batch, so
    # Flatten computes its shape in the graph as in Keras' model.
    inp = keras.Input((32, 32, 3), name="image")
    x = L.Rescaling(scale=1.0 / 127.5, offset=-1.0)(inp * 255.0)
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = mnv3.hard_swish(x)
    x = mnv3._inverted_res_block(x, 1, 8, 3, 2, 0.25, mnv3.relu, 0)
    x = mnv3._inverted_res_block(x, 72.0 / 16, 12, 3, 1, None, mnv3.relu, 1)
    x = mnv3._inverted_res_block(x, 4, 16, 5, 2, 0.25, mnv3.hard_swish, 2)
    x = mnv3._inverted_res_block(x, 3, 16, 5, 1, 0.25, mnv3.hard_swish, 3)
    x = L.Conv2D(48, 1, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = mnv3.hard_swish(x)
    x = L.GlobalAveragePooling2D(keepdims=True)(x)
    x = L.Conv2D(64, 1, padding="same", use_bias=True)(x)
    x = mnv3.hard_swish(x)
    x = L.Dropout(0.2)(x)
    x = L.Conv2D(10, 1, padding="same")(x)
    x = L.Flatten()(x)
    x = L.Activation("softmax")(x)
    model = keras.Model(inp, x)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
    models["mnv3"] = (model, x_train[:STRICT_CALIB_N], x_test[:STRICT_TEST_N])

    # (b) Transformer encoder block over [16, 32] sequences.
    inp = keras.Input((16, 32), name="tokens", batch_size=1)
    a = L.MultiHeadAttention(num_heads=2, key_dim=16)(inp, inp)
    x = L.LayerNormalization(epsilon=1e-6)(inp + a)
    f = L.Dense(64, activation="gelu")(x)
    f = L.Dense(32)(f)
    x = L.LayerNormalization(epsilon=1e-6)(x + f)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(4)(x)
    model = fill_zero_weights(keras.Model(inp, x))
    tokens = rng.normal(0, 1, (STRICT_CALIB_N + STRICT_TEST_N, 16, 32)).astype(np.float32)
    models["encoder"] = (model, tokens[:STRICT_CALIB_N], tokens[STRICT_CALIB_N:])

    # (c) Conv2DTranspose decoder, open batch.
    inp = keras.Input((8, 8, 4), name="latent")
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(3, 3, strides=2, padding="same")(x)
    model = fill_zero_weights(keras.Model(inp, x))
    latent = rng.uniform(-1, 1, (STRICT_CALIB_N + STRICT_TEST_N, 8, 8, 4)).astype(np.float32)
    models["deconv"] = (model, latent[:STRICT_CALIB_N], latent[STRICT_CALIB_N:])

    for name, (model, calib, test) in models.items():
        calib = np.ascontiguousarray(calib, np.float32)

        def representative_dataset():
            for i in range(len(calib)):
                yield [calib[i : i + 1]]

        float_data = convert(tf.lite.TFLiteConverter.from_keras_model(model))
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = representative_dataset
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
        tf_data = convert(c)
        write(f"strict/{name}.tflite", float_data)
        write(f"strict/{name}.tf_int8io.tflite", tf_data)
        np.save(path(f"strict/{name}.calib.npy"), calib)
        np.save(path(f"strict/{name}.test_x.npy"), np.ascontiguousarray(test, np.float32))
        for data in (float_data, tf_data):
            smoke_run(data)
        print(f"strict/{name}: float {' '.join(sorted(set(op_names(float_data))))}")
        print(f"strict/{name}: TF int8 {' '.join(sorted(set(op_names(tf_data))))}")


def logspec_model():
    """testdata/audio/logspec.tflite: a log-magnitude spectrogram computed with plain ops, as
    audio front ends write it without RFFT: reflect padding (MIRROR_PAD), 30 frames of 256
    (STRIDED_SLICE, PACK), a Hann-windowed DFT as two matmuls, SQUARE, SQRT, LOG, the
    spectrogram's maximum subtracted (REDUCE_MAX), it and its negation (NEG) stacked as two
    channels (PACK), then conv → mean → Dense(4); random
    weights. logspec.calib.npy: 32 waveforms [32,4000] (noisy tones); logspec.test_x.npy: 8 more."""
    L = keras.layers
    os.makedirs(path("audio"), exist_ok=True)
    rng = np.random.RandomState(23)
    n = np.arange(256)
    k = np.arange(129)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 256)
    cos = tf.constant((window[:, None] * np.cos(2 * np.pi * n[:, None] * k[None, :] / 256)).astype(np.float32))
    sin = tf.constant((window[:, None] * -np.sin(2 * np.pi * n[:, None] * k[None, :] / 256)).astype(np.float32))
    conv = L.Conv2D(8, 3, padding="same", activation="relu")
    head = L.Dense(4)
    conv.build((1, 30, 129, 2))
    head.build((1, 8))
    fill_zero_weights(keras.Sequential([keras.Input((30, 129, 2)), conv, L.GlobalAveragePooling2D(), head]))

    @tf.function(input_signature=[tf.TensorSpec([1, 4000], tf.float32, name="waveform")])
    def classify(x):
        x = tf.pad(x, [[0, 0], [128, 128]], mode="REFLECT")
        frames = tf.stack([x[:, i * 128 : i * 128 + 256] for i in range(30)], axis=1)
        re = tf.matmul(frames, cos)
        im = tf.matmul(frames, sin)
        mag = tf.sqrt(tf.square(re) + tf.square(im) + 1e-6)
        logmag = tf.math.log(mag + 1e-3)
        logmag = logmag - tf.reduce_max(logmag, axis=[1, 2], keepdims=True)
        y = conv(tf.stack([logmag, -logmag], axis=-1))
        return head(tf.reduce_mean(y, axis=[1, 2]))

    module = tf.Module()
    module.f = classify
    data = convert(tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], module))
    ops = set(op_names(data))
    for op in ("MIRROR_PAD", "PACK", "SQUARE", "SQRT", "LOG", "REDUCE_MAX", "NEG"):
        assert op in ops, (op, ops)
    t = np.arange(4000) / 8000.0
    waves = []
    for _ in range(40):
        f = rng.uniform(100, 3000)
        a = rng.uniform(0.05, 0.8)
        waves.append(a * np.sin(2 * np.pi * f * t) + rng.normal(0, 0.02, 4000))
    waves = np.asarray(waves, np.float32)
    write("audio/logspec.tflite", data)
    np.save(path("audio/logspec.calib.npy"), np.ascontiguousarray(waves[:32]))
    np.save(path("audio/logspec.test_x.npy"), np.ascontiguousarray(waves[32:]))
    smoke_run(data)
    print(f"audio/logspec: {' '.join(sorted(ops))}")


SELECTABLE = {"--strict": strict_models, "--logspec": logspec_model}


# --------------------------------------------------------------------------
# Verification


def smoke_run(data):
    interp = Interpreter(model_content=data, num_threads=1)
    interp.allocate_tensors()
    rng = np.random.RandomState(0)
    for d in interp.get_input_details():
        dt = d["dtype"]
        if dt == np.float32:
            v = rng.uniform(0, 1, d["shape"]).astype(dt)
        elif dt in (np.int32, np.int64):
            v = rng.randint(0, 10, d["shape"]).astype(dt)
        else:
            info = np.iinfo(dt)
            v = rng.randint(info.min, info.max + 1, d["shape"]).astype(dt)
        interp.set_tensor(d["index"], v)
    interp.invoke()
    for d in interp.get_output_details():
        assert np.all(np.isfinite(interp.get_tensor(d["index"]).astype(np.float64))), "non-finite output"


def image_files():
    """A few calibration images as files, and a JPEG for the "not a model" tests."""
    _, _, _, _, calib = load_data()
    os.makedirs(path("images"), exist_ok=True)
    for i in range(8):
        rgb = (calib[i] * 255.0 + 0.5).astype(np.uint8)
        Image.fromarray(rgb, mode="RGB").save(path(f"images/digit_{i:02d}.png"), optimize=False)
    rgb = (calib[8] * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(rgb, mode="RGB").save(path("digit.jpg"), quality=90)


# --------------------------------------------------------------------------
# Frozen GraphDefs for the .pb importer (issue 5). A private RNG keeps the
# fixtures above byte-identical; these run last.

_GD_RNG = np.random.RandomState(4321)


def _gd_rand(*shape, scale=0.5):
    return _GD_RNG.uniform(-scale, scale, shape).astype(np.float32)


def _write_frozen(name, graph_def, inputs, outputs, input_shapes):
    """Write NAME.pb, NAME.json (sidecar) and NAME.tf.tflite (TF's from_frozen_graph)."""
    write(f"{name}.pb", graph_def.SerializeToString(deterministic=True))
    c = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        path(f"{name}.pb"),
        input_arrays=inputs,
        output_arrays=outputs,
        input_shapes=dict(zip(inputs, input_shapes)),
    )
    data = convert(c)
    ops = op_names(data)
    sidecar = {
        "inputs": inputs,
        "outputs": outputs,
        "input_shapes": input_shapes,
        "graph_ops": sorted({n.op for n in graph_def.node}),
        "reference_tflite_ops": ops,
    }
    write(f"{name}.json", (json.dumps(sidecar) + "\n").encode())
    write(f"{name}.tf.tflite", data)


def make_gd_mnv2_block():
    """Keras MobileNetV2-style inverted residual; Keras 3 batch norm freezes
    to the expanded Rsqrt/Mul/Sub/AddV2 form."""
    layers = keras.layers
    inp = keras.Input((16, 16, 8), batch_size=1, name="x")
    y = layers.Conv2D(24, 1, use_bias=False, name="expand")(inp)
    y = layers.BatchNormalization(name="expand_bn")(y)
    y = layers.ReLU(6.0, name="expand_relu")(y)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(y)
    y = layers.BatchNormalization(name="dw_bn")(y)
    y = layers.ReLU(6.0, name="dw_relu")(y)
    y = layers.Conv2D(8, 1, use_bias=False, name="project")(y)
    y = layers.BatchNormalization(name="project_bn")(y)
    y = layers.Add(name="add")([inp, y])
    y = layers.GlobalAveragePooling2D(name="pool")(y)
    y = layers.Dense(5, name="logits")(y)
    model = keras.Model(inp, y)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([
                _GD_RNG.uniform(0.5, 1.5, g.shape).astype(np.float32),
                _GD_RNG.uniform(-0.5, 0.5, b.shape).astype(np.float32),
                _GD_RNG.uniform(-0.5, 0.5, m.shape).astype(np.float32),
                _GD_RNG.uniform(0.5, 1.5, v.shape).astype(np.float32),
            ])
        elif layer.weights:
            layer.set_weights([_gd_rand(*w.shape) for w in layer.get_weights()])
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 16, 16, 8], tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    inputs = [t.name.split(":")[0] for t in frozen.inputs]
    outputs = [t.name.split(":")[0] for t in frozen.outputs]
    _write_frozen("gd_mnv2_block", graph_def, inputs, outputs, [[1, 16, 16, 8]])


def make_gd_tf1_a():
    """TF1 graph mode: conv + FusedBatchNormV3 + Relu6, depthwise, AvgPool,
    ConcatV2, Mean, Squeeze, MatMul+BiasAdd, Softmax."""
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [1, 16, 16, 3], name="input")
        y = tf.nn.conv2d(x, _gd_rand(3, 3, 3, 8), strides=[1, 1, 1, 1], padding="SAME", name="conv")
        y = tf.nn.bias_add(y, _gd_rand(8), name="conv_bias")
        y, _, _ = v1.nn.fused_batch_norm(
            y, _GD_RNG.uniform(0.5, 1.5, 8).astype(np.float32), _gd_rand(8),
            mean=_gd_rand(8), variance=_GD_RNG.uniform(0.5, 1.5, 8).astype(np.float32),
            epsilon=1e-3, is_training=False, name="bn")
        y = tf.nn.relu6(y, name="relu6")
        d = tf.nn.depthwise_conv2d(y, _gd_rand(3, 3, 8, 2), strides=[1, 2, 2, 1], padding="SAME", name="dw")
        d = tf.nn.relu6(tf.nn.bias_add(d, _gd_rand(16)), name="dw_relu6")
        p = tf.nn.avg_pool2d(y, 2, 2, "VALID", name="avgpool")
        p = tf.nn.conv2d(p, _gd_rand(1, 1, 8, 16), strides=1, padding="VALID", name="pconv")
        c = tf.concat([d, p], axis=-1, name="concat")
        m = tf.reduce_mean(c, axis=[1, 2], keepdims=True, name="mean")
        s = tf.squeeze(m, axis=[1, 2], name="squeeze")
        f = tf.nn.bias_add(tf.matmul(s, _gd_rand(32, 10)), _gd_rand(10), name="fc")
        tf.nn.softmax(f, name="probs")
    _write_frozen("gd_tf1_a", g.as_graph_def(), ["input"], ["probs"], [[1, 16, 16, 3]])


def make_gd_tf1_b():
    """TF1 graph mode: ResizeBilinear, dilated conv (SpaceToBatchND pattern),
    Conv2DBackpropInput, LeakyRelu, Pad, MaxPool, Reshape+MatMul, batch None."""
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 8, 8, 4], name="input")
        r = v1.image.resize_bilinear(x, [16, 16], name="resize")
        a = tf.nn.atrous_conv2d(r, _gd_rand(3, 3, 4, 8), rate=2, padding="SAME", name="atrous")
        a = tf.nn.bias_add(a, _gd_rand(8), name="atrous_bias")
        a = tf.nn.leaky_relu(a, alpha=0.1, name="lrelu")
        t = tf.nn.conv2d_transpose(a, _gd_rand(3, 3, 6, 8), output_shape=[1, 32, 32, 6],
                                   strides=[1, 2, 2, 1], padding="SAME", name="deconv")
        t = tf.nn.relu(tf.nn.bias_add(t, _gd_rand(6)), name="deconv_relu")
        t = tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], name="pad")
        t = tf.nn.max_pool2d(t, 3, 3, "VALID", name="maxpool")
        t = tf.reshape(t, [1, -1], name="flatten")
        n = 11 * 11 * 6  # 32x32 padded to 34x34, 3x3/3 max pool
        tf.matmul(t, _gd_rand(n, 4), name="out")
    _write_frozen("gd_tf1_b", g.as_graph_def(), ["input"], ["out"], [[1, 8, 8, 4]])


def make_graphdef_fixtures():
    make_gd_mnv2_block()
    make_gd_tf1_a()
    make_gd_tf1_b()


def main():
    if sys.argv[1:] and all(a in SELECTABLE for a in sys.argv[1:]):
        # Only the named groups (--strict: testdata/strict/, --logspec: testdata/audio/),
        # nothing else rewritten.
        for a in sys.argv[1:]:
            SELECTABLE[a]()
        return
    all_models = {}
    image_files()
    acc = make_cnn()
    ops, mlp = op_models()
    all_models.update(ops)
    all_models.update(signature_models())
    all_models.update(other_producer_models(mlp, ops["mlp.tflite"]))
    all_models.update(custom_mid_model(ops["mlp.tflite"]))
    all_models.update(sparse_fp16_model())
    all_models.update(sequence_models())
    all_models.update(keras_rnn_models())
    all_models.update(dynamic_models())
    all_models.update(audio_model())
    for name, data in all_models.items():
        write(name, data)
    make_graphdef_fixtures()
    strict_models()
    logspec_model()

    names = sorted(f for f in os.listdir(OUT) if f.endswith(".tflite"))
    failures = []
    print()
    print(f"{'file':28s} {'bytes':>8s}  ops")
    for name in names:
        with open(path(name), "rb") as f:
            data = f.read()
        status = ""
        if name not in ("custom_op.tflite", "custom_mid.tflite"):
            try:
                smoke_run(data)
            except Exception as e:  # report every failure, then fail
                failures.append(name)
                status = f"  RUN FAILED: {e}"
        ops = op_names(data)
        uniq = sorted(set(ops))
        print(f"{name:28s} {len(data):8d}  {' '.join(uniq)}{status}")
    print()
    for k, v in acc.items():
        print(f"accuracy {k}: {v:.4f}")
    if failures:
        print("failed to run:", failures, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
