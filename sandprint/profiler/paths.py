"""Path normalisation for recorded accesses: the canonical path a target's access lands on.

Decision on symlinks: a recorded path is *canonical in the target's own view*: ``.``, ``..`` and
duplicate slashes are removed and every symbolic link is followed (the last component only
when the syscall follows it), reading the links through the target's root
(``/proc/PID/root`` when it lives in another mount namespace, the host's ``/`` otherwise), an
absolute link target being taken from the target's root. This is what Landlock itself sees:
rules attach to the inodes a path resolves to, so ``/lib/x86_64-linux-gnu/libc.so.6`` on a
merged-/usr system is recorded as ``/usr/lib/x86_64-linux-gnu/libc.so.6`` and a tree rule on
``/usr`` covers it. The links met are kept (``aliases``: link path -> what it points to) so a
report can show the path the program used.

Under ``/proc`` links are magic (``/proc/self``, ``/proc/PID/fd/N``): they are never followed,
and ``/proc/PID/...`` of one of the target's own processes becomes ``/proc/self/...``.

Components that do not exist (a file that was deleted since) are kept lexically.
"""

from __future__ import annotations

import os
import re

MAX_LINKS = 40
_PROC_PID = re.compile(r"^/proc/(\d+)(?=/|$)")


def join(base: str, path: str) -> str:
    """``path`` relative to the absolute ``base`` (lexically, not normalised)."""
    if path.startswith("/"):
        return path
    return base.rstrip("/") + "/" + path if path else base


def lexical(path: str) -> str:
    """Normalise without touching the filesystem; ``..`` never climbs above ``/``."""
    out: list[str] = []
    for c in path.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if out:
                out.pop()
            continue
        out.append(c)
    return "/" + "/".join(out)


def parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


class Resolver:
    """Follows symbolic links of paths in a target's view, with a cache of directories.

    ``prefix`` is where that view is reachable from sandprint ("" for the host's own mount
    namespace, ``/proc/PID/root`` for another); ``root`` is the target's root inside that view
    (changed by chroot).
    """

    def __init__(self) -> None:
        self._dirs: dict[tuple[str, str, str], str] = {}
        self.aliases: dict[str, str] = {}

    def invalidate(self) -> None:
        """Forget cached directories (after rename, unlink, symlink, chroot)."""
        self._dirs.clear()

    def resolve(self, prefix: str, root: str, path: str, *, follow: bool = True) -> str:
        """Canonical form of the absolute ``path`` of the target's mount namespace (an
        absolute path of the target already prefixed with its root)."""
        norm = lexical(path)
        if norm == "/":
            return norm
        head, _, name = norm.rpartition("/")
        head = head or "/"
        key = (prefix, root, head)
        rhead = self._dirs.get(key)
        if rhead is None:
            rhead = self._walk(prefix, root, head)
            if len(self._dirs) > 65536:
                self._dirs.clear()
            self._dirs[key] = rhead
        full = rhead.rstrip("/") + "/" + name
        if not follow or _in_proc(full):
            return full
        try:
            target = os.readlink(prefix + full)
        except OSError:
            return full
        self.aliases[full] = target
        base = root if target.startswith("/") else rhead
        return self._walk(prefix, root, base.rstrip("/") + "/" + target)

    def _walk(self, prefix: str, root: str, path: str) -> str:
        out: list[str] = []
        todo = [c for c in path.split("/") if c][::-1]
        links = 0
        while todo:
            c = todo.pop()
            if c in ("", "."):
                continue
            if c == "..":
                if out and "/" + "/".join(out) != root:
                    out.pop()
                continue
            out.append(c)
            current = "/" + "/".join(out)
            if _in_proc(current):
                rest = "/".join(reversed(todo))
                return lexical(current + "/" + rest) if rest else current
            try:
                target = os.readlink(prefix + current)
            except OSError:
                continue
            links += 1
            if links > MAX_LINKS:
                break
            self.aliases[current] = target
            out.pop()
            if target.startswith("/"):
                out = [c for c in root.split("/") if c]
            todo.extend([c for c in target.split("/") if c][::-1])
        rest = "/".join(reversed(todo))
        current = "/" + "/".join(out)
        return lexical(current + "/" + rest) if rest else current


def _in_proc(path: str) -> bool:
    return path == "/proc" or path.startswith("/proc/")


def proc_self(path: str, own_pids) -> tuple[str, bool]:
    """``/proc/PID/...`` of one of ``own_pids`` -> ``/proc/self/...``; says whether it did."""
    m = _PROC_PID.match(path)
    if m and int(m.group(1)) in own_pids:
        return "/proc/self" + path[m.end():], True
    return path, False
