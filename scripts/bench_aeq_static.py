"""Quantize a float .tflite to full int8 with ai-edge-quantizer's static_wi8_ai8 recipe.

Run with the python of .venv-bench (scripts/bench.sh makes it, with
ai-edge-quantizer==0.10.0 and the exact versions pip resolved for it):

    .venv-bench/bin/python scripts/bench_aeq_static.py IN.tflite OUT.tflite SAMPLES.npz

SAMPLES.npz holds one array per model input, keyed by the input's tensor name
(as `tests/oracle.py calib` writes it, e.g. `serving_default_x:0`) or by the
signature's own input name; the first axis is the samples, standing in for the
batch axis of 1 (oracle.py's layout) or ahead of the full input shape. Every sample is calibrated, one dict per
sample, through the model's (only) signature.

This is the competitor side of the int8 benchmark in scripts/bench_int8.sh: the
whole process (python start, import, reading the samples, calibration,
quantization, export to a file) is what is timed, so it does nothing else.
AEQ's defaults stay as they are (calibrate's num_threads=16, the progress
report on).
"""

import sys


def signature_inputs(model_path, arrays):
    """Return (signature key, [ {signature input name: array}, ... ])."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=model_path)
    sigs = interp.get_signature_list()
    if len(sigs) != 1:
        sys.exit(f"bench_aeq_static.py: expected one signature, got {sorted(sigs)}")
    key = next(iter(sigs))
    details = interp.get_signature_runner(key).get_input_details()
    columns = {}
    for sig_name, d in details.items():
        if d["name"] in arrays:
            arr = arrays[d["name"]]
        elif sig_name in arrays:
            arr = arrays[sig_name]
        else:
            sys.exit(
                f"bench_aeq_static.py: no samples for input {sig_name} "
                f"({d['name']}); the .npz has {sorted(arrays)}"
            )
        shape = tuple(int(s) for s in d["shape"])
        arr = arr.astype(d["dtype"], copy=False)
        if arr.ndim == len(shape):
            # The sample axis stands in for a batch axis of 1: one [1, ...] per sample.
            columns[sig_name] = [arr[i : i + 1] for i in range(len(arr))]
        elif arr.ndim == len(shape) + 1:
            columns[sig_name] = list(arr)  # every sample has the full input shape
        else:
            sys.exit(
                f"bench_aeq_static.py: samples {arr.shape} do not fit input "
                f"{sig_name} of shape {shape}"
            )
    n = min(len(c) for c in columns.values())
    samples = [{name: c[i] for name, c in columns.items()} for i in range(n)]
    return key, samples


def main():
    args = sys.argv[1:]
    if len(args) != 3 or any(a.startswith("-") for a in args):
        sys.exit("usage: bench_aeq_static.py IN.tflite OUT.tflite SAMPLES.npz")
    src, dst, npz = args

    import numpy as np
    from ai_edge_quantizer import quantizer, recipe

    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    key, samples = signature_inputs(src, arrays)

    qt = quantizer.Quantizer(src)
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    calibration = qt.calibrate({key: samples})
    result = qt.quantize(calibration)
    result.export_model(dst, overwrite=True)


if __name__ == "__main__":
    main()
