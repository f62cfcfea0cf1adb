#!/usr/bin/env python3
"""nginx (the Debian package) serving a static site on 127.0.0.1, fetched with curl.

    nginx_site.py WORK [--port PORT] [--probe FILE] [--site DIR]

Serves the static site DIR (default: the ``site`` directory beside this script; the workers
run as www-data and must be able to read it) with a private configuration in WORK/run (pid
file, logs, temp paths all there; the master runs as root, its two workers as www-data, as
Debian's nginx does): starts nginx in the foreground on 127.0.0.1:PORT (default 48631),
fetches two pages and a page that does not exist (404) with curl, compares what came back
with the files, stops nginx with SIGQUIT (graceful), and removes WORK/run. See
driver_common.py for WORK and --probe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from driver_common import fresh_run_dir, parse_args, probe, remove_run_dir, wait_port

NGINX = "/usr/sbin/nginx"
PORT = 48631

CONF = """\
user www-data;
worker_processes 2;
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
    server {{
        listen 127.0.0.1:{port};
        root {site};
        index index.html;
    }}
}}
"""

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")
PAGES = ["index.html", "notes/data.txt"]


def curl(url: str, out: str) -> int:
    code = subprocess.run(["curl", "-sS", "-o", out, "-w", "%{http_code}", url],
                          capture_output=True, text=True, check=True,
                          stdin=subprocess.DEVNULL).stdout
    return int(code)


def main() -> int:
    site = SITE
    if "--site" in sys.argv:
        i = sys.argv.index("--site")
        site = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    work, port, probe_file = parse_args(PORT)
    run = fresh_run_dir(work)
    os.mkdir(os.path.join(run, "tmp"))
    conf = os.path.join(run, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(run=run, port=port, site=site))

    server = subprocess.Popen([NGINX, "-p", run, "-c", conf, "-e", os.path.join(run, "error.log"),
                               "-g", "daemon off;"], stdin=subprocess.DEVNULL)
    failures = []
    try:
        wait_port(port)
        got = os.path.join(run, "got")
        for rel in PAGES:
            url = f"http://127.0.0.1:{port}/" + ("" if rel == "index.html" else rel)
            code = curl(url, got)
            with open(got) as f, open(os.path.join(site, rel)) as g:
                body, text = f.read(), g.read()
            if code != 200 or body != text:
                failures.append(f"{url}: HTTP {code}, {len(body)} bytes")
        code = curl(f"http://127.0.0.1:{port}/missing.html", got)
        if code != 404:
            failures.append(f"missing.html: HTTP {code}, expected 404")
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
    print(f"nginx served {len(PAGES)} pages and a 404 on 127.0.0.1:{port}")
    if probe_file:
        probe(probe_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
