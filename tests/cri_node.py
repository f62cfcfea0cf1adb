"""Fixtures shared by the CRI tests: one private containerd for the test session, the kubelet
stand-in over it, the API-server stand-in answering from the kubelet's pods, and one pod
recorded on it (``recorded``) that the profile and watch tests build on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass

import pytest

from helpers import have_bcc, is_root, need, sandprint_env, wait_attached

NODE = "node-cri"
SECCOMP_ROOT = "/var/lib/kubelet/seccomp"


@dataclass
class CRINode:
    containerd: object
    kubelet: object
    api: object
    kubeconfig: str
    profile_dir: str        # our own folder below the kubelet's seccomp root (relative)

    def env(self) -> dict:
        env = sandprint_env()
        env["KUBECONFIG"] = self.kubeconfig
        env["NODE_NAME"] = NODE
        env.pop("KUBERNETES_SERVICE_HOST", None)
        return env

    def start(self, *args: str) -> subprocess.Popen:
        """A sandprint command (record/watch) in the background, once it says 'attached'."""
        proc = subprocess.Popen([sys.executable, "-m", "sandprint", *args], env=self.env(),
                                stderr=subprocess.PIPE, text=True)
        wait_attached(proc)
        return proc


def unique_pod_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def cri_node():
    from cri.apiserver import APIServer
    from cri.containerd import Containerd, available
    from cri.kubelet import Kubelet

    need(available() is None, available() or "")
    from sandprint.profiler.containers import cgroup2_mount
    need(cgroup2_mount() is not None, "no cgroup2 hierarchy mounted")
    base = tempfile.mkdtemp(prefix="sandprint-cri-node-")
    profile_dir = f"sandprint-cri-{uuid.uuid4().hex[:8]}"
    with Containerd() as c:
        c.import_test_images()
        kubelet = Kubelet(c, node=NODE, seccomp_root=SECCOMP_ROOT)
        api = APIServer(kubelet.pod_json)
        try:
            yield CRINode(c, kubelet, api, api.kubeconfig(os.path.join(base, "kubeconfig")),
                          profile_dir)
        finally:
            api.close()
            kubelet.close()
            shutil.rmtree(os.path.join(SECCOMP_ROOT, profile_dir), ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)


# what each container does, told apart by a syscall only it makes
SETUP = "echo init > /tmp/init; cat /tmp/init > /dev/null"
APP = ("mkdir /tmp/d && rmdir /tmp/d; cat /proc/self/status | head -n 1 > /dev/null; "
       "echo app done; sleep 1")
SIDE = "sync; echo side done; sleep 1"
# runc's setup of a container, before its exec: never the workload's
RUNC_SETUP = {"pivot_root", "mount", "umount2", "sethostname", "mknodat", "unshare"}


def workload_pod(name: str, seccomp: dict | None = None):
    from cri.kubelet import ContainerSpec, PodSpec

    return PodSpec("shop", name, [
        ContainerSpec("setup", ["sh", "-c", SETUP], init=True),
        ContainerSpec("app", ["sh", "-c", APP], seccomp=seccomp),
        ContainerSpec("side", ["sh", "-c", SIDE]),
    ])


def wait_done(node, pod, names, timeout=60):
    for n in names:
        assert node.kubelet.wait_exit(pod, n, timeout) == 0, node.kubelet.logs(pod, n)


def finish(proc, timeout=90):
    try:
        _, err = proc.communicate(timeout=timeout)
    except Exception:
        proc.kill()
        raise
    assert proc.returncode == 0, err
    return err


def record_pod_once(node, d) -> dict:
    spec = workload_pod(unique_pod_name("web"))
    node.kubelet.admit(spec)
    ref = f"{spec.namespace}/{spec.name}"
    whole = node.start("record", "--pod", ref, "--runtime-timeout", "120",
                       "-o", str(d / "pod.json"))
    one = node.start("record", "--pod", ref, "--container-name", "app", "--runtime-timeout",
                     "120", "-o", str(d / "app.json"))
    try:
        pod = node.kubelet.run_pod(spec)
        wait_done(node, pod, ["app", "side"])
        err = finish(whole)
        finish(one)
        ids = dict(pod.ids)
        logs = {n: node.kubelet.logs(pod, n) for n in ids}
    finally:
        for p in (whole, one):
            if p.poll() is None:
                p.kill()
        pod = node.kubelet.pods.get((spec.namespace, spec.name))
        if pod is not None:
            node.kubelet.delete_pod(pod)
    return {"pod": json.loads((d / "pod.json").read_text()),
            "one": json.loads((d / "app.json").read_text()),
            "ids": ids, "logs": logs, "stderr": err, "spec": spec, "dir": d}


@pytest.fixture(scope="session")
def recorded(cri_node, tmp_path_factory):
    """One pod recorded twice at once: whole (``record --pod``) and one container
    (``--container-name app``). The pod exists in the API server, Pending, when the
    recorders start; the kubelet runs it after they attached.

    The recorder claims a container's cgroup when user space handles the kernel's mkdir event;
    on a machine loaded enough that this comes after the container's exec (StartContainer
    follows CreateContainer by a few tens of ms), the start is missed -- and said so
    (``missedStarts``, test_record_pod_already_running_is_incomplete). Such a run is recorded
    again, up to twice, so that the tests below judge a recording of the whole start."""
    need(is_root() and have_bcc(), "needs root and bcc")
    node = cri_node
    for attempt in range(3):
        got = record_pod_once(node, tmp_path_factory.mktemp("cri-rec"))
        missed = [got[k]["metadata"]["target"].get("missedStarts") for k in ("pod", "one")]
        if not any(missed):
            break
        print(f"cri recording {attempt}: missed the start of {missed} (a loaded machine); again")
    got["attempts"] = attempt + 1
    return got


def by_name(rec):
    return {t["name"]: t for t in rec["targets"]}
