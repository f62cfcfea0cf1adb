#!/usr/bin/env python3
"""nginx (the Debian package) serving a static site on 127.0.0.1, fetched with curl.

    nginx_site.py WORK [--port PORT] [--probe FILE]

Writes a site and a private configuration into WORK/run (pid file, logs, temp paths all
there; the master runs as root, its two workers as www-data, as Debian's nginx does), starts
nginx in the foreground on 127.0.0.1:PORT (default 48631), fetches two pages and a 404 with
curl, compares what came back, stops nginx with SIGQUIT (graceful), and removes WORK/run.
See driver_common.py for WORK and --probe.
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
        root {run}/www;
        index index.html;
    }}
}}
"""

PAGES = {
    "index.html": "<h1>sandprint real-server suite</h1>\n",
    "notes/data.txt": "".join(f"line {i} of a static file\n" for i in range(2000)),
}


def curl(url: str, out: str) -> int:
    code = subprocess.run(["curl", "-sS", "-o", out, "-w", "%{http_code}", url],
                          capture_output=True, text=True, check=True).stdout
    return int(code)


def main() -> int:
    work, port, probe_file = parse_args(PORT)
    run = fresh_run_dir(work)
    os.mkdir(os.path.join(run, "tmp"))
    for rel, text in PAGES.items():
        path = os.path.join(run, "www", rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    conf = os.path.join(run, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(run=run, port=port))

    server = subprocess.Popen([NGINX, "-p", run, "-c", conf, "-e", os.path.join(run, "error.log"),
                               "-g", "daemon off;"])
    failures = []
    try:
        wait_port(port)
        got = os.path.join(run, "got")
        for rel, text in PAGES.items():
            url = f"http://127.0.0.1:{port}/" + ("" if rel == "index.html" else rel)
            code = curl(url, got)
            with open(got) as f:
                body = f.read()
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
