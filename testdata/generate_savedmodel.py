"""Writes the SavedModel fixtures in testdata/savedmodel/ with the pinned TF.

Each case NAME gets:
  NAME/            the SavedModel directory, as TF or Keras wrote it
  NAME.tf.tflite   TF's own `from_saved_model` conversion (the reference)
  NAME.json        signature keys, input shapes and dtypes, notes
  NAME.inputs.npz  seeded sample inputs keyed by the signature's input names

Run through scripts/gen-fixtures.sh --savedmodel [CASE...].
"""

import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "savedmodel")
RNG = np.random.RandomState(2025)


def rand(*shape, scale=0.5):
    return RNG.uniform(-scale, scale, shape).astype(np.float32)


def set_random_weights(model):
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if "batch_normalization" in layer.name or layer.__class__.__name__ == "BatchNormalization":
                new.append(RNG.uniform(0.5, 1.5, w.shape).astype(np.float32))
            else:
                new.append(rand(*w.shape))
        layer.set_weights(new)


def convert(saved_dir, **flags):
    c = tf.lite.TFLiteConverter.from_saved_model(saved_dir)
    for k, v in flags.items():
        setattr(c, k, v)
    return c.convert()


def finish(name, signature_inputs, notes="", tf_flags=None, batch=1):
    """TF's conversion, sample inputs and the sidecar for a written SavedModel."""
    d = os.path.join(OUT, name)
    data = convert(d, **(tf_flags or {}))
    with open(os.path.join(OUT, f"{name}.tf.tflite"), "wb") as f:
        f.write(data)
    samples = {}
    for key, (shape, dtype) in signature_inputs.items():
        shape = [batch if s is None else s for s in shape]
        if dtype == "float32":
            samples[key] = RNG.uniform(-1, 1, [4] + shape).astype(np.float32)
        else:
            samples[key] = RNG.randint(0, 10, [4] + shape).astype(dtype)
    np.savez(os.path.join(OUT, f"{name}.inputs.npz"), **samples)
    interp = tf.lite.Interpreter(model_content=data)
    sigs = interp.get_signature_list()
    side = {
        "signatures": sigs,
        "inputs": {k: {"shape": [-1 if s is None else s for s in v[0]], "dtype": v[1]} for k, v in signature_inputs.items()},
        "tf_ops": sorted({op["op_name"] for op in interp._get_ops_details()}),
        "notes": notes,
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(side, f, indent=1, sort_keys=True)
        f.write("\n")


def fresh(name):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


def keras_cnn():
    """Keras 3 `model.export()`: conv + batch norm + depthwise + dense, dynamic batch."""
    import keras

    keras.utils.set_random_seed(1)
    m = keras.Sequential(
        [
            keras.Input((16, 16, 3), name="image"),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.DepthwiseConv2D(3, strides=2, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(6.0),
            keras.layers.Conv2D(16, 1),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    set_random_weights(m)
    m.export(fresh("keras_cnn"), verbose=False)
    finish("keras_cnn", {"image": ([None, 16, 16, 3], "float32")}, "Keras 3 export, BN, dynamic batch")


def module_dict():
    """tf.Module with variables, a constant and a dict output."""

    class M(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rand(6, 4), name="w")
            self.b = tf.Variable(rand(4), name="b")
            self.w2 = tf.Variable(rand(4, 3), name="w2")
            self.scale = tf.constant(rand(3) + 1.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def __call__(self, x):
            h = tf.nn.relu(tf.matmul(x, self.w) + self.b)
            y = tf.matmul(h, self.w2) * self.scale
            return {"logits": y, "hidden": h, "prob": tf.nn.softmax(y)}

    m = M()
    tf.saved_model.save(m, fresh("module_dict"), signatures=m.__call__.get_concrete_function())
    finish("module_dict", {"x": ([None, 6], "float32")}, "tf.Module, dict output, captured constant")


def two_inputs():
    """Two inputs under their own keys, two signatures (serving_default and `embed`)."""

    class M(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rand(8, 8), name="w")
            self.v = tf.Variable(rand(4, 8), name="v")

        @tf.function(
            input_signature=[
                tf.TensorSpec([1, 8], tf.float32, name="features"),
                tf.TensorSpec([1, 4], tf.float32, name="context"),
            ]
        )
        def serve(self, features, context):
            h = tf.matmul(features, self.w) + tf.matmul(context, self.v)
            return {"score": tf.reduce_sum(tf.tanh(h), axis=-1, keepdims=True), "h": h}

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="context")])
        def embed(self, context):
            return {"e": tf.matmul(context, self.v)}

    m = M()
    sigs = {"serving_default": m.serve.get_concrete_function(), "embed": m.embed.get_concrete_function()}
    tf.saved_model.save(m, fresh("two_inputs"), signatures=sigs)
    finish(
        "two_inputs",
        {"features": ([1, 8], "float32"), "context": ([1, 4], "float32")},
        "two inputs; a second signature `embed`",
    )


def keras_gru():
    """Keras 3 GRU over a fixed batch (TensorList + While)."""
    import keras

    keras.utils.set_random_seed(2)
    m = keras.Sequential(
        [keras.Input((5, 4), batch_size=1, name="series"), keras.layers.GRU(8), keras.layers.Dense(3)]
    )
    set_random_weights(m)
    m.export(fresh("keras_gru"), verbose=False)
    finish(
        "keras_gru",
        {"series": ([1, 5, 4], "float32")},
        "Keras 3 GRU, batch 1",
        tf_flags={"_experimental_default_to_single_batch_in_tensor_list_ops": True},
    )


def keras_encoder():
    """A transformer encoder block: MultiHeadAttention, LayerNormalization, GELU."""
    import keras

    keras.utils.set_random_seed(3)
    x = keras.Input((6, 16), batch_size=1, name="tokens")
    a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    h = keras.layers.LayerNormalization()(x + a)
    f = keras.layers.Dense(32, activation="gelu")(h)
    f = keras.layers.Dense(16)(f)
    y = keras.layers.LayerNormalization()(h + f)
    m = keras.Model(x, y)
    set_random_weights(m)
    m.export(fresh("keras_encoder"), verbose=False)
    finish("keras_encoder", {"tokens": ([1, 6, 16], "float32")}, "MHA + LayerNorm + GELU")


def tf1_builder():
    """TF1 SavedModelBuilder: a VariableV2 and a resource variable, plain tensor names."""
    d = fresh("tf1_builder")
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 5], name="x")
        with tf.compat.v1.variable_scope("dense"):
            w = tf.compat.v1.get_variable("kernel", initializer=rand(5, 4), use_resource=False)
            b = tf.compat.v1.get_variable("bias", initializer=rand(4), use_resource=True)
        y = tf.nn.relu(tf.matmul(x, w) + b, name="y")
        with tf.compat.v1.Session(graph=g) as s:
            s.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(d)
            sig = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()
    finish("tf1_builder", {"x": ([1, 5], "float32")}, "TF1 builder, VariableV2 + resource variable")


