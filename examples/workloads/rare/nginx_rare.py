#!/usr/bin/env python3
"""nginx (Debian's nginx-light) serving a static site through its proxy cache, driven from
outside so that a recording (and a replay under a sandbox) holds nginx alone.

    nginx_rare.py WORK setup              write WORK/run/nginx.conf (free loopback ports)
    nginx_rare.py WORK server             print the nginx command line (JSON) to run
    nginx_rare.py WORK drive MODE         drive the running nginx, then stop it (SIGQUIT)
    nginx_rare.py WORK clean              remove WORK/run

MODE is ``ordinary``, ``reload`` or ``purge``. One configuration for every mode (WORK/run,
as the real-server drivers in examples/workloads/servers do): a front server proxies to a
backend server block serving the site beside nginx_site.py, with a proxy cache in
WORK/run/cache whose entries expire after 1 s of inactivity.

- ``ordinary``: fetch two pages through the cache, stop nginx.
- ``reload``: the same, then SIGHUP to the master (what ``nginx -s reload`` sends: it re-reads
  its configuration and replaces its workers), fetch the pages again, stop.
- ``purge``: the same fetches, then wait until nginx's cache manager has removed the expired
  entries (checked on disk), stop.

The pages are fetched with urllib from this process, outside nginx's process tree.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))

from driver_common import fresh_run_dir, remove_run_dir, wait_port  # noqa: E402
from nginx_site import NGINX, PAGES, SITE  # noqa: E402

CONF = """\
user www-data;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {run}/access.log;
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    types {{ text/html html; text/plain txt; }}
    proxy_cache_path {run}/cache levels=1 keys_zone=pages:1m inactive=1s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_cache pages;
            proxy_cache_valid 200 10m;
        }}
    }}
    server {{
        listen 127.0.0.1:{backend};
        root {site};
        index index.html;
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cached(run: str) -> list[str]:
    out = []
    for d, _, files in os.walk(os.path.join(run, "cache")):
        out += [os.path.join(d, f) for f in files]
    return out


def fetch_all(port: int) -> list[str]:
    failures = []
    for rel in PAGES:
        url = f"http://127.0.0.1:{port}/" + ("" if rel == "index.html" else rel)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                code, body = r.status, r.read()
        except OSError as e:
            failures.append(f"{url}: {e}")
            continue
        with open(os.path.join(SITE, rel), "rb") as g:
            if code != 200 or body != g.read():
                failures.append(f"{url}: HTTP {code}")
    return failures


def master_pid(run: str, timeout: float = 30) -> int:
    path = os.path.join(run, "nginx.pid")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.1)
    raise SystemExit(f"no {path} after {timeout:.0f} s")


def drive(run: str, mode: str, ports: dict) -> int:
    port = ports["port"]
    failures = []
    try:
        wait_port(port)
        wait_port(ports["backend"])
        pid = master_pid(run)
        failures += fetch_all(port)
        if not cached(run):
            failures.append("nothing was cached")
        if mode == "reload":
            os.kill(pid, signal.SIGHUP)
            time.sleep(1.5)                           # the new workers take over
            failures += fetch_all(port)
        elif mode == "purge":
            deadline = time.monotonic() + 20
            while cached(run) and time.monotonic() < deadline:
                time.sleep(0.5)
            if cached(run):
                failures.append("the cache manager removed nothing in 20 s")
    finally:
        try:
            os.kill(master_pid(run, 5), signal.SIGQUIT)
        except (OSError, SystemExit):
            pass
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print(f"nginx ({mode}): served {len(PAGES)} pages through its cache on 127.0.0.1:{port}")
    return 0


def main() -> int:
    args = sys.argv[1:]
    usage = "usage: nginx_rare.py WORK setup|server|clean|drive ordinary|reload|purge"
    if len(args) < 2 or args[1] not in ("setup", "server", "drive", "clean") or \
            (args[1] == "drive") != (len(args) == 3) or \
            (args[1] == "drive" and args[2] not in ("ordinary", "reload", "purge")):
        print(usage, file=sys.stderr)
        return 2
    work, step = os.path.abspath(args[0]), args[1]
    run = os.path.join(work, "run")
    conf = os.path.join(run, "nginx.conf")
    if step == "clean":
        if os.path.exists(run):
            remove_run_dir(run)
        return 0
    if step == "setup":
        fresh_run_dir(work)
        os.mkdir(os.path.join(run, "tmp"))
        ports = {"port": free_port(), "backend": free_port()}
        with open(os.path.join(run, "ports.json"), "w") as f:
            json.dump(ports, f)
        with open(conf, "w") as f:
            f.write(CONF.format(run=run, site=SITE, **ports))
        return 0
    if step == "server":
        print(json.dumps([NGINX, "-p", run, "-c", conf, "-e", os.path.join(run, "error.log"),
                          "-g", "daemon off;"]))
        return 0
    with open(os.path.join(run, "ports.json")) as f:
        ports = json.load(f)
    return drive(run, args[2], ports)


if __name__ == "__main__":
    sys.exit(main())
