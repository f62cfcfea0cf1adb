"""What ``sandprint watch`` watches: which processes are the target's, and under which name.

- :class:`PodScope` (``--pod NS/NAME``): the pod's containers, found through the API server
  (container IDs in the pod's status) and their cgroups on this node (pod UID and container
  ID in the cgroup path); one name per container, the sandbox (pause) container left out;
- :class:`ContainerScope` (``--container NAME_OR_ID``): a podman container by name or ID, or
  any runtime's container by (a prefix of) its ID as it appears in its cgroup's name;
- :class:`PidScope` (``--pid PID``): the process and its descendants.

An audit record names the process by its PID (in the host's namespace): a scope places it by
the cgroup ``/proc/PID/cgroup`` shows, by the target's processes it saw in its last look at
the target's cgroups, or, for a process already gone, by the process it was forked from
(:mod:`.proc_events`); :meth:`Scope.place` says when none of these can tell.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from ..errors import InputError
from ..profiler.containers import (check_container_name, container_id_from_cgroup,
                                   pod_uid_from_cgroup, podman_inspect, proc_cgroup2_path,
                                   require_cgroup2, walk_cgroups)
from .proc_events import ProcEvents

Log = Callable[[str], None]


class Scope:
    """Which processes are the target's, and under which target name."""

    meta: dict
    description: str

    forks: ProcEvents | None = None
    log: Log = print

    def name_of(self, pid: int) -> str | None:
        raise NotImplementedError

    def place(self, pid: int) -> tuple[str | None, bool]:
        """(the target name of ``pid`` or None, whether that is known): also for a process
        already gone, by the process it was forked from."""
        for _ in range(16):
            name = self.name_of(pid)
            if name is not None or os.path.exists(f"/proc/{pid}"):
                return name, True
            parent = self.forks.parent(pid) if self.forks is not None else None
            if parent is None:
                return None, False
            pid = parent
        return None, False

    def look(self) -> None:
        """Refresh what is known of the target's processes (called every LOOK_INTERVAL)."""

    def ended(self) -> str | None:
        return None

    def info(self, name: str) -> dict:
        return {}


class PidScope(Scope):
    def __init__(self, pid: int):
        if not os.path.exists(f"/proc/{pid}"):
            raise InputError(f"no process {pid}", source="--pid", expected="a running process")
        self.root = pid
        self.members: set[int] = {pid}
        self.meta = {"type": "pid", "pid": pid}
        self.description = f"process {pid} and its descendants"

    @staticmethod
    def _ppid(pid: int) -> int | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None

    def name_of(self, pid: int) -> str | None:
        chain, p = [], pid
        while p and p not in self.members and len(chain) < 64:
            chain.append(p)
            p = self._ppid(p) or 0
        if p in self.members:
            self.members.update(chain)
            return "main"
        return None

    def look(self) -> None:
        for p in list(self.members):
            try:
                for task in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{task}/children") as f:
                        self.members.update(int(x) for x in f.read().split())
            except OSError:
                continue

    def ended(self) -> str | None:
        return None if any(os.path.exists(f"/proc/{p}") for p in self.members) else "exited"


class CgroupScope(Scope):
    """Processes placed by their cgroup: ``match(path)`` gives the target name or None."""

    def __init__(self):
        self.root = require_cgroup2()
        self.cache: dict[int, str] = {}            # pid -> name, from the last looks
        self.paths: dict[str, str] = {}            # cgroup path -> name

    def match(self, path: str) -> str | None:
        raise NotImplementedError

    def under(self) -> list[str]:
        return ["/"]

    def name_of(self, pid: int) -> str | None:
        path = proc_cgroup2_path(pid)
        if path is not None:
            name = self.match(path)
            if name is not None:
                self.cache[pid] = name
            return name
        return self.cache.get(pid)

    def look(self) -> None:
        self.paths = {}
        for top in self.under():
            if not os.path.isdir(os.path.join(self.root, top.lstrip("/"))):
                continue
            for path in walk_cgroups(self.root, top):
                name = self.match(path)
                if name is None:
                    continue
                self.paths[path] = name
                try:
                    with open(os.path.join(self.root, path.lstrip("/"), "cgroup.procs")) as f:
                        for x in f.read().split():
                            self.cache[int(x)] = name
                except OSError:
                    continue


