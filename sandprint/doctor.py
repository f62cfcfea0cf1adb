"""`sandprint doctor`: what this kernel and host support, what is missing, and the fix."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

SETUP = "bash scripts/setup.sh"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True      # needed for recording; others are needed for some commands


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _compat_check() -> list[Check]:
    """Whether the recorder tells this kernel's 32-bit syscalls (i386 on x86_64) from native
    ones: it needs the marker's offset from BTF, or every recording is marked incomplete."""
    try:
        from .profiler.bpf_loader import compat_defines
        from .profiler.btf import COMPAT_ARCH
        from .syscalls import companion_arches, native_arch

        arch = native_arch()
    except Exception:  # noqa: BLE001  (no libseccomp, an unknown machine: said elsewhere)
        return []
    compat = COMPAT_ARCH.get(arch)
    if compat is None or compat not in companion_arches(arch):
        return []
    defs = compat_defines(arch)
    return [Check("32-bit syscalls", bool(defs),
                  f"{compat} calls told apart (thread_info.status at task_struct+"
                  f"{defs['COMPAT_STATUS_OFFSET']}, from BTF)" if defs else
                  f"this kernel runs {compat} syscalls and its BTF does not place their marker: "
                  "recordings are marked incomplete",
                  "a kernel with CONFIG_DEBUG_INFO_BTF=y", required=False)]


def checks() -> list[Check]:
    out: list[Check] = []
    rel = os.uname().release
    out.append(Check("kernel", True, f"{rel} ({platform.machine()})"))
    root = os.geteuid() == 0
    out.append(Check("privileges", root, "root" if root else f"uid {os.geteuid()}",
                     "recording and verification load BPF programs: run as root (sudo)"))

    unpriv = _read("/proc/sys/kernel/unprivileged_bpf_disabled")
    bpf_ok = os.path.exists("/sys/fs/bpf") or unpriv is not None
    out.append(Check("bpf", bpf_ok, "bpf() available" if bpf_ok else "no bpf syscall support",
                     "a kernel built with CONFIG_BPF_SYSCALL=y"))
    btf = os.path.exists("/sys/kernel/btf/vmlinux")
    out.append(Check("btf", btf, "/sys/kernel/btf/vmlinux" if btf else "no kernel BTF",
                     "a kernel with CONFIG_DEBUG_INFO_BTF=y (only optional programs need it)",
                     required=False))
    out += _compat_check()
    tracefs = os.path.exists("/sys/kernel/tracing/events/raw_syscalls")
    out.append(Check("tracefs", tracefs, "/sys/kernel/tracing" if tracefs else "not mounted",
                     "mount -t tracefs tracefs /sys/kernel/tracing"))
    build = f"/lib/modules/{rel}/build"
    target = os.path.realpath(build) if os.path.exists(build) else None
    out.append(Check("kernel headers", target is not None,
                     f"{build} -> {target}" if target else f"{build} missing",
                     f"{SETUP} (installs the kernel's headers or the nearest 6.1 package and "
                     "links it there)"))
    try:
        import bcc  # noqa: F401
        bcc_ok, bcc_detail = True, f"bcc {getattr(bcc, '__version__', '')} from {bcc.__file__}"
    except Exception as e:  # noqa: BLE001
        bcc_ok, bcc_detail = False, f"not importable ({type(e).__name__})"
    out.append(Check("bcc", bcc_ok, bcc_detail,
                     f"apt-get install python3-bpfcc, then {SETUP} (links it into the venv)"))

    status = _read("/proc/self/status") or ""
    seccomp = "Seccomp:" in status
    actions = _read("/proc/sys/kernel/seccomp/actions_avail") or ""
    out.append(Check("seccomp", seccomp and "errno" in actions,
                     f"filter actions: {actions}" if actions else "no seccomp filter support",
                     "a kernel with CONFIG_SECCOMP_FILTER=y"))
    try:
        import pyseccomp

        out.append(Check("libseccomp", True, f"API level {pyseccomp.get_api()}"))
    except Exception as e:  # noqa: BLE001
        out.append(Check("libseccomp", False, f"not usable ({e})",
                         "apt-get install libseccomp2; pip install pyseccomp"))

    from .profiler.recorder import landlock_abi

    abi = landlock_abi()
    lsms = _read("/sys/kernel/security/lsm")
    out.append(Check("landlock", abi is not None,
                     f"ABI {abi}" if abi else f"not enabled (active LSMs: {lsms or 'unknown'})",
                     "boot with landlock in lsm= (CONFIG_SECURITY_LANDLOCK=y)",
                     required=False))

    podman, runc = shutil.which("podman"), shutil.which("runc")
    if podman and runc:
        try:
            v = subprocess.run([podman, "--runtime", "runc", "info", "--format",
                                "{{.Host.OCIRuntime.Name}} {{.Host.CgroupsVersion}}"],
                               capture_output=True, text=True, timeout=30)
            ok = v.returncode == 0
            detail = ("runtime " + v.stdout.strip()) if ok else v.stderr.strip()[-200:]
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, detail = False, str(e)
        out.append(Check("podman+runc", ok, detail, "apt-get install podman runc",
                         required=False))
    else:
        out.append(Check("podman+runc", False, "not installed", "apt-get install podman runc",
                         required=False))
    out.append(_watch_check())
    return out


