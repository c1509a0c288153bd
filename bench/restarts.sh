#!/usr/bin/env bash
# No growth over many restarts: one long-lived `pidward run -p F --restart always
# --restart-delay 0 --restart-jitter 0 -- true`, sampled as it passes each mark (restart
# counts, from the supervisor's state file F.state): its open descriptors (/proc/PID/fd),
# VmRSS and VmHWM. Prints one row per mark; exits 1 if the descriptors or VmRSS at the last
# mark differ from those at the second (the first restarts warm up the allocator, and at mark 0
# the first run may not have started): descriptors within the 2 a run in flight holds, VmRSS
# within SLACK_KIB (default 64).
# See docs/robustness.md.
#
#   bench/restarts.sh [MARK...]       (default: 0 1000 5000 10000; PIDWARD=target/debug/pidward)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pidward=${PIDWARD:-$here/target/debug/pidward}
slack=${SLACK_KIB:-64}
marks=("$@")
((${#marks[@]})) || marks=(0 1000 5000 10000)
dir=$(mktemp -d)
trap 'kill -TERM "$sup" 2>/dev/null; wait "$sup" 2>/dev/null; rm -rf "$dir"' EXIT
F=$dir/F
"$pidward" run -p "$F" --restart always --restart-delay 0 --restart-jitter 0 -- true \
  </dev/null >"$dir/log" 2>&1 &
sup=$!
restarts() { sed -n 's/^restarts=//p' "$F.state" 2>/dev/null; }
field() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$sup/status"; }
start=$(date +%s.%N)
printf '%-9s %-8s %-6s %-11s %-11s %s\n' mark restarts fds "VmRSS KiB" "VmHWM KiB" seconds
first_fds='' base_rss='' fds='' rss='' i=0
for mark in "${marks[@]}"; do
  # Sample as soon as the count reaches the mark (polling every 10 ms, 30 min at most).
  for ((t = 0; t < 180000; t++)); do
    n=$(restarts)
    [ -n "$n" ] && [ "$n" -ge "$mark" ] && break
    kill -0 "$sup" 2>/dev/null || { echo "the supervisor is gone: $(cat "$dir/log")"; exit 1; }
    sleep 0.01
  done
  [ -n "$n" ] && [ "$n" -ge "$mark" ] || { echo "mark $mark not reached (restarts: $n)"; exit 1; }
  # The fewest of 5 looks 20 ms apart: a leak stays, a run's own pidfd or pipe comes and goes.
  fds=
  for _ in 1 2 3 4 5; do
    c=$(find "/proc/$sup/fd" -mindepth 1 -maxdepth 1 | wc -l)
    [ -n "$fds" ] && [ "$fds" -le "$c" ] || fds=$c
    sleep 0.02
  done
  rss=$(field VmRSS) hwm=$(field VmHWM)
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  printf '%-9s %-8s %-6s %-11s %-11s %s\n' "$mark" "$n" "$fds" "$rss" "$hwm" "$took"
  # The base is the second mark: before it the supervisor may not have made everything a run
  # keeps (at mark 0 the first run may not have started yet).
  if ((i++ == (${#marks[@]} > 1 ? 1 : 0))); then
    base_rss=$rss first_fds=$fds
    ls -l "/proc/$sup/fd" >"$dir/fd.0"
  fi
done
# A run in flight holds 2 descriptors of its own (7 between runs, 9 during one, seen here), and
# with no delay between runs the looks may all fall within runs: up to 2 more is that, not a
# leak, which the count of restarts multiplies (one per 100 runs is 3 more at 300).
if ((fds > first_fds + 2 || fds < first_fds - 2)); then
  echo "descriptors grew: $first_fds -> $fds"
  ls -l "/proc/$sup/fd" | diff "$dir/fd.0" - || true
  exit 1
fi
if ((rss - base_rss > slack)); then
  echo "VmRSS grew by $((rss - base_rss)) KiB (> $slack)"
  exit 1
fi
echo "no growth: descriptors $first_fds -> $fds, VmRSS $base_rss -> $rss KiB"
