"""Per-process model of the target (cwd, root, fd table) and the mapping of its file, network
and signal syscalls to Landlock rights.

The model is built from the event stream of ``bpf/files.bpf.c`` (see ``fs_events.py``) plus
the fork/exec/exit events: a forked child starts with a copy of its parent's state (threads
share their process's state: events are keyed by tgid); an execve that succeeds drops the
close-on-exec fds. A process seen for the first time (a ``--pid`` target, or an event from a
process whose fork was missed) is seeded from ``/proc/PID/{cwd,root,fd,fdinfo}``, and the
recorder cross-checks the model's cwd against ``/proc`` while the process lives
(:meth:`FsModel.crosscheck`; disagreements are counted in the target's ``info``).

Rights (Landlock's names):

* open: O_RDONLY -> read_file (read_dir for a directory), O_WRONLY -> write_file,
  O_RDWR -> both, O_TRUNC -> truncate, O_PATH -> none; O_CREAT that created the file ->
  make_reg on the parent (created = O_EXCL, or the inode's birth time is not before the call,
  or the file is already gone); O_CREAT|O_TRUNC keeps truncate even when this open created
  the file (the kernel skipped the truncation, the next run will not: the file exists then);
* execve of a file -> execute (mmap(PROT_EXEC) of a library needs none: Landlock checks
  execute in open_exec only; also the ELF interpreter / ``#!``
  interpreter of an executed file, which the kernel opens itself); the kernel opens what it
  executes for reading too (``open_exec``), and Landlock checks read_file there as well, so
  an executed file (and its interpreter) also gets read_file;
* mkdir -> make_dir, mknod -> make_char/make_block/make_fifo/make_sock/make_reg, symlink ->
  make_sym, unlink -> remove_file, rmdir -> remove_dir, all on the parent directory;
* rename/link -> remove_<kind> on the source's parent, make_<kind> on the destination's
  parent, refer on both when the parents differ (remove_<kind> on the destination's parent too
  when it replaced a file this recording saw exist);
* truncate/ftruncate -> truncate; getdents -> read_dir; ioctl on a char/block device ->
  ioctl_dev; bind of a pathname UNIX socket -> make_sock on the parent.

A result of EACCES/EPERM puts the rights in ``denied`` instead. Any other failure (ENOENT
probes of a search path, EEXIST, EXDEV ...) is not an access and is only counted: the kernel
returns it before Landlock looks at the access (path lookup comes first), so it happens with
or without a sandbox. The exception is a failure returned *after* Landlock's check, by the
device or FIFO being opened (``/dev/tty`` without a controlling terminal: ENXIO; ENODEV, EIO,
EBUSY ...) or by a device's ioctl (ENOTTY): that access passed Landlock, and under a ruleset
that does not grant it the workload would get EACCES instead of the driver's answer, so it is
recorded as an access like a successful one (``DRIVER_ERRORS``). Accesses
through fds the launched command inherited from sandprint (its stdin/stdout/stderr) need no
rule - Landlock never restricts a file opened before the ruleset was applied - so they are not
recorded.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal as _signal
import socket
import stat as _stat
import struct
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from . import fs_events as E
from .creds import Creds, DacCheck, read_status
from .paths import Resolver, join, lexical, parent, proc_self
from ..recording import NetAccess, Target

AT_FDCWD = -100
O_ACCMODE, O_WRONLY, O_RDWR = 3, 1, 2
O_CREAT, O_EXCL, O_TRUNC = 0o100, 0o200, 0o1000
O_DIRECTORY, O_CLOEXEC, O_PATH = 0o200000, 0o2000000, 0o10000000
AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = 0x200, 0x400, 0x1000
RENAME_EXCHANGE = 2
CLOSE_RANGE_CLOEXEC = 4
SOCK_TYPE_MASK, SOCK_CLOEXEC = 0xF, 0o2000000
DENIED = (-errno.EACCES, -errno.EPERM)
# What a device's or FIFO's own open answers (after Landlock's check, see the module doc)
DRIVER_ERRORS = frozenset(-e for e in (errno.ENXIO, errno.ENODEV, errno.EIO, errno.EBUSY,
                                       errno.ENOMEDIUM, errno.EAGAIN, errno.EINTR))
DRIVER_KINDS = ("char", "block", "fifo")
EXEC_RIGHTS = frozenset({"execute", "read_file"})   # what Landlock checks at open_exec
CREATE_SLACK_NS = 20_000_000      # inode timestamps are coarse (jiffies)

_MAKE = {"file": "make_reg", "dir": "make_dir", "symlink": "make_sym", "char": "make_char",
         "block": "make_block", "fifo": "make_fifo", "sock": "make_sock"}
_REMOVE_DIR = "remove_dir"
_REMOVE_FILE = "remove_file"


def kind_of_mode(mode: int) -> str:
    if _stat.S_ISDIR(mode):
        return "dir"
    if _stat.S_ISREG(mode):
        return "file"
    if _stat.S_ISLNK(mode):
        return "symlink"
    if _stat.S_ISCHR(mode):
        return "char"
    if _stat.S_ISBLK(mode):
        return "block"
    if _stat.S_ISFIFO(mode):
        return "fifo"
    if _stat.S_ISSOCK(mode):
        return "sock"
    return "file"


@dataclass(slots=True)
class Fd:
    path: str | None                 # canonical path, None for sockets, pipes, anon inodes
    kind: str | None = None          # file, dir, char, block, fifo, sock, socket, other
    cloexec: bool = False
    inherited: bool = False          # opened before the launched command started
    family: int | None = None        # sockets: AF_*
    type: int | None = None          # sockets: SOCK_*
    bound: tuple | None = None       # sockets: (family, port, address) after bind


@dataclass
class Proc:
    pid: int
    cwd: str = "/"
    root: str = "/"
    prefix: str = ""                 # where this view is reachable from sandprint
    fds: dict[int, Fd] = field(default_factory=dict)
    target: int | None = None
    creds: Creds | None = None       # the creds part's (creds.py)

    def copy(self, pid: int) -> "Proc":
        return Proc(pid, self.cwd, self.root, self.prefix,
                    {n: replace(f) for n, f in self.fds.items()}, self.target, self.creds)


def _own_mntns() -> str | None:
    try:
        return os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None


class _Statx(ctypes.Structure):
    _fields_ = [("mask", ctypes.c_uint32), ("blksize", ctypes.c_uint32),
                ("attributes", ctypes.c_uint64), ("nlink", ctypes.c_uint32),
                ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32), ("mode", ctypes.c_uint16),
                ("spare0", ctypes.c_uint16), ("ino", ctypes.c_uint64), ("size", ctypes.c_uint64),
                ("blocks", ctypes.c_uint64), ("attributes_mask", ctypes.c_uint64),
                ("atime", ctypes.c_int64 * 2), ("btime", ctypes.c_int64 * 2),
                ("ctime", ctypes.c_int64 * 2), ("mtime", ctypes.c_int64 * 2),
                ("spare", ctypes.c_uint8 * 128)]


STATX_BTIME = 0x800
STATX_BASIC = 0x7FF
_libc = ctypes.CDLL(None, use_errno=True)
_statx = getattr(_libc, "statx", None)


def birth_or_change_ns(path: str) -> int | None:
    """The inode's birth time (change time when the filesystem has none), None if missing."""
    if _statx is None:
        try:
            return os.lstat(path).st_ctime_ns
        except OSError:
            return None
    buf = _Statx()
    if _statx(AT_FDCWD, os.fsencode(path), 0x100, STATX_BASIC | STATX_BTIME,
              ctypes.byref(buf)) != 0:
        return None
    t = buf.btime if buf.mask & STATX_BTIME else buf.ctime
    return t[0] * 1_000_000_000 + (t[1] & 0xFFFFFFFF)


