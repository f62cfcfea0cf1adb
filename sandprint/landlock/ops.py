"""Operations on Landlock rulesets (landlockconfig documents): merge, diff and prune.

* merge: a right is restricted only when every input restricts it (handled sets and scopes
  intersect: an input that does not handle a right allows it everywhere), rule rights unite
  per path, ports unite; rights a directory above already grants are dropped (:func:`prune`).
  Associative and commutative (the property tests check it), and deterministic: output is
  sorted.
* diff: rulesets are compared by what they enforce (resolved variables and ``abi.*``
  groups), so the JSON and TOML spellings of one ruleset have no difference.
* :func:`ruleset_config` is the one builder of a canonical landlockconfig document from
  rights, path rules and ports (the generator and the merge both use it).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import Any, Iterable

from ..errors import InputError
from ..textdiff import set_diff
from . import config as C
from . import rights as R


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
    hf, hn, sc = (R.sort_rights("fs", handled_fs), R.sort_rights("net", handled_net),
                  R.sort_rights("scope", scoped))
    rs: dict[str, Any] = {}
    if hf:
        rs["handledAccessFs"] = hf
    if hn:
        rs["handledAccessNet"] = hn
    if sc:
        rs["scoped"] = sc
    cfg: dict[str, Any] = {"abi": R.abi_needed(hf, hn, sc), "ruleset": [rs] if rs else []}
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
    """``cfg`` as the text its output file's name asks for (TOML for .toml, else JSON)."""
    return C.dumps(cfg, C.RulesetFormat.of_output(output))


# -- diff --------------------------------------------------------------------------------------

def rights_diff(label: str, a: dict[Any, frozenset[str]], b: dict[Any, frozenset[str]],
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
    out += set_diff("handled", ra.handled_fs, rb.handled_fs)
    out += set_diff("handled", ra.handled_net, rb.handled_net)
    out += set_diff("scope", ra.scoped, rb.scoped)
    # rights a directory rule above already grants are not a difference
    pa = {p: frozenset(r) for p, r in prune({p: set(r) for p, r in ra.path_rules.items()}).items()}
    pb = {p: frozenset(r) for p, r in prune({p: set(r) for p, r in rb.path_rules.items()}).items()}
    out += rights_diff("", pa, pb, "fs")
    out += rights_diff("port ", ra.port_rules, rb.port_rules, "net")
    return out
