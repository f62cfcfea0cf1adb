#!/usr/bin/env python3
"""Record start-up and end, measured from outside, printed as a table.

    .venv/bin/python benchmarks/startup.py [--rounds 5]      (as root)

For each configuration, ``sandprint record -o OUT -- date +%s.%N`` is launched and timed:

- attached: from launching ``sandprint record`` to the recorded command running (``date``
  prints the wall-clock time it ran; sandprint execs the command only once its recorder is
  attached, so this is the attach time plus a fork and an exec);
- end: from the command running to ``sandprint record`` having exited (the recorder's
  programs detached, the recording written);
- whole: the wall-clock time of ``sandprint record -o OUT -- true``, run separately.

Configurations: the compiled-program cache off (``SANDPRINT_BPF_CACHE=0``: bcc compiles
every time), a cold cache (an empty cache directory: compiles, then stores) and a warm one
(what a second recording on the same host pays), each with the full recorder and with
``--syscalls-only``. Rounds are interleaved; medians and ranges are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDPRINT = [sys.executable, "-m", "sandprint"]


def env_for(cache: str | None, cache_dir: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), SANDPRINT_CACHE_DIR=cache_dir)
    env["SANDPRINT_BPF_CACHE"] = "0" if cache is None else "1"
    return env


def timed_record(env: dict[str, str], out: str, options: list[str], argv: list[str]
                 ) -> tuple[float, float | None, str]:
    """(seconds to exit, wall-clock time the command printed or None, its stdout)."""
    start = time.time()
    p = subprocess.run(SANDPRINT + ["record", *options, "-o", out, "--", *argv],
                       capture_output=True, text=True, env=env)
    end = time.time()
    if p.returncode != 0:
        raise RuntimeError(f"sandprint record failed ({p.returncode}):\n{p.stderr}")
    stamp = None
    for line in p.stdout.splitlines():
        try:
            stamp = float(line.strip())
            break
        except ValueError:
            continue
    return end - start, (stamp - start) if stamp is not None else None, p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: recording loads BPF programs", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="sandprint-startup-")
    out = os.path.join(tmp, "rec.json")
    date = shutil.which("date") or "/bin/date"
    true = shutil.which("true") or "/bin/true"
    configs = []
    for mode, options in (("full", []), ("--syscalls-only", ["--syscalls-only"])):
        for cache in (None, "cold", "warm"):
            configs.append((mode, options, cache))
    attached = {c[:1] + c[2:]: [] for c in configs}
    end = {k: [] for k in attached}
    whole = {k: [] for k in attached}
    warm_dir = os.path.join(tmp, "warm")
    # fill the warm cache once, for both recorders
    for _mode, options, _cache in configs[:1] + configs[3:4]:
        timed_record(env_for("warm", warm_dir), out, options, [true])
    for r in range(args.rounds):
        for mode, options, cache in configs:
            key = (mode, cache)
            if cache == "cold":
                cdir = os.path.join(tmp, f"cold-{r}-{len(whole[key])}")
            else:
                cdir = warm_dir if cache == "warm" else os.path.join(tmp, "unused")
            total, at, _ = timed_record(env_for(cache, cdir), out, options, [date, "+%s.%N"])
            attached[key].append(at)
            end[key].append(total - at)
            if cache == "cold":
                shutil.rmtree(cdir, ignore_errors=True)
            total, _, _ = timed_record(env_for(cache, cdir), out, options, [true])
            whole[key].append(total)
            if cache == "cold":
                shutil.rmtree(cdir, ignore_errors=True)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def cell(xs: list[float]) -> str:
        return f"{statistics.median(xs):5.2f} ({min(xs):.2f}-{max(xs):.2f})"

    print(f"\nsandprint record start-up and end, seconds: median (min-max) of {args.rounds} "
          f"rounds; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'recorder':<16} {'cache':<6} {'attached':>17} {'end':>17} {'whole (true)':>17}")
    for mode, _options, cache in configs:
        key = (mode, cache)
        print(f"{mode:<16} {cache or 'off':<6} {cell(attached[key]):>17} {cell(end[key]):>17} "
              f"{cell(whole[key]):>17}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
