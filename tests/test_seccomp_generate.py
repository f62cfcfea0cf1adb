"""Seccomp profile generation: OCI, SPO and systemd outputs from hand-built recordings,
the SPO resource checked against the project's schema of its spec, the baseline comparison
with the container engine's default profile, the runtime syscall data, and bad input that
must leave no file behind. (The upstream CRD and Docker's profile: test_upstream_conformance.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from sandprint.errors import InputError
from sandprint.generators import baseline, seccomp
from sandprint.seccomp import formats
from sandprint.generators.runtime_syscalls import (DATA_FILE, runtime_syscalls,
                                                   version_in_range)
from sandprint.seccomp.profile import DefaultAction, profile_from_data
from sandprint.syscalls import all_syscalls, companion_arches, native_arch, syscall_number

from helpers import ARCH, BASIC, make_recording, run_cli, spo_schema

# -- OCI ---------------------------------------------------------------------------------------

def test_oci_profile_from_recording(tmp_path):
    rec = make_recording({"main": BASIC})
    out = tmp_path / "p.json"
    summary = seccomp.generate_file(rec, str(out))
    prof = json.loads(out.read_text())
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO"
    assert prof["defaultErrnoRet"] == 1
    assert prof["architectures"] == [ARCH]       # only what the workload used
    assert prof["syscalls"] == [{"names": sorted(BASIC), "action": "SCMP_ACT_ALLOW"}]
    # the plain OCI subset only: nothing Docker-specific that containerd would drop
    assert set(prof) <= {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    assert f"allows {len(BASIC)} syscalls" in summary


@pytest.mark.parametrize("action,expected", [
    ("errno", {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1}),
    ("enosys", {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}),
    ("kill", {"defaultAction": "SCMP_ACT_KILL_PROCESS"}),
    ("log", {"defaultAction": "SCMP_ACT_LOG"}),
])
def test_default_actions(action, expected):
    prof = seccomp.build_oci(BASIC, arches=[ARCH], default_action=action)
    assert {k: prof[k] for k in ("defaultAction", "defaultErrnoRet") if k in prof} == expected


def test_target_selection_and_union(tmp_path):
    rec = make_recording({"web": ["read", "write", "execve"], "db": ["fsync", "execve"]})
    assert seccomp.recorded_syscalls(rec) == {"read", "write", "execve", "fsync"}
    assert seccomp.recorded_syscalls(rec, "db") == {"fsync", "execve"}
    with pytest.raises(InputError, match="no target 'cache'"):
        seccomp.recorded_syscalls(rec, "cache")
    out = tmp_path / "db.json"
    seccomp.generate_file(rec, str(out), target="db", add_syscalls=["exit_group"])
    assert json.loads(out.read_text())["syscalls"][0]["names"] == ["execve", "exit_group",
                                                                   "fsync"]


def test_companion_only_names_are_fine():
    # On x86_64, fstat64 exists only on the 32-bit companion; libseccomp resolves per arch.
    if ARCH != "SCMP_ARCH_X86_64" or "SCMP_ARCH_X86" not in companion_arches(ARCH):
        pytest.skip("x86_64 with the 32-bit companion only")
    data = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64",
                                                                 "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["fstat64", "read"], "action": "SCMP_ACT_ALLOW"}]}
    assert profile_from_data(data).allowed_syscalls() == {"fstat64", "read"}
    data["architectures"] = ["SCMP_ARCH_X86_64"]
    with pytest.raises(InputError, match="unknown syscall 'fstat64'"):
        profile_from_data(data)


@settings(max_examples=30, deadline=None)
@given(st.sets(st.sampled_from(sorted(all_syscalls(ARCH).values())), min_size=1, max_size=40),
       st.sampled_from(list(DefaultAction)))
def test_oci_round_trip(names, action):
    prof = seccomp.build_oci(names, arches=seccomp.profile_arches(ARCH), default_action=action)
    loaded = profile_from_data(json.loads(formats.to_oci_json(prof)))
    # clone3 answered ENOSYS brings the clone glibc falls back to (see test_clone3.py)
    enosys3 = seccomp.answers_clone3_enosys(names, action)
    assert {n for r in loaded.rules for n in r.names} == names | ({"clone"} if enosys3 else set())
    if action != "log":           # a logging default lets everything through
        expected = (names - {"clone3"} | {"clone"}) if enosys3 else names
        assert loaded.allowed_syscalls() == expected
        # clone goes in a rule of its own (no namespace flags) unless namespaces were recorded
        assert (loaded.allowed_syscalls(conditional=False) != expected) == \
            seccomp.restricts_clone(names, action)
        assert set(loaded.enosys_by_design()) == ({"clone3"} if enosys3 else set())
    assert loaded.to_oci() == prof


def test_clone_is_allowed_without_namespace_flags_only(tmp_path):
    rec = make_recording({"main": BASIC + ["clone", "wait4"]})
    out = tmp_path / "p.json"
    summary = seccomp.generate_file(rec, str(out))
    prof = json.loads(out.read_text())
    assert "clone" not in prof["syscalls"][0]["names"]
    assert prof["syscalls"][1] == {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
    assert "clone allowed only without namespace flags" in summary
    # the SPO resource and the systemd drop-in keep the restriction
    spo = yaml.safe_load(formats.to_spo(prof, "x"))
    assert spo["spec"]["syscalls"][1]["args"] == prof["syscalls"][1]["args"]
    jsonschema.validate(spo, spo_schema())
    assert "RestrictNamespaces=yes" in formats.to_systemd(prof)
    # a workload that makes namespaces itself keeps clone as it is; so does a logging profile
    for calls, action in ((["unshare"], "errno"), (["setns"], "kill"), ([], "log")):
        rec = make_recording({"main": BASIC + ["clone"] + calls})
        seccomp.generate_file(rec, str(out), default_action=action)
        prof = json.loads(out.read_text())
        assert len(prof["syscalls"]) == 1 and "clone" in prof["syscalls"][0]["names"]
        assert "RestrictNamespaces" not in formats.to_systemd(prof)


def test_verify_fix_keeps_clone_under_its_condition():
    from sandprint.verify.fix import fixed_profile
    old = profile_from_data(seccomp.build_oci(BASIC + ["clone"], arches=[ARCH]))
    fixed = fixed_profile(old, make_recording({"main": BASIC + ["clone", "wait4"]}))
    assert "wait4" in fixed["syscalls"][0]["names"]
    assert "clone" not in fixed["syscalls"][0]["names"]
    assert seccomp.clone_rule(ARCH) in fixed["syscalls"]


def test_clone3_is_closed_or_said_to_stay_open(tmp_path):
    rec = make_recording({"main": BASIC + ["clone3"]})
    summary = seccomp.generate_file(rec, str(tmp_path / "p.json"))
    assert "clone3 answered ENOSYS" in summary and "warning" not in summary
    summary = seccomp.generate_file(rec, str(tmp_path / "p.json"), allow_clone3=True)
    assert "warning: clone3 is allowed as recorded" in summary


# -- SPO ---------------------------------------------------------------------------------------

def test_spo_validates_against_crd_schema(tmp_path):
    rec = make_recording({"main": BASIC})
    out = tmp_path / "checkout-sp.yaml"
    seccomp.generate_file(rec, str(out), fmt="spo", runtime="runc")
    doc = yaml.safe_load(out.read_text())
    jsonschema.validate(doc, spo_schema())
    assert doc["apiVersion"] == "security-profiles-operator.x-k8s.io/v1"
    assert doc["kind"] == "SeccompProfile"
    assert doc["metadata"]["name"] == "checkout-sp"
    assert "namespace" not in doc["metadata"]          # the CRD is cluster-scoped
    assert doc["spec"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert set(BASIC) <= set(doc["spec"]["syscalls"][0]["names"])
    # the loader takes it back, and sees the same allow list
    loaded = profile_from_data(doc)
    assert loaded.format == "spo" and loaded.name == "checkout-sp"
    assert loaded.allowed_syscalls() == set(doc["spec"]["syscalls"][0]["names"])


def test_spo_schema_really_checks():
    # the schema is live: a value outside its enums fails
    doc = formats.build_spo(seccomp.build_oci(BASIC, arches=[ARCH]), "x")
    doc["spec"]["defaultAction"] = "SCMP_ACT_NOPE"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, spo_schema())


@pytest.mark.parametrize("action", ["errno", "kill", "log"])
def test_spo_actions_validate(action):
    doc = formats.build_spo(seccomp.build_oci(BASIC, arches=seccomp.profile_arches(ARCH),
                                              default_action=action), "p")
    jsonschema.validate(doc, spo_schema())


def test_spo_refuses_enosys_and_bad_names(tmp_path):
    rec = make_recording({"main": BASIC})
    with pytest.raises(InputError, match="defaultErrnoRet"):
        seccomp.generate_file(rec, str(tmp_path / "a.yaml"), fmt="spo", default_action="enosys")
    with pytest.raises(InputError, match="invalid SeccompProfile name"):
        seccomp.generate_file(rec, str(tmp_path / "b.yaml"), fmt="spo", name="Not_Valid")
    assert list(tmp_path.iterdir()) == []
    assert formats.name_from_path("/x/My Web_App.seccomp.yaml") == "my-web-app"


# -- systemd -----------------------------------------------------------------------------------

def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_systemd_dropin(tmp_path):
    rec = make_recording({"main": BASIC})
    out = tmp_path / "unit.conf"
    seccomp.generate_file(rec, str(out), fmt="systemd")
    text = out.read_text()
    assert "[Service]" in text.splitlines()
    d = _directives(text)
    names = " ".join(d["SystemCallFilter"]).split()
    assert sorted(names) == sorted(BASIC)
    assert d["SystemCallErrorNumber"] == ["EPERM"]
    assert d["SystemCallArchitectures"] == ["native"]     # an x86_64-only recording
    assert "allow list" in text                # documented for the reader


def test_systemd_kill_enosys_log():
    oci = seccomp.build_oci(BASIC, arches=[ARCH], default_action="kill")
    assert "SystemCallErrorNumber" not in _directives(formats.to_systemd(oci))
    oci = seccomp.build_oci(BASIC, arches=[ARCH], default_action="enosys")
    assert _directives(formats.to_systemd(oci))["SystemCallErrorNumber"] == ["ENOSYS"]
    oci = seccomp.build_oci(BASIC, arches=[ARCH], default_action="log")
    d = _directives(formats.to_systemd(oci))
    assert "SystemCallFilter" not in d
    assert sorted(d["SystemCallLog"][0].lstrip("~").split()) == sorted(BASIC)


# -- runtime syscalls --------------------------------------------------------------------------

def test_runtime_data_is_sourced_and_known():
    data = json.loads(DATA_FILE.read_text())
    for runtime, entries in data["runtimes"].items():
        assert any(e.get("default") for e in entries)
        for e in entries:
            assert e["source"]
            for name, why in e["syscalls"].items():
                assert why, f"{runtime}: {name} has no reason"
                assert syscall_number("SCMP_ARCH_X86_64", name) is not None, name


def test_runtime_adds_its_syscalls(tmp_path):
    rec = make_recording({"main": ["read", "write", "exit_group"]})
    out = tmp_path / "p.json"
    summary = seccomp.generate_file(rec, str(out), runtime="runc")
    names = set(json.loads(out.read_text())["syscalls"][0]["names"])
    rs = runtime_syscalls("runc")
    expected = {n for n in rs.syscalls if syscall_number(ARCH, n) is not None}
    assert names == {"read", "write", "exit_group"} | expected
    assert {"capset", "execve", "setgroups"} <= names
    assert "added" in summary and "runc" in summary


def test_runtime_versions():
    assert version_in_range("1.1.5", ">=1.0.0,<2.0.0")
    assert not version_in_range("2.0.1", ">=1.0.0,<2.0.0")
    assert runtime_syscalls("crun", "1.8.1").versions == ">=1.0.0,<2.0.0"
    with pytest.raises(InputError, match="no syscall set for runc 9.0"):
        runtime_syscalls("runc", "9.0")


# -- Docker baseline ---------------------------------------------------------------------------

def _synthetic_docker() -> dict:
    return {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write", "nosuchcall"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["fsync"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["sync"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_CHROOT"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1,
                                                                    "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    ]}


def test_baseline_resolves_includes_and_excludes():
    got = baseline.docker_allowed(_synthetic_docker(), "SCMP_ARCH_X86_64", kernel_release="6.18.0")
    assert got == {"read", "write", "ptrace", "arch_prctl", "chroot", "clone"}
    old = baseline.docker_allowed(_synthetic_docker(), "SCMP_ARCH_X86_64", kernel_release="4.4.0")
    assert "ptrace" not in old
    admin = baseline.docker_allowed(_synthetic_docker(), "SCMP_ARCH_X86_64",
                                    caps=baseline.DOCKER_DEFAULT_CAPS | {"CAP_SYS_ADMIN"},
                                    kernel_release="6.18.0")
    assert "mount" in admin and "clone" not in admin


def test_baseline_reads_the_containers_common_dialect():
    """podman's containers-common profile: errno groups, caps-gated pairs, args: null."""
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "defaultErrno": "ENOSYS",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": [
                {"names": ["kexec_load", "read"], "action": "SCMP_ACT_ERRNO", "args": [],
                 "comment": "", "includes": {}, "excludes": {}, "errnoRet": 1, "errno": "EPERM"},
                {"names": ["read", "write", "_llseek"], "action": "SCMP_ACT_ALLOW", "args": [],
                 "comment": "", "includes": {}, "excludes": {}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "args": [],
                 "includes": {"caps": ["CAP_SYS_CHROOT"]}, "excludes": {}},
                {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "args": [], "includes": {},
                 "excludes": {"caps": ["CAP_SYS_CHROOT"]}, "errnoRet": 1, "errno": "EPERM"},
                {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "args": [],
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {}},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": None,
                 "includes": {"caps": ["CAP_AUDIT_WRITE"]}, "excludes": {}},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_NE"}],
                 "includes": {}, "excludes": {"caps": ["CAP_AUDIT_WRITE"]}},
                {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
            ]}
    got = baseline.docker_allowed(prof, "SCMP_ARCH_X86_64",
                                  caps=baseline.CONTAINERS_DEFAULT_CAPS, kernel_release="6.1.0")
    assert got == {"read", "write", "chroot", "socket", "getpid"}
    # a deny-list profile (allowing default): everything but what an applying group blocks
    deny = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["reboot"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    got = baseline.docker_allowed(deny, "SCMP_ARCH_X86_64")
    assert "read" in got and "personality" in got and "reboot" not in got


def test_baseline_is_the_installed_engines_and_says_which(tmp_path, monkeypatch):
    for var in (baseline.ENV_VAR, baseline.OLD_ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    found = baseline.find_baseline()
    if found is None:
        pytest.skip("no container engine default profile installed (podman not installed)")
    assert os.path.isfile(found.path)
    rec = make_recording({"main": BASIC})
    summary = seccomp.generate_file(rec, str(tmp_path / "p.json"))
    line = summary.splitlines()[-1]
    assert line.startswith(f"allows {len(BASIC)} of the ")
    assert "syscalls the container engine's default allows" in line
    assert found.path in line


def test_baseline_given_by_flag_env_or_older_env(tmp_path, monkeypatch):
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write", "close"], "action": "SCMP_ACT_ALLOW"}]}))
    rec = make_recording({"main": ["read", "write", "execve", "exit_group", "reboot"]})
    out = tmp_path / "p.json"
    s = seccomp.generate_file(rec, str(out), baseline_path=str(own))
    assert (f"allows 2 of the 3 syscalls the container engine's default allows on {ARCH} "
            f"(baseline: {own}, --baseline)") in s
    assert "; 3 allowed beyond it: execve, exit_group, reboot" in s
    for var in (baseline.ENV_VAR, baseline.OLD_ENV_VAR):
        monkeypatch.setenv(var, str(own))
        assert f"(baseline: {own}, ${var})" in seccomp.generate_file(rec, str(out))
        monkeypatch.delenv(var)
    proc = run_cli("generate", "seccomp", str(_saved(rec, tmp_path)), "-o",
                         str(tmp_path / "cli.json"), "--baseline", str(own), check=True)
    assert f"allows 2 of the 3 syscalls" in proc.stderr


def _saved(rec, tmp_path):
    path = tmp_path / "rec.json"
    rec.save(str(path))
    return path


def test_baseline_none_found_says_so_and_how(tmp_path, monkeypatch):
    for var in (baseline.ENV_VAR, baseline.OLD_ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(baseline, "find_baseline", lambda path=None: None)
    summary = seccomp.generate_file(make_recording({"main": BASIC}), str(tmp_path / "p.json"))
    line = summary.splitlines()[-1]
    assert line.startswith("no baseline comparison: no container engine default seccomp "
                           "profile found")
    assert "--baseline FILE" in line and "SANDPRINT_BASELINE" in line


def test_bad_baseline_given_is_an_error_and_writes_nothing(tmp_path):
    rec = _saved(make_recording({"main": BASIC}), tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "bad.json").write_text('{"defaultAction": "SCMP_ACT_ERRNO"}')
    for bad in (tmp_path / "absent.json", tmp_path / "bad.json"):
        proc = run_cli("generate", "seccomp", str(rec), "-o", str(out / "p.json"),
                             "--baseline", str(bad))
        _assert_one_line_error(proc)
        assert str(bad) in proc.stderr
    assert list(out.iterdir()) == []


# -- bad input through the CLI: exit 2, one line, no output file -------------------------------

def _assert_one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sandprint: error:")
    assert "Traceback" not in proc.stderr


def _bad_recordings(tmp_path: Path) -> dict[str, Path]:
    good = make_recording({"main": BASIC}).to_json()
    cases = {}
    cases["missing"] = tmp_path / "missing.json"
    (p := tmp_path / "empty.json").write_text("")
    cases["empty"] = p
    (p := tmp_path / "truncated.json").write_text(json.dumps(good)[:120])
    cases["truncated"] = p
    (p := tmp_path / "wrongkind.json").write_text(json.dumps(
        seccomp.build_oci(BASIC, arches=[ARCH])))
    cases["wrong-kind"] = p
    bad = json.loads(json.dumps(good))
    bad["targets"][0]["syscalls"]["no_such_syscall"] = 1
    (p := tmp_path / "unknown.json").write_text(json.dumps(bad))
    cases["unknown-syscall"] = p
    return cases


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "wrong-kind",
                                  "unknown-syscall"])
def test_generate_bad_recording(tmp_path, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = _bad_recordings(inputs)[case]
    outdir = tmp_path / "out"
    outdir.mkdir()
    proc = run_cli("generate", "seccomp", str(path), "-o", str(outdir / "p.json"))
    _assert_one_line_error(proc)
    assert list(outdir.iterdir()) == []          # no partial output, no temporary file


def test_generate_bad_options_leave_no_file(tmp_path):
    rec = tmp_path / "rec.json"
    make_recording({"main": BASIC}).save(str(rec))
    out = tmp_path / "out"
    out.mkdir()
    for extra in (["--target", "nope"], ["--format", "spo", "--default-action", "enosys"],
                  ["--format", "spo", "--name", "UPPER"]):
        proc = run_cli("generate", "seccomp", str(rec), "-o", str(out / "p"), *extra)
        _assert_one_line_error(proc)
    assert list(out.iterdir()) == []


def test_generate_cli_writes_and_summarises(tmp_path):
    rec = tmp_path / "rec.json"
    make_recording({"main": BASIC}).save(str(rec))
    proc = run_cli("generate", "seccomp", str(rec), "-o", str(tmp_path / "p.yaml"),
                   "--format", "spo", "--runtime", "crun", check=True)
    assert "wrote spo seccomp profile" in proc.stderr
    assert "crun" in proc.stderr
    jsonschema.validate(yaml.safe_load((tmp_path / "p.yaml").read_text()), spo_schema())
    assert proc.stdout == ""


def test_allowed_syscalls_with_allowing_default():
    data = {"defaultAction": "SCMP_ACT_LOG", "architectures": [ARCH],
            "syscalls": [{"names": ["unshare", "setns"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    allowed = profile_from_data(data).allowed_syscalls()
    assert "read" in allowed and "personality" in allowed
    assert "unshare" not in allowed and "setns" not in allowed
    assert "personality" not in profile_from_data(data).allowed_syscalls(conditional=False)


def test_thread_exit_is_always_allowed_to_a_threaded_workload(tmp_path):
    """A thread's own exit is often cut off in a recording by the process's exit_group;
    refused, glibc retries it forever. A workload that makes threads always gets it."""
    from sandprint.generators import seccomp as gen
    names = {"execve", "exit_group", "clone3", "futex"}
    assert gen.add_thread_exit(names, native_arch(), DefaultAction.ERRNO) == {"exit"} and "exit" in names
    assert gen.add_thread_exit({"execve", "exit_group"}, native_arch(), DefaultAction.ERRNO) == set()
    assert gen.add_thread_exit({"clone", "execve"}, native_arch(), DefaultAction.LOG) == set()
