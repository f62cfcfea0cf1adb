"""The side-by-side benchmark with the OCI seccomp bpf hook runs, on one workload.

sandprint's profile must let the container start and work and must hold none of runc's setup
syscalls; the hook's row is reported, not judged (on this host its profile holds mount,
pivot_root, sethostname and umount2 and lacks calls runc needs, so the container does not start).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import need, sandprint_env

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.podman
@pytest.mark.kernel
def test_hook_comparison_shell_script(bpf_ready, podman_ready, tmp_path):
    need(Path("/usr/libexec/oci/hooks.d/oci-seccomp-bpf-hook").exists(),
         "oci-seccomp-bpf-hook not installed")
    out = tmp_path / "bench.json"
    try:
        r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "oci_hook_comparison.py"),
                            "--workload", "shell-script", "--json", str(out)],
                           env=sandprint_env(), capture_output=True, text=True, timeout=400)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"benchmark hung:\n{e.stdout}\n{e.stderr}") from None
    assert r.returncode == 0, r.stderr
    rows = {row["tool"]: row for row in json.loads(out.read_text())}
    sp, hook = rows["sandprint"], rows["oci-seccomp-bpf-hook"]
    assert sp["started"] and sp["workloadOk"] and sp["setupSyscalls"] == []
    assert hook["allowed"] > 0
    print(r.stdout)


@pytest.mark.podman
@pytest.mark.kernel
@pytest.mark.containerd
def test_hook_comparison_pod_on_containerd(bpf_ready, podman_ready, tmp_path):
    """The same workload as a pod's container on containerd: sandprint's profile (from
    `record --pod`) is applied by containerd through CRI and the workload runs; the hook's
    row is reported."""
    from cri.containerd import available

    need(Path("/usr/libexec/oci/hooks.d/oci-seccomp-bpf-hook").exists(),
         "oci-seccomp-bpf-hook not installed")
    need(available() is None, available() or "")
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "oci_hook_comparison.py"),
                        "--pods-only", "--workload", "shell-script", "--json", str(out)],
                       env=sandprint_env(), capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr
    rows = {row["tool"]: row for row in json.loads(out.read_text())}
    sp = rows["sandprint"]
    assert sp["engine"] == "containerd" and sp["started"] and sp["workloadOk"], sp
    assert sp["setupSyscalls"] == []
    assert rows["oci-seccomp-bpf-hook"]["allowed"] > 0
    print(r.stdout)
