"""A seccomp filter that stops a sandboxed workload typing into the terminal it inherited.

``TIOCSTI`` pushes bytes into a terminal's input queue: whatever reads that terminal next (the
shell that ran ``sandprint exec``, once it is back at its prompt) takes them for keystrokes
(the bubblewrap CVE-2017-5226 class). Landlock cannot stop it: it never restricts a file
descriptor opened before the ruleset was applied (stdin/out/err are inherited), and the
kernel lets a process with CAP_SYS_ADMIN push into any terminal it holds, so ``setsid()``
does not help root (and ``dev.tty.legacy_tiocsti=0`` exempts it too). ``TIOCLINUX`` (a
virtual console's selection paste) does the same on a VT.

:func:`load_terminal_guard` loads a filter that answers both ioctls with EPERM and allows
everything else (the workload's own profile, if any, is a separate filter; the kernel applies
the stricter answer). The command argument is compared on its low 32 bits, as the kernel reads
it, and on the i386 ABI too.
"""

from __future__ import annotations

import errno
import termios

import pyseccomp

from ..errors import EnvironmentProblem

TIOCSTI = termios.TIOCSTI                      # 0x5412
TIOCLINUX = getattr(termios, "TIOCLINUX", 0x541C)
GUARDED = {"TIOCSTI": TIOCSTI, "TIOCLINUX": TIOCLINUX}


def build_terminal_guard() -> pyseccomp.SyscallFilter:
    f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    f.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.ALLOW)
    try:
        f.add_arch(pyseccomp.Arch.X86)
    except (OSError, ValueError):
        pass                    # not an x86_64 host (or already there): the native ABI only
    for request in GUARDED.values():
        f.add_rule(pyseccomp.ERRNO(errno.EPERM), "ioctl",
                   pyseccomp.Arg(1, pyseccomp.MASKED_EQ, 0xFFFFFFFF, request))
    f.set_attr(pyseccomp.Attr.CTL_NNP, 1)
    return f


def load_terminal_guard(guard: pyseccomp.SyscallFilter | None = None) -> str:
    """Load the guard (``guard``, built beforehand, or a new one) into this process,
    irreversibly; one line for the log."""
    try:
        (guard or build_terminal_guard()).load()
    except OSError as e:
        raise EnvironmentProblem(f"cannot load the terminal guard (a seccomp filter refusing "
                                 f"TIOCSTI and TIOCLINUX): {e.strerror}; the command was not "
                                 "run") from None
    return ("terminal guard: ioctl TIOCSTI and TIOCLINUX refused (EPERM), so the workload "
            "cannot type into the terminal it inherited")
