"""The needed capabilities as each output carries them: ``generate`` notes, systemd
directives, podman/docker flags and a Kubernetes ``securityContext.capabilities``."""

from __future__ import annotations

from typing import Any

from .names import NUMBER, short


def ordered(caps) -> list[str]:
    return sorted(caps, key=lambda c: NUMBER.get(c, 99))


def run_flags(caps) -> str:
    """``--cap-drop=all --cap-add=NET_BIND_SERVICE`` for podman and docker."""
    return " ".join(["--cap-drop=all"] + [f"--cap-add={short(c)}" for c in ordered(caps)])


def k8s_capabilities(caps) -> dict[str, Any]:
    """``securityContext.capabilities``: drop ALL, add the needed ones (Kubernetes' names,
    without the CAP_ prefix)."""
    out: dict[str, Any] = {"drop": ["ALL"]}
    if caps:
        out["add"] = [short(c) for c in ordered(caps)]
    return out


def systemd_lines(caps: dict[str, list[str]]) -> list[str]:
    """``CapabilityBoundingSet=`` (empty: none at all) and ``AmbientCapabilities=`` (what a
    unit with ``User=`` keeps across its exec; a root unit gets the bounding set)."""
    names = " ".join(ordered(caps))
    lines = ["# Capabilities: only those the recording shows the workload needed"
             + (":" if caps else " (none).")]
    for cap in ordered(caps):
        lines.append(f"#   {cap}: {'; '.join(caps[cap][:3])}")
    return lines + [f"CapabilityBoundingSet={names}", f"AmbientCapabilities={names}"]


def summary_lines(caps: dict[str, list[str]], notes: list[str]) -> list[str]:
    """``generate seccomp``'s lines: what to run the workload with."""
    if not caps:
        head = "capabilities needed: none (exec/verify --recording REC drop them all)"
    else:
        head = "capabilities needed: " + "; ".join(
            f"{c} ({', '.join(caps[c][:2])}{', ...' if len(caps[c]) > 2 else ''})"
            for c in ordered(caps))
    return [head, f"  run it with: sandprint exec --recording REC ..., or podman/docker "
                  f"{run_flags(caps)}"] + [f"  note: {n}" for n in notes]
