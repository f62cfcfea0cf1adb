"""Each object's analysis kept between runs, so glibc is decoded once per machine.

An entry is the :class:`ObjectGraph` of one object in one role, as JSON, under a name made
from the object's identity (its GNU build-id, else its real path, size, mtime and inode),
the role and this analysis's format. The directory is ``$SANDPRINT_STATIC_CACHE_DIR`` or
``~/.cache/sandprint/static``; like the BPF cache (:mod:`sandprint.profiler.bpf_cache`) it
and its files are used only when they belong to this user and nobody else can write them (a
root process would otherwise take a widening from a file someone else wrote). An entry that
does not parse is ignored and written again. ``SANDPRINT_STATIC_CACHE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .callgraph import LIBRARY, ObjectGraph, build
from .elf import ElfObject

FORMAT = 7
MAX_ENTRIES = 512


def enabled() -> bool:
    return os.environ.get("SANDPRINT_STATIC_CACHE", "1") not in ("0", "no", "off", "")


def cache_dir() -> Path:
    env = os.environ.get("SANDPRINT_STATIC_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.path.expanduser("~")) / ".cache" / "sandprint" / "static"


def owned_privately(path: Path) -> bool:
    """Owned by this user and writable by nobody else."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def identity(path: str) -> str:
    """The object's GNU build-id (read from its note segments, no sections), else its real
    path, size, mtime and inode."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_NOTE":
                    continue
                for note in seg.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return f"build-id:{note['n_desc']}"
    except (OSError, ELFError, ValueError):
        pass
    st = os.stat(path)
    return f"file:{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def entry_path(ident: str, role: str) -> Path:
    h = hashlib.sha256(f"{FORMAT}\0{role}\0{ident}".encode("utf-8", "surrogateescape"))
    return cache_dir() / f"{h.hexdigest()[:40]}.json"


def lookup(ident: str, role: str) -> ObjectGraph | None:
    if not enabled():
        return None
    path = entry_path(ident, role)
    if not (owned_privately(path.parent) and owned_privately(path)):
        return None
    try:
        with open(path) as f:
            d = json.load(f)
        if d.get("format") != FORMAT or d.get("graph", {}).get("identity") != ident:
            return None
        os.utime(path)
        return ObjectGraph.from_json(d["graph"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(graph: ObjectGraph) -> bool:
    if not enabled():
        return False
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not owned_privately(d):
            return False
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": FORMAT, "graph": graph.to_json()}, f)
            os.replace(tmp, entry_path(graph.identity, graph.role))
        except BaseException:
            os.unlink(tmp)
            raise
        entries = sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-MAX_ENTRIES]:
            old.unlink(missing_ok=True)
        return True
    except OSError:
        return False


def graph(path: str, role: str) -> ObjectGraph:
    """The analysis of ``path`` in ``role``, from the cache or made now (and kept).
    Raises :class:`~sandprint.static.elf.NotAnalysable`."""
    ident = identity(path)
    found = lookup(ident, role)
    if found is not None:
        found.path = path
        return found
    obj = ElfObject(path, pointers=role == LIBRARY)
    made = build(obj, role)
    made.identity = ident
    store(made)
    return made
