"""The recorder's parts and the contract between each BPF program and its Python side.

Each part owns its ``bpf/*.bpf.c`` files, the events it sends on the ``events`` ring buffer
(type number, C struct, the ctypes layout user space reads it with) and the maps user space
reads by name; ``after`` names the parts whose C functions it calls, so they are compiled
before it. This table is the one place the C and the Python are tied together:
``tests/test_recorder_contract.py`` checks it against the C source (event numbers, struct
fields and sizes, map declarations, which file calls which), without a kernel.

Each part also owns its compile-time defines and its attach step beyond bcc's automatic one
(:func:`defines`, :func:`attach`), read from the recorder's :class:`Options`, and the
handling of its events: ``Part.handlers`` is the class (:class:`TaskEvents`,
:class:`FileEvents`, :class:`ContainerEvents`) the recorder makes one of, holding the state
the part's handlers need; ``Event.handler`` names its method. The recorder keeps what parts
share (targets, the tasks seen, the file model, the recording) and dispatches each event
straight to the bound method its type names.

The parts: ``tasks`` (forks, execs, exits of the followed tree), ``files`` (file, network and
signal accesses; ``fs_events.py`` and ``fsmodel.py`` on the Python side), ``syscalls`` (the
sys_enter counts, and per-process attribution), ``args`` (reading a syscall's
arguments; the decisive ones of argspec.py counted per target), ``exits`` (sys_exit: the calls a seccomp
filter refused, and the results of file syscalls), ``containers`` (new cgroups, for container
and pod targets), ``creds`` (uid/gid at exec and set*id, raised resource limits: the
capability evidence, ``creds.py``). ``common.bpf.h`` (the tracked-task map, the counters, the ring buffer) goes
before all of them.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import arg_values as AV
from . import bpf_loader as L
from . import creds as CR
from . import fs_events as FE
from .targets import is_running

COMMON_HEADER = "common.bpf.h"

# 32 MiB. File events are many and larger than fork/exit ones (about 90 bytes for a close,
# 130 for an open of a 40-byte path). A busy many-threaded target makes them faster than the
# Python consumer takes them (tests/test_load.py: 100,000 opens in ~4 s on 2 cores, while 64
# threads compete with the consumer for the CPU): the whole burst of 200,000 events fits,
# even if the consumer got no CPU at all meanwhile. At 16 MiB the same load lost 7% of its
# events with the consumer slowed down (profiled), and 0 at full speed only by a thin margin.
FS_RINGBUF_PAGES = 8192


@dataclass(frozen=True)
class Options:
    """What a recorder was asked for; the parts' defines and attach steps read it."""

    arch: str
    files: bool = True                  # file, network and signal accesses
    count_exits: bool = False           # sys_exit: the calls a seccomp filter refused
    attribute: bool = False             # per-process syscall counts
    containers: bool = False            # cgroup targets and new-cgroup events
    regular_tracepoint: bool = False    # sys_enter on the regular tracepoint, not the raw one


@dataclass(frozen=True)
class Event:
    """One kind of ring-buffer event: ``const`` = ``type`` in the C, ``struct`` sent,
    read in Python with ``layout`` (whose fields are the struct's first fields: a part may
    keep a tail that is not sent) by the method ``handler`` of its part's ``handlers``;
    ``targeted``: the event belongs to a target (its header's ``target`` is checked before
    the handler)."""

    type: int
    const: str
    struct: str
    layout: type
    handler: str
    targeted: bool = True


@dataclass(frozen=True)
class Part:
    name: str
    sources: tuple[str, ...]
    after: tuple[str, ...] = ()         # parts whose functions this part's C calls
    events: tuple[Event, ...] = ()
    maps: tuple[str, ...] = ()          # maps user space reads by name
    constants: tuple[tuple[str, int], ...] = ()   # C constants Python mirrors: (C name, value)
    # the -D values of its programs, and its attach step after bcc's (returns what it attached)
    defines: Callable[[Options], dict[str, int]] | None = None
    attach: Callable[[Any, Options, dict[str, int]], Any] | None = None
    # the class whose instance (made with the recorder) handles the part's events
    handlers: type | None = None


