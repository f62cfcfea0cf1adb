#!/usr/bin/env python3
"""A threaded workload: N threads (glibc >= 2.34 starts them with clone3) each write a line.

    threads.py OUT [N] [--getppid]

``--getppid`` also calls getppid(), which the recorded run never does (a call the profile
refuses, to check that verify still counts every refusal besides clone3's answer).

Waits for every thread to leave the kernel before exiting (join() returns before a thread's
last syscalls), so a recording always has the thread's exit and the run is the same each time.
"""

import os
import sys
import threading
import time


def work(path: str, i: int) -> None:
    with open(path, "a") as f:
        f.write(f"thread {i} of pid {os.getpid()}\n")


def main() -> int:
    out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if "--getppid" in sys.argv:
        os.getppid()
    threads = [threading.Thread(target=work, args=(out, i)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in threads:
        while True:     # sleeps at least once, so every run makes the same syscalls
            time.sleep(0.001)
            if not os.path.exists(f"/proc/self/task/{t.native_id}"):
                break
    with open(out) as f:
        print(f"{len(f.readlines())} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
