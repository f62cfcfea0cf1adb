"""The terminal guard (sandprint/seccomp/terminal_guard.py): a workload run by ``sandprint exec``
cannot push keystrokes into the terminal it inherited.

Without it, a workload under a generated Landlock ruleset (which never restricts inherited
file descriptors) ran ``ioctl(0, TIOCSTI, "id\\n")`` and the bytes waited in the invoking
terminal's input queue for the shell to read them once sandprint exited.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import tty

import pytest

from helpers import REPO, need, sandprint_env

pytestmark = pytest.mark.kernel

PUSH = ("import fcntl, termios\n"
        "for ch in b'id\\n':\n"
        "    fcntl.ioctl(0, termios.TIOCSTI, bytes([ch]))\n")


def _run_on_a_terminal(argv: list[str]) -> tuple[subprocess.CompletedProcess, bytes]:
    """Run argv with stdin a fresh pty; what is left in that terminal's input afterwards."""
    master, slave = pty.openpty()
    try:
        tty.setraw(slave)
        proc = subprocess.run(argv, stdin=slave, capture_output=True, text=True, timeout=120,
                              env=sandprint_env())
        os.set_blocking(slave, False)
        try:
            left = os.read(slave, 100)
        except BlockingIOError:
            left = b""
        return proc, left
    finally:
        os.close(slave)
        os.close(master)


def _landlock_ruleset(tmp_path) -> str:
    from sandprint.landlock import abi as A

    need(A.kernel_abi() >= 1, "Landlock not available in this kernel")
    path = tmp_path / "ruleset.json"
    path.write_text(json.dumps({"ruleset": [{"handledAccessFs": ["make_reg", "remove_file"]}]}))
    return str(path)


def test_without_a_sandbox_the_push_gets_through():
    proc, left = _run_on_a_terminal([sys.executable, "-c", PUSH])
    assert proc.returncode == 0, proc.stderr
    assert left == b"id\n"


@pytest.mark.parametrize("layer", ["landlock", "seccomp"])
def test_exec_refuses_tiocsti_on_the_inherited_terminal(tmp_path, layer):
    need(os.geteuid() == 0, "needs root (a private mount namespace for the ruleset)")
    if layer == "landlock":
        sandbox = ["--landlock", _landlock_ruleset(tmp_path)]
    else:   # a profile that allows ioctl whatever its arguments (a recording without them)
        prof = tmp_path / "allow.json"
        prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}))
        sandbox = ["--seccomp", str(prof)]
    proc, left = _run_on_a_terminal([sys.executable, "-m", "sandprint", "exec", *sandbox,
                                     "--", sys.executable, "-c", PUSH])
    assert left == b"", f"keystrokes pushed into the invoking terminal: {left!r}"
    assert proc.returncode != 0 and "PermissionError" in proc.stderr, proc.stderr
    assert "terminal guard" in proc.stderr


def test_the_guard_refuses_only_the_two_requests():
    """In a child: TIOCSTI and TIOCLINUX (also with high bits set, which the kernel drops)
    get EPERM, other terminal ioctls still work."""
    code = ("import errno, fcntl, os, pty, termios, struct\n"
            "from sandprint.seccomp.terminal_guard import load_terminal_guard\n"
            "m, s = pty.openpty()\n"
            "load_terminal_guard()\n"
            "out = []\n"
            "for req in (termios.TIOCSTI, termios.TIOCSTI | (1 << 32), 0x541C):\n"
            "    try:\n"
            "        fcntl.ioctl(s, req, b'x'); out.append('ok')\n"
            "    except OSError as e:\n"
            "        out.append(errno.errorcode[e.errno])\n"
            "fcntl.ioctl(s, termios.TIOCGWINSZ, struct.pack('HHHH', 0, 0, 0, 0))\n"
            "print(out)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=sandprint_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['EPERM', 'EPERM', 'EPERM']"
