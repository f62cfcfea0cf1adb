"""generate seccomp --widen static, and the coverage lines generate prints (no kernel needed:
recordings made here name programs compiled with gcc)."""

from __future__ import annotations

import json

import pytest

from helpers import run_cli
from sandprint.generators import seccomp as gen
from sandprint.seccomp import risk
from sandprint.recording import Recording
from test_static_analysis import LIBC, built, private_cache, recording  # noqa: F401 (fixtures)

BASE = ["execve", "exit_group", "read", "write", "mmap", "brk", "close", "nanosleep"]


@pytest.fixture
def rec_path(built, tmp_path):
    prog, lib = built
    rec = recording(prog, [lib, LIBC])
    for n in BASE:
        rec.targets[0].add_syscall(n)
    path = tmp_path / "rec.json"
    rec.save(str(path))
    return path


def allowed(profile_path) -> set[str]:
    doc = json.loads(profile_path.read_text())
    return {n for rule in doc["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
            for n in rule["names"]}


def test_without_the_flag_nothing_changes(rec_path, tmp_path):
    out = tmp_path / "p.json"
    res = run_cli("generate", "seccomp", str(rec_path), "-o", str(out), check=True)
    # the coverage is printed, the profile is what the generator alone writes
    assert "static analysis of target 'main'" in res.stderr
    plain = tmp_path / "plain.json"
    gen.generate_file(Recording.load(str(rec_path)), str(plain))
    assert out.read_bytes() == plain.read_bytes()
    nostatic = tmp_path / "nostatic.json"
    res = run_cli("generate", "seccomp", str(rec_path), "-o", str(nostatic), "--no-static",
                  check=True)
    assert "static analysis" not in res.stderr
    assert nostatic.read_bytes() == plain.read_bytes()


def test_widen_adds_reachable_low_risk_only(rec_path, tmp_path, built):
    prog, _ = built
    out = tmp_path / "w.json"
    res = run_cli("generate", "seccomp", str(rec_path), "-o", str(out), "--widen", "static",
                  check=True)
    names = allowed(out)
    assert set(BASE) <= names
    added = names - set(BASE)
    # sched_yield: reachable through foo(), unseen, low risk: added, with its program named
    assert "sched_yield" in added
    assert f"  sched_yield (scheduling): {prog}" in res.stderr
    # kcmp is reachable but high risk; pivot_root is in the library but nothing reaches it
    assert "kcmp" not in names and "pivot_root" not in names
    assert all(risk.is_low_risk(n) for n in added - {"exit"})
    assert "kcmp" in res.stderr.split("unseen, high risk")[1].splitlines()[0]
    assert " widened, target 'main')" in res.stderr
    # nothing with argument rules is widened without recorded values
    from sandprint.seccomp.argspec import ARG_RULES
    assert not added & set(ARG_RULES)


def test_widen_refuses_no_static(rec_path, tmp_path):
    res = run_cli("generate", "seccomp", str(rec_path), "-o", str(tmp_path / "x.json"),
                  "--widen", "static", "--no-static")
    assert res.returncode == 2 and "--no-static" in res.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.kernel
def test_verify_prints_and_renders_the_static_coverage(bpf_ready, rec_path, tmp_path, built):
    """verify --recording: the text report and the HTML page carry the static analysis."""
    from helpers import run_sandprint

    prog, _ = built
    prof = tmp_path / "w.json"
    run_cli("generate", "seccomp", str(rec_path), "-o", str(prof), "--widen", "static",
            check=True)
    page, report = tmp_path / "r.html", tmp_path / "r.json"
    proc = run_sandprint("verify", "--complain", "--seccomp", str(prof), "--recording",
                         str(rec_path), "--html", str(page), "--report", str(report), "--",
                         str(prog))
    assert proc.returncode in (0, 1), proc.stderr
    assert "static analysis of target 'main': the recordings saw" in proc.stderr
    assert "unseen, high risk" in proc.stderr and "kcmp" in proc.stderr
    [static] = json.loads(report.read_text())["coverage"]["static"]
    assert static["analysed"] == [str(prog)] and "kcmp" in static["unseenHighRisk"]
    html = page.read_text()
    assert 'id="static-main"' in html and '<span class="chip extra">kcmp</span>' in html
