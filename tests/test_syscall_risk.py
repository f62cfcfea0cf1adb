"""The risk classification of syscalls (sandprint.seccomp.risk): every syscall libseccomp knows
on x86_64 is classified or explicitly unclassified (treated as high risk)."""

from __future__ import annotations

from sandprint.seccomp import risk
from sandprint.syscalls import all_syscalls, is_known_syscall

ARCHES = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64")
# libseccomp's x86_64 names no category holds: treated as high risk (keep this list honest:
# a new syscall appears here until someone classifies it)
UNCLASSIFIED_X86_64: set[str] = set()


def test_categories_are_disjoint_and_name_real_syscalls():
    seen: dict[str, str] = {}
    for c in risk.CATEGORIES:
        assert c.risk in (risk.LOW, risk.HIGH)
        for n in c.names:
            assert n not in seen, f"{n} in {seen.get(n)} and {c.key}"
            seen[n] = c.key
            assert any(is_known_syscall(n, a) for a in ARCHES), n


def test_every_x86_64_syscall_is_classified_or_explicitly_unclassified():
    names = set(all_syscalls("SCMP_ARCH_X86_64").values())
    unclassified = {n for n in names if risk.classify(n) is risk.UNCLASSIFIED}
    assert unclassified == UNCLASSIFIED_X86_64
    assert not risk.is_low_risk("a_syscall_from_the_future")


def test_the_issue_s_examples():
    for high in ("unshare", "setns", "mount", "bpf", "perf_event_open", "ptrace", "add_key",
                 "keyctl", "init_module", "finit_module", "io_uring_setup", "userfaultfd",
                 "clock_settime", "settimeofday", "iopl", "ioperm", "socket", "execve",
                 # a widened profile never changes files or scheduling in a new way
                 "unlink", "rename", "chmod", "sched_setscheduler", "setpriority",
                 # ... nor cuts a file it holds (a log opened O_APPEND), nor reaches the
                 # whole host through what it holds, nor watches what others do with files
                 "creat", "ftruncate", "fallocate", "sync", "syncfs", "mlock", "mlockall",
                 "flock", "inotify_add_watch", "name_to_handle_at"):
        assert not risk.is_low_risk(high), high
    for low in ("nanosleep", "clock_gettime", "sched_yield", "mremap", "close", "dup2",
                "rt_sigaction", "kill", "tgkill", "umask", "getpgrp", "lstat", "shutdown",
                "sysinfo"):
        assert risk.is_low_risk(low), low
    assert risk.split({"mount", "nanosleep"}) == (["nanosleep"], ["mount"])
