"""``sandprint k8s install``: put a profile where the kubelet reads Localhost profiles.

The kubelet resolves ``localhostProfile: NAME`` against ``<root-dir>/seccomp`` (by default
``/var/lib/kubelet/seccomp``). The profile is checked to be an OCI seccomp profile and written
atomically (temporary file + rename), so a container starting meanwhile never reads half.
"""

from __future__ import annotations

import json
import os

from ..errors import InputError
from ..fileio import read_json, write_atomic
from .manifests import check_localhost_profile

KUBELET_SECCOMP_ROOT = "/var/lib/kubelet/seccomp"


def check_oci_profile(data, source: str) -> None:
    if not isinstance(data, dict):
        raise InputError("not a seccomp profile", source=source, expected="a JSON object")
    if data.get("kind") == "SeccompProfile":
        raise InputError("this is an SPO SeccompProfile resource; the kubelet reads OCI JSON",
                         source=source,
                         expected="an OCI profile (generate seccomp --format oci)")
    if not isinstance(data.get("defaultAction"), str) or \
            not data["defaultAction"].startswith("SCMP_ACT_"):
        raise InputError("missing or invalid", source=source, field="defaultAction",
                         expected="an SCMP_ACT_* action")
    rules = data.get("syscalls", [])
    if not isinstance(rules, list):
        raise InputError("not a list", source=source, field="syscalls", expected="a list")
    for i, r in enumerate(rules):
        if not isinstance(r, dict) or not isinstance(r.get("action"), str) or \
                not isinstance(r.get("names", []), list):
            raise InputError("invalid rule", source=source, field=f"syscalls[{i}]",
                             expected="an object with names and action")


def install_profile(profile: str, *, name: str | None = None,
                    root: str = KUBELET_SECCOMP_ROOT) -> tuple[str, str]:
    """Install ``profile``; returns (the file written, the localhostProfile to use)."""
    data = read_json(profile, "seccomp profile")
    check_oci_profile(data, profile)
    rel = check_localhost_profile(name or os.path.basename(profile), "--name")
    dest = os.path.join(root, rel)
    real_root = os.path.realpath(root)
    os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
    if not os.path.realpath(os.path.dirname(dest)).startswith(real_root):
        raise InputError("resolves outside the seccomp directory", source=dest,
                         expected=f"a path below {root}")
    write_atomic(dest, json.dumps(data, indent=2) + "\n", mode=0o644)
    return dest, rel
