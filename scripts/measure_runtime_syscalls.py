#!/usr/bin/env python3
"""Measure the syscalls a container runtime makes between loading the container's seccomp
filter and executing the workload, and store them as data per runtime version.

    sudo PYTHONPATH=. .venv/bin/python scripts/measure_runtime_syscalls.py [--runs 8] [--runtime runc]
    sudo PYTHONPATH=. .venv/bin/python scripts/measure_runtime_syscalls.py --engine containerd

Each run starts a tiny busybox container under an allow-all seccomp profile and counts, in
the kernel, every syscall of the thread that loaded the filter until its exec
(sandprint/profiler/runtime_window.py). The container is started by podman (``--engine
podman``, the default), or by containerd's CRI plugin through its shim (``--engine
containerd``: a private containerd and the kubelet stand-in of tests/cri, the container's
profile a Localhost one, as a kubelet passes it); the containerd variants are stored beside
podman's under the same runc version (``containerd``, ``containerdNoNewPrivileges``). Runs are made with and without no-new-privileges
(runc loads the filter at a different point in each). The union over runs is kept with how
many runs saw each syscall: the Go runtime's own calls (nanosleep, sched_yield, tgkill ...)
depend on timing, so a syscall seen in few runs is still needed.

Writes sandprint/profiler/runtime_measured.json (merging with entries for other versions).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sandprint.fileio import write_json  # noqa: E402
from sandprint.profiler.runtime_window import measure, runtime_version  # noqa: E402
from sandprint.profiler.runtime_data import DATA_FILE, load_measured  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from podman_image import ensure_busybox_image  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--engine", choices=("podman", "containerd"), default="podman")
    ap.add_argument("-o", "--output", default=str(DATA_FILE))
    args = ap.parse_args()
    version = runtime_version(args.runtime) or "unknown"
    if args.engine == "containerd":
        if args.runtime != "runc":
            print("--engine containerd measures runc (containerd's default runtime)",
                  file=sys.stderr)
            return 2
        with CRILauncher() as launcher:
            variants = measure_variants(args, None, launcher, ("containerd",
                                                               "containerdNoNewPrivileges"))
    else:
        variants = measure_variants(args, ensure_busybox_image(), None,
                                    ("default", "noNewPrivileges"))
    if variants is None:
        return 1
    store(args, version, variants)
    return 0


class CRILauncher:
    """Starts the measuring container through a private containerd's CRI (tests/cri)."""

    def __enter__(self):
        from cri.containerd import Containerd
        from cri.kubelet import Kubelet

        self.containerd = Containerd().__enter__()
        try:
            self.containerd.import_test_images()
            self.kubelet = Kubelet(self.containerd)
        except BaseException:
            self.containerd.stop()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.kubelet.close()
        finally:
            self.containerd.stop()

    def __call__(self, profile: str, no_new_privileges: bool):
        import threading
        import uuid

        from cri.kubelet import ContainerSpec, PodSpec

        spec = PodSpec("measure", f"runc-window-{uuid.uuid4().hex[:6]}", [ContainerSpec(
            "true", ["true"], seccomp={"type": "Localhost", "localhostProfile": profile},
            no_new_privs=no_new_privileges)])
        kubelet = self.kubelet

        class Run:
            returncode = None
            error = ""

            def __init__(self):
                self.thread = threading.Thread(target=self._run, daemon=True)
                self.thread.start()

            def _run(self):
                try:
                    pod = kubelet.run_pod(spec)
                    try:
                        self.code = kubelet.wait_exit(pod, "true", 60)
                    finally:
                        kubelet.delete_pod(pod)
                except Exception as e:   # noqa: BLE001 - reported as the run's failure
                    self.error, self.code = str(e), 1

            def poll(self):
                if self.thread.is_alive():
                    return None
                self.returncode = self.code
                return self.code

            def kill(self):
                pass

            def communicate(self):
                self.thread.join(60)
                self.poll()
                return "", self.error

        return Run()


def measure_variants(args, image, launcher, labels):
    variants = {}
    for label, nnp in zip(labels, (False, True)):
        seen: dict[str, int] = {}
        for i in range(args.runs):
            r = measure(image, ["true"], runtime=args.runtime, no_new_privileges=nnp,
                        launch=launcher)
            if r["windows"] != 1 or r["closedByExec"] != 1:
                print(f"run {i} ({label}): unexpected windows {r}", file=sys.stderr)
                return None
            for name in r["syscalls"]:
                seen[name] = seen.get(name, 0) + 1
        variants[label] = {"runs": args.runs, "syscalls": dict(sorted(seen.items()))}
        print(f"{args.runtime} {label}: {len(seen)} syscalls: {', '.join(sorted(seen))}")
    return variants


def store(args, version, variants) -> None:
    data = load_measured(args.output) if os.path.exists(args.output) else {"runtimes": {}}
    old = next((e for e in data["runtimes"].get(args.runtime, []) if e["version"] == version),
               None)
    entries = [e for e in data["runtimes"].get(args.runtime, []) if e["version"] != version]
    if old is not None:       # keep the other engine's variants of this version
        variants = {**{k: v for k, v in old["variants"].items() if k not in variants},
                    **variants}
    entries.append({
        "version": version,
        "measured": datetime.date.today().isoformat(),
        "kernel": os.uname().release,
        "arch": os.uname().machine,
        "method": "podman --runtime %s (variants default, noNewPrivileges) and containerd "
                  "1.6 CRI -> containerd-shim-runc-v2 -> runc with a Localhost profile "
                  "(variants containerd*), allow-all seccomp profile, busybox `true`; the "
                  "thread that loads the filter, counted from the load (exclusive) to its "
                  "execve (inclusive); values: how many runs saw the syscall" % args.runtime,
        "variants": variants,
    })
    data["about"] = ("Syscalls container runtimes were MEASURED making between loading the "
                     "container's seccomp filter and executing the workload "
                     "(scripts/measure_runtime_syscalls.py).")
    data["runtimes"][args.runtime] = sorted(entries, key=lambda e: e["version"])
    write_json(args.output, data)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
