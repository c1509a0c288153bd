#!/usr/bin/env python3
"""Where the time of a supervisor's start goes: the phases of `SUPERVISOR ... -- /bin/true`,
from the kernel's scheduler events, side by side with a peer.

usage (root, tracefs): bench/phases.py N 'CMD1 ARGS' 'CMD2 ARGS' ...

Each command (an absolute path, supervising one child that execs /bin/true) runs once per
round, N rounds, in reverse order every other round, with the tracepoints
sched:sched_process_{fork,exec,exit} on. For every run the events of the supervisor and its
child give five phases, printed as medians in microseconds:

  spawn->exec   the caller's posix_spawn to the supervisor's exec (the kernel loads it)
  exec->fork    the supervisor's exec to its fork of the child: the dynamic loader, the C
                library's and the program's start-up, its own set-up (PID file, cgroup...)
  fork->cexec   the fork to the child's exec of /bin/true: the child's set-up
  cexec->cexit  /bin/true itself
  cexit->exit   the child's exit to the supervisor's: noticing it, cleaning up, exiting

A command that execs the child in place instead of forking (`pidward run --exec`,
`start-stop-daemon --start`) gets a table of its own: spawn->exec, exec->cexec (its own
start-up and set-up, up to the child's exec), cexec->exit (the child itself).

Three scheduler events per process cost far less than tracing every system call or page
fault, which inflates what it measures (about 1 us an event here); the phases sum to the
supervisor's lifetime, not to the caller's wait (the exit's teardown after the exit event is
left out). Used for docs/benchmarks.md, "Start-up: the rest of the gap".
"""
import os
import re
import statistics
import sys
import shlex
import collections

TRACING = "/sys/kernel/tracing"
EVENTS = ["sched_process_fork", "sched_process_exec", "sched_process_exit"]


def write(path, text):
    with open(os.path.join(TRACING, path), "w") as f:
        f.write(text)


def main():
    n = int(sys.argv[1])
    cmds = [shlex.split(c) for c in sys.argv[2:]]
    if not os.path.isdir(os.path.join(TRACING, "events")):
        os.system(f"mount -t tracefs nodev {TRACING}")
    write("tracing_on", "0")
    write("trace", "")
    write("buffer_size_kb", "16384")
    for e in EVENTS:
        write(f"events/sched/{e}/enable", "1")
    devnull = os.open("/dev/null", os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    order = []  # (command index, supervisor pid) in run order
    write("tracing_on", "1")
    try:
        for i in range(n):
            ks = range(len(cmds)) if i % 2 else reversed(range(len(cmds)))
            for k in ks:
                pid = os.posix_spawn(cmds[k][0], cmds[k], os.environ, file_actions=actions)
                os.waitpid(pid, 0)
                order.append((k, pid))
    finally:
        write("tracing_on", "0")
        for e in EVENTS:
            write(f"events/sched/{e}/enable", "0")
    with open(os.path.join(TRACING, "trace")) as f:
        lines = f.read().splitlines()
    write("trace", "")
    ev = collections.defaultdict(list)  # pid -> [(time, event, args)]
    line_re = re.compile(r"-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): (.*)")
    for line in lines:
        m = line_re.search(line)
        if m:
            ev[int(m.group(1))].append((float(m.group(2)), m.group(3), m.group(4)))
    # The fork that made each supervisor is the caller's event naming it as the child.
    spawned = {}
    for pid, es in ev.items():
        for t, e, a in es:
            if e == "sched_process_fork":
                child = int(re.search(r"child_pid=(\d+)", a).group(1))
                spawned.setdefault(child, t)
    phases = collections.defaultdict(lambda: collections.defaultdict(list))
    names = ["spawn->exec", "exec->fork", "fork->cexec", "cexec->cexit", "cexit->exit"]
    for k, pid in order:
        es = ev.get(pid, [])
        execs = [t for t, e, _ in es if e == "sched_process_exec"]
        if len(execs) >= 2 and not any(e == "sched_process_fork" for _, e, _ in es):
            # A command that execs its child in place (`run --exec`, start-stop-daemon):
            # its set-up is the time between its two execs.
            try:
                t_spawn, t_exit = spawned[pid], next(t for t, e, _ in es if e == "sched_process_exit")
            except (StopIteration, KeyError):
                continue
            marks = [t_spawn, execs[0], execs[1], t_exit]
            for name, a, b in zip(["spawn->exec", "exec->cexec", "cexec->exit"], marks, marks[1:]):
                phases[k][name].append((b - a) * 1e6)
            phases[k]["total"].append((t_exit - t_spawn) * 1e6)
            continue
        try:
            t_spawn = spawned[pid]
            t_exec = next(t for t, e, _ in es if e == "sched_process_exec")
            t_fork, child = next(
                (t, int(re.search(r"child_pid=(\d+)", a).group(1)))
                for t, e, a in es
                if e == "sched_process_fork"
            )
            t_exit = next(t for t, e, _ in es if e == "sched_process_exit")
            ces = ev[child]
            t_cexec = next(t for t, e, _ in ces if e == "sched_process_exec")
            t_cexit = next(t for t, e, _ in ces if e == "sched_process_exit")
        except (StopIteration, KeyError):
            continue
        marks = [t_spawn, t_exec, t_fork, t_cexec, t_cexit, t_exit]
        for name, a, b in zip(names, marks, marks[1:]):
            phases[k][name].append((b - a) * 1e6)
        phases[k]["total"].append((t_exit - t_spawn) * 1e6)
    in_place = ["spawn->exec", "exec->cexec", "cexec->exit"]
    for title, cols in [("", names), ("in place: ", in_place)]:
        rows = [(k, c) for k, c in enumerate(sys.argv[2:]) if cols[1] in phases[k]]
        if not rows:
            continue
        cols = cols + ["total"]
        print("%-8s " % "runs" + " ".join("%12s" % c for c in cols) + "  " + title + "command")
        for k, c in rows:
            p = phases[k]
            print(
                "%-8d " % len(p["total"])
                + " ".join("%12.0f" % statistics.median(p[x]) for x in cols)
                + "  "
                + c
            )
    for k, c in enumerate(sys.argv[2:]):
        if not phases[k]["total"]:
            print(f"(no complete run) {c}")


if __name__ == "__main__":
    main()
