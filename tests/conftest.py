"""pytest's own wiring: markers, strict mode and fixtures (the helpers are in helpers.py).

Tests that need the real kernel (eBPF, seccomp, Landlock) are marked ``kernel``; tests that
need podman are marked ``podman``; tests that drive a private containerd over CRI
(tests/cri) are marked ``containerd``. On a machine without them they skip, but when
``SANDPRINT_STRICT=1`` (set by .ci/run) any skip of such a test is turned into a failure:
CI runs as root on a machine that has them all, so a skip there would hide a break.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from cri_node import cri_node, recorded  # noqa: F401  (the private containerd, a pod recorded on it)
from helpers import (REPO, STRICT, bpf_ids, have_bcc, is_root, need,  # noqa: F401
                     owned_bpf_ids, run_sandprint, sandprint_env, wait_attached)

STRICT_MARKERS = ("kernel", "podman", "containerd")


@pytest.fixture
def bpf_ready():
    """Root, bcc importable, tracefs mounted: what the recorder needs."""
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")
    need(os.path.exists("/sys/kernel/tracing/events/raw_syscalls"), "tracefs not mounted")


@pytest.fixture(scope="session")
def busybox_image():
    """The busybox image the container tests run (built from the host's busybox once)."""
    from podman_image import ensure_busybox_image

    need(os.geteuid() == 0, "needs root")
    need(subprocess.run(["which", "podman"], capture_output=True).returncode == 0,
         "podman not installed")
    return ensure_busybox_image()


@pytest.fixture
def podman_ready():
    need(is_root(), "needs root")
    need(shutil.which("podman") is not None and shutil.which("runc") is not None,
         "podman and runc not installed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and any(item.get_closest_marker(m) for m in STRICT_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (SANDPRINT_STRICT=1): {report.longrepr}"
