"""A workload that calls every syscall of argspec.ARG_RULES with values it chose, and prints
them (JSON: syscall -> list of raw argument lists, into the file argv[1]) for the test to compare with what the
recorder saw. Calls are made through libc with explicit values, some with bits the argument
masks drop (SOCK_CLOEXEC, an ioctl request with upper bits set)."""

import ctypes
import json
import socket
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
made: dict[str, list[list[int]]] = {}
NR = {name: int(nr) for name, nr in (a.split("=") for a in sys.argv[2:])}


def call(name: str, *args: int) -> int:
    args6 = list(args) + [0] * (6 - len(args))
    made.setdefault(name, []).append(args6)
    return libc.syscall(ctypes.c_long(NR[name]), *(ctypes.c_ulong(a) for a in args6))


SOCK_CLOEXEC = 0o2000000
fd = call("socket", socket.AF_INET, socket.SOCK_STREAM | SOCK_CLOEXEC, 0)
fd6 = call("socket", socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
pair = (ctypes.c_int * 2)()
made.setdefault("socketpair", []).append([socket.AF_UNIX, socket.SOCK_DGRAM, 0, 0, 0, 0])
libc.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM, 0, pair)
n = ctypes.c_int(0)
call("ioctl", pair[0], 0x541B, ctypes.addressof(n))              # FIONREAD
call("ioctl", pair[0], (1 << 32) | 0x541B, ctypes.addressof(n))  # the kernel sees FIONREAD
one = ctypes.c_int(1)
call("setsockopt", fd, socket.IPPROTO_TCP, socket.TCP_NODELAY, ctypes.addressof(one), 4)
call("sendto", pair[0], ctypes.addressof(n), 1, 0x40, 0, 0)      # MSG_DONTWAIT
call("prctl", 15, ctypes.addressof(ctypes.create_string_buffer(b"argcalls")))  # PR_SET_NAME
call("personality", 0xFFFFFFFF)                                   # query
with open(sys.argv[1], "w") as f:
    json.dump(made, f)
