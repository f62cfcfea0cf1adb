#!/usr/bin/env python3
"""A workload that does honest work, and then (in probe mode) tries to break out of its sandbox.

    escape_probes.py setup  BASE                  lay out BASE (run unsandboxed, before each run)
    escape_probes.py benign BASE                  the work: read BASE/data, write BASE/out
    escape_probes.py probe  BASE [--outside-pid P]  the work, then every escape probe
    escape_probes.py list                         the probes, one JSON line each

The work: a forked worker walks ``BASE/data`` (regular files only; symlinks are skipped, as a
careful tool does), counts words and hands the counts back through a pipe; the main process
writes ``BASE/out/report.json.tmp``, renames it to ``report.json``, and a thread appends to
``BASE/out/log.txt`` (so the recording has the clone3 glibc starts threads with). It loads libc
through ctypes, as a workload with a native extension does.

Probe mode does the same work (printing ``{"benign": ...}``), then runs every probe in a
forked child of its own (an escape that succeeds changes nothing for the next probe) and
prints one JSON line per probe: ``{"probe", "outcome": "denied"|"ALLOWED"|"error", "errno",
"step", "detail"}``. ``denied`` means the probe's own escape step failed; ``error`` means a
preparation step failed first, so the probe proved nothing. A probe that gets through undoes
what it did (unmounts, renames back, restores modes and contents), so an unsandboxed baseline
run leaves ``BASE`` as it found it.

``BASE/outside`` is never touched by the work: it stands for everything the sandbox must keep
the workload away from. ``--outside-pid`` names a process outside the sandbox (default: the
parent) for the ptrace and signal probes. Syscall numbers come from libseccomp (pyseccomp).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import struct
import sys
import threading
import time

import pyseccomp

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
pylibc = ctypes.PyDLL(None, use_errno=True)      # keeps the GIL: for a raw clone()
pylibc.syscall.restype = ctypes.c_long


def nr(name: str, arch=pyseccomp.Arch.NATIVE) -> int:
    return pyseccomp.resolve_syscall(arch, name)


CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
SIGCHLD = 17
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
MNT_DETACH = 2
PTRACE_SEIZE = 0x4206
BPF_MAP_CREATE, BPF_MAP_TYPE_ARRAY = 0, 2
KEY_SPEC_PROCESS_KEYRING = -2
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, PERF_ATTR_SIZE_VER0 = 1, 0, 64
ADDR_NO_RANDOMIZE = 0x0040000
AF_PACKET, SOCK_RAW, ETH_P_ALL_BE = 17, 3, 0x0300
PAYLOAD_EXIT = 42            # the exit status of the dropped payload, when it runs


class Prep(Exception):
    """A preparation step failed: the probe proves nothing."""


def undo(done: list[str], what: str, fn, *args) -> None:
    """Undo an escape that worked; a failure is noted, never taken for a denial."""
    try:
        fn(*args)
    except OSError as e:
        done.append(f"could not undo {what}: {errno.errorcode.get(e.errno, e.errno)}")


def raw(name: str, *args) -> int:
    """syscall(name, args...) through libc; OSError on failure."""
    cargs = [a if isinstance(a, (bytes, ctypes._SimpleCData, ctypes.Array)) or a is None
             else ctypes.c_long(a) for a in args]
    r = libc.syscall(ctypes.c_long(nr(name)), *cargs)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), name)
    return r


def prep(what: str, fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        raise Prep(f"{what}: {errno.errorcode.get(e.errno, e.errno)} {e.strerror}") from None


class Layout:
    def __init__(self, base: str):
        self.base = os.path.abspath(base)
        self.data = os.path.join(self.base, "data")
        self.out = os.path.join(self.base, "out")
        self.outside = os.path.join(self.base, "outside")
        self.secret = os.path.join(self.outside, "secret.txt")
        self.victim = os.path.join(self.outside, "victim.txt")
        self.report = os.path.join(self.out, "report.json")
        self.data_link = os.path.join(self.data, "link-out")   # -> outside/secret.txt
        self.out_link = os.path.join(self.out, "link-out")     # -> outside/victim.txt


INPUTS = {
    "a.txt": "the quick brown fox jumps over the lazy dog\n",
    "b.txt": "sandprint records a workload and writes the sandbox that fits it\n",
    "c.txt": "seccomp filters syscalls landlock restricts paths\n",
    "d.txt": "a fox a dog a sandbox\n",
    "e.txt": "nothing else to see here\n",
    "sub/f.txt": "one more file one level down\n",
}


def setup(base: str) -> None:
    """Lay out BASE afresh: inputs, an empty output tree with a planted link, the outside."""
    lay = Layout(base)
    for d in (lay.data, lay.out, lay.outside):
        shutil.rmtree(d, ignore_errors=True)
    if os.path.lexists(os.path.join(lay.base, "escape.txt")):
        os.unlink(os.path.join(lay.base, "escape.txt"))
    for rel, text in INPUTS.items():
        path = os.path.join(lay.data, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    os.makedirs(lay.out)
    os.makedirs(lay.outside)
    with open(lay.secret, "w") as f:
        f.write("outside secret\n")
    with open(lay.victim, "w") as f:
        f.write("outside file the workload must not change\n")
    os.chmod(lay.victim, 0o644)
    # links someone planted inside the granted trees, pointing out of them
    os.symlink(lay.secret, lay.data_link)
    os.symlink(lay.victim, lay.out_link)
    for p in (lay.base, lay.data, lay.out, lay.outside):
        os.chmod(p, 0o755)


# -- the work ---------------------------------------------------------------------------------

def in_child(fn, *args) -> tuple[dict | None, int]:
    """Run ``fn(*args)`` in a forked child; its JSON result (or None) and its wait status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            result = fn(*args)
        except BaseException as e:              # noqa: BLE001 - reported, not raised
            result = {"exception": f"{type(e).__name__}: {e}"}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    return (json.loads(data) if data else None), status


