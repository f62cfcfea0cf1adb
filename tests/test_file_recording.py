"""File, network, signal and exec recording with the real BPF programs.

A workload script (written here) does known things and prints what it did as JSON (its pid,
cwd, realpaths, port numbers); the recording must hold exactly those accesses, with the
rights Landlock names, cross-checked against what the workload reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sandprint.profiler.fsmodel import FsModel, interpreter_of, sockaddr
from sandprint.profiler.paths import Resolver, lexical, proc_self
from sandprint.profiler.record import record_command
from sandprint.recording import Target

WORKLOAD = textwrap.dedent(r'''
    import ctypes, ctypes.util, json, mmap, os, signal, socket, subprocess, sys
    work = sys.argv[1]
    out = {"pid": os.getpid()}
    # read a file, list a directory
    with open("/etc/hostname") as f:
        f.read()
    out["listed"] = sorted(os.listdir("/usr/share"))[:1]
    # create/write/truncate/rename/delete in a temp dir, relative paths after chdir
    os.chdir(work)
    out["cwd"] = os.getcwd()
    os.mkdir("sub")
    with open("sub/new.txt", "w") as f:
        f.write("x" * 100)
    os.truncate("sub/new.txt", 10)
    os.mkdir("other")
    os.rename("sub/new.txt", "other/moved.txt")
    with open("existing.txt", "r+") as f:
        f.write("changed")
    os.unlink("other/moved.txt")
    os.rmdir("sub")
    os.mkfifo("fifo")
    os.symlink("existing.txt", "link")
    # openat with a directory fd
    dfd = os.open("other", os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("viafd.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dfd)
    os.close(fd)
    os.close(dfd)
    out["viafd"] = os.path.realpath("other/viafd.txt")
    # map a shared library executable
    h = ctypes.CDLL("libz.so.1")
    maps = open("/proc/self/maps").read()
    out["lib"] = sorted({l.split()[-1] for l in maps.splitlines() if "libz" in l})
    # a TCP server on 127.0.0.1 and a connection to it
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    out["port"] = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", out["port"]))
    conn, _ = srv.accept()
    conn.close(); cli.close(); srv.close()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(("127.0.0.1", 9))
    udp.close()
    # a UNIX socket bound to a path, and one to an abstract name
    us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    us.bind(os.path.join(work, "sock"))
    us.close()
    ab = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ab.bind("\0sandprint-test-%d" % os.getpid())
    ab.close()
    # exec a program with arguments
    subprocess.run(["/bin/echo", "hello", "world"], stdout=subprocess.DEVNULL, check=True)
    # a denied access: a child that gave up root opens a mode-000 file
    locked = os.path.join(work, "locked")
    open(locked, "w").close()
    os.chmod(locked, 0)
    child = os.fork()
    if child == 0:
        os.setgid(65534); os.setuid(65534)
        try:
            open(locked)
            os._exit(1)
        except PermissionError:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    out["denied_ok"] = os.waitstatus_to_exitcode(status) == 0
    # a signal outside the target (to sandprint's recorder: signal 0 only probes)
    os.kill(int(sys.argv[2]), 0)
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = tmp_path_factory.mktemp("files")
    work = base / "work"
    work.mkdir()
    os.chmod(base, 0o755)
    os.chmod(work, 0o777)          # the setuid child must reach `locked`
    (work / "existing.txt").write_text("old contents")
    script = base / "workload.py"
    script.write_text(WORKLOAD)
    out = base / "out.json"
    argv = ["/bin/sh", "-c", f'exec "$0" "$@" > {out}', sys.executable, str(script),
            str(work), str(os.getpid())]
    rec, status = record_command(argv, log=lambda m: None)
    assert status == 0, out.read_text() if out.exists() else "no output"
    report = json.loads(out.read_text())
    return rec, report, os.path.realpath(work), os.path.realpath(script)


def files_of(rec):
    return rec.targets[0].files


@pytest.mark.kernel
def test_reads_and_listing(bpf_ready, recorded):
    rec, report, work, script = recorded
    f = files_of(rec)
    assert f["/etc/hostname"].access == {"read_file"}
    assert "read_dir" in f["/usr/share"].access
    assert f[script].access == {"read_file"}
    assert rec.metadata["lostEvents"] == 0
    assert rec.metadata["fileEvents"]["lost"] == 0
    assert "modelError" not in rec.targets[0].info


@pytest.mark.kernel
def test_writes_in_temp_dir(bpf_ready, recorded):
    rec, report, work, _ = recorded
    f = files_of(rec)
    assert report["cwd"] == work
    # exactly the paths the workload touched under its directory, with Landlock's rights
    under = {p: (fa.access, fa.denied) for p, fa in f.items()
             if p == work or p.startswith(work + "/")}
    assert under == {
        work: ({"make_dir", "make_reg", "make_fifo", "make_sym", "make_sock", "remove_dir"},
               set()),
        f"{work}/sub": ({"make_reg", "remove_file", "refer"}, set()),
        f"{work}/sub/new.txt": ({"write_file", "truncate"}, set()),
        f"{work}/other": ({"make_reg", "remove_file", "refer", "read_dir"}, set()),
        f"{work}/other/viafd.txt": ({"write_file"}, set()),
        f"{work}/existing.txt": ({"read_file", "write_file"}, set()),
        f"{work}/locked": ({"write_file", "truncate"}, {"read_file"}),
    }, under
    assert report["viafd"] == f"{work}/other/viafd.txt"
    assert report["denied_ok"]


@pytest.mark.kernel
def test_shared_library_and_exec(bpf_ready, recorded):
    rec, report, _, _ = recorded
    f = files_of(rec)
    for lib in report["lib"]:
        # mapped PROT_EXEC: read_file only, as Landlock checks execute at execve alone
        # (tests/test_landlock_exact.py runs it under a ruleset without execute)
        assert f[os.path.realpath(lib)].access == {"read_file"}
    echo = os.path.realpath("/bin/echo")
    assert "execute" in f[echo].access
    interp = interpreter_of(echo)
    assert interp and "execute" in f[os.path.realpath(interp)].access
    execs = {(e.path, tuple(e.argv)) for e in rec.targets[0].execs.values()}
    assert ("/bin/echo", ("/bin/echo", "hello", "world")) in execs
    assert os.path.realpath(sys.executable) in f


@pytest.mark.kernel
def test_network(bpf_ready, recorded):
    rec, report, work, _ = recorded
    net = {(n.op, n.protocol, n.family, n.port, n.address)
           for n in rec.targets[0].network.values()}
    port = report["port"]
    # the port asked for is recorded: bind(0) asks for an ephemeral port, and that is what
    # Landlock checks (a netPort rule for port 0)
    assert ("bind", "tcp", "inet", 0, "127.0.0.1") in net
    assert ("listen", "tcp", "inet", 0, "127.0.0.1") in net
    assert ("connect", "tcp", "inet", port, "127.0.0.1") in net
    assert ("connect", "udp", "inet", 9, "127.0.0.1") in net
    assert ("bind", "unix", "unix", None, f"{work}/sock") in net
    assert ("bind", "unix", "unix", None, f"@sandprint-test-{report['pid']}") in net


@pytest.mark.kernel
def test_signal_outside_target(bpf_ready, recorded):
    rec, _, _, _ = recorded
    sigs = rec.targets[0].signals
    assert {"signal": "0", "to": {"pid": os.getpid(), "comm": _comm(os.getpid())},
            "syscall": "kill"} in sigs, sigs


def _comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


@pytest.mark.kernel
def test_bpf_pids_match_proc(bpf_ready, tmp_path):
    """The pid/tgid the BPF events carry are the ones /proc shows for the process."""
    script = tmp_path / "pids.py"
    script.write_text(textwrap.dedent('''
        import os, threading, json
        def opener():
            open("/etc/hostname").close()
            print(json.dumps({"tid": threading.get_native_id()}), flush=True)
        t = threading.Thread(target=opener); t.start(); t.join()
        print(json.dumps({"pid": os.getpid(), "status_tgid": int([l for l in
              open("/proc/self/status") if l.startswith("Tgid:")][0].split()[1])}))
    '''))
    from sandprint.profiler import fs_events as FE
    from sandprint.profiler.recorder import Recorder
    from sandprint.profiler.record import run_command

    seen = []
    with Recorder(target_meta={"type": "command"}) as r:
        handle = r.fs.handle

        def spy(ev):
            if ev.op == FE.OP_OPEN and ev.path == "/etc/hostname":
                seen.append((ev.pid, ev.tid))
            handle(ev)
        r.fs.handle = spy
        out = tmp_path / "out"
        with open(out, "w") as f:
            cmd, _ = run_command([sys.executable, str(script)], r, log=lambda m: None,
                                 prepare=lambda: os.dup2(f.fileno(), 1))
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    tid, info = lines[0]["tid"], lines[1]
    assert info["pid"] == cmd.pid == info["status_tgid"]
    assert seen == [(cmd.pid, tid)]
    assert tid != cmd.pid


@pytest.mark.kernel
def test_dedup_and_cost(bpf_ready, tmp_path):
    """Repeated failed probes fold in the kernel; the dd loop (no file syscalls in its hot
    path) records no file events beyond its start-up."""
    rec, status = record_command(["dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                                  "count=200000"], log=lambda m: None)
    assert status == 0
    assert rec.targets[0].syscalls["read"] >= 200000
    assert rec.metadata["fileEvents"]["sent"] < 200
    assert rec.metadata["lostEvents"] == 0
    f = rec.targets[0].files
    assert "read_file" in f["/dev/zero"].access and "write_file" in f["/dev/null"].access
    assert "truncate" not in f["/dev/null"].access      # O_TRUNC truncates only files


# -- pure user-space pieces --------------------------------------------------------------

def test_lexical_and_proc_self():
    assert lexical("//a/./b/../c//") == "/a/c"
    assert lexical("/../..") == "/"
    assert proc_self("/proc/42/maps", {42}) == ("/proc/self/maps", True)
    assert proc_self("/proc/43/maps", {42}) == ("/proc/43/maps", False)
    assert proc_self("/proc/421", {42}) == ("/proc/421", False)


def test_resolver_follows_links(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("")
    os.symlink("real", tmp_path / "alias")
    os.symlink(str(tmp_path / "real" / "f"), tmp_path / "abs")
    r = Resolver()
    base = os.path.realpath(tmp_path)
    assert r.resolve("", "/", f"{base}/alias/f") == f"{base}/real/f"
    assert r.resolve("", "/", f"{base}/abs") == f"{base}/real/f"
    assert r.resolve("", "/", f"{base}/abs", follow=False) == f"{base}/abs"
    assert r.resolve("", "/", f"{base}/alias/../real/./f") == f"{base}/real/f"
    assert r.resolve("", "/", f"{base}/missing/x") == f"{base}/missing/x"
    # a chroot-like root: absolute link targets are taken from it
    os.symlink("/real", tmp_path / "rootabs")
    assert r.resolve("", base, f"{base}/rootabs/f") == f"{base}/real/f"


def test_sockaddr_decoding():
    import socket
    import struct
    raw = struct.pack("=H", socket.AF_INET) + struct.pack(">H", 8080) + bytes([10, 0, 0, 1])
    assert sockaddr(raw + bytes(8)) == ("inet", 8080, "10.0.0.1")
    raw6 = (struct.pack("=H", socket.AF_INET6) + struct.pack(">H", 443) + bytes(4)
            + socket.inet_pton(socket.AF_INET6, "::1") + bytes(4))
    assert sockaddr(raw6) == ("inet6", 443, "::1")
    assert sockaddr(struct.pack("=H", socket.AF_UNIX) + b"\0name") == ("unix", None, "@name")
    assert sockaddr(struct.pack("=H", socket.AF_UNIX) + b"/run/x.sock\0") == (
        "unix", None, "/run/x.sock")


def test_interpreter_of_elf_and_script(tmp_path):
    assert interpreter_of(sys.executable) and interpreter_of(sys.executable).startswith("/")
    s = tmp_path / "s.sh"
    s.write_text("#!/bin/sh -e\necho\n")
    assert interpreter_of(str(s)) == "/bin/sh"


def test_model_inherits_across_fork_and_closes_on_exec():
    from sandprint.profiler import fs_events as E
    t = Target()
    m = FsModel(lambda i: t, lambda i: {1})
    p = m.seed(os.getpid())
    p.cwd = "/usr"
    ev = E.FsEvent(E.OP_OPEN, 0, os.getpid(), os.getpid(), 900, 0,
                   (-100, 0o2000000 | 0o200000, 0, 0), path="share")
    m.handle(ev)
    assert t.files["/usr/share"].access == {"read_dir"}
    m.fork(os.getpid(), 999999)
    child = m.procs[999999]
    assert child.fds[900].path == "/usr/share" and child.cwd == "/usr"
    m.handle(E.FsEvent(E.OP_EXEC, 0, 999999, 999999, 0, 0, (-100, 0, 0, 0), path="/bin/true"))
    assert 900 not in child.fds and 900 in m.procs[os.getpid()].fds
