"""What a workload could hide from the recorder, each case against what the workload itself
says it did (``workloads/blind_spots.c`` prints "did NAME COUNT" lines):

- i386 syscalls (``int 0x80``) from a 64-bit process, and a real 32-bit program: recorded
  under ``SCMP_ARCH_X86`` with their own names (``compatSyscalls``), never as x86_64 numbers
  (i386 fadvise64_64 is x86_64's unshare; i386 remap_file_pages, with the 64-bit registers
  set up as an openat, was recorded as a read-write open of the file); an i386 file syscall,
  which the file code does not follow, makes the recording incomplete, with the reason;
- the thread-group leader exits first (``pthread_exit`` in main) and a worker carries on;
- a worker thread calls execve (de_thread gives it the leader's pid).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import need, run_sandprint, sandprint_env

pytestmark = pytest.mark.kernel

WORKLOADS = Path(__file__).resolve().parent / "workloads"


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """The workload, built here with gcc; and the 32-bit one (no C library: gcc -m32 alone
    needs no multilib packages), or None when this gcc cannot make i386 code."""
    need(shutil.which("gcc") is not None, "gcc not installed")
    d = tmp_path_factory.mktemp("blind-spots")
    bs = d / "blind_spots"
    subprocess.run(["gcc", "-O1", "-pthread", "-o", str(bs), str(WORKLOADS / "blind_spots.c")],
                   check=True)
    bs32 = d / "blind_spots32"
    made = subprocess.run(["gcc", "-m32", "-nostdlib", "-static", "-fno-pic",
                           "-fno-stack-protector", "-O1", "-o", str(bs32),
                           str(WORKLOADS / "blind_spots32.c")], capture_output=True)
    secret = d / "secret.txt"
    secret.write_text("the secret\n")
    return {"bs": bs, "bs32": bs32 if made.returncode == 0 else None, "dir": d,
            "secret": secret}


def did(stdout: str) -> dict[str, int]:
    return {line.split()[1]: int(line.split()[2]) for line in stdout.splitlines()
            if line.startswith("did ")}


def record(programs, tmp_path, *argv):
    out = tmp_path / "rec.json"
    proc = run_sandprint("record", "-o", str(out), "--", *map(str, argv), check=True,
                         cwd=programs["dir"])
    rec = json.loads(out.read_text())
    return rec, rec["targets"][0], did(proc.stdout)


def replays_clean(tmp_path, *argv) -> None:
    """The sandbox generated from ``tmp_path/rec.json`` (seccomp and Landlock) lets the
    workload do the same again: verify in enforce mode finds nothing denied."""
    rec = str(tmp_path / "rec.json")
    run_sandprint("generate", "seccomp", rec, "-o", str(tmp_path / "p.json"), check=True)
    run_sandprint("generate", "landlock", rec, "-o", str(tmp_path / "l.json"), check=True)
    v = run_sandprint("verify", "--seccomp", str(tmp_path / "p.json"), "--landlock",
                      str(tmp_path / "l.json"), "--", *map(str, argv))
    assert v.returncode == 0, v.stdout + v.stderr


def wait_zombie_leader(pid: int, timeout: float = 30) -> None:
    """Until ``pid``'s leader has exited (the process shows as a zombie) while a thread runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return
        time.sleep(0.005)
    raise AssertionError(f"the leader of {pid} did not exit")


def files(t) -> dict[str, list[str]]:
    return {f["path"]: sorted(f.get("access", [])) for f in t["files"]}


def test_int80_calls_are_filed_under_i386_names(bpf_ready, programs, tmp_path):
    rec, t, truth = record(programs, tmp_path, programs["bs"], "int80", 5)
    assert truth == {"getpid": 5}
    assert t["compatSyscalls"] == {"SCMP_ARCH_X86": {"getpid": 5}}
    # and as many x86_64 getpid calls, which it compares the answers with: 5, not 10
    assert t["syscalls"]["getpid"] == 5
    assert rec["metadata"]["complete"] is True


def test_i386_fadvise64_64_is_not_unshare(bpf_ready, programs, tmp_path):
    _, t, truth = record(programs, tmp_path, programs["bs"], "fadvise")
    assert truth == {"fadvise64_64": 1}
    assert t["compatSyscalls"] == {"SCMP_ARCH_X86": {"fadvise64_64": 1}}
    assert "unshare" not in t["syscalls"]         # x86_64 272


def test_i386_remap_file_pages_is_not_an_open_of_the_secret(bpf_ready, programs, tmp_path):
    """The registers an x86_64 openat reads name the secret, read-write; the kernel ran the
    i386 call 257, remap_file_pages, which opens nothing."""
    rec, t, truth = record(programs, tmp_path, programs["bs"], "remap", programs["secret"])
    assert truth == {"remap_file_pages": 1}
    assert t["compatSyscalls"] == {"SCMP_ARCH_X86": {"remap_file_pages": 1}}
    assert str(programs["secret"]) not in files(t)
    assert "openat" not in t["syscalls"] or t["syscalls"]["openat"] < 50   # its own libc's
    assert rec["metadata"]["complete"] is True


