"""A generated ruleset, enforced by the real kernel, lets the recorded accesses through and
stops the rest.

The recording is built by hand for a workload shaped like a real one (reads its inputs and a
config file, writes into an output directory, binds a port, connects to a service, runs a
program); the ruleset is generated from it with the host checks on, then applied with the
library in a forked child (restrict_self is irreversible), which probes what the workload did
and what it never did, and reports each outcome through a pipe.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess

import pytest

from helpers import is_root, need
from sandprint.generators.landlock import Options, generate_ruleset, render
from sandprint.landlock.config import loads_config
from sandprint.recording import NetAccess, Recording

pytestmark = pytest.mark.kernel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_sandbox(config: dict, probes) -> dict:
    """Fork; the child applies ``config`` (hard compat) and runs ``probes``; returns results."""
    from sandprint.landlock import Ruleset

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        out: dict = {}
        try:
            status = Ruleset.from_config(config).restrict_self(compat="hard")
            out["status"] = str(status)
            out["enforced"] = status.enforced
            out["probes"] = probes()
        except BaseException as e:  # report everything, never return into pytest
            out["error"] = repr(e)
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def _probe(fn) -> str:
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def test_generated_ruleset_allows_the_recording_and_denies_the_rest(tmp_path):
    need(is_root(), "needs root")
    from sandprint.landlock import abi_version
    need(abi_version() >= 4, "needs Landlock ABI >= 4 (TCP rules)")

    work = tmp_path / "job"
    data, out = work / "data", work / "out"
    data.mkdir(parents=True)
    out.mkdir()
    for i in range(6):
        (data / f"in{i}.csv").write_text(f"{i}\n")
    (data / "late.csv").write_text("not in the recording\n")
    (work / "job.ini").write_text("[job]\n")
    (work / "secret.txt").write_text("never read\n")
    mytrue = work / "mytrue"
    shutil.copy("/usr/bin/true", mytrue)
    bind_ok, bind_other = _free_port(), _free_port()

    # services the workload connects to (one recorded, one not), listening in the parent
    svc_ok, svc_other = socket.socket(), socket.socket()
    for s in (svc_ok, svc_other):
        s.bind(("127.0.0.1", 0))
        s.listen(4)
    port_ok, port_other = svc_ok.getsockname()[1], svc_other.getsockname()[1]

    rec = Recording.new({"type": "command"}, arch="SCMP_ARCH_X86_64", landlock_abi=abi_version())
    t = rec.target("main")
    t.processes = 2
    for i in range(6):
        t.add_file(str(data / f"in{i}.csv"), {"read_file"}, kind="file")
    t.add_file(str(work / "job.ini"), {"read_file"}, kind="file")
    t.add_file(str(out), {"make_reg", "remove_file"}, kind="dir")
    t.add_file(str(out / "result.csv"), {"write_file", "read_file"}, kind="file")
    t.add_file("/usr/bin/true", {"execute", "read_file"}, kind="file")
    t.add_file("/lib64/ld-linux-x86-64.so.2", {"execute", "read_file"}, kind="file")
    t.add_file("/etc/ld.so.cache", {"read_file"}, kind="file")
    t.add_file("/lib/x86_64-linux-gnu/libc.so.6", {"execute", "read_file"}, kind="file")
    t.add_file("/usr/lib/os-release", {"read_file"}, kind="file")
    t.add_file("/etc/passwd", {"read_file"}, kind="file")
    t.add_file("/dev/null", {"write_file"}, kind="char")
    t.add_net(NetAccess("bind", "tcp", "inet", bind_ok))
    t.add_net(NetAccess("connect", "tcp", "inet", port_ok))

    result = generate_ruleset(rec, options=Options())
    # round trip through the TOML spelling: what a user would load from disk
    config = loads_config(render(result.config, "toml"), "toml")

    def probes():
        def read(p):
            return _probe(lambda: open(p).read())

        def write(p):
            def w():
                with open(p, "a") as f:
                    f.write("x")
            return _probe(w)

        def bind(port):
            def b():
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return _probe(b)

        def connect(port):
            def c():
                with socket.socket() as s:
                    s.settimeout(5)
                    s.connect(("127.0.0.1", port))
            return _probe(c)

        def run(path):
            def x():
                subprocess.run([path], check=True)
            return _probe(x)

        return {
            # recorded (or generalised from the recording): allowed
            "read data": read(str(data / "in3.csv")),
            "read data unrecorded file": read(str(data / "late.csv")),
            "read config": read(str(work / "job.ini")),
            "write result": write(str(out / "result.csv")),
            "create other output": write(str(out / "other.csv")),
            "read system tree": read("/usr/lib/os-release"),
            "read /etc/passwd": read("/etc/passwd"),
            "write /dev/null": write("/dev/null"),
            "exec true": run("/usr/bin/true"),
            "bind recorded port": bind(bind_ok),
            "connect recorded port": connect(port_ok),
            # never recorded: denied
            "read /etc/shadow": read("/etc/shadow"),
            "read /etc/hostname": read("/etc/hostname") if os.path.exists("/etc/hostname")
            else "EACCES",
            "read secret beside": read(str(work / "secret.txt")),
            "write next to a read file": write(str(work / "job.ini.new")),
            "write a read file": write(str(work / "job.ini")),
            "write into data": write(str(data / "in3.csv")),
            "write /tmp": write(str(tmp_path / "escape.txt")),
            "exec unrecorded": run(str(mytrue)),
            "bind other port": bind(bind_other),
            "connect other port": connect(port_other),
        }

    try:
        got = _in_sandbox(config, probes)
    finally:
        svc_ok.close()
        svc_other.close()
    assert "error" not in got, got
    assert got["enforced"], got["status"]
    p = got["probes"]
    allowed = ["read data", "read data unrecorded file", "read config", "write result",
               "create other output", "read system tree", "read /etc/passwd", "write /dev/null",
               "exec true", "bind recorded port", "connect recorded port"]
    denied = ["read /etc/shadow", "read /etc/hostname", "read secret beside",
              "write next to a read file", "write a read file", "write into data",
              "write /tmp", "exec unrecorded", "bind other port", "connect other port"]
    assert {k: p[k] for k in allowed} == {k: "ok" for k in allowed}, (p, result.config)
    assert {k: p[k] for k in denied} == {k: "EACCES" for k in denied}, (p, result.config)
    assert not (work / "job.ini.new").exists() and not (tmp_path / "escape.txt").exists()
