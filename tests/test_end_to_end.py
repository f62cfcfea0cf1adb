"""The whole loop on real workloads: record, generate, run under the result, verify."""

import json
import sys

import pytest

from helpers import REPO, run_sandprint

pytestmark = pytest.mark.kernel

EX = REPO / "examples" / "workloads"

WORKLOADS = {
    "python script": [sys.executable, str(EX / "wordfreq.py"), str(EX / "sample.txt"), "{out}"],
    "shell pipeline": ["sh", str(EX / "pipeline.sh")],
    "forks and threads": [sys.executable, str(EX / "forker.py"), "3"],
}

USERNS_PROBE = [sys.executable, str(EX / "probe_userns.py")]


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_profile_runs_its_workload_and_denies_the_rest(bpf_ready, tmp_path, name):
    argv = [a.format(out=tmp_path / "out") for a in WORKLOADS[name]]
    rec, prof = tmp_path / "rec.json", tmp_path / "profile.json"
    first = run_sandprint("record", "-o", str(rec), "--", *argv, check=True)
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    profile = json.loads(prof.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert set(profile) <= {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}

    again = run_sandprint("exec", "--seccomp", str(prof), "--", *argv)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout

    v = run_sandprint("verify", "--seccomp", str(prof), "--report", str(tmp_path / "v.json"),
                      "--", *argv)
    assert v.returncode == 0, v.stderr
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["verdict"] == "pass" and report["denials"] == []

    # something none of these workloads does: a new user namespace
    assert "unshare" not in profile["syscalls"][0]["names"]
    probe = run_sandprint("exec", "--seccomp", str(prof), "--", *USERNS_PROBE)
    if name == "python script":       # the probe is a Python script too: it gets that far
        assert probe.stdout.strip() == "-1 Operation not permitted"
    else:
        assert "allowed" not in probe.stdout


def test_issue_example_commands(bpf_ready, tmp_path):
    """The commands of the first slice, exactly as a user types them."""
    code = "import ctypes, json; print('ok')"
    rec, prof = tmp_path / "rec.json", tmp_path / "profile.json"
    run_sandprint("record", "-o", str(rec), "--", "python3", "-c", code, check=True)
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    ok = run_sandprint("exec", "--seccomp", str(prof), "--", "python3", "-c", code)
    assert ok.stdout == "ok\n", ok.stderr
    probe = ("import ctypes, json, os; libc = ctypes.CDLL(None, use_errno=True); "
             "print(libc.unshare(0x10000000), os.strerror(ctypes.get_errno()))")
    denied = run_sandprint("exec", "--seccomp", str(prof), "--", "python3", "-c", probe)
    assert denied.stdout.strip() == "-1 Operation not permitted", denied.stderr
    v = run_sandprint("verify", "--seccomp", str(prof), "--", "python3", "-c", code)
    assert v.returncode == 0, v.stderr
    assert "PASS" in v.stderr and "nothing denied" in v.stderr


def test_verify_names_a_removed_syscall(bpf_ready, tmp_path):
    argv = [sys.executable, str(EX / "forker.py"), "2"]
    rec, prof = tmp_path / "rec.json", tmp_path / "profile.json"
    run_sandprint("record", "-o", str(rec), "--", *argv, check=True)
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    profile = json.loads(prof.read_text())
    names = profile["syscalls"][0]["names"]
    victim = "wait4"
    assert victim in names
    names.remove(victim)
    prof.write_text(json.dumps(profile))
    v = run_sandprint("verify", "--seccomp", str(prof), "--", *argv)
    assert v.returncode == 1
    assert f"DENIED     seccomp  syscall {victim}" in v.stderr


def test_demo(bpf_ready, tmp_path):
    """The whole loop: seccomp and Landlock generated, verified, and one probe of each
    refused; the baseline comparison names the engine's default profile."""
    proc = run_sandprint("demo", "--workdir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "demo: OK" in out
    assert (tmp_path / "wordfreq.seccomp.json").exists()
    assert (tmp_path / "wordfreq.landlock.json").exists()
    assert "verify (enforce): PASS" in out
    assert "-> -1 Operation not permitted" in out
    assert "Permission denied" in out and "secret.txt" in out
    assert "syscalls the container engine's default allows" in out or \
        "no baseline comparison" in out
    from sandprint.landlock.config import load_config
    from sandprint.recording import Recording
    from sandprint.seccomp.profile import load_profile
    Recording.load(str(tmp_path / "wordfreq.rec.json"))       # each output valid (schemas too)
    load_profile(str(tmp_path / "wordfreq.seccomp.json"))
    load_config(str(tmp_path / "wordfreq.landlock.json"))
