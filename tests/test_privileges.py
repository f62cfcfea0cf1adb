"""Privileges and output safety: the recorder refuses to run without root (or without its
capabilities) in one clear line; outputs get safe modes; a symlink planted at an output path is
replaced, never followed; doctor says what each command needs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from helpers import run_sandprint, sandprint_env
from sandprint.recording import Recording
from sandprint.syscalls import native_arch

ARCH = native_arch()
PROFILE = {"defaultAction": "SCMP_ACT_LOG", "architectures": [ARCH], "syscalls": []}


def _setpriv() -> str:
    import shutil

    path = shutil.which("setpriv")
    if not path:
        pytest.skip("setpriv (util-linux) not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    return path


def _commands(d: str, marker: str) -> dict[str, list[str]]:
    prof = os.path.join(d, "p.json")
    with open(prof, "w") as f:
        json.dump(PROFILE, f)
    return {
        "record": ["record", "-o", os.path.join(d, "out.json"), "--", "/bin/touch", marker],
        "verify": ["verify", "--seccomp", prof, "--", "/bin/touch", marker],
        "check": ["check", "--seccomp", prof, "--", "/bin/touch", marker],
    }


@pytest.mark.parametrize("command", ["record", "verify", "check"])
def test_bpf_commands_refuse_without_capabilities(tmp_path, command):
    setpriv = _setpriv()
    marker = str(tmp_path / "ran")
    args = _commands(str(tmp_path), marker)[command]
    proc = subprocess.run([setpriv, "--bounding-set=-all", "--inh-caps=-all", sys.executable,
                           "-m", "sandprint", *args], env=sandprint_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "CAP_BPF" in lines[0] and "root" in lines[0]
    assert not os.path.exists(marker), "the command ran"
    assert not os.path.exists(tmp_path / "out.json")


DROP_TO_NOBODY = """
import difflib, importlib, os, pkgutil, sys  # noqa: F401 (click imports difflib lazily)
# every sandprint module (and so what it imports) is imported while root can still read the
# interpreter's library (under /root); then drop to uid/gid 65534 for good
import sandprint, sandprint.cli
for m in pkgutil.walk_packages(sandprint.__path__, "sandprint."):
    if m.name.endswith("__main__"):
        continue     # importing it would run the command now, as root
    try:
        importlib.import_module(m.name)
    except Exception:
        pass
os.setgroups([]); os.setgid(65534); os.setuid(65534)
assert os.geteuid() == 65534
sys.argv = ["sandprint"] + sys.argv[1:]
sandprint.cli.main()
"""


@pytest.mark.parametrize("command", ["record", "verify", "check"])
def test_bpf_commands_refuse_as_an_unprivileged_user(command):
    _setpriv()
    d = tempfile.mkdtemp(prefix="sandprint-nobody-")
    try:
        os.chmod(d, 0o777)
        marker = os.path.join(d, "ran")
        args = _commands(d, marker)[command]
        os.chmod(os.path.join(d, "p.json"), 0o644)
        proc = subprocess.run([sys.executable, "-c", DROP_TO_NOBODY, *args],
                              env=sandprint_env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "need root" in lines[0] and "uid 65534" in lines[0]
        assert not os.path.exists(marker), "the command ran"
        assert not os.path.exists(os.path.join(d, "out.json"))
    finally:
        import shutil
        shutil.rmtree(d)


# -- outputs ---------------------------------------------------------------------------------

def _recording(path) -> None:
    rec = Recording.new({"type": "command", "command": ["x"]}, arch=ARCH)
    t = rec.target("main")
    for c in ("read", "write", "execve", "exit_group"):
        t.add_syscall(c)
    t.add_file("/etc/hostname", {"read_file"})
    rec.save(str(path))


def _outputs(tmp_path, out: str) -> dict[str, list[str]]:
    rec = tmp_path / "r.json"
    _recording(rec)
    prof = tmp_path / "prof.json"
    prof.write_text(json.dumps(PROFILE))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
                        "spec: {containers: [{name: app, image: x}]}\n")
    return {
        "generate seccomp": ["generate", "seccomp", str(rec), "-o", out],
        "generate landlock": ["generate", "landlock", "--no-host-check", str(rec), "-o", out],
        "merge": ["merge", str(rec), str(rec), "-o", out],
        "k8s patch": ["k8s", "patch", str(manifest), "--profile", "app=a.json", "-o", out,
                      "--no-validate"],
    }


@pytest.mark.parametrize("command", ["generate seccomp", "generate landlock", "merge",
                                     "k8s patch"])
def test_outputs_are_0644_and_planted_symlinks_are_replaced(tmp_path, command):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out.file"
    os.symlink(str(victim), str(out))
    old = os.umask(0)          # the mode must not depend on a permissive umask
    try:
        proc = run_sandprint(*_outputs(tmp_path, str(out))[command])
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n", "the symlink was followed"
    st = os.lstat(out)
    assert stat.S_ISREG(st.st_mode), "the symlink is still there"
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert not list(tmp_path.glob(".sandprint-*"))


def test_doctor_says_what_each_command_needs():
    proc = run_sandprint("doctor")
    out = proc.stdout
    assert "privileges each command needs:" in out
    for words in ("record, verify, check", "exec", "generate, merge, diff", "CAP_BPF"):
        assert words in out
    assert "this process: can run all of them" in out
