"""The recorder's side of argument recording (``bpf/args.bpf.c``): the -D values that give the
C program :data:`~sandprint.seccomp.argspec.ARG_RULES` (so there is one table, argspec.py's),
and reading the in-kernel counts back into the recording's ``targets[].args``."""

from __future__ import annotations

import ctypes
from typing import Any

from ..seccomp.argspec import ARG_RULES
from ..syscalls import syscall_name, syscall_number

ARG_RULES_MAX = 12          # rule slots in args.bpf.c
ARG_VALUES = 3              # values per rule in args.bpf.c
ARG_MAX_KEYS = 8192         # distinct (target, syscall, values) the kernel keeps


class ArgKey(ctypes.Structure):
    _fields_ = [("target", ctypes.c_uint32), ("nr", ctypes.c_uint32),
                ("v", ctypes.c_uint64 * ARG_VALUES)]


def defines(arch: str) -> dict[str, int]:
    """ARG_NR_i, ARG_IX_i_j and ARG_MK_i_j for every rule of ARG_RULES on ``arch`` (unused
    slots: number -1, masks 0)."""
    rules = list(ARG_RULES.items())
    if len(rules) > ARG_RULES_MAX or any(len(s) > ARG_VALUES for _, s in rules):
        raise ValueError(f"args.bpf.c has room for {ARG_RULES_MAX} rules of {ARG_VALUES} "
                         "arguments; argspec.ARG_RULES has more")
    out: dict[str, int] = {"ARG_MAX_KEYS": ARG_MAX_KEYS}
    for i in range(ARG_RULES_MAX):
        name, specs = rules[i] if i < len(rules) else (None, ())
        nr = syscall_number(arch, name) if name else None
        out[f"ARG_NR_{i}"] = -1 if nr is None or nr < 0 else nr
        for j in range(ARG_VALUES):
            spec = specs[j] if j < len(specs) else None
            out[f"ARG_IX_{i}_{j}"] = spec.index if spec else 0
            out[f"ARG_MK_{i}_{j}"] = spec.mask if spec else 0
    return out


def read(bpf, arch: str, targets: int) -> tuple[dict[int, dict[str, dict[tuple[int, ...], int]]],
                                                 int]:
    """target index -> {syscall name -> {masked values -> count}}, and how many calls found
    no room in the kernel's map (lost)."""
    out: dict[int, dict[str, dict[tuple[int, ...], int]]] = {}
    for k, v in bpf["arg_counts"].items():
        if k.target >= targets:
            continue
        name = syscall_name(arch, int(k.nr))
        if name not in ARG_RULES:
            continue
        values = tuple(int(k.v[j]) for j in range(len(ARG_RULES[name])))
        per = out.setdefault(int(k.target), {}).setdefault(name, {})
        per[values] = per.get(values, 0) + int(v.value)
    lost = int(bpf["args_lost"][ctypes.c_int(0)].value)
    return out, lost

