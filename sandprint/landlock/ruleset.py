"""Sandbox the running process with Landlock: a ruleset builder and its enforcement status.

::

    from sandprint import landlock
    status = (landlock.Ruleset()
              .allow_read_exec("/usr", "/lib")
              .allow_read("/etc/ssl")
              .allow_write("/var/lib/app")
              .allow_connect_tcp(443)
              .restrict_self(compat="hard"))
    print(status)

Deny by default: a ``Ruleset()`` handles every filesystem and network right and every scope
the running kernel's ABI knows, unless ``handle_fs`` / ``handle_net`` / ``scope`` say
otherwise; rules then grant rights back beneath paths or on ports. A ruleset loaded from a
landlockconfig file handles exactly what the file names (that is the format's meaning).

Compatibility levels, when the kernel lacks something the ruleset asks for:

``best-effort`` (default)
    drop what the kernel cannot enforce, enforce the rest, and report exactly what was dropped
    and why in the returned :class:`RulesetStatus` (state ``PARTIALLY_ENFORCED``).
``soft``
    never run half-confined: if anything would be dropped, apply nothing and return a status
    ``NOT_ENFORCED`` listing why (no exception).
``hard``
    raise :class:`CompatibilityError` instead of running less confined than asked.

``refer`` on ABI 1: with ABI 1 every Landlock domain denies cross-directory rename and link.
A ruleset that only *handles* ``refer`` loses nothing (it is denied either way). A ruleset
that *grants* ``refer`` somewhere cannot be honoured: best effort then drops the whole
filesystem part (enforcing it would break the renames the ruleset allows), soft and hard refuse.

Threads: ``landlock_restrict_self`` confines the calling thread and the threads and processes
it creates afterwards. Where the kernel has ``LANDLOCK_RESTRICT_SELF_TSYNC`` (ABI 8) it is used
so every thread of the process is confined at once; on older kernels threads that already
exist stay unconfined, which the status reports as a weakening (soft and hard refuse it).
Restrict before starting threads. The same holds for ``no_new_privs``, which is set first.

Errors: bad input (unknown right, port out of range, a path that does not exist and is not
marked "may not exist", a directory-only right named for a file) raises
:class:`~sandprint.errors.InputError` before anything is applied; a failing system call raises
:class:`LandlockError`, also before the process is restricted.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from dataclasses import dataclass, field

from ..errors import EnvironmentProblem, InputError, SandprintError
from . import abi as A
from . import compat as P
from . import config as C
from . import rights as R
from .compat import CompatLevel, Dropped


class CompatibilityError(EnvironmentProblem):
    """compat="hard" and the kernel cannot enforce the whole ruleset."""


class LandlockError(SandprintError):
    """A Landlock system call failed unexpectedly; nothing was applied."""


class RulesetState(enum.Enum):
    FULLY_ENFORCED = "fully enforced"
    PARTIALLY_ENFORCED = "partially enforced"
    NOT_ENFORCED = "not enforced"


@dataclass
class RulesetStatus:
    """What :meth:`Ruleset.restrict_self` did. ``str(status)`` is one readable line."""

    state: RulesetState
    abi: int                                  # the ABI used (the kernel's, or the pretended one)
    kernel_abi: int
    compat: CompatLevel
    handled_fs: frozenset[str] = frozenset()  # in force
    handled_net: frozenset[str] = frozenset()
    scoped: frozenset[str] = frozenset()
    path_rules: int = 0
    port_rules: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    skipped_paths: list[str] = field(default_factory=list)   # missing, marked may-not-exist
    notes: list[str] = field(default_factory=list)
    no_new_privs: bool = False
    all_threads: bool = False                # TSYNC used

    @property
    def enforced(self) -> bool:
        return self.state is not RulesetState.NOT_ENFORCED

    @property
    def weakened(self) -> list[Dropped]:
        return [d for d in self.dropped if d.weakens]

    def __str__(self) -> str:
        abi = f"ABI {self.abi}" + (f" of kernel ABI {self.kernel_abi}"
                                   if self.abi != self.kernel_abi else "")
        head = f"Landlock {self.state.value} ({abi}, {self.compat})"
        if self.enforced:
            head += (f": {len(self.handled_fs)} fs rights, {len(self.handled_net)} net rights, "
                     f"{len(self.scoped)} scopes handled; {self.path_rules} path "
                     f"rule{'' if self.path_rules == 1 else 's'}, {self.port_rules} port "
                     f"rule{'' if self.port_rules == 1 else 's'}")
        parts = [head]
        if self.dropped:
            parts.append("dropped: " + "; ".join(str(d) for d in self.dropped))
        if self.skipped_paths:
            parts.append("skipped missing paths: " + ", ".join(self.skipped_paths))
        if self.notes:
            parts.append("; ".join(self.notes))
        return " | ".join(parts)

    def to_json(self) -> dict:
        return {
            "state": self.state.name, "abi": self.abi, "kernelAbi": self.kernel_abi,
            "compat": self.compat,
            "handledFs": R.sort_rights("fs", self.handled_fs),
            "handledNet": R.sort_rights("net", self.handled_net),
            "scoped": R.sort_rights("scope", self.scoped),
            "pathRules": self.path_rules, "portRules": self.port_rules,
            "dropped": [{"kind": d.kind, "names": list(d.names), "target": d.target,
                         "reason": d.reason, "weakens": d.weakens} for d in self.dropped],
            "skippedPaths": list(self.skipped_paths), "notes": list(self.notes),
            "noNewPrivs": self.no_new_privs, "allThreads": self.all_threads,
        }


@dataclass
class _PathRule:
    path: str
    rights: set[str] = field(default_factory=set)
    named: set[str] = field(default_factory=set)   # named one by one: strict for files
    may_not_exist: bool = False


def _as_list(items) -> list:
    if isinstance(items, (str, bytes, os.PathLike, int)):
        return [items]
    return list(items)


class Ruleset:
    """A Landlock ruleset being built; :meth:`restrict_self` applies it to this process.

    ``abi``: pretend the kernel has this ABI (at most the real one), to test the
    downgrade paths or to pin behaviour; default: the running kernel's.
    ``source``: named in error messages (the config file it came from).
    """

    def __init__(self, *, abi: int | None = None, source: str | None = None):
        self._abi_request = abi
        self._source = source
        self._handled: dict[str, set[str] | None] = {"fs": None, "net": None, "scope": None}
        self._paths: dict[str, _PathRule] = {}
        self._ports: dict[int, set[str]] = {}
        self._used = False

    # -- construction ------------------------------------------------------------------------

    @property
    def kernel_abi(self) -> int:
        return A.kernel_abi()

    @property
    def abi(self) -> int:
        """The ABI this ruleset is built for: the kernel's, or the lower one asked for."""
        k = A.kernel_abi()
        if self._abi_request is None:
            return min(k, R.NEWEST_KNOWN_ABI)
        return max(0, min(int(self._abi_request), k, R.NEWEST_KNOWN_ABI))

    @classmethod
    def from_config(cls, cfg: dict, *, source: str = "<config>", abi: int | None = None
                    ) -> "Ruleset":
        """A ruleset from a landlockconfig dict (either key spelling); groups expand with
        the document's own ``abi``. It handles exactly what the document names."""
        cfg = C.parse_config(cfg, source)
        res = C.resolve(cfg, source=source)
        rs = cls(abi=abi, source=source)
        rs._handled = {"fs": set(res.handled_fs), "net": set(res.handled_net),
                       "scope": set(res.scoped)}
        for path, rights in res.path_rules.items():
            rule = rs._rule(path)
            rule.rights |= rights
            rule.named |= res.named_path_rights.get(path, frozenset())
            rule.may_not_exist = rule.may_not_exist or path in res.may_not_exist
        for port, rights in res.port_rules.items():
            rs._ports.setdefault(port, set()).update(rights)
        return rs

    @classmethod
    def from_file(cls, path: str, *, abi: int | None = None) -> "Ruleset":
        """A ruleset from a landlockconfig JSON or TOML file."""
        return cls.from_config(C.load_config(str(path)), source=str(path), abi=abi)

    def _fail(self, message: str, field: str | None = None, expected: str | None = None):
        raise InputError(message, source=self._source, field=field, expected=expected)

    def _names(self, kind: str, names, what: str) -> tuple[set[str], set[str]]:
        """(all rights, rights named one by one) from names and abi.* groups."""
        known = set(R.KINDS[kind]) | set(R.GROUPS[kind])
        out: set[str] = set()
        named: set[str] = set()
        for n in _as_list(names):
            if not isinstance(n, str) or n not in known:
                self._fail(f"unknown {what} {n!r}", what,
                           "one of " + ", ".join(list(R.KINDS[kind]) + list(R.GROUPS[kind])))
            if n.startswith("abi."):
                out |= R.expand_group(kind, n, max(self.abi, 1))
            else:
                out.add(n)
                named.add(n)
        return out, named

    def handle_fs(self, *rights: str) -> "Ruleset":
        """Restrict these filesystem rights (names or abi.* groups) instead of all of them.
        Rights granted by rules are always handled too."""
        got, _ = self._names("fs", rights, "filesystem right")
        self._handled["fs"] = (self._handled["fs"] or set()) | got
        return self

    def handle_net(self, *rights: str) -> "Ruleset":
        got, _ = self._names("net", rights, "network right")
        self._handled["net"] = (self._handled["net"] or set()) | got
        return self

    def scope(self, *scopes: str) -> "Ruleset":
        """Turn on these scopes (``abstract_unix_socket``, ``signal``) instead of all of them;
        ``scope()`` with no argument turns scoping off."""
        got, _ = self._names("scope", scopes, "scope")
        self._handled["scope"] = (self._handled["scope"] or set()) | got
        return self

    def _rule(self, path) -> _PathRule:
        p = os.fspath(path)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not p or "\0" in p:
            self._fail(f"invalid path {p!r}", "path", "a non-empty path")
        key = C.normalize_path(p)
        if key not in self._paths:
            self._paths[key] = _PathRule(key)
        return self._paths[key]

    def allow(self, paths, rights, *, may_not_exist: bool = False) -> "Ruleset":
        """Grant filesystem ``rights`` (names or abi.* groups) beneath each of ``paths``.

        A directory-only right named explicitly for a non-directory is an error; one that
        came with a group is left out for that path. Missing paths are an error unless
        ``may_not_exist``.
        """
        got, named = self._names("fs", rights, "filesystem right")
        for p in _as_list(paths):
            rule = self._rule(p)
            rule.rights |= got
            rule.named |= named
            rule.may_not_exist = rule.may_not_exist or may_not_exist
        return self

    def _allow_plain(self, paths, rights: set[str], may_not_exist: bool) -> "Ruleset":
        for p in paths:
            rule = self._rule(p)
            rule.rights |= rights
            rule.may_not_exist = rule.may_not_exist or may_not_exist
        return self

    def allow_read(self, *paths, may_not_exist: bool = False) -> "Ruleset":
        """Read files and list directories beneath ``paths``."""
        return self._allow_plain(paths, {"read_file", "read_dir"}, may_not_exist)

    def allow_read_exec(self, *paths, may_not_exist: bool = False) -> "Ruleset":
        """Read, list and execute (and map executable) beneath ``paths``."""
        return self._allow_plain(paths, {"read_file", "read_dir", "execute"}, may_not_exist)

    def allow_write(self, *paths, may_not_exist: bool = False) -> "Ruleset":
        """Read and write beneath ``paths``: everything but execute (``abi.read_write`` at the
        ABI in use): create, remove, rename (refer), truncate, device ioctls."""
        return self._allow_plain(paths, set(R.expand_group("fs", R.GROUP_READ_WRITE,
                                                           max(self.abi, 1))), may_not_exist)

    def _ports_of(self, ports) -> list[int]:
        out = []
        for p in ports:
            for q in _as_list(p):
                if isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= C.MAX_PORT:
                    self._fail(f"port {q!r} out of range", "port", "a TCP port number 0..65535")
                out.append(q)
        return out

    def allow_connect_tcp(self, *ports: int) -> "Ruleset":
        for p in self._ports_of(ports):
            self._ports.setdefault(p, set()).add("connect_tcp")
        return self

    def allow_bind_tcp(self, *ports: int) -> "Ruleset":
        for p in self._ports_of(ports):
            self._ports.setdefault(p, set()).add("bind_tcp")
        return self

    def allow_port(self, ports, rights) -> "Ruleset":
        got, _ = self._names("net", rights, "network right")
        for p in self._ports_of(_as_list(ports)):
            self._ports.setdefault(p, set()).update(got)
        return self

    # -- enforcement -------------------------------------------------------------------------

    def requested(self, abi: int | None = None) -> tuple[set[str], set[str], set[str]]:
        """The handled rights and scopes asked for (defaults: all of ``abi``'s)."""
        a = self.abi if abi is None else abi
        out = []
        for kind in ("fs", "net", "scope"):
            h = self._handled[kind]
            out.append(set(R.rights_for_abi(kind, a)) if h is None else set(h))
        fs, net, scope = out
        for rule in self._paths.values():
            fs |= rule.rights
        for rights in self._ports.values():
            net |= rights
        return fs, net, scope

    def rule_paths(self) -> list[str]:
        """The paths the rules name (opened when the ruleset is applied)."""
        return [rule.path for rule in self._paths.values()]

    def _open_paths(self) -> tuple[list[tuple[_PathRule, int, set[str]]], list[str]]:
        """Open every rule's path (O_PATH) and fit its rights to the file type.

        Raises InputError for a missing unmarked path or a directory-only right named for a
        non-directory; closes what it opened when it does.
        """
        opened: list[tuple[_PathRule, int, set[str]]] = []
        skipped: list[str] = []
        try:
            for rule in self._paths.values():
                try:
                    fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
                except OSError as e:
                    if e.errno in (errno.ENOENT, errno.ENOTDIR) and rule.may_not_exist:
                        skipped.append(rule.path)
                        continue
                    if e.errno in (errno.ENOENT, errno.ENOTDIR):
                        self._fail(f"path {rule.path!r} does not exist", "pathBeneath.parent",
                                   "an existing path, or one marked as may-not-exist "
                                   f"(variable '{C.MAY_NOT_EXIST_VARIABLE}' in a config, "
                                   "may_not_exist=True in the API)")
                    self._fail(f"cannot open path {rule.path!r}: {e.strerror}",
                               "pathBeneath.parent", "a path this process can open")
                rights = set(rule.rights)
                try:
                    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
                except OSError:
                    os.close(fd)
                    raise
                if not is_dir:
                    bad = rule.named & R.DIR_ONLY_RIGHTS
                    if bad:
                        os.close(fd)
                        self._fail(f"{rule.path!r} is not a directory, but the rule names "
                                   f"directory-only rights {', '.join(R.sort_rights('fs', bad))}",
                                   "pathBeneath.allowedAccess",
                                   "only " + ", ".join(R.sort_rights("fs", R.FILE_RIGHTS))
                                   + " for a file")
                    rights &= R.FILE_RIGHTS
                opened.append((rule, fd, rights))
        except BaseException:
            for _rule, fd, _r in opened:
                os.close(fd)
            raise
        return opened, skipped

    def restrict_self(self, compat: CompatLevel | str = CompatLevel.BEST_EFFORT, *, log_new_exec: bool = False,
                      log_same_exec: bool = True, log_subdomains: bool = True
                      ) -> RulesetStatus:
        """Apply the ruleset to this thread (all threads with TSYNC) and its future children.

        Irreversible. Sets no_new_privs. ``log_*`` map to the ABI 7 audit flags
        (``log_new_exec=True`` logs denials after execve too, which `verify` wants).
        Returns a :class:`RulesetStatus`; see the module docstring for ``compat``.
        """
        compat = CompatLevel.parse(compat, "compat")
        if self._used:
            raise LandlockError("this Ruleset was already applied; build a new one")
        kabi_real = A.kernel_abi()
        kabi = self.abi
        status = RulesetStatus(state=RulesetState.NOT_ENFORCED, abi=kabi, kernel_abi=kabi_real,
                               compat=compat)

        # Input errors first, whatever the kernel: nothing is applied when the input is bad.
        opened, skipped = self._open_paths()
        status.skipped_paths = skipped
        try:
            return self._restrict(status, opened, compat, log_new_exec, log_same_exec,
                                  log_subdomains)
        finally:
            for _rule, fd, _r in opened:
                os.close(fd)

    def _restrict(self, status: RulesetStatus, opened, compat, log_new_exec, log_same_exec,
                  log_subdomains) -> RulesetStatus:
        kabi = status.abi
        if kabi < 1:
            plan = P.plan(kabi, compat, fs=(), net=(), scope=(),
                          unavailable=(A.query_abi()[1] if status.kernel_abi < 1
                                       else "ABI 0 requested"))
        else:
            fs, net, scope = self.requested(kabi)
            plan = P.plan(kabi, compat, fs=fs, net=net, scope=scope,
                          rules=[(rule.path, rights) for rule, _fd, rights in opened],
                          ports=self._ports, log_new_exec=log_new_exec,
                          log_same_exec=log_same_exec, log_subdomains=log_subdomains,
                          other_threads=_other_threads())
        status.notes += plan.notes
        status.all_threads = plan.all_threads
        if not plan.apply:
            return self._refuse_or_report(status, plan.dropped, compat, applied=False)
        return self._apply(status, plan, opened)

    def _apply(self, status: RulesetStatus, plan: P.Plan, opened) -> RulesetStatus:
        """Carry out ``plan``: create the ruleset, add its rules, set no_new_privs, restrict."""
        attr = A.RulesetAttr(handled_access_fs=R.to_mask("fs", plan.fs),
                             handled_access_net=R.to_mask("net", plan.net),
                             scoped=R.to_mask("scope", plan.scope))
        try:
            ruleset_fd = A.create_ruleset(attr, A.ruleset_attr_size(plan.abi), 0)
        except OSError as e:
            raise LandlockError(f"landlock_create_ruleset failed: {e.strerror}") from None
        try:
            for i, rights in plan.rules:
                rule, fd, _asked = opened[i]
                try:
                    A.add_path_rule(ruleset_fd, R.to_mask("fs", rights), fd)
                except OSError as e:
                    raise LandlockError(f"landlock_add_rule({rule.path!r}, "
                                        f"{', '.join(R.sort_rights('fs', rights))}) failed: "
                                        f"{e.strerror}") from None
            for port, rights in plan.ports.items():
                try:
                    A.add_port_rule(ruleset_fd, R.to_mask("net", rights), port)
                except OSError as e:
                    raise LandlockError(f"landlock_add_rule(port {port}) failed: "
                                        f"{e.strerror}") from None
            try:
                A.set_no_new_privs()
            except OSError as e:
                raise LandlockError(f"cannot set no_new_privs: {e.strerror}") from None
            status.no_new_privs = True
            try:
                A.restrict_self(ruleset_fd, plan.flags)
            except OSError as e:
                raise LandlockError(f"landlock_restrict_self failed: {e.strerror}") from None
        finally:
            os.close(ruleset_fd)
        self._used = True
        status.state = (RulesetState.PARTIALLY_ENFORCED if plan.weakening
                        else RulesetState.FULLY_ENFORCED)
        status.handled_fs, status.handled_net, status.scoped = plan.fs, plan.net, plan.scope
        status.path_rules = len(plan.rules)
        status.port_rules = len(plan.ports)
        status.dropped = plan.dropped
        return status

    @staticmethod
    def _refuse_or_report(status: RulesetStatus, drops: list[Dropped], compat: str,
                          applied: bool) -> RulesetStatus:
        status.dropped = drops
        status.state = RulesetState.NOT_ENFORCED
        if compat == CompatLevel.HARD:
            raise CompatibilityError(
                f"Landlock cannot be fully enforced (ABI {status.abi}), refusing under "
                "compat=hard: " + "; ".join(str(d) for d in drops if d.weakens))
        if compat == CompatLevel.SOFT:
            status.notes.append("compat=soft: nothing applied rather than a partial sandbox")
        return status


def _other_threads() -> int:
    try:
        return max(0, len(os.listdir("/proc/self/task")) - 1)
    except OSError:
        import threading

        return max(0, threading.active_count() - 1)


def abi_version() -> int:
    """The running kernel's Landlock ABI (0 when Landlock is unavailable)."""
    return A.kernel_abi()
