"""Faults while recording: each ends in a clear message, the right exit status and either a
valid recording (marked incomplete where it is) or none, never a half-written one.

SIGTERM/SIGINT to sandprint and a nonexistent top-level command are in test_recorder.py.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import bpf_ids, children, is_root, need, owned_bpf_ids, run_sandprint, sandprint_env

from sandprint.recording import Recording

pytestmark = pytest.mark.kernel


def record(out, *command, env=None, **kw):
    """``sandprint record -o OUT -- COMMAND``; the completed process."""
    return subprocess.run([sys.executable, "-m", "sandprint", "record", "-o", str(out),
                           *kw.pop("opts", ()), "--", *command],
                          env={**sandprint_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=120)


def valid(path) -> dict:
    """The recording at ``path``, after the same validation `generate` applies."""
    Recording.load(str(path))
    return json.loads(Path(path).read_text())["metadata"]


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


# -- the target ends by itself ---------------------------------------------------------

@pytest.mark.parametrize("command,status", [
    (["true"], 0),
    (["sh", "-c", "exit 3"], 3),
    (["sh", "-c", "exec /nonexistent/x"], 127),     # the shell's own "not found" status
])
def test_command_status_is_sandprints_status(bpf_ready, tmp_path, command, status):
    out = tmp_path / "r.json"
    proc = record(out, *command)
    assert proc.returncode == status, proc.stderr
    no_traceback(proc)
    meta = valid(out)
    assert meta["exitStatus"] == status and meta["stopReason"] == "exited"
    assert meta["complete"] is True and "exitSignal" not in meta
    assert "incomplete" not in proc.stderr
    if status == 127:   # the failed execve is not an execution
        execs = [e["path"] for e in json.loads(out.read_text())["targets"][0]["execs"]]
        assert not any("nonexistent" in p for p in execs), execs


def test_killed_by_a_signal_exits_like_a_shell(bpf_ready, tmp_path):
    out = tmp_path / "r.json"
    proc = record(out, "sh", "-c", "kill -KILL $$")
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr
    assert "killed by SIGKILL" in proc.stderr
    meta = valid(out)
    assert meta["exitSignal"] == "SIGKILL" and meta["exitStatus"] == 137
    # it ran to its end: what it did is all there
    assert meta["complete"] is True
    assert "kill" in json.loads(out.read_text())["targets"][0]["syscalls"]


# -- the target outlives the session ----------------------------------------------------

DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)    # like a daemon: let go of the terminal
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        with open(sys.argv[1], "w") as f:
            f.write(str(os.getpid()))
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.05)
        os._exit(0)
    os._exit(0)
os.wait()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
"""


def test_daemon_that_escapes_is_named_left_running_and_marks_incomplete(bpf_ready, tmp_path):
    out, pidfile, stop = tmp_path / "r.json", tmp_path / "daemon.pid", tmp_path / "stop"
    try:
        proc = record(out, sys.executable, "-c", DAEMON, str(pidfile), str(stop))
        daemon = int(pidfile.read_text())
        assert proc.returncode == 0, proc.stderr
        no_traceback(proc)
        # sandprint did not kill the user's daemon
        comm = Path(f"/proc/{daemon}/comm").read_text().strip()
        meta = valid(out)
        assert meta["stopReason"] == "exited" and meta["exitStatus"] == 0
        assert meta["complete"] is False
        assert {"pid": daemon, "comm": comm} in meta["survivingProcesses"]
        assert any(f"{daemon} ({comm})" in r for r in meta["incompleteReasons"])
        assert f"{daemon} ({comm})" in proc.stderr and "left them running" in proc.stderr
        # followed across the double fork until the session ended
        assert "setsid" in json.loads(out.read_text())["targets"][0]["syscalls"]
    finally:
        stop.touch()
        if pidfile.exists():
            kill_pid(int(pidfile.read_text()))


def test_duration_terminates_then_kills_a_command_that_ignores_sigterm(bpf_ready, tmp_path):
    out = tmp_path / "r.json"
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "time.sleep(60)")
    t0 = time.monotonic()
    proc = record(out, sys.executable, "-c", script, opts=("--duration", "1"))
    assert time.monotonic() - t0 < 40
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr
    assert "--duration 1s is up; terminating" in proc.stderr
    assert "killed it with SIGKILL" in proc.stderr
    meta = valid(out)
    assert meta["stopReason"] == "duration" and meta["exitSignal"] == "SIGKILL"
    assert meta["complete"] is False
    assert meta["incompleteReasons"] == ["stopped by --duration after 1s; the command was "
                                         "still running"]
    assert "incomplete recording: stopped by --duration" in proc.stderr
    # generate takes it, and says what it is
    gen = run_sandprint("generate", "seccomp", str(out), "-o", str(tmp_path / "p.json"),
                        "--add-syscall", "exit_group")
    assert gen.returncode == 0, gen.stderr
    assert "is an incomplete recording (stopped by --duration" in gen.stderr


# -- record --pid of a process that is already gone -------------------------------------

