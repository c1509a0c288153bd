#!/usr/bin/env bash
# Runs every fuzz target in turn (one at a time, at the lowest CPU priority) until it has
# executed RUNS inputs or for SECONDS, whichever comes first, growing fuzz/corpus/TARGET/ and
# writing crash inputs to fuzz/artifacts/TARGET/. Prints one line per target: executions,
# seconds, crashes. See docs/fuzzing.md.
#
#   fuzz/run.sh [TARGET...]        (default: every target; RUNS=10000000 SECONDS=600)
set -uo pipefail
cd "$(dirname "$0")"
runs=${RUNS:-10000000}
secs=${SECONDS_PER_TARGET:-600}
targets=("$@")
((${#targets[@]})) || targets=($(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^pidward-fuzz$'))
if cargo fuzz --version >/dev/null 2>&1; then
  cargo fuzz build -s none >/dev/null 2>&1 || exit 1
else
  # Without cargo-fuzz: the very flags `cargo fuzz build -s none` passes (docs/fuzzing.md).
  cov=-Cllvm-args=-sanitizer-coverage
  RUSTFLAGS="-Cpasses=sancov-module $cov-level=4 $cov-inline-8bit-counters $cov-pc-table \
$cov-trace-compares $cov-stack-depth --cfg fuzzing -Cdebug-assertions -Ccodegen-units=1" \
    cargo build --release --target x86_64-unknown-linux-gnu --bins >/dev/null 2>&1 || exit 1
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" logs
  start=$(date +%s)
  nice -n 19 "target/x86_64-unknown-linux-gnu/release/$t" "corpus/$t" \
    -runs="$runs" -max_total_time="$secs" -artifact_prefix="artifacts/$t/" \
    -print_final_stats=1 >"logs/$t.log" 2>&1
  took=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "$t executions=${execs:-?} seconds=$took crashes=$crashes"
done
