#!/usr/bin/env python3
"""Compare a few short-lived commands closely: interleaved runs, median wall time.

usage: bench/interleave.py N 'CMD1 ARGS' 'CMD2 ARGS' ... ('CMD' is an absolute path)

Runs every command once per round (50 warm-up rounds, then N measured), in reverse order
every other round, so that a change in the machine's load affects all of them alike; hyperfine
runs one command's batch after another's. Prints the median wall time of each (posix_spawn to
waitpid, stdout to /dev/null) and its ratio to the last command. The commands start with
every signal at its default disposition: Python ignores SIGPIPE and SIGXFSZ, and a program
that inherits an ignored signal may take a different path (`pidward run` then resets it in
the child with a `pre_exec` hook, which makes std fork instead of posix_spawn). Used for the A/B figures in
docs/benchmarks.md; bench/compare.sh is the full comparison.
"""
import os, signal, sys, time, shlex, statistics
n = int(sys.argv[1]); cmds = [shlex.split(c) for c in sys.argv[2:]]
devnull = os.open("/dev/null", os.O_RDWR)
fa = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
dflt = [s for s in range(1, signal.NSIG) if s not in (signal.SIGKILL, signal.SIGSTOP)
        and signal.getsignal(s) == signal.SIG_IGN]
t = [[] for _ in cmds]
for i in range(n + 50):
    order = range(len(cmds)) if i % 2 else reversed(range(len(cmds)))
    for k in order:
        s = time.perf_counter_ns()
        pid = os.posix_spawn(cmds[k][0], cmds[k], os.environ, file_actions=fa, setsigdef=dflt)
        os.waitpid(pid, 0)
        if i >= 50: t[k].append(time.perf_counter_ns() - s)
ref = statistics.median(t[-1])
for c, v in zip(sys.argv[2:], t):
    m = statistics.median(v); print("%8.1f us  %.3f  %s" % (m / 1e3, m / ref, c))
