"""The kernel's seccomp audit records (type 1326, ``AUDIT_SECCOMP``), read without auditd.

The kernel writes one such record whenever a filter's action is logged: always for
``SCMP_ACT_LOG`` (the would-be denials of a profile generated with ``--default-action log``)
and for the kill actions, and for ``SCMP_ACT_ERRNO``/``TRAP`` when the filter was loaded with
``SECCOMP_FILTER_FLAG_LOG`` (an OCI profile's ``flags``) -- each only while its name is in
``/proc/sys/kernel/seccomp/actions_logged``.

Two ways to read them, tried in this order:

1. the audit netlink socket's read-only multicast group (``AUDIT_NLGRP_READLOG``, needs
   ``CAP_AUDIT_READ``): every record, alongside any auditd, without registering as the
   audit daemon;
2. ``/dev/kmsg``, where the kernel prints records when no audit daemon takes them: rate
   limited by printk (``kernel.printk_ratelimit``/``_burst``, "audit: printk limit
   exceeded"), so records may be dropped -- the source says so.
"""

from __future__ import annotations

import errno
import os
import re
import select
import socket
import struct
from dataclasses import dataclass

from ..errors import EnvironmentProblem

AUDIT_SECCOMP = 1326
NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1
ACTIONS_LOGGED = "/proc/sys/kernel/seccomp/actions_logged"

# audit's architecture tokens (AUDIT_ARCH_* of <linux/audit.h>) -> OCI architecture names
AUDIT_ARCH = {
    0xC000003E: "SCMP_ARCH_X86_64", 0x40000003: "SCMP_ARCH_X86",
    0xC00000B7: "SCMP_ARCH_AARCH64", 0x40000028: "SCMP_ARCH_ARM",
    0x80000016: "SCMP_ARCH_S390X", 0x00000016: "SCMP_ARCH_S390",
    0xC0000015: "SCMP_ARCH_PPC64LE", 0x80000015: "SCMP_ARCH_PPC64",
    0xC00000F3: "SCMP_ARCH_RISCV64", 0xC0000102: "SCMP_ARCH_LOONGARCH64",
}

# SECCOMP_RET_* (the action part of a filter's return value, <linux/seccomp.h>) -> name
_ACTIONS = {0x80000000: "kill_process", 0x00000000: "kill_thread", 0x00030000: "trap",
            0x00050000: "errno", 0x7FC00000: "user_notif", 0x7FF00000: "trace",
            0x7FFC0000: "log", 0x7FFF0000: "allow"}


def action_name(code: int) -> str:
    return _ACTIONS.get(code & 0xFFFF0000, f"0x{code:08x}")


@dataclass(frozen=True)
class SeccompRecord:
    """One AUDIT_SECCOMP record."""

    pid: int
    comm: str
    exe: str
    arch: str | None          # OCI name, None for an architecture audit names we do not know
    syscall: int
    compat: bool
    action: str               # log, errno, kill_process ...
    serial: str


_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')


def parse_record(text: str) -> SeccompRecord | None:
    """``audit(T:SERIAL): auid=... pid=N comm="x" exe="/y" sig=0 arch=c000003e syscall=110
    compat=0 ip=... code=0x7ffc0000`` -> the record (None when it is not one)."""
    m = re.search(r"audit\(([\d.]+:\d+)\):", text)
    fields = {k: v.strip('"') for k, v in _FIELD.findall(text)}
    try:
        arch = int(fields["arch"], 16)
        return SeccompRecord(
            pid=int(fields["pid"]), comm=fields.get("comm", "?"), exe=fields.get("exe", "?"),
            arch=AUDIT_ARCH.get(arch), syscall=int(fields["syscall"]),
            compat=fields.get("compat", "0") == "1", action=action_name(int(fields["code"], 16)),
            serial=m.group(1) if m else "")
    except (KeyError, ValueError):
        return None


def actions_logged() -> set[str]:
    try:
        with open(ACTIONS_LOGGED) as f:
            return set(f.read().split())
    except OSError:
        return set()


class AuditSource:
    """Reads AUDIT_SECCOMP records as they come. ``kind`` is ``netlink`` or ``kmsg``;
    ``lossy`` says whether records may be dropped on the way (kmsg's rate limit)."""

    def __init__(self, prefer: str = "netlink"):
        self.kind = None
        self.lossy = False
        self.overflows = 0                       # times the kernel dropped records for us
        self.fd: int | None = None
        self.sock: socket.socket | None = None
        self.why_not_netlink: str | None = None
        self._kmsg_tail = b""
        if prefer == "netlink":
            try:
                s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
                s.bind((0, AUDIT_NLGRP_READLOG))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                self.sock, self.kind = s, "netlink"
                return
            except OSError as e:
                self.why_not_netlink = os.strerror(e.errno) if e.errno else str(e)
        try:
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)         # only what comes from now on
        except OSError as e:
            raise EnvironmentProblem(
                "cannot read the kernel's seccomp audit records: the audit netlink socket "
                f"({self.why_not_netlink or 'not tried'}) and /dev/kmsg ({e.strerror}) are "
                "both closed; run as root (CAP_AUDIT_READ, or CAP_SYSLOG for /dev/kmsg)"
            ) from None
        self.kind, self.lossy = "kmsg", True

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else self.fd

    def read(self, timeout: float) -> list[SeccompRecord]:
        """The records that arrived, waiting up to ``timeout`` seconds for the first."""
        ready, _, _ = select.select([self.fileno()], [], [], timeout)
        if not ready:
            return []
        out: list[SeccompRecord] = []
        if self.sock is not None:
            while True:
                try:
                    data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno == errno.ENOBUFS:      # the socket overflowed: records lost
                        self.overflows += 1
                        continue
                    raise
                off = 0
                while off + 16 <= len(data):
                    length, typ = struct.unpack_from("=IH", data, off)
                    if length < 16:
                        break
                    if typ == AUDIT_SECCOMP:
                        r = parse_record(data[off + 16:off + length].decode("utf-8", "replace"))
                        if r is not None:
                            out.append(r)
                    off += (length + 3) & ~3
            return out
        while True:
            try:
                line = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:            # overwritten before we read it
                    self.overflows += 1
                    continue
                raise
            if not line:
                break
            text = line.decode("utf-8", "replace")
            _, _, msg = text.partition(";")
            if "type=1326" in msg:
                r = parse_record(msg)
                if r is not None:
                    out.append(r)
        return out

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.fd is not None:
            os.close(self.fd)
