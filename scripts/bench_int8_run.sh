#!/usr/bin/env bash
# Benchmark tflq's integer interpreter: a float MobileNetV2 quantized by the
# release `tflq convert --quantize int8` (32 calibration samples), then, in the
# same run, per-sample time of `tflq run --threads 1` against LiteRT's invoke
# time with XNNPACK on one thread (target: at most 2x) and with its built-in
# kernels (no XNNPACK) on one thread; and every tensor tflq computes checked
# byte for byte against LiteRT's built-in kernels (a difference fails the run).
# The machine is shared, so only the ratios of medians over interleaved rounds
# mean anything.
#
#   scripts/bench_int8_run.sh [--rounds N] [--invokes N] [--batch N]
#                             [--check-samples N] [--no-build] [--tflq PATH]
#                             (defaults: 5 rounds, 20 invokes, 8 samples, 2)
#
# --tflq measures another tflq binary (say, an older build) on the model this
# tree's release build quantized; --no-build uses target/release/tflq as it is.
# Makes bench-out/mobilenet_v2.tflite when missing (scripts/bench_prepare.sh,
# TensorFlow in .venv-gen) and bench-out/mnv2_calib32.npz (`tests/oracle.py
# calib --n 32`); writes bench-out/mnv2.int8.tflite. Runs
# scripts/bench_int8_run.py with the python of .venv (scripts/venv.sh); the
# markdown report goes to stdout and to bench-out/results_int8_run.md (figures
# also in results_int8_run.json). Run by hand, never in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-out"
BUILD=1
TFLQ_RUN=""
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds|--invokes|--batch|--check-samples) ARGS+=("$1" "$2"); shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --tflq) TFLQ_RUN="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_int8_run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
mkdir -p "$OUT"

TFLQ="$ROOT/target/release/tflq"
MODEL="$OUT/mobilenet_v2.tflite"
if [ "$BUILD" = 1 ]; then
  echo "bench_int8_run.sh: building release" >&2
  cargo build --release --quiet
fi
[ -x "$TFLQ" ] || { echo "bench_int8_run.sh: no $TFLQ" >&2; exit 1; }
[ -f "$MODEL" ] || "$ROOT/scripts/bench_prepare.sh" bench_int8_run.sh --no-build

PY="$("$ROOT/scripts/venv.sh")"
SAMPLES="$OUT/mnv2_calib32.npz"
if [ ! -f "$SAMPLES" ] || [ "$SAMPLES" -ot "$MODEL" ]; then
  echo "bench_int8_run.sh: writing $SAMPLES" >&2
  "$PY" tests/oracle.py calib --n 32 "$MODEL" "$SAMPLES" >/dev/null
fi

QUANT="$OUT/mnv2.int8.tflite"
echo "bench_int8_run.sh: quantizing $MODEL" >&2
"$TFLQ" convert "$MODEL" -o "$QUANT" --quantize int8 --calibration-data "$SAMPLES" --strict >&2

LABEL=()
[ -n "$TFLQ_RUN" ] && LABEL=(--label "$TFLQ_RUN ")
echo "bench_int8_run.sh: measuring" >&2
"$PY" scripts/bench_int8_run.py --tflq "${TFLQ_RUN:-$TFLQ}" --model "$QUANT" --samples "$SAMPLES" \
  --out-dir "$OUT" --results "$OUT/results_int8_run.md" "${LABEL[@]}" "${ARGS[@]}"
