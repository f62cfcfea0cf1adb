"""What Landlock really checks, under real rulesets, and the private mounts of ``exec`` (issue 14).

The generator's narrowing rests on these kernel facts, each shown here:

* execute is checked at execve (open_exec) only: a library mapped PROT_EXEC needs read_file,
  so execute goes on the exact programs executed and a program never run is refused;
* a pseudo-terminal's peer from /dev/ptmx (TIOCGPTPEER, or opened by name) is checked on its
  /dev/pts/N path: a pty of the workload's own needs rights beneath /dev/pts, which is why
  ``exec`` mounts a new devpts instance there;
* under ``sandprint exec`` a ruleset's rule on /tmp is a rule on a private tmpfs: another
  user's file in the host's /tmp is out of reach, what the workload writes there is gone
  afterwards, and the paths the ruleset names beneath /tmp are still the host's.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import tempfile
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from helpers import REPO, is_root, need, run_sandprint, sandprint_env

pytestmark = pytest.mark.kernel


def _landlock() -> None:
    from sandprint.landlock import abi_version

    need(abi_version() >= 1, "Landlock not available")


def _run(code: str) -> dict:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=sandprint_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1])


PRELUDE = f"""
import ctypes, errno, fcntl, json, os, sys, termios
sys.path.insert(0, {str(REPO)!r})
from sandprint.landlock import Ruleset
exe = os.path.realpath(sys.executable)
def tryit(fn):
    try:
        fn(); return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
"""


def test_a_library_mapped_exec_needs_read_file_only_and_a_program_never_run_is_refused():
    _landlock()
    lib = next((p for p in ("/usr/lib/x86_64-linux-gnu/libz.so.1",
                            "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1")
                if os.path.exists(p)), None)
    need(lib is not None, "no libz to load")
    got = _run(PRELUDE + f"""
r = Ruleset().allow(["/"], {{"read_file", "read_dir"}}).allow([exe], {{"execute"}})
r.restrict_self(compat="hard")
out = {{"dlopen": tryit(lambda: ctypes.CDLL({lib!r}))}}
pid = os.fork()
if pid == 0:
    try:
        os.execv("/usr/bin/id", ["id"])
    except OSError as e:
        os._exit(e.errno)
_, st = os.waitpid(pid, 0)
out["exec id"] = errno.errorcode.get(os.WEXITSTATUS(st), "ran")
print(json.dumps(out))
""")
    assert got == {"dlopen": "ok", "exec id": "EACCES"}


def test_a_pty_from_ptmx_is_checked_on_its_dev_pts_path():
    _landlock()
    code = PRELUDE + """
extra = {}
if sys.argv[1:] == ["pts"]:
    extra = {"/dev/pts": {"read_file", "write_file", "ioctl_dev"}}
r = Ruleset().allow(["/"], {"read_file", "read_dir"})
r.allow(["/dev/ptmx"], {"read_file", "write_file", "ioctl_dev"})
for p, rights in extra.items():
    r.allow([p], rights)
r.restrict_self(compat="hard")
m = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
libc = ctypes.CDLL(None, use_errno=True)
libc.unlockpt(m)
out = {"master ioctl": tryit(lambda: fcntl.ioctl(m, termios.TIOCSWINSZ, bytes(8))),
       "peer": tryit(lambda: fcntl.ioctl(m, 0x5441, os.O_RDWR | os.O_NOCTTY))}
