#!/usr/bin/env python3
"""A thread pool summing work items under one lock, spinning briefly then yielding the CPU
(``os.sched_yield``) when the lock is taken: the spin-then-yield pattern of many pools.

    thread_pool.py ordinary    one worker: the lock is never contended, nothing yields
    thread_pool.py rare        eight workers on one lock: contention, so sched_yield (the
                               rare path of tests/test_rare_paths.py)
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

ITEMS = 4000


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ("ordinary", "rare"):
        print("usage: thread_pool.py ordinary|rare", file=sys.stderr)
        return 2
    workers = 1 if sys.argv[1] == "ordinary" else 8
    lock = threading.Lock()
    total = [0]
    yields = [0]

    def work(i: int) -> None:
        spins = 0
        while not lock.acquire(blocking=False):
            spins += 1
            if spins > 10:
                os.sched_yield()
                yields[0] += 1
        try:
            total[0] += i
            if workers > 1 and i % 50 == 0:
                os.sched_yield()              # hold the lock across a yield: others contend
                yields[0] += 1
        finally:
            lock.release()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, range(ITEMS)))
    if total[0] != sum(range(ITEMS)):
        print(f"FAILED: total {total[0]}", file=sys.stderr)
        return 1
    print(f"thread pool: {workers} workers, {ITEMS} items, {yields[0]} yields")
    return 0


if __name__ == "__main__":
    sys.exit(main())
