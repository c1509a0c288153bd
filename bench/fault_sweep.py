#!/usr/bin/env python3
"""A fault at every system call of `pidward status`, `stop` and `lock`, checking the PID-file
invariants after each run.

For each operation, one traced run lists its system calls (of the pidward process itself;
children are not followed). Then, for every call name N and every k up to the number of N
calls, the operation runs again under strace with

  * `inject=N:signal=KILL:when=k`: killed at that call, and
  * `inject=N:error=E:when=k`: the call fails with E, for each error that call can return
    (ERRNOS below, after the man pages, refined by its arguments: EINTR from fcntl only for
    F_SETLKW, from flock only without LOCK_NB, from wait only without WNOHANG, no ENOSPC for
    read or an open without O_CREAT; memory calls get no errors: an allocation failure
    aborts by design),

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

  runready-bg, daemon-bg: the same starts, with the faults in the processes the launcher
                      forks (the middle one of the double fork, and the final one up to and
                      through the `pidward stop` that ends it), by the ptrace tracer below:
                      every call k of each, killed and failed with each error of its class.
                      The launcher's verdict is checked while the start is not over (before
                      the final process's success report and the launcher's exit); F's
                      content, the next `stop` and what is left, always.

Every run is bounded (no hang). Calls made before pidward's own start-up (the dynamic loader's,
and std's runtime set-up up to its SIGPIPE disposition, which std asserts) get kills only.

  bench/fault_sweep.py [--ops status,stop,lock,pidfile,lockfile,run,runready,daemon,
                              runready-bg,daemon-bg]
                       [--faults kill,error,eintr] [--sample N]
                       [--seed S] [--pidward BIN] [--guard BIN]
                       OP-bg only: [--roles middle,final] [--start-only] [--calls NAMES]
                                   [--after NAME] [--errors EIO,...]
                                   [--point ROLE:K:FAULT [--repeat N]]

Prints one line per operation: points, runs, outcomes, violations (listed); exits 1 if any.
"""

import argparse
import collections
import ctypes
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

