"""Helpers shared by the test modules (import them from here: ``from helpers import ...``).

The kernel and podman markers, strict mode and the fixtures stay in conftest.py, which takes
its helpers from this module. Running the CLI: :func:`run_cli` in-process through click's
CliRunner for commands that need no kernel, :func:`run_sandprint` as a subprocess for those
that do (a recorder, a sandbox applied to the process, signals).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sandprint.recording import NetAccess, Recording
from sandprint.syscalls import native_arch

REPO = Path(__file__).resolve().parent.parent
STRICT = os.environ.get("SANDPRINT_STRICT") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip (or, in strict mode, fail) when a real component is missing."""
    if not condition:
        if STRICT:
            pytest.fail(f"required component missing in strict mode: {reason}")
        pytest.skip(reason)


def is_root() -> bool:
    return os.geteuid() == 0


def have_bcc() -> bool:
    try:
        import bcc  # noqa: F401
    except Exception:
        return False
    return True


def sandprint_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_sandprint(*args: str, check: bool = False, timeout: float = 300, **kw
                  ) -> subprocess.CompletedProcess:
    """Run the sandprint CLI of this checkout as a subprocess, capturing its output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([sys.executable, "-m", "sandprint", *args], env=sandprint_env(),
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"sandprint {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_cli(*args: str, check: bool = False, input: str | None = None
            ) -> subprocess.CompletedProcess:
    """Run the sandprint CLI in this process (click's CliRunner), for commands that need no
    kernel; the result reads like :func:`run_sandprint`'s (returncode, stdout, stderr)."""
    from sandprint.cli import main

    try:
        runner = CliRunner(mix_stderr=False)     # click 8.1: keep stderr apart
    except TypeError:
        runner = CliRunner()                     # click 8.2+: always apart
    result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
    proc = subprocess.CompletedProcess(["sandprint", *args], result.exit_code, result.stdout,
                                       result.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"sandprint {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


# -- helpers of the kernel tests -------------------------------------------------------

def bpf_ids(kind: str) -> set[int]:
    """IDs of every loaded BPF program (``prog``) or map (``map``), from bpftool."""
    need(shutil.which("bpftool") is not None, "bpftool not installed")
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out)}


def owned_bpf_ids(pid: int) -> tuple[set[int], set[int]]:
    """(program ids, map ids) the process holds file descriptors to."""
    progs, maps = set(), set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        for key, ids in (("prog_id", progs), ("map_id", maps)):
            m = re.search(rf"^{key}:\s*(\d+)", text, re.M)
            if m:
                ids.add(int(m.group(1)))
    return progs, maps


def children(pid: int) -> list[int]:
    """Pids of ``pid``'s children (forked by any of its threads), from /proc; [] once gone."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def wait_attached(proc, timeout: float = 120) -> None:
    """Wait for the recorder's "attached" line on stderr (its BPF programs are loaded)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "attached" in line:
                return
    proc.kill()
    raise AssertionError("recorder never attached:\n" + "".join(seen))


# -- recordings and schemas of the seccomp tests ------------------------------------------------

ARCH = native_arch()


def make_recording(targets: dict[str, list[str]], arch: str = ARCH) -> Recording:
    rec = Recording.new({"type": "command", "argv": ["test"]}, arch=arch)
    for name, calls in targets.items():
        t = rec.target(name)
        for c in calls:
            t.add_syscall(c, 3)
    return rec


BASIC = ["read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk"]


def spo_schema() -> dict:
    """The whole SeccompProfile resource: the project's schema of its spec, inside the
    Kubernetes object frame."""
    from sandprint.schema import load_schema

    spec = load_schema("seccompprofile-spec")
    return {"type": "object", "definitions": spec["definitions"],
            "properties": {
                "apiVersion": {"enum": ["security-profiles-operator.x-k8s.io/v1",
                                        "security-profiles-operator.x-k8s.io/v1beta1"]},
                "kind": {"const": "SeccompProfile"},
                "metadata": {"type": "object", "required": ["name"]},
                "spec": {k: v for k, v in spec.items() if k not in ("definitions", "$id")}},
            "required": ["apiVersion", "kind", "metadata", "spec"]}


# -- recordings of the Landlock generator tests -------------------------------------------------

PY = "/usr/lib/python3.11"


def landlock_schema() -> dict:
    """Upstream's landlockconfig JSON schema."""
    from sandprint.landlock.config import schema_path

    return json.loads(Path(schema_path()).read_text())


def new_recording(abi: int | None = 7) -> Recording:
    rec = Recording.new({"type": "command", "command": ["test"]}, arch="SCMP_ARCH_X86_64",
                        landlock_abi=abi)
    rec.target("main").processes = 1
    return rec


