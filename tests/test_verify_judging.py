"""verify tells the truth: what it reports denied is what the sandbox refused, and only that.

On the real kernel, through the CLI: a signal handler interrupting syscalls is no seccomp
refusal (the bogus ``#511``); a failure that happens with or without the sandbox (a 404's
ENOENT, a terminal-less /dev/tty) is no Landlock denial; complain mode names the process that
made the would-be-denied access and counts only those accesses; and enforce and complain
modes list the same denials on the same workloads, a denial of each kind among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import need, run_sandprint

pytestmark = pytest.mark.kernel

WORKLOADS = Path(__file__).resolve().parent / "workloads"


@pytest.fixture(scope="module", autouse=True)
def _kernel():
    from helpers import have_bcc, is_root

    need(is_root() and have_bcc() and os.path.exists("/sys/kernel/tracing/events/raw_syscalls"),
         "needs root, bcc and tracefs")


def _verify(tmp: Path, *args: str, name: str = "report.json", **kw
            ) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp / name
    proc = run_sandprint("verify", "--report", str(report), *args, **kw)
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc, data


def _record(tmp: Path, *cmd: str, name: str = "rec.json", **kw) -> Path:
    rec = tmp / name
    run_sandprint("record", "-o", str(rec), "--", *cmd, check=True, **kw)
    return rec


def test_signal_handler_is_no_seccomp_refusal(tmp_path):
    """An interval timer's handler interrupts a sleep (EINTR, then rt_sigreturn, whose exit
    the kernel reports with syscall number -1): under the workload's own profile verify
    passes, and neither the report, --fix nor the HTML page knows a '#511'."""
    cmd = [sys.executable, str(WORKLOADS / "itimer.py")]
    rec = _record(tmp_path, *cmd)
    prof = tmp_path / "p.json"
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    before = prof.read_text()
    page = tmp_path / "r.html"
    proc, rep = _verify(tmp_path, "--seccomp", str(prof), "--html", str(page), "--fix",
                        "--", *cmd)
    assert proc.returncode == 0, proc.stderr
    assert rep["exitStatus"] == 0 and rep["denials"] == [], rep["denials"]
    assert "#" not in proc.stderr.split("replay:")[0], proc.stderr
    assert "#511" not in page.read_text()
    assert prof.read_text() == before, "--fix found nothing to add"


def _no_terminal() -> dict:
    """Run without a controlling terminal (setsid, stdin from /dev/null)."""
    return {"stdin": subprocess.DEVNULL, "start_new_session": True}


def test_failures_without_the_sandbox_are_no_denials(tmp_path):
    """A bash script without a terminal opens /dev/tty (ENXIO unsandboxed; Landlock checks
    the open before the tty driver refuses it) and a missing file (ENOENT, a 404: the lookup
    fails before Landlock looks). Under the script's own ruleset and profile both modes
    pass, and neither the recording nor the reports call either a denial."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello\n")
    cmd = [str(WORKLOADS / "tty_and_404.sh"), str(www)]
    rec = _record(tmp_path, *cmd, **_no_terminal())
    files = json.loads(rec.read_text())["targets"][0]["files"]
    tty = [f for f in files if f["path"] == "/dev/tty"]
    assert tty and not tty[0].get("denied"), "the open passed Landlock's check: an access"
    assert not [f for f in files if f["path"] == str(www / "missing")], "ENOENT: no access"
    rules, prof = tmp_path / "r.json", tmp_path / "p.json"
    run_sandprint("generate", "landlock", str(rec), "-o", str(rules), check=True)
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    for mode in ([], ["--complain"]):
        proc, rep = _verify(tmp_path, *mode, "--landlock", str(rules), "--seccomp", str(prof),
                            "--", *cmd, **_no_terminal())
        assert proc.returncode == 0 and rep["denials"] == [], (mode, proc.stderr)
        assert "no terminal" in proc.stdout and "404" in proc.stdout


