"""Landlock rules that must serve where the workload runs next (issue 11, point 7).

* A path naming the cgroup the recording ran in (node reads
  ``/sys/fs/cgroup/memory/<its cgroup>/memory.limit_in_bytes``) must not become a rule naming
  that cgroup: its reads go on the hierarchy, writes stay narrow and are never widened.
* A container's recording holds the container's paths: they are not checked against this host
  (nothing "maybe missing" because the host lacks /www), reads are not generalised (the
  container's files cannot be searched for secrets from here), and a note says how the
  ruleset applies.
"""

from __future__ import annotations

import json

from helpers import run_sandprint
from sandprint.generators.landlock import Options, generate_ruleset
from sandprint.landlock.config import MAY_NOT_EXIST_VARIABLE
from sandprint.recording import Recording

NO_HOST = Options(host_check=False)
SESSION = "/user.slice/user-1000.slice/session-3.scope"


def _rec(target: dict) -> Recording:
    rec = Recording.new(target, arch="SCMP_ARCH_X86_64", landlock_abi=6)
    t = rec.target("main")
    t.processes = 1
    t.add_file("/usr/bin/node", {"execute", "read_file"}, kind="file")
    t.add_file("/proc/4242/cgroup", {"read_file"}, kind="file")
    return rec


def _rules(config: dict) -> dict[str, list[str]]:
    return {p: r["allowedAccess"] for r in config.get("pathBeneath", []) for p in r["parent"]}


def test_cgroup_v1_limit_read_goes_on_the_hierarchy():
    rec = _rec({"type": "command", "command": ["node", "app.js"]})
    rec.target("main").add_file(f"/sys/fs/cgroup/memory{SESSION}/memory.limit_in_bytes",
                                {"read_file"}, kind="file")
    g = generate_ruleset(rec, options=NO_HOST)
    rules = _rules(g.config)
    assert not [p for p in rules if "session-3.scope" in p], rules
    assert rules["/sys/fs/cgroup/memory"] == ["read_file"], rules
    assert any("/sys/fs/cgroup/memory" in n and "not known" in n for n in g.notes), g.notes


def test_cgroup_v2_reads_and_narrow_writes():
    rec = _rec({"type": "command", "command": ["job"]})
    t = rec.target("main")
    t.add_file("/sys/fs/cgroup/system.slice/ci-job-77.scope/memory.max", {"read_file"},
               kind="file")
    t.add_file("/sys/fs/cgroup/system.slice/ci-job-77.scope/cpu.max", {"read_file"},
               kind="file")
    t.add_file("/sys/fs/cgroup/system.slice/ci-job-77.scope", {"read_dir"}, kind="dir")
    # the workload moves itself into a child cgroup: a write, never widened
    t.add_file("/sys/fs/cgroup/system.slice/ci-job-77.scope/worker/cgroup.procs",
               {"write_file"}, kind="file")
    # a file of the hierarchy's root cgroup (inside a container: its own) names no cgroup
    t.add_file("/sys/fs/cgroup/memory.max", {"read_file"}, kind="file")
    g = generate_ruleset(rec, options=NO_HOST)
    rules = _rules(g.config)
    assert set(rules["/sys/fs/cgroup"]) == {"read_file", "read_dir"}, rules
    assert "write_file" not in rules["/sys/fs/cgroup"]
    assert rules["/sys/fs/cgroup/system.slice/ci-job-77.scope/worker/cgroup.procs"] == \
        ["write_file"]
    assert not [p for p in rules if p.endswith(("memory.max", "cpu.max"))], rules
    assert any("writes to 1 paths naming the recording's cgroup" in n for n in g.notes), g.notes


def _container_recording(kind: str = "container") -> Recording:
    target = {"type": kind, "container": "web", "name": "web", "engine": "podman",
              "image": "localhost/site:1"} if kind == "container" else \
        {"type": "command", "command": ["httpd"]}
    rec = Recording.new(target, arch="SCMP_ARCH_X86_64", landlock_abi=6)
    t = rec.target("web")
    t.processes = 2
    t.add_file("/bin/busybox", {"execute", "read_file"}, kind="file")
    for i in range(8):     # enough to generalise /www/site on a host path
        t.add_file(f"/www/site/page{i}.html", {"read_file"}, kind="file")
    t.add_file("/www/site", {"read_dir"}, kind="dir")
    t.add_file("/tmp/httpd.log", {"write_file", "truncate"}, kind="file")
    return rec


def test_container_paths_are_not_checked_against_the_host():
    host = generate_ruleset(_container_recording("command"))     # host checks on
    assert "/www/site" in _rules(host.config)                    # generalised
    assert host.maybe_missing                                    # /www is not on this host

    g = generate_ruleset(_container_recording())                 # same options
    rules = _rules(g.config)
    assert g.maybe_missing == [], g.maybe_missing
    assert MAY_NOT_EXIST_VARIABLE not in json.dumps(g.config)
    assert "/www/site/page0.html" in rules and "read_file" not in rules.get("/www/site", [])
    note = next(n for n in g.notes if "container web" in n)
    assert "localhost/site:1" in note and "inside the container" in note, note


def test_container_note_from_the_cli(tmp_path):
    src = tmp_path / "web.json"
    _container_recording().save(str(src))
    out = tmp_path / "ruleset.json"
    r = run_sandprint("generate", "landlock", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "not this host's" in r.stderr and "inside the container" in r.stderr, r.stderr
    assert "maybe missing" not in r.stderr, r.stderr