def add_runtime(t, pid: int = 4242) -> None:
    """What any dynamically linked Python process touches while starting."""
    t.add_file("/usr/bin/python3.11", {"execute", "read_file"}, kind="file")
    t.add_file("/lib64/ld-linux-x86-64.so.2", {"execute", "read_file"}, kind="file")
    t.add_file("/etc/ld.so.cache", {"read_file"}, kind="file")
    t.add_file("/lib/x86_64-linux-gnu/libc.so.6", {"read_file"}, kind="file")
    t.add_file("/lib/x86_64-linux-gnu/libm.so.6", {"read_file"}, kind="file")
    for mod in ("os.py", "abc.py", "codecs.py", "io.py", "stat.py", "posixpath.py",
                "genericpath.py", "tempfile.py", "random.py", "shutil.py", "json/__init__.py",
                "json/decoder.py", "encodings/__init__.py", "encodings/utf_8.py"):
        t.add_file(f"{PY}/{mod}", {"read_file"}, kind="file")
    t.add_file(PY, {"read_dir"}, kind="dir")
    # a library mapped PROT_EXEC needs read_file only (the recorder records no execute)
    t.add_file(f"{PY}/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
               {"read_file"}, kind="file")
    t.add_file(f"/proc/{pid}/maps", {"read_file"}, kind="file")
    t.add_file(f"/proc/{pid}/fd", {"read_dir"}, kind="dir")
    t.add_file("/dev/null", {"read_file", "write_file"}, kind="char")
    t.add_file("/dev/urandom", {"read_file"}, kind="char")
    t.add_file("/dev/pts/3", {"read_file", "write_file", "ioctl_dev"}, kind="char")


def python_tempfile_recording() -> Recording:
    """python3 script.py: reads the stdlib and /etc/passwd, writes a temp file, lists /."""
    rec = new_recording()
    t = rec.target("main")
    add_runtime(t)
    t.add_file("/etc/passwd", {"read_file"}, kind="file")
    t.add_file("/etc/nsswitch.conf", {"read_file"}, kind="file")
    t.add_file("/", {"read_dir"}, kind="dir")
    t.add_file("/tmp", {"make_reg", "remove_file", "read_dir"}, kind="dir")
    t.add_file("/tmp/tmpq8w2_x3f", {"write_file", "read_file"}, kind="file")
    t.add_file("/root", {"make_reg"}, kind="dir")
    t.add_file("/root/.python_history", {"read_file", "write_file"}, kind="file")
    return rec


def output_dir_recording() -> Recording:
    """A tool reading its inputs under a project and writing into an output directory."""
    rec = new_recording()
    t = rec.target("main")
    add_runtime(t)
    proj = "/home/alice/project"
    for i in range(7):
        t.add_file(f"{proj}/data/part{i}.csv", {"read_file"}, kind="file")
    t.add_file(f"{proj}/data", {"read_dir"}, kind="dir")
    t.add_file(f"{proj}/tool.ini", {"read_file"}, kind="file")
    t.add_file("/home/alice/.config/tool/settings.ini", {"read_file"}, kind="file")
    t.add_file(f"{proj}/report.txt", {"write_file", "truncate"}, kind="file")
    t.add_file(f"{proj}/out", {"make_reg", "make_dir"}, kind="dir")
    for name in ("a.json", "b.json"):
        t.add_file(f"{proj}/out/{name}", {"write_file"}, kind="file")
    t.add_file(f"{proj}/out/cache", {"make_reg", "remove_file"}, kind="dir")
    t.add_file(f"{proj}/out/cache/x.tmp", {"write_file", "read_file"}, kind="file")
    return rec


def server_recording() -> Recording:
    rec = new_recording()
    t = rec.target("main")
    add_runtime(t)
    t.add_file("/srv/site/index.html", {"read_file"}, kind="file")
    t.add_net(NetAccess("bind", "tcp", "inet", 8080))
    t.add_net(NetAccess("listen", "tcp", "inet", 8080))
    t.add_net(NetAccess("connect", "tcp", "inet6", 5432))
    t.add_net(NetAccess("connect", "udp", "inet", 53))
    return rec


def rules_of(config: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in config.get("pathBeneath", []):
        for p in rule["parent"]:
            out.setdefault(p, set()).update(rule["allowedAccess"])
    return out


# -- podman containers (test_containers, test_container_start_race, test_verify_container) ----

PODMAN = ["podman", "--runtime", "runc"]


LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rm_container(name: str) -> None:
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)


def start_recorder(name: str, out: str, *extra: str) -> subprocess.Popen:
    """`sandprint record --container NAME` in the background; returns once it is attached."""
    proc = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "--container", name,
                             "--runtime-timeout", "60", "-o", out, *extra],
                            env=sandprint_env(), stderr=subprocess.PIPE, text=True)
    wait_attached(proc)
    return proc


def finish_recorder(proc: subprocess.Popen, timeout: float = 60) -> str:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"recorder did not stop when the container exited:\n{err}")
    assert proc.returncode == 0, err
    return err


SCRIPT = ("echo start > /tmp/log; for i in 1 2 3; do echo $i >> /tmp/log; done; "
          "wc -l /tmp/log; cat /etc/passwd > /dev/null; echo done")


# -- k8s (test_k8s_manifests, test_upstream_conformance) ----------------------------------------

def spo_from_container_recording(tmp_path) -> dict:
    rec = {"apiVersion": "sandprint/v1", "kind": "Recording",
           "metadata": {"arch": "SCMP_ARCH_X86_64", "lostEvents": 0,
                        "target": {"type": "pod", "namespace": "shop", "name": "checkout"}},
           "targets": [{"name": "app", "syscalls": {"read": 3, "write": 2, "execve": 1},
                        "info": {"containerID": "a" * 64, "init": False}},
                       {"name": "setup", "syscalls": {"exit_group": 1, "execve": 1},
                        "info": {"containerID": "b" * 64, "init": True}}]}
    src = tmp_path / "rec.json"
    src.write_text(json.dumps(rec))
    out = tmp_path / "app-sp.yaml"
    r = run_cli("generate", "seccomp", str(src), "--target", "app", "--format", "spo",
                "--runtime", "runc", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(out.read_text())
