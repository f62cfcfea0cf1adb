"""Recording sessions: run the recorder over one target until it ends, then write the result.

A session stops when the target exits, when ``--duration`` runs out, or on SIGINT/SIGTERM;
in every case the recording is written (atomically). The BPF programs are detached on the way
out whatever happens (and the kernel would drop them anyway if sandprint were SIGKILLed:
nothing is pinned).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable

from ..errors import InputError
from .recorder import Recorder
from .recording import Recording
from .targets import LaunchedCommand, check_pid, descendants, resolve_command

Log = Callable[[str], None]


class StopSignals:
    """Turns SIGINT/SIGTERM into a flag for the session loop, restoring handlers after."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        self.signum = signum

    def __enter__(self) -> "StopSignals":
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def check_output_path(output: str) -> None:
    """Fail before recording, not after, when the output cannot be written."""
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise InputError("output directory does not exist", source=output)
    if not os.access(directory, os.W_OK):
        raise InputError("output directory is not writable", source=output)
    if os.path.isdir(output):
        raise InputError("output is a directory", source=output, expected="a file path")


def run_command(argv: list[str], recorder: Recorder, *, duration: float | None = None,
                prepare: Callable[[], None] | None = None, log: Log = print
                ) -> tuple[LaunchedCommand, str]:
    """Launch ``argv`` under ``recorder`` as target 0 and wait for it to end.

    Returns the launched command (with its status) and why the session stopped.
    """
    target = recorder.add_target("main")
    cmd = LaunchedCommand(argv, prepare=prepare)
    reason = "exited"
    with StopSignals() as stop:
        try:
            recorder.track(cmd.pid, target, pending_exec=True)
        except BaseException:
            cmd.abort()
            raise
        cmd.release()
        deadline = None if duration is None else time.monotonic() + duration
        while cmd.poll() is None:
            recorder.poll(50)
            if stop.signum is not None:
                reason = f"signal {signal.Signals(stop.signum).name}"
                break
            if deadline is not None and time.monotonic() >= deadline:
                reason = "duration"
                break
        if cmd.poll() is None:
            log(f"sandprint: stopping ({reason}); terminating {os.path.basename(cmd.path)}")
            cmd.terminate()
        recorder.drain()
    return cmd, reason


def record_command(argv: list[str], *, duration: float | None = None, log: Log = print
                   ) -> tuple[Recording, int]:
    """Record a command sandprint launches; returns the recording and the command's status."""
    path = resolve_command(argv)
    meta = {"type": "command", "command": list(argv), "executable": path}
    with Recorder(target_meta=meta) as recorder:
        cmd, reason = run_command(argv, recorder, duration=duration, log=log)
        survivors = recorder.tracked_count()
        extra = {"stopReason": reason, "exitStatus": cmd.exit_code}
        if survivors:
            extra["survivingProcesses"] = survivors
            log(f"sandprint: {survivors} process(es) of the command were still running when "
                "it ended; they were not recorded after that")
        rec = recorder.finish(**extra)
    return rec, cmd.exit_code if cmd.exit_code is not None else 1


def record_pid(pid: int, *, duration: float | None = None, log: Log = print) -> Recording:
    """Record an existing process and its descendants until they all exit (or stop)."""
    check_pid(pid)
    meta = {"type": "pid", "pid": pid}
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            meta["command"] = [a.decode("utf-8", "surrogateescape")
                               for a in f.read().split(b"\0") if a]
    except OSError:
        pass
    own = os.getpid()
    with Recorder(target_meta=meta) as recorder:
        target = recorder.add_target("main")
        recorder.track(pid, target)
        # Children made before the fork hook saw them: scan until nothing new turns up.
        seen = {pid}
        while True:
            new = [p for p in descendants(pid) if p not in seen and p != own]
            if not new:
                break
            for p in new:
                seen.add(p)
                recorder.track(p, target)
        reason = "exited"
        with StopSignals() as stop:
            deadline = None if duration is None else time.monotonic() + duration
            last_check = 0.0
            while True:
                recorder.poll(50)
                if stop.signum is not None:
                    reason = f"signal {signal.Signals(stop.signum).name}"
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    reason = "duration"
                    break
                if now - last_check > 0.2:
                    last_check = now
                    recorder.forget_gone()
                    if recorder.tracked_count() == 0:
                        break
        return recorder.finish(stopReason=reason, exitStatus=None)


def record_cli(*, output: str, duration: float | None, command: list[str] | None,
               pid: int | None, container: str | None, pod: str | None,
               container_name: str | None, wait_timeout: float, log: Log) -> int:
    """``sandprint record``: returns the process exit status."""
    check_output_path(output)
    if command:
        rec, status = record_command(command, duration=duration, log=log)
    elif pid:
        rec, status = record_pid(pid, duration=duration, log=log), 0
    elif container:
        from .container_record import record_container
        rec, status = record_container(container, duration=duration, wait_timeout=wait_timeout,
                                       log=log), 0
    else:
        from ..k8s.pods import record_pod
        rec, status = record_pod(pod, container_name=container_name, duration=duration,
                                 wait_timeout=wait_timeout, log=log), 0
    rec.save(output)
    summarise(rec, output, log)
    return status


def summarise(rec: Recording, output: str, log: Log) -> None:
    meta = rec.metadata
    for t in rec.targets:
        log(f"sandprint: recorded {len(t.syscalls)} distinct syscalls "
            f"({sum(t.syscalls.values())} calls), {t.processes} process(es), "
            f"{len(t.execs)} exec(s) -> {output}")
    if rec.lost_events:
        log(f"sandprint: WARNING: {rec.lost_events} events were lost; this recording is "
            "incomplete and `generate` will refuse it without --allow-lossy")
    if meta.get("stopReason") not in (None, "exited"):
        log(f"sandprint: stopped early ({meta['stopReason']}): the recording covers only "
            "what ran until then")
