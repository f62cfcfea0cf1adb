"""Learned argument rules without a kernel (issue 13): what the generator writes for each
syscall of argspec.ARG_RULES, the formats that carry them (OCI, SPO, systemd), libseccomp
taking them, complain-mode judging and its words, --fix, merge and diff."""

from __future__ import annotations

import json
import socket

import pyseccomp
import pytest
import yaml

from sandprint.generators.seccomp import generate_file
from sandprint.recording import Recording
from sandprint.seccomp import argrules as A
from sandprint.seccomp.filter import build_filter
from sandprint.seccomp.ops import diff_profiles, merge_profiles
from sandprint.seccomp.profile import load_profile, profile_from_data
from sandprint.syscalls import native_arch
from sandprint.verify.fix import fixed_profile

ARCH = native_arch()
BASE = ["read", "write", "close", "execve", "exit_group", "connect"]
AF_INET, AF_UNIX, AF_NETLINK = socket.AF_INET, socket.AF_UNIX, socket.AF_NETLINK
STREAM, DGRAM, RAW = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW


def recording(args: dict[str, list[tuple[int, ...]]], *, recorded: bool = True) -> Recording:
    rec = Recording.new({"type": "command", "command": ["x"]}, arch=ARCH)
    rec.metadata["argsRecorded"] = recorded
    t = rec.target("main")
    for n in BASE + list(args):
        t.add_syscall(n)
    for name, values in args.items():
        for v in values:
            t.add_args(name, v)
    return rec


def generate(tmp_path, rec, name="p.json", **kw):
    out = tmp_path / name
    summary = generate_file(rec, str(out), baseline_path=None, **kw)
    return out, summary


def rules_of(path, name):
    return [r for r in json.loads(path.read_text())["syscalls"] if name in r["names"]]


def allows(path, name, raw):
    """Whether the profile at ``path`` lets ``name`` with six raw arguments through."""
    rules = [r for r in load_profile(str(path)).rules if name in r.names and r.action.passes]
    return any(A.matches(r.args, raw) for r in rules)


def test_socket_allows_the_recorded_domain_and_type_only(tmp_path):
    rec = recording({"socket": [(AF_INET, STREAM, 6), (AF_UNIX, STREAM, 0),
                                (AF_NETLINK, RAW, 0)]})
    path, summary = generate(tmp_path, rec)
    assert not any(not r.get("args") for r in rules_of(path, "socket"))
    # inet stream: protocol 0 and IPPROTO_TCP are the same socket; CLOEXEC/NONBLOCK masked off
    for proto in (0, 6):
        assert allows(path, "socket", [AF_INET, STREAM | socket.SOCK_CLOEXEC, proto, 0, 0, 0])
    assert not allows(path, "socket", [AF_INET, STREAM, 132, 0, 0, 0])      # SCTP
    assert not allows(path, "socket", [AF_INET, DGRAM, 0, 0, 0, 0])
    assert allows(path, "socket", [AF_UNIX, STREAM, 0, 0, 0, 0])
    assert not allows(path, "socket", [AF_UNIX, DGRAM, 0, 0, 0, 0])
    # netlink: the protocol decides (NETLINK_ROUTE recorded, not NETLINK_AUDIT)
    assert allows(path, "socket", [AF_NETLINK, RAW, 0, 0, 0, 0])
    assert not allows(path, "socket", [AF_NETLINK, RAW, 9, 0, 0, 0])
    # upper bits the kernel ignores do not widen anything
    assert not allows(path, "socket", [(1 << 32) | AF_NETLINK, RAW, 9, 0, 0, 0])
    assert ("socket allowed only as recorded: AF_UNIX/SOCK_STREAM, AF_INET/SOCK_STREAM, "
            "AF_NETLINK/SOCK_RAW") in summary


def test_send_calls_refuse_fastopen_unless_recorded(tmp_path):
    path, summary = generate(tmp_path, recording({"sendto": [(0,)], "sendmsg": [(A.MSG_FASTOPEN,)]}))
    assert allows(path, "sendto", [3, 0, 1, socket.MSG_DONTWAIT, 0, 0])
    assert not allows(path, "sendto", [3, 0, 1, A.MSG_FASTOPEN | socket.MSG_DONTWAIT, 0, 0])
    assert rules_of(path, "sendmsg") == [r for r in rules_of(path, "sendmsg") if not r.get("args")]
    assert "sendmsg allowed with MSG_FASTOPEN: the workload used it (warning: TCP Fast Open " \
        "connects without connect(), so Landlock's connect_tcp does not keep it from other " \
        "TCP ports: landlock-lsm/linux#41)" in summary