def test_an_i386_open_makes_the_recording_incomplete(bpf_ready, programs, tmp_path):
    rec, t, truth = record(programs, tmp_path, programs["bs"], "open32", programs["secret"])
    assert truth == {"open": 1}
    assert t["compatSyscalls"] == {"SCMP_ARCH_X86": {"open": 1}}
    assert rec["metadata"]["complete"] is False
    assert any(r.startswith("32-bit file syscalls are not followed") and "open" in r
               for r in rec["metadata"]["incompleteReasons"])
    # generate says so
    gen = run_sandprint("generate", "seccomp", str(tmp_path / "rec.json"),
                        "-o", str(tmp_path / "p.json"))
    assert "incomplete recording" in gen.stderr and "32-bit file syscalls" in gen.stderr


def test_a_real_32bit_program_is_recorded_under_i386(bpf_ready, programs, tmp_path):
    need(programs["bs32"] is not None, "this gcc cannot build i386 code (gcc -m32)")
    rec, t, truth = record(programs, tmp_path, programs["bs32"])
    assert truth == {"getpid": 3}
    # the launcher's execve is the one x86_64 call; everything after it is the program's
    assert t["syscalls"] == {"execve": 1}
    assert t["compatSyscalls"] == {"SCMP_ARCH_X86": {"getpid": 3, "write": 1,
                                                     "exit_group": 1}}
    assert rec["metadata"]["complete"] is True
    # its execution, whose exit the kernel's per-syscall exit tracepoints skip (the task is
    # an i386 one by then)
    assert [e["path"] for e in t["execs"]] == [str(programs["bs32"])]
    assert "execute" in files(t).get(str(programs["bs32"]), [])
    replays_clean(tmp_path, programs["bs32"])      # under both arches, Landlock's execute


def test_leader_exits_first_and_the_worker_is_recorded(bpf_ready, programs, tmp_path):
    rec, t, truth = record(programs, tmp_path, programs["bs"], "leader-exit",
                           programs["secret"])
    assert truth == {"open": 1, "read": len("the secret\n"), "sysinfo": 1}
    assert t["syscalls"].get("sysinfo") == 1      # only the worker, after the leader left
    assert files(t).get(str(programs["secret"])) == ["read_file"]
    assert t["processes"] == 1
    assert rec["metadata"]["complete"] is True and rec["metadata"]["lostEvents"] == 0


def test_a_pid_whose_leader_exited_is_recorded_until_its_last_thread_ends(
        bpf_ready, programs, tmp_path):
    """``record --pid`` of a process whose leader already called pthread_exit (a zombie
    leader, a live worker): it is running, so it is recorded, and the recording ends when the
    worker ends the process."""
    go = tmp_path / "go"
    proc = subprocess.Popen([str(programs["bs"]), "leader-exit", str(programs["secret"]),
                             str(go)], stdout=subprocess.PIPE, text=True)
    out = tmp_path / "rec.json"
    recorder = None
    try:
        wait_zombie_leader(proc.pid)
        recorder = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "-o",
                                     str(out), "--pid", str(proc.pid)], env=sandprint_env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:     # it follows the process from here on
            line = recorder.stderr.readline()
            assert line, "the recorder ended before following the process"
            if "recording pid" in line:
                break
        go.touch()
        assert recorder.wait(60) == 0
        truth = did(proc.stdout.read())
    finally:
        go.touch()
        proc.wait(10)
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
    rec = json.loads(out.read_text())
    t = rec["targets"][0]
    assert truth["sysinfo"] == 1
    assert t["syscalls"].get("sysinfo") == 1
    assert files(t).get(str(programs["secret"])) == ["read_file"]
    assert rec["metadata"]["stopReason"] == "exited"


def test_a_worker_threads_exec_is_recorded_in_full(bpf_ready, programs, tmp_path):
    rec, t, truth = record(programs, tmp_path, programs["bs"], "thread-exec",
                           programs["secret"])
    assert truth == {"execve": 1}
    cat = shutil.which("cat")
    assert any(e["path"] == "/bin/cat" and e["argv"] == ["cat", str(programs["secret"])]
               for e in t["execs"]), t["execs"]
    # the new program's own syscalls and files: cat's fadvise64 (this workload makes none)
    assert t["syscalls"].get("fadvise64", 0) >= 1
    assert files(t).get(str(programs["secret"])) == ["read_file"]
    assert "execute" in files(t).get(str(Path(cat).resolve()), [])
    assert rec["metadata"]["complete"] is True and rec["metadata"]["lostEvents"] == 0
    replays_clean(tmp_path, programs["bs"], "thread-exec", programs["secret"])


