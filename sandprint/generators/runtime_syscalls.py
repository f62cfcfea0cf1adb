"""The syscalls a container runtime makes between loading the filter and exec'ing the workload.

They are kept as data in ``runtime_syscalls.json`` (per runtime, per version range, each
syscall with the reason it is there); this module picks the entry for a runtime version.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

DATA_FILE = Path(__file__).with_name("runtime_syscalls.json")
RUNTIMES = ("runc", "crun")


@dataclass(frozen=True)
class RuntimeSet:
    runtime: str
    version: str | None          # the version found (None: not found, default entry used)
    versions: str                # the range of the entry used
    syscalls: dict[str, str]     # name -> why
    # argspec.ARG_RULES syscall -> the value tuples the runtime calls it with ("args")
    args: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)


def _load() -> dict:
    with open(DATA_FILE, encoding="utf-8") as f:
        return json.load(f)


def _vtuple(text: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(x) if x is not None else 0 for x in m.groups())


def version_in_range(version: str, spec: str) -> bool:
    """``spec`` is comma-separated constraints, e.g. ``>=1.0.0,<2.0.0``."""
    v = _vtuple(version)
    for part in spec.split(","):
        m = re.match(r"\s*(>=|<=|==|>|<)\s*(\S+)\s*$", part)
        if not m:
            raise ValueError(f"bad version constraint {part!r}")
        op, bound = m.group(1), _vtuple(m.group(2))
        ok = {">=": v >= bound, "<=": v <= bound, "==": v == bound, ">": v > bound,
              "<": v < bound}[op]
        if not ok:
            return False
    return True


def installed_version(runtime: str) -> str | None:
    """The version ``RUNTIME --version`` reports on this host, or None."""
    exe = shutil.which(runtime)
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(rf"{runtime} version (\d+\.\d+(?:\.\d+)?)", out.stdout)
    return m.group(1) if m else None


def _runtime_set(runtime: str, version: str | None, entry: dict) -> RuntimeSet:
    args = {name: [tuple(v) for v in values] for name, values in entry.get("args", {}).items()}
    return RuntimeSet(runtime, version, entry["versions"], dict(entry["syscalls"]), args)


def runtime_syscalls(runtime: str, version: str | None = None) -> RuntimeSet:
    """The set for ``runtime`` at ``version`` (default: the version installed here)."""
    if runtime not in RUNTIMES:
        raise InputError(f"unknown runtime {runtime!r}", field="--runtime",
                         expected="runc, crun or none")
    entries = _load()["runtimes"][runtime]
    if version is None:
        version = installed_version(runtime)
    if version is not None:
        for e in entries:
            if version_in_range(version, e["versions"]):
                return _runtime_set(runtime, version, e)
        raise InputError(f"no syscall set for {runtime} {version} in {DATA_FILE.name}",
                         field="--runtime",
                         expected="a version in " + "; ".join(e["versions"] for e in entries))
    for e in entries:
        if e.get("default"):
            return _runtime_set(runtime, None, e)
    raise InputError(f"{runtime} version unknown and no default entry", field="--runtime")
