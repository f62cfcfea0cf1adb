"""Escape probes of the file layer (issue 14): ``examples/probes/file_layer_probes.py``.

The benign work uses one temporary file, reads five files of an app directory that also holds
secrets, edits a file of another tree in place, runs a program on a pty of its own, reads its
own /proc entries. Recorded, its sandbox generated, the probe mode then tries what an
over-granting ruleset would let through: every probe gets through without a sandbox (as root)
and is stopped by the generated one. A sed -i style edit (write, then rename over the file) in
a protected tree makes ``generate`` stop instead.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import REPO, have_bcc, is_root, need, run_sandprint

pytestmark = pytest.mark.kernel

_spec = importlib.util.spec_from_file_location("escape_probe_table",
                                               REPO / "scripts" / "escape_probe_table.py")
table = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, table)
_spec.loader.exec_module(table)

NAME = "file layer"
PROBES = {"tmp-read-other", "tmp-overwrite", "tmp-delete", "shm-read-other", "secret-pem", "secret-vault-token",
          "secret-my-cnf", "secret-tfstate", "secret-backup-copy", "secret-keytab",
          "rename-over-protected", "tiocsti-other-tty",
          "proc-other", "exec-sh", "exec-id", "chmod-other-file", "chown-other-file",
          "setxattr-other-file", "exec-memfd", "exec-via-ld-so"}
# What Landlock (ABI 7) cannot stop and the seccomp profile generated from the same recording
# does (the workload never made these calls): the ruleset's notes warn about each.
LANDLOCK_CANNOT = {"chmod-other-file", "chown-other-file", "setxattr-other-file", "exec-memfd"}
# Gets through the generated sandbox (both layers): running a program it never ran through the
# ELF interpreter it has execute on. Landlock checks execute only at execve's open, seccomp
# allows execve; generate warns (test_known_holes_are_warned_about).
KNOWN_HOLES = {"exec-via-ld-so"}


def _ready() -> None:
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")


@pytest.fixture(scope="module")
def matrix():
    _ready()
    work = Path(tempfile.mkdtemp(prefix="sandprint-flprobes-", dir="/var/tmp"))
    try:
        yield table.run_matrix(work, table.WORKLOADS[NAME])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_workload_is_registered_and_lists_its_probes():
    assert table.WORKLOADS[NAME].name == "file_layer_probes.py"
    assert {n for n, _ in table.probe_names(table.WORKLOADS[NAME])} == PROBES


def test_every_probe_gets_through_without_a_sandbox(matrix):
    probes = matrix.runs["none"].probes
    assert set(probes) == PROBES
    stuck = {n: r for n, r in probes.items() if r["outcome"] != "ALLOWED"}
    assert not stuck, f"probes that cannot succeed even unsandboxed prove nothing: {stuck}"


def test_every_probe_is_stopped_by_the_generated_sandbox(matrix):
    for layer in ("landlock", "both"):
        probes = matrix.runs[layer].probes
        expected_through = KNOWN_HOLES | (LANDLOCK_CANNOT if layer == "landlock" else set())
        escaped = {n: r for n, r in probes.items()
                   if r["outcome"] != "denied" and n not in expected_through}
        assert not escaped, f"escapes through the generated {layer} sandbox: {escaped}"
    assert matrix.runs["both"].benign == matrix.runs["none"].benign


def test_known_holes_are_warned_about(matrix, tmp_path):
    """What gets through Landlock gets through as the notes say (should one be closed by a
    later kernel, this test says so)."""
    ll = matrix.runs["landlock"].probes
    assert {n for n in LANDLOCK_CANNOT | KNOWN_HOLES if ll[n]["outcome"] == "ALLOWED"} == \
        LANDLOCK_CANNOT | KNOWN_HOLES
    assert matrix.runs["both"].probes["exec-via-ld-so"]["outcome"] == "ALLOWED"
    gen = run_sandprint("generate", "landlock", str(matrix.recording), "-o",
                        str(tmp_path / "ll.json"))
    assert gen.returncode == 0, gen.stderr
    assert "ELF interpreter" in gen.stderr and "memfd_create" in gen.stderr
    assert "chmod, chown, utime and setxattr" in gen.stderr


def test_the_ruleset_holds_each_class(matrix):
    cfg = json.loads(matrix.landlock.read_text())
    rules: dict[str, set[str]] = {}
    for r in cfg["pathBeneath"]:
        for p in r["parent"]:
            rules.setdefault(p, set()).update(r["allowedAccess"])
    app = str(matrix.base / "app")
    # the app directory holds secrets: its five files stay files
    assert app not in rules
    assert sum(1 for p in rules if p.startswith(app + "/")) == 5
    # so does the site directory, whose secrets are a backup copy and a keytab
    site = str(matrix.base / "site")
    assert site not in rules
    assert sum(1 for p in rules if p.startswith(site + "/")) == 5
    # execute on the exact programs only, never on a directory
    executable = {p for p, r in rules.items() if "execute" in r}
    assert "/usr/bin/true" in executable and "/usr" not in executable
    assert not [p for p in executable if Path(p).is_dir()]
    # the pty: terminal rights on /dev/pts (a private devpts under exec), nothing else there
    assert rules["/dev/pts"] <= {"read_file", "write_file", "ioctl_dev"}
    # the shared-memory segment: a rule on /dev/shm (a private tmpfs under exec)
    assert "make_reg" in rules["/dev/shm"]
    # /proc/self, not /proc: the children never read their own entries
    assert "/proc" not in rules and "/proc/self" in rules
    # the edited file of the other tree: write rights on it alone
    etc = str(matrix.base / "etc")
    assert not rules.get(etc, set()) & {"make_reg", "remove_file"}


def test_a_sed_i_edit_in_a_protected_tree_stops_generate(tmp_path):
    """Write X.tmp, rename it over X in a --protect tree: one line naming the file and the
    ways out, exit 2, nothing written; with --allow-dir-write the note says what was given."""
    _ready()
    tree = tmp_path / "conf"
    tree.mkdir()
    (tree / "app.conf").write_text("mode = slow\n")
    script = ("import os\n"
              f"p = {str(tree / 'app.conf')!r}\n"
              "t = open(p).read().replace('slow', 'fast')\n"
              "open(p + '.tmp', 'w').write(t)\n"
              "os.rename(p + '.tmp', p)\n")
    rec, out = tmp_path / "rec.json", tmp_path / "ruleset.json"
    run_sandprint("record", "-o", str(rec), "--", sys.executable, "-c", script, check=True)
    refused = run_sandprint("generate", "landlock", str(rec), "-o", str(out),
                            "--protect", str(tree))
    assert refused.returncode == 2, refused.stderr
    lines = [l for l in refused.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, refused.stderr
    assert str(tree / "app.conf") in lines[0] and f"--allow-dir-write {tree}" in lines[0]
    assert "somewhere else" in lines[0]
    assert not out.exists()
    allowed = run_sandprint("generate", "landlock", str(rec), "-o", str(out), "--protect",
                            str(tree), "--allow-dir-write", str(tree))
    assert allowed.returncode == 0, allowed.stderr
    assert f"--allow-dir-write {tree}" in allowed.stderr
