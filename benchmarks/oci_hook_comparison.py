#!/usr/bin/env python3
"""sandprint next to the OCI seccomp bpf hook (Debian's oci-seccomp-bpf-hook).

For each container workload, record it twice (sandprint `record --container`, started before
the container; the hook through podman's `io.containers.trace-syscall=of:PATH` annotation),
turn each recording into a profile (sandprint: the recorded syscalls plus runc's measured
post-filter set, via `generate seccomp --runtime runc` when the generator is in this checkout;
the hook: its own output as is), then run the same container under each profile and report:

  syscalls allowed | runc setup syscalls in it (mount, pivot_root, ...) | started | workload ok

With ``--pods``, the same workloads also run as the containers of one pod on containerd
(tests/cri: a private containerd driven over CRI as the kubelet drives it): sandprint records
the pod (`record --pod`, one profile per container), the hook records each workload through
podman (it is a podman/CRI-O hook; containerd does not run OCI hooks from annotations), and
both profiles are applied by containerd through CRI as Localhost profiles (rows with engine
``containerd``).

    sudo PYTHONPATH=. .venv/bin/python benchmarks/oci_hook_comparison.py [--pods] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from podman_image import ensure_busybox_image  # noqa: E402

PODMAN = ["podman", "--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024",
          "--ulimit", "nproc=1024:1024"]
SETUP = {"mount", "pivot_root", "sethostname", "umount2", "mknodat", "symlinkat", "keyctl",
         "setns", "unshare"}
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

WORKLOADS = {
    "shell-script": (["sh", "-c", "echo start > /tmp/log; for i in 1 2 3; do echo $i >> /tmp/log;"
                      " done; wc -l /tmp/log; cat /etc/passwd > /dev/null; echo done"], "done"),
    "http-server": (["sh", "-c", "httpd -p 8080 -h /www; sleep 0.5; "
                     "wget -q -O - http://127.0.0.1:8080/index.html; kill $(pidof httpd)"],
                    "hello from sandprint"),
    "fork-workers": (["sh", "-c", "for w in 1 2 3 4; do (echo worker $w > /tmp/w$w) & done; "
                      "wait; cat /tmp/w1 /tmp/w2 /tmp/w3 /tmp/w4"], "worker 4"),
}


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(HERE, "..") + (":" + e["PYTHONPATH"]
                                                  if e.get("PYTHONPATH") else "")
    return e


def sandprint(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandprint", *args], env=env(),
                          capture_output=True, text=True, **kw)


def record_sandprint(image: str, cmd: list[str], work: str) -> str:
    name = f"spbench-{uuid.uuid4().hex[:8]}"
    out = os.path.join(work, f"{name}.json")
    rec = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "--container", name,
                            "-o", out], env=env(), stderr=subprocess.PIPE, text=True)
    while True:                           # compile and attach
        line = rec.stderr.readline()
        if not line or "attached" in line:
            break
    try:
        subprocess.run(PODMAN + ["--name", name, image, *cmd], capture_output=True, check=True,
                       timeout=120)
        _, err = rec.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        rec.kill()
        raise RuntimeError(f"timed out recording {name}: {rec.communicate()[1]}") from None
    if rec.returncode != 0:
        raise RuntimeError(err)
    return out


def profile_sandprint(recording: str, out: str) -> None:
    r = sandprint("generate", "seccomp", recording, "--runtime", "runc", "-o", out)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)


def record_hook(image: str, cmd: list[str], out: str) -> None:
    subprocess.run(PODMAN + ["--annotation", f"io.containers.trace-syscall=of:{out}", image,
                             *cmd], capture_output=True, check=True, timeout=120)
    for _ in range(50):                   # the hook writes after the container stops
        if os.path.exists(out):
            return
        time.sleep(0.2)
    raise RuntimeError("the OCI seccomp hook wrote no profile")


def allowed(profile: str) -> set[str]:
    with open(profile) as f:
        p = json.load(f)
    return {n for r in p.get("syscalls", []) if r.get("action") == "SCMP_ACT_ALLOW"
            for n in r.get("names", [])}


def replay(image: str, cmd: list[str], profile: str, expect: str) -> tuple[bool, bool, str]:
    r = subprocess.run(PODMAN + ["--security-opt", f"seccomp={profile}", image, *cmd],
                       capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    # podman/runc report a failure to start the container (before the workload) like this:
    not_started = "OCI runtime" in text or "runc create failed" in text or \
        "error during container init" in text or r.returncode in (126, 127)
    return not not_started, r.returncode == 0 and expect in r.stdout, text.strip()[-200:]


def pod_rows(workloads: list[str], work: str, podman_image: str) -> list[dict]:
    """The workloads as the containers of one pod on containerd (see the module's doc)."""
    import shutil

    from cri.apiserver import APIServer
    from cri.containerd import Containerd
    from cri.kubelet import ContainerSpec, Kubelet, PodSpec

    rows = []
    rel_dir = f"sandprint-bench-{uuid.uuid4().hex[:8]}"
    seccomp_dir = os.path.join("/var/lib/kubelet/seccomp", rel_dir)
    with Containerd() as c:
        c.import_test_images()
        kubelet = Kubelet(c, node="bench-node")
        api = APIServer(kubelet.pod_json)
        try:
            spec = PodSpec("bench", f"hook-cmp-{uuid.uuid4().hex[:6]}",
                           [ContainerSpec(wl, WORKLOADS[wl][0]) for wl in workloads])
            kubelet.admit(spec)
            out = os.path.join(work, "pod.json")
            e = env()
            e.update(KUBECONFIG=api.kubeconfig(os.path.join(work, "kubeconfig")),
                     NODE_NAME="bench-node")
            rec = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "--pod",
                                    f"bench/{spec.name}", "-o", out], env=e,
                                   stderr=subprocess.PIPE, text=True)
            while True:
                line = rec.stderr.readline()
                if not line or "attached" in line:
                    break
            pod = kubelet.run_pod(spec)
            for wl in workloads:
                kubelet.wait_exit(pod, wl, 120)
            _, err = rec.communicate(timeout=120)
            kubelet.delete_pod(pod)
            if rec.returncode != 0:
                raise RuntimeError(err)
            os.makedirs(seccomp_dir, exist_ok=True)
            profiles = {}
            for wl in workloads:
                sp = os.path.join(seccomp_dir, f"{wl}-sandprint.json")
                r = sandprint("generate", "seccomp", out, "--target", wl, "--runtime", "runc",
                              "-o", sp)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
                hook = os.path.join(seccomp_dir, f"{wl}-hook.json")
                record_hook(podman_image, WORKLOADS[wl][0], hook)
                profiles[wl] = {"sandprint": sp, "oci-seccomp-bpf-hook": hook}
            for tool in ("sandprint", "oci-seccomp-bpf-hook"):
                replay_spec = PodSpec("bench", f"replay-{uuid.uuid4().hex[:6]}", [])
                pod = kubelet.run_pod(replay_spec)
                try:
                    for wl in workloads:
                        cmd, expect = WORKLOADS[wl]
                        cs = ContainerSpec(wl, cmd, seccomp={
                            "type": "Localhost",
                            "localhostProfile": f"{rel_dir}/{os.path.basename(profiles[wl][tool])}"})
                        started, ok, tail = True, False, ""
                        try:
                            kubelet.start_container(pod, cs)
                            code = kubelet.wait_exit(pod, wl, 120)
                            logs = kubelet.logs(pod, wl)
                            ok = code == 0 and expect in logs
                            tail = "" if ok else logs.strip()[-200:]
                        except Exception as ex:      # noqa: BLE001 - CRI refused to start it
                            started, tail = False, str(getattr(ex, "details", lambda: ex)())[-200:]
                        names = allowed(profiles[wl][tool])
                        rows.append({"workload": wl, "engine": "containerd", "tool": tool,
                                     "allowed": len(names),
                                     "setupSyscalls": sorted(names & SETUP),
                                     "started": started, "workloadOk": ok, "tail": tail})
                finally:
                    kubelet.delete_pod(pod)
        finally:
            api.close()
            kubelet.close()
            shutil.rmtree(seccomp_dir, ignore_errors=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="also write the results as JSON")
    ap.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    ap.add_argument("--pods", action="store_true",
                    help="also as the containers of a pod on containerd, through CRI")
    ap.add_argument("--pods-only", action="store_true", help="only the pod rows")
    args = ap.parse_args()
    image = ensure_busybox_image()
    rows = []
    workloads = args.workload or list(WORKLOADS)
    with tempfile.TemporaryDirectory() as work:
        for wl in workloads if not args.pods_only else []:
            cmd, expect = WORKLOADS[wl]
            sp_prof = os.path.join(work, f"{wl}-sandprint.json")
            profile_sandprint(record_sandprint(image, cmd, work), sp_prof)
            hook_prof = os.path.join(work, f"{wl}-hook.json")
            record_hook(image, cmd, hook_prof)
            for tool, prof in (("sandprint", sp_prof), ("oci-seccomp-bpf-hook", hook_prof)):
                names = allowed(prof)
                started, ok, tail = replay(image, cmd, prof, expect)
                rows.append({"workload": wl, "engine": "podman", "tool": tool,
                             "allowed": len(names),
                             "setupSyscalls": sorted(names & SETUP), "started": started,
                             "workloadOk": ok, "tail": "" if ok else tail})
        if args.pods or args.pods_only:
            rows += pod_rows(workloads, work, image)
    print(f"{'workload':14} {'engine':10} {'tool':22} {'allowed':>7} {'started':>8} "
          f"{'works':>6}  runc setup syscalls allowed")
    for r in rows:
        print(f"{r['workload']:14} {r['engine']:10} {r['tool']:22} {r['allowed']:7d} "
              f"{str(r['started']):>8} {str(r['workloadOk']):>6}  "
              f"{', '.join(r['setupSyscalls']) or '-'}")
        if r["tail"]:
            print(f"{'':14} -> {r['tail']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
