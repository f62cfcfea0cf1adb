#!/usr/bin/env python3
"""A small, ordinary workload: read a text, count words in worker threads, write a report.

    python3 wordfreq.py INPUT OUTPUT_DIR

sandprint's demo records it, writes its sandbox, and replays it under that sandbox.
"""
import collections
import json
import os
import sys
import tempfile
import threading


def count(lines, out, lock):
    c = collections.Counter(w.strip(".,;:!?\"'()").lower() for line in lines for w in line.split())
    with lock:
        out.update(c)


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    total, lock = collections.Counter(), threading.Lock()
    chunks = [lines[i::4] for i in range(4)]
    threads = [threading.Thread(target=count, args=(c, total, lock)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.makedirs(outdir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=outdir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(total.most_common(10), f)
    os.replace(tmp, os.path.join(outdir, "top10.json"))
    print(f"{sum(total.values())} words, {len(total)} distinct; top: {total.most_common(3)}")


if __name__ == "__main__":
    main()
