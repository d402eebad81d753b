#!/usr/bin/env bash
# Shared first steps of the benchmarks: build the release binary (or, with
# --no-build, check one is there) and generate the benchmark models into
# bench-out/ when missing (TF in .venv-gen; `--pb` also wants the frozen
# ResNet50). Messages go to stderr, prefixed with the calling script's name.
#   scripts/bench_prepare.sh NAME [--no-build] [--pb]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-out"
WHO="$1"; shift
BUILD=1
PB=0
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    --pb) PB=1 ;;
    *) echo "bench_prepare.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
mkdir -p "$OUT"

TFLQ="$ROOT/target/release/tflq"
if [ "$BUILD" = 1 ]; then
  echo "$WHO: building release" >&2
  cargo build --release --quiet
else
  [ -x "$TFLQ" ] || { echo "$WHO: --no-build but no $TFLQ" >&2; exit 1; }
  echo "$WHO: --no-build: measuring $TFLQ as built $(date -r "$TFLQ" '+%F %T')" >&2
fi

if [ ! -f "$OUT/resnet50.tflite" ] || [ ! -f "$OUT/mobilenet_v2.tflite" ] ||
   { [ "$PB" = 1 ] && [ ! -f "$OUT/resnet50_frozen.pb" ]; }; then
  PY="$("$ROOT/scripts/gen-fixtures.sh" --venv-only)"
  echo "$WHO: generating models (log: $OUT/bench_model.log)" >&2
  start=$(date +%s)
  if ! PYTHONHASHSEED=0 "$PY" scripts/bench_model.py "$OUT" >"$OUT/bench_model.log" 2>&1; then
    tail -n 30 "$OUT/bench_model.log" >&2
    exit 1
  fi
  grep '^bench_model.py:' "$OUT/bench_model.log" >&2 || true
  echo "$WHO: model generation took $(($(date +%s) - start)) s" >&2
fi
