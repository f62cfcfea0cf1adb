"""merge and diff of recordings, seccomp profiles and Landlock rulesets; Landlock's semantics
in complain mode; bad input in every new command (exit 2, nothing written). No kernel needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_cli, run_sandprint
from sandprint.verify.judge import LandlockPolicy, judged_path
from sandprint.landlock.config import resolve
from sandprint.landlock.ops import diff_rulesets, merge_rulesets
from sandprint.recording import diff_recordings
from sandprint.seccomp.ops import diff_profiles, merge_profiles
from sandprint.recording import NetAccess, Recording, merge
from sandprint.seccomp.profile import profile_from_data
from sandprint.syscalls import native_arch

ARCH = native_arch()
SYSCALLS = ["read", "write", "openat", "close", "mmap", "getpid", "futex", "exit_group"]
PATHS = ["/srv", "/srv/a", "/srv/a/x", "/srv/b", "/etc/hosts", "/tmp"]
FS = ["read_file", "read_dir", "write_file", "make_reg", "execute"]


# -- strategies ------------------------------------------------------------------------------

@st.composite
def recordings(draw):
    rec = Recording.new({"type": "command", "command": ["x"]}, arch=ARCH, landlock_abi=7)
    rec.metadata["start"] = f"2025-01-01T00:00:0{draw(st.integers(0, 9))}+00:00"
    rec.metadata["end"] = "2025-01-01T00:00:10+00:00"
    rec.metadata["kernel"] = draw(st.sampled_from(["6.1", "6.18"]))
    for name in draw(st.lists(st.sampled_from(["main", "side"]), min_size=1, unique=True)):
        t = rec.target(name)
        for s in draw(st.lists(st.sampled_from(SYSCALLS), max_size=5)):
            t.add_syscall(s, draw(st.integers(1, 5)))
        for p in draw(st.lists(st.sampled_from(PATHS), max_size=4)):
            t.add_file(p, draw(st.sets(st.sampled_from(FS), min_size=1, max_size=2)),
                       kind=draw(st.sampled_from([None, "file", "dir"])))
        for port in draw(st.lists(st.sampled_from([80, 443, 8080]), max_size=2)):
            t.add_net(NetAccess("connect", "tcp", "inet", port))
        t.processes = draw(st.integers(0, 3))
        if draw(st.booleans()):
            t.info["image"] = draw(st.sampled_from(["a", "b"]))
    return rec


@st.composite
def profiles(draw):
    names = draw(st.sets(st.sampled_from(SYSCALLS), min_size=1))
    return profile_from_data({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                              "architectures": [ARCH],
                              "syscalls": [{"names": sorted(names),
                                            "action": "SCMP_ACT_ALLOW"}]})


@st.composite
def rulesets(draw):
    rules = []
    for p in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=4, unique=True)):
        rules.append({"allowedAccess": sorted(draw(st.sets(st.sampled_from(FS), min_size=1))),
                      "parent": [p]})
    cfg = {"abi": 4, "ruleset": [{"handledAccessFs": ["abi.all"],
                                  "handledAccessNet": ["abi.all"]}], "pathBeneath": rules}
    ports = draw(st.sets(st.sampled_from([80, 443]), max_size=2))
    if ports:
        cfg["netPort"] = [{"allowedAccess": ["connect_tcp"], "port": sorted(ports)}]
    return cfg


def _rec(r: Recording) -> dict:
    return r.to_json()


# -- merge is associative and commutative ----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(recordings(), recordings(), recordings())
def test_recording_merge_associative_commutative(a, b, c):
    assert _rec(merge([a, b])) == _rec(merge([b, a]))
    assert _rec(merge([merge([a, b]), c])) == _rec(merge([a, merge([b, c])]))
    m = merge([a, b, c])
    assert m.metadata["runs"] == 3 and len(m.metadata["sources"]) == 3
    for name in {t.name for r in (a, b, c) for t in r.targets}:
        total = sum(t.syscalls.get("read", 0) for r in (a, b, c) for t in r.targets
                    if t.name == name)
        assert m.target(name).syscalls.get("read", 0) == total     # counts add up


@settings(max_examples=60, deadline=None)
@given(profiles(), profiles(), profiles())
def test_profile_merge_associative_commutative(a, b, c):
    def m(*ps):
        return profile_from_data(merge_profiles(list(ps)))

    assert merge_profiles([a, b]) == merge_profiles([b, a])
    assert merge_profiles([m(a, b), c]) == merge_profiles([a, m(b, c)])
    assert m(a, b, c).allowed_syscalls() == \
        a.allowed_syscalls() | b.allowed_syscalls() | c.allowed_syscalls()


@settings(max_examples=60, deadline=None)
@given(rulesets(), rulesets(), rulesets())
def test_ruleset_merge_associative_commutative(a, b, c):
    def m(*cs):
        return merge_rulesets(list(cs))[0]

    assert m(a, b) == m(b, a)
    assert m(m(a, b), c) == m(a, m(b, c))
    # the union allows what each allows, on every path
    merged = resolve(m(a, b, c))

    def granted(res, path):
        out, p = set(), path
        while True:
            out |= res.path_rules.get(p, set())
            if p == "/":
                return out
            p = os.path.dirname(p)

    for x in map(resolve, (a, b, c)):
        for path, rights in x.path_rules.items():
            assert rights <= granted(merged, path)


@settings(max_examples=30, deadline=None)
@given(rulesets(), profiles(), recordings())
def test_diff_with_itself_is_empty(r, p, rec):
    assert diff_rulesets(r, r) == []
    assert diff_profiles(p, p) == []
    assert diff_recordings(rec, rec) == []


# -- Landlock's semantics in complain mode -----------------------------------------------------

def test_landlock_semantics(tmp_path):
    d = tmp_path / "srv"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f").write_text("x")
    (tmp_path / "lone").write_text("x")
    cfg = {"abi": 4,
           "ruleset": [{"handledAccessFs": ["read_file", "read_dir", "write_file", "make_reg"],
                        "handledAccessNet": ["connect_tcp"]}],
           "pathBeneath": [{"allowedAccess": ["read_file", "read_dir"], "parent": [str(d)]},
                           {"allowedAccess": ["read_file", "read_dir"],
                            "parent": [str(tmp_path / "lone")]},
                           {"allowedAccess": ["write_file"],
                            "parent": [str(tmp_path / "missing")]}],
           "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}]}
    pol = LandlockPolicy.from_config(cfg)
    # a directory rule covers the tree beneath it
    assert pol.fs_denied(str(d / "sub" / "f"), {"read_file"}) == set()
    # handled but not granted: denied; not handled: never denied
    assert pol.fs_denied(str(d / "sub" / "f"), {"write_file", "truncate"}) == {"write_file"}
    # make_reg is judged on the parent directory, where it was recorded
    assert pol.fs_denied(str(d / "sub"), {"make_reg"}) == {"make_reg"}
    # a rule on a file covers only that file, and only file rights
    assert pol.rules[str(tmp_path / "lone")] == frozenset({"read_file"})
    assert pol.fs_denied(str(tmp_path / "lone" / "x"), {"read_file"}) == {"read_file"}
    # a rule on a path missing here gives no rule
    assert str(tmp_path / "missing") in pol.skipped
    # outside every rule
    assert pol.fs_denied("/etc/passwd", {"read_file"}) == {"read_file"}
    # ports
    assert not pol.net_denied("connect", "tcp", 443)
    assert pol.net_denied("connect", "tcp", 80)
    assert not pol.net_denied("bind", "tcp", 80)        # bind_tcp not handled
    assert not pol.net_denied("connect", "udp", 53)     # Landlock has no UDP rights
    assert judged_path("/proc/1234/status") == "/proc/self/status"


# -- the CLI: exit codes and bad input -------------------------------------------------------

def _write(path: Path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def test_cli_diff_and_merge(tmp_path):
    p1 = _write(tmp_path / "p1.json", {"defaultAction": "SCMP_ACT_ERRNO",
                                       "architectures": [ARCH],
                                       "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    p2 = _write(tmp_path / "p2.json", {"defaultAction": "SCMP_ACT_ERRNO",
                                       "architectures": [ARCH],
                                       "syscalls": [{"names": ["read", "write"],
                                                     "action": "SCMP_ACT_ALLOW"}]})
    same = run_cli("diff", p1, p1)
    assert same.returncode == 0 and same.stdout == ""
    differ = run_cli("diff", p1, p2)
    assert differ.returncode == 1 and "+ syscall write" in differ.stdout
    out = tmp_path / "merged.yaml"
    run_cli("merge", p1, p2, "-o", str(out), check=True)
    assert "kind: SeccompProfile" in out.read_text()
    assert run_cli("diff", str(out), p2).returncode == 0   # SPO and OCI: same meaning


BAD_INPUTS = {
    "not-json.json": "{nope",
    "empty.json": "",
    "unknown.json": json.dumps({"hello": 1}),
    "bad-profile.json": json.dumps({"defaultAction": "SCMP_ACT_NOPE", "syscalls": []}),
    "bad-ruleset.json": json.dumps({"abi": 4, "pathBeneath": [{"allowedAccess": ["fly"],
                                                               "parent": ["/x"]}]}),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_every_command(tmp_path, name):
    bad = _write(tmp_path / name, BAD_INPUTS[name])
    good = _write(tmp_path / "good.json", {"defaultAction": "SCMP_ACT_ERRNO",
                                           "architectures": [ARCH],
                                           "syscalls": [{"names": ["read"],
                                                         "action": "SCMP_ACT_ALLOW"}]})
    out = tmp_path / "out.json"
    report = tmp_path / "report.json"
    page = tmp_path / "report.html"
    runs = [
        ("merge", bad, good, "-o", str(out)),
        ("merge", good, bad, "-o", str(out)),
        ("diff", bad, good),
        ("diff", good, bad),
    ]
    flag = "--landlock" if "ruleset" in name else "--seccomp"
    for mode in ([], ["--complain"], ["--fix"]):
        runs.append(("verify", *mode, flag, bad, "--report", str(report), "--html", str(page),
                     "--", "/bin/true"))
    runs.append(("check", flag, bad, "--report", str(report), "--", "/bin/true"))
    before = (tmp_path / name).read_text()
    for args in runs:
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("sandprint: error: ") and name in proc.stderr, \
            (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not out.exists() and not report.exists() and not page.exists(), args
        assert (tmp_path / name).read_text() == before         # --fix never touched it


def test_mixed_kinds_and_missing_output_dir(tmp_path):
    prof = _write(tmp_path / "p.json", {"defaultAction": "SCMP_ACT_ERRNO",
                                        "architectures": [ARCH],
                                        "syscalls": [{"names": ["read"],
                                                      "action": "SCMP_ACT_ALLOW"}]})
    rules = _write(tmp_path / "r.json", {"abi": 4, "pathBeneath": [
        {"allowedAccess": ["read_file"], "parent": ["/etc"]}]})
    proc = run_cli("merge", prof, rules, "-o", str(tmp_path / "m.json"))
    assert proc.returncode == 2 and "is a landlock ruleset" in proc.stderr
    assert not (tmp_path / "m.json").exists()
    proc = run_cli("diff", prof, rules)
    assert proc.returncode == 2
    proc = run_cli("merge", prof, prof, "-o", str(tmp_path / "no" / "m.json"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run_sandprint("verify", "--seccomp", prof, "--report",
                         str(tmp_path / "no" / "r.json"), "--", "/bin/true")
    assert proc.returncode == 2 and not os.path.exists(tmp_path / "no")
    proc = run_sandprint("check", "--", "/bin/true")
    assert proc.returncode == 2
