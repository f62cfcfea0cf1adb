"""Seccomp enforcement with real filters, each applied in a child process: loading OCI and SPO
profiles, `sandprint exec`, the default actions, argument conditions, and bad profiles that
must stop the command from ever running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

from sandprint.generators import baseline, seccomp
from sandprint.seccomp import formats
from sandprint.syscalls import native_arch

from helpers import need, run_sandprint, sandprint_env

pytestmark = pytest.mark.kernel

ARCH = native_arch()

PRINT_OK = ["python3", "-c", "print('ok')"]
UNSHARE = ["python3", "-c",
           "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
           "r = libc.unshare(0x10000000); print(r, ctypes.get_errno())"]


@pytest.fixture(scope="module")
def generous() -> set[str]:
    """A generous allow list (the container engine's default for this arch) without unshare."""
    need(os.path.exists("/proc/self/status"), "needs Linux")
    base = baseline.find_baseline()
    need(base is not None, "no container engine default seccomp profile (podman not installed)")
    with open("/proc/self/status") as f:
        need(any(l.startswith("Seccomp:") for l in f), "kernel without seccomp")
    allowed = baseline.docker_allowed(json.loads(open(base.path).read()), ARCH, caps=base.caps)
    return allowed - {"unshare"}


def write_profile(path, names, action="errno", fmt="oci"):
    oci = seccomp.build_oci(names, arches=seccomp.profile_arches(ARCH), default_action=action)
    if fmt == "oci":
        path.write_text(formats.to_oci_json(oci))
    else:
        path.write_text(formats.to_spo(oci, "test-profile"))
    return str(path)


def test_print_ok_runs_and_unshare_is_denied(tmp_path, generous):
    profile = write_profile(tmp_path / "p.json", generous)
    proc = run_sandprint("exec", "--seccomp", profile, "--", *PRINT_OK, check=True)
    assert proc.stdout == "ok\n"
    proc = run_sandprint("exec", "--seccomp", profile, "--", *UNSHARE, check=True)
    assert proc.stdout.split() == ["-1", "1"]          # -1, EPERM


def test_without_profile_unshare_works_here(tmp_path):
    # the control: as root, unshare(CLONE_NEWUSER) succeeds without the filter
    need(os.geteuid() == 0, "needs root")
    proc = subprocess.run(UNSHARE, capture_output=True, text=True, check=True)
    assert proc.stdout.split()[0] == "0"


def test_spo_profile_is_enforced(tmp_path, generous):
    profile = write_profile(tmp_path / "p.yaml", generous, fmt="spo")
    proc = run_sandprint("exec", "--seccomp", profile, "--", *UNSHARE, check=True)
    assert proc.stdout.split() == ["-1", "1"]


def test_enosys_kill_and_log_actions(tmp_path, generous):
    p = write_profile(tmp_path / "enosys.json", generous, action="enosys")
    proc = run_sandprint("exec", "--seccomp", p, "--", *UNSHARE, check=True)
    assert proc.stdout.split() == ["-1", "38"]
    p = write_profile(tmp_path / "kill.json", generous, action="kill")
    proc = run_sandprint("exec", "--seccomp", p, "--", *UNSHARE)
    assert proc.returncode == -signal.SIGSYS, (proc.returncode, proc.stderr)
    if os.geteuid() == 0:
        p = write_profile(tmp_path / "log.json", generous, action="log")
        proc = run_sandprint("exec", "--seccomp", p, "--", *UNSHARE, check=True)
        assert proc.stdout.split()[0] == "0"          # logged, not blocked


def test_exit_status_comes_back(tmp_path, generous):
    profile = write_profile(tmp_path / "p.json", generous)
    proc = run_sandprint("exec", "--seccomp", profile, "--", "sh", "-c", "exit 7")
    assert proc.returncode == 7


def test_argument_conditions(tmp_path, generous):
    # personality allowed only for PER_LINUX (0): querying (0xffffffff) is denied
    data = json.loads(open(write_profile(tmp_path / "base.json",
                                         generous - {"personality"})).read())
    data["syscalls"].append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]})
    path = tmp_path / "args.json"
    path.write_text(json.dumps(data))
    code = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
            "print(libc.personality(0) >= 0, libc.personality(0xffffffff), ctypes.get_errno())")
    proc = run_sandprint("exec", "--seccomp", str(path), "--", "python3", "-c", code, check=True)
    assert proc.stdout.split() == ["True", "-1", "1"]


