"""Containers as recording targets: finding them, and their cgroups, on this host.

A container is followed in the kernel by its cgroup in the unified (v2) hierarchy:
``bpf_get_current_cgroup_id()`` is that cgroup's id, which is the inode number of its
directory under the cgroup2 mount (``/sys/fs/cgroup`` on v2 hosts, ``/sys/fs/cgroup/unified``
on hybrid ones). Container runtimes name the cgroup after the container's ID:

=====================  ===============================================================
podman (cgroupfs)      ``libpod_parent/libpod-<id>``
podman (systemd)       ``machine.slice/libpod-<id>.scope`` (``.../container`` with split)
containerd (systemd)   ``kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/
                       cri-containerd-<id>.scope``
containerd (cgroupfs)  ``kubepods/<qos>/pod<uid>/<id>``
CRI-O                  ``.../crio-<id>.scope`` (systemd) or ``.../crio-<id>`` (cgroupfs)
docker                 ``system.slice/docker-<id>.scope`` or ``docker/<id>``
=====================  ===============================================================

(``<qos>`` is ``burstable`` or ``besteffort``; Guaranteed pods sit directly under kubepods;
with the systemd driver the pod UID's dashes become underscores.)

On a pure cgroup v1 host there is no unified hierarchy to name containers by: every task's
v2 cgroup id is the root's, so containers cannot be told apart in the kernel and sandprint
says so instead of recording the whole host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import EnvironmentProblem, InputError

_ID = r"(?P<id>[0-9a-f]{64})"
# basename of a container's cgroup -> the container ID in it
_SCOPE_PATTERNS = [
    re.compile(rf"^libpod-{_ID}(\.scope)?$"),
    re.compile(rf"^cri-containerd-{_ID}\.scope$"),
    re.compile(rf"^crio-{_ID}(\.scope)?$"),
    re.compile(rf"^docker-{_ID}\.scope$"),
    re.compile(rf"^{_ID}$"),
]
_UID = r"(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
# a path component naming a pod's cgroup -> the pod UID
_POD_PATTERNS = [
    re.compile(rf"^kubepods(-burstable|-besteffort)?-pod{_UID}\.slice$"),   # systemd driver
    re.compile(rf"^pod{_UID}$"),                                            # cgroupfs driver
]


def container_id_from_cgroup(path: str) -> str | None:
    """The container ID a cgroup path names (its last component, or the one before a
    ``container`` leaf as podman's split mode makes), else None."""
    parts = [p for p in path.split("/") if p]
    for part in reversed(parts[-2:]):
        for pattern in _SCOPE_PATTERNS:
            m = pattern.match(part)
            if m:
                return m.group("id")
    return None


def pod_uid_from_cgroup(path: str) -> str | None:
    """The pod UID (with dashes) of a cgroup path under a kubepods hierarchy, else None."""
    parts = [p for p in path.split("/") if p]
    if not any(p.startswith("kubepods") for p in parts):
        return None
    for part in parts:
        for pattern in _POD_PATTERNS:
            m = pattern.match(part)
            if m:
                return m.group("uid").replace("_", "-")
    return None


def strip_runtime_prefix(container_id: str) -> str:
    """``containerd://<id>`` / ``cri-o://<id>`` / ``docker://<id>`` (pod status) -> ``<id>``."""
    return container_id.split("://", 1)[-1]


# -- the cgroup v2 tree --------------------------------------------------------------------

def cgroup2_mount() -> str | None:
    """Where the unified (v2) hierarchy is mounted, or None (pure v1 host)."""
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            found.append(left.split()[4])
    if not found:
        return None
    # prefer the conventional places when several mounts exist
    for pref in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if pref in found:
            return pref
    return found[0]


def require_cgroup2() -> str:
    root = cgroup2_mount()
    if root is None:
        raise EnvironmentProblem(
            "no cgroup v2 (unified) hierarchy is mounted: containers can only be followed in "
            "the kernel by their v2 cgroup. Boot with systemd.unified_cgroup_hierarchy=1 (v2) "
            "or 0 with the hybrid layout (cgroup2 at /sys/fs/cgroup/unified)")
    return root


def cgroup_id(root: str, path: str) -> int | None:
    """The id ``bpf_get_current_cgroup_id()`` returns for tasks of this cgroup: the inode
    number of its directory in the cgroup2 filesystem."""
    try:
        return os.stat(os.path.join(root, path.lstrip("/"))).st_ino
    except OSError:
        return None


def proc_cgroup2_path(pid: int) -> str | None:
    """The v2 cgroup path of a process (the ``0::`` line of /proc/PID/cgroup)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


def walk_cgroups(root: str, under: str = "/") -> Iterator[str]:
    """Every cgroup path (relative to ``root``, with a leading /) below ``under``."""
    start = os.path.join(root, under.lstrip("/"))
    for dirpath, dirnames, _ in os.walk(start):
        rel = "/" + os.path.relpath(dirpath, root).lstrip(".")
        yield "/" if rel == "/" else rel.rstrip("/")


def cgroup_procs(root: str, path: str) -> list[int] | None:
    """PIDs in a cgroup (None when the cgroup no longer exists)."""
    try:
        with open(os.path.join(root, path.lstrip("/"), "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return None
    except OSError:
        return []


def is_runtime_bootstrap(pid: int) -> bool:
    """A process of a container cgroup that is still the runtime setting it up (runc's init
    stages, or a runtime binary not yet exec'ed into the workload)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return False
    if comm.startswith("runc:[") or comm in ("runc", "crun", "exe"):
        return True
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe.startswith("/memfd:") or os.path.basename(exe.split(" ")[0]) in ("runc", "crun")


# -- podman --------------------------------------------------------------------------------

@dataclass
class ContainerInfo:
    """What the engine says about one container."""

    id: str
    name: str
    image: str | None = None
    engine: str = "podman"
    runtime: str | None = None
    state: str | None = None          # created, running, exited ...
    pid: int | None = None
    host_pidns: bool = False
    extra: dict = field(default_factory=dict)

    def target_info(self) -> dict:
        d = {"containerID": self.id, "containerName": self.name, "engine": self.engine}
        if self.image:
            d["image"] = self.image
        if self.runtime:
            d["runtime"] = self.runtime
        d.update(self.extra)
        return d


def podman_available() -> bool:
    return shutil.which("podman") is not None


def podman_inspect(name_or_id: str) -> ContainerInfo | None:
    """The container podman knows by this name or ID (or ID prefix), or None."""
    if not podman_available():
        return None
    try:
        proc = subprocess.run(["podman", "container", "inspect", "--format", "json",
                               name_or_id], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    if not data:
        return None
    c = data[0]
    state = c.get("State") or {}
    host = c.get("HostConfig") or {}
    runtime = c.get("OCIRuntime")
    return ContainerInfo(
        id=c["Id"], name=c.get("Name") or name_or_id, image=c.get("ImageName") or c.get("Image"),
        engine="podman", runtime=runtime, state=state.get("Status"),
        pid=state.get("Pid") or None,
        host_pidns=(host.get("PidMode") == "host"))


def check_container_name(name: str) -> None:
    if not name or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise InputError(f"invalid container name or ID {name!r}", source="--container",
                         expected="a container name or (a prefix of) its hexadecimal ID")


def conmon_container(cid: str) -> ContainerInfo | None:
    """The container podman's monitor (conmon) runs with this full ID, read from conmon's
    command line (``-c ID -n NAME -r RUNTIME``). Unlike ``podman inspect``, this is there
    from before the container's process starts, so even a container that lives for a few
    milliseconds with ``--rm`` is named in time."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != "conmon":
            continue
        opts = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("-")}
        if opts.get("-c") != cid and opts.get("--cid") != cid:
            continue
        name = opts.get("-n") or opts.get("--name")
        runtime = opts.get("-r") or opts.get("--runtime")
        return ContainerInfo(id=cid, name=name or cid, image=None, engine="podman",
                             runtime=os.path.basename(runtime) if runtime else None,
                             state="running", pid=None, host_pidns=False)
    return None
