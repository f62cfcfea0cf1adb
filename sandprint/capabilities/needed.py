"""Which capabilities a recorded workload needed, and why: :func:`needed_capabilities`.

Two kinds of evidence, combined:

* what the recorder saw and judged at record time, in ``Target.capabilities`` (CAP_* ->
  evidence lines): opens of files the process's uid could not open by mode and owner
  (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; :func:`dac_capability`), signals to processes of
  another uid (CAP_KILL), hard resource limits raised (CAP_SYS_RESOURCE), set*id calls to
  new ids (CAP_SETUID/SETGID), chown to other ids (CAP_CHOWN), chmod and utimes of another
  uid's files (CAP_FOWNER), from the
  credentials the ``creds`` recorder part reports (uid/gid at every exec and set*id call);
* what follows from the rest of the recording (:data:`BY_SYSCALL`, binds, socket arguments,
  device nodes made): a call that cannot succeed without the capability.

Conservative where the recording cannot tell: a call listed in :data:`BY_SYSCALL` gives its
capability whatever its arguments were; set*id and chown calls are judged by their ids when
the recording has the credentials (the ``creds`` part), and count whatever they did when it
has not. Calls that usually need no capability (``setrlimit`` lowering a
limit, ``chmod`` of one's own files, ``ptrace`` of one's own children, ``unshare`` of a user
namespace, ``capset`` lowering the sets, netlink route *reads* such as ``getifaddrs``) give
none: a workload that needs the capability for them has to be given it with ``--keep-caps``
(the README says so). A workload that needed none gets none.
"""

from __future__ import annotations

import stat as _stat
from typing import Iterable

from ..recording import Recording, Target
from ..seccomp.argspec import family_name, socket_type_name
from .names import NUMBER

# calls the recorder's creds part judges by their ids (CredsEvents._setid, _chown); for a
# recording without credentials (targets[].info.credentials), any call counts
BY_SYSCALL_WITHOUT_CREDS: dict[str, tuple[str, ...]] = {
    "CAP_SETUID": ("setuid", "setreuid", "setresuid", "setfsuid", "setuid32", "setreuid32",
                   "setresuid32", "setfsuid32"),
    "CAP_SETGID": ("setgid", "setregid", "setresgid", "setfsgid", "setgroups", "setgid32",
                   "setregid32", "setresgid32", "setfsgid32", "setgroups32"),
    "CAP_CHOWN": ("chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32"),
}
# a call the kernel refuses without the capability, whatever its arguments
BY_SYSCALL: dict[str, tuple[str, ...]] = {
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_SYS_ADMIN": ("mount", "umount", "umount2", "pivot_root", "sethostname",
                      "setdomainname", "swapon", "swapoff", "quotactl", "quotactl_fd",
                      "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "mount_setattr",
                      "open_tree", "setns", "fanotify_init", "lookup_dcookie", "vhangup"),
    "CAP_SYS_MODULE": ("init_module", "finit_module", "delete_module"),
    "CAP_SYS_BOOT": ("reboot", "kexec_load", "kexec_file_load"),
    "CAP_SYS_TIME": ("settimeofday", "clock_settime", "stime"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_PTRACE": ("process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp"),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
    "CAP_SYSLOG": ("syslog",),
    "CAP_BPF": ("bpf",),
}

AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 2, 10, 16, 17
SOCK_RAW = 3
# netlink protocols whose use is (nearly always) a change needing the capability; route
# (0), sock_diag (4), kobject_uevent (15) and generic (16) are mostly reads: no capability
NETLINK_CAPS = {3: "CAP_NET_ADMIN",       # NETLINK_FIREWALL
                6: "CAP_NET_ADMIN",       # NETLINK_XFRM
                12: "CAP_NET_ADMIN",      # NETLINK_NETFILTER (nftables, conntrack)
                9: "CAP_AUDIT_WRITE"}     # NETLINK_AUDIT
# setsockopt (level, optname) that need CAP_NET_ADMIN
SOL_SOCKET, SOL_IP, SOL_IPV6 = 1, 0, 41
SETSOCKOPT_CAPS = {(SOL_SOCKET, 36): ("CAP_NET_ADMIN", "SO_MARK"),
                   (SOL_SOCKET, 32): ("CAP_NET_ADMIN", "SO_SNDBUFFORCE"),
                   (SOL_SOCKET, 33): ("CAP_NET_ADMIN", "SO_RCVBUFFORCE"),
                   (SOL_IP, 19): ("CAP_NET_ADMIN", "IP_TRANSPARENT"),
                   (SOL_IPV6, 75): ("CAP_NET_ADMIN", "IPV6_TRANSPARENT")}
