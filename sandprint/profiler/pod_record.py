"""Kubernetes pods as recording targets (``sandprint record --pod NAMESPACE/NAME``).

The pod is read from the API server with the ``kubernetes`` client (in-cluster config when
running in a pod, else the kubeconfig): its UID, node, ``hostPID`` and the container IDs in
its status. On this node, the pod's containers are the cgroups the kubelet and the runtime
made under the pod's cgroup (``kubepods[-qos]-pod<uid_>.slice`` with the systemd driver,
``pod<uid>`` with cgroupfs) and named after a container ID (``cri-containerd-<id>.scope``,
``crio-<id>.scope``, ``<id>`` ...). Every container cgroup of the pod is claimed the moment it
is made, before the runtime starts anything in it; the API status then says which container
(name) an ID is. Init containers are separate targets (``info.init``), a restarted container
(a new ID for the same name) is merged into its name's target, and the sandbox ("pause")
container, whose ID the status never lists, is dropped.

A container whose workload was already running when its cgroup was claimed (sandprint
started after the pod) is recorded from then on, and the recording is marked incomplete
(``metadata.target.startedBeforeRecorder``, ``missedStarts`` naming the containers), which
``generate`` refuses without ``--allow-lossy``.

The session ends at ``--duration``, on SIGINT/SIGTERM, when the pod is deleted, or when the
pod has finished (phase Succeeded/Failed) and none of its containers runs any more.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import InputError
from ..recording import Recording
from .cgroup_watch import CgroupWatch, Claim
from .containers import (container_id_from_cgroup, pod_uid_from_cgroup, require_cgroup2,
                         strip_runtime_prefix)
from .recorder import Recorder
from .session import Poller, Session

Log = Callable[[str], None]


@dataclass
class PodContainer:
    name: str
    init: bool = False
    id: str | None = None
    image: str | None = None
    restart_count: int = 0
    state: str | None = None          # waiting, running, terminated


@dataclass
class PodState:
    namespace: str
    name: str
    uid: str
    node: str | None
    host_pid: bool
    phase: str | None
    spec_containers: list[tuple[str, bool]] = field(default_factory=list)   # (name, init)
    statuses: list[PodContainer] = field(default_factory=list)


def parse_pod_ref(ref: str) -> tuple[str, str]:
    ns, sep, name = ref.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise InputError(f"invalid pod {ref!r}", source="--pod", expected="NAMESPACE/NAME")
    return ns, name


def node_name() -> str:
    """This node's name: $NODE_NAME (the DaemonSet sets it from spec.nodeName), else the
    host name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


def pod_from_json(d: dict[str, Any]) -> PodState:
    meta = d.get("metadata") or {}
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    pod = PodState(namespace=meta.get("namespace", ""), name=meta.get("name", ""),
                   uid=meta.get("uid", ""), node=spec.get("nodeName"),
                   host_pid=bool(spec.get("hostPID")), phase=status.get("phase"))
    for key, init in (("initContainers", True), ("containers", False)):
        for c in spec.get(key) or []:
            pod.spec_containers.append((c.get("name"), init))
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False),
                      ("ephemeralContainerStatuses", False)):
        for s in status.get(key) or []:
            state = next(iter(s.get("state") or {}), None)
            cid = s.get("containerID")
            pod.statuses.append(PodContainer(
                name=s.get("name"), init=init, id=strip_runtime_prefix(cid) if cid else None,
                image=s.get("image"), restart_count=int(s.get("restartCount") or 0),
                state=state))
            # the previous run of a restarted container: its ID too
            last = (s.get("lastState") or {}).get("terminated") or {}
            if last.get("containerID"):
                pod.statuses.append(PodContainer(
                    name=s.get("name"), init=init,
                    id=strip_runtime_prefix(last["containerID"]), image=s.get("image"),
                    state="terminated"))
    return pod


