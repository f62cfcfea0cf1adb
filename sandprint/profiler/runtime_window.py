"""Measuring which syscalls a container runtime makes after loading the container's seccomp
filter and before executing the workload (``sandprint generate seccomp --runtime``).

:func:`measure` runs one container with podman under the given runtime and an allow-all
seccomp profile (so the runtime really loads a filter and nothing is refused), follows the
container's cgroup from the moment it is made, and counts, per thread, the syscalls between
the filter load and the exec (``bpf/runtime_window.bpf.c``). Run it with and without
``no-new-privileges``: runc loads the filter at a different point in each case.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import tempfile
import time
from typing import Any, Callable

from ..seccomp.profile import Action
from ..syscalls import native_arch, syscall_name, syscall_number
from . import bpf_loader as L
from .containers import container_id_from_cgroup, require_cgroup2

ALLOW_ALL = {"defaultAction": Action.ALLOW.value,
             "syscalls": [{"names": ["acct"], "action": Action.ERRNO.value}]}


def podman_base(runtime: str) -> list[str]:
    return ["podman", "--runtime", runtime, "run", "--rm", "--ulimit", "nofile=1024:1024",
            "--ulimit", "nproc=1024:1024"]


def measure(image: str, command: list[str], *, runtime: str = "runc",
            no_new_privileges: bool = False, timeout: float = 60,
            launch: Callable[[str, bool], Any] | None = None) -> dict:
    """Run ``image command`` once; return {"syscalls": {name: count}, "windows": n, ...}.

    ``launch(profile, no_new_privileges)``, when given, starts the container another way
    than podman (containerd through CRI, say) under the allow-all profile at the path
    ``profile``, and returns something with ``poll()`` (None while it runs, else its exit
    status) and ``communicate()`` (its output and error text), as a ``Popen`` has."""
    require_cgroup2()
    arch = native_arch()
    defines = L.container_defines()
    defines.update({"NR_PRCTL": syscall_number(arch, "prctl"),
                    "NR_SECCOMP": syscall_number(arch, "seccomp")})
    bpf = L.load(["containers.bpf.c", "runtime_window.bpf.c"], arch, defines)
    try:
        cgroups = bpf["cgroup_targets"]

        def on_event(ctx, data, size):
            h = ctypes.cast(data, ctypes.POINTER(L.EventHeader)).contents
            if h.type != L.EV_CGROUP_MKDIR:
                return
            ev = ctypes.cast(data, ctypes.POINTER(L.CgroupEvent)).contents
            if container_id_from_cgroup(ev.path.decode()):
                cgroups[ctypes.c_uint64(ev.id)] = L.TaskInfo(0, 0)

        bpf["events"].open_ring_buffer(on_event)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(ALLOW_ALL, f)
            profile = f.name
        if launch is not None:
            proc = launch(profile, no_new_privileges)
        else:
            argv = podman_base(runtime) + ["--security-opt", f"seccomp={profile}"]
            if no_new_privileges:
                argv += ["--security-opt", "no-new-privileges"]
            argv += [image] + list(command)
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            bpf.ring_buffer_poll(20)
        if proc.poll() is None:
            proc.kill()
        err = proc.communicate()[1]
        os.unlink(profile)
        if proc.returncode != 0:
            raise RuntimeError(f"the measuring container failed ({proc.returncode}): {err}")
        counts = {}
        table = bpf["window_counts"]
        for slot in range(L.NR_SLOTS):
            n = int(table[ctypes.c_int(slot)].value)
            if n:
                name = syscall_name(arch, slot) if slot < L.NR_SLOTS - 1 else None
                counts[name or str(slot)] = n
        stats = bpf["window_stats"]
        return {"syscalls": dict(sorted(counts.items())),
                "windows": int(stats[ctypes.c_int(0)].value),
                "closedByExec": int(stats[ctypes.c_int(1)].value)}
    finally:
        bpf.cleanup()


def runtime_version(runtime: str) -> str | None:
    import re
    import shutil

    exe = shutil.which(runtime)
    if not exe:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version\s+(\S+)", out)
    return m.group(1) if m else None
