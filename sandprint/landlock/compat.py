"""Landlock compatibility as a pure plan: (kernel ABI, ruleset, level) -> what is applied and
what is dropped.

:func:`plan` makes every decision of :meth:`sandprint.landlock.Ruleset.restrict_self` about a
kernel that lacks something the ruleset asks for, without a system call: which handled rights,
scopes, rule rights and ``landlock_restrict_self`` flags stay, what is dropped and why
(:class:`Dropped`), and whether anything is applied at all under the compatibility level
(:class:`CompatLevel`). The ruleset then only carries the plan out (create, add rules,
no_new_privs, restrict) or refuses. Tests check the plan on every ABI without a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..choices import Choice
from . import abi as A
from . import rights as R


class CompatLevel(Choice):
    """What to do when the kernel cannot enforce the whole ruleset (see the ruleset module)."""

    BEST_EFFORT = "best-effort"   # drop what cannot be enforced, enforce the rest, report it
    SOFT = "soft"                 # apply nothing rather than a partial sandbox; no exception
    HARD = "hard"                 # raise CompatibilityError

    @classmethod
    def noun(cls) -> str:
        return "compatibility level"


COMPAT_LEVELS = tuple(c.value for c in CompatLevel)


@dataclass(frozen=True)
class Dropped:
    """Something the ruleset asked for that is not in force, and why.

    ``kind``: "landlock" (nothing at all), "fs", "net", "scope" (handled rights/scopes),
    "path-rule", "port-rule" (rights of a rule), "threads", "flag" (restrict_self flag).
    ``weakens``: whether it makes the sandbox less confining than asked (a dropped grant or
    logging flag does not).
    """

    kind: str
    names: tuple[str, ...]
    reason: str
    target: str | None = None
    weakens: bool = True

    def __str__(self) -> str:
        what = ", ".join(self.names)
        where = f" on {self.target}" if self.target else ""
        return f"{self.kind} {what}{where}: {self.reason}"


def _needs(kind: str, names: Iterable[str], kabi: int) -> str:
    by_abi: dict[int, list[str]] = {}
    for n in names:
        by_abi.setdefault(R.introduced_in(kind, n), []).append(n)
    return ", ".join(f"{'/'.join(R.sort_rights(kind, ns))} needs ABI {v}"
                     for v, ns in sorted(by_abi.items())) + f" (kernel has ABI {kabi})"


@dataclass
class Plan:
    """What restricting with a ruleset on a kernel of ABI ``abi`` comes to."""

    abi: int
    compat: CompatLevel
    apply: bool = False                        # False: nothing is applied (see refuse)
    fs: frozenset[str] = frozenset()           # handled, in force
    net: frozenset[str] = frozenset()
    scope: frozenset[str] = frozenset()
    rules: list[tuple[int, frozenset[str]]] = field(default_factory=list)  # (rule index, rights)
    ports: dict[int, frozenset[str]] = field(default_factory=dict)
    flags: int = 0                             # landlock_restrict_self flags
    all_threads: bool = False                  # TSYNC is among the flags
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def weakening(self) -> list[Dropped]:
        return [d for d in self.dropped if d.weakens]

    @property
    def refuse(self) -> bool:
        """Nothing applied, and the level says to raise (hard) rather than report."""
        return not self.apply and self.compat == CompatLevel.HARD


def plan(abi: int, compat: CompatLevel | str, *, fs: Iterable[str], net: Iterable[str],
         scope: Iterable[str], rules: Iterable[tuple[str, Iterable[str]]] = (),
         ports: dict[int, Iterable[str]] | None = None, log_new_exec: bool = False,
         log_same_exec: bool = True, log_subdomains: bool = True, other_threads: int = 0,
         unavailable: str = "ABI 0 requested") -> Plan:
    """The plan for handling ``fs``/``net``/``scope`` with these path ``rules`` ((path,
    rights) in the order given; the plan names them by index) and ``ports`` on ABI ``abi``.

    ``other_threads``: threads of the process already running (they stay unconfined without
    TSYNC); ``unavailable``: why Landlock is missing when ``abi`` < 1."""
    compat = CompatLevel(compat)
    out = Plan(abi=abi, compat=compat)
    if abi < 1:
        out.dropped.append(Dropped("landlock", ("everything",), unavailable))
        return out
    fs, net, scope = set(fs), set(net), set(scope)
    sup = {k: R.rights_for_abi(k, abi) for k in ("fs", "net", "scope")}
    rule_list = [(i, path, set(rights)) for i, (path, rights) in enumerate(rules)]
    port_rules = {p: set(r) for p, r in (ports or {}).items()}

    for kind, asked in (("fs", fs), ("net", net), ("scope", scope)):
        missing = asked - sup[kind] - ({"refer"} if kind == "fs" else set())
        if missing:
            out.dropped.append(Dropped(kind, tuple(R.sort_rights(kind, missing)),
                                       _needs(kind, missing, abi)))
            asked -= missing

    if "refer" in fs and abi < 2:
        granted = sorted(path for _i, path, rights in rule_list if "refer" in rights)
        fs.discard("refer")
        if granted:
            out.dropped.append(Dropped(
                "fs", tuple(R.sort_rights("fs", fs | {"refer"})),
                "refer is granted beneath " + ", ".join(granted) + " but ABI 1 always "
                "denies cross-directory rename/link, so enforcing any filesystem "
                "restriction would break what the ruleset allows"))
            fs = set()
            rule_list = []
        else:
            out.notes.append("refer: ABI 1 always denies cross-directory rename/link, "
                             "as handling it without granting it asks")

    for i, path, rights in rule_list:
        lost = rights - fs
        if lost:
            out.dropped.append(Dropped("path-rule", tuple(R.sort_rights("fs", lost)),
                                       _needs("fs", lost, abi), path, weakens=False))
            rights -= lost
        if rights:
            out.rules.append((i, frozenset(rights)))
    for port, rights in sorted(port_rules.items()):
        lost = rights - net
        if lost:
            out.dropped.append(Dropped("port-rule", tuple(R.sort_rights("net", lost)),
                                       _needs("net", lost, abi), str(port), weakens=False))
            rights -= lost
        if rights:
            out.ports[port] = frozenset(rights)

    wanted_flags = set()
    if not log_same_exec:
        wanted_flags.add("log_same_exec_off")
    if log_new_exec:
        wanted_flags.add("log_new_exec_on")
    if not log_subdomains:
        wanted_flags.add("log_subdomains_off")
    have_flags = A.restrict_flags_for_abi(abi)
    for name in sorted(wanted_flags):
        if name in have_flags:
            out.flags |= A.RESTRICT_SELF_FLAGS[name][0]
        else:
            out.dropped.append(Dropped("flag", (name,),
                                       f"needs ABI {A.RESTRICT_SELF_FLAGS[name][1]}"
                                       f" (kernel has ABI {abi})", weakens=False))
    if "tsync" in have_flags:
        out.flags |= A.RESTRICT_SELF_TSYNC
        out.all_threads = True
    elif other_threads:
        out.dropped.append(Dropped("threads", (f"{other_threads} other thread(s)",),
                                   "already running and stay unconfined: TSYNC needs ABI 8 "
                                   f"(kernel has ABI {abi}); restrict before starting threads"))

    if not (fs or net or scope):
        out.dropped.append(Dropped("landlock", ("everything",),
                                   "nothing left to restrict on this kernel"))
        return out
    out.fs, out.net, out.scope = frozenset(fs), frozenset(net), frozenset(scope)
    out.apply = not (out.weakening and compat != CompatLevel.BEST_EFFORT)
    return out
