"""The landlock library against the real kernel.

restrict_self is irreversible, so every sandbox is built in a child Python process; the child
prints a JSON result (status and the outcome of each probe) that the test checks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from helpers import REPO, need, sandprint_env
from sandprint.errors import InputError
from sandprint.landlock import config as C
from sandprint.landlock import abi as A

pytestmark = pytest.mark.kernel

PRELUDE = textwrap.dedent("""
    import errno, json, os, socket, sys, threading
    from sandprint import landlock
    from sandprint.landlock import abi as A
    from sandprint.errors import SandprintError
    OUT = {}
    # what the interpreter itself needs after the sandbox is on (nothing new is imported)
    SYSTEM = [p for p in {sys.prefix, sys.base_prefix, "/usr", "/lib", "/lib64", %(repo)r}
              if os.path.exists(p)]

    def probe(fn):
        try:
            fn()
            return "ok"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))

    def read(p):
        return probe(lambda: open(p).read())

    def write(p):
        def w():
            with open(p, "a") as f:
                f.write("x")
        return probe(w)

    def connect(port):
        def c():
            s = socket.socket()
            try:
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
            finally:
                s.close()
        return probe(c)

    def status(st):
        d = st.to_json()
        d["str"] = str(st)
        return d
""") % {"repo": str(REPO)}


def run_child(body: str, **fmt) -> dict:
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(OUT))\n"
    proc = subprocess.run([sys.executable, "-c", code], env=sandprint_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def landlock_ready():
    need(A.kernel_abi() >= 1, "Landlock not available in this kernel")


@pytest.fixture
def tree(tmp_path):
    """allowed/ (readable), work/ (writable), outside/ (neither), each with a file."""
    for d in ("allowed", "work", "outside"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "f.txt").write_text(d)
    return tmp_path


def test_reads_allowed_everything_else_denied(landlock_ready, tree):
    out = run_child(f"""
        st = (landlock.Ruleset().allow_read_exec(*SYSTEM).allow_read({str(tree / 'allowed')!r})
              .allow_write({str(tree / 'work')!r}).restrict_self())
        OUT["status"] = status(st)
        OUT["read_allowed"] = read({str(tree / 'allowed/f.txt')!r})
        OUT["write_allowed"] = write({str(tree / 'allowed/f.txt')!r})
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
        OUT["write_outside"] = write({str(tree / 'outside/new.txt')!r})
        OUT["shadow"] = read("/etc/shadow")
        OUT["create_work"] = write({str(tree / 'work/new.txt')!r})
        OUT["exec_work"] = probe(lambda: os.execv({str(tree / 'work/f.txt')!r}, ["x"]))
        OUT["nnp"] = A.get_no_new_privs()
    """)
    assert out["status"]["state"] == "FULLY_ENFORCED", out["status"]["str"]
    assert out["status"]["abi"] == A.kernel_abi()
    assert out["status"]["dropped"] == []
    assert out["read_allowed"] == "ok"
    assert out["write_allowed"] == "EACCES"
    assert out["read_outside"] == "EACCES"
    assert out["write_outside"] == "EACCES"
    assert out["shadow"] == "EACCES"
    assert out["create_work"] == "ok"
    assert out["exec_work"] == "EACCES"
    assert out["nnp"] is True
    assert "\n" not in out["status"]["str"] and "fully enforced" in out["status"]["str"]


def test_tcp_connect_only_to_allowed_port(landlock_ready):
    need(A.kernel_abi() >= 4, "TCP rules need Landlock ABI 4")
    servers = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        servers.append(s)
    good, bad = (s.getsockname()[1] for s in servers)
    try:
        out = run_child(f"""
            st = landlock.Ruleset().allow_read_exec(*SYSTEM).allow_connect_tcp({good}).restrict_self()
            OUT["status"] = status(st)
            OUT["good"] = connect({good})
            OUT["bad"] = connect({bad})
            def bind():
                s = socket.socket(); s.bind(("127.0.0.1", 0)); s.close()
            OUT["bind"] = probe(bind)
        """)
    finally:
        for s in servers:
            s.close()
    assert out["status"]["state"] == "FULLY_ENFORCED"
    assert out["good"] == "ok"
    assert out["bad"] == "EACCES"
    assert out["bind"] == "EACCES"       # deny by default: binding was never allowed


CONFIG_ABI6_ALL = {
    "abi": 6,
    "ruleset": [{"handledAccessFs": ["abi.all"], "handledAccessNet": ["abi.all"],
                 "scoped": ["abi.all"]}],
    "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}],
}


def _config_with(tree, extra_paths=()):
    cfg = dict(CONFIG_ABI6_ALL)
    system = [p for p in {sys.prefix, sys.base_prefix, "/usr", "/lib", "/lib64", str(REPO)}
              if os.path.exists(p)]
    cfg["pathBeneath"] = [{"allowedAccess": ["abi.read_execute"], "parent": system},
                          {"allowedAccess": ["read_file", "read_dir"],
                           "parent": [str(tree / "allowed")]},
                          *extra_paths]
    return cfg


def test_best_effort_on_lower_abi_reports_exactly_what_was_dropped(landlock_ready, tree):
    cfg_path = tree / "rules.json"
    C.save_config(_config_with(tree), str(cfg_path))
    out = run_child(f"""
        st = landlock.Ruleset.from_file({str(cfg_path)!r}, abi=3).restrict_self()
        OUT["status"] = status(st)
        OUT["read_allowed"] = read({str(tree / 'allowed/f.txt')!r})
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
    """)
    st = out["status"]
    assert st["state"] == "PARTIALLY_ENFORCED"
    assert st["abi"] == 3
    weakening = {(d["kind"], tuple(d["names"])) for d in st["dropped"] if d["weakens"]}
    assert weakening == {("fs", ("ioctl_dev",)), ("net", ("bind_tcp", "connect_tcp")),
                         ("scope", ("abstract_unix_socket", "signal"))}
    reasons = {d["kind"]: d["reason"] for d in st["dropped"]}
    assert "needs ABI 5" in reasons["fs"] and "needs ABI 4" in reasons["net"]
    assert "needs ABI 6" in reasons["scope"]
    ports = [d for d in st["dropped"] if d["kind"] == "port-rule"]
    assert ports == [{"kind": "port-rule", "names": ["connect_tcp"], "target": "443",
                      "reason": "connect_tcp needs ABI 4 (kernel has ABI 3)", "weakens": False}]
    assert "ioctl_dev" not in st["handledFs"] and "truncate" in st["handledFs"]
    assert st["handledNet"] == [] and st["scoped"] == []
    assert "partially enforced" in st["str"] and "ioctl_dev" in st["str"]
    # what is left is really in force
    assert out["read_allowed"] == "ok"
    assert out["read_outside"] == "EACCES"


def test_hard_refuses_and_applies_nothing(landlock_ready, tree):
    cfg_path = tree / "rules.toml"
    C.save_config(_config_with(tree), str(cfg_path))
    out = run_child(f"""
        try:
            landlock.Ruleset.from_file({str(cfg_path)!r}, abi=3).restrict_self(compat="hard")
            OUT["raised"] = None
        except landlock.CompatibilityError as e:
            OUT["raised"] = str(e)
            OUT["is_sandprint_error"] = isinstance(e, SandprintError)
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
        OUT["nnp"] = A.get_no_new_privs()
    """)
    assert out["raised"] and "ioctl_dev" in out["raised"] and "connect_tcp" in out["raised"]
    assert out["is_sandprint_error"]
    assert out["read_outside"] == "ok"
    assert out["nnp"] is False


def test_hard_on_full_kernel_enforces(landlock_ready, tree):
    need(A.kernel_abi() >= 6, "needs ABI 6 for the config to be fully supported")
    cfg_path = tree / "rules.toml"
    C.save_config(_config_with(tree), str(cfg_path))
    out = run_child(f"""
        OUT["status"] = status(landlock.Ruleset.from_file({str(cfg_path)!r}).restrict_self(compat="hard"))
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
    """)
    assert out["status"]["state"] == "FULLY_ENFORCED"
    assert out["read_outside"] == "EACCES"


def test_refer_grant_on_abi1_is_never_half_applied(landlock_ready, tree):
    cfg = {"pathBeneath": [{"allowedAccess": ["read_file", "read_dir", "refer", "make_reg",
                                              "remove_file"], "parent": [str(tree / "work")]}]}
    cfg_path = tree / "refer.json"
    C.save_config(cfg, str(cfg_path))
    out = run_child(f"""
        for compat in ("soft", "best-effort"):
            st = landlock.Ruleset.from_file({str(cfg_path)!r}, abi=1).restrict_self(compat=compat)
            OUT[compat] = status(st)
        try:
            landlock.Ruleset.from_file({str(cfg_path)!r}, abi=1).restrict_self(compat="hard")
            OUT["hard"] = None
        except landlock.CompatibilityError as e:
            OUT["hard"] = str(e)
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
    """)
    for compat in ("soft", "best-effort"):
        assert out[compat]["state"] == "NOT_ENFORCED"
        assert any("refer" in d["names"] and "ABI 1" in d["reason"] for d in out[compat]["dropped"])
    assert "refer" in out["hard"]
    assert out["read_outside"] == "ok"       # nothing was applied


def test_refer_only_handled_on_abi1_is_fully_enforced(landlock_ready, tree):
    out = run_child(f"""
        st = (landlock.Ruleset(abi=1).handle_fs("refer").allow_read_exec(*SYSTEM)
              .allow_read({str(tree / 'allowed')!r}).restrict_self(compat="hard"))
        OUT["status"] = status(st)
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
    """)
    assert out["status"]["state"] == "FULLY_ENFORCED"
    assert any("refer" in n for n in out["status"]["notes"])
    assert out["read_outside"] == "EACCES"


def test_soft_refuses_partial_sandbox_without_error(landlock_ready, tree):
    out = run_child(f"""
        st = landlock.Ruleset(abi=3).allow_read_exec(*SYSTEM).allow_connect_tcp(443).restrict_self(compat="soft")
        OUT["status"] = status(st)
        OUT["read_outside"] = read({str(tree / 'outside/f.txt')!r})
    """)
    assert out["status"]["state"] == "NOT_ENFORCED"
    assert [d["names"] for d in out["status"]["dropped"] if d["weakens"]] == [["connect_tcp"]]
    assert out["read_outside"] == "ok"


def test_missing_paths_error_unless_marked(landlock_ready, tree):
    missing = str(tree / "not-there")
    cfg = _config_with(tree, [{"allowedAccess": ["abi.read_write"], "parent": [missing]}])
    unmarked, marked = tree / "unmarked.json", tree / "marked.json"
    C.save_config(cfg, str(unmarked))
    C.save_config(C.mark_may_not_exist(cfg, [missing]), str(marked))
    out = run_child(f"""
        try:
            landlock.Ruleset.from_file({str(unmarked)!r}).restrict_self()
            OUT["unmarked"] = None
        except Exception as e:
            OUT["unmarked"] = [type(e).__name__, str(e), getattr(e, "exit_code", None)]
        OUT["read_before"] = read({str(tree / 'outside/f.txt')!r})
        st = landlock.Ruleset.from_file({str(marked)!r}).restrict_self()
        OUT["marked"] = status(st)
        OUT["read_after"] = read({str(tree / 'outside/f.txt')!r})
    """)
    name, msg, code = out["unmarked"]
    assert name == "InputError" and code == 2
    assert missing in msg and str(unmarked) in msg and "may-not-exist" in msg
    assert out["read_before"] == "ok"
    assert out["marked"]["skippedPaths"] == [missing]
    assert out["marked"]["state"] in ("FULLY_ENFORCED", "PARTIALLY_ENFORCED")
    assert out["read_after"] == "EACCES"


def test_rights_fit_the_file_type(landlock_ready, tree):
    f = str(tree / "allowed/f.txt")
    (tree / "allowed/other").write_text("other")
    out = run_child(f"""
        try:
            landlock.Ruleset().allow({f!r}, ["read_file", "read_dir"]).restrict_self()
            OUT["named"] = None
        except Exception as e:
            OUT["named"] = [type(e).__name__, str(e)]
        # groups and conveniences leave directory-only rights out for a file
        st = (landlock.Ruleset().allow_read_exec(*SYSTEM).allow({f!r}, ["abi.read_execute"])
              .allow_write({f!r}).restrict_self())
        OUT["status"] = status(st)
        OUT["read_file"] = read({f!r})
        OUT["write_file"] = write({f!r})
        OUT["sibling"] = read({str(tree / 'allowed/other')!r})
    """)
    assert out["named"][0] == "InputError" and "read_dir" in out["named"][1]
    assert out["status"]["state"] == "FULLY_ENFORCED"
    assert out["read_file"] == "ok" and out["write_file"] == "ok"
    assert out["sibling"] == "EACCES"


def test_other_threads_are_reported_or_refused(landlock_ready, tree):
    out = run_child("""
        ev = threading.Event()
        t = threading.Thread(target=ev.wait, daemon=True)
        t.start()
        try:
            landlock.Ruleset(abi=7).allow_read_exec(*SYSTEM).restrict_self(compat="hard")
            OUT["hard"] = None
        except landlock.CompatibilityError as e:
            OUT["hard"] = str(e)
        st = landlock.Ruleset(abi=7).allow_read_exec(*SYSTEM).restrict_self()
        OUT["status"] = status(st)
        ev.set()
    """)
    # abi=7 pretends the kernel lacks TSYNC (ABI 8), whatever it really has
    assert "thread" in out["hard"]
    assert out["status"]["state"] == "PARTIALLY_ENFORCED"
    assert [d["kind"] for d in out["status"]["dropped"] if d["weakens"]] == ["threads"]


def test_enforce_call_then_exec(landlock_ready, tree):
    """The call sandprint exec makes: from_file(...).restrict_self(compat=...), then execve."""
    cfg = _config_with(tree, [{"allowedAccess": ["abi.read_execute"],
                               "parent": ["/bin", "/etc/ld.so.cache"]}])
    cfg_path = tree / "exec.toml"
    C.save_config(cfg, str(cfg_path))
    code = (f"from sandprint import landlock; import os\n"
            f"landlock.Ruleset.from_file({str(cfg_path)!r}).restrict_self(compat='best-effort')\n"
            f"os.execv('/bin/cat', ['cat', {str(tree / 'allowed/f.txt')!r}, "
            f"{str(tree / 'outside/f.txt')!r}])\n")
    proc = subprocess.run([sys.executable, "-c", code], env=sandprint_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout == "allowed"
    assert proc.returncode != 0 and "Permission denied" in proc.stderr


def test_bad_builder_input_is_an_input_error():
    from sandprint import landlock

    with pytest.raises(InputError, match="port"):
        landlock.Ruleset().allow_connect_tcp(70000)
    with pytest.raises(InputError, match="unknown filesystem right"):
        landlock.Ruleset().allow("/usr", ["read"])
    with pytest.raises(InputError, match="compatibility"):
        landlock.Ruleset().restrict_self(compat="maybe")


def test_structure_sizes_match_the_uapi():
    import ctypes

    assert ctypes.sizeof(A.PathBeneathAttr) == 12
    assert ctypes.sizeof(A.NetPortAttr) == 16
    assert [A.ruleset_attr_size(a) for a in (1, 3, 4, 5, 6, 7)] == [8, 8, 16, 16, 24, 24]
    assert A.fs_mask(1) == (1 << 13) - 1 and A.fs_mask(2) == (1 << 14) - 1
    assert A.fs_mask(5) == (1 << 16) - 1 and A.net_mask(3) == 0 and A.net_mask(4) == 3
    assert A.scope_mask(6) == 3


def test_abi_query_matches_the_kernel(landlock_ready):
    version, text = A.query_abi()
    assert version == A.kernel_abi() >= 1
    assert str(version) in text