MEMORY = {"mmap", "munmap", "mprotect", "brk", "mremap", "madvise"}
NEVER = {"execve", "exit_group", "exit", "rt_sigreturn"}
# The errors each call can return (its man page's ERRORS, less those that only a bug of the
# caller causes: EBADF, EFAULT, EINVAL), as the sweep injects them. A call that is not here
# gets kills only (and is listed in the output, so that the table can grow). Calls whose
# errors depend on their arguments are refined by `errors_for` (the fcntl command, flock's
# LOCK_NB, wait's WNOHANG, open's O_CREAT, a zero poll timeout). docs/robustness.md has
# the same table.
ERRNOS = {
    "openat": ["EACCES", "EINTR", "EMFILE", "ENFILE", "ENOMEM", "ENOSPC", "EDQUOT", "EROFS"],
    "read": ["EIO", "EAGAIN", "EINTR"],
    "pread64": ["EIO", "EAGAIN", "EINTR"],
    "write": ["EIO", "ENOSPC", "EDQUOT", "EAGAIN", "EINTR", "EPIPE"],
    "pwrite64": ["EIO", "ENOSPC", "EDQUOT", "EAGAIN", "EINTR"],
    "writev": ["EIO", "ENOSPC", "EAGAIN", "EINTR", "EPIPE"],
    "fsync": ["EIO", "ENOSPC", "EDQUOT"],
    "fdatasync": ["EIO", "ENOSPC", "EDQUOT"],
    "ftruncate": ["EIO", "EINTR", "EPERM"],
    "close": ["EIO", "EINTR", "ENOSPC"],
    "flock": ["EINTR", "ENOLCK", "EAGAIN"],
    "fcntl": ["EACCES", "EAGAIN", "EINTR", "EDEADLK", "EMFILE", "ENOLCK"],
    "poll": ["EINTR", "ENOMEM"],
    "ppoll": ["EINTR", "ENOMEM"],
    "wait4": ["ECHILD", "EINTR"],
    "waitid": ["ECHILD", "EINTR"],
    "clone": ["EAGAIN", "ENOMEM", "ENOSPC"],
    "clone3": ["EAGAIN", "ENOMEM", "ENOSPC"],
    "fork": ["EAGAIN", "ENOMEM"],
    "vfork": ["EAGAIN", "ENOMEM"],
    "pidfd_open": ["EMFILE", "ENFILE", "ENOMEM", "ESRCH"],
    "pidfd_send_signal": ["EPERM", "ESRCH"],
    "kill": ["EPERM", "ESRCH"],
    "signalfd4": ["EMFILE", "ENFILE", "ENOMEM", "ENODEV"],
    "pipe2": ["EMFILE", "ENFILE"],
    # The man page lists EINTR (from closing the old descriptor); Linux's dup2 ignores
    # that close's result, so it never returns EINTR.
    "dup2": ["EBUSY", "EMFILE"],
    "dup3": ["EBUSY", "EMFILE"],
    "socket": ["EACCES", "EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"],
    "socketpair": ["EMFILE", "ENFILE", "ENOMEM"],
    "bind": ["EACCES", "EADDRINUSE", "ENOMEM", "EROFS"],
    "connect": ["EACCES", "EAGAIN", "ECONNREFUSED", "EINTR", "ENOENT"],
    "sendmsg": ["EAGAIN", "ECONNREFUSED", "EINTR", "ENOBUFS", "ENOMEM"],
    "sendto": ["EAGAIN", "ECONNREFUSED", "EINTR", "ENOBUFS", "ENOMEM"],
    "recvmsg": ["EAGAIN", "EINTR", "ENOMEM"],
    "recvfrom": ["EAGAIN", "EINTR", "ENOMEM"],
    "unlink": ["EACCES", "EBUSY", "EIO", "ENOMEM", "EPERM", "EROFS"],
    "unlinkat": ["EACCES", "EBUSY", "EIO", "ENOMEM", "EPERM", "EROFS"],
    "rename": ["EACCES", "EBUSY", "EDQUOT", "ENOMEM", "ENOSPC", "EROFS"],
    "renameat": ["EACCES", "EBUSY", "EDQUOT", "ENOMEM", "ENOSPC", "EROFS"],
    "renameat2": ["EACCES", "EBUSY", "EDQUOT", "ENOMEM", "ENOSPC", "EROFS"],
    "mkdir": ["EACCES", "EDQUOT", "ENOMEM", "ENOSPC", "EROFS"],
    "mkdirat": ["EACCES", "EDQUOT", "ENOMEM", "ENOSPC", "EROFS"],
    "rmdir": ["EACCES", "EBUSY", "ENOMEM", "EROFS"],
    "newfstatat": ["EACCES", "ENOMEM", "EOVERFLOW"],
    "statx": ["EACCES", "ENOMEM"],
    "fstat": ["ENOMEM", "EOVERFLOW"],
    "statfs": ["EACCES", "EIO", "ENOMEM", "EINTR"],
    "fstatfs": ["EIO", "ENOMEM", "EINTR"],
    "readlink": ["EACCES", "EIO", "ENOMEM"],
    "readlinkat": ["EACCES", "EIO", "ENOMEM"],
    "getdents64": ["ENOENT"],
    "fchown": ["EIO", "EPERM", "EROFS"],
    "fchmod": ["EIO", "EPERM", "EROFS"],
    "chdir": ["EACCES", "EIO", "ENOMEM"],
    "chroot": ["EACCES", "EIO", "ENOMEM", "EPERM"],
    "setsid": ["EPERM"],
    "setpgid": ["EACCES", "EPERM", "ESRCH"],
    "setgroups": ["ENOMEM", "EPERM"],
    "setresuid": ["EAGAIN", "EPERM"],
    "setresgid": ["EPERM"],
    "prlimit64": ["EPERM"],
    "sigaltstack": ["ENOMEM"],
    "getrandom": ["EAGAIN", "EINTR"],
    "clock_nanosleep": ["EINTR"],
    "nanosleep": ["EINTR"],
    "rt_sigtimedwait": ["EAGAIN", "EINTR"],
    "epoll_create1": ["EMFILE", "ENFILE", "ENOMEM"],
    "epoll_wait": ["EINTR"],
    "epoll_pwait": ["EINTR"],
    "timerfd_create": ["EMFILE", "ENFILE", "ENOMEM"],
    "eventfd2": ["EMFILE", "ENFILE", "ENOMEM"],
    "memfd_create": ["EMFILE", "ENFILE", "ENOMEM"],
    "inotify_init1": ["EMFILE", "ENFILE", "ENOMEM"],
    "close_range": ["ENOMEM"],
}
# fcntl(2): what each command can return (the others only EBADF/EINVAL).
FCNTL = {"F_DUPFD": ["EMFILE"], "F_DUPFD_CLOEXEC": ["EMFILE"],
         "F_SETLK": ["EACCES", "EAGAIN", "ENOLCK"], "F_OFD_SETLK": ["EACCES", "EAGAIN", "ENOLCK"],
         "F_SETLKW": ["EDEADLK", "EINTR", "ENOLCK"], "F_OFD_SETLKW": ["EINTR", "ENOLCK"],
         "F_GETLK": ["ENOLCK"], "F_OFD_GETLK": ["ENOLCK"]}
