#!/usr/bin/env python3
"""Fingerprints what tflq does: every fixture (and any extra models) in every mode.

Prints one line per run, `<model> <what> <fingerprint>`, where the fingerprint is
the sha256 of the output file, or of the `--report` JSON with its timings
removed, or of the console summary with its milliseconds removed, or the exit
code and error line of a refused run. Two builds behave the same on these
inputs when their listings are identical, so a refactor is checked with

    scripts/behaviour_hashes.sh > before.txt      # on the old commit
    scripts/behaviour_hashes.sh > after.txt       # on the new one
    diff before.txt after.txt

Extra arguments are models or folders of models (.tflite, .pb) to include,
e.g. the MediaPipe wheel's models fetched by scripts/corpus.sh.
Run through scripts/behaviour_hashes.sh, which builds tflq and the venv.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TFLQ = os.environ.get("TFLQ_BIN", str(ROOT / "target/release/tflq"))
PY = os.environ.get("TFLQ_PYTHON", sys.executable)

WEIGHT_MODES = [
    ["--quantize", "none"],
    ["--quantize", "dynamic"],
    ["--quantize", "dynamic", "--per-tensor"],
    ["--quantize", "dynamic", "--min-weight-elements", "1"],
    ["--quantize", "float16"],
    ["--quantize", "weight-int8"],
    ["--quantize", "weight-int8", "--per-tensor"],
]
INTEGER_MODES = [
    ["--quantize", "int8"],
    ["--quantize", "int8", "--per-tensor"],
    ["--quantize", "int8", "--strict"],
    ["--quantize", "int8", "--input-type", "int8", "--output-type", "int8"],
    ["--quantize", "int8", "--input-type", "uint8", "--output-type", "uint8"],
    ["--quantize", "int16x8"],
    ["--quantize", "int16x8", "--input-type", "int16", "--output-type", "int16"],
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def strip_seconds(v):
    if isinstance(v, dict):
        return {k: strip_seconds(x) for k, x in v.items() if k != "seconds"}
    if isinstance(v, list):
        return [strip_seconds(x) for x in v]
    return v


def run(args):
    return subprocess.run([TFLQ, *map(str, args)], capture_output=True)


def refused(r) -> str:
    line = r.stderr.decode(errors="replace").strip().splitlines()
    return f"exit {r.returncode}: {line[-1] if line else ''}"


def models(extra):
    found = sorted(p for p in (ROOT / "testdata").iterdir() if p.suffix in (".tflite", ".pb"))
    for e in map(Path, extra):
        found += sorted(p for p in e.rglob("*") if p.suffix in (".tflite", ".pb")) if e.is_dir() else [e]
    return found


def calibration(model: Path, tmp: Path):
    """16 generated samples keyed by the model's input names (a .pb is converted first)."""
    src = model
    if model.suffix == ".pb":
        src = tmp / (model.stem + ".plain.tflite")
        if run(["convert", model, "-o", src]).returncode != 0:
            return None
    out = tmp / (model.name + ".calib.npz")
    r = subprocess.run([PY, ROOT / "tests/oracle.py", "calib", "--n", "16", src, out], capture_output=True)
    return out if r.returncode == 0 else None


def main():
    lines = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for model in models(sys.argv[1:]):
            label = model.name
            for what, args in [("dump", ["dump", model]), ("dump-json", ["dump", "--json", model])]:
                r = run(args)
                lines.append(f"{label} {what} {sha(r.stdout) if r.returncode == 0 else refused(r)}")
            calib = calibration(model, tmp)
            modes = WEIGHT_MODES + (INTEGER_MODES if calib else [])
            for mode in modes:
                tag = "_".join(a.lstrip("-") for a in mode)
                out, report = tmp / "out.tflite", tmp / "report.json"
                for p in (out, report):
                    p.unlink(missing_ok=True)
                args = ["convert", model, "-o", out, "--report", report, *mode]
                if mode in INTEGER_MODES:
                    args += ["--calibration-data", calib]
                r = run(args)
                if r.returncode != 0:
                    lines.append(f"{label} {tag} {refused(r)}")
                    continue
                lines.append(f"{label} {tag} {sha(out.read_bytes())}")
                rep = strip_seconds(json.loads(report.read_text()))
                lines.append(f"{label} {tag}.report {sha(json.dumps(rep, sort_keys=True).encode())}")
                summary = re.sub(rb" in [0-9]+ ms", b"", r.stderr).replace(str(tmp).encode(), b"TMP")
                lines.append(f"{label} {tag}.stderr {sha(summary)}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
