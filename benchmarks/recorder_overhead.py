#!/usr/bin/env python3
"""Recorder overhead, measured side by side in one run, printed as ratios to untraced.

    sudo .venv/bin/python benchmarks/recorder_overhead.py [--rounds 5] [--count 1000000]

Worst case, a syscall-bound command: ``dd if=/dev/zero of=/dev/null bs=1 count=N`` (two
syscalls per byte). Each configuration's time is dd's own CPU time (user + system, which is
where a BPF program at a syscall tracepoint is paid; ``--metric wall``: dd's report of its
copying time, which also has the time spent waiting for a CPU on a busy machine), so the
recorder's start-up is not counted, only what the traced command pays:

- untraced
- under an empty bcc ``raw_syscalls:sys_enter`` program (the floor of any syscall-tracepoint
  recorder on this kernel)
- under an empty bcc raw ``sys_enter`` program (the floor of a raw-tracepoint recorder)
- under ``sandprint record`` (the traced command itself), and with ``--syscalls-only``
- untraced, beside a running ``sandprint record`` of another command (what other processes
  on the host pay), and beside a ``--syscalls-only`` one
- under bcc's ``syscount`` (system-wide)
- under ``strace -f -c`` (on a 20x smaller count; compared per syscall)

And a realistic workload (``tar czf`` of a source tree) with and without ``sandprint record``,
timed inside the traced shell so start-up is not counted. Rounds are interleaved so noise from
the shared machine hits every configuration alike; medians are reported.

Then the added costs: each configuration's time minus the same round's untraced time, as a
ratio to what the empty raw ``sys_enter`` program adds (the floor), with every round's ratio.
``--quick`` runs only what those ratios need.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDPRINT = [sys.executable, "-m", "sandprint"]
ENV = dict(os.environ, PYTHONPATH=str(REPO))


# dd run by a small wrapper that reports dd's own CPU time (user + system, from wait4): BPF
# programs run in the syscall's context, so what they cost is in it, while the time dd spends
# waiting for a CPU on a shared machine is not (dd's wall-clock report has it: --metric wall).
CPU_WRAPPER = ("import os, sys; p = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ); "
               "_, st, ru = os.wait4(p, 0); "
               "print(f'cpu {ru.ru_utime + ru.ru_stime:.6f} s', file=sys.stderr); "
               "sys.exit(os.waitstatus_to_exitcode(st))")
METRIC = "cpu"


def dd_argv(count: int) -> list[str]:
    """The syscall-bound command itself: two syscalls per byte."""
    return ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"]


def dd_cmd(count: int) -> list[str]:
    dd = dd_argv(count)
    return [sys.executable, "-c", CPU_WRAPPER, *dd] if METRIC == "cpu" else dd


def dd_seconds(stderr: str) -> float:
    pattern = r"^cpu ([0-9.]+) s" if METRIC == "cpu" else r"copied, ([0-9.e+-]+) s"
    m = re.search(pattern, stderr, re.M)
    if not m:
        raise RuntimeError(f"could not read dd's time from: {stderr!r}")
    return float(m.group(1))


def run_dd(prefix: list[str], count: int) -> float:
    p = subprocess.run(prefix + dd_cmd(count), capture_output=True, text=True, env=ENV)
    return dd_seconds(p.stderr)


class Background:
    """A tracer running in the background, ready once ``ready`` shows up (or after a wait)."""

    def __init__(self, argv: list[str], ready: str | None, settle: float = 0.0):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=ENV)
        if ready:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                if ready in line or not line:
                    break
        time.sleep(settle)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


EMPTY_PROG = r"""
from bcc import BPF
import sys, time
b = BPF(text=sys.argv[1])
print("attached", flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:
    pass
"""


# The floor of a recorder that also takes file-syscall results: the empty raw sys_enter
# program plus an empty program on each exit tracepoint sandprint's file stream attaches.
# Once any program sits on a syscall's exit, every task on the host takes the exit
# tracepoint's dispatch at every syscall, whichever syscall it is.
EMPTY_EXITS_PROG = r"""
from bcc import BPF
import sys, time
from sandprint.profiler.fs_events import stream_syscalls
from sandprint.syscalls import native_arch
b = BPF(text="RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }\n"
             "int empty_exit(void *ctx) { return 0; }")
for name in stream_syscalls(native_arch()):
    b.attach_tracepoint(tp=f"syscalls:sys_exit_{name}", fn_name="empty_exit")
print("attached", flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:
    pass
"""


def with_background(argv, ready, fn, settle=0.5):
    bg = Background(argv, ready, settle)
    try:
        return fn()
    finally:
        bg.stop()


# A recorded background command that says when it runs: the recorder is attached by then.
READY = "sandprint-bench-ready"
BG_COMMAND = ["sh", "-c", f"echo {READY}; exec sleep 600"]

EMPTY_TP = "TRACEPOINT_PROBE(raw_syscalls, sys_enter) { return 0; }"
EMPTY_RAW = "RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }"


def sandprint_record_dd(count: int, out: str, *options: str) -> float:
    p = subprocess.run(SANDPRINT + ["record", *options, "-o", out, "--"] + dd_cmd(count),
                       capture_output=True, text=True, env=ENV)
    return dd_seconds(p.stderr)


def dd_wall(prefix: list[str], count: int) -> float:
    """dd's own copying time (strace's cost is in the tracer and the stops, not dd's CPU)."""
    p = subprocess.run(prefix + dd_argv(count), capture_output=True, text=True)
    m = re.search(r"copied, ([0-9.e+-]+) s", p.stderr)
    if not m:
        raise RuntimeError(f"could not read dd's time from: {p.stderr!r}")
    return float(m.group(1))


def strace_per_syscall(count: int) -> float:
    return dd_wall(["strace", "-f", "-c", "-o", "/dev/null"], count) / (2 * count)


def tar_seconds(prefix: list[str], tree: str, outdir: str) -> float:
    script = (f's=$(date +%s%N); tar czf {outdir}/t.tgz -C {os.path.dirname(tree)} '
              f'{os.path.basename(tree)}; e=$(date +%s%N); echo "elapsed $((e-s))" >&2')
    p = subprocess.run(prefix + ["sh", "-c", script], capture_output=True, text=True, env=ENV)
    m = re.search(r"elapsed (\d+)", p.stderr)
    if not m:
        raise RuntimeError(p.stderr)
    return int(m.group(1)) / 1e9


def added(results: dict[str, list[float]], key: str) -> float:
    """Median over rounds of the configuration's time minus the same round's untraced time."""
    return statistics.median(x - u for x, u in zip(results[key], results["untraced"]))


def _sys_enter_stats() -> dict[int, tuple[int, int]]:
    """prog id -> (run_time_ns, run_cnt) of every raw sys_enter program loaded (bpftool)."""
    p = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"bpftool prog show: {p.stderr.strip()}")
    return {d["id"]: (d.get("run_time_ns", 0), d.get("run_cnt", 0)) for d in json.loads(p.stdout)
            if d.get("type") == "raw_tracepoint" and d.get("name") == "sys_enter"}


def _ns_per_run(before: dict, after: dict) -> float:
    """ns per run of the one sys_enter program that ran between the two readings."""
    ran = [(after[i][0] - before.get(i, (0, 0))[0], after[i][1] - before.get(i, (0, 0))[1])
           for i in after if after[i][1] > before.get(i, (0, 0))[1]]
    if len(ran) != 1:
        raise RuntimeError(f"expected one raw sys_enter program to run, saw {len(ran)}")
    t, c = ran[0]
    return t / c


def program_costs(count: int, rounds: int, tmp: str) -> None:
    """The sys_enter programs' own run time per syscall, from the kernel's BPF statistics
    (kernel.bpf_stats_enabled): what each program body costs, with none of the machine's noise
    in dd's CPU time. The kernel's clock reads around each run are in every figure alike, so
    the differences to the empty program are what the recorder's code adds: for an untracked
    process (beside a recording) and for the traced one. Exit dispatch is not a program run
    and is not in these figures (the dd ratios above have it)."""
    knob = Path("/proc/sys/kernel/bpf_stats_enabled")
    old = knob.read_text().strip()
    knob.write_text("1")
    done = "sandprint-bench-done"
    costs: dict[str, list[float]] = {"empty raw sys_enter": [], "sandprint, untracked": [],
                                     "sandprint, traced": []}
    def measure(fn) -> float:
        before = _sys_enter_stats()
        fn()
        return _ns_per_run(before, _sys_enter_stats())

    try:
        for _ in range(rounds):
            costs["empty raw sys_enter"].append(with_background(
                [sys.executable, "-c", EMPTY_PROG, EMPTY_RAW], "attached",
                lambda: measure(lambda: run_dd([], count))))
            costs["sandprint, untracked"].append(with_background(
                SANDPRINT + ["record", "-o", os.path.join(tmp, "bg.json"), "--", *BG_COMMAND],
                READY, lambda: measure(lambda: run_dd([], count))))
            # the traced dd inside a recording: stats read once it is done, before detaching
            dd = " ".join(dd_argv(count))
            before = _sys_enter_stats()
            bg = Background(SANDPRINT + ["record", "-o", os.path.join(tmp, "tr.json"), "--",
                                         "sh", "-c", f"{dd} 2>/dev/null; echo {done}; "
                                                     "exec sleep 600"], done)
            try:
                costs["sandprint, traced"].append(_ns_per_run(before, _sys_enter_stats()))
            finally:
                bg.stop()
    finally:
        knob.write_text(old)
    empty = statistics.median(costs["empty raw sys_enter"])
    print(f"\nsys_enter program run time per syscall (kernel.bpf_stats_enabled, median of "
          f"{rounds}; dd bs=1 count={count})")
    print(f"{'program':<32} {'ns/run':>9} {'over empty':>11}")
    for key, xs in costs.items():
        med = statistics.median(xs)
        print(f"{key:<32} {med:>9.1f} {med - empty:>+10.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true",
                    help="only what the added-cost ratios need: untraced, the empty raw "
                         "sys_enter program, sandprint record, and beside a recording")
    ap.add_argument("--tree", default=os.path.dirname(os.__file__),
                    help="source tree for the realistic workload (default: Python's stdlib)")
    ap.add_argument("--metric", choices=("cpu", "wall"), default="cpu",
                    help="dd's CPU time (default; robust on a shared machine) or the "
                         "copying time dd reports")
    ap.add_argument("--program-costs", action="store_true",
                    help="only the sys_enter programs' own run time per syscall, from the "
                         "kernel's BPF statistics (not the machine's noise)")
    args = ap.parse_args()
    global METRIC
    METRIC = args.metric
    if os.geteuid() != 0:
        print("run as root: the benchmark loads BPF programs", file=sys.stderr)
        return 2
    syscount = shutil.which("syscount-bpfcc") or "/usr/sbin/syscount-bpfcc"
    tmp = tempfile.mkdtemp(prefix="sandprint-bench-")
    out = os.path.join(tmp, "rec.json")
    n = args.count
    if args.program_costs:
        program_costs(n, args.rounds, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    results: dict[str, list[float]] = {k: [] for k in (
        "untraced", "empty bcc sys_enter", "empty bcc raw sys_enter",
        "empty raw sys_enter + exits", "sandprint record",
        "record --syscalls-only", "untraced beside a recording",
        "beside a --syscalls-only one", "bcc syscount", "tar untraced",
        "tar under sandprint record")}
    strace_ratio: list[float] = []
    for r in range(args.rounds):
        results["untraced"].append(run_dd([], n))
        if not args.quick:
            results["empty bcc sys_enter"].append(with_background(
                [sys.executable, "-c", EMPTY_PROG, EMPTY_TP], "attached",
                lambda: run_dd([], n)))
        results["empty bcc raw sys_enter"].append(with_background(
            [sys.executable, "-c", EMPTY_PROG, EMPTY_RAW], "attached", lambda: run_dd([], n)))
        results["empty raw sys_enter + exits"].append(with_background(
            [sys.executable, "-c", EMPTY_EXITS_PROG], "attached", lambda: run_dd([], n)))
        results["sandprint record"].append(sandprint_record_dd(n, out))
        if not args.quick:
            results["record --syscalls-only"].append(
                sandprint_record_dd(n, out, "--syscalls-only"))
        results["untraced beside a recording"].append(with_background(
            SANDPRINT + ["record", "-o", os.path.join(tmp, "bg.json"), "--", *BG_COMMAND],
            READY, lambda: run_dd([], n)))
        if args.quick:
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
            continue
        results["beside a --syscalls-only one"].append(with_background(
            SANDPRINT + ["record", "--syscalls-only", "-o", os.path.join(tmp, "bg.json"), "--",
                         *BG_COMMAND], READY, lambda: run_dd([], n)))
        if os.path.exists(syscount):
            results["bcc syscount"].append(with_background(
                [syscount], "Tracing", lambda: run_dd([], n)))
        if shutil.which("strace"):
            small = max(n // 20, 1000)
            per_untraced = dd_wall([], small) / (2 * small)
            strace_ratio.append(strace_per_syscall(small) / per_untraced)
        results["tar untraced"].append(tar_seconds([], args.tree, tmp))
        results["tar under sandprint record"].append(
            tar_seconds(SANDPRINT + ["record", "-o", out, "--"], args.tree, tmp))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    base = statistics.median(results["untraced"])
    print(f"\nsyscall-bound: dd bs=1 count={n} (median of {args.rounds} rounds, dd's own "
          f"{'CPU time' if METRIC == 'cpu' else 'copying time'})")
    print(f"{'configuration':<32} {'median s':>9} {'ratio':>7}")
    for key in ("untraced", "empty bcc sys_enter", "empty bcc raw sys_enter",
                "empty raw sys_enter + exits", "sandprint record", "record --syscalls-only", "untraced beside a recording",
                "beside a --syscalls-only one", "bcc syscount"):
        if results[key]:
            med = statistics.median(results[key])
            print(f"{key:<32} {med:>9.3f} {med / base:>6.2f}x")
    if strace_ratio:
        print(f"{'strace -f -c (per syscall)':<32} {'':>9} {statistics.median(strace_ratio):>6.0f}x")
    # What the recorder adds, against what the empty raw sys_enter program adds (the floor
    # of any syscall-tracepoint recorder): medians of the per-round differences to untraced,
    # each round's configurations having run side by side.
    floor = added(results, "empty bcc raw sys_enter")
    print(f"\nadded cost per round, over untraced (median of {args.rounds}); "
          "ratio to the empty raw sys_enter program's")
    print(f"{'configuration':<32} {'added s':>9} {'ratio':>7}   per-round ratios")
    for key in ("empty bcc raw sys_enter", "empty raw sys_enter + exits", "sandprint record",
                "untraced beside a recording", "record --syscalls-only",
                "beside a --syscalls-only one"):
        if results[key] and floor > 0:
            a = added(results, key)
            per_round = [(x - u) / (f - u) for x, u, f in zip(
                results[key], results["untraced"], results["empty bcc raw sys_enter"])
                if f - u > 0]
            print(f"{key:<32} {a:>9.3f} {a / floor:>6.2f}x   "
                  + " ".join(f"{x:.2f}" for x in sorted(per_round)))
    if args.quick:
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    tb = statistics.median(results["tar untraced"])
    tr = statistics.median(results["tar under sandprint record"])
    print(f"\nrealistic: tar czf {args.tree}")
    print(f"{'tar untraced':<32} {tb:>9.3f} {1:>6.2f}x")
    print(f"{'tar under sandprint record':<32} {tr:>9.3f} {tr / tb:>6.2f}x")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