def test_setsockopt_prctl_personality_and_ioctl_only_as_recorded(tmp_path):
    path, _ = generate(tmp_path, recording({
        "setsockopt": [(socket.IPPROTO_TCP, socket.TCP_NODELAY)], "prctl": [(15,)],
        "personality": [(0xFFFFFFFF,)], "ioctl": [(0x541B,)]}))
    assert allows(path, "setsockopt", [3, 6, 1, 0, 4, 0])
    assert not allows(path, "setsockopt", [3, 6, A.TCP_FASTOPEN_CONNECT, 0, 4, 0])
    assert allows(path, "prctl", [15, 0, 0, 0, 0, 0]) and not allows(path, "prctl", [36, 1, 0, 0, 0, 0])
    assert allows(path, "personality", [0xFFFFFFFF, 0, 0, 0, 0, 0])
    assert not allows(path, "personality", [0x0040000, 0, 0, 0, 0, 0])
    assert allows(path, "ioctl", [0, 0x541B, 0, 0, 0, 0])
    assert allows(path, "ioctl", [0, (1 << 32) | 0x541B, 0, 0, 0, 0])  # the kernel sees FIONREAD
    assert not allows(path, "ioctl", [0, A.TIOCSTI, 0, 0, 0, 0])


def test_many_ioctl_requests_are_generalised_but_never_to_tiocsti(tmp_path):
    many = [(0x5400 + i,) for i in range(A.IOCTL_GENERALISE_AT + 8)
            if 0x5400 + i not in A.DANGEROUS_IOCTLS]
    assert len(many) > A.IOCTL_GENERALISE_AT
    path, summary = generate(tmp_path, recording({"ioctl": many}))
    assert "ioctl generalised" in summary and "TIOCSTI" in summary
    for bad in A.DANGEROUS_IOCTLS:
        assert not allows(path, "ioctl", [0, bad, 0, 0, 0, 0])
        assert not allows(path, "ioctl", [0, (7 << 32) | bad, 0, 0, 0, 0])
    for ok in (0x5401, 0x40086602, 0xC0045877, 0x8913):
        assert allows(path, "ioctl", [0, ok, 0, 0, 0, 0])


def test_an_older_recording_keeps_the_names_and_says_so(tmp_path):
    path, summary = generate(tmp_path, recording({"socket": [(AF_INET, STREAM, 0)]},
                                                 recorded=False))
    assert rules_of(path, "socket") and not any(r.get("args") for r in rules_of(path, "socket"))
    assert "arguments not narrowed" in summary


def test_the_formats_carry_the_rules_and_libseccomp_takes_them(tmp_path):
    rec = recording({"socket": [(AF_INET, STREAM, 0)], "ioctl": [(0x541B,)]})
    oci, _ = generate(tmp_path, rec)
    spo, _ = generate(tmp_path, rec, name="p.yaml")
    conf, summary = generate(tmp_path, rec, name="p.conf")
    build_filter(load_profile(str(oci)))           # libseccomp accepts every rule
    spec = yaml.safe_load(spo.read_text())["spec"]
    assert [r for r in spec["syscalls"] if r["names"] == ["socket"]][0]["args"]
    assert load_profile(str(spo)).to_oci()["syscalls"] == load_profile(str(oci)).to_oci()["syscalls"]
    text = conf.read_text()
    assert "RestrictAddressFamilies=AF_INET\n" in text
    assert "NOT expressed" in text and "ioctl" in text
    assert "NOT expressed" in summary


def test_the_systemd_drop_in_says_where_its_families_do_not_hold():
    """systemd.exec(5): RestrictAddressFamilies= has no effect on x86 (and other ABIs with
    socketcall()); a drop-in allowing that ABI says so rather than implying it holds."""
    from sandprint.generators.seccomp import build_oci
    from sandprint.seccomp.formats import to_systemd

    rec = recording({"socket": [(AF_INET, STREAM, 0)]})
    from sandprint.generators.seccomp import recorded_args, recorded_syscalls
    names = recorded_syscalls(rec)
    for arches, said in ((["SCMP_ARCH_X86_64", X86], True), (["SCMP_ARCH_X86_64"], False)):
        oci = build_oci(names, arches=arches,
                        arg_plan=A.plan(names, recorded_args(rec), arches=arches))
        text = to_systemd(oci)
        assert "RestrictAddressFamilies=AF_INET\n" in text
        assert ("RestrictAddressFamilies= has no effect on ABIs with\n# socketcall(): on "
                "SCMP_ARCH_X86" in text) == said