# The tracer sees numbers: fcntl commands, flock's LOCK_NB, WNOHANG, O_CREAT (x86_64).
FCNTL_CMDS = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL",
              5: "F_GETLK", 6: "F_SETLK", 7: "F_SETLKW", 36: "F_OFD_GETLK", 37: "F_OFD_SETLK",
              38: "F_OFD_SETLKW", 1030: "F_DUPFD_CLOEXEC"}
UNTABLED = set()  # calls met that the table does not know (reported at the end)
TIMEOUT = 20
# The operations that start something (checked by `check_start`); `OP-bg` faults the
# processes that a detached start forks (the middle one and the final one) instead of the
# launcher, through the tracer below.
STARTS = ("run", "runready", "daemon", "runready-bg", "daemon-bg")
DETACHED = {1: "middle", 2: "final"}


def errors_for(name, args=""):
    """The errors to inject into a call of `name` whose arguments, as strace decodes them
    (or the tracer spells them), are `args` (module docs, ERRNOS)."""
    if name in MEMORY or name in NEVER:
        return []
    if name not in ERRNOS:
        UNTABLED.add(name)
        return []
    errs = list(ERRNOS[name])
    if name == "fcntl":
        cmd = next((c for c in sorted(FCNTL, key=len, reverse=True) if c in args), None)
        errs = FCNTL.get(cmd, [])
    elif name == "flock":
        # Only a blocking flock is interrupted; only a non-blocking one would block.
        errs = [e for e in errs if e != ("EINTR" if "LOCK_NB" in args else "EAGAIN")]
    elif name in ("wait4", "waitid") and "WNOHANG" in args:
        errs = [e for e in errs if e != "EINTR"]
    elif name == "openat" and "O_CREAT" not in args:
        errs = [e for e in errs if e not in ("ENOSPC", "EDQUOT")]
    elif name in ("poll", "ppoll") and re.search(r", 0$|\{tv_sec=0, tv_nsec=0\}", args):
        errs = [e for e in errs if e != "EINTR"]  # a zero timeout never sleeps
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
    calls = [(m.group(1), m.group(2)) for line in open(log)
             if (m := re.match(r"([a-z_0-9]+)\((.*)\)\s+=", line))]
    names = [n for n, _ in calls]
    os.unlink(log)
    env.reset()
    # pidward's own code starts after std's runtime set-up (its fd 0-2 check with poll, then
    # the SIGPIPE disposition with rt_sigaction, which std asserts): errors before that test
    # the loader and std, not pidward.
    start = next((i + 1 for i, n in enumerate(names) if n == "rt_sigaction"), 0)
    counts = collections.Counter(names)
    before = collections.Counter(names[:start])
    args = collections.defaultdict(list)  # per name, each call's arguments in order
    for name, text in calls:
        args[name].append(text)
    return counts, before, args


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


def check_start(op, env, pidward, fault, code, err, late=False):
    """The violations of one run of an operation that starts something (module docs). `late`:
    the fault hit a detached process after the launcher had exited (the start was over, so
    the launcher's verdict is not checked against it)."""
    if code is None:
        return [f"hang (> {TIMEOUT} s)"]
    bad = []
    detached, op = op.endswith("-bg"), op.removesuffix("-bg")
    killed = "signal=KILL" in fault  # the launcher was killed
    eintr = "error=EINTR" in fault
    msg = err.strip()[:300]
    if op != "daemon" and (code == 134 or "panicked" in err):
        bad.append(f"abort/panic: {msg!r}")
    if not killed:
        documented = {"run": (0, 125, 126, 127),
                      "runready": (0, 121, 122, 123, 124, 125, 126, 127),
                      "daemon": (0, 1, 121, 125)}[op]
        # A detached process that died before it reported: the launcher exits with its status
        # (its code, or 128+N), as `run` does with the command's (README, exit codes).
        died = detached and "before it reported" in msg
        if code not in documented and not died:
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
    if code == 0 and not holding and not late:
        bad.append("exit 0 but nothing holds F")
    elif code == 0 and not late:
        st = subprocess.run([pidward, "status", env.path], capture_output=True, timeout=10)
        if st.returncode != 0:
            bad.append(f"exit 0 but status says {st.returncode}")
    if code == 121 and not holding and not late:
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
            if code not in (0, 1, 64, 65, 66, 69, 71, 73):
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


