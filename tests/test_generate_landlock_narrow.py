"""The Landlock generator never over-grants (issue 14), without a kernel: execute stays on the
programs executed, widening stops at private files, protected trees get no create/remove
rights unless asked, /dev/pts keeps a pty's rights only, /proc/self stays /proc/self when only
the first process read it, and temporary directories are said for what they are."""

from __future__ import annotations

import os

import pytest

from sandprint.errors import InputError
from sandprint.generators import landlock_paths as lp
from sandprint.generators.landlock import Options, generate_ruleset

from helpers import new_recording, rules_of, run_cli

NO_HOST = Options(host_check=False)


def _gen(rec, **opts):
    return generate_ruleset(rec, options=Options(**{"host_check": False, **opts}))


# -- 5. execute ------------------------------------------------------------------------------

def test_execute_only_on_the_programs_executed_never_a_directory():
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/usr/bin/sh", {"execute", "read_file"}, kind="file")
    t.add_file("/lib64/ld-linux-x86-64.so.2", {"execute", "read_file"}, kind="file")
    t.add_file("/usr/lib/x86_64-linux-gnu/libc.so.6", {"read_file"}, kind="file")
    app = "/srv/app/bin"
    for i in range(6):      # enough to generalise the directory for reading
        t.add_file(f"{app}/tool{i}", {"read_file"}, kind="file")
    t.add_file(f"{app}/tool0", {"execute"}, kind="file")
    result = _gen(rec, min_depth=1)
    rules = rules_of(result.config)
    assert rules["/usr"] == {"read_file"}
    assert {p for p, r in rules.items() if "execute" in r} == {
        "/usr/bin/sh", "/lib64/ld-linux-x86-64.so.2", f"{app}/tool0"}
    assert rules[app] == {"read_file"}


def test_execute_on_an_elf_interpreter_warns_what_it_leaves_open():
    """The red team ran `ld-linux-x86-64.so.2 /usr/bin/id` (and a program it wrote to /tmp)
    under a ruleset granting execute on /usr/bin/true and its interpreter only, and
    execve'd a memfd: Landlock (ABI 7) checks neither, so the notes say so."""
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/usr/bin/true", {"execute", "read_file"}, kind="file")
    t.add_file("/lib64/ld-linux-x86-64.so.2", {"execute", "read_file"}, kind="file")
    t.add_file("/usr/lib/x86_64-linux-gnu/libc.so.6", {"read_file"}, kind="file")
    result = _gen(rec, min_depth=1)
    warned = [n for n in result.notes if "ELF interpreter" in n]
    assert len(warned) == 1, result.notes
    assert "/lib64/ld-linux-x86-64.so.2" in warned[0] and "/usr" in warned[0]
    assert "memfd_create" in warned[0] and "cannot close" in warned[0]
    static = new_recording()
    static.target("main").add_file("/srv/app/static-tool", {"execute", "read_file"},
                                   kind="file")
    assert not [n for n in _gen(static, min_depth=1).notes if "ELF interpreter" in n]


# -- 2. widening and private files -----------------------------------------------------------

@pytest.mark.parametrize("name,secret", [
    ("secrets.py", False), ("secrets.cpython-311.pyc", False), ("id_map.py", False),
    ("cacert.pem", False), ("README.md", False),
    ("secrets.json", True), ("server.pem", True), ("tls.key", True), (".vault-token", True),
    (".my.cnf", True), ("terraform.tfstate", True), ("prod.tfvars", True), (".netrc", True),
    (".pgpass", True), ("kubeconfig", True), (".env", True), ("id_ed25519", True),
    ("credentials", True), (".git-credentials", True), ("service-account-key.json", True),
    # the red team's gaps: copies of secrets, and secrets of kinds the list did not name
    ("server.key.bak", True), ("server.pem~", True), (".my.cnf.bak", True),
    (".netrc.orig", True), (".pgpass~", True), (".vault-token.old", True),
    (".server.key.swp", True), ("shadow-", True), ("master.key.old", True),
    ("krb5.keytab", True), ("krb5cc_1000", True), ("secring.asc", True), ("client.ovpn", True),
    ("private.pk8", True), ("cert.pkcs12", True), ("key.jwk", True), (".bash_history", True),
    (".psql_history", True), ("passwords.txt", True), (".passwd-s3fs", True),
    ("api_key.txt", True), ("aws_credentials", True), ("wallet.dat", True),
    ("settings.py.bak", False), ("notes.txt~", False), ("README.md.orig", False),
    ("secrets.py.bak", False), ("cacert.pem.old", False), ("history.txt", False),
    ("credentials.py", False), ("password_validation.py", False),
])
def test_secret_names(name, secret):
    assert lp.looks_secret(name) is secret


