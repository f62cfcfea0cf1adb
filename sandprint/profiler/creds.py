"""The ``creds`` recorder part's Python side (``bpf/creds.bpf.c``): the credentials of each
followed process, and the capability evidence that needs them, judged at record time.

* :class:`Creds`: real/effective/filesystem uid and gid and the supplementary groups, read
  from ``/proc/PID/status`` when a creds event (exec, successful set*id) arrives; when the
  process is already gone, the real uid and gid the BPF helper reported stand for all.
  Forked children inherit their parent's (the file model copies them).
* :class:`CredsEvents`: the part's event handling: each process's credentials into the file
  model (:class:`DacCheck` uses them), the ids seen into ``Target.info["credentials"]``; a
  set*id call that left an id the process did not have (CAP_SETUID/SETGID), a chown to
  other ids (CAP_CHOWN), a hard resource limit raised above the target's (CAP_SYS_RESOURCE).
* :class:`DacCheck`: an access the mode bits and owner of the file (and the search bits of
  the directories above it) did not allow for the process's fsuid: CAP_DAC_OVERRIDE or
  CAP_DAC_READ_SEARCH (``capabilities.needed.dac_capability``); a chmod or utimes of another
  uid's file: CAP_FOWNER; a signal to a process of another uid: CAP_KILL. What the workload
  made and removed before its events were judged is judged by the mode and ids it was made
  with.
"""

from __future__ import annotations

import ctypes
import os
import resource as _resource
import stat as _statmod
from dataclasses import dataclass, field

from ..capabilities.needed import bits_for, dac_capability
from ..syscalls import syscall_number
from .bpf_loader import TRACEFS, EventHeader
from .paths import join, lexical

EV_CREDS = 4
CREDS_EXEC, CREDS_SETID, CREDS_RLIMIT, CREDS_CHOWN, CREDS_CHMOD, CREDS_UTIMES = 1, 2, 3, 4, 5, 6
NO_ID = 0xFFFFFFFF          # chown's -1: unchanged
RLIM_INFINITY = 2 ** 64 - 1
MAX_EVIDENCE = 8            # evidence lines per capability and target (then counted)

# the syscalls whose tracepoints the part uses (compiled only where the kernel has them)
SETID_SYSCALLS = ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                  "setfsuid", "setfsgid", "setgroups")
RLIMIT_SYSCALLS = ("prlimit64", "setrlimit")
CHOWN_SYSCALLS = ("chown", "fchown", "lchown", "fchownat")
FOWNER_SYSCALLS = ("chmod", "fchmod", "fchmodat", "fchmodat2", "utimensat", "utimes",
                   "futimesat", "utime")
# judged at the raw sys_enter by their arguments (creds_sys_enter)
ENTER_SYSCALLS = CHOWN_SYSCALLS + FOWNER_SYSCALLS + RLIMIT_SYSCALLS

RLIMIT_NAMES = {getattr(_resource, n): n for n in dir(_resource)
                if n.startswith("RLIMIT_") and n != "RLIMIT_OFILE"}   # OFILE: NOFILE's alias


CREDS_PATH_LEN = 256
CREDS_NO_FD = -1000
AT_FDCWD = -100


class CredsEventC(ctypes.Structure):
    _fields_ = [("h", EventHeader), ("why", ctypes.c_uint32), ("uid", ctypes.c_uint32),
                ("gid", ctypes.c_uint32), ("resource", ctypes.c_uint32),
                ("ret", ctypes.c_int64), ("cur", ctypes.c_uint64), ("max", ctypes.c_uint64),
                ("pid", ctypes.c_uint64), ("fd", ctypes.c_int64),
                ("path", ctypes.c_char * CREDS_PATH_LEN)]


