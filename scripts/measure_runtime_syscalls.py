#!/usr/bin/env python3
"""Measure the syscalls a container runtime makes between loading the container's seccomp
filter and executing the workload, and store them as data per runtime version.

    sudo PYTHONPATH=. .venv/bin/python scripts/measure_runtime_syscalls.py [--runs 8] [--runtime runc]

Each run starts a tiny busybox container with podman under an allow-all seccomp profile and
counts, in the kernel, every syscall of the thread that loaded the filter until its exec
(sandprint/profiler/runtime_window.py). Runs are made with and without no-new-privileges
(runc loads the filter at a different point in each). The union over runs is kept with how
many runs saw each syscall: the Go runtime's own calls (nanosleep, sched_yield, tgkill ...)
depend on timing, so a syscall seen in few runs is still needed.

Writes sandprint/profiler/runtime_measured.json (merging with entries for other versions).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sandprint.fileio import write_json  # noqa: E402
from sandprint.profiler.runtime_window import measure, runtime_version  # noqa: E402
from sandprint.profiler.runtime_data import DATA_FILE, load_measured  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from podman_image import ensure_busybox_image  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("-o", "--output", default=str(DATA_FILE))
    args = ap.parse_args()
    image = ensure_busybox_image()
    version = runtime_version(args.runtime) or "unknown"
    variants = {}
    for label, nnp in (("default", False), ("noNewPrivileges", True)):
        seen: dict[str, int] = {}
        for i in range(args.runs):
            r = measure(image, ["true"], runtime=args.runtime, no_new_privileges=nnp)
            if r["windows"] != 1 or r["closedByExec"] != 1:
                print(f"run {i} ({label}): unexpected windows {r}", file=sys.stderr)
                return 1
            for name in r["syscalls"]:
                seen[name] = seen.get(name, 0) + 1
        variants[label] = {"runs": args.runs, "syscalls": dict(sorted(seen.items()))}
        print(f"{args.runtime} {version} {label}: {len(seen)} syscalls: {', '.join(sorted(seen))}")
    data = load_measured(args.output) if os.path.exists(args.output) else {"runtimes": {}}
    entries = [e for e in data["runtimes"].get(args.runtime, []) if e["version"] != version]
    entries.append({
        "version": version,
        "measured": datetime.date.today().isoformat(),
        "kernel": os.uname().release,
        "arch": os.uname().machine,
        "method": "podman --runtime %s, allow-all seccomp profile, busybox `true`; the thread "
                  "that loads the filter, counted from the load (exclusive) to its execve "
                  "(inclusive); values: how many runs saw the syscall" % args.runtime,
        "variants": variants,
    })
    data["about"] = ("Syscalls container runtimes were MEASURED making between loading the "
                     "container's seccomp filter and executing the workload "
                     "(scripts/measure_runtime_syscalls.py).")
    data["runtimes"][args.runtime] = sorted(entries, key=lambda e: e["version"])
    write_json(args.output, data)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
