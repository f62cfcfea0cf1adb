"""`sandprint verify --podman`: a recorded container's image run under its generated profile.

The container is recorded with `record --container` (started first), its OCI profile made
with runc's post-filter syscalls, then verified with podman + runc: the same workload passes
(exit 0, nothing denied), one calling a syscall the profile lacks is reported denied (exit 1),
in enforce and in complain mode.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from helpers import (LIMITS, PODMAN, SCRIPT, finish_recorder, rm_container, run_sandprint,
                     start_recorder)

pytestmark = [pytest.mark.podman, pytest.mark.kernel]


@pytest.fixture(scope="module")
def recorded_profile(tmp_path_factory, busybox_image):
    d = tmp_path_factory.mktemp("verify-container")
    name = f"containers-vrec-{uuid.uuid4().hex[:8]}"
    rec_path = str(d / "rec.json")
    rec = start_recorder(name, rec_path)
    try:
        ran = subprocess.run(PODMAN + ["run", "--rm", "--name", name, *LIMITS, busybox_image,
                                       "sh", "-c", SCRIPT], capture_output=True, text=True,
                             timeout=120)
        assert ran.returncode == 0, ran.stderr
        finish_recorder(rec)
    finally:
        if rec.poll() is None:
            rec.kill()
        rm_container(name)
    prof = str(d / "p.json")
    run_sandprint("generate", "seccomp", rec_path, "--runtime", "runc", "-o", prof, check=True)
    return prof, rec_path, d


def _no_verify_containers_left():
    out = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"],
                         capture_output=True, text=True).stdout.split()
    return [n for n in out if n.startswith("sandprint-verify-")]


def test_recorded_container_passes_under_its_profile(bpf_ready, podman_ready, busybox_image,
                                                     recorded_profile):
    prof, rec_path, d = recorded_profile
    before = set(_no_verify_containers_left())
    report = str(d / "pass.json")
    r = run_sandprint("verify", "--seccomp", prof, "--podman", "--recording", rec_path,
                      "--report", report, "--", busybox_image, "sh", "-c", SCRIPT)
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stderr and "done" in r.stdout, r.stderr
    with open(report) as f:
        rep = json.load(f)
    assert rep["verdict"] == "pass" and rep["denials"] == [] and rep["exitStatus"] == 0
    assert rep["command"][:3] == ["podman", "--runtime", "runc"]
    assert f"seccomp={prof}" in " ".join(rep["command"])
    assert set(_no_verify_containers_left()) <= before      # removed after the run


def test_syscall_outside_profile_is_denied(bpf_ready, podman_ready, busybox_image,
                                           recorded_profile):
    prof, _, d = recorded_profile
    with open(prof) as f:
        allowed = {n for rule in json.load(f)["syscalls"] for n in rule["names"]}
    assert "sethostname" not in allowed
    report = str(d / "fail.json")
    r = run_sandprint("verify", "--seccomp", prof, "--podman", "--report", report, "--",
                      busybox_image, "sh", "-c", SCRIPT + "; hostname foo")
    assert r.returncode == 1, r.stderr
    assert "FAIL" in r.stderr and "sethostname" in r.stderr, r.stderr
    with open(report) as f:
        rep = json.load(f)
    denied = {d["name"] for d in rep["denials"]}
    assert "sethostname" in denied, rep["denials"]
    # only what the profile lacks: nothing of the runtime's start or the recorded workload
    assert not denied & allowed, denied & allowed


def test_complain_mode_lists_what_would_be_denied(bpf_ready, podman_ready, busybox_image,
                                                  recorded_profile):
    prof, _, _ = recorded_profile
    r = run_sandprint("verify", "--seccomp", prof, "--podman", "--complain", "--",
                      busybox_image, "sh", "-c", SCRIPT + "; hostname sp-complain")
    assert r.returncode == 1, r.stderr
    assert "WOULD DENY" in r.stderr and "sethostname" in r.stderr, r.stderr


def test_podman_needs_seccomp_and_an_image(tmp_path, recorded_profile):
    prof, _, _ = recorded_profile
    r = run_sandprint("verify", "--landlock", prof, "--podman", "--", "img")
    assert r.returncode == 2 and "--podman" in r.stderr, r.stderr
    r = run_sandprint("verify", "--seccomp", prof, "--podman", "--", "--security-opt",
                      "seccomp=unconfined", "img")
    assert r.returncode == 2 and "seccomp=unconfined" in r.stderr, r.stderr
    r = run_sandprint("verify", "--seccomp", prof, "--podman", "--")
    assert r.returncode == 2, r.stderr
