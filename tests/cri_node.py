"""Fixtures shared by the CRI tests: one private containerd for the test session, the kubelet
stand-in over it, and the API-server stand-in answering from the kubelet's pods."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass

import pytest

from helpers import need, sandprint_env, wait_attached

NODE = "node-cri"
SECCOMP_ROOT = "/var/lib/kubelet/seccomp"


@dataclass
class CRINode:
    containerd: object
    kubelet: object
    api: object
    kubeconfig: str
    profile_dir: str        # our own folder below the kubelet's seccomp root (relative)

    def env(self) -> dict:
        env = sandprint_env()
        env["KUBECONFIG"] = self.kubeconfig
        env["NODE_NAME"] = NODE
        env.pop("KUBERNETES_SERVICE_HOST", None)
        return env

    def start(self, *args: str) -> subprocess.Popen:
        """A sandprint command (record/watch) in the background, once it says 'attached'."""
        proc = subprocess.Popen([sys.executable, "-m", "sandprint", *args], env=self.env(),
                                stderr=subprocess.PIPE, text=True)
        wait_attached(proc)
        return proc


def unique_pod_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def cri_node():
    from cri.apiserver import APIServer
    from cri.containerd import Containerd, available
    from cri.kubelet import Kubelet

    need(available() is None, available() or "")
    from sandprint.profiler.containers import cgroup2_mount
    need(cgroup2_mount() is not None, "no cgroup2 hierarchy mounted")
    base = tempfile.mkdtemp(prefix="sandprint-cri-node-")
    profile_dir = f"sandprint-cri-{uuid.uuid4().hex[:8]}"
    with Containerd() as c:
        c.import_test_images()
        kubelet = Kubelet(c, node=NODE, seccomp_root=SECCOMP_ROOT)
        api = APIServer(kubelet.pod_json)
        try:
            yield CRINode(c, kubelet, api, api.kubeconfig(os.path.join(base, "kubeconfig")),
                          profile_dir)
        finally:
            api.close()
            kubelet.close()
            shutil.rmtree(os.path.join(SECCOMP_ROOT, profile_dir), ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)
