"""Containers recorded with real podman + runc, profiles replayed under runc.

Each workload is recorded by `sandprint record --container NAME` started BEFORE the container
(so it must catch the container from its first syscall), a profile is made from the recording
plus runc's measured post-filter syscalls, the same container runs under it, and a syscall the
workload never made is refused inside it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from helpers import (LIMITS, PODMAN, SCRIPT, finish_recorder, need, rm_container,  # noqa: F401
                     run_sandprint, sandprint_env, start_recorder, unique)

pytestmark = [pytest.mark.podman, pytest.mark.kernel]

ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
RUNC_SETUP = {"mount", "pivot_root", "sethostname", "umount2", "mknodat", "symlinkat",
              "keyctl", "unshare", "setns"}


def profile_from(recording: str, out: str, runtime: str = "runc") -> set[str]:
    """An OCI profile from the recording: the seccomp generator when this checkout has it,
    else the recorded syscalls plus runc's measured set."""
    try:
        import sandprint.generators.seccomp  # noqa: F401
        have_generator = True
    except ImportError:
        have_generator = False
    if have_generator:
        run_sandprint("generate", "seccomp", recording, "--runtime", runtime, "-o", out,
                      check=True)
        with open(out) as f:
            prof = json.load(f)
        return {n for rule in prof["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
                for n in rule["names"]}
    from sandprint.profiler.runtime_data import measured_syscalls

    with open(recording) as f:
        rec = json.load(f)
    names = set()
    for t in rec["targets"]:
        names |= set(t["syscalls"])
    if runtime != "none":
        names |= measured_syscalls(runtime)
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ARCHES,
            "syscalls": [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]}
    with open(out, "w") as f:
        json.dump(prof, f)
    return names


def run_under(image: str, profile: str, *cmd: str, name: str | None = None,
              extra: tuple = ()) -> subprocess.CompletedProcess:
    argv = PODMAN + ["run", "--rm", *LIMITS, "--security-opt", f"seccomp={profile}"]
    if name:
        argv += ["--name", name]
    return subprocess.run(argv + list(extra) + [image, *cmd], capture_output=True, text=True,
                          timeout=120)


def record_run(tmp_path, image: str, cmd: list[str], *, run_extra: tuple = (),
               during=None) -> tuple[dict, str]:
    name = unique("sp-rec")
    out = str(tmp_path / f"{name}.json")
    rec = start_recorder(name, out)
    try:
        argv = PODMAN + ["run", "--rm", "--name", name, *LIMITS, *run_extra, image, *cmd]
        if during is None:
            ran = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            assert ran.returncode == 0, ran.stderr
        else:
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            try:
                during()
            finally:
                _, perr = p.communicate(timeout=60)
            assert p.returncode == 0, perr
        finish_recorder(rec)
    finally:
        if rec.poll() is None:
            rec.kill()
        rm_container(name)
    with open(out) as f:
        return json.load(f), out


def test_shell_script_container(bpf_ready, podman_ready, busybox_image, tmp_path):
    rec, path = record_run(tmp_path, busybox_image, ["sh", "-c", SCRIPT])
    assert len(rec["targets"]) == 1
    t = rec["targets"][0]
    assert t["info"]["engine"] == "podman" and len(t["info"]["containerID"]) == 64
    assert t["execs"][0]["path"] == "/bin/sh", t["execs"]
    assert "execve" in t["syscalls"] and "write" in t["syscalls"]
    # runc's setup is not the workload's
    assert not RUNC_SETUP & set(t["syscalls"]), RUNC_SETUP & set(t["syscalls"])
    assert rec["metadata"]["target"].get("startedBeforeRecorder") is None

    prof = str(tmp_path / "p.json")
    allowed = profile_from(path, prof, "runc")
    ok = run_under(busybox_image, prof, "sh", "-c", SCRIPT)
    assert ok.returncode == 0 and "done" in ok.stdout, ok.stderr
    # a syscall the workload never made is refused inside the container
    assert "sethostname" not in allowed
    denied = run_under(busybox_image, prof, "sh", "-c", SCRIPT + "; hostname foo")
    assert denied.returncode != 0
    assert "not permitted" in (denied.stderr + denied.stdout).lower()

    # without runc's post-filter syscalls, the container does not even start
    prof_none = str(tmp_path / "p-none.json")
    profile_from(path, prof_none, "none")
    failed = run_under(busybox_image, prof_none, "sh", "-c", SCRIPT)
    assert failed.returncode != 0 and "done" not in failed.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fetch(port: int, deadline: float) -> str:
    import urllib.request

    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
                return r.read().decode()
        except OSError as e:
            last = e
            time.sleep(0.2)
    raise AssertionError(f"server never answered on {port}: {last}")


