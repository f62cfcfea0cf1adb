"""Who forked whom, from the kernel's process events connector (``NETLINK_CONNECTOR``,
``CN_IDX_PROC``), so that a seccomp audit record of a process that is already gone can
still be placed: by the parent it was forked from (whose cgroup it was born in).

The connector sends one ``PROC_EVENT_FORK`` per fork synchronously, as the fork happens;
the audit record of a syscall the child made later reaches user space later still (through
the kernel's audit thread), so by the time a record is read the fork that made its process
is in this socket's queue: :meth:`ProcEvents.parent` drains the queue before answering.
Needs root (CAP_NET_ADMIN) in the host's PID and user namespaces; when it cannot listen,
records of exited processes stay unattributed and the watch says so.
"""

from __future__ import annotations

import os
import socket
import struct

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_FORK = 0x00000001
_NLMSG = struct.Struct("=IHHII")             # nlmsghdr
_CN_MSG = struct.Struct("=IIIIHH")           # cn_msg: id.idx, id.val, seq, ack, len, flags
_EVENT = struct.Struct("=IIQ")               # proc_event: what, cpu, timestamp_ns
_FORK = struct.Struct("=IIII")               # parent_pid, parent_tgid, child_pid, child_tgid
NLMSG_DONE = 3


class ProcEvents:
    def __init__(self, keep: int = 1 << 16):
        self.parents: dict[int, int] = {}        # child tgid -> parent tgid
        self.keep = keep
        self.error: str | None = None
        self.sock: socket.socket | None = None
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
            s.bind((0, CN_IDX_PROC))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
            cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
            s.send(_NLMSG.pack(_NLMSG.size + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn)
            self.sock = s
        except OSError as e:
            self.error = e.strerror or str(e)

    def drain(self) -> None:
        if self.sock is None:
            return
        while True:
            try:
                data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                continue                          # ENOBUFS: some events lost; go on
            off = 0
            while off + _NLMSG.size <= len(data):
                length = _NLMSG.unpack_from(data, off)[0]
                if length < _NLMSG.size:
                    break
                body = off + _NLMSG.size + _CN_MSG.size
                if body + _EVENT.size + _FORK.size <= off + length:
                    what = _EVENT.unpack_from(data, body)[0]
                    if what == PROC_EVENT_FORK:
                        _, ptgid, cpid, ctgid = _FORK.unpack_from(data, body + _EVENT.size)
                        if cpid == ctgid:         # a new process, not a thread
                            self.parents[ctgid] = ptgid
                off += (length + 3) & ~3
            if len(self.parents) > self.keep:
                for k in list(self.parents)[: len(self.parents) - self.keep // 2]:
                    del self.parents[k]

    def parent(self, pid: int) -> int | None:
        self.drain()
        return self.parents.get(pid)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
