"""Capability names and numbers (``include/uapi/linux/capability.h``, a stable kernel ABI).

The numbers never change once assigned; a kernel newer than this table may know more
(``/proc/sys/kernel/cap_last_cap``), and those are dropped by number all the same.
"""

from __future__ import annotations

from ..errors import InputError

CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBER = {name: i for i, name in enumerate(CAPS)}


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAPS) - 1


def name_of(number: int) -> str:
    return CAPS[number] if 0 <= number < len(CAPS) else f"CAP_{number}"


def parse(text: str, *, field: str = "--keep-caps") -> list[str]:
    """``net_bind_service,CAP_KILL`` -> ``["CAP_KILL", "CAP_NET_BIND_SERVICE"]``; ``all``:
    every capability; an unknown name is an :class:`InputError` naming ``field``."""
    out: set[str] = set()
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        if part.lower() == "all":
            out.update(CAPS)
            continue
        name = part.upper()
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in NUMBER:
            raise InputError(f"unknown capability {part!r}", field=field,
                             expected="capability names such as CAP_NET_BIND_SERVICE "
                                      "(comma-separated; the CAP_ prefix is optional), "
                                      "or all")
        out.add(name)
    return sorted(out, key=NUMBER.__getitem__)


def mask(names) -> int:
    m = 0
    for n in names:
        m |= 1 << NUMBER[n]
    return m


def names_in(mask_value: int) -> list[str]:
    return [name_of(i) for i in range(64) if mask_value >> i & 1]


def short(name: str) -> str:
    """``NET_BIND_SERVICE`` for ``CAP_NET_BIND_SERVICE`` (Kubernetes, podman, systemd use
    either; Kubernetes' own examples leave the prefix off)."""
    return name[4:] if name.startswith("CAP_") else name
