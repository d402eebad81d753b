#!/usr/bin/env bash
# Downloads the real-model corpus once into CACHE_DIR (default: bench-out/corpus): the 14 float
# models of the mediapipe 0.10.14 wheel (models/), and photos from the scikit-image 0.26.0 and
# scikit-learn 1.7.2 wheels (photos/calib: 20 to calibrate on; photos/eval: 8 held out, as PNG).
# Used by scripts/corpus.sh and scripts/mutate.sh; does nothing when both folders exist.
#
#   scripts/corpus_fetch.sh [CACHE_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-$ROOT/bench-out/corpus}"
PY="$("$ROOT/scripts/venv.sh")"
mkdir -p "$CACHE"
pipdl() { "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: "$@" -d "$CACHE/wheels"; }
if [ ! -d "$CACHE/models" ]; then
  echo "corpus_fetch.sh: downloading the mediapipe 0.10.14 wheel" >&2
  pipdl mediapipe==0.10.14
  rm -rf "$CACHE/models.tmp"
  mkdir -p "$CACHE/models.tmp"
  unzip -q -o "$CACHE"/wheels/mediapipe-0.10.14-*.whl 'mediapipe/modules/*.tflite' -d "$CACHE/models.tmp"
  mv "$CACHE/models.tmp" "$CACHE/models"
fi
if [ ! -d "$CACHE/photos" ]; then
  echo "corpus_fetch.sh: downloading the scikit-image 0.26.0 and scikit-learn 1.7.2 wheels (photos)" >&2
  pipdl scikit-image==0.26.0
  pipdl scikit-learn==1.7.2
  rm -rf "$CACHE/photos.tmp"
  mkdir -p "$CACHE/photos.tmp/all" "$CACHE/photos.tmp/calib" "$CACHE/photos.tmp/eval"
  unzip -q -j -o "$CACHE"/wheels/scikit_image-0.26.0-*.whl 'skimage/data/*.png' 'skimage/data/*.jpg' \
    -d "$CACHE/photos.tmp/all"
  # The same split as scripts/mediapipe_int8.sh: six photos held out, the rest calibrate.
  for f in "$CACHE"/photos.tmp/all/*; do
    case "$(basename "$f")" in
      astronaut.png | camera.png | chelsea.png | coffee.png | motorcycle_right.png | rocket.jpg)
        cp "$f" "$CACHE/photos.tmp/eval/" ;;
      *) cp "$f" "$CACHE/photos.tmp/calib/" ;;
    esac
  done
  unzip -q -j -o "$CACHE"/wheels/scikit_learn-1.7.2-*.whl 'sklearn/datasets/images/*.jpg' \
    -d "$CACHE/photos.tmp/eval"
  # Held-out JPEGs become PNGs, so that LiteRT's inputs (decoded by Pillow) and tflq's own
  # (examples/compare_int8, decoded by the image crate) are the same pixels: JPEG decoders
  # differ by a step here and there.
  "$PY" - "$CACHE/photos.tmp/eval" <<'PYEOF'
import pathlib, sys
from PIL import Image
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.jpg")):
    Image.open(f).convert("RGB").save(f.with_suffix(".png"))
    f.unlink()
PYEOF
  rm -r "$CACHE/photos.tmp/all"
  mv "$CACHE/photos.tmp" "$CACHE/photos"
fi
