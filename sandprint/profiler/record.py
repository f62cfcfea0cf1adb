"""Recording a command sandprint launches or a running process tree, and ``sandprint record``.

Both run the one session loop of :mod:`.session` (which also stops on ``--duration`` and
SIGINT/SIGTERM, and saves the recording); containers and pods are the targets of
``container_record.py`` and ``pod_record.py``.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from ..errors import SandprintError, one_line
from ..fileio import check_writable as check_output_path
from ..recording import Recording
from .recorder import Recorder
from .session import RecordingNotSaved, Session, note_stop, save_recording
from .targets import (LaunchedCommand, check_pid, descendants, is_running,
                      process_comm, resolve_command, signal_name)

Log = Callable[[str], None]


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
    with Session(recorder, duration) as session:
        try:
            recorder.track(cmd.pid, target, pending_exec=True)
        except BaseException:
            cmd.abort()
            raise
        cmd.release()
        reason = session.run(lambda: "exited" if cmd.poll() is not None else None,
                             step_first=True)
        if cmd.poll() is None:
            why = f"--duration {duration:g}s is up" if reason == "duration" else \
                f"received {signal_name(session.signum)}"
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
        last_check = [0.0]

        def ended() -> str | None:
            now = time.monotonic()
            if now - last_check[0] > 0.2:
                last_check[0] = now
                if recorder.tracked_count() == 0:   # also forgets tasks gone unseen
                    return "exited"
            return None

        with Session(recorder, duration) as session:
            reason = session.run(ended)
        rec = recorder.finish(stopReason=reason, exitStatus=None)
    note_stop(rec, duration, "the process")
    return rec


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
