#!/usr/bin/env python3
"""Recording an open-heavy workload: overhead ratio to untraced, and lost events (must be 0).

    sudo .venv/bin/python benchmarks/open_heavy.py [--rounds 5] [--passes 3] [ROOT_GLOB ...]

The workload reads every file under the roots (default ``/usr/lib/python3*``): a directory
walk (getdents), then open/read/close of each file, ``--passes`` times over (the second and
later passes are what a build or test run does: the same files again). Its time is measured
inside the workload, around the walk only, so neither the interpreter's start-up nor the
recorder's (bcc compiling, attaching) is counted — only what the traced process pays per
event. Rounds alternate untraced / under ``sandprint record`` so noise from the shared
machine hits both alike; medians are reported. Every recording's lost-event counters are
checked: a recording that lost events makes the benchmark fail (exit 1).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDPRINT = [sys.executable, "-m", "sandprint"]
ENV = dict(os.environ, PYTHONPATH=str(REPO))

READER = textwrap.dedent('''
    import json, os, sys, time
    roots, passes = sys.argv[2:], int(sys.argv[1])
    opens = dirs = size = 0
    t0 = time.perf_counter()
    for _ in range(passes):
        stack = list(roots)
        while stack:
            d = stack.pop()
            dirs += 1
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        fd = os.open(e.path, os.O_RDONLY | os.O_CLOEXEC)
                        while chunk := os.read(fd, 1 << 16):
                            size += len(chunk)
                        os.close(fd)
                        opens += 1
    print(json.dumps({"seconds": time.perf_counter() - t0, "opens": opens, "dirs": dirs,
                      "bytes": size}))
''')


def run(prefix: list[str], reader: str, passes: int, roots: list[str]) -> dict:
    p = subprocess.run(prefix + [sys.executable, reader, str(passes), *roots],
                       capture_output=True, text=True, env=ENV, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"workload failed ({p.returncode}): {p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="*", default=["/usr/lib/python3*"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    roots = sorted({p for g in args.roots for p in glob.glob(g) if os.path.isdir(p)})
    if not roots:
        raise SystemExit(f"no directory matches {args.roots}")

    untraced, traced, losses = [], [], []
    with tempfile.TemporaryDirectory(prefix="sandprint-bench-") as tmp:
        reader = os.path.join(tmp, "reader.py")
        Path(reader).write_text(READER)
        warm = run([], reader, 1, roots)                # page cache, and the counts
        rec_path = os.path.join(tmp, "rec.json")
        for i in range(args.rounds):
            untraced.append(run([], reader, args.passes, roots)["seconds"])
            out = run(SANDPRINT + ["record", "-o", rec_path, "--"], reader, args.passes, roots)
            traced.append(out["seconds"])
            rec = json.loads(Path(rec_path).read_text())
            meta = rec["metadata"]
            files = sum(len(t["files"]) for t in rec["targets"])
            losses.append((meta["lostEvents"], meta.get("fileEvents", {}), files))
            print(f"round {i + 1}: untraced {untraced[-1]:.3f} s, recorded {traced[-1]:.3f} s,"
                  f" lost {meta['lostEvents']}, file events {meta.get('fileEvents')}, "
                  f"{files} paths in the recording", file=sys.stderr)

    u, t = statistics.median(untraced), statistics.median(traced)
    lost = sum(x[0] for x in losses)
    fe = losses[-1][1]
    print(f"open-heavy workload: {', '.join(roots)}")
    print(f"  {warm['opens']} files, {warm['dirs']} directories, {warm['bytes'] / 1e6:.1f} MB "
          f"per pass; {args.passes} passes = {warm['opens'] * args.passes} opens per run")
    print(f"  {'configuration':<26} {'median s':>9} {'ratio':>7}")
    print(f"  {'untraced':<26} {u:>9.3f} {1:>6.2f}x")
    print(f"  {'under sandprint record':<26} {t:>9.3f} {t / u:>6.2f}x")
    print(f"  per open: +{(t - u) / (warm['opens'] * args.passes) * 1e6:.2f} us")
    print(f"  file events sent {fe.get('sent')}, folded in the kernel "
          f"{fe.get('foldedInKernel')}, paths read at exit {fe.get('pathsReadAtExit')}")
    print(f"  lost events over {args.rounds} recordings: {lost}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
