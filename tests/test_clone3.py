"""clone3 answered ENOSYS by design (as Docker's default profile does), so glibc falls back to
the clone whose namespace flags the filter checks; and every command that reads a profile
treats that answer as the profile working, not as something the workload lacks.

The kernel tests record a threaded Python workload (glibc >= 2.34 starts threads with clone3),
generate its profile, run it under the real filter with ``sandprint exec`` and ``verify``
(enforce and complain) and ``check``. The escape side (a raw clone3(CLONE_NEWUSER) denied) is
the ``userns-clone3`` probe of tests/test_escape_probes.py.
"""

from __future__ import annotations

import json
import sys

import jsonschema
import pytest
import yaml

from helpers import REPO, have_bcc, is_root, need, run_cli, run_sandprint
from sandprint.seccomp.filter import build_filter
from sandprint.errors import InputError
from sandprint.verify.fix import fixed_profile
from sandprint.generators import seccomp
from sandprint.seccomp import formats
from sandprint.seccomp.ops import diff_profiles, merge_profiles, merge_profiles_noted
from sandprint.seccomp.profile import profile_from_data
from helpers import ARCH, BASIC, make_recording, spo_schema

THREADS = REPO / "tests" / "workloads" / "threads.py"
ENOSYS_RULE = {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}


def oci(names, **kw):
    return seccomp.build_oci(names, arches=[ARCH], **kw)


# -- generate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("recorded", [["clone3"], ["clone", "clone3"]])
def test_clone3_is_answered_enosys_and_clone_allowed_without_namespace_flags(tmp_path,
                                                                             recorded):
    out = tmp_path / "p.json"
    summary = seccomp.generate_file(make_recording({"main": BASIC + recorded}), str(out))
    prof = json.loads(out.read_text())
    assert ENOSYS_RULE in prof["syscalls"]
    assert seccomp.clone_rule(ARCH) in prof["syscalls"]       # even when only clone3 was seen
    assert not {"clone", "clone3"} & set(prof["syscalls"][0]["names"])
    loaded = profile_from_data(prof)
    assert loaded.enosys_by_design() == {"clone3": "clone"}
    assert "clone" in loaded.allowed_syscalls() and "clone3" not in loaded.allowed_syscalls()
    build_filter(loaded)                                      # libseccomp takes it
    assert "clone3 answered ENOSYS" in summary and "warning" not in summary
    assert ("clone added for it" in summary) == ("clone" not in recorded)
    # + clone (or clone3 answered instead of allowed), + exit for the threads (add_thread_exit)
    assert f"allows {len(BASIC) + 1 + ('exit' not in BASIC)} syscalls" in summary


def test_allow_clone3_keeps_it_as_recorded_with_the_warning(tmp_path):
    out = tmp_path / "p.json"
    summary = seccomp.generate_file(make_recording({"main": BASIC + ["clone", "clone3"]}),
                                    str(out), allow_clone3=True)
    prof = json.loads(out.read_text())
    assert "clone3" in prof["syscalls"][0]["names"] and ENOSYS_RULE not in prof["syscalls"]
    assert "warning: clone3 is allowed as recorded (--allow-clone3)" in summary
    proc = run_cli("generate", "seccomp", "--allow-clone3", "--format", "systemd",
                   str(_saved(tmp_path, BASIC + ["clone3"])), "-o",
                   str(tmp_path / "x.conf"))
    assert proc.returncode == 2 and "--allow-clone3" in proc.stderr
    assert not (tmp_path / "x.conf").exists()


def _saved(tmp_path, names):
    path = tmp_path / "rec.json"
    make_recording({"main": names}).save(str(path))
    return path


@pytest.mark.parametrize("extra,action", [(["unshare"], "errno"), (["setns"], "kill"),
                                          ([], "log")])
def test_clone3_stays_when_namespaces_are_recorded_or_nothing_is_blocked(extra, action):
    prof = oci(BASIC + ["clone3"] + extra, default_action=action)
    assert len(prof["syscalls"]) == 1 and "clone3" in prof["syscalls"][0]["names"]


def test_spo_keeps_the_errno_rule_and_validates_against_the_crd():
    doc = yaml.safe_load(formats.to_spo(oci(BASIC + ["clone3"]), "threads"))
    assert ENOSYS_RULE | {} in [{k: r[k] for k in ("names", "action", "errnoRet") if k in r}
                                for r in doc["spec"]["syscalls"]]
    jsonschema.validate(doc, spo_schema())
    assert profile_from_data(doc).enosys_by_design() == {"clone3": "clone"}


def test_systemd_leaves_clone3_to_restrict_namespaces():
    text = formats.to_systemd(oci(BASIC + ["clone3"]))
    allow = " ".join(line.split("=", 1)[1] for line in text.splitlines()
                     if line.startswith("SystemCallFilter="))
    # no per-syscall errno inside an allow list: clone3 stays listed (so the allow filter
    # neither kills it nor answers EPERM) and RestrictNamespaces= answers it ENOSYS
    assert {"clone", "clone3"} <= set(allow.split())
    assert "RestrictNamespaces=yes" in text and "answers it ENOSYS" in text


# -- fix, merge, diff --------------------------------------------------------------------------

def test_fix_keeps_the_enosys_answer():
    old = profile_from_data(oci(BASIC + ["clone3"]))
    # a complain-mode replay made clone3 (unconfined) and needs wait4 too
    fixed = fixed_profile(old, make_recording({"main": BASIC + ["clone3", "wait4"]}))
    assert "wait4" in fixed["syscalls"][0]["names"]
    assert "clone3" not in fixed["syscalls"][0]["names"] and ENOSYS_RULE in fixed["syscalls"]
    assert diff_profiles(old, profile_from_data(fixed)) == ["+ syscall wait4"]


