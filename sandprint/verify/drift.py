"""``sandprint check``: the drift gate for CI, like a lockfile check.

Runs the command once, unconfined, under the recorder (the same replay as
``verify --complain``), and compares everything it did with the committed profile and
ruleset. Exit 0 when the sandbox allows it all and the command succeeded; 1 with a readable
list of what is missing (``+`` lines: what the sandbox would have to add) otherwise.
Regenerate, or run ``sandprint verify --complain --fix``, to bring the sandbox up to date.
"""

from __future__ import annotations

from typing import Callable

from .report_text import by_design_lines, who
from .replay import VerifyResult, verify

Log = Callable[[str], None]


def drift_lines(result: VerifyResult) -> list[str]:
    """The readable diff: what the workload needed that the sandbox lacks."""
    lines: list[str] = []
    by_layer = {"seccomp": result.seccomp_path, "landlock": result.landlock_path}
    for layer, path in by_layer.items():
        mine = [d for d in result.denials if d.detail.get("layer") == layer]
        if not mine:
            continue
        lines.append(f"  {layer} {path} lacks:")
        for d in sorted(mine, key=lambda d: (d.kind, d.name)):
            rights = f" ({', '.join(d.rights)})" if d.rights and d.kind == "file" else ""
            proc = who(d.processes)
            lines.append(f"    + {d.kind} {d.name}{rights}  x{d.count}"
                         + (f"  by {proc}" if proc else ""))
    return lines


def check_cli(argv: list[str], *, seccomp: str | None, landlock: str | None,
              duration: float | None, log: Log, report: str | None = None) -> int:
    from ..fileio import write_json
    from ..profiler.record import check_output_path

    if report:
        check_output_path(report)
    result = verify(argv, seccomp=seccomp, landlock=landlock, complain=True,
                    duration=duration, log=log)
    result.warnings = [w for w in result.warnings if "provenance is unknown" not in w]
    # the committed profile and ruleset carry no capability list: capabilities are not theirs
    # to drift from (exec/verify --recording keep what a recording shows)
    result.denials = [d for d in result.denials if d.kind != "capability"]
    if report:
        write_json(report, result.to_json())
    names = " and ".join(p for p in (seccomp, landlock) if p)
    if result.denials:
        log(f"sandprint check: FAIL - the workload needs more than {names} allows:")
        for line in drift_lines(result):
            log(line)
        log("  update the sandbox: sandprint verify --complain --fix "
            + " ".join(f"--{k} {v}" for k, v in (("seccomp", seccomp), ("landlock", landlock))
                       if v) + " -- " + " ".join(argv))
    if result.exit_code != 0:
        log(f"sandprint check: FAIL - the command itself exited {result.exit_code}")
    if result.ok:
        log(f"sandprint check: OK - everything the workload did is allowed by {names}")
    for line in by_design_lines(result):
        log(line)
    for n in result.notes:
        log(f"  note: {n}")
    return 0 if result.ok else 1
