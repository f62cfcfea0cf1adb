"""One object's call graph: regions (functions), the syscalls each makes, its edges.

Two roles, because what is reachable differs:

- a **program** (an executable the recording saw executed, and its dynamic loader): all of
  its code may run, so no graph is needed inside it. The code is scanned for the bytes of
  a system call instruction (``0f 05``; on i386 ``cd 80``, ``0f 34``, ``call gs:[0x10]``)
  and only the regions holding one are decoded (most of a large program never is); its
  imports are every symbol it asks the dynamic linker for. (A graph walked from the entry
  point and the constructors gains nothing: measured on Debian's postgres it reaches 16 560
  of 17 635 functions and 531 of 533 imports, on node, whose data pointers are not
  relocated and must be scanned for, 76 057 of 78 617 functions and 490 of 491 imports.)
- a **library** (a shared object its processes loaded): only what the program reaches
  through the library's exports (and its constructors and destructors) may run. Every
  region is decoded; each keeps the syscall numbers its code fixes, its unresolved sites,
  its direct callees (other regions: glibc's internal calls go to local functions, which
  the ``.eh_frame_hdr`` table delimits even in a stripped library), the imports it uses
  (a GOT slot it refers to: PLT entries are regions too, each jumping through its slot) and
  its indirect calls.

A region runs from one known function start to the next (:attr:`ElfObject.starts`); a
function without unwind information or symbol is folded into the region before it, which
only ever adds edges.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from .disasm import analyse_region, disassembler
from .elf import ElfObject

PROGRAM, LIBRARY = "program", "library"
_SITES = {64: re.compile(rb"\x0f\x05"),
          32: re.compile(rb"\xcd\x80|\x0f\x34|\x65\xff\x15\x10\x00\x00\x00")}


@dataclass
class ObjectGraph:
    path: str
    identity: str
    arch: str
    role: str
    names: dict[int, str] = field(default_factory=dict)          # region -> function name
    syscalls: dict[int, list[int]] = field(default_factory=dict)
    unresolved: dict[int, int] = field(default_factory=dict)
    calls: dict[int, list[int]] = field(default_factory=dict)
    imports: dict[int, list[str]] = field(default_factory=dict)
    indirect: dict[int, int] = field(default_factory=dict)
    exports: dict[str, int] = field(default_factory=dict)
    # exported data object -> the regions (ints) and imports (names) its pointers lead to
    data_exports: dict[str, list] = field(default_factory=dict)
    init: list[int] = field(default_factory=list)
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    interp: str | None = None
    regions: int = 0                                              # regions decoded
    unresolved_in: dict[str, int] = field(default_factory=dict)   # program: function -> sites

    def to_json(self) -> dict[str, Any]:
        def keyed(d):
            return {str(k): v for k, v in d.items()}
        return {"path": self.path, "identity": self.identity, "arch": self.arch,
                "role": self.role, "names": keyed(self.names),
                "syscalls": keyed(self.syscalls), "unresolved": keyed(self.unresolved),
                "calls": keyed(self.calls), "imports": keyed(self.imports),
                "indirect": keyed(self.indirect), "exports": self.exports,
                "dataExports": self.data_exports, "init": self.init,
                "needed": self.needed, "soname": self.soname, "interp": self.interp,
                "regions": self.regions, "unresolvedIn": self.unresolved_in}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ObjectGraph":
        def unkeyed(x):
            return {int(k): v for k, v in x.items()}
        return cls(path=d["path"], identity=d["identity"], arch=d["arch"], role=d["role"],
                   names=unkeyed(d["names"]), syscalls=unkeyed(d["syscalls"]),
                   unresolved=unkeyed(d["unresolved"]), calls=unkeyed(d["calls"]),
                   imports=unkeyed(d["imports"]), indirect=unkeyed(d["indirect"]),
                   exports=d["exports"], data_exports=d.get("dataExports", {}),
                   init=d["init"], needed=d["needed"],
                   soname=d["soname"], interp=d["interp"], regions=d["regions"],
                   unresolved_in=d["unresolvedIn"])


# a signal trampoline's unwind entry starts one byte before its code (the unwinder looks up
# the return address minus one): glibc's __restore_rt, `mov rax, 15; syscall`, decoded from
# its region's start, is a different instruction stream that hides the syscall
_TRAMPOLINE = 64


def _analyse(obj: ElfObject, md, i: int, generic=None):
    start, end = obj.region_bounds(i)
    code = obj.code(start, end)
    if generic is not None and obj.in_plt(start):
        generic = None                  # a PLT entry's jump through the slot is no call site
    facts = analyse_region(md, code, start, bits=obj.bits, got_base=obj.got_plt,
                           generic=generic)
    if len(code) <= _TRAMPOLINE and not facts.syscalls and _SITES[obj.bits].search(code):
        for skip in (1, 2, 3):
            again = analyse_region(md, code[skip:], start + skip, bits=obj.bits,
                                   got_base=obj.got_plt, generic=generic)
            if again.syscalls:
                return again
    return facts


GENERIC = "syscall"                     # glibc's generic syscall(): the number is an argument


def _generic(obj: ElfObject, md) -> tuple[frozenset[int], frozenset[int]] | None:
    """The PLT entries and GOT slots through which ``obj`` calls glibc's ``syscall()``, or
    None when it does not import it (each PLT entry jumps through one slot)."""
    slots = frozenset(a for a, name in obj.slots.items() if name == GENERIC)
    if not slots or obj.bits != 64:
        return None
    entries = set()
    for lo, hi, ent in obj.plt_ranges:
        for a in range(lo, hi, ent):
            i = obj.region_of(a)
            if i >= 0 and obj.starts[i] == a and analyse_region(
                    md, obj.code(a, min(a + ent, hi)), a, bits=64).refs & slots:
                entries.add(a)
    return frozenset(entries), slots


# a direct call or jump (rel32), and a call or jump through a rip-relative slot
_BRANCH = re.compile(rb"[\xe8\xe9]|\xff[\x15\x25]")


def _callers_of(obj: ElfObject, generic: tuple[frozenset[int], frozenset[int]]) -> set[int]:
    """The regions holding a call or jump to one of ``generic``'s entries or slots, found by
    their bytes (a program's code is not decoded whole)."""
    entries, slots = generic
    out = set()
    for sec in obj.sections:
        data, base = sec.data, sec.addr
        for m in _BRANCH.finditer(data):
            at = m.start()
            k = at + (1 if data[at] in (0xE8, 0xE9) else 2)
            if k + 4 > len(data):
                continue
            rel = int.from_bytes(data[k:k + 4], "little", signed=True)
            target = base + k + 4 + rel
            if target in entries or target in slots:
                i = obj.region_of(base + at)
                if i >= 0:
                    out.add(i)
    return out


def _base(obj: ElfObject, role: str) -> ObjectGraph:
    return ObjectGraph(path=obj.path, identity=obj.identity, arch=obj.arch, role=role,
                       needed=list(obj.needed), soname=obj.soname, interp=obj.interp)


def program_graph(obj: ElfObject) -> ObjectGraph:
    """All of a program's code as one node (region 0): its syscall sites and every import."""
    g = _base(obj, PROGRAM)
    md = disassembler(obj.bits)
    pattern = _SITES[obj.bits]
    regions: set[int] = set()
    for sec in obj.sections:
        for m in pattern.finditer(sec.data):
            i = obj.region_of(sec.addr + m.start())
            if i >= 0:
                regions.add(i)
    generic = _generic(obj, md)
    if generic is not None:
        regions |= _callers_of(obj, generic)
    numbers: set[int] = set()
    unresolved_names = {}
    for i in sorted(regions):
        facts = _analyse(obj, md, i, generic)
        numbers |= facts.syscalls
        if facts.unresolved:
            unresolved_names[obj.name_of(i)] = facts.unresolved
    g.regions = len(regions)
    g.names = {0: obj.name_of(0) if obj.starts else obj.path}
    g.syscalls = {0: sorted(numbers)} if numbers else {}
    if unresolved_names:
        g.unresolved = {0: sum(unresolved_names.values())}
        g.unresolved_in = unresolved_names
    g.imports = {0: sorted(obj.imports)} if obj.imports else {}
    g.exports = {name: 0 for name in obj.exports}
    return g


class _Pointers:
    """The functions whose address code takes, directly or through data.

    Code that loads a function's address (``lea rdi, [rip + f]``, a GOT slot holding one of
    the object's own functions) may call it: an edge. Code that loads the address of data
    may call any function that data points to, and any function the data it points to
    points to: a table of methods, a module definition pointing to its table, a vtable; and
    any function of another object in it (a slot the dynamic linker fills with an imported
    symbol, as ``{geteuid, getppid}`` makes): an import of the code. A data object runs from
    the address code (or a pointer) names to the next address that is named: the ELF keeps
    no sizes for a stripped library's data (an exported one's size is used: :meth:`of_range`)."""

    SPAN = 1 << 16                          # a data object is never followed further

    def __init__(self, obj: ElfObject, refs: set[int]):
        self.obj = obj
        self.slots = sorted(obj.pointers)
        # a table of another object's functions lives in the data, never in the GOT
        self.import_slots = sorted(a for a in obj.slots if not obj.in_got(a))
        named = set(refs) | {t for t in obj.pointers.values() if obj.section_at(t) is None}
        self.bounds = sorted(named)
        self.memo: dict[int, frozenset] = {}

    def functions(self, addr: int) -> set[int]:
        """The regions reachable through the address ``addr`` taken by code."""
        obj = self.obj
        if obj.section_at(addr) is not None:
            i = obj.region_of(addr)
            # a function's start, or just past it (a trampoline's region starts early)
            return {i} if i >= 0 and addr - obj.starts[i] <= 3 else set()
        return {x for x in self.of_data(addr) if isinstance(x, int)}

    def imports(self, addr: int) -> set[str]:
        """The imported functions reachable through the data address ``addr``."""
        if self.obj.section_at(addr) is not None:
            return set()
        return {x for x in self.of_data(addr) if isinstance(x, str)}

    def of_data(self, addr: int) -> frozenset:
        """The regions (ints) and imports (names) the data at ``addr`` leads to."""
        found = self.memo.get(addr)
        if found is not None:
            return found
        self.memo[addr] = frozenset()       # a cycle through data adds nothing
        k = bisect.bisect_right(self.bounds, addr)
        end = min(self.bounds[k] if k < len(self.bounds) else addr + self.SPAN,
                  addr + self.SPAN)
        self.memo[addr] = self.of_range(addr, end)
        return self.memo[addr]

    def of_range(self, addr: int, end: int) -> frozenset:
        """What the pointers in [addr, end) lead to (a data object of known size)."""
        out: set = set()
        j = bisect.bisect_left(self.import_slots, addr)
        while j < len(self.import_slots) and self.import_slots[j] < end:
            out.add(self.obj.slots[self.import_slots[j]])
            j += 1
        j = bisect.bisect_left(self.slots, addr)
        obj = self.obj
        while j < len(self.slots) and self.slots[j] < end:
            target = obj.pointers[self.slots[j]]
            if obj.section_at(target) is not None:
                r = obj.region_of(target)
                if r >= 0 and obj.starts[r] == target:
                    out.add(r)
            else:
                out |= self.of_data(target)
            j += 1
        return frozenset(out)


def library_graph(obj: ElfObject) -> ObjectGraph:
    """Every region of a library decoded, with its edges (calls, tail calls, and the
    functions whose address it takes: :class:`_Pointers`)."""
    g = _base(obj, LIBRARY)
    md = disassembler(obj.bits)
    n = len(obj.starts)
    g.regions = n
    generic = _generic(obj, md)
    all_facts = [_analyse(obj, md, i, generic) for i in range(n)]
    pointers = _Pointers(obj, set().union(*(f.refs for f in all_facts)) if all_facts else set())
    for i, facts in enumerate(all_facts):
        if facts.syscalls:
            g.syscalls[i] = sorted(facts.syscalls)
        if facts.unresolved:
            g.unresolved[i] = facts.unresolved
            g.names[i] = obj.name_of(i)
        if facts.indirect:
            g.indirect[i] = facts.indirect
        callees = {obj.region_of(t) for t in facts.calls}
        imports = {obj.slots[r] for r in facts.refs if r in obj.slots}
        for r in facts.refs:
            # a slot in the data, not the GOT, is the start of a table of functions
            if r not in obj.slots or not obj.in_got(r):
                callees |= pointers.functions(r)
                imports |= pointers.imports(r)
        callees -= {-1, i}
        if callees:
            g.calls[i] = sorted(callees)
        if imports:
            g.imports[i] = sorted(imports)
    for name, addr in obj.exports.items():
        i = obj.region_of(addr)
        if i >= 0:
            g.exports[name] = i
            g.names.setdefault(i, name)
    for name, (addr, size) in obj.data_exports.items():
        found = pointers.of_range(addr, addr + size)
        if found:
            g.data_exports[name] = sorted(found, key=lambda x: (isinstance(x, str), str(x)))
    g.init = sorted({obj.region_of(a) for a in obj.init} - {-1})
    return g


def build(obj: ElfObject, role: str) -> ObjectGraph:
    return program_graph(obj) if role == PROGRAM else library_graph(obj)
