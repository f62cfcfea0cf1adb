"""Messages a user meets: each says what is wrong in the words the other messages use, and
what to do instead; counts agree between commands; output formats follow file names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from helpers import need, run_sandprint
from sandprint.generators import seccomp
from sandprint.recording import Recording
from sandprint.syscalls import native_arch

ARCH = native_arch()
BASIC = ["read", "write", "openat", "close", "mmap", "execve", "exit_group", "clone", "wait4"]


def _recording(path: Path, threads: str | None = None, calls=BASIC, port: int | None = None
               ) -> Path:
    rec = Recording.new({"type": "command", "command": ["x"]}, arch=ARCH, landlock_abi=7)
    t = rec.target("main")
    for c in calls:
        t.add_syscall(c, 1)
    t.processes = 2
    if threads:
        t.info["threads"] = threads
    t.add_file("/usr/bin/true", {"execute", "read_file"}, kind="file")
    # and its ELF interpreter, which the kernel executes too (the recorder records it)
    from sandprint.profiler.fsmodel import interpreter_of

    interp = interpreter_of("/usr/bin/true")
    if interp:
        t.add_file(interp, {"execute", "read_file"}, kind="file")
    if port:
        from sandprint.recording import NetAccess

        t.add_net(NetAccess("bind", "tcp", "inet", port))
        t.add_net(NetAccess("connect", "tcp", "inet", port))
    rec.save(str(path))
    return path


@pytest.fixture
def files(tmp_path):
    rec = _recording(tmp_path / "rec.json", port=8080)
    prof, rules = tmp_path / "p.json", tmp_path / "r.json"
    run_sandprint("generate", "seccomp", str(rec), "-o", str(prof), check=True)
    gen = run_sandprint("generate", "landlock", str(rec), "-o", str(rules), "--no-host-check",
                        check=True)
    return {"rec": rec, "prof": prof, "rules": rules, "gen": gen.stderr}


def _error(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_generate_given_a_sandbox_says_what_it_is(files):
    for kind in ("seccomp", "landlock"):
        msg = _error(run_sandprint("generate", kind, str(files["rules"]), "-o",
                                   str(files["rec"].parent / "x")))
        assert "is a Landlock ruleset, not a recording" in msg and "--landlock" in msg, msg
        assert "apiVersion" not in msg
        msg = _error(run_sandprint("generate", kind, str(files["prof"]), "-o",
                                   str(files["rec"].parent / "x")))
        assert "is a seccomp profile, not a recording" in msg and "--seccomp" in msg, msg
    assert not (files["rec"].parent / "x").exists()


@pytest.mark.parametrize("command", ["exec", "verify"])
def test_a_sandbox_given_to_the_other_option_names_the_right_one(files, command):
    msg = _error(run_sandprint(command, "--seccomp", str(files["rules"]), "--", "true"))
    assert "is a Landlock ruleset, not a seccomp profile" in msg, msg
    assert "give it to --landlock" in msg
    msg = _error(run_sandprint(command, "--landlock", str(files["prof"]), "--", "true"))
    assert "is a seccomp profile, not a Landlock ruleset" in msg, msg
    assert "give it to --seccomp" in msg
    msg = _error(run_sandprint(command, "--landlock", str(files["rec"]), "--", "true"))
    assert "is a recording" in msg and "sandprint generate" in msg, msg


def test_unknown_fields_are_called_fields_in_both_formats(tmp_path):
    bad_rules = tmp_path / "r.json"
    bad_rules.write_text(json.dumps({"abi": 1, "rulesett": []}))
    bad_prof = tmp_path / "p.json"
    bad_prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscallz": []}))
    a = _error(run_sandprint("exec", "--landlock", str(bad_rules), "--", "true"))
    b = _error(run_sandprint("exec", "--seccomp", str(bad_prof), "--", "true"))
    assert "field 'rulesett': unknown field" in a, a
    assert "field 'syscallz': unknown field" in b, b
    assert "unknown key" not in a + b


@pytest.mark.parametrize("name,fmt", [("p.yaml", "spo"), ("p.yml", "spo"), ("p.json", "oci"),
                                      ("p.conf", "systemd"), ("profile", "oci")])
def test_seccomp_format_follows_the_extension(tmp_path, name, fmt):
    rec = _recording(tmp_path / "rec.json")
    out = tmp_path / name
    proc = run_sandprint("generate", "seccomp", str(rec), "-o", str(out), check=True)
    assert f"wrote {fmt} seccomp profile" in proc.stderr, proc.stderr
    text = out.read_text()
    if fmt == "spo":
        assert yaml.safe_load(text)["kind"] == "SeccompProfile"
    elif fmt == "oci":
        assert "defaultAction" in json.loads(text)
    else:
        assert "SystemCallFilter=" in text


@pytest.mark.parametrize("name,fmt", [("p.yaml", "oci"), ("p.json", "spo"),
                                      ("p.conf", "oci")])
def test_a_format_the_extension_contradicts_is_refused(tmp_path, name, fmt):
    rec = _recording(tmp_path / "rec.json")
    msg = _error(run_sandprint("generate", "seccomp", str(rec), "-o", str(tmp_path / name),
                               "--format", fmt))
    assert "--format" in msg and "extension" in msg, msg
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("threads,says", [("none", None), ("made", "makes threads"),
                                          (None, "does not say whether it made threads")])
def test_thread_exit_only_for_threads(tmp_path, threads, says):
    rec = _recording(tmp_path / "rec.json", threads=threads)
    out = tmp_path / "p.json"
    summary = seccomp.generate_file(Recording.load(str(rec)), str(out))
    allowed = json.loads(out.read_text())["syscalls"][0]["names"]
    if says is None:
        assert "exit" not in allowed and "exit added" not in summary, summary
    else:
        assert "exit" in allowed and f"exit added: the workload {says}" in summary \
            or says in summary, summary


def test_merged_recordings_keep_threads_made(tmp_path):
    a = _recording(tmp_path / "a.json", threads="none")
    b = _recording(tmp_path / "b.json", threads="made")
    for order in ((a, b), (b, a)):
        out = tmp_path / "m.json"
        run_sandprint("merge", *map(str, order), "-o", str(out), check=True)
        assert Recording.load(str(out)).targets[0].info["threads"] == "made"


def test_port_rules_counted_alike_and_spelled_right(files):
    """One port bound and connected to is one Landlock port rule for generate and exec."""
    assert ", 1 port rule," in files["gen"], files["gen"]
    assert "1 port rules" not in files["gen"]
    # the ABI it was made for, then why the file names an older one
    assert "for Landlock ABI 7 (the file says abi 6: the oldest ABI that knows every right " \
        "it names" in files["gen"], files["gen"]


@pytest.mark.kernel
def test_exec_counts_port_rules_like_generate(files):
    from sandprint.landlock import abi as A

    need(A.kernel_abi() >= 4, "TCP rules need Landlock ABI 4")
    proc = run_sandprint("exec", "--landlock", str(files["rules"]), "--", "/usr/bin/true")
    assert proc.returncode == 0, proc.stderr
    assert ", 1 port rule" in proc.stderr and "1 port rules" not in proc.stderr, proc.stderr


@pytest.mark.kernel
def test_recording_tells_threads_from_processes(tmp_path):
    from helpers import have_bcc, is_root

    need(is_root() and have_bcc(), "needs root and bcc")
    forks = tmp_path / "forks.json"
    run_sandprint("record", "-o", str(forks), "--", "/bin/bash", "-c",
                  "ls / >/dev/null; (cat /etc/hostname >/dev/null); true", check=True)
    threads = tmp_path / "threads.json"
    run_sandprint("record", "-o", str(threads), "--", sys.executable, "-c",
                  "import threading; t = threading.Thread(target=len, args=[()]); "
                  "t.start(); t.join()", check=True)
    f, t = Recording.load(str(forks)).targets[0], Recording.load(str(threads)).targets[0]
    assert "clone" in f.syscalls and f.processes >= 3
    assert f.info["threads"] == "none" and t.info["threads"] == "made"
    proc = run_sandprint("generate", "seccomp", str(forks), "-o", str(tmp_path / "p.json"),
                         check=True)
    assert "exit added" not in proc.stderr, proc.stderr
