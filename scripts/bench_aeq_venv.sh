#!/usr/bin/env bash
# Make sure .venv-bench holds the pinned ai-edge-quantizer (for the side-by-side
# benchmarks only; the product never needs it), then print its python's path.
# Idempotent: the pin list is recorded in .venv-bench/.tflq-pins.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BVENV="$ROOT/.venv-bench"
BPY="$BVENV/bin/python"
BMARKER="$BVENV/.tflq-pins"

# ai-edge-quantizer 0.10.0 and the exact versions pip resolved for it (it pulls
# ai-edge-litert, not TensorFlow). Kept apart from .venv, whose pins the tests own.
AEQ_PINS="ai-edge-quantizer==0.10.0
absl-py==2.5.1
ai-edge-litert==2.3.0
backports.strenum==1.2.8
flatbuffers==25.12.19
immutabledict==4.3.1
litert-lm-builder==0.18.1
ml_dtypes==0.6.0
numpy==2.4.6
protobuf==7.36.2
scipy==1.17.1
tomli==2.5.0
tqdm==4.70.1
typing_extensions==4.16.0"

if ! { [ -x "$BPY" ] && [ -f "$BMARKER" ] && [ "$(cat "$BMARKER")" = "$AEQ_PINS" ] &&
       "$BPY" -c 'import ai_edge_quantizer, ai_edge_litert' >/dev/null 2>&1; }; then
  if [ -e "$BVENV" ] && ! "$BPY" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$BVENV"
  fi
  [ -x "$BPY" ] || { echo "bench_aeq_venv.sh: creating $BVENV" >&2; python3 -m venv "$BVENV"; }
  echo "bench_aeq_venv.sh: installing ai-edge-quantizer pins into $BVENV" >&2
  rm -f "$BMARKER"
  # shellcheck disable=SC2086
  "$BPY" -m pip install -q --disable-pip-version-check --no-input $AEQ_PINS >&2
  "$BPY" -c 'import ai_edge_quantizer, ai_edge_litert.interpreter' >&2
  printf '%s' "$AEQ_PINS" >"$BMARKER"
fi
echo "$BPY"
