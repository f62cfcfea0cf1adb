"""Landlock end to end on real workloads: each is recorded, its ruleset generated, and then
it runs under that ruleset (``sandprint exec --landlock``) to the same result, ``sandprint
verify --landlock`` finds no denial, and accesses beyond the recording are refused by the
kernel: reading a file outside the recorded trees, writing next to a file that was only
read, connecting to a TCP port that was not recorded.

Every run uses the same paths as the recording: the workload's files live in a fresh
directory under /var/tmp (not /tmp, which the temporary-file workload's ruleset opens as a
temporary directory). Nothing is reset between runs: the replays meet the outputs of the
runs before them, as a workload's second run does in real life (files rewritten, not
created: that needs truncate, which the recording of a first run must carry).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import REPO, run_sandprint, sandprint_env

pytestmark = pytest.mark.kernel

WL = REPO / "examples" / "workloads" / "landlock"
PROBE = Path(__file__).resolve().parent / "landlock_probe.py"
HTTP_PORT = 47311            # fixed, high, and recorded by the HTTP workload only
OTHER_PORT = 47312           # never recorded by anyone
PY = sys.executable

TEXT = ("the quick brown fox jumps over the lazy dog the fox the dog a fox\n" * 20
        + "Sandprint records a workload and writes the sandbox that fits it\n")


@dataclass
class Workload:
    argv: list[str]                         # {work} is the workload's directory
    inputs: dict[str, str]                  # relative path -> content, created before recording
    outputs: list[str]                      # relative paths compared between runs
    read_only: str                          # a file the workload only reads
    dirs: list[str] = field(default_factory=list)   # empty directories it expects


WORKLOADS = {
    "python config and outputs": Workload(
        [PY, str(WL / "config_report.py"), "{work}/in/config.json", "{work}/out/report"],
        {"in/config.json": json.dumps({"prefix": "- ", "sections": {
            "fruit": ["apple", "pear"], "tools": ["saw", "plane", "chisel"]}})},
        ["out/report/fruit.txt", "out/report/tools.txt", "out/report/summary.json"],
        "in/config.json", dirs=["out"]),
    "shell pipeline with mktemp": Workload(
        ["sh", str(WL / "tmp_pipeline.sh"), "{work}/in/text.txt", "{work}/out/top.txt"],
        {"in/text.txt": TEXT}, ["out/top.txt"], "in/text.txt", dirs=["out"]),
    "http server and client": Workload(
        [PY, str(WL / "http_fetch.py"), "{work}/site", str(HTTP_PORT), "{work}/out/page.html"],
        {"site/index.html": "<h1>hello from sandprint</h1>\n", "site/other.html": "no\n"},
        ["out/page.html"], "site/index.html", dirs=["out"]),
    "git init add commit": Workload(
        ["sh", str(WL / "git_commit.sh"), "{work}/in"],
        {"in/README": "hello\n", "in/main.c": "int main(void) { return 0; }\n"},
        [], "in/README"),
    "sqlite with rollback journal": Workload(
        [PY, str(WL / "sqlite_journal.py"), "{work}/in/items.csv", "{work}/db/app.db"],
        {"in/items.csv": "name,qty\napple,3\npear,5\nsaw,1\n"},
        [], "in/items.csv", dirs=["db"]),
}


@pytest.fixture
def base():
    d = Path(tempfile.mkdtemp(prefix="sandprint-ll-", dir="/var/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _prepare(wl: Workload, work: Path) -> None:
    for rel in wl.dirs:
        (work / rel).mkdir(parents=True, exist_ok=True)
    for rel, content in wl.inputs.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(content)


def _outputs(wl: Workload, work: Path) -> dict[str, bytes]:
    return {rel: (work / rel).read_bytes() for rel in wl.outputs}


def _probe(ruleset: Path, *ops: str) -> dict:
    p = subprocess.run([PY, str(PROBE), str(ruleset), *ops], capture_output=True, text=True,
                       env=sandprint_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_ruleset_runs_its_workload_and_denies_beyond(bpf_ready, base, tmp_path, name):
    wl = WORKLOADS[name]
    work = base / "work"
    _prepare(wl, work)
    outside = base / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("not for the workload\n")
    argv = [a.format(work=work) for a in wl.argv]
    rec, ruleset = tmp_path / "rec.json", tmp_path / "ruleset.json"

    first = run_sandprint("record", "-o", str(rec), "--", *argv)
    assert first.returncode == 0, first.stderr
    expected = _outputs(wl, work)
    recording = json.loads(rec.read_text())
    assert recording["metadata"]["lostEvents"] == 0

    gen = run_sandprint("generate", "landlock", str(rec), "-o", str(ruleset))
    assert gen.returncode == 0, gen.stderr

    again = run_sandprint("exec", "--landlock", str(ruleset), "--", *argv)
    assert again.returncode == 0, f"{again.stderr}\nruleset:\n{ruleset.read_text()}"
    assert "Landlock fully enforced" in again.stderr
    assert again.stdout == first.stdout
    assert _outputs(wl, work) == expected

    report = tmp_path / "verify.json"
    v = run_sandprint("verify", "--landlock", str(ruleset), "--report", str(report), "--",
                      *argv)
    assert v.returncode == 0, v.stderr
    assert json.loads(report.read_text())["denials"] == []
    assert "PASS" in v.stderr and "nothing denied" in v.stderr

    new_next_to_input = (work / wl.read_only).parent / "planted.txt"
    got = _probe(ruleset, "read", str(outside), "write", str(new_next_to_input),
                 "write", str(work / wl.read_only), "read", str(work / wl.read_only),
                 "connect", str(OTHER_PORT), "read", "/proc/1/environ")
    assert got["enforced"], got
    assert got[f"read {outside}"] == "denied", got
    assert got[f"write {new_next_to_input}"] == "denied", got
    assert got[f"write {work / wl.read_only}"] == "denied", got
    assert got[f"read {work / wl.read_only}"] == "ok", got          # the control: it was read
    assert got[f"connect {OTHER_PORT}"] == "denied", got
    # another process's private /proc entries, even where the ruleset grants /proc for the
    # workload's children: Landlock's ptrace scoping
    assert got["read /proc/1/environ"] == "denied", got
    assert not new_next_to_input.exists()


def test_http_ruleset_allows_exactly_the_recorded_port(bpf_ready, base, tmp_path):
    """The HTTP workload's ports are the ones granted: connecting to the recorded port is
    let through to the network stack (refused there: nobody listens now), another is not."""
    wl = WORKLOADS["http server and client"]
    work = base / "work"
    _prepare(wl, work)
    rec, ruleset = tmp_path / "rec.json", tmp_path / "ruleset.json"
    argv = [a.format(work=work) for a in wl.argv]
    run_sandprint("record", "-o", str(rec), "--", *argv, check=True)
    run_sandprint("generate", "landlock", str(rec), "-o", str(ruleset), check=True)
    cfg = json.loads(ruleset.read_text())
    ports = {r["allowedAccess"][0]: r["port"] for r in cfg["netPort"]}
    assert ports == {"bind_tcp": [HTTP_PORT], "connect_tcp": [HTTP_PORT]}
    got = _probe(ruleset, "connect", str(HTTP_PORT), "connect", str(OTHER_PORT))
    assert got[f"connect {HTTP_PORT}"] == "ECONNREFUSED", got
    assert got[f"connect {OTHER_PORT}"] == "denied", got
