"""Operations on seccomp profiles: merge (by union) and diff (by meaning).

* merge: the unconditional allow lists unite; other rules (argument conditions, errno rules)
  are kept, each once; architectures unite; the default action must be the same in every
  input (a merge cannot choose between EPERM and kill for you). The one exception to the
  union: a syscall one input allows and another answers ENOSYS by design (``clone3``, whose
  flags no filter can read, beside the ``clone`` glibc falls back to) keeps the ENOSYS answer,
  and the merge says so: allowing it would reopen namespace creation, while the answer costs
  a glibc workload nothing. Associative and commutative (the property tests check it), and
  deterministic: output is sorted.
* diff: ``+`` what B allows and A does not, ``-`` the reverse; two spellings of the same
  profile (OCI and SPO) have no difference.
"""

from __future__ import annotations

import errno
import json
from typing import Any, Iterable

from ..errors import InputError
from ..syscalls import native_arch
from ..textdiff import set_diff
from .argrules import describe_rule
from .formats import ProfileFormat, name_from_path, to_oci_json, to_spo
from .profile import Action, SeccompProfile, profile_from_data


# -- merge -------------------------------------------------------------------------------------

def plain_allowed(p: SeccompProfile) -> set[str]:
    """The names of the unconditional SCMP_ACT_ALLOW rules."""
    return {n for r in p.rules if r.action == Action.ALLOW and not r.args for n in r.names}


def other_rules(p: SeccompProfile) -> list[dict[str, Any]]:
    """Every rule but the unconditional allows, as OCI dicts."""
    oci = p.to_oci()
    return [r for r in oci["syscalls"] if not (r["action"] == Action.ALLOW and not r.get("args"))]


def merge_profiles(profiles: list[SeccompProfile]) -> dict[str, Any]:
    """The OCI profile allowing what any of ``profiles`` allows (same default action)."""
    return merge_profiles_noted(profiles)[0]


def merge_profiles_noted(profiles: list[SeccompProfile]) -> tuple[dict[str, Any], list[str]]:
    """:func:`merge_profiles`, and notes on where the merge did not simply unite."""
    if not profiles:
        raise InputError("nothing to merge", expected="at least one seccomp profile")
    first = profiles[0]
    for p in profiles[1:]:
        if p.effective_default() != first.effective_default():
            raise InputError(f"default action {p.default_action} (errno {p.default_errno_ret}) "
                             f"differs from {first.source}'s {first.default_action} "
                             f"(errno {first.default_errno_ret})", source=p.source,
                             field="defaultAction", expected=first.default_action)
    allowed = set().union(*(plain_allowed(p) for p in profiles))
    by_design = {n: p for p in profiles for n in p.enosys_by_design()}
    notes = []
    for name in sorted(allowed & set(by_design)):
        fallback = by_design[name].enosys_by_design()[name]
        allowing = [p.source for p in profiles if name in plain_allowed(p)]
        notes.append(f"{name}: allowed by {', '.join(allowing)} but answered ENOSYS by design "
                     f"by {by_design[name].source}; the merged profile answers it ENOSYS "
                     f"(glibc falls back to {fallback}, whose flags the filter checks). A "
                     f"workload that needs {name} itself needs a profile generated with "
                     f"--allow-{name}, merged with others that allow it too")
    oci = build_profile(first, allowed - set(by_design),
                        [r for p in profiles for r in other_rules(p)],
                        [a for p in profiles for a in p.architectures],
                        [f for p in profiles for f in p.flags])
    return oci, notes


def build_profile(template: SeccompProfile, allowed: Iterable[str],
                  other_rules: Iterable[dict[str, Any]], arches: Iterable[str],
                  flags: Iterable[str] = ()) -> dict[str, Any]:
    """An OCI profile: ``template``'s default action, one sorted allow rule, then the other
    rules (each once, sorted), architectures with the native one first."""
    out: dict[str, Any] = {"defaultAction": template.default_action.value}
    if template.default_errno_ret is not None:
        out["defaultErrnoRet"] = template.default_errno_ret
    native = native_arch()
    arch_set = set(arches)
    out["architectures"] = ([native] if native in arch_set else []) + sorted(arch_set - {native})
    flag_set = sorted(set(flags))
    if flag_set:
        out["flags"] = flag_set
    rules: list[dict[str, Any]] = []
    names = sorted(set(allowed))
    if names:
        rules.append({"names": names, "action": Action.ALLOW.value})
    seen = set()
    for r in sorted(other_rules, key=lambda r: json.dumps(r, sort_keys=True)):
        key = json.dumps(r, sort_keys=True)
        if r["action"] == Action.ALLOW and r.get("args") and set(r["names"]) <= set(names):
            continue     # allowed unconditionally already (an input without argument rules)
        if key not in seen:
            seen.add(key)
            rules.append(r)
    out["syscalls"] = rules
    profile_from_data(out, source="<merged profile>")     # never write a profile that fails
    return out


def profile_text(oci: dict[str, Any], output: str, *, spo: bool | None = None,
                 name: str | None = None, annotations: dict[str, str] | None = None) -> str:
    """OCI JSON, or the SPO YAML when ``spo`` (default: by the output's .yaml/.yml name)."""
    if spo is None:
        spo = ProfileFormat.of_output(output) == ProfileFormat.SPO
    if spo:
        return to_spo(oci, name or name_from_path(output), annotations=annotations)
    return to_oci_json(oci)


# -- diff --------------------------------------------------------------------------------------

def diff_profiles(a: SeccompProfile, b: SeccompProfile) -> list[str]:
    out = []
    if a.effective_default() != b.effective_default():
        out.append(f"~ defaultAction {a.default_action} -> {b.default_action}"
                   + (f" (errno {a.default_errno_ret} -> {b.default_errno_ret})"
                      if a.default_errno_ret != b.default_errno_ret else ""))
    out += set_diff("architecture", a.architectures, b.architectures)
    out += set_diff("syscall", a.allowed_syscalls(conditional=False),
                    b.allowed_syscalls(conditional=False))
    cond_a = {n for r in a.rules if r.args for n in r.names}
    cond_b = {n for r in b.rules if r.args for n in r.names}
    out += set_diff("conditional rule for", cond_a, cond_b)
    out += set_diff("argument rule", argument_rules(a), argument_rules(b))
    out += set_diff("errno rule for", errno_rules(a), errno_rules(b))
    return out


def argument_rules(p: SeccompProfile) -> set[str]:
    """``socket AF_INET/SOCK_STREAM``: each conditional allow, with the values it allows
    (argrules.describe_rule), so a diff shows values and not only names."""
    return {f"{n} {describe_rule(n, r.args)}" for r in p.rules
            if r.action.passes and r.args for n in r.names}


def errno_rules(p: SeccompProfile) -> set[str]:
    """``clone3 -> ENOSYS (by design)``: each syscall an unconditional rule answers with an
    errno other than the default's."""
    default = p.effective_default()
    by_design = p.enosys_by_design()
    out = set()
    for r in p.rules:
        if r.action != Action.ERRNO or r.args:
            continue
        errno_ret = 1 if r.errno_ret is None else r.errno_ret
        if (r.action, errno_ret) == default:
            continue
        name = errno.errorcode.get(errno_ret, str(errno_ret))
        for n in r.names:
            out.add(f"{n} -> {name}" + (" (by design: glibc falls back to "
                                        f"{by_design[n]})" if n in by_design else ""))
    return out
