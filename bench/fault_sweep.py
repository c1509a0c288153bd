#!/usr/bin/env python3
"""A fault at every system call of `pidward status`, `stop` and `lock`, checking the PID-file
invariants after each run.

For each operation, one traced run lists its system calls (of the pidward process itself;
children are not followed). Then, for every call name N and every k up to the number of N
calls, the operation runs again under strace with

  * `inject=N:signal=KILL:when=k`: killed at that call, and
  * `inject=N:error=E:when=k`: the call fails with E, for each error of N's class
    (EINTR only where the call can be interrupted; memory calls get no errors: an allocation
    failure aborts by design),

and the outcome is checked:

  status F (F held):  exit 0 (running) or 4 (unknown) with a message naming F; never 1 or 3;
                      EINTR changes nothing; the holder lives on and F is unchanged.
  stop F (F held):    exit 0 only if the holder is gone; a live holder means exit 1 or 4 and
                      F unchanged; EINTR changes nothing (the holder is stopped, exit 0).
  lock L true (L a foreign file): L is never truncated or removed; the lock is free at once
                      afterwards; EINTR changes nothing (exit 0).
  PidFile acquire + release, LockFile acquire (replace_stale) + release (the test helper's
  `once` and `lockonce`), from no file: whatever the fault, the file holds nothing or a
  whole record (never part of a PID), and the next acquirer succeeds at once and leaves no
  file; EINTR changes nothing.
  run -p F -- true (run): a documented exit (0, 125, 126, 127) with a message when not 0;
                      afterwards nothing holds F, F holds nothing or a whole PID, no process
                      of the run is left, and the next `run -p F -- true` succeeds at once.
  run -d -p F --ready notify -- <ready child> (runready), and `Daemon` start (daemon: the
  test helper's `daemon`, PidFile with a deferred write + Daemon::start): exit 0 only if F
                      then names a live holder; exit 121 (outcome unknown) only if F is still
                      held; any other failure leaves nothing running and F unheld; after a
                      kill, either nothing is left or the holder of F is stopped by the next
                      `pidward stop F` (exit 0) and nothing of the start survives it.
                      Processes of a start are found by a marker in their environment.

Every run is bounded (no hang). Calls made before pidward's own start-up (the dynamic loader's,
and std's runtime set-up up to its SIGPIPE disposition, which std asserts) get kills only.

  bench/fault_sweep.py [--ops status,stop,lock,pidfile,lockfile,run,runready,daemon]
                       [--faults kill,error,eintr] [--sample N]
                       [--seed S] [--pidward BIN] [--guard BIN]

Prints one line per operation: points, runs, outcomes, violations (listed); exits 1 if any.
"""

import argparse
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

INTERRUPTIBLE = {"openat", "read", "pread64", "write", "pwrite64", "flock", "poll", "ppoll",
                 "wait4", "waitid", "clock_nanosleep", "nanosleep", "fcntl", "recvmsg",
                 "sendmsg", "connect", "epoll_wait", "epoll_pwait", "rt_sigtimedwait"}
MEMORY = {"mmap", "munmap", "mprotect", "brk", "mremap", "madvise"}
NEVER = {"execve", "exit_group", "exit", "rt_sigreturn"}
# Calls that cannot fail: an injected error there tests nothing real.
NOFAIL = {"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "umask",
          "sched_yield", "set_tid_address", "set_robust_list", "rseq", "arch_prctl"}
EXTRA = {"openat": ["EACCES"], "write": ["ENOSPC"], "pwrite64": ["ENOSPC"],
         "read": ["EAGAIN"], "pread64": ["EAGAIN"]}
TIMEOUT = 20
# The operations that start something (checked by `check_start`).
STARTS = ("run", "runready", "daemon")


def errors_for(name):
    if name in MEMORY or name in NEVER or name in NOFAIL:
        return []
    errs = ["EIO", "ENOMEM"] + EXTRA.get(name, [])
    if name in INTERRUPTIBLE:
        errs.append("EINTR")
    return errs


