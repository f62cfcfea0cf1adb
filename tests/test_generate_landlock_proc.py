"""/proc/self reads in the Landlock generator: one process -> /proc/self; several -> /proc.

A rule on /proc/self is fixed to the /proc/PID of the process applying the ruleset when it
is applied; a child process reading its own /proc/self reads another /proc/PID.
"""

import subprocess
import sys

import pytest

from helpers import REPO, need, sandprint_env
from sandprint.generators.landlock import Options, generate_ruleset
from sandprint.recording import Recording


def rules_of(processes: int, **opts) -> tuple[dict[str, set[str]], list[str]]:
    rec = Recording.new({"type": "command", "command": ["test"]}, arch="SCMP_ARCH_X86_64",
                        landlock_abi=7)
    t = rec.target("main")
    t.processes = processes
    t.add_file("/usr/bin/sort", {"execute", "read_file"}, kind="file")
    t.add_file("/proc/self/maps", {"read_file"}, kind="file")
    t.add_file("/proc/4242/fd", {"read_dir"}, kind="dir")
    result = generate_ruleset(rec, options=Options(host_check=False, **opts))
    rules = {p: set(r["allowedAccess"]) for r in result.config["pathBeneath"]
             for p in r["parent"]}
    return rules, result.notes


def test_single_process_keeps_proc_self():
    rules, _ = rules_of(1)
    assert rules["/proc/self"] == {"read_file", "read_dir"}
    assert "/proc" not in rules


def test_children_reading_their_own_proc_get_read_rights_on_proc():
    rules, notes = rules_of(3)
    assert rules["/proc"] == {"read_file", "read_dir"}       # only what was read
    assert "/proc/self" not in rules                         # covered by /proc
    note = next(n for n in notes if "granted on /proc:" in n)
    assert note.startswith("warning:") and "environ" in note and "--no-proc-for-children" in note


@pytest.mark.kernel
def test_what_a_rule_on_proc_opens_of_another_process():
    """The warning's claim, on the running kernel: under a ruleset with read_file on /proc,
    another process's environ, maps and cmdline are readable (the red team read one's
    environment), its mem and stack are not. Should Landlock start refusing the first group,
    this test fails and the warning can go."""
    from sandprint.landlock import abi as A

    need(A.kernel_abi() >= 1, "Landlock not available in this kernel")
    outside = subprocess.Popen(["sleep", "60"], env={"SANDPRINT_PROBE_SECRET": "hunter2"})
    code = ("import sys\n"
            "from sandprint import landlock\n"
            "landlock.Ruleset().allow_read('/proc').restrict_self(compat='hard')\n"
            "out = {}\n"
            "for f in ('environ', 'maps', 'cmdline', 'mem', 'stack'):\n"
            "    try:\n"
            "        out[f] = bool(open(f'/proc/{sys.argv[1]}/{f}', 'rb').read(4096))\n"
            "    except OSError:\n"
            "        out[f] = False\n"
            "print(open(f'/proc/{sys.argv[1]}/environ').read() if out['environ'] else '')\n"
            "print(sorted(k for k, v in out.items() if v))\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(outside.pid)],
                              capture_output=True, text=True, timeout=60, cwd=REPO,
                              env=sandprint_env())
    finally:
        outside.kill()
        outside.wait()
    assert proc.returncode == 0, proc.stderr
    env_line, readable = proc.stdout.strip().splitlines()[-2:]
    assert "SANDPRINT_PROBE_SECRET=hunter2" in env_line
    assert readable == "['cmdline', 'environ', 'maps']"


def test_option_keeps_the_narrow_rule():
    rules, _ = rules_of(3, proc_for_children=False)
    assert rules["/proc/self"] == {"read_file", "read_dir"}
    assert "/proc" not in rules
