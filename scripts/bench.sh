#!/usr/bin/env bash
# Benchmark tflq on a ~100 MB float ResNet50: round trip (convert) and dump
# wall time as ratios to `cp` of the same file, and peak RSS as a ratio to the
# file size. The machine is shared, so only the ratios mean anything.
#
#   scripts/bench.sh [--rounds N] [MODEL_NAME]     (default: 7, resnet50)
#
# Builds target/release/tflq, makes bench-out/{resnet50,mobilenet_v2}.tflite
# with the pinned TensorFlow of .venv-gen when missing (scripts/bench_model.py;
# the venv comes from scripts/gen-fixtures.sh --venv-only, which needs PyPI the
# first time), then runs scripts/bench_run.py with the system python3. The
# markdown report goes to stdout and to bench-out/results.md. bench-out/ is
# gitignored: nothing here is ever committed. Run by hand, never in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-out"
ROUNDS=7
NAME=resnet50
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) NAME="${1%.tflite}"; shift ;;
  esac
done
cd "$ROOT"
mkdir -p "$OUT"

echo "bench.sh: building release" >&2
cargo build --release --quiet
TFLQ="$ROOT/target/release/tflq"

if [ ! -f "$OUT/resnet50.tflite" ] || [ ! -f "$OUT/mobilenet_v2.tflite" ]; then
  PY="$("$ROOT/scripts/gen-fixtures.sh" --venv-only)"
  echo "bench.sh: generating models (log: $OUT/bench_model.log)" >&2
  start=$(date +%s)
  if ! PYTHONHASHSEED=0 "$PY" scripts/bench_model.py "$OUT" >"$OUT/bench_model.log" 2>&1; then
    tail -n 30 "$OUT/bench_model.log" >&2
    exit 1
  fi
  grep '^bench_model.py:' "$OUT/bench_model.log" >&2 || true
  echo "bench.sh: model generation took $(($(date +%s) - start)) s" >&2
fi

MODEL="$OUT/$NAME.tflite"
[ -f "$MODEL" ] || { echo "bench.sh: no $MODEL" >&2; exit 1; }

echo "bench.sh: measuring $MODEL ($ROUNDS rounds)" >&2
python3 scripts/bench_run.py --tflq "$TFLQ" --model "$MODEL" --out-dir "$OUT" \
  --rounds "$ROUNDS" --results "$OUT/results.md"
rm -f "$OUT/rt.tflite"
