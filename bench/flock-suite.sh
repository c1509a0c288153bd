#!/usr/bin/env bash
# bench/flock-suite.sh: run util-linux's own flock(1) test suite against pidward, or any flock.
#
#   bench/flock-suite.sh UTIL_LINUX_CHECKOUT [FLOCK]
#
# FLOCK is the program under test (default: target/release/pidward, built if missing). When it
# is pidward, it runs through a symbolic link named `flock`, so that its messages carry
# flock's own `flock:` prefix as the expected output has it. Nothing is fetched and nothing is
# built in the checkout: a scratch build directory gets
#   flock          the program under test
#   test_strerror  util-linux's helper (prints strerror(3) of an errno name), in Python
#   lslocks        $LSLOCKS if set (util-linux 2.40+ attributes OFD locks to a PID), else a
#                  stand-in that reads /proc/PID/fdinfo as current lslocks does (Debian 12's
#                  2.38 shows OFD locks with PID -1, so `range-lock` cannot find them)
# and each subtest of tests/ts/flock/ runs with --builddir pointing there. Prints one line per
# subtest (PASS/FAIL) and exits 0 only if all passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UL=${1:?usage: bench/flock-suite.sh UTIL_LINUX_CHECKOUT [FLOCK]}
UL=$(cd "$UL" && pwd)
FLOCK=${2:-$ROOT/target/release/pidward}
if [ "$FLOCK" = "$ROOT/target/release/pidward" ] && [ ! -x "$FLOCK" ]; then
    (cd "$ROOT" && cargo build --release --bin pidward) || exit 1
fi
FLOCK=$(command -v "$FLOCK") || { echo "no such program: ${2:-}" >&2; exit 1; }

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/flock-suite.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
ln -s "$(readlink -f "$FLOCK")" "$BUILD/flock"

cat >"$BUILD/test_strerror" <<'PY'
#!/usr/bin/env python3
import errno, os, sys
print(os.strerror(getattr(errno, sys.argv[1])))
PY

cat >"$BUILD/lslocks" <<'SH'
#!/usr/bin/env bash
# Stand-in for `lslocks --noheadings --raw --pid PID -o COLUMN` (START or END) that reads
# /proc/PID/fdinfo/*, as util-linux 2.40+ does, so that OFD locks have an owner.
pid= col=
while [ $# -gt 0 ]; do
    case $1 in
        --pid) pid=$2; shift ;;
        -o) col=$2; shift ;;
    esac
    shift
done
[ -n "$pid" ] || exec /usr/bin/lslocks
for f in /proc/"$pid"/fdinfo/*; do
    # lock:	1: OFDLCK  ADVISORY  READ -1 08:01:1234 1 2
    while read -r tag _ _ _ _ _ _ start end; do
        [ "$tag" = lock: ] || continue
        case $col in START) echo "$start" ;; END) echo "$end" ;; esac
    done <"$f"
done
SH
chmod +x "$BUILD/test_strerror" "$BUILD/lslocks"
if [ -n "${LSLOCKS:-}" ]; then ln -sf "$(command -v "$LSLOCKS")" "$BUILD/lslocks"; fi

fails=0
for t in "$UL"/tests/ts/flock/*; do
    [ -f "$t" ] || continue
    name=$(basename "$t")
    out=$(bash "$t" --srcdir="$UL" --builddir="$BUILD" --parsable 2>&1)
    # One line per subtest: the runner prints ":  NAME  ... OK" or "... FAILED".
    while IFS= read -r line; do
        case $line in
            *" OK"* | *" FAILED"* | *" SKIPPED"*) printf '%-12s %s\n' "$name" "$line" ;;
        esac
    done <<<"$out"
    case $out in *FAILED*) fails=$((fails + 1)) ;; esac
done
echo "flock under test: $FLOCK ($("$BUILD/flock" --version 2>&1 | head -n 1))"
exit $((fails > 0))