def defines(o) -> dict[str, int]:
    """``CREDS_TP_<NAME>`` for each set*id exit tracepoint the running kernel has, and
    ``CREDS_NR_<NAME>`` for the calls judged at sys_enter (a distinct negative number where
    the architecture lacks one)."""
    out = {}
    for i, name in enumerate(ENTER_SYSCALLS):
        nr = syscall_number(o.arch, name)
        out[f"CREDS_NR_{name.upper()}"] = nr if nr is not None and nr >= 0 else -2000 - i
    for root in TRACEFS:
        base = f"{root}/events/syscalls"
        if not os.path.isdir(base):
            continue
        for name in SETID_SYSCALLS:
            if os.path.isdir(f"{base}/sys_exit_{name}"):
                out[f"CREDS_TP_{name.upper()}"] = 1
        break
    return out


@dataclass(frozen=True)
class Creds:
    uid: int
    euid: int
    fsuid: int
    gid: int
    egid: int
    fsgid: int
    groups: frozenset[int] = frozenset()
    suid: int | None = None          # saved ids (None: as the real one)
    sgid: int | None = None
    umask: int = 0o022               # as /proc said when these were read
    # the supplementary groups and the fsgid (what the mode bits' group class is tested with)
    all_groups: frozenset[int] = field(default=frozenset(), init=False, compare=False)

    @classmethod
    def of_ids(cls, uid: int, gid: int) -> "Creds":
        return cls(uid, uid, uid, gid, gid, gid, frozenset((gid,)))

    @property
    def uids(self) -> set[int]:
        """The ids an unprivileged set*uid may pick from (real, effective, saved)."""
        return {self.uid, self.euid, self.uid if self.suid is None else self.suid}

    @property
    def gids(self) -> set[int]:
        return {self.gid, self.egid, self.gid if self.sgid is None else self.sgid}

    def __post_init__(self):
        object.__setattr__(self, "all_groups", self.groups | {self.fsgid})


def read_status(pid: int) -> Creds | None:
    """The credentials of ``pid`` from /proc/PID/status, None when it is gone."""
    uids = gids = None
    groups: list[int] = []
    umask = 0o022
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    uids = [int(x) for x in line.split()[1:5]]
                elif line.startswith("Gid:"):
                    gids = [int(x) for x in line.split()[1:5]]
                elif line.startswith("Groups:"):
                    groups = [int(x) for x in line.split()[1:]]
                elif line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    except (OSError, ValueError):
        return None
    if not uids or not gids:
        return None
    return Creds(uids[0], uids[1], uids[3], gids[0], gids[1], gids[3], frozenset(groups),
                 uids[2], gids[2], umask)


def _hard_limits(pid: int) -> dict[int, int]:
    """RLIMIT_* -> hard limit of ``pid`` (/proc/PID/limits), or this process's own."""
    names = {"Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE",
             "Max data size": "RLIMIT_DATA", "Max stack size": "RLIMIT_STACK",
             "Max core file size": "RLIMIT_CORE", "Max resident set": "RLIMIT_RSS",
             "Max processes": "RLIMIT_NPROC", "Max open files": "RLIMIT_NOFILE",
             "Max locked memory": "RLIMIT_MEMLOCK", "Max address space": "RLIMIT_AS",
             "Max file locks": "RLIMIT_LOCKS", "Max pending signals": "RLIMIT_SIGPENDING",
             "Max msgqueue size": "RLIMIT_MSGQUEUE", "Max nice priority": "RLIMIT_NICE",
             "Max realtime priority": "RLIMIT_RTPRIO", "Max realtime timeout": "RLIMIT_RTTIME"}
    out: dict[int, int] = {}
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                for label, name in names.items():
                    if line.startswith(label) and hasattr(_resource, name):
                        hard = line[len(label):].split()[1]
                        out[getattr(_resource, name)] = (RLIM_INFINITY if hard == "unlimited"
                                                         else int(hard))
    except (OSError, ValueError, IndexError):
        pass
    if not out:
        for number in RLIMIT_NAMES:
            hard = _resource.getrlimit(number)[1]
            out[number] = RLIM_INFINITY if hard == _resource.RLIM_INFINITY else hard
    return out


