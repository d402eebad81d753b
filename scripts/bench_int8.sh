#!/usr/bin/env bash
# Benchmark `tflq convert --quantize int8` on a float MobileNetV2 with 32
# calibration samples, whole process, against (A) 32 single-thread LiteRT float
# inferences of the same model (ai-edge-litert, default delegate; target at
# most 2x, aim 1x) and (B) ai-edge-quantizer's static_wi8_ai8 recipe on the
# same model and samples (target at least 10x in tflq's favour); plus tflq's
# calibration time per sample against LiteRT's per-invoke time, and the output
# SQNR of both quantized models against the float one. The machine is shared,
# so only the ratios (of medians over interleaved rounds) mean anything.
#
#   scripts/bench_int8.sh [--rounds N] [--no-aeq] [--no-build]   (default: 5)
#
# --no-build measures the target/release/tflq already there. Makes
# bench-out/mobilenet_v2.tflite when missing (scripts/bench_model.py with the
# pinned TensorFlow of .venv-gen, as scripts/bench.sh does) and
# bench-out/mnv2_calib32.npz (`tests/oracle.py calib --n 32`, .venv); makes
# .venv-bench with the pins of scripts/bench.sh when missing or different (PyPI
# the first time). Runs scripts/bench_int8.py with the system python3; the
# markdown report goes to stdout and to bench-out/results_int8.md. bench-out/
# and .venv-bench/ are gitignored. Run by hand, never in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-out"
ROUNDS=5
AEQ=1
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --no-aeq) AEQ=0; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_int8.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
mkdir -p "$OUT"

TFLQ="$ROOT/target/release/tflq"
if [ "$BUILD" = 1 ]; then "$ROOT/scripts/bench_prepare.sh" bench_int8.sh; else "$ROOT/scripts/bench_prepare.sh" bench_int8.sh --no-build; fi
MODEL="$OUT/mobilenet_v2.tflite"
SAMPLES="$OUT/mnv2_calib32.npz"
[ -f "$MODEL" ] || { echo "bench_int8.sh: no $MODEL" >&2; exit 1; }

LPY="$ROOT/.venv/bin/python"
"$LPY" -c 'import ai_edge_litert.interpreter, numpy' 2>/dev/null ||
  { echo "bench_int8.sh: $LPY lacks ai_edge_litert (make .venv first)" >&2; exit 1; }
if [ ! -f "$SAMPLES" ] || [ "$SAMPLES" -ot "$MODEL" ]; then
  echo "bench_int8.sh: writing $SAMPLES" >&2
  "$LPY" tests/oracle.py calib --n 32 "$MODEL" "$SAMPLES" >/dev/null
fi

AEQ_ARGS=()
if [ "$AEQ" = 1 ]; then
  BPY="$("$ROOT/scripts/bench_aeq_venv.sh")"
  AEQ_ARGS=(--aeq-python "$BPY")
fi

echo "bench_int8.sh: measuring $MODEL ($ROUNDS rounds)" >&2
python3 scripts/bench_int8.py --tflq "$TFLQ" --model "$MODEL" --samples "$SAMPLES" \
  --litert-python "$LPY" "${AEQ_ARGS[@]}" --out-dir "$OUT" --rounds "$ROUNDS" \
  --results "$OUT/results_int8.md"
