"""Loading the recorder's BPF programs with bcc.

The C lives in ``bpf/*.bpf.c`` beside this module. This module only knows how to put the
pieces together, compile them with bcc and tell the user, in one line, why that failed.
Programs are attached through file descriptors owned by this process and nothing is pinned,
so whatever way sandprint exits, the kernel unloads them.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import threading
from pathlib import Path
from typing import Iterable

from ..errors import EnvironmentProblem
from ..syscalls import native_arch, syscall_number
from . import bpf_cache
from .btf import COMPAT_ARCH, BTFError, compat_status_offset, syscall_arg_offsets

BPF_DIR = Path(__file__).resolve().parent / "bpf"

MAX_TARGETS = 64
NR_SLOTS = 512
MAX_TASKS = 65536
PID_MAX_LIMIT = 4194304      # the kernel's ceiling for pid_max on 64-bit
RINGBUF_PAGES = 256          # 1 MiB of events in flight

TASK_PENDING_EXEC = 1
TASK_IN_CONTAINER = 2
TASK_HOST_PIDNS = 4
TASK_TRACKED = 8
TASK_FS_INFLIGHT = 16

TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

STAT_LOST_EVENTS = 0
STAT_TRACK_FULL = 1
STAT_FORKS = 2
STAT_EXECS = 3
STAT_COMPAT_CALLS = 4

# thread_info.status while a 32-bit syscall runs on x86_64 (the kernel's own constant,
# arch/x86/include/asm/thread_info.h; a macro, so BTF does not carry it)
TS_COMPAT = 0x0002

EV_FORK = 1
EV_EXEC = 2
EV_EXIT = 3
EV_CGROUP_MKDIR = 17        # EV_FS (fs_events.py) is 16

CGROUP_PATH_LEN = 256

EXEC_FILENAME_LEN = 256
EXEC_ARG_LEN = 128
EXEC_MAX_ARGS = 8


def pid_slots() -> int:
    """Slots of the pid-indexed tracked map: the kernel's pid_max (every pid and tid is
    below it)."""
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return max(1024, min(int(f.read()), PID_MAX_LIMIT))
    except (OSError, ValueError):
        return PID_MAX_LIMIT


def syscall_args_defines(arch: str) -> dict[str, int]:
    """RAW_SYSCALL_ARGS and the argument offsets in struct pt_regs, from the running
    kernel's BTF; empty (the regular tracepoint is used) when BTF cannot give them."""
    if arch != native_arch():
        return {}
    try:
        offsets = syscall_arg_offsets(arch)
    except BTFError:
        return {}
    defs = {"RAW_SYSCALL_ARGS": 1}
    defs.update({f"SC_ARG{i}": off for i, off in enumerate(offsets)})
    return defs


def compat_defines(arch: str) -> dict[str, int]:
    """COMPAT_STATUS_OFFSET and TS_COMPAT, so the programs tell a 32-bit syscall (i386 on
    x86_64) from a native one as the kernel does; empty when ``arch`` runs no other ABI or
    the running kernel's BTF cannot place the marker (the recorder then says the recording
    cannot tell them apart)."""
    if arch not in COMPAT_ARCH or arch != native_arch():
        return {}
    try:
        return {"COMPAT_STATUS_OFFSET": compat_status_offset(arch), "TS_COMPAT": TS_COMPAT}
    except BTFError:
        return {}


def exit_group_dead() -> dict[str, int]:
    """EXIT_GROUP_DEAD when sched_process_exit says whether the exiting task was its thread
    group's last (a leader may end before its threads); tasks.bpf.c reads it."""
    for root in TRACEFS:
        try:
            with open(f"{root}/events/sched/sched_process_exit/format") as f:
                return {"EXIT_GROUP_DEAD": 1} if "group_dead;" in f.read() else {}
        except OSError:
            continue
    return {}


