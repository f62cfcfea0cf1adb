"""Hostile and malformed input: every parser gives a result or an InputError, never another
exception and never a hang.

Property tests (hypothesis) mutate valid seeds -- a recording, an OCI seccomp profile shaped
like the engines' defaults, an engine default profile (its includes/excludes dialect), an SPO
SeccompProfile, a landlockconfig ruleset, a Kubernetes Deployment -- by
replacing values anywhere in the tree with arbitrary JSON, and also feed arbitrary text.
"""

from __future__ import annotations

import copy
import json
import os
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from sandprint.documents import load_document
from sandprint.errors import InputError
from sandprint.k8s.manifests import patch_documents, patch_file
from sandprint.landlock.config import loads_config, parse_config
from sandprint.recording import NetAccess, Recording
from sandprint.seccomp.profile import load_profile, profile_from_data

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def seed_recording() -> dict:
    rec = Recording.new({"type": "command", "command": ["/bin/true"]}, arch="SCMP_ARCH_X86_64",
                        landlock_abi=7)
    t = rec.target("main")
    for s in ("read", "write", "execve", "exit_group"):
        t.add_syscall(s, 3)
    t.add_file("/etc/passwd", {"read_file"})
    t.add_file("/tmp/out", {"write_file", "make_reg"}, denied={"remove_file"})
    t.add_net(NetAccess(op="connect", protocol="tcp", family="inet", port=443,
                        address="10.0.0.1"))
    t.add_exec("/bin/true", ["/bin/true", "x"])
    return rec.to_json()


def seed_oci() -> dict:
    """A plain OCI profile with the shapes the engines' defaults use (errno default and
    rules, argument conditions, several architectures)."""
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["accept", "read", "write", "close", "openat", "_llseek"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "comment": "kernel >= 4.8"}]}


def seed_engine_default() -> dict:
    """An engine default profile in its own dialect (containers-common / moby)."""
    data = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]}
    data["syscalls"] = [dict(r, includes={}, excludes={}) for r in seed_oci()["syscalls"]]
    data["syscalls"][1]["includes"] = {"arches": ["amd64"], "minKernel": "4.8"}
    data["syscalls"][2]["excludes"] = {"caps": ["CAP_SYS_ADMIN"]}
    return data


def seed_spo() -> dict:
    return {"apiVersion": "security-profiles-operator.x-k8s.io/v1beta1", "kind": "SeccompProfile",
            "metadata": {"name": "x"},
            "spec": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                     "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                                   "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}}


def seed_landlock() -> dict:
    return {"abi": 4,
            "variable": [{"name": "home", "literal": ["/home/a", "/home/b"]}],
            "ruleset": [{"handledAccessFs": ["abi.all"], "handledAccessNet": ["abi.all"]}],
            "pathBeneath": [{"allowedAccess": ["abi.read_execute"], "parent": ["/usr"]},
                            {"allowedAccess": ["write_file"], "parent": ["${home}/x"]}],
            "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}]}


def seed_manifest() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "app", "image": "x"}],
                                           "initContainers": [{"name": "init", "image": "y"}]}}}}


scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True) | st.text(max_size=30)
           | st.sampled_from(["", "/", "..", "a\nb", "\x00", "abi.all", "abi.bogus", "read_file",
                              "SCMP_ACT_ALLOW", "SCMP_CMP_EQ", "SCMP_ARCH_X86_64", "${home}",
                              "${", "x" * 5000, "/" * 300, "Recording", "SeccompProfile"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, seed):
    doc = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        value = draw(json_values)
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if action == "replace":
            parent[last] = value
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = value
        else:
            parent.append(value)
    return doc


def must_be_result_or_input_error(fn, *args):
    try:
        return fn(*args)
    except InputError as e:
        assert "\n" not in str(e), "an InputError must read as one line"
        return None


# -- library level ---------------------------------------------------------------------------

@SETTINGS
@given(mutated(seed_recording()))
def test_recording_from_json(data):
    rec = must_be_result_or_input_error(Recording.from_json, data, "r.json")
    if rec is not None:
        json.dumps(rec.to_json())


@SETTINGS
@given(mutated(seed_oci()) | mutated(seed_spo()))
def test_seccomp_profile_from_data(data):
    prof = must_be_result_or_input_error(profile_from_data, data, "p.json")
    if prof is not None:
        prof.allowed_syscalls()
        json.dumps(prof.to_oci())


@SETTINGS
@given(mutated(seed_engine_default()))
def test_baseline_reader(data):
    from sandprint.generators.baseline import docker_allowed

    must_be_result_or_input_error(docker_allowed, data, "SCMP_ARCH_X86_64")


@SETTINGS
@given(mutated(seed_landlock()))
def test_landlock_parse_config(data):
    must_be_result_or_input_error(parse_config, data, "l.json", "json")
    must_be_result_or_input_error(loads_config, json.dumps(data), "json", "l.json")


@SETTINGS
@given(mutated(seed_landlock()))
def test_landlock_toml(data):
    import tomli_w

    try:
        text = tomli_w.dumps(data if isinstance(data, dict) else {"x": data})
    except (TypeError, ValueError):
        return
    must_be_result_or_input_error(loads_config, text, "toml", "l.toml")


@SETTINGS
@given(st.lists(mutated(seed_manifest()), min_size=1, max_size=2))
def test_k8s_patch_documents(docs):
    must_be_result_or_input_error(patch_documents, docs, {"app": "p/app.json"}, "m.yaml")


NASTY_TEXTS = st.text(max_size=200) | st.sampled_from([
    "{", "[", "{}", "[]", "null", "---\n---\n", "- a\n- b", "a: [", "!!python/object:os.system",
    "a = 1\n", "[[pathBeneath]]\n", "\ufeff{}", "{\"kind\": \"Recording\"}",
    "{\"defaultAction\": 1}", "kind: SeccompProfile\n", "abi = 99999999999999999999\n",
    "[" * 100000, "{\"a\":" * 100000, "- " * 5000 + "x", "[" * 5000 + "]" * 5000,
])


@SETTINGS
@given(NASTY_TEXTS, st.sampled_from(["in.json", "in.yaml", "in.toml"]))
def test_load_document_and_profile_on_arbitrary_text(tmp_path, text, name):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8", "surrogatepass"))
    must_be_result_or_input_error(load_document, str(p))
    must_be_result_or_input_error(load_profile, str(p))
    must_be_result_or_input_error(Recording.load, str(p))
    must_be_result_or_input_error(patch_file, str(p), str(tmp_path / "out.yaml"), ["app=a.json"])


@SETTINGS
@given(mutated(seed_recording()) | mutated(seed_oci()) | mutated(seed_spo())
       | mutated(seed_landlock()), st.sampled_from(["json", "yaml", "toml"]))
def test_load_document_on_mutated_files(tmp_path, data, fmt):
    p = tmp_path / f"doc.{fmt}"
    if fmt == "json":
        text = json.dumps(data)
    elif fmt == "yaml":
        text = yaml.safe_dump(data)
    else:
        import tomli_w
        try:
            text = tomli_w.dumps(data if isinstance(data, dict) else {"x": data})
        except (TypeError, ValueError):
            return
    p.write_text(text)
    must_be_result_or_input_error(load_document, str(p))


# -- specific nasty files --------------------------------------------------------------------

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
) + "kind: SeccompProfile\nspec: *j\n"


def nasty_files(tmp_path) -> dict[str, str]:
    """name -> path of files every reader must refuse with an InputError."""
    out = {}

    def put(name, data: bytes):
        p = tmp_path / name
        p.write_bytes(data)
        out[name] = str(p)

    put("non-utf8.json", b'{"kind": "Recording", "x": "\xff\xfe"}')
    put("deep.json", b"[" * 200000 + b"]" * 200000)
    put("deep-obj.json", b'{"a":' * 100000 + b"1" + b"}" * 100000)
    put("bomb.yaml", BILLION_LAUGHS.encode())
    put("deep.yaml", b"- " * 20000 + b"x\n")
    put("deep-flow.yaml", b"[" * 100000 + b"]" * 100000)
    put("empty.json", b"")
    put("nul.json", b"\x00" * 100)
    put("bad.toml", b"[[pathBeneath]]\nallowedAccess = [\"read_file\"]\nparent = [\"/\x00\"]\n")
    loop = tmp_path / "loop.json"
    os.symlink(str(loop), str(loop))
    out["loop.json"] = str(loop)
    out["dir.json"] = str(tmp_path)
    fifo = tmp_path / "fifo.json"          # nobody writes to it: must not hang
    os.mkfifo(str(fifo))
    out["fifo.json"] = str(fifo)
    longname = tmp_path / ("x" * 300 + ".json")
    out["long.json"] = str(longname)
    nl = tmp_path / "new\nline.json"
    nl.write_text("{\"kind\": \"Recording\"}")
    out["newline.json"] = str(nl)
    return out


