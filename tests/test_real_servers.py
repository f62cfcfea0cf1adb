"""The project's own real-server suite: nginx serving static files and a 404 to curl,
PostgreSQL (15 on Debian 12) as the postgres user (initdb, start, psql with inserts and
``\\copy``, stop), and ``make -j2`` of a small C project with gcc, all from the Debian
packages that ``scripts/setup.sh`` installs.

Each workload is a driver in examples/workloads/servers that starts its own server on
127.0.0.1 with a private configuration in ``WORK/run`` (never the system's services, paths or
ports), drives it, stops it and removes ``WORK/run``. The whole driver is recorded, its seccomp
profile and Landlock ruleset generated, and it is verified under both, in enforce mode, twice
(the second run meets whatever the first left behind): both pass with nothing denied. Then
the same driver with ``--probe FILE`` does its work under ``sandprint exec`` with the same
sandbox and afterwards reads FILE, beside WORK and never touched, and calls ``personality``,
which it never called: both are refused, and without the sandbox both get through.

WORK is one directory under /var/tmp for the whole cycle (not /tmp, which the rulesets open
as a temporary directory), so the recording and every later run use the same paths; the
port is chosen free once per test and passed to every run.
"""

from __future__ import annotations

import glob
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import REPO, need, run_sandprint

pytestmark = pytest.mark.kernel

SERVERS = REPO / "examples" / "workloads" / "servers"

# name -> (driver, programs it needs)
WORKLOADS = {
    "nginx": ("nginx_site.py", ["/usr/sbin/nginx", "curl"]),
    "postgresql": ("postgres_db.py", [(glob.glob("/usr/lib/postgresql/*/bin/initdb")
                                       or ["initdb"])[0], "runuser"]),
    "make": ("make_build.py", ["make", "gcc", "ar"]),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def base():
    d = Path(tempfile.mkdtemp(prefix="sandprint-servers-", dir="/var/tmp"))
    d.chmod(0o755)                      # the postgres user and nginx's workers pass through it
    (d / "work").mkdir(mode=0o755)
    (d / "outside").mkdir()
    (d / "outside" / "secret.txt").write_text("never touched by the work\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _fresh(base: Path) -> None:
    """A run that failed half-way leaves WORK/run behind; the next run starts without it."""
    shutil.rmtree(base / "work" / "run", ignore_errors=True)


def _probe_results(stdout: str) -> dict:
    lines = [json.loads(l) for l in stdout.splitlines() if l.startswith('{"probe"')]
    assert len(lines) == 1, stdout
    return lines[0]["probe"]


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_record_generate_verify_twice_and_probe(bpf_ready, base, tmp_path, name):
    driver, programs = WORKLOADS[name]
    for prog in programs:
        need(shutil.which(prog) is not None, f"{prog} not installed (bash scripts/setup.sh)")
    work, secret = base / "work", base / "outside" / "secret.txt"
    argv = [sys.executable, str(SERVERS / driver), str(work), "--port", str(_free_port())]
    if name == "nginx":
        # the site exists before the run (as a site does) where www-data can read it, wherever
        # the checkout is; its 404 is an open of a file that does not exist
        shutil.copytree(SERVERS / "site", base / "site")
        for p in [base / "site", *(base / "site").rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        argv += ["--site", str(base / "site")]
    rec, profile, ruleset = tmp_path / "rec.json", tmp_path / "seccomp.json", tmp_path / "ll.json"
    times = {}

    t0 = time.monotonic()
    r = run_sandprint("record", "-o", str(rec), "--", *argv)
    times["record"] = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    meta = json.loads(rec.read_text())["metadata"]
    assert meta["lostEvents"] == 0 and meta["complete"] is True, meta
    assert not (work / "run").exists()
    run_sandprint("generate", "seccomp", str(rec), "-o", str(profile), check=True)
    run_sandprint("generate", "landlock", str(rec), "-o", str(ruleset), check=True)
    allowed = {n for rule in json.loads(profile.read_text())["syscalls"]
               if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert "personality" not in allowed       # the probe's syscall is one the work never made
    cfg = json.loads(ruleset.read_text())
    if cfg["abi"] >= 6:     # signals stay inside the workload (postmaster's kill(-pid) too)
        assert "signal" in cfg["ruleset"][0].get("scoped", []), cfg["ruleset"]

    for i in (1, 2):
        _fresh(base)
        report = tmp_path / f"verify{i}.json"
        t0 = time.monotonic()
        # --recording: the capabilities it shows (postgres' chown and runuser) are kept
        v = run_sandprint("verify", "--seccomp", str(profile), "--landlock", str(ruleset),
                          "--recording", str(rec), "--report", str(report), "--", *argv)
        times[f"verify{i}"] = time.monotonic() - t0
        assert v.returncode == 0, (f"verify run {i}:\n{v.stdout}{v.stderr}\n"
                                   f"report: {report.read_text() if report.exists() else '-'}")
        assert json.loads(report.read_text())["denials"] == []
        assert "PASS" in v.stderr and "nothing denied" in v.stderr, v.stderr
        assert not (work / "run").exists()

    _fresh(base)
    t0 = time.monotonic()
    sandboxed = run_sandprint("exec", "--seccomp", str(profile), "--landlock", str(ruleset),
                              "--recording", str(rec), "--", *argv, "--probe", str(secret))
    times["probe"] = time.monotonic() - t0
    assert sandboxed.returncode == 0, sandboxed.stdout + sandboxed.stderr
    assert _probe_results(sandboxed.stdout) == {"read_outside": "denied",
                                                "personality": "denied"}

    _fresh(base)
    plain = subprocess.run([*argv, "--probe", str(secret)], capture_output=True, text=True,
                           timeout=300)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert _probe_results(plain.stdout) == {"read_outside": "ok", "personality": "ok"}
    print(f"{name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
