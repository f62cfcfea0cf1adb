"""`sandprint demo`: the whole loop on an example workload, no arguments needed.

Records ``examples/workloads/wordfreq.py``, writes its seccomp profile and Landlock ruleset,
replays it under both in enforce mode, and shows that one thing of each kind the workload
never did is refused: a syscall (seccomp) and reading a file (Landlock).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .errors import EnvironmentProblem

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "workloads"



def _probe(args: list[str]) -> str:
    """Run ``sandprint exec ARGS`` and return what the command printed (or its error)."""
    proc = subprocess.run([sys.executable, "-m", "sandprint", "exec", *args],
                          capture_output=True, text=True)
    lines = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"


def run(workdir: str | None, echo: Callable[[str], None] = print) -> int:
    from .generators import landlock as landlock_gen
    from .generators import seccomp as seccomp_gen
    from .profiler.record import record_command
    from .verify.replay import render_text, verify

    if not (EXAMPLES / "wordfreq.py").exists():
        raise EnvironmentProblem(f"the demo's example workload is missing: {EXAMPLES}")
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sandprint-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    rec_path, prof_path = work / "wordfreq.rec.json", work / "wordfreq.seccomp.json"
    rules_path = work / "wordfreq.landlock.json"
    (work / "run").mkdir(exist_ok=True)       # the workload's own directory: it makes out/ there
    argv = [sys.executable, str(EXAMPLES / "wordfreq.py"), str(EXAMPLES / "sample.txt"),
            str(work / "run" / "out")]
    quiet = lambda _msg: None  # noqa: E731

    echo(f"1. record   {' '.join(os.path.basename(a) for a in argv)}")
    rec, status = record_command(argv, log=quiet)
    rec.save(str(rec_path))
    t = rec.targets[0]
    echo(f"   workload exited {status}: {len(t.syscalls)} distinct syscalls, "
         f"{t.processes} process(es), {len(t.files)} paths -> {rec_path}")

    echo("2. generate seccomp profile (allow what was recorded, EPERM for the rest)")
    summary = seccomp_gen.generate_file(rec, str(prof_path))
    for line in summary.splitlines():
        echo(f"   {line}")
    echo("   generate Landlock ruleset (the files and ports it used, nothing else)")
    result = landlock_gen.generate_file(rec, str(rules_path))
    echo(f"   {result.summary(str(rules_path))}")

    echo("3. verify   replay the workload under both, in enforce mode")
    verdict = verify(argv, seccomp=str(prof_path), landlock=str(rules_path), log=quiet,
                     recordings=[str(rec_path)])
    for line in render_text(verdict):
        echo(f"   {line}")

    echo("4. probe    a syscall it never made: unshare(CLONE_NEWUSER) under the seccomp profile")
    out = _probe(["--seccomp", str(prof_path), "--", sys.executable,
                  str(EXAMPLES / "probe_userns.py")])
    echo(f"   -> {out}")
    seccomp_refused = "Operation not permitted" in out

    secret = work / "secret.txt"
    secret.write_text("a file the workload never read\n")
    echo(f"   probe    a file it never read: the same workload given {secret.name} "
         "under the Landlock ruleset")
    out = _probe(["--landlock", str(rules_path), "--", argv[0], argv[1], str(secret), argv[3]])
    echo(f"   -> {out}")
    landlock_refused = "Permission denied" in out

    echo("")
    echo(f"files kept in {work}")
    ok = verdict.ok and seccomp_refused and landlock_refused and status == 0
    echo("demo: OK - recorded, generated seccomp and Landlock, verified (no denial), and both "
         "probes were refused" if ok else "demo: FAILED - see above")
    return 0 if ok else 1
