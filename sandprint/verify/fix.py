"""``verify --fix``: extend a profile/ruleset with what the replay was denied, as tight as a
fresh generation, written atomically, with the diff printed.

The fixed sandbox is *regenerated* from (what the old one allowed) ∪ (what the replay needed),
through the same generators ``generate`` uses, rather than patched: a denied file read becomes
whatever rule a fresh generation would write for it (a directory rule when reads spread over a
directory, a narrow file rule in a protected tree ...), not a rule per denial.

* seccomp: the old profile's unconditional allow list ∪ the replay's syscalls (in enforce
  mode also the calls the filter refused), with the old default action, architectures and
  other rules; written in the old file's format (OCI JSON or SPO YAML);
* Landlock: the old ruleset turned back into the accesses it allows (each rule an access on
  its path, each port a connection, a scope left off as the event that turned it off),
  merged with the replay's recording (refused accesses counted as needed) and given to the
  Landlock generator; written in the old file's spelling (JSON or TOML).

In enforce mode a replay stops at its first refusal: what the workload would have done after
it is not known yet, so a second ``verify --fix`` may find more. The summary says so.
"""

from __future__ import annotations

import os
from typing import Any

from ..fileio import read_text, write_atomic
from ..generators.seccomp import recorded_args, recorded_syscalls, used_arches
from ..landlock import config as C
from ..landlock import rights as R
from ..landlock.ops import diff_rulesets
from ..recording import NetAccess, Recording, merge
from ..seccomp import argrules
from ..seccomp.ops import build_profile, diff_profiles, other_rules, plain_allowed, profile_text
from ..seccomp.profile import ProfileFormat, SeccompProfile, profile_from_data
from ..syscalls import syscall_number
from .judge import needed_recording


def fixed_profile(profile: SeccompProfile, needed: Recording) -> dict[str, Any]:
    """The OCI profile allowing the old allow list and every syscall ``needed`` made.

    A syscall the old profile allows under argument conditions (``clone`` without namespace
    flags) stays under them: a recording has no arguments, so making it unconditional would
    widen the profile silently. A syscall it answers ENOSYS by design (``clone3``, so glibc
    falls back to ``clone``) keeps that answer: the workload ran through the fallback.

    The syscalls of argspec.ARG_RULES whose arguments ``needed`` recorded (complain mode) are
    added, or widened, by the values it used (an argument rule per value, as ``generate``
    writes it), never as the bare name; one the old profile allows by its argument rules and
    whose refused values are unknown (enforce mode) stays as it was."""
    conditional = (profile.allowed_syscalls(conditional=True)
                   - profile.allowed_syscalls(conditional=False))
    keep = conditional | set(profile.enosys_by_design())
    # the architectures the replay used (its 32-bit calls) join the profile's
    arches = list(profile.architectures) + [a for a in used_arches(needed)
                                            if a not in profile.architectures]
    names = {n for n in recorded_syscalls(needed)
             if any(syscall_number(a, n) is not None for a in arches)
             and n not in keep}
    rules = other_rules(profile)
    args = recorded_args(needed) if profile.default_action.blocks else None
    if args is not None:
        narrowable = (names | (conditional & set(argrules.conditional_allows(profile)))) \
            - plain_allowed(profile)
        plan = argrules.plan({n for n in narrowable if args.get(n)}, args,
                             arches=profile.architectures,
                             default_errno_ret=profile.default_errno_ret)
        rules += [r for r in plan.rules if r not in rules]
        names -= plan.narrowed
        # a send call that used MSG_FASTOPEN: allowed as recorded, without its old condition
        names |= {n for n in narrowable & conditional if args.get(n) and n not in plan.narrowed}
    return build_profile(profile, plain_allowed(profile) | names, rules,
                         arches, profile.flags)


