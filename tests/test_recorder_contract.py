"""The contract between the recorder's BPF programs and their Python side, as
sandprint/profiler/parts.py declares it, checked against the C source (no kernel needed):
event numbers, the fields and sizes of every struct user space reads, the maps it reads by
name, the constants it mirrors, and that each part is compiled after the parts it calls."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandprint.profiler import parts as P

BPF = Path(P.__file__).resolve().parent / "bpf"
PROFILER = BPF.parent
ALL_PARTS = [P.COMMON, *P.PARTS.values()]

C_SIZES = {"u8": 1, "s8": 1, "char": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "int": 4,
           "u64": 8, "s64": 8, "long": 8}


def _text(part: P.Part) -> str:
    return "\n".join((BPF / s).read_text() for s in part.sources)


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def _constants(text: str) -> dict[str, int]:
    """#define NAME number, and NAME = number inside enums."""
    text = _strip_comments(text)
    out = {m[0]: int(m[1], 0) for m in re.findall(r"#define\s+(\w+)\s+(0x[0-9a-fA-F]+|[1-9]\d*|0)\b",
                                                    text)}
    for body in re.findall(r"enum\s+\w+\s*\{(.*?)\}", text, flags=re.S):
        out.update({m[0]: int(m[1], 0) for m in re.findall(r"(\w+)\s*=\s*(0x[0-9a-fA-F]+|[1-9]\d*|0)",
                                                           body)})
    return out


ALL_C = "\n".join(p.read_text() for p in sorted(BPF.glob("*.bpf.[ch]")))
KNOWN = {**_constants(ALL_C), **{n: v for p in ALL_PARTS for n, v in p.constants}}


def _eval(expr: str) -> int:
    expr = re.sub(r"\b[A-Z_][A-Z0-9_]*\b", lambda m: str(KNOWN[m.group(0)]), expr)
    assert re.fullmatch(r"[\d\s*+()-]+", expr), expr
    return eval(expr)  # noqa: S307 - digits and operators only (checked above)


def _struct_fields(text: str, name: str) -> list[tuple[str, int]]:
    """(field, size) of ``struct name`` in ``text``."""
    m = re.search(rf"struct\s+{name}\s*\{{(.*?)\}};", _strip_comments(text), flags=re.S)
    assert m, f"struct {name} not found"
    out = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        dm = re.fullmatch(r"(struct \w+|\w+) (\w+)((?:\[[^\]]+\])*)", decl)
        assert dm, f"struct {name}: cannot read {decl!r}"
        ctype, field, dims = dm.groups()
        size = (ctypes_size_of_struct(ctype[7:]) if ctype.startswith("struct ")
                else C_SIZES[ctype])
        for d in re.findall(r"\[([^\]]+)\]", dims):
            size *= _eval(d)
        out.append((field, size))
    return out


def ctypes_size_of_struct(name: str) -> int:
    return sum(size for _f, size in _struct_fields(ALL_C, name))


def test_every_recorder_program_belongs_to_one_part():
    owned = [s for p in P.PARTS.values() for s in p.sources]
    assert len(owned) == len(set(owned))
    files = {f.name for f in BPF.glob("*.bpf.c")} - {"runtime_window.bpf.c"}
    assert set(owned) == files    # runtime_window.bpf.c is the runtime measurement's own program


@pytest.mark.parametrize("part", ALL_PARTS, ids=lambda p: p.name)
def test_event_numbers_and_layouts_match_the_c(part):
    text = _text(part) + "\n" + (BPF / P.COMMON_HEADER).read_text()
    consts = _constants(text)
    for ev in part.events:
        assert consts.get(ev.const) == ev.type, (ev.const, consts.get(ev.const), ev.type)
        c_fields = _struct_fields(text, ev.struct)
        py_fields = P.layout_fields(ev.layout)
        if ev.layout is P.L.EventHeader:          # an event that is its header alone
            assert c_fields == [("h", 16)] and sum(s for _f, s in py_fields) == 16
            continue
        # the ctypes layout reads the struct's first fields, in order, at the same sizes
        assert c_fields[:len(py_fields)] == py_fields, (ev.struct, c_fields, py_fields)


def test_the_header_structs_match():
    for struct, layout in P.COMMON_STRUCTS:
        assert _struct_fields(ALL_C, struct) == P.layout_fields(layout), struct


@pytest.mark.parametrize("part", ALL_PARTS, ids=lambda p: p.name)
def test_maps_python_reads_are_declared_by_the_part(part):
    text = _strip_comments(_text(part))
    declared = set(re.findall(r"BPF_(?:ARRAY|HASH|PERCPU_ARRAY|PERCPU_HASH|RINGBUF_OUTPUT)"
                              r"\(\s*(\w+)", text))
    declared |= set(re.findall(r"BPF_TABLE\(\s*\"[^\"]+\"\s*,[^,]+,[^,]+,\s*(\w+)", text))
    assert set(part.maps) <= declared, set(part.maps) - declared


def test_every_map_the_recorder_reads_is_declared():
    declared = {m for p in ALL_PARTS for m in p.maps}
    for py in ("recorder.py", "fs_events.py", "cgroup_watch.py", "containers.py"):
        read = set(re.findall(r"\b(?:bpf|b)\[\"(\w+)\"\]", (PROFILER / py).read_text()))
        assert read <= declared, (py, read - declared)


