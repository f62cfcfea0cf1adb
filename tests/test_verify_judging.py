"""verify tells the truth: what it reports denied is what the sandbox refused, and only that.

On the real kernel, through the CLI: a signal handler interrupting syscalls is no seccomp
refusal (the bogus ``#511``); a failure that happens with or without the sandbox (a 404's
ENOENT, a terminal-less /dev/tty) is no Landlock denial; complain mode names the process that
made the would-be-denied access and counts only those accesses; and enforce and complain
modes list the same denials on the same workloads, a denial of each kind among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need, run_sandprint

pytestmark = pytest.mark.kernel

WORKLOADS = Path(__file__).resolve().parent / "workloads"


@pytest.fixture(scope="module", autouse=True)
def _kernel():
    from conftest import have_bcc, is_root

    need(is_root() and have_bcc() and os.path.exists("/sys/kernel/tracing/events/raw_syscalls"),
         "needs root, bcc and tracefs")


def _verify(tmp: Path, *args: str, name: str = "report.json", **kw
            ) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp / name
    proc = run_sandprint("verify", "--report", str(report), *args, **kw)
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc, data


def _record(tmp: Path, *cmd: str, name: str = "rec.json", **kw) -> Path:
    rec = tmp / name
    run_sandprint("record", "-o", str(rec), "--", *cmd, check=True, **kw)
    return rec


def test_signal_handler_is_no_seccomp_refusal(tmp_path):
    """An interval timer's handler interrupts a sleep (EINTR, then rt_sigreturn, whose exit
    the kernel reports with syscall number -1): under the workload's own profile verify
    passes, and neither the report, --fix nor the HTML page knows a '#511'."""
    cmd = [sys.executable, str(WORKLOADS / "itimer.py")]
    rec = _record(tmp_path, *cmd)
    prof = tmp_path / "p.json"
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    before = prof.read_text()
    page = tmp_path / "r.html"
    proc, rep = _verify(tmp_path, "--seccomp", str(prof), "--html", str(page), "--fix",
                        "--", *cmd)
    assert proc.returncode == 0, proc.stderr
    assert rep["exitStatus"] == 0 and rep["denials"] == [], rep["denials"]
    assert "#" not in proc.stderr.split("replay:")[0], proc.stderr
    assert "#511" not in page.read_text()
    assert prof.read_text() == before, "--fix found nothing to add"