def _syscalls_defines(o: Options) -> dict[str, int]:
    # sys_enter on the raw tracepoint, arguments read at offsets from BTF; or on the
    # regular one, which passes them itself (asked for, or BTF cannot place them)
    out = {} if o.regular_tracepoint else dict(L.bpf_cache.kernel_fact(
        f"syscall_args_defines/{o.arch}", lambda: L.syscall_args_defines(o.arch)))
    # i386 syscalls on x86_64 told apart (the marker's offset from BTF), counted on their own
    out.update(L.bpf_cache.kernel_fact(f"compat_defines/{o.arch}",
                                       lambda: L.compat_defines(o.arch)))
    if o.count_exits:
        out["COUNT_EXITS"] = 1
    if o.attribute:     # per-process syscall counts, so verify can name who made a call
        out["ATTRIBUTE"] = 1
    return out


def _files_defines(o: Options) -> dict[str, int]:
    out = dict(FE.defines(o.arch))
    out["RINGBUF_PAGES"] = FS_RINGBUF_PAGES
    out["RECORD_FILES"] = 1
    if not o.count_exits:
        out.update(L.bpf_cache.kernel_fact(f"exit_defines/{o.arch}",
                                           lambda: FE.exit_defines(o.arch)))
    return out


def _files_attach(bpf, o: Options, defines: dict[str, int]) -> list[str]:
    return FE.attach(bpf, o.arch, per_syscall_exits="PER_SYSCALL_EXITS" in defines)


# -- the parts' event handling ---------------------------------------------------------------
# Each class is made once per recorder, with the recorder (the shared pieces: ``names``,
# ``pids``, ``exited``, ``live``, ``exe``, ``fs``, ``pending_execs``, ``recording``). It keeps
# references to those objects, so a handler reaches them in one attribute lookup, as when
# they were the recorder's own methods (the ring buffer's consumer is the hot path).

class TaskEvents:
    """``tasks``: forks, execs and exits of the followed tree."""

    def __init__(self, rec):
        self.names = rec.names
        self.pids = rec.pids              # per target: tasks seen (processes and threads)
        self.exited = rec.exited          # per target: processes that exited
        self.live = rec.live              # tasks that may still be tracked
        self.exe = rec.exe                # tgid -> what it executed last
        self.fs = rec.fs
        self.pending_execs = rec.pending_execs
        self.recording = rec.recording
        self.on_exit: Callable[[int, int], None] | None = None
        # a kernel whose sched_process_exit has no group_dead: a leader's exit ends the
        # process for the programs, even while its other threads run on
        self.leader_ends_process = not getattr(rec, "exit_group_dead", True)

    def handle_fork(self, header, data, size) -> None:
        ev = ctypes.cast(data, ctypes.POINTER(L.ForkEvent)).contents
        self.pids[header.target].add(ev.child)
        self.live.add(ev.child)
        if header.pid in self.exe:
            self.exe.setdefault(ev.child, self.exe[header.pid])
        if self.fs is not None:
            self.fs.fork(header.pid, ev.child)

    def handle_exec(self, header, data, size) -> None:
        target = header.target
        ev = ctypes.cast(data, ctypes.POINTER(L.ExecEvent)).contents
        self.pids[target].add(header.pid)   # container tasks are found by the kernel
        self.live.add(header.pid)
        filename = decode(ev.filename)
        argv = [decode(ev.argv[i].value) for i in range(min(ev.argc, L.EXEC_MAX_ARGS))]
        if ev.truncated:
            argv.append("...")
        if self.fs is not None:
            # Kept until the execve's result arrives (files.bpf.c, FileEvents): failed
            # attempts, such as a PATH search, are not executions.
            cwd = self.fs.proc(header.pid).cwd
            if not filename.startswith("/"):
                filename = os.path.normpath(os.path.join(cwd, filename))
            self.pending_execs[header.tid] = (filename, argv)
            return
        if not filename.startswith("/"):
            filename = _absolute(header.pid, filename)
        self.recording.target(self.names[target]).add_exec(filename, argv)
        self.exe[header.pid] = filename

    def handle_exit(self, header, data, size) -> None:
        if self.leader_ends_process and is_running(header.pid):
            self.recording.mark_incomplete(
                f"the leader of process {header.pid} exited before its other threads, and this "
                "kernel's sched_process_exit does not say when a thread group ends "
                "(group_dead): what those threads did after is not recorded")
        self.exited[header.target].add(header.pid)
        if self.fs is not None:
            self.fs.exited(header.pid)
        if self.on_exit:
            self.on_exit(header.pid, header.target)


