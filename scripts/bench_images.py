"""Peak RSS of image-folder calibration, before and after (scripts/bench_images.sh runs this).

    python scripts/bench_images.py BASE_TFLQ NEW_TFLQ MODEL OUT_DIR [N]

Generates N (default 1500) 224x224 JPEGs, seeded, in OUT_DIR/images (flat, as the baseline only
reads a folder's own files), then runs `tflq convert MODEL --quantize int8 --calibration-data
OUT_DIR/images` with each binary, measuring peak RSS (getrusage of the child) and wall time. The
new binary also runs on the same files in 3 class subfolders (hard links, OUT_DIR/images_tree).
Prints a JSON summary.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image


def generate(folder, n):
    marker = os.path.join(folder, f".generated-{n}")
    if os.path.exists(marker):
        return
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224].astype(np.float32) / 224.0
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        # Smooth colour fields plus noise: JPEG sizes like photos', not like flat images'.
        a, b, c = rng.uniform(0, 6.28, 3)
        img = np.stack(
            [
                128 + 100 * np.sin(6 * xx + a) * np.cos(4 * yy + b),
                128 + 100 * np.cos(5 * yy + c),
                128 + 100 * np.sin(3 * (xx + yy) + a + b),
            ],
            axis=-1,
        )
        img += rng.normal(0, 12, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"img_{i:05d}.jpg"), quality=90
        )
        tree = os.path.join(os.path.dirname(folder), "images_tree", f"class_{i % 3}")
        os.makedirs(tree, exist_ok=True)
        os.link(os.path.join(folder, f"img_{i:05d}.jpg"), os.path.join(tree, f"img_{i:05d}.jpg"))
    open(marker, "w").close()


def measure(tflq, model, data, out):
    start = time.monotonic()
    proc = subprocess.Popen(
        [tflq, "convert", model, "-o", out, "--quantize", "int8", "--calibration-data", data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{tflq} failed: {err}")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 2), "stderr": err.strip()}


def main():
    base, new, model, out_dir = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1500
    folder = os.path.join(out_dir, "images")
    generate(folder, n)
    before = measure(base, model, folder, os.path.join(out_dir, "bench_images.before.tflite"))
    after = measure(new, model, folder, os.path.join(out_dir, "bench_images.after.tflite"))
    tree = measure(new, model, os.path.join(out_dir, "images_tree"), os.path.join(out_dir, "bench_images.tree.tflite"))
    same = open(os.path.join(out_dir, "bench_images.before.tflite"), "rb").read() == open(
        os.path.join(out_dir, "bench_images.after.tflite"), "rb"
    ).read()
    print(
        json.dumps(
            {
                "images": n,
                "before": before,
                "after": after,
                "after_class_tree": tree,
                "rss_ratio_after_over_before": round(after["peak_rss_mb"] / before["peak_rss_mb"], 3),
                "same_output": same,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
