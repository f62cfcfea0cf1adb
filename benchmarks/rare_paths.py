#!/usr/bin/env python3
"""Rare paths under a recorded profile, with and without ``--widen static``.

    sudo PYTHONPATH=. python benchmarks/rare_paths.py [--json OUT] [CASE ...]

For each workload: record its ordinary path once (``sandprint record``), generate a seccomp
profile from that recording as recorded and with ``--widen static``, then run each of its
rare paths under both profiles with ``sandprint verify --recording`` (enforce mode; clean
= no denial and exit status 0). Prints a table of the syscalls each profile allows beside
the container engine's default profile, and whether each rare path ran clean. The workloads
are in examples/workloads/rare/. tests/test_rare_paths.py runs the same loop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RARE = REPO / "examples" / "workloads" / "rare"
PY = sys.executable
VERIFY_SECONDS = 60


@dataclass
class Workload:
    """A self-contained ``command`` (mode appended), or a server with a ``driver`` script
    (``DRIVER WORK setup|server|drive MODE|clean``): only the server is recorded and
    replayed, the driver works it from outside."""

    name: str
    ordinary: str                                    # the mode recorded
    rare: dict[str, str]                             # rare path -> its mode
    command: list[str] | None = None
    driver: str | None = None
    needs: str = ""                                  # a program that must be installed


WORKLOADS = {
    "nginx": Workload("nginx", "ordinary", {"reload": "reload", "cache purge": "purge"},
                      driver=str(RARE / "nginx_rare.py"), needs="/usr/sbin/nginx"),
    "postgres": Workload("postgres", "ordinary", {"mremap load": "remap"},
                         driver=str(RARE / "pg_rare.py"), needs="/usr/sbin/runuser"),
    "node": Workload("node", "ordinary", {"socket shutdown": "rare"},
                     command=["node", str(RARE / "node_shutdown.js")], needs="node"),
    "python pool": Workload("python pool", "ordinary", {"contention": "rare"},
                            command=[PY, str(RARE / "thread_pool.py")]),
    "python socket": Workload("python socket", "ordinary", {"socket shutdown": "rare"},
                              command=[PY, str(RARE / "py_shutdown.py")]),
}


@dataclass
class RareRun:
    workload: str
    path: str
    recorded: int
    widened: int
    baseline: int | None
    clean_recorded: bool
    clean_widened: bool
    denied_recorded: list[str] = field(default_factory=list)
    denied_widened: list[str] = field(default_factory=list)
    needed: list[str] = field(default_factory=list)      # what the rare path added


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    return env


def sandprint(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([PY, "-m", "sandprint", *args], env=_env(), capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise RuntimeError(f"sandprint {' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc


def allowed(profile: Path) -> set[str]:
    doc = json.loads(profile.read_text())
    return {n for r in doc["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}


def baseline_count(arch: str) -> int | None:
    from sandprint.errors import InputError
    from sandprint.fileio import read_json
    from sandprint.generators.baseline import docker_allowed, find_baseline

    base = find_baseline()
    if base is None:
        return None
    try:
        return len(docker_allowed(read_json(base.path), arch, caps=base.caps,
                                  source=base.path))
    except InputError:
        return None


def available(w: Workload) -> bool:
    return not w.needs or shutil.which(w.needs) is not None or os.path.exists(w.needs)


def _run(w: Workload, work: Path, mode: str, sandprint_args: list[str]) -> int:
    """``sandprint SANDPRINT_ARGS -- the workload`` in ``mode``; its exit status (a server's
    driver failing counts as a failure too)."""
    if w.command is not None:
        return sandprint(*sandprint_args, "--", *w.command, mode, check=False).returncode
    server = json.loads(subprocess.run([PY, w.driver, str(work), "server"], check=True,
                                       capture_output=True, text=True).stdout)
    proc = subprocess.Popen([PY, "-m", "sandprint", *sandprint_args, "--", *server],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        drove = subprocess.run([PY, w.driver, str(work), "drive", mode], capture_output=True,
                               text=True, timeout=300)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if drove.returncode != 0:
        print(f"{w.name} {mode}: the driver exited {drove.returncode}: {drove.stderr[-1000:]}",
              file=sys.stderr)
        return 1
    if proc.returncode not in (0, 1):
        print(f"{w.name} {mode}: sandprint exited {proc.returncode}: {err[-2000:]}",
              file=sys.stderr)
    return proc.returncode


def run_workload(w: Workload, base: Path, log=print) -> list[RareRun]:
    """Record ``w``'s ordinary path, generate both profiles, run each rare path under each."""
    from sandprint.syscalls import native_arch

    work = base / "work"
    work.mkdir(mode=0o755)
    os.chmod(base, 0o755)
    os.chmod(work, 0o755)
    if w.driver:
        subprocess.run([PY, w.driver, str(work), "setup"], check=True, capture_output=True)
    rows = []
    try:
        rec = base / "ordinary.json"
        if _run(w, work, w.ordinary, ["record", "-o", str(rec)]) != 0 or not rec.exists():
            raise RuntimeError(f"{w.name}: recording its ordinary path failed")
        plain, widened = base / "recorded.json", base / "widened.json"
        sandprint("generate", "seccomp", str(rec), "-o", str(plain))
        gen = sandprint("generate", "seccomp", str(rec), "-o", str(widened), "--widen",
                        "static")
        log(f"{w.name}: generate --widen static:\n{gen.stderr}")
        docker = baseline_count(native_arch())
        ordinary_set = set(json.loads(rec.read_text())["targets"][0]["syscalls"])
        for path, mode in w.rare.items():
            result = {}
            for label, profile in (("recorded", plain), ("widened", widened)):
                report = base / f"{label}-{mode}.json"
                # bounded: a workload whose call is refused may wait forever
                rc = _run(w, work, mode, ["verify", "--seccomp", str(profile), "--recording",
                                          str(rec), "--report", str(report), "--duration",
                                          str(VERIFY_SECONDS)])
                denied, ran = [], set()
                if report.exists():
                    rep = json.loads(report.read_text())
                    denied = sorted({d["name"] for d in rep["denials"]})
                    for t in rep["recording"]["targets"]:
                        ran |= set(t["syscalls"])
                result[label] = (rc == 0 and not denied, denied, ran)
            rows.append(RareRun(w.name, path, len(allowed(plain)), len(allowed(widened)),
                                docker, result["recorded"][0], result["widened"][0],
                                result["recorded"][1], result["widened"][1],
                                sorted(result["widened"][2] - ordinary_set)))
    finally:
        if w.driver:
            subprocess.run([PY, w.driver, str(work), "clean"], capture_output=True)
    return rows


