#!/usr/bin/env python3
"""Count the Landlock rules generated for the project's example workloads.

    python scripts/landlock_rule_counts.py record DIR     # record each workload into DIR (root)
    python scripts/landlock_rule_counts.py count DIR      # generate from DIR's recordings, count

Recording once and counting with two versions of the generator (e.g. main's and a branch's)
compares the generators on the same recordings: ``record`` keeps the workloads' files in
DIR, so the host checks of ``count`` see what the recordings saw. One JSON line per
workload: path rules, port rules, and the rules by reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EX = REPO / "examples" / "workloads"
WL = EX / "landlock"
PY = sys.executable
TEXT = "the quick brown fox jumps over the lazy dog the fox\n" * 40

# name -> (argv with {work}, inputs relative to {work}, empty directories)
WORKLOADS = {
    "wordfreq": ([PY, str(EX / "wordfreq.py"), str(EX / "sample.txt"), "{work}/out"], {}, []),
    "pipeline": (["sh", str(EX / "pipeline.sh")], {}, []),
    "forker": ([PY, str(EX / "forker.py"), "3"], {}, []),
    "config_report": ([PY, str(WL / "config_report.py"), "{work}/in/config.json",
                       "{work}/out/report"],
                      {"in/config.json": json.dumps({"prefix": "- ", "sections": {
                          "fruit": ["apple", "pear"], "tools": ["saw", "plane"]}})}, ["out"]),
    "tmp_pipeline": (["sh", str(WL / "tmp_pipeline.sh"), "{work}/in/text.txt",
                      "{work}/out/top.txt"], {"in/text.txt": TEXT}, ["out"]),
    "git_commit": (["sh", str(WL / "git_commit.sh"), "{work}/in"],
                   {"in/README": "hello\n", "in/main.c": "int main(void){return 0;}\n"}, []),
    "sqlite_journal": ([PY, str(WL / "sqlite_journal.py"), "{work}/in/items.csv",
                        "{work}/db/app.db"], {"in/items.csv": "name,qty\napple,3\n"}, ["db"]),
}


def sandprint(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([PY, "-m", "sandprint", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def record(out: Path) -> None:
    for name, (argv, inputs, dirs) in WORKLOADS.items():
        work = out / name
        for d in dirs:
            (work / d).mkdir(parents=True, exist_ok=True)
        for rel, text in inputs.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        work.mkdir(parents=True, exist_ok=True)
        p = sandprint("record", "-o", str(out / f"{name}.rec.json"), "--",
                      *[a.format(work=work) for a in argv])
        print(json.dumps({"workload": name, "recorded": p.returncode == 0}), flush=True)


def count(out: Path) -> None:
    for name in WORKLOADS:
        rec = out / f"{name}.rec.json"
        ruleset = out / f"{name}.landlock.json"
        p = sandprint("generate", "landlock", str(rec), "-o", str(ruleset))
        if p.returncode != 0:
            print(json.dumps({"workload": name, "error": p.stderr.strip()}))
            continue
        cfg = json.loads(ruleset.read_text())
        rules = cfg.get("pathBeneath", [])
        paths = sum(len(r["parent"]) for r in rules)
        ports = len({p for r in cfg.get("netPort", []) for p in r["port"]})
        print(json.dumps({"workload": name, "pathRules": paths, "portRules": ports}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "count"):
        sys.exit(__doc__)
    {"record": record, "count": count}[sys.argv[1]](Path(sys.argv[2]).resolve())
