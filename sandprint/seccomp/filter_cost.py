"""What a call costs under a seccomp filter, counted rather than timed: the classic-BPF
instructions the kernel runs for it, and whether the kernel's action cache answers it without
running the filter at all.

The kernel (5.11+) caches, per architecture and syscall number, the filters that allow a
syscall whatever its arguments; it finds them by emulating the filter with the number alone
(``seccomp_cache_prepare``). A syscall allowed only for some arguments runs the whole filter
path every time. :func:`call_cost` emulates the program libseccomp builds from a profile the
same way: run on one call's ``seccomp_data``, it counts the instructions executed; run with the
arguments unknown, it tells whether the verdict depends on them (not cacheable).

Timing this on a shared machine is noise; the count is exact and the same on every run.
"""

from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass

from ..syscalls import arch_token, native_arch, syscall_number
from .filter import build_filter
from .profile import SeccompProfile

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_ALLOW = 0x7FFF0000

# classic BPF opcodes (linux/filter.h) libseccomp emits
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)


@dataclass(frozen=True)
class CallCost:
    instructions: int        # executed for this call
    cached: bool             # answered by the kernel's action cache (the filter never runs)
    allowed: bool


class _ArgsUnknown(Exception):
    """The program read an argument while emulating without them."""


def program(profile: SeccompProfile) -> list[tuple[int, int, int, int]]:
    """The filter libseccomp builds for ``profile``, as (code, jt, jf, k) instructions."""
    f = build_filter(profile)
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        raw = tmp.read()
    return [struct.unpack_from("=HBBI", raw, i) for i in range(0, len(raw), 8)]


def _run(prog, data: bytes | None, nr: int, arch: int) -> tuple[int, int]:
    """(return value, instructions executed); ``data`` None: arguments unknown."""
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    while True:
        code, jt, jf, k = prog[pc]
        steps += 1
        cls = code & 7
        if cls == BPF_LD:
            if code & 0xE0 == 0x20:                 # BPF_ABS
                if k == 0:
                    a = nr
                elif k == 4:
                    a = arch
                elif data is None:
                    raise _ArgsUnknown
                else:
                    a = struct.unpack_from("=I", data, k)[0]
            elif code & 0xE0 == 0x60:               # BPF_MEM
                a = mem[k]
            elif code & 0xE0 == 0x00:               # BPF_IMM
                a = k
            else:
                raise ValueError(f"unsupported load {code:#x}")
        elif cls == BPF_LDX:
            x = mem[k] if code & 0xE0 == 0x60 else k
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_ALU:
            src = x if code & 0x08 else k
            op = code & 0xF0
            a = {0x00: a + src, 0x10: a - src, 0x20: a * src, 0x50: a & src, 0x40: a | src,
                 0x60: a << src, 0x70: a >> src, 0xA0: a ^ src,
                 0x80: (-a) & 0xFFFFFFFF}.get(op, None) if op != 0x30 else a // src
            if a is None:
                raise ValueError(f"unsupported alu {code:#x}")
            a &= 0xFFFFFFFF
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == 0x00:                          # BPF_JA
                pc += 1 + k
                continue
            src = x if code & 0x08 else k
            taken = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += 1 + (jt if taken else jf)
            continue
        elif cls == BPF_RET:
            return (a if code & 0x18 == 0x10 else k), steps
        elif cls == BPF_MISC:
            if code == 0x07:
                x = a
            else:
                a = x
        pc += 1


def call_cost(prog, name: str, args: tuple[int, ...] = (0,) * 6, *,
              arch: str | None = None, nr: int | None = None) -> CallCost:
    """The cost of ``name(*args)`` under the filter ``prog`` (:func:`program`); ``nr`` gives
    the number where libseccomp names another (i386's direct socket calls, which it resolves
    to socketcall's multiplexed pseudo numbers)."""
    arch = arch or native_arch()
    nr = syscall_number(arch, name) if nr is None else nr
    token = arch_token(arch)
    try:
        ret, _ = _run(prog, None, nr, token)
        cached = ret & SECCOMP_RET_ACTION_FULL == SECCOMP_RET_ALLOW
    except _ArgsUnknown:
        cached = False
    data = struct.pack("=iIQ6Q", nr, token, 0, *[a & 0xFFFFFFFFFFFFFFFF for a in args])
    ret, steps = _run(prog, data, nr, token)
    return CallCost(0 if cached else steps, cached,
                    ret & SECCOMP_RET_ACTION_FULL == SECCOMP_RET_ALLOW)
