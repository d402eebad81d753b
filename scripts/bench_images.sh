#!/usr/bin/env bash
# Peak RSS of `tflq convert bench-out/mobilenet_v2.tflite --quantize int8 --calibration-data
# FOLDER` on 1,500 generated 224x224 JPEGs, for a baseline binary and this tree's, in one run.
#
#   scripts/bench_images.sh            # baseline: main, built in a worktree under target/
#   BASE_BIN=/path/to/tflq scripts/bench_images.sh
#   BASE_REF=v0.1.0 N=300 scripts/bench_images.sh
#
# Prints JSON (peak RSS in MB, seconds, the ratio, whether both wrote the same model).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench-out"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT"

echo "bench_images: building release" >&2
cargo build --release --quiet
NEW="$TARGET/release/tflq"

if [ -z "${BASE_BIN:-}" ]; then
  REF="${BASE_REF:-main}"
  SRC="$TARGET/bench-images-base-src"
  if [ ! -d "$SRC" ]; then
    git worktree add --detach "$SRC" "$REF" >&2
  else
    git -C "$SRC" checkout --quiet --detach "$REF"
  fi
  echo "bench_images: building the baseline ($REF)" >&2
  (cd "$SRC" && CARGO_TARGET_DIR="$TARGET/bench-images-base" cargo build --release --quiet)
  BASE_BIN="$TARGET/bench-images-base/release/tflq"
fi

if [ ! -f "$OUT/mobilenet_v2.tflite" ]; then
  "$ROOT/scripts/bench_prepare.sh" bench_images --no-build
fi
PY="${TFLQ_PYTHON:-$("$ROOT/scripts/venv.sh")}"
"$PY" "$ROOT/scripts/bench_images.py" "$BASE_BIN" "$NEW" "$OUT/mobilenet_v2.tflite" "$OUT" "${N:-1500}"
