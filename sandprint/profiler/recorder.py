"""The recorder: loads the BPF programs, feeds them targets, and turns what they saw into a
:class:`~sandprint.recording.Recording`.

Targets (what to record) are decided elsewhere (``targets.py``): this class only knows
"track this PID as part of target N". Syscall counts are aggregated in the kernel and read once
at the end; forks, execs and exits arrive as ring-buffer events while the workload runs.
"""

from __future__ import annotations

import ctypes
import functools
import time
from typing import Any, Callable

from ..syscalls import companion_arches, native_arch, syscall_name
from . import arg_values as AV
from . import bpf_loader as L
from . import fs_events as FE
from . import parts as P
from .fsmodel import FsModel
from ..recording import Recording, Target, utcnow
from .targets import is_process, is_running


def landlock_abi() -> int | None:
    """The Landlock ABI version of the running kernel (None when Landlock is unavailable),
    as the Landlock home probes it."""
    from ..landlock.abi import kernel_abi

    return kernel_abi() or None


ATTR_COMPAT = 0x40000000      # syscalls.bpf.c: an attribution key of the companion ABI


def _strip_width(name: str) -> str:
    for suffix in ("64", "32"):
        if name.endswith(suffix) and not name.endswith("_" + suffix):
            return name[: -len(suffix)]
    return name


@functools.lru_cache(maxsize=2)
def compat_unfollowed(files: bool = True) -> frozenset[str]:
    """Names (in the companion ABI) of the calls whose effect the recorder follows only in the
    native ABI: execve/execveat always (the tasks part), the calls whose decisive arguments
    are recorded (seccomp.argspec), and with ``files`` the file part's stream, their 32- and
    64-bit variants (truncate64, fcntl64, ...), socketcall (i386's one entry for socket,
    bind, connect ...) and mmap2."""
    from ..seccomp.argspec import ARG_RULES

    base = {"execve", "execveat"} | set(ARG_RULES)
    if files:
        base |= set(FE.SYSCALLS) | {"socketcall", "mmap2"}     # i386's own entries
    stream = set(base)
    return frozenset(stream | {n for n in _companion_names() if _strip_width(n) in stream})


@functools.lru_cache(maxsize=1)
def _companion_names() -> frozenset[str]:
    from ..syscalls import all_syscalls

    return frozenset(n for arch in set(L.COMPAT_ARCH.values()) for n in all_syscalls(arch).values())