print(json.dumps(out))
"""
    for arg, peer in (("none", "EACCES"), ("pts", "ok")):
        p = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True,
                           env=sandprint_env(), timeout=60)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"master ioctl": "ok", "peer": peer}, arg


@pytest.fixture
def host_files(tmp_path):
    need(is_root(), "needs root (a mount namespace)")
    _landlock()
    tag = uuid.uuid4().hex[:8]
    secret = f"/tmp/sandprint-ll-{tag}-krb5cc_1001"
    with open(secret, "w") as f:
        f.write("another user's ticket\n")
    os.chmod(secret, 0o600)
    own = f"/tmp/sandprint-ll-{tag}-own"
    os.mkdir(own)
    with open(f"{own}/in.txt", "w") as f:
        f.write("the workload's input\n")
    yield secret, own, tag
    for p in (secret, f"{own}/in.txt", f"{own}/out.txt"):
        if os.path.exists(p):
            os.unlink(p)
    os.rmdir(own)


def test_exec_gives_the_workload_a_private_tmp(host_files, tmp_path):
    secret, own, tag = host_files
    ruleset = tmp_path / "r.json"
    ruleset.write_text(json.dumps({
        "abi": 1, "ruleset": [{"handledAccessFs": ["abi.all"]}],
        "pathBeneath": [
            {"allowedAccess": ["abi.read_execute"], "parent": ["/usr", "/lib", "/etc", "/bin"]
             + [p for p in ("/lib64",) if os.path.exists(p)]},
            {"allowedAccess": ["read_file", "write_file", "read_dir", "make_reg",
                               "remove_file"], "parent": ["/tmp"]},
            {"allowedAccess": ["read_file", "write_file", "make_reg"], "parent": [own]}]}))
    script = (f"cat {secret}; echo rc=$?; echo mine > /tmp/sandprint-ll-{tag}-mine; "
              f"cat /tmp/sandprint-ll-{tag}-mine; cat {own}/in.txt; echo out > {own}/out.txt")
    p = run_sandprint("exec", "--landlock", str(ruleset), "--", "/bin/sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert "another user's ticket" not in p.stdout
    assert "rc=1" in p.stdout and "No such file" in p.stderr      # not even visible
    # writing in the private /tmp passed: the ruleset's rule on /tmp, opened after the mount,
    # is on the private tmpfs (a rule on the host's /tmp would not reach it)
    assert "mine\n" in p.stdout and "the workload's input" in p.stdout
    assert "private mounts" in p.stderr and "/tmp" in p.stderr
    # what it wrote in its private /tmp went with the namespace; its own tree is the host's
    assert not os.path.exists(f"/tmp/sandprint-ll-{tag}-mine")
    assert open(f"{own}/out.txt").read() == "out\n"
    # --shared-tmp: the host's /tmp, and the rule on /tmp reaches the ticket
    shared = run_sandprint("exec", "--shared-tmp", "--landlock", str(ruleset), "--",
                           "/bin/cat", secret)
    assert "another user's ticket" in shared.stdout


def test_a_tmpdir_beneath_var_tmp_is_private_too(tmp_path):
    """TMPDIR=/var/tmp/<shared> (several jobs' scratch): the workload's ruleset has its
    temporary-file rule on that directory, which lies beneath /var/tmp and was bound through
    from the host, so the red team read another job's file there through it. It now gets a
    tmpfs of its own."""
    need(is_root(), "needs root (a mount namespace)")
    _landlock()
    shared = Path(tempfile.mkdtemp(prefix="sandprint-ll-tmpdir-", dir="/var/tmp"))
    try:
        shared.chmod(0o1777)
        (shared / "other-job.secret").write_text("another job's secret\n")
        ruleset = tmp_path / "r.json"
        ruleset.write_text(json.dumps({
            "abi": 1, "ruleset": [{"handledAccessFs": ["abi.all"]}],
            "pathBeneath": [
                {"allowedAccess": ["abi.read_execute"],
                 "parent": ["/usr", "/lib", "/etc", "/bin"]
                 + [p for p in ("/lib64",) if os.path.exists(p)]},
                {"allowedAccess": ["read_file", "write_file", "make_reg", "remove_file"],
                 "parent": [str(shared)]}]}))
        script = (f"cat {shared}/other-job.secret; echo rc=$?; echo mine > {shared}/mine; "
                  f"cat {shared}/mine")
        env = {**sandprint_env(), "TMPDIR": str(shared)}
        p = subprocess.run([sys.executable, "-m", "sandprint", "exec", "--landlock",
                            str(ruleset), "--", "/bin/sh", "-c", script], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "another job's secret" not in p.stdout and "rc=1" in p.stdout
        assert "mine\n" in p.stdout                       # its own temporary files work
        assert not (shared / "mine").exists()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_exec_gives_a_workload_with_pty_rights_its_own_devpts(tmp_path):
    need(is_root(), "needs root (a mount namespace)")
    _landlock()
    ruleset = tmp_path / "r.json"
    ruleset.write_text(json.dumps({
        "abi": 1, "ruleset": [{"handledAccessFs": ["abi.all"]}],
        "pathBeneath": [
            {"allowedAccess": ["abi.read_execute"], "parent": ["/usr", "/lib", "/etc", "/bin"]
             + [p for p in ("/lib64",) if os.path.exists(p)]},
            {"allowedAccess": ["read_file", "write_file", "read_dir"], "parent": ["/dev/pts"]},
            {"allowedAccess": ["read_file", "write_file"], "parent": ["/dev/ptmx"]}]}))
    held = os.openpty()               # a terminal of the host's, outside the sandbox
    try:
        name = os.ttyname(held[1])
        p = run_sandprint("exec", "--landlock", str(ruleset), "--", "/bin/ls", "/dev/pts")
        assert p.returncode == 0, p.stderr
        assert os.path.basename(name) not in p.stdout.split(), p.stdout
        assert "devpts" in p.stderr
    finally:
        os.close(held[0])
        os.close(held[1])


def test_an_unprivileged_caller_gets_its_private_tmp_through_a_user_namespace(host_files):
    """Without CAP_SYS_ADMIN the mount namespace comes with a user namespace mapping the
    caller's own uid: the host's /tmp is hidden all the same, the uid stays the caller's."""
    from sandprint import private_tmp

    secret, _own, _tag = host_files
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            # a process that changed its uid is not dumpable, and /proc/self is then root's;
            # a program started by the user is
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)       # PR_SET_DUMPABLE
            done = private_tmp.enter(["/tmp"])
            out = {"how": done.how, "tmp": done.tmp, "uid": os.getuid(),
                   "secret visible": os.path.exists(secret)}
        except BaseException as e:      # noqa: BLE001 - reported to the parent
            out = {"error": f"{type(e).__name__}: {e}"}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    got = json.loads(data)
    if "error" in got and "Operation not permitted" in got["error"]:
        need(False, f"user namespaces are not available to unprivileged users: {got}")
    assert got == {"how": "user and mount namespace", "tmp": ["/tmp"], "uid": 65534,
                   "secret visible": False}, got
