"""Reading a seccomp profile: OCI JSON, or an SPO ``SeccompProfile`` (YAML or JSON).

Every field is checked before anything is enforced; a problem is an :class:`InputError`
naming the file, the field and what was expected. Syscall names must be known to libseccomp
on at least one of the profile's architectures (a name that exists only on a companion ABI,
such as ``_llseek`` on x86, is fine: libseccomp resolves names per architecture).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .. import schema
from ..choices import Choice
from ..errors import InputError
from ..fileio import load_yaml_all, parse_json, read_text
from ..syscalls import KNOWN_ARCHES, all_syscalls, native_arch, syscall_number


class Action(Choice):
    """A seccomp action as profiles spell it; parsed once, when a profile is read.

    A member is also the string it stands for (``Action.ALLOW == "SCMP_ACT_ALLOW"``), so
    profile dicts and messages keep the OCI spelling."""

    ALLOW = "SCMP_ACT_ALLOW"
    ERRNO = "SCMP_ACT_ERRNO"
    KILL = "SCMP_ACT_KILL"
    KILL_PROCESS = "SCMP_ACT_KILL_PROCESS"
    KILL_THREAD = "SCMP_ACT_KILL_THREAD"
    TRAP = "SCMP_ACT_TRAP"
    LOG = "SCMP_ACT_LOG"
    TRACE = "SCMP_ACT_TRACE"

    @property
    def passes(self) -> bool:
        """Whether a call this action answers goes through (ALLOW, or LOG which only logs)."""
        return self in (Action.ALLOW, Action.LOG)

    @property
    def blocks(self) -> bool:
        """Whether a call this action answers is stopped (errno, kill, trap, trace)."""
        return not self.passes

    @property
    def takes_errno(self) -> bool:
        """Whether the action carries an errno (``errnoRet``/``defaultErrnoRet``)."""
        return self in (Action.ERRNO, Action.TRACE)


ACTIONS = tuple(a.value for a in Action)


class DefaultAction(Choice):
    """What a generated profile does with a call it does not allow (``--default-action``):
    EPERM, ENOSYS, kill the process, or let it through and log it."""

    ERRNO = "errno"
    ENOSYS = "enosys"
    KILL = "kill"
    LOG = "log"

    @classmethod
    def noun(cls) -> str:
        return "default action"

    @classmethod
    def expected(cls) -> str:
        return ", ".join(a.value for a in cls)

    @property
    def action(self) -> Action:
        """The profile's ``defaultAction``."""
        return _DEFAULT_ACTIONS[self][0]

    @property
    def errno_ret(self) -> int | None:
        """The profile's ``defaultErrnoRet`` (None: the action takes none)."""
        return _DEFAULT_ACTIONS[self][1]

    @property
    def blocks(self) -> bool:
        """Whether the profile stops the calls it does not allow (every one but ``log``)."""
        return self.action.blocks

    @property
    def described(self) -> str:
        return _DEFAULT_ACTIONS[self][2]


class ProfileFormat(Choice):
    """How a seccomp profile is written: ``oci`` JSON, ``spo`` YAML, ``systemd`` drop-in."""

    OCI = "oci"
    SPO = "spo"
    SYSTEMD = "systemd"

    @classmethod
    def expected(cls) -> str:
        return ", ".join(f.value for f in cls)

    @classmethod
    def implied_by(cls, path: str) -> "ProfileFormat | None":
        """The format a file's extension implies: what a reader of the file expects to find
        in it (.json OCI, .yaml/.yml SPO, .conf systemd); None for any other name."""
        return _FORMAT_OF_EXTENSION.get(os.path.splitext(path)[1].lower())

    @classmethod
    def of_output(cls, path: str) -> "ProfileFormat":
        """The format an output file's name asks for: the one its extension implies, else
        OCI."""
        return cls.implied_by(path) or cls.OCI


_FORMAT_OF_EXTENSION = {".json": ProfileFormat.OCI, ".yaml": ProfileFormat.SPO,
                        ".yml": ProfileFormat.SPO, ".conf": ProfileFormat.SYSTEMD}


OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
             "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SPO_GROUP = "security-profiles-operator.x-k8s.io"
SPO_VERSIONS = (f"{SPO_GROUP}/v1", f"{SPO_GROUP}/v1beta1")
OCI_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "syscalls", "flags"}
OCI_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
             "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