class Recorder:
    """One loaded set of recorder programs and the targets they follow.

    Use as a context manager, so the programs are detached however the block ends.
    ``count_exits=True`` also watches sys_exit, which is how ``verify`` sees the calls a
    seccomp filter refused (they never reach sys_enter). ``regular_tracepoint=True`` puts
    sys_enter on the regular tracepoint instead of the raw one (slower for every process on
    the host; for comparison and for kernels without BTF, where it is chosen anyway).
    """

    def __init__(self, arch: str | None = None, *, count_exits: bool = False,
                 target_meta: dict[str, Any] | None = None, files: bool = True,
                 attribute: bool = False, containers: bool = False,
                 regular_tracepoint: bool = False):
        self.arch = arch or native_arch()
        # before the programs load: a signal between their load and the session's handlers
        # would end sandprint without a recording
        kernel_landlock_abi = landlock_abi()
        # the parts (parts.py): their .bpf.c files in compile order, defines, attach steps
        opts = P.Options(self.arch, files=files, count_exits=count_exits, attribute=attribute,
                         containers=containers, regular_tracepoint=regular_tracepoint)
        self.parts = P.select(opts)
        defines = P.defines(self.parts, opts)
        self.sys_enter = "raw" if "RAW_SYSCALL_ARGS" in defines else "tracepoint"
        # whether the exit program knows a thread group's end (else a leader's exit ends it)
        self.exit_group_dead = "EXIT_GROUP_DEAD" in defines
        # the companion ABI (i386 on x86_64) whose calls the programs tell apart, or None
        self.compat_arch = L.COMPAT_ARCH.get(self.arch) if "COMPAT_STATUS_OFFSET" in defines \
            else None
        self.attributing = attribute
        self.exe: dict[int, str] = {}         # tgid -> what it executed last (attribution)
        self.count_exits = count_exits
        self.bpf = L.load(P.sources(self.parts), self.arch, defines)
        self._cgroup_targets = self.bpf["cgroup_targets"] if containers else None
        self.fs: FsModel | None = None
        self._last_crosscheck = 0.0
        # an execve the tasks part saw start, until the files part has its result
        self.pending_execs: dict[int, tuple[str, list[str]]] = {}
        attached = P.attach(self.bpf, self.parts, opts, defines)
        self.fs_syscalls = attached.get("files")
        if files:
            self.fs = FsModel(lambda i: self.recording.target(self.names[i]),
                              lambda i: self.pids[i])
        self._tracked = self.bpf["tracked"]
        self.live: set[int] = set()           # tasks that may still be tracked (tracked_pids)
        self._stats = self.bpf["stats"]
        self._counts = self.bpf["counts"]
        self._denied_counts = self.bpf["denied_counts"] if count_exits else None
        self._compat_counts = self.bpf["compat_counts"] if self.compat_arch else None
        self._denied_compat_counts = self.bpf["denied_compat_counts"] \
            if count_exits and self.compat_arch else None
        self.recording = Recording.new(target_meta or {}, arch=self.arch,
                                       landlock_abi=kernel_landlock_abi)
        self.recording.metadata["filesRecorded"] = files
        self.names: list[str] = []
        self.pids: list[set[int]] = []        # tasks seen (processes and threads)
        self.exited: list[set[int]] = []      # processes (thread-group leaders) that exited
        # each part's event handling (parts.py), and each event type to its handler there;
        # the parts hold the shared objects above (names, pids, exited, live, exe, fs,
        # pending_execs, recording), so those are changed in place, never replaced
        self.events, self._handlers = P.handlers(self.parts, self)
        self._no_containers_callback: Callable[[int, str], None] | None = None
        self.bpf["events"].open_ring_buffer(self._on_event)
        self._closed = False

    # -- targets ---------------------------------------------------------------------------
    def add_target(self, name: str = "main", info: dict[str, Any] | None = None) -> int:
        if len(self.names) >= L.MAX_TARGETS:
            raise RuntimeError(f"at most {L.MAX_TARGETS} targets per recording")
        self.names.append(name)
        self.pids.append(set())
        self.exited.append(set())
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
        if self.fs is not None:
            # The launcher's fds (stdin/out/err) are inherited: Landlock never restricts them.
            self.fs.seed(pid, inherited=pending_exec).target = target
        self._tracked[ctypes.c_uint32(pid)] = L.TaskInfo(target, flags | L.TASK_TRACKED)
        self.pids[target].add(pid)
        self.live.add(pid)

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
            self._tracked[ctypes.c_uint32(pid)] = L.TaskInfo(0, 0)
        except (KeyError, IndexError):
            pass

    def task_target(self, pid: int) -> tuple[int, int] | None:
        """(target, flags) of a tracked task, or None."""
        try:
            info = self._tracked[ctypes.c_uint32(pid)]
        except (KeyError, IndexError):
            return None
        if not info.flags & L.TASK_TRACKED:
            return None
        return info.target, info.flags & ~(L.TASK_TRACKED | L.TASK_FS_INFLIGHT)

    def is_tracked(self, pid: int) -> bool:
        return self.task_target(pid) is not None

    def tracked_pids(self) -> list[int]:
        """Tasks (processes and threads) the kernel still follows, among those sandprint
        tracked or saw forked. (The map is indexed by pid, so it is not walked.) Container
        tasks the kernel claims by cgroup are not included until their first exec."""
        gone = set()
        for p in self.live:
            if not self.is_tracked(p):
                gone.add(p)
            elif not is_running(p):
                # tracked by user space just after it exited: no exit event will clear it
                self.untrack(p)
                gone.add(p)
        self.live -= gone      # a pid comes back only through track() or a fork event
        return sorted(self.live)

    def tracked_count(self) -> int:
        return len(self.tracked_pids())

    def running_processes(self, target: int) -> set[int]:
        """The target's processes (thread-group leaders) still followed and not exited."""
        return {p for p in self.pids[target] if p not in self.exited[target]
                and self.is_tracked(p) and is_process(p)}

    # -- events ----------------------------------------------------------------------------
    def _on_event(self, ctx, data, size) -> None:
        header = ctypes.cast(data, ctypes.POINTER(L.EventHeader)).contents
        entry = self._handlers.get(header.type)
        if entry is None:
            return
        handler, targeted = entry
        if targeted and header.target >= len(self.names):
            return
        handler(header, data, size)

    @property
    def on_exit(self) -> Callable[[int, int], None] | None:
        """Called with (pid, target) when a followed process exits (the tasks part)."""
        return self.events["tasks"].on_exit

    @on_exit.setter
    def on_exit(self, fn: Callable[[int, int], None] | None) -> None:
        self.events["tasks"].on_exit = fn

    @property
    def on_cgroup_mkdir(self) -> Callable[[int, str], None] | None:
        """Called with (cgroup id, path) when a cgroup is made (the containers part)."""
        part = self.events.get("containers")
        return part.on_cgroup_mkdir if part is not None else self._no_containers_callback

    @on_cgroup_mkdir.setter
    def on_cgroup_mkdir(self, fn: Callable[[int, str], None] | None) -> None:
        part = self.events.get("containers")
        if part is not None:
            part.on_cgroup_mkdir = fn
        else:
            self._no_containers_callback = fn

    def poll(self, timeout_ms: int = 100) -> None:
        self.bpf.ring_buffer_poll(timeout_ms)
        if self.fs is not None and time.monotonic() - self._last_crosscheck > 0.5:
            self._last_crosscheck = time.monotonic()
            self.fs.crosscheck()

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

    def denied_counts(self, target: int) -> dict[int, int]:
        """Syscall number -> calls that failed at sys_exit without having reached sys_enter:
        the ones a seccomp filter refused."""
        if self._denied_counts is None:
            raise RuntimeError("recorder was not started with count_exits=True")
        return self._row(self._denied_counts, target)

    def compat_counts(self, target: int) -> dict[int, int]:
        """Syscall number -> count of the companion ABI's calls (i386 numbers on x86_64)."""
        if self._compat_counts is None or not self.stat(L.STAT_COMPAT_CALLS):
            return {}
        return self._row(self._compat_counts, target)

    def denied_compat_counts(self, target: int) -> dict[int, int]:
        """Like :meth:`denied_counts`, for the companion ABI's calls (their own numbers)."""
        if self._denied_compat_counts is None:
            return {}
        return self._row(self._denied_compat_counts, target)

    def attribution(self) -> list[dict[str, Any]]:
        """Per process and syscall: ``{"pid", "nr", "arch", "refused", "count", "comm",
        "exe"}`` (recorder started with ``attribute=True``; ``refused``: the filter refused
        it; ``arch``: the ABI of the call, the companion's for i386 calls on x86_64)."""
        if not self.attributing:
            raise RuntimeError("recorder was not started with attribute=True")
        out = []
        for k, v in self.bpf["attribution"].items():
            refused = bool(k.nr & 0x80000000)
            arch = self.compat_arch if k.nr & ATTR_COMPAT and self.compat_arch else self.arch
            out.append({"pid": int(k.tgid), "nr": int(k.nr & 0x3FFFFFFF), "arch": arch,
                        "refused": refused, "count": int(v.count),
                        "comm": P.decode(bytes(v.comm).split(b"\0")[0]),
                        "exe": self.exe.get(int(k.tgid))})
        return out

    def finish(self, **metadata: Any) -> Recording:
        """Drain the events, read the counts and return the recording."""
        self.drain()
        rec = self.recording
        for index, name in enumerate(self.names):
            t: Target = rec.target(name)
            # exit events come only from thread-group leaders: they count processes, not threads
            running = self.running_processes(index)
            t.processes = len(self.exited[index] | running)
            # Tasks seen that never ended as a process: threads (a fork-only workload leaves
            # none). "made"/"none" so that a merge, where the smaller value wins, keeps
            # "made" (seccomp generation allows a thread's own exit for it).
            threads = self.pids[index] - self.exited[index] - running
            t.info["threads"] = "made" if threads else "none"
            unknown: dict[str, int] = {}
            for nr, n in self.syscall_counts(index).items():
                sname = syscall_name(self.arch, nr) if nr < L.NR_SLOTS - 1 else None
                if sname:
                    t.add_syscall(sname, n)
                else:
                    unknown[str(nr)] = unknown.get(str(nr), 0) + n
            if unknown:
                t.info["unnamedSyscalls"] = unknown
                if str(L.NR_SLOTS - 1) in unknown and "SCMP_ARCH_X32" in \
                        companion_arches(self.arch):
                    rec.mark_incomplete(
                        f"target {name!r} made syscalls numbered beyond the table, and this "
                        "kernel runs x32 ones (numbers with bit 30 set), which the recorder "
                        "does not tell apart or follow")
            self._finish_compat(index, t)
        self._check_compat_seen()
        # the decisive arguments of argspec.ARG_RULES (args.bpf.c), counted in the kernel
        arg_counts, args_lost = AV.read(self.bpf, self.arch, len(self.names))
        for index, per in arg_counts.items():
            t = rec.target(self.names[index])
            for sname, values in per.items():
                for v, n in values.items():
                    t.add_args(sname, v, n)
        rec.metadata["argsRecorded"] = True
        if args_lost:
            rec.metadata["argsLost"] = args_lost
            rec.mark_incomplete(f"{args_lost} calls' arguments found no room in the kernel's "
                                f"map of {AV.ARG_MAX_KEYS} distinct values")
        if self.fs is not None:
            for index, name in enumerate(self.names):
                self.fs.finish(index, rec.target(name))
            fs_stats = self.bpf["fs_stats"]
            rec.metadata["fileEvents"] = {
                "sent": int(fs_stats[ctypes.c_int(FE.FS_STAT_EVENTS)].value),
                "foldedInKernel": int(fs_stats[ctypes.c_int(FE.FS_STAT_DEDUP)].value),
                "lost": int(fs_stats[ctypes.c_int(FE.FS_STAT_LOST)].value)
                + int(fs_stats[ctypes.c_int(FE.FS_STAT_INFLIGHT_FULL)].value),
                # paths in pages not yet faulted in at sys_enter, read again at sys_exit
                "pathsReadAtExit": int(fs_stats[ctypes.c_int(FE.FS_STAT_REREAD)].value),
                "unreadablePaths": int(fs_stats[ctypes.c_int(FE.FS_STAT_UNREAD)].value),
            }
        lost = self.stat(L.STAT_LOST_EVENTS)
        untracked = self.stat(L.STAT_TRACK_FULL)
        rec.metadata["lostEvents"] = lost + untracked
        if untracked:
            rec.metadata["untrackedTasks"] = untracked
        rec.metadata["end"] = utcnow()
        rec.metadata.update(metadata)
        if rec.metadata["lostEvents"]:
            rec.mark_incomplete(f"{rec.metadata['lostEvents']} events were lost")
        return rec

    def _finish_compat(self, index: int, t: Target) -> None:
        """The target's calls of the companion ABI, under their own names; the ones the
        recorder does not follow in that ABI (file, exec and socket calls: their numbers and
        argument registers differ) make the recording incomplete."""
        counts = self.compat_counts(index)
        if not counts:
            return
        unfollowed: set[str] = set()
        for nr, n in counts.items():
            sname = syscall_name(self.compat_arch, nr) if nr < L.NR_SLOTS - 1 else None
            if sname is None:
                key = f"{self.compat_arch}:{nr}"
                t.info.setdefault("unnamedSyscalls", {})
                t.info["unnamedSyscalls"][key] = t.info["unnamedSyscalls"].get(key, 0) + n
                unfollowed.add(f"#{nr}")
                continue
            t.add_compat_syscall(self.compat_arch, sname, n)
            if sname in compat_unfollowed(files=self.fs is not None):
                unfollowed.add(sname)
        if unfollowed:
            self.recording.mark_incomplete(
                f"32-bit file syscalls are not followed: target {t.name!r} made "
                f"{', '.join(sorted(unfollowed))} through the {self.compat_arch} ABI, whose "
                "paths, descriptors, executions and arguments are not in this recording")

    def _check_compat_seen(self) -> None:
        """A kernel that runs i386 syscalls beside x86_64 ones, where the programs cannot
        tell them apart (no BTF for the marker): what was recorded may mix the two tables."""
        if self.compat_arch is None and self.arch in L.COMPAT_ARCH \
                and L.COMPAT_ARCH[self.arch] in companion_arches(self.arch):
            self.recording.mark_incomplete(
                f"this kernel runs {L.COMPAT_ARCH[self.arch]} syscalls beside "
                f"{self.arch} ones and its BTF does not say where it marks them "
                "(thread_info.status): 32-bit calls cannot be told from 64-bit ones")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            L.detach_tracepoints(self.bpf)
            self.bpf.cleanup()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

