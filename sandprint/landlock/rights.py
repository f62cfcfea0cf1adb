"""Landlock's access rights and scopes: names, kernel bits, and the ABI that added each.

Pure data, no system calls: both the config parser and the ctypes layer read it. The names are
the kernel's ``LANDLOCK_ACCESS_FS_*`` / ``LANDLOCK_ACCESS_NET_*`` / ``LANDLOCK_SCOPE_*`` flags in
lower case without the prefix, as the landlockconfig format spells them.
"""

from __future__ import annotations

# name -> (bit, ABI that introduced it)
FS_RIGHTS: dict[str, tuple[int, int]] = {
    "execute": (1 << 0, 1),
    "write_file": (1 << 1, 1),
    "read_file": (1 << 2, 1),
    "read_dir": (1 << 3, 1),
    "remove_dir": (1 << 4, 1),
    "remove_file": (1 << 5, 1),
    "make_char": (1 << 6, 1),
    "make_dir": (1 << 7, 1),
    "make_reg": (1 << 8, 1),
    "make_sock": (1 << 9, 1),
    "make_fifo": (1 << 10, 1),
    "make_block": (1 << 11, 1),
    "make_sym": (1 << 12, 1),
    "refer": (1 << 13, 2),
    "truncate": (1 << 14, 3),
    "ioctl_dev": (1 << 15, 5),
}

NET_RIGHTS: dict[str, tuple[int, int]] = {
    "bind_tcp": (1 << 0, 4),
    "connect_tcp": (1 << 1, 4),
}

SCOPES: dict[str, tuple[int, int]] = {
    "abstract_unix_socket": (1 << 0, 6),
    "signal": (1 << 1, 6),
}

# Rights the kernel accepts on a rule whose parent is not a directory (its ACCESS_FILE mask).
# Every other filesystem right only makes sense on a directory: landlock_add_rule fails with
# EINVAL when one is given for a regular file, device, socket ...
FILE_RIGHTS: frozenset[str] = frozenset({"execute", "write_file", "read_file", "truncate",
                                         "ioctl_dev"})
DIR_ONLY_RIGHTS: frozenset[str] = frozenset(FS_RIGHTS) - FILE_RIGHTS

# The newest ABI whose rights and flags this package knows. ABI 7 (Linux 6.15) added audit
# logging flags for landlock_restrict_self, ABI 8 the TSYNC flag; neither added an access
# right. A kernel reporting a newer ABI is driven as this one: its extra features go unused.
NEWEST_KNOWN_ABI = 8

KINDS = {"fs": FS_RIGHTS, "net": NET_RIGHTS, "scope": SCOPES}


def rights_for_abi(kind: str, abi: int) -> frozenset[str]:
    """Every right (or scope) of ``kind`` ("fs", "net", "scope") that ABI ``abi`` has."""
    table = KINDS[kind]
    return frozenset(name for name, (_bit, since) in table.items() if since <= abi)


def introduced_in(kind: str, name: str) -> int:
    return KINDS[kind][name][1]


def abi_needed(fs, net, scopes) -> int:
    """The lowest ABI that knows every named right and scope (what a ruleset file must say)."""
    return max([1] + [introduced_in("fs", r) for r in fs]
               + [introduced_in("net", r) for r in net]
               + [introduced_in("scope", s) for s in scopes])


def to_mask(kind: str, names) -> int:
    """The kernel bitmask of right names of ``kind``."""
    table = KINDS[kind]
    mask = 0
    for name in names:
        mask |= table[name][0]
    return mask


def from_mask(kind: str, mask: int) -> frozenset[str]:
    table = KINDS[kind]
    return frozenset(name for name, (bit, _since) in table.items() if mask & bit)


def sort_rights(kind: str, names) -> list[str]:
    """Names in the kernel's bit order (stable, readable output)."""
    table = KINDS[kind]
    return sorted(names, key=lambda n: table[n][0] if n in table else 1 << 62)


# -- the landlockconfig groups -----------------------------------------------------------------

GROUP_ALL = "abi.all"
GROUP_READ_EXECUTE = "abi.read_execute"
GROUP_READ_WRITE = "abi.read_write"
FS_GROUPS = (GROUP_ALL, GROUP_READ_EXECUTE, GROUP_READ_WRITE)
NET_GROUPS = (GROUP_ALL,)
SCOPE_GROUPS = (GROUP_ALL,)
GROUPS = {"fs": FS_GROUPS, "net": NET_GROUPS, "scope": SCOPE_GROUPS}


def expand_group(kind: str, group: str, abi: int) -> frozenset[str]:
    """The rights an ``abi.*`` group stands for at ABI ``abi`` (see landlockconfig-format.md)."""
    everything = rights_for_abi(kind, abi)
    if group == GROUP_ALL:
        return everything
    if kind == "fs" and group == GROUP_READ_EXECUTE:
        return everything & {"execute", "read_file", "read_dir", "refer"}
    if kind == "fs" and group == GROUP_READ_WRITE:
        return everything - {"execute"}
    raise ValueError(f"unknown {kind} group {group!r}")


def expand_names(kind: str, names, abi: int | None) -> frozenset[str]:
    """Right names and groups -> right names. Groups need ``abi`` (the caller checked it)."""
    out: set[str] = set()
    for name in names:
        if name.startswith("abi."):
            if abi is None:
                raise ValueError(f"group {name!r} needs an abi")
            out |= expand_group(kind, name, abi)
        else:
            out.add(name)
    return frozenset(out)
