#!/usr/bin/env bash
# What a supervisor keeps resident, from /proc/PID/smaps: bench/smaps.sh PROGRAM [ARGS...] -- sleep
#
# Starts `PROGRAM ARGS... -- sleep 1.5` (the program must supervise its command, as
# `pidward run -l none`, `tini -s` and `dumb-init` do) five times, reads the supervisor's smaps
# 0.6 s into each run, and prints the run with the median VmHWM: its stack, its anonymous
# memory (what it costs the machine beyond the shared page cache), the resident pages of its
# own executable's mappings, VmHWM and PSS, in kB. Used for docs/benchmarks.md ("Start-up and
# memory"); bench/compare.sh's groups 4c-4e are the side-by-side table.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
exe=$(readlink -f "$(command -v "$1")")
for _ in 1 2 3 4 5; do
  "$@" -- sleep 1.5 &
  pid=$!
  sleep 0.6
  stack=$(awk '/\[stack\]/ {p = 1; next} /^[0-9a-f]+-/ {p = 0} p && /^Rss/ {print $2}' "/proc/$pid/smaps")
  own=$(awk -v exe="$exe" '/^[0-9a-f]+-/ {p = ($NF == exe)} p && /^Rss/ {s += $2} END {print s + 0}' "/proc/$pid/smaps")
  anon=$(awk '/^Anonymous/ {print $2}' "/proc/$pid/smaps_rollup")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  echo "$hwm $stack $anon $own $pss"
  wait "$pid" || true
done | sort -n | sed -n 3p |
  awk '{printf "VmHWM %s  stack %s  anonymous %s  own resident %s  PSS %s (kB)\n", $1, $2, $3, $4, $5}'
