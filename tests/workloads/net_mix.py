"""A workload using UDP, UNIX sockets (a named stream socket and a datagram socketpair), a
pseudo-terminal and ioctl(FIONREAD): each step prints ``<step> ok``. The argument rules of its
own profile must let every one through (issue 13, no false denials). ``--no-udp`` leaves UDP
and FIONREAD out (for a profile that lacks them)."""

import array
import fcntl
import os
import socket
import sys
import termios
import threading

base = sys.argv[1]
udp = "--no-udp" not in sys.argv


def udp_and_fionread():
    """UDP: a datagram to ourselves, and FIONREAD says how much is waiting."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.sendto(b"ping", rx.getsockname())
    pending = array.array("i", [0])
    rx.settimeout(5)
    rx.recv(1, socket.MSG_PEEK)
    fcntl.ioctl(rx.fileno(), termios.FIONREAD, pending)
    assert rx.recv(16) == b"ping" and pending[0] == 4, pending
    print("udp ok", flush=True)
    print("fionread ok", flush=True)


if udp:
    udp_and_fionread()

# a named UNIX stream socket, served by a thread
path = os.path.join(base, "mix.sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)


def serve():
    c, _ = srv.accept()
    c.sendall(c.recv(16).upper())
    c.close()


t = threading.Thread(target=serve)
t.start()
cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cl.connect(path)
cl.sendall(b"unix")
assert cl.recv(16) == b"UNIX"
t.join()
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
a.send(b"pair")
assert b.recv(16) == b"pair"
print("unix ok", flush=True)

# a pseudo-terminal: write through the master, read at the slave
master, slave = os.openpty()
attrs = termios.tcgetattr(slave)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(slave, termios.TCSANOW, attrs)
os.write(master, b"hello\n")
assert os.read(slave, 16) == b"hello\n"
assert os.isatty(slave)
print("pty ok", flush=True)
