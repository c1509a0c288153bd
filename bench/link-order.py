#!/usr/bin/env python3
"""The functions a supervising `pidward run`, `pidward lock` and `pidward status` execute, as a
linker script that puts their code first and together in `.text` (link/hot-text.ld).

Why: a supervisor's own resident memory follows the layout of its code, not just its amount.
The binary is in the page cache, so every page fault on its text maps the 64 kB around it
(the kernel's fault-around); code that runs once at start-up and code that runs for the whole
life of the supervisor, scattered over the 1.8 MB text segment, keep most of it resident.
With the functions that run placed first, one after another, the faults land in a few
windows.

How the functions are found: a small tracer of its own, on ptrace. The program is started
under PTRACE_TRACEME; at its exec stop, before the loader runs, an `int3` is written at the
entry of every function in the binary's symbol table (through /proc/PID/mem). The first time
a function runs it traps; the tracer records it, puts the original byte back and lets the
process go on, so each function costs one stop, and the order of the records is the order in
which the functions first ran. Children are followed (fork, vfork, clone) until they exec;
a forked child has breakpoints of its own, a vforked child or a thread shares its parent's.
Signals are passed on as they come.

Why not the other tools here: `perf record` samples, so it misses the many short functions
that run once (argument parsing, set-up), which are exactly the ones fault-around makes
expensive; callgrind sees every function but runs the program on a synthetic CPU, under which
`pidward run` can fail before it forks (valgrind refuses some of its sigaction calls), so its
list would describe a failed run. gdb with a breakpoint on every function is the same method
as this one, thousands of times slower to set up.

The script: one input section description per function, in the order found (a supervising
`run` first, its standard streams on /dev/null, then with `-l none`, with a PID file and
TERM, and with its streams inherited, then what `lock` adds, then `status`, then `run
--exec`, with no PID file and then with the stale one it left), so
the linker places them in that order. Rust names a function's section `.text.<mangled name>`; the hash at the end of a
legacy-mangled name (`17h<16 hex digits>E`), the crate disambiguators of a v0-mangled one
(`Cs<base-62>_`, std's names) and LLVM's `.llvm.<n>` suffix are replaced by `*`, so the
script keeps matching after a rebuild or another toolchain changes the hashes (and matches
every instantiation of a generic function with that path: a few more than needed). The output
section is `.text` with `INSERT`: the script adds to the linker's default layout instead of
replacing it, and every other `.text.*` section follows the hot ones. It also moves `.fini`
and `.plt` next to `.init` and the C start files' code first, which every process runs.

The script also has a `.rodata` section, for the same reason: the merged constants, the
named read-only objects the traced runs read (the runs again, under valgrind's lackey, which
logs every load; skipped with a note if valgrind is missing), the jump tables of the hot
functions, every switch table, the C strings and the anonymous constants, ahead of the rest.
Anonymous constants (string literals) are not named one by one: their names carry a hash that
changes with any edit of their crate.

Usage (from the repository, after `cargo build --release`):

  bench/link-order.py              trace target/release/pidward, write link/hot-text.ld
  bench/link-order.py --check      trace again and report how many of the functions that ran
                                   lie outside the hot range at the start of .text (exit 1 if
                                   any); the script is left as it is
  bench/link-order.py --update     keep the script's order, add what ran that it lacks
  --bin PATH                       another pidward binary; given more than once (the default
                                   build and `--all-features`, which bench/compare.sh
                                   measures), the script covers the instances of each
  --out PATH                       another script path
"""

import argparse
import bisect
import ctypes
import fnmatch
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_DETACH = 17
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_O_TRACEFORK = 0x02
PTRACE_O_TRACEVFORK = 0x04
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_EXITKILL = 0x100000
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC = 1, 2, 3, 4
__WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


class Regs(ctypes.Structure):
    """struct user_regs_struct (x86_64)."""

    _fields_ = [
        (n, ctypes.c_ulonglong)
        for n in "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax "
        "rip cs eflags rsp ss fs_base gs_base ds es fs gs".split()
    ]


def ptrace(req, pid, addr=0, data=0):
    r = libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({req}, {pid}): {os.strerror(e)}")
    return r


