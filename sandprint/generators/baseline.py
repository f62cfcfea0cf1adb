"""The container engine's default seccomp profile, a baseline to compare a generated one with.

The default profile is the one the installed container engine ships: podman, buildah and
CRI-O read ``seccomp.json`` of containers-common (Debian: golang-github-containers-common),
found here through the package manager's file lists, or the file ``containers.conf`` names
with ``seccomp_profile``. A user names another with ``--baseline FILE`` or
``$SANDPRINT_BASELINE`` (``$SANDPRINT_DOCKER_PROFILE``, its older name, still works), for
instance Docker's ``default.json`` from moby/profiles (Docker builds its default into the
daemon and installs no file).

Both engines write the profile in one dialect: groups of syscall names carry
``includes``/``excludes`` conditions on the architecture, the container's capabilities and the
kernel version, which the engine resolves when it starts a container. :func:`docker_allowed`
resolves them the same way for one architecture, the capability set a container gets by
default and a kernel release, and returns the syscall names that end up allowed (fully or with
argument conditions: ``socket``, ``personality`` and ``clone`` are allowed for some arguments
only, and count as allowed here).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..seccomp.profile import Action
from ..fileio import read_json
from ..syscalls import all_syscalls, syscall_number

ENV_VAR = "SANDPRINT_BASELINE"
OLD_ENV_VAR = "SANDPRINT_DOCKER_PROFILE"
FILE_NAME = "seccomp.json"
# the actions that let a call through (a default profile with one of them allows everything)
PASSING = tuple(a.value for a in Action if a.passes)
HOW_TO_GIVE = f"give one with --baseline FILE or ${ENV_VAR}, or install podman (containers-common)"
# containers.conf, the later one overriding the earlier (containers.conf(5))
CONTAINERS_CONF = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
WELL_KNOWN = ("/usr/share/containers/seccomp.json", "/etc/containers/seccomp.json")

# The capabilities Docker (and containerd's CRI plugin) grant a container by default:
# moby's oci/caps/defaults.go DefaultCapabilities().
DOCKER_DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})
# podman's built-in default (containers/common pkg/config DefaultCapabilities), used when
# containers.conf sets no default_capabilities.
CONTAINERS_DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
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


@dataclass(frozen=True)
class Baseline:
    """A default profile found on this machine (or named by the user), and how."""

    path: str
    origin: str                 # "--baseline", "$SANDPRINT_BASELINE", "package NAME", ...
    caps: frozenset[str] = CONTAINERS_DEFAULT_CAPS
    given: bool = False         # named by the user: a bad file is an error, not a skip

    def describe(self) -> str:
        return f"{self.path}, {self.origin}"


def _conf_value(key: str) -> Any:
    """``[containers] key`` of containers.conf (the last file setting it wins), or None."""
    try:
        import tomllib
    except ImportError:                     # Python < 3.11
        import tomli as tomllib             # type: ignore[no-redef]
    value = None
    for path in CONTAINERS_CONF:
        try:
            with open(path, "rb") as f:
                section = tomllib.load(f).get("containers") or {}
        except (OSError, ValueError):
            continue
        if key in section:
            value = section[key]
    return value


def engine_default_caps() -> frozenset[str]:
    """The capabilities podman gives a container by default on this machine."""
    caps = _conf_value("default_capabilities")
    if isinstance(caps, list) and caps and all(isinstance(c, str) for c in caps):
        return frozenset(c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
                         for c in caps)
    return CONTAINERS_DEFAULT_CAPS


@functools.cache
def _from_packages() -> tuple[str, str] | None:
    """(path, package) of a ``containers/seccomp.json`` an installed package ships."""
    if shutil.which("dpkg-query"):
        try:
            out = subprocess.run(["dpkg-query", "-S", "*/containers/seccomp.json"],
                                 capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            pkg, _, path = line.partition(": ")
            if path.strip() and os.path.isfile(path.strip()):
                return path.strip(), f"Debian package {pkg.split(',')[0].strip()}"
    if shutil.which("rpm"):
        for pkg in ("containers-common", "containers-common-extra"):
            try:
                out = subprocess.run(["rpm", "-ql", pkg], capture_output=True, text=True,
                                     timeout=20).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            for path in out.splitlines():
                if path.endswith("/containers/seccomp.json") and os.path.isfile(path):
                    return path, f"RPM package {pkg}"
    return None


def find_baseline(path: str | None = None) -> Baseline | None:
    """The default profile to compare with: ``path`` (``--baseline``), ``$SANDPRINT_BASELINE``
    (or ``$SANDPRINT_DOCKER_PROFILE``), the one containers.conf names, the one an installed
    package ships, or a well-known location; None when there is none."""
    caps = engine_default_caps()
    if path:
        return Baseline(path, "--baseline", caps, given=True)
    for var in (ENV_VAR, OLD_ENV_VAR):
        if os.environ.get(var):
            return Baseline(os.environ[var], f"${var}", caps, given=True)
    conf = _conf_value("seccomp_profile")
    if isinstance(conf, str) and os.path.isfile(conf):
        return Baseline(conf, "named by containers.conf seccomp_profile", caps)
    found = _from_packages()
    if found:
        return Baseline(found[0], f"the container engine's default from {found[1]}", caps)
    for candidate in WELL_KNOWN:
        if os.path.isfile(candidate):
            return Baseline(candidate, "the container engine's default", caps)
    return None


def find_docker_profile() -> str | None:
    """The path of :func:`find_baseline`'s profile, or None (older name)."""
    b = find_baseline()
    return b.path if b else None


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
    """The syscall names an engine's default profile allows on ``arch`` (names that exist
    there), its groups resolved for ``caps`` and the kernel release. A profile whose default
    action lets calls through allows every syscall of ``arch`` no applying group blocks
    without argument conditions."""
    if not isinstance(profile, dict) or not isinstance(profile.get("syscalls"), list):
        raise InputError("not a seccomp profile", source=source, field="syscalls",
                         expected="a list of syscall groups")
    goarch = _GOARCH.get(arch, arch)
    kernel = _kernel_tuple(kernel_release or os.uname().release)
    default_passes = profile.get("defaultAction") in PASSING
    allowed: set[str] = set(all_syscalls(arch).values()) if default_passes else set()
    for i, group in enumerate(profile["syscalls"]):
        names = group.get("names") if isinstance(group, dict) else None
        if isinstance(group, dict) and names is None and isinstance(group.get("name"), str):
            names = [group["name"]]          # the older single-name spelling
        if not isinstance(names, list):
            raise InputError("invalid syscall group", source=source, field=f"syscalls[{i}]",
                             expected="an object with a list of names")
        for key in ("includes", "excludes"):
            cond = group.get(key) or {}
            if not isinstance(cond, dict) or not all(
                    isinstance(cond.get(k) or [], list)
                    and all(isinstance(x, str) for x in cond.get(k) or [])
                    for k in ("arches", "caps")) \
                    or not isinstance(cond.get("minKernel") or "", str):
                raise InputError("invalid condition", source=source, field=f"syscalls[{i}].{key}",
                                 expected="an object with lists arches and caps, and a "
                                          "minKernel string")
        if not _group_applies(group, goarch, caps, kernel):
            continue
        names = [n for n in names if isinstance(n, str)]
        if group.get("action") in PASSING:
            allowed.update(names)
        elif default_passes and not group.get("args"):
            allowed.difference_update(names)
    return {n for n in allowed if syscall_number(arch, n) is not None}


