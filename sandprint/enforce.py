"""Run a command under a seccomp profile and/or a Landlock ruleset.

:func:`exec_sandboxed` checks everything first (the command exists, the profile and ruleset
load and validate), then restricts this process (Landlock first, then seccomp, whose filter
must allow what the Landlock step and ``execve`` need) and replaces itself with the command,
so the command's own exit status comes back. It fails closed: if any step fails, the command
never runs.
"""

from __future__ import annotations

import errno as _errno
import os
import shutil
from typing import Callable

import pyseccomp

from .errors import EnvironmentProblem, InputError
from .seccomp_profile import SeccompProfile, load_profile
from .syscalls import arch_token, native_arch, syscall_number

_OPS = {
    "SCMP_CMP_NE": pyseccomp.NE, "SCMP_CMP_LT": pyseccomp.LT, "SCMP_CMP_LE": pyseccomp.LE,
    "SCMP_CMP_EQ": pyseccomp.EQ, "SCMP_CMP_GE": pyseccomp.GE, "SCMP_CMP_GT": pyseccomp.GT,
    "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ,
}


def _action(name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return pyseccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return pyseccomp.ERRNO(_errno.EPERM if errno_ret is None else errno_ret)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return pyseccomp.KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return pyseccomp.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return pyseccomp.TRAP
    if name == "SCMP_ACT_LOG":
        return pyseccomp.LOG
    if name == "SCMP_ACT_TRACE":
        return pyseccomp.TRACE(_errno.EPERM if errno_ret is None else errno_ret)
    raise InputError(f"unsupported action {name!r}")


def build_filter(profile: SeccompProfile) -> pyseccomp.SyscallFilter:
    """A libseccomp filter for ``profile`` (not loaded yet)."""
    default = _action(profile.default_action, profile.default_errno_ret)
    f = pyseccomp.SyscallFilter(default)
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
    # no_new_privs: an unprivileged process may only load a filter with it, and it stops a
    # set-uid program from shedding the filter's purpose; libseccomp sets it on load.
    f.set_attr(pyseccomp.Attr.CTL_NNP, 1)
    if "SECCOMP_FILTER_FLAG_LOG" in profile.flags:
        f.set_attr(pyseccomp.Attr.CTL_LOG, 1)
    if "SECCOMP_FILTER_FLAG_TSYNC" in profile.flags:
        f.set_attr(pyseccomp.Attr.CTL_TSYNC, 1)
    return f


def _load(f: pyseccomp.SyscallFilter, source: str) -> None:
    try:
        f.load()
    except OSError as e:
        raise EnvironmentProblem(f"the kernel refused the seccomp filter from {source}: "
                                 f"{e.strerror}") from None


def apply_seccomp(profile: SeccompProfile | str) -> SeccompProfile:
    """Load ``profile`` (a SeccompProfile or a path) into this process, irreversibly."""
    if isinstance(profile, str):
        profile = load_profile(profile)
    _load(build_filter(profile), profile.source)
    return profile


def check_can_exec(profile: SeccompProfile) -> None:
    """Refuse a blocking profile that denies execve: the command could never start."""
    if profile.default_action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"):
        return
    if "execve" not in profile.allowed_syscalls():
        raise InputError("the profile does not allow execve, so no command can start under it",
                         source=profile.source, field="syscalls",
                         expected="execve in an SCMP_ACT_ALLOW rule")


def resolve_command(argv: list[str]) -> str:
    """The executable ``argv[0]`` names (looked up on PATH), or InputError."""
    if not argv or not argv[0]:
        raise InputError("no command given", field="COMMAND", expected="a command to run")
    cmd = argv[0]
    if os.sep in cmd:
        if not os.path.exists(cmd):
            raise InputError("command does not exist", source=cmd, field="COMMAND",
                             expected="an executable file")
        if os.path.isdir(cmd) or not os.access(cmd, os.X_OK):
            raise InputError("not an executable file", source=cmd, field="COMMAND",
                             expected="an executable file")
        return cmd
    found = shutil.which(cmd)
    if not found:
        raise InputError("command not found on PATH", source=cmd, field="COMMAND",
                         expected="an executable on PATH")
    return found


def exec_sandboxed(argv: list[str], *, seccomp: str | SeccompProfile | None = None,
                   landlock: str | None = None, compat: str = "best-effort",
                   log: Callable[[str], None] = print, landlock_abi: int | None = None) -> None:
    """Replace this process with ``argv`` under the given sandbox; never returns normally.

    Fails closed: a profile or ruleset that cannot be read, built or loaded (or, under
    ``compat="hard"``, a ruleset the kernel cannot fully enforce) raises before the command
    runs. ``landlock_abi`` pretends the kernel has that Landlock ABI (tests, pinning)."""
    if seccomp is None and landlock is None:
        raise InputError("no sandbox given: the command would run unconfined",
                         field="seccomp/landlock", expected="a seccomp profile, a Landlock "
                                                            "ruleset, or both")
    exe = resolve_command(list(argv))
    profile = None
    if seccomp is not None:
        from .documents import SECCOMP, load_as

        profile = seccomp if isinstance(seccomp, SeccompProfile) else \
            load_as(seccomp, SECCOMP, load_profile)
        check_can_exec(profile)
        seccomp_filter = build_filter(profile)   # every rule problem shows before anything applies
    ruleset = None
    if landlock is not None:
        try:
            from .landlock import Ruleset  # imported only when used
        except ImportError as e:
            raise EnvironmentProblem(f"Landlock support is not available: {e}; "
                                     "the command was not run") from None
        from .documents import LANDLOCK, load_as

        ruleset = load_as(landlock, LANDLOCK, lambda p: Ruleset.from_file(p, abi=landlock_abi))
    if ruleset is not None:
        status = ruleset.restrict_self(compat=compat)
        log(str(status))
    if profile is not None:
        _load(seccomp_filter, profile.source)
    try:
        os.execv(exe, list(argv))
    except OSError as e:
        # Under the filter execve itself may be denied: say so rather than a traceback.
        hint = (" (is execve in the profile's allow list?)"
                if profile is not None and e.errno in (_errno.EPERM, _errno.ENOSYS) else "")
        raise EnvironmentProblem(f"cannot execute {exe}: {e.strerror}{hint}") from None