def run_traced(op, env, args, depth, k, fault):
    """One start under the tracer (faulting call k of the process at `depth` with `fault`):
    (the launcher's exit code or None for a hang, its stdout, its stderr, whether the fault
    came after the launcher's exit or not at all, the tracer)."""
    report = os.path.join(env.dir, "report")
    if os.path.exists(report):
        os.unlink(report)
    cmd = [sys.executable, os.path.abspath(__file__), "--tracer", str(depth), str(k), fault,
           report, env.mark, "--"] + argv(op.removesuffix("-bg"), args.pidward, env.path,
                                           args.guard)
    out, err = os.path.join(env.dir, "out"), os.path.join(env.dir, "err")
    with open(out, "wb") as o, open(err, "wb") as e:
        tracer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
    deadline = time.monotonic() + TIMEOUT
    lines = []
    while time.monotonic() < deadline:
        lines = open(report).read().split("\n") if os.path.exists(report) else []
        if any(line.startswith("exit ") for line in lines):
            break
        if tracer.poll() is not None:
            break
        time.sleep(0.01)
    done = [i for i, line in enumerate(lines) if line.startswith("exit ")]
    code = int(lines[done[0]].split()[1]) if done else None
    fired = [i for i, line in enumerate(lines) if line.startswith("fault")]
    # The start was over when the fault came: the launcher had exited, or the final process
    # had written its report (what happens to it later cannot change the launcher's verdict).
    over = [i for i, line in enumerate(lines) if line == "reported"] + done
    late = not fired or (bool(over) and fired[0] > min(over))
    text = lambda path: open(path, "rb").read().decode(errors="replace")
    return code, text(out), text(err), late, tracer, [lines[i] for i in fired]


def end_tracer(tracer):
    """Waits for the tracer to see its last process go; kills it (detaching all) if it does
    not."""
    try:
        tracer.wait(timeout=15)
    except subprocess.TimeoutExpired:
        tracer.kill()
        tracer.wait()


def sweep_detached(op, args, rng):
    """The sweep of `OP-bg`: every call of the middle and the final process of a detached
    start, killed or failed (module docs)."""
    env = Env(op, args.guard, args.pidward)
    try:
        # One start traced and stopped again (its stop is part of the final process's life):
        # the calls of each process, in order.
        for _ in range(3):  # a loaded machine may make a traced start time out
            code, _, err, _, tracer, _ = run_traced(op, env, args, 0, 0, "count")
            env.reset()
            end_tracer(tracer)
            if code == 0:
                break
        assert code == 0, f"{op}: the traced start without a fault failed ({code}): {err}"
        names, start = collections.defaultdict(list), None
        spelled = collections.defaultdict(list)
        for line in open(os.path.join(env.dir, "report")):
            depth, _, rest = line.strip().partition(" ")
            name, _, text = rest.partition(" ")
            if depth == "reported":
                start = len(names[2])  # the final process's calls up to its report
            if depth.isdigit() and int(depth) in DETACHED:
                names[int(depth)].append(name)
                spelled[int(depth)].append(text)
        if args.start_only and start is not None:
            names[2] = names[2][:start]
        points = []
        for depth, calls in sorted(names.items()):
            if DETACHED[depth] not in args.roles:
                continue
            after = calls.index(args.after) if args.after in calls else -1 if args.after else 0
            for k, name in enumerate(calls, 1):
                if name in NEVER or k <= after or after < 0 or (args.calls and
                                                                 name not in args.calls):
                    continue
                if "kill" in args.faults:
                    points.append((depth, k, name, "kill"))
                points += [(depth, k, name, e)
                           for e in errors_for(name, spelled[depth][k - 1])
                           if ("eintr" if e == "EINTR" else "error") in args.faults
                           and (not args.errors or e in args.errors)]
        total = len(points)
        if args.point:
            role, k, fault = args.point.split(":")
            depth = next(d for d, r in DETACHED.items() if r == role)
            name = (names[depth] + ["?"] * int(k))[int(k) - 1]
            points = [(depth, int(k), name, fault)] * args.repeat
        elif args.sample and args.sample < total:
            points = rng.sample(points, args.sample)
        outcomes, violations = collections.Counter(), []
        for depth, k, name, fault in points:
            code, _, err, late, tracer, hit = run_traced(op, env, args, depth, k, fault)
            outcomes["hang" if code is None else code] += 1
            what = f"{DETACHED[depth]} call {k} ({name}): " + (
                "kill" if fault == "kill" else f"error={fault}")
            if code is None:
                tracer.kill()
            found = check_start(op, env, args.pidward, what, code, err, late)
            env.reset()
            end_tracer(tracer)
            # The call faulted (and its descriptor's path), once the tracer is done.
            hit = [line for line in open(os.path.join(env.dir, "report")).read().split("\n")
                   if line.startswith("fault")]
            at = f" ({hit[0]}{', after the launcher exited' if late else ''})" if hit else ""
            violations += [f"{op} [{what}{at}]: {v}" for v in found]
        return total, len(points), outcomes, violations, {
            DETACHED[d]: len(c) for d, c in sorted(names.items())}
    finally:
        env.close()


