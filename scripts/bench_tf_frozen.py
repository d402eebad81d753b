"""TF's own conversion of a frozen GraphDef, the baseline of the .pb benchmark.

    .venv-gen/bin/python scripts/bench_tf_frozen.py IN.pb OUT.tflite INPUT OUTPUT [SHAPE]
    .venv-bench/bin/python scripts/bench_tf_frozen.py --compare OURS.tflite THEIRS.tflite

The first form is the competitor side of the `.pb` section of
scripts/bench.sh: it runs tf.compat.v1.lite.TFLiteConverter.from_frozen_graph
on IN (input array INPUT, comma-separated names allowed, shape SHAPE such as
1,224,224,3 when given, output array OUTPUT), float, no optimization, and
writes the model to OUT. The whole process (python start, import of
TensorFlow, conversion, write) is what is timed, so it does nothing else.

The second form, used outside the timed runs (with the python of a venv that
has ai_edge_litert and numpy, not TensorFlow), loads both models in
ai_edge_litert's interpreter, feeds them the same random input (seed 0,
uniform in [-1, 1)) and prints on stderr one line with the largest relative
difference of the outputs: max |ours - theirs| / max |theirs|, per output,
the measure tests/graphdef.rs uses.
"""

import os
import sys


def convert(src, dst, inputs, outputs, shape):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    inputs = inputs.split(",")
    shapes = None
    if shape:
        shapes = {inputs[0]: [int(d) for d in shape.split(",")]}
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        src, input_arrays=inputs, output_arrays=outputs.split(","), input_shapes=shapes
    )
    data = converter.convert()
    with open(dst, "wb") as f:
        f.write(data)


def compare(ours, theirs):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    def run(path, feeds):
        interp = Interpreter(model_path=path)
        interp.allocate_tensors()
        details = interp.get_input_details()
        if feeds is None:
            rng = np.random.default_rng(0)
            feeds = [rng.uniform(-1, 1, d["shape"]).astype(d["dtype"]) for d in details]
        for d, x in zip(details, feeds):
            interp.set_tensor(d["index"], x)
        interp.invoke()
        outs = [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]
        return feeds, outs, len(interp._get_ops_details())

    feeds, a, na = run(ours, None)
    _, b, nb = run(theirs, feeds)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        sys.exit(
            f"bench_tf_frozen.py: outputs differ in count or shape: "
            f"{[x.shape for x in a]} vs {[y.shape for y in b]}"
        )
    diffs = []
    spans = []
    for x, y in zip(a, b):
        spans.append(f"[{float(y.min()):.3g}, {float(y.max()):.3g}]")
        x, y = x.astype(np.float64), y.astype(np.float64)
        scale = max(float(np.abs(y).max()), 1e-30)
        diffs.append(float(np.abs(x - y).max()) / scale)
    print(
        f"bench_tf_frozen.py: both load and run in ai_edge_litert; max relative "
        f"difference of the outputs {max(diffs):.2e} (per output "
        f"{', '.join(f'{d:.2e}' for d in diffs)}; TF's output ranges "
        f"{', '.join(spans)}); operators: ours {na}, TF's {nb}",
        file=sys.stderr,
    )


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--compare":
        compare(args[1], args[2])
    elif len(args) in (4, 5) and not args[0].startswith("-"):
        convert(*args[:4], args[4] if len(args) == 5 else None)
    else:
        sys.exit(
            "usage: bench_tf_frozen.py IN.pb OUT.tflite INPUT OUTPUT [SHAPE] | "
            "bench_tf_frozen.py --compare OURS.tflite THEIRS.tflite"
        )


if __name__ == "__main__":
    main()
