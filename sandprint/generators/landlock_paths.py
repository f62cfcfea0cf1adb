"""Where a Landlock rule may go: path normalisation, system trees, protected trees, secrets.

The generator asks three questions of a path, answered here:

* :func:`normalise` — the path a rule should name: ``/proc/<pid>/...`` of the target becomes
  ``/proc/self/...`` (a pid is meaningless on the next run) and ``/dev/pts/<n>`` becomes
  ``/dev/pts`` (terminal numbers change between runs).
* :func:`system_tree_of` — the system tree (``/usr``, ``/lib*`` ...) a path lies in, if any:
  trees that hold programs and libraries and no secrets, granted read(-execute) as a whole.
* :func:`may_generalise_to` — whether a directory may be granted as a whole: never ``/``,
  never a protected tree (``/etc``, ``/root``, ``/home``, every home directory, ``/var`` ...)
  nor any ancestor of one, nothing inside the kernel's pseudo file systems, nothing shallower
  than the minimum depth, and (when the host may be looked at) no directory that holds a file
  the workload never read that is private: not world-readable, or named like a secret
  (:data:`SECRET_PATTERNS`, extensible) unless the package manager installed it.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import stat
from typing import Iterable

# Trees of programs, libraries and shared data: no secrets, read-only for workloads.
DEFAULT_SYSTEM_TREES = (
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/alternatives", "/etc/ssl/certs", "/etc/ca-certificates", "/etc/fonts",
)

# Never granted as a whole, nor any directory above them; a directory beneath them may be
# granted when the evidence and the thresholds say so.
DEFAULT_PROTECTED_TREES = (
    "/etc", "/root", "/home", "/var", "/var/lib", "/var/log", "/var/spool", "/var/mail",
    "/tmp", "/var/tmp", "/run", "/srv", "/opt", "/mnt", "/media", "/boot", "/snap",
    "/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d",
)

# The administrator's part of the /usr system tree (not the package manager's): checked for
# files that are not world-readable when /usr is granted (the rule covers it).
ADMIN_TREE = "/usr/local"

# Kernel pseudo file systems: exact paths only, except the handled special cases.
PSEUDO_FS = ("/proc", "/sys", "/dev")

# Directories where programs create temporary files: creating there becomes a rule on the
# directory even though the directory is protected against read generalisation.
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")

# File names that hold secrets (shell globs, matched against a file's or directory's name): a
# directory holding one the workload never read is not granted as a whole. Extend the list with
# ``generate landlock --secret-pattern GLOB`` (Options.secret_patterns).
SECRET_PATTERNS = (
    # keys and certificates
    "*.pem", "*.key", "*.crt", "*.cer", "*.der", "*.p8", "*.p12", "*.pfx", "*.jks",
    "*.keystore", "*.ppk", "*.gpg", "*.kdbx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "id_xmss*", "*_rsa", "*_ed25519", ".ssh", ".gnupg", "private",
    # tokens and passwords
    ".netrc", "_netrc", ".pgpass", ".my.cnf", ".mylogin.cnf", ".git-credentials", ".npmrc",
    ".yarnrc", ".yarnrc.yml", ".pypirc", ".vault-token", ".htpasswd", "htpasswd", "token",
    "*.token", ".token", "*.secret", "master.key", "shadow", "gshadow",
    ".env", ".env.*", "*.env", "secrets", "secrets.*", "credentials", "credentials.*",
    # infrastructure state, kubeconfigs, cloud and registry credentials
    "*.tfstate", "*.tfstate.*", "*.tfvars", ".terraformrc", "terraform.rc", "kubeconfig",
    "*.kubeconfig", ".kube", ".aws", ".azure", "gcloud", "application_default_credentials.json",
    "service-account*.json", ".boto", ".s3cfg", ".docker", ".dockercfg", "auth.json",
    # found missing by the red team (each a real place such secrets are kept): Kerberos
    # keytabs and ticket caches, ASCII-armoured and PKCS#8/#12/JWK keys, VPN profiles (their
    # keys inline), password and API-key files, shell and database histories (passwords typed
    # on a command line), wallets, s3fs and Kubernetes registry credentials
    "*.keytab", "keytab", "krb5cc*", "*.asc", "*.pk8", "*.pkcs12", "*.jwk", "*.ovpn",
    "*password*", ".passwd*", "*api_key*", "*apikey*", "*api-key*", "*credentials*",
    "*_history", "wallet.dat", ".dockerconfigjson",
)
# Suffixes editors, package managers and people give a copy of a file (``id_rsa.bak``,
# ``.my.cnf~``, ``server.key.orig``, vim's ``.server.key.swp``, dpkg's ``shadow-``): a name is
# checked with them taken off as well, so the copy of a secret is one too.
BACKUP_SUFFIXES = ("~", "-", ".bak", ".backup", ".old", ".orig", ".save", ".sav", ".swp",
                   ".swo", ".tmp", ".copy", ".dpkg-old", ".dpkg-dist", ".dpkg-new", ".rpmsave",
                   ".rpmnew", ".ucf-old", ".ucf-dist")
# Names matched by a pattern above ending in ``*`` (``NAME.*``, ``*password*``) that are
# program code, not data (Python's own secrets.py, botocore's credentials.py are no secrets):
# never taken for a secret by such a pattern.
CODE_SUFFIXES = frozenset({
    ".py", ".pyc", ".pyi", ".pyo", ".so", ".js", ".mjs", ".cjs", ".ts", ".rb", ".go", ".rs",
    ".c", ".h", ".cc", ".cpp", ".hpp", ".java", ".class", ".pl", ".pm", ".php", ".lua", ".md",
    ".rst", ".html",
})
# Certificate bundles every system ships (public by design)
PUBLIC_NAMES = frozenset({"cacert.pem", "ca-certificates.crt", "ca-bundle.crt",
                          "ca-bundle.pem", "ca-bundle.trust.crt"})
DPKG_INFO = "/var/lib/dpkg/info"
SECRET_SCAN_LIMIT = 5000

# cgroup file systems: a v2 (unified) hierarchy at /sys/fs/cgroup, or v1 hierarchies (one per
# controller, or a named one) beneath it, the unified one at /sys/fs/cgroup/unified on hybrid
# hosts.
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_V1_HIERARCHIES = frozenset({
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory", "misc",
    "net_cls", "net_prio", "perf_event", "pids", "rdma", "systemd", "unified", "elogind",
})


def cgroup_hierarchy_of(path: str) -> tuple[str, list[str]] | None:
    """For a path in a cgroup file system: the hierarchy's mount point and the path's
    components beneath it (``/sys/fs/cgroup/memory/a/b/memory.max`` -> ``/sys/fs/cgroup/memory``,
    ``[a, b, memory.max]``; on a v2 host ``/sys/fs/cgroup/a/memory.max`` -> ``/sys/fs/cgroup``,
    ``[a, memory.max]``); None for a path elsewhere."""
    if not path.startswith(CGROUP_ROOT + "/"):
        return None
    parts = path[len(CGROUP_ROOT) + 1:].split("/")
    first = parts[0]
    if first in CGROUP_V1_HIERARCHIES or "," in first or first.startswith("name="):
        return f"{CGROUP_ROOT}/{first}", parts[1:]
    return CGROUP_ROOT, parts


def names_a_cgroup(path: str, is_dir: bool) -> str | None:
    """The hierarchy of a path that names a cgroup below the hierarchy's root (a file of the
    cgroup ``a/b``, ``.../a/b/memory.max``, or that cgroup's directory), else None.

    Such a path names the cgroup the recorded process happened to run in (a session scope, a
    container's ID, a CI job's slice): where the sandboxed workload runs next it is in another
    cgroup, and a rule naming this one would not serve there. Files of the hierarchy's root
    cgroup (inside a container: of the container's own cgroup namespace root) name none."""
    h = cgroup_hierarchy_of(path)
    if h is None:
        return None
    hierarchy, beneath = h
    cgroup_depth = len(beneath) if is_dir else len(beneath) - 1
    return hierarchy if cgroup_depth >= 1 else None


_PROC_PID = re.compile(r"^/proc/(\d+)(?:/task/\d+)?(/.*)?$")
_PROC_SELF = re.compile(r"^/proc/(?:self|thread-self)(?:/task/\d+)?(/.*)?$")
_DEV_PTS = re.compile(r"^/dev/pts/\d+$")


def is_beneath(path: str, tree: str) -> bool:
    """``path`` is ``tree`` or inside it (both normalised absolute paths)."""
    if tree == "/":
        return True
    return path == tree or path.startswith(tree + "/")


def depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def normalise(path: str) -> tuple[str, str | None]:
    """The path a rule names, and why it was rewritten (or None).

    ``/proc/<pid>`` and ``/proc/thread-self`` become ``/proc/self``: at apply time that is
    the process that enforces the ruleset and then executes the workload.
    """
    p = posixpath.normpath(path)
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    m = _PROC_PID.match(p)
    if m and m.group(1) == "1":
        # init's entries (pam_limits reads /proc/1/limits): pid 1 is the same process on
        # every run in this pid namespace, so the path stays exact
        return p, None
    if m:
        return "/proc/self" + (m.group(2) or ""), "proc-pid"
    m = _PROC_SELF.match(p)
    if m:
        new = "/proc/self" + (m.group(1) or "")
        return new, ("proc-self" if new != p else None)
    if _DEV_PTS.match(p):
        return "/dev/pts", "pts"
    return p, None


def proc_pid_of(path: str) -> str | None:
    m = _PROC_PID.match(posixpath.normpath(path))
    return m.group(1) if m else None


def system_tree_of(path: str, trees: Iterable[str]) -> str | None:
    """The (deepest) system tree holding ``path``."""
    best = None
    for t in trees:
        if is_beneath(path, t) and (best is None or len(t) > len(best)):
            best = t
    return best


def home_directories() -> set[str]:
    """Home directories of people (uid >= 1000 and /root) from the password database."""
    homes = {"/root"}
    try:
        import pwd
        for pw in pwd.getpwall():
            if (pw.pw_uid == 0 or 1000 <= pw.pw_uid < 65534) and pw.pw_dir.startswith("/"):
                homes.add(posixpath.normpath(pw.pw_dir))
    except Exception:
        pass
    return homes


def is_protected(path: str, protected: Iterable[str]) -> bool:
    """``path`` is ``/``, a protected tree, an ancestor of one, or a home directory."""
    if path == "/":
        return True
    for t in protected:
        if t == path or is_beneath(t, path):
            return True
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "home":      # /home/<anyone>
        return True
    return False


def in_pseudo_fs(path: str) -> bool:
    return any(is_beneath(path, t) for t in PSEUDO_FS)


def is_temp_dir(path: str) -> bool:
    return path in TEMP_DIRS


def _unbacked(name: str) -> list[str]:
    """``name`` and what it is a copy of: backup suffixes (and vim's leading dot of a swap
    file) taken off, one after the other (``.key.pem.bak~`` -> ``.key.pem.bak``,
    ``.key.pem``)."""
    out = [name]
    while True:
        cur = out[-1]
        for suf in BACKUP_SUFFIXES:
            if cur.endswith(suf) and len(cur) > len(suf):
                cur = cur[:-len(suf)]
                if suf in (".swp", ".swo") and cur.startswith(".") and len(cur) > 1:
                    out.append(cur)
                    cur = cur[1:]
                break
        else:
            return out
        out.append(cur)


_ELF_INTERPRETER = re.compile(r"^ld(?:-linux[-\w.]*|-musl-[-\w]+|64)?\.so(?:\.\d+)*$")


def is_elf_interpreter(path: str) -> bool:
    """The path names a dynamic loader (``ld-linux-x86-64.so.2``, ``ld-linux.so.2``,
    ``ld-musl-x86_64.so.1``, ``ld.so``) by its file name."""
    return bool(_ELF_INTERPRETER.match(posixpath.basename(path)))


def looks_secret(name: str, patterns: Iterable[str] = SECRET_PATTERNS) -> bool:
    forms = _unbacked(name)
    if any(f in PUBLIC_NAMES for f in forms):
        return False
    code = any(posixpath.splitext(f)[1] in CODE_SUFFIXES for f in forms)
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(f, pat) for f in forms):
            continue
        if code and pat.endswith("*"):
            continue        # secrets.py, credentials.py.bak, password_validation.py: code
        return True
    return False