def test_merge_of_an_allowing_and_an_enosys_profile_answers_enosys_and_says_so():
    plain = profile_from_data(oci(BASIC + ["clone3", "unshare"]), source="old.json")
    by_design = profile_from_data(oci(BASIC + ["clone3", "wait4"]), source="new.json")
    merged, notes = merge_profiles_noted([plain, by_design])
    assert merged == merge_profiles([by_design, plain])
    assert ENOSYS_RULE in merged["syscalls"] and "clone3" not in merged["syscalls"][0]["names"]
    assert {"wait4", "unshare"} <= set(merged["syscalls"][0]["names"])
    assert len(notes) == 1 and "old.json" in notes[0] and "new.json" in notes[0]
    loaded = profile_from_data(merged)
    assert loaded.enosys_by_design() == {"clone3": "clone"}
    build_filter(loaded)
    # two profiles with the rule merge without a note
    assert merge_profiles_noted([by_design, by_design])[1] == []


def test_merge_command_prints_the_note(tmp_path):
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.json"
    a.write_text(formats.to_oci_json(oci(BASIC + ["clone3"], allow_clone3=True)))
    b.write_text(formats.to_oci_json(oci(BASIC + ["clone3"])))
    proc = run_cli("merge", str(a), str(b), "-o", str(out), check=True)
    assert "answered ENOSYS by design" in proc.stdout + proc.stderr
    assert ENOSYS_RULE in json.loads(out.read_text())["syscalls"]


def test_diff_names_the_errno_rule():
    a = profile_from_data(oci(BASIC + ["clone", "clone3"], allow_clone3=True))
    b = profile_from_data(oci(BASIC + ["clone", "clone3"]))
    assert diff_profiles(a, b) == [
        "- syscall clone3",
        "+ errno rule for clone3 -> ENOSYS (by design: glibc falls back to clone)"]
    assert diff_profiles(b, b) == []
    # the same profile as SPO has no difference
    assert diff_profiles(b, profile_from_data(yaml.safe_load(formats.to_spo(b.to_oci(),
                                                                            "x")))) == []


def test_an_enosys_rule_without_the_fallback_is_not_by_design():
    prof = profile_from_data({"defaultAction": "SCMP_ACT_ERRNO", "architectures": [ARCH],
                              "syscalls": [{"names": BASIC, "action": "SCMP_ACT_ALLOW"},
                                           ENOSYS_RULE]})
    assert prof.enosys_by_design() == {}      # no clone to fall back to: a plain refusal


# -- the real thing ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def threaded(tmp_path_factory):
    need(is_root(), "needs root")
    need(have_bcc(), "bcc (python3-bpfcc) not importable")
    work = tmp_path_factory.mktemp("clone3")
    rec, prof = work / "rec.json", work / "p.json"
    run_sandprint("record", "-o", str(rec), "--", sys.executable, str(THREADS),
                  str(work / "rec.txt"), check=True)
    gen = run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    return work, rec, prof, gen.stderr


def cmd(work, name, *extra):
    return ["--", sys.executable, str(THREADS), str(work / name), "3", *extra]


@pytest.mark.kernel
def test_the_threaded_workload_runs_under_its_profile(threaded):
    work, rec, prof, summary = threaded
    syscalls = json.loads(rec.read_text())["targets"][0]["syscalls"]
    assert syscalls.get("clone3", 0) >= 1, "glibc here does not start threads with clone3"
    assert "clone3 answered ENOSYS" in summary
    assert ENOSYS_RULE in json.loads(prof.read_text())["syscalls"]
    proc = run_sandprint("exec", "--seccomp", str(prof), *cmd(work, "exec.txt"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3 lines"


@pytest.mark.kernel
def test_verify_passes_and_reports_clone3_apart(threaded):
    work, rec, prof, _ = threaded
    report = work / "verify.json"
    proc = run_sandprint("verify", "--seccomp", str(prof), "--recording", str(rec),
                         "--report", str(report), *cmd(work, "verify.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "PASS" in out and "by design: clone3 x3 answered ENOSYS" in out
    data = json.loads(report.read_text())
    assert data["denials"] == []
    assert data["answeredByDesign"] == [{"name": "clone3", "count": 3, "errno": "ENOSYS",
                                         "fallback": "clone"}]
    # the fallback did the work: the replay made clone, never reaching clone3
    replay = data["recording"]["targets"][0]["syscalls"]
    assert replay.get("clone", 0) >= 3 and "clone3" not in replay


@pytest.mark.kernel
def test_verify_still_counts_every_other_refusal(threaded):
    work, rec, prof, _ = threaded
    assert "getppid" not in json.loads(rec.read_text())["targets"][0]["syscalls"]
    proc = run_sandprint("verify", "--seccomp", str(prof), *cmd(work, "v2.txt", "--getppid"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "getppid" in out and "by design: clone3 x3" in out
    assert "DENIED     seccomp  syscall clone3" not in out


@pytest.mark.kernel
def test_complain_and_check_report_no_drift_for_clone3(threaded):
    work, rec, prof, _ = threaded
    proc = run_sandprint("verify", "--complain", "--seccomp", str(prof), "--recording",
                         str(rec), *cmd(work, "complain.txt"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "by design: clone3 x3 would be answered ENOSYS" in out
    proc = run_sandprint("check", "--seccomp", str(prof), *cmd(work, "check.txt"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "OK" in out and "clone3" not in out.split("OK", 1)[0]
