#!/usr/bin/env bash
# Real-model corpus check: quantizes the 14 float .tflite models that the mediapipe 0.10.14
# wheel ships under mediapipe/modules/ (fp16 weights, sparse weights, custom ops) with tflq in
# six modes (dynamic, float16, weight-int8, int8, int8 with int8 I/O, int16x8) and judges
# every output in the official interpreter (LiteRT): it loads, allocates and invokes; the file
# does not grow; constant data shrinks as the mode promises; the SQNR of each output against
# the float model on held-out photos is at least the floor in scripts/corpus_floors.json.
# Prints a markdown table model x mode and the failing checks; exits 1 if any check fails.
#
#   scripts/corpus.sh [CACHE_DIR] [--only MODEL[,MODEL]] [--modes MODE[,MODE]] [--json OUT]
#                     [--update-floors]
#
# CACHE_DIR (default: bench-out/corpus, gitignored) keeps the downloads and the outputs.
# Needs only Rust, Python 3 and pip: the first run makes .venv (scripts/venv.sh: pinned LiteRT,
# NumPy, Pillow) and downloads, with `pip download --no-deps`, the mediapipe wheel (its models), the
# scikit-image wheel (its sample photos: 20 to calibrate on, 6 held out) and the scikit-learn
# wheel (china.jpg and flower.jpg, held out; held-out JPEGs are stored as PNG). Builds tflq
# and examples/compare_int8 (release; CORPUS_PROFILE=debug uses the debug build instead, which
# `cargo test` has already made; CARGO_TARGET_DIR is honoured). See scripts/corpus.py for the
# checks; --update-floors records floors for cells that have none.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/bench-out/corpus"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  CACHE="$1"
  shift
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
t_start=$(date +%s)
# The tests' venv (pinned LiteRT, NumPy, Pillow).
PY="$("$ROOT/scripts/venv.sh")"

"$ROOT/scripts/corpus_fetch.sh" "$CACHE"
t_setup=$(date +%s)

PROFILE="${CORPUS_PROFILE:-release}"
case "$PROFILE" in
  release) (cd "$ROOT" && cargo build --release --quiet --bin tflq --example compare_int8) ;;
  debug) (cd "$ROOT" && cargo build --quiet --bin tflq --example compare_int8) ;;
  *) echo "corpus.sh: CORPUS_PROFILE must be release or debug, not $PROFILE" >&2; exit 2 ;;
esac
t_build=$(date +%s)

status=0
"$PY" "$ROOT/scripts/corpus.py" --models "$CACHE/models" --calib "$CACHE/photos/calib" \
  --eval "$CACHE/photos/eval" --work "$CACHE/out" --tflq "$TARGET/$PROFILE/tflq" \
  --compare "$TARGET/$PROFILE/examples/compare_int8" --floors "$ROOT/scripts/corpus_floors.json" \
  "$@" || status=$?
t_end=$(date +%s)
echo "corpus.sh: venv + downloads $((t_setup - t_start))s, build $((t_build - t_setup))s, check $((t_end - t_build))s" >&2
exit "$status"