def sweep(op, args, rng):
    if op.endswith("-bg"):
        return sweep_detached(op, args, rng)
    env = Env(op, args.guard, args.pidward)
    try:
        counts, before, call_args = enumerate_calls(op, env, args.pidward)
        points = []
        for name, n in sorted(counts.items()):
            if name in NEVER:
                continue
            for k in range(1, n + 1):
                if "kill" in args.faults:
                    points.append(f"{name}:signal=KILL:when={k}")
                if k > before[name]:
                    text = (call_args[name] + [""] * k)[k - 1]
                    points += [f"{name}:error={e}:when={k}" for e in errors_for(name, text)
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
        return total, len(points), outcomes, violations, None
    finally:
        env.close()


# ---- A ptrace tracer of its own: faults in the processes a detached start forks ----------
#
# strace counts `when=k` per call name and per process, and with -f it would fault every
# process at once. The tracer below follows every process of a start (PTRACE_SEIZE with
# fork/vfork/clone/exec events), numbers each process by its depth in the tree (0 the
# launcher, 1 the middle process of the double fork, 2 the final process, 3+ the command)
# and counts its system calls; at the k-th call of the process of the chosen depth it
# either kills it (SIGKILL at the call's entry, so the call does not happen) or fails the
# call with an errno (the call is skipped: orig_rax = -1 at entry, rax = -errno at exit).
# It writes `fault CALL PATH` to its report file when the fault fires, `reported` once the
# final process has written its success report to the status pipe (a message `O`, `R` or
# `X`: daemon/report.rs) and `exit CODE` when the launcher ends, then goes on serving the
# other processes until none is left (they run normally while the sweep checks them, and are
# never left stopped).


PTRACE_SYSCALL, PTRACE_GETREGS, PTRACE_SETREGS = 24, 12, 13
PTRACE_GETEVENTMSG, PTRACE_SEIZE = 0x4201, 0x4206
OPT_SYSGOOD, OPT_FORK, OPT_VFORK, OPT_CLONE, OPT_EXEC = 1, 2, 4, 8, 16
EV_FORK, EV_VFORK, EV_CLONE, EV_EXEC, EV_STOP = 1, 2, 3, 4, 128
WALL = 0x40000000
ORIG_RAX, RAX, RSI, RDI = 15, 10, 13, 14  # indices in struct user_regs_struct (x86_64)
RDX, R10 = 12, 7


def spell(pt, tid, name):
    """The arguments of the call `tid` is entering that `errors_for` looks at, spelled as
    strace would: the fcntl command, LOCK_NB, WNOHANG, O_CREAT."""
    if name == "fcntl":
        return FCNTL_CMDS.get(pt.get(tid, RSI), "")
    if name == "flock":
        return "LOCK_NB" if pt.get(tid, RSI) & 4 else ""
    if name == "wait4":
        return "WNOHANG" if pt.get(tid, RDX) & 1 else ""
    if name == "waitid":
        return "WNOHANG" if pt.get(tid, R10) & 1 else ""
    if name == "openat":
        return "O_CREAT" if pt.get(tid, RDX) & 0o100 else ""
    return ""
ROLES = {0: "launcher", 1: "middle", 2: "final"}


def syscall_names():
    """x86_64 system call numbers to names, from the kernel headers."""
    names = {}
    try:
        for line in open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"):
            if m := re.match(r"#define __NR_(\w+) (\d+)", line):
                names[int(m.group(2))] = m.group(1)
    except OSError:
        pass
    return names


def fd_path(tid, fd):
    """What descriptor `fd` of `tid` names (for a call's first argument), or "-"."""
    try:
        return os.readlink(f"/proc/{tid}/fd/{fd}")
    except (OSError, ValueError):
        return "-"


def peek(tid, addr):
    """The byte at `addr` in `tid`'s memory, or b"?"."""
    try:
        with open(f"/proc/{tid}/mem", "rb", buffering=0) as mem:
            mem.seek(addr)
            return mem.read(1) or b"?"
    except (OSError, ValueError, OverflowError):
        return b"?"


class Ptrace:
    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.restype = ctypes.c_long
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                                     ctypes.c_void_p]

    def __call__(self, req, pid, addr=0, data=0):
        r = self.libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
        if r == -1:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r

    def regs(self, pid):
        buf = ctypes.create_string_buffer(27 * 8)
        self(PTRACE_GETREGS, pid, 0, ctypes.addressof(buf))
        return buf

    def get(self, pid, index):
        return struct.unpack_from("q", self.regs(pid), index * 8)[0]

    def set(self, pid, index, value):
        buf = self.regs(pid)
        struct.pack_into("q", buf, index * 8, value)
        self(PTRACE_SETREGS, pid, 0, ctypes.addressof(buf))

    def event_msg(self, pid):
        out = ctypes.c_ulong()
        self(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(out))
        return out.value


