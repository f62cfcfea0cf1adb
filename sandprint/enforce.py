"""Run a command under a seccomp profile and/or a Landlock ruleset, with only the
capabilities its recordings show it needed.

:func:`exec_sandboxed` checks everything first (the command exists, the profile, ruleset and
recordings load and validate), then restricts this process (Landlock first; then the
capabilities, dropped to those kept from all five sets; then seccomp, whose filter must allow
what ``execve`` needs) and replaces itself with the command, so the command's own exit status
comes back. It fails closed: if any step fails, the command
never runs.

With a Landlock ruleset that grants something in a temporary directory (/tmp, /var/tmp,
$TMPDIR) or in /dev/pts, the command first gets private mounts there
(:mod:`sandprint.private_tmp`): the ruleset's rules then name the workload's own temporary
files and terminals, not the host's.

Whatever the sandbox, the command also gets the terminal guard
(:mod:`sandprint.seccomp.terminal_guard`): neither Landlock nor a profile that allows ``ioctl``
would stop it pushing keystrokes into the terminal it inherited with ``TIOCSTI``.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Callable

from .capabilities.drop import describe, drop_capabilities
from .errors import EnvironmentProblem, InputError
from .profiler.targets import resolve_command
from .seccomp.filter import build_filter, check_can_exec, load_filter
from .seccomp.terminal_guard import build_terminal_guard, load_terminal_guard
from .seccomp.profile import SeccompProfile, load_profile


def exec_sandboxed(argv: list[str], *, seccomp: str | SeccompProfile | None = None,
                   landlock: str | None = None, compat: str = "best-effort",
                   log: Callable[[str], None] = print, landlock_abi: int | None = None,
                   private_tmp: bool = True, recordings: list[str] | None = None,
                   keep_caps: list[str] | tuple[str, ...] = ()) -> None:
    """Replace this process with ``argv`` under the given sandbox; never returns normally.

    Every capability is dropped (all five sets, :mod:`sandprint.capabilities.drop`) but
    those the ``recordings`` show the workload needed and ``keep_caps`` (each of which the
    recordings do not show is warned about).

    Fails closed: a profile or ruleset that cannot be read, built or loaded (or, under
    ``compat="hard"``, a ruleset the kernel cannot fully enforce) raises before the command
    runs. ``landlock_abi`` pretends the kernel has that Landlock ABI (tests, pinning);
    ``private_tmp=False`` leaves /tmp and /dev/pts shared with the host (the ruleset's rules
    there then grant the host's files)."""
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
    guard = build_terminal_guard()       # built now: nothing is readable once Landlock applies
    ruleset = None
    if landlock is not None:
        try:
            from .landlock import Ruleset  # imported only when used
        except ImportError as e:
            raise EnvironmentProblem(f"Landlock support is not available: {e}; "
                                     "the command was not run") from None
        from .documents import LANDLOCK, load_as

        ruleset = load_as(landlock, LANDLOCK, lambda p: Ruleset.from_file(p, abi=landlock_abi))
    keep, warnings = capabilities_to_keep(recordings or [], keep_caps)
    for w in warnings:
        log(f"warning: {w}")
    if ruleset is not None:
        if private_tmp:
            from .private_tmp import enter

            mounts = enter(ruleset.rule_paths())
            if mounts.tmp or mounts.pts:
                log(str(mounts))
        status = ruleset.restrict_self(compat=compat)
        log(str(status))
    # after Landlock (whose rule paths root may reach only through CAP_DAC_*), before seccomp
    # (whose filter need not allow capset and prctl)
    log(describe(drop_capabilities(keep), keep))
    log(load_terminal_guard(guard))
    if profile is not None:
        load_filter(seccomp_filter, profile.source)
    try:
        os.execv(exe, list(argv))
    except OSError as e:
        # Under the filter execve itself may be denied: say so rather than a traceback.
        hint = (" (is execve in the profile's allow list?)"
                if profile is not None and e.errno in (_errno.EPERM, _errno.ENOSYS) else "")
        raise EnvironmentProblem(f"cannot execute {exe}: {e.strerror}{hint}") from None


def capabilities_to_keep(recordings: list[str], keep_caps) -> tuple[list[str], list[str]]:
    """(capabilities to keep, warnings) for ``exec``/``verify``: what the recordings (paths)
    show was needed, plus ``keep_caps``; read before anything is applied."""
    from .capabilities.needed import to_keep
    from .recording import Recording

    keep, _needed, warnings = to_keep([Recording.load(p) for p in recordings], keep_caps)
    return keep, warnings
