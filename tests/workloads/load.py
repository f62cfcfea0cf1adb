#!/usr/bin/env python3
"""A load workload for the recorder: many short-lived processes, many threads, many files,
and a report of what it did itself, to check a recording against.

    load.py setup DIR --files N                  # make N files under DIR (run it untraced)
    load.py run DIR --files N --children C --threads T --report OUT.json [--rare NAME ...]
                [--ready FILE --go FILE]

``run`` opens every file of DIR exactly once, split between C forked children (each opens its
share, then exits at once; at most WINDOW alive at a time) and T threads of the main process
(which all wait at one barrier first, so they block on futexes for sure). ``--rare`` makes
syscalls the interpreter never makes on its own (``uname``, ``getsid``, ``times``,
``sched_get_priority_max``), so that recordings running side by side can be told apart.
``--ready``/``--go``: write READY once started, then wait until GO exists before working.

The report (JSON) holds what the workload knows for sure: the paths it opened (each with
``open(O_RDONLY|O_CLOEXEC)`` = openat, one ``read``, ``close``), the pids of its children,
the thread ids, and the syscalls it certainly made: ``syscalls.all`` (each of them was made)
and ``syscalls.anyOf`` (one of each group was made: which clone flavour glibc uses for fork()
and for a new thread depends on its version).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time

PER_DIR = 1000
WINDOW = 32          # children alive at once: short-lived, but not a fork bomb on a small host
CHILD_SHARE = 0.2    # part of the files the children open; the threads open the rest

# name -> (the call that makes it, the syscall name)
RARE = {
    "uname": (os.uname, "uname"),
    "getsid": (lambda: os.getsid(0), "getsid"),
    "times": (os.times, "times"),
    "sched_get_priority_max": (lambda: os.sched_get_priority_max(os.SCHED_OTHER),
                               "sched_get_priority_max"),
}


def paths(root: str, n: int) -> list[str]:
    """The N file paths under ROOT, in a fixed order (DIR/dNNN/fNNNNNN)."""
    return [os.path.join(root, f"d{i // PER_DIR:03d}", f"f{i:06d}") for i in range(n)]


def setup(root: str, n: int) -> None:
    for d in range((n + PER_DIR - 1) // PER_DIR):
        os.makedirs(os.path.join(root, f"d{d:03d}"), exist_ok=True)
    for p in paths(root, n):
        with open(p, "w") as f:
            f.write(p)


def open_all(share: list[str]) -> None:
    for p in share:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.read(fd, 64)
        finally:
            os.close(fd)


def split(items: list[str], parts: int) -> list[list[str]]:
    return [items[i::parts] for i in range(parts)]


def run_children(shares: list[list[str]]) -> tuple[list[int], int]:
    pids, failed, alive = [], 0, 0
    for share in shares:
        if alive >= WINDOW:
            _, status = os.wait()
            alive -= 1
            failed += status != 0
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                open_all(share)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
        alive += 1
    while alive:
        _, status = os.wait()
        alive -= 1
        failed += status != 0
    return pids, failed


def run_threads(shares: list[list[str]]) -> tuple[list[int], list[str]]:
    barrier = threading.Barrier(len(shares))
    tids: list[int] = [0] * len(shares)
    errors: list[str] = []

    def work(i: int) -> None:
        tids[i] = threading.get_native_id()          # gettid
        barrier.wait()                                # futex: all but the last one block
        try:
            open_all(shares[i])
        except OSError as e:
            errors.append(f"thread {i}: {e}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(shares))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tids, errors


def run(args) -> int:
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(str(os.getpid()))
    if args.go:
        while not os.path.exists(args.go):
            time.sleep(0.02)
    t0 = time.monotonic()
    files = paths(args.dir, args.files)
    os.listdir(args.dir)                             # getdents64
    n_child = int(len(files) * CHILD_SHARE) if args.children else 0
    child_files, thread_files = files[:n_child], files[n_child:]
    pids, failed = run_children(split(child_files, args.children)) if args.children else ([], 0)
    tids, errors = run_threads(split(thread_files, args.threads)) if args.threads else ([], [])
    if not args.threads:
        open_all(thread_files)
    rare = []
    for name in args.rare:
        call, sysname = RARE[name]
        call()
        rare.append(sysname)
    report = {
        "pid": os.getpid(),                          # getpid
        "children": pids,
        "childrenFailed": failed,
        "threads": tids,
        "errors": errors,
        "opened": files,
        "syscalls": {
            "all": sorted({"openat", "read", "close", "getpid", "getdents64", "write"}
                          | ({"wait4", "exit_group"} if pids else set())
                          | ({"gettid", "futex"} if len(tids) > 1 else set())
                          | set(rare)),
            "anyOf": ([["clone", "clone3", "fork", "vfork"]] if pids else [])
            + ([["clone3", "clone"]] if tids else []),
        },
        "rare": rare,
        "seconds": time.monotonic() - t0,
        "maxrssKiB": {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss},
    }
    with open(args.report, "w") as f:
        json.dump(report, f)
    return 1 if failed or errors else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["setup", "run"])
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--children", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--report")
    ap.add_argument("--rare", action="append", default=[], choices=sorted(RARE))
    ap.add_argument("--ready")
    ap.add_argument("--go")
    args = ap.parse_args()
    if args.mode == "setup":
        setup(args.dir, args.files)
        return 0
    if not args.report:
        ap.error("run needs --report")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
