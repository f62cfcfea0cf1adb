"""Capabilities (issue 13 item 2): what a recording shows the workload needed
(sandprint/capabilities/needed.py, from hand-made recordings), what the recorder's creds part
and file model judge at record time (real recordings), and ``exec``/``verify`` dropping every
other capability from all five sets (read back from /proc/self/status inside)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys

import pytest

from sandprint.capabilities import names
from sandprint.capabilities.drop import of_status
from sandprint.capabilities.needed import dac_capability, needed_capabilities, to_keep
from sandprint.errors import InputError
from sandprint.recording import FileAccess, NetAccess, Recording

from helpers import is_root, make_recording, need, run_sandprint

SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
PRINT_CAPS = ("import json; print(json.dumps({l.split(':')[0]: l.split()[1] for l in "
              "open('/proc/self/status') if l.startswith('Cap')}))")


# -- the derivation, from hand-made recordings ------------------------------------------------

def _client() -> Recording:
    """A TCP client as the recorder would see it: socket(AF_INET, SOCK_STREAM), connect,
    getaddrinfo's netlink route socket, prlimit64 reads, fchmod of its own output."""
    rec = make_recording({"main": ["socket", "connect", "prlimit64", "fchmod", "ptrace",
                                   "capset", "unshare", "read", "write"]})
    rec.metadata["argsRecorded"] = True
    t = rec.targets[0]
    t.add_args("socket", (socket.AF_INET, socket.SOCK_STREAM, 0))
    t.add_args("socket", (socket.AF_NETLINK, socket.SOCK_RAW, 0))     # NETLINK_ROUTE
    t.add_args("ioctl", (0x541B,))                                     # FIONREAD
    t.add_net(NetAccess("connect", "tcp", "inet", 443))
    t.add_net(NetAccess("bind", "tcp", "inet", 0))
    t.add_net(NetAccess("bind", "udp", "inet", 5353))
    t.add_file("/etc/hosts", {"read_file"}, kind="file")
    return rec


def test_a_workload_that_needed_none_gets_none():
    assert needed_capabilities(_client()) == {}
    assert to_keep([_client()]) == ([], {}, [])


@pytest.mark.parametrize("change, cap, evidence", [
    (lambda t: t.add_net(NetAccess("bind", "tcp", "inet", 80)), "CAP_NET_BIND_SERVICE",
     "bind tcp port 80"),
    (lambda t: t.add_args("socket", (socket.AF_PACKET, socket.SOCK_RAW, 768)), "CAP_NET_RAW",
     "socket(AF_PACKET, SOCK_RAW, 768)"),
    (lambda t: t.add_args("socket", (socket.AF_INET, socket.SOCK_RAW, 1)), "CAP_NET_RAW",
     "socket(AF_INET, SOCK_RAW, 1)"),
    (lambda t: t.add_args("socket", (socket.AF_NETLINK, socket.SOCK_RAW, 12)),
     "CAP_NET_ADMIN", "socket(AF_NETLINK, SOCK_RAW, 12)"),
    (lambda t: t.add_args("ioctl", (0x8914,)), "CAP_NET_ADMIN", "ioctl SIOCSIFFLAGS"),
    (lambda t: t.add_args("setsockopt", (1, 36)), "CAP_NET_ADMIN", "setsockopt SO_MARK"),
    (lambda t: t.add_syscall("setresuid"), "CAP_SETUID", "setresuid called (1x)"),
    (lambda t: t.add_syscall("setgroups"), "CAP_SETGID", "setgroups called (1x)"),
    (lambda t: t.add_syscall("fchownat"), "CAP_CHOWN", "fchownat called (1x)"),
    (lambda t: t.add_syscall("chroot"), "CAP_SYS_CHROOT", "chroot called (1x)"),
    (lambda t: t.add_syscall("mount"), "CAP_SYS_ADMIN", "mount called (1x)"),
    (lambda t: t.add_syscall("process_vm_readv"), "CAP_SYS_PTRACE",
     "process_vm_readv called (1x)"),
    (lambda t: t.add_file("/tmp/d", {"make_char"}, kind="dir"), "CAP_MKNOD",
     "make_char in /tmp/d"),
    (lambda t: t.add_capability("CAP_DAC_OVERRIDE", "write_file /x (owner 1000:1000, mode "
                                                    "0600; as uid 0)"), "CAP_DAC_OVERRIDE",
     "write_file /x (owner 1000:1000, mode 0600; as uid 0)"),
])
def test_each_kind_of_evidence_gives_exactly_its_capability(change, cap, evidence):
    rec = _client()
    change(rec.targets[0])
    assert needed_capabilities(rec) == {cap: [evidence]}


