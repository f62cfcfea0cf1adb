"""The measured post-filter syscalls of container runtimes (``runtime_measured.json``).

``measured_syscalls("runc")`` is the union, over both variants (with and without
no-new-privileges) and every run, for the installed version (or the nearest measured one).
The seccomp generator's ``--runtime`` set must cover it; tests check that it does.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA_FILE = Path(__file__).with_name("runtime_measured.json")


def load_measured(path: str | Path = DATA_FILE) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def measured_entry(runtime: str, version: str | None = None) -> dict | None:
    entries = load_measured().get("runtimes", {}).get(runtime, [])
    if not entries:
        return None
    for e in entries:
        if e["version"] == version:
            return e
    return entries[-1]


def measured_syscalls(runtime: str, version: str | None = None,
                      variant: str | None = None) -> set[str]:
    e = measured_entry(runtime, version)
    if e is None:
        return set()
    out: set[str] = set()
    for label, v in e["variants"].items():
        if variant is None or label == variant:
            out |= set(v["syscalls"])
    return out
