"""The project's own schemas (sandprint/schemas): every kind of output sandprint writes is valid
against its schema, the loaders validate inputs against them with one-line errors (file, field,
what was expected), and the schemas agree with the loaders' own checks."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from sandprint import schema
from sandprint.errors import InputError
from sandprint.generators import landlock as landlock_gen, seccomp
from sandprint.landlock import config as C
from sandprint.recording import NetAccess, Recording, merge
from sandprint.seccomp import formats
from sandprint.seccomp.profile import profile_from_data
from sandprint.syscalls import native_arch

from helpers import run_sandprint

ARCH = native_arch()
BASIC = ["read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk"]


def recording(abi: int | None = 6) -> Recording:
    rec = Recording.new({"type": "command", "command": ["t"]}, arch=ARCH, landlock_abi=abi)
    t = rec.target("main")
    t.processes = 2
    for c in BASIC + ["clone3", "wait4", "socket", "connect"]:
        t.add_syscall(c, 3)
    t.add_file("/usr/bin/python3", {"execute", "read_file"}, kind="file")
    t.add_file("/etc/hosts", {"read_file"}, kind="file")
    t.add_file("/tmp/t-out", {"make_dir", "read_dir"}, kind="dir")
    t.add_file("/tmp/t-out/f", {"write_file", "make_reg"}, denied={"remove_file"}, kind="file")
    t.add_net(NetAccess(op="connect", protocol="tcp", family="inet", port=443, address="10.0.0.1"))
    t.add_net(NetAccess(op="connect", protocol="unix", family="unix", address="/run/x.sock"))
    t.add_exec("/usr/bin/python3", ["python3", "app.py"])
    rec.metadata["end"] = rec.metadata["start"]
    return rec


def valid(doc, kind):
    jsonschema.validate(doc, schema.load_schema(kind))


def test_schemas_are_valid_draft7_and_shipped():
    for kind in schema.KINDS:
        jsonschema.Draft7Validator.check_schema(schema.load_schema(kind))
        assert schema.schema_path(kind).parent.name == "schemas"
    assert C.schema_path() == str(schema.schema_path("landlockconfig"))


def test_recordings_written_are_valid(tmp_path):
    rec = recording()
    rec.save(str(tmp_path / "a.json"))
    valid(json.loads((tmp_path / "a.json").read_text()), "recording")
    other = recording(abi=None)
    other.mark_incomplete("the target exited before the recorder attached")
    valid(merge([rec, other], ["a.json", "b.json"]).to_json(), "recording")


@pytest.mark.parametrize("action", ["errno", "enosys", "kill", "log"])
@pytest.mark.parametrize("runtime", ["none", "runc"])
def test_oci_profiles_written_are_valid(tmp_path, action, runtime):
    out = tmp_path / "p.json"
    seccomp.generate_file(recording(), str(out), default_action=action, runtime=runtime)
    valid(json.loads(out.read_text()), "seccomp-oci")


@pytest.mark.parametrize("action", ["errno", "kill", "log"])
def test_spo_specs_written_are_valid(tmp_path, action):
    out = tmp_path / "p.yaml"
    seccomp.generate_file(recording(), str(out), fmt="spo", default_action=action,
                          runtime="runc", allow_clone3=action == "kill")
    valid(yaml.safe_load(out.read_text())["spec"], "seccompprofile-spec")


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_rulesets_written_are_valid(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    landlock_gen.generate_file(recording(), str(out),
                               options=landlock_gen.Options(host_check=False))
    cfg = C.load_config(str(out))          # the TOML spelling mapped onto the JSON one
    valid(cfg, "landlockconfig")
    if fmt == "json":
        valid(json.loads(out.read_text()), "landlockconfig")


# -- inputs: the schema is applied after the loaders' own checks -----------------------------

def test_spo_input_breaking_only_the_schema_is_refused_in_one_line(tmp_path):
    doc = formats.build_spo(seccomp.build_oci(BASIC, arches=[ARCH]), "x")
    doc["spec"]["syscalls"][0]["comment"] = "not a field of the resource"
    with pytest.raises(InputError) as e:
        profile_from_data(doc, "p.yaml")
    assert str(e.value).startswith("p.yaml: field 'spec.syscalls[0].comment': unknown field")
    doc = formats.build_spo(seccomp.build_oci(BASIC, arches=[ARCH]), "x")
    doc["spec"]["defaultErrnoRet"] = 38
    with pytest.raises(InputError, match=r"field 'spec.defaultErrnoRet': unknown field \(the "
                                         "SeccompProfile has none"):
        profile_from_data(doc, "p.yaml")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    proc = run_sandprint("exec", "--seccomp", str(tmp_path / "p.yaml"), "--", "true")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "spec.defaultErrnoRet" in proc.stderr


def test_schema_errors_name_the_field_and_what_was_expected():
    with pytest.raises(InputError) as e:
        schema.check({"apiVersion": "sandprint/v1", "kind": "Recording", "metadata":
                      {"arch": ARCH}, "targets": [{"files": [{"path": "/x", "count": -1}]}]},
                     "recording", "r.json")
    assert str(e.value) == ("r.json: field 'targets[0].files[0].count': invalid value -1 "
                            "(expected a value >= 0)")
    with pytest.raises(InputError) as e:
        schema.check({"pathBeneath": [{"allowedAccess": ["read_file"]}]}, "landlockconfig",
                     "l.json")
    assert "field 'pathBeneath[0].parent': missing" in str(e.value)


GOOD = {
    "recording": lambda: recording().to_json(),
    "seccomp-oci": lambda: seccomp.build_oci(BASIC + ["clone"], arches=seccomp.profile_arches(ARCH)),
    "landlockconfig": lambda: {"abi": 4, "variable": [{"name": "h", "literal": ["/h"]}],
                               "ruleset": [{"handledAccessFs": ["abi.all"]}],
                               "pathBeneath": [{"allowedAccess": ["read_file"],
                                                "parent": ["${h}/x"]}],
                               "netPort": [{"allowedAccess": ["bind_tcp"], "port": [80]}]},
}
BAD = [  # (kind, path to change, value): the loader and the schema both refuse it
    ("recording", ("metadata", "arch"), "SCMP_ARCH_NOPE"),
    ("recording", ("targets", 0, "processes"), -1),
    ("recording", ("targets", 0, "files", 0, "access"), ["read_everything"]),
    ("recording", ("targets", 0, "network", 0, "port"), 70000),
    ("recording", ("apiVersion",), "sandprint/v0"),
    ("seccomp-oci", ("defaultAction",), "SCMP_ACT_MAYBE"),
    ("seccomp-oci", ("architectures", 0), "SCMP_ARCH_NOPE"),
    ("seccomp-oci", ("syscalls", 0, "names"), []),
    ("seccomp-oci", ("syscalls", 1, "args", 0, "op"), "SCMP_CMP_SOMETIMES"),
    ("seccomp-oci", ("flags",), ["SECCOMP_FILTER_FLAG_NOPE"]),
    ("seccomp-oci", ("archMap",), []),
    ("landlockconfig", ("abi",), 0),
    ("landlockconfig", ("netPort", 0, "port", 0), 65536),
    ("landlockconfig", ("variable", 0, "name"), "1bad"),
    ("landlockconfig", ("pathBeneath", 0, "allowedAccess", 0), "bind_tcp"),
    ("landlockconfig", ("ruleset", 0, "handledAccessFs"), []),
    ("landlockconfig", ("extra",), 1),
]
LOADERS = {"recording": lambda d: Recording.from_json(d, "f"),
           "seccomp-oci": lambda d: profile_from_data(d, "f"),
           "landlockconfig": lambda d: C.parse_config(d, "f", "json")}


def test_loaders_and_schemas_accept_the_same_good_documents():
    for kind, make in GOOD.items():
        LOADERS[kind](make())
        valid(make(), kind)


@pytest.mark.parametrize("kind,where,value", BAD, ids=[f"{k}:{'.'.join(map(str, w))}"
                                                       for k, w, _ in BAD])
def test_loaders_and_schemas_refuse_the_same_bad_documents(kind, where, value):
    doc = GOOD[kind]()
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(InputError):
        LOADERS[kind](doc)
    assert schema.errors(doc, kind)
