"""The file/network event stream of ``bpf/files.bpf.c`` and ``bpf/net.bpf.c``: which syscall
it follows, the C defines it needs, and the decoded event.

The raw sys_enter program hands a tracked task's syscalls listed in :data:`SYSCALLS` (and
marked in the ``fs_syscall`` table) to the file code; a syscall the architecture does not have
(``open`` on aarch64, say) is simply not marked. Untracked tasks never get that far.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
from dataclasses import dataclass

from ..syscalls import syscall_number
from .bpf_loader import NR_SLOTS, TRACEFS, EventHeader

EV_FS = 16
FS_PATH_LEN = 512
FS_INFLIGHT_MAX = 4096

OP_OPEN, OP_MKDIR, OP_MKNOD, OP_UNLINK = 1, 2, 3, 4
OP_RENAME, OP_LINK, OP_SYMLINK, OP_TRUNCATE, OP_FTRUNCATE = 6, 7, 8, 9, 10
OP_CHDIR, OP_FCHDIR, OP_CHROOT, OP_DUP, OP_CLOSE, OP_CLOSE_RANGE = 11, 12, 13, 14, 15, 16
OP_MMAP, OP_IOCTL, OP_GETDENTS, OP_EXEC = 17, 18, 19, 20
OP_SOCKET, OP_BIND, OP_CONNECT, OP_LISTEN, OP_ACCEPT, OP_KILL = 21, 22, 23, 24, 25, 26

FS_STAT_EVENTS, FS_STAT_INFLIGHT_FULL, FS_STAT_DEDUP, FS_STAT_LOST = 0, 1, 2, 3
FS_STAT_REREAD, FS_STAT_UNREAD = 4, 5

# Syscalls whose entry/exit tracepoints carry the stream (absent ones are skipped per arch).
SYSCALLS = (
    "openat", "open", "creat", "openat2", "execve", "execveat",
    "mkdir", "mkdirat", "mknod", "mknodat", "unlink", "unlinkat", "rmdir",
    "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
    "truncate", "ftruncate", "chdir", "fchdir", "chroot",
    "dup", "dup2", "dup3", "fcntl", "close", "close_range",
    "mmap", "ioctl", "getdents64", "getdents",
    "socket", "bind", "connect", "listen", "accept", "accept4",
    "kill", "tkill", "tgkill",
)


class FsEventC(ctypes.Structure):
    _fields_ = [("h", EventHeader), ("op", ctypes.c_uint32), ("len1", ctypes.c_uint32),
                ("len2", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("ret", ctypes.c_int64),
                ("ts", ctypes.c_uint64), ("a", ctypes.c_int64 * 4),
                ("data", ctypes.c_char * (2 * FS_PATH_LEN))]


HEAD = FsEventC.data.offset
_HEAD = struct.Struct("=8IqQ4q")   # FsEventC up to data: header, op, lens, ret, ts, a[4]
assert _HEAD.size == HEAD


def defines(arch: str) -> dict[str, int]:
    """``NR_<NAME>`` for every syscall of the stream; a syscall the architecture lacks gets a
    distinct negative number, which never matches."""
    out = {"FS_PATH_LEN": FS_PATH_LEN, "FS_INFLIGHT_MAX": FS_INFLIGHT_MAX}
    for i, name in enumerate(SYSCALLS):
        nr = syscall_number(arch, name)
        out[f"NR_{name.upper()}"] = nr if nr is not None and nr >= 0 else -1000 - i
    return out


def stream_syscalls(arch: str) -> list[str]:
    """The stream's syscalls this architecture has."""
    return [n for n in SYSCALLS
            if (nr := syscall_number(arch, n)) is not None and 0 <= nr < NR_SLOTS - 1]


def exit_ret_offset(name: str) -> int | None:
    """Where ``syscalls:sys_exit_<name>`` keeps the return value in its record, as the
    kernel describes it in tracefs (never from headers); None without such a tracepoint."""
    for root in TRACEFS:
        try:
            with open(f"{root}/events/syscalls/sys_exit_{name}/format") as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"field:long ret;\s*offset:(\d+);\s*size:8;", text)
        return int(m.group(1)) if m else None
    return None


def exit_defines(arch: str) -> dict[str, int]:
    """PER_SYSCALL_EXITS and the return value's offset when every stream syscall has its own
    exit tracepoint with one layout; empty (the raw sys_exit is used) otherwise. See
    exits.bpf.c for why."""
    offsets = {exit_ret_offset(n) for n in stream_syscalls(arch)}
    if len(offsets) != 1 or None in offsets:
        return {}
    return {"PER_SYSCALL_EXITS": 1, "EXIT_RET_OFFSET": offsets.pop()}


def attach(bpf, arch: str, per_syscall_exits: bool = False) -> list[str]:
    """Mark the stream's syscalls for the sys_enter program and, with
    ``per_syscall_exits``, attach the exit program to each one's exit tracepoint; returns
    their names."""
    table = bpf["fs_syscall"]
    names = stream_syscalls(arch)
    for name in names:
        table[ctypes.c_int(syscall_number(arch, name))] = ctypes.c_uint8(1)
        if per_syscall_exits:
            bpf.attach_tracepoint(tp=f"syscalls:sys_exit_{name}", fn_name="fs_sys_exit")
    return names


@dataclass(slots=True)
class FsEvent:
    """One decoded event: what the syscall was given and what it returned."""

    op: int
    target: int
    pid: int                  # tgid
    tid: int
    ret: int
    ts: int                   # CLOCK_MONOTONIC ns at syscall entry
    a: tuple[int, int, int, int]
    path: str | None = None
    path2: str | None = None
    raw: bytes = b""          # sockaddr bytes for bind/connect
    truncated: bool = False   # a path longer than FS_PATH_LEN - 1 bytes

    @classmethod
    def from_buffer(cls, data, size: int) -> "FsEvent":
        # struct rather than a ctypes copy of the whole event: this runs for every event,
        # and the recorder must keep up with a busy workload (tests/test_load.py)
        buf = ctypes.string_at(data, size)
        (_type, target, pid, tid, op, len1, len2, _pad, ret, ts,
         a0, a1, a2, a3) = _HEAD.unpack_from(buf.ljust(HEAD, b"\0"))
        out = cls(op, target, pid, tid, ret, ts, (a0, a1, a2, a3))
        if op in (OP_BIND, OP_CONNECT):
            out.raw = buf[HEAD:HEAD + min(len1, 128)]
            return out
        if len1:
            out.path = _decode(buf[HEAD:HEAD + len1])
            out.truncated = len1 >= FS_PATH_LEN
        if len2:
            start = HEAD + FS_PATH_LEN
            out.path2 = _decode(buf[start:start + len2])
            out.truncated = out.truncated or len2 >= FS_PATH_LEN
        return out


def _decode(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
