"""Fail closed: a sandbox that cannot be had as asked means the command does not run, and a
profile that could never work (no execve, no exit_group) is refused when it is generated."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import run_sandprint, sandprint_env
from sandprint.errors import InputError
from sandprint.generators import seccomp
from sandprint.recording import Recording
from sandprint.syscalls import native_arch

ARCH = native_arch()


def recording(calls, path=None) -> Recording:
    rec = Recording.new({"type": "command", "command": ["x"]}, arch=ARCH)
    t = rec.target("main")
    for c in calls:
        t.add_syscall(c, 1)
    if path:
        rec.save(str(path))
    return rec


@pytest.mark.parametrize("missing", [["execve"], ["exit_group"], ["execve", "exit_group"]])
@pytest.mark.parametrize("action", ["errno", "enosys", "kill"])
def test_generation_refuses_a_profile_without_execve_or_exit_group(tmp_path, missing, action):
    calls = [c for c in ("read", "write", "execve", "exit_group") if c not in missing]
    out = tmp_path / "p.json"
    with pytest.raises(InputError) as e:
        seccomp.generate_file(recording(calls), str(out), default_action=action)
    for name in missing:
        assert name in str(e.value) and f"--add-syscall {name}" in str(e.value)
    assert "could never start" in str(e.value) or "could not exit" in str(e.value)
    assert not out.exists()


def test_generation_refusal_through_the_cli_and_the_way_out(tmp_path):
    rec = tmp_path / "r.json"
    recording(["read", "write"], rec)
    out = tmp_path / "p.json"
    proc = run_sandprint("generate", "seccomp", str(rec), "-o", str(out))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "execve" in proc.stderr and "exit_group" in proc.stderr and not out.exists()
    proc = run_sandprint("generate", "seccomp", str(rec), "-o", str(out),
                         "--add-syscall", "execve", "--add-syscall", "exit_group")
    assert proc.returncode == 0, proc.stderr
    assert "2 added by hand" in proc.stderr
    names = json.loads(out.read_text())["syscalls"][0]["names"]
    assert {"execve", "exit_group"} <= set(names)
    # log default denies nothing: no refusal
    proc = run_sandprint("generate", "seccomp", str(rec), "-o", str(out),
                         "--default-action", "log")
    assert proc.returncode == 0, proc.stderr


def test_runtime_syscalls_count_towards_execve(tmp_path):
    # runc makes execve itself after loading the filter: with --runtime runc the profile has it
    rec = recording(["read", "write", "exit_group"])
    seccomp.generate_file(rec, str(tmp_path / "p.json"), runtime="runc")


# -- exec never runs the command with less than asked ---------------------------------------

BOGUS_PROFILES = {
    "unknown syscall": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": [ARCH],
                        "syscalls": [{"names": ["execve", "no_such_call"],
                                      "action": "SCMP_ACT_ALLOW"}]},
    "no execve": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": [ARCH],
                  "syscalls": [{"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"}]},
    "unknown action": {"defaultAction": "SCMP_ACT_MAYBE", "architectures": [ARCH],
                       "syscalls": []},
    "unknown arch": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"],
                     "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ALLOW"}]},
    "bad arg index": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": [ARCH],
                      "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ALLOW",
                                    "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
}


@pytest.mark.parametrize("case", sorted(BOGUS_PROFILES))
def test_exec_does_not_run_the_command_when_the_profile_cannot_be_loaded(tmp_path, case):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(BOGUS_PROFILES[case]))
    marker = tmp_path / "ran"
    proc = run_sandprint("exec", "--seccomp", str(prof), "--", "/bin/touch", str(marker))
    assert proc.returncode != 0
    assert not marker.exists(), f"{case}: the command ran"
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _exec_in_child(tmp_path, cfg: dict, compat: str, abi: int | None) -> tuple[int, str, bool]:
    rules = tmp_path / "l.json"
    rules.write_text(json.dumps(cfg))
    marker = tmp_path / "ran"
    code = ("import sys\n"
            "from sandprint import enforce\n"
            "from sandprint.errors import SandprintError\n"
            "try:\n"
            f"    enforce.exec_sandboxed(['/bin/touch', {str(marker)!r}], landlock={str(rules)!r},"
            f" compat={compat!r}, landlock_abi={abi!r}, log=lambda m: print(m, file=sys.stderr))\n"
            "except SandprintError as e:\n"
            "    print(f'refused: {e}', file=sys.stderr); sys.exit(e.exit_code)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=sandprint_env(),
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr, marker.exists()


NET_RULES = {"abi": 4, "ruleset": [{"handledAccessFs": ["abi.read_write"],
                          "handledAccessNet": ["connect_tcp"]}],
             "pathBeneath": [{"allowedAccess": ["abi.read_write"], "parent": ["/"]}],
             "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}]}


@pytest.mark.kernel
def test_exec_hard_compat_refuses_a_ruleset_above_the_kernels_abi(tmp_path):
    # connect_tcp needs ABI 4: pretend the kernel has ABI 3
    code, err, ran = _exec_in_child(tmp_path, NET_RULES, "hard", 3)
    assert code != 0 and not ran, err
    assert "refused" in err and "connect_tcp" in err
    # the same with best effort runs, and says what was dropped
    code, err, ran = _exec_in_child(tmp_path, NET_RULES, "best-effort", 3)
    assert code == 0 and ran, err
    assert "connect_tcp" in err


@pytest.mark.kernel
def test_exec_hard_compat_refuses_when_landlock_is_unavailable(tmp_path):
    code, err, ran = _exec_in_child(tmp_path, NET_RULES, "hard", 0)
    assert code != 0 and not ran, err
    assert "refused" in err and "ABI 0" in err


def test_exec_refuses_a_broken_ruleset(tmp_path):
    bad = {"pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["/no/such/dir/x"]}],
           "ruleset": [{"handledAccessFs": ["abi.all"]}]}
    code, err, ran = _exec_in_child(tmp_path, bad, "hard", None)
    assert not ran, err
    bad = {"pathBeneath": [{"allowedAccess": ["fly"], "parent": ["/"]}]}
    code, err, ran = _exec_in_child(tmp_path, bad, "best-effort", None)
    assert code == 2 and not ran, err


def test_exec_without_any_sandbox_is_refused(tmp_path):
    """``exec`` with neither --seccomp nor --landlock would run the command unconfined: it is
    refused like ``verify`` refuses it (exit 2, one line), and the command never runs."""
    marker = tmp_path / "ran"
    proc = run_sandprint("exec", "--", "/bin/touch", str(marker))
    assert proc.returncode == 2, proc.stderr
    assert not marker.exists()
    assert "--seccomp and/or --landlock" in proc.stderr and "unconfined" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    from sandprint import enforce

    with pytest.raises(InputError, match="unconfined"):
        enforce.exec_sandboxed(["/bin/touch", str(marker)])
    assert not marker.exists()
