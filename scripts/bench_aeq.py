"""Quantize a float .tflite with ai-edge-quantizer's dynamic_wi8_afp32 recipe.

Run with the python of .venv-bench (scripts/bench.sh makes it, with
ai-edge-quantizer==0.10.0 and the exact versions pip resolved for it):

    .venv-bench/bin/python scripts/bench_aeq.py IN.tflite OUT.tflite
    .venv-bench/bin/python scripts/bench_aeq.py --load MODEL.tflite

This is the competitor side of the benchmark in scripts/bench.sh: the whole
process (python start, import, quantize, export to a file) is what is timed,
so the first form does nothing else. The second, used outside the timed
runs on AEQ's output and on tflq's, loads MODEL in ai_edge_litert's
interpreter, runs it once on zeros and prints a line on stderr saying how
many of its tensors are int8.
"""

import os
import sys


def quantize(src, dst):
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(src)
    qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    # The progress report (sizes, time, memory peak) is part of a default
    # run, so it stays on.
    result = qt.quantize()
    result.export_model(dst, overwrite=True)


def check(path):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
    interp.invoke()
    outs = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    details = interp.get_tensor_details()
    int8 = sum(1 for d in details if d["dtype"] == np.int8)
    print(
        f"bench_aeq.py: {os.path.basename(path)} loads and runs; "
        f"{int8} of {len(details)} tensors int8; "
        f"output shapes {[tuple(o.shape) for o in outs]}",
        file=sys.stderr,
    )


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--load":
        check(args[1])
    elif len(args) == 2 and not args[0].startswith("-"):
        quantize(args[0], args[1])
    else:
        sys.exit("usage: bench_aeq.py IN.tflite OUT.tflite | bench_aeq.py --load MODEL")


if __name__ == "__main__":
    main()