# -- the profile's architectures: only those the workload used ---------------------------------

def test_profile_lists_i386_only_when_used_and_our_filter_answers_others_by_default(
        bpf_ready, programs, tmp_path):
    """int 0x80 getpid, recorded: the profile lists SCMP_ARCH_X86 beside x86_64 and the
    workload runs under it. Without that architecture, sandprint's filter answers the i386
    call with the default action (EPERM, the workload sees it and exits 1), not a kill; verify
    names the refusal as the i386 getpid, never as x86_64's number 20 (writev)."""
    rec, t, _ = record(programs, tmp_path, programs["bs"], "int80", 2)
    prof_path = tmp_path / "p.json"
    run_sandprint("generate", "seccomp", str(tmp_path / "rec.json"), "-o", str(prof_path),
                  check=True)
    prof = json.loads(prof_path.read_text())
    assert prof["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    ok = run_sandprint("exec", "--seccomp", str(prof_path), "--", str(programs["bs"]),
                       "int80", "2")
    assert ok.returncode == 0 and did(ok.stdout) == {"getpid": 2}, ok.stderr

    prof["architectures"] = ["SCMP_ARCH_X86_64"]
    native_only = tmp_path / "native.json"
    native_only.write_text(json.dumps(prof))
    refused = run_sandprint("exec", "--seccomp", str(native_only), "--", str(programs["bs"]),
                            "int80", "2")
    assert refused.returncode == 1, (refused.returncode, refused.stderr)   # not SIGSYS (159)
    report = tmp_path / "report.json"
    v = run_sandprint("verify", "--seccomp", str(native_only), "--report", str(report), "--",
                      str(programs["bs"]), "int80", "2")
    assert v.returncode == 1
    denials = json.loads(report.read_text())["denials"]
    assert [(d["name"], d.get("arch"), d["count"]) for d in denials
            if d["kind"] == "syscall"] == [("getpid", "SCMP_ARCH_X86", 1)], denials
    # --fix adds the architecture (and the name) it refused, and the workload runs again
    fixed = tmp_path / "fixed.json"
    fixed.write_text(native_only.read_text())
    f = run_sandprint("verify", "--fix", "--seccomp", str(fixed), "--",
                      str(programs["bs"]), "int80", "2")
    assert "+ architecture SCMP_ARCH_X86" in f.stdout + f.stderr, f.stdout + f.stderr
    assert json.loads(fixed.read_text())["architectures"] == ["SCMP_ARCH_X86_64",
                                                              "SCMP_ARCH_X86"]
    again = run_sandprint("exec", "--seccomp", str(fixed), "--", str(programs["bs"]),
                          "int80", "2")
    assert again.returncode == 0, again.stderr
    # complain mode says the same of the calls it lets through
    v = run_sandprint("verify", "--complain", "--seccomp", str(native_only), "--report",
                      str(report), "--", str(programs["bs"]), "int80", "2")
    denials = json.loads(report.read_text())["denials"]
    assert [(d["name"], d.get("arch"), d["count"]) for d in denials
            if d["kind"] == "syscall"] == [("getpid", "SCMP_ARCH_X86", 2)], denials


