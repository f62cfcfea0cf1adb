"""Building a seccomp profile into a libseccomp filter, and loading it into this process.

:func:`build_filter` checks every rule (a problem is an InputError naming the profile and the
rule) before anything is applied; :func:`load_filter` is the irreversible step.
"""

from __future__ import annotations

import errno as _errno

import pyseccomp

from ..errors import EnvironmentProblem, InputError
from ..syscalls import arch_token, native_arch, syscall_number
from .profile import Action, SeccompProfile, load_profile

_OPS = {
    "SCMP_CMP_NE": pyseccomp.NE, "SCMP_CMP_LT": pyseccomp.LT, "SCMP_CMP_LE": pyseccomp.LE,
    "SCMP_CMP_EQ": pyseccomp.EQ, "SCMP_CMP_GE": pyseccomp.GE, "SCMP_CMP_GT": pyseccomp.GT,
    "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ,
}


# the libseccomp action of each Action that carries no errno
_FIXED = {
    Action.ALLOW: pyseccomp.ALLOW, Action.KILL: pyseccomp.KILL_THREAD,
    Action.KILL_THREAD: pyseccomp.KILL_THREAD, Action.KILL_PROCESS: pyseccomp.KILL_PROCESS,
    Action.TRAP: pyseccomp.TRAP, Action.LOG: pyseccomp.LOG,
}


def _action(action: Action, errno_ret: int | None) -> int:
    errno_ret = _errno.EPERM if errno_ret is None else errno_ret
    if action == Action.ERRNO:
        return pyseccomp.ERRNO(errno_ret)
    if action == Action.TRACE:
        return pyseccomp.TRACE(errno_ret)
    return _FIXED[action]


# The syscalls with argument rules, hottest first: how a workload's calls are ordered in the
# filter (see build_filter).
HOT_CONDITIONAL = ("ioctl", "sendto", "sendmsg", "recvfrom", "sendmmsg", "fcntl", "socket",
                   "setsockopt", "clone", "prctl", "socketpair", "personality")


def build_filter(profile: SeccompProfile) -> pyseccomp.SyscallFilter:
    """A libseccomp filter for ``profile`` (not loaded yet).

    The syscalls that have rules with argument conditions come first in the program,
    the hottest first (:data:`HOT_CONDITIONAL`): a syscall allowed whatever its arguments is
    answered by the kernel's action cache without running the filter, so the filter runs for
    the conditional ones (and refusals); placed first, they are found after a few comparisons
    rather than after every allowed syscall (seccomp/filter_cost.py counts it)."""
    default = _action(profile.default_action, profile.default_errno_ret)
    f = pyseccomp.SyscallFilter(default)
    # A syscall of an architecture the profile does not list (i386 `int 0x80` under an
    # x86_64-only profile) gets the default action, as every syscall the profile does not
    # allow: libseccomp's own default for it kills the thread (which runc keeps).
    f.set_attr(pyseccomp.Attr.ACT_BADARCH, default)
    native = native_arch()
    for arch in profile.architectures:
        if arch == native:
            continue
        try:
            f.add_arch(arch_token(arch))
        except OSError as e:
            if e.errno != _errno.EEXIST:
                raise InputError(f"libseccomp cannot add architecture {arch}: {e.strerror}",
                                 source=profile.source, field="architectures") from None
    for i, rule in enumerate(profile.rules):
        action = _action(rule.action, rule.errno_ret)
        if action == default:
            continue        # libseccomp refuses rules that repeat the default action
        args = [pyseccomp.Arg(a.index, _OPS[a.op], a.value, a.value_two) for a in rule.args]
        for name in rule.names:
            if not any(syscall_number(a, name) is not None for a in profile.architectures):
                raise InputError(f"unknown syscall {name!r}", source=profile.source,
                                 field=f"syscalls[{i}].names")
            nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            try:
                f.add_rule(action, nr, *args)
            except OSError as e:
                raise InputError(f"libseccomp refused the rule for {name!r}: {e.strerror}",
                                 source=profile.source, field=f"syscalls[{i}]") from None
    conditional = {n for r in profile.rules if r.args for n in r.names}
    rank = {n: i for i, n in enumerate(HOT_CONDITIONAL)}
    for name in sorted(conditional, key=lambda n: (rank.get(n, len(rank)), n)):
        try:
            f.syscall_priority(name, 255 - min(rank.get(name, len(rank)), 200))
        except (OSError, ValueError):
            pass        # a name this architecture lacks: nothing to order
    # no_new_privs: an unprivileged process may only load a filter with it, and it stops a
    # set-uid program from shedding the filter's purpose; libseccomp sets it on load.
    f.set_attr(pyseccomp.Attr.CTL_NNP, 1)
    if "SECCOMP_FILTER_FLAG_LOG" in profile.flags:
        f.set_attr(pyseccomp.Attr.CTL_LOG, 1)
    if "SECCOMP_FILTER_FLAG_TSYNC" in profile.flags:
        f.set_attr(pyseccomp.Attr.CTL_TSYNC, 1)
    return f


def load_filter(f: pyseccomp.SyscallFilter, source: str) -> None:
    try:
        f.load()
    except OSError as e:
        raise EnvironmentProblem(f"the kernel refused the seccomp filter from {source}: "
                                 f"{e.strerror}") from None


def apply_seccomp(profile: SeccompProfile | str) -> SeccompProfile:
    """Load ``profile`` (a SeccompProfile or a path) into this process, irreversibly."""
    if isinstance(profile, str):
        profile = load_profile(profile)
    load_filter(build_filter(profile), profile.source)
    return profile


def check_can_exec(profile: SeccompProfile) -> None:
    """Refuse a blocking profile that denies execve: the command could never start."""
    if profile.default_action.passes:
        return
    if "execve" not in profile.allowed_syscalls():
        raise InputError("the profile does not allow execve, so no command can start under it",
                         source=profile.source, field="syscalls",
                         expected="execve in an SCMP_ACT_ALLOW rule")
