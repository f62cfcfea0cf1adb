"""The eBPF recorder against the real kernel: what it sees, what it leaves out, how it stops."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO, bpf_ids, children, need, owned_bpf_ids, run_sandprint, sandprint_env

pytestmark = pytest.mark.kernel

EXAMPLES = REPO / "examples" / "workloads"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def strace_syscalls(argv):
    """The syscalls strace sees for a command (strace -f -c), as a set of names."""
    need(shutil.which("strace") is not None, "strace not installed")
    out = subprocess.run(["strace", "-f", "-qq", "-c", "-o", "/dev/stdout", *argv],
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if parts and re.match(r"^[0-9.]+$", parts[0]) and parts[-1] != "total":
            names.add(parts[-1])
    return names


def load(path):
    return json.loads(Path(path).read_text())


def test_launcher_syscalls_are_not_recorded(bpf_ready, tmp_path):
    """A static busybox `true` makes a dozen syscalls; the recording has exactly those."""
    need(os.path.exists(BUSYBOX), "busybox-static not installed")
    out = tmp_path / "true.json"
    run_sandprint("record", "-o", str(out), "--", BUSYBOX, "true", check=True)
    rec = load(out)
    got = set(rec["targets"][0]["syscalls"])
    expected = strace_syscalls([BUSYBOX, "true"]) | {"exit_group"}   # strace -c omits it
    assert got == expected
    # nothing the Python launcher does between fork and exec
    assert not got & {"read", "close", "pipe2", "wait4", "clone", "rt_sigaction", "seccomp"}
    assert rec["targets"][0]["syscalls"]["execve"] == 1
    assert rec["metadata"]["lostEvents"] == 0
    assert rec["metadata"]["exitStatus"] == 0


def test_follows_forks_and_threads(bpf_ready, tmp_path):
    out = tmp_path / "fork.json"
    proc = run_sandprint("record", "-o", str(out), "--", sys.executable,
                         str(EXAMPLES / "forker.py"), "3", check=True)
    assert "3 children, 0 failed" in proc.stdout
    rec = load(out)
    t = rec["targets"][0]
    # the children's own work (threads, their exit) is there
    assert t["processes"] >= 4
    assert {"clone3", "wait4", "futex"} <= set(t["syscalls"]) or \
        {"clone", "wait4", "futex"} <= set(t["syscalls"])
    assert t["syscalls"]["exit_group"] >= 4
    # 3 forks and 3 threads in each of the 3 children, all made by tracked tasks
    assert t["syscalls"].get("clone", 0) + t["syscalls"].get("clone3", 0) >= 12
    assert t["syscalls"].get("exit", 0) >= 1


def test_bpf_pids_match_proc(bpf_ready, tmp_path):
    """PIDs the BPF programs report are the ones /proc shows for the workload."""
    from sandprint.profiler.record import run_command
    from sandprint.profiler.recorder import Recorder

    outfile = tmp_path / "pids.txt"
    script = ("import os, sys; kids = []\n"
              "def say(*a):\n"
              "    with open(sys.argv[1], 'a') as f: print(*a, file=f)\n"
              "for _ in range(2):\n"
              "    pid = os.fork()\n"
              "    if pid == 0:\n"
              "        say(os.getpid(), os.getppid()); os._exit(0)\n"
              "    kids.append(pid)\n"
              "[os.waitpid(k, 0) for k in kids]\n"
              "say(os.getpid(), open('/proc/self/stat').read().split()[0])\n")
    with Recorder() as r:
        cmd, reason = run_command([sys.executable, "-c", script, str(outfile)], r,
                                  log=lambda m: None)
        rec = r.finish()
        seen = r.pids[0]
    lines = [l.split() for l in outfile.read_text().splitlines()]
    child_pids = {int(l[0]) for l in lines[:2]}
    main_pid, proc_pid = int(lines[2][0]), int(lines[2][1])
    assert main_pid == cmd.pid == proc_pid
    assert {int(l[1]) for l in lines[:2]} == {cmd.pid}     # children's parent is the command
    assert seen == {cmd.pid} | child_pids
    assert rec.targets[0].processes == 3


def test_pid_target_records_descendants_and_stops_when_they_exit(bpf_ready, tmp_path):
    marker = tmp_path / "go"
    script = f"while [ ! -e {marker} ]; do sleep 0.05; done; {BUSYBOX} uname -a >/dev/null"
    proc = subprocess.Popen(["sh", "-c", script])
    out = tmp_path / "pid.json"
    rec_proc = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "-o", str(out),
                                 "--pid", str(proc.pid)], env=sandprint_env(),
                                stderr=subprocess.PIPE, text=True)
    started = rec_proc.stderr.readline()   # once bcc has compiled and the pid is followed
    assert started.startswith(f"sandprint: recording pid {proc.pid} (sh)"), started
    marker.touch()
    proc.wait(timeout=30)
    rec_proc.wait(timeout=30)
    assert rec_proc.returncode == 0, rec_proc.stderr.read()
    rec = load(out)
    assert rec["metadata"]["target"] == {"type": "pid", "pid": proc.pid,
                                         "command": ["sh", "-c", script]}
    assert rec["metadata"]["stopReason"] == "exited"
    paths = [e["path"] for e in rec["targets"][0]["execs"]]
    assert any(p.endswith("busybox") for p in paths), paths
    assert "uname" in rec["targets"][0]["syscalls"]


def test_duration_stops_and_terminates_the_command(bpf_ready, tmp_path):
    out = tmp_path / "d.json"
    t0 = time.monotonic()
    proc = run_sandprint("record", "-o", str(out), "--duration", "1", "--", "sleep", "30")
    assert time.monotonic() - t0 < 25
    rec = load(out)
    assert rec["metadata"]["stopReason"] == "duration"
    assert proc.returncode == 128 + signal.SIGTERM
    assert rec["metadata"]["exitStatus"] == 128 + signal.SIGTERM


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_recording_and_unloads_programs(bpf_ready, tmp_path, sig):
    out = tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, "-m", "sandprint", "record", "-o", str(out), "--",
                             "sh", "-c", "while :; do sleep 0.1; done"],
                            env=sandprint_env(), stderr=subprocess.PIPE, text=True)
    ids = set()
    deadline = time.monotonic() + 60
    while not ids and time.monotonic() < deadline:
        time.sleep(0.2)
        ids = own_prog_ids(proc.pid)
    assert ids, "recorder never loaded its programs"
    assert ids <= bpf_ids("prog")
    # signal once the command runs: the first program loads well before the last attaches
    # (about 45 exit tracepoints, slow on a busy host), and a signal then ends sandprint
    # before any command was started, so no recording is due
    while not children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children(proc.pid), "the recorded command never started"
    time.sleep(0.5)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    rec = load(out)
    assert rec["kind"] == "Recording"
    assert rec["metadata"]["stopReason"] == f"signal {sig.name}"
    assert "nanosleep" in rec["targets"][0]["syscalls"] or \
        "clock_nanosleep" in rec["targets"][0]["syscalls"]
    deadline = time.monotonic() + 10    # the kernel frees raw-tracepoint links after RCU
    while ids & bpf_ids("prog") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ids & bpf_ids("prog"), "BPF programs left loaded"


@pytest.mark.parametrize("args,needle", [
    (["--", "/nonexistent/cmd"], "command not found"),
    (["--", "no-such-command-xyz"], "not found on PATH"),
    (["--pid", "999999999"], "no such process"),
])
def test_bad_targets_exit_2(tmp_path, args, needle):
    out = tmp_path / "x.json"
    proc = run_sandprint("record", "-o", str(out), *args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_unwritable_output_is_refused_before_recording(tmp_path):
    proc = run_sandprint("record", "-o", str(tmp_path / "missing" / "x.json"), "--", "true")
    assert proc.returncode == 2
    assert "output directory does not exist" in proc.stderr


def own_prog_ids(pid):
    return owned_bpf_ids(pid)[0]


def own_prog_names(pid):
    ids = own_prog_ids(pid)
    shown = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    return {p["name"] for p in shown if p["id"] in ids}


def test_file_results_come_from_per_syscall_exit_tracepoints(bpf_ready, tmp_path):
    """No BPF program runs at the exit of every syscall on the host: the file stream's
    results come from the file syscalls' own exit tracepoints (exits.bpf.c)."""
    from sandprint.profiler import fs_events as FE
    from sandprint.syscalls import native_arch
    need(FE.exit_defines(native_arch()) != {}, "tracefs has no per-syscall exit tracepoints")
    marker = tmp_path / "go"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandprint", "record", "-o", str(tmp_path / "r.json"), "--",
         "sh", "-c", f"while [ ! -e {marker} ]; do sleep 0.05; done"],
        env=sandprint_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not own_prog_ids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    names = own_prog_names(proc.pid)
    marker.touch()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert "fs_sys_exit" in names and "sys_exit" not in names, names


def test_syscalls_only_records_no_files_and_loads_no_exit_program(bpf_ready, tmp_path):
    """--syscalls-only: enough for seccomp, refused for Landlock, and only the sys_enter
    program (plus the process-tree ones) runs for every process on the host."""
    marker = tmp_path / "go"
    out = tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandprint", "record", "--syscalls-only", "-o", str(out), "--",
         "sh", "-c", f"while [ ! -e {marker} ]; do sleep 0.05; done; cat /etc/hostname"],
        env=sandprint_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not own_prog_ids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    names = own_prog_names(proc.pid)
    marker.touch()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert "sys_enter" in names and not {"sys_exit", "fs_sys_exit"} & names, names
    rec = load(out)
    assert rec["metadata"]["filesRecorded"] is False
    t = rec["targets"][0]
    assert "openat" in t["syscalls"] and not t.get("files")
    gen = run_sandprint("generate", "landlock", str(out), "-o", str(tmp_path / "l.json"))
    assert gen.returncode == 2 and "--syscalls-only" in gen.stderr
    assert not (tmp_path / "l.json").exists()
    assert run_sandprint("generate", "seccomp", str(out), "-o",
                         str(tmp_path / "p.json")).returncode == 0
