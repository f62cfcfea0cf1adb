"""The Landlock generator: recordings built by hand -> landlockconfig rulesets.

Each recording has the shape a real workload leaves (a Python script reading its stdlib and
writing a temporary file, a tool writing into an output directory, a server binding a port).
The tests check what a reviewer would: no rule on /, no secret-holding tree granted whole,
system trees generalised, written files narrow, every right of the ABI handled, both
spellings equivalent and valid against the project's schema.
"""

from __future__ import annotations

import json
import os
import tomllib

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sandprint.errors import InputError
from sandprint.generators.landlock import (FILE_RIGHTS, NAMING_RIGHTS, Options, format_for,
                                           generate_file, generate_ruleset, render)
from sandprint.landlock.config import MAY_NOT_EXIST_VARIABLE, loads_config, resolve
from sandprint.recording import FS_RIGHTS, NetAccess, Recording

from helpers import (PY, landlock_schema, new_recording, output_dir_recording,  # noqa: F401
                     python_tempfile_recording, rules_of, server_recording)

# the project's landlockconfig schema, shipped in the package (upstream's: test_upstream_conformance)
SCHEMA = landlock_schema()
NO_HOST = Options(host_check=False)


ALL = [python_tempfile_recording, output_dir_recording, server_recording]


def may_not_exist(config: dict) -> set[str]:
    for v in config.get("variable", []):
        if v["name"] == MAY_NOT_EXIST_VARIABLE:
            return set(v["literal"])
    return set()


def assert_safe(config: dict) -> None:
    rules = rules_of(config)
    assert "/" not in rules
    for tree in ("/etc", "/root", "/home", "/home/alice", "/var", "/tmp/..", "/proc", "/dev"):
        assert tree not in rules or not rules[tree] & {"read_file", "write_file"}, tree
    jsonschema.validate(config, SCHEMA)


# -- shapes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", ALL)
def test_every_shape_is_safe_valid_and_handles_every_right(make):
    result = generate_ruleset(make(), options=NO_HOST)
    cfg = result.config
    assert_safe(cfg)
    handled = cfg["ruleset"][0]
    assert set(handled["handledAccessFs"]) == set(FS_RIGHTS)
    assert set(handled["handledAccessNet"]) == {"bind_tcp", "connect_tcp"}
    assert set(handled["scoped"]) == {"abstract_unix_socket", "signal"}
    assert cfg["abi"] == 6          # ABI 7 adds no right: the file needs 6
    # every rule grants only rights it handles
    for rights in rules_of(cfg).values():
        assert rights <= set(handled["handledAccessFs"])


def test_python_script_system_trees_temp_and_proc():
    cfg = generate_ruleset(python_tempfile_recording(), options=NO_HOST).config
    rules = rules_of(cfg)
    assert rules["/usr"] == {"read_file", "read_dir"}
    assert rules["/lib"] == {"read_file"}
    assert rules["/lib64"] == {"read_file"}
    assert rules["/etc/ld.so.cache"] == {"read_file"}
    # execute only on what was executed: the program and its ELF interpreter
    assert rules["/usr/bin/python3.11"] == {"execute"}
    assert rules["/lib64/ld-linux-x86-64.so.2"] == {"execute"}
    assert {p for p, r in rules.items() if "execute" in r} == {
        "/usr/bin/python3.11", "/lib64/ld-linux-x86-64.so.2"}
    # no other rule below a system tree survives
    assert not [p for p in rules if (p.startswith("/usr/") or p.startswith("/lib/"))
                and rules[p] != {"execute"}]
    # /etc files stay files
    assert rules["/etc/passwd"] == {"read_file"}
    assert rules["/etc/nsswitch.conf"] == {"read_file"}
    # the temp file folded into /tmp; its random name is no rule
    assert rules["/tmp"] == {"make_reg", "remove_file", "read_dir", "write_file", "read_file"}
    assert "/tmp/tmpq8w2_x3f" not in rules
    # /proc/<pid> became /proc/self; the terminal number is gone
    assert rules["/proc/self"] == {"read_file", "read_dir"}
    assert not [p for p in rules if p.startswith("/proc/4242")]
    assert rules["/dev/pts"] == {"read_file", "write_file", "ioctl_dev"}
    assert rules["/dev/null"] == {"read_file", "write_file"}
    # a file created in /root stays narrow and is marked; /root only gets make_reg
    assert rules["/root"] == {"make_reg"}
    assert rules["/root/.python_history"] == {"read_file", "write_file"}
    assert "/root/.python_history" in may_not_exist(cfg)


