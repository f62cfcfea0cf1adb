"""Escape probes through root's capabilities (issue 13 items 2 and 5): the user's loop for
``examples/probes/cap_probes.py`` (a root workload that uses a pty and needs no capability),
through ``scripts/escape_probe_table.py``. Each probe gets through unsandboxed as root, and
the capabilities layer alone (everything dropped, as its recording shows none was needed)
stops it, as does the whole sandbox, while the benign work runs the same under every layer."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import REPO, have_bcc, is_root, need

pytestmark = pytest.mark.kernel

sys.path.insert(0, str(REPO / "tests"))
from test_escape_probes import table  # noqa: E402  (the table script, loaded once)

NAME = "root without capabilities"
PROBES = {"immutable-flag", "proc-environ-outside", "proc-maps-outside", "tiocsti-other-tty"}


@pytest.fixture(scope="module")
def matrix():
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")
    work = Path(tempfile.mkdtemp(prefix="sandprint-capprobes-", dir="/var/tmp"))
    try:
        yield table.run_matrix(work, table.WORKLOADS[NAME])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_probe_list_is_what_the_test_knows():
    assert {n for n, _ in table.probe_names(table.WORKLOADS[NAME])} == PROBES


def test_the_workload_needed_no_capability(matrix):
    from sandprint.capabilities.needed import needed_capabilities
    from sandprint.recording import Recording

    rec = Recording.load(str(matrix.recording))
    assert rec.targets[0].info["credentials"]["uids"] == [0]
    assert needed_capabilities(rec) == {}
    assert "capabilities needed: none" in matrix.generate_summary


def test_the_benign_work_is_the_same_under_every_layer(matrix):
    plain = matrix.runs["none"]
    assert plain.benign["pty"] == "hello" and plain.benign["words"] > 0
    for layer in table.LAYERS:
        assert matrix.runs[layer].benign == plain.benign, layer
        assert json.loads(matrix.runs[layer].report) == json.loads(plain.report), layer


def test_every_probe_gets_through_without_a_sandbox(matrix):
    probes = matrix.runs["none"].probes
    assert set(probes) == PROBES
    assert all(r["outcome"] == "ALLOWED" for r in probes.values()), probes


@pytest.mark.parametrize("layer", ["caps", "both"])
def test_the_capabilities_stop_every_probe(matrix, layer):
    probes = matrix.runs[layer].probes
    assert {n: r["outcome"] for n, r in probes.items()} == {n: "denied" for n in PROBES}
    assert probes["immutable-flag"]["errno"] == "EPERM"
    if layer == "caps":
        # the kernel's own answers without the capability (Landlock, in "both", refuses
        # TIOCSTI on /dev/pts first: the ruleset grants no ioctl_dev there)
        assert probes["tiocsti-other-tty"]["errno"] == "EPERM"
        assert probes["proc-environ-outside"]["errno"] == "EACCES"


def test_the_table_names_the_capabilities_layer(matrix):
    text = table.markdown_table(matrix)
    for name in PROBES:
        row = next(l for l in text.splitlines() if l.startswith(f"| `{name}`"))
        assert "capabilities" in row.split("|")[3], row
    # Landlock's ptrace scoping alone would not keep root from another process's /proc
    # files; the ruleset's path rules do, since it grants /proc/self rather than /proc
    ruleset = json.loads(matrix.landlock.read_text())
    granted = {p for rule in ruleset.get("pathBeneath", []) for p in rule.get("parent", [])}
    assert granted and "/proc" not in granted
    assert matrix.runs["landlock"].probes["proc-environ-outside"]["outcome"] == "denied"
