"""examples/selfsandbox: an application that confines itself with ``sandprint.landlock``.

Run as its own process (a Landlock domain cannot be left), in a fresh working directory.
"""

import json
import shutil
import subprocess
import sys

import pytest

from helpers import REPO, need, sandprint_env

pytestmark = pytest.mark.kernel

APP = REPO / "examples" / "selfsandbox" / "notes_index.py"


def run_app(workdir, *args):
    return subprocess.run([sys.executable, str(APP), str(workdir), *args], capture_output=True,
                          text=True, env=sandprint_env(), timeout=60)


@pytest.fixture
def workdir(tmp_path):
    from sandprint.landlock import abi_version
    need(abi_version() >= 6, "Landlock ABI >= 6 (network rights and scopes)")
    shutil.copytree(REPO / "examples" / "selfsandbox" / "data", tmp_path / "data")
    return tmp_path


@pytest.mark.parametrize("mode", [[], ["--from-file"]], ids=["builder", "from-file"])
def test_confines_itself_then_works_and_is_denied_the_rest(workdir, mode):
    p = run_app(workdir, *mode)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Landlock fully enforced"), lines
    assert "indexed 2 notes; top word: a" in lines
    for what in ("read /etc/passwd", "write data/planted.txt", "connect 127.0.0.1:80"):
        assert f"denied: {what} (Permission denied)" in lines, lines
    index = json.loads((workdir / "out" / "index.json").read_text())
    assert index["notes"] == ["landlock.txt", "sandprint.txt"]
    assert not (workdir / "data" / "planted.txt").exists()


def test_older_abi_best_effort_says_what_was_dropped(workdir):
    p = run_app(workdir, "--abi", "3")
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert first.startswith("Landlock partially enforced (ABI 3 of kernel ABI")
    assert "dropped: net bind_tcp, connect_tcp" in first
    assert "denied: write data/planted.txt (Permission denied)" in p.stdout
    # no network rights on ABI 3: the connection reaches the network stack
    assert "allowed: connect 127.0.0.1:80" in p.stdout


@pytest.mark.parametrize("mode", [[], ["--from-file"]], ids=["builder", "from-file"])
def test_older_abi_hard_refuses_and_does_no_work(workdir, mode):
    p = run_app(workdir, *mode, "--abi", "3", "--compat", "hard")
    assert p.returncode == 3
    assert "refusing to run unconfined" in p.stderr
    assert "bind_tcp/connect_tcp needs ABI 4" in p.stderr
    assert not (workdir / "out" / "index.json").exists()