class Env:
    """A fresh directory with a held PID file (status, stop) or a foreign lock file (lock)."""

    def __init__(self, op, guard, pidward=None):
        self.op, self.guard, self.pidward = op, guard, pidward
        self.dir = tempfile.mkdtemp(prefix="pidward-sweep-")
        self.path = os.path.join(self.dir, "F")
        self.holder = None
        self.mark = f"PIDWARD_SWEEP={self.dir}"
        if op == "lock":
            with open(self.path, "w") as f:
                f.write("keep\n")
        elif op in ("status", "stop"):
            self.start_holder()

    def start_holder(self):
        self.holder = subprocess.Popen([self.guard, "hold", self.path], stdout=subprocess.PIPE)
        assert self.holder.stdout.readline().strip() == b"ready"
        self.content = open(self.path, "rb").read()

    def holder_alive(self):
        return self.holder is not None and self.holder.poll() is None

    def reset(self):
        """Make the environment ready for the next run (a stopped holder restarted)."""
        if self.op in ("pidfile", "lockfile") and os.path.exists(self.path):
            os.unlink(self.path)
        if self.op in STARTS:
            # A holder is stopped as a whole tree first; then whatever is left is killed, again
            # and again (a shell may fork once more after a scan), until nothing is.
            if held(self.path):
                subprocess.run([self.pidward, "stop", "-R", "KILL/5", self.path],
                               capture_output=True, timeout=30)
            deadline = time.monotonic() + 10
            while (left := marked(self)) and time.monotonic() < deadline:
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)
            if os.path.exists(self.path):
                os.unlink(self.path)
        if self.op in ("status", "stop") and not self.holder_alive():
            if self.holder:
                self.holder.wait()
            if os.path.exists(self.path):
                os.unlink(self.path)
            self.start_holder()

    def close(self):
        if self.op in STARTS:
            self.reset()
        if self.holder_alive():
            self.holder.kill()
        if self.holder:
            self.holder.wait()
        subprocess.run(["rm", "-rf", self.dir])


def argv(op, pidward, path, guard=None):
    # The ready child declares readiness at once, then lives until stopped.
    ready = f'"{pidward}" notify --ready; sleep 60'
    return {"status": [pidward, "status", path],
            "run": [pidward, "run", "-p", path, "--", "true"],
            "runready": [pidward, "run", "-d", "-p", path, "--ready", "notify", "--",
                         "sh", "-c", ready],
            "daemon": [guard, "daemon", path],
            "stop": [pidward, "stop", path],
            "lock": [pidward, "lock", path, "true"],
            "pidfile": [guard, "once", path],
            "lockfile": [guard, "lockonce", path]}[op]


def run(cmd, inject=None, env=None):
    strace = ["strace", "-qq", "-o", "/dev/null"]
    if inject:
        strace += ["-e", "inject=" + inject]
    t = time.monotonic()
    try:
        p = subprocess.run(strace + cmd, capture_output=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        return None, "", "", time.monotonic() - t
    # strace reports a killed tracee by killing itself with the same signal.
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), \
        time.monotonic() - t


def enumerate_calls(op, env, pidward):
    log = os.path.join(env.dir, "trace")
    subprocess.run(["strace", "-qq", "-o", log] + argv(op, pidward, env.path, env.guard),
                   capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                   env=start_env(env))
    names = [m.group(1) for line in open(log)
             if (m := re.match(r"([a-z_0-9]+)\(", line))]
    os.unlink(log)
    env.reset()
    # pidward's own code starts after std's runtime set-up (its fd 0-2 check with poll, then
    # the SIGPIPE disposition with rt_sigaction, which std asserts): errors before that test
    # the loader and std, not pidward.
    start = next((i + 1 for i, n in enumerate(names) if n == "rt_sigaction"), 0)
    counts = collections.Counter(names)
    before = collections.Counter(names[:start])
    return counts, before


def start_env(env):
    """The environment of a run: ours, plus the marker its processes inherit."""
    if env.op not in STARTS:
        return None
    key, value = env.mark.split("=", 1)
    return dict(os.environ, **{key: value})


def marked(env):
    """Live processes whose environment carries `env`'s marker (zombies are dead)."""
    found = []
    mark = env.mark.encode() + b"\0"
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                data = f.read()
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if mark in data and state != "Z":
            found.append(int(d))
    return found


def describe(pids):
    """`PID (state) command line` of each process, for messages."""
    out = []
    for pid in pids:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            fields = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()
            cgroup = open(f"/proc/{pid}/cgroup").read().strip()
        except (OSError, IndexError):
            continue
        out.append(f"{pid} ({fields[0]}, ppid {fields[1]}, pgid {fields[2]}, sid {fields[3]},"
                   f" {cgroup}) {cmd.strip()[:80]}")
    return "; ".join(out)


