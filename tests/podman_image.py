"""A tiny container image for the tests: Debian's static busybox and its applet links,
imported with ``podman import`` (no registry needed). Idempotent."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile

IMAGE = "localhost/sandprint-busybox:1"
BUSYBOX = "/bin/busybox"


def image_exists(image: str = IMAGE) -> bool:
    return subprocess.run(["podman", "image", "exists", image]).returncode == 0


def ensure_busybox_image(image: str = IMAGE) -> str:
    if image_exists(image):
        return image
    busybox = shutil.which("busybox") or BUSYBOX
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    with tempfile.TemporaryDirectory() as d:
        tar_path = os.path.join(d, "rootfs.tar")
        with tarfile.open(tar_path, "w") as tar:
            for name in ("bin", "tmp", "etc", "www", "proc", "sys", "dev"):
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if name == "tmp" else 0o755
                tar.addfile(info)
            tar.add(busybox, arcname="bin/busybox")
            for a in applets:
                if a == "busybox":
                    continue
                info = tarfile.TarInfo(f"bin/{a}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
            for name, text in (("etc/passwd", "root:x:0:0:root:/:/bin/sh\n"),
                               ("etc/group", "root:x:0:\n"),
                               ("www/index.html", "hello from sandprint\n")):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                import io
                tar.addfile(info, io.BytesIO(data))
        subprocess.run(["podman", "import", "--change", "CMD=/bin/sh", tar_path, image],
                       check=True, capture_output=True)
    return image