# the SeccompProfile resource's spec: no defaultErrnoRet (its SCMP_ACT_ERRNO answers EPERM)
SPO_SPEC_KEYS = (OCI_KEYS - {"defaultErrnoRet"}) | {"baseProfileName", "listenerPath",
                                                    "listenerMetadata", "state"}
U64 = 2 ** 64
EPERM = 1
ENOSYS = 38
# A syscall libc retries as another when the kernel answers ENOSYS: glibc (2.34+) creates
# threads and spawns through clone3 and falls back to clone, whose flags a filter can read.
FALLBACKS = {"clone3": "clone"}
# DefaultAction -> the profile's action, its errno and how the summary says it
_DEFAULT_ACTIONS = {DefaultAction.ERRNO: (Action.ERRNO, EPERM, "errno EPERM"),
                    DefaultAction.ENOSYS: (Action.ERRNO, ENOSYS, "errno ENOSYS"),
                    DefaultAction.KILL: (Action.KILL_PROCESS, None, "kill the process"),
                    DefaultAction.LOG: (Action.LOG, None, "log only (nothing blocked)")}


@dataclass(frozen=True)
class ArgCondition:
    index: int
    op: str
    value: int
    value_two: int = 0


@dataclass(frozen=True)
class SyscallRule:
    names: tuple[str, ...]
    action: Action
    errno_ret: int | None = None
    args: tuple[ArgCondition, ...] = ()


@dataclass
class SeccompProfile:
    default_action: Action
    default_errno_ret: int | None
    architectures: list[str]
    rules: list[SyscallRule] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    source: str = "<profile>"
    format: ProfileFormat = ProfileFormat.OCI     # as read: OCI or SPO
    name: str | None = None      # the SPO resource's metadata.name

    def allowed_syscalls(self, *, conditional: bool = True) -> set[str]:
        """The syscall names this profile lets through (SCMP_ACT_ALLOW or SCMP_ACT_LOG).

        With a blocking default: the names of the allow rules. With an allowing default
        (ALLOW or LOG): every name libseccomp knows on the profile's architectures except
        those a blocking rule covers. A rule with argument conditions lets some calls through
        and stops others: ``conditional`` says whether its names count as allowed.
        """
        if self.default_action.passes:
            out = {n for a in self.architectures for n in all_syscalls(a).values()}
            for r in self.rules:
                if r.action.blocks and (not r.args or not conditional):
                    out.difference_update(r.names)
            return out
        out = set()
        for r in self.rules:
            if r.action.passes and (conditional or not r.args):
                out.update(r.names)
        return out

    def enosys_by_design(self) -> dict[str, str]:
        """The syscalls this profile answers ENOSYS on purpose, each with its fallback.

        A syscall counts when an unconditional SCMP_ACT_ERRNO rule answers it ENOSYS, libc
        falls back from it to another (:data:`FALLBACKS`) and the profile allows that one
        (with or without conditions): ``clone3`` answered ENOSYS beside an allowed ``clone``.
        Such an answer is the profile working as meant, not something the workload lacks."""
        allowed = self.allowed_syscalls()
        out: dict[str, str] = {}
        for r in self.rules:
            if r.action == Action.ERRNO and r.errno_ret == ENOSYS and not r.args:
                for n in r.names:
                    if n in FALLBACKS and FALLBACKS[n] in allowed:
                        out[n] = FALLBACKS[n]
        return out

    def to_oci(self) -> dict[str, Any]:
        d: dict[str, Any] = {"defaultAction": self.default_action.value}
        if self.default_errno_ret is not None:
            d["defaultErrnoRet"] = self.default_errno_ret
        d["architectures"] = list(self.architectures)
        if self.flags:
            d["flags"] = list(self.flags)
        rules = []
        for r in self.rules:
            rd: dict[str, Any] = {"names": list(r.names), "action": r.action.value}
            if r.errno_ret is not None:
                rd["errnoRet"] = r.errno_ret
            if r.args:
                rd["args"] = [{"index": a.index, "value": a.value, "valueTwo": a.value_two,
                               "op": a.op} for a in r.args]
            rules.append(rd)
        d["syscalls"] = rules
        return d

    def effective_default(self) -> tuple[Action, int | None]:
        """The default action and its errno, with SCMP_ACT_ERRNO's implicit EPERM spelled out
        (SPO cannot write defaultErrnoRet; the runtimes use EPERM)."""
        errno_ret = self.default_errno_ret
        if self.default_action.takes_errno and errno_ret is None:
            errno_ret = EPERM
        return self.default_action, errno_ret


