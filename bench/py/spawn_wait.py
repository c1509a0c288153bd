"""spawn+wait of /bin/true with Python's subprocess or Twisted's spawnProcess.

usage: spawn_wait.py subprocess|twisted N

Each spawn+wait is timed on its own (20 warm-up spawns first); prints the median in ns. The
child inherits stdin, stdout and stderr, as with posix_spawn.
"""

import statistics
import subprocess
import sys
import time

PROGRAM = "/bin/true"


def run_subprocess(n):
    times = []
    for i in range(n + 20):
        t0 = time.perf_counter_ns()
        subprocess.run([PROGRAM], check=True)
        if i >= 20:
            times.append(time.perf_counter_ns() - t0)
    return times


def run_twisted(n):
    from twisted.internet import protocol, reactor

    times = []
    state = {"i": 0, "t0": 0, "error": None}

    class Proto(protocol.ProcessProtocol):
        def processEnded(self, reason):
            if reason.value.exitCode != 0:
                state["error"] = reason
                reactor.stop()
                return
            if state["i"] >= 20:
                times.append(time.perf_counter_ns() - state["t0"])
            state["i"] += 1
            if state["i"] < n + 20:
                spawn()
            else:
                reactor.stop()

    def spawn():
        state["t0"] = time.perf_counter_ns()
        reactor.spawnProcess(Proto(), PROGRAM, [PROGRAM], env=None, childFDs={0: 0, 1: 1, 2: 2})

    reactor.callWhenRunning(spawn)
    reactor.run(installSignalHandlers=True)
    if state["error"] is not None:
        sys.exit(f"twisted: {PROGRAM} failed: {state['error']}")
    return times


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: spawn_wait.py subprocess|twisted N")
    kind, n = sys.argv[1], int(sys.argv[2])
    times = {"subprocess": run_subprocess, "twisted": run_twisted}[kind](n)
    print(f"python-{kind} ns/op {statistics.median(times):.0f}")


if __name__ == "__main__":
    main()