def keras2_adam():
    """tf_keras (Keras 2) `save_format="tf"` after one epoch of Adam: optimizer slots in the checkpoint."""
    import tf_keras

    tf_keras.utils.set_random_seed(4)
    m = tf_keras.Sequential(
        [
            tf_keras.Input((8, 8, 2)),
            tf_keras.layers.Conv2D(4, 3, activation="relu"),
            tf_keras.layers.BatchNormalization(),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(3),
        ]
    )
    m.compile(optimizer="adam", loss="mse")
    x = RNG.uniform(-1, 1, (32, 8, 8, 2)).astype(np.float32)
    y = RNG.uniform(-1, 1, (32, 3)).astype(np.float32)
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    m.save(fresh("keras2_adam"), save_format="tf")
    finish("keras2_adam", {"input_1": ([None, 8, 8, 2], "float32")}, "tf_keras save_format=tf, Adam slots")


CASES = {
    "keras_cnn": keras_cnn,
    "module_dict": module_dict,
    "two_inputs": two_inputs,
    "keras_gru": keras_gru,
    "keras_encoder": keras_encoder,
    "tf1_builder": tf1_builder,
    "keras2_adam": keras2_adam,
}


def main(argv):
    os.makedirs(OUT, exist_ok=True)
    names = argv or list(CASES)
    for n in names:
        print("savedmodel:", n, file=sys.stderr)
        try:
            CASES[n]()
        except Exception as e:  # a case TF cannot convert is reported, not fatal
            print(f"  {n}: {type(e).__name__}: {str(e)[:300]}", file=sys.stderr)
            raise


if __name__ == "__main__":
    main(sys.argv[1:])