def test_python_script_notes_say_what_was_not_granted():
    result = generate_ruleset(python_tempfile_recording(), options=NO_HOST)
    text = "\n".join(result.notes)
    assert "read_dir on /" in text
    assert "/root" in text
    summary = result.summary("out.json")
    assert "path rules" in summary and "out.json" in summary and "\n" not in summary


def test_output_dir_tool_writes_stay_narrow_reads_generalise():
    cfg = generate_ruleset(output_dir_recording(), options=NO_HOST).config
    rules = rules_of(cfg)
    proj = "/home/alice/project"
    # 7 inputs read in data/ -> the directory (read only); never the project or the home
    assert rules[f"{proj}/data"] == {"read_file", "read_dir"}
    assert proj not in rules and "/home/alice" not in rules and "/home" not in rules
    assert rules[f"{proj}/tool.ini"] == {"read_file"}
    assert rules["/home/alice/.config/tool/settings.ini"] == {"read_file"}
    # an existing file rewritten: exactly that file
    assert rules[f"{proj}/report.txt"] == {"write_file", "truncate"}
    # files created in out/ and in the cache directory created inside it: a rule on out/
    assert rules[f"{proj}/out"] == {"make_reg", "make_dir", "write_file", "remove_file",
                                    "read_file"}
    assert not [p for p in rules if p.startswith(f"{proj}/out/")]
    for p, rights in rules.items():
        if p.endswith((".ini", ".txt")):
            assert rights <= FILE_RIGHTS


def test_read_threshold_is_an_option():
    rec = output_dir_recording()
    never = rules_of(generate_ruleset(rec, options=Options(read_threshold=0,
                                                            host_check=False)).config)
    assert "/home/alice/project/data" in never          # listed: read_dir only
    assert never["/home/alice/project/data"] == {"read_dir"}
    assert never["/home/alice/project/data/part0.csv"] == {"read_file"}
    high = rules_of(generate_ruleset(rec, options=Options(read_threshold=8,
                                                           host_check=False)).config)
    assert "/home/alice/project/data/part6.csv" in high
    # a threshold of 2 may climb to the project, never to the home directory
    low = rules_of(generate_ruleset(rec, options=Options(read_threshold=2,
                                                          host_check=False)).config)
    assert "/home/alice/project" in low
    assert "write_file" not in low["/home/alice/project"]
    assert "/home/alice" not in low and "/home" not in low
    assert low["/home/alice/project/report.txt"] == {"write_file", "truncate"}


def test_min_depth_keeps_shallow_directories_narrow():
    rec = new_recording()
    t = rec.target("main")
    for i in range(6):
        t.add_file(f"/data/f{i}", {"read_file"}, kind="file")
    rules = rules_of(generate_ruleset(rec, options=NO_HOST).config)
    assert "/data" not in rules and len(rules) == 6
    rules = rules_of(generate_ruleset(rec, options=Options(min_depth=1,
                                                           host_check=False)).config)
    assert rules == {"/data": {"read_file"}}


def test_etc_never_granted_whole_even_when_much_of_it_is_read():
    rec = new_recording()
    t = rec.target("main")
    for name in ("passwd", "group", "hosts", "resolv.conf", "nsswitch.conf", "localtime",
                 "host.conf", "gai.conf"):
        t.add_file(f"/etc/{name}", {"read_file"}, kind="file")
    for name in ("a.crt", "b.crt", "c.crt"):
        t.add_file(f"/etc/ssl/certs/{name}", {"read_file"}, kind="file")
    for i in range(6):
        t.add_file(f"/etc/myapp/conf.d/{i}.conf", {"read_file"}, kind="file")
    result = generate_ruleset(rec, options=Options(read_threshold=2, host_check=False))
    rules = rules_of(result.config)
    assert "/etc" not in rules and "/etc/ssl" not in rules
    assert rules["/etc/ssl/certs"] == {"read_file"}        # a system tree
    assert rules["/etc/passwd"] == {"read_file"}
    assert rules["/etc/myapp/conf.d"] == {"read_file"}     # below /etc: the evidence decides
    assert "/etc/myapp" not in rules                      # one entry read there: no climb
    assert any("/etc" in n and "protected" in n for n in result.notes)


def test_server_ports_become_net_port_rules():
    result = generate_ruleset(server_recording(), options=NO_HOST)
    cfg = result.config
    assert cfg["netPort"] == [{"allowedAccess": ["bind_tcp"], "port": [8080]},
                              {"allowedAccess": ["connect_tcp"], "port": [5432]}]
    assert any("UDP" in n for n in result.notes)
    assert rules_of(cfg)["/srv/site/index.html"] == {"read_file"}


