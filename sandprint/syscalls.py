"""Syscall names and numbers per architecture, from libseccomp (through pyseccomp).

Never a hand-written table: the names a profile carries are exactly the ones libseccomp (and
so runc, crun, containerd and the kubelet) resolves.
"""

from __future__ import annotations

import functools
import gzip
import os
import platform

import pyseccomp

from .errors import InputError

# uname machine -> (OCI/seccomp architecture, the libseccomp token)
_MACHINE_ARCH = {
    "x86_64": "SCMP_ARCH_X86_64",
    "aarch64": "SCMP_ARCH_AARCH64",
    "armv7l": "SCMP_ARCH_ARM",
    "i686": "SCMP_ARCH_X86",
    "i386": "SCMP_ARCH_X86",
    "s390x": "SCMP_ARCH_S390X",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
}

# The 32-bit (or other ABI) companions a 64-bit kernel may also run, and the kernel config
# option that says whether it does.
_COMPANIONS = {
    "SCMP_ARCH_X86_64": [("SCMP_ARCH_X86", "CONFIG_IA32_EMULATION"),
                         ("SCMP_ARCH_X32", "CONFIG_X86_X32_ABI")],
    "SCMP_ARCH_AARCH64": [("SCMP_ARCH_ARM", "CONFIG_COMPAT")],
    "SCMP_ARCH_S390X": [("SCMP_ARCH_S390", "CONFIG_COMPAT")],
}

# Every OCI architecture name libseccomp knows.
KNOWN_ARCHES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
)


def native_arch() -> str:
    """The OCI name of this machine's native architecture, e.g. ``SCMP_ARCH_X86_64``."""
    machine = platform.machine()
    try:
        return _MACHINE_ARCH[machine]
    except KeyError:
        raise InputError(f"unsupported machine architecture {machine!r}") from None


def arch_token(arch: str) -> int:
    """libseccomp's token for an OCI architecture name."""
    if arch not in KNOWN_ARCHES:
        raise InputError(f"unknown architecture {arch!r}",
                         expected="one of " + ", ".join(KNOWN_ARCHES))
    name = arch[len("SCMP_ARCH_"):]
    token = getattr(pyseccomp.Arch, name, None)
    if token is None:
        raise InputError(f"libseccomp on this host does not know architecture {arch!r}")
    return token


@functools.lru_cache(maxsize=None)
def _kernel_config() -> frozenset[str]:
    candidates = ["/proc/config.gz", f"/boot/config-{os.uname().release}"]
    for path in candidates:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return frozenset(line.split("=", 1)[0] for line in f if line.endswith("=y\n"))
        except OSError:
            continue
    return frozenset()


def companion_arches(arch: str) -> list[str]:
    """The other ABIs this kernel runs beside ``arch`` (e.g. 32-bit x86 on x86_64).

    Read from the kernel configuration; when it cannot be read, the usual default of the
    distribution kernels is assumed (compat on, x32 off).
    """
    config = _kernel_config()
    out = []
    for companion, option in _COMPANIONS.get(arch, []):
        if config:
            if option in config:
                out.append(companion)
        elif companion != "SCMP_ARCH_X32":
            out.append(companion)
    return out


@functools.lru_cache(maxsize=None)
def syscall_name(arch: str, number: int) -> str | None:
    """The name of syscall ``number`` on ``arch``, or None when libseccomp has none."""
    try:
        name = pyseccomp.resolve_syscall(arch_token(arch), number)
    except (OSError, ValueError):
        return None
    if not name:
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.lru_cache(maxsize=None)
def syscall_number(arch: str, name: str) -> int | None:
    """The number of syscall ``name`` on ``arch``; None when it does not exist there."""
    try:
        nr = pyseccomp.resolve_syscall(arch_token(arch), name)
    except (OSError, ValueError):
        return None
    if nr is None or nr < 0:
        return None
    return int(nr)


def is_known_syscall(name: str, arch: str | None = None) -> bool:
    arches = [arch] if arch else [native_arch()]
    return any(syscall_number(a, name) is not None for a in arches)


@functools.lru_cache(maxsize=None)
def all_syscalls(arch: str) -> dict[int, str]:
    """Every syscall libseccomp knows on ``arch``: number -> name."""
    out = {}
    for nr in range(0, 1024):
        name = syscall_name(arch, nr)
        if name:
            out[nr] = name
    return out
