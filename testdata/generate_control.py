#!/usr/bin/env python3
"""Build the functional-control-flow fixtures in testdata/control/.

Run through `scripts/gen-fixtures.sh --control`. Each fixture NAME is a frozen
TF2 GraphDef (`convert_variables_to_constants_v2(..., lower_control_flow=False)`,
so While/If stay functional with their bodies in the function library):

  NAME.pb         the frozen graph
  NAME.tf.tflite  TF's own conversion of the same concrete function
  NAME.json       inputs, outputs, input shapes, graph and library ops

Fixtures:
  ctrl_cond        tf.cond on an input-derived predicate (sum(x) > 0)
  ctrl_while       tf.while_loop with a data-dependent trip count and a captured weight
  ctrl_gru         Keras 3 GRU(8) over [1, 5, 4]
  ctrl_gru_nobatch Keras 3 GRU(8) over [None, 5, 4], with Keras' result on a
                   batch of 3 (.x3.npy, .y3.npy)
  ctrl_lstm        Keras 3 LSTM(6) over [1, 5, 4]
  ctrl_simplernn   Keras 3 SimpleRNN(8, return_sequences=True) over [1, 5, 4]
  ctrl_tensorarray a tf.TensorArray without element_shape written in a loop (autograph)
  ctrl_stacked     Keras 3 LSTM(6, return_sequences=True) -> Bidirectional(GRU(5)) over [1, 5, 4]
  ctrl_tf1_while   a TF1 graph with reference control flow (Enter/Exit/Merge/Switch),
                   for the error test (no TF conversion)

Keras RNNs need `_experimental_default_to_single_batch_in_tensor_list_ops`
in TF's converter (Keras writes TensorList element shapes with a -1 batch).
Seeds are fixed.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

keras = tf.keras
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "control")
RNG = np.random.RandomState(2468)
tf.keras.utils.set_random_seed(0)
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)


def rand(*shape, scale=0.5):
    return RNG.uniform(-scale, scale, shape).astype(np.float32)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"wrote control/{name} ({len(data)} bytes)")


def save(name, concrete, input_shapes, single_batch=False):
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    gd = frozen.graph.as_graph_def()
    write(f"{name}.pb", gd.SerializeToString(deterministic=True))
    c = tf.lite.TFLiteConverter.from_concrete_functions([concrete], concrete)
    if single_batch:
        c._experimental_default_to_single_batch_in_tensor_list_ops = True
    data = c.convert()
    write(f"{name}.tf.tflite", data)
    sidecar = {
        "inputs": [t.name.split(":")[0] for t in frozen.inputs],
        "outputs": [t.name.split(":")[0] for t in frozen.outputs],
        "input_shapes": input_shapes,
        "graph_ops": sorted({n.op for n in gd.node}),
        "library_ops": sorted({n.op for f in gd.library.function for n in f.node_def}),
    }
    write(f"{name}.json", (json.dumps(sidecar) + "\n").encode())


def make_cond():
    w1 = tf.constant(rand(4, 3))
    b1 = tf.constant(rand(3))
    w2 = tf.constant(rand(4, 3))

    @tf.function
    def f(x):
        pred = tf.reduce_sum(x) > 0.0
        return tf.cond(pred, lambda: tf.nn.relu(tf.matmul(x, w1) + b1), lambda: tf.tanh(tf.matmul(x, w2)) * 2.0)

    save("ctrl_cond", f.get_concrete_function(tf.TensorSpec([1, 4], tf.float32, name="x")), [[1, 4]])


def make_while():
    w = tf.constant(rand(4, 4, scale=0.8))

    @tf.function
    def f(x):
        n = tf.cast(tf.abs(tf.reduce_sum(x)) * 3.0, tf.int32) + 1

        def body(i, h):
            return i + 1, tf.tanh(tf.matmul(h, w) + x)

        _, h = tf.while_loop(lambda i, h: i < n, body, [tf.constant(0), x])
        return h

    save("ctrl_while", f.get_concrete_function(tf.TensorSpec([1, 4], tf.float32, name="x")), [[1, 4]])


def keras_rnn(name, layer, batch):
    inp = keras.Input((5, 4), batch_size=batch, name="x")
    model = keras.Model(inp, layer(inp))
    model.set_weights([rand(*w.shape) for w in model.get_weights()])
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([batch, 5, 4], tf.float32, name="x"))
    save(name, concrete, [[1, 5, 4]], single_batch=True)
    if batch is None:
        # TF's conversion assumes batch 1; Keras' own result for batch 3 checks ours.
        x3 = RNG.uniform(-1, 1, (3, 5, 4)).astype(np.float32)
        save_npy(f"{name}.x3.npy", x3)
        save_npy(f"{name}.y3.npy", model(x3, training=False).numpy())


def save_npy(name, a):
    np.save(os.path.join(OUT, name), a)
    print(f"wrote control/{name}")


def make_tensorarray():
    w = tf.constant(rand(4, 4))

    @tf.function
    def f(x):
        ta = tf.TensorArray(tf.float32, size=3)  # no element_shape: the loop's writes give it
        h = x
        for i in tf.range(3):
            h = tf.tanh(tf.matmul(h, w) + x)
            ta = ta.write(i, h)
        return ta.stack()

    save("ctrl_tensorarray", f.get_concrete_function(tf.TensorSpec([1, 4], tf.float32, name="x")), [[1, 4]])


def stacked_bidirectional():
    inp = keras.Input((5, 4), batch_size=1, name="x")
    y = keras.layers.LSTM(6, return_sequences=True)(inp)
    y = keras.layers.Bidirectional(keras.layers.GRU(5))(y)
    model = keras.Model(inp, y)
    model.set_weights([rand(*w.shape) for w in model.get_weights()])
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 5, 4], tf.float32, name="x"))
    save("ctrl_stacked", concrete, [[1, 5, 4]], single_batch=True)


def make_tf1_while():
    v1 = tf.compat.v1
    v1.disable_control_flow_v2()
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [1, 4], name="x")
        _, h = v1.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.tanh(h)), [tf.constant(0), x])
        tf.identity(h, name="out")
    v1.enable_control_flow_v2()
    write("ctrl_tf1_while.pb", g.as_graph_def().SerializeToString(deterministic=True))


def main():
    os.makedirs(OUT, exist_ok=True)
    make_cond()
    make_while()
    keras_rnn("ctrl_gru", keras.layers.GRU(8), 1)
    keras_rnn("ctrl_gru_nobatch", keras.layers.GRU(8), None)
    keras_rnn("ctrl_lstm", keras.layers.LSTM(6), 1)
    keras_rnn("ctrl_simplernn", keras.layers.SimpleRNN(8, return_sequences=True), 1)
    make_tf1_while()
    make_tensorarray()
    stacked_bidirectional()


if __name__ == "__main__":
    main()