@pytest.mark.parametrize("part", ALL_PARTS, ids=lambda p: p.name)
def test_constants_python_mirrors_match_the_c(part):
    consts = _constants(_text(part))
    for name, value in part.constants:
        if name in consts:
            assert consts[name] == value, (name, consts[name], value)
        else:   # a default the loader always overrides with -D (FS_PATH_LEN ...)
            assert re.search(rf"#ifndef {name}\b", _text(part)), f"{name} not in the C"


def _defined(text: str) -> set[str]:
    return set(re.findall(r"static __always_inline[^;{]*?\b(\w+)\([^;{]*\)\s*\{",
                          _strip_comments(text)))


def test_each_part_is_compiled_after_the_parts_it_calls():
    defined = {p.name: _defined(_text(p)) for p in P.PARTS.values()}
    for p in P.PARTS.values():
        body = _strip_comments(_text(p))
        for other, funcs in defined.items():
            if other == p.name:
                continue
            called = {f for f in funcs if re.search(rf"\b{f}\(", body)}
            assert not called or other in p.after, (p.name, "calls", other, called)
    # and the order the recorder compiles them in puts each after those
    for options in ({"files": True, "count_exits": False, "containers": False},
                    {"files": True, "count_exits": True, "containers": True},
                    {"files": False, "count_exits": True, "containers": True}):
        order = [p.name for p in P.select(P.Options("SCMP_ARCH_X86_64", **options))]
        for i, name in enumerate(order):
            assert not set(P.PARTS[name].after) & set(order[i + 1:]), order


def test_each_part_owns_its_defines():
    # the options turn on exactly the defines of the parts they select, nothing in between
    # (the args part, always loaded, gives argspec.ARG_RULES to the C: arg_values.defines;
    # the creds part's say which syscall tracepoints the kernel has), beside what this
    # kernel says of itself: where BTF puts the i386 marker, and whether sched_process_exit
    # tells a thread group's end (what every recorder needs)
    from sandprint.profiler import arg_values as AV
    from sandprint.profiler import creds as CR

    def others(o):
        return P.defines([p for p in P.select(o) if p.name != "args"], o)

    kernel = {**P.L.compat_defines("SCMP_ARCH_X86_64"), **P.L.exit_group_dead()}
    plain = P.Options("SCMP_ARCH_X86_64", files=False, regular_tracepoint=True)
    creds = P.CREDS.defines(plain)
    assert set(creds) <= {f"CREDS_TP_{n.upper()}" for n in CR.SETID_SYSCALLS} | \
        {f"CREDS_NR_{n.upper()}" for n in CR.ENTER_SYSCALLS}
    assert others(plain) == {**kernel, **creds}
    assert P.defines([P.ARGS], plain) == AV.defines("SCMP_ARCH_X86_64")
    verify = P.Options("SCMP_ARCH_X86_64", files=False, count_exits=True, attribute=True,
                       regular_tracepoint=True)
    assert others(verify) == {"COUNT_EXITS": 1, "ATTRIBUTE": 1, **kernel, **creds}
    assert [p.name for p in P.PARTS.values() if p.attach] == ["files"]


def test_every_event_has_its_handler_on_its_part():
    import inspect

    for part in P.PARTS.values():
        if part.events:
            assert part.handlers is not None, part.name
        for ev in part.events:
            handler = getattr(part.handlers, ev.handler, None)
            assert callable(handler), (part.name, ev.handler)
            assert list(inspect.signature(handler).parameters) == ["self", "header", "data",
                                                                  "size"], ev.handler


def test_the_recorder_dispatches_each_event_to_its_part():
    """Each event type goes straight to the bound method of its part's handler object (no
    lookup in between: the ring buffer's consumer is the hot path), and the recorder's
    callbacks reach the parts that call them."""
    from types import SimpleNamespace

    from sandprint.profiler.recorder import Recorder

    rec = Recorder.__new__(Recorder)
    rec.names, rec.pids, rec.exited, rec.live, rec.exe = [], [], [], set(), {}
    rec.fs, rec.pending_execs, rec.recording = None, {}, SimpleNamespace()
    rec.events, by_type = P.handlers(P.PARTS.values(), rec)
    assert set(rec.events) == {"tasks", "files", "containers", "creds"}
    for part in P.PARTS.values():
        for ev in part.events:
            handler, targeted = by_type[ev.type]
            assert handler.__self__ is rec.events[part.name] and targeted == ev.targeted
            assert handler.__func__ is getattr(part.handlers, ev.handler)
    tasks = rec.events["tasks"]
    assert tasks.pids is rec.pids and tasks.live is rec.live and tasks.exe is rec.exe
    assert rec.events["files"].pending_execs is tasks.pending_execs is rec.pending_execs
    calls = []
    rec.on_exit = lambda pid, target: calls.append((pid, target))
    rec.on_cgroup_mkdir = lambda cid, path: calls.append((cid, path))
    assert rec.events["containers"].on_cgroup_mkdir is rec.on_cgroup_mkdir
    rec.pids.append(set())
    rec.exited.append(set())
    tasks.handle_exit(SimpleNamespace(pid=42, target=0), None, 0)
    assert rec.exited[0] == {42} and calls == [(42, 0)]
