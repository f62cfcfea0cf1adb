"""What each program a recording saw executed can reach, across the objects it loaded.

For one target of a recording: every executable it executed (``Target.execs``; a script's
``#!`` interpreter too) is a *program*, analysed whole, and so is its dynamic loader
(PT_INTERP); every other ELF file its processes read (``Target.files`` with ``read_file``,
told apart by the ELF magic) is a *library*. From each program the walk follows its imports
to the libraries that export those names (any loaded library that does: the analysis does
not know the load order), through each library's call graph and on through that library's
own imports, and adds the constructors and destructors of every library in the program's
DT_NEEDED closure. A library the recording saw loaded that no program reaches that way was
opened with ``dlopen`` (a Python extension module, a PostgreSQL extension, a PAM or NSS
module), and its code is reached by the names ``dlsym`` looks up, which are data: every one
of its exports is a root, for each program that reaches ``dlopen`` (for every program when
none does: glibc opens NSS and iconv modules itself).
What it collects per program: the syscalls whose number the code fixes, the sites whose
number it does not (named by object and function), and the indirect calls in the code it
reached (whose targets it does not follow).

The files are read on this host at the recorded paths: a recording made in a container names
the container's files, which this host may not have, or may have in another version; what
was not found or not readable is listed as skipped, with why.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..recording import Recording, Target
from ..syscalls import syscall_name
from . import cache
from .callgraph import LIBRARY, PROGRAM, ObjectGraph
from .elf import NotAnalysable, is_elf

# interpreters: their programs' code is data to them, so what a script can reach is what the
# interpreter binary can (the honest limit the report states)
INTERPRETERS = re.compile(r"^(python[0-9.]*|node(js)?|perl[0-9.]*|ruby[0-9.]*|php[0-9.]*|"
                          r"(ba|da|z|k|c|tc|fi)?sh|busybox|lua[0-9.]*|java)$")


_OPENS = frozenset({"dlopen", "dlmopen"})


@dataclass
class ProgramReach:
    path: str
    arch: str
    syscalls: set[str] = field(default_factory=set)        # on ``arch``
    unresolved: dict[str, int] = field(default_factory=dict)   # "object: function" -> sites
    indirect: int = 0
    libraries: set[str] = field(default_factory=set)
    dlopened: set[str] = field(default_factory=set)        # libraries entered by every export
    interpreter: bool = False
    opens: bool = False                                     # reaches dlopen or dlmopen

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "arch": self.arch, "syscalls": sorted(self.syscalls),
                "unresolved": dict(sorted(self.unresolved.items())),
                "indirectCalls": self.indirect, "libraries": sorted(self.libraries),
                "dlopened": sorted(self.dlopened), "interpreter": self.interpreter}


@dataclass
class TargetReach:
    """The static analysis of one target: per program, and together."""

    target: str
    arch: str
    programs: list[ProgramReach] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)      # path -> why

    def possible(self, arch: str | None = None) -> dict[str, list[str]]:
        """Syscall name (on ``arch``, default the recording's) -> the programs reaching it."""
        arch = arch or self.arch
        out: dict[str, list[str]] = {}
        for p in self.programs:
            if p.arch == arch:
                for name in p.syscalls:
                    out.setdefault(name, []).append(p.path)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def unresolved(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.programs:
            for k, n in p.unresolved.items():
                out[k] = max(out.get(k, 0), n)
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "arch": self.arch,
                "programs": [p.to_json() for p in self.programs],
                "libraries": self.libraries, "skipped": dict(sorted(self.skipped.items())),
                "possible": self.possible(), "unresolved": self.unresolved()}


def _shebang(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return words[0].decode("utf-8", "replace") if words else None


def objects_of(target: Target) -> tuple[list[str], list[str], dict[str, str]]:
    """The programs and libraries of ``target`` on this host, and what was skipped (why)."""
    programs: list[str] = []
    skipped: dict[str, str] = {}
    for ex in sorted(target.execs.values(), key=lambda e: e.path):
        path = ex.path
        if not os.path.exists(path):
            skipped[path] = "not on this host"
            continue
        real = os.path.realpath(path)
        if not is_elf(real):
            interp = _shebang(real)
            if interp and is_elf(os.path.realpath(interp)):
                real = os.path.realpath(interp)
            else:
                skipped[path] = "not an ELF program, and no ELF #! interpreter"
                continue
        if real not in programs:
            programs.append(real)
    libraries: list[str] = []
    for path, fa in sorted(target.files.items()):
        if "read_file" not in fa.access or fa.kind not in (None, "file"):
            continue
        real = os.path.realpath(path)
        if real in programs or real in libraries or not is_elf(real):
            continue
        libraries.append(real)
    return programs, libraries, skipped


class _Objects:
    """The graphs of one target's objects, loaded once, with the export index."""

    def __init__(self, log: Callable[[str], None] | None):
        self.graphs: dict[tuple[str, str], ObjectGraph] = {}
        self.failed: dict[str, str] = {}
        self.log = log

    def get(self, path: str, role: str) -> ObjectGraph | None:
        key = (path, role)
        if key not in self.graphs and path not in self.failed:
            try:
                self.graphs[key] = cache.graph(path, role)
            except (NotAnalysable, OSError) as e:
                self.failed[path] = str(e)
                return None
            except Exception as e:            # noqa: BLE001 -- a file this reader trips on
                # (a malformed or unusual ELF) is skipped and named; it never stops the
                # profile from being written
                self.failed[path] = f"not analysed ({type(e).__name__}: {e})"
                return None
        return self.graphs.get(key)


def analyse_target(target: Target, arch: str, *,
                   log: Callable[[str], None] | None = None) -> TargetReach:
    """The static analysis of one recorded target (:mod:`sandprint.static.reach`)."""
    programs, library_paths, skipped = objects_of(target)
    objs = _Objects(log)
    libs = [g for g in (objs.get(p, LIBRARY) for p in library_paths) if g is not None]
    by_export: dict[str, list[ObjectGraph]] = {}
    by_soname: dict[str, ObjectGraph] = {}
    for g in libs:
        for name in g.exports:
            by_export.setdefault(name, []).append(g)
        for name in g.data_exports:            # a data object is imported by name too
            by_export.setdefault(name, []).append(g)
        by_soname.setdefault(g.soname or os.path.basename(g.path), g)
        by_soname.setdefault(os.path.basename(g.path), g)
    out = TargetReach(target=target.name, arch=arch, libraries=[g.path for g in libs])
    walks = []
    for path in programs:
        prog = objs.get(path, PROGRAM)
        if prog is None:
            continue
        roots: list[ObjectGraph] = [prog]
        if prog.interp:
            interp = objs.get(os.path.realpath(prog.interp), PROGRAM)
            if interp is not None:
                roots.append(interp)
        walks.append((prog, roots))
        out.programs.append(_walk(prog, roots, by_export, by_soname, arch))
    linked = set().union(*(p.libraries for p in out.programs)) | set(programs)
    opened = [g for g in libs if g.path not in linked]
    if opened:
        openers = [i for i, p in enumerate(out.programs) if p.opens] or range(len(walks))
        for i in openers:
            out.programs[i] = _walk(*walks[i], by_export, by_soname, arch, opened=opened)
    for path, why in objs.failed.items():
        skipped[path] = why
    out.skipped = skipped
    return out


def _walk(prog: ObjectGraph, roots: list[ObjectGraph], by_export, by_soname,
          native: str, opened: list[ObjectGraph] = ()) -> ProgramReach:
    """What ``prog`` reaches from ``roots``, and from every export of the libraries in
    ``opened`` (the ones ``dlopen`` loaded)."""
    res = ProgramReach(path=prog.path, arch=prog.arch,
                       interpreter=bool(INTERPRETERS.match(os.path.basename(prog.path))))
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[ObjectGraph, int]] = []
    entered: set[int] = set()

    def enter(g: ObjectGraph) -> None:
        if id(g) in entered:
            return
        entered.add(id(g))
        if g.role == LIBRARY:
            res.libraries.add(g.path)
        for r in (g.init if g.role == LIBRARY else [0]):
            stack.append((g, r))
        for soname in g.needed:               # its DT_NEEDED libraries' constructors run too
            dep = by_soname.get(soname)
            if dep is not None:
                enter(dep)

    followed: set[tuple[int, str]] = set()

    def follow(name: str) -> None:
        """An import: the function, or the functions in the data object, of that name."""
        if name in _OPENS:
            res.opens = True
        for lib in by_export.get(name, ()):
            if (id(lib), name) in followed:
                continue
            followed.add((id(lib), name))
            enter(lib)
            if name in lib.exports:
                stack.append((lib, lib.exports[name]))
            for x in lib.data_exports.get(name, ()):
                if isinstance(x, int):
                    stack.append((lib, x))
                else:
                    follow(x)

    for g in roots:
        enter(g)
    for g in opened:
        enter(g)
        res.dlopened.add(g.path)
        stack.extend((g, r) for r in g.exports.values())
        for name in g.data_exports:
            follow(name)
    while stack:
        g, r = stack.pop()
        key = (id(g), r)
        if key in seen:
            continue
        seen.add(key)
        if g.arch == prog.arch:
            for nr in g.syscalls.get(r, ()):
                name = syscall_name(g.arch, nr)
                if name is None:
                    where = f"{os.path.basename(g.path)}: number {nr}"
                    res.unresolved[where] = res.unresolved.get(where, 0) + 1
                else:
                    res.syscalls.add(name)
        n = g.unresolved.get(r)
        if n:
            where = g.unresolved_in.items() if g.role == PROGRAM else [(g.names.get(r, r), n)]
            for fn, k in where:
                res.unresolved[_label(g, str(fn))] = k
        res.indirect += g.indirect.get(r, 0)
        for c in g.calls.get(r, ()):
            stack.append((g, c))
        for name in g.imports.get(r, ()):
            follow(name)
    return res


def _label(g: ObjectGraph, function: str) -> str:
    """``object: function``, where an unnamed function is already named by its object."""
    base = os.path.basename(g.path)
    return function if function.startswith(base + "+") else f"{base}: {function}"


def analyse(rec: Recording, target: str | None = None, *,
            log: Callable[[str], None] | None = None) -> list[TargetReach]:
    """The static analysis of every target of ``rec`` (or of the one named). A recording
    made in a container or pod names the container's files, which are not this host's (a
    path may exist here holding another program): nothing of it is analysed, and it says so."""
    metas = [rec.metadata] + list(rec.metadata.get("sources") or [])
    contained = sorted({m["target"].get("type") for m in metas if isinstance(m.get("target"), dict)
                        and m["target"].get("type") in ("container", "pod")})
    out = []
    for t in rec.targets:
        if target is not None and t.name != target:
            continue
        if contained:
            out.append(TargetReach(target=t.name, arch=rec.arch, skipped={
                "(every program)": f"recorded in a {' and '.join(contained)}: its files are "
                                   "the container's, not this host's"}))
        else:
            out.append(analyse_target(t, rec.arch, log=log))
    return out
