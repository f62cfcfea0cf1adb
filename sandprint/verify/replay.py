"""Replaying a workload under its sandbox and reporting every denial.

**Enforce mode** applies the sandbox for real in the launched child, right before its exec
(the Landlock ruleset first, then the seccomp filter, which may forbid the Landlock syscalls
themselves), and watches the replay with the recorder:

* seccomp: a call the filter refuses never reaches sys_enter but does reach sys_exit, failing;
  so the recorder (``count_exits=True``) counts a failing exit with no matching entry on that
  thread as a refusal (``exits.bpf.c``);
  a syscall the profile answers ENOSYS on purpose so that libc falls back to another
  (``clone3`` -> ``clone``, :meth:`SeccompProfile.enosys_by_design`) is not a refusal: it is
  reported apart, as answered by design, in both modes;
* Landlock: a refused access is a file or network syscall that returned EACCES/EPERM; the
  recorder's file model writes it in ``FileAccess.denied`` / ``info.deniedNetwork``.

**Complain mode** blocks nothing. Seccomp: the recorder watches an *unconfined* replay and
every syscall it made is compared with the profile. This was chosen over the two other ways
the kernel offers:

* ``SCMP_ACT_LOG`` writes each logged call to the audit log: it needs auditd or kmsg
  parsing, is rate limited (``printk`` ratelimit; records get dropped under load) and
  in containers is often not readable at all;
* a user-notification supervisor (``SCMP_ACT_NOTIFY`` + ``SECCOMP_USER_NOTIF_FLAG_CONTINUE``)
  sees every call with its pid, but costs two context switches per call outside the
  profile, deadlocks if the supervisor ever blocks on the workload, and needs the listener
  fd passed out of the child before exec;
* the recorder is already there for enforce mode, costs one hash lookup per syscall, loses
  nothing silently (losses are counted), and sees exactly the numbers the profile is made of.

The one thing an unconfined replay changes is the path the workload takes after a call that
would have failed: enforce mode stops at the first refusal, complain mode shows them all.

Landlock has no permissive mode in the kernel: complain mode evaluates the accesses recorded
during the unconfined replay against the ruleset with Landlock's own rules (``verify/judge.py``).

**What is a denial** (both modes, the same rule): a failure the sandbox causes, never one that
happens without it. A lookup failure (ENOENT ...) comes before Landlock's check and is no
access at all; a device's or FIFO's own refusal of an open (ENXIO of /dev/tty without a
terminal ...) comes after it, so the access passed Landlock and is judged like a successful
one (``fsmodel.DRIVER_ERRORS``); an EACCES/EPERM on something the ruleset allows was the
system's (file permissions, another LSM) and becomes a note (:func:`_refused_by_landlock`).

**Attribution.** With ``attribute=True`` the recorder keeps, per (process, syscall number), a
count and the process's comm, with refused calls apart; the executable comes from the exec
events; file accesses keep, per set of rights and outcome, their count and the first few
processes that made them. A denial names the processes that made the denied (or would-be
denied) accesses and counts those accesses only, not every access to the path.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

from ..capabilities.drop import drop_capabilities
from ..capabilities.needed import needed_capabilities, refused_for_want_of, to_keep
from ..capabilities.outputs import run_flags
from ..fileio import write_json
from ..landlock import rights as R
from ..profiler.bpf_loader import NR_SLOTS
from ..profiler.record import check_output_path, run_command
from ..profiler.recorder import Recorder
from ..profiler.targets import resolve_command
from ..recording import Recording, merge
from ..seccomp import argrules
from ..seccomp.terminal_guard import build_terminal_guard, load_terminal_guard
from ..syscalls import syscall_name
from .judge import (PROC_PID, LandlockPolicy, Need, abstract_unix_denied, denied_network,
                    landlock_needs, seccomp_needs, who_signalled)

Log = Callable[[str], None]

# A profile made from less than this much recorded time, in one run, gets a warning.
SHORT_RUN_SECONDS = 30.0


@dataclass
class Denial:
    kind: str                  # "syscall" | "file" | "network" | "signal" | "capability"
    name: str                  # syscall name, path, "tcp connect 8080", signal
    count: int = 1
    detail: dict[str, Any] = field(default_factory=dict)   # rights, processes, layer ...

    @property
    def rights(self) -> list[str]:
        return list(self.detail.get("rights", []))

    @property
    def processes(self) -> list[dict[str, Any]]:
        return list(self.detail.get("processes", []))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "count": self.count, **self.detail}


@dataclass
class VerifyResult:
    mode: str                                # enforce | complain
    command: list[str]
    exit_code: int | None
    stop_reason: str
    denials: list[Denial]
    recording: Recording
    notes: list[str] = field(default_factory=list)
    seccomp_path: str | None = None
    landlock_path: str | None = None
    profile: Any = None                      # SeccompProfile
    policy: LandlockPolicy | None = None
    refused_syscalls: dict[str, int] = field(default_factory=dict)   # enforce mode
    # syscall -> calls the profile answered ENOSYS by design (complain: would answer)
    answered_by_design: dict[str, int] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # enforce mode, refused calls of another ABI (i386 on x86_64): arch -> {name -> count}
    refused_compat_syscalls: dict[str, dict[str, int]] = field(default_factory=dict)
    # kept, usedInReplay, runFlags (capability_report)
    capabilities: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.denials and self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": "sandprint/v1",
            "kind": "VerifyReport",
            "mode": self.mode,
            "command": self.command,
            "verdict": "pass" if self.ok else "fail",
            "exitStatus": self.exit_code,
            "stopReason": self.stop_reason,
            "sandbox": {"seccomp": self.seccomp_path, "landlock": self.landlock_path},
            "denials": [d.to_json() for d in self.denials],
            "coverage": self.coverage,
            "warnings": self.warnings,
            "notes": self.notes,
        }
        if self.capabilities:
            out["capabilities"] = self.capabilities
        if self.profile is not None:
            out["seccompAllowed"] = sorted(self.profile.allowed_syscalls())
            fallbacks = self.profile.enosys_by_design()
            out["answeredByDesign"] = [
                {"name": n, "count": c, "errno": "ENOSYS", "fallback": fallbacks.get(n)}
                for n, c in sorted(self.answered_by_design.items())]
        if self.policy is not None:
            out["landlockRules"] = {p: sorted(r) for p, r in sorted(self.policy.rules.items())}
            out["landlockPorts"] = {str(p): sorted(r) for p, r in sorted(self.policy.ports.items())}
        out["recording"] = self.recording.to_json()
        return out


# -- attribution -------------------------------------------------------------------------------

def _process(pid: int, comm: str | None, exe: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {"pid": pid}
    if comm:
        d["comm"] = comm
    if exe:
        d["exe"] = exe
    return d


def by_syscall(attribution: list[dict[str, Any]], refused: bool, arch: str
                ) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for a in sorted(attribution, key=lambda a: (a["pid"], a["nr"])):
        if a["refused"] != refused or a.get("arch", arch) != arch:
            continue
        name = syscall_name(arch, a["nr"]) if a["nr"] < NR_SLOTS - 1 else None
        p = _process(a["pid"], a["comm"], a["exe"])
        p["count"] = a["count"]
        out.setdefault(name or f"#{a['nr']}", []).append(p)
    return out


def seccomp_denials(profile, rec: Recording, attribution: list[dict[str, Any]], arch: str,
                    denied: dict[int, int], notes: list[str], complain: bool
                    ) -> tuple[list[Denial], dict[str, int], dict[str, int]]:
    """What a seccomp profile denied in a replay: the calls it would refuse (complain mode,
    or a default that lets everything through) and the ones it refused (``denied``: counts at
    sys_exit by number, enforce mode). Also the refused calls by name (what --fix adds) and
    the calls answered ENOSYS by design. Notes what cannot be named."""
    denials: list[Denial] = []
    refused: dict[str, int] = {}
    answered: dict[str, int] = {}
    by_design = profile.enosys_by_design()
    if complain or profile.default_action.passes:
        who = by_syscall(attribution, False, arch)
        for t in rec.targets:
            for name in by_design.keys() & t.syscalls.keys():
                answered[name] = answered.get(name, 0) + t.syscalls[name]
        for need in seccomp_needs(rec, profile.allowed_syscalls() | set(by_design)):
            denials.append(Denial("syscall", need.name, need.count,
                                  {"layer": "seccomp", "processes": who.get(need.name, [])}))
        # the recorded arguments against the profile's argument rules (argspec.ARG_RULES)
        for t in rec.targets:
            for d in argrules.judge(profile, t.args):
                denials.append(Denial("syscall", d.call, d.count, {
                    "layer": "seccomp", "syscall": d.name, "arguments": list(d.values),
                    "why": d.why, "processes": who.get(d.name, [])}))
    if not complain:
        who = by_syscall(attribution, True, arch)
        by_args = argrules.conditional_allows(profile)
        for nr, n in sorted(denied.items()):
            known = syscall_name(arch, nr) if nr < NR_SLOTS - 1 else None
            name = known or f"#{nr}"
            if name in by_design:
                answered[name] = answered.get(name, 0) + n
                continue
            if name in by_args:
                # allowed by name, refused by its argument rules; the call's own arguments
                # never reach the recorder (the filter stops it before sys_enter), and --fix
                # must not widen it to the bare name
                allowed = argrules.allowed_descriptions(by_args[name], name)
                denials.append(Denial("syscall", f"{name}(arguments outside its rules)", n, {
                    "layer": "seccomp", "number": nr, "syscall": name,
                    "why": "refused by its argument rules: " + argrules.allowed_words(allowed)
                           + "; `verify --complain` names the refused values",
                    "processes": who.get(name, [])}))
                continue
            if known:       # --fix adds it; a number beyond the table has no name
                refused[name] = n
            else:
                notes.append(f"{n} refused calls had a syscall number beyond {NR_SLOTS - 2}, "
                             f"which has no name on {arch}: no profile can allow them by name")
            denials.append(Denial("syscall", name, n, {"layer": "seccomp", "number": nr,
                                                        "processes": who.get(name, [])}))
    return denials, refused, answered


def compat_denials(profile, rec: Recording, attribution: list[dict[str, Any]],
                   compat_arch: str | None, denied: dict[int, int], complain: bool
                   ) -> list[Denial]:
    """The syscalls of the companion ABI (i386 on x86_64) a profile refused (``denied``, by
    their own numbers, enforce mode) or would refuse (complain mode: the recording's
    ``compatSyscalls``): named on their own architecture, never as native numbers. A profile
    that does not list the architecture refuses all of them (its bad-architecture action)."""
    if compat_arch is None:
        return []
    out: list[Denial] = []
    who = by_syscall(attribution, not complain, compat_arch)
    listed = compat_arch in profile.architectures
    why = "not allowed" if listed else f"{compat_arch} not in the profile's architectures"
    if complain:
        if profile.default_action.passes:      # sandprint's filter: bad arch = default
            return out
        allowed = profile.allowed_syscalls()
        for t in rec.targets:
            for name, n in sorted(t.compat_syscalls.get(compat_arch, {}).items()):
                if not listed or name not in allowed:
                    out.append(Denial("syscall", name, n, {
                        "layer": "seccomp", "arch": compat_arch, "reason": why,
                        "processes": who.get(name, [])}))
        return out
    for nr, n in sorted(denied.items()):
        name = (syscall_name(compat_arch, nr) if nr < NR_SLOTS - 1 else None) or f"#{nr}"
        out.append(Denial("syscall", name, n, {
            "layer": "seccomp", "arch": compat_arch, "number": nr, "reason": why,
            "processes": who.get(name, [])}))
    return out


# -- the replay --------------------------------------------------------------------------------

def load_sandbox(seccomp: str | None, landlock: str | None):
    """Load and check the profile and ruleset (InputError before anything runs)."""
    from ..documents import LANDLOCK, SECCOMP, load_as
    from ..seccomp.profile import load_profile

    profile = load_as(seccomp, SECCOMP, load_profile) if seccomp else None
    policy = ruleset = None
    if landlock:
        from ..landlock import Ruleset

        policy = load_as(landlock, LANDLOCK, LandlockPolicy.from_file)
        ruleset = Ruleset.from_file(landlock)
    return profile, policy, ruleset


def verify(argv: list[str], *, seccomp: str | None = None, landlock: str | None = None,
           complain: bool = False, duration: float | None = None, log: Log = print,
           recordings: list[str] | None = None,
           keep_caps: list[str] | tuple[str, ...] = ()) -> VerifyResult:
    """Replay ``argv`` under the sandbox (enforce) or beside it (complain); see the module."""
    resolve_command(argv)
    profile, policy, ruleset = load_sandbox(seccomp, landlock)
    if profile is not None and not complain:
        from ..seccomp.filter import build_filter, check_can_exec

        check_can_exec(profile)
        build_filter(profile)          # every rule problem shows before anything runs
    provenance = [Recording.load(p) for p in recordings or []]
    guard = build_terminal_guard()
    keep, needed, cap_warnings = to_keep(provenance, keep_caps)

    def prepare() -> None:
        # In the child, right before exec: Landlock first (seccomp may forbid its syscalls),
        # after the private /tmp and /dev/pts its rules there are meant for (as exec does);
        # then the capabilities (Landlock's rule paths may need root's CAP_DAC_*).
        if ruleset is not None:
            from ..private_tmp import enter

            enter(ruleset.rule_paths())
            ruleset.restrict_self(compat="hard")
        drop_capabilities(keep)
        load_terminal_guard(guard)      # as exec does
        if profile is not None:
            from ..seccomp.filter import apply_seccomp

            apply_seccomp(profile)

    mode = "complain" if complain else "enforce"
    notes: list[str] = []
    meta = {"type": "command", "command": list(argv), "verify": mode}
    with Recorder(count_exits=not complain, target_meta=meta, attribute=True) as recorder:
        cmd, reason = run_command(argv, recorder, duration=duration,
                                  prepare=None if complain else prepare, log=log)
        rec = recorder.finish(stopReason=reason, exitStatus=cmd.exit_code)
        attribution = recorder.attribution()
        arch = recorder.arch
        comms = {a["pid"]: a["comm"] for a in attribution if a["comm"]}
        # a process that executed something is named by what it executed last (its comm
        # before the exec may be its parent's: a forked shell)
        comms.update({pid: os.path.basename(exe)[:15] for pid, exe in recorder.exe.items()
                      if exe})
        denials: list[Denial] = []
        refused: dict[str, int] = {}
        refused_compat: dict[str, dict[str, int]] = {}
        answered: dict[str, int] = {}
        if profile is not None:
            denials, refused, answered = seccomp_denials(
                profile, rec, attribution, arch,
                {} if complain else recorder.denied_counts(0), notes, complain)
            compat = compat_denials(profile, rec, attribution, recorder.compat_arch,
                                    {} if complain else recorder.denied_compat_counts(0),
                                    complain)
            denials += compat
            for d in compat:
                if "number" in d.detail and not d.name.startswith("#"):   # refused ones
                    per = refused_compat.setdefault(d.detail["arch"], {})
                    per[d.name] = per.get(d.name, 0) + d.count
        if complain and policy is not None:
            for need in landlock_needs(rec, policy):
                denials.append(_landlock_denial(need, recorder, comms))
        elif not complain:
            denials += _refused_by_landlock(rec, policy, recorder, comms, notes)
    if cmd.status is not None and cmd.exit_code == 128 + signal.SIGSYS:
        notes.append("the command was killed by SIGSYS: the profile's kill action stopped a "
                     "syscall (its name is not visible to the recorder; regenerate with "
                     "--default-action errno to see it)")
    if complain and profile is not None and any(
            r.args and not set(r.names) <= set(argrules.ARG_RULES) for r in profile.rules):
        notes.append("rules with argument conditions on syscalls whose arguments the "
                     "recorder does not read (clone ...) count as allowed in complain mode")
    if policy is not None and policy.skipped:
        notes.append(f"{len(policy.skipped)} ruleset paths do not exist here and give no "
                     f"rule: {', '.join(policy.skipped[:5])}")
    if rec.lost_events:
        notes.append(f"{rec.lost_events} events were lost: denials may be missing")
    result = VerifyResult(mode, list(argv), cmd.exit_code, reason, denials, rec, notes,
                          seccomp, landlock, profile, policy, refused, answered,
                          refused_compat_syscalls=refused_compat)
    result.coverage, result.warnings = coverage(rec, provenance, recordings or [])
    result.warnings += cap_warnings
    used = needed_capabilities(rec)
    if not complain:
        for cap, why in refused_for_want_of(rec).items():
            used.setdefault(cap, []).extend(w for w in why if w not in used.get(cap, []))
    result.capabilities = capability_report(keep, used)
    for cap in result.capabilities["notKept"]:
        result.denials.append(Denial("capability", cap, 1, {
            "layer": "caps", "evidence": result.capabilities["usedInReplay"][cap]}))
    if not recordings:
        result.warnings.append("the sandbox's provenance is unknown: pass --recording with "
                               "the recording(s) it was generated from to check how much of "
                               "the workload they saw")
    return result


def capability_report(keep: list[str], used: dict[str, list[str]]) -> dict[str, Any]:
    """What the replay ran with (``kept``), what it showed a need for (``usedInReplay``,
    CAP_* -> evidence), the needed ones not kept (each a denial), and the same capability set
    as podman/docker flags (``runFlags``)."""
    return {"kept": list(keep), "usedInReplay": used,
            "notKept": [c for c in used if c not in keep],
            "runFlags": run_flags(keep)}


def _landlock_denial(need: Need, recorder: Recorder, comms: dict[int, str]) -> Denial:
    """Complain mode: the accesses to ``need.name`` that wanted a right the ruleset refuses,
    and the processes that made them (not every access to the path, nor whoever made the
    first)."""
    detail: dict[str, Any] = {"layer": "landlock", "rights": need.rights}
    count = need.count
    if need.kind == "file":
        n, detail["processes"] = _accesses(recorder, comms, need.name, set(need.rights),
                                           refused_only=False)
        count = n or count
    return Denial(need.kind, need.name, count, detail)


def _accesses(recorder: Recorder, comms: dict[int, str], path: str, rights: set[str], *,
              refused_only: bool) -> tuple[int, list[dict[str, Any]]]:
    """How many accesses to ``path`` wanted one of ``rights`` (only the refused ones when
    ``refused_only``), and the first few processes that made them."""
    if recorder.fs is None:
        return 0, []
    count, pids = 0, []
    for (wanted, refused), (n, who) in recorder.fs.accesses.get((0, path), {}).items():
        if refused_only and not refused or not wanted & rights:
            continue
        count += n
        pids += [p for p in who if p not in pids]
    return count, [_process(p, comms.get(p), recorder.exe.get(p)) for p in pids[:4]]


def _refused_by_landlock(rec: Recording, policy: LandlockPolicy | None, recorder: Recorder,
                         comms: dict[int, str], notes: list[str]) -> list[Denial]:
    """Enforce mode: the refused accesses (EACCES/EPERM) that the ruleset refuses.

    The refusal is judged as complain mode judges an access, so both modes list the same
    denials: a refused right the ruleset grants (or does not handle), a refused UDP or
    privileged-port bind, a signal with the signal scope off, were refused by the system
    itself - file permissions, another security module, the target process's owner - and
    fail without the sandbox too. They are said in a note, not counted as denials; with no
    ruleset at all, every such refusal is the system's. (A refusal by file permissions of a
    path the ruleset does not grant either cannot be told from Landlock's: both modes list
    it. A refusal under /proc stays a denial even where the ruleset seems to grant it: a
    child's /proc/self is not the /proc/PID the ruleset's /proc/self rule was opened on.)"""
    out: list[Denial] = []
    by_system: list[str] = []
    for t in rec.targets:
        for path, fa in sorted(t.files.items()):
            if not fa.denied:
                continue
            bad = policy.fs_denied(path, fa.denied) if policy is not None else set()
            if policy is not None and path.startswith(PROC_PID):
                # /proc/self of a child is another /proc/PID than the one the ruleset's
                # /proc/self rule holds: the model cannot clear Landlock there
                bad = set(fa.denied)
            if bad:
                n, procs = _accesses(recorder, comms, path, bad, refused_only=True)
                out.append(Denial("file", path, n or fa.count, {
                    "layer": "landlock", "rights": R.sort_rights("fs", bad),
                    "processes": procs}))
            if set(fa.denied) - bad:
                by_system.append(path)
        for nd in denied_network(t):
            name = f"{nd['protocol']} {nd['op']} {nd.get('port') or nd.get('address')}"
            if policy is not None and (
                    policy.net_denied(nd["op"], nd["protocol"], nd.get("port"))
                    or abstract_unix_denied(policy, nd)):
                out.append(Denial("network", name, 1, {
                    "layer": "landlock", "rights": [f"{nd['op']}_{nd['protocol']}"]}))
            else:
                by_system.append(name)
        for sig in t.signals:
            if not sig.get("denied"):
                continue
            name = f"{sig.get('signal')} to {who_signalled(sig.get('to'))}"
            if policy is not None and "signal" in policy.scoped:
                out.append(Denial("signal", name, 1, {"layer": "landlock",
                                                      "to": sig.get("to")}))
            else:
                by_system.append(f"signal {name}")
    if by_system:
        notes.append(f"{len(by_system)} accesses were refused by the system, not by the "
                     "sandbox (it allows them): they fail without it too, so they are no "
                     f"denials: {', '.join(by_system[:5])}"
                     + (f" and {len(by_system) - 5} more" if len(by_system) > 5 else ""))
    return out


# -- coverage ----------------------------------------------------------------------------------

def _seconds(meta: dict[str, Any]) -> float | None:
    try:
        start = _dt.datetime.fromisoformat(meta["start"])
        end = _dt.datetime.fromisoformat(meta["end"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (end - start).total_seconds())


def recording_coverage(rec: Recording) -> dict[str, Any]:
    """How much of a workload a recording saw: runs, seconds, processes, executables."""
    sources = rec.metadata.get("sources") or [rec.metadata]
    seconds = [s for s in (_seconds(m) for m in sources) if s is not None]
    execs = sorted({e.path for t in rec.targets for e in t.execs.values()})
    return {
        "runs": int(rec.metadata.get("runs") or len(sources) or 1),
        "seconds": round(sum(seconds), 3) if seconds else None,
        "longestRunSeconds": round(max(seconds), 3) if seconds else None,
        "processes": sum(t.processes for t in rec.targets),
        "executables": execs,
        "syscalls": len(rec.all_syscalls()),
        "paths": sum(len(t.files) for t in rec.targets),
        "lostEvents": rec.lost_events,
    }


def static_coverage(rec: Recording) -> list[dict[str, Any]]:
    """The static analysis of the recorded programs (:mod:`sandprint.static.coverage`): per
    target, how many of the syscalls they can make the recordings saw, and the unseen ones
    by risk, with the lines a report prints."""
    from ..static.coverage import coverage as static_cov

    return [dict(c.to_json(), lines=c.lines()) for c in static_cov(rec)]


def coverage(replay: Recording, provenance: list[Recording], paths: list[str]
             ) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {"replay": recording_coverage(replay)}
    warnings: list[str] = []
    if provenance:
        src = provenance[0] if len(provenance) == 1 else merge(provenance, paths)
        cov = recording_coverage(src)
        cov["files"] = list(paths)
        out["profile"] = cov
        if cov["runs"] <= 1 and (cov["seconds"] is None or cov["seconds"] < SHORT_RUN_SECONDS):
            secs = "unknown time" if cov["seconds"] is None else f"{cov['seconds']:.1f} s"
            warnings.append(f"the sandbox was generated from a single short run ({secs}): "
                            "code paths that run did not take are not in it; record more "
                            "runs (tests, replicas, longer) and merge them")
        out["static"] = static_coverage(src)
        new_execs = set(out["replay"]["executables"]) - set(cov["executables"])
        if new_execs:
            warnings.append(f"the replay executed {len(new_execs)} programs the recording "
                            f"never saw: {', '.join(sorted(new_execs)[:5])}")
    return out, warnings


# -- CLI glue ----------------------------------------------------------------------------------

def show(result: VerifyResult, *, report: str | None, html: str | None, log: Log) -> None:
    """Print the result, and write the JSON and HTML reports asked for (``verify`` and
    ``verify --podman``)."""
    from . import report_html as html_report
    from .report_text import render_text

    for line in render_text(result):
        log(line)
    if report:
        write_json(report, result.to_json())
        log(f"report: {report}")
    if html:
        html_report.write(result, html)
        log(f"html report: {html}")


def verify_cli(argv: list[str], *, seccomp: str | None, landlock: str | None, complain: bool,
               report: str | None, duration: float | None, log: Log,
               html: str | None = None, fix: bool = False,
               recordings: list[str] | None = None,
               keep_caps: list[str] | tuple[str, ...] = ()) -> int:
    for out in (report, html):
        if out:
            check_output_path(out)
    if fix:
        for p in (seccomp, landlock):
            if p:
                check_output_path(p)
    result = verify(argv, seccomp=seccomp, landlock=landlock, complain=complain,
                    duration=duration, log=log, recordings=recordings, keep_caps=keep_caps)
    show(result, report=report, html=html, log=log)
    if fix and result.denials:
        from .fix import fix_sandbox

        for line in fix_sandbox(result):
            log(line)
    return 0 if result.ok else 1


def dumps(result: VerifyResult) -> str:
    return json.dumps(result.to_json(), indent=2)


# kept for callers of the first version
def render_text(result: VerifyResult) -> list[str]:
    from .report_text import render_text as _render

    return _render(result)

