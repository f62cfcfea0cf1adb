"""How much of what the programs could do the recordings saw, and what a profile may widen.

Per target: the syscalls the static analysis finds reachable (:mod:`.reach`), how many of
them the recordings saw, and the unseen ones split by risk (:mod:`sandprint.seccomp.risk`).
:func:`widening` picks what ``generate seccomp --widen static`` adds: unseen, reachable by a
recorded program, low risk, and without argument rules (``seccomp.argspec.ARG_RULES``: their
rules are made from recorded values, and an unseen call has none, so it would be allowed
with any arguments).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from ..recording import Recording
from ..seccomp import risk
from ..seccomp.argspec import ARG_RULES
from .reach import TargetReach, analyse



def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass
class Coverage:
    target: str
    reach: TargetReach
    seen: set[str]
    possible: dict[str, list[str]] = field(default_factory=dict)
    files_recorded: bool = True

    def __post_init__(self) -> None:
        self.possible = self.reach.possible()

    @property
    def seen_possible(self) -> set[str]:
        return self.seen & set(self.possible)

    @property
    def unseen(self) -> set[str]:
        return set(self.possible) - self.seen

    @property
    def not_found(self) -> set[str]:
        """Recorded, but not found by the analysis (reached through calls it does not follow:
        pointers, the vDSO, code made at run time)."""
        return self.seen - set(self.possible)

    def split(self) -> tuple[list[str], list[str]]:
        return risk.split(self.unseen)

    def to_json(self) -> dict[str, Any]:
        low, high = self.split()
        return {"target": self.target, "possible": len(self.possible),
                "seen": len(self.seen_possible), "unseenLowRisk": low, "unseenHighRisk": high,
                "recordedNotFound": sorted(self.not_found),
                "analysed": [p.path for p in self.reach.programs],
                "interpreters": [p.path for p in self.reach.programs if p.interpreter],
                "libraries": len(self.reach.libraries),
                "unresolved": self.reach.unresolved(),
                "indirectCalls": {p.path: p.indirect for p in self.reach.programs},
                "dlopened": {p.path: sorted(p.dlopened) for p in self.reach.programs
                             if p.dlopened},
                "skipped": self.reach.skipped,
                "perProgram": {p.path: len(p.syscalls) for p in self.reach.programs}}

    def lines(self) -> list[str]:
        """The summary a report prints for this target."""
        if not self.reach.programs:
            return [f"static analysis of target {self.target!r}: no program analysed (the "
                    "recording names no executable found on this host)"] + [
                f"  not analysed: {path}: {why}" for path, why in self.reach.skipped.items()]
        low, high = self.split()
        out = [f"static analysis of target {self.target!r}: the recordings saw "
               f"{len(self.seen_possible)} of the {len(self.possible)} syscalls its programs "
               f"can make ({_count(len(self.reach.programs), 'program')}, "
               f"{_count(len(self.reach.libraries), 'library', 'libraries')} analysed)"]
        if self.reach.programs:
            out.append("  analysed (syscalls it can make; indirect calls in the library code "
                       "it reaches, not followed): " + ", ".join(
                           f"{p.path} ({len(p.syscalls)}; {p.indirect})"
                           for p in self.reach.programs))
        opened = sorted(set().union(*(p.dlopened for p in self.reach.programs)))
        if opened:
            out.append(f"  opened with dlopen, every export followed ("
                       f"{_count(len(opened), 'library', 'libraries')}): " + ", ".join(opened))
        other = sorted({p.arch for p in self.reach.programs} - {self.reach.arch})
        if other:
            out.append(f"  programs of another ABI ({', '.join(other)}) are analysed but not "
                       "counted here: the coverage and --widen are for the recording's "
                       f"architecture ({self.reach.arch})")
        out.append(f"  unseen, low risk ({len(low)}): " + (", ".join(low) or "none"))
        out.append(f"  unseen, high risk ({len(high)}): " + (", ".join(high) or "none"))
        if self.not_found:
            out.append(f"  recorded but not found statically ({len(self.not_found)}: reached "
                       "through calls the analysis does not follow): "
                       + ", ".join(sorted(self.not_found)))
        unresolved = self.reach.unresolved()
        if unresolved:
            out.append(f"  syscall sites whose number is set at run time "
                       f"({sum(unresolved.values())}, not counted): "
                       + ", ".join(f"{k} ({n})" for k, n in unresolved.items()))
        interp = [p for p in self.reach.programs if p.interpreter]
        if interp:
            out.append("  interpreted code reaches syscalls through its interpreter: "
                       "what a script can do is what " + ", ".join(
                           f"{os.path.basename(p.path)} can ({len(p.syscalls)} syscalls)"
                           for p in interp) + "; only executables the recording saw run "
                       "are analysed")
        if not self.files_recorded:
            out.append("  the recording holds no file accesses (record --syscalls-only): the "
                       "libraries its programs loaded are unknown, so only the programs' own "
                       "code was analysed")
        for path, why in self.reach.skipped.items():
            out.append(f"  not analysed: {path}: {why}")
        return out


def coverage(rec: Recording, target: str | None = None, *,
             log: Callable[[str], None] | None = None) -> list[Coverage]:
    """The coverage of each target of ``rec`` (or the one named)."""
    out = []
    for reach in analyse(rec, target, log=log):
        t = next(t for t in rec.targets if t.name == reach.target)
        out.append(Coverage(target=t.name, reach=reach, seen=set(t.syscalls),
                            files_recorded=rec.files_recorded))
    return out


@dataclass
class Widening:
    """What ``--widen static`` adds (name -> programs that can make it), and what it left out
    though low risk and reachable (name -> why)."""

    added: dict[str, list[str]] = field(default_factory=dict)
    withheld: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return set(self.added)

    def notes(self) -> list[str]:
        if not self.added:
            out = ["widened (static analysis): nothing to add: the recordings saw every "
                   "low-risk syscall the programs can make"]
        else:
            out = [f"widened (static analysis): {len(self.added)} low-risk syscalls the "
                   "recordings did not see but the recorded programs can make:"]
            for name, programs in sorted(self.added.items()):
                out.append(f"  {name} ({risk.classify(name).key}): "
                           + ", ".join(programs))
        if self.withheld:
            out.append("not widened, though low risk and reachable: " + "; ".join(
                f"{n} ({why})" for n, why in sorted(self.withheld.items())))
        return out


def widening(covs: list[Coverage]) -> Widening:
    """The unseen low-risk syscalls the programs of these targets can make."""
    out = Widening()
    seen = set().union(*(c.seen for c in covs)) if covs else set()
    for c in covs:
        for name, programs in c.possible.items():
            if name in seen or not risk.is_low_risk(name):
                continue
            if name in ARG_RULES:
                out.withheld[name] = "its argument rules need recorded values"
                continue
            out.added.setdefault(name, [])
            out.added[name] = sorted(set(out.added[name]) | set(programs))
    return out