def functions(binary):
    """{address: [names]} of the binary's defined functions (nm), and the first PT_LOAD's
    virtual address."""
    out = subprocess.run(
        ["nm", "--defined-only", "-S", binary], check=True, capture_output=True, text=True
    ).stdout
    funcs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[2] not in "tTW" or int(parts[1], 16) == 0:
            continue
        funcs.setdefault(int(parts[0], 16), []).append(parts[3])
    loads = subprocess.run(
        ["readelf", "-lW", binary], check=True, capture_output=True, text=True
    ).stdout
    first = min(int(l.split()[2], 16) for l in loads.splitlines() if l.strip().startswith("LOAD"))
    return funcs, first


def text_range(binary):
    """The virtual address range of the binary's .text section."""
    out = subprocess.run(
        ["readelf", "-SW", binary], check=True, capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".text":
            return int(f[3], 16), int(f[3], 16) + int(f[5], 16)
    raise SystemExit(f"{binary} has no .text section")


class Space:
    """One address space: the breakpoints still armed in it, address -> original byte."""

    def __init__(self, armed):
        self.armed = armed


def trace(binary, argv, funcs, first_vaddr, on_start=None, quiet=True):
    """Run argv (argv[0] is the binary) under the tracer, its standard streams on /dev/null
    unless not `quiet`; the functions hit, in order."""
    binary = os.path.realpath(binary)
    pid = os.fork()
    if pid == 0:
        try:
            if quiet:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
            ptrace(PTRACE_TRACEME, 0)
            os.execv(binary, argv)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, __WALL)
    assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGTRAP, status
    ptrace(PTRACE_SETOPTIONS, pid, 0,
           PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)
    base = None
    with open(f"/proc/{pid}/maps") as m:
        for line in m:
            f = line.split()
            if len(f) >= 6 and f[5] == binary and int(f[2], 16) == 0:
                base = int(f[0].split("-")[0], 16) - (first_vaddr & ~0xFFF)
                break
    assert base is not None, f"{binary} is not mapped in {pid}"
    fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
    armed = {}
    for addr in funcs:
        a = base + addr
        armed[a] = os.pread(fd, 1, a)
        os.pwrite(fd, b"\xcc", a)
    os.close(fd)
    spaces = {pid: Space(armed)}
    hits = []
    pending = set()  # new tracees whose first stop came before their parent's event
    if on_start:
        on_start(pid)
    ptrace(PTRACE_CONT, pid)
    regs = Regs()
    while spaces:
        try:
            p, status = os.waitpid(-1, __WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            spaces.pop(p, None)
            continue
        if not os.WIFSTOPPED(status):
            continue
        sig = os.WSTOPSIG(status)
        event = status >> 16
        if p not in spaces:
            pending.add(p)
            continue
        deliver = 0
        if event in (EVENT_FORK, EVENT_VFORK, EVENT_CLONE):
            msg = ctypes.c_ulong()
            ptrace(PTRACE_GETEVENTMSG, p, 0, ctypes.addressof(msg))
            child = msg.value
            sp = spaces[p]
            spaces[child] = Space(dict(sp.armed)) if event == EVENT_FORK else sp
            if child in pending:
                pending.discard(child)
                ptrace(PTRACE_CONT, child)
            else:
                pending.add(-child)  # its first stop is the initial SIGSTOP: swallow it
        elif event == EVENT_EXEC:
            # A child (or the program itself) became another program: nothing of ours runs.
            spaces.pop(p)
            ptrace(PTRACE_DETACH, p)
            continue
        elif event:
            pass
        elif -p in pending and sig == signal.SIGSTOP:
            pending.discard(-p)
        elif sig == signal.SIGTRAP:
            ptrace(PTRACE_GETREGS, p, 0, ctypes.addressof(regs))
            a = regs.rip - 1
            sp = spaces[p]
            if a in sp.armed:
                with open(f"/proc/{p}/mem", "r+b", buffering=0) as mem:
                    mem.seek(a)
                    mem.write(sp.armed.pop(a))
                regs.rip = a
                ptrace(PTRACE_SETREGS, p, 0, ctypes.addressof(regs))
                hits.append(a - base)
            else:
                deliver = sig
        else:
            deliver = sig
        ptrace(PTRACE_CONT, p, 0, deliver)
    return hits


def pattern(name):
    """The section name pattern of a function: hash suffixes as wildcards."""
    name = re.sub(r"\.llvm\.\d+$", "", name)
    name = re.sub(r"17h[0-9a-f]{16}E$", "17h*E", name)
    if name.startswith("_R"):
        # v0 mangling (std's): a crate is `C`, `s<disambiguator>_`, its name.
        name = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", name)
    return ".text." + name


def scenarios(bin_path, tmp):
    """(label, argv, on_start, quiet) of the traced runs: each with its standard streams on
    /dev/null (as bench/compare.sh and hyperfine run them, and as a service's often are),
    and a supervisor again with them inherited (a terminal or a pipe: its lifecycle log
    writes there)."""
    pidfile = os.path.join(tmp, "run.pid")
    lockfile = os.path.join(tmp, "lock")
    statusfile = os.path.join(tmp, "status.pid")

    def term_later(pid):
        # A supervisor is stopped with TERM, which it forwards: that path runs too.
        subprocess.Popen(["sh", "-c", f"sleep 1.5; kill -TERM {pid}"])

    yield "run -- sleep (exits)", [bin_path, "run", "--", "sleep", "0.5"], None, True
    yield "run -l none -- true", [bin_path, "run", "-l", "none", "--", "true"], None, True
    yield ("run -p F -- sleep (TERM)", [bin_path, "run", "-p", pidfile, "--", "sleep", "5"],
           term_later, True)
    yield ("run -- sleep (exits; streams inherited)", [bin_path, "run", "--", "sleep", "0.5"],
           None, False)
    yield "lock F true", [bin_path, "lock", lockfile, "true"], None, True
    holder = subprocess.Popen([bin_path, "run", "-p", statusfile, "--", "sleep", "30"])
    try:
        for _ in range(100):
            if os.path.exists(statusfile) and os.path.getsize(statusfile) > 0:
                break
            time.sleep(0.05)
        yield "status F", [bin_path, "status", statusfile], None, True
    finally:
        holder.terminate()
        holder.wait()
    execfile = os.path.join(tmp, "exec.pid")
    yield ("run --exec -p F -- true", [bin_path, "run", "--exec", "-p", execfile, "--", "true"],
           None, True)
    # The same again, as cron does it: the file is there, stale (its process has exited).
    yield ("run --exec -p F -- true (stale F)",
           [bin_path, "run", "--exec", "-p", execfile, "--", "true"], None, True)


# Functions of the C start files (crt1.o, crtbegin.o), in their plain `.text`: no section to
# name; the script places those files' .text first.
NO_SECTION = {"_start", "deregister_tm_clones", "register_tm_clones", "__do_global_dtors_aux",
              "frame_dummy"}


def hot_order(bin_path):
    funcs, first = functions(bin_path)
    order, seen = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for label, argv, on_start, quiet in scenarios(bin_path, tmp):
            hits = trace(bin_path, argv, funcs, first, on_start, quiet)
            new = [a for a in hits if a not in seen and not NO_SECTION & set(funcs[a])]
            seen.update(new)
            order.extend(new)
            print(f"{label}: {len(hits)} functions ran, {len(new)} not seen before",
                  file=sys.stderr)
    return funcs, order


def hot_objects(bin_path):
    """The named read-only objects (statics: lookup tables, digit tables) that the traced runs
    read, as section patterns, in the order first read; under valgrind's lackey, which logs
    every load. Anonymous constants (literals) have names that change with any edit of their
    crate, so they are not named (see write_script). Empty, with a note, without valgrind."""
    if subprocess.run(["sh", "-c", "command -v valgrind"], capture_output=True).returncode:
        print("valgrind is not installed: no named read-only objects", file=sys.stderr)
        return []
    exe = os.path.realpath(bin_path)
    entry = int(re.search(r"Entry point address:\s+(0x[0-9a-f]+)", subprocess.run(
        ["readelf", "-hW", exe], check=True, capture_output=True, text=True).stdout).group(1), 16)
    objects = []
    for line in subprocess.run(["nm", "--defined-only", "-S", exe], check=True,
                               capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "rR" and int(parts[1], 16):
            objects.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    objects.sort()
    starts = [o[0] for o in objects]
    order, seen = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "lackey.log")
        for label, argv, on_start, _ in scenarios(bin_path, tmp):
            proc = subprocess.Popen(["valgrind", "--tool=lackey", "--trace-mem=yes",
                                     f"--log-file={log}", exe] + argv[1:],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if on_start:
                on_start(proc.pid)
            proc.wait()
            base, new = None, 0
            with open(log) as f:
                for line in f:
                    kind = line[:2]
                    if kind == "I " and base is None:
                        # The first instruction of the program's own is its entry point,
                        # where the loader jumps: valgrind loads a PIE at a low address,
                        # below the loader (at 0x4000000).
                        a = int(line.split()[1].split(",")[0], 16)
                        if a < 0x4000000 and (a - entry) & 0xFFF == 0:
                            base = a - entry
                    elif kind in (" L", " M") and base is not None:
                        a = int(line.split()[1].split(",")[0], 16) - base
                        i = bisect.bisect_right(starts, a) - 1
                        if i >= 0 and a < objects[i][0] + objects[i][1]:
                            name = objects[i][2]
                            if name not in seen:
                                seen.add(name)
                                order.append(name)
                                new += 1
            print(f"{label}: {new} named read-only objects not seen before", file=sys.stderr)
    return [pattern(n).replace(".text.", ".rodata.", 1) for n in order]


TIER2 = "/* Other instances of the generic functions above, after the hot ones. */"


def script_patterns(script):
    """The (hot, generic) section patterns of an existing script, in its order."""
    text = open(script).read()
    hot_part, _, rest = text.partition(TIER2)
    find = lambda part: re.findall(r"^\s*\*\((\.text\.[^)\s]+)", part, re.M)
    return find(hot_part), find(rest)


def write_script(out, traced, keep=None, objects=()):
    """traced: (funcs, order) of each binary traced; the first one's order leads. keep: the
    (hot, generic) patterns of the script to extend (--update): they keep their order, and a
    function that ran which they do not name goes right after the last named one that ran
    before it (so code a supervisor runs stays among the supervisor's, not after `status`'s)."""
    hot, generic = (list(keep[0]), list(keep[1])) if keep else ([], [])
    seen = set(hot) | set(generic)
    for funcs, order in traced:
        at = -1  # where the last function that ran is in `hot`
        place = {q: i for i, q in enumerate(hot)}
        # How many functions of the binary each pattern matches: a generic function's
        # instances differ only in the hash, and most of them do not run.
        count = {}
        for names in funcs.values():
            for n in names:
                count[pattern(n)] = count.get(pattern(n), 0) + 1
        for a in order:
            for name in funcs[a]:
                p = pattern(name)
                if count[p] > 1:
                    # The instance that ran by its exact name (stable while the build's
                    # crates and features are), the others only after every hot function.
                    p, wild = ".text." + name, p
                    if wild not in seen:
                        seen.add(wild)
                        generic.append(wild)
                if p in place:
                    at = place[p]
                elif p not in seen:
                    seen.add(p)
                    at += 1
                    hot.insert(at, p)
                    place = {q: i for i, q in enumerate(hot)}

    def desc(p):
        # A function LLVM thinks cold has its section under .text.unlikely.
        return f"    *({p} {p.replace('.text.', '.text.unlikely.', 1)})"

    body = "\n".join(map(desc, hot)) + "\n    " + TIER2 + "\n" + "\n".join(map(desc, generic))
    # The merged constants, the named read-only objects that ran (hot_objects), the jump
    # tables of the hot functions (a `match` compiled to one has it in `.rodata.<function>`);
    # then what no name tells apart: the lookup tables LLVM makes of a `match`
    # (`.rodata..Lswitch.table.<function>`, 10 kB in all; identical tables are merged and keep
    # one function's name, so another's may be the one a hot function reads), the C strings
    # (fmt's templates among them) and the anonymous constants (string literals). Left to
    # follow them: every other function's jump tables, and the named tables of the
    # dependencies (ring's are 176 kB), which by default came first.
    tables = [f"    *({p.replace('.text.', '.rodata.', 1)})" for p in hot]
    rodata = "\n".join(
        ["    *(.rodata.cst32) *(.rodata.cst16) *(.rodata.cst8) *(.rodata.cst4)"]
        + [f"    *({p})" for p in dict.fromkeys(objects)] + tables
        + ["    *(.rodata..Lswitch.table.*)", "    *(.rodata.str1.1)", "    *(.rodata..Lanon.*)"])
    text = f"""/* The functions a supervising `pidward run`, `lock` and `status` execute, first and
 * together in .text (fewer pages of text resident: docs/benchmarks.md, "Layout of the
 * binary"). Generated by bench/link-order.py from a traced run; regenerate with it, check
 * with `bench/link-order.py --check`. build.rs passes it to release links of the binaries.
 * {len(hot)} functions in the order they first ran, then {len(generic)} patterns.
 *
 * Every process runs `_init` (.init), `_start` and the C start files' `frame_dummy`
 * (crt1.o, crtbegin.o), calls into libc through a few PLT entries (.plt) and ends in `_fini`
 * (.fini): by default .plt and .fini follow the whole of .text, and the start files' code
 * the hot part, each a fault (a 64 kB window) of its own. Here they are all together, first,
 * and at a 64 kB boundary (the file is padded to it, less than 64 kB on disk): fault-around
 * windows are 64 kB-aligned, so the hot part's first window is a whole one, not the end of
 * the one the segment starts in. */
SECTIONS
{{
  .fini ALIGN(0x10000) : {{ KEEP (*(SORT_NONE(.fini))) }}
}}
INSERT AFTER .init;
SECTIONS
{{
  .plt : {{ *(.plt) *(.iplt) }}
}}
INSERT AFTER .fini;
SECTIONS
{{
  .init : {{ KEEP (*(SORT_NONE(.init))) }}
}}
INSERT AFTER .plt;
SECTIONS
{{
  .text : {{
    *crt1.o(.text .text.*)
    *crtbegin*.o(.text .text.*)
{body}
  }}
}}
INSERT AFTER .init;
/* The read-only data those functions read, first in .rodata, so that with the loader's own
 * (the ELF header, the dynamic symbols and relocations) it takes as few windows as it can. */
SECTIONS
{{
  .rodata : {{
{rodata}
  }}
}}
INSERT BEFORE .gcc_except_table;
"""
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out}: {len(hot)} hot sections, {len(generic)} generic patterns",
          file=sys.stderr)


