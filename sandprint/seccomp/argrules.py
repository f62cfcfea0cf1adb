"""Learned argument rules: the recorded values of argspec.ARG_RULES's syscalls as libseccomp
argument comparisons, and the words that name them.

A rule's conditions are ANDed and a syscall's rules ORed (OCI, libseccomp), so each recorded
value tuple becomes one allow rule whose conditions compare each decisive argument with its
value: ``SCMP_CMP_EQ`` where the whole 64-bit register is compared, ``SCMP_CMP_MASKED_EQ``
with argspec's mask otherwise (OCI: ``value`` the mask, ``valueTwo`` the datum). What each
syscall gets:

* ``socket``/``socketpair``: domain and type (SOCK_NONBLOCK/SOCK_CLOEXEC masked off); the
  protocol where it decides what the socket reaches (raw, packet, netlink and any other
  family), not for AF_UNIX (the kernel takes only 0 there) and, for inet stream and datagram
  sockets, 0 and IPPROTO_TCP/IPPROTO_UDP both (the same socket);
* ``sendto``/``sendmsg``/``sendmmsg``: allowed with ``MSG_FASTOPEN`` clear, unless a recorded
  call set it (TCP Fast Open connects without connect(), past Landlock's connect_tcp on
  kernels without a fix for landlock-lsm/linux#41);
* ``setsockopt``: the recorded (level, optname) pairs;
* ``ioctl``: the recorded request numbers (32 bits, as the kernel compares them). Past
  :data:`IOCTL_GENERALISE_AT` distinct requests the list is generalised: every request but
  :data:`DANGEROUS_IOCTLS` not recorded (written as the masked prefixes that cover all other
  32-bit numbers, since a deny-by-default filter cannot say "allow but these" otherwise);
* ``prctl``: the recorded options; ``personality``: the recorded personas;
* on an ABI with the multiplexed ``socketcall()`` (i386 beside x86_64), ``socketcall`` is
  refused when a socket call is narrowed (:func:`socketcall_plan`): libseccomp would write the
  socket calls' rules for it as comparisons of its registers, which an attacker sets.

A comparison on a whole 64-bit register fails closed: a caller setting upper bits the kernel
ignores gets the default action, never a wider allow. Requests and personas, which the kernel
takes as 32-bit, are compared masked to 32 bits, so upper bits do not step around a rule.
"""

from __future__ import annotations

import socket as _socket
import termios as _termios
from dataclasses import dataclass, field
from typing import Any, Iterable

from .argspec import ARG_RULES, MSG_FASTOPEN, U32, ArgSpec, family_name, socket_type_name

ALLOW = "SCMP_ACT_ALLOW"
IOCTL_GENERALISE_AT = 48      # distinct requests past which the ioctl list is generalised

TIOCSTI = 0x5412              # push a byte into a terminal's input (another's, if its fd leaks)
TIOCLINUX = 0x541C            # the Linux console's many subcommands (selection paste, ...)
TIOCCONS = 0x541D             # redirect the console's output
TIOCSETD = 0x5423             # set a line discipline (loads kernel modules, a known attack surface)
DANGEROUS_IOCTLS = {TIOCSTI: "TIOCSTI", TIOCLINUX: "TIOCLINUX", TIOCCONS: "TIOCCONS",
                    TIOCSETD: "TIOCSETD"}
TCP_FASTOPEN_CONNECT = 30
# ABIs where libseccomp also writes the socket calls' rules for the multiplexing socketcall(),
# whose arguments are in user memory: there a call's number is checked, not its arguments
SOCKETCALL_ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PPC",
                     "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE")
SOCKET_CALLS = ("socket", "socketpair", "sendto", "sendmsg", "sendmmsg", "setsockopt")


SOCKETCALL_ENOSYS, SOCKETCALL_EPERM = 38, 1


