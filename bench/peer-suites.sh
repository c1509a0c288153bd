#!/usr/bin/env bash
# bench/peer-suites.sh: run tini's and dumb-init's own checks with `pidward run` in their place.
#
#   bench/peer-suites.sh TINI_CHECKOUT DUMB_INIT_CHECKOUT
#
# $PIDWARD is the binary under test (default: target/debug/pidward, built if missing). Each
# peer is replaced by a small wrapper that maps its options to pidward's:
#
#   tini -g, TINI_KILL_PROCESS_GROUP   --signal-group
#   tini -e CODE                       --remap-exit CODE (cases skipped while pidward lacks it)
#   tini -p SIG                        --parent-death-signal SIG
#   tini -s, -v, -w                    nothing (pidward is always a subreaper; no verbosity)
#   dumb-init (default: setsid mode)   --signal-group
#   dumb-init -c, DUMB_INIT_SETSID=0   --kill-mode main, no --signal-group (single-child mode
#                                      leaves the others running when the child exits)
#   dumb-init -r S:R, --rewrite S:R    --rewrite-signal S:R
#   dumb-init -v, DUMB_INIT_DEBUG      nothing
#
# tini's checks (test/run_inner_tests.py) run one by one through bench/py/tini_checks.py, which
# calls tini's own stage scripts from the checkout (its runner stops at the first failure);
# dumb-init's run under pytest from its checkout with the wrapper first in PATH. Needs python3
# with psutil, bitmap, pytest and pytest-timeout, and a C compiler (tini's sigconf-test). Nothing is built or
# written in the checkouts. Prints each case's outcome and a count per suite.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TINI=$(cd "${1:?usage: bench/peer-suites.sh TINI_CHECKOUT DUMB_INIT_CHECKOUT}" && pwd)
DUMB=$(cd "${2:?usage: bench/peer-suites.sh TINI_CHECKOUT DUMB_INIT_CHECKOUT}" && pwd)
PIDWARD=${PIDWARD:-$ROOT/target/debug/pidward}
if [ ! -x "$PIDWARD" ]; then
    (cd "$ROOT" && cargo build --bin pidward) || exit 1
fi
export PIDWARD

WORK=$(mktemp -d "${TMPDIR:-/tmp}/peer-suites.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"

# Whether this pidward has --remap-exit.
if "$PIDWARD" run --help 2>/dev/null | grep -q -- '--remap-exit'; then
    export PIDWARD_REMAP_EXIT=1
else
    export PIDWARD_REMAP_EXIT=0
fi

cat >"$WORK/bin/tini" <<'SH'
#!/usr/bin/env bash
# tini's command line, mapped to `pidward run`.
args=()
[ -n "${TINI_KILL_PROCESS_GROUP:-}" ] && args+=(--signal-group)
while [ $# -gt 0 ]; do
    case "$1" in
        -e) args+=(--remap-exit "$2"); shift 2 ;;
        -g) args+=(--signal-group); shift ;;
        -p) args+=(--parent-death-signal "${2#SIG}"); shift 2 ;;
        -s | -w | -l | -v | -vv | -vvv) shift ;;
        --) shift; break ;;
        -*) echo "tini wrapper: unsupported option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
exec "$PIDWARD" run "${args[@]}" -- "$@"
SH

cat >"$WORK/bin/dumb-init" <<'SH'
#!/usr/bin/env bash
# dumb-init's command line, mapped to `pidward run`.
group=1
[ "${DUMB_INIT_SETSID:-}" = 0 ] && group=0
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -c | --single-child) group=0; shift ;;
        -r | --rewrite) args+=(--rewrite-signal "$2"); shift 2 ;;
        --rewrite=*) args+=(--rewrite-signal "${1#--rewrite=}"); shift ;;
        -v | --verbose) shift ;;
        -V | --version) echo "dumb-init v1.2.5 (pidward run)"; exit 0 ;;
        -h | --help) "$PIDWARD" run --help; exit 0 ;;
        --) shift; break ;;
        -*) echo "dumb-init wrapper: unsupported option $1" >&2; exit 1 ;;
        *) break ;;
    esac
done
[ $# -eq 0 ] && { echo "Usage: dumb-init [option] program [args]" >&2; exit 1; }
if [ "$group" = 1 ]; then args+=(--signal-group); else args+=(--kill-mode main); fi
exec "$PIDWARD" run "${args[@]}" -- "$@"
SH
chmod +x "$WORK/bin/tini" "$WORK/bin/dumb-init"

status=0
echo "== tini ($TINI)"
cc -o "$WORK/bin/sigconf-test" "$TINI/test/sigconf/sigconf-test.c" || status=1
python3 "$ROOT/bench/py/tini_checks.py" "$TINI" "$WORK/bin" || status=1

echo "== dumb-init ($DUMB)"
# Their tests import `testing` from the checkout; pytest's cache goes to the scratch dir.
# A test that waits for dumb-init to stop itself would wait for ever: pytest-timeout ends it.
(cd "$DUMB" && PATH="$WORK/bin:$PATH" python3 -m pytest -q -p no:cacheprovider \
    -o addopts="" --rootdir "$DUMB" --timeout 20 tests -rfE 2>&1 |
    grep -E '^(FAILED|ERROR)|passed|failed' | sed 's/ - .*//') || status=1
exit $status