class PodAPI:
    """Reads one pod through the kubernetes client; every failure is an InputError."""

    def __init__(self, kubeconfig: str | None = None):
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        try:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()
                self.where = "in-cluster configuration"
            else:
                config.load_kube_config(config_file=kubeconfig)
                self.where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        except (ConfigException, OSError, TypeError, ValueError) as e:
            raise InputError(f"no usable Kubernetes configuration: {e}",
                             source=kubeconfig or "kubeconfig",
                             expected="a kubeconfig ($KUBECONFIG, ~/.kube/config) or running "
                                      "in a pod with a service account") from None
        self.api = client.CoreV1Api()
        self.host = self.api.api_client.configuration.host

    def read(self, namespace: str, name: str) -> PodState | None:
        """The pod, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            resp = self.api.read_namespaced_pod(name, namespace, _preload_content=False,
                                                _request_timeout=10)
            return pod_from_json(json.loads(resp.data))
        except ApiException as e:
            if e.status == 404:
                return None
            if e.status in (401, 403):
                raise InputError(f"the API server refused to read pod {namespace}/{name} "
                                 f"({e.status} {e.reason})", source=self.host,
                                 expected="credentials that may get pods") from None
            raise InputError(f"the API server answered {e.status} {e.reason}",
                             source=self.host) from None
        except (HTTPError, OSError) as e:
            raise InputError(f"cannot reach the API server: {type(e).__name__}",
                             source=self.host, expected=f"a reachable API server ({self.where})"
                             ) from None


def record_pod(ref: str, *, container_name: str | None = None, duration: float | None = None,
               wait_timeout: float = 300.0, log: Log = print, kubeconfig: str | None = None,
               node: str | None = None, files: bool = True) -> Recording:
    namespace, name = parse_pod_ref(ref)
    api = PodAPI(kubeconfig or os.environ.get("SANDPRINT_KUBECONFIG"))
    pod = api.read(namespace, name)
    if pod is None:
        raise InputError(f"no pod {namespace}/{name}", source="--pod",
                         expected=f"a pod that exists (API server {api.host})")
    here = node or node_name()
    if pod.node and pod.node != here:
        raise InputError(f"pod {namespace}/{name} runs on node {pod.node}, not on this node "
                         f"({here})", source="--pod",
                         expected="sandprint running on the pod's node (see examples/k8s)")
    known = {n for n, _ in pod.spec_containers}
    if container_name and container_name not in known:
        raise InputError(f"pod {namespace}/{name} has no container {container_name!r}",
                         source="--container-name", expected=", ".join(sorted(known)))
    root = require_cgroup2()
    uid = pod.uid

    def claim(path: str) -> Claim | None:
        if pod_uid_from_cgroup(path) != uid:
            return None
        cid = container_id_from_cgroup(path)
        return Claim(cid, host_pidns=pod.host_pid) if cid else None

    meta = {"type": "pod", "namespace": namespace, "name": name, "uid": uid, "node": here}
    if container_name:
        meta["containerName"] = container_name
    with Recorder(target_meta=meta, containers=True, files=files) as recorder:
        watch = CgroupWatch(recorder, root, claim, log=log)
        watch.scan()
        log(f"sandprint: attached; recording pod {namespace}/{name} (uid {uid}) on {here}")
        poller = Poller(lambda: api.read(namespace, name), interval=1.0)
        t0 = time.monotonic()
        last_scan = 0.0
        current = pod
        api_error_said = False

        def step() -> str | None:
            nonlocal last_scan, current, api_error_said
            if poller.error is not None and not api_error_said:
                api_error_said = True
                log(f"sandprint: WARNING: {poller.error}; recording goes on with what is known")
            if poller.updated.is_set():
                poller.updated.clear()
                if poller.error is None:
                    if poller.result is None:
                        return "pod deleted"
                    current = poller.result
            for c in current.statuses:
                if not c.id or (c.id in watch.keys and watch.keys[c.id].dropped):
                    continue
                if container_name and c.name != container_name:
                    watch.drop(c.id)
                    continue
                if c.id not in watch.keys or watch.keys[c.id].name is None:
                    watch.bind(c.id, c.name, {
                        "containerID": c.id, "containerName": c.name, "init": c.init,
                        "image": c.image, "pod": f"{namespace}/{name}",
                        "podUID": uid, "engine": "cri"})
            now = time.monotonic()
            if now - last_scan > 1.0:
                last_scan = now
                watch.scan()
            watch.refresh()
            started = any(cg.had_procs for cg in watch.cgroups.values()
                          if watch.keys[cg.key].name is not None
                          and not watch.keys[cg.key].dropped)
            if not started and now - t0 > wait_timeout:
                raise InputError(f"no container of pod {namespace}/{name} started on "
                                 f"this node within {wait_timeout:g} s", source="--pod")
            if started and current.phase in ("Succeeded", "Failed") and \
                    not [cg for cg in watch.live() if watch.keys[cg.key].name]:
                return f"pod {current.phase.lower()}"
            return None

        with Session(recorder, duration, poller=poller) as session:
            reason = session.run(step)
        missed = {st.name: watch.missed_start(key) for key, st in watch.keys.items()
                  if st.name is not None and not st.dropped and watch.missed_start(key)}
        if missed:
            meta["startedBeforeRecorder"] = True
            meta["missedStarts"] = sorted(missed)
        rec = watch.finish(stopReason=reason, exitStatus=None)
        rec.metadata["target"] = meta
        for cname, pids in sorted(missed.items()):
            log(f"sandprint: container {cname} of pod {namespace}/{name} was already running "
                "when sandprint followed it: the recording misses its start and is marked "
                "incomplete")
            rec.mark_incomplete(
                f"container {cname} of pod {namespace}/{name} had started its workload before "
                f"sandprint followed it ({len(pids)} process(es) already running): its start "
                "(the first exec and what ran before) is not in the recording; record again "
                "with sandprint started, and saying 'attached', before the pod's containers")
        return rec
