"""The Landlock kernel interface through ctypes: system calls, structures, flags, ABI query.

Nothing here decides policy; :mod:`sandprint.landlock.ruleset` does. The right bitmasks live
in :mod:`sandprint.landlock.rights` and are re-exported here per ABI (:func:`fs_mask`,
:func:`net_mask`, :func:`scope_mask`).

ABI history (``landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)``):
1 (5.13) filesystem; 2 (5.19) ``refer``; 3 (6.2) ``truncate``; 4 (6.7) TCP bind/connect;
5 (6.10) ``ioctl_dev``; 6 (6.12) scopes (abstract UNIX sockets, signals); 7 (6.15) audit
log flags for ``landlock_restrict_self``; 8 ``LANDLOCK_RESTRICT_SELF_TSYNC`` (all threads).
A newer kernel is driven as the newest ABI this module knows.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform

from . import rights as R

# landlock_create_ruleset flags
CREATE_RULESET_VERSION = 1 << 0
CREATE_RULESET_ERRATA = 1 << 1

# rule types
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2

# landlock_restrict_self flags: (bit, ABI that added it)
RESTRICT_SELF_LOG_SAME_EXEC_OFF = 1 << 0
RESTRICT_SELF_LOG_NEW_EXEC_ON = 1 << 1
RESTRICT_SELF_LOG_SUBDOMAINS_OFF = 1 << 2
RESTRICT_SELF_TSYNC = 1 << 3
RESTRICT_SELF_FLAGS = {
    "log_same_exec_off": (RESTRICT_SELF_LOG_SAME_EXEC_OFF, 7),
    "log_new_exec_on": (RESTRICT_SELF_LOG_NEW_EXEC_ON, 7),
    "log_subdomains_off": (RESTRICT_SELF_LOG_SUBDOMAINS_OFF, 7),
    "tsync": (RESTRICT_SELF_TSYNC, 8),
}
NEWEST_KNOWN_ABI = R.NEWEST_KNOWN_ABI

PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

# Landlock's syscalls were added after the syscall tables were unified: 444..446 on every
# architecture but alpha (which adds 110). Looked up through libseccomp when not on x86_64.
_X86_64_NUMBERS = {"landlock_create_ruleset": 444, "landlock_add_rule": 445,
                   "landlock_restrict_self": 446}


class RulesetAttr(ctypes.Structure):
    """struct landlock_ruleset_attr; its size grew with the ABI (8, 16, then 24 bytes)."""

    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def ruleset_attr_size(abi: int) -> int:
    """The size to pass for ``abi``: older kernels reject unknown trailing fields only if
    non-zero, but passing the size the ABI defines is the documented way."""
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8


class PathBeneathAttr(ctypes.Structure):
    """struct landlock_path_beneath_attr (packed: 12 bytes)."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64),
                ("parent_fd", ctypes.c_int32)]


class NetPortAttr(ctypes.Structure):
    """struct landlock_net_port_attr."""

    _fields_ = [("allowed_access", ctypes.c_uint64),
                ("port", ctypes.c_uint64)]


assert ctypes.sizeof(PathBeneathAttr) == 12
assert ctypes.sizeof(NetPortAttr) == 16
assert ctypes.sizeof(RulesetAttr) == 24


@functools.lru_cache(maxsize=None)
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


@functools.lru_cache(maxsize=None)
def syscall_nr(name: str) -> int:
    if platform.machine() == "x86_64":
        return _X86_64_NUMBERS[name]
    try:
        from ..syscalls import native_arch, syscall_number

        nr = syscall_number(native_arch(), name)
    except Exception:
        nr = None
    if nr is None:
        nr = _X86_64_NUMBERS[name] + (110 if platform.machine() == "alpha" else 0)
    return nr


def _call(name: str, *args) -> int:
    ret = _libc().syscall(ctypes.c_long(syscall_nr(name)), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return ret


def create_ruleset(attr: RulesetAttr | None, size: int, flags: int = 0) -> int:
    ptr = ctypes.byref(attr) if attr is not None else ctypes.c_void_p(0)
    return _call("landlock_create_ruleset", ptr, ctypes.c_size_t(size), ctypes.c_uint32(flags))


def add_path_rule(ruleset_fd: int, allowed_access: int, parent_fd: int) -> None:
    attr = PathBeneathAttr(allowed_access=allowed_access, parent_fd=parent_fd)
    _call("landlock_add_rule", ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH),
          ctypes.byref(attr), ctypes.c_uint32(0))


def add_port_rule(ruleset_fd: int, allowed_access: int, port: int) -> None:
    attr = NetPortAttr(allowed_access=allowed_access, port=port)
    _call("landlock_add_rule", ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_NET_PORT),
          ctypes.byref(attr), ctypes.c_uint32(0))


def restrict_self(ruleset_fd: int, flags: int = 0) -> None:
    _call("landlock_restrict_self", ctypes.c_int(ruleset_fd), ctypes.c_uint32(flags))


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1): needed to restrict oneself without CAP_SYS_ADMIN, and
    what keeps a setuid program from escaping the sandbox."""
    lib = _libc()
    if lib.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0),
                 ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def get_no_new_privs() -> bool:
    return _libc().prctl(ctypes.c_int(PR_GET_NO_NEW_PRIVS), ctypes.c_ulong(0),
                         ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 1


def query_abi() -> tuple[int, str]:
    """(ABI version, explanation). 0 when Landlock is unavailable, with the reason."""
    try:
        version = create_ruleset(None, 0, CREATE_RULESET_VERSION)
    except OSError as e:
        if e.errno == errno.ENOSYS:
            return 0, "the kernel has no Landlock system calls (Linux older than 5.13?)"
        if e.errno == errno.EOPNOTSUPP:
            return 0, "Landlock is built in but not enabled (add 'landlock' to the lsm= boot list)"
        return 0, f"Landlock ABI query failed: {e.strerror}"
    return int(version), f"Landlock ABI {version}"


@functools.lru_cache(maxsize=None)
def kernel_abi() -> int:
    """The running kernel's Landlock ABI version (0: unavailable). Cached."""
    return query_abi()[0]


def fs_mask(abi: int) -> int:
    return R.to_mask("fs", R.rights_for_abi("fs", abi))


def net_mask(abi: int) -> int:
    return R.to_mask("net", R.rights_for_abi("net", abi))


def scope_mask(abi: int) -> int:
    return R.to_mask("scope", R.rights_for_abi("scope", abi))


def restrict_flags_for_abi(abi: int) -> frozenset[str]:
    return frozenset(n for n, (_b, since) in RESTRICT_SELF_FLAGS.items() if since <= abi)
