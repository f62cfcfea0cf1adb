"""Replaying a workload under its sandbox and reporting every denial.

Enforce mode applies the profile for real and watches the replay with the recorder, which
also watches sys_exit: a call a seccomp filter refuses never reaches sys_enter but does reach
sys_exit, failing, so a failed exit with no matching entry on that thread is a denial. Complain mode applies nothing and compares what the replay did with what the
profile allows: the same verdict, without blocking anything.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

from .fileio import write_json
from .profiler.bpf_loader import NR_SLOTS
from .profiler.record import run_command
from .profiler.recorder import Recorder
from .profiler.recording import Recording
from .profiler.targets import resolve_command
from .syscalls import syscall_name

Log = Callable[[str], None]


@dataclass
class Denial:
    kind: str                  # "syscall" | "file" | "network"
    name: str                  # syscall name, path, or port
    count: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

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

    @property
    def ok(self) -> bool:
        return not self.denials and self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": "sandprint/v1",
            "kind": "VerifyReport",
            "mode": self.mode,
            "command": self.command,
            "verdict": "pass" if self.ok else "fail",
            "exitStatus": self.exit_code,
            "stopReason": self.stop_reason,
            "denials": [d.to_json() for d in self.denials],
            "notes": self.notes,
            "recording": self.recording.to_json(),
        }


def seccomp_denials(recorder: Recorder, target: int, arch: str) -> list[Denial]:
    """Syscalls the filter refused: they failed at sys_exit without reaching sys_enter."""
    out = []
    for nr, refused in sorted(recorder.denied_counts(target).items()):
        name = syscall_name(arch, nr) if nr < NR_SLOTS - 1 else None
        out.append(Denial("syscall", name or f"#{nr}", refused, {"number": nr}))
    return out


def outside_profile(rec: Recording, allowed: set[str]) -> list[Denial]:
    """Complain mode: syscalls the replay made that the profile does not allow."""
    out = []
    for t in rec.targets:
        for name, n in sorted(t.syscalls.items()):
            if name not in allowed:
                out.append(Denial("syscall", name, n, {"target": t.name}))
    return out


def verify(argv: list[str], *, seccomp: str | None = None, landlock: str | None = None,
           complain: bool = False, duration: float | None = None, log: Log = print
           ) -> VerifyResult:
    from .seccomp_profile import load_profile

    resolve_command(argv)
    profile = load_profile(seccomp) if seccomp else None
    ruleset = None
    if landlock:
        from .landlock import Ruleset

        ruleset = Ruleset.from_file(landlock)

    def prepare() -> None:
        # In the child, right before exec: the sandbox, Landlock first (seccomp may forbid
        # the Landlock syscalls themselves).
        if ruleset is not None:
            ruleset.restrict_self(compat="hard")
        if profile is not None:
            from .enforce import apply_seccomp

            apply_seccomp(profile)

    mode = "complain" if complain else "enforce"
    notes: list[str] = []
    meta = {"type": "command", "command": list(argv), "verify": mode}
    with Recorder(count_exits=not complain, target_meta=meta) as recorder:
        cmd, reason = run_command(argv, recorder, duration=duration,
                                  prepare=None if complain else prepare, log=log)
        rec = recorder.finish(stopReason=reason, exitStatus=cmd.exit_code)
        denials: list[Denial] = []
        if profile is not None:
            if complain:
                denials += outside_profile(rec, profile.allowed_syscalls())
            else:
                denials += seccomp_denials(recorder, 0, recorder.arch)
                if profile.default_action in ("SCMP_ACT_LOG",):
                    denials += outside_profile(rec, profile.allowed_syscalls())
    if cmd.status is not None and cmd.exit_code == 128 + signal.SIGSYS:
        notes.append("the command was killed by SIGSYS: the profile's kill action stopped a "
                     "syscall (its name is not visible to the recorder; regenerate with "
                     "--default-action errno to see it)")
    for t in rec.targets:
        for path, fa in sorted(t.files.items()):
            if fa.denied:
                denials.append(Denial("file", path, fa.count, {"rights": sorted(fa.denied)}))
    if rec.lost_events:
        notes.append(f"{rec.lost_events} events were lost: denials may be missing")
    return VerifyResult(mode, list(argv), cmd.exit_code, reason, denials, rec, notes)


def render_text(result: VerifyResult) -> list[str]:
    lines = []
    verdict = "PASS" if result.ok else "FAIL"
    lines.append(f"sandprint verify ({result.mode}): {verdict} - command exited "
                 f"{result.exit_code}, {len(result.denials)} denial(s)")
    word = "would be denied" if result.mode == "complain" else "denied"
    for d in result.denials:
        extra = f" ({', '.join(d.detail['rights'])})" if d.kind == "file" else ""
        lines.append(f"  {word}: {d.kind} {d.name}{extra} x{d.count}")
    for n in result.notes:
        lines.append(f"  note: {n}")
    return lines


def verify_cli(argv: list[str], *, seccomp: str | None, landlock: str | None, complain: bool,
               report: str | None, duration: float | None, log: Log) -> int:
    result = verify(argv, seccomp=seccomp, landlock=landlock, complain=complain,
                    duration=duration, log=log)
    for line in render_text(result):
        log(line)
    if report:
        write_json(report, result.to_json())
    return 0 if result.ok else 1


def dumps(result: VerifyResult) -> str:
    return json.dumps(result.to_json(), indent=2)