# -- parsing ---------------------------------------------------------------------------------

def _fail(source: str, fld: str, message: str, expected: str) -> None:
    raise InputError(message, source=source, field=fld, expected=expected)


def _int(v: Any, source: str, fld: str, lo: int, hi: int, what: str) -> int:
    if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v < hi):
        _fail(source, fld, f"invalid value {v!r}", what)
    return v


def _action(value: Any, errno_ret: Any, source: str, fld: str, errno_fld: str
            ) -> tuple[Action, int | None]:
    """An action and its errno, checked: the one place a profile's action is parsed."""
    if value not in ACTIONS:
        extra = " (needs a notify listener)" if value == "SCMP_ACT_NOTIFY" else ""
        _fail(source, fld, f"unknown action {value!r}{extra}", "one of " + ", ".join(ACTIONS))
    action = Action(value)
    if errno_ret is not None:
        _int(errno_ret, source, errno_fld, 0, 4096, "an errno 0..4095")
        if not action.takes_errno:
            _fail(source, errno_fld, f"given with {action}",
                  "only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
    return action, errno_ret


def _parse_text(text: str, source: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        return parse_json(text, source)
    docs = [d for d in load_yaml_all(text, source) if d is not None]
    if len(docs) != 1:
        raise InputError(f"{len(docs)} YAML documents", source=source,
                         expected="exactly one profile")
    return docs[0]


def load_profile(path: str) -> SeccompProfile:
    """Read and validate an OCI seccomp profile or an SPO SeccompProfile."""
    data = _parse_text(read_text(path, "seccomp profile"), path)
    return profile_from_data(data, source=path)


def profile_from_data(data: Any, source: str = "<profile>") -> SeccompProfile:
    if not isinstance(data, dict):
        _fail(source, "(top level)", f"not a seccomp profile ({type(data).__name__})",
              "an object with defaultAction, architectures and syscalls")
    if "kind" in data or "apiVersion" in data:
        kind, api = data.get("kind"), data.get("apiVersion")
        if kind != "SeccompProfile":
            hint = (" (a recording: make a profile with `sandprint generate seccomp`)"
                    if kind == "Recording" else "")
            _fail(source, "kind", f"wrong kind {kind!r}{hint}",
                  "'SeccompProfile', or an OCI profile without kind")
        if api not in SPO_VERSIONS:
            _fail(source, "apiVersion", f"unsupported apiVersion {api!r}",
                  " or ".join(SPO_VERSIONS))
        meta = data.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        spec = data.get("spec")
        if not isinstance(spec, dict):
            _fail(source, "spec", "missing or not an object", "an object with defaultAction")
        for key in spec:
            if key not in SPO_SPEC_KEYS:
                extra = (" (the SeccompProfile has none: its SCMP_ACT_ERRNO answers EPERM)"
                         if key == "defaultErrnoRet" else "")
                _fail(source, f"spec.{key}", f"unknown field{extra}",
                      "one of " + ", ".join(sorted(SPO_SPEC_KEYS)))
        if spec.get("baseProfileName"):
            _fail(source, "spec.baseProfileName",
                  f"base profile {spec['baseProfileName']!r} cannot be resolved outside the "
                  "cluster", "a self-contained profile")
        if spec.get("listenerPath"):
            _fail(source, "spec.listenerPath", "needs the operator's notify listener",
                  "a profile without listenerPath")
        profile = _parse_body(spec, source, "spec.", "spo", name if isinstance(name, str) else None)
        schema.check(spec, "seccompprofile-spec", source, prefix="spec.")
        return profile
    for key in data:
        if key not in OCI_KEYS:
            extra = (" (Docker-only key; give a plain OCI profile)"
                     if key in ("archMap", "defaultErrno") else "")
            _fail(source, key, f"unknown field{extra}", "one of " + ", ".join(sorted(OCI_KEYS)))
    profile = _parse_body(data, source, "", "oci", None)
    schema.check(data, "seccomp-oci", source)
    return profile


def _parse_body(body: dict[str, Any], source: str, prefix: str, fmt: str,
                name: str | None) -> SeccompProfile:
    p = prefix
    default = body.get("defaultAction")
    if default is None:
        _fail(source, f"{p}defaultAction", "missing", "one of " + ", ".join(ACTIONS))
    default, default_errno = _action(default, body.get("defaultErrnoRet"), source,
                                     f"{p}defaultAction", f"{p}defaultErrnoRet")

    arches = body.get("architectures")
    if arches is None:
        arches = []
    if not isinstance(arches, list) or not all(isinstance(a, str) for a in arches):
        _fail(source, f"{p}architectures", "not a list of strings", "a list of SCMP_ARCH_* names")
    native = native_arch()
    resolved: list[str] = []
    for i, a in enumerate(arches):
        if a == "SCMP_ARCH_NATIVE":
            a = native
        if a not in KNOWN_ARCHES:
            _fail(source, f"{p}architectures[{i}]", f"unknown architecture {a!r}",
                  "an SCMP_ARCH_* name libseccomp knows")
        if a not in resolved:
            resolved.append(a)
    if not resolved:
        resolved = [native]
    elif native not in resolved:
        # A filter for other ABIs only would leave this machine's own syscalls unfiltered by
        # rules (libseccomp always covers the native ABI): refuse rather than guess.
        _fail(source, f"{p}architectures", f"does not include this machine's {native}",
              f"a list containing {native}")

    flags = body.get("flags") or []
    if not isinstance(flags, list) or any(f not in OCI_FLAGS for f in flags):
        _fail(source, f"{p}flags", f"invalid flags {flags!r}", "a list of " + ", ".join(OCI_FLAGS))

    syscalls = body.get("syscalls")
    if syscalls is None:
        syscalls = []
    if not isinstance(syscalls, list):
        _fail(source, f"{p}syscalls", "not a list", "a list of {names, action} objects")
    rules: list[SyscallRule] = []
    for i, sd in enumerate(syscalls):
        w = f"{p}syscalls[{i}]"
        if not isinstance(sd, dict):
            _fail(source, w, "not an object", "an object with names and action")
        for key in sd:
            if key not in ("names", "name", "action", "errnoRet", "args", "comment"):
                extra = " (Docker-only key)" if key in ("includes", "excludes") else ""
                _fail(source, f"{w}.{key}", f"unknown field{extra}",
                      "names, action, errnoRet, args")
        names = sd.get("names")
        if names is None and isinstance(sd.get("name"), str):
            names = [sd["name"]]
        if not isinstance(names, list) or not names or \
                not all(isinstance(n, str) for n in names):
            _fail(source, f"{w}.names", "missing, empty or not a list of strings",
                  "a non-empty list of syscall names")
        for j, n in enumerate(names):
            if not any(syscall_number(a, n) is not None for a in resolved):
                _fail(source, f"{w}.names[{j}]", f"unknown syscall {n!r}",
                      f"a syscall name libseccomp knows on {', '.join(resolved)}")
        action, errno_ret = _action(sd.get("action"), sd.get("errnoRet"), source,
                                    f"{w}.action", f"{w}.errnoRet")
        args_in = sd.get("args") or []
        if not isinstance(args_in, list) or len(args_in) > 6:
            _fail(source, f"{w}.args", "invalid", "a list of at most 6 conditions")
        args = []
        for k, ad in enumerate(args_in):
            aw = f"{w}.args[{k}]"
            if not isinstance(ad, dict):
                _fail(source, aw, "not an object", "an object with index, value, op")
            idx = _int(ad.get("index"), source, f"{aw}.index", 0, 6, "an argument index 0..5")
            op = ad.get("op")
            if op not in OPERATORS:
                _fail(source, f"{aw}.op", f"unknown operator {op!r}",
                      "one of " + ", ".join(OPERATORS))
            value = _int(ad.get("value", 0), source, f"{aw}.value", 0, U64, "a 64-bit unsigned")
            value_two = _int(ad.get("valueTwo", 0), source, f"{aw}.valueTwo", 0, U64,
                             "a 64-bit unsigned")
            args.append(ArgCondition(idx, op, value, value_two))
        rules.append(SyscallRule(tuple(names), action, errno_ret, tuple(args)))
    return SeccompProfile(default_action=default, default_errno_ret=default_errno,
                          architectures=resolved, rules=rules, flags=list(flags),
                          source=source, format=ProfileFormat(fmt), name=name)