READERS = {
    "recording": Recording.load,
    "profile": load_profile,
    "document": load_document,
    "manifest": lambda p: patch_file(p, p + ".out.yaml", ["app=a.json"]),
    "landlock": lambda p: __import__("sandprint.landlock.config", fromlist=["x"]).load_config(p),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_nasty_files_give_input_errors_quickly(tmp_path, reader):
    for name, path in nasty_files(tmp_path).items():
        start = time.monotonic()
        with pytest.raises(InputError) as e:
            READERS[reader](path)
        elapsed = time.monotonic() - start
        # a guard against hangs and blow-ups, not a speed target (CI machines are shared)
        assert elapsed < 20.0, (name, elapsed)
        assert "Traceback" not in str(e.value)
        assert not os.path.exists(path + ".out.yaml")


def test_yaml_bomb_refused_within_a_second(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(BILLION_LAUGHS)
    for reader in (load_profile, load_document,
                   lambda q: patch_file(q, str(tmp_path / "o.yaml"), ["app=a.json"])):
        start = time.monotonic()
        with pytest.raises(InputError, match="alias"):
            reader(str(p))
        assert time.monotonic() - start < 10.0   # refused at the alias, never expanded


def test_huge_file_is_refused_without_reading_it_all(tmp_path, monkeypatch):
    import sandprint.fileio as fileio

    monkeypatch.setattr(fileio, "MAX_INPUT_BYTES", 1000)
    p = tmp_path / "huge.json"
    p.write_bytes(b"{" + b" " * 5000 + b"}")
    for reader in READERS.values():
        with pytest.raises(InputError, match="larger than"):
            reader(str(p))


# -- CLI level: exit 2, one line, no traceback, no output -----------------------------------

from helpers import run_sandprint  # noqa: E402


def cli_nasty_files(tmp_path) -> dict[str, str]:
    files = nasty_files(tmp_path)
    del files["bad.toml"]          # a landlock-only case; covered at library level
    return files


def cli_commands(bad: str, out: str, good_profile: str) -> dict[str, list[str]]:
    return {
        "generate seccomp": ["generate", "seccomp", bad, "-o", out],
        "generate landlock": ["generate", "landlock", "--no-host-check", bad, "-o", out],
        "exec seccomp": ["exec", "--seccomp", bad, "--", "/bin/touch", out],
        "exec landlock": ["exec", "--landlock", bad, "--", "/bin/touch", out],
        "verify": ["verify", "--seccomp", bad, "--report", out, "--", "/bin/true"],
        "merge": ["merge", bad, good_profile, "-o", out],
        "diff": ["diff", good_profile, bad],
        "k8s patch": ["k8s", "patch", bad, "--profile", "app=a.json", "-o", out],
        "k8s install": ["k8s", "install", bad, "--root", os.path.dirname(out), "--name",
                        os.path.basename(out)],
    }


@pytest.mark.parametrize("command", sorted(cli_commands("B", "O", "G")))
def test_cli_refuses_nasty_files_with_one_line(tmp_path, command):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(seed_oci()))
    files = cli_nasty_files(tmp_path)
    failures = []
    for name, bad in files.items():
        out = tmp_path / "out.file"
        args = cli_commands(bad, str(out), str(good))[command]
        start = time.monotonic()
        proc = run_sandprint(*args, timeout=30)
        elapsed = time.monotonic() - start
        lines = proc.stderr.strip().splitlines()
        if (proc.returncode != 2 or len(lines) != 1 or "Traceback" in proc.stderr
                or os.path.lexists(out) or elapsed > 10):
            failures.append(f"{name}: exit {proc.returncode}, {elapsed:.1f}s, "
                            f"out={os.path.lexists(out)}, stderr={proc.stderr[-300:]!r}")
        for leftover in tmp_path.glob(".sandprint-*"):
            failures.append(f"{name}: left {leftover}")
    assert not failures, "\n".join(failures)


# -- what is built from parsed input: generators and the Landlock ruleset builder ------------

@SETTINGS
@given(mutated(seed_recording()))
def test_generators_on_mutated_recordings(tmp_path, data):
    from sandprint.generators import landlock, seccomp

    try:
        rec = Recording.from_json(data, "r.json")
    except InputError:
        return
    must_be_result_or_input_error(
        lambda: seccomp.generate_file(rec, str(tmp_path / "p.json"), add_syscalls=["execve",
                                                                                   "exit_group"]))
    must_be_result_or_input_error(
        lambda: landlock.generate_file(rec, str(tmp_path / "l.json"),
                                       options=landlock.Options(host_check=False)))


@SETTINGS
@given(mutated(seed_landlock()))
def test_ruleset_builder_on_mutated_configs(data):
    from sandprint.landlock import Ruleset

    try:
        cfg = parse_config(data, "l.json", "json")
    except InputError:
        return
    must_be_result_or_input_error(Ruleset.from_config, cfg)
