"""Docker's default seccomp profile as a baseline to compare a generated profile against.

Docker's ``default.json`` is in Docker's own dialect: groups of syscall names carry
``includes``/``excludes`` conditions on the architecture, the container's capabilities and
the kernel version, which Docker resolves when it starts a container. :func:`docker_allowed`
resolves them the same way for one architecture, the capability set Docker gives a container
by default and a kernel release, and returns the syscall names that end up allowed (fully or
with argument conditions: ``socket``, ``personality`` and ``clone`` are allowed for some
arguments only, and count as allowed here).

The file belongs to another project (moby/profiles), so sandprint does not ship a copy: it is
looked up at ``$SANDPRINT_DOCKER_PROFILE`` or at ``../shared/reference/`` beside the checkout,
and when neither exists the comparison is skipped and the summary says so.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import InputError
from ..fileio import read_json
from ..reference import reference_file
from ..syscalls import syscall_number

ENV_VAR = "SANDPRINT_DOCKER_PROFILE"
FILE_NAME = "docker-default-seccomp.json"

# The capabilities Docker (and containerd's CRI plugin, and podman) grant a container by
# default: moby's oci/caps/defaults.go DefaultCapabilities().
DOCKER_DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})

# Docker matches ``arches`` conditions against Go's GOARCH of the daemon (plus the names of
# the sub-architectures in its archMap, which never match a GOARCH). OCI name -> GOARCH.
_GOARCH = {
    "SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X86": "386", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_RISCV64": "riscv64", "SCMP_ARCH_LOONGARCH64": "loong64",
    "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPSEL64": "mips64le", "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPSEL": "mipsle",
}


def find_docker_profile() -> str | None:
    """Where Docker's default profile is on this machine, or None."""
    return reference_file(FILE_NAME, ENV_VAR)


def _kernel_tuple(release: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        return (0,)
    return tuple(int(x) for x in m.groups() if x is not None)


def _group_applies(group: dict[str, Any], goarch: str, caps: frozenset[str],
                   kernel: tuple[int, ...]) -> bool:
    inc = group.get("includes") or {}
    exc = group.get("excludes") or {}
    # includes: every condition given must hold (any listed arch; all listed caps).
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("minKernel") and kernel < _kernel_tuple(inc["minKernel"]):
        return False
    # excludes: any condition that holds removes the group.
    if exc.get("arches") and goarch in exc["arches"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if exc.get("minKernel") and kernel >= _kernel_tuple(exc["minKernel"]):
        return False
    return True


def docker_allowed(profile: dict[str, Any], arch: str, *,
                   caps: frozenset[str] = DOCKER_DEFAULT_CAPS,
                   kernel_release: str | None = None, source: str = FILE_NAME) -> set[str]:
    """The syscall names Docker's profile allows on ``arch`` (names that exist there)."""
    if not isinstance(profile, dict) or not isinstance(profile.get("syscalls"), list):
        raise InputError("not a Docker seccomp profile", source=source, field="syscalls",
                         expected="a list of syscall groups")
    goarch = _GOARCH.get(arch, arch)
    kernel = _kernel_tuple(kernel_release or os.uname().release)
    allowed: set[str] = set()
    for i, group in enumerate(profile["syscalls"]):
        if not isinstance(group, dict) or not isinstance(group.get("names"), list):
            raise InputError("invalid syscall group", source=source, field=f"syscalls[{i}]",
                             expected="an object with a list of names")
        if group.get("action") != "SCMP_ACT_ALLOW":
            continue
        if not _group_applies(group, goarch, caps, kernel):
            continue
        allowed.update(n for n in group["names"] if isinstance(n, str))
    return {n for n in allowed if syscall_number(arch, n) is not None}


def compare_with_docker(allowed: set[str], arch: str, *, path: str | None = None
                        ) -> tuple[str, dict[str, Any]]:
    """One summary line comparing ``allowed`` with Docker's default, and the numbers.

    When Docker's profile cannot be found the line says the comparison was skipped.
    """
    path = path or find_docker_profile()
    if not path or not os.path.exists(path):
        return (f"comparison with Docker's default profile skipped: {FILE_NAME} not found "
                f"(set {ENV_VAR})", {"skipped": True})
    docker = docker_allowed(read_json(path, "Docker seccomp profile"), arch, source=path)
    denied_now = docker - allowed
    extra = allowed - docker
    info = {"skipped": False, "dockerAllowed": len(docker), "deniedNow": len(denied_now),
            "beyondDocker": sorted(extra)}
    line = (f"of Docker's default allow-list for {arch} ({len(docker)} syscalls), "
            f"{len(denied_now)} are now denied")
    if extra:
        line += f"; {len(extra)} allowed beyond it: {', '.join(sorted(extra))}"
    return line, info
