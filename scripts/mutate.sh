#!/usr/bin/env bash
# The structured mutation campaign (scripts/mutate.py): corrupts fixtures and real MediaPipe
# models field by field, and calibration data, GraphDefs, SavedModels and file paths, runs each
# through every mode, and judges every run (clean error or an output LiteRT runs; no panic,
# signal, hang, 2 GiB RSS, changed input or leftover file). Run by hand, never in CI
# (about 15 min on 2 cores).
#
#   scripts/mutate.sh [--quick] [mutate.py options...]
#
# --quick takes 40 mutants per fixture, 10 per real model and 30 per GraphDef/SavedModel.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$(scripts/venv.sh)"
scripts/corpus_fetch.sh
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --quiet --bin tflq --example mutants
EXTRA=()
if [ "${1:-}" = "--quick" ]; then
  shift
  EXTRA=(--per-fixture 40 --per-real 10 --pb-cases 30 --signals 10)
fi
exec "$PY" scripts/mutate.py --tflq "$TARGET/release/tflq" --mutants "$TARGET/release/examples/mutants" \
  --python "$PY" --corpus bench-out/corpus --work bench-out/mutate "${EXTRA[@]}" "$@"
