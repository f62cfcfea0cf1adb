"""``sandprint k8s patch``: point containers' ``securityContext.seccompProfile`` at Localhost
profiles in Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob manifests,
and, for containers with a recording (``--recording``), set ``securityContext.capabilities``
to ``{drop: [ALL], add: [what the recording shows the container needed]}``.

The manifest is read with PyYAML, every document in order, and written back with PyYAML.
What that keeps: every document and its order, every field (patched or not), key order, values.
What PyYAML loses (said in the command's output): comments (anchors and aliases are refused),
quoting and block/flow style, ``---``/``...`` markers beyond the separators, and empty
documents. Each patched document is validated against the Kubernetes OpenAPI schemas with
``kubernetes-validate`` when that package is installed (it ships the schemas; no network).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..capabilities.outputs import k8s_capabilities
from ..errors import InputError
from ..fileio import load_yaml_all, read_text, write_atomic

KUBERNETES_VERSION = "1.30"

# kind -> path of keys from the document to its PodSpec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers")

LOSSES = ("comments, quoting and flow/block style, and empty "
          "documents are not kept by PyYAML; fields, their order and document order are")


@dataclass
class PatchReport:
    documents: int = 0
    patched: list[str] = field(default_factory=list)      # "Kind/name: container -> profile"
    untouched_kinds: list[str] = field(default_factory=list)
    validated: bool = False
    dropped_empty: int = 0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"patched {len(self.patched)} container(s) in {self.documents} document(s)"]
        out += [f"  {p}" for p in self.patched]
        if self.untouched_kinds:
            out.append("left as they are (no pod template): " + ", ".join(self.untouched_kinds))
        if self.dropped_empty:
            out.append(f"dropped {self.dropped_empty} empty document(s)")
        out += [f"warning: {w}" for w in self.warnings]
        out.append("validated against the Kubernetes schemas" if self.validated else
                   "NOT validated against the Kubernetes schemas "
                   "(pip install kubernetes-validate)")
        out.append("note: " + LOSSES)
        return out


def parse_profile_args(pairs: list[str]) -> dict[str, str]:
    """``CONTAINER=PROFILE`` pairs -> {container: localhostProfile}."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, profile = pair.partition("=")
        if not sep or not name or not profile:
            raise InputError(f"invalid --profile {pair!r}", field="--profile",
                             expected="CONTAINER=PROFILE, e.g. app=operator/app.json")
        out[name] = check_localhost_profile(profile, f"--profile {pair}")
        if list(out).count(name) > 1:
            raise InputError(f"container {name!r} given twice", field="--profile")
    if not out:
        raise InputError("no --profile given", field="--profile",
                         expected="at least one CONTAINER=PROFILE")
    return out


def check_localhost_profile(profile: str, source: str) -> str:
    """A Localhost profile is a descending path relative to the kubelet's seccomp root."""
    norm = posixpath.normpath(profile)
    if profile.startswith("/") or norm.startswith("..") or norm in (".", "") or "\0" in profile:
        raise InputError(f"invalid Localhost profile path {profile!r}", source=source,
                         expected="a relative path below the kubelet's seccomp directory, "
                                  "e.g. operator/app.json")
    return norm


def _dig(doc: Any, path: tuple[str, ...]) -> Any:
    cur = doc
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def _patch_pod_spec(spec: dict, profiles: dict[str, str], where: str, report: PatchReport,
                    found: set[str], source: str,
                    capabilities: dict[str, dict[str, list[str]]]) -> None:
    for list_name in CONTAINER_LISTS:
        containers = spec.get(list_name)
        if containers is None:
            continue
        if not isinstance(containers, list):
            raise InputError("not a list", source=source, field=f"{where}.{list_name}",
                             expected="a list of containers")
        for i, c in enumerate(containers):
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                raise InputError("container without a name", source=source,
                                 field=f"{where}.{list_name}[{i}]", expected="a name")
            profile = profiles.get(c["name"])
            caps = capabilities.get(c["name"])
            if profile is None and caps is None:
                continue
            sc = c.get("securityContext")
            if sc is None:
                sc = c["securityContext"] = {}
            if not isinstance(sc, dict):
                raise InputError("not an object", source=source,
                                 field=f"{where}.{list_name}[{i}].securityContext",
                                 expected="an object")
            line = f"{where}: {c['name']}"
            if profile is not None:
                sc["seccompProfile"] = {"type": "Localhost", "localhostProfile": profile}
                line += f" -> {profile}"
            if caps is not None:
                sc["capabilities"] = k8s_capabilities(caps)
                line += ("; capabilities: drop ALL, add " + ", ".join(sc["capabilities"]["add"])
                         if caps else "; capabilities: drop ALL")
                if sc.get("privileged") is True:
                    report.warnings.append(f"{where}: {c['name']} is privileged: its "
                                           "capabilities are all there whatever the list says")
            found.add(c["name"])
            report.patched.append(line)


