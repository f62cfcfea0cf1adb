"""No false denials from the learned argument rules (issue 13): a workload using UDP, UNIX
sockets, a pty and ioctl(FIONREAD) is recorded, its profile generated, and verify replays it
in enforce mode: every step keeps working and nothing is refused."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import REPO, have_bcc, is_root, need, run_sandprint

pytestmark = pytest.mark.kernel
WORKLOAD = REPO / "tests" / "workloads" / "net_mix.py"
STEPS = ("udp ok", "fionread ok", "unix ok", "pty ok")


def test_udp_unix_pty_and_fionread_keep_working_under_their_own_profile(tmp_path):
    need(is_root() and have_bcc(), "root and bcc")
    (tmp_path / "rec").mkdir()
    (tmp_path / "run").mkdir()
    rec, prof = tmp_path / "rec.json", tmp_path / "p.json"
    cmd = [sys.executable, str(WORKLOAD)]
    run_sandprint("record", "-o", str(rec), "--", *cmd, str(tmp_path / "rec"), check=True)
    args = json.loads(rec.read_text())["targets"][0]["args"]
    assert {tuple(e["values"][:2]) for e in args["socket"]} >= {(2, 2), (1, 1)}
    assert [0x541B] in [e["values"] for e in args["ioctl"]]          # FIONREAD
    gen = run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    assert "socket allowed only as recorded" in gen.stderr + gen.stdout
    rules = json.loads(prof.read_text())["syscalls"]
    assert any(r["names"] == ["ioctl"] and r.get("args") for r in rules)
    assert not any("ioctl" in r["names"] and not r.get("args") for r in rules)
    report = tmp_path / "report.json"
    v = run_sandprint("verify", "--seccomp", str(prof), "--report", str(report), "--",
                      *cmd, str(tmp_path / "run"))
    assert v.returncode == 0, v.stdout + v.stderr
    for step in STEPS:
        assert step in v.stdout, (step, v.stdout, v.stderr)


def test_verify_names_an_argument_denial_and_fix_adds_the_value(tmp_path):
    """A profile recorded without UDP: complain mode names socket(AF_INET, SOCK_DGRAM) and
    what was recorded; enforce mode reports the refusal as an argument denial; --fix adds
    the value (never socket by name), after which the replay is clean."""
    need(is_root() and have_bcc(), "root and bcc")
    for d in ("rec", "a", "b", "c", "d"):
        (tmp_path / d).mkdir()
    rec, prof = tmp_path / "rec.json", tmp_path / "p.json"
    cmd = [sys.executable, str(WORKLOAD)]
    run_sandprint("record", "-o", str(rec), "--", *cmd, str(tmp_path / "rec"), "--no-udp",
                  check=True)
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    page = tmp_path / "report.html"
    complain = run_sandprint("verify", "--complain", "--seccomp", str(prof), "--html",
                             str(page), "--", *cmd, str(tmp_path / "a"))
    assert complain.returncode == 1
    assert "refused: recorded only AF_UNIX/SOCK_STREAM" in page.read_text()
    out = complain.stdout + complain.stderr
    assert "socket(AF_INET, SOCK_DGRAM) x2 refused: recorded only AF_UNIX/SOCK_STREAM" in out
    assert "ioctl(FIONREAD)" in out
    enforce = run_sandprint("verify", "--seccomp", str(prof), "--", *cmd, str(tmp_path / "b"))
    assert enforce.returncode == 1
    assert "socket(arguments outside its rules)" in enforce.stdout + enforce.stderr
    fix = run_sandprint("verify", "--complain", "--fix", "--seccomp", str(prof), "--", *cmd,
                        str(tmp_path / "c"))
    assert "+ argument rule socket AF_INET/SOCK_DGRAM" in fix.stdout + fix.stderr
    rules = json.loads(prof.read_text())["syscalls"]
    assert not any("socket" in r["names"] and not r.get("args") for r in rules)
    again = run_sandprint("verify", "--seccomp", str(prof), "--", *cmd, str(tmp_path / "d"))
    assert again.returncode == 0, again.stdout + again.stderr


RESOLVER = REPO / "tests" / "workloads" / "resolver_client.py"


def test_a_client_resolving_names_replays_clean_under_its_own_profile(tmp_path):
    """getaddrinfo through /etc/hosts and with AI_ADDRCONFIG (glibc's rtnetlink socket),
    create_connection by name, SO_KEEPALIVE/TCP_NODELAY: a real client's calls, each kept
    working by the argument rules of its own profile (red team: no false denial found)."""
    need(is_root() and have_bcc(), "root and bcc")
    rec, prof = tmp_path / "rec.json", tmp_path / "p.json"
    cmd = [sys.executable, str(RESOLVER)]
    run_sandprint("record", "-o", str(rec), "--", *cmd, check=True)
    args = json.loads(rec.read_text())["targets"][0]["args"]
    assert (16, 3) in {tuple(e["values"][:2]) for e in args["socket"]}   # AF_NETLINK/RAW
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    v = run_sandprint("verify", "--seccomp", str(prof), "--", *cmd)
    assert v.returncode == 0, v.stdout + v.stderr
    for step in ("hosts ok", "addrconfig ok", "connect ok"):
        assert step in v.stdout, (step, v.stdout, v.stderr)
