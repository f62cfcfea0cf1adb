#!/usr/bin/env python3
"""Serve a directory over HTTP on 127.0.0.1:PORT and fetch a page from it.

    python3 http_fetch.py SITE_DIR PORT OUT_FILE

Runs ``python3 -m http.server`` as a child process (a server bound to a port), fetches
``/index.html`` from it with urllib (a client connecting to that port, no proxy), writes the
page to OUT_FILE and stops the server.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request


def wait_listening(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def main():
    site, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", site],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, server)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/index.html", timeout=10) as resp:
            body = resp.read()
            status = resp.status
    finally:
        server.terminate()
        server.wait(timeout=10)
    with open(out, "wb") as f:
        f.write(body)
    print(f"HTTP {status}, {len(body)} bytes")


if __name__ == "__main__":
    main()
