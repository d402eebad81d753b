"""A/B timing and peak-RSS harness for scripts/bench_ab.sh (system python3, stdlib only).

    python3 scripts/bench_ab.py --base OLD_TFLQ --new NEW_TFLQ --out-dir bench-out [--rounds 9]

Runs the same commands with two tflq binaries in interleaved rounds (A B, then B A, so a slow
spell of the shared machine does not land on one of them only) and reports, per command, the
median whole-process wall time, the median of the time tflq reports itself ("in N ms"), and
the peak RSS of each, with the new/base ratios:

  - int8 MobileNetV2 with 32 calibration samples (bench-out/mobilenet_v2.tflite,
    bench-out/mnv2_calib32.npz): calibration and quantization;
  - ResNet50 (bench-out/resnet50.tflite) with --quantize dynamic, float16 and weight-int8,
    and the round trip;
  - the frozen ResNet50 GraphDef (bench-out/resnet50_frozen.pb), when it is there.

Both binaries' outputs are compared byte for byte after the first run of each command: a
refactor that should not change behaviour must write the same files.
"""

import argparse
import filecmp
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_run import mb, run  # noqa: E402


def commands(out_dir):
    mnv2 = os.path.join(out_dir, "mobilenet_v2.tflite")
    calib = os.path.join(out_dir, "mnv2_calib32.npz")
    resnet = os.path.join(out_dir, "resnet50.tflite")
    frozen = os.path.join(out_dir, "resnet50_frozen.pb")
    cmds = [
        ("MobileNetV2 int8, 32 samples", mnv2, ["--quantize", "int8", "--calibration-data", calib]),
        ("ResNet50 dynamic", resnet, ["--quantize", "dynamic"]),
        ("ResNet50 float16", resnet, ["--quantize", "float16"]),
        ("ResNet50 weight-int8", resnet, ["--quantize", "weight-int8"]),
        ("ResNet50 round trip", resnet, []),
    ]
    if os.path.exists(frozen):
        cmds.append(("frozen ResNet50 .pb", frozen, []))
    return cmds


def self_ms(stderr):
    m = re.search(r" in ([0-9]+) ms", stderr)
    return float(m.group(1)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    bins = {"base": args.base, "new": args.new}
    rows = []
    for label, model, extra in commands(args.out_dir):
        outs = {k: os.path.join(args.out_dir, f"ab_{k}.tflite") for k in bins}
        argv = {k: [b, "convert", model, "-o", outs[k], *extra] for k, b in bins.items()}
        for k in bins:  # warm-up, and the outputs must agree
            run(argv[k])
        same = filecmp.cmp(outs["base"], outs["new"], shallow=False)
        runs = {k: [] for k in bins}
        for r in range(args.rounds):
            order = ["base", "new"] if r % 2 == 0 else ["new", "base"]
            for k in order:
                runs[k].append(run(argv[k]))
        med = {k: statistics.median(w for w, _, _ in runs[k]) for k in bins}
        own = {k: statistics.median(self_ms(e) for _, _, e in runs[k]) for k in bins}
        rss = {k: statistics.median(m for _, m, _ in runs[k]) for k in bins}
        rows.append((label, med, own, rss, same))
        print(f"bench_ab.py: {label}: {med['new'] / med['base']:.3f}x time", file=sys.stderr)
        for p in outs.values():
            os.remove(p)
    print(f"{args.rounds} interleaved rounds; medians. base = {args.base}, new = {args.new}\n")
    print("| command | wall base | wall new | new/base | tflq's own new/base | peak RSS base | new | new/base | same output |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, med, own, rss, same in rows:
        print(
            f"| {label} | {med['base'] * 1e3:.0f} ms | {med['new'] * 1e3:.0f} ms | {med['new'] / med['base']:.3f}x"
            f" | {own['new'] / own['base']:.3f}x | {mb(rss['base'])} | {mb(rss['new'])}"
            f" | {rss['new'] / rss['base']:.3f}x | {'yes' if same else 'NO'} |"
        )


if __name__ == "__main__":
    main()
