"""Running ``sandprint record`` in the background and looking at the recorder while it runs:
whether it tracks a task yet, its peak RSS and the memory of the BPF maps it loaded; and the
load workload (``workloads/load.py``) it is measured on.

Shared by ``test_load.py`` (loose bounds), ``test_recorder.py`` and ``benchmarks/load.py``.

- Peak RSS: ``wait4()``'s ``ru_maxrss`` of the sandprint process. The kernel reports the
  largest of the process's own peak and its waited-for descendants' (the workload tree);
  the workload reports its own peaks, so :attr:`Session.rss_is_sandprints` says whether the
  number is really sandprint's.
- BPF map memory: the ``memlock:`` lines of ``/proc/PID/fdinfo`` of sandprint's map file
  descriptors (what the kernel charges for each map: preallocated hash tables, per-CPU
  arrays, ring buffer pages), summed, sampled while the recording runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKLOAD = Path(__file__).resolve().parent / "workloads" / "load.py"
SANDPRINT = [sys.executable, "-m", "sandprint"]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def scratch_dir(prefix: str = "sandprint-load-") -> str:
    """A directory on a tmpfs (/dev/shm) when there is one: creating and opening 100,000
    files there costs no disk I/O. The caller removes it (shutil.rmtree)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def make_files(root: str, n: int) -> None:
    """The workload's files, made untraced (not part of any recording)."""
    subprocess.run([sys.executable, str(WORKLOAD), "setup", root, "--files", str(n)],
                   check=True)


def workload(root: str, n: int, report: str, *, children: int = 0, threads: int = 0,
             rare: tuple[str, ...] = (), ready: str | None = None, go: str | None = None
             ) -> list[str]:
    argv = [sys.executable, str(WORKLOAD), "run", root, "--files", str(n), "--report", report,
            "--children", str(children), "--threads", str(threads)]
    for name in rare:
        argv += ["--rare", name]
    if ready:
        argv += ["--ready", ready]
    if go:
        argv += ["--go", go]
    return argv


def bpf_maps(pid: int) -> dict[int, dict]:
    """The BPF maps process ``pid`` holds open: map id -> fdinfo fields (``map_type``,
    ``max_entries``, ``memlock`` in bytes ...), and ``name`` when bpftool can tell."""
    maps: dict[int, dict] = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return maps
    for fd in fds:
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        if "map_type:" not in text:
            continue
        info = dict(re.findall(r"^(\w+):\s*(\S+)", text, re.M))
        try:
            maps[int(info["map_id"])] = {k: (int(v) if v.isdigit() else v)
                                         for k, v in info.items()}
        except (KeyError, ValueError):
            continue
    if maps and shutil.which("bpftool"):
        out = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True)
        if out.returncode == 0:
            for m in json.loads(out.stdout or "[]"):
                if m.get("id") in maps:
                    maps[m["id"]]["name"] = m.get("name", "")
                    maps[m["id"]]["type"] = m.get("type", "")
    return maps


from sandprint.profiler.bpf_loader import TASK_TRACKED  # noqa: E402


def tracks(sandprint_pid: int, pid: int) -> bool:
    """Whether the recorder of process ``sandprint_pid`` has ``pid`` in its tracked-task map
    (read with bpftool)."""
    for map_id, m in bpf_maps(sandprint_pid).items():
        if m.get("name") != "tracked":
            continue
        key = [f"0x{b:02x}" for b in pid.to_bytes(4, sys.byteorder)]
        out = subprocess.run(["bpftool", "-j", "map", "lookup", "id", str(map_id), "key", *key],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return False
        # the map is an array indexed by pid: a slot is in use when TASK_TRACKED is set
        entry = json.loads(out.stdout)
        value = entry.get("formatted", entry).get("value")
        if isinstance(value, dict):
            flags = int(value["flags"])
        else:
            flags = int.from_bytes(bytes(int(b, 16) for b in value[4:8]), sys.byteorder)
        return bool(flags & TASK_TRACKED)
    return False


@dataclass
class Session:
    """One ``sandprint record`` run in the background, measured while it runs."""

    args: list[str]
    output: str
    proc: subprocess.Popen = field(init=False)
    started: float = field(init=False)
    map_bytes: int = 0                       # largest sum of the maps' memlock seen
    maps: dict[int, dict] = field(default_factory=dict)
    status: int | None = None
    maxrss_kib: int = 0
    wall: float = 0.0
    stderr: str = ""

    def __post_init__(self) -> None:
        self._err = tempfile.TemporaryFile(mode="w+")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(SANDPRINT + ["record", "-o", self.output, *self.args],
                                     env=env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._err)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def sample(self) -> None:
        maps = bpf_maps(self.proc.pid)
        total = sum(m.get("memlock", 0) for m in maps.values())
        if total > self.map_bytes:
            self.map_bytes, self.maps = total, maps

    def running(self) -> bool:
        return self.status is None and self.proc.poll() is None

    def wait_loaded(self, timeout: float = 120) -> None:
        """Until the recorder holds its maps (bcc compiles first)."""
        deadline = time.monotonic() + timeout
        while not self.maps and time.monotonic() < deadline and self.proc.poll() is None:
            self.sample()
            time.sleep(0.1)

    def wait(self, timeout: float = 600) -> int:
        """Sample the maps until sandprint exits; its status, peak RSS and stderr."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                self.proc.returncode = self.status
                self.maxrss_kib = usage.ru_maxrss
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                raise TimeoutError(f"sandprint {' '.join(self.args)} did not finish")
            self.sample()
            time.sleep(0.1)
        self.wall = time.monotonic() - self.started
        self._err.seek(0)
        self.stderr = self._err.read()
        self._err.close()
        return self.status

    def recording(self) -> dict:
        return json.loads(Path(self.output).read_text())

    def rss_is_sandprints(self, report: dict) -> bool:
        """ru_maxrss is the max over sandprint and the workload tree: it is sandprint's own
        peak when it exceeds what the workload reports of itself (which, as the kernel keeps
        the high-water mark across execve, includes the sandprint fork that exec'd it)."""
        return self.maxrss_kib > max(report["maxrssKiB"].values())


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def file_paths(rec: dict) -> set[str]:
    return {f["path"] for t in rec["targets"] for f in t["files"]}


def map_table(maps: dict[int, dict]) -> list[tuple[str, str, int, int]]:
    """(name, type, max_entries, memlock bytes) per map, largest first."""
    rows = [(m.get("name", f"id {i}"), str(m.get("type", m.get("map_type"))), int(m.get("max_entries", 0)),
             int(m.get("memlock", 0))) for i, m in maps.items()]
    return sorted(rows, key=lambda r: -r[3])