def test_scopes_left_off_when_the_recording_needs_them():
    rec = server_recording()
    t = rec.target("main")
    t.add_net(NetAccess("connect", "unix", "unix", address="@/tmp/.X11-unix/X0"))
    t.signals.append({"signal": "SIGTERM", "pid": 1})
    result = generate_ruleset(rec, options=NO_HOST)
    assert "scoped" not in result.config["ruleset"][0]
    assert sum("scope left off" in n for n in result.notes) == 2


def test_lower_abi_handles_only_what_it_knows_and_says_what_is_lost():
    rec = server_recording()
    rec.target("main").add_file("/srv/site", {"refer", "make_reg"}, kind="dir")
    result = generate_ruleset(rec, options=Options(abi=3, host_check=False))
    cfg = result.config
    assert cfg["abi"] == 3
    assert "ioctl_dev" not in cfg["ruleset"][0]["handledAccessFs"]
    assert "handledAccessNet" not in cfg["ruleset"][0] and "netPort" not in cfg
    assert any("TCP ports not restricted" in n for n in result.notes)
    assert rules_of(cfg)["/dev/pts"] == {"read_file", "write_file"}   # ioctl_dev gone
    abi1 = generate_ruleset(rec, options=Options(abi=1, host_check=False))
    assert abi1.config["abi"] == 1
    assert any(n.startswith("refer not granted") for n in abi1.notes)
    assert "refer" not in rules_of(abi1.config)["/srv/site"]


def test_abi_defaults_to_the_recording_and_is_noted_when_missing():
    assert generate_ruleset(_with_files(4),
                            options=NO_HOST).config["abi"] == 4
    result = generate_ruleset(_with_files(None), options=NO_HOST)
    assert result.target_abi == 6 and any("--abi" in n for n in result.notes)


def _with_files(abi):
    rec = new_recording(abi)
    rec.target("main").add_file("/usr/bin/true", {"execute", "read_file"}, kind="file")
    return rec


def test_file_rules_never_carry_directory_rights():
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/srv/app/data.db", {"read_file", "write_file", "make_reg"}, kind="file")
    result = generate_ruleset(rec, options=NO_HOST)
    assert rules_of(result.config)["/srv/app/data.db"] == {"read_file", "write_file"}
    assert any("not a directory" in n for n in result.notes)


def test_denied_only_accesses_are_not_granted():
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/usr/bin/true", {"execute"}, kind="file")
    t.add_file("/etc/shadow", set(), denied={"read_file"}, kind="file")
    result = generate_ruleset(rec, options=NO_HOST)
    assert "/etc/shadow" not in rules_of(result.config)
    assert any("refused" in n for n in result.notes)


def test_targets_select_and_bad_recordings_are_input_errors():
    rec = python_tempfile_recording()
    with pytest.raises(InputError, match="no target named 'web'"):
        generate_ruleset(rec, target="web", options=NO_HOST)
    empty = new_recording()
    with pytest.raises(InputError, match="no file access"):
        generate_ruleset(empty, options=NO_HOST)
    with pytest.raises(InputError, match="no targets"):
        generate_ruleset(Recording(metadata=dict(rec.metadata), targets=[]), options=NO_HOST)
    with pytest.raises(InputError, match="read threshold"):
        generate_ruleset(rec, options=Options(read_threshold=1))


# -- the host: existence, secrets ----------------------------------------------------------------

def test_host_check_marks_missing_paths_and_refuses_dirs_with_unread_secrets(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        (data / f"f{i}.txt").write_text("x")
    rec = new_recording()
    t = rec.target("main")
    for i in range(6):
        t.add_file(str(data / f"f{i}.txt"), {"read_file"}, kind="file")
    t.add_file(str(tmp_path / "gone" / "result.txt"), {"read_file"}, kind="file")
    opts = Options()
    cfg = generate_ruleset(rec, options=opts).config
    assert rules_of(cfg)[str(data)] == {"read_file"}
    assert may_not_exist(cfg) == {str(tmp_path / "gone" / "result.txt")}

    (data / ".env").write_text("TOKEN=secret")
    result = generate_ruleset(rec, options=opts)
    rules = rules_of(result.config)
    assert str(data) not in rules and str(data / "f0.txt") in rules
    assert any(".env" in n for n in result.notes)
    # read it, and the directory may be granted again
    t.add_file(str(data / ".env"), {"read_file"}, kind="file")
    assert str(data) in rules_of(generate_ruleset(rec, options=opts).config)


# -- the two spellings -------------------------------------------------------------------------

@pytest.mark.parametrize("make", ALL)
def test_json_and_toml_are_equivalent_and_schema_valid(make):
    cfg = generate_ruleset(make(), options=NO_HOST).config
    js = render(cfg, "json")
    tm = render(cfg, "toml")
    from_json = json.loads(js)
    jsonschema.validate(from_json, SCHEMA)
    assert "path_beneath" in tomllib.loads(tm)
    from_toml = loads_config(tm, "toml")
    jsonschema.validate(from_toml, SCHEMA)
    assert resolve(from_json) == resolve(from_toml)
    assert loads_config(js, "json") == from_toml


def test_generate_file_writes_by_extension(tmp_path):
    rec = python_tempfile_recording()
    out = tmp_path / "ruleset.toml"
    result = generate_file(rec, str(out), options=NO_HOST)
    assert result.format == "toml"
    assert tomllib.loads(out.read_text())["abi"] == 6
    assert format_for("x.json", None) == "json" and format_for("x.out", None) == "json"
    assert format_for("x.toml", "json") == "json"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".sandprint-")]