def test_complain_judging_names_the_call_and_what_was_recorded(tmp_path):
    path, _ = generate(tmp_path, recording({"socket": [(AF_INET, STREAM, 0),
                                                       (AF_UNIX, STREAM, 0)]}))
    denials = A.judge(load_profile(str(path)), {"socket": {(AF_NETLINK, RAW, 0): 2,
                                                           (AF_INET, STREAM, 6): 1}})
    assert len(denials) == 1
    d = denials[0]
    assert f"{d.call} {d.why}" == ("socket(AF_NETLINK, SOCK_RAW) refused: recorded only "
                                   "AF_INET/SOCK_STREAM, AF_UNIX/SOCK_STREAM")


def test_fix_adds_values_and_never_the_bare_name(tmp_path):
    path, _ = generate(tmp_path, recording({"socket": [(AF_INET, STREAM, 0)]}))
    needed = recording({"socket": [(AF_INET, STREAM, 0), (AF_UNIX, DGRAM, 0)],
                        "ioctl": [(0x541B,)]})
    fixed = profile_from_data(fixed_profile(load_profile(str(path)), needed))
    assert "socket" not in fixed.allowed_syscalls(conditional=False)
    assert "ioctl" not in fixed.allowed_syscalls(conditional=False)
    changes = diff_profiles(load_profile(str(path)), fixed)
    assert "+ argument rule socket AF_UNIX/SOCK_DGRAM" in changes
    assert "+ argument rule ioctl FIONREAD" in changes


def test_merge_unions_values_and_diff_shows_them(tmp_path):
    a, _ = generate(tmp_path, recording({"socket": [(AF_INET, STREAM, 0)]}), name="a.json")
    b, _ = generate(tmp_path, recording({"socket": [(AF_UNIX, STREAM, 0)]}), name="b.json")
    merged = profile_from_data(merge_profiles([load_profile(str(a)), load_profile(str(b))]))
    judged = A.judge(merged, {"socket": {(AF_INET, STREAM, 0): 1, (AF_UNIX, STREAM, 0): 1,
                                         (AF_INET, DGRAM, 0): 1}})
    assert [d.values for d in judged] == [(AF_INET, DGRAM, 0)]
    assert "+ argument rule socket AF_UNIX/SOCK_STREAM" in diff_profiles(load_profile(str(a)),
                                                                         merged)
    # an input allowing socket by name (an older recording's) covers the argument rules
    old, _ = generate(tmp_path, recording({"socket": [(AF_INET, STREAM, 0)]}, recorded=False),
                      name="old.json")
    wide = merge_profiles([load_profile(str(a)), load_profile(str(old))])
    assert not [r for r in wide["syscalls"] if "socket" in r["names"] and r.get("args")]
    build_filter(profile_from_data(wide))


def test_complement_prefixes_cover_everything_but_the_excluded():
    import random

    excluded = sorted(A.DANGEROUS_IOCTLS)
    pairs = A.complement_prefixes(excluded)
    hit = lambda x: any(x & m == v for m, v in pairs)   # noqa: E731
    assert not any(hit(e) for e in excluded)
    rng = random.Random(13)
    samples = [rng.getrandbits(32) for _ in range(20000)] + list(range(0x5400, 0x5500))
    assert all(hit(x) for x in samples if x not in excluded)
    assert len(pairs) <= 32 * len(excluded)


def test_the_hot_conditional_calls_come_first_in_the_filter(tmp_path):
    """Counted, not timed (seccomp/filter_cost.py emulates the program libseccomp builds):
    a call allowed whatever its arguments is answered by the kernel's action cache; the
    argument-checked ones are found after a few instructions, not after every other syscall."""
    from sandprint.seccomp import filter_cost as F

    many = BASE + ["openat", "mmap", "munmap", "brk", "futex", "getpid", "fstat", "lseek",
                   "rt_sigaction", "rt_sigprocmask", "poll", "getrandom", "newfstatat"]
    rec = recording({"ioctl": [(0x541B,), (0x5401,)], "socket": [(AF_INET, DGRAM, 0)],
                     "sendto": [(0x40,)]})
    for n in many:
        rec.targets[0].add_syscall(n)
    path, _ = generate(tmp_path, rec)
    prog = F.program(load_profile(str(path)))
    assert F.call_cost(prog, "read").cached
    ioctl = F.call_cost(prog, "ioctl", (3, 0x541B, 0, 0, 0, 0))
    assert ioctl.allowed and not ioctl.cached and ioctl.instructions <= 16, ioctl
    assert not F.call_cost(prog, "ioctl", (3, A.TIOCSTI, 0, 0, 0, 0)).allowed
    assert F.call_cost(prog, "sendto", (3, 0, 1, 0x40, 0, 0)).instructions <= 20
    assert not F.call_cost(prog, "sendto", (3, 0, 1, A.MSG_FASTOPEN, 0, 0)).allowed
    assert F.call_cost(prog, "socket", (AF_INET, DGRAM, 0, 0, 0, 0)).allowed
    assert not F.call_cost(prog, "socket", (AF_NETLINK, RAW, 0, 0, 0, 0)).allowed


