"""A private containerd with its CRI plugin, for tests and benchmarks.

Everything it owns lives under one temporary folder: root, state, the gRPC socket, the CNI
configuration and the config file; shims and containers it started are killed and the folder
removed when the context ends, also after a failure. The host's cgroup driver decides the
runtime's cgroup option: cgroupfs unless systemd is PID 1 (then the systemd driver, as the
kubelet would be configured). Snapshotter: overlayfs when the kernel mounts it on the
folder's file system, else ``native``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

from .images import PAUSE_IMAGE, busybox_archive, pause_archive

CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


def systemd_is_init() -> bool:
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip() == "systemd"
    except OSError:
        return False


def overlay_works(where: str) -> bool:
    """Can overlayfs be mounted with its layers on ``where``'s file system?"""
    d = tempfile.mkdtemp(prefix="ovl-", dir=where)
    try:
        for p in ("l", "u", "w", "m"):
            os.mkdir(os.path.join(d, p))
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={d}/l,upperdir={d}/u,workdir={d}/w", f"{d}/m"],
                           capture_output=True)
        if r.returncode == 0:
            subprocess.run(["umount", f"{d}/m"], capture_output=True)
        return r.returncode == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def available() -> str | None:
    """Why the private containerd cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/setup.sh installs containerd)"
    if not any(os.path.exists(os.path.join(d, "loopback")) for d in CNI_BIN_DIRS):
        return "containernetworking-plugins not installed"
    if shutil.which("gcc") is None:
        return "gcc not installed (the pause image is compiled)"
    return None


CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = "{sock}.debug"
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  disable_apparmor = true
  enable_selinux = false
  restrict_oom_score_adj = true
  disable_cgroup = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = {systemd}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{base}/cni"
"""

# Each pod gets its own network namespace with an eth0 on a private bridge (named after this
# containerd, an address range of its own, no gateway, no masquerading: nothing on the host's
# routes or firewall changes); the bridge is deleted with the containerd.
CNI_CONF = """{{
  "cniVersion": "0.4.0",
  "name": "sandprint-pods",
  "plugins": [{{"type": "bridge", "bridge": "{bridge}", "isGateway": false, "ipMasq": false,
               "ipam": {{"type": "host-local", "dataDir": "{base}/ipam",
                        "ranges": [[{{"subnet": "{subnet}"}}]]}}}}]
}}
"""


class Containerd:
    """``with Containerd() as c:`` a running private containerd; ``c.socket`` is its CRI
    endpoint, ``c.ctr(...)`` runs ``ctr`` against it, ``c.cgroup_driver`` is
    ``cgroupfs`` or ``systemd``."""

    def __init__(self, *, base: str | None = None, pause_image: str = PAUSE_IMAGE,
                 snapshotter: str | None = None):
        self.base = base or tempfile.mkdtemp(prefix="sandprint-containerd-")
        self.root = os.path.join(self.base, "root")
        self.state = os.path.join(self.base, "state")
        self.socket = os.path.join(self.base, "containerd.sock")
        self.pause_image = pause_image
        self.cgroup_driver = "systemd" if systemd_is_init() else "cgroupfs"
        self.snapshotter = snapshotter or ("overlayfs" if overlay_works(self.base) else "native")
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.base, "containerd.log")
        tag = os.path.basename(self.base)[-6:]
        self.bridge = f"spcri{tag}"[:15]
        n = int.from_bytes(tag.encode(), "big")
        self.subnet = f"10.{200 + n % 50}.{(n >> 8) % 256}.0/24"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "Containerd":
        for d in (self.root, self.state, os.path.join(self.base, "cni"),
                  os.path.join(self.base, "opt")):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.base, "cni", "10-sandprint.conflist"), "w") as f:
            f.write(CNI_CONF.format(bridge=self.bridge, base=self.base, subnet=self.subnet))
        cni_bin = next(d for d in CNI_BIN_DIRS if os.path.exists(os.path.join(d, "loopback")))
        config = os.path.join(self.base, "config.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(root=self.root, state=self.state, sock=self.socket,
                                  base=self.base, pause=self.pause_image,
                                  snapshotter=self.snapshotter, runc=shutil.which("runc"),
                                  systemd="true" if self.cgroup_driver == "systemd" else "false",
                                  cni_bin=cni_bin))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited ({self.proc.returncode}):\n"
                                   f"{self.log_tail()}")
            if os.path.exists(self.socket) and self.ctr("version", check=False).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not come up in {timeout:g} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)
        return self

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def ctr(self, *args: str, check: bool = True, timeout: float = 120.0):
        r = subprocess.run(["ctr", "--address", self.socket, "--namespace", "k8s.io", *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    def import_image(self, archive: str) -> None:
        self.ctr("images", "import", "--snapshotter", self.snapshotter, archive)

    def import_test_images(self) -> None:
        """The busybox image and the pause image (under the configured sandbox image name)."""
        d = tempfile.mkdtemp(prefix="images-", dir=self.base)
        self.import_image(pause_archive(os.path.join(d, "pause.tar"), self.pause_image))
        self.import_image(busybox_archive(os.path.join(d, "busybox.tar")))

    def _shim_pids(self) -> list[int]:
        """containerd-shim processes started by this containerd (their command line names
        our socket's address)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]).startswith(b"containerd-shim") and \
                    self.socket.encode() in b" ".join(argv):
                pids.append(int(entry))
        return pids

    def stop(self) -> None:
        """Stop everything this containerd started and remove its folder."""
        shims = self._shim_pids()
        # containers still running: kill through ctr (tasks) before the daemon goes
        if self.proc is not None and self.proc.poll() is None:
            r = self.ctr("tasks", "ls", "-q", check=False, timeout=30)
            for cid in r.stdout.split():
                self.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False, timeout=30)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in shims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # unmount whatever is left mounted below the folder (rootfs, shm, netns)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.base + "/")), key=len,
                        reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "Containerd":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
