"""Outputs written safely in a directory that others can write.

An attacker who can write the output directory (a shared, non-sticky folder) swaps sandprint's
temporary file for a symlink to a file of root's between the write and the mode change. The
mode must be set through the open descriptor, so the swap changes nothing but the attacker's
own link.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

PYTHON = "/usr/bin/python3"

import pytest

from helpers import is_root, need
from sandprint import fileio

RACER = textwrap.dedent("""
    import os, sys, time
    directory, victim, stop = sys.argv[1:4]
    end = time.monotonic() + 60
    while not os.path.exists(stop) and time.monotonic() < end:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.startswith(".sandprint-") and name.endswith(".tmp"):
                tmp = os.path.join(directory, name)
                try:
                    os.unlink(tmp)
                    os.symlink(victim, tmp)
                except OSError:
                    pass
""")


@pytest.mark.kernel
def test_symlink_swap_by_another_uid_never_changes_another_files_mode():
    need(is_root(), "needs root (the racer runs as another uid)")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        need(False, "no 'nobody' user to race as")
    # pytest's own tmp_path lies under a folder only root may enter; the racer must see in
    tmp_path = Path(tempfile.mkdtemp(prefix="sandprint-race-", dir="/tmp"))
    os.chmod(tmp_path, 0o755)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)          # writable by all, and not sticky: others may rename in it
    victim = tmp_path / "victim"
    victim.write_text("root's secret\n")
    os.chmod(victim, 0o600)
    stop = tmp_path / "stop"
    # the racer runs as nobody, who may not enter the directory of this venv's interpreter
    need(os.access("/usr/bin/python3", os.X_OK), "no system python3 for the racer")

    def as_nobody():
        os.setgid(nobody.pw_gid)
        os.setgroups([])
        os.setuid(nobody.pw_uid)

    racer = subprocess.Popen([PYTHON, "-c", RACER, str(shared), str(victim), str(stop)],
                             preexec_fn=as_nobody)
    try:
        _race(shared, victim)
    finally:
        stop.write_text("")
        racer.wait(timeout=30)
        shutil.rmtree(tmp_path, ignore_errors=True)


def _race(shared: Path, victim: Path) -> None:
    """Root writes an output again and again while the racer swaps the temporary file."""
    for i in range(400):
        out = shared / "profile.json"
        try:
            fileio.write_atomic(str(out), "{}\n" * 2000, mode=0o644)
        except fileio.OutputError:
            pass
        if out.is_symlink():
            out.unlink()
        assert (victim.stat().st_mode & 0o777) == 0o600, f"victim's mode changed on try {i}"
    assert victim.read_text() == "root's secret\n"
