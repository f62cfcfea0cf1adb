#!/usr/bin/env python3
"""PostgreSQL (Debian's) under two loads: small queries, and one whose result grows past
glibc's mmap threshold, so realloc moves it with mremap (the rare path).

    pg_rare.py WORK setup                 initdb a cluster in WORK/cluster (run unrecorded)
    pg_rare.py WORK ordinary|remap        start it, run the load with psql, stop it
    pg_rare.py WORK clean                 remove WORK/cluster

``ordinary`` counts and sums a few hundred generated rows; ``remap`` aggregates 20 000
strings of 1000 bytes into one (a StringInfo doubling from 256 KiB to 32 MiB: glibc grows
an mmap'd chunk with mremap). The server listens only on a unix socket in WORK/cluster/sock;
every command runs as the postgres user through ``runuser`` (postgres_db.py's as_postgres).
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))

from postgres_db import BIN, as_postgres  # noqa: E402

PORT = 54329
LOADS = {
    "ordinary": ("SELECT count(*), sum(g) FROM generate_series(1, 300) AS g;", "300|45150"),
    "remap": ("SELECT length(string_agg(repeat('x', 1000), ',')) FROM generate_series(1, 20000);",
              "20019999"),
}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[2] not in ("setup", "clean", *LOADS):
        print("usage: pg_rare.py WORK setup|ordinary|remap|clean", file=sys.stderr)
        return 2
    work, mode = os.path.abspath(sys.argv[1]), sys.argv[2]
    cluster = os.path.join(work, "cluster")
    data, sock = os.path.join(cluster, "data"), os.path.join(cluster, "sock")
    if mode == "clean":
        shutil.rmtree(cluster, ignore_errors=True)
        return 0
    if mode == "setup":
        pg = pwd.getpwnam("postgres")
        os.mkdir(cluster, 0o755)
        os.chown(cluster, pg.pw_uid, pg.pw_gid)
        as_postgres(f"{BIN}/initdb", "-D", data, "--auth=trust", "-U", "postgres", "--no-sync",
                    "--encoding=UTF8", run=cluster)
        os.mkdir(sock)
        os.chown(sock, pg.pw_uid, pg.pw_gid)
        return 0
    query, want = LOADS[mode]
    opts = f"-c listen_addresses= -p {PORT} -k {sock} -c fsync=off"
    as_postgres(f"{BIN}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(cluster, "log"),
                "-w", "-t", "60", "start", run=cluster)
    try:
        out = as_postgres(f"{BIN}/psql", "-X", "-q", "-A", "-t", "-h", sock, "-p", str(PORT),
                          "-U", "postgres", "-d", "postgres", "-c", query, run=cluster)
    finally:
        as_postgres(f"{BIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop",
                    run=cluster)
    if out.strip() != want:
        print(f"FAILED: {out.strip()!r}, expected {want!r}", file=sys.stderr)
        return 1
    print(f"postgres ({mode}): {out.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