def add_evidence(t, cap: str, why: str) -> None:
    """``t.add_capability`` with at most :data:`MAX_EVIDENCE` lines per capability (the
    rest counted in ``info.credentials.moreEvidence``)."""
    reasons = t.capabilities.get(cap, [])
    if why in reasons:
        return
    if len(reasons) >= MAX_EVIDENCE:
        more = t.info.setdefault("credentials", {}).setdefault("moreEvidence", {})
        more[cap] = more.get(cap, 0) + 1
        return
    t.add_capability(cap, why)


def note_ids(t, creds: Creds) -> None:
    c = t.info.setdefault("credentials", {})
    for key, ids in (("uids", {creds.uid, creds.euid, creds.fsuid}),
                     ("gids", {creds.gid, creds.egid, creds.fsgid})):
        c[key] = sorted(set(c.get(key, [])) | ids)


class CredsEvents:
    """``creds``: each followed process's credentials (into the file model) and raised
    resource limits."""

    def __init__(self, rec):
        self.names = rec.names
        self.fs = rec.fs
        self.recording = rec.recording
        self.creds: dict[int, Creds] = {}        # without a file model
        self.start_limits: dict[int, dict[int, int]] = {}   # target -> hard limits (_rlimit)

    def handle_creds(self, header, data, size) -> None:
        ev = ctypes.cast(data, ctypes.POINTER(CredsEventC)).contents
        t = self.recording.target(self.names[header.target])
        if header.target not in self.start_limits:
            self.start_limits[header.target] = _hard_limits(header.pid)
        if ev.why == CREDS_RLIMIT:
            self._rlimit(t, header, ev)
            return
        before = self._creds(header.pid)
        if ev.why == CREDS_CHOWN:
            self._chown(t, before, ev)
            path = self._named_path(header.pid, ev)
            if path and self.fs is not None:
                self.fs.dac.chowned(path, ev.cur, ev.max)
            return
        if ev.why in (CREDS_CHMOD, CREDS_UTIMES):
            path = self._named_path(header.pid, ev)
            if path and self.fs is not None:
                self.fs.dac.owner_only(t, before, self.fs.proc(header.pid).prefix, path,
                                       "chmod" if ev.why == CREDS_CHMOD else
                                       "set times of" if ev.cur else "touch")
                if ev.why == CREDS_CHMOD:
                    self.fs.dac.chmodded(path, ev.max)
            return
        creds = read_status(header.pid)
        if creds is None or creds.uid != ev.uid:
            creds = Creds.of_ids(ev.uid, ev.gid)
        note_ids(t, creds)
        if ev.why == CREDS_SETID and before is not None:
            self._setid(t, before, creds, ev.resource)
        if self.fs is not None:
            self.fs.proc(header.pid).creds = creds
        else:
            self.creds[header.pid] = creds

    def _creds(self, pid: int) -> Creds | None:
        if self.fs is not None:
            return self.fs.proc(pid).creds
        c = self.creds.get(pid)
        if c is None:
            c = self.creds[pid] = read_status(pid)
        return c

    def _named_path(self, pid: int, ev) -> str | None:
        """What a chown, chmod or utimes named, as an absolute path (from the file model's cwd and fds;
        symlinks are not followed: it serves to follow the owner of what the workload made)."""
        if self.fs is None:
            return None
        proc = self.fs.proc(pid)
        name = ev.path.decode("utf-8", "surrogateescape")
        if name.startswith("/"):
            return lexical(name)
        if ev.fd in (CREDS_NO_FD, AT_FDCWD):
            base = proc.cwd
        else:
            fd = proc.fds.get(ev.fd)
            base = fd.path if fd is not None else None
        if base is None:
            return None
        return lexical(join(base, name)) if name else base

    @staticmethod
    def _setid(t, before: Creds, after: Creds, which: int) -> None:
        """A set*id call needed CAP_SETUID/CAP_SETGID when it left an id that was none of the
        real, effective and saved ones before (setgroups always needs CAP_SETGID)."""
        name = SETID_SYSCALLS[which - 1] if 0 < which <= len(SETID_SYSCALLS) else "set*id"
        if name == "setgroups":
            add_evidence(t, "CAP_SETGID", "setgroups called")
            return
        new_uids = after.uids | {after.fsuid}
        if "uid" in name and new_uids - before.uids:
            add_evidence(t, "CAP_SETUID", f"{name} to uid "
                         + ",".join(map(str, sorted(new_uids - before.uids)))
                         + f" (from uid {before.euid})")
        new_gids = after.gids | {after.fsgid}
        if "gid" in name and new_gids - before.gids:
            add_evidence(t, "CAP_SETGID", f"{name} to gid "
                         + ",".join(map(str, sorted(new_gids - before.gids)))
                         + f" (from gid {before.egid})")

    @staticmethod
    def _chown(t, creds: Creds | None, ev) -> None:
        """A chown to an owner other than the caller's fsuid, or to a group it is not in,
        needs CAP_CHOWN (one to its own ids of a file another uid owns does too: the file's
        owner before the call is not known here, see the README)."""
        uid, gid = ev.cur, ev.max
        if creds is None:
            add_evidence(t, "CAP_CHOWN", "chown (the caller's ids unknown)")
            return
        if uid != NO_ID and uid != creds.fsuid:
            add_evidence(t, "CAP_CHOWN", f"chown to uid {uid} (as uid {creds.fsuid})")
        if gid != NO_ID and gid not in creds.all_groups:
            add_evidence(t, "CAP_CHOWN", f"chown to gid {gid} (not a group of uid "
                                         f"{creds.fsuid})")

    def _rlimit(self, t, header, ev) -> None:
        # the target's hard limits as its calls left them (per target, not per process: a
        # call at entry, before the kernel said whether it may; lowering always may)
        limits = self.start_limits[header.target]
        was = limits.get(ev.resource)
        if was is None:
            return
        limits[ev.resource] = ev.max
        if ev.max <= was:
            return
        name = RLIMIT_NAMES.get(ev.resource, str(ev.resource))
        shown = "unlimited" if ev.max == RLIM_INFINITY else str(ev.max)
        before = "unlimited" if was == RLIM_INFINITY else str(was)
        add_evidence(t, "CAP_SYS_RESOURCE", f"hard {name} raised to {shown} (was {before})")


