#!/usr/bin/env python3
"""Forks children and runs threads: the recorder must follow all of them."""
import os
import sys
import threading

def work(n, results):
    results[n] = sum(i * i for i in range(20000))

def main():
    children = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    pids = []
    for i in range(children):
        pid = os.fork()
        if pid == 0:
            results = {}
            ts = [threading.Thread(target=work, args=(j, results)) for j in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            os._exit(0 if len(results) == 3 else 1)
        pids.append(pid)
    bad = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        bad += status != 0
    print(f"{children} children, {bad} failed")
    sys.exit(1 if bad else 0)

if __name__ == "__main__":
    main()
