"""Member offsets of a kernel structure, from the running kernel's own BTF.

The recorder's programs never take a structure layout from the installed kernel headers:
bcc compiles against whatever headers are there (here another kernel's), and a wrong offset
reads garbage without any error. The one structure the raw ``sys_enter`` tracepoint hands over
is ``struct pt_regs``, the caller's saved registers, which hold the syscall's arguments. Its
layout is read here from ``/sys/kernel/btf/vmlinux``, which describes the running kernel
exactly, and given to the compiler as constants. When BTF is missing or does not describe the
registers, the recorder uses the regular tracepoint, which passes the arguments itself.

Only what that needs is parsed: the type section's records, walked in order (each kind has a
fixed-size tail), and the string section for names.
"""

from __future__ import annotations

import struct
from functools import lru_cache

VMLINUX = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F

KIND_STRUCT, KIND_UNION = 4, 5
# bytes after the 12-byte common header, per kind: a constant, or per vlen item
_TAIL_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_TAIL_PER_ITEM = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
_NO_TAIL = {2, 7, 8, 9, 10, 11, 12, 16, 18}

# Where each architecture's syscall entry keeps the six arguments (the kernel's own
# syscall_get_arguments() reads the same members).
SYSCALL_ARG_MEMBERS = {
    "SCMP_ARCH_X86_64": ("di", "si", "dx", "r10", "r8", "r9"),
    "SCMP_ARCH_AARCH64": ("orig_x0", "regs[1]", "regs[2]", "regs[3]", "regs[4]", "regs[5]"),
}


# Architectures whose kernel also runs another ABI's syscalls, and that ABI: the seccomp name
# its calls are filed under (Target.compat_syscalls).
COMPAT_ARCH = {"SCMP_ARCH_X86_64": "SCMP_ARCH_X86"}


class BTFError(Exception):
    """The BTF blob is missing, malformed or does not have what was asked."""


