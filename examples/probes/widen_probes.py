#!/usr/bin/env python3
"""A workload whose profile is widened by static analysis, and the escapes a widening must
still stop.

    widen_probes.py setup  BASE       lay out BASE (run unsandboxed, before each run)
    widen_probes.py benign BASE       the work: a thread pool summing BASE/data into BASE/out
    widen_probes.py probe  BASE [--outside-pid P]   the work, then every probe (P unused:
                                      the CLI of escape_probes.py)
    widen_probes.py list              the probes, one JSON line each

``generate seccomp --widen static`` adds to the benign run's profile the unseen low-risk
syscalls the Python interpreter can make. The interpreter can make nearly everything, so the
widened profile is where an attacker inside the workload looks first: each probe makes one
*high-risk* syscall the interpreter can reach but the benign run never made (changing files
by path, cutting a file held open for appending, credentials, scheduling policy, new network
endpoints, memory-backed files, mounts, System V IPC, effects on the whole host, watching
files), and must be refused (EPERM) under the widened profile while it works without
a sandbox (as root). Output: one JSON line per probe, ``{"probe", "outcome":
"denied"|"ALLOWED"|"error", "errno", "step", "detail"}``, after the benign line
``{"benign": ...}``, as examples/probes/escape_probes.py prints them.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

PROBES = {
    "unlink-file": "remove a file (path-changes: unlink)",
    "rename-file": "rename a file (path-changes: rename)",
    "chmod-file": "make a file world-writable (path-changes: chmod)",
    "setuid": "change credentials (setuid)",
    "sched-fifo": "take a real-time scheduling policy (sched_setscheduler)",
    "tcp-connect": "open a new network endpoint (socket)",
    "memfd": "make a memory-backed file to run code from (memfd_create)",
    "chroot": "change the root directory (chroot)",
    "sysv-shm": "make a System V shared memory segment (shmget)",
    "wipe-append-log": "wipe a log it holds open for appending only (ftruncate)",
    "sync-filesystems": "flush every filesystem of the host (sync)",
    "mlock-memory": "pin memory the host cannot reclaim (mlock)",
    "flock-file": "take a lock other processes wait on (flock)",
    "inotify-watch": "watch what other processes do with a file (inotify_init1)",
}


def setup(base: str) -> None:
    os.makedirs(os.path.join(base, "data"), exist_ok=True)
    os.makedirs(os.path.join(base, "out"), exist_ok=True)
    for i in range(8):
        with open(os.path.join(base, "data", f"n{i}.txt"), "w") as f:
            f.write(" ".join(str(k) for k in range(i * 100, i * 100 + 100)))
    with open(os.path.join(base, "victim.txt"), "w") as f:
        f.write("keep me\n")
    with open(os.path.join(base, "app.log"), "w") as f:
        f.write("an entry the workload can only append after\n")
    os.chmod(os.path.join(base, "victim.txt"), 0o644)


def benign(base: str) -> dict:
    names = sorted(os.listdir(os.path.join(base, "data")))

    def total(name: str) -> int:
        with open(os.path.join(base, "data", name)) as f:
            return sum(int(x) for x in f.read().split())

    with ThreadPoolExecutor(max_workers=4) as pool:
        sums = list(pool.map(total, names))
    with open(os.path.join(base, "out", "sum.txt"), "w") as f:
        f.write(f"{sum(sums)}\n")
    return {"benign": "ok", "files": len(names), "sum": sum(sums)}


def _try(step: str, fn) -> tuple[str, int | None, str]:
    try:
        detail = fn()
        return "ALLOWED", None, str(detail or "")
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return "denied", e.errno, step
        return "error", e.errno, f"{step}: {e}"


def run_probe(name: str, base: str) -> dict:
    victim = os.path.join(base, "victim.txt")
    moved = os.path.join(base, "moved.txt")

    def unlink_file():
        os.unlink(victim)
        setup(base)                                   # put it back

    def rename_file():
        os.rename(victim, moved)
        os.rename(moved, victim)

    def chmod_file():
        os.chmod(victim, 0o666)
        os.chmod(victim, 0o644)

    def setuid():
        pid = os.fork()
        if pid == 0:                                  # drop privileges in a child only
            try:
                os.setuid(65534)
                os._exit(0)
            except OSError as e:
                os._exit(100 + e.errno)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code:
            raise OSError(code - 100, os.strerror(code - 100))

    def sched_fifo():
        old = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        os.sched_setscheduler(0, old[0], old[1])

    def tcp_connect():
        s = socket.socket()
        s.close()

    def memfd():
        os.close(os.memfd_create("payload"))

    def chroot():
        pid = os.fork()
        if pid == 0:
            try:
                os.chroot(base)
                os._exit(0)
            except OSError as e:
                os._exit(100 + e.errno)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code:
            raise OSError(code - 100, os.strerror(code - 100))

    def libc_call(name: str, *args) -> int:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ret = getattr(libc, name)(*args)
        if ret < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"{name}: {os.strerror(e)}")
        return ret

    def sysv_shm():
        shmid = libc_call("shmget", 0, 4096, 0o600 | 0o1000)  # IPC_PRIVATE, IPC_CREAT
        libc_call("shmctl", shmid, 0, None)                   # IPC_RMID

    def wipe_append_log():
        # O_APPEND: write can only add at the end; ftruncate can still throw it all away
        fd = os.open(os.path.join(base, "app.log"), os.O_WRONLY | os.O_APPEND)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        setup(base)                                   # put it back

    def sync_filesystems():
        # glibc's sync() returns nothing, so a refusal would go unseen: the raw syscall tells
        import platform
        if platform.machine() != "x86_64":
            os.sync()
            return "sync() returns nothing here: the outcome is not observable"
        libc_call("syscall", 162)                     # __NR_sync on x86_64

    def mlock_memory():
        import ctypes
        buf = ctypes.create_string_buffer(4096)
        libc_call("mlock", buf, ctypes.c_size_t(4096))
        libc_call("munlock", buf, ctypes.c_size_t(4096))

    def flock_file():
        import fcntl
        with open(victim) as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            fcntl.flock(f, fcntl.LOCK_UN)

    def inotify_watch():
        os.close(libc_call("inotify_init1", 0))

    fns = {"unlink-file": unlink_file, "rename-file": rename_file, "chmod-file": chmod_file,
           "setuid": setuid, "sched-fifo": sched_fifo, "tcp-connect": tcp_connect,
           "memfd": memfd, "chroot": chroot, "sysv-shm": sysv_shm,
           "wipe-append-log": wipe_append_log, "sync-filesystems": sync_filesystems,
           "mlock-memory": mlock_memory, "flock-file": flock_file,
           "inotify-watch": inotify_watch}
    outcome, err, detail = _try(name, fns[name])
    return {"probe": name, "outcome": outcome,
            "errno": errno.errorcode.get(err) if err else None, "step": name,
            "detail": detail}


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        for name, what in PROBES.items():
            print(json.dumps({"probe": name, "tries": what}))
        return 0
    if "--outside-pid" in argv:                       # escape_probes.py's CLI; unused here
        i = argv.index("--outside-pid")
        del argv[i:i + 2]
    if len(argv) != 2 or argv[0] not in ("setup", "benign", "probe"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, base = argv[0], os.path.abspath(argv[1])
    if mode == "setup":
        setup(base)
        return 0
    print(json.dumps(benign(base)), flush=True)
    if mode == "probe":
        for name in PROBES:
            print(json.dumps(run_probe(name, base)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
