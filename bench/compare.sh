#!/usr/bin/env bash
# bench/compare.sh: pidward side by side with the tools and libraries it replaces.
#
# Run from anywhere in the repository: `bench/compare.sh`. It installs what it compares against
# when missing (flock, start-stop-daemon, hyperfine, gcc, GNU time, libslack daemon from Debian;
# Python `pid` and `twisted` into bench/.venv), builds pidward and the small reference programs
# under bench/ (C in bench/c, Python in bench/py, Rust in bench/rust), runs every group once and
# prints ONE Markdown table: medians, the ratio to each group's baseline, and each target with
# pass or fail. A piece of pidward that is not there yet turns its rows into "skipped: why".
#
# Environment:
#   BENCH_QUICK=1      smaller sizes and fewer runs (128 MiB through cat instead of 1 GiB)
#   BENCH_GROUPS="1 5" run only these groups (1 PID file, 2 lock and status, 3 stop, 4 run, 5 process,
#                      6 cluster lock on etcd, 7 restarts, 8 output relay)
#   BENCH_NO_INSTALL=1 install nothing; groups whose peers are missing are skipped
#   BENCH_PIDWARD=PATH use this pidward binary instead of target/release/pidward
#
# Results and logs go to bench/out/ (table.md, rows.tsv, log.txt, hyperfine JSON).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/bench/out
BIN=$OUT/bin
LOG=$OUT/log.txt
ROWS=$OUT/rows.tsv
QUICK=${BENCH_QUICK:-0}
GROUPS_WANTED=${BENCH_GROUPS:-"1 2 3 4 5 6 7 8"}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

mkdir -p "$OUT" "$BIN"
: >"$LOG"
: >"$ROWS"

# Scratch directories: one on tmpfs, one on the repository's (disk) file system.
if [ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
    TMPFS_DIR=$(mktemp -d /dev/shm/pidward-bench.XXXXXX)
else
    TMPFS_DIR=$(mktemp -d "$OUT/tmpfs.XXXXXX")
    mount -t tmpfs -o size=64m tmpfs "$TMPFS_DIR"
    TMPFS_MOUNTED=1
fi
DISK_DIR=$(mktemp -d "$OUT/disk.XXXXXX")
cleanup() {
    # The etcd of group 6, if an interrupted run left it.
    if [ -n "${ETCD_PID:-}" ]; then kill "$ETCD_PID" 2>/dev/null || true; fi
    # Stop a stop-target left by an interrupted run (never anything else).
    if [ -s "$TMPFS_DIR/target.pid" ]; then
        local p
        p=$(cat "$TMPFS_DIR/target.pid")
        if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ]; then kill "$p" 2>/dev/null || true; fi
    fi
    if [ "${TMPFS_MOUNTED:-0}" = 1 ]; then umount "$TMPFS_DIR" || true; fi
    rm -rf "$TMPFS_DIR" "$DISK_DIR"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }
