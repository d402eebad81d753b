#!/usr/bin/env bash
# The test command (README): installs the pinned official interpreter into
# .venv if missing, checks the schema against it, then runs every Rust test,
# including the integration tests that judge outputs in ai-edge-litert.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="$(scripts/venv.sh)"
export TFLQ_PYTHON="$PY"
cargo test --workspace --locked "$@"
