#!/usr/bin/env python3
"""Load on one lock: N concurrent `pidward lock -w 30 L cmd`, each incrementing a counter file
under the lock, for R rounds.

Checks that the count is exact (no two holders overlapped, no increment was lost) and that no
process of a round is left once it is over; reports the wait for the lock (from spawning
`pidward lock` to the command running under it) as p50 / p99 / max over every process.

  bench/lock_load.py [--procs 256] [--rounds 20] [--pidward BIN]

Exits 1 if a count is wrong or a process is left.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

# The command under the lock: bash, so that reading the counter and the clock fork nothing.
CMD = 'n=$(<"$C"); echo $((n + 1)) > "$C"; echo "$1 $EPOCHREALTIME" >> "$T"'


def marked(mark):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if mark in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--pidward", default=os.path.join(here, "..", "target", "debug", "pidward"))
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="pidward-load-")
    lock, counter, times = (os.path.join(d, n) for n in ("L", "C", "T"))
    mark = f"PIDWARD_LOAD={d}"
    env = dict(os.environ, C=counter, T=times, PIDWARD_LOAD=d)
    waits, failures, total_started = [], [], time.monotonic()
    for r in range(args.rounds):
        with open(counter, "w") as f:
            f.write("0\n")
        open(times, "w").close()
        spawned = {}
        procs = []
        for i in range(args.procs):
            spawned[i] = time.time()
            procs.append(subprocess.Popen(
                [args.pidward, "lock", "-w", "30", lock, "bash", "-c", CMD, "x", str(i)],
                env=env, stdin=subprocess.DEVNULL))
        codes = [p.wait() for p in procs]
        count = int(open(counter).read().strip() or 0)
        if count != args.procs or any(codes):
            failures.append(f"round {r}: count {count} of {args.procs}, "
                            f"exit codes {sorted(set(codes))}")
        for line in open(times):
            i, t = line.split()
            waits.append(float(t) - spawned[int(i)])
        deadline = time.monotonic() + 5
        while (left := marked(mark.encode())) and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            failures.append(f"round {r}: left running: {left}")
    took = time.monotonic() - total_started
    waits.sort()
    q = lambda p: waits[min(len(waits) - 1, int(p * len(waits)))] * 1000
    print(f"{args.procs} processes x {args.rounds} rounds: {args.procs * args.rounds} "
          f"increments under the lock, {len(failures)} failures, {took:.1f} s")
    print(f"wait for the lock: p50 {q(0.50):.1f} ms, p99 {q(0.99):.1f} ms, max {waits[-1] * 1000:.1f} ms "
          f"({len(waits)} samples)")
    for f in failures:
        print("  " + f)
    subprocess.run(["rm", "-rf", d])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
