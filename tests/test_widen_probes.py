"""Escape probes inside a profile widened by static analysis (generate seccomp --widen
static): examples/probes/widen_probes.py's benign run is recorded, the profile widened with
what the interpreter can reach, and every probe -- a high-risk syscall the interpreter can
make but the benign run never did -- gets through without a sandbox (as root) and is
refused under the widened profile. About 10 s."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO, run_sandprint

pytestmark = pytest.mark.kernel
WORKLOAD = REPO / "examples" / "probes" / "widen_probes.py"


def probes(base, *sandbox: str) -> dict[str, dict]:
    cmd = [sys.executable, str(WORKLOAD), "probe", str(base)]
    subprocess.run([sys.executable, str(WORKLOAD), "setup", str(base)], check=True)
    if sandbox:
        proc = run_sandprint("exec", *sandbox, "--", *cmd)
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines[0]["benign"] == "ok"
    return {d["probe"]: d for d in lines[1:]}


def test_widened_profile_still_stops_high_risk_escapes(bpf_ready, tmp_path):
    base = tmp_path / "w"
    base.mkdir()
    subprocess.run([sys.executable, str(WORKLOAD), "setup", str(base)], check=True)
    rec, prof = tmp_path / "rec.json", tmp_path / "widened.json"
    run_sandprint("record", "-o", str(rec), "--", sys.executable, str(WORKLOAD), "benign",
                  str(base), check=True)
    gen = run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), "--widen", "static",
                        check=True)
    assert " widened, target 'main')" in gen.stderr, gen.stderr
    free = probes(base)
    assert all(d["outcome"] == "ALLOWED" for d in free.values()), free
    boxed = probes(base, "--seccomp", str(prof))
    assert set(boxed) == set(free)
    for name, d in boxed.items():
        assert d["outcome"] == "denied", (name, d)
    # the widening did add reachable low-risk calls, never these high-risk ones
    allowed = {n for r in json.loads(prof.read_text())["syscalls"]
               if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert not allowed & {"unlink", "rename", "chmod", "setuid", "sched_setscheduler",
                          "socket", "memfd_create", "chroot", "shmget", "ftruncate",
                          "sync", "mlock", "flock", "inotify_init1"}
