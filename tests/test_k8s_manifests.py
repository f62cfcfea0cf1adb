"""k8s patch (every workload kind, multi-document order, schema validation) and k8s install."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from helpers import run_cli, spo_from_container_recording

DATA = Path(__file__).parent / "data"
LOCAL = {"type": "Localhost", "localhostProfile": "operator/app.json"}


def containers_of(doc):
    from sandprint.k8s.manifests import POD_SPEC_PATHS, _dig

    spec = _dig(doc, POD_SPEC_PATHS[doc["kind"]])
    return {c["name"]: c for lst in ("initContainers", "containers") for c in spec.get(lst, [])}


def test_patch_every_kind(tmp_path):
    out = tmp_path / "out.yaml"
    r = run_cli("k8s", "patch", str(DATA / "workloads.yaml"), "--profile",
                "app=operator/app.json", "--profile", "setup=operator/setup.json",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "validated against the Kubernetes schemas" in r.stderr
    assert "comments" in r.stderr                       # says what PyYAML loses
    original = list(yaml.safe_load_all((DATA / "workloads.yaml").read_text()))
    patched = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in patched] == [d["kind"] for d in original]   # order kept
    for before, after in zip(original, patched):
        if before["kind"] == "ConfigMap":
            assert after == before
            continue
        cs = containers_of(after)
        assert cs["app"]["securityContext"]["seccompProfile"] == LOCAL
        if "sidecar" in cs:                             # not asked for: untouched
            assert cs["sidecar"] == containers_of(before)["sidecar"]
    pod = patched[0]
    assert containers_of(pod)["setup"]["securityContext"]["seccompProfile"][
        "localhostProfile"] == "operator/setup.json"
    # unrelated fields of a patched container are kept
    assert containers_of(pod)["app"]["securityContext"]["runAsUser"] == 1000
    assert patched[2]["spec"]["replicas"] == 2


@pytest.mark.parametrize("args, message", [
    (["--profile", "nosuch=p.json"], "no container named nosuch"),
    (["--profile", "app=/abs/p.json"], "invalid Localhost profile path"),
    (["--profile", "app=../up.json"], "invalid Localhost profile path"),
    (["--profile", "app"], "expected CONTAINER=PROFILE"),
])
def test_patch_bad_input(tmp_path, args, message):
    out = tmp_path / "out.yaml"
    r = run_cli("k8s", "patch", str(DATA / "workloads.yaml"), *args, "-o", str(out))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not out.exists()


def test_patch_invalid_manifest_fails_validation(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
                   "spec:\n  containers:\n  - name: app\n    image: b\n    imagePullPolicy: 3\n")
    r = run_cli("k8s", "patch", str(bad), "--profile", "app=p.json", "-o",
                str(tmp_path / "o.yaml"))
    assert r.returncode == 2 and "does not validate" in r.stderr, r.stderr
    assert not (tmp_path / "o.yaml").exists()
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\nspec: [\n")
    r = run_cli("k8s", "patch", str(broken), "--profile", "app=p.json", "-o",
                str(tmp_path / "o.yaml"))
    assert r.returncode == 2 and "invalid YAML at line" in r.stderr


PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}


def test_install(tmp_path):
    prof = tmp_path / "checkout-seccomp.json"
    prof.write_text(json.dumps(PROFILE))
    root = tmp_path / "kubelet" / "seccomp"
    r = run_cli("k8s", "install", str(prof), "--root", str(root))
    assert r.returncode == 0, r.stderr
    assert json.loads((root / "checkout-seccomp.json").read_text()) == PROFILE
    assert "localhostProfile: checkout-seccomp.json" in r.stderr
    r = run_cli("k8s", "install", str(prof), "--root", str(root), "--name",
                "operator/checkout.json")
    assert r.returncode == 0 and (root / "operator" / "checkout.json").exists()
    assert not [p for p in os.listdir(root) if p.startswith(".sandprint-")]


def test_install_bad_input(tmp_path):
    root = tmp_path / "seccomp"
    spo = tmp_path / "sp.json"
    spo.write_text(json.dumps({"kind": "SeccompProfile", "spec": {}}))
    r = run_cli("k8s", "install", str(spo), "--root", str(root))
    assert r.returncode == 2 and "SPO SeccompProfile" in r.stderr
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(PROFILE))
    r = run_cli("k8s", "install", str(prof), "--root", str(root), "--name", "../x.json")
    assert r.returncode == 2 and "invalid Localhost profile path" in r.stderr
    r = run_cli("k8s", "install", str(tmp_path / "missing.json"), "--root", str(root))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_examples_validate():
    """The in-cluster recorder's manifests are valid Kubernetes objects."""
    from sandprint.k8s.manifests import validate

    examples = Path(__file__).resolve().parent.parent / "examples" / "k8s"
    for path in sorted(examples.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert validate(docs, source=str(path)), "kubernetes-validate is not installed"


def test_spo_from_container_recording_validates_against_schema(tmp_path):
    """A container recording (one target per container) -> SPO SeccompProfile per the schema."""
    import jsonschema

    from helpers import spo_schema

    doc = spo_from_container_recording(tmp_path)
    jsonschema.validate(doc, spo_schema())
    names = {n for rule in doc["spec"]["syscalls"] for n in rule["names"]}
    assert {"read", "write", "execve", "capset"} <= names       # recorded + runc's


