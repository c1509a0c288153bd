#!/usr/bin/env python3
"""tini's own checks (its test/run_inner_tests.py), one case at a time, against the `tini`
wrapper of bench/peer-suites.sh (which runs `pidward run`). tini's runner stops at the first
failed assertion; here every case runs and is reported, with tini's own stage scripts from the
checkout. Cases of features pidward leaves out on purpose are reported as SKIP with the reason.

    tini_checks.py TINI_CHECKOUT WRAPPER_DIR
"""
import ctypes
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time

import bitmap
import psutil

SRC, BIN = sys.argv[1], sys.argv[2]
TINI = os.path.join(BIN, "tini")
DEVNULL = open(os.devnull, "wb")
REMAP = os.environ.get("PIDWARD_REMAP_EXIT") == "1"
results = []


def busy_wait(cond, timeout):
    for _ in range(100):
        if cond():
            return
        time.sleep(timeout / 100)
    raise AssertionError("condition was never met")


def case(name, skip=None):
    def wrap(fn):
        if skip:
            results.append(("SKIP", name, skip))
            return fn
        try:
            fn()
            results.append(("PASS", name, ""))
        except Exception as e:  # an assertion or a timeout: the case failed
            results.append(("FAIL", name, str(e).splitlines()[0] if str(e) else type(e).__name__))
        return fn
    return wrap


# tini's subreaper-proxy.py, with ctypes instead of the prctl module.
PROXY = os.path.join(BIN, "subreaper-proxy")
with open(PROXY, "w") as f:
    f.write(
        "#!/usr/bin/env python3\nimport ctypes, os, sys\n"
        "ctypes.CDLL(None).prctl(36, 1)\nos.execv(sys.argv[1], sys.argv[1:])\n"
    )
os.chmod(PROXY, 0o755)


@case("exit codes: -e CODE makes CODE a success (0..255)",
      skip=None if REMAP else "--remap-exit is not in this pidward yet")
def exit_codes():
    for code in range(256):
        ret = subprocess.call([TINI, "-e", str(code), "--", "sh", "-c", "exit %d" % code],
                              stdout=DEVNULL, stderr=DEVNULL)
        assert ret == 0, "inclusive: exit %d gave %d" % (code, ret)
        others = list(itertools.chain(*[["-e", str(x)] for x in range(256) if x != code]))
        ret = subprocess.call([TINI] + others + ["--", "sh", "-c", "exit %d" % code],
                              stdout=DEVNULL, stderr=DEVNULL)
        assert ret == code, "exclusive: exit %d gave %d" % (code, ret)


for label, target, env in [
    ("under a subreaper proxy", [PROXY, TINI], {}),
    ("-s", [TINI, "-s"], {}),
    ("TINI_SUBREAPER", [TINI], {"TINI_SUBREAPER": ""}),
]:
    @case("reaping (%s)" % label)
    def reaping(target=target, env=env):
        p = subprocess.Popen(target + [os.path.join(SRC, "test", "reaping", "stage_1.py")],
                             env=dict(os.environ, **env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, "exit %s: %s %s" % (p.returncode, out[-200:], err[-200:])

    @case("reaping display -w (%s)" % label,
          skip="a message text ('Reaped zombie process'): pidward has no verbose mode")
    def reaping_display():
        pass

    for signum in [signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2]:
        @case("signal %s forwarded (%s)" % (signal.Signals(signum).name, label))
        def signals(target=target, env=env, signum=signum):
            p = subprocess.Popen(target + [os.path.join(SRC, "test", "signals", "test.py")],
                                 env=dict(os.environ, **env))
            busy_wait(lambda: len(psutil.Process(p.pid).children(recursive=True)) > 1, 10)
            p.send_signal(signum)
            ret = p.wait(timeout=30)
            assert ret == 128 + signum, "exit %d, expected %d" % (ret, 128 + signum)


for label, args, env in [
    ("-g", ["-g"], {}),
    ("TINI_KILL_PROCESS_GROUP", [], {"TINI_KILL_PROCESS_GROUP": "1"}),
]:
    @case("process group (%s)" % label)
    def pgroup(args=args, env=env):
        p = subprocess.Popen([TINI] + args + [os.path.join(SRC, "test", "pgroup", "stage_1.py")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, **env), universal_newlines=True)
        busy_wait(lambda: len(psutil.Process(p.pid).children(recursive=True)) == 2, 10)
        p.send_signal(signal.SIGUSR1)
        busy_wait(lambda: p.poll() is not None, 10)


@case("zombie reaping failure warning",
      skip="tini's own CLI: pidward is always a subreaper, so there is nothing to warn about")
def warning():
    pass


@case("signal configuration restored for the child (sigconf)")
def sigconf():
    p = subprocess.Popen([os.path.join(BIN, "sigconf-test"), TINI, "cat", "/proc/self/status"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    out, _ = p.communicate(timeout=30)
    props = dict((k.strip(), v.strip()) for k, v in
                 (line.split(":", 1) for line in out.splitlines() if ":" in line))
    props = dict((k, bitmap.BitMap.fromstring(bin(int(props[k], 16))[2:].zfill(32)))
                 for k in ["SigBlk", "SigIgn"])
    for name, nums in [("SigIgn", [signal.SIGTTOU, signal.SIGSEGV, signal.SIGINT]),
                       ("SigBlk", [signal.SIGTTIN, signal.SIGILL, signal.SIGTERM])]:
        missing = [signal.Signals(n).name for n in nums if (n - 1) not in props[name].nonzero()]
        assert not missing, "%s missing in the child's %s" % (", ".join(missing), name)


@case("parent death signal -p SIGUSR1")
def pdeath():
    with tempfile.NamedTemporaryFile() as f:
        subprocess.call([os.path.join(SRC, "test", "pdeathsignal", "stage_1.py"), TINI, f.name],
                        stdout=DEVNULL, stderr=DEVNULL)
        busy_wait(lambda: open(f.name).read() == "ok", 10)


counts = {}
for outcome, name, why in results:
    counts[outcome] = counts.get(outcome, 0) + 1
    print("%-4s %s%s" % (outcome, name, " -- " + why if why else ""))
print("tini: %d passed, %d failed, %d skipped" %
      (counts.get("PASS", 0), counts.get("FAIL", 0), counts.get("SKIP", 0)))
sys.exit(1 if counts.get("FAIL") else 0)
