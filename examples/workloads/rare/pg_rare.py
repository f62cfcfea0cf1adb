#!/usr/bin/env python3
"""PostgreSQL (Debian's) under two loads: small queries, and one whose result grows past
glibc's mmap threshold, so realloc moves it with mremap (the rare path). The server is
driven from outside, so that a recording (and a replay under a sandbox) holds the server.

    pg_rare.py WORK setup                 initdb a cluster in WORK/cluster (run unrecorded)
    pg_rare.py WORK server                print the server's command line (JSON) to run
    pg_rare.py WORK drive ordinary|remap  run the load with psql, then stop the server
    pg_rare.py WORK clean                 remove WORK/cluster

``ordinary`` counts and sums a few hundred generated rows; ``remap`` aggregates 20 000
strings of 1000 bytes into one (a StringInfo doubling from 256 KiB to 32 MiB: glibc grows
an mmap'd chunk with mremap). The server listens only on a unix socket in WORK/cluster/sock
and runs as the postgres user (``runuser``, postgres_db.py's as_postgres for the rest);
drive stops it with SIGINT (a fast shutdown).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))

from postgres_db import BIN, as_postgres  # noqa: E402

PORT = 54329
LOADS = {
    "ordinary": ("SELECT count(*), sum(g) FROM generate_series(1, 300) AS g;", "300|45150"),
    "remap": ("SELECT length(string_agg(repeat('x', 1000), ',')) FROM generate_series(1, 20000);",
              "20019999"),
}


def postmaster_pid(data: str) -> int:
    with open(os.path.join(data, "postmaster.pid")) as f:
        return int(f.readline())


def drive(cluster: str, mode: str) -> int:
    data, sock = os.path.join(cluster, "data"), os.path.join(cluster, "sock")
    query, want = LOADS[mode]
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(sock, f".s.PGSQL.{PORT}")):
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start in 60 s")
        time.sleep(0.2)
    out = ""
    try:
        for _ in range(50):
            try:
                out = as_postgres(f"{BIN}/psql", "-X", "-q", "-A", "-t", "-h", sock, "-p",
                                  str(PORT), "-U", "postgres", "-d", "postgres", "-c", query,
                                  run=cluster)
                break
            except SystemExit:                        # still starting up
                time.sleep(0.3)
    finally:
        os.kill(postmaster_pid(data), signal.SIGINT)
    if out.strip() != want:
        print(f"FAILED: {out.strip()!r}, expected {want!r}", file=sys.stderr)
        return 1
    print(f"postgres ({mode}): {out.strip()}")
    return 0


def main() -> int:
    args = sys.argv[1:]
    if len(args) < 2 or args[1] not in ("setup", "server", "drive", "clean") or \
            (args[1] == "drive") != (len(args) == 3) or \
            (args[1] == "drive" and args[2] not in LOADS):
        print("usage: pg_rare.py WORK setup|server|clean|drive ordinary|remap", file=sys.stderr)
        return 2
    work, step = os.path.abspath(args[0]), args[1]
    cluster = os.path.join(work, "cluster")
    data, sock = os.path.join(cluster, "data"), os.path.join(cluster, "sock")
    if step == "clean":
        shutil.rmtree(cluster, ignore_errors=True)
        return 0
    if step == "setup":
        pg = pwd.getpwnam("postgres")
        os.mkdir(cluster, 0o755)
        os.chown(cluster, pg.pw_uid, pg.pw_gid)
        as_postgres(f"{BIN}/initdb", "-D", data, "--auth=trust", "-U", "postgres", "--no-sync",
                    "--encoding=UTF8", run=cluster)
        os.mkdir(sock)
        os.chown(sock, pg.pw_uid, pg.pw_gid)
        return 0
    if step == "server":
        print(json.dumps(["/usr/sbin/runuser", "-u", "postgres", "--", f"{BIN}/postgres",
                          "-D", data, "-c", "listen_addresses=", "-p", str(PORT), "-k", sock,
                          "-c", "fsync=off"]))
        return 0
    return drive(cluster, args[2])


if __name__ == "__main__":
    sys.exit(main())