want() { case " $GROUPS_WANTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# Rows for bench/py/table.py (see its header for the format).
group() { printf 'G\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$ROWS"; }
row() { printf 'R\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" "${5:-}" >>"$ROWS"; }
skip() {
    printf 'S\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$ROWS"
    say "skipped: [$1] $2: $3"
}
# The numbers given, comma-separated (one sample per round, for bench/py/table.py).
joined() { local IFS=,; printf '%s' "$*"; }
# The median of the numbers on stdin.
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) exit 1; if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
# in_round_order ROUND ITEM...: the items, reversed in odd rounds (so that a drift in the
# machine's load weighs on every contender alike).
in_round_order() {
    local r=$1 i
    shift
    if ((r % 2)); then for ((i = $#; i >= 1; i--)); do printf '%s\n' "${!i}"; done; else printf '%s\n' "$@"; fi
}
# Last word of the last line of a program's output (the programs print their result there).
lastword() { tail -n 1 | awk '{print $NF}'; }
# run_value CMD...: run a measuring program, log its output, print its result.
run_value() {
    local out
    if ! out=$("$@" 2>>"$LOG"); then
        say "failed: $*"
        return 1
    fi
    printf '%s\n' "$out" >>"$LOG"
    printf '%s\n' "$out" | lastword
}

if [ "$QUICK" = 1 ]; then
    ROUNDS=2 HF_ROUNDS=1 CYCLE_OPS=500 CYCLE_BATCHES=5 DISK_OPS=100 PY_OPS=200
    LOCK_RUNS=40 CLUSTER_RUNS=10 STOP_RUNS=8 STOP_IDLE=0.25 RUN_RUNS=30 READY_RUNS=10 RSS_SLEEP=2
    SPAWN_N=100 SPAWN_ROUNDS=1 PIPE_BYTES=$((128 << 20)) PIPE_RUNS=1
else
    ROUNDS=7 HF_ROUNDS=5 CYCLE_OPS=2000 CYCLE_BATCHES=10 DISK_OPS=300 PY_OPS=500
    LOCK_RUNS=100 CLUSTER_RUNS=40 STOP_RUNS=15 STOP_IDLE=0.25 RUN_RUNS=100 READY_RUNS=60 RSS_SLEEP=5
    SPAWN_N=500 SPAWN_ROUNDS=5 PIPE_BYTES=$((1 << 30)) PIPE_RUNS=7
fi

# ---------------------------------------------------------------------------------------------
# Peers: install what is missing (Debian packages; Python packages into bench/.venv).
APT_UPDATED=0
apt_install() {
    [ "${BENCH_NO_INSTALL:-0}" = 1 ] && return 1
    command -v apt-get >/dev/null || return 1
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    if [ $APT_UPDATED = 0 ]; then
        $sudo apt-get update -qq >>"$LOG" 2>&1 || true
        APT_UPDATED=1
    fi
    say "installing: $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >>"$LOG" 2>&1
}
need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || apt_install "$2" || true
    command -v "$1" >/dev/null 2>&1
}
have() { command -v "$1" >/dev/null 2>&1; }

PATH=$PATH:/usr/sbin:/sbin
need gcc build-essential || { say "gcc is needed to build the C references"; exit 1; }
have cargo || { say "cargo (Rust 1.85 or later) is needed to build pidward"; exit 1; }
need flock util-linux || true
need start-stop-daemon dpkg || true
need hyperfine hyperfine || true
[ -x /usr/bin/time ] || apt_install time || true
need daemon daemon || true # libslack daemon(1), a supervisor to compare peak RSS with
need tini tini || true           # the containers' PID 1 supervisors, to compare start-up and
need dumb-init dumb-init || true # peak RSS with
need python3 python3 || true
need pgrep procps || true

VENV=$ROOT/bench/.venv
PY=""
if have python3; then
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV" >>"$LOG" 2>&1 ||
            { apt_install python3-venv && /usr/bin/python3 -m venv "$VENV" >>"$LOG" 2>&1; } || true
    fi
    if [ -x "$VENV/bin/python" ]; then
        "$VENV/bin/python" -c 'import pid, twisted' 2>/dev/null ||
            "$VENV/bin/pip" install -q pid twisted >>"$LOG" 2>&1 || true
        "$VENV/bin/python" -c 'import pid, twisted' 2>/dev/null && PY=$VENV/bin/python
    fi
fi
[ -n "$PY" ] || say "note: no Python venv with pid and twisted; their rows are skipped"

# ---------------------------------------------------------------------------------------------
# Build: pidward (release: the examples with all features, then the binary as it ships, with
# the default features, which is what groups 2-4, 7 and 8 measure), the C and Rust references.
say "building pidward (release)"
PROCESS_BUILT=1
if ! cargo build --release --all-features --examples >>"$LOG" 2>&1; then
    PROCESS_BUILT=0
    say "note: the examples (all features) do not build (see $LOG)"
fi
cargo build --release --bin pidward >>"$LOG" 2>&1 || { say "pidward does not build; see $LOG"; exit 1; }
PIDWARD=${BENCH_PIDWARD:-$ROOT/target/release/pidward}
PIPE_EXAMPLE=$ROOT/target/release/examples/pipe_throughput

say "building the C references"
for src in bench/c/*.c; do
    gcc -O2 -Wall -Wextra -pthread -o "$BIN/$(basename "$src" .c)" "$src" 2>>"$LOG" ||
        { say "cannot build $src; see $LOG"; exit 1; }
done

say "building the Rust references"
RS=$ROOT/target/bench-programs/release
RS_PROCESS=1
rs_build() { CARGO_TARGET_DIR=$ROOT/target/bench-programs cargo build --release --manifest-path bench/rust/Cargo.toml "$@" >>"$LOG" 2>&1; }
if ! rs_build --features pidward-process; then
    RS_PROCESS=0
    rs_build || { say "cannot build bench/rust; see $LOG"; exit 1; }
fi

# What of pidward is there (the table says "skipped" for the rest).
HAVE_LOCK=0 HAVE_RUN=0
"$PIDWARD" lock "$TMPFS_DIR/probe.lock" true >>"$LOG" 2>&1 && HAVE_LOCK=1
timeout 20 "$PIDWARD" run -- true >>"$LOG" 2>&1 && HAVE_RUN=1
WHY_LOCK="\`pidward lock F true\` does not work yet"
WHY_RUN="\`pidward run -- true\` does not work yet"
WHY_PROCESS=""
if [ $PROCESS_BUILT = 0 ]; then
    WHY_PROCESS="the \`process\` feature does not build"
elif [ $RS_PROCESS = 0 ]; then
    WHY_PROCESS="\`pidward::process\` lacks the API used here (Command, ChildFd, wait, kill)"
fi

# ---------------------------------------------------------------------------------------------
say "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
say "file systems: tmpfs dir $TMPFS_DIR ($(stat -f -c %T "$TMPFS_DIR")), disk dir $DISK_DIR ($(df --output=fstype "$DISK_DIR" | tail -n 1))"
say "peers: $(hyperfine --version 2>/dev/null | head -n 1); $(start-stop-daemon --version 2>/dev/null | head -n 1); $(flock --version 2>/dev/null); $(daemon --version 2>/dev/null); $(gcc --version | head -n 1); $(rustc --version)"
[ -n "$PY" ] && say "python: $("$PY" -c 'import sys; from importlib.metadata import version; print(sys.version.split()[0], "pid", version("pid"), "twisted", version("twisted"))')"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# hyperfine_medians JSON RUNS WARMUP [OPTIONS] CMD...: run hyperfine (under $HF_WRAP when
# set) in $HF_ROUNDS rounds of RUNS runs, the commands in reverse order every other round (so
# that a change in the machine's load weighs on all of them alike); print one median (ns) per
# command: hyperfine's median of each round, comma-separated (bench/py/table.py takes their
# median, and pairs them round by round for ratios). OPTIONS are hyperfine options with one
# value each (--prepare SCRIPT).
hyperfine_medians() {
    local json=$1 runs=$2 warmup=$3
    shift 3
    local opts=()
    while [[ ${1:-} == --* ]]; do opts+=("$1" "$2"); shift 2; done
    local cmds=("$@") r i rev
    for ((r = 0; r < HF_ROUNDS; r++)); do
        if ((r % 2)); then
            rev=()
            for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do rev+=("${cmds[$i]}"); done
        else
            rev=("${cmds[@]}")
        fi
        ${HF_WRAP:-} hyperfine -N --style basic --warmup "$warmup" --runs "$runs" "${opts[@]}" \
            --export-json "$json.$r" "${rev[@]}" >>"$LOG" 2>&1 || return 1
    done
    python3 - "$json" "$HF_ROUNDS" "${cmds[@]}" <<'PY'
import json, sys
base, rounds, cmds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
meds = {c: [] for c in cmds}
for r in range(rounds):
    for res in json.load(open(f"{base}.{r}"))["results"]:
        meds[res["command"]].append(res["median"])
for c in cmds:
    print(",".join(str(round(m * 1e9)) for m in meds[c]))
PY
}

# ---------------------------------------------------------------------------------------------
# 1. PID file acquire+release cycle, in-process, tmpfs and disk.
pidfile_group() { # gid title dir ops
    local gid=$1 title=$2 dir=$3 ops=$4 pyops=$5
    local -A samples=()
    local labels=(
        "C floor (open+flock+write+unlink)"
        "C write, truncate to length"
        "C truncate to zero, write"
        "pidward PidFile"
        "Python pid.PidFile"
        "Twisted PIDFile"
    )
    local r label v ordered
    for ((r = 0; r < ROUNDS; r++)); do
        mapfile -t ordered < <(in_round_order "$r" "${labels[@]}")
        for label in "${ordered[@]}"; do
            case $label in
            "C floor"*) v=$(run_value "$BIN/pidfile_cycle" floor "$dir/c.pid" "$ops" "$CYCLE_BATCHES") ;;
            "C write"*) v=$(run_value "$BIN/pidfile_cycle" trunc-len "$dir/c.pid" "$ops" "$CYCLE_BATCHES") ;;
            "C trunc"*) v=$(run_value "$BIN/pidfile_cycle" trunc-zero "$dir/c.pid" "$ops" "$CYCLE_BATCHES") ;;
            "pidward"*) v=$(run_value "$RS/pidfile_cycle" "$dir/pw.pid" "$ops" "$CYCLE_BATCHES") ;;
            "Python"*) [ -n "$PY" ] && v=$(run_value "$PY" bench/py/pidfile_cycle.py pid "$dir/py.pid" "$pyops" "$CYCLE_BATCHES") ;;
            "Twisted"*) [ -n "$PY" ] && v=$(run_value "$PY" bench/py/pidfile_cycle.py twisted "$dir/tw.pid" "$pyops" "$CYCLE_BATCHES") ;;
            esac || v=""
            [ -n "$v" ] && samples[$label]+="$v "
        done
    done
    group "$gid" "$title" ns "${labels[0]}"
    for label in "${labels[@]}"; do
        local target=""
        if [[ $label == pidward* ]]; then
            if [ "$gid" = 1a ]; then target="le:1.15:${labels[0]}"; else target="le:1.0:${labels[1]}"; fi
        fi
        if [ -n "${samples[$label]:-}" ]; then
            row "$gid" "$label" "$(joined ${samples[$label]})" "$target" ""
        elif [ -z "$PY" ] && [[ $label == Python* || $label == Twisted* ]]; then
            skip "$gid" "$label" "no Python venv with pid and twisted" "$target"
        else
            skip "$gid" "$label" "failed (see bench/out/log.txt)" "$target"
        fi
    done
}
if want 1; then
    say "1. PID file cycle"
    pidfile_group 1a "PID file acquire+release, tmpfs (per cycle)" "$TMPFS_DIR" "$CYCLE_OPS" "$PY_OPS"
    pidfile_group 1b "PID file acquire+release, disk $(df --output=fstype "$DISK_DIR" | tail -n 1) (per cycle)" "$DISK_DIR" "$DISK_OPS" "$((PY_OPS / 2))"
fi

# ---------------------------------------------------------------------------------------------
# 2. Run `true` under a lock: pidward lock vs flock(1) vs /bin/true.
if want 2; then
    say "2. lock"
    group 2 "run \`true\` under a lock (hyperfine)" ns "flock F true"
    if ! have hyperfine; then
        skip 2 "all" "hyperfine is not installed" ""
    else
        F=$TMPFS_DIR/lock
        cmds=("/bin/true")
        have flock && cmds+=("flock $F true")
        [ $HAVE_LOCK = 1 ] && cmds+=("$PIDWARD lock $F true")
        if mapfile -t m < <(hyperfine_medians "$OUT/lock.json" "$LOCK_RUNS" 20 "${cmds[@]}") && [ ${#m[@]} = ${#cmds[@]} ]; then
            row 2 "/bin/true" "${m[0]}"
            i=1
            if have flock; then row 2 "flock F true" "${m[$i]}"; i=$((i + 1)); else skip 2 "flock F true" "flock is not installed"; fi
            if [ $HAVE_LOCK = 1 ]; then row 2 "pidward lock F true" "${m[$i]}" "le:0.95:flock F true"; else skip 2 "pidward lock F true" "$WHY_LOCK" "le:0.95:flock F true"; fi
        else
            skip 2 "all" "hyperfine failed (see bench/out/log.txt)" ""
        fi
    fi

    # The status of a running service whose PID file names it (written by the shell, so
    # neither tool holds a lock on it): a one-shot command whose cost is its start-up.
    SSD_STATUS="start-stop-daemon --status --pidfile F"
    group 2b "report whether a PID file's process runs (hyperfine)" ns "$SSD_STATUS"
    if ! have hyperfine || ! have start-stop-daemon; then
        skip 2b "all" "hyperfine or start-stop-daemon is not installed" ""
    else
        F=$TMPFS_DIR/status.pid
        sleep 1000 </dev/null >/dev/null 2>&1 &
        STATUS_PID=$!
        echo "$STATUS_PID" >"$F"
        cmds=("start-stop-daemon --status --pidfile $F" "$PIDWARD status $F")
        if mapfile -t m < <(hyperfine_medians "$OUT/status.json" "$LOCK_RUNS" 20 "${cmds[@]}") && [ ${#m[@]} = 2 ]; then
            row 2b "$SSD_STATUS" "${m[0]}"
            row 2b "pidward status F" "${m[1]}" "le:1.0:$SSD_STATUS"
        else
            skip 2b "all" "hyperfine failed (see bench/out/log.txt)" ""
        fi
        kill "$STATUS_PID" 2>/dev/null || true
        wait "$STATUS_PID" 2>/dev/null || true
    fi
fi

# ---------------------------------------------------------------------------------------------
# 3. Stop a process that exits on TERM at once: time from call to return.
# A fresh `sleep` per run, started by hyperfine's --prepare and orphaned to bench/c/reaper (a
# child subreaper that reaps it the moment it dies, so neither tool sees a zombie). The prepare
# step then idles for $STOP_IDLE s, as the machine would before an operator's or an init
# script's one-off `stop`: some kernel paths are fast only when called again soon after (a read
# of /proc/locks waits for an RCU grace period, ~10 ms, unless another read just did). The
# back-to-back row, without the idle time, shows the difference.
if want 3; then
    say "3. stop"
    SSD_LABEL="start-stop-daemon --stop --retry TERM/5"
    group 3 "stop a process that exits on TERM (hyperfine, ${STOP_IDLE} s idle before each call)" ns "$SSD_LABEL"
    F=$TMPFS_DIR/target.pid
    for idle in "$STOP_IDLE" 0; do
        cat >"$OUT/stop-prepare-$idle.sh" <<EOF
#!/bin/sh
# Start a fresh target and name it in $F (written after it started, as a service would).
rm -f "$F"
sleep 1000 </dev/null >/dev/null 2>&1 &
echo \$! >"$F.tmp" && mv "$F.tmp" "$F"
sleep $idle
EOF
        chmod +x "$OUT/stop-prepare-$idle.sh"
    done
    if ! have hyperfine || ! have start-stop-daemon; then
        skip 3 "all" "hyperfine or start-stop-daemon is not installed" ""
    else
        cmds=("start-stop-daemon --stop --retry TERM/5 --pidfile $F" "$PIDWARD stop -R TERM/5 $F")
        if mapfile -t m < <(HF_WRAP=$BIN/reaper hyperfine_medians "$OUT/stop.json" "$STOP_RUNS" 2 \
            --prepare "$OUT/stop-prepare-$STOP_IDLE.sh" "${cmds[@]}") && [ ${#m[@]} = ${#cmds[@]} ]; then
            row 3 "$SSD_LABEL" "${m[0]}"
            row 3 "pidward stop -R TERM/5" "${m[1]}" "faster:5:$SSD_LABEL"
        else
            skip 3 "all" "hyperfine failed (see bench/out/log.txt)" ""
        fi
        if mapfile -t m < <(HF_WRAP=$BIN/reaper hyperfine_medians "$OUT/stop-b2b.json" "$STOP_RUNS" 2 \
            --prepare "$OUT/stop-prepare-0.sh" "${cmds[1]}") && [ ${#m[@]} = 1 ]; then
            row 3 "pidward stop -R TERM/5, calls back to back" "${m[0]}"
        else
            skip 3 "pidward stop -R TERM/5, calls back to back" "hyperfine failed (see bench/out/log.txt)"
        fi
        cleanup_target() { [ -s "$F" ] && [ "$(cat "/proc/$(cat "$F")/comm" 2>/dev/null)" = sleep ] && kill "$(cat "$F")" 2>/dev/null; rm -f "$F"; }
        cleanup_target || true
    fi
fi

# ---------------------------------------------------------------------------------------------
# 4. run: start /bin/true; READY=1 -> launcher return; peak RSS of a supervising parent.
if want 4; then
    say "4. run"
    SSD_START="start-stop-daemon --start --make-pidfile"
    group 4a "start /bin/true and wait (hyperfine)" ns "$SSD_START"
    if ! have hyperfine || ! have start-stop-daemon; then
        skip 4a "all" "hyperfine or start-stop-daemon is not installed" ""
    else
        # The supervisors of containers (tini, dumb-init) fork and wait as `pidward run` does.
        cmds=("/bin/true" "start-stop-daemon --start --pidfile $TMPFS_DIR/ssd.pid --make-pidfile --exec /bin/true"
            "$BIN/supervise /bin/true")
        sups=()
        have tini && sups+=("tini -s -- /bin/true")
        have dumb-init && sups+=("dumb-init /bin/true")
        cmds+=("${sups[@]}")
        [ $HAVE_RUN = 1 ] && cmds+=("$PIDWARD run -- /bin/true" "$PIDWARD run -p $TMPFS_DIR/run.pid -- /bin/true"
            "$PIDWARD run --exec -p $TMPFS_DIR/exec.pid -- /bin/true")
        if mapfile -t m < <(hyperfine_medians "$OUT/run.json" "$RUN_RUNS" 20 "${cmds[@]}") && [ ${#m[@]} = ${#cmds[@]} ]; then
            row 4a "/bin/true" "${m[0]}"
            row 4a "$SSD_START" "${m[1]}"
            row 4a "C posix_spawn+waitpid (the least a supervisor does)" "${m[2]}"
            i=3
            if have tini; then row 4a "tini -s" "${m[$i]}"; i=$((i + 1)); else skip 4a "tini -s" "tini is not installed"; fi
            if have dumb-init; then row 4a "dumb-init" "${m[$i]}"; i=$((i + 1)); else skip 4a "dumb-init" "dumb-init is not installed"; fi
            if [ $HAVE_RUN = 1 ]; then
                row 4a "pidward run" "${m[$i]}" "le:1.0:tini -s"
                row 4a "pidward run -p F" "${m[$((i + 1))]}" "le:1.0:$SSD_START"
                row 4a "pidward run --exec -p F (no supervisor, as s-s-d)" "${m[$((i + 2))]}" "le:1.0:$SSD_START"
            else
                skip 4a "pidward run" "$WHY_RUN" "le:1.0:tini -s"
                skip 4a "pidward run -p F" "$WHY_RUN" "le:1.0:$SSD_START"
                skip 4a "pidward run --exec -p F (no supervisor, as s-s-d)" "$WHY_RUN" "le:1.0:$SSD_START"
            fi
        else
            skip 4a "all" "hyperfine failed (see bench/out/log.txt)" ""
        fi
    fi

    SSD_NOTIFY="start-stop-daemon --notify-await"
    group 4b "READY=1 sent -> launcher returned (detached service)" ns "$SSD_NOTIFY"
    TS=$TMPFS_DIR/ready.ts
    if have start-stop-daemon && v=$(run_value "$BIN/ready_harness" "$READY_RUNS" "$TS" --rm "$TMPFS_DIR/ssd-ready.pid" -- \
        start-stop-daemon --start --background --notify-await --pidfile "$TMPFS_DIR/ssd-ready.pid" --make-pidfile \
        --exec "$BIN/ready_child" -- "$TS"); then
        row 4b "$SSD_NOTIFY" "$v"
    else
        skip 4b "$SSD_NOTIFY" "start-stop-daemon is missing or failed (see bench/out/log.txt)"
    fi
    if [ $HAVE_RUN = 0 ]; then
        skip 4b "pidward run -d --ready notify" "$WHY_RUN" "below:1000000"
    elif v=$(run_value timeout 120 "$BIN/ready_harness" "$READY_RUNS" "$TS" --rm "$TMPFS_DIR/run-ready.pid" -- \
        "$PIDWARD" run -d -p "$TMPFS_DIR/run-ready.pid" --ready notify -- "$BIN/ready_child" "$TS"); then
        row 4b "pidward run -d --ready notify" "$v" "below:1000000"
    else
        skip 4b "pidward run -d --ready notify" "\`pidward run -d -p F --ready notify\` failed (see bench/out/log.txt)" "below:1000000"
    fi

    # Peak RSS: VmHWM of the supervising process itself, sampled halfway through its child's
    # sleep, counted from the last start (an idle supervisor's peak no longer moves, and 15
    # starts on a loaded machine can take a second); all samples run at the same time. (GNU
    # time's %M is logged too: it is the peak of the supervisor and of the `sleep` it reaped,
    # so never below sleep's own.) Beside it, from the same samples: PSS (smaps_rollup; the
    # shared libc and ld.so pages count divided among the processes that map them, so it is
    # the memory the supervisor itself costs), and the program's own resident pages (the Rss
    # of the mappings of its executable file in smaps: text, rodata, relocated data), which
    # its code layout decides.
    DAEMON_LABEL="libslack daemon -f"
    group 4c "peak RSS of a parent supervising \`sleep $RSS_SLEEP\`" KiB "$DAEMON_LABEL"
    group 4d "PSS of a parent supervising \`sleep $RSS_SLEEP\`" KiB "$DAEMON_LABEL"
    group 4e "own resident pages (its executable's mappings) of a parent supervising \`sleep $RSS_SLEEP\`" KiB "$DAEMON_LABEL"
    declare -A rss_cmd=(
        ["C posix_spawn+waitpid"]="$BIN/supervise sleep $RSS_SLEEP"
        ["$DAEMON_LABEL"]="daemon --foreground -- sleep $RSS_SLEEP"
        ["tini -s"]="tini -s -- sleep $RSS_SLEEP"
        ["dumb-init"]="dumb-init sleep $RSS_SLEEP"
        ["pidward run"]="$PIDWARD run -- sleep $RSS_SLEEP"
    )
    rss_labels=("C posix_spawn+waitpid" "$DAEMON_LABEL" "tini -s" "dumb-init" "pidward run")
    declare -A rss_pids=()
    for label in "${rss_labels[@]}"; do
        [ "$label" = "$DAEMON_LABEL" ] && ! have daemon && continue
        [ "$label" = "tini -s" ] && ! have tini && continue
        [ "$label" = "dumb-init" ] && ! have dumb-init && continue
        [ "$label" = "pidward run" ] && [ $HAVE_RUN = 0 ] && continue
        for k in 1 2 3; do
            /usr/bin/time -f %M -o "$OUT/rss-$k-${label%% *}.time" ${rss_cmd[$label]} </dev/null >/dev/null 2>&1 &
            rss_pids[$label]+="$! "
        done
    done
    sleep "$(awk -v s="$RSS_SLEEP" 'BEGIN {print s / 2}')"
    # The supervisor is GNU time's child; read from /proc without starting a process per
    # sample, so that the 15 samples take no time even on a loaded machine. Prints
    # "VmHWM:PSS:own" (KiB) and a space.
    mem_of_child() {
        local child key value hwm="" pss="" own=0 exe="" path="" mine=0 _
        # (The list has no newline at its end, so `read` fails having read it.)
        read -r child _ <"/proc/$1/task/$1/children" 2>/dev/null || true
        [ -n "${child:-}" ] || return 0
        while read -r key value _; do
            [ "$key" = VmHWM: ] && hwm=$value
        done <"/proc/$child/status" 2>/dev/null || true
        while read -r key value _; do
            [ "$key" = Pss: ] && pss=$value
        done <"/proc/$child/smaps_rollup" 2>/dev/null || true
        # smaps: a header line per mapping (range perms offset dev inode [path]), then its
        # "Key: value kB" lines. The first mapping is the executable's (the lowest address).
        while read -r key value _ _ _ path; do
            if [[ $key == *: ]]; then
                [ "$key" = Rss: ] && [ $mine = 1 ] && own=$((own + value))
            else
                [ -z "$exe" ] && exe=$path
                mine=0
                [ -n "$path" ] && [ "$path" = "$exe" ] && mine=1
            fi
        done <"/proc/$child/smaps" 2>/dev/null || true
        [ -n "$hwm" ] && printf '%s:%s:%s ' "$hwm" "${pss:-?}" "$own"
    }
    declare -A rss_hwm=() rss_pss=() rss_own=()
    for label in "${!rss_pids[@]}"; do
        for tp in ${rss_pids[$label]}; do
            for sample in $(mem_of_child "$tp"); do
                IFS=: read -r h p o <<<"$sample"
                rss_hwm[$label]+="$h "
                [ "$p" != "?" ] && rss_pss[$label]+="$p "
                rss_own[$label]+="$o "
            done
        done
    done
    wait
    for label in "${rss_labels[@]}"; do
        target=""
        [ "$label" = "pidward run" ] && target="le:1.0:$DAEMON_LABEL;le:1.0:tini -s"
        if [ -n "${rss_hwm[$label]:-}" ]; then
            tm=$(cat "$OUT"/rss-*-"${label%% *}".time 2>/dev/null | grep -E '^[0-9]+$' | median || true)
            row 4c "$label" "$(printf '%s\n' ${rss_hwm[$label]} | median)" "$target" "time %M with sleep: ${tm:-?} KiB"
            if [ -n "${rss_pss[$label]:-}" ]; then
                row 4d "$label" "$(printf '%s\n' ${rss_pss[$label]} | median)" "$target"
            else
                skip 4d "$label" "no smaps_rollup (kernel older than 4.14)" "$target"
            fi
            row 4e "$label" "$(printf '%s\n' ${rss_own[$label]} | median)" "$target"
        else
            if [ "$label" = "pidward run" ]; then
                why=$WHY_RUN
            elif [ "$label" = "$DAEMON_LABEL" ] && ! have daemon; then
                why="libslack daemon is not installed" target=""
            elif [[ $label == "tini -s" || $label == dumb-init ]] && ! have "${label%% *}"; then
                why="$label is not installed" target=""
            else
                why="failed" target=""
            fi
            for g in 4c 4d 4e; do skip "$g" "$label" "$why" "$target"; done
        fi
    done
    v=$( (/usr/bin/time -f %M sleep 0.2 2>&1 >/dev/null) | tail -n 1)
    say "note: /usr/bin/time %M of a bare \`sleep\`: $v KiB"
fi

# ---------------------------------------------------------------------------------------------
# 5. process: spawn+wait, 1 GiB through cat, output() of 1 GiB, peak RSS with 100 idle
# children.
if want 5; then
    say "5. process"
    group 5a "spawn + wait /bin/true (per child)" ns "C posix_spawn+waitpid"
    labels=("C posix_spawn+waitpid" "std::process::Command" "tokio::process (current-thread)" "pidward::process (current-thread)" "Python subprocess" "Twisted spawnProcess")
    declare -A spawn=()
    for ((r = 0; r < SPAWN_ROUNDS; r++)); do
        mapfile -t ordered < <(in_round_order "$r" "${labels[@]}")
        for label in "${ordered[@]}"; do
            case $label in
            C*) v=$(run_value "$BIN/spawn_wait" "$SPAWN_N") ;;
            std*) v=$(run_value "$RS/spawn_wait" std "$SPAWN_N") ;;
            tokio*) v=$(run_value "$RS/spawn_wait" tokio "$SPAWN_N") ;;
            pidward*) [ -z "$WHY_PROCESS" ] && v=$(run_value "$RS/spawn_wait" pidward "$SPAWN_N") ;;
            Python*) [ -n "$PY" ] && v=$(run_value "$PY" bench/py/spawn_wait.py subprocess "$SPAWN_N") ;;
            Twisted*) [ -n "$PY" ] && v=$(run_value "$PY" bench/py/spawn_wait.py twisted "$SPAWN_N") ;;
            esac || v=""
            [ -n "$v" ] && spawn[$label]+="$v "
        done
    done
    for label in "${labels[@]}"; do
        target=""
        [[ $label == pidward* ]] && target="le:1.1:${labels[0]}"
        if [ -n "${spawn[$label]:-}" ]; then
            row 5a "$label" "$(joined ${spawn[$label]})" "$target"
        elif [[ $label == pidward* ]] && [ -n "$WHY_PROCESS" ]; then
            skip 5a "$label" "$WHY_PROCESS" "$target"
        elif [ -z "$PY" ] && [[ $label == Python* || $label == Twisted* ]]; then
            skip 5a "$label" "no Python venv with pid and twisted"
        else
            skip 5a "$label" "failed (see bench/out/log.txt)" "$target"
        fi
    done

    size=$(awk -v b="$PIPE_BYTES" 'BEGIN {if (b >= 1073741824) printf "%g GiB", b/1073741824; else printf "%g MiB", b/1048576}')
    group 5b "$size through a child \`cat\` (throughput)" "MB/s" "C, 2 threads, 64 KiB pipes"
    labels=("C, 2 threads, 64 KiB pipes" "C, 2 threads, 1 MiB pipes and chunks" "tokio::process" "pidward::process" "Twisted spawnProcess")
    declare -A pipe=()
    for ((r = 0; r < PIPE_RUNS; r++)); do
        mapfile -t ordered < <(in_round_order "$r" "${labels[@]}")
        for label in "${ordered[@]}"; do
            case $label in
            "C, 2 threads, 64"*) v=$(run_value "$BIN/pipe_cat" "$PIPE_BYTES") ;;
            "C, 2 threads, 1 MiB"*) v=$(run_value "$BIN/pipe_cat" "$PIPE_BYTES" 1048576 1048576) ;;
            tokio*) v=$(run_value "$RS/pipe_tokio" "$PIPE_BYTES") ;;
            pidward*) [ $PROCESS_BUILT = 1 ] && [ -x "$PIPE_EXAMPLE" ] && v=$(run_value "$PIPE_EXAMPLE" "$PIPE_BYTES") ;;
            Twisted*) [ -n "$PY" ] && v=$(run_value "$PY" bench/py/pipe_twisted.py "$PIPE_BYTES") ;;
            esac || v=""
            [ -n "$v" ] && pipe[$label]+="$v "
        done
    done
    for label in "${labels[@]}"; do
        target=""
        [[ $label == pidward* ]] && target="ge:2:tokio::process;ge:1:${labels[0]}"
        if [ -n "${pipe[$label]:-}" ]; then
            row 5b "$label" "$(joined ${pipe[$label]})" "$target"
        elif [[ $label == pidward* ]]; then
            skip 5b "$label" "${WHY_PROCESS:-examples/pipe_throughput.rs is not there yet}" "$target"
        elif [[ $label == Twisted* ]] && [ -z "$PY" ]; then
            skip 5b "$label" "no Python venv with twisted"
        else
            skip 5b "$label" "failed (see bench/out/log.txt)" "$target"
        fi
    done

    group 5d "\`output()\` of a child writing $size (spawn to return, current-thread)" "MB/s" "tokio::process"
    labels=("tokio::process" "pidward::process")
    declare -A outp=()
    for ((r = 0; r < PIPE_RUNS; r++)); do
        mapfile -t ordered < <(in_round_order "$r" "${labels[@]}")
        for label in "${ordered[@]}"; do
            case $label in
            tokio*) v=$(run_value "$RS/output_bytes" tokio "$PIPE_BYTES") ;;
            pidward*) [ -z "$WHY_PROCESS" ] && v=$(run_value "$RS/output_bytes" pidward "$PIPE_BYTES") ;;
            esac || v=""
            [ -n "$v" ] && outp[$label]+="$v "
        done
    done
    for label in "${labels[@]}"; do
        target=""
        [[ $label == pidward* ]] && target="ge:0.9:tokio::process"
        if [ -n "${outp[$label]:-}" ]; then
            row 5d "$label" "$(joined ${outp[$label]})" "$target"
        elif [[ $label == pidward* ]]; then
            skip 5d "$label" "${WHY_PROCESS:-failed (see bench/out/log.txt)}" "$target"
        else
            skip 5d "$label" "failed (see bench/out/log.txt)"
        fi
    done

    group 5c "peak RSS of the parent with 100 idle children (pipes on 0, 1, 2)" KiB "tokio::process (current-thread)"
    row_rss() { # label program args...
        local label=$1 v
        shift
        if v=$(run_value "$@"); then row 5c "$label" "$v"; else skip 5c "$label" "failed (see bench/out/log.txt)"; fi
    }
    row_rss "C posix_spawn" "$BIN/idle_children" 100
    row_rss "std::process::Command" "$RS/idle_children" std 100
    row_rss "tokio::process (current-thread)" "$RS/idle_children" tokio 100
    if [ -z "$WHY_PROCESS" ]; then
        row_rss "pidward::process (current-thread)" "$RS/idle_children" pidward 100
    else
        skip 5c "pidward::process (current-thread)" "$WHY_PROCESS"
    fi
fi

# ---------------------------------------------------------------------------------------------
# 6. Run `true` under a cluster lock: pidward lock --etcd vs etcdctl lock, against one etcd of
# our own on loopback (data dir on tmpfs). Both take the same key layout, so this is the same
# work: a lease, a transaction, a range, the command, a revoke. Then the same over TLS with
# client certificates (etcd's --client-cert-auth; certificates made with openssl), where each
# call is a new TLS connection for pidward and one gRPC connection for etcdctl.
if want 6; then
    say "6. cluster lock"
    CTL_LABEL="etcdctl lock N true"
    group 6 "run \`true\` under an etcd lock (hyperfine, one etcd 3.4 on loopback)" ns "$CTL_LABEL"
    need etcd etcd-server || true
    need etcdctl etcd-client || true
    if ! have hyperfine || ! have etcd || ! have etcdctl; then
        skip 6 "all" "hyperfine, etcd or etcdctl is not installed" ""
    elif ! "$PIDWARD" lock --help 2>/dev/null | grep -q -- --etcd; then
        skip 6 "all" "this pidward has no --etcd" ""
    else
        free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
        CP=$(free_port) PP=$(free_port)
        E=http://127.0.0.1:$CP
        etcd --name bench --data-dir "$TMPFS_DIR/etcd" --listen-client-urls "$E" \
            --advertise-client-urls "$E" --listen-peer-urls "http://127.0.0.1:$PP" \
            --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
            --initial-cluster "bench=http://127.0.0.1:$PP" >"$OUT/etcd.log" 2>&1 &
        ETCD_PID=$!
        for _ in $(seq 100); do
            etcdctl --endpoints "$E" endpoint health >/dev/null 2>&1 && break
            sleep 0.1
        done
        cmds=("etcdctl --endpoints $E lock bench true" "$PIDWARD lock --etcd $E bench true")
        if mapfile -t m < <(hyperfine_medians "$OUT/cluster.json" "$CLUSTER_RUNS" 3 "${cmds[@]}") && [ ${#m[@]} = 2 ]; then
            row 6 "$CTL_LABEL" "${m[0]}"
            row 6 "pidward lock --etcd E N true" "${m[1]}" "le:1.0:$CTL_LABEL"
        else
            skip 6 "all" "hyperfine failed (see bench/out/log.txt)" ""
        fi
        kill "$ETCD_PID" 2>/dev/null || true
        wait "$ETCD_PID" 2>/dev/null || true
        ETCD_PID=""
        if have openssl; then
            C=$TMPFS_DIR/certs
            mkdir -p "$C"
            ossl() { (cd "$C" && openssl "$@") >>"$LOG" 2>&1; }
            ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
            ossl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca
            for n in server client; do
                ossl req "${ec[@]}" -keyout $n.key -out $n.csr -subj /CN=$n
            done
            printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$C/server.ext"
            printf 'extendedKeyUsage=clientAuth\n' >"$C/client.ext"
            for n in server client; do
                ossl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem \
                    -days 2 -extfile $n.ext
            done
            CP=$(free_port) PP=$(free_port)
            E=https://127.0.0.1:$CP
            TLS="--cacert $C/ca.pem --cert $C/client.pem --key $C/client.key"
            etcd --name bench-tls --data-dir "$TMPFS_DIR/etcd-tls" --listen-client-urls "$E" \
                --advertise-client-urls "$E" --listen-peer-urls "http://127.0.0.1:$PP" \
                --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
                --initial-cluster "bench-tls=http://127.0.0.1:$PP" --cert-file "$C/server.pem" \
                --key-file "$C/server.key" --trusted-ca-file "$C/ca.pem" --client-cert-auth \
                >"$OUT/etcd-tls.log" 2>&1 &
            ETCD_PID=$!
            for _ in $(seq 100); do
                # shellcheck disable=SC2086
                etcdctl --endpoints "$E" $TLS endpoint health >/dev/null 2>&1 && break
                sleep 0.1
            done
            CTL_TLS="etcdctl lock N true, TLS"
            cmds=("etcdctl --endpoints $E $TLS lock bench true" "$PIDWARD lock --etcd $E $TLS bench true")
            if mapfile -t m < <(hyperfine_medians "$OUT/cluster-tls.json" "$CLUSTER_RUNS" 3 "${cmds[@]}") && [ ${#m[@]} = 2 ]; then
                row 6 "$CTL_TLS" "${m[0]}"
                row 6 "pidward lock --etcd E N true, TLS" "${m[1]}" "le:1.0:$CTL_TLS"
            else
                skip 6 "TLS" "hyperfine failed (see bench/out/log.txt)" ""
            fi
            kill "$ETCD_PID" 2>/dev/null || true
            wait "$ETCD_PID" 2>/dev/null || true
            ETCD_PID=""
        else
            skip 6 "TLS" "openssl is not installed" ""
        fi
    fi
fi

# ---------------------------------------------------------------------------------------------
# 7. Restarts: from a crash to the next exec'd run (restart delay 0), and the supervisor's
# peak RSS after many restarts (it must not grow).
if want 7; then
    if [ "$QUICK" = 1 ]; then RESTART_N=50 RSS_RESTARTS=2000; else RESTART_N=300 RSS_RESTARTS=10000; fi
    need supervisord supervisor || true
    need runsv runit || true
    RDIR=$TMPFS_DIR/restart
    mkdir -p "$RDIR"
    # starts LOG: how many runs of bench/c/restart_child logged their start.
    starts() { awk '/^S/ {n++} END {print n + 0}' "$1" 2>/dev/null || echo 0; }
    # restart_latency LOG N CMD...: run a supervisor of restart_child until N runs started, stop
    # it with TERM, print the median crash -> next start latency (ns).
    restart_latency() {
        local log=$1 n=$2 pid t=0
        shift 2
        rm -f "$log"
        "$@" </dev/null >>"$LOG" 2>&1 &
        pid=$!
        while [ "$(starts "$log")" -lt "$n" ] && [ $t -lt 1200 ]; do sleep 0.05; t=$((t + 1)); done
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        [ "$(starts "$log")" -ge "$n" ] || return 1
        awk '$1 == "E" {e = $2} $1 == "S" && e {print $2 - e; e = 0}' "$log" | median
    }
    # supervisord restarts from its event loop, which wakes about once a second: its row
    # counts a few restarts, as runsv's does, or it would take minutes.
    SUP_N=8
    SUP_LABEL="supervisord (autorestart, startsecs=0)"
    PW_RESTART="pidward run --restart always --restart-delay 0"
    RUNSV_LABEL="runsv (waits 1 s after a run shorter than 1 s)"
    group 7a "restart latency: crash -> next run exec'd" ns "$SUP_LABEL"
    if have supervisord; then
        cat >"$RDIR/supervisord.conf" <<CONF
[supervisord]
nodaemon=true
user=root
logfile=$RDIR/supervisord.log
pidfile=$RDIR/supervisord.pid
[program:crash]
command=$BIN/restart_child $RDIR/sup.log $SUP_N
autorestart=true
startsecs=0
startretries=1000000
stdout_logfile=NONE
stderr_logfile=NONE
CONF
        if v=$(restart_latency "$RDIR/sup.log" "$SUP_N" supervisord -c "$RDIR/supervisord.conf"); then
            row 7a "$SUP_LABEL" "$v" "" "$((SUP_N - 1)) restarts; $(supervisord --version 2>/dev/null)"
        else
            skip 7a "$SUP_LABEL" "failed (see bench/out/log.txt)"
        fi
    else
        skip 7a "$SUP_LABEL" "supervisor is not installed"
    fi
    if [ $HAVE_RUN = 1 ] && v=$(restart_latency "$RDIR/pw.log" "$RESTART_N" \
        "$PIDWARD" run --restart always --restart-delay 0 --restart-jitter 0 -- "$BIN/restart_child" "$RDIR/pw.log" "$RESTART_N"); then
        row 7a "$PW_RESTART" "$v" "le:1.0:$SUP_LABEL" "$RESTART_N restarts"
    else
        skip 7a "$PW_RESTART" "failed (see bench/out/log.txt)" "le:1.0:$SUP_LABEL"
    fi
    if have runsv; then
        mkdir -p "$RDIR/sv/crash"
        printf '#!/bin/sh\nexec %s %s 4\n' "$BIN/restart_child" "$RDIR/runsv.log" >"$RDIR/sv/crash/run"
        chmod +x "$RDIR/sv/crash/run"
        if v=$(restart_latency "$RDIR/runsv.log" 4 runsv "$RDIR/sv/crash"); then
            row 7a "$RUNSV_LABEL" "$v" "" "3 restarts"
        else
            skip 7a "$RUNSV_LABEL" "failed (see bench/out/log.txt)"
        fi
    else
        skip 7a "$RUNSV_LABEL" "runit is not installed"
    fi

    # VmHWM of the supervisor after 100 restarts, then after RSS_RESTARTS (read from its state
    # file, F.state): the same, or the loop leaks.
    group 7b "peak RSS of \`pidward run -p F --restart always --restart-delay 0 -- true\`" KiB "after 100 restarts"
    if [ $HAVE_RUN = 1 ]; then
        F=$RDIR/rss.pid
        "$PIDWARD" run -p "$F" --restart always --restart-delay 0 --restart-jitter 0 -- true </dev/null >>"$LOG" 2>&1 &
        RPID=$!
        restarts() { sed -n 's/^restarts=//p' "$F.state" 2>/dev/null || true; }
        hwm_at() { # hwm_at N: VmHWM once N restarts are done
            local t=0
            while [ "$(restarts)" = "" ] || [ "$(restarts)" -lt "$1" ]; do
                sleep 0.05
                t=$((t + 1))
                [ $t -lt 12000 ] || return 1
            done
            awk '/^VmHWM:/ {print $2}' "/proc/$RPID/status"
        }
        START=$(date +%s.%N)
        h100=$(hwm_at 100 || true)
        hN=$(hwm_at "$RSS_RESTARTS" || true)
        TOOK=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
        kill -TERM "$RPID" 2>/dev/null || true
        wait "$RPID" 2>/dev/null || true
        if [ -n "$h100" ] && [ -n "$hN" ]; then
            row 7b "after 100 restarts" "$h100"
            row 7b "after $RSS_RESTARTS restarts" "$hN" "le:1.02:after 100 restarts" "${TOOK} s for the restarts"
        else
            skip 7b "after $RSS_RESTARTS restarts" "the restarts did not happen (see bench/out/log.txt)"
        fi
    else
        skip 7b "pidward run" "$WHY_RUN"
    fi
fi

# ---------------------------------------------------------------------------------------------
# 8. The output relay of `pidward run`: PIPE_BYTES of 100-byte lines from `yes | head -c`
# through relay mode into a file on disk, against the same through `cat` into the same file;
# and the supervisor's peak RSS with and without relay mode.
if want 8; then
    say "8. output relay"
    ODIR=$DISK_DIR/relay
    mkdir -p "$ODIR"
    LINE=$(printf '%099d' 0)
    PRODUCE="yes $LINE | head -c $PIPE_BYTES"
    size=$(awk -v b="$PIPE_BYTES" 'BEGIN {if (b >= 1073741824) printf "%g GiB", b/1073741824; else printf "%g MiB", b/1048576}')
    # timed CMD...: run it, print MB/s for PIPE_BYTES (the file is removed after).
    timed() {
        local a b
        rm -f "$ODIR"/out*
        a=$(date +%s.%N)
        "$@" </dev/null >>"$LOG" 2>&1 || return 1
        b=$(date +%s.%N)
        [ "$(stat -c %s "$ODIR/out")" -ge "$((PIPE_BYTES * 3 / 4))" ] || [ -e "$ODIR/out.1" ] || return 1
        rm -f "$ODIR"/out*
        awk -v a="$a" -v b="$b" -v n="$PIPE_BYTES" 'BEGIN {printf "%.1f", n / (b - a) / 1e6}'
    }
    CAT="cat > FILE"
    RELAY="pidward run --output-max 256M:2 -o FILE (read/write)"
    STAMPED="pidward run --output-timestamps -o FILE (timestamped lines)"
    group 8a "$size of 100-byte lines into a file on disk (throughput)" "MB/s" "$CAT"
    labels=("$CAT" "$RELAY" "$STAMPED")
    declare -A relay=()
    for ((r = 0; r < PIPE_RUNS; r++)); do
        mapfile -t ordered < <(in_round_order "$r" "${labels[@]}")
        for label in "${ordered[@]}"; do
            case $label in
            cat*) v=$(timed sh -c "$PRODUCE | cat > $ODIR/out") ;;
            *read/write*) [ $HAVE_RUN = 1 ] && v=$(timed "$PIDWARD" run -l none --output-max 256M:2 -o "$ODIR/out" -- sh -c "$PRODUCE") ;;
            *timestamps*) [ $HAVE_RUN = 1 ] && v=$(timed "$PIDWARD" run -l none --output-timestamps -o "$ODIR/out" -- sh -c "$PRODUCE") ;;
            esac || v=""
            [ -n "$v" ] && relay[$label]+="$v "
        done
    done
    for label in "${labels[@]}"; do
        target=""
        [ "$label" = "$RELAY" ] && target="ge:0.8:$CAT"
        if [ -n "${relay[$label]:-}" ]; then
            row 8a "$label" "$(joined ${relay[$label]})" "$target"
        elif [ $HAVE_RUN = 0 ] && [[ $label == pidward* ]]; then
            skip 8a "$label" "$WHY_RUN" "$target"
        else
            skip 8a "$label" "failed (see bench/out/log.txt)" "$target"
        fi
    done

    # VmHWM of the supervisor once the command has written PIPE_BYTES: the fast path (the
    # command's own O_APPEND descriptor) against relay mode (no rotation, so that the whole
    # output stays to be counted).
    FAST="-o FILE (the command's own descriptor)"
    RELAYED="--output-max 2G:2 -o FILE (relay mode)"
    group 8b "peak RSS of \`pidward run\` after $size of output" KiB "$FAST"
    # hwm_after OPTION...: pidward run OPTION... -o FILE; VmHWM once the output is written.
    hwm_after() {
        local pid t=0 h
        rm -f "$ODIR"/out* "$ODIR/done"
        "$PIDWARD" run -l none "$@" -o "$ODIR/out" -- sh -c "$PRODUCE; while [ ! -e $ODIR/done ]; do sleep 0.05; done" </dev/null >>"$LOG" 2>&1 &
        pid=$!
        while [ "$(cat "$ODIR"/out* 2>/dev/null | wc -c)" -lt "$PIPE_BYTES" ] && [ $t -lt 6000 ]; do sleep 0.1; t=$((t + 1)); done
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
        touch "$ODIR/done"
        wait "$pid" 2>/dev/null || true
        rm -f "$ODIR"/out* "$ODIR/done"
        [ $t -lt 6000 ] && echo "$h"
    }
    if [ $HAVE_RUN = 1 ]; then
        hf="" hr=""
        for ((r = 0; r < 3; r++)); do
            hf+="$(hwm_after) " hr+="$(hwm_after --output-max 2G:2) "
        done
        if [ -n "${hf// /}" ] && [ -n "${hr// /}" ]; then
            row 8b "$FAST" "$(joined $hf)"
            row 8b "$RELAYED" "$(joined $hr)" "le:1.1:$FAST"
        else
            skip 8b "$RELAYED" "the output was not written (see bench/out/log.txt)" "le:1.1:$FAST"
        fi
    else
        skip 8b "pidward run" "$WHY_RUN"
    fi
fi

# ---------------------------------------------------------------------------------------------
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/py/table.py "$ROWS" | tee "$OUT/table.md"