def test_server_container(bpf_ready, podman_ready, busybox_image, tmp_path):
    """busybox httpd in the container's own network namespace, queried from the host."""
    port = _free_port()
    cmd = ["sh", "-c", "httpd -f -p 8080 -h /www & pid=$!; sleep 4; kill $pid; wait; echo bye"]
    publish = ("-p", f"127.0.0.1:{port}:8080")

    def query():
        assert "hello from sandprint" in _fetch(port, time.monotonic() + 15)

    rec, path = record_run(tmp_path, busybox_image, cmd, run_extra=publish, during=query)
    t = rec["targets"][0]
    for needed in ("bind", "listen", "accept4" if "accept4" in t["syscalls"] else "accept"):
        assert needed in t["syscalls"], sorted(t["syscalls"])
    prof = str(tmp_path / "srv.json")
    allowed = profile_from(path, prof)
    box = unique("sp-srv")
    p = subprocess.Popen(PODMAN + ["run", "--rm", "--name", box, *LIMITS, *publish,
                                   "--security-opt", f"seccomp={prof}", busybox_image, *cmd],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "hello from sandprint" in _fetch(port, time.monotonic() + 20)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    finally:
        rm_container(box)
    assert "sethostname" not in allowed


def test_forking_workers_container(bpf_ready, podman_ready, busybox_image, tmp_path):
    cmd = ["sh", "-c", "for w in 1 2 3 4; do (echo worker $w > /tmp/w$w; sleep 0.2) & done; "
                       "wait; cat /tmp/w1 /tmp/w2 /tmp/w3 /tmp/w4"]
    rec, path = record_run(tmp_path, busybox_image, cmd)
    t = rec["targets"][0]
    assert t["processes"] >= 5, t["processes"]
    assert {"clone", "wait4"} <= set(t["syscalls"]) or {"fork", "wait4"} <= set(t["syscalls"])
    prof = str(tmp_path / "w.json")
    profile_from(path, prof)
    ok = run_under(busybox_image, prof, *cmd)
    assert ok.returncode == 0 and "worker 4" in ok.stdout, ok.stderr


def test_recorder_started_after_container(bpf_ready, podman_ready, busybox_image, tmp_path):
    """A container already running when the recorder starts: followed from then on, and the
    recording says it misses the start (incomplete), which generate refuses by default."""
    name = unique("containers-late")
    # it waits for /tmp/go, so it is still running whenever the recorder attaches
    subprocess.run(PODMAN + ["run", "-d", "--name", name, *LIMITS, busybox_image, "sh", "-c",
                             "while [ ! -e /tmp/go ]; do sleep 0.2; done; "
                             "for i in 1 2 3; do ls / > /dev/null; done; hostname > /dev/null"],
                   check=True, capture_output=True)
    out = str(tmp_path / "late.json")
    proc = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "--container", name,
                             "-o", out], env=sandprint_env(), stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        assert "already running" in first, first
        subprocess.run(PODMAN + ["exec", name, "touch", "/tmp/go"], check=True,
                       capture_output=True)
        err = first + finish_recorder(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        rm_container(name)
    with open(out) as f:
        rec = json.load(f)
    assert rec["metadata"]["target"]["startedBeforeRecorder"] is True
    assert rec["metadata"]["complete"] is False
    assert "start" in " ".join(rec["metadata"]["incompleteReasons"]), err
    t = rec["targets"][0]
    assert "getdents64" in t["syscalls"]           # the ls after the recorder attached
    assert not RUNC_SETUP & set(t["syscalls"])
    refused = run_sandprint("generate", "seccomp", out, "-o", str(tmp_path / "p.json"))
    assert refused.returncode == 2 and "--allow-lossy" in refused.stderr, refused.stderr
    assert not (tmp_path / "p.json").exists()


def test_unknown_container_is_input_error(tmp_path, podman_ready):
    r = run_sandprint("record", "--container", "no-such-container-sp", "--runtime-timeout",
                      "1", "-o", str(tmp_path / "x.json"), timeout=120)
    assert r.returncode == 2, r.stderr
    assert "no container named 'no-such-container-sp'" in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_measured_runc_set_is_covered_by_generator():
    """The seccomp generator's runc set covers every syscall measured here."""
    from sandprint.profiler.runtime_data import measured_syscalls

    measured = measured_syscalls("runc")
    assert {"capset", "setgroups", "execve", "close"} <= measured
    assert not {"mount", "pivot_root", "sethostname"} & measured
    try:
        from sandprint.generators.runtime_syscalls import runtime_syscalls
    except ImportError:
        pytest.skip("seccomp generator not in this checkout")
    assert measured - set(runtime_syscalls("runc").syscalls) == set()


