"""Recording sessions: run the recorder over one target until it ends, then write the result.

A session stops when the target exits, when ``--duration`` runs out, or on SIGINT/SIGTERM;
in every case the recording is written (atomically). The BPF programs are detached on the way
out whatever happens (and the kernel would drop them anyway if sandprint were SIGKILLed:
nothing is pinned).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from typing import Callable

from ..errors import OutputError, SandprintError, one_line
from ..fileio import check_writable as check_output_path, json_text, write_new_file
from .recorder import Recorder
from ..recording import Recording
from .targets import (LaunchedCommand, check_pid, descendants, is_running,
                      process_comm, resolve_command, signal_name)

Log = Callable[[str], None]


class RecordingNotSaved(SandprintError):
    """The recording could not be written where asked (exit status 1)."""


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


def run_command(argv: list[str], recorder: Recorder, *, duration: float | None = None,
                prepare: Callable[[], None] | None = None, log: Log = print
                ) -> tuple[LaunchedCommand, str]:
    """Launch ``argv`` under ``recorder`` as target 0 and wait for it to end.

    Returns the launched command (with its status) and why the session stopped. When the
    session stops first (``--duration``, SIGINT/SIGTERM), the command, and only it, is
    terminated (SIGTERM, SIGKILL 2 s later), and that is said.
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
                reason = f"signal {signal_name(stop.signum)}"
                break
            if deadline is not None and time.monotonic() >= deadline:
                reason = "duration"
                break
        if cmd.poll() is None:
            why = f"--duration {duration:g}s is up" if reason == "duration" else \
                f"received {signal_name(stop.signum)}"
            log(f"sandprint: {why}; terminating {os.path.basename(cmd.path)} (pid {cmd.pid}) "
                "with SIGTERM")
            cmd.terminate()
            if cmd.exit_signal == "SIGKILL":
                log(f"sandprint: {os.path.basename(cmd.path)} did not exit within 2 s of "
                    "SIGTERM; killed it with SIGKILL")
        recorder.drain()
    return cmd, reason


def surviving_processes(recorder: Recorder, target: int = 0) -> list[dict[str, object]]:
    """The target's processes still running (a daemon that escaped its parent, say), as
    ``{"pid", "comm"}`` sorted by pid."""
    out = []
    for pid in sorted(recorder.running_processes(target)):
        comm = process_comm(pid)
        if comm is not None:
            out.append({"pid": pid, "comm": comm})
    return out


def _names(procs: list[dict[str, object]], limit: int = 10) -> str:
    text = ", ".join(f"{p['pid']} ({one_line(str(p['comm']))})" for p in procs[:limit])
    return text + (f" and {len(procs) - limit} more" if len(procs) > limit else "")


def note_stop(rec: Recording, duration: float | None, what: str = "the target") -> None:
    """Mark the recording incomplete when the session stopped before the target ended."""
    reason = rec.metadata.get("stopReason")
    if reason == "duration":
        rec.mark_incomplete(f"stopped by --duration after {duration:g}s; {what} was still "
                            "running")
    elif isinstance(reason, str) and reason.startswith("signal "):
        rec.mark_incomplete(f"sandprint received {reason[7:]} and stopped; {what} was still "
                            "running")


def record_command(argv: list[str], *, duration: float | None = None, log: Log = print,
                   files: bool = True
                   ) -> tuple[Recording, int]:
    """Record a command sandprint launches; returns the recording and the command's status
    (128+N when signal N killed it, as a shell reports it).

    The session ends when the command exits. Its processes still running then (a daemon
    that double-forked away, a background job) are left running, named in
    ``metadata.survivingProcesses`` and the recording is marked incomplete."""
    path = resolve_command(argv)
    meta = {"type": "command", "command": list(argv), "executable": path}
    with Recorder(target_meta=meta, files=files) as recorder:
        cmd, reason = run_command(argv, recorder, duration=duration, log=log)
        survivors = surviving_processes(recorder)
        extra: dict[str, object] = {"stopReason": reason, "exitStatus": cmd.exit_code}
        if cmd.exit_signal:
            extra["exitSignal"] = cmd.exit_signal
            if reason == "exited":
                log(f"sandprint: {os.path.basename(path)} was killed by {cmd.exit_signal}")
        if survivors:
            extra["survivingProcesses"] = survivors
        rec = recorder.finish(**extra)
    note_stop(rec, duration, "the command")
    if survivors:
        rec.mark_incomplete(f"the command ended while {len(survivors)} of its process(es) "
                            f"kept running: {_names(survivors)}; sandprint left them running "
                            "and did not record them after that")
    return rec, cmd.exit_code if cmd.exit_code is not None else 1