class FileEvents:
    """``files``: file, network and signal accesses into the file model, and the result of
    an execve the tasks part saw start."""

    def __init__(self, rec):
        self.names = rec.names
        self.exe = rec.exe
        self.fs = rec.fs
        self.pending_execs = rec.pending_execs
        self.recording = rec.recording

    def handle_fs(self, header, data, size) -> None:
        if self.fs is not None:
            fev = FE.FsEvent.from_buffer(data, size)
            self.fs.handle(fev)
            if fev.op == FE.OP_EXEC:
                # a thread's successful execve comes back with the leader's tid
                pending = self.pending_execs.pop(fev.tid, None) or \
                    self.pending_execs.pop(fev.pid, None)
                if pending and fev.ret == 0:
                    self.recording.target(self.names[header.target]).add_exec(*pending)
                    self.exe[fev.pid] = pending[0]


class ContainerEvents:
    """``containers``: new cgroups, told to ``on_cgroup_mkdir(id, path)`` (cgroup_watch)."""

    def __init__(self, rec):
        self.on_cgroup_mkdir: Callable[[int, str], None] | None = None

    def handle_cgroup_mkdir(self, header, data, size) -> None:
        if self.on_cgroup_mkdir:
            ev = ctypes.cast(data, ctypes.POINTER(L.CgroupEvent)).contents
            self.on_cgroup_mkdir(ev.id, decode(ev.path))


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _absolute(pid: int, path: str) -> str:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return path
    return os.path.normpath(os.path.join(cwd, path))


# The shared header's side of the contract (every part includes it).
COMMON = Part(
    "common", (COMMON_HEADER,),
    maps=("tracked", "stats", "events", "cgroup_targets"),
    constants=(("TASK_PENDING_EXEC", L.TASK_PENDING_EXEC),
               ("TASK_IN_CONTAINER", L.TASK_IN_CONTAINER),
               ("TASK_HOST_PIDNS", L.TASK_HOST_PIDNS), ("TASK_TRACKED", L.TASK_TRACKED),
               ("TASK_FS_INFLIGHT", L.TASK_FS_INFLIGHT),
               ("STAT_LOST_EVENTS", L.STAT_LOST_EVENTS), ("STAT_TRACK_FULL", L.STAT_TRACK_FULL),
               ("STAT_FORKS", L.STAT_FORKS), ("STAT_EXECS", L.STAT_EXECS),
               ("STAT_COMPAT_CALLS", L.STAT_COMPAT_CALLS)))
# structs of the header that user space reads: (C struct, ctypes layout)
COMMON_STRUCTS = (("task_info", L.TaskInfo), ("event_header", L.EventHeader))

TASKS = Part(
    "tasks", ("tasks.bpf.c",),
    events=(Event(L.EV_FORK, "EV_FORK", "fork_event", L.ForkEvent, "handle_fork"),
            Event(L.EV_EXEC, "EV_EXEC", "exec_event", L.ExecEvent, "handle_exec"),
            Event(L.EV_EXIT, "EV_EXIT", "exit_event", L.EventHeader, "handle_exit")),
    constants=(("EXEC_FILENAME_LEN", L.EXEC_FILENAME_LEN), ("EXEC_ARG_LEN", L.EXEC_ARG_LEN),
               ("EXEC_MAX_ARGS", L.EXEC_MAX_ARGS)),
    # a process ends with its last thread (sched_process_exit's group_dead)
    defines=lambda o: L.bpf_cache.kernel_fact("exit_group_dead", L.exit_group_dead),
    handlers=TaskEvents)

FILES = Part(
    "files", ("files.bpf.c", "net.bpf.c"),
    events=(Event(FE.EV_FS, "EV_FS", "fs_event", FE.FsEventC, "handle_fs"),),
    maps=("fs_stats", "fs_syscall"), defines=_files_defines, attach=_files_attach,
    handlers=FileEvents,
    constants=tuple((name, getattr(FE, name)) for name in dir(FE)
                    if name.startswith(("OP_", "FS_STAT_")) and isinstance(getattr(FE, name), int))
    + (("FS_PATH_LEN", FE.FS_PATH_LEN), ("FS_INFLIGHT_MAX", FE.FS_INFLIGHT_MAX)))

# reading a syscall's six arguments, and the decisive ones of argspec.ARG_RULES counted per
# target (arg_values.py reads them back); the table comes from argspec.py as -D values
ARGS = Part("args", ("args.bpf.c",), maps=("arg_counts", "args_lost"),
            constants=(("ARG_RULES_MAX", AV.ARG_RULES_MAX), ("ARG_VALUES", AV.ARG_VALUES),
                       ("ARG_MAX_KEYS", AV.ARG_MAX_KEYS)),
            defines=lambda o: AV.defines(o.arch))

