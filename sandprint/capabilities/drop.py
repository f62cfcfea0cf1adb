"""Dropping every capability but those kept, from all five sets, before exec.

:func:`drop_capabilities` (this process, irreversibly):

1. ``no_new_privs`` is set, so no later exec gains anything (set-uid and file capabilities);
2. every other capability leaves the bounding set (``PR_CAPBSET_DROP``, needs CAP_SETPCAP:
   done first, while this process still has it), so that a uid-0 process, which regains the
   bounding set's capabilities at every exec, regains only those kept;
3. the ambient set is cleared (``PR_CAP_AMBIENT_CLEAR_ALL``);
4. ``capset``: effective and permitted become the kept ones this process has, inheritable
   none. A process of a uid other than 0 keeps its capabilities across exec only through the
   ambient set, so for it the kept ones are raised in inheritable and ambient.

The outcome is read back (``capget``, ``PR_CAPBSET_READ``) and returned as
:class:`CapState`; anything that could not be dropped is said, never skipped silently.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from dataclasses import dataclass, field

from ..errors import EnvironmentProblem
from .names import NUMBER, last_cap, mask, names_in

PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL = 47, 2, 4
CAP_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.prctl.restype = ctypes.c_int
        _LIBC.capget.restype = ctypes.c_int
        _LIBC.capset.restype = ctypes.c_int
    return _LIBC


def _prctl(option: int, a: int = 0, b: int = 0) -> int:
    r = _libc().prctl(ctypes.c_int(option), ctypes.c_ulong(a), ctypes.c_ulong(b),
                      ctypes.c_ulong(0), ctypes.c_ulong(0))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


@dataclass
class CapState:
    """The five sets of a process, as masks."""

    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    bounding: int = 0
    ambient: int = 0
    notes: list[str] = field(default_factory=list)

    def sets(self) -> dict[str, int]:
        return {"CapInh": self.inheritable, "CapPrm": self.permitted,
                "CapEff": self.effective, "CapBnd": self.bounding, "CapAmb": self.ambient}

    def all_zero(self) -> bool:
        return not any(self.sets().values())


def current() -> CapState:
    """This process's sets."""
    hdr = _Header(CAP_VERSION_3, 0)
    data = (_Data * 2)()
    if _libc().capget(ctypes.byref(hdr), data) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"capget: {os.strerror(e)}")
    st = CapState(effective=data[0].effective | data[1].effective << 32,
                  permitted=data[0].permitted | data[1].permitted << 32,
                  inheritable=data[0].inheritable | data[1].inheritable << 32)
    for n in range(last_cap() + 1):
        if _prctl(PR_CAPBSET_READ, n) == 1:
            st.bounding |= 1 << n
        try:
            if _prctl(PR_CAP_AMBIENT, 1, n) == 1:       # PR_CAP_AMBIENT_IS_SET
                st.ambient |= 1 << n
        except OSError:
            pass
    return st


def of_status(text: str) -> CapState:
    """The sets from a ``/proc/PID/status`` text (tests, probes)."""
    vals = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            vals[key] = int(rest.strip(), 16)
    return CapState(effective=vals.get("CapEff", 0), permitted=vals.get("CapPrm", 0),
                    inheritable=vals.get("CapInh", 0), bounding=vals.get("CapBnd", 0),
                    ambient=vals.get("CapAmb", 0))


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _Header(CAP_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        data[i].effective = effective >> (32 * i) & 0xFFFFFFFF
        data[i].permitted = permitted >> (32 * i) & 0xFFFFFFFF
        data[i].inheritable = inheritable >> (32 * i) & 0xFFFFFFFF
    if _libc().capset(ctypes.byref(hdr), data) != 0:
        e = ctypes.get_errno()
        raise EnvironmentProblem(f"capset: {os.strerror(e)}; the command was not run")


def drop_capabilities(keep: list[str] | tuple[str, ...] = ()) -> CapState:
    """Keep only ``keep`` (CAP_* names) in this process and whatever it executes; see the
    module. Raises :class:`EnvironmentProblem` when a set cannot be brought down (the
    command must then not run); returns the sets as they are now, with notes on what was
    kept that this process did not have, or a bounding set it could not lower."""
    keep_mask = mask(keep)
    before = current()
    try:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError as e:
        raise EnvironmentProblem(f"prctl(PR_SET_NO_NEW_PRIVS): {e.strerror}; the command "
                                 "was not run") from None
    notes: list[str] = []
    cannot: list[int] = []
    for n in range(last_cap() + 1):
        if keep_mask >> n & 1 or not before.bounding >> n & 1:
            continue
        try:
            _prctl(PR_CAPBSET_DROP, n)
        except OSError as e:
            if e.errno != _errno.EPERM:
                raise EnvironmentProblem(f"prctl(PR_CAPBSET_DROP, {n}): {e.strerror}; the "
                                         "command was not run") from None
            cannot.append(n)
    if cannot:
        # only without CAP_SETPCAP, i.e. a process that has (almost) no capabilities anyway;
        # no_new_privs keeps an exec from gaining any from the bounding set
        notes.append(f"the bounding set keeps {len(cannot)} capabilities (no CAP_SETPCAP to "
                     "drop them); no_new_privs stops any exec from gaining them")
    try:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as e:
        if e.errno != _errno.EINVAL:      # EINVAL: a kernel without ambient capabilities
            raise EnvironmentProblem(f"prctl(PR_CAP_AMBIENT_CLEAR_ALL): {e.strerror}; the "
                                     "command was not run") from None
    kept = before.permitted & keep_mask
    missing = keep_mask & ~before.permitted
    if missing:
        notes.append("not held by this process, so not kept: " + ", ".join(names_in(missing)))
    ambient = os.geteuid() != 0 and kept
    _capset(kept, kept, kept if ambient else 0)
    if ambient:
        for n in names_in(kept):
            try:
                _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, NUMBER[n])
            except OSError as e:
                notes.append(f"{n} not raised in the ambient set ({e.strerror}): lost at exec")
    after = current()
    leaked = (after.effective | after.permitted | after.inheritable | after.ambient) & ~keep_mask
    if leaked or (after.bounding & ~keep_mask and not cannot):
        raise EnvironmentProblem("capabilities left after dropping: "
                                 + ", ".join(names_in(leaked | after.bounding & ~keep_mask))
                                 + "; the command was not run")
    after.notes = notes
    return after


def describe(state: CapState, keep: list[str]) -> str:
    """One line for ``exec``/``verify``: what is left."""
    held = names_in(state.permitted | state.bounding & mask(keep))
    if not keep:
        text = "capabilities: all dropped (effective, permitted, inheritable, ambient, bounding)"
    elif not set(names_in(state.bounding)) - set(keep) and len(keep) >= len(NUMBER):
        text = "capabilities: none dropped (all kept)"
    else:
        text = "capabilities: kept " + ", ".join(keep) + "; every other one dropped"
    if held and set(held) - set(keep):
        text += " (left: " + ", ".join(sorted(set(held) - set(keep))) + ")"
    return text + "".join(f"; {n}" for n in state.notes)
