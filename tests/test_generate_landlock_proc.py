"""/proc/self reads in the Landlock generator: one process -> /proc/self; several -> /proc.

A rule on /proc/self is fixed to the /proc/PID of the process applying the ruleset when it
is applied; a child process reading its own /proc/self reads another /proc/PID.
"""

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
    assert any("granted on /proc" in n for n in notes)


def test_option_keeps_the_narrow_rule():
    rules, _ = rules_of(3, proc_for_children=False)
    assert rules["/proc/self"] == {"read_file", "read_dir"}
    assert "/proc" not in rules