SYSCALLS = Part("syscalls", ("syscalls.bpf.c",), after=("tasks", "files", "args", "creds"),
                maps=("counts", "attribution", "compat_counts"), defines=_syscalls_defines)

EXITS = Part("exits", ("exits.bpf.c",), after=("syscalls", "files"),
             maps=("denied_counts", "denied_compat_counts"))

CONTAINERS = Part(
    "containers", ("containers.bpf.c",),
    events=(Event(L.EV_CGROUP_MKDIR, "EV_CGROUP_MKDIR", "cgroup_event", L.CgroupEvent,
                  "handle_cgroup_mkdir", targeted=False),),
    constants=(("CGROUP_PATH_LEN", L.CGROUP_PATH_LEN),),
    # container mode: the host PID namespace and the unified hierarchy's id (containers.py)
    defines=lambda o: L.container_defines(), handlers=ContainerEvents)

# credentials at exec and set*id (its own tracepoints), and at sys_enter (creds_sys_enter)
# chown, chmod, utimes and raised resource limits (creds.py)
CREDS = Part(
    "creds", ("creds.bpf.c",), after=("args",),
    events=(Event(CR.EV_CREDS, "EV_CREDS", "creds_event", CR.CredsEventC, "handle_creds"),),
    constants=(("CREDS_EXEC", CR.CREDS_EXEC), ("CREDS_SETID", CR.CREDS_SETID),
               ("CREDS_RLIMIT", CR.CREDS_RLIMIT), ("CREDS_CHOWN", CR.CREDS_CHOWN),
               ("CREDS_CHMOD", CR.CREDS_CHMOD), ("CREDS_UTIMES", CR.CREDS_UTIMES),
               ("CREDS_PATH_LEN", CR.CREDS_PATH_LEN)),
    defines=CR.defines, handlers=CR.CredsEvents)

PARTS = {p.name: p for p in (TASKS, FILES, ARGS, CREDS, SYSCALLS, EXITS, CONTAINERS)}


def select(o: Options) -> list[Part]:
    """The parts a recorder with these options loads, each after the parts it calls into."""
    names = ["tasks", "args", "creds", "syscalls"]
    if o.files:
        names.append("files")
    if o.files or o.count_exits:
        names.append("exits")
    if o.containers:
        names.append("containers")
    return ordered(PARTS[n] for n in names)


def defines(parts: Iterable[Part], o: Options) -> dict[str, int]:
    """The -D values of ``parts`` (the loader adds the common ones)."""
    out: dict[str, int] = {}
    for p in parts:
        if p.defines is not None:
            out.update(p.defines(o))
    return out


def attach(bpf, parts: Iterable[Part], o: Options, defs: dict[str, int]) -> dict[str, Any]:
    """Run each part's own attach step; part name -> what it attached. A failure detaches
    everything and is told in one line."""
    return {p.name: L.attach_extra(bpf, lambda b, p=p: p.attach(b, o, defs))
            for p in parts if p.attach is not None}


def handlers(parts: Iterable[Part], rec) -> tuple[dict[str, Any],
                                                  dict[int, tuple[Callable, bool]]]:
    """Each part's handler object, made with the recorder ``rec`` (part name -> object), and
    each event type -> (the bound method that handles it, ``targeted``)."""
    parts = list(parts)
    objects = {p.name: p.handlers(rec) for p in parts if p.handlers is not None}
    by_type = {ev.type: (getattr(objects[p.name], ev.handler), ev.targeted)
               for p in parts for ev in p.events}
    return objects, by_type


def ordered(parts: Iterable[Part]) -> list[Part]:
    """``parts`` with each after those of its ``after`` that are among them (stable
    otherwise: the table's order)."""
    chosen = {p.name: p for p in parts}
    out: list[Part] = []

    def visit(p: Part, path: tuple[str, ...] = ()) -> None:
        if p in out:
            return
        if p.name in path:
            raise ValueError(f"recorder parts call each other: {' -> '.join(path + (p.name,))}")
        for dep in p.after:
            if dep in chosen:
                visit(chosen[dep], path + (p.name,))
        out.append(p)

    for name in PARTS:
        if name in chosen:
            visit(chosen[name])
    return out


def sources(parts: Iterable[Part]) -> list[str]:
    """The ``.bpf.c`` files of ``parts``, in compile order (the loader puts the common header
    first)."""
    return [s for p in parts for s in p.sources]


def layout_fields(layout: type) -> list[tuple[str, int]]:
    """(field, size in bytes) of a ctypes layout, for the contract test."""
    return [(name, ctypes.sizeof(ctype)) for name, ctype, *_ in layout._fields_]
