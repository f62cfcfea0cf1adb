#!/usr/bin/env python3
"""Recorder overhead, measured side by side in one run, printed as ratios to untraced.

    sudo .venv/bin/python benchmarks/recorder_overhead.py [--rounds 5] [--count 1000000]

Worst case, a syscall-bound command: ``dd if=/dev/zero of=/dev/null bs=1 count=N`` (two
syscalls per byte). Each configuration's time is dd's own report of its copying time, so the
recorder's start-up (bcc compiling) is not counted, only what the traced command pays:

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
"""

from __future__ import annotations

import argparse
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


def dd_cmd(count: int) -> list[str]:
    return ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"]


def dd_seconds(stderr: str) -> float:
    m = re.search(r"copied, ([0-9.e+-]+) s", stderr)
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


def with_background(argv, ready, fn, settle=0.5):
    bg = Background(argv, ready, settle)
    try:
        return fn()
    finally:
        bg.stop()


EMPTY_TP = "TRACEPOINT_PROBE(raw_syscalls, sys_enter) { return 0; }"
EMPTY_RAW = "RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }"


def sandprint_record_dd(count: int, out: str, *options: str) -> float:
    p = subprocess.run(SANDPRINT + ["record", *options, "-o", out, "--"] + dd_cmd(count),
                       capture_output=True, text=True, env=ENV)
    return dd_seconds(p.stderr)


def strace_per_syscall(count: int) -> float:
    p = subprocess.run(["strace", "-f", "-c", "-o", "/dev/null"] + dd_cmd(count),
                       capture_output=True, text=True)
    return dd_seconds(p.stderr) / (2 * count)


def tar_seconds(prefix: list[str], tree: str, outdir: str) -> float:
    script = (f's=$(date +%s%N); tar czf {outdir}/t.tgz -C {os.path.dirname(tree)} '
              f'{os.path.basename(tree)}; e=$(date +%s%N); echo "elapsed $((e-s))" >&2')
    p = subprocess.run(prefix + ["sh", "-c", script], capture_output=True, text=True, env=ENV)
    m = re.search(r"elapsed (\d+)", p.stderr)
    if not m:
        raise RuntimeError(p.stderr)
    return int(m.group(1)) / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--tree", default=os.path.dirname(os.__file__),
                    help="source tree for the realistic workload (default: Python's stdlib)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: the benchmark loads BPF programs", file=sys.stderr)
        return 2
    syscount = shutil.which("syscount-bpfcc") or "/usr/sbin/syscount-bpfcc"
    tmp = tempfile.mkdtemp(prefix="sandprint-bench-")
    out = os.path.join(tmp, "rec.json")
    n = args.count
    results: dict[str, list[float]] = {k: [] for k in (
        "untraced", "empty bcc sys_enter", "empty bcc raw sys_enter", "sandprint record",
        "record --syscalls-only", "untraced beside a recording",
        "beside a --syscalls-only one", "bcc syscount", "tar untraced",
        "tar under sandprint record")}
    strace_ratio: list[float] = []
    for r in range(args.rounds):
        results["untraced"].append(run_dd([], n))
        results["empty bcc sys_enter"].append(with_background(
            [sys.executable, "-c", EMPTY_PROG, EMPTY_TP], "attached", lambda: run_dd([], n)))
        results["empty bcc raw sys_enter"].append(with_background(
            [sys.executable, "-c", EMPTY_PROG, EMPTY_RAW], "attached", lambda: run_dd([], n)))
        results["sandprint record"].append(sandprint_record_dd(n, out))
        results["record --syscalls-only"].append(
            sandprint_record_dd(n, out, "--syscalls-only"))
        results["untraced beside a recording"].append(with_background(
            SANDPRINT + ["record", "-o", os.path.join(tmp, "bg.json"), "--", "sleep", "600"],
            None, lambda: run_dd([], n), settle=6.0))
        results["beside a --syscalls-only one"].append(with_background(
            SANDPRINT + ["record", "--syscalls-only", "-o", os.path.join(tmp, "bg.json"), "--",
                         "sleep", "600"], None, lambda: run_dd([], n), settle=6.0))
        if os.path.exists(syscount):
            results["bcc syscount"].append(with_background(
                [syscount], "Tracing", lambda: run_dd([], n)))
        if shutil.which("strace"):
            small = max(n // 20, 1000)
            per_untraced = run_dd([], small) / (2 * small)
            strace_ratio.append(strace_per_syscall(small) / per_untraced)
        results["tar untraced"].append(tar_seconds([], args.tree, tmp))
        results["tar under sandprint record"].append(
            tar_seconds(SANDPRINT + ["record", "-o", out, "--"], args.tree, tmp))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    base = statistics.median(results["untraced"])
    print(f"\nsyscall-bound: dd bs=1 count={n} (median of {args.rounds} rounds, dd's own time)")
    print(f"{'configuration':<32} {'median s':>9} {'ratio':>7}")
    for key in ("untraced", "empty bcc sys_enter", "empty bcc raw sys_enter",
                "sandprint record", "record --syscalls-only", "untraced beside a recording",
                "beside a --syscalls-only one", "bcc syscount"):
        if results[key]:
            med = statistics.median(results[key])
            print(f"{key:<32} {med:>9.3f} {med / base:>6.2f}x")
    if strace_ratio:
        print(f"{'strace -f -c (per syscall)':<32} {'':>9} {statistics.median(strace_ratio):>6.0f}x")
    tb = statistics.median(results["tar untraced"])
    tr = statistics.median(results["tar under sandprint record"])
    print(f"\nrealistic: tar czf {args.tree}")
    print(f"{'tar untraced':<32} {tb:>9.3f} {1:>6.2f}x")
    print(f"{'tar under sandprint record':<32} {tr:>9.3f} {tr / tb:>6.2f}x")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