_dpkg_cache: dict[str, tuple[float, frozenset[str]]] = {}


def package_files(info: str = DPKG_INFO) -> frozenset[str]:
    """Every path the system's package manager (dpkg) installed, from its file database
    (``/var/lib/dpkg/info/*.list``); read once per process while the database is unchanged.
    Empty where there is no dpkg."""
    try:
        stamp = os.stat(info).st_mtime
    except OSError:
        return frozenset()
    cached = _dpkg_cache.get(info)
    if cached and cached[0] == stamp:
        return cached[1]
    paths: set[str] = set()
    try:
        names = [n for n in os.listdir(info) if n.endswith(".list")]
    except OSError:
        names = []
    for n in names:
        try:
            with open(posixpath.join(info, n), encoding="utf-8", errors="surrogateescape") as f:
                paths.update(line.rstrip("\n") for line in f)
        except OSError:
            continue
    out = frozenset(paths)
    _dpkg_cache[info] = (stamp, out)
    return out


def private_file_in(directory: str, read_paths: set[str],
                    patterns: Iterable[str] = SECRET_PATTERNS,
                    packaged: frozenset[str] | None = None) -> str | None:
    """Why ``directory`` (on this host) may not be granted as a whole, or None.

    It may not when anything beneath it that the workload never read is private: a file or
    directory that is not world-readable, or whose name looks like a secret (``patterns``;
    a file the package manager installed is public whatever its name). A tree too large to
    scan is refused as well: what cannot be checked is not granted.
    """
    patterns = tuple(patterns)
    seen = 0
    try:
        for root, dirs, files in os.walk(directory, followlinks=False):
            for name in dirs + files:
                seen += 1
                if seen > SECRET_SCAN_LIMIT:
                    return f"more than {SECRET_SCAN_LIMIT} entries to check for secrets"
                full = posixpath.join(root, name)
                if full in read_paths or any(is_beneath(r, full) for r in read_paths):
                    continue
                why = _private(full, name, patterns, packaged)
                if why:
                    return f"it holds {full} ({why}), which the workload never read"
    except OSError:
        return None
    return None


def not_world_readable_in(directory: str, limit: int = SECRET_SCAN_LIMIT) -> str | None:
    """The first file or directory beneath ``directory`` that is not world-readable (its
    owner keeps it private), with its mode; None when all of it is (or it is larger than ``limit`` entries: then None too, unchecked)."""
    seen = 0
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            seen += 1
            if seen > limit:
                return None
            full = posixpath.join(root, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if not stat.S_ISLNK(st.st_mode) and not st.st_mode & stat.S_IROTH:
                return f"{full} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _private(full: str, name: str, patterns: tuple[str, ...],
             packaged: frozenset[str] | None) -> str | None:
    try:
        st = os.lstat(full)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return None
    if not st.st_mode & stat.S_IROTH:
        return f"mode {stat.S_IMODE(st.st_mode):04o}: not world-readable"
    if looks_secret(name, patterns):
        if packaged is None:
            packaged = package_files()
        if full not in packaged:
            return "a secret's name"
    return None
