"""The arguments that decide what an allowed syscall can reach, and how they are recorded.

One table serves the recorder (which values to read at ``sys_enter`` and which bits to keep)
and the generator (which libseccomp argument comparisons to write). A recorded value is the
argument masked with its :class:`ArgSpec`'s mask, so the recorder and the filter compare the
same bits: ``socket``'s type without ``SOCK_NONBLOCK``/``SOCK_CLOEXEC``, the send calls' flags
reduced to ``MSG_FASTOPEN``, ``ioctl``'s request as the 32-bit number the kernel compares.

In a recording, ``targets[].args`` holds, per syscall name of this table, the distinct value
tuples (in the order of the table's specs) with how often each was seen::

    "args": {"socket": [{"values": [2, 1, 0], "count": 3}],
             "ioctl": [{"values": [21531], "count": 40}]}

``metadata.argsRecorded`` is true when the recorder read them; a recording without it (an
older one) says nothing about arguments, and the generator then cannot narrow them.
"""

from __future__ import annotations

import socket as _socket
from dataclasses import dataclass

SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
MSG_FASTOPEN = 0x20000000
U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class ArgSpec:
    """One decisive argument: its position, the bits that matter, and what it is called."""

    index: int          # argument position, 0..5
    mask: int           # the bits recorded and compared (SCMP_CMP_MASKED_EQ when not all)
    name: str

    @property
    def whole(self) -> bool:
        """Whether the whole 64-bit value is compared (a plain SCMP_CMP_EQ)."""
        return self.mask == 0xFFFFFFFFFFFFFFFF


ALL = 0xFFFFFFFFFFFFFFFF

_SOCKET = (ArgSpec(0, ALL, "domain"),
           ArgSpec(1, U32 & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), "type"),
           ArgSpec(2, ALL, "protocol"))

# syscall name -> its decisive arguments, in the order a recorded value tuple holds them
ARG_RULES: dict[str, tuple[ArgSpec, ...]] = {
    "socket": _SOCKET,
    "socketpair": _SOCKET,
    "sendto": (ArgSpec(3, MSG_FASTOPEN, "flags"),),
    "sendmsg": (ArgSpec(2, MSG_FASTOPEN, "flags"),),
    "sendmmsg": (ArgSpec(3, MSG_FASTOPEN, "flags"),),
    "setsockopt": (ArgSpec(1, ALL, "level"), ArgSpec(2, ALL, "optname")),
    "ioctl": (ArgSpec(1, U32, "request"),),
    "prctl": (ArgSpec(0, ALL, "option"),),
    "personality": (ArgSpec(0, U32, "persona"),),
}


def mask_values(name: str, raw_args: "list[int] | tuple[int, ...]") -> tuple[int, ...]:
    """The recorded value tuple of a call to ``name`` given its six raw arguments."""
    return tuple(raw_args[s.index] & s.mask for s in ARG_RULES[name])


def family_name(domain: int) -> str:
    """``AF_INET`` for 2, and so on; the number itself when Python does not know it."""
    try:
        return _socket.AddressFamily(domain).name
    except ValueError:
        return str(domain)


def socket_type_name(kind: int) -> str:
    try:
        return _socket.SocketKind(kind).name
    except ValueError:
        return str(kind)
