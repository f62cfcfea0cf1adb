"""`sandprint generate landlock`: formats, options, and bad input (exit 2, no output file)."""

from __future__ import annotations

import json
import tomllib

import jsonschema
import pytest

from helpers import (landlock_schema, output_dir_recording, python_tempfile_recording, rules_of,
                     run_cli, server_recording)

SCHEMA = landlock_schema()


@pytest.fixture
def rec_file(tmp_path):
    path = tmp_path / "rec.json"
    python_tempfile_recording().save(str(path))
    return path


def test_cli_writes_json_and_a_summary(tmp_path, rec_file):
    out = tmp_path / "ruleset.json"
    proc = run_cli("generate", "landlock", str(rec_file), "-o", str(out),
                   "--no-host-check", check=True)
    cfg = json.loads(out.read_text())
    jsonschema.validate(cfg, SCHEMA)
    assert "/usr" in rules_of(cfg)
    assert "landlock: wrote JSON ruleset" in proc.stderr
    assert "note: not granted: read_dir on /" in proc.stderr
    assert proc.stdout == ""


def test_cli_format_from_extension_and_flag(tmp_path, rec_file):
    toml_out = tmp_path / "ruleset.toml"
    run_cli("generate", "landlock", str(rec_file), "-o", str(toml_out),
            "--no-host-check", check=True)
    assert "path_beneath" in tomllib.loads(toml_out.read_text())
    forced = tmp_path / "ruleset.conf"
    run_cli("generate", "landlock", str(rec_file), "-o", str(forced), "--format", "toml",
            "--no-host-check", check=True)
    assert tomllib.loads(forced.read_text()) == tomllib.loads(toml_out.read_text())


def test_cli_merges_recordings_and_takes_thresholds(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    output_dir_recording().save(str(a))
    server_recording().save(str(b))
    out = tmp_path / "r.json"
    run_cli("generate", "landlock", str(a), str(b), "-o", str(out), "--no-host-check",
            "--read-threshold", "0", "--abi", "5", check=True)
    cfg = json.loads(out.read_text())
    rules = rules_of(cfg)
    assert cfg["abi"] == 5
    assert "/home/alice/project/data/part0.csv" in rules       # threshold 0: no generalising
    assert {"allowedAccess": ["bind_tcp"], "port": [8080]} in cfg["netPort"]
    out2 = tmp_path / "r2.json"
    run_cli("generate", "landlock", str(a), "-o", str(out2), "--no-host-check",
            "--system-tree", "/home/alice/.config", check=True)
    assert "/home/alice/.config" in rules_of(json.loads(out2.read_text()))


def _bad(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize("name,content,message", [
    ("missing.json", None, "does not exist"),
    ("empty.json", "", "is empty"),
    ("garbage.json", "{not json", "invalid JSON"),
    ("wrongkind.json", json.dumps({"apiVersion": "sandprint/v1", "kind": "SeccompProfile",
                                   "metadata": {"arch": "SCMP_ARCH_X86_64"}, "targets": []}),
     "field 'kind'"),
    ("notargets.json", json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                                   "metadata": {"arch": "SCMP_ARCH_X86_64"}, "targets": []}),
     "no targets"),
    ("nofiles.json", json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                                 "metadata": {"arch": "SCMP_ARCH_X86_64"},
                                 "targets": [{"name": "main", "syscalls": {"read": 1}}]}),
     "no file access"),
    ("lossy.json", json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                               "metadata": {"arch": "SCMP_ARCH_X86_64", "lostEvents": 3},
                               "targets": [{"name": "main", "files": [
                                   {"path": "/usr/bin/true", "access": ["execute"]}]}]}),
     "lost 3 events"),
    ("badright.json", json.dumps({"apiVersion": "sandprint/v1", "kind": "Recording",
                                  "metadata": {"arch": "SCMP_ARCH_X86_64"},
                                  "targets": [{"name": "main", "files": [
                                      {"path": "/usr/bin/true", "access": ["fly"]}]}]}),
     "unknown right 'fly'"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, name, content, message):
    rec = _bad(tmp_path, name, content)
    out = tmp_path / "out" / "ruleset.json"
    out.parent.mkdir()
    proc = run_cli("generate", "landlock", str(rec), "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert str(rec) in proc.stderr
    assert proc.stderr.count("\n") == 1          # one line, no traceback
    assert list(out.parent.iterdir()) == []


def test_cli_bad_options_exit_2(tmp_path, rec_file):
    out = tmp_path / "ruleset.json"
    for args in (["--format", "yaml"], ["--read-threshold", "1"], ["--abi", "0"],
                 ["--target", "nope"]):
        proc = run_cli("generate", "landlock", str(rec_file), "-o", str(out), *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert not out.exists()
    proc = run_cli("generate", "landlock", str(rec_file), "-o",
                   str(tmp_path / "no" / "dir" / "r.json"))
    assert proc.returncode == 2 and "cannot write output" in proc.stderr
