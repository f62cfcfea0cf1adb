#!/usr/bin/env python3
"""Run the escape probes for real and print the README's table of probes and outcomes.

    sudo PYTHONPATH=. python scripts/escape_probe_table.py            # print the table
    sudo PYTHONPATH=. python scripts/escape_probe_table.py --write README.md
    sudo PYTHONPATH=. python scripts/escape_probe_table.py --check README.md

The loop is the user's: ``sandprint record`` the probe workload's benign mode
(``examples/probes/escape_probes.py``), ``sandprint generate seccomp`` and ``generate
landlock`` from that recording, then ``sandprint exec`` the probe mode five times: without a
sandbox, under the seccomp profile alone and under the Landlock ruleset alone (each keeping
root's capabilities: ``--keep-caps all``), with only the capabilities dropped to what the
recording shows were needed (an allow-all seccomp profile and ``--recording``), and under
the whole sandbox ("both": profile, ruleset and capabilities). "Denied by" says which layer
stops a probe on its own. Needs root (the recorder loads BPF).
``tests/test_escape_probes.py`` runs the same loop and asserts on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBES_DIR = REPO / "examples" / "probes"
WORKLOAD = PROBES_DIR / "escape_probes.py"
# Every probe workload, by the name its section of the README's table carries. Each one is a
# script with the CLI of escape_probes.py (setup / benign / probe / list, the same JSON lines)
# whose benign mode is recorded and whose probe mode runs in the sandbox generated from it.
WORKLOADS: dict[str, Path] = {
    "files and forks": WORKLOAD,
    "network client": PROBES_DIR / "net_client_probes.py",
    "file layer": PROBES_DIR / "file_layer_probes.py",
    "interpreter-reachable calls (thread pool)": PROBES_DIR / "widen_probes.py",
    "root without capabilities": PROBES_DIR / "cap_probes.py",
}
LAYERS = ("none", "seccomp", "landlock", "caps", "both")
BEGIN = "<!-- escape-probes:begin (scripts/escape_probe_table.py --write README.md) -->"
END = "<!-- escape-probes:end -->"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    return env


def sandprint(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "sandprint", *args], env=_env(),
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"sandprint {' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc


def workload(mode: str, base: Path, *extra: str, script: Path = WORKLOAD) -> list[str]:
    return [sys.executable, str(script), mode, str(base), *extra]


def probe_names(script: Path = WORKLOAD) -> list[tuple[str, str]]:
    """(probe, what it tries), in the workload's order."""
    out = subprocess.run([sys.executable, str(script), "list"], capture_output=True,
                         text=True, check=True, env=_env()).stdout
    return [(d["probe"], d["tries"]) for d in map(json.loads, out.splitlines())]


@dataclass
class Run:
    benign: dict                     # the benign part's own report line
    probes: dict[str, dict]          # probe -> its JSON line
    report: str                      # BASE/out/report.json after the run ("" if missing)


@dataclass
class Matrix:
    base: Path
    recording: Path
    seccomp: Path
    landlock: Path
    runs: dict[str, Run]             # layer -> run
    generate_summary: str            # what `generate seccomp` printed
    script: Path = WORKLOAD          # the probe workload


def allow_all_profile(m: Matrix) -> Path:
    """A seccomp profile that allows everything: the capabilities layer alone runs under it
    (``exec`` wants a profile or a ruleset)."""
    from sandprint.syscalls import native_arch

    path = m.base.parent / "allow-all.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                "architectures": [native_arch()], "syscalls": []}))
    return path


def sandbox_args(m: Matrix, layer: str) -> list[str]:
    keep_all = ["--keep-caps", "all"]        # one layer alone: root keeps its capabilities
    caps = ["--recording", str(m.recording)]  # only what the recording shows were needed
    if layer == "caps":
        return ["--seccomp", str(allow_all_profile(m)), *caps]
    return {"none": [], "seccomp": ["--seccomp", str(m.seccomp), *keep_all],
            "landlock": ["--landlock", str(m.landlock), *keep_all],
            "both": ["--seccomp", str(m.seccomp), "--landlock", str(m.landlock), *caps]}[layer]