def record_pid(pid: int, *, duration: float | None = None, log: Log = print,
               files: bool = True) -> Recording:
    """Record an existing process and its descendants until they all exit (or stop).

    A process that exits before the recorder has it is an error (exit 1, no recording):
    there would be nothing in it."""
    check_pid(pid)
    meta = {"type": "pid", "pid": pid}
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            meta["command"] = [a.decode("utf-8", "surrogateescape")
                               for a in f.read().split(b"\0") if a]
    except OSError:
        pass
    own = os.getpid()
    with Recorder(target_meta=meta, files=files) as recorder:
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
        # The exit hook runs before a process turns zombie: a tracked process that exited
        # has its exit event in the ring buffer by now. Tracked after its exit, it never will.
        recorder.drain()
        if not is_running(pid) and pid not in recorder.exited[target]:
            raise SandprintError(f"--pid {pid}: the process exited before the recorder could "
                                 "follow it; nothing was recorded")
        log(f"sandprint: recording pid {pid} ({one_line(process_comm(pid) or '?')}) and "
            f"{len(seen) - 1} descendant(s) until they exit")
        reason = "exited"
        with StopSignals() as stop:
            deadline = None if duration is None else time.monotonic() + duration
            last_check = 0.0
            while True:
                recorder.poll(50)
                if stop.signum is not None:
                    reason = f"signal {signal_name(stop.signum)}"
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    reason = "duration"
                    break
                if now - last_check > 0.2:
                    last_check = now
                    if recorder.tracked_count() == 0:   # also forgets tasks gone unseen
                        break
        rec = recorder.finish(stopReason=reason, exitStatus=None)
    note_stop(rec, duration, "the process")
    return rec


def save_recording(rec: Recording, output: str) -> tuple[str | None, OutputError | None]:
    """Write the recording to ``output``; when that fails (disk full, file system turned
    read-only), to a new file in the temporary directory ($TMPDIR, then /var/tmp) instead,
    so a long recording is not lost. Returns (where it was written or None, the error)."""
    with StopSignals():   # an interrupt now would only lose what was recorded
        try:
            rec.save(output)
            return output, None
        except OutputError as e:
            error = e
        data = json_text(rec.to_json())
        stem = os.path.splitext(os.path.basename(output))[0] or "recording"
        here = os.path.dirname(os.path.abspath(output))
        for directory in dict.fromkeys([tempfile.gettempdir(), "/var/tmp"]):
            if os.path.abspath(directory) == here or not os.path.isdir(directory):
                continue
            try:
                return write_new_file(directory, f"sandprint-{stem}-", ".json", data), error
            except OutputError:
                continue
    return None, error


def record_cli(*, output: str, duration: float | None, command: list[str] | None,
               pid: int | None, container: str | None, pod: str | None,
               container_name: str | None, wait_timeout: float, log: Log,
               files: bool = True) -> int:
    """``sandprint record``: returns the process exit status."""
    check_output_path(output)
    if command:
        rec, status = record_command(command, duration=duration, log=log, files=files)
    elif pid:
        rec, status = record_pid(pid, duration=duration, log=log, files=files), 0
    elif container:
        from .container_record import record_container
        rec, status = record_container(container, duration=duration, wait_timeout=wait_timeout,
                                       log=log, files=files), 0
        note_stop(rec, duration, "the container")
    else:
        from .pod_record import record_pod
        rec, status = record_pod(pod, container_name=container_name, duration=duration,
                                 wait_timeout=wait_timeout, log=log, files=files), 0
        note_stop(rec, duration, "the pod")
    written, error = save_recording(rec, output)
    summarise(rec, written or output, log)
    if error is not None:
        where = f"the recording was saved to {written} instead" if written else \
            "no fallback location was writable either: the recording is lost"
        raise RecordingNotSaved(f"{error}; {where}")
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
    for reason in meta.get("incompleteReasons") or []:
        log(f"sandprint: incomplete recording: {one_line(reason)}")
