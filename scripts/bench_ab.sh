#!/usr/bin/env bash
# Compare this work tree's tflq against an earlier commit's, for refactors that must keep
# speed and memory: interleaved rounds of int8 MobileNetV2 calibration (32 samples), the
# ResNet50 weight modes and round trip, and the frozen ResNet50 import; medians of wall time,
# tflq's own time and peak RSS as new/base ratios, and whether both wrote the same bytes.
#
#   scripts/bench_ab.sh [--rounds N] REV        (e.g. scripts/bench_ab.sh HEAD~3; default 9 rounds)
#
# Builds REV in a scratch worktree (bench-out/ab-base, its own target dir) and this tree's
# release binary, makes the benchmark models when missing (scripts/bench_prepare.sh, as
# scripts/bench.sh does) and the 32 calibration samples (.venv). Prints a markdown table;
# bench-out/ is gitignored. Run by hand, never in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench-out"
ROUNDS=9
REV=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) REV="$1"; shift ;;
  esac
done
[ -n "$REV" ] || { echo "bench_ab.sh: give the base revision, e.g. HEAD~1" >&2; exit 2; }
cd "$ROOT"
mkdir -p "$OUT"
"$ROOT/scripts/bench_prepare.sh" bench_ab.sh --pb

BASE_TREE="$OUT/ab-base"
SHA="$(git rev-parse "$REV")"
if [ -d "$BASE_TREE" ]; then
  git -C "$BASE_TREE" checkout -q --detach "$SHA"
else
  git worktree add -q --detach "$BASE_TREE" "$SHA"
fi
echo "bench_ab.sh: building $REV ($SHA)" >&2
(cd "$BASE_TREE" && CARGO_TARGET_DIR="$OUT/ab-target" cargo build --release --locked --quiet)

PY="$(scripts/venv.sh)"
SAMPLES="$OUT/mnv2_calib32.npz"
if [ ! -f "$SAMPLES" ]; then
  "$PY" tests/oracle.py calib --n 32 "$OUT/mobilenet_v2.tflite" "$SAMPLES" >/dev/null
fi
python3 scripts/bench_ab.py --base "$OUT/ab-target/release/tflq" --new "$ROOT/target/release/tflq" \
  --out-dir "$OUT" --rounds "$ROUNDS"
