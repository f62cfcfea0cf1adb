"""Rare paths under a profile recorded from an ordinary run, with and without --widen static
(benchmarks/rare_paths.py runs the same loop and prints the README's table).

Each workload's ordinary path is recorded once; each rare path then runs under the recorded
profile and under the widened one (sandprint verify, enforce mode). With --widen static every
rare path runs clean; without it, a rare path that makes a syscall the ordinary run did not
is refused it. About 20-40 s per workload on an idle machine (the analysis is cached
between runs in the user's static cache).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import REPO, need

sys.path.insert(0, str(REPO / "benchmarks"))
import rare_paths  # noqa: E402

pytestmark = pytest.mark.kernel

# what each rare path needs that its ordinary path never makes (seen on this host); the
# recorded profile must refuse it, the widened one allow it
RARE_SYSCALL = {("postgres", "mremap load"): "mremap",
                ("node", "socket shutdown"): "shutdown",
                ("python pool", "contention"): "sched_yield",
                ("python socket", "socket shutdown"): "shutdown"}


@pytest.mark.parametrize("name", list(rare_paths.WORKLOADS))
def test_rare_paths_run_clean_when_widened(bpf_ready, name):
    w = rare_paths.WORKLOADS[name]
    need(rare_paths.available(w), f"{w.needs} is not installed")
    if w.driver and "pg_rare" in w.driver:
        need(Path("/usr/lib/postgresql").is_dir(), "PostgreSQL is not installed")
    base = Path(tempfile.mkdtemp(prefix="sandprint-static-rare-"))
    try:
        rows = rare_paths.run_workload(w, base, log=lambda s: None)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert rows
    for r in rows:
        assert r.clean_widened, (r.path, r.denied_widened)
        assert r.widened >= r.recorded
        if r.baseline is not None:
            assert r.widened < r.baseline
        rare = RARE_SYSCALL.get((r.workload, r.path))
        if rare:
            assert not r.clean_recorded and rare in r.denied_recorded, r
            assert rare in r.needed
