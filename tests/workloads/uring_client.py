#!/usr/bin/env python3
"""A workload that uses io_uring, and (in probe mode) what its ring can do past seccomp.

    uring_client.py benign FILE          read FILE through an io_uring (IORING_OP_READ)
    uring_client.py probe FILE           the same, then IORING_OP_SOCKET(AF_NETLINK): one JSON
                                         line {"benign": ...} then {"probe", "outcome", ...}

The ring's operations run in the kernel without passing through seccomp: a profile that
allows io_uring_setup/io_uring_enter (because the workload used them) cannot apply the
argument rules of socket, sendmsg, ... to what is submitted through the ring. Raw syscalls
through ctypes, numbers from libseccomp (pyseccomp)."""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import struct
import sys

import pyseccomp

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
IORING_OP_READ, IORING_OP_SOCKET = 22, 45
IORING_ENTER_GETEVENTS = 1
IORING_OFF_SQ_RING, IORING_OFF_SQES = 0, 0x10000000
AF_NETLINK, SOCK_RAW, NETLINK_ROUTE = 16, 3, 0


def _sys(name: str, *args) -> int:
    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a
                                         for a in args])
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{name}: {os.strerror(e)}")
    return r


class Ring:
    """One io_uring with a single-mmap SQ/CQ ring (IORING_FEAT_SINGLE_MMAP, 5.4+)."""

    def __init__(self, entries: int = 4):
        params = ctypes.create_string_buffer(120)
        self.fd = _sys("io_uring_setup", entries, params)
        p = params.raw
        self.sq_entries, self.cq_entries = struct.unpack_from("II", p, 0)
        # struct io_sqring_offsets at 40, struct io_cqring_offsets at 80
        (self.sq_head, self.sq_tail, self.sq_mask, _, _, _, self.sq_array) = \
            struct.unpack_from("7I", p, 40)
        (self.cq_head, self.cq_tail, self.cq_mask, _, _, self.cqes) = \
            struct.unpack_from("6I", p, 80)
        size = max(self.sq_array + self.sq_entries * 4, self.cqes + self.cq_entries * 16)
        self.ring = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE, offset=IORING_OFF_SQ_RING)
        self.sqes = mmap.mmap(self.fd, self.sq_entries * 64, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE, offset=IORING_OFF_SQES)

    def _u32(self, off: int, value: int | None = None) -> int:
        if value is not None:
            struct.pack_into("I", self.ring, off, value)
        return struct.unpack_from("I", self.ring, off)[0]

    def submit(self, opcode: int, fd: int, addr: int = 0, length: int = 0, off: int = 0,
               op_flags: int = 0) -> int:
        """Submit one SQE, wait for its CQE; its res (negative: -errno)."""
        tail = self._u32(self.sq_tail)
        index = tail & self._u32(self.sq_mask)
        sqe = struct.pack("BBHiQQIIQHHI", opcode, 0, 0, fd, off, addr, length, op_flags,
                          0x5A, 0, 0, 0)
        self.sqes[index * 64:(index + 1) * 64] = sqe.ljust(64, b"\0")
        self._u32(self.sq_array + index * 4, index)
        self._u32(self.sq_tail, tail + 1)
        _sys("io_uring_enter", self.fd, 1, 1, IORING_ENTER_GETEVENTS, 0, 0)
        head = self._u32(self.cq_head)
        cqe = self.cqes + (head & self._u32(self.cq_mask)) * 16
        _, res, _ = struct.unpack_from("QiI", self.ring, cqe)
        self._u32(self.cq_head, head + 1)
        return res


def read_through_ring(path: str) -> bytes:
    ring = Ring()
    buf = ctypes.create_string_buffer(4096)
    fd = os.open(path, os.O_RDONLY)
    try:
        n = ring.submit(IORING_OP_READ, fd, ctypes.addressof(buf), 4096, 0)
    finally:
        os.close(fd)
    if n < 0:
        raise OSError(-n, os.strerror(-n))
    return buf.raw[:n]


def probe_ring_socket() -> dict:
    """IORING_OP_SOCKET(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) (5.19+), then a dump request
    written to it with write(): the family socket() is refused."""
    ring = Ring()
    fd = ring.submit(IORING_OP_SOCKET, AF_NETLINK, 0, NETLINK_ROUTE, SOCK_RAW)
    if fd < 0:
        return {"outcome": "denied", "errno": errno.errorcode.get(-fd, str(-fd)),
                "detail": f"IORING_OP_SOCKET: {os.strerror(-fd)}"}
    # RTM_GETLINK dump: the interfaces' list
    msg = struct.pack("IHHII", 32, 18, 0x301, 1, 0) + struct.pack("BxHiII", 0, 0, 0, 0, 0)
    os.write(fd, msg)
    answer = os.read(fd, 65536)
    return {"outcome": "ALLOWED",
            "detail": f"IORING_OP_SOCKET made AF_NETLINK fd {fd}; RTM_GETLINK answered "
                      f"{len(answer)} bytes"}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("benign", "probe"):
        print(__doc__, file=sys.stderr)
        return 2
    data = read_through_ring(argv[1])
    print(json.dumps({"benign": "ok" if data else "empty", "bytes": len(data)}), flush=True)
    if argv[0] == "probe":
        try:
            result = probe_ring_socket()
        except OSError as e:
            result = {"outcome": "denied", "errno": errno.errorcode.get(e.errno, str(e.errno)),
                      "detail": str(e)}
        print(json.dumps({"probe": "io-uring-socket", **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
