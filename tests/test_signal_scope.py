"""Signals to a process group the workload leads stay inside the workload.

PostgreSQL's postmaster stops its children with ``kill(-pid, sig)``: each child called
``setsid()``, so it leads a process group of its own. The recording took every signal to a
process group for a signal outside the workload, and ``generate landlock`` then left the
ruleset's signal scope off. A group whose leader is one of the workload's processes is the
workload's (an outside process would have to join it on purpose); a group led by anyone else
is still outside.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from helpers import run_sandprint

pytestmark = pytest.mark.kernel

WORKLOAD = textwrap.dedent("""
    import os, signal, sys, time
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.write(w, b"x")
        time.sleep(30)
        os._exit(0)
    os.read(r, 1)
    os.killpg(pid, signal.SIGTERM)          # kill(-pid): the group the child leads
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
    if "--outside" in sys.argv:
        os.killpg(os.getpgrp(), 0)          # the group it was started in: the launcher's
    print("ok")
""")


def _record(tmp_path, *extra):
    script = tmp_path / "groups.py"
    script.write_text(WORKLOAD)
    rec = tmp_path / "rec.json"
    r = run_sandprint("record", "-o", str(rec), "--", sys.executable, str(script), *extra)
    assert r.returncode == 0, r.stderr
    return script, rec, json.loads(rec.read_text())["targets"][0].get("signals", [])


def test_group_led_by_the_workload_is_inside(bpf_ready, tmp_path):
    script, rec, signals = _record(tmp_path)
    assert signals == []
    ruleset = tmp_path / "ll.json"
    g = run_sandprint("generate", "landlock", str(rec), "-o", str(ruleset), check=True)
    assert "signal scope left off" not in g.stderr
    scoped = json.loads(ruleset.read_text())["ruleset"][0].get("scoped", [])
    if "signal" in scoped:          # ABI 6 and later: the scope applies, and the group kill works
        e = run_sandprint("exec", "--landlock", str(ruleset), "--", sys.executable, str(script))
        assert e.returncode == 0 and e.stdout == "ok\n", e.stderr


def test_group_led_by_another_process_is_outside(bpf_ready, tmp_path):
    _, _, signals = _record(tmp_path, "--outside")
    # the command runs in sandprint's process group, which is this test's
    assert signals == [{"signal": "0", "to": {"processGroup": os.getpgrp()}, "syscall": "kill"}]