def test_x86_64_only_recording_gives_native_only_outputs(tmp_path):
    from helpers import BASIC, make_recording
    from sandprint.generators import seccomp

    rec = make_recording({"main": BASIC})
    for fmt, out in (("oci", "p.json"), ("spo", "p.yaml"), ("systemd", "p.conf")):
        seccomp.generate_file(rec, str(tmp_path / out), fmt=fmt)
    assert json.loads((tmp_path / "p.json").read_text())["architectures"] == \
        ["SCMP_ARCH_X86_64"]
    assert "architectures:\n    - SCMP_ARCH_X86_64\n" in (tmp_path / "p.yaml").read_text() \
        or "- SCMP_ARCH_X86_64" in (tmp_path / "p.yaml").read_text()
    assert "SCMP_ARCH_X86\n" not in (tmp_path / "p.yaml").read_text()
    assert "SystemCallArchitectures=native\n" in (tmp_path / "p.conf").read_text()

    rec.targets[0].add_compat_syscall("SCMP_ARCH_X86", "mmap2", 3)
    summary = seccomp.generate_file(rec, str(tmp_path / "c.json"))
    prof = json.loads((tmp_path / "c.json").read_text())
    assert prof["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert "mmap2" in prof["syscalls"][0]["names"]
    assert "applies to every listed architecture" in summary
    seccomp.generate_file(rec, str(tmp_path / "c.conf"), fmt="systemd")
    assert "SystemCallArchitectures=native x86\n" in (tmp_path / "c.conf").read_text()

    # merged profiles unite the architectures, diff shows them; recordings likewise
    from sandprint.recording import diff_recordings, merge
    from sandprint.seccomp.ops import diff_profiles
    from sandprint.seccomp.profile import load_profile

    assert "+ architecture SCMP_ARCH_X86" in diff_profiles(
        load_profile(str(tmp_path / "p.json")), load_profile(str(tmp_path / "c.json")))
    plain = make_recording({"main": BASIC})
    assert diff_recordings(plain, rec) == ["+ syscall mmap2 (SCMP_ARCH_X86)"]
    assert merge([plain, rec]).targets[0].compat_syscalls == {"SCMP_ARCH_X86": {"mmap2": 3}}


def test_a_process_whose_leader_exited_is_still_running(programs, tmp_path):
    """``--pid`` targets end when no followed process is running: a leader that called
    pthread_exit shows as a zombie while its worker runs on, and that process still runs."""
    from sandprint.profiler.targets import is_running

    go = tmp_path / "go"
    proc = subprocess.Popen([str(programs["bs"]), "leader-exit", str(programs["secret"]),
                             str(go)], stdout=subprocess.DEVNULL)
    try:
        wait_zombie_leader(proc.pid)               # the leader is gone, the worker is not
        assert len(os.listdir(f"/proc/{proc.pid}/task")) == 2
        assert is_running(proc.pid)
    finally:
        go.touch()
        assert proc.wait(10) == 0
    assert not is_running(proc.pid)


def test_the_i386_marker_offset_comes_from_btf_or_not_at_all(tmp_path):
    """thread_info.status in task_struct, from the running kernel's BTF; a file that is not
    BTF, or an architecture without the marker, gives no offset (then the recorder says it
    cannot tell 32-bit calls apart) rather than a guess."""

    from sandprint.profiler import bpf_loader, btf

    need(os.path.exists(btf.VMLINUX), "no kernel BTF")
    off = btf.compat_status_offset("SCMP_ARCH_X86_64")
    assert 0 <= off < 4096 and off % 4 == 0
    bad = tmp_path / "vmlinux"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(btf.BTFError):
        btf.compat_status_offset("SCMP_ARCH_X86_64", str(bad))
    with pytest.raises(btf.BTFError):
        btf.compat_status_offset("SCMP_ARCH_AARCH64")
    assert bpf_loader.compat_defines("SCMP_ARCH_X86_64") == {
        "COMPAT_STATUS_OFFSET": off, "TS_COMPAT": 2}


@pytest.mark.podman
def test_runc_kills_a_call_of_an_unlisted_architecture(programs, tmp_path, podman_ready):
    """What the README says of runc: an i386 call under a profile that lists x86_64 alone
    meets libseccomp's bad-architecture default, which kills (SIGSYS, exit 159), whatever the
    default action (here: allow everything); listed, the same program runs."""
    need(programs["bs32"] is not None, "this gcc cannot build i386 code (gcc -m32)")
    rootfs = tmp_path / "rootfs"
    for d in ("proc", "dev", "sys"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(programs["bs32"], rootfs / "bs32")
    results = {}
    for arches in (["SCMP_ARCH_X86_64"], ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]):
        profile = tmp_path / f"{len(arches)}.json"
        profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                       "architectures": arches, "syscalls": []}))
        results[len(arches)] = subprocess.run(
            ["podman", "--runtime", "runc", "run", "--rm", "--network", "none",
             "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
             "--security-opt", f"seccomp={profile}", "--rootfs", str(rootfs), "/bs32"],
            capture_output=True, text=True, timeout=120)
    assert results[1].returncode == 128 + 31, results[1]          # SIGSYS
    assert results[2].returncode == 0 and did(results[2].stdout) == {"getpid": 3}, results[2]


def test_without_group_dead_a_leader_exiting_first_marks_the_recording_incomplete(
        bpf_ready, programs, monkeypatch):
    """On a kernel whose sched_process_exit has no group_dead (simulated: the define is
    withheld), the programs take the leader's exit for the process's: the recorder says the
    workers' later work is missing instead of leaving the recording complete."""
    from sandprint.profiler import bpf_loader as L
    from sandprint.profiler.record import record_command

    real = L.bpf_cache.kernel_fact
    monkeypatch.setattr(L.bpf_cache, "kernel_fact",
                        lambda name, compute: {} if name == "exit_group_dead"
                        else real(name, compute))
    # the worker outlives the leader by 1.5 s: the exit event is read while it runs
    rec, _ = record_command([str(programs["bs"]), "leader-exit", str(programs["secret"]),
                             "1500"], log=lambda *a: None)
    assert rec.metadata["complete"] is False
    assert any("exited before its other threads" in r
               for r in rec.metadata["incompleteReasons"])
