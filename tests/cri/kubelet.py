"""The kubelet's part, played over CRI against a real containerd.

For a pod, as the kubelet's kuberuntime manager does: ``RunPodSandbox`` with the pod's
metadata (name, namespace, uid), its labels, a log directory and the cgroup parent the
kubelet's container manager made for it (``/kubepods/<qos>/pod<uid>`` with the cgroupfs
driver, ``kubepods-<qos>-pod<uid_>.slice`` with systemd); then each init container in turn
(``CreateContainer`` + ``StartContainer``, waiting for it to exit 0), then the app containers.
Each container's ``LinuxContainerSecurityContext.seccomp`` is what the kubelet makes of the
manifest's ``securityContext.seccompProfile``: ``Localhost`` with the absolute path of
``localhostProfile`` below the kubelet's seccomp root (``/var/lib/kubelet/seccomp``),
``RuntimeDefault``, or ``Unconfined``. ``pod_json`` is the pod object the API server would
serve, built from CRI's own status (``containerID: containerd://<id>``).
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .images import BUSYBOX_IMAGE
from .proto import Client, pb

KUBELET_SECCOMP_ROOT = "/var/lib/kubelet/seccomp"


@dataclass
class ContainerSpec:
    name: str
    command: list[str]
    init: bool = False
    image: str = BUSYBOX_IMAGE
    # securityContext.seccompProfile: {"type": "Localhost", "localhostProfile": "x/y.json"},
    # {"type": "RuntimeDefault"} or {"type": "Unconfined"}; None: the pod's (or Unconfined)
    seccomp: dict | None = None
    no_new_privs: bool = False         # securityContext.allowPrivilegeEscalation: false


@dataclass
class PodSpec:
    namespace: str
    name: str
    containers: list[ContainerSpec]
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    qos: str = "besteffort"
    seccomp: dict | None = None        # spec.securityContext.seccompProfile

    @classmethod
    def from_manifest(cls, doc: dict, **kw) -> "PodSpec":
        """A Pod manifest (as ``k8s patch`` writes it): containers, init containers and the
        seccompProfile of each and of the pod."""
        meta = doc.get("metadata") or {}
        spec = doc["spec"]
        containers = []
        for key, init in (("initContainers", True), ("containers", False)):
            for c in spec.get(key) or []:
                containers.append(ContainerSpec(
                    name=c["name"],
                    command=list(c.get("command") or []) + list(c.get("args") or []),
                    init=init, image=c.get("image") or BUSYBOX_IMAGE,
                    seccomp=(c.get("securityContext") or {}).get("seccompProfile"),
                    no_new_privs=(c.get("securityContext") or {}).get(
                        "allowPrivilegeEscalation") is False))
        return cls(namespace=meta.get("namespace", "default"), name=meta["name"],
                   containers=containers,
                   seccomp=(spec.get("securityContext") or {}).get("seccompProfile"), **kw)


@dataclass
class RunningPod:
    spec: PodSpec
    sandbox_id: str | None          # None: admitted (in the API server), not yet run
    sandbox_config: Any
    ids: dict[str, str] = field(default_factory=dict)      # container name -> CRI id
    deleted: bool = False


class Kubelet:
    def __init__(self, containerd, *, node: str = "node-a",
                 seccomp_root: str = KUBELET_SECCOMP_ROOT, log_root: str | None = None):
        self.containerd = containerd
        self.cri = Client(containerd.socket)
        self.pb = pb()
        self.node = node
        self.seccomp_root = seccomp_root
        self.log_root = log_root or os.path.join(containerd.base, "pods")
        self.pods: dict[tuple[str, str], RunningPod] = {}

    # -- what the kubelet computes ---------------------------------------------------------
    def cgroup_parent(self, spec: PodSpec) -> str:
        if self.containerd.cgroup_driver == "systemd":
            return f"kubepods-{spec.qos}-pod{spec.uid.replace('-', '_')}.slice"
        return f"/kubepods/{spec.qos}/pod{spec.uid}"

    def security_profile(self, profile: dict | None):
        SP = self.pb.SecurityProfile
        kind = (profile or {}).get("type", "Unconfined")
        if kind == "Localhost":
            # (an absolute localhostProfile is taken as it is: the measuring script's own)
            path = os.path.join(self.seccomp_root, profile["localhostProfile"])
            return SP(profile_type=SP.Localhost, localhost_ref=path)
        if kind == "RuntimeDefault":
            return SP(profile_type=SP.RuntimeDefault)
        return SP(profile_type=SP.Unconfined)

    # -- the pod's life --------------------------------------------------------------------
    def admit(self, spec: PodSpec) -> RunningPod:
        """The pod exists in the API server, bound to this node, Pending: nothing runs yet."""
        pod = RunningPod(spec, None, None)
        self.pods[(spec.namespace, spec.name)] = pod
        return pod

    def run_pod(self, spec: PodSpec, *, init_timeout: float = 60.0) -> RunningPod:
        m = self.pb
        log_dir = os.path.join(self.log_root, f"{spec.namespace}_{spec.name}_{spec.uid}")
        os.makedirs(log_dir, exist_ok=True)
        labels = {"io.kubernetes.pod.name": spec.name,
                  "io.kubernetes.pod.namespace": spec.namespace,
                  "io.kubernetes.pod.uid": spec.uid}
        config = m.PodSandboxConfig(
            metadata=m.PodSandboxMetadata(name=spec.name, uid=spec.uid,
                                          namespace=spec.namespace, attempt=0),
            hostname=spec.name[:63], log_directory=log_dir, labels=labels,
            annotations={"kubernetes.io/config.source": "sandprint-kubelet-standin"},
            linux=m.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent(spec),
                security_context=m.LinuxSandboxSecurityContext(
                    namespace_options=m.NamespaceOption(network=m.POD, pid=m.CONTAINER,
                                                        ipc=m.POD),
                    # the sandbox takes the pod-level profile, as the kubelet passes it
                    seccomp=self.security_profile(spec.seccomp))))
        sid = self.cri.RunPodSandbox(m.RunPodSandboxRequest(config=config)).pod_sandbox_id
        pod = RunningPod(spec, sid, config)
        self.pods[(spec.namespace, spec.name)] = pod
        for c in spec.containers:
            self.start_container(pod, c)
            if c.init:
                code = self.wait_exit(pod, c.name, init_timeout)
                if code != 0:
                    raise RuntimeError(f"init container {c.name} exited {code}: "
                                       f"{self.logs(pod, c.name)!r}")
        return pod

    def start_container(self, pod: RunningPod, c: ContainerSpec) -> str:
        m = self.pb
        spec = pod.spec
        os.makedirs(os.path.join(pod.sandbox_config.log_directory, c.name), exist_ok=True)
        cfg = m.ContainerConfig(
            metadata=m.ContainerMetadata(name=c.name, attempt=0),
            image=m.ImageSpec(image=c.image), command=c.command,
            envs=[m.KeyValue(key="PATH", value="/bin")],
            labels={"io.kubernetes.container.name": c.name,
                    "io.kubernetes.pod.name": spec.name,
                    "io.kubernetes.pod.namespace": spec.namespace,
                    "io.kubernetes.pod.uid": spec.uid},
            log_path=f"{c.name}/0.log",
            linux=m.LinuxContainerConfig(
                resources=m.LinuxContainerResources(cpu_shares=2, oom_score_adj=1000),
                security_context=m.LinuxContainerSecurityContext(
                    namespace_options=m.NamespaceOption(network=m.POD, pid=m.CONTAINER,
                                                        ipc=m.POD),
                    seccomp=self.security_profile(c.seccomp or spec.seccomp),
                    no_new_privs=c.no_new_privs,
                    masked_paths=["/proc/kcore", "/proc/keys", "/proc/timer_list"],
                    readonly_paths=["/proc/sys", "/proc/sysrq-trigger"])))
        cid = self.cri.CreateContainer(m.CreateContainerRequest(
            pod_sandbox_id=pod.sandbox_id, config=cfg,
            sandbox_config=pod.sandbox_config)).container_id
        pod.ids[c.name] = cid
        self.cri.StartContainer(m.StartContainerRequest(container_id=cid))
        return cid

    def status(self, pod: RunningPod, name: str):
        return self.cri.ContainerStatus(
            self.pb.ContainerStatusRequest(container_id=pod.ids[name])).status

    def wait_exit(self, pod: RunningPod, name: str, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(pod, name)
            if st.state == self.pb.CONTAINER_EXITED:
                return st.exit_code
            if time.monotonic() > deadline:
                raise TimeoutError(f"container {name} still {st.state} after {timeout:g} s")
            time.sleep(0.1)

    def logs(self, pod: RunningPod, name: str) -> str:
        """The container's output (CRI log lines ``TIME STREAM TAG TEXT`` -> TEXT)."""
        path = os.path.join(pod.sandbox_config.log_directory, name, "0.log")
        try:
            with open(path, errors="replace") as f:
                return "".join(line.split(" ", 3)[3] if line.count(" ") >= 3 else line
                               for line in f)
        except OSError:
            return ""

    def delete_pod(self, pod: RunningPod) -> None:
        """StopPodSandbox then RemovePodSandbox (both idempotent, as the kubelet relies on)."""
        if pod.deleted:
            return
        if pod.sandbox_id is None:
            self.pods.pop((pod.spec.namespace, pod.spec.name), None)
            pod.deleted = True
            return
        m = self.pb
        try:
            self.cri.StopPodSandbox(m.StopPodSandboxRequest(pod_sandbox_id=pod.sandbox_id))
            self.cri.RemovePodSandbox(m.RemovePodSandboxRequest(pod_sandbox_id=pod.sandbox_id))
        finally:
            pod.deleted = True
            self.pods.pop((pod.spec.namespace, pod.spec.name), None)
            self.remove_pod_cgroups(pod.spec)

    def remove_pod_cgroups(self, spec: PodSpec) -> None:
        """The kubelet's container manager removes the pod's cgroup (runc removed the
        containers' own): in every hierarchy mounted below /sys/fs/cgroup."""
        parent = self.cgroup_parent(spec)
        if self.containerd.cgroup_driver == "systemd":
            qos = f"kubepods-{spec.qos}.slice"
            parent = f"/kubepods.slice/{qos}/{parent}"
        base = "/sys/fs/cgroup"
        for h in [base] + [os.path.join(base, d) for d in os.listdir(base)]:
            path = os.path.join(h, parent.lstrip("/"))
            if os.path.isdir(path):
                for dirpath, _, _ in sorted(os.walk(path), key=lambda x: -len(x[0])):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass

    def close(self) -> None:
        for pod in list(self.pods.values()):
            try:
                self.delete_pod(pod)
            except Exception:
                pass
        self.cri.close()

    # -- what the API server says ----------------------------------------------------------
    def pod_json(self, namespace: str, name: str) -> dict | None:
        """The pod object (``kubectl get pod -o json``, trimmed) the API server would serve,
        with each container's status from CRI."""
        pod = self.pods.get((namespace, name))
        if pod is None:
            return None
        spec = pod.spec
        m = self.pb
        statuses: dict[bool, list] = {True: [], False: []}
        running = exited_ok = 0
        for c in spec.containers:
            cid = pod.ids.get(c.name)
            s: dict[str, Any] = {"name": c.name, "image": c.image, "restartCount": 0,
                                 "ready": False, "started": False, "lastState": {}}
            if cid is None:
                s["state"] = {"waiting": {"reason": "PodInitializing"}}
            else:
                st = self.status(pod, c.name)
                s["containerID"] = f"containerd://{cid}"
                s["imageID"] = st.image_ref
                if st.state == m.CONTAINER_RUNNING:
                    s["state"] = {"running": {"startedAt": _ts(st.started_at)}}
                    s["ready"] = s["started"] = not c.init
                    running += not c.init
                elif st.state == m.CONTAINER_EXITED:
                    s["state"] = {"terminated": {"exitCode": st.exit_code, "reason": st.reason,
                                                 "startedAt": _ts(st.started_at),
                                                 "finishedAt": _ts(st.finished_at),
                                                 "containerID": f"containerd://{cid}"}}
                    exited_ok += (not c.init and st.exit_code == 0)
                else:
                    s["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses[c.init].append(s)
        apps = [c for c in spec.containers if not c.init]
        if apps and exited_ok == len(apps):
            phase = "Succeeded"
        elif running or len(statuses[False]) and all("terminated" in s["state"]
                                                     for s in statuses[False]):
            phase = "Running" if running else "Failed"
        else:
            phase = "Pending"
        def manifest(c: ContainerSpec) -> dict:
            d: dict[str, Any] = {"name": c.name, "image": c.image, "command": c.command}
            if c.seccomp:
                d["securityContext"] = {"seccompProfile": c.seccomp}
            return d
        pod_spec: dict[str, Any] = {
            "nodeName": self.node, "restartPolicy": "Never",
            "initContainers": [manifest(c) for c in spec.containers if c.init],
            "containers": [manifest(c) for c in apps]}
        if spec.seccomp:
            pod_spec["securityContext"] = {"seccompProfile": spec.seccomp}
        return {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "uid": spec.uid},
            "spec": pod_spec,
            "status": {"phase": phase, "qosClass": {"besteffort": "BestEffort",
                                                    "burstable": "Burstable"}.get(spec.qos,
                                                                                  "Guaranteed"),
                       "initContainerStatuses": statuses[True],
                       "containerStatuses": statuses[False]},
        }


def _ts(ns: int) -> str | None:
    if not ns:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))