class ContainerScope(CgroupScope):
    def __init__(self, name_or_id: str):
        super().__init__()
        check_container_name(name_or_id)
        self.wanted = name_or_id
        info = podman_inspect(name_or_id)
        self.id = info.id if info is not None else None
        self.name = info.name if info is not None else name_or_id
        if self.id is None and not (len(name_or_id) >= 12 and
                                    all(c in "0123456789abcdef" for c in name_or_id)):
            raise InputError(f"no container {name_or_id!r}", source="--container",
                             expected="a podman container's name or ID, or (a prefix of at "
                                      "least 12 digits of) a container ID of any runtime")
        self.meta = {"type": "container", "name": self.name, "id": self.id or name_or_id}
        self.description = f"container {self.name}"
        self.seen_running = False

    def match(self, path: str) -> str | None:
        cid = container_id_from_cgroup(path)
        if cid is None:
            return None
        if cid == self.id or (self.id is None and cid.startswith(self.wanted)):
            return self.name
        return None

    def look(self) -> None:
        super().look()
        if self.paths:
            self.seen_running = True

    def ended(self) -> str | None:
        if self.seen_running and not self.paths:
            return "exited"
        return None

    def info(self, name: str) -> dict:
        return {"containerID": self.id or self.wanted, "containerName": self.name}


class PodScope(CgroupScope):
    def __init__(self, ref: str, *, container_name: str | None = None,
                 kubeconfig: str | None = None, node: str | None = None):
        from ..profiler.pod_record import PodAPI, node_name, parse_pod_ref

        self.namespace, self.pod_name = parse_pod_ref(ref)
        super().__init__()
        self.api = PodAPI(kubeconfig or os.environ.get("SANDPRINT_KUBECONFIG"))
        pod = self.api.read(self.namespace, self.pod_name)
        if pod is None:
            raise InputError(f"no pod {ref}", source="--pod",
                             expected=f"a pod that exists (API server {self.api.host})")
        here = node or node_name()
        if pod.node and pod.node != here:
            raise InputError(f"pod {ref} runs on node {pod.node}, not on this node ({here})",
                             source="--pod", expected="sandprint running on the pod's node")
        known = {n for n, _ in pod.spec_containers}
        if container_name and container_name not in known:
            raise InputError(f"pod {ref} has no container {container_name!r}",
                             source="--container-name", expected=", ".join(sorted(known)))
        self.container_name = container_name
        self.uid = pod.uid
        self.pod = pod
        self.ids: dict[str, tuple[str, bool]] = {}         # container ID -> (name, init)
        self._learn(pod)
        self.meta = {"type": "pod", "namespace": self.namespace, "name": self.pod_name,
                     "uid": self.uid, "node": here}
        if container_name:
            self.meta["containerName"] = container_name
        self.description = f"pod {ref} (uid {self.uid})"
        self.deleted = False
        self.seen_running = False
        self._last_read = time.monotonic()
        self.api_error: str | None = None

    def _learn(self, pod) -> None:
        for c in pod.statuses:
            if c.id and (not self.container_name or c.name == self.container_name):
                self.ids[c.id] = (c.name, c.init)

    def under(self) -> list[str]:
        return [d for d in ("/kubepods", "/kubepods.slice")
                if os.path.isdir(os.path.join(self.root, d.lstrip("/")))]

    def match(self, path: str) -> str | None:
        if pod_uid_from_cgroup(path) != self.uid:
            return None
        cid = container_id_from_cgroup(path)
        hit = self.ids.get(cid) if cid else None
        return hit[0] if hit else None

    def look(self) -> None:
        now = time.monotonic()
        if now - self._last_read >= 1.0:
            self._last_read = now
            try:
                pod = self.api.read(self.namespace, self.pod_name)
            except InputError as e:          # the API server went away: go on with what is known
                if not self.api_error:
                    self.api_error = str(e)
                    self.log(f"sandprint: WARNING: {e}; watching goes on with the containers "
                             "known so far")
                pod = self.pod
            if pod is None:
                self.deleted = True
            else:
                self.pod = pod
                self._learn(pod)
        super().look()
        if self.paths:
            self.seen_running = True

    def ended(self) -> str | None:
        if self.deleted:
            return "pod deleted"
        if self.seen_running and self.pod.phase in ("Succeeded", "Failed") and not self.paths:
            return f"pod {self.pod.phase.lower()}"
        return None

    def info(self, name: str) -> dict:
        for cid, (n, init) in self.ids.items():
            if n == name:
                return {"containerName": name, "containerID": cid, "init": init,
                        "pod": f"{self.namespace}/{self.pod_name}", "podUID": self.uid,
                        "engine": "cri"}
        return {"containerName": name}
