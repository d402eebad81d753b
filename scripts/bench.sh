#!/usr/bin/env bash
# Benchmark tflq on a ~100 MB float ResNet50: convert (round trip and
# --quantize dynamic, float16, weight-int8) and dump wall time as ratios to
# `cp` of the same file, and peak RSS as a ratio to the file size; then
# ai-edge-quantizer's dynamic_wi8_afp32 against `tflq convert --quantize
# dynamic` on MobileNetV2, whole process each; with --pb, also `tflq convert`
# of a ~100 MB frozen ResNet50 GraphDef against TF's from_frozen_graph, whole
# process each (TF takes tens of seconds a run, hence opt-in and 3 rounds by
# default), with tflq's peak RSS against the .pb size and both outputs
# compared in ai_edge_litert. The machine is shared, so only the ratios mean
# anything.
#
#   scripts/bench.sh [--rounds N] [--aeq-rounds N] [--no-aeq] [--no-build]
#                    [--pb] [--pb-rounds N]
#                    [MODEL_NAME]          (defaults: 7, 7, resnet50; 3)
#
# --no-build measures the target/release/tflq already there (say, while the
# work tree does not compile); the report names the commit either way.
# Builds target/release/tflq, makes bench-out/{resnet50,mobilenet_v2}.tflite
# and bench-out/resnet50_frozen.{pb,json} with the pinned TensorFlow of
# .venv-gen when missing (scripts/bench_model.py; the venv comes from
# scripts/gen-fixtures.sh --venv-only, which needs PyPI the first time), makes
# .venv-bench with the pinned ai-edge-quantizer (PyPI the first time;
# scripts/bench_aeq.py runs there), then runs scripts/bench_run.py with the
# system python3. The --pb section runs scripts/bench_tf_frozen.py with
# .venv-gen's python (TensorFlow and ai-edge-litert). The markdown report goes
# to stdout and to bench-out/results.md. bench-out/ and .venv-bench/ are
# gitignored: nothing here is ever committed. Run by hand, never in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-out"
ROUNDS=7
AEQ_ROUNDS=7
AEQ=1
BUILD=1
NAME=resnet50
PB=0
PB_ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --aeq-rounds) AEQ_ROUNDS="$2"; shift 2 ;;
    --no-aeq) AEQ=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --pb) PB=1; shift ;;
    --pb-rounds) PB_ROUNDS="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) NAME="${1%.tflite}"; shift ;;
  esac
done
cd "$ROOT"
mkdir -p "$OUT"

TFLQ="$ROOT/target/release/tflq"
PREP=(bench.sh)
[ "$BUILD" = 1 ] || PREP+=(--no-build)
[ "$PB" = 1 ] && PREP+=(--pb)
"$ROOT/scripts/bench_prepare.sh" "${PREP[@]}"
PY=""

MODEL="$OUT/$NAME.tflite"
[ -f "$MODEL" ] || { echo "bench.sh: no $MODEL" >&2; exit 1; }

AEQ_ARGS=()
if [ "$AEQ" = 1 ]; then
  BPY="$("$ROOT/scripts/bench_aeq_venv.sh")"
  AEQ_ARGS=(--aeq-python "$BPY" --aeq-model "$OUT/mobilenet_v2.tflite"
            --aeq-rounds "$AEQ_ROUNDS")
fi

PB_ARGS=()
if [ "$PB" = 1 ]; then
  [ -n "$PY" ] || PY="$("$ROOT/scripts/gen-fixtures.sh" --venv-only)"
  PB_ARGS=(--pb "$OUT/resnet50_frozen.pb" --tf-python "$PY" --litert-python "$PY"
           --pb-rounds "$PB_ROUNDS")
fi

echo "bench.sh: measuring $MODEL ($ROUNDS rounds)" >&2
python3 scripts/bench_run.py --tflq "$TFLQ" --model "$MODEL" --out-dir "$OUT" \
  --rounds "$ROUNDS" "${AEQ_ARGS[@]}" "${PB_ARGS[@]}" --results "$OUT/results.md"
rm -f "$OUT/rt.tflite"
