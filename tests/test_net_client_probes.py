"""Escape probes through the arguments of allowed syscalls (issue 13): the benign mode of
``examples/probes/net_client_probes.py`` is a Python HTTP client making one TCP connection;
its own recording's sandbox must stop every other socket family, TCP Fast Open to another
port, TIOCSTI into another terminal and prctl options and personas it never used, while each
probe first gets through without a sandbox (as root). The loop is the table script's."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import REPO, have_bcc, is_root, need

pytestmark = pytest.mark.kernel

_spec = importlib.util.spec_from_file_location("escape_probe_table",
                                               REPO / "scripts" / "escape_probe_table.py")
table = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, table)
_spec.loader.exec_module(table)
NAME = "network client"
SCRIPT = table.WORKLOADS[NAME]

# the socket, send and ioctl/prctl/personality arguments the client never used: the seccomp
# profile's argument rules alone must stop them
ARG_PROBES = {"udp-out", "unix-daemon", "netlink-addr", "packet-sniff", "inet-sock-packet",
              "raw-inet", "tcp-fastopen", "tcp-fastopen-connect", "tiocsti", "prctl-option",
              "personality-aslr",
              # the i386 ABI's socketcall(), whose arguments are in memory
              "i386-socketcall-netlink", "i386-socketcall-fastopen"}
# connect() to another port: Landlock's connect_tcp (seccomp allows connect by name)
LANDLOCK_PROBES = {"tcp-connect-other"}


@pytest.fixture(scope="module")
def matrix():
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")
    work = Path(tempfile.mkdtemp(prefix="sandprint-netprobes-", dir="/var/tmp"))
    try:
        yield table.run_matrix(work, SCRIPT)
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "stop", str(work / "tree")], check=False)
        shutil.rmtree(work, ignore_errors=True)


def test_the_probe_list_is_what_the_test_knows():
    assert {n for n, _ in table.probe_names(SCRIPT)} == ARG_PROBES | LANDLOCK_PROBES


def test_the_recording_holds_the_clients_arguments(matrix):
    rec = json.loads(matrix.recording.read_text())
    assert rec["metadata"]["argsRecorded"] is True
    args = rec["targets"][0]["args"]
    assert [e["values"][:2] for e in args["socket"]] == [[2, 1]]    # one AF_INET stream
    assert [0x5421] in [e["values"] for e in args["ioctl"]]          # FIONBIO
    assert "socket allowed only as recorded: AF_INET/SOCK_STREAM" in matrix.generate_summary


def test_every_probe_gets_through_without_a_sandbox(matrix):
    probes = matrix.runs["none"].probes
    stuck = {n: r for n, r in probes.items() if r["outcome"] != "ALLOWED"}
    assert not stuck, f"probes that cannot succeed even unsandboxed prove nothing: {stuck}"


def test_the_benign_fetch_works_under_every_sandbox(matrix):
    for layer in table.LAYERS:
        assert matrix.runs[layer].benign["benign"] == "ok", layer


def test_every_probe_is_denied_under_the_generated_sandbox(matrix):
    escaped = {n: r for n, r in matrix.runs["both"].probes.items() if r["outcome"] != "denied"}
    assert not escaped, f"escapes through the generated sandbox: {escaped}"


def test_the_argument_rules_alone_stop_the_argument_probes(matrix):
    probes = matrix.runs["seccomp"].probes
    missed = {n: probes[n] for n in ARG_PROBES if probes[n]["outcome"] != "denied"}
    assert not missed, f"seccomp alone let these through: {missed}"
    assert probes["tcp-connect-other"]["outcome"] == "ALLOWED"     # connect is allowed
    assert matrix.runs["landlock"].probes["tcp-connect-other"]["outcome"] == "denied"
    # TCP_FASTOPEN_CONNECT still goes through connect(), so Landlock stops it on its own too
    assert matrix.runs["landlock"].probes["tcp-fastopen-connect"]["outcome"] == "denied"
