"""Verifying a container's seccomp profile: its image run with podman under the profile.

``sandprint verify --seccomp PROFILE --podman [--complain] -- [PODMAN-RUN-OPTIONS] IMAGE [CMD...]``

The arguments after ``--`` are those of ``podman run``. sandprint creates the container
(``podman --runtime runc create`` with ``--security-opt seccomp=PROFILE``, the ulimits these
hosts need, and the given arguments, which come last and may override the ulimits), attaches
the recorder to the container's cgroup *before* starting it (``podman start --attach``), and
judges the run as :func:`sandprint.verify.verify` judges a command:

* enforce mode: the profile is the container's filter; a call it refuses never reaches
  ``sys_enter`` but does reach ``sys_exit``, failing: the recorder (``count_exits``) counts it
  for the container's tasks, from the workload's exec on (``exits.bpf.c``);
* complain mode: the container runs with ``seccomp=unconfined`` and every syscall its workload
  made is compared with the profile.

The runtime's own calls between loading the filter and executing the workload are not the
workload's (the recorder counts from its exec, as ``record --container`` does): when a profile
lacks them the workload never starts, which the report says (generate with ``--runtime runc``).
Landlock rulesets apply inside the container and are not verified this way.
The container is removed at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from typing import Callable

from ..errors import InputError

Log = Callable[[str], None]

RUNTIME = "runc"
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def create_argv(args: list[str], profile_file: str, name: str, runtime: str = RUNTIME
                ) -> list[str]:
    """``podman create`` for the verification run (the user's arguments last)."""
    return (["podman", "--runtime", runtime, "create", "--name", name, *ULIMITS,
             "--security-opt", f"seccomp={profile_file}"] + list(args))


def _check_args(args: list[str]) -> None:
    if not args:
        raise InputError("no image given", field="--podman",
                         expected="podman run's arguments after --: [OPTIONS] IMAGE [COMMAND]")
    # a second seccomp option would replace the profile under test without a word
    for i, a in enumerate(args):
        opt = a if a.startswith("--security-opt=") else \
            (f"{a}={args[i + 1]}" if a == "--security-opt" and i + 1 < len(args) else None)
        if opt and opt.split("=", 1)[1].startswith("seccomp"):
            raise InputError(f"podman option {opt}: the profile is given with --seccomp",
                             field="--podman", expected="no seccomp security option")


def _oci_file(path: str, profile) -> tuple[str, bool]:
    """The profile as a file podman reads: the given one when it is OCI JSON already, else
    (an SPO resource) its OCI form in a temporary file; and whether that is temporary."""
    try:
        with open(path) as f:
            data = json.load(f)
        if isinstance(data, dict) and "defaultAction" in data:
            return os.path.abspath(path), False
    except (OSError, ValueError):
        pass
    fd, oci = tempfile.mkstemp(prefix="sandprint-verify-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(profile.to_oci(), f)
    return oci, True


def verify_container(args: list[str], *, seccomp: str, complain: bool = False,
                     duration: float | None = None, log: Log = print,
                     recordings: list[str] | None = None, runtime: str = RUNTIME):
    """Run ``podman run ARGS`` under ``seccomp`` (or beside it, complain) and judge it."""
    from ..profiler.cgroup_watch import CgroupWatch, Claim
    from ..profiler.containers import (container_id_from_cgroup, podman_available,
                                       require_cgroup2)
    from ..profiler.recorder import Recorder
    from ..profiler.session import Session
    from ..recording import Recording
    from ..capabilities.needed import to_keep
    from ..capabilities.outputs import run_flags
    from .replay import (VerifyResult, capability_report, coverage, load_sandbox,
                         seccomp_denials)

    _check_args(args)
    if not podman_available():
        raise InputError("podman is not installed", field="--podman",
                         expected="a host with podman and runc")
    root = require_cgroup2()
    profile, _, _ = load_sandbox(seccomp, None)
    if not complain:
        from ..seccomp.filter import build_filter

        build_filter(profile)          # every rule problem shows before anything runs
    provenance = [Recording.load(p) for p in recordings or []]
    name = f"sandprint-verify-{uuid.uuid4().hex[:12]}"
    mode = "complain" if complain else "enforce"
    oci, temporary = _oci_file(seccomp, profile)
    # with the recordings, the container gets only the capabilities they show were needed
    keep, _needed, cap_warnings = to_keep(provenance)
    cap_flags = run_flags(keep).split() if provenance and not complain else []
    argv = create_argv(cap_flags + list(args), "unconfined" if complain else oci, name, runtime)
    meta = {"type": "container", "engine": "podman", "runtime": runtime, "verify": mode,
            "podmanArgs": list(args)}
    wanted: dict[str, str | None] = {"id": None}

    def claim(path: str):
        cid = container_id_from_cgroup(path)
        return Claim(cid) if cid is not None and cid == wanted["id"] else None

    status: int | None = None
    reason = "exited"
    cid = name
    try:
        with Recorder(count_exits=not complain, target_meta=meta, attribute=True,
                      containers=True, files=False) as recorder:
            made = subprocess.run(argv, capture_output=True, text=True)
            if made.returncode != 0:
                raise InputError(f"podman could not create the container: "
                                 f"{made.stderr.strip() or made.stdout.strip()}",
                                 field="--podman", expected="podman run's arguments")
            cid = made.stdout.strip().splitlines()[-1]
            wanted["id"] = cid
            watch = CgroupWatch(recorder, root, claim, log=log)
            watch.bind(cid, name, {"containerID": cid, "containerName": name,
                                   "engine": "podman", "runtime": runtime})
            watch.scan()
            log(f"sandprint: verifying container {name} ({mode} mode) under {seccomp}")
            # by ID: a --name among the user's arguments renames the container
            started = subprocess.Popen(["podman", "start", "--attach", cid])

            def step() -> str | None:
                watch.refresh()
                if started.poll() is not None:
                    # podman returned: the container exited (or never started)
                    watch.refresh()
                    if not watch.live(cid):
                        return "exited"
                return None

            with Session(recorder, duration) as session:
                reason = session.run(step)
                if reason != "exited":
                    subprocess.run(["podman", "stop", "-t", "2", cid], capture_output=True)
                    started.wait()
            status = started.wait()
            index = watch.keys[cid].target
            rec = watch.finish(stopReason=reason, exitStatus=status)
            rec.metadata["target"] = meta | {"id": cid, "name": name}
            attribution = recorder.attribution()
            arch = recorder.arch
            denied = recorder.denied_counts(index) if not complain else {}
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", cid], capture_output=True)
        if temporary:
            os.unlink(oci)

    notes: list[str] = []
    denials, refused, answered = seccomp_denials(profile, rec, attribution, arch, denied, notes,
                                                 complain)
    if not any(t.execs for t in rec.targets) and status != 0:
        notes.append(f"the container's workload never started (podman exited {status}): "
                     "the runtime's own syscalls after loading the filter were probably "
                     "refused; generate the profile with --runtime runc")
    if rec.lost_events:
        notes.append(f"{rec.lost_events} events were lost: denials may be missing")
    result = VerifyResult(mode, argv, status, reason, denials, rec, notes, seccomp, None,
                          profile, None, refused, answered)
    result.coverage, result.warnings = coverage(rec, provenance, recordings or [])
    result.warnings += cap_warnings
    if provenance:
        result.capabilities = capability_report(keep, {})
    return result


def verify_container_cli(args: list[str], *, seccomp: str, complain: bool,
                         report: str | None, html: str | None, duration: float | None,
                         log: Log, recordings: list[str] | None = None) -> int:
    """`sandprint verify --podman`: exit 0 when nothing was denied and the container exited
    0, 1 otherwise (as `verify`)."""
    from ..profiler.record import check_output_path
    from .replay import show

    for out in (report, html):
        if out:
            check_output_path(out)
    result = verify_container(args, seccomp=seccomp, complain=complain, duration=duration,
                              log=log, recordings=recordings)
    show(result, report=report, html=html, log=log)
    return 0 if result.ok else 1