def test_recorded_evidence_survives_json_and_merge(tmp_path):
    a, b = _client(), _client()
    b.targets[0].add_net(NetAccess("bind", "tcp", "inet6", 443))
    a.save(str(tmp_path / "a.json"))
    b.save(str(tmp_path / "b.json"))
    from sandprint.recording import merge

    merged = merge([Recording.load(str(tmp_path / "a.json")),
                    Recording.load(str(tmp_path / "b.json"))])
    assert needed_capabilities(merged) == {"CAP_NET_BIND_SERVICE": ["bind tcp port 443"]}
    keep, needed, warnings = to_keep([merged], ["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    assert keep == ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert len(warnings) == 1 and "CAP_KILL" in warnings[0]


def test_dac_check_follows_generic_permission():
    # owner bits, then group bits, then the others'
    assert dac_capability(0o100600, 1000, 1000, 1000, [1000], 4 | 2) is None
    assert dac_capability(0o100640, 0, 42, 1000, [42], 4) is None
    assert dac_capability(0o100640, 0, 42, 1000, [1000], 4) == "CAP_DAC_READ_SEARCH"
    assert dac_capability(0o100600, 1000, 1000, 0, [0], 4) == "CAP_DAC_READ_SEARCH"
    assert dac_capability(0o100600, 1000, 1000, 0, [0], 2) == "CAP_DAC_OVERRIDE"
    assert dac_capability(0o040700, 1000, 1000, 0, [0], 1) == "CAP_DAC_READ_SEARCH"
    assert dac_capability(0o100744, 1000, 1000, 0, [0], 1) == "CAP_DAC_OVERRIDE"
    assert dac_capability(0o100644, 1000, 1000, 0, [0], 1) is None   # no x bit: no help


def test_capability_names_parse_with_one_clear_error():
    assert names.parse("net_bind_service, CAP_KILL") == ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert names.parse("") == []
    with pytest.raises(InputError, match="--keep-caps.*unknown capability 'CAP_FLY'"):
        names.parse("CAP_FLY")
    assert names.NUMBER["CAP_CHECKPOINT_RESTORE"] == 40 and names.NUMBER["CAP_CHOWN"] == 0


def test_bad_capabilities_in_a_recording_are_refused(tmp_path):
    data = _client().to_json()
    data["targets"][0]["capabilities"] = {"NET_RAW": ["x"]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="capabilities.*CAP_"):
        Recording.load(str(path))


# -- exec and verify, for real --------------------------------------------------------------

def _log_profile(tmp_path) -> str:
    from sandprint.syscalls import native_arch

    path = tmp_path / "log.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG",
                                "architectures": [native_arch()], "syscalls": []}))
    return str(path)


def _caps_of(stdout: str) -> dict[str, int]:
    line = [l for l in stdout.splitlines() if l.startswith("{")][-1]
    return {k: int(v, 16) for k, v in json.loads(line).items()}


def _root_with_caps():
    need(is_root(), "needs root")
    with open("/proc/self/status") as f:
        st = of_status(f.read())
    need(st.bounding >> names.NUMBER["CAP_SETPCAP"] & 1 and
         st.effective >> names.NUMBER["CAP_NET_BIND_SERVICE"] & 1,
         "needs CAP_SETPCAP and CAP_NET_BIND_SERVICE")


@pytest.mark.kernel
def test_exec_of_a_workload_that_needed_none_runs_with_none(tmp_path):
    _root_with_caps()
    rec = tmp_path / "none.json"
    _client().save(str(rec))
    r = run_sandprint("exec", "--seccomp", _log_profile(tmp_path), "--recording", str(rec),
                      "--", sys.executable, "-c", PRINT_CAPS, check=True)
    caps = _caps_of(r.stdout)
    assert set(caps) == set(SETS) and not any(caps.values()), caps
    assert "capabilities: all dropped" in r.stderr
    # and no --recording at all: the same, nothing is kept
    r = run_sandprint("exec", "--seccomp", _log_profile(tmp_path), "--", sys.executable,
                      "-c", PRINT_CAPS, check=True)
    assert not any(_caps_of(r.stdout).values())


