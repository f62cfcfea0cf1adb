"""``sandprint watch``: complain mode in production.

A profile generated with ``--default-action log`` lets everything through and has the kernel
write an audit record (type 1326, AUDIT_SECCOMP) for each syscall it would have refused; an
enforcing profile's refusals are recorded too when its action is logged (kill, or any action
with ``SECCOMP_FILTER_FLAG_LOG``). ``watch`` reads those records (:mod:`.audit`: the audit
netlink socket, else /dev/kmsg; no auditd), keeps the ones of its target's processes and
writes them as a recording (``metadata.target``: ``{type: watch, of: TARGET}``) that ``merge`` and ``generate``
take: merged with the recording the profile came from, it gives the profile the workload
needs in production.

The target, as ``record`` takes it:

- ``--pod NS/NAME``: the pod's containers, found through the API server (container IDs in the
  pod's status) and their cgroups on this node (pod UID and container ID in the cgroup path);
  one target per container name, the sandbox (pause) container left out;
- ``--container NAME_OR_ID``: a podman container by name or ID, or any runtime's container by
  (a prefix of) its ID as it appears in its cgroup's name;
- ``--pid PID``: the process and its descendants.

A record names the process by its PID (in the host's namespace): sandprint places it by the
cgroup ``/proc/PID/cgroup`` shows, by the target's processes it saw in its last look at the
target's cgroups (every 0.1 s), or, for a process already gone, by the process it was forked
from (:mod:`.proc_events`). A process none of these can place is counted as
``unattributed`` and the recording says so (it may have been the target's).

Syscalls the container engine's default profile refuses too (``generators.baseline``) are
named in the summary and in ``metadata.watch.beyondBaseline``: in complain mode a compromised
workload gets every syscall through and into the watch recording, so what merging would add
beyond the usual must be a reviewed decision.

The session ends at ``--duration``, on SIGINT/SIGTERM, or when the target ends (the pod is
deleted or finished, the container or process tree exited); the recording is written in every
case.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import InputError
from ..profiler.containers import (check_container_name, container_id_from_cgroup,
                                   pod_uid_from_cgroup, podman_inspect, proc_cgroup2_path,
                                   require_cgroup2, walk_cgroups)
from ..recording import Recording, utcnow
from ..syscalls import native_arch, syscall_name
from .audit import AuditSource, SeccompRecord, actions_logged
from .proc_events import ProcEvents

Log = Callable[[str], None]
LOOK_INTERVAL = 0.1         # seconds between looks at the target's cgroups / process tree


@dataclass
class Denial:
    count: int = 0
    actions: set[str] = field(default_factory=set)
    processes: dict[int, tuple[str, str]] = field(default_factory=dict)   # pid -> (comm, exe)


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


@dataclass
class WatchResult:
    recording: Recording
    denials: dict[str, dict[str, Denial]]          # target -> syscall -> what was seen
    records: int
    unattributed: int
    source: str


def watch(scope: Scope, *, duration: float | None = None, log: Log = print,
          source: AuditSource | None = None) -> WatchResult:
    """Collect the target's seccomp audit records until the target ends, ``duration`` runs
    out or SIGINT/SIGTERM; return them as a recording."""
    from ..profiler.session import StopSignals, stop_reason

    arch = native_arch()
    logged = actions_logged()
    if logged and "log" not in logged:
        log("sandprint: WARNING: 'log' is not in /proc/sys/kernel/seccomp/actions_logged: a "
            "log-mode profile's would-be denials are not recorded by the kernel "
            "(echo log >> that file to turn them on)")
    scope.log = log
    src = source or AuditSource()
    if src.kind == "kmsg":
        log(f"sandprint: WARNING: the audit netlink socket is closed "
            f"({src.why_not_netlink}); reading /dev/kmsg, where the kernel rate-limits "
            "audit records (kernel.printk_ratelimit): some may be dropped")
    scope.forks = ProcEvents()
    if scope.forks.error:
        log(f"sandprint: WARNING: cannot listen to process events ({scope.forks.error}): "
            "records of processes that exit quickly may stay unattributed")
    rec = Recording.new({"type": "watch", "of": scope.meta}, arch=arch)
    rec.metadata["filesRecorded"] = False      # audit records say nothing of files
    rec.metadata["argsRecorded"] = False       # nor of arguments
    denials: dict[str, dict[str, Denial]] = {}
    counts = {"records": 0, "others": 0, "unattributed": 0}
    deadline = None if duration is None else time.monotonic() + duration
    last_look = 0.0
    reason = None
    try:
        with StopSignals() as signals:
            scope.look()
            log(f"sandprint: attached; watching the seccomp audit records ({src.kind}) of "
                f"{scope.description}")
            while True:
                for r in src.read(0.05):
                    _take(r, scope, denials, counts, arch)
                now = time.monotonic()
                if now - last_look >= LOOK_INTERVAL:
                    last_look = now
                    scope.look()
                    reason = scope.ended()
                reason = stop_reason(signals.signum, deadline) or reason
                if reason:
                    for r in src.read(0.2):        # what the kernel still had queued
                        _take(r, scope, denials, counts, arch)
                    break
    finally:
        scope.forks.close()
        if source is None:
            src.close()
    for tname, by_call in sorted(denials.items()):
        t = rec.target(tname)
        t.info.update(scope.info(tname))
        pids: set[int] = set()
        seen = {}
        for call, d in sorted(by_call.items()):
            carch, _, name = call.rpartition(":")
            if carch and carch != arch:
                t.add_compat_syscall(carch, name, d.count)
            else:
                t.add_syscall(name, d.count)
            pids |= set(d.processes)
            seen[call] = {"count": d.count, "actions": sorted(d.actions),
                          "processes": [{"pid": p, "comm": c, "exe": e}
                                        for p, (c, e) in sorted(d.processes.items())]}
        t.processes = len(pids)
        t.info["auditRecords"] = seen
    rec.metadata["end"] = utcnow()
    rec.metadata["stopReason"] = reason
    rec.metadata["watch"] = {"source": src.kind, "records": counts["records"],
                             "otherProcesses": counts["others"],
                             "unattributed": counts["unattributed"],
                             "actionsLogged": sorted(logged)}
    # What a compromised workload would ask for in complain mode: calls the container engine's
    # own default profile refuses are named, so that merging them in is a decision, not a habit.
    wanted = {n for t in rec.targets for n in t.syscalls}
    if wanted:
        from ..generators.baseline import compare_with_baseline

        _, base = compare_with_baseline(wanted, arch)
        if not base.get("skipped"):
            rec.metadata["watch"]["beyondBaseline"] = base["beyondBaseline"]
            rec.metadata["watch"]["baseline"] = base["baseline"]
    if counts["unattributed"]:
        rec.mark_incomplete(
            f"{counts['unattributed']} seccomp audit record(s) came from processes that had "
            "exited before sandprint could place them; some may have been the target's")
    if src.overflows:
        rec.metadata["watch"]["overflows"] = src.overflows
        rec.mark_incomplete(f"the kernel dropped audit records for sandprint {src.overflows} "
                            "time(s) (its socket buffer overflowed): some denials may be "
                            "missing")
    if src.lossy:
        rec.mark_incomplete("read from /dev/kmsg, where the kernel rate-limits audit records: "
                            "some may have been dropped")
    return WatchResult(rec, denials, counts["records"], counts["unattributed"], src.kind)


def _take(r: SeccompRecord, scope: Scope, denials, counts, arch: str) -> None:
    counts["records"] += 1
    if r.action == "allow":
        return
    name, known = scope.place(r.pid)
    if name is None:
        counts["others" if known else "unattributed"] += 1
        return
    rarch = r.arch or arch
    sysname = syscall_name(rarch, r.syscall) or f"__NR_{r.syscall}"
    key = sysname if rarch == arch else f"{rarch}:{sysname}"
    d = denials.setdefault(name, {}).setdefault(key, Denial())
    d.count += 1
    d.actions.add(r.action)
    d.processes[r.pid] = (r.comm, r.exe)


def summarise(result: WatchResult, output: str, log: Log) -> None:
    for tname, by_call in sorted(result.denials.items()):
        for call, d in sorted(by_call.items()):
            procs = ", ".join(f"{c} ({e}) pid {p}" for p, (c, e) in
                              sorted(d.processes.items())[:5])
            more = f" and {len(d.processes) - 5} more" if len(d.processes) > 5 else ""
            log(f"sandprint: {tname}: {call} x{d.count} [{', '.join(sorted(d.actions))}] "
                f"by {procs}{more}")
    n = sum(len(v) for v in result.denials.values())
    log(f"sandprint: watched {result.records} seccomp audit record(s) ({result.source}); "
        f"{n} syscall(s) the profile refuses or would refuse, in "
        f"{len(result.denials)} target(s) -> {output}")
    beyond = result.recording.metadata["watch"].get("beyondBaseline")
    if beyond:
        log(f"sandprint: WARNING: {len(beyond)} of them the container engine's default profile "
            f"refuses too: {', '.join(beyond)}; a workload rarely needs these and a compromised "
            "one would ask for them in complain mode: review before merging them in")
    for reason in result.recording.metadata.get("incompleteReasons") or []:
        log(f"sandprint: incomplete: {reason}")


def watch_cli(*, output: str, duration: float | None, pid: int | None,
              container: str | None, pod: str | None, container_name: str | None,
              log: Log) -> int:
    from ..fileio import check_writable
    from ..profiler.session import RecordingNotSaved, save_recording

    check_writable(output)
    if pid:
        scope: Scope = PidScope(pid)
    elif container:
        scope = ContainerScope(container)
    else:
        scope = PodScope(pod, container_name=container_name)
    result = watch(scope, duration=duration, log=log)
    written, error = save_recording(result.recording, output)
    summarise(result, written or output, log)
    if error is not None:
        where = f"the recording was saved to {written} instead" if written else \
            "no fallback location was writable either: the recording is lost"
        raise RecordingNotSaved(f"{error}; {where}")
    return 0
