#!/usr/bin/env python3
"""A TCP echo on 127.0.0.1 (an ephemeral port) in one Python process and one thread: a client
sends "ping", the server answers "pong:ping".

    py_shutdown.py ordinary   both sides close their sockets outright (close(2))
    py_shutdown.py rare       both sides end them gracefully with socket.shutdown(SHUT_WR)
                              first, which the ordinary path never does (a rare path of
                              tests/test_rare_paths.py)

shutdown() is made by the `_socket` extension module, which the interpreter loads with
dlopen: libpython itself never imports it, so only an analysis that follows what dlopen
loaded can find it.
"""

from __future__ import annotations

import socket
import sys


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ("ordinary", "rare"):
        print("usage: py_shutdown.py ordinary|rare", file=sys.stderr)
        return 2
    rare = sys.argv[1] == "rare"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=10)
        conn, _ = server.accept()
        client.sendall(b"ping")
        conn.sendall(b"pong:" + conn.recv(64))
        if rare:
            conn.shutdown(socket.SHUT_WR)
        got = b""
        while len(got) < 9 or rare:
            chunk = client.recv(64)
            if not chunk:
                break
            got += chunk
        if rare:
            client.shutdown(socket.SHUT_WR)
            if conn.recv(64) != b"":
                print("FAILED: the server saw data after the client's shutdown", file=sys.stderr)
                return 1
        client.close()
        conn.close()
    if got != b"pong:ping":
        print(f"FAILED: got {got!r}", file=sys.stderr)
        return 1
    print(f"python: echo over 127.0.0.1 ({sys.argv[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