def _app_dir(tmp_path, extra: dict[str, int]):
    app = tmp_path / "deploy" / "app"
    app.mkdir(parents=True)
    used = []
    for i in range(5):
        p = app / f"f{i}.txt"
        p.write_text("x")
        p.chmod(0o644)
        used.append(str(p))
    for name, mode in extra.items():
        p = app / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("secret")
        p.chmod(mode)
    rec = new_recording()
    for p in used:
        rec.target("main").add_file(p, {"read_file"}, kind="file")
    return app, rec


@pytest.mark.parametrize("extra", [{"tls/server.pem": 0o600}, {".vault-token": 0o644},
                                   {".my.cnf": 0o644}, {"terraform.tfstate": 0o644},
                                   {"notes.txt": 0o640}, {"tls/server.key.bak": 0o644},
                                   {"krb5.keytab": 0o644}, {".my.cnf~": 0o644}])
def test_widening_refused_over_private_files(tmp_path, extra):
    app, rec = _app_dir(tmp_path, extra)
    result = generate_ruleset(rec, options=Options(min_depth=1))
    rules = rules_of(result.config)
    assert str(app) not in rules
    assert sum(1 for p in rules if p.startswith(str(app) + "/")) == 5
    assert any("never read" in n and str(app) in n for n in result.notes), result.notes


def test_widening_allowed_over_public_files_and_packaged_secret_names(tmp_path, monkeypatch):
    app, rec = _app_dir(tmp_path, {"secrets.py": 0o644, "bundle.pem": 0o644})
    monkeypatch.setattr(lp, "package_files", lambda info=lp.DPKG_INFO: frozenset(
        {str(app / "bundle.pem")}))
    rules = rules_of(generate_ruleset(rec, options=Options(min_depth=1)).config)
    assert rules[str(app)] == {"read_file"}


def test_a_widened_directory_warns_about_files_put_there_later(tmp_path):
    """The red team dropped a key into a directory after generate had checked and widened it:
    readable, as the rule names the directory. Landlock cannot help it; the note says so."""
    app, rec = _app_dir(tmp_path, {})
    result = generate_ruleset(rec, options=Options(min_depth=1))
    assert str(app) in rules_of(result.config)
    note = next(n for n in result.notes if n.startswith("reads generalised"))
    assert str(app) in note and "later" in note and "--read-threshold 0" in note


def test_a_private_file_in_usr_local_is_warned_about(tmp_path, monkeypatch):
    """The red team put a 0600 key in /usr/local/etc and read it through the rule on /usr
    (a system tree, never scanned): the notes now name such a file."""
    local = tmp_path / "local"
    (local / "etc").mkdir(parents=True)
    key = local / "etc" / "site.key"
    key.write_text("key")
    key.chmod(0o600)
    rec = new_recording()
    rec.target("main").add_file("/usr/lib/x86_64-linux-gnu/libc.so.6", {"read_file"},
                                kind="file")
    monkeypatch.setattr(lp, "ADMIN_TREE", str(local))
    result = generate_ruleset(rec, options=Options(min_depth=1))
    assert any(str(key) in n and "0600" in n for n in result.notes), result.notes
    key.chmod(0o644)
    assert not [n for n in generate_ruleset(rec, options=Options(min_depth=1)).notes
                if str(key) in n]


