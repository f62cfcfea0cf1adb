"""The recorder: loads the BPF programs, feeds them targets, and turns what they saw into a
:class:`~sandprint.profiler.recording.Recording`.

Targets (what to record) are decided elsewhere (``targets.py``): this class only knows
"track this PID as part of target N". Syscall counts are aggregated in the kernel and read once
at the end; forks, execs and exits arrive as ring-buffer events while the workload runs.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Callable

from ..syscalls import native_arch, syscall_name
from . import bpf_loader as L
from .recording import Recording, Target, utcnow


def landlock_abi() -> int | None:
    """The Landlock ABI version of the running kernel (None when Landlock is unavailable)."""
    import ctypes.util

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        nr = {"x86_64": 444, "aarch64": 444}.get(os.uname().machine, 444)
        res = libc.syscall(nr, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # VERSION flag
        return res if res > 0 else None
    except OSError:
        return None


class Recorder:
    """One loaded set of recorder programs and the targets they follow.

    Use as a context manager, so the programs are detached however the block ends.
    ``count_exits=True`` also counts syscalls at sys_exit, which is how ``verify`` sees the
    calls a seccomp filter refused (they never reach sys_enter).
    """

    def __init__(self, arch: str | None = None, *, count_exits: bool = False,
                 target_meta: dict[str, Any] | None = None, containers: bool = False):
        self.arch = arch or native_arch()
        parts = ["tasks.bpf.c", "syscalls.bpf.c"]
        if count_exits:
            parts.append("exits.bpf.c")
        defines: dict[str, int] = {}
        if containers:
            # container mode: cgroup id -> target map, new-cgroup events (containers.py)
            parts.append("containers.bpf.c")
            defines.update(L.container_defines())
        self.count_exits = count_exits
        self.bpf = L.load(parts, self.arch, defines or None)
        self._cgroup_targets = self.bpf["cgroup_targets"] if containers else None
        self.on_cgroup_mkdir: Callable[[int, str], None] | None = None
        self._tracked = self.bpf["tracked"]
        self._stats = self.bpf["stats"]
        self._counts = self.bpf["counts"]
        self._exit_counts = self.bpf["exit_counts"] if count_exits else None
        self.recording = Recording.new(target_meta or {}, arch=self.arch,
                                       landlock_abi=landlock_abi())
        self.names: list[str] = []
        self.pids: list[set[int]] = []
        self.on_exit: Callable[[int, int], None] | None = None
        self.bpf["events"].open_ring_buffer(self._on_event)
        self._closed = False

    # -- targets ---------------------------------------------------------------------------
    def add_target(self, name: str = "main", info: dict[str, Any] | None = None) -> int:
        if len(self.names) >= L.MAX_TARGETS:
            raise RuntimeError(f"at most {L.MAX_TARGETS} targets per recording")
        self.names.append(name)
        self.pids.append(set())
        t = self.recording.target(name)
        if info:
            t.info.update(info)
        return len(self.names) - 1

    def track(self, pid: int, target: int, *, pending_exec: bool = False) -> None:
        """Follow ``pid`` (and, from now on, its children) as part of ``target``.

        ``pending_exec``: the task is sandprint's own launcher child; counting starts at its
        execve.
        """
        flags = L.TASK_PENDING_EXEC if pending_exec else 0
        self._tracked[ctypes.c_uint32(pid)] = L.TaskInfo(target, flags)
        self.pids[target].add(pid)

    def track_cgroup(self, cgroup_id: int, target: int, *, host_pidns: bool = False) -> None:
        """Container mode: every task of this (v2) cgroup belongs to ``target``; it counts
        from the workload's exec (see common.bpf.h)."""
        if self._cgroup_targets is None:
            raise RuntimeError("recorder was not started with containers=True")
        flags = L.TASK_HOST_PIDNS if host_pidns else 0
        self._cgroup_targets[ctypes.c_uint64(cgroup_id)] = L.TaskInfo(target, flags)

    def untrack_cgroup(self, cgroup_id: int) -> None:
        if self._cgroup_targets is not None:
            try:
                del self._cgroup_targets[ctypes.c_uint64(cgroup_id)]
            except KeyError:
                pass

    def untrack(self, pid: int) -> None:
        try:
            del self._tracked[ctypes.c_uint32(pid)]
        except KeyError:
            pass

    def task_target(self, pid: int) -> tuple[int, int] | None:
        """(target, flags) of a tracked task, or None."""
        try:
            info = self._tracked[ctypes.c_uint32(pid)]
        except KeyError:
            return None
        return info.target, info.flags

    def is_tracked(self, pid: int) -> bool:
        try:
            self._tracked[ctypes.c_uint32(pid)]
        except KeyError:
            return False
        return True

    def tracked_count(self) -> int:
        return sum(1 for _ in self._tracked.keys())

    # -- events ----------------------------------------------------------------------------
    def _on_event(self, ctx, data, size) -> None:
        header = ctypes.cast(data, ctypes.POINTER(L.EventHeader)).contents
        if header.type == L.EV_CGROUP_MKDIR:
            if self.on_cgroup_mkdir:
                ev = ctypes.cast(data, ctypes.POINTER(L.CgroupEvent)).contents
                self.on_cgroup_mkdir(ev.id, _decode(ev.path))
            return
        target = header.target
        if target >= len(self.names):
            return
        if header.type == L.EV_FORK:
            ev = ctypes.cast(data, ctypes.POINTER(L.ForkEvent)).contents
            self.pids[target].add(ev.child)
        elif header.type == L.EV_EXEC:
            ev = ctypes.cast(data, ctypes.POINTER(L.ExecEvent)).contents
            self.pids[target].add(header.pid)   # container tasks are found by the kernel
            filename = _decode(ev.filename)
            argv = [_decode(ev.argv[i].value) for i in range(min(ev.argc, L.EXEC_MAX_ARGS))]
            if ev.truncated:
                argv.append("...")
            if not filename.startswith("/"):
                filename = _absolute(header.pid, filename)
            self.recording.target(self.names[target]).add_exec(filename, argv)
        elif header.type == L.EV_EXIT:
            if self.on_exit:
                self.on_exit(header.pid, target)

    def poll(self, timeout_ms: int = 100) -> None:
        self.bpf.ring_buffer_poll(timeout_ms)

    def drain(self) -> None:
        self.bpf.ring_buffer_consume()

    # -- results ---------------------------------------------------------------------------
    def stat(self, index: int) -> int:
        return int(self._stats[ctypes.c_int(index)].value)

    def _row(self, table, target: int) -> dict[int, int]:
        out = {}
        base = target * L.NR_SLOTS
        for slot in range(L.NR_SLOTS):
            n = int(table.sum(ctypes.c_int(base + slot)).value)
            if n:
                out[slot] = n
        return out

    def syscall_counts(self, target: int) -> dict[int, int]:
        """Syscall number -> count at sys_enter (slot NR_SLOTS-1: numbers out of range)."""
        return self._row(self._counts, target)

    def exit_counts(self, target: int) -> dict[int, int]:
        if self._exit_counts is None:
            raise RuntimeError("recorder was not started with count_exits=True")
        return self._row(self._exit_counts, target)

    def finish(self, **metadata: Any) -> Recording:
        """Drain the events, read the counts and return the recording."""
        self.drain()
        rec = self.recording
        for index, name in enumerate(self.names):
            t: Target = rec.target(name)
            t.processes = len(self.pids[index])
            unknown: dict[str, int] = {}
            for nr, n in self.syscall_counts(index).items():
                sname = syscall_name(self.arch, nr) if nr < L.NR_SLOTS - 1 else None
                if sname:
                    t.add_syscall(sname, n)
                else:
                    unknown[str(nr)] = unknown.get(str(nr), 0) + n
            if unknown:
                t.info["unnamedSyscalls"] = unknown
        lost = self.stat(L.STAT_LOST_EVENTS)
        untracked = self.stat(L.STAT_TRACK_FULL)
        rec.metadata["lostEvents"] = lost + untracked
        if untracked:
            rec.metadata["untrackedTasks"] = untracked
        rec.metadata["end"] = utcnow()
        rec.metadata.update(metadata)
        if rec.metadata["lostEvents"]:
            rec.metadata["complete"] = False
        return rec

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.bpf.cleanup()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _absolute(pid: int, path: str) -> str:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return path
    return os.path.normpath(os.path.join(cwd, path))
