"""Verification on the real kernel: seccomp filters and Landlock rulesets really applied, the
recorder really attached, through the CLI.

One workload (``workloads/plan_runner.py``) is recorded once; its generated profile and
ruleset are then weakened by one syscall and one directory, and verify must: fail the
workload in enforce mode naming what is missing; let it succeed in complain mode naming the
same; and ``--fix`` must restore a sandbox under which it passes. ``check`` passes on the
unchanged workload and fails with a readable diff after it opens a new file and a new port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import need, run_sandprint

pytestmark = pytest.mark.kernel

RUNNER = Path(__file__).resolve().parent / "workloads" / "plan_runner.py"
REMOVED_SYSCALL = "getpriority"


@pytest.fixture(scope="module")
def world(request):
    """A data tree, a plan, its recording, and the generated profile and ruleset."""
    from helpers import have_bcc, is_root

    need(is_root() and have_bcc() and os.path.exists("/sys/kernel/tracing/events/raw_syscalls"),
         "needs root, bcc and tracefs")
    base = Path(tempfile.mkdtemp(prefix="sandprint-verify-"))
    (base / "data" / "a").mkdir(parents=True)
    (base / "data" / "b").mkdir(parents=True)
    for i in range(6):
        (base / "data" / "a" / f"f{i}").write_text(f"{i}\n")
        (base / "data" / "b" / f"g{i}").write_text(f"{i}\n")
    plan = {"read": [str(base / "data" / "a" / f"f{i}") for i in range(6)]
            + [str(base / "data" / "b" / f"g{i}") for i in range(6)],
            "connect": [9], "getpriority": True, "quiet": True}
    (base / "plan.json").write_text(json.dumps(plan))
    cmd = [sys.executable, str(RUNNER), str(base / "plan.json")]
    run_sandprint("record", "-o", str(base / "rec.json"), "--", *cmd, check=True)
    run_sandprint("generate", "seccomp", str(base / "rec.json"), "-o", str(base / "p.json"),
                  check=True)
    run_sandprint("generate", "landlock", str(base / "rec.json"), "-o", str(base / "r.json"),
                  check=True)
    yield {"base": base, "cmd": cmd, "plan": plan}
    shutil.rmtree(base, ignore_errors=True)


def _without_syscall(world, name: str) -> Path:
    prof = json.loads((world["base"] / "p.json").read_text())
    names = prof["syscalls"][0]["names"]
    assert name in names, "the workload's recording must contain the syscall"
    names.remove(name)
    out = Path(tempfile.mkdtemp(dir=world["base"])) / "p-minus.json"
    out.write_text(json.dumps(prof, indent=2))
    return out


def _without_dir(world) -> tuple[Path, str]:
    cfg = json.loads((world["base"] / "r.json").read_text())
    gone = str(world["base"] / "data" / "b")
    parents = [p for e in cfg["pathBeneath"] for p in e["parent"]]
    assert gone in parents, f"the generator should have granted {gone} as a directory"
    for e in cfg["pathBeneath"]:
        e["parent"] = [p for p in e["parent"] if p != gone]
    cfg["pathBeneath"] = [e for e in cfg["pathBeneath"] if e["parent"]]
    out = Path(tempfile.mkdtemp(dir=world["base"])) / "r-minus.json"
    out.write_text(json.dumps(cfg, indent=2))
    return out, gone


def _verify(*args: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = Path(tempfile.mkdtemp()) / "report.json"
    proc = run_sandprint("verify", "--report", str(report), *args)
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc, data


def _denied(report: dict, kind: str) -> dict[str, dict]:
    return {d["name"]: d for d in report["denials"] if d["kind"] == kind}


def test_seccomp_enforce_complain_fix(world):
    prof = _without_syscall(world, REMOVED_SYSCALL)
    enforce, rep = _verify("--seccomp", str(prof), "--", *world["cmd"])
    assert enforce.returncode == 1, enforce.stderr
    assert rep["exitStatus"] == 1, "the workload must fail under the weakened profile"
    denied = _denied(rep, "syscall")
    assert REMOVED_SYSCALL in denied, enforce.stderr
    assert REMOVED_SYSCALL in enforce.stderr
    procs = denied[REMOVED_SYSCALL]["processes"]
    assert procs and procs[0]["pid"] > 0 and procs[0].get("comm"), procs

    complain, crep = _verify("--complain", "--seccomp", str(prof), "--", *world["cmd"])
    assert crep["exitStatus"] == 0, "complain mode blocks nothing"
    assert complain.returncode == 1
    # complain and enforce agree on what is denied
    assert set(_denied(crep, "syscall")) == set(denied) == {REMOVED_SYSCALL}
    assert _denied(crep, "syscall")[REMOVED_SYSCALL]["processes"]

    fixed = run_sandprint("verify", "--fix", "--seccomp", str(prof), "--", *world["cmd"])
    assert f"+ syscall {REMOVED_SYSCALL}" in fixed.stderr, fixed.stderr
    after = run_sandprint("verify", "--seccomp", str(prof), "--", *world["cmd"])
    assert after.returncode == 0, after.stderr
    assert "PASS" in after.stderr


def test_landlock_enforce_complain_fix(world):
    rules, gone = _without_dir(world)
    enforce, rep = _verify("--landlock", str(rules), "--", *world["cmd"])
    assert enforce.returncode == 1 and rep["exitStatus"] == 1, enforce.stderr
    files = _denied(rep, "file")
    expected = {str(world["base"] / "data" / "b" / f"g{i}") for i in range(6)}
    assert set(files) == expected, enforce.stderr
    assert all(d["rights"] == ["read_file"] and d["layer"] == "landlock"
               for d in files.values())
    assert gone in enforce.stderr or "/data/b/g" in enforce.stderr

    complain, crep = _verify("--complain", "--landlock", str(rules), "--", *world["cmd"])
    assert crep["exitStatus"] == 0 and complain.returncode == 1
    cfiles = _denied(crep, "file")
    # the same accesses, the same rights, in both modes
    assert {p: d["rights"] for p, d in cfiles.items()} == \
        {p: d["rights"] for p, d in files.items()}
    assert all(d["processes"] for d in cfiles.values())

    fixed = run_sandprint("verify", "--fix", "--landlock", str(rules), "--", *world["cmd"])
    assert "fix: wrote" in fixed.stderr, fixed.stderr
    after = run_sandprint("verify", "--landlock", str(rules), "--", *world["cmd"])
    assert after.returncode == 0, after.stderr + rules.read_text()


def test_check_passes_then_catches_drift(world):
    base = world["base"]
    ok = run_sandprint("check", "--seccomp", str(base / "p.json"), "--landlock",
                       str(base / "r.json"), "--", *world["cmd"])
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stderr

    new_file = base / "elsewhere" / "new.txt"
    new_file.parent.mkdir(exist_ok=True)
    new_file.write_text("new\n")
    plan = dict(world["plan"], read=world["plan"]["read"] + [str(new_file)], connect=[9, 7])
    changed = base / "plan-changed.json"
    changed.write_text(json.dumps(plan))
    cmd = world["cmd"][:-1] + [str(changed)]
    drift = run_sandprint("check", "--seccomp", str(base / "p.json"), "--landlock",
                          str(base / "r.json"), "--", *cmd)
    assert drift.returncode == 1, drift.stderr
    assert f"+ file {new_file} (read_file)" in drift.stderr, drift.stderr
    assert "+ network tcp connect 7" in drift.stderr, drift.stderr
    # the plan file itself is new too; nothing else the workload did is reported
    assert "tcp connect 9" not in drift.stderr


def test_html_report_in_chromium(world, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium is not None, "chromium not installed (scripts/setup.sh installs it)")
    prof = _without_syscall(world, REMOVED_SYSCALL)
    rules, gone = _without_dir(world)
    page = tmp_path / "report.html"
    proc = run_sandprint("verify", "--complain", "--seccomp", str(prof), "--landlock",
                         str(rules), "--html", str(page), "--recording",
                         str(world["base"] / "rec.json"), "--", *world["cmd"])
    assert proc.returncode == 1 and page.exists(), proc.stderr
    assert "single short run" in proc.stderr
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(args + ["--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="verdict"' in html and "FAIL" in html
    assert f'<span class="chip denied">{REMOVED_SYSCALL}</span>' in html
    assert f"{gone}/g0" in html or "g0" in html
    assert html.count('class="denied"') >= 7      # 1 syscall + 6 files in the table
    shot = tmp_path / "shot.png"
    subprocess.run(args + [f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
