"""Conformance with the upstream definitions: the project's schemas and outputs checked against
the upstream files themselves -- the Security Profiles Operator's SeccompProfile CRD,
landlockconfig's JSON schema and Docker's default seccomp profile (moby/profiles).

The upstream files are not part of sandprint; they are found in the folder that
``$SANDPRINT_REFERENCE_DIR`` names (``.ci/run`` points it at the project's reference folder).
Without it these tests skip with one reason, except under ``SANDPRINT_STRICT=1``, where a
missing folder or file fails them. Every test here is marked ``upstream``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from sandprint.generators import baseline, landlock as landlock_gen, seccomp
from sandprint.landlock import config as C
from sandprint.schema import load_schema
from sandprint.syscalls import native_arch, syscall_number

from helpers import STRICT, run_sandprint

pytestmark = pytest.mark.upstream

ENV = "SANDPRINT_REFERENCE_DIR"
CRD = "spo-seccompprofile-crd.yaml"
LANDLOCK_SCHEMA = "landlockconfig.schema.json"
DOCKER = "docker-default-seccomp.json"
ARCH = native_arch()
BASIC = ["read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk"]


def reference(name: str) -> Path:
    """``$SANDPRINT_REFERENCE_DIR/name``; skip (fail when strict) when it is not there."""
    folder = os.environ.get(ENV)
    if not folder or not (Path(folder) / name).is_file():
        reason = (f"upstream reference files not given (set {ENV} to a folder holding {CRD}, "
                  f"{LANDLOCK_SCHEMA} and {DOCKER})" if not folder
                  else f"{ENV}={folder} has no {name}")
        if STRICT:
            pytest.fail(f"strict mode (SANDPRINT_STRICT=1): {reason}")
        pytest.skip(reason)
    return Path(folder) / name


def crd_versions() -> dict[str, dict]:
    crd = yaml.safe_load(reference(CRD).read_text())
    assert crd["spec"]["names"]["kind"] == "SeccompProfile"
    return {v["name"]: v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"]}


def upstream_landlock() -> dict:
    return json.loads(reference(LANDLOCK_SCHEMA).read_text())


def _record(calls):
    from sandprint.recording import Recording

    rec = Recording.new({"type": "command", "argv": ["test"]}, arch=ARCH)
    for c in calls:
        rec.target("main").add_syscall(c, 2)
    return rec


# -- SeccompProfile: the project's spec schema against the operator's CRD -------------------

@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_spo_spec_schema_has_the_crds_fields_types_and_enums(version):
    upstream = crd_versions()[version]["properties"]["spec"]
    ours = load_schema("seccompprofile-spec")
    defs = ours["definitions"]

    def resolve(node):
        return defs[node["$ref"].split("/")[-1]] if "$ref" in node else node

    assert set(ours["properties"]) == set(upstream["properties"])
    assert ours["required"] == upstream["required"]
    for name, up in upstream["properties"].items():
        mine = resolve(ours["properties"][name])
        assert mine["type"] == up["type"], name
        if "enum" in up:
            assert mine["enum"] == up["enum"], name
        if up.get("type") == "array" and "enum" in up["items"]:
            assert mine["items"]["enum"] == up["items"]["enum"], name
        if "pattern" in up:
            assert mine["pattern"] == up["pattern"], name
    up_rule = upstream["properties"]["syscalls"]["items"]
    my_rule = ours["properties"]["syscalls"]["items"]
    assert set(my_rule["properties"]) == set(up_rule["properties"])
    assert sorted(my_rule["required"]) == sorted(up_rule["required"])
    assert resolve(my_rule["properties"]["action"])["enum"] == \
        up_rule["properties"]["action"]["enum"]
    up_arg = up_rule["properties"]["args"]["items"]
    my_arg = my_rule["properties"]["args"]["items"]
    assert set(my_arg["properties"]) == set(up_arg["properties"])
    assert sorted(my_arg["required"]) == sorted(up_arg["required"])
    assert my_arg["properties"]["op"]["enum"] == up_arg["properties"]["op"]["enum"]
    assert my_rule["properties"]["args"]["maxItems"] == up_rule["properties"]["args"]["maxItems"]


@pytest.mark.parametrize("action", ["errno", "kill", "log"])
def test_generated_spo_validates_against_the_crd(tmp_path, action):
    schema = crd_versions()["v1"]
    out = tmp_path / "checkout-sp.yaml"
    seccomp.generate_file(_record(BASIC + ["clone", "clone3", "wait4"]), str(out), fmt="spo",
                          default_action=action, runtime="runc")
    doc = yaml.safe_load(out.read_text())
    jsonschema.validate(doc, schema)
    doc["spec"]["defaultAction"] = "SCMP_ACT_NOPE"       # the extracted schema is live
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_generated_spo_with_argument_rules_validates_against_the_crd(tmp_path):
    """Learned argument rules (issue 13) go into the SeccompProfile as ``args``."""
    rec = _record(BASIC + ["socket", "ioctl", "sendto", "prctl"])
    rec.metadata["argsRecorded"] = True
    t = rec.target("main")
    t.add_args("socket", (2, 1, 0))
    t.add_args("ioctl", (0x541B,))
    t.add_args("sendto", (0,))
    t.add_args("prctl", (15,))
    out = tmp_path / "args-sp.yaml"
    seccomp.generate_file(rec, str(out), fmt="spo", runtime="runc")
    doc = yaml.safe_load(out.read_text())
    assert [r for r in doc["spec"]["syscalls"] if r["names"] == ["socket"] and r.get("args")]
    jsonschema.validate(doc, crd_versions()["v1"])


def test_container_recording_spo_validates_against_the_crd(tmp_path):
    from helpers import spo_from_container_recording

    jsonschema.validate(spo_from_container_recording(tmp_path), crd_versions()["v1"])


# -- landlockconfig: the project's schema against upstream's ---------------------------------

def test_landlock_schema_has_upstreams_fields_and_right_names():
    up, ours = upstream_landlock(), load_schema("landlockconfig")
    for name in ("accessFs", "accessNet", "scope"):
        assert ours["definitions"][name]["enum"] == up["definitions"][name]["enum"], name
    assert ours["definitions"]["abi"]["minimum"] == up["definitions"]["abi"]["minimum"]
    assert ours["definitions"]["abi"]["maximum"] == up["definitions"]["abi"]["maximum"]
    assert set(ours["properties"]) == set(up["properties"])
    assert ours["anyOf"] == up["anyOf"]
    assert ours["additionalProperties"] is up["additionalProperties"] is False
    for key, entry in up["properties"].items():
        if key == "abi":
            continue
        mine = ours["properties"][key]
        assert mine["minItems"] == entry["minItems"], key
        assert set(mine["items"]["properties"]) == set(entry["items"]["properties"]), key
        assert mine["items"].get("required") == entry["items"].get("required"), key
        assert mine["items"]["additionalProperties"] is False


def test_generated_rulesets_validate_against_upstream(tmp_path):
    from sandprint.recording import NetAccess, Recording

    schema = upstream_landlock()
    rec = Recording.new({"type": "command", "command": ["t"]}, arch=ARCH, landlock_abi=6)
    t = rec.target("main")
    t.processes = 1
    t.add_file("/usr/bin/python3", {"execute", "read_file"}, kind="file")
    t.add_file("/etc/hosts", {"read_file"}, kind="file")
    t.add_file(str(tmp_path / "out"), {"make_dir", "read_dir"}, kind="dir")
    t.add_file(str(tmp_path / "out" / "f"), {"write_file", "make_reg", "truncate"}, kind="file")
    t.add_file("/nonexistent/maybe", {"read_file"}, kind="file")
    t.add_net(NetAccess(op="connect", protocol="tcp", family="inet", port=443))
    t.add_net(NetAccess(op="bind", protocol="tcp", family="inet", port=8080))
    for name, fmt in (("r.json", "json"), ("r.toml", "toml")):
        landlock_gen.generate_file(rec, str(tmp_path / name), fmt=fmt)
        cfg = C.load_config(str(tmp_path / name))              # canonical (JSON) spelling
        jsonschema.validate(cfg, schema)
    marked = C.mark_may_not_exist({"pathBeneath": [{"allowedAccess": ["read_file"],
                                                    "parent": ["/x"]}]}, ["/x"])
    jsonschema.validate(json.loads(C.dumps_json(marked)), schema)


# -- Docker's default profile: the baseline reader and the OCI schema -------------------------

def test_baseline_count_against_dockers_profile(tmp_path):
    if ARCH != "SCMP_ARCH_X86_64":
        pytest.skip("the known counts are for x86_64")
    path = reference(DOCKER)
    docker = json.loads(path.read_text())
    got = baseline.docker_allowed(docker, ARCH, kernel_release="6.18.0")
    # Hand-resolved for x86_64, Docker's default caps, kernel >= 4.8: the unconditional group
    # (names that exist on x86_64), ptrace & process_vm_* (minKernel 4.8), socket and
    # personality (argument rules), arch_prctl & modify_ldt (amd64), chroot (CAP_SYS_CHROOT is
    # a default capability), clone (argument rule, excluded only with CAP_SYS_ADMIN).
    unconditional = {n for n in docker["syscalls"][0]["names"]
                     if syscall_number(ARCH, n) is not None}
    expected = unconditional | {"ptrace", "process_vm_readv", "process_vm_writev", "socket",
                                "personality", "arch_prctl", "modify_ldt", "chroot", "clone"}
    assert got == expected
    assert len(got) == 301
    for denied in ("bpf", "clone3", "mount", "reboot", "unshare", "setns", "kexec_load",
                   "open_by_handle_at", "perf_event_open", "_llseek"):
        assert denied not in got
    # the summary with Docker's profile given as the baseline
    rec = tmp_path / "rec.json"
    _record(["read", "write", "execve", "exit_group", "reboot"]).save(str(rec))
    proc = run_sandprint("generate", "seccomp", str(rec), "-o", str(tmp_path / "p.json"),
                         "--baseline", str(path), check=True)
    assert ("allows 4 of the 301 syscalls the container engine's default allows on "
            "SCMP_ARCH_X86_64") in proc.stderr
    assert "1 allowed beyond it: reboot" in proc.stderr


def test_oci_schema_covers_dockers_vocabulary():
    docker = json.loads(reference(DOCKER).read_text())
    ours = load_schema("seccomp-oci")["definitions"]
    arches = {m["architecture"] for m in docker["archMap"]} | \
        {a for m in docker["archMap"] for a in m.get("subArchitectures") or []}
    assert arches <= set(ours["arch"]["enum"])
    assert docker["defaultAction"] in ours["action"]["enum"]
    assert {g["action"] for g in docker["syscalls"]} <= set(ours["action"]["enum"])
    assert {a["op"] for g in docker["syscalls"] for a in g.get("args") or []} <= \
        set(ours["arg"]["properties"]["op"]["enum"])
    # Docker's profile with its own dialect (archMap, includes/excludes) resolved away is a
    # plain OCI profile our schema and loader accept
    plain = {"defaultAction": docker["defaultAction"],
             "defaultErrnoRet": docker["defaultErrnoRet"], "architectures": [ARCH],
             "syscalls": [{k: v for k, v in g.items() if k not in ("includes", "excludes")}
                          for g in docker["syscalls"]
                          if not g.get("includes") and not g.get("excludes")]}
    jsonschema.validate(plain, load_schema("seccomp-oci"))
