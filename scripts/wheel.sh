#!/usr/bin/env bash
# Builds the `tflq` wheel (maturin, "bin" bindings: the wheel installs the binary), installs it
# into a fresh venv and runs the README's first command with the installed binary, checking
# that the output loads and runs in the official interpreter.
#
#   scripts/wheel.sh        # everything under $CARGO_TARGET_DIR (default target/)/wheel
#
# Needs Python 3 with venv and pip, network access to PyPI for maturin, and the Rust toolchain.
# TFLQ_PYTHON: the python with ai-edge-litert (default: scripts/venv.sh's).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$TARGET/wheel"
BASE_PYTHON="${PYTHON:-python3}"
start=$(date +%s)
mkdir -p "$WORK"

# maturin in a throwaway venv.
if [ ! -x "$WORK/build-venv/bin/maturin" ]; then
  echo "wheel.sh: installing maturin into $WORK/build-venv" >&2
  rm -rf "$WORK/build-venv"
  "$BASE_PYTHON" -m venv "$WORK/build-venv"
  "$WORK/build-venv/bin/pip" install -q --disable-pip-version-check "maturin>=1,<2" >&2
fi

echo "wheel.sh: building the wheel" >&2
rm -rf "$WORK/dist"
CARGO_TARGET_DIR="$TARGET" "$WORK/build-venv/bin/maturin" build --release --quiet --out "$WORK/dist" >&2
WHEEL="$(ls "$WORK"/dist/tflq-*.whl)"
echo "wheel.sh: built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KB)" >&2

# A fresh venv with nothing but the wheel.
rm -rf "$WORK/venv"
"$BASE_PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check --no-index "$WHEEL" >&2
TFLQ="$WORK/venv/bin/tflq"
[ -x "$TFLQ" ] || { echo "wheel.sh: the wheel did not install $TFLQ" >&2; exit 1; }
"$TFLQ" --version >&2

# The README's first command, with the installed binary.
OUT="$WORK/cnn.int8.tflite"
rm -f "$OUT"
"$TFLQ" convert testdata/cnn.tflite -o "$OUT" --quantize int8 --calibration-data testdata/cnn.calib.npy >&2
"$TFLQ" dump "$OUT" >/dev/null

PY="${TFLQ_PYTHON:-$("$ROOT/scripts/venv.sh")}"
"$PY" - "$OUT" <<'PYEOF' >&2
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter

interp = Interpreter(model_path=sys.argv[1])
interp.allocate_tensors()
x = np.load("testdata/cnn.calib.npy")[:1].astype(np.float32)
inp = interp.get_input_details()[0]
interp.set_tensor(inp["index"], x.reshape(inp["shape"]))
interp.invoke()
out = interp.get_tensor(interp.get_output_details()[0]["index"])
assert np.all(np.isfinite(out)), out
print(f"wheel.sh: the official interpreter runs {sys.argv[1]}: output {out.shape} {out.dtype}")
PYEOF
echo "wheel.sh: ok in $(( $(date +%s) - start )) s" >&2