def _free_low_port() -> int:
    for _ in range(50):
        port = random.randrange(600, 1000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


SERVE = """
import socket, sys, json
s = socket.socket(); s.bind(("127.0.0.1", {port})); s.listen()
c = socket.create_connection(("127.0.0.1", {port})); a, _ = s.accept()
c.sendall(b"hi"); assert a.recv(2) == b"hi"
print("served")
"""


@pytest.mark.kernel
def test_a_root_server_on_a_low_port_keeps_exactly_net_bind_service(tmp_path, bpf_ready):
    _root_with_caps()
    port = _free_low_port()
    rec, prof = tmp_path / "rec.json", tmp_path / "prof.json"
    cmd = [sys.executable, "-c", SERVE.format(port=port) + PRINT_CAPS]
    run_sandprint("record", "-o", str(rec), "--", *cmd, check=True)
    assert needed_capabilities(Recording.load(str(rec))) == {
        "CAP_NET_BIND_SERVICE": [f"bind tcp port {port}"]}
    gen = run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    assert "CAP_NET_BIND_SERVICE" in gen.stderr and "--cap-add=NET_BIND_SERVICE" in gen.stderr
    r = run_sandprint("exec", "--seccomp", str(prof), "--recording", str(rec), "--", *cmd,
                      check=True)
    assert "served" in r.stdout
    caps = _caps_of(r.stdout)
    bit = 1 << names.NUMBER["CAP_NET_BIND_SERVICE"]
    assert caps == {"CapInh": 0, "CapPrm": bit, "CapEff": bit, "CapBnd": bit, "CapAmb": 0}
    # without the recording the bind is refused: the capability really was needed
    r = run_sandprint("exec", "--seccomp", str(prof), "--", *cmd)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    # verify without it names the capability the refused bind wanted
    r = run_sandprint("verify", "--seccomp", str(prof), "--", *cmd)
    assert r.returncode == 1
    assert "DENIED     caps     capability CAP_NET_BIND_SERVICE" in r.stdout + r.stderr
    # --keep-caps gives it back, with a warning naming it
    r = run_sandprint("exec", "--seccomp", str(prof), "--keep-caps", "net_bind_service",
                      "--", *cmd, check=True)
    assert "served" in r.stdout
    assert "warning: --keep-caps CAP_NET_BIND_SERVICE" in r.stderr
    # verify with the recording: clean, and the report gives podman/docker's flags
    report = tmp_path / "report.json"
    r = run_sandprint("verify", "--seccomp", str(prof), "--recording", str(rec),
                      "--report", str(report), "--", *cmd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--cap-drop=all --cap-add=NET_BIND_SERVICE" in r.stdout + r.stderr
    caps_report = json.loads(report.read_text())["capabilities"]
    assert caps_report["kept"] == ["CAP_NET_BIND_SERVICE"] and not caps_report["notKept"]
    # complain mode without it: the capability the replay used is a would-be denial
    r = run_sandprint("verify", "--complain", "--seccomp", str(prof), "--", *cmd)
    assert r.returncode == 1
    assert "WOULD DENY caps     capability CAP_NET_BIND_SERVICE" in r.stdout + r.stderr


@pytest.mark.kernel
def test_the_recorder_judges_credentials_at_record_time(tmp_path, bpf_ready):
    _root_with_caps()
    other = tmp_path / "other"
    other.write_text("")
    os.chown(other, 65534, 65534)
    os.chmod(other, 0o600)
    os.chmod(tmp_path, 0o755)
    sleeper = subprocess.Popen(["setpriv", "--reuid", "65534", "sleep", "60"])
    try:
        script = f"""
import os, resource, signal
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 128))   # raising a hard limit
except ValueError:
    pass
open({str(other)!r}).read()
open({str(other)!r}, "a").close()
os.kill({sleeper.pid}, 0)
mine = {str(tmp_path / "mine")!r}
open(mine, "w").close()
os.chown(mine, 0, 0)          # to its own ids: no capability
os.chmod(mine, 0o600)         # its own file: none either
os.utime(mine, (1, 1))
os.chmod({str(other)!r}, 0o600)     # another uid's: CAP_FOWNER
os.utime({str(other)!r}, (1, 1))
os.setresuid(0, 0, 0)         # to ids it has: none either
os.setuid(65534)
"""
        rec = tmp_path / "rec.json"
        run_sandprint("record", "-o", str(rec), "--", sys.executable, "-c", script, check=True)
    finally:
        sleeper.kill()
        sleeper.wait()
    t = Recording.load(str(rec)).targets[0]
    assert t.info["credentials"]["uids"] == [0, 65534]
    caps = needed_capabilities(t)
    assert set(caps) == {"CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_SETUID",
                         "CAP_SYS_RESOURCE", "CAP_FOWNER"}, caps
    assert caps["CAP_FOWNER"] == [f"chmod {other} (owner 65534:65534; as uid 0)",
                                  f"set times of {other} (owner 65534:65534; as uid 0)"]
    assert caps["CAP_DAC_READ_SEARCH"] == [f"read_file {other} (owner 65534:65534, mode "
                                           "0600; as uid 0)"]
    assert caps["CAP_KILL"] == [f"signal to pid {sleeper.pid} of uid 65534 (as uid 0)"]
    assert caps["CAP_SYS_RESOURCE"] == ["hard RLIMIT_NOFILE raised to 128 (was 64)"]
    assert caps["CAP_SETUID"] == ["setuid to uid 65534 (from uid 0)"]
    assert t.syscalls.get("chown") and t.syscalls.get("setresuid")


# -- outputs: k8s patch, systemd ------------------------------------------------------------

def test_k8s_patch_writes_drop_all_and_the_needed_ones(tmp_path):
    import yaml

    from helpers import run_cli
    from test_k8s_manifests import DATA, containers_of

    pod = Recording.new({"type": "pod"}, arch=_client().arch)
    for name in ("app", "setup"):
        pod.targets.append(_client().targets[0])
        pod.targets[-1].name = name
    pod.target("app").add_net(NetAccess("bind", "tcp", "inet", 443))
    rec = tmp_path / "pod.json"
    pod.save(str(rec))
    out = tmp_path / "out.yaml"
    r = run_cli("k8s", "patch", str(DATA / "workloads.yaml"), "--profile",
                "app=operator/app.json", "--recording", str(rec), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "validated against the Kubernetes schemas" in r.stderr
    assert "capabilities: drop ALL, add NET_BIND_SERVICE" in r.stderr
    patched = list(yaml.safe_load_all(out.read_text()))
    for doc in patched:
        if doc["kind"] == "ConfigMap":
            continue
        cs = containers_of(doc)
        assert cs["app"]["securityContext"]["capabilities"] == {
            "drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
        assert cs["app"]["securityContext"]["seccompProfile"]["type"] == "Localhost"
        if "setup" in cs:
            assert cs["setup"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        if "sidecar" in cs:
            assert "capabilities" not in cs["sidecar"].get("securityContext", {})
    # CONTAINER=REC binds a one-target recording; a container the manifest lacks is refused
    one = tmp_path / "one.json"
    _client().save(str(one))
    r = run_cli("k8s", "patch", str(DATA / "workloads.yaml"), "--recording",
                f"app={one}", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert containers_of(next(yaml.safe_load_all(out.read_text())))["app"][
        "securityContext"]["capabilities"] == {"drop": ["ALL"]}
    r = run_cli("k8s", "patch", str(DATA / "workloads.yaml"), "--recording", str(one),
                "-o", str(tmp_path / "never.yaml"))
    assert r.returncode == 2 and "--recording" in r.stderr and "no container named main" \
        in r.stderr
    assert not (tmp_path / "never.yaml").exists()


def test_systemd_drop_in_carries_the_capability_sets(tmp_path):
    from helpers import run_cli

    rec = _client()
    for name in ("execve", "exit_group", "brk", "mmap", "openat", "close"):
        rec.targets[0].add_syscall(name)
    path = tmp_path / "rec.json"
    rec.save(str(path))
    out = tmp_path / "unit.conf"
    run_cli("generate", "seccomp", str(path), "-o", str(out), check=True)
    lines = out.read_text().splitlines()
    assert "CapabilityBoundingSet=" in lines and "AmbientCapabilities=" in lines
    rec.targets[0].add_net(NetAccess("bind", "tcp", "inet", 80))
    rec.save(str(path))
    r = run_cli("generate", "seccomp", str(path), "-o", str(out), check=True)
    lines = out.read_text().splitlines()
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in lines
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in lines
    assert "#   CAP_NET_BIND_SERVICE: bind tcp port 80" in lines
    assert "--cap-drop=all --cap-add=NET_BIND_SERVICE" in r.stderr


@pytest.mark.kernel
def test_a_tree_another_uid_made_and_root_removed_is_judged_after_it_is_gone(tmp_path,
                                                                            bpf_ready):
    """A worker dropped to uid 65534 makes a private directory; the root parent removes it
    before the recorder gets to the events: judged from what the worker made (its mode and
    ids), not from a stat that finds nothing."""
    _root_with_caps()
    import shutil
    import tempfile
    from pathlib import Path

    shared = Path(tempfile.mkdtemp(prefix="sandprint-caps-", dir="/var/tmp"))
    shared.chmod(0o1777)            # /tmp/pytest-of-root is closed to uid 65534
    private = shared / "private"
    script = f"""
import os, shutil
pid = os.fork()
if pid == 0:
    os.setgid(65534); os.setuid(65534)
    os.mkdir({str(private)!r}, 0o700)
    open({str(private / "f")!r}, "w").close()
    os._exit(0)
os.waitpid(pid, 0)
shutil.rmtree({str(private)!r})
"""
    rec = tmp_path / "rec.json"
    try:
        run_sandprint("record", "-o", str(rec), "--", sys.executable, "-c", script, check=True)
        assert not private.exists()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    caps = needed_capabilities(Recording.load(str(rec)))
    assert caps["CAP_SETUID"] == ["setuid to uid 65534 (from uid 0)"]
    assert caps["CAP_SETGID"] == ["setgid to gid 65534 (from gid 0)"]
    assert any(str(private) in e and "owner 65534:65534, mode 0700" in e
               for e in caps["CAP_DAC_READ_SEARCH"]), caps
    assert any(e.startswith(f"remove_file {private} ") for e in caps["CAP_DAC_OVERRIDE"]), caps
