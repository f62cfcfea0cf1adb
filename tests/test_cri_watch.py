"""Complain, then enforce, on a pod containerd runs (tests/cri): the pod's container runs
under a ``--default-action log`` profile that lacks two syscalls its workload makes;
``sandprint watch --pod`` collects them from the kernel's seccomp audit records (no auditd)
and names the process of each; merged with the first recording, the profile generated in
enforce mode runs the same workload clean."""

from __future__ import annotations

import json

import pytest

from cri_node import APP, by_name, finish, unique_pod_name
from helpers import run_sandprint

pytestmark = [pytest.mark.kernel, pytest.mark.containerd]

# APP as recorded, then two things it never did then: mkfifo (mknodat) and sync
GROWN = APP + "; mkfifo /tmp/fifo; echo mkfifo=$?; sync; echo grown done"


def run_app(node, profile_rel: str, prefix: str):
    from cri.kubelet import ContainerSpec, PodSpec

    spec = PodSpec("shop", unique_pod_name(prefix), [ContainerSpec(
        "app", ["sh", "-c", GROWN],
        seccomp={"type": "Localhost", "localhostProfile": profile_rel})])
    return spec


def watched_run(node, spec, out):
    """Admit the pod, start `watch --pod` on it, run it until its container exits, delete
    it; (container IDs, exit status, its output, watch's stderr)."""
    node.kubelet.admit(spec)
    w = node.start("watch", "--pod", f"shop/{spec.name}", "-o", str(out), "--duration", "60")
    try:
        pod = node.kubelet.run_pod(spec)
        code = node.kubelet.wait_exit(pod, "app", 60)
        logs = node.kubelet.logs(pod, "app")
        err = finish(w)
        return dict(pod.ids), code, logs, err
    finally:
        if w.poll() is None:
            w.kill()
        pod = node.kubelet.pods.get(("shop", spec.name))
        if pod is not None:
            node.kubelet.delete_pod(pod)


def install(node, recs, name, tmp_path, *extra):
    profile = tmp_path / name
    run_sandprint("generate", "seccomp", *map(str, recs), "--target", "app", "--runtime",
                  "runc", "-o", str(profile), *extra, check=True)
    rel = f"{node.profile_dir}/{name}"
    run_sandprint("k8s", "install", str(profile), "--name", rel, check=True)
    return rel, json.loads(profile.read_text())


def test_watch_then_enforce(cri_node, recorded, tmp_path):
    node = cri_node
    first = recorded["dir"] / "pod.json"
    rel, prof = install(node, [first], "app-log.json", tmp_path, "--default-action", "log")
    assert prof["defaultAction"] == "SCMP_ACT_LOG"
    spec = run_app(node, rel, "complain")
    out = tmp_path / "watch.json"
    ids, code, logs, err = watched_run(node, spec, out)
    assert code == 0
    assert "mkfifo=0" in logs and "grown done" in logs, logs      # log mode: nothing refused
    rec = json.loads(out.read_text())
    assert rec["metadata"]["target"]["type"] == "watch", rec["metadata"]
    assert rec["metadata"]["target"]["of"]["uid"] == spec.uid
    assert rec["metadata"]["stopReason"] == "pod succeeded", rec["metadata"]
    (t,) = rec["targets"]
    assert t["name"] == "app" and t["info"]["containerID"] == ids["app"]
    seen = t["info"]["auditRecords"]
    assert {"mknodat", "sync"} <= set(t["syscalls"]), (t["syscalls"], err)
    assert rec["metadata"]["watch"]["unattributed"] == 0, rec["metadata"]
    comms = {c: {p["comm"] for p in seen[c]["processes"]} for c in ("mknodat", "sync")}
    assert comms == {"mknodat": {"mkfifo"}, "sync": {"sync"}}, comms
    assert seen["sync"]["actions"] == ["log"]
    assert "app: sync x1 [log] by sync" in err and "app: mknodat" in err, err
    # what the log-mode profile let through is all the workload needed beyond the recording
    assert set(t["syscalls"]) - set(by_name(recorded["pod"])["app"]["syscalls"]) >= {"mknodat"}

    # merge, enforce: the grown workload runs clean under the merged profile
    merged = tmp_path / "merged.json"
    run_sandprint("merge", str(first), str(out), "-o", str(merged), check=True)
    rel2, prof2 = install(node, [merged], "app-enforce.json", tmp_path)
    assert prof2["defaultAction"] != "SCMP_ACT_LOG"
    spec2 = run_app(node, rel2, "enforced")
    pod2 = node.kubelet.run_pod(spec2)
    try:
        code = node.kubelet.wait_exit(pod2, "app", 60)
        logs2 = node.kubelet.logs(pod2, "app")
    finally:
        node.kubelet.delete_pod(pod2)
    assert code == 0 and "mkfifo=0" in logs2 and "grown done" in logs2, logs2
    # and without the watch's additions the same workload is refused
    rel3, _ = install(node, [first], "app-first.json", tmp_path)
    pod3 = node.kubelet.run_pod(run_app(node, rel3, "unmerged"))
    try:
        node.kubelet.wait_exit(pod3, "app", 60)
        logs3 = node.kubelet.logs(pod3, "app")
    finally:
        node.kubelet.delete_pod(pod3)
    assert "mkfifo=1" in logs3, logs3


def test_watch_reports_real_denials(cri_node, recorded, tmp_path):
    """An enforcing profile whose refusals the kernel logs: a kill action always is (errno
    only with SECCOMP_FILTER_FLAG_LOG, which runc 1.1 refuses: "seccomp flags are not yet
    supported by runc"). The killed call reaches watch with its action and process."""
    node = cri_node
    first = recorded["dir"] / "pod.json"
    rel, prof = install(node, [first], "app-kill.json", tmp_path, "--default-action", "kill")
    assert prof["defaultAction"].startswith("SCMP_ACT_KILL")
    out = tmp_path / "watch.json"
    _, _, logs, err = watched_run(node, run_app(node, rel, "denied"), out)
    assert "mkfifo=159" in logs, logs                 # 128 + SIGSYS
    (t,) = json.loads(out.read_text())["targets"]
    seen = t["info"]["auditRecords"]
    assert seen["mknodat"]["actions"][0].startswith("kill"), (seen, err)
    assert {p["comm"] for p in seen["mknodat"]["processes"]} == {"mkfifo"}
