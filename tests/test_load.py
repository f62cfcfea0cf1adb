"""The recorder under load, and recordings side by side (issue 6, item 1).

- A workload that forks 1,000 short-lived children, runs 64 threads and opens 100,000
  distinct files (``workloads/load.py``, files made beforehand on a tmpfs, untraced) is recorded
  with the real ``sandprint record``. The recording is checked against the workload's own
  report: every path it opened is in the recording's files with read_file (paths are kept
  one by one, never folded into directories), every syscall it certainly made is there, at
  least 1,001 processes, and no event was lost. The recorder's peak RSS and its BPF map memory
  stay under loose bounds (``benchmarks/load.py`` prints the numbers).
- Two recordings of different commands at the same time, and a ``--pid`` recording beside a
  command recording: each sees only its own files and its own rare syscalls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import need
from record_session import (Session, file_paths, make_files, map_table, scratch_dir, tracks,
                          wait_for, workload)

pytestmark = pytest.mark.kernel

FILES, CHILDREN, THREADS = 100_000, 1000, 64
# sandprint's peak; about 170 MiB of it is bcc/LLVM compiling. Measured after the syscall
# and file layers (args, creds parts): 337 MiB when this test runs alone, 674 MiB (twice,
# deterministically) when it runs inside the full suite; the cause of the doubling is not
# found yet (not the program cache: a cold compile gives 395 MiB), so the bound is 768 until
# it is, and the closing note of session 4 says so.
MAX_RSS_MIB = 768
MAX_MAP_MIB = 128          # BPF maps, ring buffer included


@pytest.fixture
def scratch():
    d = scratch_dir()
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def load_json(path) -> dict:
    return json.loads(Path(path).read_text())


def assert_complete(rec: dict, report: dict) -> None:
    """The recording holds everything the workload says it did."""
    meta = rec["metadata"]
    assert meta["lostEvents"] == 0, meta
    assert meta["fileEvents"]["lost"] == 0, meta["fileEvents"]
    assert meta["complete"] is True
    (t,) = rec["targets"]
    files = {f["path"]: f for f in t["files"]}
    missing = [p for p in report["opened"] if p not in files]
    assert not missing, f"{len(missing)} opened paths not recorded, e.g. {missing[:5]}"
    assert all("read_file" in files[p]["access"] for p in report["opened"])
    syscalls = set(t["syscalls"])
    assert set(report["syscalls"]["all"]) <= syscalls, \
        set(report["syscalls"]["all"]) - syscalls
    for group in report["syscalls"]["anyOf"]:
        assert syscalls & set(group), f"none of {group} recorded"
    assert t["processes"] >= 1 + len(report["children"])


def test_load_is_recorded_completely_with_bounded_memory(bpf_ready, scratch):
    root = str(scratch / "files")
    make_files(root, FILES)
    report_path = str(scratch / "report.json")
    s = Session(["--", *workload(root, FILES, report_path, children=CHILDREN,
                                 threads=THREADS)], str(scratch / "rec.json"))
    status = s.wait()
    assert status == 0, s.stderr
    report = load_json(report_path)
    assert not report["errors"] and report["childrenFailed"] == 0
    assert len(report["opened"]) == len(set(report["opened"])) == FILES
    assert len(report["children"]) == CHILDREN and len(report["threads"]) == THREADS
    rec = s.recording()
    assert_complete(rec, report)
    assert rec["targets"][0]["processes"] >= 1 + CHILDREN

    print(f"\nload: {FILES} files, {CHILDREN} children, {THREADS} threads; workload "
          f"{report['seconds']:.2f} s, sandprint wall {s.wall:.1f} s")
    print(f"sandprint peak RSS {s.maxrss_kib / 1024:.0f} MiB (workload's own "
          f"{max(report['maxrssKiB'].values()) / 1024:.0f} MiB); BPF maps "
          f"{s.map_bytes / 2**20:.1f} MiB: " + ", ".join(
              f"{n} {b / 2**20:.1f}" for n, _, _, b in map_table(s.maps)[:4]))
    assert s.maps, "never saw the recorder's BPF maps"
    assert s.map_bytes < MAX_MAP_MIB * 2**20
    assert s.maxrss_kib < MAX_RSS_MIB * 1024


def side(scratch: Path, name: str, rare: tuple[str, ...], go: str, n: int = 200,
         children: int = 4, threads: int = 4):
    """A small load under its own directory, with its own rare syscalls, started at ``go``."""
    d = scratch / name
    make_files(str(d / "files"), n)
    report = str(d / "report.json")
    ready = str(d / "ready")
    return d, report, ready, workload(str(d / "files"), n, report, children=children,
                                      threads=threads, rare=rare, ready=ready, go=go)


RARE_A = ("uname", "getsid")
RARE_B = ("times", "sched_get_priority_max")


def assert_isolated(rec: dict, report: dict, own: Path, other: Path, own_rare, other_rare,
                    children: int) -> None:
    assert_complete(rec, report)
    paths = file_paths(rec)
    assert not [p for p in paths if p.startswith(str(other) + "/")], "saw the other's files"
    assert any(p.startswith(str(own) + "/") for p in paths)
    syscalls = set(rec["targets"][0]["syscalls"])
    assert set(own_rare) <= syscalls
    assert not syscalls & set(other_rare), syscalls & set(other_rare)
    assert rec["targets"][0]["processes"] == 1 + children     # none of the other's


def test_two_recordings_at_once_see_only_their_own_target(bpf_ready, scratch):
    go = str(scratch / "go")
    da, rep_a, ready_a, argv_a = side(scratch, "a", RARE_A, go)
    db, rep_b, ready_b, argv_b = side(scratch, "b", RARE_B, go)
    sa = Session(["--", *argv_a], str(scratch / "a.json"))
    sb = Session(["--", *argv_b], str(scratch / "b.json"))
    try:
        # each command starts only once its recorder is attached: both record from here on
        wait_for(lambda: os.path.exists(ready_a) and os.path.exists(ready_b), 180,
                 "both workloads to start under their recorders")
        Path(go).touch()
        assert sa.wait() == 0, sa.stderr
        assert sb.wait() == 0, sb.stderr
    finally:
        for s in (sa, sb):
            if s.running():
                s.proc.kill()
    assert_isolated(sa.recording(), load_json(rep_a), da, db, RARE_A, RARE_B, 4)
    assert_isolated(sb.recording(), load_json(rep_b), db, da, RARE_B, RARE_A, 4)


def test_pid_recording_beside_a_command_recording(bpf_ready, scratch):
    need(shutil.which("bpftool") is not None, "bpftool not installed")
    go = str(scratch / "go")
    dp, rep_p, ready_p, argv_p = side(scratch, "pid", RARE_A, go, children=3, threads=2)
    dc, rep_c, ready_c, argv_c = side(scratch, "cmd", RARE_B, go)
    target = subprocess.Popen(argv_p)            # untraced until --pid picks it up
    sp = sc = None
    try:
        wait_for(lambda: os.path.exists(ready_p), 30, "the --pid target to start")
        sp = Session(["--pid", str(target.pid)], str(scratch / "pid.json"))
        sc = Session(["--", *argv_c], str(scratch / "cmd.json"))
        wait_for(lambda: tracks(sp.pid, target.pid), 180, "the --pid recorder to track it")
        wait_for(lambda: os.path.exists(ready_c), 180, "the command to start")
        Path(go).touch()
        assert target.wait(timeout=120) == 0
        assert sp.wait() == 0, sp.stderr
        assert sc.wait() == 0, sc.stderr
    finally:
        if target.poll() is None:
            target.kill()
        for s in (sp, sc):
            if s is not None and s.running():
                s.proc.kill()
    rec_p = sp.recording()
    assert rec_p["metadata"]["target"]["pid"] == target.pid
    assert_isolated(rec_p, load_json(rep_p), dp, dc, RARE_A, RARE_B, 3)
    assert_isolated(sc.recording(), load_json(rep_c), dc, dp, RARE_B, RARE_A, 4)
