"""Shared test helpers.

Tests that need the real kernel (eBPF, seccomp, Landlock) are marked ``kernel``; tests that
need podman are marked ``podman``. On a machine without them they skip, but when
``SANDPRINT_STRICT=1`` (set by .ci/run) any skip of such a test is turned into a failure:
CI runs as root on a machine that has them all, so a skip there would hide a break.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STRICT = os.environ.get("SANDPRINT_STRICT") == "1"
STRICT_MARKERS = ("kernel", "podman")


def need(condition: bool, reason: str) -> None:
    """Skip (or, in strict mode, fail) when a real component is missing."""
    if not condition:
        if STRICT:
            pytest.fail(f"required component missing in strict mode: {reason}")
        pytest.skip(reason)


def is_root() -> bool:
    return os.geteuid() == 0


def have_bcc() -> bool:
    try:
        import bcc  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture
def bpf_ready():
    """Root, bcc importable, tracefs mounted: what the recorder needs."""
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")
    need(os.path.exists("/sys/kernel/tracing/events/raw_syscalls"), "tracefs not mounted")


@pytest.fixture
def podman_ready():
    need(is_root(), "needs root")
    need(shutil.which("podman") is not None and shutil.which("runc") is not None,
         "podman and runc not installed")


def sandprint_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_sandprint(*args: str, check: bool = False, timeout: float = 300, **kw
                  ) -> subprocess.CompletedProcess:
    """Run the sandprint CLI of this checkout as a subprocess, capturing its output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([sys.executable, "-m", "sandprint", *args], env=sandprint_env(),
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"sandprint {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and any(item.get_closest_marker(m) for m in STRICT_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (SANDPRINT_STRICT=1): {report.longrepr}"


# -- helpers shared by the kernel tests -------------------------------------------------------

def bpf_ids(kind: str) -> set[int]:
    """IDs of every loaded BPF program (``prog``) or map (``map``), from bpftool."""
    need(shutil.which("bpftool") is not None, "bpftool not installed")
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out)}


def owned_bpf_ids(pid: int) -> tuple[set[int], set[int]]:
    """(program ids, map ids) the process holds file descriptors to."""
    progs, maps = set(), set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        for key, ids in (("prog_id", progs), ("map_id", maps)):
            m = re.search(rf"^{key}:\s*(\d+)", text, re.M)
            if m:
                ids.add(int(m.group(1)))
    return progs, maps


def wait_attached(proc, timeout: float = 120) -> None:
    """Wait for the recorder's "attached" line on stderr (its BPF programs are loaded)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "attached" in line:
                return
    proc.kill()
    raise AssertionError("recorder never attached:\n" + "".join(seen))
