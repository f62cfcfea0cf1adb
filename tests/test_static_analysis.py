"""Static analysis (sandprint.static): small C programs whose syscalls are known, compiled here
with gcc, and the decoding of syscall numbers on hand-assembled code."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time

import pytest

from helpers import REPO, need
from sandprint.recording import Recording
from sandprint.static import cache
from sandprint.static.callgraph import LIBRARY, PROGRAM
from sandprint.static.coverage import coverage
from sandprint.static.disasm import analyse_region, disassembler
from sandprint.static.elf import ElfObject
from sandprint.static.reach import analyse_target
from sandprint.syscalls import native_arch

SOURCES = REPO / "tests" / "data" / "static"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
ARCH = "SCMP_ARCH_X86_64"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SANDPRINT_STATIC_CACHE_DIR", str(d))
    monkeypatch.setenv("SANDPRINT_STATIC_CACHE", "1")
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    need(shutil.which("gcc") is not None, "gcc is not installed")
    need(native_arch() == ARCH, "the test programs are x86_64")
    d = tmp_path_factory.mktemp("static-c")
    lib = d / "libfoo.so"
    prog = d / "prog"
    # stripped: functions are found through .eh_frame_hdr, as in Debian's libraries
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-s", "-o", str(lib),
                    str(SOURCES / "libfoo.c")], check=True)
    subprocess.run(["gcc", "-O2", "-s", "-o", str(prog), str(SOURCES / "prog.c"), str(lib),
                    f"-Wl,-rpath,{d}"], check=True)
    return prog, lib


@pytest.fixture(scope="module")
def plugin(built):
    """A plugin library no program links, and a program that loads it with dlopen()."""
    d = built[0].parent
    plug, loader = d / "libplug.so", d / "loader"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-s", "-o", str(plug),
                    str(SOURCES / "libplug.c")], check=True)
    subprocess.run(["gcc", "-O2", "-s", "-o", str(loader), str(SOURCES / "loader.c")],
                   check=True)
    return loader, plug


def recording(prog, libs) -> Recording:
    rec = Recording.new({"kind": "command"}, arch=ARCH)
    t = rec.target("main")
    t.add_exec(str(prog), [str(prog)])
    for lib in libs:
        t.add_file(str(lib), {"read_file", "execute"}, kind="file")
    t.add_syscall("execve")
    return rec


def test_program_and_library(built):
    prog, lib = built
    rec = recording(prog, [lib, LIBC])
    reach = analyse_target(rec.targets[0], ARCH)
    [p] = reach.programs
    assert p.path == str(prog)
    # its own syscall instruction, glibc's nanosleep, and foo's local kcmp and sched_yield
    assert {"getpid", "clock_nanosleep", "kcmp", "sched_yield"} <= p.syscalls
    # through a table of function pointers in the library's data
    assert {"mbind", "set_mempolicy"} <= p.syscalls
    # bar is never imported: its pivot_root is not reachable, and nothing else makes it
    assert "pivot_root" not in p.syscalls
    # the library's destructor runs at exit though nothing calls it
    assert "migrate_pages" in p.syscalls
    # glibc's generic syscall(): its number read at the call when the code fixes it ...
    assert "gettid" in p.syscalls
    # ... and otherwise counted and named, never guessed (at the call, and in glibc)
    assert reach.unresolved().get("libc.so.6: syscall") == 1
    assert sum(n for k, n in reach.unresolved().items() if k.startswith("prog")) == 1
    assert str(lib) in p.libraries and os.path.realpath(LIBC) in p.libraries
    possible = reach.possible()
    assert possible["kcmp"] == [str(prog)]


def test_library_not_loaded_is_not_followed(built):
    prog, _ = built
    reach = analyse_target(recording(prog, [LIBC]).targets[0], ARCH)
    [p] = reach.programs
    assert "kcmp" not in p.syscalls              # only libfoo makes it
    assert "getpid" in p.syscalls


def test_a_library_opened_with_dlopen_is_reached_through_every_export(built, plugin):
    loader, plug = plugin
    # what the recording of `loader libplug.so plug` holds: the plugin read and mapped
    proc = subprocess.run([str(loader), str(plug), "plug"])
    assert proc.returncode in (0, 1)
    reach = analyse_target(recording(loader, [plug, LIBC]).targets[0], ARCH)
    [p] = reach.programs
    assert p.opens and p.dlopened == {str(plug)}
    assert "get_mempolicy" in p.syscalls
    # the report names it, in text and in JSON
    [cov] = coverage(recording(loader, [plug, LIBC]))
    assert f"  opened with dlopen, every export followed (1 library): {plug}" in cov.lines()
    assert cov.to_json()["dlopened"] == {str(loader): [str(plug)]}
    # the same plugin unrecorded: nothing says the program loaded it
    [p] = analyse_target(recording(loader, [LIBC]).targets[0], ARCH).programs
    assert "get_mempolicy" not in p.syscalls and not p.dlopened


def test_a_dlopened_library_belongs_to_the_programs_that_reach_dlopen(built, plugin):
    loader, plug = plugin
    prog, lib = built
    rec = recording(loader, [plug, lib, LIBC])
    rec.targets[0].add_exec(str(prog), [str(prog)])
    reach = analyse_target(rec.targets[0], ARCH)
    by_path = {p.path: p for p in reach.programs}
    assert "get_mempolicy" in by_path[str(loader)].syscalls
    # prog links libfoo and never reaches dlopen: the plugin is the loader's
    assert not by_path[str(prog)].opens and not by_path[str(prog)].dlopened
    assert reach.possible()["get_mempolicy"] == [str(loader)]
    # with no program reaching dlopen (glibc opens NSS modules itself), every program has it
    rec = recording(prog, [plug, lib, LIBC])
    [p] = analyse_target(rec.targets[0], ARCH).programs
    assert p.dlopened == {str(plug)} and "get_mempolicy" in p.syscalls


def _reached(g, export: str) -> tuple[set[int], set[str]]:
    """The syscall numbers and imports reached inside ``g`` from ``export``."""
    seen, stack = set(), [g.exports[export]]
    while stack:
        r = stack.pop()
        if r not in seen:
            seen.add(r)
            stack.extend(g.calls.get(r, ()))
    return ({n for r in seen for n in g.syscalls.get(r, ())},
            {n for r in seen for n in g.imports.get(r, ())})


def test_calls_through_data_the_dynamic_linker_fills(built):
    d = built[0].parent
    lib = d / "libtables.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-s", "-o", str(lib),
                    str(SOURCES / "libtables.c")], check=True)
    g = cache.graph(str(lib), LIBRARY)
    # a table of imported functions in the data: each one is an import of the code
    assert {"geteuid", "getppid"} <= _reached(g, "via_imports")[1]
    # a hidden IFUNC's slot (IRELATIVE) leads to its resolver and what that returns
    assert 111 in _reached(g, "via_ifunc")[0]


def test_a_data_object_a_program_takes_from_a_library(built):
    """A program calling through a table a library exports (a COPY relocation, as a C++
    vtable a program's inline constructor stores) reaches the functions in it."""
    d = built[0].parent
    lib, prog = d / "libops.so", d / "useops"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-s", "-o", str(lib),
                    str(SOURCES / "libops.c")], check=True)
    subprocess.run(["gcc", "-O2", "-s", "-o", str(prog), str(SOURCES / "useops.c"), str(lib),
                    f"-Wl,-rpath,{d}"], check=True)
    g = cache.graph(str(lib), LIBRARY)
    assert "library_ops" in g.data_exports and not g.exports.get("library_ops")
    [p] = analyse_target(recording(prog, [lib, LIBC]).targets[0], ARCH).programs
    assert "getitimer" in p.syscalls
    # without the table's import, nothing reaches it: the library alone, unlinked, is
    # dlopen's, and then its data objects are roots as its functions are
    [p] = analyse_target(recording(prog, [LIBC]).targets[0], ARCH).programs
    assert "getitimer" not in p.syscalls
    [p] = analyse_target(recording(built[0], [lib, built[1], LIBC]).targets[0], ARCH).programs
    assert str(lib) in p.dlopened and "getitimer" in p.syscalls


