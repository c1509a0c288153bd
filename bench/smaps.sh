#!/usr/bin/env bash
# What a supervisor keeps resident, from /proc/PID/smaps: bench/smaps.sh PROGRAM [ARGS...]
#
# Starts `PROGRAM ARGS... -- sleep 1` (the program must supervise its command, as
# `pidward run -l none`, `tini -s` and `dumb-init` do) RUNS times (default 5; SMAPS_RUNS=N),
# reads the supervisor's smaps 0.4 s into each run, and prints the run with the median VmHWM:
# its stack, its anonymous memory (what it costs the machine beyond the shared page cache),
# the resident pages of its own executable's mappings, VmHWM and PSS, in kB; then the mean
# stack of all the runs (the stack's start is randomised within a page, so the same depth
# touches one page more or less from one start to the next). Used for docs/benchmarks.md
# ("Start-up and memory"); bench/compare.sh's groups 4c-4e are the side-by-side table.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
exe=$(readlink -f "$(command -v "$1")")
runs=${SMAPS_RUNS:-5}
rows=$(
  for _ in $(seq "$runs"); do
    "$@" -- sleep 1 &
    pid=$!
    sleep 0.4
    stack=$(awk '/\[stack\]/ {p = 1; next} /^[0-9a-f]+-/ {p = 0} p && /^Rss/ {print $2}' "/proc/$pid/smaps")
    own=$(awk -v exe="$exe" '/^[0-9a-f]+-/ {p = ($NF == exe)} p && /^Rss/ {s += $2} END {print s + 0}' "/proc/$pid/smaps")
    anon=$(awk '/^Anonymous/ {print $2}' "/proc/$pid/smaps_rollup")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    echo "$hwm $stack $anon $own $pss"
    wait "$pid" || true
  done
)
sort -n <<<"$rows" | sed -n "$(((runs + 1) / 2))p" |
  awk '{printf "VmHWM %s  stack %s  anonymous %s  own resident %s  PSS %s (kB)", $1, $2, $3, $4, $5}'
awk '{s += $2} END {printf "; stack, mean of %d: %.1f kB\n", NR, s / NR}' <<<"$rows"