def test_user_secret_patterns_extend_the_list(tmp_path):
    app, rec = _app_dir(tmp_path, {"house.conf": 0o644})
    assert str(app) in rules_of(generate_ruleset(rec, options=Options(min_depth=1)).config)
    opts = Options(min_depth=1, secret_patterns=lp.SECRET_PATTERNS + ("house.*",))
    assert str(app) not in rules_of(generate_ruleset(rec, options=opts).config)


def test_the_package_database_is_read_once(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    (info / "pkg.list").write_text("/usr/share/pkg\n/usr/share/pkg/key.pem\n")
    first = lp.package_files(str(info))
    assert "/usr/share/pkg/key.pem" in first
    assert lp.package_files(str(info)) is first


# -- 3. protected trees ----------------------------------------------------------------------

def _sed_i(tree: str):
    rec = new_recording()
    t = rec.target("main")
    t.add_file(tree, {"make_reg", "remove_file"}, kind="dir")
    t.add_file(f"{tree}/app.conf", {"read_file", "write_file"}, kind="file")
    return rec


def test_a_rename_into_a_protected_tree_stops_the_generator():
    with pytest.raises(InputError) as e:
        _gen(_sed_i("/etc"))
    msg = str(e.value)
    assert "/etc/app.conf" in msg and "--allow-dir-write /etc" in msg
    assert "somewhere else" in msg and "\n" not in msg
    with pytest.raises(InputError):
        _gen(_sed_i("/srv/conf"), protected_trees=lp.DEFAULT_PROTECTED_TREES + ("/srv/conf",))


def test_allow_dir_write_grants_it_and_says_so():
    result = _gen(_sed_i("/etc"), allow_dir_write=("/etc",))
    rules = rules_of(result.config)
    assert rules["/etc"] == {"make_reg", "remove_file"}
    assert rules["/etc/app.conf"] == {"read_file", "write_file"}
    assert any("--allow-dir-write /etc" in n for n in result.notes)


def test_the_cli_stops_with_one_line_and_exit_2(tmp_path):
    rec = tmp_path / "rec.json"
    _sed_i("/etc").save(str(rec))
    out = tmp_path / "r.json"
    p = run_cli("generate", "landlock", str(rec), "-o", str(out), "--no-host-check")
    assert p.returncode == 2
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "--allow-dir-write /etc" in lines[0], p.stderr
    assert not out.exists()


# -- 4. devices ------------------------------------------------------------------------------

def test_a_pty_gets_terminal_rights_on_dev_pts_and_nothing_more():
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/dev/ptmx", {"read_file", "write_file", "ioctl_dev"}, kind="char")
    t.add_file("/dev/pts/7", {"ioctl_dev", "truncate"}, kind="char")
    t.add_file("/dev/null", {"write_file"}, kind="char")
    result = _gen(rec)
    rules = rules_of(result.config)
    assert rules["/dev/pts"] == {"read_file", "write_file", "ioctl_dev"}
    assert rules["/dev/ptmx"] == {"read_file", "write_file", "ioctl_dev"}
    assert rules["/dev/null"] == {"write_file"}
    assert "/dev" not in rules
    note = next(n for n in result.notes if "/dev/pts" in n)
    assert "devpts" in note and "truncate" in note


# -- 6. /proc --------------------------------------------------------------------------------

@pytest.mark.parametrize("by_children,expect_proc", [(0, False), (2, True), (None, True)])
def test_proc_self_stays_unless_a_child_read_its_own(by_children, expect_proc):
    rec = new_recording()
    t = rec.target("main")
    t.processes = 3
    t.add_file("/proc/self/status", {"read_file"}, kind="file")
    if by_children is not None:
        t.info["fileModel"] = {"procSelfByChildren": by_children}
    result = _gen(rec)
    rules = rules_of(result.config)
    if expect_proc:         # the children's own /proc/PID: only a rule on /proc reaches it
        assert rules["/proc"] == {"read_file"}
    else:
        assert rules["/proc/self"] == {"read_file"} and "/proc" not in rules
    assert any("/proc" in n for n in result.notes)


# -- 1. temporary files ----------------------------------------------------------------------

def _tempfile():
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/tmp", {"make_reg", "remove_file"}, kind="dir")
    t.add_file("/tmp/tmpab12cd", {"read_file", "write_file"}, kind="file")
    return rec


def test_a_rule_on_tmp_is_said_to_be_for_a_private_tmp():
    result = _gen(_tempfile())
    assert rules_of(result.config)["/tmp"] == {"make_reg", "remove_file", "read_file",
                                               "write_file"}
    note = next(n for n in result.notes if n.startswith("temporary files"))
    assert "PrivateTmp=yes" in note and "--app-tmpdir" in note


def test_app_tmpdir_moves_the_temporary_files_to_the_applications_directory():
    result = _gen(_tempfile(), app_tmpdir="/var/lib/myapp/tmp")
    rules = rules_of(result.config)
    assert "/tmp" not in rules
    assert rules["/var/lib/myapp/tmp"] == {"make_reg", "remove_file", "read_file",
                                           "write_file"}
    assert any("TMPDIR=/var/lib/myapp/tmp" in n for n in result.notes)


def test_systemd_drop_in_says_private_tmp():
    from sandprint.seccomp.formats import to_systemd

    oci = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
    assert "\nPrivateTmp=yes\n" in to_systemd(oci) + "\n"


def test_private_mounts_plan(tmp_path, monkeypatch):
    from sandprint import private_tmp as pt

    monkeypatch.setattr(pt, "TEMP_DIRS", (str(tmp_path),))
    (tmp_path / "job" / "in").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    paths = [str(tmp_path / "job" / "in"), str(tmp_path / "job" / "out" / "new.txt")]
    dirs, pts = pt.needs_private(paths, env={})
    assert dirs == [str(tmp_path)] and not pts
    # no rule on the temp dir itself: the workload's whole top-level tree is bound through
    assert pt._binds(str(tmp_path), paths) == [str(tmp_path / "job")]
    # with one, only what the ruleset names (the nearest existing ancestor of what is missing)
    narrow = [str(tmp_path / "job" / "in"), str(tmp_path / "job" / "in" / "new.txt"),
              str(tmp_path)]
    assert pt._binds(str(tmp_path), narrow) == [str(tmp_path / "job" / "in")]
    assert pt.needs_private(["/dev/pts"], env={})[1]
    assert pt.needs_private(["/usr"], env={}) == ([], False)


def test_a_rule_on_dev_shm_is_for_a_private_one():
    """A shm_open segment of a random name: the rule goes on /dev/shm, exec and verify mount
    a private tmpfs there (the red team's shm-read-other read another program's segment
    through a ruleset generated before they did), and the note says so."""
    from sandprint import private_tmp as pt

    rec = new_recording()
    t = rec.target("main")
    t.add_file("/dev/shm", {"make_reg", "remove_file"}, kind="dir")
    t.add_file("/dev/shm/psm_1a2b3c4d", {"read_file", "write_file", "truncate"}, kind="file")
    result = _gen(rec)
    assert "make_reg" in rules_of(result.config)["/dev/shm"]
    note = next(n for n in result.notes if "on /dev/shm" in n)
    assert "fresh tmpfs" in note and "TemporaryFileSystem=/dev/shm" in note
    if os.path.isdir("/dev/shm"):
        assert pt.needs_private(["/dev/shm"], env={})[0] == ["/dev/shm"]


def test_init_proc_entries_stay_exact():
    """pam_limits (runuser, su) reads /proc/1/limits: pid 1 is init on every run."""
    rec = new_recording()
    rec.target("main").add_file("/proc/1/limits", {"read_file"}, kind="file")
    rules = rules_of(_gen(rec).config)
    assert rules == {"/proc/1/limits": {"read_file"}}


def test_a_program_the_workload_built_and_ran_gets_execute_on_its_directory_with_a_note():
    rec = new_recording()
    t = rec.target("main")
    t.add_file("/srv/build/out", {"make_reg", "remove_file"}, kind="dir")
    t.add_file("/srv/build/out/tool", {"write_file", "execute", "read_file"}, kind="file")
    result = _gen(rec)
    assert rules_of(result.config)["/srv/build/out"] >= {"execute", "make_reg"}
    assert any("created and ran /srv/build/out/tool" in n for n in result.notes)
