"""`sandprint demo`: the whole loop on an example workload, no arguments needed.

Records ``examples/workloads/wordfreq.py``, writes its seccomp profile and Landlock ruleset,
replays it under both, and shows that something the workload never did is refused.
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



def run(workdir: str | None, echo: Callable[[str], None] = print) -> int:
    from .generators import seccomp as seccomp_gen
    from .profiler.record import record_command
    from .verify.replay import render_text, verify

    if not (EXAMPLES / "wordfreq.py").exists():
        raise EnvironmentProblem(f"the demo's example workload is missing: {EXAMPLES}")
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sandprint-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    rec_path, prof_path = work / "wordfreq.rec.json", work / "wordfreq.seccomp.json"
    argv = [sys.executable, str(EXAMPLES / "wordfreq.py"), str(EXAMPLES / "sample.txt"),
            str(work / "out")]
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

    echo("3. verify   replay the workload under the profile")
    result = verify(argv, seccomp=str(prof_path), log=quiet, recordings=[str(rec_path)])
    for line in render_text(result):
        echo(f"   {line}")

    echo("4. probe    something the workload never did: unshare(CLONE_NEWUSER) under the profile")
    probe = subprocess.run([sys.executable, "-m", "sandprint", "exec", "--seccomp",
                            str(prof_path), "--", sys.executable, str(EXAMPLES / "probe_userns.py")],
                           capture_output=True, text=True)
    echo(f"   -> {probe.stdout.strip() or probe.stderr.strip()}")
    refused = "Operation not permitted" in probe.stdout
    echo("")
    echo(f"files kept in {work}")
    ok = result.ok and refused and status == 0
    echo("demo: OK - recorded, generated, verified, and the unrecorded syscall was refused"
         if ok else "demo: FAILED - see above")
    return 0 if ok else 1