def patch_documents(docs: list[Any], profiles: dict[str, str], source: str = "<manifest>",
                    capabilities: dict[str, dict[str, list[str]]] | None = None
                    ) -> tuple[list[Any], PatchReport]:
    """Patch ``profiles`` (container -> Localhost profile) and ``capabilities`` (container
    -> CAP_* -> evidence, :func:`sandprint.capabilities.needed.needed_capabilities`)."""
    capabilities = capabilities or {}
    report = PatchReport()
    found: set[str] = set()
    out = []

    def visit(doc: Any, index: str) -> None:
        if not isinstance(doc, dict):
            raise InputError("not a Kubernetes object", source=source,
                             field=f"document {index}", expected="a mapping with kind")
        kind = doc.get("kind")
        name = _dig(doc, ("metadata", "name")) or "?"
        if not isinstance(kind, str) or not isinstance(name, str):
            raise InputError("kind or metadata.name is not a string", source=source,
                             field=f"document {index}", expected="strings")
        if kind == "List" and isinstance(doc.get("items"), list):
            for j, item in enumerate(doc["items"]):
                visit(item, f"{index}.items[{j}]")
            return
        path = POD_SPEC_PATHS.get(kind)
        if path is None:
            report.untouched_kinds.append(f"{kind}/{name}")
            return
        spec = _dig(doc, path)
        if not isinstance(spec, dict):
            raise InputError("no pod spec", source=source,
                             field=f"document {index} ({kind}/{name}): " + ".".join(path),
                             expected="an object")
        _patch_pod_spec(spec, profiles, f"{kind}/{name}", report, found, source, capabilities)

    for i, doc in enumerate(docs):
        if doc is None:
            report.dropped_empty += 1
            continue
        visit(doc, str(i))
        out.append(doc)
    report.documents = len(out)
    missing = sorted(set(profiles) - found)
    if missing:
        raise InputError(f"no container named {', '.join(missing)} in the manifest",
                         source=source, field="--profile",
                         expected="names of containers or initContainers in it")
    missing = sorted(set(capabilities) - found)
    if missing:
        raise InputError(f"no container named {', '.join(missing)} in the manifest",
                         source=source, field="--recording",
                         expected="recordings of containers or initContainers in it (a "
                                  "target named like the container, or CONTAINER=REC)")
    unknown = sorted(set(profiles) - set(capabilities)) if capabilities else []
    if unknown:
        report.warnings.append("capabilities left as they are for " + ", ".join(unknown)
                               + " (no --recording of it)")
    return out, report


def validate(docs: list[Any], version: str = KUBERNETES_VERSION, source: str = "<manifest>"
             ) -> bool:
    """Validate against the Kubernetes schemas; False when kubernetes-validate is missing."""
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import (SchemaNotFoundError, ValidationError,
                                               VersionNotSupportedError)
    except ImportError:
        return False
    for i, doc in enumerate(docs):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except SchemaNotFoundError:
            continue                      # a CRD kind: no built-in schema
        except VersionNotSupportedError:
            raise InputError(f"Kubernetes version {version} is not known to "
                             "kubernetes-validate", field="--kubernetes-version") from None
        except ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(document)"
            raise InputError(f"does not validate against Kubernetes {version}: {e.message}",
                             source=source, field=f"document {i}: {where}") from None
    return True


def dump(docs: list[Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False,
                              explicit_start=len(docs) > 1, width=1 << 30, allow_unicode=True)


def recording_capabilities(args: list[str]) -> dict[str, dict[str, list[str]]]:
    """``--recording [CONTAINER=]REC`` -> container -> needed capabilities: with
    ``CONTAINER=``, every target of REC; without, each target of REC for the container of
    its name (a pod recording names its targets after the containers)."""
    from ..capabilities.needed import needed_capabilities, target_capabilities
    from ..recording import Recording

    out: dict[str, dict[str, list[str]]] = {}
    for arg in args:
        name, sep, path = arg.partition("=")
        if sep and name and path and "/" not in name:
            found = {name: needed_capabilities(Recording.load(path))}
        else:
            rec = Recording.load(arg)
            found = {t.name: target_capabilities(t) for t in rec.targets}
        for container, caps in found.items():
            if container in out:
                raise InputError(f"container {container!r} has two recordings",
                                 source=arg, field="--recording",
                                 expected="one recording per container (merge them first)")
            out[container] = caps
    return out


def patch_file(manifest: str, output: str, profile_args: list[str], *,
               kubernetes_version: str = KUBERNETES_VERSION, check: bool = True,
               recordings: list[str] | None = None) -> PatchReport:
    profiles = parse_profile_args(profile_args) if profile_args or not recordings else {}
    capabilities = recording_capabilities(recordings or [])
    text = read_text(manifest, "manifest")
    docs = load_yaml_all(text, manifest)
    docs, report = patch_documents(docs, profiles, manifest, capabilities)
    if check:
        report.validated = validate(docs, kubernetes_version, manifest)
    write_atomic(output, dump(docs))
    return report