def test_apply_seccomp_library_in_child(tmp_path, generous):
    profile = write_profile(tmp_path / "p.json", generous)
    code = ("import ctypes, sys; from sandprint.seccomp.filter import apply_seccomp; "
            f"p = apply_seccomp({profile!r}); "
            "libc = ctypes.CDLL(None, use_errno=True); "
            "print(len(p.allowed_syscalls()), libc.unshare(0x10000000), ctypes.get_errno())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=sandprint_env(), check=True)
    assert proc.stdout.split() == [str(len(generous)), "-1", "1"]


# -- bad input: exit 2, one line, the command never runs --------------------------------------

def _bad_profiles(tmp_path, generous) -> dict[str, str]:
    good = json.loads(open(write_profile(tmp_path / "good.json", generous)).read())
    cases: dict[str, str] = {"missing": str(tmp_path / "missing.json")}

    def put(name, text):
        (tmp_path / name).write_text(text)
        cases[name] = str(tmp_path / name)

    put("empty.json", "")
    put("truncated.json", json.dumps(good)[:200])
    put("truncated.yaml", "apiVersion: security-profiles-operator.x-k8s.io/v1\n"
                          "kind: SeccompProfile\nspec:\n  syscalls:\n  - names: [read\n")
    put("recording.json", json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                                      "metadata": {}, "targets": []}))
    put("wrongkind.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                                          "metadata": {"name": "x"}}))
    bad = json.loads(json.dumps(good))
    bad["syscalls"][0]["names"].append("no_such_syscall")
    put("unknown-syscall.json", json.dumps(bad))
    bad = json.loads(json.dumps(good))
    bad["defaultAction"] = "SCMP_ACT_MAYBE"
    put("unknown-action.json", json.dumps(bad))
    bad = json.loads(json.dumps(good))
    bad["architectures"].append("SCMP_ARCH_VAX")
    put("unknown-arch.json", json.dumps(bad))
    bad = json.loads(json.dumps(good))
    bad["archMap"] = []
    put("docker-dialect.json", json.dumps(bad))
    bad = json.loads(json.dumps(good))
    bad["syscalls"][0]["names"].remove("execve")
    put("no-execve.json", json.dumps(bad))
    put("list.json", "[]")
    return cases


CASES = ["missing", "empty.json", "truncated.json", "truncated.yaml", "recording.json",
         "wrongkind.yaml", "unknown-syscall.json", "unknown-action.json", "unknown-arch.json",
         "docker-dialect.json", "no-execve.json", "list.json"]


@pytest.mark.parametrize("case", CASES)
def test_bad_profile_never_runs_the_command(tmp_path, generous, case):
    path = _bad_profiles(tmp_path, generous)[case]
    marker = tmp_path / "ran"
    proc = run_sandprint("exec", "--seccomp", path, "--", "touch", str(marker))
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("sandprint: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_error_names_file_and_field(tmp_path, generous):
    path = _bad_profiles(tmp_path, generous)["unknown-syscall.json"]
    proc = run_sandprint("exec", "--seccomp", path, "--", "true")
    assert path in proc.stderr
    assert "syscalls[0].names[" in proc.stderr and "no_such_syscall" in proc.stderr


def test_nonexistent_command(tmp_path, generous):
    profile = write_profile(tmp_path / "p.json", generous)
    for cmd in ("no-such-command-xyz", str(tmp_path / "nope")):
        proc = run_sandprint("exec", "--seccomp", profile, "--", cmd)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_landlock_problem_fails_closed(tmp_path, generous):
    profile = write_profile(tmp_path / "p.json", generous)
    marker = tmp_path / "ran"
    proc = run_sandprint("exec", "--seccomp", profile, "--landlock",
                         str(tmp_path / "absent.json"), "--", "touch", str(marker))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