def fix_seccomp(profile: SeccompProfile, needed: Recording, path: str) -> list[str]:
    oci = fixed_profile(profile, needed)
    spo = profile.format == ProfileFormat.SPO
    text = profile_text(oci, path, spo=spo, name=profile.name)
    new = profile_from_data(oci, source=path)
    changes = diff_profiles(profile, new)
    if not changes:
        return [f"fix: {path} already allows every syscall the replay made; unchanged"]
    write_atomic(path, text)
    return [f"fix: wrote {path} ({len(changes)} changes):"] + [f"  {c}" for c in changes]


def ruleset_as_recording(cfg: dict[str, Any], arch: str, source: str) -> Recording:
    """The accesses a ruleset allows, as a recording the Landlock generator can read."""
    res = C.resolve(cfg, source=source)
    rec = Recording.new({"type": "ruleset", "file": source}, arch=arch,
                        landlock_abi=res.abi)
    t = rec.target("main")
    for path, rights in sorted(res.path_rules.items()):
        kind = None
        if os.path.isdir(path) or rights & R.DIR_ONLY_RIGHTS:
            kind = "dir"
        elif os.path.exists(path):
            kind = "file"
        t.add_file(path, rights, kind=kind)
    for port, rights in sorted(res.port_rules.items()):
        for r in rights:
            t.add_net(NetAccess(r.split("_")[0], "tcp", "inet", port))
    # A scope the old ruleset left off stays off: give the generator the event that does it.
    if "signal" not in res.scoped:
        t.signals.append({"signal": "(scope off in the fixed ruleset)", "to": {"all": True}})
    if "abstract_unix_socket" not in res.scoped:
        t.add_net(NetAccess("connect", "unix", "unix", None, "@(scope off in the ruleset)"))
    return rec


def fixed_ruleset(cfg: dict[str, Any], needed: Recording, source: str):
    from ..generators.landlock import Options, generate_ruleset

    old = ruleset_as_recording(cfg, needed.arch, source)
    abi = cfg.get("abi") if isinstance(cfg.get("abi"), int) else None
    return generate_ruleset(merge([old, needed]), options=Options(abi=abi), source=source)


def fix_landlock(path: str, needed: Recording) -> list[str]:
    text = read_text(path, "landlockconfig file")
    fmt = C.RulesetFormat.of_file(path, text)
    cfg = C.loads_config(text, fmt, path)
    result = fixed_ruleset(cfg, needed, path)
    changes = diff_rulesets(cfg, result.config, sources=(path, "<fixed>"))
    lines = [f"fix: note: {n}" for n in result.notes
             if "scope off" not in n and "signalled" not in n and "abstract" not in n]
    if not changes:
        return lines + [f"fix: {path} already allows every access the replay made; unchanged"]
    out = C.dumps(result.config, fmt)
    write_atomic(path, out)
    return lines + [f"fix: wrote {path} ({len(changes)} changes):"] + [f"  {c}" for c in changes]


def fix_sandbox(result) -> list[str]:
    """Fix whichever of the result's profile and ruleset had denials; summary lines."""
    needed = needed_recording(result.recording, result.refused_syscalls)
    # the 32-bit calls it refused (by their own architecture), needed as well
    for arch, per in getattr(result, "refused_compat_syscalls", {}).items():
        for name, n in per.items():
            if needed.targets:
                needed.targets[0].add_compat_syscall(arch, name, n)
    lines: list[str] = []
    if result.seccomp_path and any(d.detail.get("layer") == "seccomp" for d in result.denials):
        lines += fix_seccomp(result.profile, needed, result.seccomp_path)
    if result.landlock_path and any(d.detail.get("layer") == "landlock"
                                    for d in result.denials):
        lines += fix_landlock(result.landlock_path, needed)
    caps = [d.name for d in result.denials if d.kind == "capability"]
    if caps:
        # no sandbox file carries capabilities: they come from the recordings at exec time
        lines.append("fix: capabilities are not in the profile or ruleset: record the workload "
                     "again to a recording that shows them and pass it with --recording, or "
                     "--keep-caps " + ",".join(caps))
    if result.mode == "enforce" and lines:
        lines.append("fix: the replay stopped at its refusals; run verify again to see "
                     "whether the workload needs more after them (or use --complain --fix)")
    return lines