def test_packed_relative_relocations_are_read(built, tmp_path):
    """Debian's glibc keeps most of its pointers in .relr.dyn (-z pack-relative-relocs)."""
    lib = tmp_path / "libfoo-relr.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-s", "-Wl,-z,pack-relative-relocs",
                    "-o", str(lib), str(SOURCES / "libfoo.c")], check=True)
    obj = ElfObject(str(lib), pointers=True)
    assert obj.pointers, "no pointer read from .relr.dyn"
    g = cache.graph(str(lib), LIBRARY)
    assert {237, 238} <= _reached(g, "via_table")[0]         # its table, through RELR
    if os.path.exists(LIBC):
        # glibc's FILE vtables: stdout's points into __libc_IO_vtables
        libc = ElfObject(LIBC, pointers=True)
        addr, size = libc.data_exports["_IO_2_1_stdout_"]
        assert any(addr <= p < addr + size for p in libc.pointers)


def test_library_graph_of_a_stripped_library(built):
    _, lib = built
    obj = ElfObject(str(lib))
    assert not obj.has_symtab and obj.fde_starts
    g = cache.graph(str(lib), LIBRARY)
    assert {"foo", "bar"} <= set(g.exports)
    foo, bar = g.exports["foo"], g.exports["bar"]
    assert g.syscalls.get(bar) == [155]
    assert foo not in g.syscalls                      # its kcmp is in the local function
    assert any(g.syscalls.get(c) == [312] for c in g.calls[foo])
    assert "sched_yield" in set().union(*map(set, g.imports.values()))


