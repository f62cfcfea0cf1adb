"""What changed between two recordings, two seccomp profiles or two Landlock rulesets.

Lines read like a unified diff of the *meaning*, not of the text: ``+`` what B allows (or did)
and A does not, ``-`` the reverse, ``~`` a path whose rights changed. Sandboxes are compared
by what they enforce (resolved variables and ``abi.*`` groups, allow lists), so two spellings
of the same sandbox (JSON and TOML, OCI and SPO) have no difference. Like ``diff(1)``,
:func:`diff_files` returns no lines for equal inputs, and ``sandprint diff`` exits 0 then, 1
when there are differences, 2 on bad input.
"""

from __future__ import annotations

import errno
from typing import Any

from .landlock import config as C
from .landlock import rights as R
from .recording import Recording
from .seccomp.profile import SeccompProfile


def _set_diff(label: str, a, b) -> list[str]:
    return ([f"+ {label} {x}" for x in sorted(set(b) - set(a))] +
            [f"- {label} {x}" for x in sorted(set(a) - set(b))])


def effective_default(p: SeccompProfile) -> tuple[str, int | None]:
    """The default action and its errno, with SCMP_ACT_ERRNO's implicit EPERM spelled out
    (SPO cannot write defaultErrnoRet; the runtimes use EPERM)."""
    errno_ret = p.default_errno_ret
    if p.default_action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and errno_ret is None:
        errno_ret = 1
    return p.default_action, errno_ret


def diff_profiles(a: SeccompProfile, b: SeccompProfile) -> list[str]:
    out = []
    if effective_default(a) != effective_default(b):
        out.append(f"~ defaultAction {a.default_action} -> {b.default_action}"
                   + (f" (errno {a.default_errno_ret} -> {b.default_errno_ret})"
                      if a.default_errno_ret != b.default_errno_ret else ""))
    out += _set_diff("architecture", a.architectures, b.architectures)
    out += _set_diff("syscall", a.allowed_syscalls(conditional=False),
                     b.allowed_syscalls(conditional=False))
    cond_a = {n for r in a.rules if r.args for n in r.names}
    cond_b = {n for r in b.rules if r.args for n in r.names}
    out += _set_diff("conditional rule for", cond_a, cond_b)
    out += _set_diff("errno rule for", _errno_rules(a), _errno_rules(b))
    return out


def _errno_rules(p: SeccompProfile) -> set[str]:
    """``clone3 -> ENOSYS (by design)``: each syscall an unconditional rule answers with an
    errno other than the default's."""
    default = effective_default(p)
    by_design = p.enosys_by_design()
    out = set()
    for r in p.rules:
        if r.action != "SCMP_ACT_ERRNO" or r.args:
            continue
        errno_ret = 1 if r.errno_ret is None else r.errno_ret
        if (r.action, errno_ret) == default:
            continue
        name = errno.errorcode.get(errno_ret, str(errno_ret))
        for n in r.names:
            out.add(f"{n} -> {name}" + (" (by design: glibc falls back to "
                                        f"{by_design[n]})" if n in by_design else ""))
    return out


def _rights_diff(label: str, a: dict[Any, frozenset[str]], b: dict[Any, frozenset[str]],
                 kind: str) -> list[str]:
    out = []
    for key in sorted(set(a) | set(b), key=str):
        ra, rb = set(a.get(key, ())), set(b.get(key, ()))
        if ra == rb:
            continue
        if not ra:
            out.append(f"+ {label}{key}: {', '.join(R.sort_rights(kind, rb))}")
        elif not rb:
            out.append(f"- {label}{key}: {', '.join(R.sort_rights(kind, ra))}")
        else:
            parts = [f"+{r}" for r in R.sort_rights(kind, rb - ra)]
            parts += [f"-{r}" for r in R.sort_rights(kind, ra - rb)]
            out.append(f"~ {label}{key}: {' '.join(parts)}")
    return out


def diff_rulesets(a: dict[str, Any], b: dict[str, Any], *, sources=("A", "B")) -> list[str]:
    ra, rb = C.resolve(a, source=sources[0]), C.resolve(b, source=sources[1])
    out = []
    out += _set_diff("handled", ra.handled_fs, rb.handled_fs)
    out += _set_diff("handled", ra.handled_net, rb.handled_net)
    out += _set_diff("scope", ra.scoped, rb.scoped)
    from .merging import prune

    # rights a directory rule above already grants are not a difference
    pa = {p: frozenset(r) for p, r in prune({p: set(r) for p, r in ra.path_rules.items()}).items()}
    pb = {p: frozenset(r) for p, r in prune({p: set(r) for p, r in rb.path_rules.items()}).items()}
    out += _rights_diff("", pa, pb, "fs")
    out += _rights_diff("port ", ra.port_rules, rb.port_rules, "net")
    return out


def diff_recordings(a: Recording, b: Recording) -> list[str]:
    out = []
    ta = {t.name: t for t in a.targets}
    tb = {t.name: t for t in b.targets}
    out += _set_diff("target", ta, tb)
    for name in sorted(set(ta) & set(tb)):
        x, y = ta[name], tb[name]
        pre = f"[{name}] " if len(ta) > 1 or len(tb) > 1 else ""
        out += [f"{line[:2]}{pre}{line[2:]}" for line in _set_diff("syscall", x.syscalls,
                                                                    y.syscalls)]
        fa = {p: frozenset(f.access) for p, f in x.files.items()}
        fb = {p: frozenset(f.access) for p, f in y.files.items()}
        out += [f"{line[:2]}{pre}{line[2:]}" for line in _rights_diff("", fa, fb, "fs")]
        na = {f"{n.protocol} {n.op} {n.port if n.port is not None else n.address}"
              for n in x.network.values()}
        nb = {f"{n.protocol} {n.op} {n.port if n.port is not None else n.address}"
              for n in y.network.values()}
        out += [f"{line[:2]}{pre}{line[2:]}" for line in _set_diff("network", na, nb)]
        out += [f"{line[:2]}{pre}{line[2:]}" for line in
                _set_diff("exec", {e.path for e in x.execs.values()},
                          {e.path for e in y.execs.values()})]
    return out


def diff_files(a_path: str, b_path: str) -> list[str]:
    """The differences between two files of the same kind (InputError otherwise)."""
    from .documents import LANDLOCK, RECORDING, load_same_kind

    a, b = load_same_kind([a_path, b_path])
    if a.kind == RECORDING:
        return diff_recordings(a.value, b.value)
    if a.kind == LANDLOCK:
        return diff_rulesets(a.value, b.value, sources=(a_path, b_path))
    return diff_profiles(a.value, b.value)
