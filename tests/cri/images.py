"""Images for the private containerd, built here (no registry): a busybox image (Debian's
static busybox and its applet links) and a pause image (a static ``/pause`` compiled from
the few lines below, doing what the upstream pause does: wait for a signal, reap
children). Written as docker-archive tars, which ``ctr images import`` takes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

BUSYBOX_IMAGE = "localhost/sandprint-cri-busybox:1"
PAUSE_IMAGE = "localhost/sandprint-cri-pause:1"

PAUSE_C = r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
static void quit(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, quit); signal(SIGTERM, quit); signal(SIGCHLD, reap);
    for (;;) pause();
}
"""


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _docker_archive(out: str, ref: str, layer: bytes, config: dict) -> str:
    """A docker-archive (``docker save`` layout) holding one image of one layer."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = {"architecture": "amd64", "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": [diff_id]},
           "history": [{"created_by": "sandprint tests/cri/images.py"}]}
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    cfg_name = hashlib.sha256(cfg_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = [{"Config": cfg_name, "RepoTags": [ref], "Layers": [layer_name]}]
    with tarfile.open(out, "w") as tar:
        _add_file(tar, cfg_name, cfg_bytes)
        _add_dir(tar, diff_id.split(":")[1])
        _add_file(tar, layer_name, layer)
        _add_file(tar, "manifest.json", json.dumps(manifest).encode())
    return out


def busybox_archive(out: str, ref: str = BUSYBOX_IMAGE) -> str:
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("bin", "etc", "proc", "sys", "dev", "var", "www"):
            _add_dir(tar, name)
        _add_dir(tar, "tmp", 0o1777)
        with open(busybox, "rb") as f:
            _add_file(tar, "bin/busybox", f.read(), 0o755)
        for a in applets:
            if a != "busybox":
                info = tarfile.TarInfo(f"bin/{a}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
        _add_file(tar, "etc/passwd",
                  b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        _add_file(tar, "www/index.html", b"hello from sandprint\n")
    return _docker_archive(out, ref, buf.getvalue(),
                           {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"})


def pause_archive(out: str, ref: str = PAUSE_IMAGE) -> str:
    with tempfile.TemporaryDirectory(prefix="sandprint-pause-") as d:
        src = os.path.join(d, "pause.c")
        binary = os.path.join(d, "pause")
        with open(src, "w") as f:
            f.write(PAUSE_C)
        subprocess.run(["gcc", "-static", "-Os", "-o", binary, src], check=True,
                       capture_output=True)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            with open(binary, "rb") as f:
                _add_file(tar, "pause", f.read(), 0o755)
    return _docker_archive(out, ref, buf.getvalue(),
                           {"Entrypoint": ["/pause"], "User": "65535:65535"})
