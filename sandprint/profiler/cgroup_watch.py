"""Following containers' cgroups as they come and go, feeding them to the recorder.

A :class:`CgroupWatch` owns the cgroup side of one container-mode recording. A caller-supplied
``claim(path)`` says whether a cgroup belongs to the recording and under which *key* (the
container ID). Keys are bound to names (the container's name) as soon as the caller learns them
(from podman or the Kubernetes API); until then a key records under a provisional target, and
keys never bound are dropped from the recording at the end (a pod's sandbox "pause" container,
or another container that started while sandprint waited for its own).

A cgroup is claimed at the moment it is made (the ``cgroup_mkdir`` tracepoint, before the
runtime puts any process in it): everything the runtime does in it is then seen by the kernel
and counted only from the workload's exec. A cgroup found already populated (the recorder
started after the container) has its processes tracked from now on.

**Missed starts.** Whenever a cgroup is claimed (found by a scan, or reported by the mkdir
tracepoint a little later than the kernel made it), the processes already in it are looked at
*after* the kernel has the cgroup: one still the runtime bootstrapping will be caught at its
exec; one the kernel saw execute the workload since is counted; any other already ran its
workload before the recorder followed the cgroup. Those are followed from now on and the
cgroup is marked (:meth:`CgroupWatch.missed_start`): the recording misses the container's
start, and the caller says so instead of writing a complete-looking recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from . import bpf_loader as L
from .containers import cgroup_id, cgroup_procs, is_runtime_bootstrap, walk_cgroups
from .recorder import Recorder


@dataclass
class Claim:
    key: str                      # container ID
    host_pidns: bool = False


@dataclass
class WatchedCgroup:
    path: str
    cgid: int
    key: str
    target: int
    preexisting: bool
    had_procs: bool = False
    done: bool = False
    # processes found running their workload when the cgroup was claimed (start missed)
    missed: list[int] = field(default_factory=list)


@dataclass
class KeyState:
    target: int
    name: str | None = None       # bound name, None while provisional
    dropped: bool = False
    info: dict = field(default_factory=dict)


class CgroupWatch:
    def __init__(self, recorder: Recorder, root: str, claim: Callable[[str], Claim | None],
                 *, under: str = "/", log: Callable[[str], None] = print):
        self.recorder = recorder
        self.root = root
        self.claim = claim
        self.under = under
        self.log = log
        self.cgroups: dict[str, WatchedCgroup] = {}
        self.keys: dict[str, KeyState] = {}
        self.name_targets: dict[str, int] = {}
        self._provisional = 0
        recorder.on_cgroup_mkdir = self._on_mkdir

    # -- keys and targets ------------------------------------------------------------------
    def _target_for(self, key: str) -> int:
        st = self.keys.get(key)
        if st is None:
            self._provisional += 1
            index = self.recorder.add_target(f".provisional-{self._provisional}-{key[:12]}")
            st = self.keys[key] = KeyState(index)
        return st.target

    def bind(self, key: str, name: str, info: dict | None = None) -> None:
        """The container with this ID is called ``name`` (restarts bind new IDs to the same
        name: they are merged into one target at the end)."""
        st = self.keys.get(key)
        if st is None:
            st = self.keys[key] = KeyState(self._target_for(key))
        st.name = name
        st.info.update(info or {})

    def drop(self, key: str) -> None:
        """Stop following this container (not the one asked for)."""
        st = self.keys.get(key)
        if st is None or st.dropped:
            return
        st.dropped = True
        for cg in self.cgroups.values():
            if cg.key == key:
                self.recorder.untrack_cgroup(cg.cgid)
                cg.done = True
                for pid in cgroup_procs(self.root, cg.path) or []:
                    self.recorder.untrack(pid)

    # -- cgroups ---------------------------------------------------------------------------
    def _on_mkdir(self, cgid: int, path: str) -> None:
        if path in self.cgroups:
            return
        c = self.claim(path)
        if c is None or (c.key in self.keys and self.keys[c.key].dropped):
            return
        self._register(path, cgid, c, preexisting=False)

    def _register(self, path: str, cgid: int, c: Claim, *, preexisting: bool) -> WatchedCgroup:
        target = self._target_for(c.key)
        self.recorder.track_cgroup(cgid, target, host_pidns=c.host_pidns)
        cg = self.cgroups[path] = WatchedCgroup(path, cgid, c.key, target, preexisting)
        # Also for a cgroup reported by its mkdir event: user space learns of it a little
        # after the kernel made it, and the runtime may have started the workload meanwhile.
        self._adopt_running(cg)
        return cg

    def _counted_from_exec(self, pid: int, target: int) -> bool:
        """The kernel followed ``pid`` into its workload's exec (or from a parent that was):
        tracked for ``target`` and no longer waiting for the exec."""
        kt = self.recorder.task_target(pid)
        return kt is not None and kt[0] == target and not kt[1] & L.TASK_PENDING_EXEC

    def _adopt_running(self, cg: WatchedCgroup) -> None:
        """Look at the processes already in a cgroup just claimed (the kernel follows it
        already): one still the runtime bootstrapping is left to the kernel's exec rule, one
        the kernel saw execute is counted already; any other started before the cgroup was
        followed: it is tracked from now on and the cgroup marked as having missed its start."""
        seen: set[int] = set()
        for _ in range(5):
            procs = cgroup_procs(self.root, cg.path) or []
            new = [p for p in procs if p not in seen]
            if not new:
                break
            for pid in new:
                seen.add(pid)
                if is_runtime_bootstrap(pid) or self._counted_from_exec(pid, cg.target):
                    continue
                self.recorder.track(pid, cg.target)
                cg.missed.append(pid)
            if seen:
                cg.had_procs = True

    def scan(self) -> None:
        """Claim cgroups made before the recorder started (or whose mkdir event was lost)."""
        for path in walk_cgroups(self.root, self.under):
            if path in self.cgroups:
                continue
            c = self.claim(path)
            if c is None or (c.key in self.keys and self.keys[c.key].dropped):
                continue
            cgid = cgroup_id(self.root, path)
            if cgid is None:
                continue
            procs = cgroup_procs(self.root, path)
            self._register(path, cgid, c, preexisting=bool(procs))

    def refresh(self) -> None:
        """Notice cgroups that emptied or vanished (their container exited)."""
        for cg in self.cgroups.values():
            if cg.done:
                continue
            procs = cgroup_procs(self.root, cg.path)
            # A container that lived less than a polling interval is never seen in
            # cgroup.procs; the kernel still followed its tasks into the target.
            if procs or self.recorder.pids[cg.target]:
                cg.had_procs = True
            if not procs and (procs is None or cg.had_procs):
                cg.done = True
                self.recorder.untrack_cgroup(cg.cgid)

    def live(self, key: str | None = None) -> list[WatchedCgroup]:
        return [cg for cg in self.cgroups.values() if not cg.done and
                (key is None or cg.key == key)]

    def seen(self, key: str) -> bool:
        return any(cg.key == key for cg in self.cgroups.values())

    def started(self, key: str) -> bool:
        return any(cg.key == key and cg.had_procs for cg in self.cgroups.values())

    def missed_start(self, key: str) -> list[int]:
        """Processes of this container found already running their workload when its cgroup
        was claimed: the recording misses the container's start (empty: it does not)."""
        return [p for cg in self.cgroups.values() if cg.key == key for p in cg.missed]

    # -- the end ---------------------------------------------------------------------------
    def finish(self, **metadata):
        """Finish the recording: one target per bound name, provisional ones dropped."""
        rec_names = self.recorder.names
        merged_into: dict[int, str] = {}
        for key, st in self.keys.items():
            if st.name is not None and not st.dropped:
                merged_into[st.target] = st.name
        # Unique temporary names so that the recorder's finish keeps every index apart.
        for i in range(len(rec_names)):
            self.recorder.recording.target(rec_names[i]).name = f".t{i}"
            rec_names[i] = f".t{i}"
        rec = self.recorder.finish(**metadata)
        by_name = {t.name: t for t in rec.targets}
        out = []
        final: dict[str, object] = {}
        dropped_unbound = 0
        for i in range(len(rec_names)):
            t = by_name.get(f".t{i}")
            if t is None:
                continue
            name = merged_into.get(i)
            if name is None:
                if t.syscalls:
                    dropped_unbound += 1
                continue
            t.name = name
            key_info = next(st.info for st in self.keys.values() if st.target == i)
            if name in final:
                final[name].merge(t)          # a restart of the same container
                final[name].info.setdefault("containerIDs", [])
                if key_info.get("containerID"):
                    final[name].info["containerIDs"].append(key_info["containerID"])
            else:
                t.info.update(key_info)
                if key_info.get("containerID"):
                    t.info["containerIDs"] = [key_info["containerID"]]
                final[name] = t
                out.append(t)
        rec.targets = out
        if dropped_unbound:
            rec.metadata["unclaimedContainers"] = dropped_unbound
        return rec
