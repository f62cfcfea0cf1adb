#!/usr/bin/env python3
"""The recorder under load: time untraced vs recorded, sandprint's peak RSS, BPF map memory.

    sudo .venv/bin/python benchmarks/load.py [--rounds 3] [--files 100000] [--children 1000]
                                             [--threads 64]

The load is ``tests/workloads/load.py``: it forks the children (short-lived, each opens its
share of the files), runs the threads (each opens its share) and opens every file once; the
files are made beforehand on a tmpfs, untraced. Rounds alternate untraced / under
``sandprint record`` so noise from the shared machine hits both alike; medians are printed.

- time: the workload's own time (from its first open to its report: what the traced process
  pays), and the whole command's wall time (for sandprint: bcc's compile, draining the
  events, writing the recording too);
- memory: sandprint's peak RSS (``wait4`` ru_maxrss; about half of it is bcc/LLVM compiling
  the programs, so a recording of ``true`` is printed as the floor), and the BPF maps'
  memory (``memlock`` of its map fds, sampled while recording), largest maps listed.

Exit status 1 when a recording lost events or missed a path the workload opened.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from record_session import (Session, file_paths, make_files, map_table,  # noqa: E402
                            scratch_dir, workload)

MIB = 2 ** 20


def untraced(argv: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, check=True)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--children", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=64)
    args = ap.parse_args()

    tmp = scratch_dir("sandprint-bench-load-")
    try:
        root = os.path.join(tmp, "files")
        make_files(root, args.files)
        report = os.path.join(tmp, "report.json")
        argv = workload(root, args.files, report, children=args.children, threads=args.threads)
        floor = Session(["--", "true"], os.path.join(tmp, "true.json"))
        floor.wait()

        plain_wall, plain_work, rec_wall, rec_work = [], [], [], []
        rss, maps, bad = [], None, 0
        for i in range(args.rounds):
            plain_wall.append(untraced(argv))
            plain_work.append(json.loads(Path(report).read_text())["seconds"])
            s = Session(["--", *argv], os.path.join(tmp, "rec.json"))
            if s.wait() != 0:
                raise SystemExit(f"sandprint record failed ({s.status}): {s.stderr}")
            rep = json.loads(Path(report).read_text())
            rec = s.recording()
            missing = len(set(rep["opened"]) - file_paths(rec))
            lost = rec["metadata"]["lostEvents"]
            bad += bool(lost or missing)
            rec_wall.append(s.wall)
            rec_work.append(rep["seconds"])
            rss.append(s.maxrss_kib / 1024)
            maps = maps or s
            print(f"round {i + 1}: untraced {plain_work[-1]:.2f} s (wall {plain_wall[-1]:.2f}),"
                  f" recorded {rec_work[-1]:.2f} s (wall {s.wall:.2f}), lost {lost}, "
                  f"missing paths {missing}, peak RSS {rss[-1]:.0f} MiB"
                  f"{'' if s.rss_is_sandprints(rep) else ' (the workload own)'}, "
                  f"processes {rec['targets'][0]['processes']}, "
                  f"file events {rec['metadata'].get('fileEvents')}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    pw, pk = statistics.median(plain_work), statistics.median(plain_wall)
    rw, rk = statistics.median(rec_work), statistics.median(rec_wall)
    print(f"load: {args.files} files opened once each, {args.children} short-lived children, "
          f"{args.threads} threads; {args.rounds} rounds, medians")
    print(f"  {'configuration':<24} {'workload s':>10} {'ratio':>7} {'wall s':>8} {'ratio':>7}")
    print(f"  {'untraced':<24} {pw:>10.2f} {1:>6.2f}x {pk:>8.2f} {1:>6.2f}x")
    print(f"  {'sandprint record':<24} {rw:>10.2f} {rw / pw:>6.2f}x {rk:>8.2f} {rk / pk:>6.2f}x")
    print(f"  sandprint peak RSS: {statistics.median(rss):.0f} MiB under the load, "
          f"{floor.maxrss_kib / 1024:.0f} MiB recording `true` (bcc/LLVM compiling)")
    print(f"  BPF map memory while recording: {maps.map_bytes / MIB:.1f} MiB in "
          f"{len(maps.maps)} maps (recording `true`: {floor.map_bytes / MIB:.1f} MiB)")
    for name, kind, entries, size in map_table(maps.maps)[:8]:
        what = "bytes of ring" if kind == "ringbuf" else "entries"
        print(f"    {name:<16} {kind:<14} {entries:>9} {what:<13} {size / MIB:>7.2f} MiB")
    print(f"  recordings that lost events or missed paths: {bad} of {args.rounds}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