def count_words(data_dir: str) -> dict:
    counts: dict[str, int] = {}
    files = 0
    stack = [data_dir]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    files += 1
                    with open(entry.path) as f:
                        for word in f.read().split():
                            counts[word] = counts.get(word, 0) + 1
    return {"files": files, "counts": counts}


def append_log(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line)


def thread_gone(tid: int) -> None:
    """Wait until the thread has left the kernel, not just Python: join() returns before the
    thread's last syscalls (madvise of its stack, exit), which a process exiting at once would
    cut off, so a recording of the run would lack them and the sandboxed thread could not exit.
    Sleeps at least once, so every run makes the same syscalls whether the thread is gone yet
    or not."""
    while True:
        time.sleep(0.001)
        if not os.path.exists(f"/proc/self/task/{tid}"):
            break


def benign(lay: Layout) -> dict:
    result, status = in_child(count_words, lay.data)
    if status != 0 or not result or "counts" not in result:
        raise SystemExit(f"worker failed: status {status}, {result}")
    words = sum(result["counts"].values())
    top = sorted(result["counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    tmp = lay.report + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"files": result["files"], "words": words, "top": top}, f)
    os.rename(tmp, lay.report)
    logger = threading.Thread(target=append_log, args=(
        os.path.join(lay.out, "log.txt"), f"counted {words} words in {result['files']} files\n"))
    logger.start()
    logger.join()
    thread_gone(logger.native_id)
    return {"benign": "ok", "files": result["files"], "words": words}


# -- the probes -------------------------------------------------------------------------------
# Each returns a detail string when the escape worked (having undone it) and raises OSError
# from the escape step when it was refused.

class Ctx:
    def __init__(self, lay: Layout, outside_pid: int, sibling_pid: int):
        self.lay, self._outside_pid, self.sibling_pid = lay, outside_pid, sibling_pid
        self.notes: list[str] = []     # undo steps that failed after an escape worked

    @property
    def outside_pid(self) -> int:
        if self._outside_pid <= 0:
            raise Prep("no process outside the sandbox to aim at (getppid() was refused; "
                       "pass --outside-pid)")
        return self._outside_pid


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _open_for_writing(path: str) -> None:
    """Open for writing and write nothing: the permission check is the probe."""
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))


