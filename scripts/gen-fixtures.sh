#!/usr/bin/env bash
# Regenerate the committed fixtures in testdata/ with pinned TensorFlow.
# Run by hand only (never in CI); needs network access to PyPI the first time
# and ~1.5 GB for .venv-gen (gitignored). Extra arguments go to generate.py.
#
#   scripts/gen-fixtures.sh --ops [CASE...]
#     only rebuilds the single-op agreement models in testdata/ops/ (all, or the
#     named cases) with testdata/generate_ops.py.
#
#   scripts/gen-fixtures.sh --tf2ops [NAME...]
#     only rebuilds the frozen TF2/Keras 3 graphs in testdata/tf2ops/ (einsum, GELU,
#     hard-swish, MobileNetV3Small, ...: all, or the named ones) with TF's own
#     conversions of them, using testdata/generate_tf2ops.py.
#
#   scripts/gen-fixtures.sh --strict
#     only rebuilds the models TF converts integer-only in testdata/strict/ (and TF's
#     integer-only conversions of them), leaving every other fixture alone.
#
#   scripts/gen-fixtures.sh --logspec
#     only rebuilds the log-magnitude spectrogram model in testdata/audio/.
#
#   scripts/gen-fixtures.sh --savedmodel [CASE...]
#     only rebuilds the SavedModel directories in testdata/savedmodel/ (all, or the
#     named cases), each with TF's own from_saved_model conversion and sample inputs,
#     with testdata/generate_savedmodel.py.
#
#   scripts/gen-fixtures.sh --control
#     only rebuilds the functional control-flow fixtures in testdata/control/
#     (tf.cond, tf.while_loop, Keras GRU/LSTM/SimpleRNN frozen GraphDefs with
#     TF's conversions) with testdata/generate_control.py.
#
#   scripts/gen-fixtures.sh --venv-only
#     only makes sure .venv-gen holds the pins, then prints the path of its
#     python on stdout (used by scripts/bench.sh; no fixture is touched).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-gen"
PY="$VENV/bin/python"
MARKER="$VENV/.tflq-pins"
BASE_PYTHON="${PYTHON:-python3}"

# ai-edge-litert is used by generate.py to check that every model runs.
PINS="tensorflow-cpu==2.21.0
tf_keras==2.21.0
scikit-learn==1.9.1
numpy==2.4.6
pillow==13.0.0
ai-edge-litert==2.3.0"

if ! { [ -x "$PY" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PINS" ]; }; then
  if [ ! -x "$PY" ]; then
    echo "gen-fixtures.sh: creating $VENV" >&2
    "$BASE_PYTHON" -m venv "$VENV"
  fi
  echo "gen-fixtures.sh: installing pinned packages" >&2
  rm -f "$MARKER"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --disable-pip-version-check --no-input $PINS >&2
  printf '%s' "$PINS" >"$MARKER"
fi

if [ "${1:-}" = "--venv-only" ]; then
  echo "$PY"
  exit 0
fi

cd "$ROOT"
export PYTHONHASHSEED=0
if [ "${1:-}" = "--savedmodel" ]; then
  shift
  exec "$PY" testdata/generate_savedmodel.py "$@"
fi
if [ "${1:-}" = "--ops" ]; then
  shift
  exec "$PY" testdata/generate_ops.py "$@"
fi
if [ "${1:-}" = "--control" ]; then
  shift
  exec "$PY" testdata/generate_control.py "$@"
fi
if [ "${1:-}" = "--tf2ops" ]; then
  shift
  exec "$PY" testdata/generate_tf2ops.py "$@"
fi
exec "$PY" testdata/generate.py "$@"