def interpreter_of(path: str) -> str | None:
    """The ELF program interpreter (PT_INTERP) or ``#!`` interpreter of an executable."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
            if head.startswith(b"#!"):
                line = head[2:].split(b"\n", 1)[0].strip()
                return os.fsdecode(line.split()[0]) if line else None
            if not head.startswith(b"\x7fELF") or len(head) < 64:
                return None
            is64, little = head[4] == 2, head[5] == 1
            end = "<" if little else ">"
            if is64:
                phoff, = struct.unpack_from(end + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
            else:
                phoff, = struct.unpack_from(end + "I", head, 28)
                phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
            f.seek(phoff)
            table = f.read(phentsize * min(phnum, 64))
            for i in range(min(phnum, 64)):
                entry = table[i * phentsize:(i + 1) * phentsize]
                if len(entry) < 16:
                    break
                if struct.unpack_from(end + "I", entry, 0)[0] != 3:    # PT_INTERP
                    continue
                if is64:
                    off, = struct.unpack_from(end + "Q", entry, 8)
                    size, = struct.unpack_from(end + "Q", entry, 32)
                else:
                    off, = struct.unpack_from(end + "I", entry, 4)
                    size, = struct.unpack_from(end + "I", entry, 16)
                f.seek(off)
                return os.fsdecode(f.read(min(size, 4096)).split(b"\0", 1)[0])
    except (OSError, struct.error):
        return None
    return None


def sockaddr(raw: bytes) -> tuple[str, int | None, str | None] | None:
    """(family name, port, address) of a sockaddr, None for families not recorded."""
    if len(raw) < 2:
        return None
    fam, = struct.unpack_from("=H", raw, 0)
    if fam == socket.AF_INET and len(raw) >= 8:
        return "inet", struct.unpack_from(">H", raw, 2)[0], socket.inet_ntop(socket.AF_INET,
                                                                             raw[4:8])
    if fam == socket.AF_INET6 and len(raw) >= 24:
        return "inet6", struct.unpack_from(">H", raw, 2)[0], socket.inet_ntop(
            socket.AF_INET6, raw[8:24])
    if fam == socket.AF_UNIX:
        body = raw[2:]
        if not body:
            return "unix", None, None           # autobind
        if body[0] == 0:
            return "unix", None, "@" + body[1:].decode("utf-8", "surrogateescape")
        return "unix", None, body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return None


class FsModel:
    """Turns the event stream into file, network and signal accesses of each target."""

    def __init__(self, target: Callable[[int], Target], pids: Callable[[int], set[int]]):
        targets: dict[int, Target] = {}

        def cached_target(index: int) -> Target:
            # looked up for every event: a target, once made, stays the same object
            t = targets.get(index)
            if t is None:
                t = targets[index] = target(index)
            return t

        self._target = cached_target
        self._pids = pids
        self.procs: dict[int, Proc] = {}
        self.resolver = Resolver()
        self.mntns = _own_mntns()
        self.realtime_offset = time.time_ns() - time.monotonic_ns()
        self.existing: set[str] = set()
        self.counters: dict[int, dict[str, int]] = {}
        self.first_pid: dict[int, int] = {}
        self.signals_seen: set[tuple] = set()
        self.dac = DacCheck()         # accesses the mode bits did not allow (capabilities)
        # (target, path) -> the first few processes that accessed it (verify names them)
        self.accessed_by: dict[tuple[int, str], list[int]] = {}
        # (target, path) -> {(rights, refused): [accesses, first few pids]}: verify counts and
        # names only the accesses a sandbox refuses (or would), not every access to the path
        self.accesses: dict[tuple[int, str], dict[tuple[frozenset, bool], list]] = {}

    # -- processes -------------------------------------------------------------------------
    def seed(self, pid: int, *, inherited: bool = False) -> Proc:
        """State of ``pid`` read from /proc (its fds marked ``inherited`` when asked)."""
        proc = Proc(pid, creds=read_status(pid))
        base = f"/proc/{pid}"
        try:
            ns = os.readlink(f"{base}/ns/mnt")
        except OSError:
            ns = self.mntns
        if ns != self.mntns:
            proc.prefix = f"{base}/root"
        try:
            proc.root = lexical(os.readlink(f"{base}/root")) if not proc.prefix else "/"
            proc.cwd = lexical(os.readlink(f"{base}/cwd"))
        except OSError:
            pass
        try:
            names = os.listdir(f"{base}/fd")
        except OSError:
            names = []
        for name in names:
            fd = self._fd_from_proc(pid, int(name))
            if fd is not None:
                fd.inherited = inherited
                proc.fds[int(name)] = fd
        self.procs[pid] = proc
        return proc

    def _fd_from_proc(self, pid: int, n: int) -> Fd | None:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            return None
        cloexec = False
        try:
            with open(f"/proc/{pid}/fdinfo/{n}") as f:
                for line in f:
                    if line.startswith("flags:"):
                        cloexec = bool(int(line.split()[1], 8) & O_CLOEXEC)
        except (OSError, ValueError, IndexError):
            pass
        if not link.startswith("/"):
            kind = "socket" if link.startswith("socket:") else "other"
            return Fd(None, kind, cloexec)
        try:
            kind = kind_of_mode(os.stat(f"/proc/{pid}/fd/{n}").st_mode)
        except OSError:
            kind = None
        return Fd(lexical(link.removesuffix(" (deleted)")), kind, cloexec)

    def proc(self, pid: int) -> Proc:
        p = self.procs.get(pid)
        if p is None:
            p = self.seed(pid)
        return p

    def fork(self, parent: int, child: int) -> None:
        if parent in self.procs:
            self.procs[child] = self.procs[parent].copy(child)
        else:
            self.seed(child)

    def exited(self, pid: int) -> None:
        self.procs.pop(pid, None)

    def crosscheck(self) -> None:
        """Compare each live process's modelled cwd with /proc (same mount namespace only)."""
        for pid, p in list(self.procs.items()):
            if p.prefix:
                continue
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if lexical(cwd) != p.cwd and p.target is not None:
                self._count(p.target, "cwdMismatches")

    # -- helpers ---------------------------------------------------------------------------
    def _count(self, target: int, name: str, n: int = 1) -> None:
        c = self.counters.setdefault(target, {})
        c[name] = c.get(name, 0) + n

    def _fd(self, proc: Proc, n: int) -> Fd | None:
        fd = proc.fds.get(n)
        if fd is None:
            fd = self._fd_from_proc(proc.pid, n)
            if fd is not None:
                proc.fds[n] = fd
        return fd

    def _path(self, proc: Proc, ev: E.FsEvent, path: str | None, dirfd: int, *,
              follow: bool = True) -> str | None:
        """The canonical path of a (dirfd, path) pair, None when the dirfd is unknown."""
        if path is None:
            return None
        if path.startswith("/"):
            full = lexical(proc.root + "/" + path) if proc.root != "/" else path
        elif dirfd == AT_FDCWD:
            full = join(proc.cwd, path)
        else:
            fd = self._fd(proc, dirfd)
            if fd is None or fd.path is None:
                self._count(ev.target, "unresolvedPaths")
                return None
            full = join(fd.path, path)
        out = self.resolver.resolve(proc.prefix, proc.root, full, follow=follow)
        return self._proc_self(ev, out)

    def _proc_self(self, ev: E.FsEvent, path: str) -> str:
        if not path.startswith("/proc/"):
            return path     # the common case: no copy of the target's (large) pid set
        out, changed = proc_self(path, self._pids(ev.target) | {ev.pid})
        if changed:
            self._count(ev.target, "procSelfPaths")
        if (out == "/proc/self" or out.startswith("/proc/self/")) and \
                ev.pid != self.first_pid.get(ev.target, ev.pid):
            self._count(ev.target, "procSelfByChildren")
        return out

    def _kind(self, proc: Proc, path: str, *, follow: bool = True) -> str | None:
        if path.startswith("/proc/self"):
            path = f"/proc/{proc.pid}" + path[len("/proc/self"):]
        try:
            st = os.stat(proc.prefix + path) if follow else os.lstat(proc.prefix + path)
        except OSError:
            return None
        return kind_of_mode(st.st_mode)

    def _add(self, ev: E.FsEvent, path: str, rights, kind: str | None, *,
             denied: bool = False) -> None:
        rights = set(rights)
        if not rights:
            return
        t = self._target(ev.target)
        by = self.accessed_by.setdefault((ev.target, path), [])
        if ev.pid not in by and len(by) < 4:
            by.append(ev.pid)
        kinds = self.accesses.setdefault((ev.target, path), {})
        entry = kinds.get((frozenset(rights), denied))
        if entry is None:
            entry = kinds[(frozenset(rights), denied)] = [0, []]
        entry[0] += 1
        if ev.pid not in entry[1] and len(entry[1]) < 4:
            entry[1].append(ev.pid)
        if denied:
            t.add_file(path, (), denied=rights, kind=kind)
        else:
            t.add_file(path, rights, kind=kind)
            proc = self.procs.get(ev.pid)
            if proc is not None:
                self.dac.access(t, proc.creds, proc.prefix, path, rights)

    def _outcome(self, ev: E.FsEvent) -> str:
        """'ok', 'denied' or 'failed' (not an access)."""
        if ev.ret >= 0:
            return "ok"
        if ev.ret in DENIED:
            return "denied"
        return "failed"

    # -- events ----------------------------------------------------------------------------
    def handle(self, ev: E.FsEvent) -> None:
        if ev.truncated:
            self._count(ev.target, "truncatedPaths")
            return
        proc = self.proc(ev.pid)
        proc.target = ev.target
        if ev.target not in self.first_pid:
            # the process the target started with: its /proc/self is what a ruleset's
            # /proc/self rule names; other processes' reads of their own entries are counted
            self.first_pid[ev.target] = ev.pid
            self._count(ev.target, "procSelfByChildren", 0)
        handler = _HANDLERS.get(ev.op)
        if handler is not None:
            try:
                handler(self, proc, ev)
            except Exception as e:    # noqa: BLE001 - one bad event must not stop recording
                self._count(ev.target, "modelErrors")
                info = self._target(ev.target).info
                info.setdefault("modelError", f"{type(e).__name__}: {e} (op {ev.op})")

    def _open(self, proc: Proc, ev: E.FsEvent) -> None:
        dirfd, flags = ev.a[0], ev.a[1]
        outcome = self._outcome(ev)
        if outcome == "failed" and ev.ret not in DRIVER_ERRORS:
            self._count(ev.target, "probes")
            return
        path = self._path(proc, ev, ev.path, dirfd)
        if path is None:
            return
        kind = "dir" if flags & O_DIRECTORY else self._kind(proc, path)
        if outcome == "failed":
            if kind not in DRIVER_KINDS:
                self._count(ev.target, "probes")
                return
            outcome = "driver"     # passed Landlock, refused by the device: an access
        if outcome == "ok":
            proc.fds[ev.ret] = Fd(path, kind, bool(flags & O_CLOEXEC))
        if flags & O_PATH:
            return
        rights = set()
        acc = flags & O_ACCMODE
        if acc in (0, O_RDWR):
            rights.add("read_dir" if kind == "dir" else "read_file")
        if acc in (O_WRONLY, O_RDWR):
            rights.add("write_file")
        if flags & O_TRUNC and kind in ("file", None):    # the kernel truncates only files
            rights.add("truncate")
        created = False
        if flags & O_CREAT:
            if outcome == "ok":
                created = bool(flags & O_EXCL) or self._created(proc, path, ev.ts)
            else:
                created = kind is None
        if created:
            self._add(ev, parent(path), {"make_reg"}, "dir", denied=outcome == "denied")
            if outcome == "ok":
                self.dac.made(proc.creds, path, ev.a[2], False)
            # The kernel skips the truncation of a file this open created, but the next run
            # finds the file there and must truncate it: O_TRUNC without O_EXCL keeps
            # truncate (with O_EXCL the file can never exist beforehand).
            if flags & O_EXCL:
                rights.discard("truncate")
        if outcome == "ok":
            self.existing.add(path)
        if outcome == "ok" or not created:
            self._add(ev, path, rights, kind or ("file" if created else None),
                      denied=outcome == "denied")

    def _created(self, proc: Proc, path: str, ts: int) -> bool:
        if path in self.existing:
            return False
        born = birth_or_change_ns(proc.prefix + path)
        if born is None:
            return True       # already gone: a temporary file
        return born >= ts + self.realtime_offset - CREATE_SLACK_NS

    def _exec(self, proc: Proc, ev: E.FsEvent) -> None:
        dirfd, flags = ev.a[0], ev.a[1]
        outcome = self._outcome(ev)
        if outcome == "ok":
            proc.fds = {n: f for n, f in proc.fds.items() if not f.cloexec}
        if outcome == "failed":
            self._count(ev.target, "probes")
            return
        if flags & AT_EMPTY_PATH and not ev.path:
            fd = self._fd(proc, dirfd)
            path = fd.path if fd else None
        else:
            path = self._path(proc, ev, ev.path, dirfd)
        if path is None:
            return
        # The kernel opens what it executes (and the ELF or #! interpreter) read-only, and
        # Landlock checks that open too: running a file takes execute *and* read_file.
        self._add(ev, path, EXEC_RIGHTS, "file", denied=outcome == "denied")
        if outcome == "ok":
            interp = interpreter_of(proc.prefix + path)
            if interp and interp.startswith("/"):
                ip = self._path(proc, ev, interp, AT_FDCWD)
                if ip:
                    self._add(ev, ip, EXEC_RIGHTS, "file")

    def _parent_op(self, proc: Proc, ev: E.FsEvent, right: str) -> str | None:
        outcome = self._outcome(ev)
        if outcome == "failed":
            self._count(ev.target, "probes")
            return None
        path = self._path(proc, ev, ev.path, ev.a[0], follow=False)
        if path is None:
            return None
        self._add(ev, parent(path), {right}, "dir", denied=outcome == "denied")
        return path if outcome == "ok" else None

    def _mkdir(self, proc: Proc, ev: E.FsEvent) -> None:
        made = self._parent_op(proc, ev, "make_dir")
        if made:
            self.resolver.invalidate()
            self.dac.made(proc.creds, made, ev.a[2], True)

    def _mknod(self, proc: Proc, ev: E.FsEvent) -> None:
        mode = ev.a[2] & 0o170000
        kind = {_stat.S_IFCHR: "char", _stat.S_IFBLK: "block", _stat.S_IFIFO: "fifo",
                _stat.S_IFSOCK: "sock"}.get(mode, "file")
        self._parent_op(proc, ev, _MAKE[kind])

    def _symlink(self, proc: Proc, ev: E.FsEvent) -> None:
        if self._parent_op(proc, ev, "make_sym"):
            self.resolver.invalidate()

    def _unlink(self, proc: Proc, ev: E.FsEvent) -> None:
        right = _REMOVE_DIR if ev.a[1] & AT_REMOVEDIR else _REMOVE_FILE
        path = self._parent_op(proc, ev, right)
        if path:
            self.existing.discard(path)
            self.resolver.invalidate()

    def _rename_or_link(self, proc: Proc, ev: E.FsEvent) -> None:
        outcome = self._outcome(ev)
        if outcome == "failed":     # EXDEV too: a real cross-device move, or Landlock's refer
            self._count(ev.target, "probes")
            return
        is_link = ev.op == E.OP_LINK
        follow_src = bool(is_link and ev.a[2] & AT_SYMLINK_FOLLOW)
        src = self._path(proc, ev, ev.path, ev.a[0], follow=follow_src)
        dst = self._path(proc, ev, ev.path2, ev.a[1], follow=False)
        if src is None or dst is None:
            return
        kind = self._kind(proc, dst if outcome == "ok" else src, follow=False) or "file"
        make = _MAKE.get(kind, "make_reg")
        remove = _REMOVE_DIR if kind == "dir" else _REMOVE_FILE
        denied = outcome == "denied"
        sp, dp = parent(src), parent(dst)
        if is_link:
            self._add(ev, dp, {make}, "dir", denied=denied)
        else:
            self._add(ev, sp, {remove}, "dir", denied=denied)
            dst_rights = {make}
            if ev.a[2] & RENAME_EXCHANGE:
                self._add(ev, sp, {make}, "dir", denied=denied)
                dst_rights.add(remove)
            elif dst in self.existing:
                dst_rights.add(remove)
            self._add(ev, dp, dst_rights, "dir", denied=denied)
        if sp != dp:
            self._add(ev, sp, {"refer"}, "dir", denied=denied)
            self._add(ev, dp, {"refer"}, "dir", denied=denied)
        if outcome == "ok":
            if not is_link:
                self.existing.discard(src)
            self.existing.add(dst)
            self.resolver.invalidate()

    def _truncate(self, proc: Proc, ev: E.FsEvent) -> None:
        outcome = self._outcome(ev)
        if outcome == "failed":
            return
        path = self._path(proc, ev, ev.path, AT_FDCWD)
        if path:
            self._add(ev, path, {"truncate"}, "file", denied=outcome == "denied")

    def _fd_right(self, proc: Proc, ev: E.FsEvent, right: str, kinds=None) -> None:
        outcome = self._outcome(ev)
        if outcome == "failed" and right != "ioctl_dev":
            return
        if ev.ret == -errno.EBADF:
            return
        fd = self._fd(proc, ev.a[0])
        if fd is None or fd.path is None or fd.inherited:
            return
        if kinds is not None and fd.kind not in kinds:
            return
        self._add(ev, self._proc_self(ev, fd.path), {right}, fd.kind,
                  denied=outcome == "denied")

    def _ftruncate(self, proc: Proc, ev: E.FsEvent) -> None:
        self._fd_right(proc, ev, "truncate")

    def _mmap(self, proc: Proc, ev: E.FsEvent) -> None:
        # Landlock checks execute at execve (open_exec) only; mapping a library PROT_EXEC
        # needs no right beyond the read_file its open had (tests/test_landlock_exact.py)
        return

    def _ioctl(self, proc: Proc, ev: E.FsEvent) -> None:
        self._fd_right(proc, ev, "ioctl_dev", kinds=("char", "block"))

    def _getdents(self, proc: Proc, ev: E.FsEvent) -> None:
        self._fd_right(proc, ev, "read_dir")

    def _chdir(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret < 0:
            return
        if ev.op == E.OP_FCHDIR:
            fd = self._fd(proc, ev.a[0])
            if fd and fd.path:
                proc.cwd = fd.path
            else:
                self._count(ev.target, "unresolvedPaths")
            return
        path = self._path(proc, ev, ev.path, AT_FDCWD)
        if path is None:
            return
        if ev.op == E.OP_CHROOT:
            proc.root = path
            self.resolver.invalidate()
        else:
            proc.cwd = path

    def _dup(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret < 0:
            return
        old = self._fd(proc, ev.a[0])
        if old is None:
            proc.fds.pop(ev.ret, None)
        else:
            proc.fds[ev.ret] = replace(old, cloexec=bool(ev.a[2] & O_CLOEXEC))

    def _close(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.op == E.OP_CLOSE:
            if ev.ret != -errno.EBADF:
                proc.fds.pop(ev.a[0], None)
            return
        if ev.ret < 0:
            return
        first, last, flags = ev.a[0] & 0xFFFFFFFF, ev.a[1] & 0xFFFFFFFF, ev.a[2]
        for n in [n for n in proc.fds if first <= n <= last]:
            if flags & CLOSE_RANGE_CLOEXEC:
                proc.fds[n].cloexec = True
            else:
                del proc.fds[n]

    # -- network and signals ---------------------------------------------------------------
    def _socket(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret >= 0:
            proc.fds[ev.ret] = Fd(None, "socket", bool(ev.a[1] & SOCK_CLOEXEC),
                                  family=ev.a[0], type=ev.a[1] & SOCK_TYPE_MASK)

    def _accept(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret >= 0:
            lfd = self._fd(proc, ev.a[0])
            proc.fds[ev.ret] = Fd(None, "socket", bool(ev.a[2] & SOCK_CLOEXEC),
                                  family=lfd.family if lfd else None,
                                  type=lfd.type if lfd else None)

    @staticmethod
    def _protocol(fd: Fd | None, family: str) -> str:
        if family == "unix":
            return "unix"
        if fd is None or fd.type is None:
            return "other"
        return {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp",
                socket.SOCK_RAW: "raw"}.get(fd.type, "other")

    def _bind_connect(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret in (-errno.EBADF, -errno.ENOTSOCK, -errno.EFAULT, -errno.EINVAL,
                      -errno.EAFNOSUPPORT):
            return
        addr = sockaddr(ev.raw)
        if addr is None:
            return
        family, port, address = addr
        fd = self._fd(proc, ev.a[0])
        op = "bind" if ev.op == E.OP_BIND else "connect"
        proto = self._protocol(fd, family)
        denied = ev.ret in DENIED
        if family == "unix" and address and not address.startswith("@"):
            path = self._path(proc, ev, address, AT_FDCWD, follow=op == "connect")
            if path is None:
                return
            address = path
            if op == "bind":
                if ev.ret < 0 and not denied:
                    return        # EADDRINUSE ...: no socket file was made
                self._add(ev, parent(path), {"make_sock"}, "dir", denied=denied)
        t = self._target(ev.target)
        if denied:
            entry = {"op": op, "protocol": proto, "family": family, "port": port,
                     "address": address}
            lst = t.info.setdefault("deniedNetwork", [])
            if entry not in lst:
                lst.append(entry)
            return
        if op == "bind" and fd is not None and ev.ret >= 0:
            fd.bound = (family, port, address)
        t.add_net(NetAccess(op, proto, family, port, address))

    def _listen(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret < 0 and ev.ret not in DENIED:
            return
        fd = self._fd(proc, ev.a[0])
        family, port, address = fd.bound if fd and fd.bound else (
            _family_name(fd.family if fd else None), None, None)
        self._target(ev.target).add_net(
            NetAccess("listen", self._protocol(fd, family), family, port, address))

    def _kill(self, proc: Proc, ev: E.FsEvent) -> None:
        if ev.ret < 0 and ev.ret not in DENIED:
            return
        pid, sig, how = ev.a[0], ev.a[1], ev.a[2]
        own = self._pids(ev.target)
        if how == 1:      # tgkill(tgid, tid, sig)
            to = pid
        elif how == 2:    # tkill(tid, sig): a thread of one of ours is tracked by tid too
            to = pid
        else:
            to = pid
        if to > 0 and (to in own or to == ev.pid):
            return
        if to < -1 and (-to in own or -to == ev.pid) and ev.ret not in DENIED:
            # a group one of ours leads (a daemon's children each setsid(), and it stops them
            # with kill(-pid)): its members are the workload's, unless an outside process of
            # the same session joined it on purpose (a refusal is still reported)
            return
        try:
            name = _signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        if to > 0 and ev.ret >= 0:
            self.dac.signal(self._target(ev.target), proc.creds, to)
        if to > 0:
            who: dict = {"pid": to}
            try:
                with open(f"/proc/{to}/comm") as f:
                    who["comm"] = f.read().strip()
            except OSError:
                pass
        elif to == 0:
            who = {"processGroup": "own"}
        elif to == -1:
            who = {"all": True}
        else:
            who = {"processGroup": -to}
        entry = {"signal": name, "to": who,
                 "syscall": ("kill", "tgkill", "tkill")[how if 0 <= how <= 2 else 0]}
        if ev.ret in DENIED:
            entry["denied"] = True
        key = repr(sorted(entry.items()))
        t = self._target(ev.target)
        if (ev.target, key) not in self.signals_seen:
            self.signals_seen.add((ev.target, key))
            t.signals.append(entry)

    # -- results ---------------------------------------------------------------------------
    def finish(self, target_index: int, t: Target) -> None:
        """Write the model's counters and met symlinks into the target's ``info``."""
        c = self.counters.get(target_index)
        if c is not None:
            t.info.setdefault("fileModel", {}).update(c)
        if self.resolver.aliases:
            t.info["symlinks"] = dict(sorted(self.resolver.aliases.items()))


def _family_name(fam: int | None) -> str:
    return {socket.AF_INET: "inet", socket.AF_INET6: "inet6",
            socket.AF_UNIX: "unix"}.get(fam or -1, "other")


_HANDLERS = {
    E.OP_OPEN: FsModel._open, E.OP_EXEC: FsModel._exec,
    E.OP_MKDIR: FsModel._mkdir, E.OP_MKNOD: FsModel._mknod, E.OP_SYMLINK: FsModel._symlink,
    E.OP_UNLINK: FsModel._unlink, E.OP_RENAME: FsModel._rename_or_link,
    E.OP_LINK: FsModel._rename_or_link, E.OP_TRUNCATE: FsModel._truncate,
    E.OP_FTRUNCATE: FsModel._ftruncate, E.OP_MMAP: FsModel._mmap, E.OP_IOCTL: FsModel._ioctl,
    E.OP_GETDENTS: FsModel._getdents, E.OP_CHDIR: FsModel._chdir, E.OP_FCHDIR: FsModel._chdir,
    E.OP_CHROOT: FsModel._chdir, E.OP_DUP: FsModel._dup, E.OP_CLOSE: FsModel._close,
    E.OP_CLOSE_RANGE: FsModel._close, E.OP_SOCKET: FsModel._socket,
    E.OP_ACCEPT: FsModel._accept, E.OP_BIND: FsModel._bind_connect,
    E.OP_CONNECT: FsModel._bind_connect, E.OP_LISTEN: FsModel._listen, E.OP_KILL: FsModel._kill,
}
