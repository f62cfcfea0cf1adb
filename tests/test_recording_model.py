"""The recording model: load/save/validate and merge by union (no kernel needed)."""

import json

import pytest

from sandprint.errors import InputError
from sandprint.recording import NetAccess, Recording, merge

from helpers import run_cli


def make(syscalls, files=(), arch="SCMP_ARCH_X86_64", lost=0, name="main"):
    rec = Recording.new({"type": "command", "command": ["x"]}, arch=arch)
    rec.metadata["lostEvents"] = lost
    t = rec.target(name)
    for s, n in syscalls.items():
        t.add_syscall(s, n)
    for path, rights in files:
        t.add_file(path, rights)
    return rec


def test_round_trip(tmp_path):
    rec = make({"read": 3, "write": 1}, [("/etc/hosts", ["read_file"])])
    rec.target("main").add_net(NetAccess("connect", "tcp", "inet", 443, "127.0.0.1"))
    rec.target("main").add_exec("/bin/true", ["true"])
    p = tmp_path / "r.json"
    rec.save(str(p))
    back = Recording.load(str(p))
    assert back.to_json() == rec.to_json()


def test_merge_is_a_union_with_counts_and_provenance():
    a = make({"read": 3, "write": 1}, [("/a", ["read_file"])])
    b = make({"read": 2, "openat": 5}, [("/a", ["write_file"]), ("/b", ["read_file"])])
    m = merge([a, b], ["a.json", "b.json"])
    t = m.target("main")
    assert t.syscalls == {"read": 5, "write": 1, "openat": 5}
    assert t.files["/a"].access == {"read_file", "write_file"}
    assert set(t.files) == {"/a", "/b"}
    assert m.metadata["runs"] == 2
    assert [s["file"] for s in m.metadata["sources"]] == ["a.json", "b.json"]


def test_merge_refuses_mixed_architectures():
    with pytest.raises(InputError, match="architecture"):
        merge([make({"read": 1}), make({"read": 1}, arch="SCMP_ARCH_AARCH64")])


BAD = {
    "empty": "",
    "truncated": '{"apiVersion": "sandprint/v1", "kind": "Rec',
    "wrong kind": json.dumps({"apiVersion": "sandprint/v1", "kind": "SeccompProfile",
                              "metadata": {"arch": "SCMP_ARCH_X86_64"}, "targets": []}),
    "unknown syscall": json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                                   "metadata": {"arch": "SCMP_ARCH_X86_64"},
                                   "targets": [{"name": "main", "syscalls": {"fly": 1}}]}),
    "not an object": "[1, 2]",
    "bad count": json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                             "metadata": {"arch": "SCMP_ARCH_X86_64"},
                             "targets": [{"name": "main", "syscalls": {"read": -1}}]}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_recordings_are_refused_with_one_line(tmp_path, case):
    p = tmp_path / "bad.json"
    p.write_text(BAD[case])
    with pytest.raises(InputError) as e:
        Recording.load(str(p))
    assert str(p) in str(e.value)
    out = tmp_path / "merged.json"
    proc = run_cli("merge", str(p), "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_recording(tmp_path):
    proc = run_cli("merge", str(tmp_path / "nope.json"), "-o", str(tmp_path / "o.json"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr


def test_args_compat_and_capabilities_round_trip_and_merge():
    """The fields the syscall layer adds: argument values, another ABI's syscalls and
    capability evidence survive save/load and unite on merge."""
    from sandprint.recording import Recording, merge

    a = Recording.new({"type": "command"}, arch="SCMP_ARCH_X86_64")
    a.metadata["argsRecorded"] = True
    t = a.target()
    t.add_args("socket", (2, 1, 0))
    t.add_args("socket", (2, 1, 0))
    t.add_compat_syscall("SCMP_ARCH_X86", "_llseek")
    t.add_capability("CAP_NET_BIND_SERVICE", "bind tcp port 80")
    back = Recording.from_json(a.to_json())
    bt = back.target()
    assert bt.args == {"socket": {(2, 1, 0): 2}}
    assert bt.compat_syscalls == {"SCMP_ARCH_X86": {"_llseek": 1}}
    assert bt.capabilities == {"CAP_NET_BIND_SERVICE": ["bind tcp port 80"]}
    assert back.args_recorded
    b = Recording.new({"type": "command"}, arch="SCMP_ARCH_X86_64")
    b.metadata["argsRecorded"] = True
    b.target().add_args("socket", (1, 1, 0))
    m = merge([back, b])
    assert m.target().args == {"socket": {(2, 1, 0): 2, (1, 1, 0): 1}}
    assert m.args_recorded
    c = Recording.new({"type": "command"}, arch="SCMP_ARCH_X86_64")   # older, or watch
    c.target().add_syscall("ioctl", 3)
    c.target().add_syscall("read")
    m2 = merge([back, c])
    assert m2.args_recorded                  # what the first run read still narrows
    assert m2.target().args_unknown == {"ioctl"}
    assert Recording.from_json(m2.to_json()).target().args_unknown == {"ioctl"}
    assert not merge([c]).args_recorded


def test_args_of_unknown_syscall_refused():
    import pytest
    from sandprint.errors import InputError
    from sandprint.recording import Recording

    doc = Recording.new({"type": "command"}, arch="SCMP_ARCH_X86_64").to_json()
    doc["targets"] = [{"name": "main", "args": {"read": [{"values": [1], "count": 1}]}}]
    with pytest.raises(InputError, match="no argument rule"):
        Recording.from_json(doc)
    doc["targets"] = [{"name": "main", "args": {"socket": [{"values": [1], "count": 1}]}}]
    with pytest.raises(InputError, match="3 unsigned"):
        Recording.from_json(doc)
