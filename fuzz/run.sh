#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/README.md): installs cargo-fuzz if it is missing, then each target
# for SECONDS seconds (default 60) or, with RUNS set, for that many executions, on the committed
# corpus. A panic stops with the crashing input in fuzz/artifacts/<target>/ and a non-zero exit.
#   bash fuzz/run.sh              # each target for a minute
#   RUNS=10000000 bash fuzz/run.sh   # ten million executions each
#   TARGETS="journal" bash fuzz/run.sh 300
#   FUZZ_DEV=1 bash fuzz/run.sh 20   # CI: an unoptimised build, 20 s each
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
TARGETS="${TARGETS:-wire journal cluster_file}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz --version 0.13.2
fi
# libFuzzer's instrumentation needs unstable rustc flags; the stable toolchain allows them with
# RUSTC_BOOTSTRAP=1. No sanitizer: the code is safe Rust, and a panic is what is looked for
# (debug assertions on, so an arithmetic overflow is one).
export RUSTC_BOOTSTRAP=1
FLAGS=(-s none -a)
# FUZZ_DEV=1: an unoptimised build (about 1.5 min to build instead of 4, 20 times fewer
# executions a second): CI's short slice, which replays the corpus and explores a little.
if [ -n "${FUZZ_DEV:-}" ]; then FLAGS+=(--dev); fi
echo "== building the fuzz targets"
cargo fuzz build "${FLAGS[@]}"
for t in $TARGETS; do
  if [ -n "${RUNS:-}" ]; then limit=(-runs="$RUNS"); else limit=(-max_total_time="$SECONDS_EACH"); fi
  echo "== fuzz $t (${limit[*]}; corpus fuzz/corpus/$t: $(ls "corpus/$t" | wc -l) inputs)"
  log="$(mktemp)"
  rc=0
  cargo fuzz run "${FLAGS[@]}" "$t" -- "${limit[@]}" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(Done|stat::number_of_executed_units|INFO: seed corpus)' "$log" || true
  echo "corpus fuzz/corpus/$t now: $(ls "corpus/$t" | wc -l) inputs, $(du -sk "corpus/$t" | cut -f1) KiB"
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz $t FAILED (exit $rc): the input is in fuzz/artifacts/$t/" >&2
    exit "$rc"
  fi
  rm -f "$log"
done
