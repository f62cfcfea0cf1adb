"""`--runtime runc`: the generated OCI profile is one runc takes, and the runtime's own
post-filter syscalls are what lets the container start (real podman + runc)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sandprint.generators import seccomp
from sandprint.recording import Recording
from sandprint.syscalls import native_arch

from helpers import need

pytestmark = pytest.mark.podman

# What a static busybox `echo` makes from its execve on (as a recording would hold it).
BUSYBOX_ECHO = [
    "execve", "arch_prctl", "set_tid_address", "brk", "mmap", "munmap", "mprotect", "read",
    "write", "writev", "openat", "close", "fstat", "newfstatat", "getuid", "geteuid", "getpid",
    "getppid", "ioctl", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "uname", "prlimit64",
    "exit_group", "exit",
]


def podman_run(rootfs, profile, *argv):
    return subprocess.run(
        ["podman", "--runtime", "runc", "run", "--rm", "--network", "none",
         "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
         "--security-opt", f"seccomp={profile}", "--rootfs", str(rootfs), *argv],
        capture_output=True, text=True, timeout=120)


def test_runc_set_lets_the_container_start(tmp_path, podman_ready):
    busybox = shutil.which("busybox")
    need(busybox is not None, "static busybox not installed")
    rootfs = tmp_path / "rootfs"
    for d in ("bin", "proc", "dev", "sys", "etc", "tmp"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")

    rec = Recording.new({"type": "container"}, arch=native_arch())
    for name in BUSYBOX_ECHO:
        rec.target("main").add_syscall(name)
    with_runc = tmp_path / "with-runc.json"
    without = tmp_path / "without.json"
    seccomp.generate_file(rec, str(with_runc), runtime="runc")
    seccomp.generate_file(rec, str(without), runtime="none")

    ok = podman_run(rootfs, with_runc, "/bin/busybox", "echo", "hello")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "hello"
    # Without the runtime's syscalls runc itself fails after loading the filter.
    bad = podman_run(rootfs, without, "/bin/busybox", "echo", "hello")
    assert bad.returncode != 0
    assert "hello" not in bad.stdout
