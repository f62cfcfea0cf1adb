#!/usr/bin/env python3
"""A workload whose file use tempts a ruleset generator to over-grant, and (in probe mode) the
escapes such an over-grant would let through (issue 14, "the file layer holds").

    file_layer_probes.py setup  BASE                  lay out BASE (run unsandboxed, before each run)
    file_layer_probes.py benign BASE                  the work
    file_layer_probes.py probe  BASE [--outside-pid P]  the work, then every escape probe
    file_layer_probes.py list                         the probes, one JSON line each

The work, each piece the start of one class of over-grant:

* one ``tempfile.NamedTemporaryFile`` in /tmp (the generator grants /tmp: under ``sandprint
  exec`` that is a private /tmp);
* one POSIX shared-memory segment of a random name in /dev/shm, as ``shm_open`` and Python's
  ``multiprocessing`` make them (the generator grants /dev/shm: under ``exec`` a private one);
* reads five files of ``BASE/app`` (a directory that also holds ``tls/server.pem`` (0600),
  ``.vault-token``, ``.my.cnf`` and ``terraform.tfstate``, which it never reads);
* reads five files of ``BASE/site`` (which also holds a world-readable ``.my.cnf.bak`` and
  ``http.keytab``, secrets only by name);
* edits ``BASE/etc/app.conf`` in place (the sed -i way, write-then-rename, makes ``generate``
  stop in a protected tree: tests/test_file_layer_probes.py shows it);
* runs ``/usr/bin/true`` on a pseudo-terminal of its own (from /dev/ptmx);
* reads its own ``/proc/self/status``, and forks a worker that exits.

Setup also makes what stands for other programs on the host: files in the host's /tmp (a
Kerberos cache of another user, a pid file, a lock file; their names carry a hash of BASE) and
a terminal held open by a process of its own (another session's; its name ``/dev/pts/N`` is
in ``BASE/app/console.txt``, one of the five files the work reads). That process ends when
``BASE`` is removed (at the latest after 15 minutes) and takes the /tmp files with it.

Probe mode prints ``{"benign": "ok", ...}``, then one JSON line per probe, each run in a forked
child: ``{"probe", "outcome": "denied"|"ALLOWED"|"error", "errno", "detail"}``, as
``escape_probes.py`` does. A probe that gets through undoes what it did.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import pty
import signal
import subprocess
import sys
import tempfile
import termios
import time

PAYLOAD_EXIT = 42
APP_FILES = ("settings.ini", "routes.txt", "schema.sql", "console.txt", "version.txt")
SECRETS = {".vault-token": "s.hvs-TOKEN\n", ".my.cnf": "[client]\npassword=hunter2\n",
           "terraform.tfstate": '{"outputs": {"db_password": "hunter2"}}\n'}
# a second directory whose only secrets are ones the name list missed: a world-readable copy
# of a secret (an editor's or an admin's backup) and a Kerberos keytab
SITE_FILES = ("index.html", "style.css", "app.js", "robots.txt", "favicon.txt")
SITE_SECRETS = {".my.cnf.bak": "[client]\npassword=hunter2\n",
                "http.keytab": "\x05\x02 keytab of HTTP/site@REALM\n"}
HOLD_SECONDS = 900


class Prep(Exception):
    """A preparation step failed: the probe proves nothing."""


def host_tmp(base: str, name: str) -> str:
    """A file in the host's /tmp that stands for another program's (unique per BASE)."""
    tag = hashlib.sha256(os.path.realpath(base).encode()).hexdigest()[:10]
    return f"/tmp/sandprint-fl-{tag}-{name}"


class Layout:
    def __init__(self, base: str):
        self.base = os.path.realpath(base)
        self.app = os.path.join(self.base, "app")
        self.site = os.path.join(self.base, "site")
        self.etc = os.path.join(self.base, "etc")
        self.outside = os.path.join(self.base, "outside")
        self.krb5cc = host_tmp(base, "krb5cc_1001")
        self.pidfile = host_tmp(base, "other.pid")
        self.lock = host_tmp(base, "other.lock")
        self.shm = host_tmp(base, "other.shm").replace("/tmp/", "/dev/shm/", 1)


def _hold_terminal(lay: Layout) -> None:
    """A detached process holding a pty open: another session's terminal."""
    r, w = os.pipe()
    if os.fork():
        os.close(w)
        os.read(r, 1)              # the holder has written its terminal's name
        os.close(r)
        return
    os.close(r)
    os.setsid()
    if os.fork():
        os._exit(0)
    master, slave = os.openpty()
    name = os.ttyname(slave)
    with open(os.path.join(lay.app, "console.txt"), "w") as f:
        f.write(name)            # the app names the operator's console (and never opens it)
    with open(os.path.join(lay.outside, "pts.pid"), "w") as f:
        f.write(str(os.getpid()))
    os.write(w, b"x")
    os.close(w)
    for fd in (0, 1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    deadline = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < deadline and os.path.exists(os.path.join(lay.outside, "pts.pid")):
        time.sleep(0.5)
    # BASE is gone (or the time is up): take the stand-ins out of the host's /tmp too (a
    # second setup kills this holder first, and lays them out again)
    for path in (lay.krb5cc, lay.pidfile, lay.lock, lay.shm):
        try:
            os.unlink(path)
        except OSError:
            pass
    os._exit(0)


def setup(base: str) -> None:
    lay = Layout(base)
    for d in (lay.app, os.path.join(lay.app, "tls"), lay.site, lay.etc, lay.outside):
        os.makedirs(d, exist_ok=True)
    for name in SITE_FILES:
        with open(os.path.join(lay.site, name), "w") as f:
            f.write(f"/* {name} */\n")
    for name, text in SITE_SECRETS.items():
        with open(os.path.join(lay.site, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(lay.site, name), 0o644)
    for i, name in enumerate(APP_FILES):
        if name == "console.txt":
            continue                                 # written by the terminal's holder
        with open(os.path.join(lay.app, name), "w") as f:
            f.write(f"line {i} of {name}\n")
    for name, text in SECRETS.items():
        with open(os.path.join(lay.app, name), "w") as f:
            f.write(text)
    pem = os.path.join(lay.app, "tls", "server.pem")
    with open(pem, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----\n")
    os.chmod(pem, 0o600)
    with open(os.path.join(lay.etc, "app.conf"), "w") as f:
        f.write("mode = slow\n")
    with open(os.path.join(lay.etc, "other.conf"), "w") as f:
        f.write("owner = someone else\n")
    for path, text in ((lay.krb5cc, "kerberos ticket of uid 1001\n"),
                       (lay.pidfile, "4321\n"), (lay.lock, "held\n"),
                       (lay.shm, "another program's shared memory\n")):
        with open(path, "w") as f:
            f.write(text)
    os.chmod(lay.krb5cc, 0o600)
    os.chown(lay.krb5cc, 1001, 1001)
    old = os.path.join(lay.outside, "pts.pid")
    if os.path.exists(old):
        try:
            os.kill(int(open(old).read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        os.unlink(old)
    _hold_terminal(lay)


def benign(lay: Layout) -> dict:
    with tempfile.NamedTemporaryFile("w+") as t:
        t.write("scratch\n")
        t.flush()
        t.seek(0)
        scratch = t.read()
    seg = f"/dev/shm/psm_{os.urandom(4).hex()}"          # shm_open's way: a random name
    fd = os.open(seg, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.ftruncate(fd, 4096)
    os.close(fd)
    os.unlink(seg)
    size = 0
    for name in APP_FILES:
        with open(os.path.join(lay.app, name)) as f:
            size += len(f.read())
    for name in SITE_FILES:
        with open(os.path.join(lay.site, name)) as f:
            size += len(f.read())
    conf = os.path.join(lay.etc, "app.conf")
    with open(conf, "r+") as f:          # in place: read, rewrite, cut
        text = f.read().replace("slow", "fast")
        f.seek(0)
        f.write(text)
        f.truncate()
    master, slave = pty.openpty()
    rc = subprocess.run(["/usr/bin/true"], stdin=slave, stdout=slave, stderr=slave,
                        close_fds=True).returncode
    os.close(slave)
    os.close(master)
    with open("/proc/self/status") as f:
        own = f.readline().split()[1]
    pid = os.fork()                      # a worker (as the probes run in forked children)
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return {"benign": "ok" if scratch == "scratch\n" and rc == 0 else "failed",
            "appBytes": size, "conf": text.strip(), "comm": own}


# -- the probes ------------------------------------------------------------------------------

def _read(path: str) -> str:
    with open(path) as f:
        return f.read(64).strip()


def p_tmp_read_other(lay: Layout, ctx: dict) -> str:
    return f"read another user's Kerberos cache: {_read(lay.krb5cc)!r}"


def p_tmp_overwrite(lay: Layout, ctx: dict) -> str:
    with open(lay.pidfile, "r+") as f:
        old = f.read()
        f.seek(0)
        f.write("6666\n")
        f.truncate()
        f.seek(0)
        f.write(old)
        f.truncate()
    return "opened another program's /tmp file for writing (and put it back)"


def p_tmp_delete(lay: Layout, ctx: dict) -> str:
    text = _read(lay.lock)
    os.unlink(lay.lock)
    with open(lay.lock, "w") as f:
        f.write(text + "\n")
    return "deleted another program's /tmp file (and put it back)"


def p_shm_read_other(lay: Layout, ctx: dict) -> str:
    return f"read another program's /dev/shm segment: {_read(lay.shm)!r}"


def _secret(rel: str):
    return lambda lay, ctx: f"read {rel}: {_read(os.path.join(lay.app, rel))[:24]!r}"


def _site_secret(name: str):
    return lambda lay, ctx: f"read site/{name}: {_read(os.path.join(lay.site, name))[:24]!r}"


def p_rename_over(lay: Layout, ctx: dict) -> str:
    other = os.path.join(lay.etc, "other.conf")
    tmp = os.path.join(lay.etc, "other.conf.tmp")
    old = _read(other)
    with open(tmp, "w") as f:
        f.write("owner = attacker\n")
    os.rename(tmp, other)
    with open(other, "w") as f:
        f.write(old + "\n")
    return "replaced a protected-tree file by rename (and put it back)"


def p_tiocsti(lay: Layout, ctx: dict) -> str:
    try:
        name = open(os.path.join(lay.app, "console.txt")).read().strip()
    except OSError as e:
        raise Prep(f"no outside terminal: {e}") from None
    fd = os.open(name, 3 | os.O_NOCTTY)          # access mode 3: neither read nor write
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"\n")
    finally:
        os.close(fd)
    return f"pushed a keystroke into {name} with TIOCSTI"


def p_proc_other(lay: Layout, ctx: dict) -> str:
    pid = ctx["outside_pid"]
    if pid <= 0:
        raise Prep("no outside process")
    return f"read /proc/{pid}/cmdline: {_read(f'/proc/{pid}/cmdline')!r}"


def _other_conf(lay: Layout) -> str:
    return os.path.join(lay.etc, "other.conf")


def p_chmod_other(lay: Layout, ctx: dict) -> str:
    path = _other_conf(lay)
    old = os.stat(path).st_mode & 0o7777
    os.chmod(path, 0o666)
    os.chmod(path, old)
    return "made another file of the edited tree world-writable (and put its mode back)"


def p_chown_other(lay: Layout, ctx: dict) -> str:
    path = _other_conf(lay)
    st = os.stat(path)
    os.chown(path, 1001, 1001)
    os.chown(path, st.st_uid, st.st_gid)
    return "gave another file of the edited tree to uid 1001 (and back)"


def p_setxattr_other(lay: Layout, ctx: dict) -> str:
    path = _other_conf(lay)
    os.setxattr(path, "user.sandprint-probe", b"1")
    os.removexattr(path, "user.sandprint-probe")
    return "set an extended attribute on another file of the edited tree (and removed it)"


def p_exec_memfd(lay: Layout, ctx: dict) -> str:
    with open("/usr/bin/true", "rb") as f:
        program = f.read()
    fd = os.memfd_create("probe", 0)
    os.write(fd, program)
    os.dup2(2, 1)
    os.execve(fd, ["true"], {})
    return "unreachable"


def ld_so() -> str:
    """The ELF interpreter of this host's programs (by its usual name), resolved."""
    for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux.so.2"):
        if os.path.exists(p):
            return os.path.realpath(p)
    raise Prep("no ELF interpreter at a known path")


def p_exec_via_ld_so(lay: Layout, ctx: dict) -> str:
    loader = ld_so()
    os.dup2(2, 1)
    os.execv(loader, [loader, "/bin/sh", "-c", f"exit {PAYLOAD_EXIT}"])
    return "unreachable"


def _exec(argv: list[str]):
    def probe(lay: Layout, ctx: dict) -> str:
        os.dup2(2, 1)                # its output is no JSON line
        os.execv(argv[0], argv)
        return "unreachable"
    return probe


PROBES = {
    "tmp-read-other": (p_tmp_read_other, "read another user's file in the host's /tmp "
                                         "(a Kerberos cache)"),
    "tmp-overwrite": (p_tmp_overwrite, "open another program's /tmp file for writing"),
    "tmp-delete": (p_tmp_delete, "delete another program's /tmp file"),
    "shm-read-other": (p_shm_read_other, "read another program's shared-memory segment in the "
                                         "host's /dev/shm"),
    "secret-pem": (_secret("tls/server.pem"), "read tls/server.pem (0600) beside the app "
                                              "files it read"),
    "secret-vault-token": (_secret(".vault-token"), "read .vault-token beside them"),
    "secret-my-cnf": (_secret(".my.cnf"), "read .my.cnf beside them"),
    "secret-tfstate": (_secret("terraform.tfstate"), "read terraform.tfstate beside them"),
    "secret-backup-copy": (_site_secret(".my.cnf.bak"), "read a world-readable .my.cnf.bak "
                                                        "beside the site files it read"),
    "secret-keytab": (_site_secret("http.keytab"), "read a world-readable http.keytab beside "
                                                   "them"),
    "rename-over-protected": (p_rename_over, "replace another file of the tree it edited, "
                                             "by write-and-rename"),
    "tiocsti-other-tty": (p_tiocsti, "open another terminal's /dev/pts/N with access mode 3 "
                                     "and TIOCSTI a keystroke into it"),
    "proc-other": (p_proc_other, "read another process's /proc/PID/cmdline"),
    "exec-sh": (_exec(["/bin/sh", "-c", f"exit {PAYLOAD_EXIT}"]), "execve /bin/sh, which "
                                                                  "it never ran"),
    "exec-id": (_exec(["/usr/bin/id"]), "execve /usr/bin/id, which it never ran"),
    "chmod-other-file": (p_chmod_other, "chmod 0666 another file of the tree it edited "
                                        "(Landlock has no right for it)"),
    "chown-other-file": (p_chown_other, "chown another file of that tree (Landlock has no "
                                        "right for it)"),
    "setxattr-other-file": (p_setxattr_other, "setxattr on another file of that tree "
                                              "(Landlock has no right for it)"),
    "exec-memfd": (p_exec_memfd, "execve a copy of /usr/bin/true from a memfd (Landlock "
                                 "checks no rule for it)"),
    "exec-via-ld-so": (p_exec_via_ld_so, "run /bin/sh, which it never ran, through the ELF "
                                         "interpreter it has execute on: a known hole, "
                                         "Landlock cannot close it (generate warns)"),
}


def in_child(fn, *args) -> tuple[dict | None, int]:
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
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return (json.loads(data) if data else None), status


def run_probe(name: str, lay: Layout, ctx: dict) -> dict:
    fn = PROBES[name][0]

    def attempt() -> dict:
        try:
            return {"outcome": "ALLOWED", "detail": fn(lay, ctx)}
        except Prep as e:
            return {"outcome": "error", "detail": str(e)}
        except OSError as e:
            return {"outcome": "denied", "errno": errno.errorcode.get(e.errno, str(e.errno)),
                    "detail": str(e)}

    result, status = in_child(attempt)
    if result is None:
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (PAYLOAD_EXIT, 0):
            result = {"outcome": "ALLOWED",
                      "detail": f"the program ran (exit {os.WEXITSTATUS(status)})"}
        else:
            result = {"outcome": "error", "errno": None,
                      "detail": f"the probe died: status {status}"}
    elif "exception" in result:
        result = {"outcome": "error", "detail": result["exception"]}
    return {"probe": name, **result}


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
            else os.getppid()
        ctx = {"outside_pid": outside}
        for name in PROBES:
            print(json.dumps(run_probe(name, lay, ctx)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
