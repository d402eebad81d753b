#!/usr/bin/env bash
# Quantizes three MediaPipe models that use custom ops to int8 with tflq and prints, per
# model, how many builtin ops became integer and each output's SQNR against the float model:
#
#   selfie_segmentation.tflite, selfie_segmentation_landscape.tflite  (Convolution2DTransposeBias)
#   face_landmark_with_attention.tflite  (Landmarks2TransformMatrix, TransformTensorBilinear,
#                                         TransformLandmarks)
#
#   scripts/mediapipe_int8.sh [CACHE_DIR]     (default: bench-out/mediapipe, gitignored)
#
# Downloads, once, the mediapipe 0.10.14 wheel (its .tflite files) and the scikit-image wheel
# (its sample photos: 20 to calibrate on, 6 held out to measure) with `pip download --no-deps`,
# builds tflq and examples/compare_int8 (release; CARGO_TARGET_DIR is honoured), converts each
# model with `--quantize int8 --calibration-data <photos>`, and runs examples/compare_int8 on
# the held-out photos. LiteRT cannot run these custom ops, so the int8 model runs in tflq's
# own interpreter as simulated quantization (see examples/compare_int8.rs). Needs network
# access to PyPI the first time. Run by hand, never in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-$ROOT/bench-out/mediapipe}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
mkdir -p "$CACHE"

if [ ! -d "$CACHE/models" ]; then
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: mediapipe==0.10.14 -d "$CACHE/wheels"
  mkdir -p "$CACHE/models.tmp"
  unzip -q -o "$CACHE"/wheels/mediapipe-0.10.14-*.whl 'mediapipe/modules/*.tflite' -d "$CACHE/models.tmp"
  mv "$CACHE/models.tmp" "$CACHE/models"
fi
if [ ! -d "$CACHE/photos" ]; then
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: scikit-image==0.26.0 -d "$CACHE/wheels"
  mkdir -p "$CACHE/photos.tmp/all" "$CACHE/photos.tmp/calib" "$CACHE/photos.tmp/eval"
  unzip -q -j -o "$CACHE"/wheels/scikit_image-0.26.0-*.whl 'skimage/data/*.png' 'skimage/data/*.jpg' \
    -d "$CACHE/photos.tmp/all"
  for f in "$CACHE"/photos.tmp/all/*; do
    case "$(basename "$f")" in
      astronaut.png | camera.png | chelsea.png | coffee.png | motorcycle_right.png | rocket.jpg)
        cp "$f" "$CACHE/photos.tmp/eval/" ;;
      *) cp "$f" "$CACHE/photos.tmp/calib/" ;;
    esac
  done
  rm -r "$CACHE/photos.tmp/all"
  mv "$CACHE/photos.tmp" "$CACHE/photos"
fi

(cd "$ROOT" && cargo build --release --quiet --bin tflq --example compare_int8)
TFLQ="$TARGET/release/tflq"
COMPARE="$TARGET/release/examples/compare_int8"
M="$CACHE/models/mediapipe/modules"
mkdir -p "$CACHE/int8"

rows=()
for model in selfie_segmentation/selfie_segmentation selfie_segmentation/selfie_segmentation_landscape \
  face_landmark/face_landmark_with_attention; do
  name="$(basename "$model")"
  out="$CACHE/int8/$name.int8.tflite"
  "$TFLQ" convert "$M/$model.tflite" -o "$out" --quantize int8 --calibration-data "$CACHE/photos/calib" \
    --report "$CACHE/int8/$name.report.json" 2>/dev/null
  rows+=("$name	$("$COMPARE" "$M/$model.tflite" "$out" "$CACHE/photos/eval")")
done

printf '%s\n' "${rows[@]}" | "$PY" -c '
import json, sys
print("| model | builtin ops integer / total | custom ops (float) | output SQNR, dB (held-out photos) |")
print("| --- | --- | --- | --- |")
for line in sys.stdin:
    name, report = line.rstrip("\n").split("\t", 1)
    r = json.loads(report)
    sqnr = ", ".join("%s %s" % (o["name"], o["sqnr_db"]) for o in r["outputs"])
    print("| %s | %d / %d | %d | %s |" % (name, r["ops_integer"], r["ops_builtin"], r["ops_custom"], sqnr))
'