# ioctl requests that change an interface, a route or a tun device: CAP_NET_ADMIN
IOCTL_CAPS = {0x890B: "SIOCADDRT", 0x890C: "SIOCDELRT", 0x8914: "SIOCSIFFLAGS",
              0x8916: "SIOCSIFADDR", 0x8918: "SIOCSIFDSTADDR", 0x891A: "SIOCSIFBRDADDR",
              0x891C: "SIOCSIFNETMASK", 0x8922: "SIOCSIFMTU", 0x8923: "SIOCSIFNAME",
              0x8924: "SIOCSIFHWADDR", 0x400454CA: "TUNSETIFF"}
# Landlock rights whose use on a path needs a capability (device nodes: mknod)
RIGHT_CAPS = {"make_char": "CAP_MKNOD", "make_block": "CAP_MKNOD"}


def _add(out: dict[str, list[str]], cap: str, why: str) -> None:
    reasons = out.setdefault(cap, [])
    if why not in reasons:
        reasons.append(why)


def target_capabilities(t: Target) -> dict[str, list[str]]:
    """CAP_* -> evidence lines for one target (see the module)."""
    out: dict[str, list[str]] = {}
    for cap, reasons in t.capabilities.items():
        for r in reasons:
            _add(out, cap, r)
    by_syscall = dict(BY_SYSCALL)
    if "credentials" not in t.info:
        by_syscall.update(BY_SYSCALL_WITHOUT_CREDS)
    for cap, names in by_syscall.items():
        for name in names:
            if t.syscalls.get(name):
                _add(out, cap, f"{name} called ({t.syscalls[name]}x)")
    for n in t.network.values():
        if (n.op == "bind" and n.protocol in ("tcp", "udp") and n.port is not None
                and 0 < n.port < 1024):
            _add(out, "CAP_NET_BIND_SERVICE", f"bind {n.protocol} port {n.port}")
    for sname in ("socket", "socketpair"):
        for values in t.args.get(sname, {}):
            domain, kind, proto = values
            what = f"{sname}({family_name(domain)}, {socket_type_name(kind)}, {proto})"
            if domain == AF_PACKET or (domain in (AF_INET, AF_INET6) and kind == SOCK_RAW):
                _add(out, "CAP_NET_RAW", what)
            elif domain == AF_NETLINK and proto in NETLINK_CAPS:
                _add(out, NETLINK_CAPS[proto], what)
    for values in t.args.get("setsockopt", {}):
        hit = SETSOCKOPT_CAPS.get(tuple(values))
        if hit:
            _add(out, hit[0], f"setsockopt {hit[1]}")
    for values in t.args.get("ioctl", {}):
        if values[0] in IOCTL_CAPS:
            _add(out, "CAP_NET_ADMIN", f"ioctl {IOCTL_CAPS[values[0]]}")
    for fa in t.files.values():
        for right in sorted(fa.access & set(RIGHT_CAPS)):
            _add(out, RIGHT_CAPS[right], f"{right} in {fa.path}")
    for reasons in out.values():
        reasons.sort()
    return dict(sorted(out.items(), key=lambda kv: NUMBER.get(kv[0], 99)))


def needed_capabilities(rec: Recording | Target, target: str | None = None
                        ) -> dict[str, list[str]]:
    """CAP_* -> evidence lines: what the recorded workload (all targets, or ``target``)
    needed. Empty when it needed none."""
    if isinstance(rec, Target):
        return target_capabilities(rec)
    out: dict[str, list[str]] = {}
    for t in rec.targets:
        if target is not None and t.name != target:
            continue
        for cap, reasons in target_capabilities(t).items():
            for r in reasons:
                _add(out, cap, r if len(rec.targets) == 1 else f"[{t.name}] {r}")
    return dict(sorted(out.items(), key=lambda kv: NUMBER.get(kv[0], 99)))


def notes(rec: Recording) -> list[str]:
    """What the derivation could not see in this recording."""
    out = []
    if not rec.args_recorded and any(t.syscalls.get("socket") for t in rec.targets):
        out.append("the recording has no socket arguments (metadata.argsRecorded): raw and "
                   "packet sockets (CAP_NET_RAW) cannot be seen in it")
    if not rec.files_recorded:
        out.append("the recording has no file accesses: opens needing CAP_DAC_OVERRIDE and "
                   "device nodes (CAP_MKNOD) cannot be seen in it")
    return out