def p_userns(c: Ctx) -> str:
    raw("unshare", CLONE_NEWUSER)
    return "a new user namespace was created"


def _clone_child(name: str, *args) -> None:
    """A raw fork-like ``name`` (clone or clone3) with the GIL held; the child exits at once."""
    pid = pylibc.syscall(ctypes.c_long(nr(name)), *args)
    if pid == 0:
        os._exit(0)                 # the child, in its new user namespace
    if pid < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), name)
    os.waitpid(pid, 0)


def p_userns_clone(c: Ctx) -> str:
    """The same escape as unshare, through the clone() a forking workload is allowed."""
    _clone_child("clone", ctypes.c_long(CLONE_NEWUSER | SIGCHLD),
                 *(ctypes.c_long(0) for _ in range(4)))
    return "a child in a new user namespace"


def p_userns_clone3(c: Ctx) -> str:
    """The same escape through clone3, whose flags sit in a struct seccomp cannot read."""
    # struct clone_args (CLONE_ARGS_SIZE_VER0): flags, pidfd, child_tid, parent_tid,
    # exit_signal, stack, stack_size, tls; no stack: the child runs on a copy, like fork's
    args = ctypes.create_string_buffer(struct.pack("=8Q", CLONE_NEWUSER, 0, 0, 0, SIGCHLD,
                                                   0, 0, 0), 64)
    _clone_child("clone3", args, ctypes.c_long(64))
    return "a child in a new user namespace through clone3"


