"""sandprint stands on its own: no tracked file (``.ci/run`` aside) names a path outside the
checkout -- the project's shared folder beside it, or a machine's absolute work folder."""

from __future__ import annotations

import re
import subprocess

from helpers import REPO

# spelled in pieces so that this file does not match itself
OUTSIDE = [
    re.escape(".." + "/shared"),
    "shared" + r"[\"'/ ]+" + "reference",
    re.escape("/wo" + "rk/"),
    r"REPO\." + "parent",
    r"parent\.parent\." + "parent",
]
ALLOWED = {".ci/run"}


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def test_no_tracked_file_names_a_path_outside_the_checkout():
    pattern = re.compile("|".join(OUTSIDE))
    offenders = []
    for rel in tracked_files():
        if rel in ALLOWED:
            continue
        try:
            text = (REPO / rel).read_text(errors="replace")
        except (IsADirectoryError, FileNotFoundError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            m = pattern.search(line)
            if m:
                offenders.append(f"{rel}:{n}: {m.group(0)!r} in {line.strip()[:100]}")
    assert not offenders, "files naming a path outside the checkout:\n" + "\n".join(offenders)


def test_the_check_catches_one(tmp_path):
    pattern = re.compile("|".join(OUTSIDE))
    for line in ('DOCKER = REPO.' + 'parent / "x.json"',
                 'REFERENCE = "shared" / ' + '"reference"',
                 "read from .." + "/shared/ beside the checkout",
                 'REFERENCE = "/wo' + 'rk/x"'):
        assert pattern.search(line), line
    assert not pattern.search("/usr/share/containers/seccomp.json")
