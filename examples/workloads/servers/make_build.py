#!/usr/bin/env python3
"""``make -j2`` of a small C project with gcc: compile, archive, link, run the result.

    make_build.py WORK [--probe FILE]

Copies examples/workloads/cproject into WORK/run/cproject, runs ``make -j2`` there (four
compiles in parallel, ``ar``, a link, then the built program on a generated input: its own
check), checks the output, and removes WORK/run. See driver_common.py for WORK and
--probe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from driver_common import fresh_run_dir, parse_args, probe, remove_run_dir

PROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cproject")


def main() -> int:
    work, _, probe_file = parse_args(0)
    run = fresh_run_dir(work)
    src = os.path.join(run, "cproject")
    shutil.copytree(PROJECT, src)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TMPDIR": "/tmp"}
    p = subprocess.run(["make", "-j2", "CC=gcc"], cwd=src, env=env, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        print(f"FAILED: make exited {p.returncode}", file=sys.stderr)
        return 1
    with open(os.path.join(src, "result.txt")) as f:
        result = f.read()
    remove_run_dir(run)
    print(f"make -j2 built and ran wordstat: {result.splitlines()[1]}")
    if probe_file:
        probe(probe_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
