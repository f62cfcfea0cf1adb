"""Decoding one region of code (a function, as far as the ELF tells where functions start).

Capstone's lite mode (:meth:`capstone.Cs.disasm_lite`: address, size, mnemonic, operand
text; no detail objects, which cost most of capstone's time) decodes the region linearly;
this module reads the few instructions that matter from the text:

- a system call instruction (``syscall``; on i386 ``int 0x80``, ``sysenter`` and the call
  through ``gs:[0x10]`` glibc makes to the vDSO's ``__kernel_vsyscall``) and the number in
  ``eax`` when it reaches it: a ``mov eax, N`` (or ``xor eax, eax``) that reaches the site on
  every path inside the region (:func:`eax_values` walks back over the instructions and
  through the jumps that land between); a value it cannot fix (set by an argument, computed,
  loaded from memory, or set before the region starts) makes the site *unresolved*;
- a call to glibc's generic ``syscall()`` (through its PLT entry or GOT slot), the number
  read from rdi the same way: ``syscall(SYS_pidfd_open, ...)`` is a pidfd_open site;
- direct calls and jumps (``call``/``jmp``/``jcc`` to an immediate address): a call, or a
  jump that leaves the region (a tail call), is an edge to the region holding the target;
- rip-relative memory operands (``call [rip + X]``, ``jmp [rip + X]`` in a PLT entry,
  ``mov rax, [rip + X]``): the address X, which the caller maps to an import when X is a GOT
  slot the dynamic linker fills with another object's symbol;
- indirect calls (through a register or memory that is not such a slot): counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import capstone

# the general-purpose registers, each with the names of its parts
_FAMILIES = {
    "rax": ("rax", "eax", "ax", "al", "ah"), "rbx": ("rbx", "ebx", "bx", "bl", "bh"),
    "rcx": ("rcx", "ecx", "cx", "cl", "ch"), "rdx": ("rdx", "edx", "dx", "dl", "dh"),
    "rsi": ("rsi", "esi", "si", "sil"), "rdi": ("rdi", "edi", "di", "dil"),
    "rbp": ("rbp", "ebp", "bp", "bpl"),
    **{f"r{n}": (f"r{n}", f"r{n}d", f"r{n}w", f"r{n}b") for n in range(8, 16)},
}
_FAMILY_OF = {part: fam for fam, parts in _FAMILIES.items() for part in parts}
_TOKEN = {fam: re.compile(r"\b(?:" + "|".join(parts) + r")\b") for fam, parts in _FAMILIES.items()}
# a constant, or another register (32 or 64 bits: the ones a number is moved through)
_MOV = re.compile(r"^(\w+), (0x[0-9a-f]+|\d+|\w+)$")
_ZERO = re.compile(r"^(\w+), \1$")
_RIP = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|\d+)\]")
_EBX = re.compile(r"\[ebx ([+-]) (0x[0-9a-f]+|\d+)\]")
_IMM = re.compile(r"^0x[0-9a-f]+$")
# instructions whose first operand is only read
_READS_FIRST = frozenset({"cmp", "test", "push", "bt", "ucomiss", "ucomisd", "comiss",
                          "comisd", "ptest", "out"})
# instructions writing an operand that is not the first
_WRITES_ANY = frozenset({"xchg", "xadd", "cmpxchg"})
_CALLER_SAVED = ("rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11")
# instructions writing a register without naming it
_IMPLICIT = {
    "rax": frozenset({"syscall", "sysenter", "int", "cpuid", "rdtsc", "rdtscp", "mul", "div",
                      "idiv", "cbw", "cwde", "cdqe", "lahf", "lodsb", "lodsw", "lodsd", "lodsq",
                      "in", "insb", "insd", "cmpxchg8b", "cmpxchg16b", "xgetbv", "rdmsr",
                      "rdpmc", "xlatb", "rdpkru", "enclu", "encls", "vmcall", "xbegin",
                      "rdsspq", "rdsspd"}),
    "rdx": frozenset({"cpuid", "rdtsc", "rdtscp", "mul", "div", "idiv", "cwd", "cdq", "cqo",
                      "xgetbv", "rdmsr", "rdpmc", "rdpkru", "cmpxchg8b", "cmpxchg16b"}),
    "rcx": frozenset({"syscall", "cpuid", "rdtscp", "rep movsb", "rep movsq", "rep movsd",
                      "rep stosb", "rep stosq", "rep stosd", "loop", "loope", "loopne"}),
    "rbx": frozenset({"cpuid", "cmpxchg8b", "cmpxchg16b"}),
    "r11": frozenset({"syscall"}),
    "rsi": frozenset({"rep movsb", "rep movsq", "rep movsd", "lodsb", "lodsq", "lodsd"}),
    "rdi": frozenset({"rep movsb", "rep movsq", "rep movsd", "rep stosb", "rep stosq",
                      "rep stosd", "stosb", "stosq", "stosd"}),
}
_UNCONDITIONAL = frozenset({"jmp", "ret", "retf", "ud2", "hlt", "iret", "iretq", "iretd"})
_PADDING = ("nop", "int3", "xchg ax, ax", "data16", "cs nop")
_MAX_PATHS = 64                       # joins followed backwards from one site


@dataclass
class RegionFacts:
    """What one region does, for the call graph."""

    syscalls: set[int] = field(default_factory=set)   # numbers fixed by the code
    unresolved: int = 0                                 # sites whose number is not fixed
    calls: set[int] = field(default_factory=set)        # direct call / tail-call targets
    refs: set[int] = field(default_factory=set)         # rip-relative (or GOT) addresses
    indirect: int = 0                                   # indirect calls


def disassembler(bits: int) -> capstone.Cs:
    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if bits == 64
                       else capstone.CS_MODE_32)


def _writes(mnem: str, ops: str, fam: str) -> bool:
    """Whether the instruction may write register ``fam`` (or a part of it)."""
    if mnem in _IMPLICIT.get(fam, ()) or (mnem == "call" and fam in _CALLER_SAVED):
        return True
    if mnem.startswith(("rep ", "repne ", "repe ")) and fam in ("rcx", "rsi", "rdi"):
        return True
    if mnem.startswith(("j", "nop", "endbr")) or not ops:
        return False
    token = _TOKEN[fam]
    if mnem in _WRITES_ANY or mnem.startswith("lock"):
        return bool(token.search(ops))
    if mnem == "imul" and "," not in ops:
        return fam in ("rax", "rdx")
    first = ops.split(",", 1)[0]
    if "[" in first:                                  # a store: its registers are read
        return False
    return mnem not in _READS_FIRST and bool(token.search(first))


def _assigns(mnem: str, ops: str, fam: str) -> int | str | None:
    """What the instruction puts in ``fam`` as a whole 32/64-bit register: a constant, or
    the family of the register it copies; None when it does neither."""
    if mnem == "mov":
        m = _MOV.match(ops)
        if m and _FAMILY_OF.get(m.group(1)) == fam and m.group(1) in _FAMILIES[fam][:2]:
            src = m.group(2)
            if src[0].isdigit():
                return int(src, 0)
            if src in _FAMILY_OF and src in _FAMILIES[_FAMILY_OF[src]][:2]:
                return _FAMILY_OF[src]
    elif mnem in ("xor", "sub"):
        m = _ZERO.match(ops)
        if m and _FAMILY_OF.get(m.group(1)) == fam and m.group(1) in _FAMILIES[fam][:2]:
            return 0
    return None


def eax_values(insns: list[tuple], idx: int, targets: dict[int, list[int]]) -> set[int] | None:
    """The values eax may hold before ``insns[idx]`` (:func:`register_values`)."""
    return register_values(insns, idx, targets, "rax")


def register_values(insns: list[tuple], idx: int, targets: dict[int, list[int]],
                    register: str) -> set[int] | None:
    """The values ``register`` (a family: ``rax``, ``rdi``) may hold before ``insns[idx]``,
    or None when one path leaves it unfixed.

    ``targets``: address -> the indices of the jumps inside the region that land there. The
    paths are walked backwards from the site: on each, the nearest instruction writing the
    register must put a constant there, or copy another register (``mov eax, r9d``), which
    is then followed the same way; a path reaching the region's start, an instruction writing
    something else, or more joins than :data:`_MAX_PATHS` leave the number unresolved. A path
    coming round a loop to an instruction it already passed adds nothing (the register was
    not written on the way round)."""
    budget = [_MAX_PATHS]

    def before(i: int, fam: str, on_path: frozenset) -> set[int] | None:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        out: set[int] = set()
        while True:
            if (i, fam) in on_path:
                return out                            # round a loop: nothing new
            on_path = on_path | {(i, fam)}
            addr = insns[i][0]
            for j in targets.get(addr, ()):           # a join: every jump must fix it too
                got = before(j, fam, on_path)
                if got is None:
                    return None
                out |= got
            if i == 0:
                return None                           # set before the region: unknown
            mnem, ops = insns[i - 1][2], insns[i - 1][3]
            if mnem in _UNCONDITIONAL or mnem.startswith(("ret", "bnd jmp", "notrack jmp")):
                if addr in targets:
                    return out                        # only the jumps reach here
                # padding after a jump is never run; other code after one is reached by an
                # indirect jump (a switch), which may bring any value
                return out if insns[i][2].startswith(_PADDING) else None
            value = _assigns(mnem, ops, fam)
            if isinstance(value, int):
                out.add(value)
                return out
            if isinstance(value, str):
                got = before(i - 1, value, on_path)
                if got is None:
                    return None
                return out | got
            if _writes(mnem, ops, fam):
                return None
            i -= 1

    found = before(idx, register, frozenset())
    return found or None                              # no path fixed it


def analyse_region(md: capstone.Cs, code: bytes, start: int, *, bits: int,
                   got_base: int | None = None,
                   generic: tuple[frozenset[int], frozenset[int]] | None = None) -> RegionFacts:
    """The facts of the code ``code`` at ``start`` (one region).

    ``generic``: the PLT entries and GOT slots of glibc's generic ``syscall()``. A call to it
    (64-bit: the number is its first argument, in rdi) is a site too, its number read from
    rdi as a syscall instruction's from eax; a tail jump to it passes on the caller's rdi, so
    it is unresolved."""
    facts = RegionFacts()
    insns = list(md.disasm_lite(code, start))
    if not insns:
        return facts
    end = start + len(code)
    # (index, the register holding the number there; None: a tail jump to syscall(), which
    # passes on its caller's rdi)
    sites: list[tuple[int, str | None]] = []
    entries, slots = generic if generic is not None and bits == 64 else ((), ())
    targets: dict[int, list[int]] = {}
    for i, (addr, size, mnem, ops) in enumerate(insns):
        if mnem == "syscall" or (bits == 32 and (
                (mnem == "int" and ops == "0x80") or mnem == "sysenter"
                or (mnem == "call" and ops == "dword ptr gs:[0x10]"))):
            sites.append((i, "rax"))
            continue
        if mnem == "call" or mnem[0] == "j" or mnem.startswith(("bnd j", "notrack j")):
            target_text = ops
            if _IMM.match(target_text):
                t = int(target_text, 16)
                if mnem == "call" or not start <= t < end:
                    facts.calls.add(t)
                    if t in entries:
                        sites.append((i, "rdi" if mnem == "call" else None))
                else:
                    targets.setdefault(t, []).append(i)
                continue
        if "[rip" in ops:
            m = _RIP.search(ops)
            if m:
                disp = int(m.group(2), 0)
                ref = addr + size + (disp if m.group(1) == "+" else -disp)
                facts.refs.add(ref)
                if ref in slots and mnem.endswith(("call", "jmp")):
                    sites.append((i, "rdi" if mnem.endswith("call") else None))
                continue
        if bits == 32 and got_base is not None and "[ebx" in ops:
            m = _EBX.search(ops)
            if m:
                disp = int(m.group(2), 0)
                facts.refs.add(got_base + (disp if m.group(1) == "+" else -disp))
                continue
        if mnem == "call" or mnem.endswith(" call"):
            facts.indirect += 1
    for i, register in sites:
        values = register_values(insns, i, targets, register) if register else None
        if values is None:
            facts.unresolved += 1
        else:
            facts.syscalls |= values
    return facts