# -- property: whatever the recording, never / nor a protected tree ----------------------------

def recorded_dirs(accesses) -> set[str]:
    """Paths that are directories in a property test's recording (said so, or with
    something beneath them)."""
    paths = {os.path.normpath(p) for p, _r, _k in accesses}
    files = {os.path.normpath(p) for p, _r, k in accesses if k == "file"}
    dirs = {os.path.normpath(p) for p, _r, k in accesses if k == "dir"}
    return dirs | {q for q in paths - files for p in paths if p.startswith(q.rstrip("/") + "/")}


_COMPONENTS = ["etc", "root", "home", "alice", "usr", "lib", "tmp", "srv", "app", "data",
               "proc", "1234", "self", "dev", "pts", "var", "a", "b", "c", "d", "e"]
_paths = st.lists(st.sampled_from(_COMPONENTS), min_size=0, max_size=5).map(
    lambda parts: "/" + "/".join(parts))
_access = st.tuples(_paths, st.sets(st.sampled_from(FS_RIGHTS), min_size=1, max_size=4),
                    st.sampled_from([None, "file", "dir"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_access, min_size=1, max_size=40), st.sampled_from([0, 2, 3, 5]))
def test_property_never_root_nor_protected_trees(accesses, threshold):
    rec = new_recording()
    t = rec.target("main")
    for path, rights, kind in accesses:
        t.add_file(path, rights, kind=kind)
    try:
        cfg = generate_ruleset(rec, options=Options(read_threshold=threshold, min_depth=1,
                                                    host_check=False)).config
    except InputError as e:
        # only a create/rename/remove in a protected directory stops it, naming the way out
        assert "--allow-dir-write" in str(e), e
        return
    jsonschema.validate(cfg, SCHEMA)
    rules = rules_of(cfg)
    assert "/" not in rules
    for tree in ("/etc", "/root", "/home", "/home/alice", "/var", "/srv"):
        # never more than creating new empty files in a protected directory
        assert not rules.get(tree, set()) & (NAMING_RIGHTS - {"make_reg"}), (tree, rules[tree])
    # execute never on a directory
    for p, rights in rules.items():
        assert "execute" not in rights or p not in recorded_dirs(accesses), (p, rights)
    recorded = {}
    for path, rights, _k in accesses:
        recorded.setdefault(os.path.normpath(path), set()).update(rights)
    for tree in ("/etc", "/root", "/home", "/home/alice", "/var", "/srv", "/proc", "/dev"):
        if tree in rules:
            # only what was recorded on that very directory, never more
            assert rules[tree] <= recorded.get(tree, set()), (tree, rules[tree])
    # every granted right was exercised somewhere at or beneath the rule's path
    for p, rights in rules.items():
        if p.startswith("/proc/self") or p == "/dev/pts":
            continue
        below = set().union(*[r for q, r in recorded.items()
                              if q == p or q.startswith(p + "/")] or [set()])
        assert rights <= below, (p, rights, below)


def test_breadth_counts_subdirectories_and_large_recordings_stay_fast():
    import time

    rec = new_recording()
    t = rec.target("main")
    for i in range(30000):
        t.add_file(f"{PY}/pkg{i % 300}/m{i}.py", {"read_file"}, kind="file")
    for i in range(3500):     # one or two files per leaf: only breadth higher up
        t.add_file(f"/srv/corpus/d{i % 500}/e{i % 7}/f{i}.txt", {"read_file"}, kind="file")
    t.add_file("/srv/out", {"make_reg"}, kind="dir")
    for i in range(2000):
        t.add_file(f"/srv/out/r{i}.txt", {"write_file"}, kind="file")
    start = time.monotonic()
    rules = rules_of(generate_ruleset(rec, options=NO_HOST).config)
    assert time.monotonic() - start < 30
    assert rules == {"/usr": {"read_file"}, "/srv/corpus": {"read_file"},
                     "/srv/out": {"make_reg", "write_file"}}