def test_non_elf_and_missing_files_are_skipped(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/nonexistent/interp\n")
    script.chmod(0o755)
    rec = Recording.new({"kind": "command"}, arch=ARCH)
    t = rec.target("main")
    t.add_exec(str(script), [str(script)])
    t.add_exec("/nonexistent/prog", ["/nonexistent/prog"])
    reach = analyse_target(t, ARCH)
    assert not reach.programs
    assert "not on this host" in reach.skipped["/nonexistent/prog"]
    assert "not an ELF" in reach.skipped[str(script)]


def test_shebang_script_is_analysed_as_its_interpreter(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    rec = Recording.new({"kind": "command"}, arch=ARCH)
    rec.target("main").add_exec(str(script), [str(script)])
    reach = analyse_target(rec.targets[0], ARCH)
    [p] = reach.programs
    assert p.path == os.path.realpath("/bin/sh") and p.interpreter


def _facts(code: bytes):
    return analyse_region(disassembler(64), code, 0x1000, bits=64)


MOV_EAX_39 = b"\xb8\x27\x00\x00\x00"
MOV_EAX_186 = b"\xb8\xba\x00\x00\x00"
SYSCALL = b"\x0f\x05"
RET = b"\xc3"


def test_number_fixed_on_every_path():
    # mov eax, 39; test edi, edi; je L; mov eax, 186; L: syscall
    f = _facts(MOV_EAX_39 + b"\x85\xff\x74\x05" + MOV_EAX_186 + SYSCALL + RET)
    assert f.syscalls == {39, 186} and f.unresolved == 0


def test_number_through_another_register():
    # mov r9d, 60; mov eax, r9d; syscall
    f = _facts(b"\x41\xb9\x3c\x00\x00\x00\x44\x89\xc8" + SYSCALL + RET)
    assert f.syscalls == {60}


def test_xor_is_read():
    f = _facts(b"\x31\xc0" + SYSCALL + RET)            # xor eax, eax: read (0)
    assert f.syscalls == {0}


def test_number_from_an_argument_is_unresolved():
    f = _facts(b"\x89\xf8" + SYSCALL + RET)            # mov eax, edi
    assert not f.syscalls and f.unresolved == 1
    # one path fixes it, the other does not: unresolved, not the one value
    f = _facts(b"\x85\xff\x74\x05" + MOV_EAX_39 + SYSCALL + RET)
    assert not f.syscalls and f.unresolved == 1


def test_a_call_clobbers_the_number():
    # mov eax, 39; call +0; syscall
    f = _facts(MOV_EAX_39 + b"\xe8\x00\x00\x00\x00" + SYSCALL + RET)
    assert f.unresolved == 1 and f.calls == {0x100a}


def test_cache_is_private_and_used(built, private_cache):
    _, lib = built
    g = cache.graph(str(lib), LIBRARY)
    [entry] = list(private_cache.glob("*.json"))
    assert stat.S_IMODE(private_cache.stat().st_mode) == 0o700
    again = cache.graph(str(lib), LIBRARY)
    assert again.to_json() == g.to_json()
    # an entry others may write is not trusted (analysed again instead)
    entry.chmod(0o666)
    assert cache.lookup(g.identity, LIBRARY) is None
    entry.chmod(0o600)
    assert cache.lookup(g.identity, LIBRARY) is not None


def test_glibc_takes_seconds():
    need(os.path.exists(LIBC), "no glibc at " + LIBC)
    t0 = time.monotonic()
    g = cache.graph(LIBC, LIBRARY)
    assert time.monotonic() - t0 < 20
    numbers = {n for v in g.syscalls.values() for n in v}
    assert len(numbers) > 200
    # its generic syscall() is the one function whose number is an argument
    assert "syscall" in {g.names[r] for r in g.unresolved}
    t0 = time.monotonic()
    cache.graph(LIBC, LIBRARY)
    assert time.monotonic() - t0 < 2                  # from the cache


def test_program_role_covers_the_whole_program(built):
    prog, _ = built
    g = cache.graph(str(prog), PROGRAM)
    assert 39 in g.syscalls[0]
    assert {"nanosleep", "syscall", "foo"} <= set(g.imports[0])


def test_a_malformed_elf_is_skipped_and_named(tmp_path):
    bad = tmp_path / "bad.so"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\xff" * 200)
    prog = tmp_path / "prog"
    prog.write_bytes(b"\x7fELF" + b"\0" * 60)
    prog.chmod(0o755)
    rec = Recording.new({"kind": "command"}, arch=ARCH)
    t = rec.target("main")
    t.add_exec(str(prog), [str(prog)])
    t.add_file(str(bad), {"read_file"}, kind="file")
    reach = analyse_target(t, ARCH)
    assert not reach.programs
    assert set(reach.skipped) == {str(prog), str(bad)}


def test_glibc_signal_trampoline_is_found():
    """__restore_rt's unwind entry starts a byte early; its rt_sigreturn is found anyway, and
    reached from sigaction, which takes its address."""
    need(os.path.exists(LIBC), "no glibc at " + LIBC)
    g = cache.graph(LIBC, LIBRARY)
    assert any(15 in v for v in g.syscalls.values())         # rt_sigreturn on x86_64


def test_a_store_through_rax_keeps_the_number():
    # mov eax, 39; mov dword ptr [rax], 0 would fault, but a store through rbx that names
    # eax as data does not change eax: mov dword ptr [rbx], eax; syscall
    f = _facts(MOV_EAX_39 + b"\x89\x03" + SYSCALL + RET)
    assert f.syscalls == {39}


def test_i386_sites():
    md = disassembler(32)
    # mov eax, 20; int 0x80 -- and glibc's call through the vDSO: mov eax, 4; call gs:[0x10]
    f = analyse_region(md, b"\xb8\x14\x00\x00\x00\xcd\x80" + b"\xb8\x04\x00\x00\x00"
                       + b"\x65\xff\x15\x10\x00\x00\x00" + RET, 0x1000, bits=32)
    assert f.syscalls == {20, 4} and f.unresolved == 0 and f.indirect == 0
