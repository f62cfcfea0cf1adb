#!/usr/bin/env python3
"""A root workload that uses no capability, and (in probe mode) the escapes that root's
capabilities would open inside a sandbox that keeps them.

    cap_probes.py setup  BASE                    lay out BASE (run unsandboxed, before each run)
    cap_probes.py benign BASE                    the work
    cap_probes.py probe  BASE [--outside-pid P]  the work, then every probe
    cap_probes.py list                           the probes, one JSON line each

The work (run as root, as a service or a CI step often is): read the inputs under
``BASE/data``, count their words, drive a pseudo-terminal (open a pty pair, write a line to
the master, read it from the slave, as a tool that runs commands under a terminal does), in
a forked worker for the counting, read
its own ``/proc/self/status``, and write ``BASE/out/report.json``. None of it needs a
capability, so its sandbox keeps none.

Probe mode does the work (printing ``{"benign": ...}``), then runs every probe in a forked
child and prints one JSON line per probe, as ``escape_probes.py`` does: ``{"probe",
"outcome": "denied"|"ALLOWED"|"error", "errno", "detail"}`` (``error``: a preparation step
failed, the probe proved nothing). A probe that gets through undoes what it did.

The probes (issue 13, "capabilities"):

* ``immutable-flag``: ``FS_IOC_SETFLAGS`` sets the immutable flag on an input the ruleset
  grants only ``read_file`` (CAP_LINUX_IMMUTABLE; Landlock's ioctl right covers devices only);
* ``proc-environ-outside`` / ``proc-maps-outside``: read another (root) process's
  ``/proc/PID/environ`` and ``maps`` (a ptrace-mode read: a caller whose capabilities are not
  a superset of the target's needs CAP_SYS_PTRACE);
* ``tiocsti-other-tty``: push a keystroke into a terminal that is not the caller's
  controlling one with ``TIOCSTI`` (CAP_SYS_ADMIN), here a fresh pty pair: the keystroke
  must arrive on its slave.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import shutil
import struct
import sys
import termios

FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602
FS_IMMUTABLE_FL = 0x10
TIOCGPTN, TIOCSPTLCK = 0x80045430, 0x40045431

INPUTS = {"a.txt": "the quick brown fox jumps over the lazy dog\n",
          "b.txt": "capabilities are root's keys, one per door\n"}


class Prep(Exception):
    """A preparation step failed: the probe proves nothing."""


def _flags(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
    finally:
        os.close(fd)


def _set_flags(path: str, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags))
    finally:
        os.close(fd)


def setup(base: str) -> None:
    """Lay out BASE afresh (clearing an immutable flag a probe may have left)."""
    data = os.path.join(base, "data")
    for name in INPUTS:
        path = os.path.join(data, name)
        try:
            if _flags(path) & FS_IMMUTABLE_FL:
                _set_flags(path, _flags(path) & ~FS_IMMUTABLE_FL)
        except OSError:
            pass
    for sub in ("data", "out"):
        shutil.rmtree(os.path.join(base, sub), ignore_errors=True)
    os.makedirs(data)
    os.makedirs(os.path.join(base, "out"))
    for name, text in INPUTS.items():
        with open(os.path.join(data, name), "w") as f:
            f.write(text)


def open_pty() -> tuple[int, int]:
    """A pty pair, the slave opened by its path (``/dev/pts/N``) as older libcs do: glibc's
    openpty() opens it through the master (TIOCGPTPEER), an open the recorder does not see
    as a path, so the generated ruleset would refuse it (a gap noted in the README)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        return master, os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        os.close(master)
        raise


def pty_roundtrip(line: bytes) -> bytes:
    """Write ``line`` to a fresh pty's master and read it back from its slave."""
    master, slave = open_pty()
    try:
        os.write(master, line)
        ready, _, _ = select.select([slave], [], [], 5)
        return os.read(slave, 100) if ready else b""
    finally:
        os.close(master)
        os.close(slave)


def count_words(data: str) -> int:
    words = 0
    for name in sorted(os.listdir(data)):
        with open(os.path.join(data, name)) as f:
            words += len(f.read().split())
    return words


