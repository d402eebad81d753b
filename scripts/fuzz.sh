#!/usr/bin/env bash
# Coverage-guided fuzzing of every fuzz target in fuzz/ with the stable toolchain (libFuzzer
# through libfuzzer-sys; the sanitizer-coverage flags are passed by hand, so no cargo-fuzz or
# nightly is needed). Each target is seeded from the committed fixtures and runs for SECONDS;
# crashes are copied to tests/regressions/fuzz/TARGET/, which tests/fuzz_regressions.rs (and,
# for `read`, tests/corrupt.rs) replays in the normal suite. Prints one summary line per target.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]     (default: 60 s; all targets:
#                                                  read bundle savedmodel modes graphdef data)
#
# Run by hand, never in CI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH=60
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(read bundle savedmodel modes graphdef data)
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="$ROOT/target/fuzz"
# --target keeps these flags off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
(cd fuzz && cargo build --release --target "$TRIPLE" $(printf -- '--bin %s ' "${TARGETS[@]}") >&2)
BIN="$CARGO_TARGET_DIR/$TRIPLE/release"
for t in "${TARGETS[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "tests/regressions/fuzz/$t"
  case "$t" in
    read|modes) find testdata -maxdepth 1 -name '*.tflite' -size -200k -exec cp -n {} "$corpus/" \; ;;
    graphdef) find testdata testdata/tf2ops testdata/control -maxdepth 1 -name '*.pb' -exec cp -n {} "$corpus/" \; ;;
    data) find testdata testdata/savedmodel -maxdepth 1 \( -name '*.npy' -o -name '*.npz' \) -size -2M -exec cp -n {} "$corpus/" \; ;;
    savedmodel) for d in testdata/savedmodel/*/; do [ -f "$d/saved_model.pb" ] && cp -n "$d/saved_model.pb" "$corpus/$(basename "$d")"; done ;;
    bundle)
      d=testdata/savedmodel/bundle_dtypes/variables
      { printf '\001'; python3 -c "import os,sys;sys.stdout.buffer.write(os.path.getsize('$d/variables.data-00000-of-00001').to_bytes(2,'little'))"; \
        cat "$d/variables.data-00000-of-00001" "$d/variables.index"; } > "$corpus/dtypes" ;;
  esac
  log="$CARGO_TARGET_DIR/$t.log"
  status=0
  "$BIN/$t" "$corpus" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="tests/regressions/fuzz/$t/" >"$log" 2>&1 || status=$?
  last="$(grep -E '#[0-9]+' "$log" | tail -1)"
  echo "fuzz $t: ${SECONDS_EACH}s exit $status: $last"
done
