"""What the static analysis needs from one ELF object, read with pyelftools.

An :class:`ElfObject` knows its class and machine (x86_64 or i386), its identity for the
cache (build-id, else path + size + mtime), its executable sections, where its functions
start (the ``.eh_frame_hdr`` search table, which even a stripped library keeps for every
function with unwind information, plus the function symbols of ``.dynsym`` and ``.symtab``),
its exported functions, its imports (the GOT slots the dynamic linker fills with another
object's symbol: JUMP_SLOT, GLOB_DAT and absolute relocations naming an undefined symbol),
its constructors and destructors (DT_INIT, DT_FINI, the init, preinit and fini arrays), its
DT_NEEDED and DT_SONAME, and its PT_INTERP.
"""

from __future__ import annotations

import bisect
import functools
import os
import struct
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

ET_EXEC, ET_DYN = "ET_EXEC", "ET_DYN"
MACHINES = {"EM_X86_64": "SCMP_ARCH_X86_64", "EM_386": "SCMP_ARCH_X86"}
FUNC_TYPES = ("STT_FUNC", "STT_GNU_IFUNC")
PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got", ".plt.bnd")


class NotAnalysable(Exception):
    """The file is not an ELF object this analysis reads (says why)."""


def is_elf(path: str) -> bool:
    """Whether ``path`` is a regular file starting with the ELF magic."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


@dataclass(frozen=True)
class Section:
    name: str
    addr: int
    data: bytes


def _read_encoded(data: bytes, off: int, enc: int, here: int, datarel: int) -> tuple[int, int]:
    """One DWARF-encoded pointer of ``.eh_frame_hdr`` at ``off``: (value, next offset)."""
    fmt = enc & 0x0F
    sizes = {0x03: "<I", 0x0B: "<i", 0x04: "<Q", 0x0C: "<q", 0x02: "<H", 0x0A: "<h"}
    if fmt not in sizes:
        raise NotAnalysable(f"unsupported .eh_frame_hdr pointer encoding {enc:#x}")
    (v,) = struct.unpack_from(sizes[fmt], data, off)
    app = enc & 0x70
    if app == 0x10:
        v += here + off
    elif app == 0x30:
        v += datarel
    elif app != 0:
        raise NotAnalysable(f"unsupported .eh_frame_hdr pointer application {enc:#x}")
    return v, off + struct.calcsize(sizes[fmt])


_COPY = 5                               # R_X86_64_COPY and R_386_COPY
_RUN_ARRAYS = ("SHT_INIT_ARRAY", "SHT_FINI_ARRAY", "SHT_PREINIT_ARRAY")


class ElfObject:
    """One ELF file on this host, opened for the analysis (read in full once)."""

    def __init__(self, path: str, *, pointers: bool = False):
        """``pointers``: also keep every pointer the dynamic linker writes into the data
        (:attr:`pointers`; a library's call graph follows them, a program's needs none)."""
        self.path = path
        self.want_pointers = pointers
        self.pointers: dict[int, int] = {}                 # slot -> address stored there
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                self.elf = ELFFile(f)
                self._load(st)
            del self.elf                     # its file is closed: nothing may read it later
        except (OSError, ELFError, struct.error, ValueError) as e:
            raise NotAnalysable(f"{path}: {e}") from None

    def _load(self, st: os.stat_result) -> None:
        elf = self.elf
        machine = elf["e_machine"]
        if machine not in MACHINES:
            raise NotAnalysable(f"{self.path}: machine {machine} is not analysed "
                                "(x86_64 and i386 are)")
        self.arch = MACHINES[machine]
        self.bits = elf.elfclass
        self.type = elf["e_type"]
        self.entry = elf["e_entry"]
        self.size, self.mtime_ns = st.st_size, st.st_mtime_ns
        self.build_id = None
        self.interp = None
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_INTERP":
                self.interp = seg.get_interp_name()
        self.sections: list[Section] = []
        self.plt_ranges: list[tuple[int, int, int]] = []   # start, end, entry size
        self.symbols: dict[int, str] = {}                  # function start -> a name
        self.exports: dict[str, int] = {}                  # exported function -> address
        self.data_exports: dict[str, tuple[int, int]] = {}  # exported object -> address, size
        self.slots: dict[int, str] = {}                    # GOT slot -> imported symbol
        self.imports: set[str] = set()
        self.needed: list[str] = []
        self.soname = None
        self.init: list[int] = []          # constructors and destructors: what runs unasked
        self.got_plt = None
        self.got_ranges: list[tuple[int, int]] = []
        self.fde_starts: list[int] = []
        self.has_symtab = False
        self.relative: dict[int, int] = {}
        arrays = []
        # every function the loader or exit() calls without being asked: DT_INIT and DT_FINI,
        # and the (pre)init and fini arrays (a destructor runs at exit and at dlclose)
        ranges = [(s["sh_addr"], s["sh_addr"] + s["sh_size"]) for s in elf.iter_sections()
                  if s["sh_type"] in _RUN_ARRAYS]
        for sec in elf.iter_sections():
            name = sec.name
            if sec["sh_type"] == "SHT_NOTE" and name == ".note.gnu.build-id":
                for note in sec.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        self.build_id = note["n_desc"]
            elif sec["sh_type"] == "SHT_PROGBITS" and sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                data = sec.data()
                self.sections.append(Section(name, sec["sh_addr"], data))
                if name in PLT_SECTIONS:
                    ent = sec["sh_entsize"] or 16
                    if name == ".plt.got":
                        # 16-byte entries when they start with endbr64 (IBT), whatever
                        # sh_entsize says; 8 otherwise
                        ent = 16 if data[:4] == b"\xf3\x0f\x1e\xfa" else 8
                    self.plt_ranges.append((sec["sh_addr"], sec["sh_addr"] + len(data),
                                            ent if ent >= 8 else 16))
            elif name == ".eh_frame_hdr":
                self.fde_starts = self._fde_starts(sec.data(), sec["sh_addr"])
            elif name in (".got", ".got.plt"):
                if name == ".got.plt":
                    self.got_plt = sec["sh_addr"]
                self.got_ranges.append((sec["sh_addr"], sec["sh_addr"] + sec["sh_size"]))
            elif sec["sh_type"] in ("SHT_SYMTAB", "SHT_DYNSYM"):
                self.has_symtab = self.has_symtab or sec["sh_type"] == "SHT_SYMTAB"
                self._symbols(sec, exported=sec["sh_type"] == "SHT_DYNSYM")
            elif sec["sh_type"] in ("SHT_RELA", "SHT_REL"):
                self._relocations(sec, ranges)
            elif sec["sh_type"] == "SHT_RELR":
                self._relr(sec, ranges)
            elif sec["sh_type"] == "SHT_DYNAMIC":
                for tag in sec.iter_tags():
                    t = tag.entry.d_tag
                    if t == "DT_NEEDED":
                        self.needed.append(tag.needed)
                    elif t == "DT_SONAME":
                        self.soname = tag.soname
                    elif t in ("DT_INIT", "DT_FINI"):
                        self.init.append(tag.entry.d_val)
            elif sec["sh_type"] in _RUN_ARRAYS:
                arrays.append((sec["sh_addr"], sec.data()))
        for addr, data in arrays:
            self._run_array(addr, data)
        if not self.sections:
            raise NotAnalysable(f"{self.path}: no executable code section")
        self.sections.sort(key=lambda s: s.addr)
        self.plt_ranges.sort()

    # -- pieces ------------------------------------------------------------------------------
    def _fde_starts(self, data: bytes, addr: int) -> list[int]:
        if len(data) < 4 or data[0] != 1:
            return []
        _version, ptr_enc, cnt_enc, tbl_enc = data[:4]
        off = 4
        _, off = _read_encoded(data, off, ptr_enc, addr, addr)
        count, off = _read_encoded(data, off, cnt_enc, addr, addr)
        if tbl_enc == 0x3B:                   # datarel sdata4 pairs: what binutils writes
            n = min(count, (len(data) - off) // 8)
            pairs = struct.unpack_from(f"<{2 * n}i", data, off)
            return [addr + pairs[i] for i in range(0, 2 * n, 2)]
        out = []
        for _ in range(count):
            loc, off = _read_encoded(data, off, tbl_enc, addr, addr)
            _, off = _read_encoded(data, off, tbl_enc, addr, addr)
            out.append(loc)
        return out

    def _symbols(self, sec, exported: bool) -> None:
        """Defined function symbols; exported ones (``.dynsym``, global or weak, default or
        protected visibility) also by name, and exported data objects with their sizes. Read
        with struct: a large program (node) has ~70 000 dynamic symbols."""
        strtab = self.elf.get_section(sec["sh_link"]).data()
        data = sec.data()
        if self.bits == 64:
            fmt, size = "<IBBHQQ", 24
        else:
            fmt, size = "<IIIBBH", 16
        data = data[:len(data) - len(data) % size]
        for entry in struct.iter_unpack(fmt, data):
            if self.bits == 64:
                name_off, info, other, shndx, value, size_ = entry
            else:
                name_off, value, size_, info, other, shndx = entry
            if shndx == 0 or not value:
                continue
            visible = exported and (info >> 4) in (1, 2) and (other & 3) in (0, 3)
            data_object = (info & 0xF) == 1 and visible and size_           # OBJECT
            if not data_object and (info & 0xF) not in (2, 10):            # FUNC, GNU_IFUNC
                continue
            end = strtab.find(b"\0", name_off)
            name = strtab[name_off:end].decode("utf-8", "replace")
            if data_object:
                self.data_exports.setdefault(name, (value, size_))
                continue
            self.symbols.setdefault(value, name)
            if visible:
                self.exports.setdefault(name, value)
                self.symbols[value] = name

    def _relocations(self, sec, ranges: list[tuple[int, int]]) -> None:
        """Imports (slots naming an undefined function symbol) and the RELATIVE relocations
        of the constructor and destructor arrays; read with struct (a large program has
        100 000s of relocations, which pyelftools would decode one object at a time)."""
        try:
            symtab = self.elf.get_section(sec["sh_link"])
        except (ELFError, IndexError):
            return
        data = sec.data()
        if self.bits == 64:
            rela = sec["sh_type"] == "SHT_RELA"
            entries = struct.iter_unpack("<QQq" if rela else "<QQ", data[:len(data) - len(data) % (24 if rela else 16)])
            decoded = ((e[0], e[1] >> 32, e[1] & 0xFFFFFFFF, e[2] if rela else None)
                       for e in entries)
            # R_X86_64_RELATIVE, and R_X86_64_IRELATIVE: the slot of a local IFUNC, whose
            # addend is the resolver (which names the implementation it picks)
            relative = (8, 37)
        else:
            rela = sec["sh_type"] == "SHT_RELA"
            entries = struct.iter_unpack("<IIi" if rela else "<II", data[:len(data) - len(data) % (12 if rela else 8)])
            decoded = ((e[0], e[1] >> 8, e[1] & 0xFF, e[2] if rela else None) for e in entries)
            relative = (8,)                                    # R_386_RELATIVE
        seen: dict[int, object] = {}
        keep = self.want_pointers
        for offset, idx, rtype, addend in decoded:
            if not idx:
                if rtype in relative and addend is not None:
                    self._relative(offset, addend, ranges)
                continue
            if symtab is None or symtab["sh_type"] not in ("SHT_DYNSYM", "SHT_SYMTAB"):
                continue
            sym = seen.get(idx)
            if sym is None:
                sym = seen[idx] = symtab.get_symbol(idx)
            if rtype == _COPY and sym.name:
                # a program's copy of a library's data object (a C++ vtable its inline
                # constructor stores, a `const struct ops`): the library's functions in it
                self.imports.add(sym.name)
                continue
            if sym["st_shndx"] != "SHN_UNDEF":
                if keep and sym["st_value"]:          # a pointer to its own symbol
                    self.pointers[offset] = sym["st_value"] + (addend or 0)
                continue
            if not sym.name:
                continue
            if sym["st_info"]["type"] not in FUNC_TYPES + ("STT_NOTYPE", "STT_OBJECT"):
                continue
            self.slots[offset] = sym.name
            self.imports.add(sym.name)

    def _relative(self, slot: int, value: int, ranges: list[tuple[int, int]]) -> None:
        """A RELATIVE relocation: the slot holds the object's own address ``value``."""
        if any(lo <= slot < hi for lo, hi in ranges):
            self.relative[slot] = value
        if self.want_pointers:
            self.pointers[slot] = value

    def _relr(self, sec, ranges: list[tuple[int, int]]) -> None:
        """Packed RELATIVE relocations (``.relr.dyn``, ``-z pack-relative-relocs``: Debian's
        glibc has most of its pointers there): an even word is an address to relocate, an odd
        one a bitmap of the next 63 (31) words; the addend is the value stored there."""
        size = self.bits // 8
        fmt = "<Q" if size == 8 else "<I"
        raw = sec.data()
        words = [w for (w,) in struct.iter_unpack(fmt, raw[:len(raw) // size * size])]
        where: list[int] = []
        base = 0
        for w in words:
            if not w & 1:
                where.append(w)
                base = w + size
            else:
                bits, k = w >> 1, 0
                while bits:
                    if bits & 1:
                        where.append(base + k * size)
                    bits >>= 1
                    k += 1
                base += (8 * size - 1) * size
        data_secs = [(s["sh_addr"], s["sh_addr"] + s["sh_size"], s)
                     for s in self.elf.iter_sections()
                     if s["sh_type"] != "SHT_NOBITS" and s["sh_flags"] & SH_FLAGS.SHF_ALLOC
                     and s["sh_addr"]]
        cache: dict[str, bytes] = {}
        for addr in where:
            for lo, hi, s in data_secs:
                if lo <= addr < hi:
                    data = cache.get(s.name)
                    if data is None:
                        data = cache[s.name] = s.data()
                    (value,) = struct.unpack_from(fmt, data, addr - lo)
                    self._relative(addr, value, ranges)
                    break

    def _run_array(self, addr: int, data: bytes) -> None:
        size = 8 if self.bits == 64 else 4
        fmt = "<Q" if size == 8 else "<I"
        for off in range(0, len(data) - size + 1, size):
            slot = addr + off
            value = self.relative.get(slot)
            if value is None:
                (value,) = struct.unpack_from(fmt, data, off)
            if value not in (0, 2 ** (8 * size) - 1):
                self.init.append(value)

    # -- questions ---------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        """What the cache keys this object by: its build-id, else path, size and mtime."""
        if self.build_id:
            return f"build-id:{self.build_id}"
        return f"file:{os.path.realpath(self.path)}:{self.size}:{self.mtime_ns}"

    @functools.cached_property
    def starts(self) -> list[int]:
        """Every known function start inside the code sections, sorted; each code section's
        start too (code before the first known function belongs to a region of its own), and
        every PLT entry."""
        out = set()
        for s in self.sections:
            out.add(s.addr)
        for a in self.fde_starts:
            out.add(a)
        out.update(self.symbols)
        for start, end, ent in self.plt_ranges:
            out.update(range(start, end, ent))
        lo_hi = [(s.addr, s.addr + len(s.data)) for s in self.sections]
        return sorted(a for a in out if any(lo <= a < hi for lo, hi in lo_hi))

    def section_at(self, addr: int) -> Section | None:
        for s in self.sections:
            if s.addr <= addr < s.addr + len(s.data):
                return s
        return None

    def in_got(self, addr: int) -> bool:
        return any(lo <= addr < hi for lo, hi in self.got_ranges)

    def in_plt(self, addr: int) -> bool:
        return any(lo <= addr < hi for lo, hi, _ in self.plt_ranges)

    def region_of(self, addr: int) -> int:
        """The index of the region (:attr:`starts`) holding ``addr``; -1 outside the code."""
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0 or self.section_at(addr) is None:
            return -1
        return i

    def region_bounds(self, i: int) -> tuple[int, int]:
        """[start, end) of region ``i``: up to the next start or the end of its section."""
        start = self.starts[i]
        sec = self.section_at(start)
        end = sec.addr + len(sec.data)
        if i + 1 < len(self.starts) and self.starts[i + 1] < end:
            end = self.starts[i + 1]
        return start, end

    def code(self, start: int, end: int) -> bytes:
        sec = self.section_at(start)
        return sec.data[start - sec.addr:end - sec.addr]

    def name_of(self, i: int) -> str:
        start = self.starts[i]
        return self.symbols.get(start) or f"{os.path.basename(self.path)}+{start:#x}"