def resolved_profile(profile: dict[str, Any], arch: str, arches: list[str], *,
                     caps: frozenset[str] = DOCKER_DEFAULT_CAPS,
                     kernel_release: str | None = None, source: str = FILE_NAME
                     ) -> dict[str, Any]:
    """An engine's default profile as the plain OCI profile the engine would apply on
    ``arch`` for ``caps`` and the kernel release: the groups that apply, with their actions
    and argument conditions, names known on ``arch``; covering ``arches``. (To apply it with
    sandprint's own filter, e.g. to measure its cost beside a generated one.)"""
    docker_allowed(profile, arch, caps=caps, kernel_release=kernel_release, source=source)
    goarch = _GOARCH.get(arch, arch)
    kernel = _kernel_tuple(kernel_release or os.uname().release)
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO"),
                           "architectures": list(arches), "syscalls": []}
    if isinstance(profile.get("defaultErrnoRet"), int):
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    for group in profile["syscalls"]:
        if not _group_applies(group, goarch, caps, kernel):
            continue
        names = group.get("names") or [group.get("name")]
        names = [n for n in names if isinstance(n, str) and syscall_number(arch, n) is not None]
        if names:
            rule = {"names": names, "action": group["action"]}
            rule.update({k: group[k] for k in ("errnoRet", "args") if group.get(k)})
            if rule not in out["syscalls"]:      # groups for other caps may repeat a rule
                out["syscalls"].append(rule)
    return out


def compare_with_baseline(allowed: set[str], arch: str, *, path: str | None = None
                          ) -> tuple[str, dict[str, Any]]:
    """One line comparing ``allowed`` with the container engine's default profile, and the
    numbers. ``path`` (``--baseline``) or the one :func:`find_baseline` finds; when there is
    none the line says so and how to give one. A file the user named that cannot be read is an
    InputError; a found one that cannot be read is skipped with the reason."""
    base = find_baseline(path)
    if base is None:
        return (f"no baseline comparison: no container engine default seccomp profile found "
                f"({HOW_TO_GIVE})", {"skipped": True})
    try:
        data = read_json(base.path, "baseline seccomp profile")
        default = docker_allowed(data, arch, caps=base.caps, source=base.path)
    except InputError as e:
        if base.given:
            raise
        return f"no baseline comparison: {e} ({HOW_TO_GIVE})", {"skipped": True}
    extra = allowed - default
    info = {"skipped": False, "baseline": base.path, "origin": base.origin,
            "baselineAllowed": len(default), "allowedOfBaseline": len(allowed & default),
            "deniedNow": len(default - allowed), "beyondBaseline": sorted(extra)}
    line = (f"allows {len(allowed & default)} of the {len(default)} syscalls the container "
            f"engine's default allows on {arch} (baseline: {base.describe()})")
    if extra:
        line += f"; {len(extra)} allowed beyond it: {', '.join(sorted(extra))}"
    return line, info


def compare_with_docker(allowed: set[str], arch: str, *, path: str | None = None
                        ) -> tuple[str, dict[str, Any]]:
    """Older name of :func:`compare_with_baseline`."""
    return compare_with_baseline(allowed, arch, path=path)
