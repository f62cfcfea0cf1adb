"""The recorder reads syscall arguments on the raw sys_enter tracepoint from the caller's saved
registers, at offsets taken from the running kernel's BTF (sandprint/profiler/btf.py). A wrong
offset would read garbage silently, so what BPF reports is compared here with what the kernel
itself shows in /proc/PID/syscall for a task blocked in that very syscall."""

from __future__ import annotations

import ctypes
import os
import platform
import stat
import subprocess
import sys
import time

import pytest

from sandprint.profiler import btf
from sandprint.profiler import fs_events as FE
from sandprint.syscalls import native_arch, syscall_number

STRICT = os.environ.get("SANDPRINT_STRICT") == "1"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 register layout")
def test_btf_gives_the_x86_64_syscall_registers():
    # struct pt_regs is ABI on x86_64 (ptrace's user_regs_struct has the same order):
    # di, si, dx, r10, r8, r9 at 14, 13, 12, 7, 9 and 8 words
    assert btf.syscall_arg_offsets("SCMP_ARCH_X86_64") == (112, 104, 96, 56, 72, 64)


def test_malformed_btf_is_refused(tmp_path):
    bad = tmp_path / "vmlinux"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 40)
    with pytest.raises(btf.BTFError):
        btf.syscall_arg_offsets("SCMP_ARCH_X86_64", str(bad))
    with pytest.raises(btf.BTFError):
        btf.syscall_arg_offsets("SCMP_ARCH_X86_64", str(tmp_path / "missing"))
    with pytest.raises(btf.BTFError):
        btf.syscall_arg_offsets("SCMP_ARCH_MIPS", str(bad))


def blocked_syscall(pid: int, nr: int, timeout: float = 20) -> list[int]:
    """Wait until ``pid`` sits in syscall ``nr``; its arguments as /proc shows them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = open(f"/proc/{pid}/syscall").read().split()
        if fields and fields[0] == str(nr):
            return [int(x, 16) for x in fields[1:7]]
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never blocked in syscall {nr}")


def user_string(pid: int, address: int) -> str:
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(address)
        return mem.read(4096).split(b"\0")[0].decode()


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["raw", "tracepoint"])
def test_arguments_read_by_bpf_match_proc(bpf_ready, tmp_path, mode):
    from sandprint.profiler.recorder import Recorder
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW
    child = subprocess.Popen(
        [sys.executable, "-c",
         f"import os, sys; sys.stdin.read(1); os.open({str(fifo)!r}, {flags})"],
        stdin=subprocess.PIPE)
    try:
        with Recorder(files=True, regular_tracepoint=(mode == "tracepoint")) as rec:
            if mode == "raw" and STRICT:
                assert rec.sys_enter == "raw", "this machine has BTF: the raw path must be used"
            if rec.sys_enter != mode:
                pytest.skip(f"recorder uses the {rec.sys_enter} tracepoint here")
            seen = []
            handle = rec.fs.handle
            rec.fs.handle = lambda ev: (seen.append(ev), handle(ev))
            target = rec.add_target("main")
            rec.track(child.pid, target)
            child.stdin.write(b"x")
            child.stdin.flush()
            nr = syscall_number(native_arch(), "openat")
            args = blocked_syscall(child.pid, nr)
            path = user_string(child.pid, args[1])
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))   # lets the open finish
            child.wait(timeout=20)
            rec.poll(100)
            rec.drain()
    finally:
        if child.poll() is None:
            child.kill()
    opens = [e for e in seen if e.op == FE.OP_OPEN and e.path == str(fifo)]
    assert len(opens) == 1, [(e.op, e.path) for e in seen]
    ev = opens[0]
    assert path == str(fifo)
    assert ev.pid == child.pid and ev.tid == child.pid
    assert ev.a[0] == ctypes.c_int32(args[0] & 0xFFFFFFFF).value == -100   # AT_FDCWD
    assert ev.a[1] == args[2] & 0xFFFFFFFF == flags
    assert ev.a[2] == args[3] & 0xFFFFFFFF
    assert ev.ret >= 0
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
