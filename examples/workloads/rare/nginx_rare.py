#!/usr/bin/env python3
"""nginx (Debian's nginx-light) serving a static site through its proxy cache, and two rare
paths an ordinary run never takes.

    nginx_rare.py WORK ordinary|reload|purge [--port PORT]

One configuration for every mode (WORK/run, as the real-server drivers in
examples/workloads/servers do: driver_common.py): a front server on 127.0.0.1:PORT (default:
a free port) proxies to a backend server block serving the site beside nginx_site.py, with a
proxy cache in WORK/run/cache whose entries expire after 1 s of inactivity.

- ``ordinary``: start nginx, fetch two pages through the cache, stop it (SIGQUIT).
- ``reload``: the same, then ``nginx -s reload`` (the master re-reads its configuration and
  replaces its workers), fetch the pages again, stop.
- ``purge``: the same fetches, then wait until nginx's cache manager has removed the expired
  entries (checked on disk), stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))

from driver_common import fresh_run_dir, remove_run_dir, wait_port  # noqa: E402
from nginx_site import NGINX, PAGES, SITE, curl  # noqa: E402

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


def fetch_all(run: str, port: int) -> list[str]:
    failures = []
    got = os.path.join(run, "got")
    for rel in PAGES:
        url = f"http://127.0.0.1:{port}/" + ("" if rel == "index.html" else rel)
        code = curl(url, got)
        with open(got) as f, open(os.path.join(SITE, rel)) as g:
            if code != 200 or f.read() != g.read():
                failures.append(f"{url}: HTTP {code}")
    return failures


def main() -> int:
    args = sys.argv[1:]
    port = 0
    if "--port" in args:
        i = args.index("--port")
        port = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2 or args[1] not in ("ordinary", "reload", "purge"):
        print("usage: nginx_rare.py WORK ordinary|reload|purge [--port PORT]", file=sys.stderr)
        return 2
    work, mode = os.path.abspath(args[0]), args[1]
    port = port or free_port()
    backend = free_port()
    run = fresh_run_dir(work)
    os.mkdir(os.path.join(run, "tmp"))
    conf = os.path.join(run, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(run=run, port=port, backend=backend, site=SITE))
    base = [NGINX, "-p", run, "-c", conf, "-e", os.path.join(run, "error.log")]
    server = subprocess.Popen(base + ["-g", "daemon off;"], stdin=subprocess.DEVNULL)
    failures = []
    try:
        wait_port(port)
        wait_port(backend)
        failures += fetch_all(run, port)
        if not cached(run):
            failures.append("nothing was cached")
        if mode == "reload":
            subprocess.run(base + ["-s", "reload"], check=True, stdin=subprocess.DEVNULL)
            time.sleep(1.0)                           # the new workers take over
            failures += fetch_all(run, port)
        elif mode == "purge":
            deadline = time.monotonic() + 20
            while cached(run) and time.monotonic() < deadline:
                time.sleep(0.5)
            if cached(run):
                failures.append("the cache manager removed nothing in 20 s")
    finally:
        server.send_signal(signal.SIGQUIT)
        rc = server.wait(timeout=30)
    if rc != 0:
        failures.append(f"nginx exited {rc}")
    if failures:
        with open(os.path.join(run, "error.log")) as f:
            sys.stderr.write(f.read())
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    remove_run_dir(run)
    print(f"nginx ({mode}): served {len(PAGES)} pages through its cache on 127.0.0.1:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
