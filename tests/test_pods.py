"""`record --pod` without a cluster: a stand-in API server serving real pod JSON, and real
processes placed in cgroups named exactly as the kubelet and the CRI runtimes name them.

The "runtime" of each container is `unshare --pid --fork`: it runs in the host PID namespace
and its child executes the workload inside a new one, as runc does, so the recording must start
at that exec and contain none of unshare's own setup (unshare, mount ...).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from cri.apiserver import APIServer
from helpers import need, run_sandprint, sandprint_env, wait_attached

NODE = "node-a"


def pod_json(uid: str, *, phase: str = "Pending", node: str = NODE, statuses=(),
             init_statuses=()) -> dict:
    """A pod object as the API server returns it (trimmed from `kubectl get pod -o json`)."""
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "checkout-7d9f", "namespace": "shop", "uid": uid,
                     "labels": {"app": "checkout"}, "resourceVersion": "4711",
                     "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {
            "nodeName": node, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "initContainers": [{"name": "setup", "image": "busybox:1.36",
                                "command": ["sh", "-c", "true"]}],
            "containers": [{"name": "app", "image": "busybox:1.36",
                            "command": ["sh", "-c", "sleep 1"],
                            "resources": {"requests": {"cpu": "10m"}}}],
        },
        "status": {
            "phase": phase, "qosClass": "Burstable", "hostIP": "10.0.0.5",
            "initContainerStatuses": list(init_statuses),
            "containerStatuses": list(statuses),
        },
    }


def status(name: str, cid: str | None, state: str = "running", restarts: int = 0,
           last: str | None = None, runtime: str = "containerd") -> dict:
    s = {"name": name, "image": "docker.io/library/busybox:1.36", "ready": state == "running",
         "restartCount": restarts, "started": state == "running",
         "state": {state: {"startedAt": "2024-05-01T10:00:01Z"}},
         "lastState": {}}
    if cid:
        s["containerID"] = f"{runtime}://{cid}"
    if last:
        s["lastState"] = {"terminated": {"exitCode": 0, "containerID": f"{runtime}://{last}"}}
    return s


class StandIn(APIServer):
    """A tiny API server: GET /api/v1/namespaces/shop/pods/checkout-7d9f -> self.pod."""

    def __init__(self):
        self.pod: dict | None = None
        super().__init__(lambda ns, name: self.pod if (ns, name) == ("shop", "checkout-7d9f")
                         else None)


@pytest.fixture
def api(tmp_path):
    s = StandIn()
    yield s
    s.close()


def env_for(kubeconfig: str) -> dict:
    env = sandprint_env()
    env["KUBECONFIG"] = kubeconfig
    env["NODE_NAME"] = NODE
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return env


def cg_root() -> str:
    from sandprint.profiler.containers import cgroup2_mount

    root = cgroup2_mount()
    need(root is not None, "no cgroup2 hierarchy mounted")
    return root


def pod_dirs(root: str, uid: str, driver: str) -> str:
    if driver == "systemd":
        u = uid.replace("-", "_")
        return os.path.join(root, "kubepods.slice", "kubepods-burstable.slice",
                            f"kubepods-burstable-pod{u}.slice")
    return os.path.join(root, "kubepods", "burstable", f"pod{uid}")


def scope(driver: str, runtime: str, cid: str) -> str:
    if runtime == "containerd":
        return f"cri-containerd-{cid}.scope" if driver == "systemd" else cid
    return f"crio-{cid}.scope" if driver == "systemd" else f"crio-{cid}"


RUNTIME = r"""
import os, sys
cg = sys.argv[1]
with open(os.path.join(cg, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
os.execvp("unshare", ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--"] + sys.argv[2:])
"""


def run_container(cg: str, *cmd: str) -> subprocess.Popen:
    """The stand-in runtime: enter the cgroup, then unshare a PID namespace and exec."""
    os.makedirs(cg, exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", RUNTIME, cg, *cmd])


def rm_tree(path: str) -> None:
    for dirpath, dirnames, _ in sorted(os.walk(path), key=lambda x: -len(x[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def start_record(kubeconfig: str, out: str, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "--pod",
                             "shop/checkout-7d9f", "--runtime-timeout", "60", "-o", out, *extra],
                            env=env_for(kubeconfig), stderr=subprocess.PIPE, text=True)
    wait_attached(proc)
    return proc


@pytest.mark.kernel
@pytest.mark.parametrize("driver, runtime", [("systemd", "containerd"), ("cgroupfs", "crio")])
def test_record_pod_by_kubelet_cgroup_names(bpf_ready, api, tmp_path, driver, runtime):
    root = cg_root()
    uid = str(uuid.uuid4())
    ids = {k: uuid.uuid4().hex + uuid.uuid4().hex for k in ("pause", "setup", "app1", "app2")}
    api.pod = pod_json(uid)
    out = str(tmp_path / "pod.json")
    kc = api.kubeconfig(tmp_path / "kubeconfig")
    pod_dir = pod_dirs(root, uid, driver)
    os.makedirs(pod_dir)
    rec = start_record(kc, out)
    procs = []
    try:
        # the sandbox, never listed in the status: must be dropped
        pause = run_container(os.path.join(pod_dir, scope(driver, runtime, ids["pause"])),
                              "sleep", "30")
        procs.append(pause)
        # init container, then the app, which restarts once (a new container ID)
        p = run_container(os.path.join(pod_dir, scope(driver, runtime, ids["setup"])),
                          "sh", "-c", "echo init > /dev/null; cat /proc/self/status > /dev/null")
        p.wait(20)
        api.pod = pod_json(uid, phase="Pending", init_statuses=[
            status("setup", ids["setup"], "terminated", runtime=runtime)])
        p = run_container(os.path.join(pod_dir, scope(driver, runtime, ids["app1"])),
                          "sh", "-c", "ls / > /dev/null; sleep 0.5")
        api.pod = pod_json(uid, phase="Running", init_statuses=[
            status("setup", ids["setup"], "terminated", runtime=runtime)],
            statuses=[status("app", ids["app1"], runtime=runtime)])
        p.wait(20)
        p = run_container(os.path.join(pod_dir, scope(driver, runtime, ids["app2"])),
                          "sh", "-c", "uname -a > /dev/null; sleep 0.5")
        api.pod = pod_json(uid, phase="Running", init_statuses=[
            status("setup", ids["setup"], "terminated", runtime=runtime)],
            statuses=[status("app", ids["app2"], restarts=1, last=ids["app1"],
                             runtime=runtime)])
        p.wait(20)
        time.sleep(2)
        pause.kill()            # unshare ignores SIGTERM; --kill-child takes the sandbox down
        pause.wait(10)
        api.pod = pod_json(uid, phase="Succeeded", init_statuses=[
            status("setup", ids["setup"], "terminated", runtime=runtime)],
            statuses=[status("app", ids["app2"], "terminated", restarts=1, last=ids["app1"],
                             runtime=runtime)])
        _, err = rec.communicate(timeout=60)
        assert rec.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if rec.poll() is None:
            rec.kill()
        time.sleep(0.3)
        rm_tree(pod_dir)
        for top in ("kubepods.slice", "kubepods"):      # only removes what is left empty
            rm_tree(os.path.join(root, top))
    with open(out) as f:
        data = json.load(f)
    assert data["metadata"]["stopReason"] == "pod succeeded", data["metadata"]
    targets = {t["name"]: t for t in data["targets"]}
    assert set(targets) == {"setup", "app"}, list(targets)      # pause dropped
    setup, app = targets["setup"], targets["app"]
    assert setup["info"]["init"] is True and app["info"]["init"] is False
    assert setup["info"]["podUID"] == uid
    assert sorted(app["info"]["containerIDs"]) == sorted([ids["app1"], ids["app2"]])
    # both runs of the restarted container are in its target
    assert {"getdents64", "uname"} <= set(app["syscalls"]), sorted(app["syscalls"])
    assert "uname" not in setup["syscalls"]
    for t in (setup, app):
        assert "execve" in t["syscalls"]
        # the stand-in runtime's setup happened before the workload's exec: not recorded
        assert not {"unshare", "mount", "setns"} & set(t["syscalls"])
    assert data["metadata"].get("unclaimedContainers", 0) <= 1


def test_cgroup_name_matching():
    from sandprint.profiler.containers import container_id_from_cgroup, pod_uid_from_cgroup

    cid = "a" * 64
    uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    u = uid.replace("-", "_")
    cases = [
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/"
         f"cri-containerd-{cid}.scope", uid, cid),
        (f"/kubepods.slice/kubepods-pod{u}.slice/crio-{cid}.scope", uid, cid),
        (f"/kubepods/besteffort/pod{uid}/{cid}", uid, cid),
        (f"/kubepods/pod{uid}/crio-{cid}", uid, cid),
        (f"/libpod_parent/libpod-{cid}", None, cid),
        (f"/machine.slice/libpod-{cid}.scope/container", None, cid),
        (f"/system.slice/docker-{cid}.scope", None, cid),
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice", uid, None),
        ("/user.slice/user-0.slice/session-1.scope", None, None),
    ]
    for path, want_uid, want_cid in cases:
        assert pod_uid_from_cgroup(path) == want_uid, path
        assert container_id_from_cgroup(path) == want_cid, path


def test_pod_json_parsing():
    from sandprint.profiler.pod_record import pod_from_json

    cid, old = "b" * 64, "c" * 64
    pod = pod_from_json(pod_json("u-1", phase="Running", statuses=[
        status("app", cid, restarts=1, last=old, runtime="cri-o")]))
    assert pod.node == NODE and pod.uid == "u-1" and pod.phase == "Running"
    assert ("setup", True) in pod.spec_containers and ("app", False) in pod.spec_containers
    assert {(c.name, c.id) for c in pod.statuses} == {("app", cid), ("app", old)}


def _record_pod_cli(tmp_path, kubeconfig: str, *extra: str, node: str = NODE):
    env = env_for(kubeconfig)
    env["NODE_NAME"] = node
    out = tmp_path / "x.json"
    r = subprocess.run([sys.executable, "-m", "sandprint", "record", "--pod",
                        "shop/checkout-7d9f", "--runtime-timeout", "1", "-o", str(out), *extra],
                       env=env, capture_output=True, text=True, timeout=120)
    assert not out.exists()
    return r


def test_unknown_pod(api, tmp_path):
    api.pod = None
    r = _record_pod_cli(tmp_path, api.kubeconfig(tmp_path / "kc"))
    assert r.returncode == 2 and "no pod shop/checkout-7d9f" in r.stderr, r.stderr


def test_pod_on_another_node(api, tmp_path):
    api.pod = pod_json(str(uuid.uuid4()), node="node-b")
    r = _record_pod_cli(tmp_path, api.kubeconfig(tmp_path / "kc"))
    assert r.returncode == 2 and "runs on node node-b, not on this node (node-a)" in r.stderr


def test_unknown_container_name(api, tmp_path):
    api.pod = pod_json(str(uuid.uuid4()))
    r = _record_pod_cli(tmp_path, api.kubeconfig(tmp_path / "kc"), "--container-name", "nope")
    assert r.returncode == 2 and "has no container 'nope'" in r.stderr


def test_api_server_unreachable(api, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    r = _record_pod_cli(tmp_path, api.kubeconfig(tmp_path / "kc", port=dead))
    assert r.returncode == 2 and "cannot reach the API server" in r.stderr, r.stderr


def test_no_kubeconfig(tmp_path):
    r = _record_pod_cli(tmp_path, str(tmp_path / "missing-kubeconfig"))
    assert r.returncode == 2 and "no usable Kubernetes configuration" in r.stderr, r.stderr


def test_bad_pod_ref(tmp_path):
    r = run_sandprint("record", "--pod", "just-a-name", "-o", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "NAMESPACE/NAME" in r.stderr