def tracer_main(depth, k, fault, report, mark, cmd):
    """`fault_sweep.py --tracer DEPTH K FAULT REPORT MARK -- CMD...`: runs CMD (with the
    marker MARK=VALUE in its environment) and faults the k-th call of the process at DEPTH
    (FAULT: kill, or an errno name such as EIO; or count: every process's calls are written
    to REPORT as `DEPTH NAME` lines, and nothing is faulted). Threads other than a process's
    first are followed but neither counted nor faulted."""
    pt = Ptrace()
    names = syscall_names()
    report = open(report, "w", buffering=1)
    key, value = mark.split("=", 1)
    env = dict(os.environ, **{key: value})
    root = os.fork()
    if root == 0:
        os.kill(os.getpid(), signal.SIGSTOP)
        os.execve(cmd[0], cmd, env)
    os.waitpid(root, os.WUNTRACED)
    pt(PTRACE_SEIZE, root, 0, OPT_SYSGOOD | OPT_FORK | OPT_VFORK | OPT_CLONE | OPT_EXEC)
    os.kill(root, signal.SIGCONT)
    # Per thread: its depth, its calls so far, whether it is inside a call, and the errno to
    # put in the result of the call it is in (an injected error).
    depth_of, calls, insys, fail = {root: 0}, {root: None}, {root: False}, {}
    early = set()  # stops of new threads reported before their parent's event
    errno = 0 if fault in ("kill", "count") else getattr(__import__("errno"), fault)
    fired = reported = False
    writing = {}  # the final process is in a write(2) to a pipe: its report to the launcher

    def resume(tid, sig=0):
        try:
            pt(PTRACE_SYSCALL, tid, 0, sig)
        except OSError:
            pass  # killed in the meantime

    while depth_of:
        try:
            tid, status = os.waitpid(-1, WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            if tid == root:
                code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                        else 128 + os.WTERMSIG(status))
                report.write(f"exit {code}\n")
            for d in (depth_of, calls, insys, fail):
                d.pop(tid, None)
            continue
        if not os.WIFSTOPPED(status):
            continue
        sig, event = os.WSTOPSIG(status), status >> 16
        if tid not in depth_of:
            early.add(tid)
            continue
        if sig == signal.SIGTRAP | 0x80:
            if not insys[tid]:
                insys[tid] = True
                if depth_of[tid] == 2 and not reported and calls[tid] is not None:
                    nr, fd = pt.get(tid, ORIG_RAX), pt.get(tid, RDI)
                    if (names.get(nr) == "write" and fd_path(tid, fd).startswith("pipe:")
                            and peek(tid, pt.get(tid, RSI)) in b"ORX"):
                        writing[tid] = True
                if calls[tid] is not None:
                    calls[tid] += 1
                    if fault == "count":
                        name = names.get(pt.get(tid, ORIG_RAX), '?')
                        report.write(f"{depth_of[tid]} {name} {spell(pt, tid, name)}\n")
                    elif depth_of[tid] == depth and calls[tid] == k and not fired:
                        fired = True
                        report.write(f"fault {names.get(pt.get(tid, ORIG_RAX), '?')} "
                                     f"{fd_path(tid, pt.get(tid, RDI))}\n")
                        if fault == "kill":
                            os.kill(tid, signal.SIGKILL)
                        else:
                            pt.set(tid, ORIG_RAX, -1)
                            fail[tid] = errno
            else:
                insys[tid] = False
                if tid in fail:
                    pt.set(tid, RAX, -fail.pop(tid))
                if writing.pop(tid, False) and pt.get(tid, RAX) > 0:
                    reported = True  # the final process's report is on its way
                    report.write("reported\n")
            resume(tid)
        elif sig == signal.SIGTRAP and event in (EV_FORK, EV_VFORK, EV_CLONE):
            new = pt.event_msg(tid)
            thread = event == EV_CLONE and os.path.exists(f"/proc/{tid}/task/{new}")
            depth_of[new] = depth_of[tid] + (0 if thread else 1)
            calls[new], insys[new] = (None if thread else 0), False
            if new in early:
                early.discard(new)
                resume(new)
            resume(tid)
        elif sig == signal.SIGTRAP and event == EV_EXEC:
            if tid == root and calls[tid] is None:
                calls[tid] = 0  # the launcher's calls count from its own program on
            insys[tid] = True  # the next stop is execve's return
            resume(tid)
        elif event == EV_STOP:
            resume(tid)  # the first stop of a new process (or a group stop, not used here)
        else:
            resume(tid, sig)  # a signal, delivered as it came
    report.close()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "target", "debug")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", default="status,stop,lock,pidfile,lockfile")
    ap.add_argument("--faults", default="kill,error,eintr",
                    help="kill: SIGKILL at the call; error: EIO, ENOMEM...; eintr: EINTR")
    ap.add_argument("--sample", type=int, default=0, help="runs per operation (0: all)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--calls", default="", help="OP-bg: only calls of these names")
    ap.add_argument("--after", default="",
                    help="OP-bg: only calls after a process's first call of this name")
    ap.add_argument("--errors", default="", help="OP-bg: only these errors (EIO,...)")
    ap.add_argument("--roles", default="middle,final", help="OP-bg: the processes faulted")
    ap.add_argument("--start-only", action="store_true",
                    help="OP-bg: only the final process's calls up to its report")
    ap.add_argument("--point", default="",
                    help="OP-bg: replay one point, ROLE:K:FAULT (final:177:EIO, middle:3:kill)")
    ap.add_argument("--repeat", type=int, default=1, help="with --point: runs")
    ap.add_argument("--pidward", default=os.path.join(target, "pidward"))
    ap.add_argument("--guard", default=os.path.join(target, "pidward-test-guard"))
    args = ap.parse_args()
    args.pidward, args.guard = os.path.abspath(args.pidward), os.path.abspath(args.guard)
    args.faults = set(args.faults.split(","))
    args.calls, args.errors = set(filter(None, args.calls.split(","))), set(
        filter(None, args.errors.split(",")))
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}")
    failed = False
    for op in args.ops.split(","):
        total, ran, outcomes, violations, calls = sweep(op, args, rng)
        shown = ", ".join(f"exit {c}: {n}" for c, n in sorted(outcomes.items(), key=str))
        per = f" (calls: {', '.join(f'{r} {n}' for r, n in calls.items())})" if calls else ""
        print(f"{op}: {total} points{per}, {ran} runs ({shown}), "
              f"{len(violations)} violations")
        for v in violations:
            print("  " + v)
        failed |= bool(violations)
    if UNTABLED:
        print(f"calls with no error table (killed only): {', '.join(sorted(UNTABLED))}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.argv[1:2] == ["--tracer"]:
        d, n, f, rep, m = sys.argv[2:7]
        assert sys.argv[7] == "--"
        tracer_main(int(d), int(n), f, rep, m, sys.argv[8:])
    else:
        main()
