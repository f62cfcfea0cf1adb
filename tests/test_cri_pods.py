"""Pods on a real container runtime: containerd's CRI plugin, driven over gRPC as the kubelet
drives it (tests/cri), runc underneath, and an API-server stand-in for the pod lookups.

- ``record --pod`` on such a pod, started after the recorder: one target per container, init
  containers included, each from its workload's first exec (none of runc's setup), the pause
  container left out; ``--container-name`` records one container.
- The profile generated for a container, installed with ``k8s install`` and referenced as the
  patched manifest references it, is applied by containerd through CRI: the workload replays
  clean under it (runc's own window after the filter load is covered by ``--runtime runc``),
  and a syscall the workload never made is refused inside the pod.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from cri_node import APP, RUNC_SETUP, by_name, unique_pod_name
from helpers import run_sandprint

pytestmark = [pytest.mark.kernel, pytest.mark.containerd]

def test_record_pod_through_cri(recorded):
    rec = recorded["pod"]
    targets = by_name(rec)
    assert set(targets) == {"setup", "app", "side"}, (set(targets), recorded["stderr"])
    assert recorded["logs"]["app"].strip().endswith("app done")
    for name, t in targets.items():
        assert t["info"]["containerID"] == recorded["ids"][name]
        assert t["info"]["init"] is (name == "setup")
        calls = set(t["syscalls"])
        assert "execve" in calls and not calls & RUNC_SETUP, (name, calls & RUNC_SETUP)
        # from the workload's exec: the container's command is the first, nothing of runc's
        cmd = next(c.command for c in recorded["spec"].containers if c.name == name)
        assert t["execs"][0]["argv"] == cmd, t["execs"]
        assert not [e for e in t["execs"] if "runc" in e["path"] or "pause" in e["path"]]
    assert "mkdirat" in targets["app"]["syscalls"] or "mkdir" in targets["app"]["syscalls"]
    assert "sync" in targets["side"]["syscalls"] and "sync" not in targets["app"]["syscalls"]
    assert not {"mkdir", "mkdirat"} & set(targets["side"]["syscalls"])
    # the sandbox (pause) container: its ID never appears, and nothing it did
    assert rec["metadata"].get("unclaimedContainers", 0) <= 1
    assert "pause" not in targets["setup"]["syscalls"]
    assert rec["metadata"].get("complete", True) is True, rec["metadata"].get("incompleteReasons")
    assert rec["metadata"]["target"]["uid"] == recorded["spec"].uid


def test_record_pod_container_name(recorded):
    targets = by_name(recorded["one"])
    assert set(targets) == {"app"}
    assert targets["app"]["info"]["containerID"] == recorded["ids"]["app"]


def test_profile_applied_by_containerd(cri_node, recorded, tmp_path):
    """generate -> k8s install -> k8s patch -> the kubelet stand-in runs the patched manifest:
    containerd applies the Localhost profile; the workload replays clean, a syscall it never
    made (mknodat, from mkfifo) is refused inside the pod, and is allowed without the
    profile."""
    node = cri_node
    d = recorded["dir"]
    profile = tmp_path / "app.json"
    run_sandprint("generate", "seccomp", str(d / "pod.json"), "--target", "app",
                  "--runtime", "runc", "-o", str(profile), check=True)
    r = run_sandprint("k8s", "install", str(profile), "--name", f"{node.profile_dir}/app.json",
                      check=True)
    rel = f"{node.profile_dir}/app.json"
    assert os.path.exists(f"/var/lib/kubelet/seccomp/{rel}"), r.stderr
    probe = "mkfifo /tmp/fifo; echo mkfifo=$?"
    manifest = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": unique_pod_name("enforced"), "namespace": "shop"},
                "spec": {"containers": [
                    {"name": "app", "image": "localhost/sandprint-cri-busybox:1",
                     "command": ["sh", "-c", APP]},
                    {"name": "probe", "image": "localhost/sandprint-cri-busybox:1",
                     "command": ["sh", "-c", probe]},
                    {"name": "control", "image": "localhost/sandprint-cri-busybox:1",
                     "command": ["sh", "-c", probe]}]}}
    src = tmp_path / "pod.yaml"
    src.write_text(yaml.safe_dump(manifest))
    patched = tmp_path / "pod.patched.yaml"
    run_sandprint("k8s", "patch", str(src), "--profile", f"app={rel}", "--profile",
                  f"probe={rel}", "-o", str(patched), check=True)
    doc = yaml.safe_load(patched.read_text())
    sc = {c["name"]: (c.get("securityContext") or {}).get("seccompProfile")
          for c in doc["spec"]["containers"]}
    assert sc["app"] == {"type": "Localhost", "localhostProfile": rel}
    assert sc["control"] is None
    from cri.kubelet import PodSpec

    spec = PodSpec.from_manifest(doc)
    pod = node.kubelet.run_pod(spec)
    try:
        codes = {n: node.kubelet.wait_exit(pod, n, 60) for n in ("app", "probe", "control")}
        logs = {n: node.kubelet.logs(pod, n) for n in codes}
        # containerd really loaded the profile for app and probe, not for control
        infos = {n: _seccomp_of(node, pod, n) for n in codes}
    finally:
        node.kubelet.delete_pod(pod)
    assert codes["app"] == 0 and logs["app"].strip().endswith("app done"), logs["app"]
    assert "mkfifo=0" in logs["control"], logs["control"]
    assert "mkfifo=1" in logs["probe"] and "Operation not permitted" in logs["probe"], \
        logs["probe"]
    assert infos["app"] == 2 and infos["probe"] == 2 and infos["control"] == 0, infos


def _seccomp_of(node, pod, name) -> int | None:
    """Seccomp mode of the container's process as the OCI spec containerd wrote says:
    2 when it carries a seccomp section (filter), 0 when not."""
    from cri.proto import pb

    m = pb()
    st = node.kubelet.cri.ContainerStatus(m.ContainerStatusRequest(
        container_id=pod.ids[name], verbose=True))
    info = json.loads(st.info.get("info", "{}"))
    linux = (info.get("runtimeSpec") or {}).get("linux") or {}
    return 2 if linux.get("seccomp") else 0


def test_record_pod_already_running_is_incomplete(cri_node, tmp_path):
    """A pod whose container runs before the recorder attaches: recorded from then on, the
    recording marked incomplete (the container named), and generate refuses it unless told
    to accept it."""
    from cri.kubelet import ContainerSpec, PodSpec

    from helpers import have_bcc, is_root, need

    need(is_root() and have_bcc(), "needs root and bcc")
    node = cri_node
    spec = PodSpec("shop", unique_pod_name("late"), [ContainerSpec(
        "app", ["sh", "-c", "while true; do cat /proc/self/stat > /dev/null; sleep 0.1; done"])])
    pod = node.kubelet.run_pod(spec)
    try:
        out = tmp_path / "late.json"
        rec = node.start("record", "--pod", f"shop/{spec.name}", "--duration", "2",
                         "-o", str(out))
        _, err = rec.communicate(timeout=90)
        assert rec.returncode == 0, err
    finally:
        node.kubelet.delete_pod(pod)
    data = json.loads(out.read_text())
    meta = data["metadata"]
    assert meta["complete"] is False and meta["target"]["missedStarts"] == ["app"], meta
    assert meta["target"]["startedBeforeRecorder"] is True
    assert any("container app of pod" in r and "already running" in r
               for r in meta["incompleteReasons"]), meta["incompleteReasons"]
    assert "container app of pod" in err and "marked incomplete" in err, err
    assert "read" in by_name(data)["app"]["syscalls"]        # recorded from then on
    r = run_sandprint("generate", "seccomp", str(out), "-o", str(tmp_path / "p.json"))
    assert r.returncode == 2 and "misses its container's start" in r.stderr, r.stderr