def check(script, funcs, order, text_start, text_end):
    """Report the functions that ran but lie outside the hot range (exit status 1 if any)."""
    text = open(script).read()
    hot_part, _, rest = text.partition(TIER2)
    pats = re.findall(r"\*\((\.text\.[^)\s]+)", hot_part)
    all_pats = pats + re.findall(r"\*\((\.text\.[^)\s]+)", rest)

    def matcher(ps):
        rx = re.compile("|".join(fnmatch.translate(p) for p in ps)) if ps else None
        return {a for a, ns in funcs.items() if rx and any(rx.match(".text." + n) for n in ns)}

    # The start files' functions lead the hot part.
    crt = {a for a, ns in funcs.items() if NO_SECTION & set(ns)}
    matched = matcher(pats) | crt
    in_script = matcher(all_pats) | crt
    # The hot range: as many functions from the start of .text as the hot part matches.
    by_addr = sorted(a for a in funcs if text_start <= a < text_end)
    hot_range = by_addr[: len(matched)]
    ran = set(order)
    outside = sorted(a for a in ran if a not in set(hot_range))
    uncovered = [a for a in ran if a not in in_script]
    size = hot_range[-1] - hot_range[0] if hot_range else 0
    print(f"{len(ran)} functions ran; the script's hot part matches {len(matched)} functions "
          f"({size // 1024} kB from the start of .text);")
    print(f"{len(outside)} of those that ran lie outside that range, "
          f"{len(uncovered)} are not in the script")
    for a in outside[:20]:
        print(f"  out of place: {funcs[a][0]}")
    return 1 if outside else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", action="append",
                    help="a pidward binary (default target/release/pidward); given more than "
                    "once (builds with other features), the script names the generic "
                    "instances of each, the first binary's order leading; --check checks "
                    "the first")
    ap.add_argument("--out", default="link/hot-text.ld")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--update", action="store_true",
                    help="keep the script's order and add, after its hot part, the functions "
                    "that ran and it does not name (a new order can cost more windows than "
                    "it saves: see --check)")
    args = ap.parse_args()
    bins = args.bin or ["target/release/pidward"]
    if args.check:
        funcs, order = hot_order(bins[0])
        sys.exit(check(args.out, funcs, order, *text_range(bins[0])))
    keep = script_patterns(args.out) if args.update else None
    objects = [p for b in bins for p in hot_objects(b)]
    write_script(args.out, [hot_order(b) for b in bins], keep, objects)


if __name__ == "__main__":
    main()
