#!/usr/bin/env bash
# Fingerprints tflq's behaviour for refactors: builds the release binary and the
# pinned venv, then converts every fixture (and any models or folders given) in
# every mode and prints sha256 fingerprints, one run per line. Diff the listing
# before and after a change that should not change behaviour:
#
#   scripts/behaviour_hashes.sh > before.txt   (old commit)
#   scripts/behaviour_hashes.sh > after.txt    (new commit)
#   diff before.txt after.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="$(scripts/venv.sh)"
cargo build --release --locked -q
TFLQ_PYTHON="$PY" exec "$PY" scripts/behaviour_hashes.py "$@"
