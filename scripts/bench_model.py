"""Make the float models that scripts/bench.sh measures tflq on.

Run with the pinned TensorFlow of .venv-gen (scripts/gen-fixtures.sh
--venv-only prints its python):

    .venv-gen/bin/python scripts/bench_model.py [OUT_DIR]

Writes OUT_DIR/resnet50.tflite (~100 MB) and OUT_DIR/mobilenet_v2.tflite
(~14 MB), default OUT_DIR bench-out/. Both are Keras applications built with
weights=None (random initial weights: nothing is downloaded) and converted
to float TFLite with no optimization. Also writes OUT_DIR/resnet50_frozen.pb
(~100 MB): the same Keras ResNet50, its concrete function (batch 1,
224x224x3) frozen with convert_variables_to_constants_v2 as
testdata/generate.py's make_frozen does, and beside it
OUT_DIR/resnet50_frozen.json naming its inputs, outputs and input shapes.
A model whose file already exists is left alone; delete it to make it again.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

MODELS = {
    "resnet50.tflite": lambda: tf.keras.applications.ResNet50(weights=None),
    "mobilenet_v2.tflite": lambda: tf.keras.applications.MobileNetV2(weights=None),
}


def convert(build):
    tf.keras.utils.set_random_seed(0)
    model = build()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


FROZEN = "resnet50_frozen.pb"
FROZEN_SHAPE = [1, 224, 224, 3]


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)  # never leave a half-written model behind


def make_frozen(out_dir):
    """Freeze Keras ResNet50 (random weights) to a GraphDef, with its sidecar."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.applications.ResNet50(weights=None)
    fn = tf.function(lambda image: model(image, training=False))
    concrete = fn.get_concrete_function(
        tf.TensorSpec(FROZEN_SHAPE, tf.float32, name="image")
    )
    frozen = convert_variables_to_constants_v2(concrete)
    data = frozen.graph.as_graph_def().SerializeToString(deterministic=True)
    # Names without the ":0" output suffix, as TF's converters expect them.
    inputs = [t.name.split(":")[0] for t in frozen.inputs]
    outputs = [t.name.split(":")[0] for t in frozen.outputs]
    sidecar = {"inputs": inputs, "outputs": outputs, "input_shapes": [FROZEN_SHAPE]}
    # The sidecar first: the .pb is what marks the pair as made.
    write_atomic(
        os.path.join(out_dir, FROZEN.replace(".pb", ".json")),
        (json.dumps(sidecar) + "\n").encode(),
    )
    write_atomic(os.path.join(out_dir, FROZEN), data)
    return len(data)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "bench-out"
    os.makedirs(out_dir, exist_ok=True)
    for name, build in MODELS.items():
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            print(f"bench_model.py: {path} exists, kept", file=sys.stderr)
            continue
        start = time.perf_counter()
        data = convert(build)
        write_atomic(path, data)
        took = time.perf_counter() - start
        print(
            f"bench_model.py: wrote {path} ({len(data) / 1e6:.1f} MB) in {took:.1f} s",
            file=sys.stderr,
        )
    path = os.path.join(out_dir, FROZEN)
    if os.path.exists(path):
        print(f"bench_model.py: {path} exists, kept", file=sys.stderr)
    else:
        start = time.perf_counter()
        n = make_frozen(out_dir)
        took = time.perf_counter() - start
        print(
            f"bench_model.py: wrote {path} ({n / 1e6:.1f} MB) in {took:.1f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
