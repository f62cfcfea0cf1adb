"""The terminal summary of a verification: readable in ten seconds.

First line: the verdict and why. Then one line per denial, worst first (most calls), with
the layer that refused it, the rights, the count and the process that made it. Then coverage
warnings and notes.
"""

from __future__ import annotations

import os
from typing import Any

MAX_LINES = 25


def who(processes: list[dict[str, Any]]) -> str:
    """``pid 123 python3 (/usr/bin/python3.11)`` for the first process, ``+N more``."""
    if not processes:
        return ""
    p = processes[0]
    name = p.get("comm") or (os.path.basename(p["exe"]) if p.get("exe") else "?")
    text = f"pid {p['pid']} {name}"
    if p.get("exe") and os.path.basename(p["exe"]) != name:
        text += f" ({p['exe']})"
    if len(processes) > 1:
        text += f" +{len(processes) - 1} more"
    return text


def verdict_line(result) -> str:
    verdict = "PASS" if result.ok else "FAIL"
    n = len(result.denials)
    what = "would be denied" if result.mode == "complain" else "denied"
    parts = [f"command exited {result.exit_code}"]
    if result.stop_reason not in ("exited", None):
        parts.append(f"stopped by {result.stop_reason}")
    parts.append(f"{n} {what}" if n else "nothing denied")
    return f"sandprint verify ({result.mode}): {verdict} - " + ", ".join(parts)


def denial_line(d, mode: str) -> str:
    layer = d.detail.get("layer", "")
    rights = f" [{', '.join(d.rights)}]" if d.rights else ""
    proc = who(d.processes)
    word = "WOULD DENY" if mode == "complain" else "DENIED"
    # a call of another ABI (i386 on x86_64), named on its own architecture
    if d.detail.get("arch"):
        rights += f" ({d.detail['arch']}: {d.detail.get('reason', 'not allowed')})"
    line = f"  {word:<10} {layer:<8} {d.kind:<7} {d.name}{rights} x{d.count}"
    if d.detail.get("why"):          # an argument denial: what the profile allows instead
        line += f" {d.detail['why']}"
    return line + (f"  by {proc}" if proc else "")


def by_design_lines(result) -> list[str]:
    """The syscalls the profile answered ENOSYS on purpose: not denials, said apart."""
    answered = getattr(result, "answered_by_design", None)
    if not answered or result.profile is None:
        return []
    fallbacks = result.profile.enosys_by_design()
    verb = "would be answered" if result.mode == "complain" else "answered"
    return [f"  by design: {name} x{n} {verb} ENOSYS by the profile's own rule; glibc falls "
            f"back to {fallbacks.get(name, '?')}, which the profile allows"
            for name, n in sorted(answered.items())]


def render_text(result) -> list[str]:
    lines = [verdict_line(result)]
    denials = sorted(result.denials, key=lambda d: (-d.count, d.kind, d.name))
    for d in denials[:MAX_LINES]:
        lines.append(denial_line(d, result.mode))
    if len(denials) > MAX_LINES:
        lines.append(f"  ... and {len(denials) - MAX_LINES} more (see --report/--html)")
    cov = result.coverage.get("replay")
    if cov:
        secs = "?" if cov.get("seconds") is None else f"{cov['seconds']:.1f} s"
        lines.append(f"  replay: {secs}, {cov['processes']} process(es), "
                     f"{len(cov['executables'])} executable(s), {cov['syscalls']} syscalls, "
                     f"{cov['paths']} paths")
    prof = result.coverage.get("profile")
    if prof:
        secs = "?" if prof.get("seconds") is None else f"{prof['seconds']:.1f} s"
        lines.append(f"  sandbox made from: {prof['runs']} run(s), {secs}, "
                     f"{prof['processes']} process(es), {len(prof['executables'])} "
                     "executable(s)")
    for target in result.coverage.get("static") or ():
        lines += ["  " + line for line in target["lines"]]
    lines += by_design_lines(result)
    caps = getattr(result, "capabilities", None)
    if caps:
        kept = ", ".join(caps["kept"]) or "none"
        verb = "would keep" if result.mode == "complain" else "kept"
        lines.append(f"  capabilities {verb}: {kept}; as podman/docker run flags: "
                     f"{caps['runFlags']}")
    for w in result.warnings:
        lines.append(f"  warning: {w}")
    for n in result.notes:
        lines.append(f"  note: {n}")
    return lines
