"""A private /tmp (and terminal file system) for a sandboxed workload, as systemd's
``PrivateTmp=`` gives a service.

A Landlock rule on ``/tmp`` grants everything in it: other users' Kerberos caches, other
programs' sockets and files. ``sandprint exec`` and ``verify`` therefore run the workload in
a mount namespace of its own in which a fresh, empty tmpfs is mounted over ``/tmp``,
``/var/tmp``, ``/dev/shm`` (POSIX shared memory) and ``$TMPDIR`` (also when it lies beneath
one of them, mounted after it) before the ruleset is applied:
the ruleset opens its paths after the mounts, so its rule on ``/tmp`` is a rule on the private
one, and the host's files there are neither visible nor reachable. Nothing needs removing
afterwards: the tmpfs lives as long as the namespace, which ends with the workload's last
process (``exec`` replaces itself with the command, so nobody would be left to clean up a
directory).

What the ruleset names *beneath* a temporary directory (a workload's own directory under
``/var/tmp``, a test's ``/tmp/pytest-of-root/...``) existed during the recording and was the
workload's: it is bound through from the host into the private tmpfs, at the same place. Where
the ruleset has no rule on the temporary directory itself, the whole top-level entry holding
such a path is bound (``/var/tmp/myjob``, visible but granted only as the ruleset says, so a
refusal there is Landlock's and ``verify`` reports it); where it has one (the workload made
temporary files), its rights would extend to whatever is bound, so only the exact paths the
ruleset names are (the nearest existing ancestor of a path that does not exist).

Pseudo-terminals: a pty a workload opens through ``/dev/ptmx`` is ``/dev/pts/N``, and Landlock
checks that path's hierarchy (also when the peer comes from ``TIOCGPTPEER``), so a ruleset
that lets a workload use its own pty grants on ``/dev/pts`` — every terminal of the host. When
the ruleset has a rule at or beneath ``/dev/pts``, a new devpts instance is mounted there (and
its ``ptmx`` over ``/dev/ptmx``): the workload's /dev/pts holds its own terminals only.

The namespace is made with ``unshare(CLONE_NEWNS)`` (root), else together with a user
namespace mapping the caller's own uid and gid (``unshare -U`` style: an unprivileged caller
keeps no capability across the exec). If neither works the command is not run.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .errors import EnvironmentProblem

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

# /dev/shm too: shm_open() and Python's multiprocessing make their segments there under random
# names, so a workload that used one gets a rule on /dev/shm, which on the host holds other
# programs' shared memory (the red team read such a segment through the generated ruleset)
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
PTS = "/dev/pts"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]


def _enc(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    if _libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {fstype or 'bind'} on {target}: {os.strerror(e)}")


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def _beneath(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def temp_dirs(env: Mapping[str, str] | None = None) -> list[str]:
    """The directories a private tmpfs goes over: /tmp, /var/tmp, /dev/shm and ``$TMPDIR``."""
    env = os.environ if env is None else env
    dirs = [d for d in TEMP_DIRS if os.path.isdir(d)]
    t = env.get("TMPDIR", "")
    if t.startswith("/"):
        t = os.path.realpath(t)
        # also when beneath /tmp or /var/tmp (TMPDIR=/var/tmp/jobs, shared by several jobs):
        # the ruleset's rule on it would be bound through from the host with everyone's files
        # in it, so it gets a tmpfs of its own, mounted after its parent's (listed last)
        if t != "/" and os.path.isdir(t) and t not in dirs:
            dirs.append(t)
    return dirs


def needs_private(rule_paths: Iterable[str], env: Mapping[str, str] | None = None
                  ) -> tuple[list[str], bool]:
    """The temporary directories at or beneath which the ruleset has a rule, and whether it
    has one at or beneath /dev/pts: what a private mount must hide."""
    paths = [os.path.abspath(p) for p in rule_paths]
    dirs = [d for d in temp_dirs(env) if any(_beneath(p, d) for p in paths)]
    return dirs, any(_beneath(p, PTS) for p in paths)


def _binds(directory: str, rule_paths: list[str]) -> list[str]:
    """The host paths beneath ``directory`` to bind through (see the module): for each rule
    path beneath it, its top-level entry there when no rule names ``directory`` itself, else
    the path or its nearest existing ancestor below ``directory``; nested ones dropped."""
    out: set[str] = set()
    whole = directory not in rule_paths
    for p in rule_paths:
        if p == directory or not _beneath(p, directory):
            continue
        if whole:
            p = directory.rstrip("/") + "/" + p[len(directory):].lstrip("/").split("/")[0]
        q = p
        while q != directory and not os.path.lexists(q):
            q = os.path.dirname(q)
        if q != directory:
            out.add(q)
    return sorted(p for p in out if not any(o != p and _beneath(p, o) for o in out))


@dataclass
class PrivateMounts:
    """What :func:`enter` did; ``str()`` is one line for the log."""

    tmp: list[str] = field(default_factory=list)
    bound: list[str] = field(default_factory=list)
    pts: bool = False
    how: str = ""

    def __str__(self) -> str:
        if not self.tmp and not self.pts:
            return "private mounts: none needed (the ruleset grants nothing in a temporary " \
                   "directory or /dev/pts)"
        parts = []
        if self.tmp:
            parts.append(f"a fresh tmpfs over {', '.join(self.tmp)}"
                         + (f" ({len(self.bound)} ruleset paths beneath bound through from "
                            "the host)" if self.bound else ""))
        if self.pts:
            parts.append("a new devpts instance on /dev/pts")
        return f"private mounts ({self.how}): " + "; ".join(parts)


def _enter_namespace() -> str:
    try:
        _unshare(CLONE_NEWNS)
        return "mount namespace"
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
    uid, gid = os.getuid(), os.getgid()
    _unshare(CLONE_NEWUSER | CLONE_NEWNS)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    return "user and mount namespace"


def enter(rule_paths: Iterable[str], env: Mapping[str, str] | None = None) -> PrivateMounts:
    """Give this process (and what it executes) the private mounts the ruleset needs.

    Call right before applying the ruleset (whose paths are opened afterwards, so they name
    the private mounts). Raises :class:`EnvironmentProblem` when they cannot be made: the
    ruleset's rules on /tmp or /dev/pts would then grant the host's.
    """
    paths = [os.path.abspath(p) for p in rule_paths]
    tmp, pts = needs_private(paths, env)
    done = PrivateMounts()
    if not tmp and not pts:
        return done
    try:
        done.how = _enter_namespace()
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        for d in tmp:
            binds = _binds(d, paths)
            # open what is bound through before the tmpfs hides it
            fds = [(b, os.open(b, os.O_PATH | os.O_CLOEXEC)) for b in binds]
            try:
                if not os.path.isdir(d):
                    # a $TMPDIR beneath a private directory that nothing bound through
                    os.makedirs(d, mode=0o755, exist_ok=True)
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
                for b, fd in fds:
                    _mountpoint(b, d, fd)
                    _mount(f"/proc/self/fd/{fd}", b, None, MS_BIND | MS_REC)
                    done.bound.append(b)
            finally:
                for _b, fd in fds:
                    os.close(fd)
            done.tmp.append(d)
        if pts:
            _mount("devpts", PTS, "devpts", MS_NOSUID | MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=0620")
            _mount(f"{PTS}/ptmx", "/dev/ptmx", None, MS_BIND)
            done.pts = True
    except OSError as e:
        raise EnvironmentProblem(
            f"cannot give the workload private mounts ({e.strerror or e}): the ruleset's "
            "rules on temporary directories or /dev/pts would grant the host's files there; "
            "the command was not run") from None
    return done


def _mountpoint(path: str, top: str, fd: int) -> None:
    """Create ``path`` (a directory, or an empty file for a non-directory) in the private
    tmpfs mounted on ``top``, its parents as searchable directories."""
    parent = os.path.dirname(path)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.makedirs(path, exist_ok=True)
    elif not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