def test_recording_diff_shows_argument_values():
    from sandprint.recording import diff_recordings

    a = recording({"socket": [(AF_INET, STREAM, 0)]})
    b = recording({"socket": [(AF_INET, STREAM, 0), (AF_UNIX, DGRAM, 0)]})
    assert diff_recordings(a, b) == ["+ argument socket AF_UNIX/SOCK_DGRAM"]


X86 = "SCMP_ARCH_X86"
SYS_SOCKET, SYS_SENDTO = 1, 11
LOW = 0x80000           # above mmap_min_addr: where an attacker maps the argument block


def x86_profile(tmp_path, rec, default_action="errno"):
    """The OCI profile generate writes for ``rec``, for x86_64 with the i386 ABI beside it
    (whatever this kernel's configuration says), as build_oci writes it."""
    from sandprint.generators.seccomp import build_oci, recorded_args, recorded_syscalls
    from sandprint.seccomp.profile import DefaultAction

    arches = ["SCMP_ARCH_X86_64", X86]
    action = DefaultAction.parse(default_action, "--default-action")
    names = recorded_syscalls(rec)
    plan = A.plan(names, recorded_args(rec), arches=arches,
                  default_errno_ret=action.errno_ret,
                  compat={a: dict(p) for t in rec.targets for a, p in t.compat_syscalls.items()})
    oci = build_oci(names, arches=arches, default_action=action, arg_plan=plan)
    path = tmp_path / "x86.json"
    path.write_text(json.dumps(oci))
    return path, plan


@pytest.mark.skipif(ARCH != "SCMP_ARCH_X86_64", reason="the i386 ABI is x86_64's companion")
def test_socketcall_cannot_carry_what_the_socket_rules_refuse(tmp_path):
    """libseccomp writes the socket calls' argument rules for i386's socketcall() too, as
    comparisons of socketcall's registers (call number, pointer, whatever is in edx/esi):
    with the argument block at 0x80001 (& 0xfff7f7ff == 1) socketcall(SYS_SOCKET) passed
    the type check and created any family, and socketcall(SYS_SENDTO) with esi 0 passed the
    MSG_FASTOPEN check. The profile refuses socketcall outright; the direct i386 calls keep
    their argument rules."""
    from sandprint.seccomp import filter_cost as F

    rec = recording({"socket": [(AF_INET, STREAM, 6)], "sendto": [(0,)]})
    path, plan = x86_profile(tmp_path, rec)
    prog = F.program(load_profile(str(path)))
    for call in ((SYS_SOCKET, LOW + 1, 0, 0, 0, 0), (SYS_SOCKET, LOW + 1, 6, 0, 0, 0),
                 (SYS_SENDTO, LOW, 0, 0, 0, 0), (SYS_SENDTO, LOW, 16, 0, 0, 0)):
        assert not F.call_cost(prog, "socketcall", call, arch=X86).allowed, call
    # the direct i386 calls (socket 359, sendto 369) keep their argument rules
    assert F.call_cost(prog, "socket", (AF_INET, STREAM, 0, 0, 0, 0), arch=X86, nr=359).allowed
    assert not F.call_cost(prog, "socket", (AF_NETLINK, RAW, 0, 0, 0, 0), arch=X86,
                           nr=359).allowed
    assert F.call_cost(prog, "sendto", (3, 0, 1, 0, 0, 0), arch=X86, nr=369).allowed
    assert not F.call_cost(prog, "sendto", (3, 0, 1, A.MSG_FASTOPEN, 0, 0), arch=X86,
                           nr=369).allowed
    assert F.call_cost(prog, "socket", (AF_INET, STREAM, 0, 0, 0, 0)).allowed
    assert {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} \
        in json.loads(path.read_text())["syscalls"]
    assert any(n.startswith("socketcall() refused (ENOSYS) on SCMP_ARCH_X86") for n in plan.notes)