def test_pid_that_exits_before_it_is_followed_records_nothing(bpf_ready, monkeypatch):
    """The process exits while the programs load: one line, exit 1, no file, no hang."""
    from sandprint.errors import SandprintError
    from sandprint.profiler import record as R

    victim = subprocess.Popen(["sleep", "30"])

    class KillsFirst(R.Recorder):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            victim.kill()
            # dead, and a zombie (not reaped) so its pid cannot be reused meanwhile
            os.waitid(os.P_PID, victim.pid, os.WEXITED | os.WNOWAIT)

    def hung(signum, frame):
        raise AssertionError("record_pid waited for a process that had already exited")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    monkeypatch.setattr(R, "Recorder", KillsFirst)
    try:
        with pytest.raises(SandprintError, match="exited before the recorder could follow"):
            R.record_pid(victim.pid, log=lambda m: None)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        victim.kill()
        victim.wait()


def test_pid_of_a_zombie_is_refused(tmp_path):
    zombie = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{zombie.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        out = tmp_path / "r.json"
        proc = run_sandprint("record", "-o", str(out), "--pid", str(zombie.pid))
        assert proc.returncode == 2 and "already exited (a zombie)" in proc.stderr
        assert not out.exists()
    finally:
        zombie.wait()


# -- sandprint itself is SIGKILLed ----------------------------------------------------------

def test_sigkill_mid_recording_leaves_nothing_and_the_next_run_works(bpf_ready, tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "r.json"
    before = bpf_ids("prog")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandprint", "record", "-o", str(out), "--", "sh", "-c",
         "while :; do cat /etc/hostname > /dev/null; sleep 0.05; done"],
        env=sandprint_env(), stderr=subprocess.DEVNULL)
    workload = []
    try:
        progs = maps = set()
        deadline = time.monotonic() + 60
        while not (progs and children(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
            progs, maps = owned_bpf_ids(proc.pid)
        workload = children(proc.pid)
        assert progs and maps and workload, "the recorder never started"
        time.sleep(0.5)                     # recording, with events flowing
        assert progs <= bpf_ids("prog") - before
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10    # the kernel frees them asynchronously
        while (progs & bpf_ids("prog") or maps & bpf_ids("map")) and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert not progs & bpf_ids("prog"), "BPF programs left loaded"
        assert not maps & bpf_ids("map"), "BPF maps left behind"
        assert list(outdir.iterdir()) == [], "a file was left in the output directory"
    finally:
        proc.kill()
        proc.wait()
        for pid in workload:
            kill_pid(pid)
    again = record(out, "true")
    assert again.returncode == 0, again.stderr
    assert valid(out)["complete"] is True
    assert [p.name for p in outdir.iterdir()] == ["r.json"]


# -- the output directory is read-only or full -------------------------------------------

@pytest.fixture
def mounts():
    """``mount(target, *mount_args)``: mounts and unmounts at the end of the test."""
    need(is_root(), "needs root to mount")
    done = []

    def mount(target: Path, *args: str) -> Path:
        target.mkdir(exist_ok=True)
        subprocess.run(["mount", *args, str(target)], check=True)
        done.append(target)
        return target

    try:
        yield mount
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], check=False)


def readonly_tmpfs(mount, tmp_path):
    return mount(tmp_path / "ro", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs")


def readonly_bind(mount, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    target = mount(tmp_path / "ro", "--bind", str(src))
    subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
    return target


def filled_tmpfs(mount, tmp_path, free: int) -> Path:
    """A 16 KiB tmpfs with ``free`` bytes (whole pages) left."""
    target = mount(tmp_path / "full", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs")
    with open(target / "fill", "wb") as f:
        try:
            f.write(b"x" * (16384 - free))
            f.flush()
        except OSError:
            pass
    return target


def full_tmpfs(mount, tmp_path):
    return filled_tmpfs(mount, tmp_path, free=0)


@pytest.mark.parametrize("make,error", [(readonly_tmpfs, "Read-only file system"),
                                        (readonly_bind, "Read-only file system"),
                                        (full_tmpfs, "No space left on device")])
def test_unwritable_output_directory_is_refused_before_starting(mounts, tmp_path, make, error):
    directory = make(mounts, tmp_path)
    before = sorted(p.name for p in directory.iterdir())
    marker = tmp_path / "ran"
    out = directory / "r.json"
    proc = record(out, "touch", str(marker))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"sandprint: error: {out}: cannot write output: {error}"
    assert not marker.exists(), "the command ran although the output could not be written"
    assert sorted(p.name for p in directory.iterdir()) == before


def test_output_that_fills_up_goes_to_a_fallback_file(bpf_ready, mounts, tmp_path):
    """Room for the probe, not for the recording: it lands in $TMPDIR, and that is said."""
    directory = filled_tmpfs(mounts, tmp_path, free=4096)
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    out = directory / "r.json"
    marker = tmp_path / "ran"
    # a Python start-up records well over 4 KiB of syscalls and files
    proc = record(out, sys.executable, "-c", f"open({str(marker)!r}, 'w')",
                  env={"TMPDIR": str(fallback)})
    assert marker.exists()
    assert proc.returncode == 1, proc.stderr
    no_traceback(proc)
    saved = list(fallback.iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("sandprint-r-")
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"sandprint: error: {out}: cannot write output: No space left on device; "
                    f"the recording was saved to {saved[0]} instead")
    assert valid(saved[0])["exitStatus"] == 0
    assert saved[0].stat().st_mode & 0o777 == 0o600     # /tmp: not for other users' eyes
    assert [p.name for p in directory.iterdir()] == ["fill"], "partial file left behind"
