#!/usr/bin/env python3
"""PostgreSQL (Debian's, 15 on bookworm) as the postgres user: initdb, start, psql, stop.

    postgres_db.py WORK [--port PORT] [--probe FILE]

Everything happens in WORK/run, owned by postgres (WORK must be searchable by it): initdb
makes a cluster in WORK/run/data, pg_ctl starts it listening on 127.0.0.1:PORT (default
54329) with its unix socket in WORK/run/sock (not the system's /var/run/postgresql), psql
creates a table, inserts rows, loads a CSV with ``\\copy ... from`` and writes a query's
result with ``\\copy ... to``, the driver checks that file, pg_ctl stops the server (fast
mode) and WORK/run is removed. The newest server in /usr/lib/postgresql/VERSION/bin is
used; every command runs through ``runuser -u postgres --`` from this root process.
See driver_common.py for WORK and --probe.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

from driver_common import fresh_run_dir, parse_args, probe, remove_run_dir


def _newest_bin() -> str:
    """Debian's newest installed server: /usr/lib/postgresql/VERSION/bin."""
    versions = [v for v in os.listdir("/usr/lib/postgresql") if v.isdigit()
                and os.path.exists(f"/usr/lib/postgresql/{v}/bin/initdb")]
    if not versions:
        raise SystemExit("no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)")
    return f"/usr/lib/postgresql/{max(versions, key=int)}/bin"


BIN = _newest_bin()
PORT = 54329
ROWS = [(i, f"item-{i}", i * 3) for i in range(1, 201)]

SQL = """\
\\set ON_ERROR_STOP on
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL);
INSERT INTO items VALUES (1001, 'saw', 1), (1002, 'plane', 2);
INSERT INTO items SELECT 2000 + g, 'gen-' || g, g FROM generate_series(1, 50) AS g;
\\copy items FROM '{run}/in.csv' WITH (FORMAT csv)
\\copy (SELECT * FROM items WHERE id <= 1000 ORDER BY id) TO '{run}/out.csv' csv
SELECT count(*) AS n, sum(qty) AS total FROM items;
"""


def as_postgres(*argv: str, run: str) -> str:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "HOME": run}
    p = subprocess.run(["/usr/sbin/runuser", "-u", "postgres", "--", *argv], cwd=run, env=env,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"{argv[0]} exited {p.returncode}")
    return p.stdout


def main() -> int:
    work, port, probe_file = parse_args(PORT)
    pg = pwd.getpwnam("postgres")
    run = fresh_run_dir(work)
    os.chown(run, pg.pw_uid, pg.pw_gid)
    data, sock = os.path.join(run, "data"), os.path.join(run, "sock")
    with open(os.path.join(run, "in.csv"), "w") as f:
        f.writelines(f"{i},{name},{qty}\n" for i, name, qty in ROWS)
    with open(os.path.join(run, "load.sql"), "w") as f:
        f.write(SQL.format(run=run))

    as_postgres(f"{BIN}/initdb", "-D", data, "--auth=trust", "-U", "postgres", "--no-sync",
                "--encoding=UTF8", run=run)
    os.mkdir(sock)
    os.chown(sock, pg.pw_uid, pg.pw_gid)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    as_postgres(f"{BIN}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(run, "server.log"),
                "-w", "-t", "60", "start", run=run)
    try:
        out = as_postgres(f"{BIN}/psql", "-X", "-q", "-A", "-t", "-h", sock, "-p", str(port),
                          "-U", "postgres", "-d", "postgres", "-f", os.path.join(run, "load.sql"),
                          run=run)
    finally:
        as_postgres(f"{BIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop", run=run)
    n, total = (int(x) for x in out.split()[-1].split("|"))
    with open(os.path.join(run, "out.csv")) as f:
        copied = f.read()
    expected = "".join(f"{i},{name},{qty}\n" for i, name, qty in ROWS)
    want_n = len(ROWS) + 2 + 50
    want_total = sum(q for _, _, q in ROWS) + 3 + sum(range(1, 51))
    if (n, total) != (want_n, want_total) or copied != expected:
        sys.stderr.write(open(os.path.join(run, "server.log")).read())
        print(f"FAILED: count {n} sum {total} (expected {want_n} {want_total}), "
              f"out.csv {'matches' if copied == expected else 'differs'}", file=sys.stderr)
        return 1
    remove_run_dir(run)
    print(f"postgres: {n} rows, \\copy in and out of {len(ROWS)} rows, on 127.0.0.1:{port}")
    if probe_file:
        probe(probe_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