def _watch_check() -> Check:
    """Can `watch` read the kernel's seccomp audit records, and does the kernel log the
    would-be denials of a log-mode profile?"""
    from .verify.audit import AuditSource, actions_logged

    logged = actions_logged()
    try:
        src = AuditSource()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return Check("seccomp audit (watch)", False, str(e), "run as root", required=False)
    kind = src.kind
    src.close()
    if "log" not in logged:
        return Check("seccomp audit (watch)", False,
                     f"'log' is not in /proc/sys/kernel/seccomp/actions_logged ({' '.join(sorted(logged))})",
                     "echo log >> /proc/sys/kernel/seccomp/actions_logged", required=False)
    detail = "audit netlink socket" if kind == "netlink" else \
        "/dev/kmsg only (rate-limited by the kernel; the audit socket needs CAP_AUDIT_READ)"
    return Check("seccomp audit (watch)", True, detail, required=False)


PRIVILEGES = (
    ("record, verify, check", "root with CAP_BPF, CAP_PERFMON (or CAP_SYS_ADMIN): they load BPF "
                              "tracepoint programs"),
    ("exec", "nothing special: seccomp and Landlock restrict the calling process itself "
             "(it sets no_new_privs)"),
    ("generate, merge, diff, k8s patch", "nothing: they read and write files"),
    ("k8s install", "write access to the kubelet's seccomp directory (root on a node)"),
    ("record --container/--pod", "root, plus access to podman / the Kubernetes API"),
    ("watch", "CAP_AUDIT_READ (else CAP_SYSLOG for /dev/kmsg), CAP_NET_ADMIN for process "
              "events, in the host's PID and network namespaces; --pod: the Kubernetes API"),
)


def privilege_lines() -> list[str]:
    """What each command needs, and whether this process has it."""
    from .profiler.bpf_loader import missing_privileges

    problem = missing_privileges()
    out = ["privileges each command needs:"]
    width = max(len(c) for c, _ in PRIVILEGES)
    out += [f"  {c:<{width}}  {need}" for c, need in PRIVILEGES]
    out.append("  this process: " + ("can run all of them" if problem is None else
                                     f"cannot record/verify/check: {problem}"))
    return out


def run(echo: Callable[[str], None] = print) -> int:
    """Print the checks; exit status 1 when something recording needs is missing."""
    results = checks()
    width = max(len(c.name) for c in results)
    missing = 0
    for c in results:
        mark = "ok  " if c.ok else ("MISS" if c.required else "warn")
        echo(f"{mark} {c.name:<{width}}  {c.detail}")
        if not c.ok:
            echo(f"     {'':<{width}}  fix: {c.fix}")
            missing += c.required
    echo("")
    for line in privilege_lines():
        echo(line)
    echo("")
    echo("sandprint can record and verify on this host" if not missing else
         f"{missing} required piece(s) missing: recording will not work until fixed")
    return 1 if missing else 0
