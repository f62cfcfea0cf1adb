#!/usr/bin/env python3
"""Time and peak memory of the static analysis of one object, cold (no cache) and cached.

    PYTHONPATH=. python benchmarks/static_analysis.py [PATH[:ROLE] ...]

Default objects: glibc (as a library), python3, node, postgres and nginx (as programs: all
their code may run; their imports are followed into the libraries at walk time). Each
object is analysed in a fresh process (so peak RSS is its own): once with an empty cache
directory, once from the cache that run filled. Prints one row per object: its size, the
regions (functions) decoded, the syscall numbers found, the unresolved sites, the times and
the peak resident memory of each run. Timing on a shared machine is noisy: compare rows
taken in one run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DEFAULT = [
    ("/lib/x86_64-linux-gnu/libc.so.6", "library"),
    (os.path.realpath("/usr/bin/python3"), "program"),
    (os.path.realpath("/usr/bin/python3"), "library"),
    ("/usr/bin/node", "program"),
    ("/usr/lib/postgresql/15/bin/postgres", "program"),
    ("/usr/sbin/nginx", "program"),
    ("/usr/lib/postgresql/15/bin/postgres", "library"),
]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from sandprint.static import cache
t1 = time.perf_counter()
g = cache.graph(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
numbers = {n for v in g.syscalls.values() for n in v}
print(json.dumps({"seconds": round(t2 - t1, 3), "import": round(t1 - t0, 3),
                  "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "regions": g.regions, "numbers": len(numbers),
                  "unresolved": sum(g.unresolved.values()), "imports": len(set().union(*map(set, g.imports.values()))) if g.imports else 0}))
"""


def run(path: str, role: str, cache_dir: str) -> dict:
    env = dict(os.environ, SANDPRINT_STATIC_CACHE_DIR=cache_dir,
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", CHILD, path, role], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main() -> int:
    objects = []
    for arg in sys.argv[1:]:
        path, _, role = arg.partition(":")
        objects.append((path, role or "library"))
    objects = objects or [(p, r) for p, r in DEFAULT if os.path.exists(p)]
    print("| object | role | size | regions decoded | syscall numbers | unresolved sites "
          "| imports | cold: time, peak RSS | cached: time, peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = tempfile.mkdtemp(prefix="sandprint-static-bench-")
    try:
        for path, role in objects:
            d = os.path.join(base, os.path.basename(path))
            cold = run(path, role, d)
            warm = run(path, role, d)
            size = os.path.getsize(path) / (1 << 20)
            print(f"| {path} | {role} | {size:.1f} MiB | {cold['regions']} | {cold['numbers']} "
                  f"| {cold['unresolved']} | {cold['imports']} "
                  f"| {cold['seconds']:.2f} s, {cold['peak_mib']:.0f} MiB "
                  f"| {warm['seconds']:.3f} s, {warm['peak_mib']:.0f} MiB |", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
