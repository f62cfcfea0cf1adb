#!/usr/bin/env python3
"""A network client that does honest work, and then (in probe mode) tries what its allowed
syscalls can still reach with other arguments.

    net_client_probes.py setup  BASE                  start BASE's stand-ins (unsandboxed)
    net_client_probes.py benign BASE                  the work: one HTTP GET to the local server
    net_client_probes.py probe  BASE [--outside-pid P]  the work, then every probe
    net_client_probes.py list                         the probes, one JSON line each
    net_client_probes.py stop   BASE                  end BASE's stand-ins

The work, as a Python HTTP client does it: read ``BASE/ports.json``, fetch
``http://127.0.0.1:PORT/`` with urllib over ONE TCP connection (the socket's timeout makes
Python set it non-blocking with ioctl(FIONBIO)) in a forked worker, ask whether its stdout is a terminal
(ioctl(TCGETS)), name its process (prctl(PR_SET_NAME)) and query its persona
(personality(0xffffffff)), and write the page's digest to ``BASE/out/page.json``.

``setup`` starts (once; again after BASE's stand-ins died) a daemon outside every sandbox that
stands in for what a compromised client must not reach: the HTTP server (the recorded port),
a TCP echo server on a port the work never used, a UDP echo server, a named UNIX socket in
``BASE/outside`` of a "root daemon" that runs a command for whoever talks to it, a loopback
heartbeat carrying a secret (for sniffing), and a pseudo-terminal whose "shell" side records
what it reads (for TIOCSTI). The ports stay the same across setups, so a ruleset generated
from one run fits the next. The daemon ends when BASE is removed (or after an hour).

Probe mode prints the same JSON lines as ``escape_probes.py`` (``{"benign": "ok"}`` first,
then one ``{"probe", "outcome", "errno", "detail"}`` per probe, each in a forked child).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import http.server
import json
import mmap
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from escape_probes import Prep, in_child, run_probe, undo  # noqa: E402  (same directory)

libc = ctypes.CDLL(None, use_errno=True)
MSG_FASTOPEN = 0x20000000
TCP_FASTOPEN_CONNECT = 30
PR_SET_NAME, PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 15, 36, 37
ADDR_NO_RANDOMIZE = 0x0040000
ETH_P_ALL = 0x0003
SOCK_PACKET = 10
HEARTBEAT = b"sandprint-heartbeat-secret"
LO_PROBE_ADDR = "127.213.7.1"
PAGE = b"<html><body>hello from the local server</body></html>\n"


class Layout:
    def __init__(self, base: str):
        self.base = os.path.abspath(base)
        self.out = os.path.join(self.base, "out")
        self.outside = os.path.join(self.base, "outside")
        self.ports = os.path.join(self.base, "ports.json")
        self.sock = os.path.join(self.outside, "daemon.sock")
        self.pwned = os.path.join(self.outside, "pwned")
        self.tty_log = os.path.join(self.outside, "tty-input")
        self.pidfile = os.path.join(self.outside, "daemon.pid")


def _libc_call(fn, *args) -> int:
    r = fn(*args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


# -- the i386 ABI from this 64-bit process: `int 0x80` ------------------------------------

# int80(nr, a0, a1, a2, a3, a4) -> eax: the i386 registers ebx, ecx, edx, esi, edi from the
# x86-64 argument registers (rsi, rdx, rcx, r8, r9), ebp 0
_INT80 = bytes([0x53, 0x55,                     # push rbx; push rbp
                0x89, 0xF8, 0x89, 0xF3,         # mov eax, edi; mov ebx, esi
                0x49, 0x89, 0xCB, 0x89, 0xD1,   # mov r11, rcx; mov ecx, edx
                0x44, 0x89, 0xDA,               # mov edx, r11d
                0x44, 0x89, 0xC6, 0x44, 0x89, 0xCF,   # mov esi, r8d; mov edi, r9d
                0x31, 0xED, 0xCD, 0x80,         # xor ebp, ebp; int 0x80
                0x5D, 0x5B, 0xC3])              # pop rbp; pop rbx; ret
I386_SOCKETCALL = 102
SYS_SOCKET, SYS_SENDTO = 1, 11
# socketcall's argument block here: the pointer & 0xfff7f7ff == 1, above mmap_min_addr
SOCKETCALL_BLOCK = 0x80001
MAP_FIXED_NOREPLACE = 0x100000


def _i386(nr: int, *args: int) -> int:
    """An i386 syscall through int 0x80 (the kernel's IA32 emulation); OSError on -errno."""
    if os.uname().machine != "x86_64":
        raise Prep("the i386 ABI is x86_64's companion")
    code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(_INT80)
    fn = ctypes.CFUNCTYPE(ctypes.c_int, *[ctypes.c_uint] * 6)(
        ctypes.addressof(ctypes.c_char.from_buffer(code)))
    r = fn(nr, *(list(args) + [0] * (5 - len(args))))
    if r < 0:
        raise OSError(-r, f"i386 syscall {nr}: {os.strerror(-r)}")
    return r


def _low_block(at: int) -> int:
    """A page mapped at ``at`` (page-aligned down) below 4 GiB, for i386 pointers."""
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    page = at & ~(mmap.PAGESIZE - 1)
    got = libc.mmap(page, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE,
                    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
    if got != page:
        raise Prep(f"could not map a page at {page:#x}")
    return at


# -- the daemon (outside every sandbox) ------------------------------------------------------

def _alive(pidfile: str) -> bool:
    try:
        pid = int(open(pidfile).read())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def setup(base: str) -> None:
    lay = Layout(base)
    os.makedirs(lay.out, exist_ok=True)
    os.makedirs(lay.outside, exist_ok=True)
    for p in (os.path.join(lay.out, "page.json"), lay.pwned):
        if os.path.exists(p):
            os.unlink(p)
    if _alive(lay.pidfile) and os.path.exists(lay.ports):
        open(lay.tty_log, "wb").close()
        return
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            daemon(lay, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 1)            # the daemon has written ports.json
    os.close(ready_r)
    os.waitpid(pid, 0)


def _thread(fn, *args) -> None:
    threading.Thread(target=fn, args=args, daemon=True).start()


def daemon(lay: Layout, ready_w: int) -> None:
    old = json.load(open(lay.ports)) if os.path.exists(lay.ports) else {}

    def tcp_listener(port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(16)
        return s

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", old.get("http", 0)), Handler,
                                            bind_and_activate=False)
    httpd.allow_reuse_address = True
    httpd.server_bind()
    httpd.server_activate()
    _thread(httpd.serve_forever)

    echo = tcp_listener(old.get("echo", 0))

    def serve_echo():
        while True:
            c, _ = echo.accept()
            with c:
                c.settimeout(5)
                try:
                    data = c.recv(4096)
                    c.sendall(b"echo:" + data)
                except OSError:
                    pass
    _thread(serve_echo)

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", old.get("udp", 0)))

    def serve_udp():
        while True:
            data, addr = udp.recvfrom(4096)
            udp.sendto(b"echo:" + data, addr)
    _thread(serve_udp)

    if os.path.exists(lay.sock):
        os.unlink(lay.sock)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(lay.sock)
    unix.listen(4)

    def serve_unix():        # a root daemon that runs a command for whoever asks
        while True:
            c, _ = unix.accept()
            with c:
                if c.recv(64).strip() == b"run":
                    subprocess.run(["sh", "-c", f"id > {lay.pwned}"], check=False)
                    c.sendall(b"done")
    _thread(serve_unix)

    def heartbeat():         # another process's loopback traffic, with a secret in it
        hb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            hb.sendto(HEARTBEAT, ("127.0.0.1", 9))
            time.sleep(0.1)
    _thread(heartbeat)

    master, slave = os.openpty()      # the "shell" reads the slave, as a terminal's does
    open(lay.tty_log, "wb").close()

    def shell():
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~(termios.ICANON | termios.ECHO)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        while True:
            data = os.read(slave, 1024)
            with open(lay.tty_log, "ab") as f:
                f.write(data)
    _thread(shell)

    ports = {"http": httpd.server_address[1], "echo": echo.getsockname()[1],
             "udp": udp.getsockname()[1], "pty": os.ttyname(slave)}
    tmp = lay.ports + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, lay.ports)
    with open(lay.pidfile, "w") as f:
        f.write(str(os.getpid()))
    os.write(ready_w, b"x")
    os.close(ready_w)
    deadline = time.monotonic() + 3600
    while os.path.isdir(lay.base) and time.monotonic() < deadline:
        time.sleep(1)


def stop(base: str) -> None:
    """End BASE's daemon (tests call it when done)."""
    lay = Layout(base)
    try:
        os.kill(int(open(lay.pidfile).read()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


# -- the work ---------------------------------------------------------------------------------

def benign(lay: Layout) -> dict:
    """The fetch runs in a worker process, as a client with a worker pool does (and the probes
    each run in a forked child of their own)."""
    result, status = in_child(fetch, lay)
    if result is None or status != 0:
        return {"benign": f"the worker failed (status {status})"}
    return result


def fetch(lay: Layout) -> dict:
    ports = json.load(open(lay.ports))
    libc.prctl(PR_SET_NAME, b"net-client", 0, 0, 0)
    persona = libc.personality(0xFFFFFFFF)
    tty = os.isatty(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/", timeout=10) as r:
        body = r.read()
    digest = hashlib.sha256(body).hexdigest()
    tmp = os.path.join(lay.out, "page.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"sha256": digest, "bytes": len(body)}, f)
    os.rename(tmp, os.path.join(lay.out, "page.json"))
    return {"benign": "ok" if body == PAGE else "wrong page", "bytes": len(body),
            "persona": persona, "tty": tty}


# -- the probes -------------------------------------------------------------------------------

class Ctx:
    def __init__(self, lay: Layout):
        self.lay = lay
        self.ports = json.load(open(lay.ports))
        self.notes: list[str] = []


def _recv(s: socket.socket, what: str) -> bytes:
    s.settimeout(3)
    try:
        return s.recv(4096)
    except socket.timeout:
        raise Prep(f"no answer from {what}") from None


def p_udp_out(c: Ctx) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"leak", ("127.0.0.1", c.ports["udp"]))
    return f"UDP datagram out and back: {_recv(s, 'the UDP server')!r}"


def p_unix_daemon(c: Ctx) -> str:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(c.lay.sock)
    s.sendall(b"run\n")
    answer = _recv(s, "the daemon")
    ran = os.path.exists(c.lay.pwned)
    undo(c.notes, "the daemon's output", os.unlink, c.lay.pwned)
    return f"the outside daemon answered {answer!r} and ran the command: {ran}"


def _rtattr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def _addr_msg(kind: int, seq: int, index: int) -> bytes:
    RTM_F = 0x1 | 0x4 | (0x400 | 0x200 if kind == 20 else 0)   # REQUEST|ACK (|CREATE|EXCL)
    ifa = struct.pack("BBBBI", socket.AF_INET, 32, 0, 0xFE, index)  # host scope, lo
    body = ifa + _rtattr(2, socket.inet_aton(LO_PROBE_ADDR)) + \
        _rtattr(1, socket.inet_aton(LO_PROBE_ADDR))                 # IFA_LOCAL, IFA_ADDRESS
    return struct.pack("IHHII", 16 + len(body), kind, RTM_F, seq, 0) + body


def _netlink_ack(s: socket.socket) -> int:
    data = _recv(s, "rtnetlink")
    _len, kind, _f, _seq, _pid = struct.unpack_from("IHHII", data)
    if kind != 2:                                   # NLMSG_ERROR carries the answer
        raise Prep(f"unexpected netlink answer type {kind}")
    return -struct.unpack_from("i", data, 16)[0]


def p_netlink_addr(c: Ctx) -> str:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    index = socket.if_nametoindex("lo")
    s.sendall(_addr_msg(20, 1, index))              # RTM_NEWADDR
    err = _netlink_ack(s)
    if err:
        raise OSError(err, f"RTM_NEWADDR: {os.strerror(err)}")
    s.sendall(_addr_msg(21, 2, index))              # RTM_DELADDR: undo
    if _netlink_ack(s):
        c.notes.append(f"could not remove {LO_PROBE_ADDR} from lo")
    return f"added {LO_PROBE_ADDR}/32 to lo through rtnetlink (and removed it)"


def p_packet_sniff(c: Ctx) -> str:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("lo", 0))
    s.settimeout(0.5)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            frame = s.recv(65536)
        except socket.timeout:
            continue
        if HEARTBEAT in frame:
            return "captured another process's loopback datagram with its secret"
    raise Prep("no heartbeat seen on lo")


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def p_inet_sock_packet(c: Ctx) -> str:
    """socket(AF_INET, SOCK_PACKET): the recorded family, but the kernel turns it into an
    AF_PACKET socket (the obsolete SOCK_PACKET interface); sniff as p_packet_sniff does."""
    s = socket.socket(socket.AF_INET, SOCK_PACKET, socket.htons(ETH_P_ALL))
    s.settimeout(0.5)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            frame = s.recv(65536)
        except socket.timeout:
            continue
        if HEARTBEAT in frame:
            return ("socket(AF_INET, SOCK_PACKET) is a packet socket: captured another "
                    "process's loopback datagram with its secret")
    raise Prep("no heartbeat seen")


def p_raw_inet(c: Ctx) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    header = struct.pack("!BBHHH", 8, 0, 0, 0x5350, 1)
    payload = b"sandprnt"              # even length, for the checksum
    packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), 0x5350, 1) + payload
    s.sendto(packet, ("127.0.0.1", 0))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        reply = _recv(s, "the ICMP echo")
        if reply[20] == 0 and payload in reply:     # echo reply after the IP header
            return "raw AF_INET socket: hand-made ICMP echo answered"
    raise Prep("no ICMP echo reply")


def p_tcp_fastopen(c: Ctx) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.sendto(b"fastopen", MSG_FASTOPEN, ("127.0.0.1", c.ports["echo"]))
    return f"TCP Fast Open to unrecorded port {c.ports['echo']}: {_recv(s, 'the echo server')!r}"


def p_tcp_fastopen_connect(c: Ctx) -> str:
    """setsockopt(TCP_FASTOPEN_CONNECT), then connect() and send: the SYN carries the data
    and leaves on the first send, but connect() itself still passes the LSM hook."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_TCP, TCP_FASTOPEN_CONNECT, 1)
    s.connect(("127.0.0.1", c.ports["echo"]))
    s.sendall(b"fastopen-connect")
    return (f"TCP_FASTOPEN_CONNECT then connect() to unrecorded port {c.ports['echo']}: "
            f"{_recv(s, 'the echo server')!r}")


def p_tcp_connect_other(c: Ctx) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", c.ports["echo"]))
    s.sendall(b"connect")
    return f"connect() to unrecorded port {c.ports['echo']}: {_recv(s, 'the echo server')!r}"


def p_tiocsti(c: Ctx) -> str:
    fd = os.open(c.ports["pty"], os.O_RDWR | os.O_NOCTTY)
    for ch in b"id\n":
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if b"id\n" in open(c.lay.tty_log, "rb").read():
            return "pushed 'id\\n' into another terminal's input (TIOCSTI); its shell read it"
        time.sleep(0.05)
    raise Prep("the other terminal's shell never read the injected input")


def p_prctl_option(c: Ctx) -> str:
    _libc_call(libc.prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    flag = ctypes.c_int(0)
    libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    return f"prctl(PR_SET_CHILD_SUBREAPER), an option never used: now {flag.value}"


def p_personality_aslr(c: Ctx) -> str:
    old = _libc_call(libc.personality, 0xFFFFFFFF)
    _libc_call(libc.personality, old | ADDR_NO_RANDOMIZE)
    undo(c.notes, "the persona", _libc_call, libc.personality, old)
    return "personality(ADDR_NO_RANDOMIZE), a persona never used: ASLR off for its children"


def p_i386_socketcall_netlink(c: Ctx) -> str:
    """socketcall(SYS_SOCKET) through int 0x80, its argument block placed where libseccomp's
    rules derived from socket(AF_INET, SOCK_STREAM) look (they compare socketcall's
    registers, not the arguments in memory): an rtnetlink socket, then plain write/read."""
    block = _low_block(SOCKETCALL_BLOCK)
    ctypes.memmove(block, struct.pack("III", socket.AF_NETLINK, socket.SOCK_RAW,
                                      socket.NETLINK_ROUTE), 12)
    fd = _i386(I386_SOCKETCALL, SYS_SOCKET, block, 0)
    index = 1                       # lo: a network namespace's first device
    os.write(fd, _addr_msg(20, 1, index))           # RTM_NEWADDR
    err = -struct.unpack_from("i", os.read(fd, 4096), 16)[0]
    if err:
        raise OSError(err, f"RTM_NEWADDR: {os.strerror(err)}")
    os.write(fd, _addr_msg(21, 2, index))           # RTM_DELADDR: undo
    os.read(fd, 4096)
    return (f"socketcall(SYS_SOCKET) made an AF_NETLINK socket and added {LO_PROBE_ADDR}/32 "
            "to lo (and removed it)")


def p_i386_socketcall_fastopen(c: Ctx) -> str:
    """socketcall(SYS_SENDTO) with MSG_FASTOPEN in its argument block and 0 in esi, where the
    derived rule looks for the flags, to a TCP port never connected to."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    block = _low_block(SOCKETCALL_BLOCK)
    payload, addr = block + 64, block + 128
    ctypes.memmove(payload, b"fastopen-i386", 13)
    sa = struct.pack("=H", socket.AF_INET) + struct.pack(
        "!H4s8x", c.ports["echo"], socket.inet_aton("127.0.0.1"))
    ctypes.memmove(addr, sa, len(sa))
    ctypes.memmove(block, struct.pack("IIIIII", s.fileno(), payload, 13, MSG_FASTOPEN,
                                      addr, len(sa)), 24)
    _i386(I386_SOCKETCALL, SYS_SENDTO, block, 0, 0)
    return (f"socketcall(SYS_SENDTO, MSG_FASTOPEN) to unrecorded port {c.ports['echo']}: "
            f"{_recv(s, 'the echo server')!r}")


# name -> (function, what it tries)
PROBES: dict[str, tuple] = {
    "udp-out": (p_udp_out, "socket(AF_INET, SOCK_DGRAM): a UDP datagram out and back"),
    "unix-daemon": (p_unix_daemon, "connect to an outside daemon's named UNIX socket and have "
                                   "it run a command"),
    "netlink-addr": (p_netlink_addr, "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE): add an "
                                     "address to lo"),
    "packet-sniff": (p_packet_sniff, "socket(AF_PACKET, SOCK_RAW): sniff another process's "
                                     "loopback traffic"),
    "inet-sock-packet": (p_inet_sock_packet, "socket(AF_INET, SOCK_PACKET): the recorded "
                         "family as a packet socket, sniffing loopback"),
    "raw-inet": (p_raw_inet, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): a hand-made ICMP echo"),
    "tcp-fastopen": (p_tcp_fastopen, "sendto(MSG_FASTOPEN) to a TCP port never connected to "
                                     "(no connect(): landlock-lsm/linux#41)"),
    "tcp-fastopen-connect": (p_tcp_fastopen_connect, "setsockopt(TCP_FASTOPEN_CONNECT), then "
                             "connect() to a TCP port never connected to"),
    "tcp-connect-other": (p_tcp_connect_other, "connect() to a TCP port never connected to"),
    "tiocsti": (p_tiocsti, "ioctl(TIOCSTI) into another terminal's input"),
    "prctl-option": (p_prctl_option, "prctl(PR_SET_CHILD_SUBREAPER): an option never used"),
    "personality-aslr": (p_personality_aslr, "personality(ADDR_NO_RANDOMIZE): a persona "
                                             "never used"),
    "i386-socketcall-netlink": (p_i386_socketcall_netlink, "i386 socketcall(SYS_SOCKET, "
                                "AF_NETLINK) through int 0x80: add an address to lo"),
    "i386-socketcall-fastopen": (p_i386_socketcall_fastopen, "i386 socketcall(SYS_SENDTO, "
                                 "MSG_FASTOPEN) through int 0x80 to a TCP port never "
                                 "connected to"),
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        for name, (_, what) in PROBES.items():
            print(json.dumps({"probe": name, "tries": what}))
        return 0
    if len(argv) < 2 or argv[0] not in ("setup", "benign", "probe", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, base = argv[0], argv[1]
    if mode == "setup":
        setup(base)
        return 0
    if mode == "stop":
        stop(base)
        return 0
    lay = Layout(base)
    print(json.dumps(benign(lay)), flush=True)
    if mode == "probe":
        ctx = Ctx(lay)
        for name in PROBES:
            print(json.dumps(run_probe(name, ctx, PROBES)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