class DacCheck:
    """Record-time check of an access against the mode bits (see the module); one check
    per (path, rights, fsuid, groups)."""

    def __init__(self):
        self.done: set[tuple] = set()
        self.dirs: dict[tuple, str | None] = {}
        # path -> (mode, uid, gid) of what the workload made, for when it is gone before its
        # accesses are judged (a worker's temporary directory that the main process removes)
        self.made_by: dict[str, tuple[int, int, int]] = {}
        self.making: str | None = None       # the file the open being handled made

    def made(self, creds: Creds | None, path: str, mode: int, is_dir: bool) -> None:
        """The workload made ``path`` with ``mode`` (mkdir, mknod, open O_CREAT); the access
        of the open that made a file is not checked against the mode it gave it (the kernel
        does not either: git makes its objects 0444 and writes them)."""
        if creds is not None:
            kind = _statmod.S_IFDIR if is_dir else _statmod.S_IFREG
            self.made_by[path] = (kind | mode & 0o7777 & ~creds.umask, creds.fsuid,
                                  creds.fsgid)
        if not is_dir:
            self.making = path

    def chowned(self, path: str, uid: int, gid: int) -> None:
        """A chown of something the workload made: its new owner (for when it is gone)."""
        made = self.made_by.get(path)
        if made is not None:
            mode, old_uid, old_gid = made
            self.made_by[path] = (mode, old_uid if uid == NO_ID else uid,
                                  old_gid if gid == NO_ID else gid)

    def chmodded(self, path: str, mode: int) -> None:
        """A chmod of something the workload made: its new mode."""
        made = self.made_by.get(path)
        if made is not None:
            self.made_by[path] = (made[0] & ~0o7777 | mode & 0o7777, made[1], made[2])

    def _stat(self, prefix: str, path: str) -> tuple[int, int, int] | None:
        """(mode, uid, gid) of ``path`` as of the event being judged: what the workload made
        it (followed through its chown and chmod calls, in event order) rather than what a
        stat finds now, after later events changed or removed it; else the stat."""
        made = self.made_by.get(path)
        if made is not None:
            return made
        try:
            st = os.stat(prefix + path)
        except OSError:
            return None
        return st.st_mode, st.st_uid, st.st_gid

    def access(self, t, creds: Creds | None, prefix: str, path: str, rights) -> None:
        making, self.making = self.making, None
        if making == path:
            return      # the open that made it
        if creds is None or path.startswith("/proc/"):
            return      # procfs: the ptrace rules decide, not the mode bits
        want = bits_for(rights)
        key = (t.name, path, want, creds)
        if not want or key in self.done:
            return
        self.done.add(key)
        st = self._stat(prefix, path)
        if st is None:
            return
        mode, uid, gid = st
        cap = dac_capability(mode, uid, gid, creds.fsuid, creds.all_groups, want)
        if cap:
            add_evidence(t, cap, f"{'+'.join(sorted(rights))} {path} (owner {uid}:{gid}, "
                                 f"mode {mode & 0o7777:04o}; as uid {creds.fsuid})")
        parent = os.path.dirname(path)
        while parent and parent != "/" and parent != path:
            self._search(t, creds, prefix, parent)
            path, parent = parent, os.path.dirname(parent)

    def _search(self, t, creds: Creds, prefix: str, d: str) -> None:
        key = (t.name, d, creds)
        if key in self.dirs:
            return
        st = self._stat(prefix, d)
        if st is None:
            self.dirs[key] = None
            return
        mode, uid, gid = st
        cap = dac_capability(mode, uid, gid, creds.fsuid, creds.all_groups, 1)
        self.dirs[key] = cap
        if cap:
            add_evidence(t, cap, f"search {d} (owner {uid}:{gid}, mode {mode & 0o7777:04o}; "
                                 f"as uid {creds.fsuid})")

    def owner_only(self, t, creds: Creds | None, prefix: str, path: str, what: str) -> None:
        """chmod, or times set (``what`` "set times of"), of a file another uid owns: only
        its owner may, or CAP_FOWNER; "touch" (the times set to now) also with write
        permission."""
        if creds is None or path.startswith("/proc/"):
            return
        st = self._stat(prefix, path)
        if st is None:
            return
        mode, uid, gid = st
        if uid == creds.fsuid:
            return
        if what == "touch" and dac_capability(mode, uid, gid, creds.fsuid, creds.all_groups,
                                              2) is None:
            return
        add_evidence(t, "CAP_FOWNER", f"{what} {path} (owner {uid}:{gid}; as uid "
                                      f"{creds.fsuid})")

    @staticmethod
    def signal(t, creds: Creds | None, to: int) -> None:
        """A signal to pid ``to`` (outside the workload) that needed CAP_KILL: the sender's
        real and effective uid both differ from the receiver's real and saved uid."""
        if creds is None:
            return
        try:
            with open(f"/proc/{to}/status") as f:
                line = next(x for x in f if x.startswith("Uid:"))
            ruid, _euid, suid = (int(x) for x in line.split()[1:4])
        except (OSError, StopIteration, ValueError):
            return
        if {creds.uid, creds.euid} & {ruid, suid}:
            return
        add_evidence(t, "CAP_KILL", f"signal to pid {to} of uid {ruid} (as uid {creds.euid})")
