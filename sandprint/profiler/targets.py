"""What to record: a command sandprint launches, or an existing process tree.

A launched command is forked, held before its ``execve`` until the recorder tracks it (with
the "pending exec" mark, so the launcher's own syscalls never count), then released. An
existing PID is tracked with every descendant it already has; the BPF fork hook follows the
ones it makes from then on.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from typing import Callable

from ..errors import InputError


def resolve_command(argv: list[str]) -> str:
    """The absolute path of ``argv[0]`` as execvp would find it, or a clear error.

    The one place that finds the command, for ``record``, ``verify`` and ``exec``."""
    if not argv or not argv[0]:
        raise InputError("no command given", field="COMMAND", expected="-- COMMAND [ARGS...]")
    name = argv[0]
    if "/" in name:
        path = os.path.abspath(name)
        if not os.path.exists(path):
            raise InputError("command not found", source=name, field="COMMAND",
                             expected="an executable file")
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise InputError("command is not an executable file", source=name,
                             field="COMMAND", expected="an executable file")
        return path
    found = shutil.which(name)
    if not found:
        raise InputError("command not found on PATH", source=name, field="COMMAND",
                         expected="an executable on PATH")
    return os.path.abspath(found)


class LaunchedCommand:
    """A child process held just before ``execve`` until :meth:`release`.

    ``prepare`` runs in the child right before the exec (to apply a sandbox); if it raises,
    the child prints the error and exits 126 without running the command: fail closed.
    """

    def __init__(self, argv: list[str], prepare: Callable[[], None] | None = None):
        self.argv = list(argv)
        self.path = resolve_command(argv)
        self.status: int | None = None
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(write_end)
                go = os.read(read_end, 1)
                os.close(read_end)
                if go != b"x":
                    os._exit(125)
                if prepare is not None:
                    prepare()
                os.execv(self.path, self.argv)
            except BaseException as e:  # noqa: BLE001 - the child must never return
                try:
                    sys.stderr.write(f"sandprint: error: cannot run {self.argv[0]}: {e}\n")
                    sys.stderr.flush()
                finally:
                    os._exit(126)
        os.close(read_end)
        self.pid = pid
        self._go = write_end

    def release(self) -> None:
        """Let the child exec the command."""
        if self._go is not None:
            os.write(self._go, b"x")
            os.close(self._go)
            self._go = None

    def abort(self) -> None:
        """Make the child exit without running the command."""
        if self._go is not None:
            os.close(self._go)
            self._go = None
        self.wait()

    def poll(self) -> int | None:
        """The wait status once the child has exited (and is reaped), else None."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = status
        return self.status

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
        return self.status

    def terminate(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.poll() is not None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.wait(grace) is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()

    @property
    def exit_code(self) -> int | None:
        """The command's exit status the way a shell reports it (128+N for signal N)."""
        if self.status is None:
            return None
        code = os.waitstatus_to_exitcode(self.status)
        return code if code >= 0 else 128 - code

    @property
    def exit_signal(self) -> str | None:
        """The name of the signal that killed the command (``SIGKILL``), if one did."""
        if self.status is None or not os.WIFSIGNALED(self.status):
            return None
        return signal_name(os.WTERMSIG(self.status))


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def check_pid(pid: int) -> None:
    if pid == os.getpid():
        raise InputError("cannot record sandprint itself", source=f"--pid {pid}")
    if not is_running(pid):
        raise InputError("no such process" if not os.path.exists(f"/proc/{pid}")
                         else "process has already exited (a zombie)",
                         source=f"--pid {pid}", expected="the PID of a running process")


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the comm (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the comm field may contain spaces and parentheses: split after the last ')'
    return stat[stat.rfind(b")") + 2:].split()


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and has not exited (a zombie has: only its status is left).
    A thread-group leader that ended first (``pthread_exit`` in main) shows as a zombie while
    its other threads run on: that process is still running."""
    fields = _stat_fields(pid)
    if not fields:
        return False
    if fields[0] not in (b"Z", b"X", b"x"):
        return True
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any((f := _stat_fields(f"{pid}/task/{tid}")) and f[0] not in (b"Z", b"X", b"x")
               for tid in threads if tid != str(pid))


def is_process(pid: int) -> bool:
    """Whether ``pid`` is a thread-group leader (a process), not another thread's id."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1]) == pid
    except (OSError, ValueError, IndexError):
        pass
    return False


def process_comm(pid: int) -> str | None:
    """The command name the kernel shows for ``pid`` (``/proc/PID/comm``), or None."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode("utf-8", "surrogateescape")
    except OSError:
        return None


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (by parent PID), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        rest = _stat_fields(int(entry))
        if rest is None or len(rest) < 2:
            continue
        children.setdefault(int(rest[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out
