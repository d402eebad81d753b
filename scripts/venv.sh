#!/usr/bin/env bash
# Make sure .venv (repo root) holds the pinned Python packages that the
# integration tests' oracle (tests/oracle.py) needs, then print the path of
# its python on stdout. Idempotent and quick when nothing changed: the pin
# list is recorded in .venv/.tflq-pins and compared on every call.
#
#   PY="$(scripts/venv.sh)" && "$PY" tests/oracle.py schema model.tflite
#
# PYTHON selects the base interpreter (default: python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
MARKER="$VENV/.tflq-pins"
BASE_PYTHON="${PYTHON:-python3}"

# ai-edge-litert and the exact versions pip resolved for its dependencies, and Pillow, which
# scripts/corpus.py decodes photos with.
PINS="ai-edge-litert==2.3.0
backports.strenum==1.2.8
flatbuffers==25.12.19
ml_dtypes==0.6.0
numpy==2.4.6
protobuf==7.36.2
tqdm==4.70.1
typing_extensions==4.16.0
pillow==12.0.0"

up_to_date() {
  [ -x "$PY" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PINS" ] &&
    "$PY" -c 'import numpy, PIL, ai_edge_litert' >/dev/null 2>&1
}

if ! up_to_date; then
  # A venv whose interpreter no longer runs (e.g. the base python moved) is
  # rebuilt from scratch; otherwise pip just brings the pins in line.
  if [ -e "$VENV" ] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
  fi
  if [ ! -x "$PY" ]; then
    echo "venv.sh: creating $VENV" >&2
    "$BASE_PYTHON" -m venv "$VENV"
  fi
  echo "venv.sh: installing pinned packages" >&2
  rm -f "$MARKER"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --disable-pip-version-check --no-input $PINS >&2
  "$PY" -c 'import numpy, ai_edge_litert.interpreter' >&2
  printf '%s' "$PINS" >"$MARKER"
fi

echo "$PY"