def test_enforce_and_complain_list_the_same_denials(tmp_path):
    """One workload, recorded doing a little, then run doing more under the sandbox made
    from that recording, in enforce and in complain mode: both list exactly the same
    denials - a seccomp one, a Landlock file, network and signal one - with the same rights
    and counts, and name the process that made the denied access (the shell that wrote
    /dev/null, not the cat that only read it)."""
    data = tmp_path / "data"
    for d in ("a", "b"):
        (data / d).mkdir(parents=True)
        for i in range(6):
            (data / d / f"{d}{i}").write_text(f"{i}\n")
    out = tmp_path / "out"
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        base = {"read": [str(data / "a" / f"a{i}") for i in range(6)],
                "open": [[str(data / "missing"), "r"], ["/dev/tty", "rw"]],
                "connect": [9], "signal": ["self"],
                "spawn": [["/bin/sh", "-c", f"cat /dev/null; echo x > {out}"]],
                "quiet": True}
        more = dict(base, read=base["read"] + [str(data / "b" / "b0")], connect=[9, 7],
                    getpriority=True, signal=["self", sleeper.pid],
                    spawn=[["/bin/sh", "-c", f"cat /dev/null; echo x > {out}; "
                                             "echo x > /dev/null"]])
        runner = str(WORKLOADS / "plan_runner.py")
        plan = tmp_path / "plan.json"       # the same file, read in every run
        plan.write_text(json.dumps(base))
        cmd = [sys.executable, runner, str(plan)]
        rec = _record(tmp_path, *cmd, **_no_terminal())
        rules, prof = tmp_path / "r.json", tmp_path / "p.json"
        run_sandprint("generate", "landlock", str(rec), "-o", str(rules), check=True)
        run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
        plan.write_text(json.dumps(more))
        reports = {}
        for mode in ("enforce", "complain"):
            flags = ["--complain"] if mode == "complain" else []
            proc, rep = _verify(tmp_path, *flags, "--landlock", str(rules), "--seccomp",
                                str(prof), "--", *cmd, name=f"{mode}.json", **_no_terminal())
            assert proc.returncode == 1, proc.stderr
            assert rep["exitStatus"] == (1 if mode == "enforce" else 0), proc.stderr
            reports[mode] = rep
    finally:
        sleeper.kill()
        sleeper.wait()

    def listed(rep):
        return {(d["kind"], d["name"], tuple(d.get("rights", [])), d["count"])
                for d in rep["denials"]}

    enforce, complain = listed(reports["enforce"]), listed(reports["complain"])
    assert enforce == complain, (enforce, complain)
    expected = {
        ("syscall", "getpriority", (), 1),
        ("file", str(data / "b" / "b0"), ("read_file",), 1),
        ("file", "/dev/null", ("write_file",), 1),
        ("network", "tcp connect 7", ("connect_tcp",), 1),
        ("signal", f"0 to pid {sleeper.pid} (sleep)", (), 1),
    }
    assert enforce == expected, enforce ^ expected
    for mode, rep in reports.items():
        null = [d for d in rep["denials"] if d["name"] == "/dev/null"][0]
        assert [p.get("comm") for p in null["processes"]] == ["sh"], (mode, null)
        assert [p.get("comm") for p in [d for d in rep["denials"]
                                         if d["kind"] == "syscall"][0]["processes"]] \
            == [os.path.basename(sys.executable)[:15]], mode


def test_a_childs_proc_self_refusal_stays_a_denial(tmp_path):
    """The ruleset's /proc/self rule is opened by the launched process; its child's
    /proc/self is another /proc/PID, which Landlock refuses. The recorder writes both as
    /proc/self/..., where the ruleset seems to grant them: enforce mode must still report
    the refusal, not put it down to the system."""
    rules = tmp_path / "r.json"
    rules.write_text(json.dumps({
        "abi": 1, "ruleset": [{"handledAccessFs": ["execute", "read_file", "read_dir"]}],
        "pathBeneath": [
            {"allowedAccess": ["execute", "read_file", "read_dir"],
             "parent": [p for p in ("/usr", "/bin", "/lib", "/lib64", "/etc")
                        if os.path.exists(p)]},
            {"allowedAccess": ["read_file", "read_dir"], "parent": ["/proc/self"]}]}))
    proc, rep = _verify(tmp_path, "--landlock", str(rules), "--", "/bin/sh", "-c",
                        "cat /proc/self/status > /dev/null")
    assert proc.returncode == 1, proc.stderr
    denied = {d["name"]: d for d in rep["denials"]}
    assert "/proc/self/status" in denied, proc.stderr
    assert [p.get("comm") for p in denied["/proc/self/status"]["processes"]] == ["cat"]
