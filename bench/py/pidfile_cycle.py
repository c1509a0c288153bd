"""PID-file acquire+release cycles with Python's `pid` package and Twisted's PIDFile.

usage: pidfile_cycle.py pid|twisted PATH OPS BATCHES

Runs one warm-up batch and BATCHES batches of OPS cycles (create + write + remove, through
each library's own API) and prints the median ns per cycle.
"""

import os
import statistics
import sys
import time


def cycle_pid(path):
    import pid

    piddir, name = os.path.split(path)
    # No signal handler or atexit hook per cycle: only the file work is measured.
    def once():
        pf = pid.PidFile(
            pidname=name,
            piddir=piddir,
            register_term_signal_handler=False,
            register_atexit=False,
        )
        pf.create()
        pf.close()

    return once


def cycle_twisted(path):
    from twisted.application.runner._pidfile import PIDFile
    from twisted.python.filepath import FilePath

    fp = FilePath(path)

    def once():
        with PIDFile(fp):
            pass

    return once


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: pidfile_cycle.py pid|twisted PATH OPS BATCHES")
    kind, path, ops, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    once = {"pid": cycle_pid, "twisted": cycle_twisted}[kind](path)
    for _ in range(ops):
        once()
    per_op = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(ops):
            once()
        per_op.append((time.perf_counter_ns() - t0) / ops)
    if os.path.exists(path):
        sys.exit(f"{kind} left {path} behind")
    print(f"python-{kind} ns/op {statistics.median(per_op):.0f}")


if __name__ == "__main__":
    main()
