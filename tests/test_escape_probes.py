"""Escape probes inside the sandbox of a recorded workload (issue 6, "fail closed").

The user's loop, for real: ``sandprint record`` the benign mode of
``examples/probes/escape_probes.py``, ``generate seccomp`` and ``generate landlock`` from that
recording, then ``sandprint exec`` the probe mode without a sandbox, under each layer alone
and under both (``scripts/escape_probe_table.py`` holds the loop; the README's table is its
output). Every probe must get through unsandboxed (as root), so that none is denied merely
because it could never work here, and be denied under the generated sandbox, while the
benign part does the same work under every sandbox.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import REPO, have_bcc, is_root, need

pytestmark = pytest.mark.kernel

_spec = importlib.util.spec_from_file_location("escape_probe_table",
                                               REPO / "scripts" / "escape_probe_table.py")
table = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, table)       # its dataclasses look their module up
_spec.loader.exec_module(table)

# Escapes only a path can tell apart: the Landlock ruleset alone must stop them.
PATH_PROBES = {"write-outside", "write-parent", "open-outside-write", "read-outside",
               "read-shadow", "write-input", "truncate-outside", "symlink-read",
               "symlink-write", "symlink-plant", "rename-out", "link-out", "exec-dropped"}
# Escapes through syscalls the workload never made: the seccomp profile alone must stop them.
SYSCALL_PROBES = {"userns", "userns-clone", "userns-clone3", "mount", "ptrace-sibling", "ptrace-outside",
                  "signal-outside", "bpf", "keyctl", "io-uring", "perf-event", "personality",
                  "setns", "chroot", "raw-socket", "abi-switch", "abi-read-outside",
                  "chmod-outside",
                  "chown-outside", "exec-memfd"}


@pytest.fixture(scope="module")
def matrix():
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")
    need(os.path.exists("/sys/kernel/tracing/events/raw_syscalls"), "tracefs not mounted")
    work = Path(tempfile.mkdtemp(prefix="sandprint-probes-", dir="/var/tmp"))
    try:
        yield table.run_matrix(work, table.WORKLOADS["files and forks"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_readme_has_a_section_per_probe_workload():
    readme = (REPO / "README.md").read_text()
    block = table.current_table(readme)
    for name in table.WORKLOADS:
        assert table.current_section(readme, name), f"README lacks the {name!r} probes"
    assert block.count("Workload **") == len(table.WORKLOADS)


def test_the_probe_list_is_what_the_test_knows():
    names = {n for n, _ in table.probe_names()}
    assert names == PATH_PROBES | SYSCALL_PROBES
    assert not PATH_PROBES & SYSCALL_PROBES


def test_the_benign_work_is_the_same_under_every_sandbox(matrix):
    plain = matrix.runs["none"]
    assert plain.benign["files"] == 6 and plain.benign["words"] > 0 and plain.report
    for layer in table.LAYERS:
        run = matrix.runs[layer]
        assert run.benign == plain.benign, layer
        assert json.loads(run.report) == json.loads(plain.report), layer


def test_every_probe_gets_through_without_a_sandbox(matrix):
    probes = matrix.runs["none"].probes
    assert set(probes) == PATH_PROBES | SYSCALL_PROBES
    stuck = {n: r for n, r in probes.items() if r["outcome"] != "ALLOWED"}
    assert not stuck, f"probes that cannot succeed even unsandboxed prove nothing: {stuck}"


def test_every_probe_is_denied_under_the_generated_sandbox(matrix):
    probes = matrix.runs["both"].probes
    assert set(probes) == PATH_PROBES | SYSCALL_PROBES
    escaped = {n: r for n, r in probes.items() if r["outcome"] != "denied"}
    assert not escaped, f"escapes through the generated sandbox: {escaped}"


@pytest.mark.parametrize("layer,expected", [("landlock", PATH_PROBES),
                                            ("seccomp", SYSCALL_PROBES)])
def test_each_layer_alone_stops_its_own_kind_of_escape(matrix, layer, expected):
    probes = matrix.runs[layer].probes
    # a probe whose preparation failed would make the "denied by" column meaningless
    assert not {n: r for n, r in probes.items() if r["outcome"] == "error"}
    missed = {n: probes[n] for n in expected if probes[n]["outcome"] != "denied"}
    assert not missed, f"{layer} alone let these through: {missed}"


def test_the_forking_workload_gets_clone_without_namespace_flags(matrix):
    prof = json.loads(matrix.seccomp.read_text())
    plain = prof["syscalls"][0]["names"]
    assert "clone" not in plain and "unshare" not in plain
    assert {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]} \
        in prof["syscalls"]
    assert "clone allowed only without namespace flags" in matrix.generate_summary
    # under the profile alone the fork-based work still runs (checked above) while
    # clone(CLONE_NEWUSER) does not
    assert matrix.runs["seccomp"].probes["userns-clone"]["errno"] == "EPERM"


def test_the_threaded_workload_gets_clone3_answered_enosys(matrix):
    rec = json.loads(matrix.recording.read_text())
    assert rec["targets"][0]["syscalls"].get("clone3", 0) >= 1    # the benign thread
    prof = json.loads(matrix.seccomp.read_text())
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} \
        in prof["syscalls"]
    assert "clone3 answered ENOSYS" in matrix.generate_summary
    assert "warning" not in matrix.generate_summary
    # the benign thread started through the clone fallback (its work is checked above);
    # clone3 with CLONE_NEWUSER met the ENOSYS answer
    assert matrix.runs["seccomp"].probes["userns-clone3"]["errno"] == "ENOSYS"


def test_the_readme_table_matches_a_fresh_run(matrix):
    readme = (REPO / "README.md").read_text()
    assert readme.index("### Escape probes") > readme.index("## Security")
    assert readme.index("### Escape probes") < readme.index("## Performance")
    assert table.current_section(readme, "files and forks") == \
        table.section("files and forks", matrix), (
        "README's escape-probe table is out of date: refresh it with "
        "`sudo PYTHONPATH=. python scripts/escape_probe_table.py --write README.md`")