def needed_for(recordings: Iterable[Recording]) -> dict[str, list[str]]:
    """The union of :func:`needed_capabilities` over several recordings."""
    out: dict[str, list[str]] = {}
    for rec in recordings:
        for cap, reasons in needed_capabilities(rec).items():
            for r in reasons:
                _add(out, cap, r)
    return dict(sorted(out.items(), key=lambda kv: NUMBER.get(kv[0], 99)))


# -- discretionary access control, checked at record time ----------------------------------

R, W, X = 4, 2, 1


def dac_capability(st_mode: int, st_uid: int, st_gid: int, fsuid: int, groups: Iterable[int],
                   want: int) -> str | None:
    """The capability an access needing permission bits ``want`` (R|W|X) to an inode of
    this mode and owner took for a process of ``fsuid`` and ``groups`` (fsgid included), or
    None when the mode bits allowed it (``generic_permission``; POSIX ACLs are not read, so a
    file an ACL opens counts as needing the capability: conservative)."""
    if st_uid == fsuid:
        bits = st_mode >> 6 & 7
    elif st_gid in set(groups):
        bits = st_mode >> 3 & 7
    else:
        bits = st_mode & 7
    if want & ~bits == 0:
        return None
    is_dir = _stat.S_ISDIR(st_mode)
    # CAP_DAC_READ_SEARCH: read of files, read and search of directories
    if not want & W and (is_dir or not want & X):
        return "CAP_DAC_READ_SEARCH"
    if want & X and not is_dir and not st_mode & 0o111:
        return None         # no execute bit at all: not even CAP_DAC_OVERRIDE helps
    return "CAP_DAC_OVERRIDE"


# the permission bits each Landlock right needs on the path it is recorded on
RIGHT_BITS = {"read_file": R, "read_dir": R | X, "write_file": W, "truncate": W,
              "execute": X, "make_reg": W | X, "make_dir": W | X, "make_sym": W | X,
              "make_fifo": W | X, "make_sock": W | X, "make_char": W | X, "make_block": W | X,
              "remove_file": W | X, "remove_dir": W | X, "refer": W | X}


def bits_for(rights: Iterable[str]) -> int:
    want = 0
    for r in rights:
        want |= RIGHT_BITS.get(r, 0)
    return want


def to_keep(recordings: Iterable[Recording], extra: Iterable[str] = ()
            ) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """What ``exec``/``verify`` keep: the capabilities the recordings show were needed, plus
    ``extra`` (``--keep-caps``). Returns (names, needed with evidence, warnings): one warning
    per extra capability the recordings do not show a need for."""
    recs = list(recordings)
    needed = needed_for(recs)
    warnings = []
    extra = list(extra)
    if len(extra) >= len(NUMBER):
        warnings.append("--keep-caps all: no capability is dropped; the sandboxed process "
                        "keeps every one it has")
        return sorted(set(needed) | set(extra), key=NUMBER.__getitem__), needed, warnings
    for cap in extra:
        if cap not in needed:
            warnings.append(f"--keep-caps {cap}: kept although "
                            + ("the recordings do not show the workload needed it"
                               if recs else "no --recording shows the workload needed it")
                            + "; the sandboxed process can use it")
    keep = sorted(set(needed) | set(extra), key=NUMBER.__getitem__)
    return keep, needed, warnings


def ran_as_root(rec: Recording, target: str | None = None) -> bool:
    """Whether a target of ``rec`` ran with uid 0 (``info.credentials``, the creds part)."""
    return any(0 in (t.info.get("credentials") or {}).get("uids", [])
               for t in rec.targets if target is None or t.name == target)


# Recorded as root with every capability, a program skips asking for its capabilities;
# under exec's reduced set it asks (runuser through libcap-ng, PAM): a read of its own sets
QUERY_SYSCALLS = ("capget",)


def refused_for_want_of(rec: Recording) -> dict[str, list[str]]:
    """What a replay under dropped capabilities was refused that a capability would have
    allowed (so ``verify`` can name it): binds below 1024 refused (EACCES)."""
    out: dict[str, list[str]] = {}
    for t in rec.targets:
        for n in t.info.get("deniedNetwork") or []:
            port = n.get("port")
            if (n.get("op") == "bind" and n.get("protocol") in ("tcp", "udp")
                    and isinstance(port, int) and 0 < port < 1024):
                _add(out, "CAP_NET_BIND_SERVICE", f"bind {n['protocol']} port {port} refused")
    return out
