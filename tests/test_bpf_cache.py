"""The compiled-program cache (profiler/bpf_cache.py): a second recording skips LLVM, records
what a compiled one records, and never loads an entry it should not trust."""

import json
import os
import shutil
import sys

import pytest

from helpers import REPO, need, run_sandprint

pytestmark = pytest.mark.kernel

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SANDPRINT_CACHE_DIR", str(d))
    monkeypatch.delenv("SANDPRINT_BPF_CACHE", raising=False)
    return d


def entries(d):
    """The compiled-program entries (kernel-* files hold facts about the running kernel)."""
    return sorted(p for p in d.glob("*.json") if not p.name.startswith("kernel-")) \
        if d.exists() else []


def no_compile(monkeypatch):
    """Make bcc's compiler fail loudly: a cache hit must not need it."""
    import bcc

    def refuse(*a, **k):
        raise AssertionError("bcc compiled although the cache had the programs")
    monkeypatch.setattr(bcc.BPF, "__init__", refuse)


def record(tmp_path, name, *argv, files=True):
    out = tmp_path / f"{name}.json"
    args = ["record", "-o", str(out)] + ([] if files else ["--syscalls-only"])
    run_sandprint(*args, "--", *argv, check=True)
    return json.loads(out.read_text())


def test_second_recorder_loads_from_cache_and_sees_the_same(bpf_ready, cache, monkeypatch):
    from sandprint.profiler.recorder import Recorder
    from sandprint.profiler import bpf_cache

    with Recorder() as first:
        assert type(first.bpf).__name__ == "BPF"
    (entry,) = entries(cache)
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    assert oct(entry.stat().st_mode & 0o777) == "0o600"

    no_compile(monkeypatch)
    with Recorder() as second:
        assert isinstance(second.bpf, bpf_cache.cached_bpf_class())
        # the same programs attached, the same tables usable
        assert set(second.bpf.raw_tracepoint_fds) == {b"sys_enter", b"sched_process_exec"}
        assert len(second.bpf.tracepoint_fds) > 2
        import subprocess
        t = second.add_target("main")
        proc = subprocess.Popen([sys.executable, "-c", "open('/etc/hostname').read()"])
        second.track(proc.pid, t)
        proc.wait()
        for _ in range(5):
            second.poll(50)
        rec = second.finish()
        syscalls = rec.target("main").syscalls
        assert syscalls.get("exit_group") == 1 and syscalls.get("openat", 0) >= 1
    assert second.bpf.tracepoint_fds == {} and second.bpf.raw_tracepoint_fds == {}


def test_cli_recordings_match_with_and_without_cache(bpf_ready, cache, tmp_path, monkeypatch):
    need(os.path.exists(BUSYBOX), "busybox-static not installed")
    argv = [BUSYBOX, "sh", "-c", "cat /etc/hostname > /dev/null; ls / > /dev/null"]
    monkeypatch.setenv("SANDPRINT_BPF_CACHE", "0")
    plain = record(tmp_path, "plain", *argv)
    assert entries(cache) == []
    monkeypatch.setenv("SANDPRINT_BPF_CACHE", "1")
    stored = record(tmp_path, "stored", *argv)      # compiles and stores
    assert len(entries(cache)) == 1
    cached = record(tmp_path, "cached", *argv)      # loads from the cache
    for rec in (stored, cached):
        assert rec["targets"][0]["syscalls"] == plain["targets"][0]["syscalls"]
        assert rec["targets"][0].get("files") == plain["targets"][0].get("files")
        assert rec["metadata"]["lostEvents"] == 0
    # another program text (--syscalls-only) is another entry
    record(tmp_path, "sc", BUSYBOX, "true", files=False)
    assert len(entries(cache)) == 2


def test_untrusted_or_broken_entries_are_not_loaded(bpf_ready, cache, monkeypatch):
    from sandprint.profiler.recorder import Recorder

    with Recorder(files=False):
        pass
    (entry,) = entries(cache)
    good = entry.read_text()

    # writable by others: ignored (compiled again), and not replaced under that directory
    os.chmod(cache, 0o777)
    with Recorder(files=False) as r:
        assert type(r.bpf).__name__ == "BPF"
    os.chmod(cache, 0o700)
    os.chmod(entry, 0o666)
    with Recorder(files=False) as r:
        assert type(r.bpf).__name__ == "BPF"
    os.chmod(entry, 0o600)

    # an entry the kernel refuses (garbled code): compiled instead, and the entry replaced
    data = json.loads(good)
    data["funcs"][0]["code"] = "AAAAAAAAAAA="      # one zero instruction: not a program
    entry.write_text(json.dumps(data))
    with Recorder(files=False) as r:
        assert type(r.bpf).__name__ == "BPF"
    assert json.loads(entry.read_text()) == json.loads(good)

    # turned off: neither read nor written
    monkeypatch.setenv("SANDPRINT_BPF_CACHE", "0")
    entry.unlink()
    with Recorder(files=False) as r:
        assert type(r.bpf).__name__ == "BPF"
    assert entries(cache) == []


def test_key_follows_text_flags_and_kernel(monkeypatch):
    from sandprint.profiler import bpf_cache
    k = bpf_cache.key("int x;", ["-DA=1"])
    assert k == bpf_cache.key("int x;", ["-DA=1"])
    assert k != bpf_cache.key("int y;", ["-DA=1"])
    assert k != bpf_cache.key("int x;", ["-DA=2"])
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, real.release + "x", real.version,
                            real.machine))
    monkeypatch.setattr(os, "uname", lambda: fake)
    assert k != bpf_cache.key("int x;", ["-DA=1"])


def test_kernel_facts_are_computed_once_per_boot(cache, monkeypatch):
    from sandprint.profiler import bpf_cache
    calls = []

    def compute():
        calls.append(1)
        return {"EXIT_RET_OFFSET": 16}
    assert bpf_cache.kernel_fact("x", compute) == {"EXIT_RET_OFFSET": 16}
    assert bpf_cache.kernel_fact("x", compute) == {"EXIT_RET_OFFSET": 16}
    assert len(calls) == 1
    assert bpf_cache.kernel_fact("y", compute) and len(calls) == 2
    monkeypatch.setenv("SANDPRINT_BPF_CACHE", "0")
    bpf_cache.kernel_fact("x", compute)
    assert len(calls) == 3