class _Types:
    def __init__(self, blob: bytes):
        if len(blob) < 24:
            raise BTFError("BTF blob too short")
        for endian in ("<", ">"):
            magic, _version, _flags, hdr_len = struct.unpack_from(endian + "HBBI", blob, 0)
            if magic == BTF_MAGIC:
                break
        else:
            raise BTFError("not a BTF blob (bad magic)")
        self.e = endian
        type_off, type_len, str_off, str_len = struct.unpack_from(endian + "4I", blob, 8)
        self.blob = blob
        self.strings = (hdr_len + str_off, hdr_len + str_off + str_len)
        self.offsets = [0]       # type id -> offset of its record (id 0 is void)
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        unpack = struct.Struct(endian + "III").unpack_from
        while pos < end:
            self.offsets.append(pos)
            _name, info, _size = unpack(blob, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            pos += 12
            if kind in _TAIL_FIXED:
                pos += _TAIL_FIXED[kind]
            elif kind in _TAIL_PER_ITEM:
                pos += _TAIL_PER_ITEM[kind] * vlen
            elif kind not in _NO_TAIL:
                raise BTFError(f"unknown BTF kind {kind}")

    def name(self, off: int) -> str:
        start = self.strings[0] + off
        stop = self.blob.index(b"\0", start, self.strings[1])
        return self.blob[start:stop].decode("ascii", "replace")

    def record(self, type_id: int) -> tuple[str, int, int, int, int]:
        """(name, kind, vlen, kind_flag, size_or_type) of a type."""
        pos = self.offsets[type_id]
        name_off, info, size = struct.unpack_from(self.e + "III", self.blob, pos)
        return self.name(name_off), (info >> 24) & 0x1F, info & 0xFFFF, info >> 31, size

    def find_struct(self, name: str) -> int:
        for type_id in range(1, len(self.offsets)):
            tname, kind, _, _, _ = self.record(type_id)
            if kind == KIND_STRUCT and tname == name:
                return type_id
        raise BTFError(f"no struct {name} in BTF")

    def members(self, type_id: int, base_bits: int = 0) -> dict[str, tuple[int, int]]:
        """name -> (bit offset, type id), anonymous struct/union members flattened."""
        _, kind, vlen, kind_flag, _ = self.record(type_id)
        if kind not in (KIND_STRUCT, KIND_UNION):
            raise BTFError(f"type {type_id} is not a struct or union")
        out: dict[str, tuple[int, int]] = {}
        pos = self.offsets[type_id] + 12
        for _ in range(vlen):
            name_off, mtype, off = struct.unpack_from(self.e + "III", self.blob, pos)
            pos += 12
            bits = base_bits + (off & 0xFFFFFF if kind_flag else off)
            if name_off == 0:
                resolved = self.resolve(mtype)
                if self.record(resolved)[1] in (KIND_STRUCT, KIND_UNION):
                    for k, v in self.members(resolved, bits).items():
                        out.setdefault(k, v)
                continue
            out.setdefault(self.name(name_off), (bits, mtype))
        return out

    def resolve(self, type_id: int) -> int:
        """Skip typedefs and qualifiers."""
        for _ in range(32):
            _, kind, _, _, ref = self.record(type_id)
            if kind not in (8, 9, 10, 11, 18):
                return type_id
            type_id = ref
        raise BTFError("typedef chain too long")


def member_offset(types: _Types, struct_id: int, member: str) -> int:
    """Byte offset of ``member`` (``name`` or ``name[i]`` of a u64 array) in a struct."""
    index = 0
    if member.endswith("]"):
        member, _, rest = member.partition("[")
        index = int(rest[:-1])
    members = types.members(struct_id)
    if member not in members:
        raise BTFError(f"struct has no member {member}")
    bits, _ = members[member]
    if bits % 8:
        raise BTFError(f"member {member} is a bit field")
    return bits // 8 + 8 * index


@lru_cache(maxsize=4)
def syscall_arg_offsets(arch: str, path: str = VMLINUX) -> tuple[int, ...]:
    """Byte offsets in ``struct pt_regs`` of the six syscall arguments on ``arch``, from the
    running kernel's BTF. Raises BTFError when they cannot be known."""
    names = SYSCALL_ARG_MEMBERS.get(arch)
    if names is None:
        raise BTFError(f"no syscall argument registers known for {arch}")
    types = _load(path)
    try:
        regs = types.find_struct("pt_regs")
        return tuple(member_offset(types, regs, n) for n in names)
    except (struct.error, ValueError, IndexError) as e:
        raise BTFError(f"{path}: malformed BTF ({e})") from None


def _load(path: str) -> _Types:
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise BTFError(f"{path}: {e.strerror}") from None
    try:
        return _Types(blob)
    except (struct.error, ValueError, IndexError) as e:
        raise BTFError(f"{path}: malformed BTF ({e})") from None


@lru_cache(maxsize=4)
def compat_status_offset(arch: str, path: str = VMLINUX) -> int:
    """Byte offset in ``struct task_struct`` of ``thread_info.status``, where the x86 kernel
    keeps TS_COMPAT while a 32-bit (i386) syscall runs: what its ``in_ia32_syscall()``
    reads. From the running kernel's BTF; raises BTFError when it cannot be known (or
    ``arch`` has no such companion ABI here)."""
    if arch != "SCMP_ARCH_X86_64":
        raise BTFError(f"no 32-bit syscall marker known for {arch}")
    types = _load(path)
    try:
        task = types.find_struct("task_struct")
        members = types.members(task)
        if "thread_info" not in members:
            raise BTFError("task_struct has no thread_info (not CONFIG_THREAD_INFO_IN_TASK)")
        ti_bits, ti_type = members["thread_info"]
        ti = types.resolve(ti_type)
        status = member_offset(types, ti, "status")
        _, _, _, _, size = types.record(types.resolve(types.members(ti)["status"][1]))
    except (struct.error, ValueError, IndexError) as e:
        raise BTFError(f"{path}: malformed BTF ({e})") from None
    if ti_bits % 8 or size != 4:
        raise BTFError("thread_info.status is not a 32-bit member at a byte offset")
    return ti_bits // 8 + status
