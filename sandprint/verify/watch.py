"""``sandprint watch``: complain mode in production.

A profile generated with ``--default-action log`` lets everything through and has the kernel
write an audit record (type 1326, AUDIT_SECCOMP) for each syscall it would have refused; an
enforcing profile's refusals are recorded too when its action is logged (kill, or any action
with ``SECCOMP_FILTER_FLAG_LOG``). ``watch`` reads those records (:mod:`.audit`: the audit
netlink socket, else /dev/kmsg; no auditd), keeps the ones of its target's processes
(:mod:`.watch_targets`: ``--pod``, ``--container`` or ``--pid``, as ``record`` takes them) and
writes them as a recording (``metadata.target``: ``{type: watch, of: TARGET}``) that ``merge``
and ``generate`` take: merged with the recording the profile came from, it gives the profile
the workload needs in production. A record of a process that no longer exists and whose
parent is unknown is counted as ``unattributed`` and the recording says so (it may have been
the target's).

Syscalls the container engine's default profile refuses too (``generators.baseline``) are
named in the summary and in ``metadata.watch.beyondBaseline``: in complain mode a compromised
workload gets every syscall through and into the watch recording, so what merging would add
beyond the usual must be a reviewed decision.

The session ends at ``--duration``, on SIGINT/SIGTERM, or when the target ends (the pod is
deleted or finished, the container or process tree exited); the recording is written in every
case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..recording import Recording, utcnow
from ..syscalls import native_arch, syscall_name
from .audit import AuditSource, SeccompRecord, actions_logged
from .proc_events import ProcEvents
from .watch_targets import ContainerScope, PidScope, PodScope, Scope

Log = Callable[[str], None]
LOOK_INTERVAL = 0.1         # seconds between looks at the target's cgroups / process tree


@dataclass
class Denial:
    count: int = 0
    actions: set[str] = field(default_factory=set)
    processes: dict[int, tuple[str, str]] = field(default_factory=dict)   # pid -> (comm, exe)


@dataclass
class WatchResult:
    recording: Recording
    denials: dict[str, dict[str, Denial]]          # target -> syscall -> what was seen
    records: int
    unattributed: int
    source: str


def watch(scope: Scope, *, duration: float | None = None, log: Log = print,
          source: AuditSource | None = None) -> WatchResult:
    """Collect the target's seccomp audit records until the target ends, ``duration`` runs
    out or SIGINT/SIGTERM; return them as a recording."""
    from ..profiler.session import StopSignals, stop_reason

    arch = native_arch()
    logged = actions_logged()
    if logged and "log" not in logged:
        log("sandprint: WARNING: 'log' is not in /proc/sys/kernel/seccomp/actions_logged: a "
            "log-mode profile's would-be denials are not recorded by the kernel "
            "(echo log >> that file to turn them on)")
    scope.log = log
    src = source or AuditSource()
    if src.kind == "kmsg":
        log(f"sandprint: WARNING: the audit netlink socket is closed "
            f"({src.why_not_netlink}); reading /dev/kmsg, where the kernel rate-limits "
            "audit records (kernel.printk_ratelimit): some may be dropped")
    scope.forks = ProcEvents()
    if scope.forks.error:
        log(f"sandprint: WARNING: cannot listen to process events ({scope.forks.error}): "
            "records of processes that exit quickly may stay unattributed")
    rec = Recording.new({"type": "watch", "of": scope.meta}, arch=arch)
    rec.metadata["filesRecorded"] = False      # audit records say nothing of files
    rec.metadata["argsRecorded"] = False       # nor of arguments
    denials: dict[str, dict[str, Denial]] = {}
    counts = {"records": 0, "others": 0, "unattributed": 0}
    deadline = None if duration is None else time.monotonic() + duration
    last_look = 0.0
    reason = None
    try:
        with StopSignals() as signals:
            scope.look()
            log(f"sandprint: attached; watching the seccomp audit records ({src.kind}) of "
                f"{scope.description}")
            while True:
                for r in src.read(0.05):
                    _take(r, scope, denials, counts, arch)
                now = time.monotonic()
                if now - last_look >= LOOK_INTERVAL:
                    last_look = now
                    scope.look()
                    reason = scope.ended()
                reason = stop_reason(signals.signum, deadline) or reason
                if reason:
                    for r in src.read(0.2):        # what the kernel still had queued
                        _take(r, scope, denials, counts, arch)
                    break
    finally:
        scope.forks.close()
        if source is None:
            src.close()
    for tname, by_call in sorted(denials.items()):
        t = rec.target(tname)
        t.info.update(scope.info(tname))
        pids: set[int] = set()
        seen = {}
        for call, d in sorted(by_call.items()):
            carch, _, name = call.rpartition(":")
            if carch and carch != arch:
                t.add_compat_syscall(carch, name, d.count)
            else:
                t.add_syscall(name, d.count)
            pids |= set(d.processes)
            seen[call] = {"count": d.count, "actions": sorted(d.actions),
                          "processes": [{"pid": p, "comm": c, "exe": e}
                                        for p, (c, e) in sorted(d.processes.items())]}
        t.processes = len(pids)
        t.info["auditRecords"] = seen
    rec.metadata["end"] = utcnow()
    rec.metadata["stopReason"] = reason
    rec.metadata["watch"] = {"source": src.kind, "records": counts["records"],
                             "otherProcesses": counts["others"],
                             "unattributed": counts["unattributed"],
                             "actionsLogged": sorted(logged)}
    # What a compromised workload would ask for in complain mode: calls the container engine's
    # own default profile refuses are named, so that merging them in is a decision, not a habit.
    wanted = {n for t in rec.targets for n in t.syscalls}
    if wanted:
        from ..generators.baseline import compare_with_baseline

        _, base = compare_with_baseline(wanted, arch)
        if not base.get("skipped"):
            rec.metadata["watch"]["beyondBaseline"] = base["beyondBaseline"]
            rec.metadata["watch"]["baseline"] = base["baseline"]
    if counts["unattributed"]:
        rec.mark_incomplete(
            f"{counts['unattributed']} seccomp audit record(s) came from processes that had "
            "exited before sandprint could place them; some may have been the target's")
    if src.overflows:
        rec.metadata["watch"]["overflows"] = src.overflows
        rec.mark_incomplete(f"the kernel dropped audit records for sandprint {src.overflows} "
                            "time(s) (its socket buffer overflowed): some denials may be "
                            "missing")
    if src.lossy:
        rec.mark_incomplete("read from /dev/kmsg, where the kernel rate-limits audit records: "
                            "some may have been dropped")
    return WatchResult(rec, denials, counts["records"], counts["unattributed"], src.kind)


def _take(r: SeccompRecord, scope: Scope, denials, counts, arch: str) -> None:
    counts["records"] += 1
    if r.action == "allow":
        return
    name, known = scope.place(r.pid)
    if name is None:
        counts["others" if known else "unattributed"] += 1
        return
    rarch = r.arch or arch
    sysname = syscall_name(rarch, r.syscall) or f"__NR_{r.syscall}"
    key = sysname if rarch == arch else f"{rarch}:{sysname}"
    d = denials.setdefault(name, {}).setdefault(key, Denial())
    d.count += 1
    d.actions.add(r.action)
    d.processes[r.pid] = (r.comm, r.exe)


def summarise(result: WatchResult, output: str, log: Log) -> None:
    for tname, by_call in sorted(result.denials.items()):
        for call, d in sorted(by_call.items()):
            procs = ", ".join(f"{c} ({e}) pid {p}" for p, (c, e) in
                              sorted(d.processes.items())[:5])
            more = f" and {len(d.processes) - 5} more" if len(d.processes) > 5 else ""
            log(f"sandprint: {tname}: {call} x{d.count} [{', '.join(sorted(d.actions))}] "
                f"by {procs}{more}")
    n = sum(len(v) for v in result.denials.values())
    log(f"sandprint: watched {result.records} seccomp audit record(s) ({result.source}); "
        f"{n} syscall(s) the profile refuses or would refuse, in "
        f"{len(result.denials)} target(s) -> {output}")
    beyond = result.recording.metadata["watch"].get("beyondBaseline")
    if beyond:
        log(f"sandprint: WARNING: {len(beyond)} of them the container engine's default profile "
            f"refuses too: {', '.join(beyond)}; a workload rarely needs these and a compromised "
            "one would ask for them in complain mode: review before merging them in")
    for reason in result.recording.metadata.get("incompleteReasons") or []:
        log(f"sandprint: incomplete: {reason}")


def watch_cli(*, output: str, duration: float | None, pid: int | None,
              container: str | None, pod: str | None, container_name: str | None,
              log: Log) -> int:
    from ..fileio import check_writable
    from ..profiler.session import RecordingNotSaved, save_recording

    check_writable(output)
    if pid:
        scope: Scope = PidScope(pid)
    elif container:
        scope = ContainerScope(container)
    else:
        scope = PodScope(pod, container_name=container_name)
    result = watch(scope, duration=duration, log=log)
    written, error = save_recording(result.recording, output)
    summarise(result, written or output, log)
    if error is not None:
        where = f"the recording was saved to {written} instead" if written else \
            "no fallback location was writable either: the recording is lost"
        raise RecordingNotSaved(f"{error}; {where}")
    return 0
