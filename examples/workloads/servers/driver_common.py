"""What the real-server drivers share: the run directory, waiting for a port, and the probe.

Every driver is called as ``DRIVER WORK [--port PORT] [--probe FILE]``. It creates
``WORK/run``, starts its server there (configuration, data, sockets, logs: nothing under the
system's own paths, only loopback ports), drives it, stops it and removes ``WORK/run``, so
each run starts from the same state and uses the same paths: a recording and the later runs
under its sandbox meet the same files. (A ruleset generated from such a run grants WORK
itself: Landlock rules attach to existing directories, and ``WORK/run`` exists only while
the workload runs. Keep WORK a directory of its own.)

``--probe FILE`` does the same work and then two things the work never does, printing one
JSON line ``{"probe": {...}}``: read FILE (a file outside WORK that the work never touches:
Landlock must refuse it) and call ``personality(0xffffffff)`` (a harmless query of the
process's execution domain that none of these workloads makes: the seccomp profile must
refuse it). Each result is ``denied`` (EACCES/EPERM) or ``ok`` (or another errno's name).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_personality = 135 if os.uname().machine == "x86_64" else 92      # x86_64; arm64


def parse_args(default_port: int) -> tuple[str, int, str | None]:
    """(WORK, port, probe file or None) from ``WORK [--port PORT] [--probe FILE]``."""
    args = sys.argv[1:]
    usage = f"usage: {os.path.basename(sys.argv[0])} WORK [--port PORT] [--probe FILE]"
    opts: dict[str, str] = {}
    for opt in ("--port", "--probe"):
        if opt in args:
            i = args.index(opt)
            if i + 1 >= len(args):
                raise SystemExit(usage)
            opts[opt] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 1 or not opts.get("--port", "0").isdigit():
        raise SystemExit(usage)
    port = int(opts.get("--port", default_port))
    return os.path.abspath(args[0]), port, opts.get("--probe")


def fresh_run_dir(work: str) -> str:
    run = os.path.join(work, "run")
    if os.path.exists(run):
        raise SystemExit(f"{run} exists: a previous run did not finish; remove it first")
    os.mkdir(run, 0o755)
    os.chmod(run, 0o755)
    return run


def remove_run_dir(run: str) -> None:
    shutil.rmtree(run)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")
            time.sleep(0.1)


def _verdict(err: int) -> str:
    if err in (errno.EACCES, errno.EPERM):
        return "denied"
    return errno.errorcode.get(err, str(err))


def probe(path: str) -> None:
    results = {}
    try:
        with open(path, "rb") as f:
            f.read()
        results["read_outside"] = "ok"
    except OSError as e:
        results["read_outside"] = _verdict(e.errno)
    rc = libc.syscall(SYS_personality, ctypes.c_ulong(0xFFFFFFFF))
    results["personality"] = "ok" if rc >= 0 else _verdict(ctypes.get_errno())
    print(json.dumps({"probe": results}), flush=True)
