"""SavedModel conversion speed: tflq against TF's `from_saved_model`, whole process.

Makes bench-out/savedmodel/resnet50 (Keras 3 ResNet50, seeded random weights:
a size and op-mix benchmark, not an accuracy claim) when missing, then runs,
in interleaved rounds, `tflq convert DIR -o OUT` and a fresh python process
that imports TF and converts the same directory. Reports median wall time,
peak RSS (from wait4) and their ratios, and the variables' size. Run through
scripts/bench_savedmodel.sh.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench-out", "savedmodel")

TF_CONVERT = """
import sys, tensorflow as tf
c = tf.lite.TFLiteConverter.from_saved_model(sys.argv[1])
open(sys.argv[2], "wb").write(c.convert())
"""

MAKE = """
import os, sys, numpy as np, keras
keras.utils.set_random_seed(0)
m = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
rng = np.random.default_rng(0)
m.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) if w.ndim > 1 else
               rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in m.get_weights()])
m.export(sys.argv[1], verbose=False)
"""


def timed(cmd, env=None):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--tf-python", required=True)
    a = ap.parse_args()
    model = os.path.join(OUT, "resnet50")
    if not os.path.exists(os.path.join(model, "saved_model.pb")):
        os.makedirs(OUT, exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        subprocess.run([a.tf_python, "-c", MAKE, model], check=True, env=env)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    rows = {"tflq": [], "tf": []}
    for _ in range(a.rounds):
        rows["tflq"].append(timed([a.tflq, "convert", model, "-o", os.path.join(OUT, "resnet50.tflq.tflite")]))
        rows["tf"].append(timed([a.tf_python, "-c", TF_CONVERT, model, os.path.join(OUT, "resnet50.tf.tflite")], env))
    med = {k: (statistics.median(w for w, _ in v), max(r for _, r in v)) for k, v in rows.items()}
    var_bytes = dir_bytes(os.path.join(model, "variables"))
    res = {
        "variables_bytes": var_bytes,
        "tflq_seconds": med["tflq"][0],
        "tf_seconds": med["tf"][0],
        "speedup": med["tf"][0] / med["tflq"][0],
        "tflq_peak_rss": med["tflq"][1],
        "tf_peak_rss": med["tf"][1],
        "tflq_rss_over_variables": med["tflq"][1] / var_bytes,
    }
    print(f"| ResNet50 SavedModel ({var_bytes / 2**20:.1f} MiB of variables) | tflq | TF from_saved_model | ratio |")
    print("|---|---|---|---|")
    print(f"| wall time (median of {a.rounds}) | {res['tflq_seconds']:.2f} s | {res['tf_seconds']:.2f} s | {res['speedup']:.1f}x faster |")
    print(f"| peak RSS | {res['tflq_peak_rss'] / 2**20:.0f} MiB | {res['tf_peak_rss'] / 2**20:.0f} MiB | tflq {res['tflq_rss_over_variables']:.2f}x the variables |")
    with open(os.path.join(ROOT, "bench-out", "results_savedmodel.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