def run_probes(m: Matrix, layer: str, outside_pid: int) -> Run:
    """Lay BASE out afresh, then run the probe mode under ``layer``'s sandbox."""
    subprocess.run(workload("setup", m.base, script=m.script), check=True, env=_env())
    command = workload("probe", m.base, "--outside-pid", str(outside_pid), script=m.script)
    if layer == "none":
        # without a sandbox: the probes run as the workload would (`exec` refuses to run a
        # command with no sandbox at all)
        proc = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    else:
        proc = sandprint("exec", *sandbox_args(m, layer), "--", *command)
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    if not lines or lines[0].get("benign") != "ok":
        raise RuntimeError(f"the benign part failed under {layer}: {proc.stdout}{proc.stderr}")
    report = m.base / "out" / "report.json"
    return Run(lines[0], {d["probe"]: d for d in lines[1:]},
               report.read_text() if report.exists() else "")


def run_matrix(work: Path, script: Path = WORKLOAD) -> Matrix:
    """Record, generate, and run the probes of ``script`` under every layer; files go under
    ``work``."""
    base = work / "tree"
    base.mkdir(parents=True, exist_ok=True)
    m = Matrix(base, work / "rec.json", work / "seccomp.json", work / "landlock.json", {}, "",
               script)
    subprocess.run(workload("setup", base, script=script), check=True, env=_env())
    sandprint("record", "-o", str(m.recording), "--", *workload("benign", base, script=script))
    m.generate_summary = sandprint("generate", "seccomp", str(m.recording), "-o",
                                   str(m.seccomp)).stderr
    sandprint("generate", "landlock", str(m.recording), "-o", str(m.landlock))
    outside = subprocess.Popen(["sleep", "600"])          # a process outside every sandbox
    try:
        for layer in LAYERS:
            m.runs[layer] = run_probes(m, layer, outside.pid)
    finally:
        outside.kill()
        outside.wait()
    return m


def denied_by(m: Matrix, probe: str) -> str:
    s = m.runs["seccomp"].probes[probe]["outcome"] == "denied"
    l = m.runs["landlock"].probes[probe]["outcome"] == "denied"
    c = "caps" in m.runs and m.runs["caps"].probes[probe]["outcome"] == "denied"
    if not c:
        return {(True, True): "both", (True, False): "seccomp", (False, True): "Landlock",
                (False, False): "neither alone"}[(s, l)]
    return ", ".join([n for n, d in (("seccomp", s), ("Landlock", l)) if d]
                     + ["capabilities"])


def outcome(result: dict) -> str:
    if result["outcome"] != "denied":
        return f"**{result['outcome']}**: {result.get('detail', '')}"
    return f"denied, {result['errno']}" if result.get("errno") else \
        f"denied ({result.get('detail')})"


def markdown_table(m: Matrix) -> str:
    rows = ["| probe | what it tries | denied by | outcome (errno) |",
            "|---|---|---|---|"]
    for name, tries in probe_names(m.script):
        rows.append(f"| `{name}` | {tries} | {denied_by(m, name)} | "
                    f"{outcome(m.runs['both'].probes[name])} |")
    return "\n".join(rows) + "\n"


def section(name: str, m: Matrix) -> str:
    """One workload's part of the README block: its name, then its table."""
    return f"Workload **{name}** (`{m.script.relative_to(REPO)}`):\n\n{markdown_table(m)}"


def markdown_tables(matrices: dict[str, Matrix]) -> str:
    return "\n".join(section(name, m) for name, m in matrices.items())


def current_section(readme: str, name: str) -> str:
    """The named workload's section of the README block, as written ("" if missing)."""
    block = current_table(readme)
    head = f"Workload **{name}** ("
    if head not in block:
        return ""
    part = block[block.index(head):]
    nxt = part.find("Workload **", len(head))
    part = part if nxt < 0 else part[:nxt]
    return part.rstrip("\n") + "\n"


def replace_table(readme: str, table: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README has no escape-probe markers ({BEGIN} ... {END})")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + table + END + tail


def current_table(readme: str) -> str:
    """The table between the markers, as written."""
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="README", help="replace the table in README")
    g.add_argument("--check", metavar="README", help="exit 1 if README's table differs")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    args = ap.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sandprint-probes-",
                                                                   dir="/var/tmp"))
    try:
        table = markdown_tables({name: run_matrix(work / f"w{i}", script)
                                 for i, (name, script) in enumerate(WORKLOADS.items())})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.write:
        text = Path(args.write).read_text()
        Path(args.write).write_text(replace_table(text, table))
    elif args.check:
        if current_table(Path(args.check).read_text()) != table:
            print(f"{args.check}: the escape-probe table is out of date; got:\n{table}",
                  file=sys.stderr)
            return 1
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
