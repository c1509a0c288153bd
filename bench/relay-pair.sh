#!/usr/bin/env bash
# bench/relay-pair.sh: `cat` and two pidward binaries' output relays side by side, in rounds.
#
#   bench/relay-pair.sh BEFORE AFTER     (pidward binaries; ROUNDS=7, SIZE in bytes, 1 GiB)
#
# Each round moves SIZE bytes of 100-byte lines (`yes LINE | head -c SIZE`) into a file on the
# repository's file system three ways, one after the other: `cat > FILE`, then
# `BEFORE run -l none --output-max 256M:2 -o FILE -- sh -c PRODUCER`, then the same with AFTER.
# It prints MB/s (10^6 bytes/s, wall clock around each run) per round; take medians.
set -euo pipefail
BEFORE=${1:?before binary} AFTER=${2:?after binary}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
D=$ROOT/bench/out/relay-pair
mkdir -p "$D"
N=${SIZE:-$((1 << 30))}
LINE=$(printf '%099d' 0)
P="yes $LINE | head -c $N"
t() {
    rm -f "$D"/out*
    local a b
    a=$(date +%s.%N)
    "$@" </dev/null >/dev/null 2>&1
    b=$(date +%s.%N)
    rm -f "$D"/out*
    awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN { printf "%.0f", n / (b - a) / 1e6 }'
}
for r in $(seq 1 "${ROUNDS:-7}"); do
    c=$(t sh -c "$P | cat > $D/out")
    o=$(t "$BEFORE" run -l none --output-max 256M:2 -o "$D/out" -- sh -c "$P")
    n=$(t "$AFTER" run -l none --output-max 256M:2 -o "$D/out" -- sh -c "$P")
    echo "round $r cat $c before $o after $n load $(cut -d' ' -f1 /proc/loadavg)"
done
