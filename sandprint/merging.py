"""Merging sandboxes: seccomp profiles (OCI and SPO) and Landlock rulesets, by union.

Recordings merge in the recording model (:func:`sandprint.recording.merge`: counts
add up, provenance of every run is kept). Sandboxes merge so the result allows what any input
allows, and nothing more:

* seccomp: the unconditional allow lists unite; other rules (argument conditions, errno
  rules) are kept, each once; architectures unite; the default action must be the same in
  every input (a merge cannot choose between EPERM and kill for you). The one exception to
  the union: a syscall one input allows and another answers ENOSYS by design (``clone3``,
  whose flags no filter can read, beside the ``clone`` glibc falls back to) keeps the ENOSYS
  answer, and the merge says so: allowing it would reopen namespace creation, while the
  answer costs a glibc workload nothing;
* Landlock: a right is restricted only when every input restricts it (handled sets and
  scopes intersect: an input that does not handle a right allows it everywhere), rule
  rights unite per path, ports unite; rights a directory above already grants are dropped.

Both are associative and commutative (the property tests check it), and deterministic:
output is sorted.
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from typing import Any, Iterable

from .errors import InputError
from .fileio import write_atomic
from .landlock import config as C
from .landlock import rights as R
from .seccomp.profile import SeccompProfile, profile_from_data
from .syscalls import native_arch

PLAIN_ALLOW = "SCMP_ACT_ALLOW"


# -- seccomp -----------------------------------------------------------------------------------

def _plain_allowed(p: SeccompProfile) -> set[str]:
    return {n for r in p.rules if r.action == PLAIN_ALLOW and not r.args for n in r.names}


def _other_rules(p: SeccompProfile) -> list[dict[str, Any]]:
    oci = p.to_oci()
    return [r for r in oci["syscalls"] if not (r["action"] == PLAIN_ALLOW and not r.get("args"))]


def merge_profiles(profiles: list[SeccompProfile]) -> dict[str, Any]:
    """The OCI profile allowing what any of ``profiles`` allows (same default action)."""
    return merge_profiles_noted(profiles)[0]


def merge_profiles_noted(profiles: list[SeccompProfile]) -> tuple[dict[str, Any], list[str]]:
    """:func:`merge_profiles`, and notes on where the merge did not simply unite."""
    if not profiles:
        raise InputError("nothing to merge", expected="at least one seccomp profile")
    from .diffing import effective_default

    first = profiles[0]
    for p in profiles[1:]:
        if effective_default(p) != effective_default(first):
            raise InputError(f"default action {p.default_action} (errno {p.default_errno_ret}) "
                             f"differs from {first.source}'s {first.default_action} "
                             f"(errno {first.default_errno_ret})", source=p.source,
                             field="defaultAction", expected=first.default_action)
    allowed = set().union(*(_plain_allowed(p) for p in profiles))
    by_design = {n: p for p in profiles for n in p.enosys_by_design()}
    notes = []
    for name in sorted(allowed & set(by_design)):
        fallback = by_design[name].enosys_by_design()[name]
        allowing = [p.source for p in profiles if name in _plain_allowed(p)]
        notes.append(f"{name}: allowed by {', '.join(allowing)} but answered ENOSYS by design "
                     f"by {by_design[name].source}; the merged profile answers it ENOSYS "
                     f"(glibc falls back to {fallback}, whose flags the filter checks). A "
                     f"workload that needs {name} itself needs a profile generated with "
                     f"--allow-{name}, merged with others that allow it too")
    oci = build_profile(first, allowed - set(by_design),
                        [r for p in profiles for r in _other_rules(p)],
                        [a for p in profiles for a in p.architectures],
                        [f for p in profiles for f in p.flags])
    return oci, notes


def build_profile(template: SeccompProfile, allowed: Iterable[str],
                  other_rules: Iterable[dict[str, Any]], arches: Iterable[str],
                  flags: Iterable[str] = ()) -> dict[str, Any]:
    """An OCI profile: ``template``'s default action, one sorted allow rule, then the other
    rules (each once, sorted), architectures with the native one first."""
    out: dict[str, Any] = {"defaultAction": template.default_action}
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
        rules.append({"names": names, "action": PLAIN_ALLOW})
    seen = set()
    for r in sorted(other_rules, key=lambda r: json.dumps(r, sort_keys=True)):
        key = json.dumps(r, sort_keys=True)
        if key not in seen:
            seen.add(key)
            rules.append(r)
    out["syscalls"] = rules
    profile_from_data(out, source="<merged profile>")     # never write a profile that fails
    return out


def profile_text(oci: dict[str, Any], output: str, *, spo: bool | None = None,
                 name: str | None = None, annotations: dict[str, str] | None = None) -> str:
    """OCI JSON, or the SPO YAML when ``spo`` (default: by the output's .yaml/.yml name)."""
    from .generators.seccomp import name_from_path, to_oci_json, to_spo

    if spo is None:
        spo = output.lower().endswith((".yaml", ".yml"))
    if spo:
        return to_spo(oci, name or name_from_path(output), annotations=annotations)
    return to_oci_json(oci)


# -- Landlock ----------------------------------------------------------------------------------

def _parent(p: str) -> str:
    return posixpath.dirname(p) or "/"


def prune(rules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop rights a rule on a directory above already grants (and rules left empty)."""
    out: dict[str, set[str]] = {}
    for path, rights in rules.items():
        inherited: set[str] = set()
        p = path
        while p != "/":
            p = _parent(p)
            inherited |= rules.get(p, set())
        left = set(rights) - inherited
        if left:
            out[path] = left
    return out


def ruleset_config(handled_fs: Iterable[str], handled_net: Iterable[str],
                   scoped: Iterable[str], rules: dict[str, set[str]],
                   ports: dict[int, set[str]], may_not_exist: Iterable[str] = ()
                   ) -> dict[str, Any]:
    """A canonical landlockconfig document for these rights, rules and ports."""
    from .generators.landlock import abi_needed

    hf, hn, sc = (R.sort_rights("fs", handled_fs), R.sort_rights("net", handled_net),
                  R.sort_rights("scope", scoped))
    rs: dict[str, Any] = {}
    if hf:
        rs["handledAccessFs"] = hf
    if hn:
        rs["handledAccessNet"] = hn
    if sc:
        rs["scoped"] = sc
    cfg: dict[str, Any] = {"abi": abi_needed(hf, hn, sc), "ruleset": [rs] if rs else []}
    by_rights: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for p in sorted(rules):
        by_rights[tuple(R.sort_rights("fs", rules[p]))].append(p)
    if by_rights:
        cfg["pathBeneath"] = sorted(({"allowedAccess": list(r), "parent": ps}
                                     for r, ps in by_rights.items()),
                                    key=lambda e: e["parent"][0])
    net = []
    for right in R.sort_rights("net", R.NET_RIGHTS):
        ps = sorted(p for p, rs_ in ports.items() if right in rs_)
        if ps:
            net.append({"allowedAccess": [right], "port": ps})
    if net:
        cfg["netPort"] = net
    if not cfg["ruleset"]:
        del cfg["ruleset"]
    missing = sorted(set(may_not_exist) & set(rules))
    if missing:
        cfg = C.mark_may_not_exist(cfg, missing)
    return C.parse_config(cfg, "<merged ruleset>", fmt="json")


def merge_rulesets(configs: list[dict[str, Any]], sources: list[str] | None = None
                   ) -> tuple[dict[str, Any], list[str]]:
    """The ruleset allowing what any of ``configs`` allows; also notes on what changed."""
    if not configs:
        raise InputError("nothing to merge", expected="at least one Landlock ruleset")
    names = sources or [f"<ruleset {i}>" for i in range(len(configs))]
    resolved = [C.resolve(c, source=s) for c, s in zip(configs, names)]
    hf = frozenset.intersection(*(r.handled_fs for r in resolved))
    hn = frozenset.intersection(*(r.handled_net for r in resolved))
    sc = frozenset.intersection(*(r.scoped for r in resolved))
    notes = []
    for what, mine, allof in (("filesystem rights", "handled_fs", hf),
                              ("network rights", "handled_net", hn), ("scopes", "scoped", sc)):
        dropped = frozenset.union(*(getattr(r, mine) for r in resolved)) - allof
        if dropped:
            notes.append(f"{what} not restricted by every input are left unrestricted: "
                         + ", ".join(sorted(dropped)))
    rules: dict[str, set[str]] = defaultdict(set)
    ports: dict[int, set[str]] = defaultdict(set)
    maybe: set[str] = set()
    for r in resolved:
        for p, rights in r.path_rules.items():
            rules[p] |= set(rights) & hf
        for port, rights in r.port_rules.items():
            ports[port] |= set(rights) & hn
        maybe |= set(r.may_not_exist)
    rules = prune({p: rs for p, rs in rules.items() if rs})
    ports = {p: rs for p, rs in ports.items() if rs}
    return ruleset_config(hf, hn, sc, rules, ports, maybe), notes


def ruleset_text(cfg: dict[str, Any], output: str) -> str:
    fmt = "toml" if output.lower().endswith(".toml") else "json"
    return C.dumps_toml(cfg) if fmt == "toml" else C.dumps_json(cfg)


# -- the command -------------------------------------------------------------------------------

def merge_files(paths: list[str], output: str) -> list[str]:
    """``sandprint merge``: merge files of one kind into ``output``; returns summary lines."""
    from .documents import LANDLOCK, RECORDING, SECCOMP, load_same_kind
    from .recording import merge

    docs = load_same_kind(list(paths))
    kind = docs[0].kind
    lines = []
    if kind == RECORDING:
        merged = merge([d.value for d in docs], list(paths))
        merged.save(output)
        lines.append(f"merged {len(paths)} recordings ({merged.metadata['runs']} runs) "
                     f"into {output}")
    elif kind == SECCOMP:
        oci, notes = merge_profiles_noted([d.value for d in docs])
        lines += [f"note: {n}" for n in notes]
        spo = output.lower().endswith((".yaml", ".yml"))
        annotations = {"sandprint/merged-from": ", ".join(sorted(paths))} if spo else None
        write_atomic(output, profile_text(oci, output, spo=spo, annotations=annotations))
        n = len(oci["syscalls"][0]["names"]) if oci["syscalls"] else 0
        lines.append(f"merged {len(paths)} seccomp profiles into {output}: allows {n} "
                     "syscalls")
    elif kind == LANDLOCK:
        cfg, notes = merge_rulesets([d.value for d in docs], list(paths))
        write_atomic(output, ruleset_text(cfg, output))
        lines += [f"note: {n}" for n in notes]
        n = sum(len(e["parent"]) for e in cfg.get("pathBeneath", []))
        lines.append(f"merged {len(paths)} Landlock rulesets into {output}: {n} path rules")
    return lines
