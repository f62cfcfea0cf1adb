"""The CRI and watch pieces that need no kernel: the CRI message subset keeps upstream's
field numbers, audit records parse, ``watch`` refuses bad usage, and the measured runc
window includes the containerd path."""

from __future__ import annotations

import pytest

from helpers import run_cli

# (message, field) -> number, from k8s.io/cri-api pkg/apis/runtime/v1/api.proto
UPSTREAM = {
    ("PodSandboxConfig", "metadata"): 1, ("PodSandboxConfig", "log_directory"): 3,
    ("PodSandboxConfig", "labels"): 6, ("PodSandboxConfig", "linux"): 8,
    ("PodSandboxMetadata", "uid"): 2, ("PodSandboxMetadata", "namespace"): 3,
    ("LinuxPodSandboxConfig", "cgroup_parent"): 1,
    ("LinuxSandboxSecurityContext", "seccomp"): 9,
    ("ContainerConfig", "command"): 3, ("ContainerConfig", "log_path"): 11,
    ("ContainerConfig", "linux"): 15,
    ("LinuxContainerConfig", "security_context"): 2,
    ("LinuxContainerSecurityContext", "no_new_privs"): 11,
    ("LinuxContainerSecurityContext", "seccomp"): 15,
    ("SecurityProfile", "profile_type"): 1, ("SecurityProfile", "localhost_ref"): 2,
    ("CreateContainerRequest", "sandbox_config"): 3,
    ("ContainerStatus", "exit_code"): 7, ("ContainerStatus", "reason"): 10,
}


def test_cri_subset_keeps_upstream_field_numbers():
    pytest.importorskip("grpc_tools")
    from cri.proto import pb

    m = pb()
    assert m.DESCRIPTOR.package == "runtime.v1"
    for (msg, fld), number in UPSTREAM.items():
        assert m.DESCRIPTOR.message_types_by_name[msg].fields_by_name[fld].number == number
    assert m.SecurityProfile.Localhost == 2 and m.CONTAINER_EXITED == 2


def test_audit_record_parsing():
    from sandprint.verify.audit import parse_record

    r = parse_record('audit(1796283371.334:298): auid=4294967295 uid=0 gid=0 '
                     'ses=4294967295 pid=19865 comm="sh" exe="/usr/bin/dash" sig=0 '
                     'arch=c000003e syscall=110 compat=0 ip=0x7fea08d564f7 code=0x7ffc0000')
    assert (r.pid, r.comm, r.exe, r.arch, r.syscall, r.action) == \
        (19865, "sh", "/usr/bin/dash", "SCMP_ARCH_X86_64", 110, "log")
    r = parse_record('audit(1.2:3): pid=7 comm="a b" exe="/x" arch=40000003 syscall=11 '
                     'compat=1 code=0x50001')
    assert (r.comm, r.arch, r.compat, r.action) == ("a b", "SCMP_ARCH_X86", True, "errno")
    assert parse_record("audit(1.2:3): pid=7 comm=x") is None
    assert parse_record('pid=1 arch=c000003e syscall=1 code=0x80000000').action == \
        "kill_process"


@pytest.mark.parametrize("args, message", [
    ((), "give exactly one target"),
    (("--pid", "1", "--pod", "a/b"), "give exactly one target"),
    (("--pid", "1", "--container-name", "x"), "--container-name only goes with --pod"),
    (("--pod", "just-a-name"), "NAMESPACE/NAME"),
])
def test_watch_usage(tmp_path, args, message):
    r = run_cli("watch", "-o", str(tmp_path / "w.json"), *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "w.json").exists()


def test_measured_runc_window_covers_containerd_path():
    from sandprint.generators.runtime_syscalls import runtime_syscalls
    from sandprint.profiler.runtime_data import measured_entry, measured_syscalls

    e = measured_entry("runc")
    assert {"containerd", "containerdNoNewPrivileges"} <= set(e["variants"])
    measured = measured_syscalls("runc", variant="containerd") | \
        measured_syscalls("runc", variant="containerdNoNewPrivileges")
    assert measured <= set(runtime_syscalls("runc").syscalls)


def test_daemonset_records_and_watches():
    """The in-cluster example: validates (test_k8s_manifests validates every example), and
    gives the recorder and the watcher what each needs on the node."""
    from pathlib import Path

    import yaml

    from sandprint.k8s.manifests import validate

    path = Path(__file__).resolve().parent.parent / "examples" / "k8s" / "recorder-daemonset.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    assert validate(docs, source=str(path)), "kubernetes-validate is not installed"
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostPID"] and spec["hostNetwork"]      # PIDs of audit records; audit socket
    containers = {c["name"]: c for c in spec["containers"]}
    assert "sandprint record --pod" in containers["recorder"]["args"][0]
    assert "sandprint watch --pod" in containers["watcher"]["args"][0]
    init = spec["initContainers"][0]
    assert "sandprint k8s install" in init["args"][0]
    volumes = {v["name"]: v for v in spec["volumes"]}

    def mounted(c):
        return {volumes[m["name"]].get("hostPath", {}).get("path") for m in c["volumeMounts"]}

    for c in containers.values():
        assert c["securityContext"]["privileged"] is True
        assert "/sys/fs/cgroup" in mounted(c)
    assert {"/sys/kernel/tracing", "/lib/modules"} <= mounted(containers["recorder"])
    assert "/var/lib/kubelet/seccomp" in mounted(init)
    sa = spec["serviceAccountName"]
    rbac = list(yaml.safe_load_all((path.parent / "rbac.yaml").read_text()))
    role = next(d for d in rbac if d["kind"] == "ClusterRole")
    assert {"get", "list"} <= set(role["rules"][0]["verbs"])
    binding = next(d for d in rbac if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == sa