def p_mount(c: Ctx) -> str:
    target = c.lay.out.encode()
    try:
        raw("unshare", CLONE_NEWNS)
        private = True
    except OSError:
        private = False             # try in the current mount namespace all the same
    if private:
        raw("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    raw("mount", b"sandprint-probe", target, b"tmpfs", 0, None)
    undo(c.notes, "the mount", raw, "umount2", target, MNT_DETACH)
    return "mounted a tmpfs" + (" in a new mount namespace" if private else "")


def _seize(pid: int) -> str:
    raw("ptrace", PTRACE_SEIZE, pid, 0, 0)
    return f"attached to pid {pid} (detached when the probe exited)"


def p_ptrace_sibling(c: Ctx) -> str:
    return _seize(c.sibling_pid)


def p_ptrace_outside(c: Ctx) -> str:
    return _seize(c.outside_pid)


def p_signal_outside(c: Ctx) -> str:
    raw("kill", c.outside_pid, 0)
    return f"may signal pid {c.outside_pid} (signal 0 sent)"


def p_bpf(c: Ctx) -> str:
    attr = (ctypes.c_uint32 * 30)(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    fd = raw("bpf", BPF_MAP_CREATE, attr, ctypes.sizeof(attr))
    os.close(fd)
    return "created a BPF array map"


def p_keyctl(c: Ctx) -> str:
    serial = raw("add_key", b"user", b"sandprint-probe", b"x", 1, KEY_SPEC_PROCESS_KEYRING)
    return f"added key {serial} to the process keyring"


def p_io_uring(c: Ctx) -> str:
    params = (ctypes.c_uint8 * 120)()
    fd = raw("io_uring_setup", 4, params)
    os.close(fd)
    return "set up an io_uring instance"


def p_perf_event(c: Ctx) -> str:
    attr = (ctypes.c_uint32 * 32)(PERF_TYPE_SOFTWARE, PERF_ATTR_SIZE_VER0, PERF_COUNT_SW_CPU_CLOCK)
    fd = raw("perf_event_open", attr, 0, -1, -1, 0)
    os.close(fd)
    return "opened a perf event"


def p_personality(c: Ctx) -> str:
    raw("personality", ADDR_NO_RANDOMIZE)
    return "turned address-space randomisation off"


def p_setns(c: Ctx) -> str:
    fd = os.open(f"/proc/{c.outside_pid}/ns/mnt", os.O_RDONLY)
    try:
        raw("setns", fd, CLONE_NEWNS)
    finally:
        os.close(fd)
    return f"joined pid {c.outside_pid}'s mount namespace"


def p_chroot(c: Ctx) -> str:
    raw("chroot", c.lay.outside.encode())
    return "changed root"


def p_raw_socket(c: Ctx) -> str:
    fd = raw("socket", AF_PACKET, SOCK_RAW, ETH_P_ALL_BE)
    os.close(fd)
    return "opened a raw packet socket"


def _i386_call(number: int, ebx: int = 0, ecx: int = 0, edx: int = 0) -> int:
    """One syscall through the 32-bit ABI (int 0x80) from this 64-bit process: its i386
    ``number`` and 32-bit register arguments; the raw result (-errno on failure)."""
    code = (b"\x53" + b"\xb8" + struct.pack("<I", number) + b"\xbb" + struct.pack("<I", ebx)
            + b"\xb9" + struct.pack("<I", ecx) + b"\xba" + struct.pack("<I", edx)
            + b"\xcd\x80" + b"\x48\x63\xc0" + b"\x5b\xc3")
    # push rbx; eax=nr; ebx, ecx, edx = args; int 0x80; rax=eax (sign-extended); pop rbx
    page = _low_page(7)                              # RWX
    ctypes.memmove(page, code, len(code))
    return ctypes.CFUNCTYPE(ctypes.c_long)(page)()


def _low_page(prot: int) -> int:
    """A private page below 4 GiB (MAP_32BIT), which 32-bit pointers can name."""
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    page = libc.mmap(None, 4096, prot, 0x22 | 0x40, -1, 0)   # MAP_PRIVATE|ANONYMOUS|32BIT
    if page in (None, ctypes.c_void_p(-1).value):
        raise Prep("mmap of a page below 4 GiB failed")
    return page


def p_abi_switch(c: Ctx) -> str:
    """unshare(CLONE_NEWUSER) through the 32-bit ABI (int 0x80), around a 64-bit-only filter."""
    r = _i386_call(nr("unshare", pyseccomp.Arch.X86), CLONE_NEWUSER)
    if r < 0:
        raise OSError(-r, os.strerror(-r))
    return "a new user namespace through the i386 ABI"


def p_abi_read_outside(c: Ctx) -> str:
    """open() the outside secret through the 32-bit ABI (int 0x80), then read it: neither the
    64-bit allow list nor the recorder's 64-bit view of open sees that call."""
    path = _low_page(3)                              # RW
    ctypes.memmove(path, c.lay.secret.encode() + b"\0", len(c.lay.secret) + 1)
    fd = _i386_call(nr("open", pyseccomp.Arch.X86), path, os.O_RDONLY)
    if fd < 0:
        raise OSError(-fd, os.strerror(-fd))
    try:
        data = os.read(fd, 64)
    finally:
        os.close(fd)
    return f"read {len(data)} bytes of the outside secret through the i386 ABI"


def _create(c: Ctx, path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    undo(c.notes, "the file", os.unlink, path)


def p_write_outside(c: Ctx) -> str:
    _create(c, os.path.join(c.lay.outside, "new.txt"))
    return "created a file outside the granted trees"


def p_write_parent(c: Ctx) -> str:
    _create(c, os.path.join(c.lay.base, "escape.txt"))
    return "created a file beside the granted trees"


def p_open_outside_write(c: Ctx) -> str:
    _open_for_writing(c.lay.victim)
    return "opened an outside file for writing"


def p_read_outside(c: Ctx) -> str:
    _read(c.lay.secret)
    return "read an outside file"


def p_read_shadow(c: Ctx) -> str:
    _read("/etc/shadow")
    return "read /etc/shadow"


def p_write_input(c: Ctx) -> str:
    _open_for_writing(os.path.join(c.lay.data, "a.txt"))
    return "opened an input (only ever read) for writing"


def p_truncate_outside(c: Ctx) -> str:
    size = prep("stat", os.stat, c.lay.victim).st_size
    raw("truncate", c.lay.victim.encode(), size)     # to its own size: nothing is lost
    return "truncated an outside file (to its own size)"


def p_chmod_outside(c: Ctx) -> str:
    mode = prep("stat", os.stat, c.lay.victim).st_mode & 0o7777
    os.chmod(c.lay.victim, 0o666)
    undo(c.notes, "the mode", os.chmod, c.lay.victim, mode)
    return "changed an outside file's mode (restored)"


def p_chown_outside(c: Ctx) -> str:
    st = prep("stat", os.stat, c.lay.victim)
    os.chown(c.lay.victim, 65534, 65534)
    undo(c.notes, "the owner", os.chown, c.lay.victim, st.st_uid, st.st_gid)
    return "changed an outside file's owner (restored)"


def p_symlink_read(c: Ctx) -> str:
    _read(c.lay.data_link)
    return "read outside/secret.txt through data/link-out"


def p_symlink_write(c: Ctx) -> str:
    _open_for_writing(c.lay.out_link)
    return "opened outside/victim.txt for writing through out/link-out"


def p_symlink_plant(c: Ctx) -> str:
    link = os.path.join(c.lay.out, "planted")
    os.symlink("/etc/shadow", link)
    undo(c.notes, "the symlink", os.unlink, link)
    return "created a symlink in the output tree"


def p_rename_out(c: Ctx) -> str:
    dest = os.path.join(c.lay.outside, "report.json")
    os.rename(c.lay.report, dest)
    undo(c.notes, "the move", os.rename, dest, c.lay.report)
    return "moved out/report.json outside (moved back)"


def p_link_out(c: Ctx) -> str:
    dest = os.path.join(c.lay.outside, "report.json")
    os.link(c.lay.report, dest)
    undo(c.notes, "the link", os.unlink, dest)
    return "hard-linked out/report.json outside (removed)"


def p_exec_dropped(c: Ctx) -> str:
    payload = os.path.join(c.lay.out, "payload.sh")
    fd = prep("writing the payload", os.open, payload,
              os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    os.write(fd, f"#!/bin/sh\nexit {PAYLOAD_EXIT}\n".encode())
    os.close(fd)
    os.execv(payload, [payload])    # on success the payload's exit status tells
    return "unreachable"


def p_exec_memfd(c: Ctx) -> str:
    shell = prep("reading /bin/sh", _read, "/bin/sh")
    fd = os.memfd_create("sandprint-probe", 0)
    os.write(fd, shell)
    os.execve(fd, ["sh", "-c", f"exit {PAYLOAD_EXIT}"], {})   # fexecve: no path to check
    return "unreachable"


# name -> (function, what it tries)
PROBES: dict[str, tuple] = {
    "userns": (p_userns, "unshare(CLONE_NEWUSER): a new user namespace"),
    "userns-clone": (p_userns_clone, "clone(CLONE_NEWUSER): a child in a new user namespace"),
    "userns-clone3": (p_userns_clone3, "clone3() with CLONE_NEWUSER in struct clone_args: "
                                       "the same, flags out of a filter's reach"),
    "mount": (p_mount, "unshare(CLONE_NEWNS), then mount a tmpfs over the output tree"),
    "ptrace-sibling": (p_ptrace_sibling, "PTRACE_SEIZE a sibling process of the same workload"),
    "ptrace-outside": (p_ptrace_outside, "PTRACE_SEIZE a process outside the sandbox"),
    "signal-outside": (p_signal_outside, "kill(pid, 0) to a process outside the sandbox"),
    "bpf": (p_bpf, "bpf(BPF_MAP_CREATE) an array map"),
    "keyctl": (p_keyctl, "add_key() a key to the process keyring"),
    "io-uring": (p_io_uring, "io_uring_setup(): a ring that does I/O past seccomp"),
    "perf-event": (p_perf_event, "perf_event_open() a software counter"),
    "personality": (p_personality, "personality(ADDR_NO_RANDOMIZE): ASLR off"),
    "setns": (p_setns, "open an outside process's /proc/PID/ns/mnt and setns() into it"),
    "chroot": (p_chroot, "chroot() into another directory"),
    "raw-socket": (p_raw_socket, "socket(AF_PACKET, SOCK_RAW): a kind never used"),
    "abi-switch": (p_abi_switch, "unshare(CLONE_NEWUSER) through int 0x80 (i386 ABI)"),
    "abi-read-outside": (p_abi_read_outside, "open() and read an outside file through int 0x80 "
                                             "(i386 ABI)"),
    "write-outside": (p_write_outside, "create a file in a directory outside the granted trees"),
    "write-parent": (p_write_parent, "create a file in the parent of the granted trees"),
    "open-outside-write": (p_open_outside_write, "open an existing outside file for writing"),
    "read-outside": (p_read_outside, "read a file outside the granted trees"),
    "read-shadow": (p_read_shadow, "read /etc/shadow"),
    "write-input": (p_write_input, "open an input file it only ever read for writing"),
    "truncate-outside": (p_truncate_outside, "truncate() an outside file"),
    "chmod-outside": (p_chmod_outside, "chmod() an outside file"),
    "chown-outside": (p_chown_outside, "chown() an outside file"),
    "symlink-read": (p_symlink_read, "read through a planted symlink in the input tree "
                                     "that points outside"),
    "symlink-write": (p_symlink_write, "open for writing through a planted symlink in the "
                                       "output tree that points outside"),
    "symlink-plant": (p_symlink_plant, "create a symlink in the output tree"),
    "rename-out": (p_rename_out, "rename() a granted output file out of its tree"),
    "link-out": (p_link_out, "link() a granted output file out of its tree"),
    "exec-dropped": (p_exec_dropped, "write a script into the output tree and execve() it"),
    "exec-memfd": (p_exec_memfd, "copy /bin/sh into a memfd_create() file and fexecve() it"),
}


def run_probe(name: str, ctx, probes: dict | None = None) -> dict:
    """Run one probe of ``probes`` (default: this workload's) in a forked child."""
    fn = (probes or PROBES)[name][0]

    def attempt() -> dict:
        try:
            detail = fn(ctx)
            return {"outcome": "ALLOWED", "detail": "; ".join([detail] + ctx.notes)}
        except Prep as e:
            return {"outcome": "error", "detail": str(e)}
        except OSError as e:
            return {"outcome": "denied", "errno": errno.errorcode.get(e.errno, str(e.errno)),
                    "detail": str(e)}

    result, status = in_child(attempt)
    if result is None:
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == PAYLOAD_EXIT:
            result = {"outcome": "ALLOWED", "detail": f"the payload ran (exit {PAYLOAD_EXIT})"}
        else:
            how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit status {os.WEXITSTATUS(status)}")
            result = {"outcome": "denied" if os.WIFSIGNALED(status) else "error",
                      "errno": None, "detail": f"the probe died: {how}"}
    elif "exception" in result:
        result = {"outcome": "error", "detail": result["exception"]}
    return {"probe": name, **result}


def wait_forever(fd: int) -> dict:
    os.read(fd, 1)              # until the main process closes the pipe
    return {}


def probe_all(lay: Layout, outside_pid: int) -> list[dict]:
    # a sibling for the ptrace probe: a second child of the main process, waiting on a pipe
    r, w = os.pipe()
    sibling = os.fork()
    if sibling == 0:
        os.close(w)
        wait_forever(r)
        os._exit(0)
    os.close(r)
    try:
        ctx = Ctx(lay, outside_pid, sibling)
        return [run_probe(name, ctx) for name in PROBES]
    finally:
        os.close(w)
        os.waitpid(sibling, 0)


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        for name, (_, what) in PROBES.items():
            print(json.dumps({"probe": name, "tries": what}))
        return 0
    if len(argv) < 2 or argv[0] not in ("setup", "benign", "probe"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, base = argv[0], argv[1]
    if mode == "setup":
        setup(base)
        return 0
    lay = Layout(base)
    print(json.dumps(benign(lay)), flush=True)
    if mode == "probe":
        outside = int(argv[argv.index("--outside-pid") + 1]) if "--outside-pid" in argv \
            else os.getppid()           # -1 when a seccomp profile refuses getppid
        for line in probe_all(lay, outside):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