def test_socketcall_refusal_differs_from_the_default_action(tmp_path):
    """A rule repeating the default action is dropped (libseccomp, runc), which would leave
    the derived socketcall rules in place: under an ENOSYS default it answers EPERM."""
    path, _ = x86_profile(tmp_path, recording({"socket": [(AF_INET, STREAM, 0)]}), "enosys")
    assert rules_of(path, "socketcall") == [{"names": ["socketcall"], "action": "SCMP_ACT_ERRNO",
                                             "errnoRet": 1}]
    prog_profile = load_profile(str(path))
    from sandprint.seccomp import filter_cost as F
    if ARCH == "SCMP_ARCH_X86_64":
        prog = F.program(prog_profile)
        assert not F.call_cost(prog, "socketcall", (SYS_SOCKET, LOW + 1, 0, 0, 0, 0),
                               arch=X86).allowed


def test_socketcall_the_workload_made_is_allowed_whole_with_a_warning(tmp_path):
    rec = recording({"socket": [(AF_INET, STREAM, 0)]})
    rec.target("main").add_compat_syscall(X86, "socketcall", 3)
    path, plan = x86_profile(tmp_path, rec)
    # the names a recording made on another ABI join the allow list: socketcall is there,
    # unconditionally, and no rule of its own refuses it
    rules = rules_of(path, "socketcall")
    assert len(rules) == 1 and rules[0]["action"] == "SCMP_ACT_ALLOW" and "args" not in rules[0]
    assert any(n.startswith("warning: socketcall() allowed with any arguments: the workload "
                            "made it on SCMP_ARCH_X86") for n in plan.notes)


def test_no_socketcall_rule_without_narrowed_socket_calls_or_its_abi(tmp_path):
    assert A.socketcall_plan({"ioctl"}, ["SCMP_ARCH_X86_64", X86], 1) == ([], [])
    assert A.socketcall_plan({"socket"}, ["SCMP_ARCH_X86_64"], 1) == ([], [])


def test_a_syscall_added_by_hand_is_allowed_by_name(tmp_path):
    path, summary = generate(tmp_path, recording({"socket": [(AF_INET, STREAM, 0)],
                                                  "ioctl": [(0x541B,)]}),
                             add_syscalls=["socket"])
    assert not any(r.get("args") for r in rules_of(path, "socket"))
    assert any(r.get("args") for r in rules_of(path, "ioctl"))
    assert "allowed with any arguments (added by hand with --add-syscall, or no values " \
        "recorded): socket" in summary


def test_a_watch_recording_merged_in_never_turns_argument_rules_off():
    """A watch recording (audit records: no arguments) merged with a recorded run: the calls
    the recorded run saw stay narrowed (with a warning), an ioctl known only from the watch
    run keeps TIOCSTI refused, and a socket known only from it is allowed by name, said."""
    from sandprint.recording import Recording, merge
    from sandprint.seccomp import argrules

    rec = Recording.new({"type": "command"}, arch="SCMP_ARCH_X86_64")
    rec.metadata["argsRecorded"] = True
    t = rec.target()
    t.add_syscall("prctl")
    t.add_args("prctl", (15,))
    watch = Recording.new({"type": "watch"}, arch="SCMP_ARCH_X86_64")
    watch.metadata["argsRecorded"] = False
    for n in ("prctl", "ioctl", "socket", "sendto"):
        watch.target().add_syscall(n)
    m = merge([rec, watch])
    mt = m.target()
    p = argrules.plan(set(mt.syscalls), mt.args, unknown=mt.args_unknown)
    assert {"prctl", "ioctl", "sendto"} <= p.narrowed and "socket" not in p.narrowed
    text = "\n".join(p.notes)
    assert "prctl also made by a run whose arguments were not read" in text
    assert "allowed with any arguments: socket" in text
    assert "ioctl generalised: its requests are known only from a run" in text
    ioctl = [r for r in p.rules if r["names"] == ["ioctl"]]
    raw = [0] * 6
    raw[1] = argrules.TIOCSTI
    assert not any(argrules.matches(r["args"], raw) for r in ioctl)
    raw[1] = 0x541B                      # FIONREAD
    assert any(argrules.matches(r["args"], raw) for r in ioctl)
