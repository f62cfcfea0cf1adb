"""Recording a container by name or ID (podman), from its workload's first syscall.

``record_container`` starts the recorder in container mode, then waits for the container:

* not created yet, or created but not started: every new container cgroup is claimed the
  moment it is made (provisionally: its ID is not known to be ours until podman says so);
  the recording counts from the workload's exec inside it, so runc's setup (mount,
  pivot_root, sethostname, setgroups ...) is not in it;
* already running: its processes are followed from now on, and the recording says so
  (``metadata.target.startedBeforeRecorder``).

The session stops when the container's cgroup empties or goes away (it exited), after
``--duration``, or on SIGINT/SIGTERM. podman is asked in a background thread, so the ring
buffer (and with it the new-cgroup events) keeps being read while podman answers.
"""

from __future__ import annotations

import time
from typing import Callable

from ..errors import InputError
from .cgroup_watch import CgroupWatch, Claim
from .containers import (ContainerInfo, check_container_name, conmon_container,
                         container_id_from_cgroup,
                         podman_available, podman_inspect, proc_cgroup2_path, require_cgroup2)
from ..recording import Recording
from .recorder import Recorder
from .session import Poller, Session

Log = Callable[[str], None]


def _named_by_conmon(keys, name_or_id: str) -> ContainerInfo | None:
    """A provisional container whose conmon says it is ``name_or_id`` (before, or instead
    of, ``podman inspect`` answering: a short ``--rm`` container may be gone by then)."""
    for cid in keys:
        info = conmon_container(cid)
        if info is not None and (info.name == name_or_id or cid.startswith(name_or_id)):
            return info
    return None


def record_container(name_or_id: str, *, duration: float | None = None,
                     wait_timeout: float = 300.0, log: Log = print, files: bool = True
                     ) -> Recording:
    """Record one podman container until it exits (or ``duration``/a signal)."""
    check_container_name(name_or_id)
    if not podman_available():
        raise InputError("podman is not installed, so no container can be found by name",
                         source="--container", expected="a host with podman")
    root = require_cgroup2()
    first = podman_inspect(name_or_id)
    meta = {"type": "container", "container": name_or_id, "engine": "podman"}
    wanted: dict[str, ContainerInfo | None] = {"info": first}

    def claim(path: str) -> Claim | None:
        cid = container_id_from_cgroup(path)
        if cid is None:
            return None
        info = wanted["info"]
        if info is not None and cid != info.id:
            return None
        return Claim(cid, host_pidns=bool(info and info.host_pidns))

    with Recorder(target_meta=meta, containers=True, files=files) as recorder:
        watch = CgroupWatch(recorder, root, claim, log=log)
        if first is not None:
            watch.bind(first.id, first.name, first.target_info())
        if first is not None and first.state == "running" and first.pid:
            path = proc_cgroup2_path(first.pid)
            if not path or path == "/":
                raise InputError(
                    "the container's processes are not in their own cgroup v2 (unified) "
                    "cgroup, so the kernel cannot tell them apart", source=name_or_id)
            meta["startedBeforeRecorder"] = True
            log(f"sandprint: container {first.name} is already running: recording it from "
                "now on (start sandprint before the container to record it from its start)")
        watch.scan()
        if not meta.get("startedBeforeRecorder"):
            log(f"sandprint: attached; waiting for container {name_or_id} to start")
        poller = Poller(lambda: podman_inspect(name_or_id))
        started_wait = time.monotonic()
        announced = False

        def step() -> str | None:
            nonlocal announced
            info = poller.result
            if info is None and wanted["info"] is None:
                info = _named_by_conmon(watch.keys, name_or_id)
            if info is not None and wanted["info"] is None:
                # our container's ID is now known: keep it, drop the others
                wanted["info"] = info
                watch.bind(info.id, info.name, info.target_info())
                for key in list(watch.keys):
                    if key != info.id:
                        watch.drop(key)
            watch.refresh()
            info = wanted["info"]
            if info is None or not watch.seen(info.id):
                watch.scan()
            if info is not None and watch.started(info.id):
                if not announced:
                    announced = True
                    log(f"sandprint: recording container {info.name} ({info.id[:12]})")
                if not watch.live(info.id):
                    return "exited"
            elif time.monotonic() - started_wait > wait_timeout:
                if info is None:
                    raise InputError(
                        f"no container named {name_or_id!r} appeared within "
                        f"{wait_timeout:g} s", source="--container",
                        expected="the name or ID of a podman container")
                raise InputError(f"container {info.name} did not start within "
                                 f"{wait_timeout:g} s", source="--container")
            return None

        with Session(recorder, duration, poller=poller) as session:
            reason = session.run(step)
        info = wanted["info"]
        if info is not None:
            meta["id"] = info.id
            meta["name"] = info.name
            if info.image:
                meta["image"] = info.image
        rec = watch.finish(stopReason=reason, exitStatus=None)
        rec.metadata["target"] = meta
        return rec
