#!/usr/bin/env bash
# SavedModel conversion benchmark: a Keras 3 ResNet50 SavedModel (made on demand in
# bench-out/savedmodel/, never committed) converted by the release tflq and by TF's
# `from_saved_model` (pinned TF in .venv-gen), whole process each, interleaved rounds.
# Targets (issue 15): at least 20x faster than TF; peak RSS at most 2x the variables.
#
#   scripts/bench_savedmodel.sh [--rounds N]
#
# Run by hand, never in CI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TF_PY="$(scripts/gen-fixtures.sh --venv-only)"
cargo build --release --locked -q
exec "$TF_PY" scripts/bench_savedmodel.py --tflq "$ROOT/target/release/tflq" --tf-python "$TF_PY" "$@"
