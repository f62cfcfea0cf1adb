"""Recording a container by name or ID (podman), from its workload's first syscall.

``record_container`` starts the recorder in container mode, then waits for the container:

* not created yet, or created but not started: every new container cgroup is claimed the
  moment it is made (provisionally: its ID is not known to be ours until podman says so);
  the recording counts from the workload's exec inside it, so runc's setup (mount,
  pivot_root, sethostname, setgroups ...) is not in it;
* already running: its processes are followed from now on, and the recording says so
  (``metadata.target.startedBeforeRecorder``) and is marked incomplete (``complete: false``
  with the reason), which `generate` refuses without ``--allow-lossy``: it lacks the
  container's start.

The BPF programs are attached *before* podman is first asked about the container, and every
container cgroup is examined once the kernel follows it (:mod:`.cgroup_watch`): a container
that starts while the recorder is still loading (bcc's compile takes seconds) is either caught
at its workload's exec or found already running, never recorded as if from its start.
A name that podman later gives to a new container (removed and created again) is followed to
the new container's ID.

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
    meta = {"type": "container", "container": name_or_id, "engine": "podman"}
    wanted: dict[str, ContainerInfo | None] = {"info": None}

    def claim(path: str) -> Claim | None:
        cid = container_id_from_cgroup(path)
        if cid is None:
            return None
        info = wanted["info"]
        if info is not None and cid != info.id:
            # the name may now be another container's (removed and created again): its
            # monitor, there before the cgroup, says whose it is
            named = conmon_container(cid)
            if named is None or named.name != name_or_id:
                return None
        return Claim(cid, host_pidns=bool(info and info.host_pidns))

    # Attach first, then look for the container: whatever starts from now on is seen.
    with Recorder(target_meta=meta, containers=True, files=files) as recorder:
        first = podman_inspect(name_or_id)
        wanted["info"] = first
        watch = CgroupWatch(recorder, root, claim, log=log)
        if first is not None:
            watch.bind(first.id, first.name, first.target_info())
            if first.state == "running" and first.pid:
                path = proc_cgroup2_path(first.pid)
                if path == "/":         # (None: it exited meanwhile)
                    raise InputError(
                        "the container's processes are not in their own cgroup v2 (unified) "
                        "cgroup, so the kernel cannot tell them apart", source=name_or_id)
        watch.scan()
        missed_said = False

        def say_missed(info: ContainerInfo) -> None:
            nonlocal missed_said
            if missed_said or not watch.missed_start(info.id):
                return
            missed_said = True
            log(f"sandprint: container {info.name} is already running: recording it from "
                "now on; the recording misses its start and is marked incomplete (start "
                "sandprint before the container, and the container after sandprint says "
                "'attached', to record it from its start)")

        if first is not None:
            say_missed(first)
        if not missed_said:
            log(f"sandprint: attached; waiting for container {name_or_id} to start")
        poller = Poller(lambda: podman_inspect(name_or_id))
        started_wait = time.monotonic()
        announced = False

        def step() -> str | None:
            nonlocal announced
            cur = wanted["info"]
            info = poller.result
            if info is None and (cur is None or not watch.started(cur.id)):
                info = _named_by_conmon(
                    [k for k in watch.keys if cur is None or k != cur.id], name_or_id)
            if info is not None and (cur is None or (
                    info.id != cur.id and not watch.live(cur.id))):
                # our container's ID is now known, or the name now names a new
                # container: follow that one, drop the provisional others
                wanted["info"] = info
                watch.bind(info.id, info.name, info.target_info())
                for key in list(watch.keys):
                    if key != info.id and (watch.keys[key].name is None or
                                           not watch.started(key)):
                        watch.drop(key)
            watch.refresh()
            info = wanted["info"]
            if info is None or not watch.seen(info.id):
                watch.scan()
            if info is not None and watch.started(info.id):
                say_missed(info)
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
        last = poller.result
        if info is not None and last is not None and last.id == info.id and not info.image:
            info = last                 # known from conmon first: podman's says more
        missed = watch.missed_start(info.id) if info is not None else []
        if info is not None:
            meta["id"] = info.id
            meta["name"] = info.name
            if info.image:
                meta["image"] = info.image
        if missed:
            meta["startedBeforeRecorder"] = True
        rec = watch.finish(stopReason=reason, exitStatus=None)
        rec.metadata["target"] = meta
        if missed:
            rec.mark_incomplete(
                f"container {info.name} had started its workload before sandprint followed "
                f"it ({len(missed)} process(es) already running): its start (the first exec "
                "and what ran before) is not in the recording; record again with sandprint "
                "started, and saying 'attached', before the container")
        return rec
