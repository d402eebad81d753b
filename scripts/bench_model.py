"""Make the float models that scripts/bench.sh measures tflq on.

Run with the pinned TensorFlow of .venv-gen (scripts/gen-fixtures.sh
--venv-only prints its python):

    .venv-gen/bin/python scripts/bench_model.py [OUT_DIR]

Writes OUT_DIR/resnet50.tflite (~100 MB) and OUT_DIR/mobilenet_v2.tflite
(~14 MB), default OUT_DIR bench-out/. Both are Keras applications built with
weights=None (random initial weights: nothing is downloaded) and converted
to float TFLite with no optimization. A model whose file already exists is
left alone; delete it to make it again.
"""

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
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # never leave a half-written model behind
        took = time.perf_counter() - start
        print(
            f"bench_model.py: wrote {path} ({len(data) / 1e6:.1f} MB) in {took:.1f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