def in_child(fn, *args):
    """``fn(*args)`` in a forked child; its JSON result back through a pipe (None if it
    died) and its wait status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, json.dumps(fn(*args)).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return (json.loads(b"".join(chunks)) if chunks else None), status


def benign(base: str) -> dict:
    words, _ = in_child(count_words, os.path.join(base, "data"))   # a forked worker
    echoed = pty_roundtrip(b"hello\n")
    with open("/proc/self/status") as f:
        status_lines = sum(1 for _ in f)
    report = {"files": len(INPUTS), "words": words, "pty": echoed.strip().decode()}
    with open(os.path.join(base, "out", "report.json"), "w") as f:
        json.dump(report, f)
    return {"benign": "ok", **report, "status": status_lines > 0}


# -- the probes ----------------------------------------------------------------------------

def p_immutable(base: str, outside: int) -> str:
    path = os.path.join(base, "data", "a.txt")
    try:
        flags = _flags(path)
    except OSError:
        # refused too (a profile narrowing ioctl to the recorded requests): the file is the
        # probe's own fresh data file, whose flags are none
        flags = 0
    _set_flags(path, flags | FS_IMMUTABLE_FL)
    _set_flags(path, flags)           # undo
    return f"set FS_IMMUTABLE_FL on {path} (and cleared it again)"


def _proc_read(outside: int, what: str) -> str:
    if outside <= 0:
        raise Prep("no outside process")
    with open(f"/proc/{outside}/{what}", "rb") as f:
        got = f.read()
    if not got:
        raise Prep(f"/proc/{outside}/{what} was empty")
    return f"read {len(got)} bytes of /proc/{outside}/{what}"


def p_environ(base: str, outside: int) -> str:
    return _proc_read(outside, "environ")


def p_maps(base: str, outside: int) -> str:
    return _proc_read(outside, "maps")


def p_tiocsti(base: str, outside: int) -> str:
    try:
        master, slave = open_pty()
    except OSError as e:
        raise Prep(f"opening a pty: {e.strerror}")
    try:
        for ch in b"id\n":               # a command, as typed into that terminal
            fcntl.ioctl(slave, termios.TIOCSTI, bytes([ch]))
        ready, _, _ = select.select([slave], [], [], 2)
        if not ready:
            raise Prep("TIOCSTI returned but nothing arrived")
        got = os.read(slave, 100)
        return f"typed {got!r} into {os.ttyname(slave)}, which is not its terminal"
    finally:
        os.close(master)
        os.close(slave)


PROBES = {
    "immutable-flag": (p_immutable, "FS_IOC_SETFLAGS: make an input (granted read_file only) "
                                    "immutable (CAP_LINUX_IMMUTABLE)"),
    "proc-environ-outside": (p_environ, "read /proc/PID/environ of a root process outside "
                                        "the sandbox (ptrace-mode read; CAP_SYS_PTRACE)"),
    "proc-maps-outside": (p_maps, "read /proc/PID/maps of that process"),
    "tiocsti-other-tty": (p_tiocsti, "TIOCSTI: push a keystroke into a terminal that is not "
                                     "its own (CAP_SYS_ADMIN)"),
}


def run_probe(name: str, base: str, outside: int) -> dict:
    def attempt() -> dict:
        try:
            return {"outcome": "ALLOWED", "detail": PROBES[name][0](base, outside)}
        except Prep as e:
            return {"outcome": "error", "detail": str(e)}
        except OSError as e:
            return {"outcome": "denied", "errno": errno.errorcode.get(e.errno, str(e.errno)),
                    "detail": str(e)}

    result, status = in_child(attempt)
    if result is None:
        return {"probe": name, "outcome": "denied" if os.WIFSIGNALED(status) else "error",
                "errno": None, "detail": f"the probe died (wait status {status})"}
    return {"probe": name, **result}


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        for name, (_, what) in PROBES.items():
            print(json.dumps({"probe": name, "tries": what}))
        return 0
    if len(argv) < 2 or argv[0] not in ("setup", "benign", "probe"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, base = argv[0], argv[1]
    if mode == "setup":
        setup(base)
        return 0
    print(json.dumps(benign(base)), flush=True)
    if mode == "probe":
        outside = int(argv[argv.index("--outside-pid") + 1]) if "--outside-pid" in argv \
            else os.getppid()
        for name in PROBES:
            print(json.dumps(run_probe(name, base, outside)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