class TaskInfo(ctypes.Structure):
    _fields_ = [("target", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class EventHeader(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("target", ctypes.c_uint32),
                ("pid", ctypes.c_uint32), ("tid", ctypes.c_uint32)]


class ForkEvent(ctypes.Structure):
    _fields_ = [("h", EventHeader), ("child", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


class ExecEvent(ctypes.Structure):
    _fields_ = [("h", EventHeader), ("argc", ctypes.c_uint32), ("truncated", ctypes.c_uint32),
                ("filename", ctypes.c_char * EXEC_FILENAME_LEN),
                ("argv", (ctypes.c_char * EXEC_ARG_LEN) * EXEC_MAX_ARGS)]


class CgroupEvent(ctypes.Structure):
    _fields_ = [("h", EventHeader), ("id", ctypes.c_uint64), ("level", ctypes.c_int32),
                ("pad", ctypes.c_uint32), ("path", ctypes.c_char * CGROUP_PATH_LEN)]


def container_defines() -> dict[str, int]:
    """The -D values container mode needs: the host PID namespace (as the kernel encodes its
    device number) that tells the runtime's bootstrap from the workload, and the unified
    hierarchy's id in the cgroup tracepoints (always 0)."""
    st = os.stat("/proc/self/ns/pid")
    kdev = (os.major(st.st_dev) << 20) | os.minor(st.st_dev)
    return {"CONTAINER_MODE": 1, "HOST_PIDNS_DEV": kdev, "HOST_PIDNS_INO": st.st_ino,
            "CGROUP2_HIERARCHY_ID": 0}


def import_bcc():
    """Import Debian's bcc module, or explain how to get it."""
    try:
        import bcc  # noqa: F401
    except ImportError:
        raise EnvironmentProblem(
            "the bcc Python module is not importable: install Debian's python3-bpfcc and "
            "run `bash scripts/setup.sh` (it links bcc into the virtual environment)") from None
    return bcc


CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39


def effective_capabilities() -> int:
    """This process's effective capability mask (CapEff in /proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def missing_privileges() -> str | None:
    """Why this process cannot load the recorder's BPF programs, or None when it can."""
    if os.geteuid() != 0:
        return (f"record, verify and check need root (running as uid {os.geteuid()}; they "
                "load BPF tracepoint programs, which needs CAP_BPF, CAP_PERFMON and "
                "CAP_SYS_ADMIN): run sandprint as root, e.g. with sudo")
    caps = effective_capabilities()
    has = lambda c: bool(caps >> c & 1)   # noqa: E731
    if not (has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON))):
        return ("record, verify and check load BPF tracepoint programs, which needs CAP_BPF "
                "and CAP_PERFMON (or CAP_SYS_ADMIN); this root process does not have them (capabilities dropped, or an unprivileged container): "
                "run sandprint as root with its capabilities, e.g. sudo on the host")
    return None


def check_privileges() -> None:
    problem = missing_privileges()
    if problem:
        raise EnvironmentProblem(problem)
    if not any(os.path.exists(f"{root}/events/raw_syscalls") for root in TRACEFS):
        raise EnvironmentProblem(
            "tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing")


def program_text(parts: Iterable[str]) -> str:
    chunks = [(BPF_DIR / "common.bpf.h").read_text()]
    for name in parts:
        chunks.append(f"/* ---- {name} ---- */\n" + (BPF_DIR / name).read_text())
    return "\n".join(chunks)


def cflags(arch: str, extra: dict[str, int] | None = None) -> list[str]:
    defs = {
        "MAX_TARGETS": MAX_TARGETS,
        "MAX_TASKS": MAX_TASKS,
        "PID_SLOTS": pid_slots(),
        "NR_SLOTS": NR_SLOTS,
        "RINGBUF_PAGES": RINGBUF_PAGES,
        "NR_EXECVE": syscall_number(arch, "execve"),
        "NR_EXECVEAT": syscall_number(arch, "execveat"),
    }
    defs.update(extra or {})
    return [f"-D{k}={v}" for k, v in defs.items()] + ["-Wno-unused-function"]


def load(parts: Iterable[str], arch: str, extra_defines: dict[str, int] | None = None):
    """Compile and attach the given program files; returns the bcc ``BPF`` object. What an
    earlier run compiled from the same text, flags, kernel and bcc is loaded from the cache
    instead (bpf_cache.py): LLVM is most of a recording's start-up."""
    check_privileges()
    bcc = import_bcc()
    text = program_text(parts)
    flags = cflags(arch, extra_defines)
    cache_key = bpf_cache.key(text, flags)
    entry = bpf_cache.lookup(cache_key)
    if entry is not None:
        try:
            return bpf_cache.load(entry)
        except Exception:   # a stale entry (the verifier changed, say): compile instead
            bpf_cache.drop(cache_key)
    # bcc prints compiler diagnostics on stderr itself; keep them for the error message.
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            bpf = bcc.BPF(text=text, cflags=flags)
        bpf_cache.store(cache_key, bpf)
        return bpf
    except Exception as e:   # bcc raises bare Exception on compile/load/attach failure
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        hint = ""
        if not os.path.exists(f"/lib/modules/{os.uname().release}/build"):
            hint = (" (no kernel headers at /lib/modules/$(uname -r)/build: "
                    "run `bash scripts/setup.sh`)")
        raise EnvironmentProblem(f"could not load the recorder's BPF programs: {detail}{hint}"
                                 ) from None


def detach_tracepoints(bpf) -> None:
    """Close the regular tracepoints' perf events in parallel: each close waits for an RCU
    grace period (tens of milliseconds), and one after the other they added seconds to the
    end of every recording. What is left (raw tracepoints, maps) goes with bpf.cleanup()."""
    fds = list(bpf.tracepoint_fds.values())
    bpf.tracepoint_fds.clear()
    if not fds:
        return

    def close(chunk: list[int]) -> None:
        for fd in chunk:
            try:
                os.close(fd)
            except OSError:
                pass

    workers = [threading.Thread(target=close, args=(fds[i::16],))
               for i in range(min(16, len(fds)))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def attach_extra(bpf, attach):
    """Run ``attach(bpf)`` (manual tracepoint attachments); a failure detaches everything
    and is told in one line."""
    try:
        return attach(bpf)
    except Exception as e:   # bcc raises bare Exception when an attachment fails
        bpf.cleanup()
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise EnvironmentProblem(f"could not attach the recorder's BPF programs: {detail}"
                                 ) from None
