"""The recording: what one or more runs of a workload did, and the only thing generators read.

A recording is JSON::

    {"apiVersion": "sandprint/v1", "kind": "Recording",
     "metadata": {...target, kernel, arch, landlockABI, start, end, toolVersion, lostEvents...},
     "targets": [{"name": "main", "syscalls": {"read": 12, ...}, "files": [...],
                  "network": [...], "execs": [...], "processes": 3}]}

A recording may hold several targets (the containers of a pod, say); each generator output is
made per target. Recordings merge by union: counts add up, accesses and rights unite, and the
provenance of every run is kept in ``metadata.sources``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import __version__
from .errors import InputError
from .fileio import read_json, write_json
from .landlock import rights as _rights
from .landlock.ops import rights_diff
from .syscalls import KNOWN_ARCHES, syscall_number
from .textdiff import set_diff

API_VERSION = "sandprint/v1"
KIND = "Recording"

# Landlock filesystem access rights, in Landlock's own vocabulary (landlockconfig names).
FS_RIGHTS = tuple(_rights.FS_RIGHTS)


def utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class FileAccess:
    """One path and the Landlock rights the target exercised on it."""

    path: str
    access: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)     # rights attempted but refused (EACCES/EPERM)
    kind: str | None = None                            # file, dir, symlink, char, block, fifo, sock
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "access": sorted(self.access)}
        if self.denied:
            d["denied"] = sorted(self.denied)
        if self.kind:
            d["kind"] = self.kind
        d["count"] = self.count
        return d

    def merge(self, other: "FileAccess") -> None:
        self.access |= other.access
        self.denied |= other.denied
        kinds = [k for k in (self.kind, other.kind) if k]
        self.kind = min(kinds) if kinds else None     # order-independent (merge commutes)
        self.count += other.count


@dataclass
class NetAccess:
    """A port bound or connected to (or a UNIX socket path/abstract name)."""

    op: str                 # bind | connect | listen
    protocol: str           # tcp | udp | unix
    family: str             # inet | inet6 | unix
    port: int | None = None
    address: str | None = None
    count: int = 1

    def key(self) -> tuple:
        return (self.op, self.protocol, self.family, self.port, self.address)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op, "protocol": self.protocol, "family": self.family}
        if self.port is not None:
            d["port"] = self.port
        if self.address is not None:
            d["address"] = self.address
        d["count"] = self.count
        return d


@dataclass
class ExecRecord:
    path: str
    argv: list[str] = field(default_factory=list)
    count: int = 1

    def key(self) -> tuple:
        return (self.path, tuple(self.argv))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "argv": list(self.argv), "count": self.count}


@dataclass
class Target:
    """What one target (a command tree, a container ...) did."""

    name: str = "main"
    syscalls: dict[str, int] = field(default_factory=dict)
    files: dict[str, FileAccess] = field(default_factory=dict)
    network: dict[tuple, NetAccess] = field(default_factory=dict)
    execs: dict[tuple, ExecRecord] = field(default_factory=dict)
    signals: list[dict[str, Any]] = field(default_factory=list)
    processes: int = 0
    info: dict[str, Any] = field(default_factory=dict)   # container id, image, runtime ...
    # syscall name -> {masked value tuple (seccomp.argspec.ARG_RULES order) -> count}
    args: dict[str, dict[tuple[int, ...], int]] = field(default_factory=dict)
    # syscalls made through another ABI than metadata.arch (i386 `int 0x80` on x86_64):
    # arch (SCMP_ARCH_*) -> {name on that arch -> count}; never filed under native names
    compat_syscalls: dict[str, dict[str, int]] = field(default_factory=dict)
    # capability (CAP_*) -> the evidence that the workload used it, one line per kind of use
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    # ARG_RULES syscalls a merged-in run made without its arguments being read (a `watch`
    # recording of audit records, or one from before arguments were recorded): the union
    # knows these calls happened with values it never saw
    args_unknown: set[str] = field(default_factory=set)

    def add_syscall(self, name: str, count: int = 1) -> None:
        self.syscalls[name] = self.syscalls.get(name, 0) + count

    def add_file(self, path: str, rights: Iterable[str], *, denied: Iterable[str] = (),
                 kind: str | None = None) -> None:
        entry = self.files.get(path)
        new = FileAccess(path, set(rights), set(denied), kind)
        if entry is None:
            self.files[path] = new
        else:
            entry.merge(new)

    def add_args(self, name: str, values: tuple[int, ...], count: int = 1) -> None:
        """Count one call of ``name`` with these decisive argument values (masked)."""
        per = self.args.setdefault(name, {})
        key = tuple(int(v) for v in values)
        per[key] = per.get(key, 0) + count

    def add_compat_syscall(self, arch: str, name: str, count: int = 1) -> None:
        per = self.compat_syscalls.setdefault(arch, {})
        per[name] = per.get(name, 0) + count

    def add_capability(self, cap: str, evidence: str) -> None:
        """Note that the workload used ``cap`` (e.g. ``CAP_NET_BIND_SERVICE``) and why."""
        reasons = self.capabilities.setdefault(cap, [])
        if evidence not in reasons:
            reasons.append(evidence)
            reasons.sort()

    def add_net(self, access: NetAccess) -> None:
        entry = self.network.get(access.key())
        if entry is None:
            self.network[access.key()] = access
        else:
            entry.count += access.count

    def add_exec(self, path: str, argv: list[str]) -> None:
        rec = ExecRecord(path, list(argv))
        entry = self.execs.get(rec.key())
        if entry is None:
            self.execs[rec.key()] = rec
        else:
            entry.count += 1

    def merge(self, other: "Target") -> None:
        for name, n in other.syscalls.items():
            self.add_syscall(name, n)
        for path, fa in other.files.items():
            if path in self.files:
                self.files[path].merge(fa)
            else:
                self.files[path] = dataclasses.replace(fa, access=set(fa.access),
                                                       denied=set(fa.denied))
        for key, na in other.network.items():
            if key in self.network:
                self.network[key].count += na.count
            else:
                self.network[key] = dataclasses.replace(na)
        for key, ex in other.execs.items():
            if key in self.execs:
                self.execs[key].count += ex.count
            else:
                self.execs[key] = dataclasses.replace(ex, argv=list(ex.argv))
        for sig in other.signals:
            if sig not in self.signals:
                self.signals.append(dict(sig))
        self.signals.sort(key=_canonical)
        self.processes += other.processes
        for name, per in other.args.items():
            for values, n in per.items():
                self.add_args(name, values, n)
        for arch, per in other.compat_syscalls.items():
            for name, n in per.items():
                self.add_compat_syscall(arch, name, n)
        for cap, reasons in other.capabilities.items():
            for r in reasons:
                self.add_capability(cap, r)
        self.args_unknown |= other.args_unknown
        for k, v in other.info.items():
            # order-independent: on a conflict the smaller value (canonical JSON) wins
            if k not in self.info or _canonical(v) < _canonical(self.info[k]):
                self.info[k] = v

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "processes": self.processes,
            "syscalls": dict(sorted(self.syscalls.items())),
            "files": [self.files[p].to_json() for p in sorted(self.files)],
            "network": [n.to_json() for n in sorted(self.network.values(),
                                                     key=lambda n: repr(n.key()))],
            "execs": [e.to_json() for e in sorted(self.execs.values(),
                                                  key=lambda e: e.key())],
        }
        if self.signals:
            d["signals"] = self.signals
        if self.args:
            d["args"] = {name: [{"values": list(v), "count": n}
                                for v, n in sorted(per.items())]
                         for name, per in sorted(self.args.items())}
        if self.compat_syscalls:
            d["compatSyscalls"] = {arch: dict(sorted(per.items()))
                                   for arch, per in sorted(self.compat_syscalls.items())}
        if self.capabilities:
            d["capabilities"] = {cap: list(r) for cap, r in sorted(self.capabilities.items())}
        if self.args_unknown:
            d["argsUnknown"] = sorted(self.args_unknown)
        if self.info:
            d["info"] = self.info
        return d


@dataclass
class Recording:
    metadata: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    @classmethod
    def new(cls, target: dict[str, Any], *, arch: str, landlock_abi: int | None = None
            ) -> "Recording":
        meta = {
            "target": target,
            "kernel": os.uname().release,
            "arch": arch,
            "landlockABI": landlock_abi,
            "start": utcnow(),
            "end": None,
            "toolVersion": __version__,
            "lostEvents": 0,
            "complete": True,
            "runs": 1,
        }
        return cls(metadata=meta, targets=[])

    @property
    def arch(self) -> str:
        return self.metadata["arch"]

    @property
    def files_recorded(self) -> bool:
        """False for a recording made with ``record --syscalls-only``."""
        return self.metadata.get("filesRecorded", True) is not False

    @property
    def args_recorded(self) -> bool:
        """Whether the recorder read the decisive syscall arguments (``targets[].args``);
        False for recordings made before it did, which say nothing about arguments."""
        return self.metadata.get("argsRecorded") is True

    @property
    def lost_events(self) -> int:
        return int(self.metadata.get("lostEvents") or 0)

    @property
    def complete(self) -> bool:
        return self.metadata.get("complete", True) is not False

    def mark_incomplete(self, reason: str) -> None:
        """Say that this recording misses part of what the workload did, and why
        (``metadata.complete`` false, the reason added to ``metadata.incompleteReasons``)."""
        self.metadata["complete"] = False
        reasons = self.metadata.setdefault("incompleteReasons", [])
        if reason not in reasons:
            reasons.append(reason)

    def target(self, name: str = "main") -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        t = Target(name=name)
        self.targets.append(t)
        return t

    def all_syscalls(self) -> set[str]:
        out: set[str] = set()
        for t in self.targets:
            out |= set(t.syscalls)
        return out

    # -- serialisation ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": self.metadata,
            "targets": [t.to_json() for t in self.targets],
        }

    def save(self, path: str) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str) -> "Recording":
        return cls.from_json(read_json(path, "recording"), source=path)

    @classmethod
    def from_json(cls, data: Any, source: str = "<recording>") -> "Recording":
        return _parse(data, source)


# -- validation ----------------------------------------------------------------------------

def _expect(cond: bool, source: str, fld: str, message: str, expected: str) -> None:
    if not cond:
        raise InputError(message, source=source, field=fld, expected=expected)


def _count(v: Any, source: str, fld: str) -> int:
    _expect(isinstance(v, int) and not isinstance(v, bool) and v >= 0, source, fld,
            f"invalid count {v!r}", "a non-negative integer")
    return v


def _str_list(v: Any, source: str, fld: str) -> list[str]:
    _expect(isinstance(v, list) and all(isinstance(x, str) for x in v), source, fld,
            "invalid value", "a list of strings")
    return list(v)


def _parse(data: Any, source: str) -> Recording:
    _expect(isinstance(data, dict), source, "(top level)", "not a recording",
            "a JSON object")
    _expect(data.get("apiVersion") == API_VERSION, source, "apiVersion",
            f"unsupported value {data.get('apiVersion')!r}", repr(API_VERSION))
    _expect(data.get("kind") == KIND, source, "kind", f"wrong kind {data.get('kind')!r}",
            repr(KIND))
    meta = data.get("metadata")
    _expect(isinstance(meta, dict), source, "metadata", "missing or not an object",
            "an object")
    arch = meta.get("arch")
    _expect(arch in KNOWN_ARCHES, source, "metadata.arch", f"unknown architecture {arch!r}",
            "an SCMP_ARCH_* name")
    lost = meta.get("lostEvents", 0)
    _count(lost, source, "metadata.lostEvents")
    _expect(isinstance(meta.get("complete", True), bool), source, "metadata.complete",
            f"invalid value {meta.get('complete')!r}", "true or false")
    _str_list(meta.get("incompleteReasons", []), source, "metadata.incompleteReasons")
    _expect(isinstance(meta.get("filesRecorded", True), bool), source, "metadata.filesRecorded",
            f"invalid value {meta.get('filesRecorded')!r}", "true or false")
    targets = data.get("targets")
    _expect(isinstance(targets, list), source, "targets", "missing or not a list", "a list")
    rec = Recording(metadata=dict(meta), targets=[])
    seen = set()
    for i, td in enumerate(targets):
        where = f"targets[{i}]"
        _expect(isinstance(td, dict), source, where, "not an object", "an object")
        name = td.get("name", "main")
        _expect(isinstance(name, str) and name != "", source, f"{where}.name",
                f"invalid name {name!r}", "a non-empty string")
        _expect(name not in seen, source, f"{where}.name", f"duplicate target {name!r}",
                "unique target names")
        seen.add(name)
        t = Target(name=name)
        t.processes = _count(td.get("processes", 0), source, f"{where}.processes")
        sc = td.get("syscalls", {})
        _expect(isinstance(sc, dict), source, f"{where}.syscalls", "not an object",
                "an object of syscall name -> count")
        for sname, n in sc.items():
            _expect(syscall_number(arch, sname) is not None, source,
                    f"{where}.syscalls.{sname}", f"unknown syscall {sname!r}",
                    f"a syscall name libseccomp knows on {arch}")
            t.syscalls[sname] = _count(n, source, f"{where}.syscalls.{sname}")
        files = td.get("files", [])
        _expect(isinstance(files, list), source, f"{where}.files", "not a list", "a list")
        for j, fd in enumerate(files):
            fw = f"{where}.files[{j}]"
            _expect(isinstance(fd, dict), source, fw, "not an object", "an object")
            path = fd.get("path")
            _expect(isinstance(path, str) and path.startswith("/"), source, f"{fw}.path",
                    f"invalid path {path!r}", "an absolute path")
            access = _str_list(fd.get("access", []), source, f"{fw}.access")
            denied = _str_list(fd.get("denied", []), source, f"{fw}.denied")
            for r in access + denied:
                _expect(r in FS_RIGHTS, source, f"{fw}.access", f"unknown right {r!r}",
                        "one of " + ", ".join(FS_RIGHTS))
            kind = fd.get("kind")
            _expect(kind is None or isinstance(kind, str), source, f"{fw}.kind",
                    "invalid kind", "a string")
            fa = FileAccess(path, set(access), set(denied), kind,
                            _count(fd.get("count", 1), source, f"{fw}.count"))
            if path in t.files:
                t.files[path].merge(fa)
            else:
                t.files[path] = fa
        net = td.get("network", [])
        _expect(isinstance(net, list), source, f"{where}.network", "not a list", "a list")
        for j, nd in enumerate(net):
            nw = f"{where}.network[{j}]"
            _expect(isinstance(nd, dict), source, nw, "not an object", "an object")
            op, proto, fam = nd.get("op"), nd.get("protocol"), nd.get("family")
            _expect(op in ("bind", "connect", "listen", "send"), source, f"{nw}.op",
                    f"invalid op {op!r}", "bind, connect, listen or send")
            _expect(proto in ("tcp", "udp", "unix", "raw", "other"), source,
                    f"{nw}.protocol", f"invalid protocol {proto!r}", "tcp, udp or unix")
            _expect(isinstance(fam, str), source, f"{nw}.family", "missing", "a string")
            port = nd.get("port")
            _expect(port is None or (isinstance(port, int) and not isinstance(port, bool)
                                     and 0 <= port <= 65535),
                    source, f"{nw}.port", f"invalid port {port!r}", "an integer 0..65535")
            addr = nd.get("address")
            _expect(addr is None or isinstance(addr, str), source, f"{nw}.address",
                    "invalid address", "a string")
            t.add_net(NetAccess(op, proto, fam, port, addr,
                                _count(nd.get("count", 1), source, f"{nw}.count")))
        execs = td.get("execs", [])
        _expect(isinstance(execs, list), source, f"{where}.execs", "not a list", "a list")
        for j, ed in enumerate(execs):
            ew = f"{where}.execs[{j}]"
            _expect(isinstance(ed, dict) and isinstance(ed.get("path"), str), source,
                    f"{ew}.path", "missing path", "an object with a string path")
            rec_ = ExecRecord(ed["path"], _str_list(ed.get("argv", []), source, f"{ew}.argv"),
                              _count(ed.get("count", 1), source, f"{ew}.count"))
            if rec_.key() in t.execs:
                t.execs[rec_.key()].count += rec_.count
            else:
                t.execs[rec_.key()] = rec_
        sigs = td.get("signals", [])
        _expect(isinstance(sigs, list) and all(isinstance(s, dict) for s in sigs), source,
                f"{where}.signals", "invalid", "a list of objects")
        t.signals = [dict(s) for s in sigs]
        info = td.get("info", {})
        _expect(isinstance(info, dict), source, f"{where}.info", "invalid", "an object")
        t.info = dict(info)
        _parse_args(td.get("args", {}), t, source, f"{where}.args")
        unknown = _str_list(td.get("argsUnknown", []), source, f"{where}.argsUnknown")
        for sname in unknown:
            _expect(syscall_number(arch, sname) is not None, source, f"{where}.argsUnknown",
                    f"unknown syscall {sname!r}", f"a syscall name libseccomp knows on {arch}")
        t.args_unknown = set(unknown)
        compat = td.get("compatSyscalls", {})
        _expect(isinstance(compat, dict), source, f"{where}.compatSyscalls", "not an object",
                "an object of architecture -> {syscall name -> count}")
        for carch, per in compat.items():
            cw = f"{where}.compatSyscalls.{carch}"
            _expect(carch in KNOWN_ARCHES and carch != arch, source, cw,
                    f"invalid architecture {carch!r}",
                    f"an SCMP_ARCH_* name other than {arch}")
            _expect(isinstance(per, dict), source, cw, "not an object",
                    "an object of syscall name -> count")
            for sname, n in per.items():
                _expect(syscall_number(carch, sname) is not None, source, f"{cw}.{sname}",
                        f"unknown syscall {sname!r}", f"a syscall name libseccomp knows on {carch}")
                t.add_compat_syscall(carch, sname, _count(n, source, f"{cw}.{sname}"))
        caps = td.get("capabilities", {})
        _expect(isinstance(caps, dict), source, f"{where}.capabilities", "not an object",
                "an object of CAP_* name -> list of evidence strings")
        for cap, reasons in caps.items():
            _expect(isinstance(cap, str) and cap.startswith("CAP_"), source,
                    f"{where}.capabilities", f"invalid capability {cap!r}", "a CAP_* name")
            for r in _str_list(reasons, source, f"{where}.capabilities.{cap}"):
                t.add_capability(cap, r)
        rec.targets.append(t)
    from .schema import check

    check(data, "recording", source)
    return rec


def _arg_rule_names() -> set[str]:
    from .seccomp.argspec import ARG_RULES

    return set(ARG_RULES)


def _parse_args(data: Any, t: Target, source: str, where: str) -> None:
    from .seccomp.argspec import ARG_RULES

    _expect(isinstance(data, dict), source, where, "not an object",
            "an object of syscall name -> list of {values, count}")
    for sname, entries in data.items():
        sw = f"{where}.{sname}"
        _expect(sname in ARG_RULES, source, sw, f"no argument rule for {sname!r}",
                "one of " + ", ".join(sorted(ARG_RULES)))
        _expect(isinstance(entries, list), source, sw, "not a list", "a list of {values, count}")
        width = len(ARG_RULES[sname])
        for j, e in enumerate(entries):
            ew = f"{sw}[{j}]"
            _expect(isinstance(e, dict), source, ew, "not an object", "an object")
            values = e.get("values")
            _expect(isinstance(values, list) and len(values) == width
                    and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 64
                            for v in values),
                    source, f"{ew}.values", f"invalid values {values!r}",
                    f"a list of {width} unsigned 64-bit integers")
            t.add_args(sname, tuple(values), _count(e.get("count", 1), source, f"{ew}.count"))


def _canonical(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def merge(recordings: Iterable[Recording], sources: Iterable[str] | None = None) -> Recording:
    """Union of recordings: per target name, counts add up and accesses unite.

    All recordings must be of the same architecture. ``metadata.sources`` keeps one entry per
    merged run (its target, start, end, kernel and where it came from).
    """
    recs = list(recordings)
    if not recs:
        raise InputError("nothing to merge", expected="at least one recording")
    names = list(sources) if sources is not None else [None] * len(recs)
    arch = recs[0].arch
    out = Recording(metadata={}, targets=[])
    provenance: list[dict[str, Any]] = []
    for rec, src in zip(recs, names):
        if rec.arch != arch:
            raise InputError(f"architecture {rec.arch} differs from {arch}", source=src,
                             field="metadata.arch", expected=arch)
        if rec.metadata.get("sources"):
            provenance.extend(rec.metadata["sources"])
        else:
            entry = {k: rec.metadata.get(k) for k in
                     ("target", "start", "end", "kernel", "lostEvents", "exitStatus")}
            if src:
                entry["file"] = src
            provenance.append(entry)
        for t in rec.targets:
            out.target(t.name).merge(t)
            if not rec.args_recorded:
                out.target(t.name).args_unknown |= set(t.syscalls) & _arg_rule_names()
    provenance.sort(key=_canonical)       # merge is commutative and associative
    first = recs[0].metadata
    kernels = {r.metadata.get("kernel") for r in recs}
    abis = [r.metadata.get("landlockABI") for r in recs
            if isinstance(r.metadata.get("landlockABI"), int)]
    starts = [r.metadata.get("start") for r in recs if r.metadata.get("start")]
    ends = [r.metadata.get("end") for r in recs if r.metadata.get("end")]
    out.metadata = {
        "target": first.get("target") if len(recs) == 1 else {"type": "merged"},
        "kernel": kernels.pop() if len(kernels) == 1 else "mixed",
        "arch": arch,
        "landlockABI": min(abis) if abis else None,     # what every run's kernel has
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "toolVersion": __version__,
        "lostEvents": sum(r.lost_events for r in recs),
        "complete": all(r.metadata.get("complete", True) for r in recs),
        # one run recorded without file accesses leaves the union's file list short
        "filesRecorded": all(r.files_recorded for r in recs),
        # a run without arguments (watch, an older recording) leaves the values of the calls
        # it made unknown: those are named in targets[].argsUnknown, and the other calls
        # keep the values the runs that read them saw
        "argsRecorded": any(r.args_recorded for r in recs),
        "runs": sum(int(r.metadata.get("runs") or 1) for r in recs),
        "sources": provenance,
    }
    reasons = sorted({r for rec in recs for r in rec.metadata.get("incompleteReasons") or []})
    if reasons:
        out.metadata["incompleteReasons"] = reasons
    out.targets.sort(key=lambda t: t.name)
    return out


def diff_recordings(a: Recording, b: Recording) -> list[str]:
    out = []
    ta = {t.name: t for t in a.targets}
    tb = {t.name: t for t in b.targets}
    out += set_diff("target", ta, tb)
    for name in sorted(set(ta) & set(tb)):
        x, y = ta[name], tb[name]
        pre = f"[{name}] " if len(ta) > 1 or len(tb) > 1 else ""
        out += [f"{line[:2]}{pre}{line[2:]}" for line in set_diff("syscall", x.syscalls,
                                                                    y.syscalls)]
        # another ABI's calls (i386 on x86_64), named with their architecture
        ca, cb = ({f"{n} ({arch})" for arch, per in t.compat_syscalls.items() for n in per}
                  for t in (x, y))
        out += [f"{line[:2]}{pre}{line[2:]}" for line in set_diff("syscall", ca, cb)]
        fa = {p: frozenset(f.access) for p, f in x.files.items()}
        fb = {p: frozenset(f.access) for p, f in y.files.items()}
        out += [f"{line[:2]}{pre}{line[2:]}" for line in rights_diff("", fa, fb, "fs")]
        na = {f"{n.protocol} {n.op} {n.port if n.port is not None else n.address}"
              for n in x.network.values()}
        nb = {f"{n.protocol} {n.op} {n.port if n.port is not None else n.address}"
              for n in y.network.values()}
        out += [f"{line[:2]}{pre}{line[2:]}" for line in set_diff("network", na, nb)]
        out += [f"{line[:2]}{pre}{line[2:]}" for line in
                set_diff("exec", {e.path for e in x.execs.values()},
                          {e.path for e in y.execs.values()})]
        out += [f"{line[:2]}{pre}{line[2:]}" for line in
                set_diff("argument", _arg_words(x), _arg_words(y))]
    return out


def _arg_words(t: Target) -> set[str]:
    """``socket AF_INET/SOCK_STREAM``: each recorded argument value tuple, in words."""
    from .seccomp.argrules import describe

    return {f"{name} {describe(name, v)}" for name, per in t.args.items() for v in per}