def table(rows: list[RareRun]) -> str:
    out = ["| workload | rare path | syscalls allowed: recorded / widened / default "
           "| clean, recorded profile | clean, widened | the rare path's new syscalls |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        def verdict(ok: bool, denied: list[str]) -> str:
            return "yes" if ok else "**no**" + (f" (denied: {', '.join(denied)})" if denied
                                                else "")
        out.append(f"| {r.workload} | {r.path} | {r.recorded} / {r.widened} / "
                   f"{r.baseline if r.baseline is not None else '?'} "
                   f"| {verdict(r.clean_recorded, r.denied_recorded)} "
                   f"| {verdict(r.clean_widened, r.denied_widened)} "
                   f"| {', '.join(r.needed) or 'none'} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", choices=[[]] + list(WORKLOADS) or None)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows: list[RareRun] = []
    for name in a.cases or list(WORKLOADS):
        w = WORKLOADS[name]
        if not available(w):
            print(f"{name}: skipped ({w.needs} not installed)", file=sys.stderr)
            continue
        base = Path(tempfile.mkdtemp(prefix="sandprint-rare-"))
        try:
            rows += run_workload(w, base, log=lambda s: print(s, file=sys.stderr))
        finally:
            shutil.rmtree(base, ignore_errors=True)
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
