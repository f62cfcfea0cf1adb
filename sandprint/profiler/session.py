"""The recording session every target shares: one loop, its stop conditions, and saving.

A session polls the recorder until the target has ended (each target says when, through the
``step`` it gives :meth:`Session.run`), ``--duration`` runs out, or SIGINT/SIGTERM arrives;
in every case the recording is written (atomically, see :func:`save_recording`). The BPF
programs are detached on the way out whatever happens (and the kernel would drop them anyway if
sandprint were SIGKILLed: nothing is pinned).

The targets: a command sandprint launches and a running process tree (``record.py``), a podman
container (``container_record.py``) and a Kubernetes pod (``pod_record.py``).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from typing import Callable

from ..errors import OutputError, SandprintError
from ..fileio import json_text, write_new_file
from ..recording import Recording
from .recorder import Recorder
from .targets import signal_name

# what a target's step answers: why the session ends now ("exited", "pod deleted" ...), or None
Step = Callable[[], "str | None"]
POLL_MS = 50


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


class Poller(threading.Thread):
    """Calls ``fn`` every ``interval`` seconds in the background; keeps the last result."""

    def __init__(self, fn, interval: float = 0.3):
        super().__init__(daemon=True)
        self.fn = fn
        self.interval = interval
        self.result = None
        self.error: BaseException | None = None
        self.updated = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.result = self.fn()
                self.error = None
            except BaseException as e:  # noqa: BLE001 - handed to the main loop
                self.error = e
            self.updated.set()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()


def stop_reason(stop_signum: int | None, deadline: float | None) -> str | None:
    """Why the session stops now: a signal arrived, or the deadline passed (else None)."""
    if stop_signum is not None:
        return f"signal {signal_name(stop_signum)}"
    if deadline is not None and time.monotonic() >= deadline:
        return "duration"
    return None


class Session:
    """One session's loop over ``recorder``; a context manager, catching SIGINT/SIGTERM from
    its start to its end (so the work after the loop, terminating a command or draining the
    ring buffer, is not cut short either)."""

    def __init__(self, recorder: Recorder, duration: float | None = None, *,
                 poller: Poller | None = None):
        self.recorder = recorder
        self.duration = duration
        self.deadline: float | None = None
        self.poller = poller       # asks a runtime or API server in the background meanwhile
        self._signals = StopSignals()

    def __enter__(self) -> "Session":
        if self.poller is not None:
            self.poller.start()
        try:
            self._signals.__enter__()
        except BaseException:
            self._stop_poller()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._signals.__exit__(*exc)
        finally:
            self._stop_poller()

    def _stop_poller(self) -> None:
        if self.poller is not None:
            self.poller.stop()

    @property
    def signum(self) -> int | None:
        """The signal that stopped the session (or None)."""
        return self._signals.signum

    def run(self, step: Step, *, step_first: bool = False) -> str:
        """Poll the recorder until a signal, the deadline (counted from now) or ``step``
        gives the reason to stop, and return that reason ("signal SIGINT", "duration", or
        what ``step`` said). ``step`` runs after each poll, or before it with ``step_first``
        (a launched command: its exit is seen before waiting on the ring buffer again)."""
        self.deadline = None if self.duration is None else time.monotonic() + self.duration
        while True:
            if step_first:
                reason = step()
                if reason:
                    return reason
            self.recorder.poll(POLL_MS)
            reason = stop_reason(self.signum, self.deadline)
            if reason:
                return reason
            if not step_first:
                reason = step()
                if reason:
                    return reason


def note_stop(rec: Recording, duration: float | None, what: str = "the target") -> None:
    """Mark the recording incomplete when the session stopped before the target ended."""
    reason = rec.metadata.get("stopReason")
    if reason == "duration":
        rec.mark_incomplete(f"stopped by --duration after {duration:g}s; {what} was still "
                            "running")
    elif isinstance(reason, str) and reason.startswith("signal "):
        rec.mark_incomplete(f"sandprint received {reason[7:]} and stopped; {what} was still "
                            "running")


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