def held(path):
    """Whether a live process holds the lock of `path` (which is not created)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def content_bad(path):
    """A PID file that is neither empty nor one whole PID, as a violation string."""
    try:
        text = open(path, "rb").read()
    except FileNotFoundError:
        return None
    if text and not (text.endswith(b"\n") and text[:-1].isdigit()):
        return f"a partial PID file: {text!r}"
    return None


def settle(env, seconds=5):
    """Wait until F is held, or nothing of the start is left; True if F is held."""
    deadline = time.monotonic() + seconds
    while True:
        if held(env.path):
            return True
        if not marked(env):
            return False
        if time.monotonic() >= deadline:
            return held(env.path)
        time.sleep(0.05)


def check_start(op, env, pidward, fault, code, err):
    """The violations of one run of an operation that starts something (module docs)."""
    if code is None:
        return [f"hang (> {TIMEOUT} s)"]
    bad = []
    killed = "signal=KILL" in fault
    eintr = "error=EINTR" in fault
    msg = err.strip()[:300]
    if op != "daemon" and (code == 134 or "panicked" in err):
        bad.append(f"abort/panic: {msg!r}")
    if not killed:
        documented = {"run": (0, 125, 126, 127),
                      "runready": (0, 121, 122, 123, 124, 125, 126, 127),
                      "daemon": (0, 1, 121, 125)}[op]
        if code not in documented:
            bad.append(f"undocumented exit {code}: {msg!r}")
        if code != 0 and not msg:
            bad.append(f"exit {code} without a message")
        if eintr and code != 0:
            bad.append(f"EINTR reported: exit {code}: {msg!r}")
    if v := content_bad(env.path):
        bad.append(v)
    if op == "run":
        # In the foreground everything is over when pidward is (a killed pidward takes its
        # command along: parent-death signal).
        if settle(env, 10):
            bad.append("F is still held after the run")
        elif marked(env):
            bad.append(f"left running: {describe(marked(env))}")
        nxt = subprocess.run(argv(op, pidward, env.path), capture_output=True, timeout=10)
        if nxt.returncode != 0:
            bad.append(f"the next run failed: {nxt.stderr.decode(errors='replace')[:200]!r}")
        if os.path.exists(env.path):
            bad.append("the next run left F behind")
        return bad
    holding = held(env.path)
    if code == 0 and not holding:
        bad.append("exit 0 but nothing holds F")
    elif code == 0:
        st = subprocess.run([pidward, "status", env.path], capture_output=True, timeout=10)
        if st.returncode != 0:
            bad.append(f"exit 0 but status says {st.returncode}")
    if code == 121 and not holding:
        bad.append("outcome unknown (121) but nothing holds F")
    if not killed and code not in (0, 121, 124):
        # A failed start leaves nothing running: give a process that is giving up time to end.
        deadline = time.monotonic() + 10
        while held(env.path) and time.monotonic() < deadline:
            time.sleep(0.05)
        if held(env.path):
            bad.append(f"exit {code} ({msg!r}) but a live process holds F")
    if not holding:
        holding = settle(env, 10)
    if holding:
        stop = subprocess.run([pidward, "stop", env.path], capture_output=True, timeout=60)
        if stop.returncode != 0:
            bad.append(f"stop exited {stop.returncode}: {stop.stderr.decode()[:200]!r}")
    deadline = time.monotonic() + 10
    while marked(env) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left := marked(env):
        bad.append(f"left running: {describe(left)}")
    if held(env.path):
        bad.append("F is still held at the end")
    return bad


def lock_is_free(path):
    return subprocess.run(["flock", "-n", path, "true"]).returncode == 0


def check(op, env, fault, code, out, err, took):
    """The violations of one run, as strings."""
    bad = []
    if code is None:
        return [f"hang (> {TIMEOUT} s)"]
    killed = "signal=KILL" in fault
    eintr = "error=EINTR" in fault
    text = out + err
    # The test helper (pidfile, lockfile) unwraps what it does not test; pidward must not abort.
    if op not in ("pidfile", "lockfile") and (code == 134 or "panicked" in err):
        bad.append(f"abort/panic: {err.strip()[:200]!r}")
    if op == "status":
        if not env.holder_alive():
            bad.append("the holder died")
        if open(env.path, "rb").read() != env.content:
            bad.append("F changed")
        if not killed:
            if code not in (0, 4):
                bad.append(f"exit {code} for a running holder")
            if code == 4 and env.path not in text:
                bad.append(f"a message without the path: {text.strip()[:200]!r}")
            if eintr and code != 0:
                bad.append(f"EINTR reported: exit {code}: {text.strip()[:200]!r}")
    elif op == "stop":
        alive = env.holder_alive()
        if not alive:
            env.holder.wait()
        if code == 0 and alive:
            bad.append("exit 0 while the holder runs")
        if alive and open(env.path, "rb").read() != env.content:
            bad.append("F changed under a live holder")
        if not killed:
            if code not in (0, 1, 4):
                bad.append(f"undocumented exit {code}")
            if code != 0 and env.path not in text and "PID" not in text:
                bad.append(f"a message naming nothing: {text.strip()[:200]!r}")
            if eintr and code != 0:
                bad.append(f"EINTR reported: exit {code}: {text.strip()[:200]!r}")
    elif op == "lock":
        if not os.path.exists(env.path):
            bad.append("the foreign file was removed")
        elif open(env.path, "rb").read() != b"keep\n":
            bad.append("the foreign file was changed")
        if not lock_is_free(env.path):
            time.sleep(0.5)
            if not lock_is_free(env.path):
                bad.append("the lock is still held after the run")
        if not killed:
            if code not in (0, 1, 64, 65, 66, 69, 71):
                bad.append(f"undocumented exit {code}")
            if code != 0 and not err.strip():
                bad.append("a failure without a message")
            if eintr and code != 0:
                bad.append(f"EINTR reported: exit {code}: {text.strip()[:200]!r}")
    elif op in ("pidfile", "lockfile"):
        bad += check_guard(op, env, eintr, killed, code, err)
    return bad


def check_guard(op, env, eintr, killed, code, err):
    bad = []
    if os.path.exists(env.path):
        text = open(env.path, "rb").read()
        first = text.split(b"\n")[0]
        if text and not (text.endswith(b"\n") and first.isdigit()):
            bad.append(f"a partial record: {text!r}")
        if op == "lockfile" and text and not (b"\nhost=" in text and b"\ntime=" in text):
            bad.append(f"a partial lock record: {text!r}")
    if eintr and code != 0:
        bad.append(f"EINTR reported: exit {code}: {err.strip()[:200]!r}")
    # The next acquirer succeeds at once, whatever was left.
    nxt = subprocess.run(argv(op, None, env.path, env.guard), capture_output=True, timeout=10)
    if nxt.returncode != 0:
        bad.append(f"the next acquirer failed: {nxt.stderr.decode(errors='replace')[:200]!r}")
    if os.path.exists(env.path):
        bad.append("the next acquirer left its file behind")
    return bad


def sweep(op, args, rng):
    env = Env(op, args.guard, args.pidward)
    try:
        counts, before = enumerate_calls(op, env, args.pidward)
        points = []
        for name, n in sorted(counts.items()):
            if name in NEVER:
                continue
            for k in range(1, n + 1):
                if "kill" in args.faults:
                    points.append(f"{name}:signal=KILL:when={k}")
                if k > before[name]:
                    points += [f"{name}:error={e}:when={k}" for e in errors_for(name)
                               if ("eintr" if e == "EINTR" else "error") in args.faults]
        total = len(points)
        if args.sample and args.sample < total:
            points = rng.sample(points, args.sample)
        outcomes = collections.Counter()
        violations = []
        for fault in points:
            code, out, err, took = run(argv(op, args.pidward, env.path, args.guard), fault,
                                       start_env(env))
            outcomes["hang" if code is None else code] += 1
            found = (check_start(op, env, args.pidward, fault, code, err) if op in STARTS
                     else check(op, env, fault, code, out, err, took))
            for v in found:
                violations.append(f"{op} [{fault}]: {v}")
            env.reset()
        return total, len(points), outcomes, violations
    finally:
        env.close()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "target", "debug")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", default="status,stop,lock,pidfile,lockfile")
    ap.add_argument("--faults", default="kill,error,eintr",
                    help="kill: SIGKILL at the call; error: EIO, ENOMEM...; eintr: EINTR")
    ap.add_argument("--sample", type=int, default=0, help="runs per operation (0: all)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--pidward", default=os.path.join(target, "pidward"))
    ap.add_argument("--guard", default=os.path.join(target, "pidward-test-guard"))
    args = ap.parse_args()
    args.faults = set(args.faults.split(","))
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}")
    failed = False
    for op in args.ops.split(","):
        total, ran, outcomes, violations = sweep(op, args, rng)
        shown = ", ".join(f"exit {c}: {n}" for c, n in sorted(outcomes.items(), key=str))
        print(f"{op}: {total} points, {ran} runs ({shown}), {len(violations)} violations")
        for v in violations:
            print("  " + v)
        failed |= bool(violations)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