def socketcall_rule(default_errno_ret: int | None) -> dict[str, Any]:
    """Refuse socketcall() outright: ENOSYS, or EPERM where the profile's default is ENOSYS.

    Its action must differ from the default action: libseccomp (and runc, and build_filter)
    drop a rule that repeats the default, and without this one the rules libseccomp derives
    from the socket calls' own rules stay, which compare socketcall()'s registers (the call
    number and a pointer) with the socket calls' values: socketcall(SYS_SOCKET) with its
    argument block at 0x80001 passes ``type & 0xfff7f7ff == 1``, so any family is created;
    socketcall(SYS_SENDTO) with esi 0 passes the MSG_FASTOPEN check while the flags in
    memory hold MSG_FASTOPEN. An explicit rule without conditions takes the syscall over."""
    errno_ret = SOCKETCALL_EPERM if default_errno_ret == SOCKETCALL_ENOSYS else SOCKETCALL_ENOSYS
    return {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret}


def socketcall_plan(narrowed: Iterable[str], arches: Iterable[str],
                    default_errno_ret: int | None,
                    compat: dict[str, dict[str, int]] | None = None,
                    allowed: Iterable[str] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """The socketcall() rule and note a profile needs when it narrows socket calls on an ABI
    with socketcall() (i386 on x86_64, s390, ppc): its arguments are in memory a filter cannot
    read, so it is refused (:func:`socketcall_rule`), unless the workload made it there
    (``compat``: the recording's compatSyscalls; ``allowed``: the profile's names, where a
    native socketcall, s390's, would be), when it is allowed whole with a warning."""
    calls = sorted(set(narrowed) & set(SOCKET_CALLS))
    multiplexed = [a for a in arches if a in SOCKETCALL_ARCHES]
    if not calls or not multiplexed:
        return [], []
    used = [a for a in multiplexed if (compat or {}).get(a, {}).get("socketcall")]
    if "socketcall" in set(allowed):
        used = multiplexed
    if used:
        # already on the allow list when the profile names it (a recording's compatSyscalls
        # join the names); a rule of its own only where it does not
        rules = [] if "socketcall" in set(allowed) else [{"names": ["socketcall"],
                                                          "action": ALLOW}]
        return rules, [
            f"warning: socketcall() allowed with any arguments: the workload made it on "
            f"{', '.join(used)}, and its arguments are in memory a filter cannot read, so "
            f"the argument rules of {', '.join(calls)} hold only for the direct calls there"]
    rule = socketcall_rule(default_errno_ret)
    return [rule], [
        f"socketcall() refused ({'ENOSYS' if rule['errnoRet'] == SOCKETCALL_ENOSYS else 'EPERM'}"
        f") on {', '.join(multiplexed)}: the workload never made it, and its arguments are in "
        f"memory a filter cannot read (the rules libseccomp derives for it from those of "
        f"{', '.join(calls)} compare its registers instead, which an attacker sets); the "
        "direct socket calls there keep their argument rules"]


IO_URING_CALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register")


def io_uring_warning(names: Iterable[str]) -> str | None:
    """The warning a profile that allows io_uring needs: what is submitted through a ring
    runs in the kernel without passing through seccomp (IORING_OP_SOCKET makes a socket of
    any family, the send operations take any flags, ...), so neither the allow list nor the
    argument rules hold for it. Landlock's rules still do (they are checked in the kernel's
    own hooks, with the submitter's credentials)."""
    used = sorted(set(names) & set(IO_URING_CALLS))
    if not used:
        return None
    return (f"warning: {', '.join(used)} allowed (the workload used io_uring): operations "
            "submitted through a ring bypass seccomp, so the allow list and the argument "
            "rules do not hold for them (IORING_OP_SOCKET creates a socket of any family "
            "even with socket not allowed; the ring's send operations take any flags); "
            "Landlock's rules still apply to them. The container engines' default profiles "
            "refuse io_uring")


# inet stream/datagram sockets: protocol 0 means this one, so both are the same socket
_INET_DEFAULT_PROTOCOL = {_socket.SOCK_STREAM: _socket.IPPROTO_TCP,
                          _socket.SOCK_DGRAM: _socket.IPPROTO_UDP}
_INET = (_socket.AF_INET, _socket.AF_INET6)

_IOCTL_NAMES: dict[int, str] = {}
for _n in sorted(dir(_termios)):
    if _n.startswith(("TIOC", "FIO", "TC")) and isinstance(getattr(_termios, _n), int):
        _IOCTL_NAMES.setdefault(getattr(_termios, _n) & U32, _n)
_IOCTL_NAMES.update(DANGEROUS_IOCTLS)

PRCTL_NAMES = {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE",
               4: "PR_SET_DUMPABLE", 8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME",
               16: "PR_GET_NAME", 22: "PR_SET_SECCOMP", 23: "PR_CAPBSET_READ",
               24: "PR_CAPBSET_DROP", 36: "PR_SET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS",
               39: "PR_GET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT", 0x59616d61: "PR_SET_PTRACER",
               35: "PR_SET_MM"}
_LEVELS = {_socket.SOL_SOCKET: "SOL_SOCKET", _socket.IPPROTO_TCP: "IPPROTO_TCP",
           _socket.IPPROTO_IP: "IPPROTO_IP", _socket.IPPROTO_IPV6: "IPPROTO_IPV6",
           _socket.IPPROTO_UDP: "IPPROTO_UDP"}


# -- names -----------------------------------------------------------------------------------

def ioctl_name(request: int) -> str:
    return _IOCTL_NAMES.get(request & U32, hex(request))


def _protocol_name(domain: int, kind: int, protocol: int) -> str:
    if domain in _INET:
        for n in ("IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_ICMP", "IPPROTO_ICMPV6",
                  "IPPROTO_RAW", "IPPROTO_SCTP"):
            if getattr(_socket, n, None) == protocol:
                return n
    return str(protocol)


def describe(name: str, values: Iterable[int]) -> str:
    """One recorded value tuple as words: ``AF_INET/SOCK_STREAM``, ``TIOCSTI``, ..."""
    v = tuple(values)
    if name in ("socket", "socketpair"):
        text = f"{family_name(v[0])}/{socket_type_name(v[1])}"
        implied = v[0] in _INET and _INET_DEFAULT_PROTOCOL.get(v[1]) == v[2]
        return text + (f"/{_protocol_name(*v)}" if v[2] and not implied else "")
    if name in ("sendto", "sendmsg", "sendmmsg"):
        return "MSG_FASTOPEN" if v[0] & MSG_FASTOPEN else "flags without MSG_FASTOPEN"
    if name == "setsockopt":
        opt = "TCP_FASTOPEN_CONNECT" if v == (_socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT) \
            else str(v[1])
        return f"{_LEVELS.get(v[0], str(v[0]))}/{opt}"
    if name == "ioctl":
        return ioctl_name(v[0])
    if name == "prctl":
        return PRCTL_NAMES.get(v[0], str(v[0]))
    if name == "personality":
        return "query (0xffffffff)" if v[0] == U32 else hex(v[0])
    return "/".join(str(x) for x in v)


def describe_call(name: str, values: Iterable[int]) -> str:
    """``socket(AF_NETLINK, SOCK_RAW)``: a call as an argument denial names it."""
    return f"{name}({describe(name, values).replace('/', ', ')})"


# -- conditions --------------------------------------------------------------------------------

def condition(spec: ArgSpec, value: int) -> dict[str, Any]:
    """The OCI argument condition: the argument (masked as ``spec`` says) equals ``value``."""
    if spec.whole:
        return {"index": spec.index, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
    return {"index": spec.index, "value": spec.mask, "valueTwo": value & spec.mask,
            "op": "SCMP_CMP_MASKED_EQ"}


def _rule(name: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"names": [name], "action": ALLOW, "args": conditions}


def socket_conditions(values: tuple[int, int, int]) -> list[list[dict[str, Any]]]:
    """The condition lists (ORed) that allow a socket like the recorded one."""
    domain, kind, protocol = values
    specs = ARG_RULES["socket"]
    base = [condition(specs[0], domain), condition(specs[1], kind)]
    if domain == _socket.AF_UNIX:
        return [base]
    canonical = _INET_DEFAULT_PROTOCOL.get(kind) if domain in _INET else None
    if canonical is not None and protocol in (0, canonical):
        return [base + [condition(specs[2], p)] for p in (0, canonical)]
    return [base + [condition(specs[2], protocol)]]


def complement_prefixes(excluded: Iterable[int], bits: int = 32) -> list[tuple[int, int]]:
    """(mask, value) pairs whose masked matches cover every ``bits``-bit number except
    ``excluded``, as few as a binary trie gives (at most ``bits`` per excluded number)."""
    out: list[tuple[int, int]] = []
    full = (1 << bits) - 1

    def walk(values: list[int], depth: int, prefix: int) -> None:
        if depth == bits:
            return
        bit = bits - 1 - depth
        mask = full & ~((1 << bit) - 1)
        for b in (0, 1):
            branch = prefix | (b << bit)
            inside = [v for v in values if (v >> bit) & 1 == b]
            if inside:
                walk(inside, depth + 1, branch)
            else:
                out.append((mask, branch))

    ex = sorted({v & full for v in excluded})
    if not ex:
        return [(0, 0)]
    walk(ex, 0, 0)
    return out


# -- the plan ------------------------------------------------------------------------------------

@dataclass
class ArgPlan:
    """The argument rules for a profile: allow rules, the syscalls they narrow, notes."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    narrowed: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def plan(names: Iterable[str], args: dict[str, dict[tuple[int, ...], int]] | None, *,
         unknown: Iterable[str] = (), arches: Iterable[str] = (),
         default_errno_ret: int | None = None,
         compat: dict[str, dict[str, int]] | None = None) -> ArgPlan:
    """The argument rules for the allowed ``names`` given the recorded ``args`` (None: the
    recording did not record arguments, nothing is narrowed); on ``arches`` with socketcall()
    also its rule (:func:`socketcall_plan`; ``compat``: the recording's compatSyscalls).

    ``unknown`` names the calls a merged-in run made without its arguments being read (a
    ``watch`` recording's audit records carry none). Where other runs recorded values, those
    stay the rule (failing closed: the unseen values may be refused again, and the notes say
    how to learn them); where none did, the call is allowed as far as is safe without its
    values: ioctl all but the dangerous requests, the send calls without MSG_FASTOPEN, the
    others by name, each said in a warning."""
    out = ArgPlan()
    names = set(names)
    wanted = sorted(names & set(ARG_RULES))
    unknown = set(unknown) & set(wanted)
    generalise: set[str] = set()         # ioctl with no value known: all but the dangerous
    if args is not None and unknown:
        args = dict(args)
        kept = sorted(n for n in unknown if args.get(n))
        if kept:
            out.notes.append(
                "warning: " + ", ".join(kept) + " also made by a run whose arguments were not "
                "read (a watch recording, or an older one): kept to the values the other runs "
                "recorded, so the unseen ones may be refused again; `sandprint record` the "
                "workload to learn them, or allow the call by name with --add-syscall")
        for n in sorted(unknown - set(kept)):
            if n == "ioctl":
                generalise.add(n)
                args[n] = {}
            elif n in ("sendto", "sendmsg", "sendmmsg"):
                args[n] = {(0,): 0}
        byname = sorted(n for n in unknown - set(kept) - generalise if not args.get(n))
        if byname:
            out.notes.append(
                "warning: allowed with any arguments: " + ", ".join(byname) + " (made only by "
                "a run whose arguments were not read: a watch recording, or an older one); "
                "`sandprint record` the workload to narrow them")
            args = {n: v for n, v in args.items() if n not in byname}
    if args is None:
        if wanted:
            out.notes.append("arguments not narrowed: the recording does not hold them (made "
                             "before sandprint recorded arguments); " + ", ".join(wanted)
                             + " allowed with any arguments. Record again to narrow them")
        return out
    bare = [n for n in wanted if not args.get(n) and n not in generalise]
    if bare:
        out.notes.append("allowed with any arguments (added by hand with --add-syscall, or no "
                         "values recorded): " + ", ".join(bare))
    for name in wanted:
        seen = args.get(name)
        if not seen and name not in generalise:
            continue
        specs = ARG_RULES[name]
        values = sorted(seen or ())
        if name in ("socket", "socketpair"):
            for v in values:
                out.rules += [_rule(name, c) for c in socket_conditions(v)]
            said = ", ".join(describe(name, v) for v in values)
            out.notes.append(f"{name} allowed only as recorded: {said}")
        elif name in ("sendto", "sendmsg", "sendmmsg"):
            if any(v[0] & MSG_FASTOPEN for v in values):
                out.notes.append(f"{name} allowed with MSG_FASTOPEN: the workload used it "
                                 "(warning: TCP Fast Open connects without connect(), so "
                                 "Landlock's connect_tcp does not keep it from other TCP "
                                 "ports: landlock-lsm/linux#41)")
                continue
            out.rules.append(_rule(name, [condition(specs[0], 0)]))
        elif name == "ioctl" and (len(values) > IOCTL_GENERALISE_AT or name in generalise):
            refused = sorted(set(DANGEROUS_IOCTLS) - {v[0] for v in values})
            for mask, value in complement_prefixes(refused):
                out.rules.append(_rule(name, [{"index": specs[0].index, "value": mask,
                                               "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}]))
            why = (f"the workload used {len(values)} distinct requests (more than "
                   f"{IOCTL_GENERALISE_AT}, so a list would likely miss some it uses on "
                   "another run)" if values else
                   "its requests are known only from a run that did not read them")
            out.notes.append(f"ioctl generalised: {why}; every request is allowed except "
                             + ", ".join(DANGEROUS_IOCTLS[r] for r in refused))
        else:
            for v in values:
                out.rules.append(_rule(name, [condition(s, x) for s, x in zip(specs, v)]))
            said = ", ".join(describe(name, v) for v in values)
            out.notes.append(f"{name} allowed only with the recorded "
                             f"{'/'.join(s.name for s in specs)}: {said}")
        out.narrowed.add(name)
    if "sendto" in out.narrowed or "sendmsg" in out.narrowed or "sendmmsg" in out.narrowed:
        sends = sorted(n for n in out.narrowed if n.startswith("send"))
        out.notes.append(f"{', '.join(sends)} allowed only without MSG_FASTOPEN (TCP Fast Open "
                         "connects without connect(), past Landlock's connect_tcp)")
    rules, notes = socketcall_plan(out.narrowed, arches, default_errno_ret, compat, names)
    out.rules += rules
    out.notes += notes
    return out


# -- reading rules back ------------------------------------------------------------------------

def matches(conditions: Iterable[Any], raw: Iterable[int]) -> bool:
    """Whether a call with the argument values ``raw`` (index -> value, six of them) passes
    all ``conditions`` (profile.ArgCondition, or OCI dicts)."""
    raw = list(raw)
    for c in conditions:
        index, op, value, two = ((c["index"], c["op"], c.get("value", 0), c.get("valueTwo", 0))
                                 if isinstance(c, dict) else (c.index, c.op, c.value,
                                                              c.value_two))
        a = raw[index]
        ok = {"SCMP_CMP_EQ": a == value, "SCMP_CMP_NE": a != value, "SCMP_CMP_LT": a < value,
              "SCMP_CMP_LE": a <= value, "SCMP_CMP_GE": a >= value, "SCMP_CMP_GT": a > value,
              "SCMP_CMP_MASKED_EQ": a & value == two}[op]
        if not ok:
            return False
    return True


def raw_from_values(name: str, values: Iterable[int]) -> list[int]:
    """Six argument values with the recorded (masked) ones at their positions."""
    raw = [0] * 6
    for spec, v in zip(ARG_RULES[name], values):
        raw[spec.index] = v
    return raw


def rule_values(name: str, conditions: Iterable[Any]) -> tuple[int, ...] | None:
    """The value tuple an allow rule of ``name`` stands for (argument missing: 0), or None
    when its conditions are not plain comparisons of argspec's arguments (a generalised
    ioctl rule's masked prefixes, a hand-written range)."""
    by_index = {}
    for c in conditions:
        index, op, value, two = ((c["index"], c["op"], c.get("value", 0), c.get("valueTwo", 0))
                                 if isinstance(c, dict) else (c.index, c.op, c.value,
                                                              c.value_two))
        by_index[index] = (op, value, two)
    out = []
    for spec in ARG_RULES[name]:
        got = by_index.pop(spec.index, None)
        if got is None:
            out.append(0)
        elif got[0] == "SCMP_CMP_EQ":
            out.append(got[1])
        elif got[0] == "SCMP_CMP_MASKED_EQ" and got[1] == spec.mask:
            out.append(got[2])
        else:
            return None
    return None if by_index else tuple(out)


def describe_rule(name: str, conditions: Iterable[Any]) -> str:
    """A rule's conditions as words: ``AF_INET/SOCK_STREAM``, ``TIOCGWINSZ``, or the
    comparisons themselves when they stand for no single value."""
    conditions = list(conditions)
    if name in ARG_RULES:
        values = rule_values(name, conditions)
        if values is not None:
            if name in ("socket", "socketpair") and not any(
                    (c["index"] if isinstance(c, dict) else c.index) == 2 for c in conditions):
                return f"{family_name(values[0])}/{socket_type_name(values[1])}"
            return describe(name, values)
    parts = []
    for c in conditions:
        index, op, value, two = ((c["index"], c["op"], c.get("value", 0), c.get("valueTwo", 0))
                                 if isinstance(c, dict) else (c.index, c.op, c.value,
                                                              c.value_two))
        parts.append(f"arg{index} & {value:#x} == {two:#x}" if op == "SCMP_CMP_MASKED_EQ"
                     else f"arg{index} {op[len('SCMP_CMP_'):]} {value:#x}")
    return " and ".join(parts)


@dataclass
class ArgDenial:
    """A recorded call whose arguments no allow rule of its syscall passes."""

    name: str
    values: tuple[int, ...]
    count: int
    allowed: list[str]          # what the profile allows of it, in words

    @property
    def call(self) -> str:
        return describe_call(self.name, self.values)

    @property
    def why(self) -> str:
        return "refused: " + allowed_words(self.allowed)


def allowed_words(allowed: list[str]) -> str:
    if not allowed:
        return "the profile allows none"
    shown = ", ".join(allowed[:8]) + (f" and {len(allowed) - 8} more" if len(allowed) > 8
                                      else "")
    return f"recorded only {shown}"


def conditional_allows(profile) -> dict[str, list[Any]]:
    """ARG_RULES syscall -> its conditional allow rules, for those a blocking profile allows
    only under conditions (profile: seccomp.profile.SeccompProfile)."""
    if profile.default_action.passes:
        return {}
    plain = profile.allowed_syscalls(conditional=False)
    out: dict[str, list[Any]] = {}
    for r in profile.rules:
        if r.action.passes and r.args:
            for n in r.names:
                if n in ARG_RULES and n not in plain:
                    out.setdefault(n, []).append(r)
    return out


def allowed_descriptions(rules: list[Any], name: str) -> list[str]:
    out: list[str] = []
    for r in rules:
        d = describe_rule(name, r.args)
        if d not in out:
            out.append(d)
    return sorted(out)


def judge(profile, args: dict[str, dict[tuple[int, ...], int]]) -> list[ArgDenial]:
    """The recorded value tuples of ``args`` that ``profile``'s argument rules refuse."""
    out = []
    for name, rules in sorted(conditional_allows(profile).items()):
        for values, n in sorted(args.get(name, {}).items()):
            raw = raw_from_values(name, values)
            if not any(matches(r.args, raw) for r in rules):
                out.append(ArgDenial(name, values, n, allowed_descriptions(rules, name)))
    return out
