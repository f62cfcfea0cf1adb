#!/usr/bin/env python3
"""Replay overhead in enforce mode: the sandbox loaded vs unconfined, side by side.

    sudo .venv/bin/python benchmarks/verify_overhead.py [--rounds 7] [--count 1000000]

Workload: the syscall-bound loop ``dd if=/dev/zero of=/dev/null bs=1 count=N`` (a read and a
write per byte). Its profile and ruleset are generated from a recording of dd itself, exactly
as a user would (``record``, ``generate seccomp``, ``generate landlock``). Each configuration's
time is dd's own report of its copying time, so sandprint's start-up is not counted, only what
the confined command pays per syscall:

- unconfined (``sandprint exec`` with nothing, so both go through the same launcher)
- seccomp: the generated allow-list (libseccomp's binary tree; the kernel's action cache
  makes an always-allowed syscall skip the filter altogether)
- seccomp: the container engine's default profile, for comparison (a bigger list)
- Landlock: the generated ruleset (dd's reads and writes are on fds opened before; Landlock
  checks at open, so the loop itself should cost nothing)
- both

Rounds are interleaved so noise on the shared machine hits all configurations alike, and dd
is pinned to one CPU (taskset) when it can be; the median and the minimum of each are
reported as ratios to unconfined (the minimum is the steadier estimate of what the filter
itself costs on a noisy machine). Target: < 1.05 for the generated seccomp allow-list.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDPRINT = [sys.executable, "-m", "sandprint"]
ENV = dict(os.environ, PYTHONPATH=str(REPO))


from recorder_overhead import dd_cmd, dd_seconds  # noqa: E402  (this folder is on sys.path)


def sp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(SANDPRINT + list(args), capture_output=True, text=True, env=ENV)


def docker_profile(work: Path) -> str | None:
    """The container engine's default profile resolved to plain OCI for this machine."""
    from sandprint.generators.baseline import docker_allowed, find_baseline
    from sandprint.fileio import read_json
    from sandprint.syscalls import native_arch

    base = find_baseline()
    if not base:
        return None
    names = docker_allowed(read_json(base.path), native_arch(), caps=base.caps)
    out = work / "docker.json"
    out.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                               "architectures": [native_arch()],
                               "syscalls": [{"names": sorted(names),
                                             "action": "SCMP_ACT_ALLOW"}]}))
    return str(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=1_000_000)
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    work = Path(tempfile.mkdtemp(prefix="sandprint-bench-verify-"))
    rec, prof, rules = work / "dd.rec.json", work / "dd.seccomp.json", work / "dd.landlock.json"
    for args in (("record", "-o", str(rec), "--", *dd_cmd(1000)),
                 ("generate", "seccomp", str(rec), "-o", str(prof)),
                 ("generate", "landlock", str(rec), "-o", str(rules))):
        p = sp(*args)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            return 1
    n_allowed = len(json.loads(prof.read_text())["syscalls"][0]["names"])
    configs = {
        "unconfined": [],
        f"seccomp, generated ({n_allowed} syscalls)": ["--seccomp", str(prof)],
        "landlock, generated": ["--landlock", str(rules)],
        "seccomp + landlock": ["--seccomp", str(prof), "--landlock", str(rules)],
    }
    dp = docker_profile(work)
    if dp:
        configs["seccomp, engine default"] = ["--seccomp", dp]
    times: dict[str, list[float]] = {k: [] for k in configs}
    pin = ["taskset", "-c", str(max(os.sched_getaffinity(0)))] if shutil.which("taskset") else []
    for _ in range(a.rounds):
        for name, opts in configs.items():
            # pinned from outside: the profile need not allow sched_setaffinity
            p = subprocess.run(pin + SANDPRINT + ["exec", *opts, "--", *dd_cmd(a.count)],
                               capture_output=True, text=True, env=ENV)
            if p.returncode != 0:
                print(f"{name}: dd failed: {p.stderr}", file=sys.stderr)
                return 1
            times[name].append(dd_seconds(p.stderr))
    base = statistics.median(times["unconfined"])
    print(f"dd bs=1 count={a.count} (2 syscalls per byte), median of {a.rounds} interleaved "
          "rounds, dd's own time")
    low = min(times["unconfined"])
    print(f"{'configuration':<40} {'median s':>9} {'ratio':>7} {'min s':>7} {'ratio':>7} "
          f"{'ns/syscall':>11}")
    for name, ts in times.items():
        med, mn = statistics.median(ts), min(ts)
        extra = (mn - low) * 1e9 / (2 * a.count)
        print(f"{name:<40} {med:>9.3f} {med / base:>7.3f} {mn:>7.3f} {mn / low:>7.3f} "
              f"{extra:>+11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
