"""A client that resolves names as real ones do, each step printing ``<step> ok``: a local TCP
server (a thread) on 127.0.0.1, then ``getaddrinfo("localhost")`` through /etc/hosts, the same
with AI_ADDRCONFIG (glibc asks rtnetlink which address families are configured: an
AF_NETLINK socket), and ``create_connection(("localhost", port))`` with SO_KEEPALIVE and
TCP_NODELAY set, as HTTP clients do. Python's socket module adds SOCK_CLOEXEC to every socket.
Its own profile's argument rules must let each through (issue 13, no false denials)."""

import socket
import threading

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
port = server.getsockname()[1]


def serve():
    c, _ = server.accept()
    with c:
        c.sendall(b"hello:" + c.recv(64))


threading.Thread(target=serve, daemon=True).start()
assert any(a[4][0] == "127.0.0.1" for a in socket.getaddrinfo("localhost", port))
print("hosts ok", flush=True)
assert socket.getaddrinfo("localhost", port, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
print("addrconfig ok", flush=True)
with socket.create_connection(("localhost", port), timeout=5) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"x")
    assert s.recv(64) == b"hello:x"
print("connect ok", flush=True)
