"""What a recording needed against what a sandbox allows, with the sandbox's own semantics.

This is the judge shared by complain mode (``verify --complain``), the drift check
(``check``) and ``--fix``: it never runs anything, it only compares.

Seccomp: a syscall is allowed when the profile's :meth:`SeccompProfile.allowed_syscalls` says
so; for the syscalls of argspec.ARG_RULES, whose decisive arguments the recording holds, each
recorded value tuple must also pass one of the profile's allow rules for it
(:func:`sandprint.seccomp.argrules.judge`). A rule with conditions on other arguments (clone's
flags) counts as allowed, and this is said in the report's notes.

Landlock, evaluated the way the kernel does it (the kernel has no permissive mode, so complain
mode has to reproduce its decision):

* a right the ruleset does not *handle* is never denied;
* a handled right is allowed on a path when a rule on the path itself or on any directory
  above it grants it (a rule on a directory covers the whole tree beneath it);
* a rule whose path is not a directory covers only that file, and only the rights a file can
  carry (execute, write_file, read_file, truncate, ioctl_dev) - as when it is added;
* a rule's path is what it is on this host when the ruleset is applied: a path that does not
  exist yields no rule (a ``may not exist`` path is skipped, like the library does);
* make_*, remove_* and refer are recorded on the parent directory the kernel checks
  (``fsmodel.py``), so they are judged there, like every other right;
* ``/proc/<pid>/...`` of the workload is judged as ``/proc/self/...`` (the rule on
  ``/proc/self`` is opened by the process that applies the ruleset);
* TCP bind/connect to a port is allowed when the right is not handled or a ``netPort`` rule
  grants it for that port (UDP and UNIX sockets are outside Landlock);
* a signal sent outside the sandbox is denied when the ``signal`` scope is on.

Not modelled: refer's extra rule that a file may only move to where it keeps no more rights
than it had (the recording does not say which file moved where); such a move shows up as a
real denial in enforce mode.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..landlock import config as C
from ..landlock import rights as R
from ..recording import Recording, Target

PROC_PID = "/proc/"


@dataclass
class Need:
    """One thing the workload needed that the sandbox does not allow."""

    kind: str                     # syscall | file | network | signal
    name: str                     # syscall name, path, "tcp connect 443", signal name
    count: int = 1
    rights: list[str] = field(default_factory=list)     # file: the rights refused
    target: str = "main"

    def key(self) -> tuple:
        return (self.kind, self.name, tuple(self.rights))


# -- Landlock ----------------------------------------------------------------------------------

@dataclass
class LandlockPolicy:
    """A landlockconfig ruleset reduced to what the kernel enforces on this host."""

    handled_fs: frozenset[str]
    handled_net: frozenset[str]
    scoped: frozenset[str]
    rules: dict[str, frozenset[str]]           # path -> rights (directory or file rule)
    rule_is_dir: dict[str, bool]
    ports: dict[int, frozenset[str]]
    skipped: list[str] = field(default_factory=list)   # rule paths missing on this host
    abi: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict, *, source: str = "<ruleset>") -> "LandlockPolicy":
        res = C.resolve(cfg, source=source)
        rules: dict[str, frozenset[str]] = {}
        is_dir: dict[str, bool] = {}
        skipped = []
        for path, rights in res.path_rules.items():
            if not os.path.exists(path):
                skipped.append(path)
                continue
            d = os.path.isdir(path)
            rules[path] = frozenset(rights if d else rights & R.FILE_RIGHTS)
            is_dir[path] = d
        return cls(res.handled_fs, res.handled_net, res.scoped, rules, is_dir,
                   dict(res.port_rules), sorted(skipped), res.abi, cfg)

    @classmethod
    def from_file(cls, path: str) -> "LandlockPolicy":
        return cls.from_config(C.load_config(path), source=path)

    def granted(self, path: str) -> set[str]:
        """Every right a rule grants on ``path`` (its own rule, and its directories')."""
        out: set[str] = set()
        p = path
        first = True
        while True:
            rights = self.rules.get(p)
            if rights is not None and (first or self.rule_is_dir.get(p)):
                out |= rights
            if p == "/":
                return out
            p = posixpath.dirname(p) or "/"
            first = False

    def fs_denied(self, path: str, rights: Iterable[str]) -> set[str]:
        handled = set(rights) & self.handled_fs
        if not handled:
            return set()
        return handled - self.granted(judged_path(path))

    def net_denied(self, op: str, protocol: str, port: int | None) -> bool:
        if protocol != "tcp" or op not in ("bind", "connect") or port is None:
            return False
        right = f"{op}_tcp"
        if right not in self.handled_net:
            return False
        return right not in self.ports.get(port, frozenset())

    def allowed_paths(self) -> dict[str, frozenset[str]]:
        return dict(self.rules)


def judged_path(path: str) -> str:
    """``/proc/<pid>/x`` -> ``/proc/self/x``: how the ruleset's /proc/self rule sees it
    (``/proc/1``, init's, is the same process on every run and keeps its name)."""
    if path.startswith(PROC_PID):
        rest = path[len(PROC_PID):]
        head, _, tail = rest.partition("/")
        if head.isdigit() and head != "1":      # init's entries are named as they are
            return "/proc/self" + ("/" + tail if tail else "")
    return path


def landlock_needs(rec: Recording, policy: LandlockPolicy) -> list[Need]:
    """Every recorded access (granted or refused in the run) the ruleset does not allow."""
    out: list[Need] = []
    for t in rec.targets:
        for path, fa in sorted(t.files.items()):
            wanted = set(fa.access) | set(fa.denied)
            bad = policy.fs_denied(path, wanted)
            if bad:
                out.append(Need("file", path, fa.count, R.sort_rights("fs", bad), t.name))
        bound = {na.address for na in t.network.values() if na.op == "bind"}
        for na in sorted(t.network.values(), key=lambda n: repr(n.key())):
            if policy.net_denied(na.op, na.protocol, na.port):
                out.append(Need("network", f"{na.protocol} {na.op} {na.port}", na.count,
                                [f"{na.op}_tcp"], t.name))
            elif na.address not in bound and abstract_unix_denied(
                    policy, {"op": na.op, "family": na.family, "address": na.address}):
                out.append(Need("network", f"{na.protocol} {na.op} {na.address}", na.count,
                                [f"{na.op}_{na.protocol}"], t.name))
        for nd in denied_network(t):
            if nd["protocol"] == "tcp" and policy.net_denied(nd["op"], "tcp", nd.get("port")):
                n = Need("network", f"tcp {nd['op']} {nd.get('port')}", 1,
                         [f"{nd['op']}_tcp"], t.name)
                if n.key() not in {x.key() for x in out}:
                    out.append(n)
        if "signal" in policy.scoped:
            for sig in t.signals:
                out.append(Need("signal", f"{sig.get('signal')} to {_who(sig.get('to'))}",
                                1, [], t.name))
    return out


def abstract_unix_denied(policy: LandlockPolicy, access: dict[str, Any]) -> bool:
    """A connection to an abstract UNIX socket, which the abstract_unix_socket scope refuses
    when the socket is outside the sandbox (complain mode: one the workload did not bind)."""
    address = access.get("address")
    return ("abstract_unix_socket" in policy.scoped and access.get("op") == "connect"
            and access.get("family") == "unix" and isinstance(address, str)
            and address.startswith("@"))


def denied_network(t: Target) -> list[dict[str, Any]]:
    return [d for d in t.info.get("deniedNetwork", []) if isinstance(d, dict)]


def who_signalled(to: Any) -> str:
    """``pid 42 (sleep)``, ``every process``, ``process group 7``: a signal's receiver."""
    return _who(to)


def _who(to: Any) -> str:
    if isinstance(to, dict):
        if "pid" in to:
            return f"pid {to['pid']}" + (f" ({to['comm']})" if to.get("comm") else "")
        if to.get("all"):
            return "every process"
        if "processGroup" in to:
            return f"process group {to['processGroup']}"
    return str(to)


# -- seccomp -----------------------------------------------------------------------------------

def seccomp_needs(rec: Recording, allowed: set[str]) -> list[Need]:
    """Syscalls the recording made that the profile does not allow."""
    out = []
    for t in rec.targets:
        for name, n in sorted(t.syscalls.items()):
            if name not in allowed:
                out.append(Need("syscall", name, n, [], t.name))
    return out


# -- a recording of what was needed ------------------------------------------------------------

def needed_recording(rec: Recording, refused_syscalls: dict[str, int] | None = None
                     ) -> Recording:
    """A copy of ``rec`` where what was refused during the run counts as needed: denied
    file rights become accesses, refused connections become network accesses, and
    ``refused_syscalls`` (enforce mode: the calls the filter refused) become syscalls."""
    from ..recording import NetAccess

    out = Recording.from_json(rec.to_json(), source="<replay>")
    for t in out.targets:
        for fa in t.files.values():
            fa.access |= fa.denied
            fa.denied = set()
        for nd in denied_network(t):
            t.add_net(NetAccess(nd["op"], nd["protocol"], nd["family"], nd.get("port"),
                                nd.get("address")))
        t.info.pop("deniedNetwork", None)
    if refused_syscalls and out.targets:
        for name, n in refused_syscalls.items():
            out.targets[0].add_syscall(name, n)
    return out
