"""Recording -> Landlock ruleset in the landlockconfig format (JSON or TOML).

The ruleset is written the way a person would write it, and never wider than is safe:

1. **Paths are normalised** for the next run: ``/proc/<pid>/...`` of the target becomes
   ``/proc/self/...`` (init's ``/proc/1`` stays), ``/dev/pts/<n>`` becomes ``/dev/pts`` with
   a terminal's rights only (read_file, write_file, ioctl_dev; a pty from ``/dev/ptmx`` gets
   the read/write its peer's open needs): ``exec`` and ``verify`` mount a new devpts instance
   there, so it holds the workload's own terminals only. Rights the target ABI does not
   know are dropped (and said so); rights on ``/`` are never granted (a rule on ``/`` grants
   the whole file system); rights a non-directory cannot carry are dropped.
2. **Created files fold into their directory.** A file written in a directory where the
   workload creates files (``make_reg`` ... on the directory) probably did not exist before, and
   its name may be random (temporary files): its rights become a rule on the directory. A
   directory the workload created (``make_dir`` on its parent) does not exist when the next run
   starts, so what was done inside it is granted on the parent. Neither happens in a protected
   tree (``/etc``, ``/root``, home directories, ...; the temporary directories ``/tmp``,
   ``/var/tmp`` and ``/dev/shm`` excepted): there the files stay narrow and are marked as
   paths that may not exist at apply time, and a rename or removal there (``sed -i``) stops
   the generator (:meth:`_Builder.protected_writes`) unless ``allow_dir_write`` names the
   directory. A rule on ``/tmp`` or ``/var/tmp`` is meant for the private one ``exec`` and
   ``verify`` mount (a note says so), or goes on ``app_tmpdir``. A program the workload
   created and ran keeps execute on its directory (said in a note).
3. **System trees** (``/usr``, ``/lib*``, ``/bin``, ``/etc/ld.so.cache`` ...) get one
   read rule for the tree: whatever was read or listed there. execute stays on the exact
   programs executed (and their ELF and ``#!`` interpreters), everywhere and never on a
   directory: Landlock checks it at execve only (a library mapped PROT_EXEC needs read_file).
   Writes there stay narrow.
4. ``/proc/self/...`` **reads** become one rule on ``/proc/self`` (the process that enforces
   the ruleset and then executes the workload); when the workload runs more than one process,
   the same read rights go on ``/proc`` when a child read its own entries (the recorder's
   ``fileModel.procSelfByChildren``; a child's /proc/self is another /proc/PID, which no
   narrower rule can name), unless ``proc_for_children`` is off. That rule also opens every
   other process's cmdline, status, environ, maps and auxv: Landlock's ptrace scoping refuses
   only what the kernel checks in attach mode (mem, stack, syscall, io ...), so a warning
   says so (tests/test_generate_landlock_proc.py shows it on the running kernel).
5. **Read generalisation:** a directory with at least ``read_threshold`` distinct direct
   entries read (a file read, or something read beneath a subdirectory) is granted as a
   whole, read rights only (the highest such directory wins), but never ``/``,
   a protected tree or an ancestor of one, anything in ``/proc``, ``/sys`` or ``/dev``,
   anything shallower than ``min_depth``, nor (when the host may be inspected) a directory
   holding a private file the workload never read: not world-readable, or named like a
   secret (``secret_patterns``; files the package manager installed are public).
6. Rights an ancestor rule already grants are removed from the rules beneath it.

**Paths that name a cgroup** (``/sys/fs/cgroup/memory/<the recording's cgroup>/memory.max``:
node, the JVM, Go and others read their own cgroup's limits) name the cgroup the recording
happened to run in; the sandboxed workload will be in another one, which cannot be known when
the ruleset is written. Their *read* rights (read_file, read_dir) go on the cgroup hierarchy's
mount point (``/sys/fs/cgroup/memory``; ``/sys/fs/cgroup`` on a v2 host), so the workload
reads its own cgroup's files wherever it runs; the files of other cgroups in that hierarchy
become readable too (limits, statistics, process ids: nothing secret). Writes to such paths are
never generalised: they stay on the recorded path and a note says they will not serve
elsewhere. Files of a hierarchy's root cgroup (inside a container, the container's own cgroup
namespace root) name no cgroup and stay as they are.

**A container's recording** (``record --container`` / ``--pod``) holds the container's paths,
not this host's: they are never looked up on this host (no existence, kind or secret checks,
nothing marked "maybe missing" because the host lacks it), and reads are not generalised to
directories (the container's files cannot be searched for unread secrets from here). A note
says so and how the ruleset applies: inside the container, to the workload (a
landlockconfig-aware launcher in the image, e.g. ``sandprint exec --landlock``, or the
application itself through the ``sandprint.landlock`` library); container engines do not
apply Landlock rulesets.

The ruleset *handles* every right and scope the target ABI knows, so whatever was not granted
is denied; the ``abi`` written is the lowest one that knows every named right. TCP ports bound
or connected to become ``netPort`` rules; UDP cannot be restricted by Landlock and is reported.
The abstract-UNIX-socket and signal scopes are turned on unless the recording shows the
workload connecting to an abstract socket or signalling a process outside itself.

Paths that may not exist when the ruleset is applied are listed in the reserved variable
``sandprint_may_not_exist`` (:func:`sandprint.landlock.config.mark_may_not_exist`; a marker
only, no rule refers to it): sandprint's loader skips them with a warning when absent, other
landlockconfig tools see an unused variable.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ..errors import InputError
from ..fileio import write_atomic
from ..recording import Recording, Target
from ..landlock import rights as R
from ..landlock.config import RulesetFormat, dumps
from ..landlock.ops import ruleset_config
from . import landlock_paths as lp

FORMATS = tuple(f.value for f in RulesetFormat)
FILE_RIGHTS = R.FILE_RIGHTS
DIR_ONLY_RIGHTS = R.DIR_ONLY_RIGHTS
READ_RIGHTS = frozenset({"execute", "read_file", "read_dir"})
# what a directory may be granted for what was read beneath it: never execute, which stays on
# the exact programs executed (mmap of a library needs read_file only: Landlock checks
# execute at execve, tests/test_landlock_exact.py shows it)
TREE_READ_RIGHTS = frozenset({"read_file", "read_dir"})
# rights on a directory that create or remove names in it: Landlock cannot limit them to a name
NAMING_RIGHTS = frozenset(r for r in R.FS_RIGHTS if r.startswith("make_")) | {
    "remove_file", "remove_dir", "refer"}
# what a workload's own pseudo-terminal needs on /dev/pts (the slave's path is checked)
PTS_RIGHTS = frozenset({"read_file", "write_file", "ioctl_dev"})
WRITE_RIGHTS = frozenset({"write_file", "truncate"})
MAKE_RIGHTS = frozenset(r for r in R.FS_RIGHTS if r.startswith("make_"))
NET_RIGHTS = tuple(R.NET_RIGHTS)
# The newest ABI with access rights the landlockconfig format names (ABI 7 added only audit
# flags): the default target when the recording does not say.
NEWEST_FORMAT_ABI = 6


def fs_rights_for(abi: int) -> list[str]:
    return R.sort_rights("fs", R.rights_for_abi("fs", abi))


def net_rights_for(abi: int) -> list[str]:
    return R.sort_rights("net", R.rights_for_abi("net", abi))


def scopes_for(abi: int) -> list[str]:
    return R.sort_rights("scope", R.rights_for_abi("scope", abi))


def ordered(rights: Iterable[str]) -> list[str]:
    return R.sort_rights("fs", rights)


@dataclass
class Options:
    """How far the generator may generalise; every threshold is a CLI option."""

    abi: int | None = None               # target ABI; default: the recording's, else newest
    read_threshold: int = 5              # distinct entries read under a dir to grant it; 0: never
    min_depth: int = 2                   # never generalise reads to a shallower directory
    system_trees: tuple[str, ...] = lp.DEFAULT_SYSTEM_TREES
    protected_trees: tuple[str, ...] = lp.DEFAULT_PROTECTED_TREES
    host_check: bool = True              # look at this host: existence, kinds, secrets
    proc_for_children: bool = True       # /proc/self reads of a multi-process workload -> /proc
    container_paths: bool = False        # the paths are a container's (set from the recording)
    secret_patterns: tuple[str, ...] = lp.SECRET_PATTERNS   # names never widened over
    allow_dir_write: tuple[str, ...] = ()   # protected directories create/delete may go on
    app_tmpdir: str | None = None        # temporary files go here (self-sandboxing apps)

    def validate(self) -> None:
        if self.abi is not None and self.abi < 1:
            raise InputError(f"invalid ABI {self.abi}", field="abi",
                             expected="an integer >= 1")
        if self.read_threshold < 0 or self.read_threshold == 1:
            raise InputError(f"invalid read threshold {self.read_threshold}",
                             field="read_threshold",
                             expected="0 (never generalise) or an integer >= 2")
        if self.min_depth < 1:
            raise InputError(f"invalid minimum depth {self.min_depth}", field="min_depth",
                             expected="an integer >= 1")
        for p in self.system_trees + self.protected_trees + self.allow_dir_write + (
                (self.app_tmpdir,) if self.app_tmpdir else ()):
            if not p.startswith("/") or posixpath.normpath(p) == "/":
                raise InputError(f"invalid tree {p!r}", field="system/protected trees",
                                 expected="an absolute path other than /")


@dataclass
class GeneratedRuleset:
    """The landlockconfig document (JSON spelling) and what went into it."""

    config: dict[str, Any]
    abi: int                             # written into the file: lowest ABI knowing every name
    target_abi: int
    notes: list[str] = field(default_factory=list)     # what was dropped or needs attention
    reasons: dict[str, str] = field(default_factory=dict)  # rule path -> why it exists
    maybe_missing: list[str] = field(default_factory=list)
    format: str = "json"

    def summary(self, output: str | None = None) -> str:
        counts: dict[str, int] = defaultdict(int)
        for why in self.reasons.values():
            counts[why] += 1
        parts = [f"{n} {label}" for label, n in sorted(counts.items())]
        # one Landlock port rule per port, whatever its rights (as `exec` counts them)
        ports = len({p for r in self.config.get("netPort", []) for p in r["port"]})
        where = f" to {output}" if output else ""
        abi = f"for Landlock ABI {self.target_abi}"
        if self.abi != self.target_abi:
            abi += (f" (the file says abi {self.abi}: the oldest ABI that knows every right "
                    "it names, so kernels from that ABI on enforce it fully)")
        text = (f"landlock: wrote {self.format.upper()} ruleset{where}: "
                f"{plural(len(self.reasons), 'path rule')} "
                f"({', '.join(parts) or 'none'}), {plural(ports, 'port rule')}, {abi}")
        if self.maybe_missing:
            text += f", {len(self.maybe_missing)} paths marked as maybe missing at apply time"
        if self.notes:
            text += f"; {plural(len(self.notes), 'note')}"
        return text


@dataclass
class _Entry:
    rights: set[str] = field(default_factory=set)
    kind: str | None = None
    why: str = "file"


def plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _targets(rec: Recording, target: str | None, source: str | None) -> list[Target]:
    if not rec.targets:
        raise InputError("the recording has no targets", source=source, field="targets",
                         expected="at least one target")
    if target is None:
        return list(rec.targets)
    chosen = [t for t in rec.targets if t.name == target]
    if not chosen:
        raise InputError(f"no target named {target!r}", source=source, field="targets",
                         expected="one of " + ", ".join(t.name for t in rec.targets))
    return chosen


def _target_abi(rec: Recording, opts: Options, notes: list[str]) -> int:
    if opts.abi is not None:
        return opts.abi
    abi = rec.metadata.get("landlockABI")
    if isinstance(abi, int) and not isinstance(abi, bool) and abi >= 1:
        return abi
    notes.append(f"the recording does not say its Landlock ABI; targeting ABI "
                 f"{NEWEST_FORMAT_ABI} (pass --abi to choose)")
    return NEWEST_FORMAT_ABI


def _parent(path: str) -> str:
    return posixpath.dirname(path) or "/"


def _ancestors(path: str) -> list[str]:
    """Proper ancestors of an absolute normalised path, nearest first (``/`` last)."""
    out = []
    while path != "/":
        path = _parent(path)
        out.append(path)
    return out


class _Builder:
    def __init__(self, targets: list[Target], abi: int, opts: Options):
        self.opts = opts
        # people's home directories on this host are protected too, wherever they are
        self.protected = tuple(opts.protected_trees) + tuple(sorted(lp.home_directories()))
        self.abi = abi
        self.known = set(fs_rights_for(abi))
        self.entries: dict[str, _Entry] = {}
        self.notes: list[str] = []
        self.maybe_missing: set[str] = set()
        self.read_paths: set[str] = set()
        self.processes = 0
        # /proc/self reads by processes other than the first (None: the recording predates
        # the count; then a multi-process workload is taken to have made some)
        self.children_proc: int | None = None
        # created-files directory -> programs the workload created there and executed
        self.created_exec: dict[str, list[str]] = {}
        self.pts_paths: set[str] = set()
        self.pts_dropped: set[str] = set()
        self._collect(targets)
        # every directory something was recorded beneath: a directory, whatever else is said
        self.has_beneath: set[str] = {a for p in self.entries for a in _ancestors(p)}

    # -- 1. collect and normalise ----------------------------------------------------------
    def _collect(self, targets: list[Target]) -> None:
        beyond: dict[str, set[str]] = defaultdict(set)
        pids: set[str] = set()
        denied = 0
        processes = 0
        for t in targets:
            processes += t.processes
            self.processes += t.processes
            by_children = (t.info.get("fileModel") or {}).get("procSelfByChildren")
            if isinstance(by_children, int):
                self.children_proc = (self.children_proc or 0) + by_children
            for fa in t.files.values():
                if fa.denied and not fa.access:
                    denied += 1
                if not fa.access:
                    continue
                pid = lp.proc_pid_of(fa.path)
                if pid and pid != "1":
                    pids.add(pid)
                path, why = lp.normalise(fa.path)
                self.read_paths.add(path)
                rights = set(fa.access)
                for r in rights - self.known:
                    beyond[r].add(path)
                if why == "pts":
                    self.pts_dropped |= rights - PTS_RIGHTS
                    rights &= PTS_RIGHTS
                    self.pts_paths.add(fa.path)
                e = self.entries.setdefault(path, _Entry())
                e.rights |= rights & self.known
                if why == "pts":
                    e.kind = "dir"
                elif why is None or why == "proc-self" or why == "proc-pid":
                    e.kind = e.kind or fa.kind
        for r, paths in sorted(beyond.items()):
            msg = (f"{r} not granted: ABI {self.abi} does not know it "
                   f"({len(paths)} paths, e.g. {min(paths)})")
            if r == "refer":
                msg += "; on ABI 1 moving or linking files across directories is always denied"
            self.notes.append(msg)
        if denied:
            self.notes.append(f"{denied} paths were only refused during the recording; "
                              "they stay refused")
        if len(pids) > max(processes, 1):
            self.notes.append(f"/proc entries of {len(pids)} processes were read; all were "
                              "taken as the workload's own (/proc/self)")
        ptmx = self.entries.get("/dev/ptmx")
        if ptmx is not None and ptmx.rights & {"read_file", "write_file"}:
            # a pty from /dev/ptmx: its peer (TIOCGPTPEER, or opened by name) is /dev/pts/N,
            # whose open Landlock checks for read_file/write_file (the recorder sees no open
            # for TIOCGPTPEER), and its terminal ioctls for ioctl_dev
            pts = self.entries.setdefault("/dev/pts", _Entry(kind="dir"))
            pts.kind = "dir"
            pts.rights |= ({"read_file", "write_file"} | (ptmx.rights & {"ioctl_dev"})) \
                & self.known
            self.pts_paths.add("/dev/ptmx")
        root = self.entries.pop("/", None)
        if root and root.rights:
            self.notes.append(f"not granted: {', '.join(ordered(root.rights))} on / "
                              "(a rule on / would grant the whole file system)")

    # -- helpers ---------------------------------------------------------------------------
    def is_dir(self, path: str) -> bool:
        e = self.entries.get(path)
        if e is not None and e.kind:
            return e.kind == "dir"
        if e is not None and e.rights & DIR_ONLY_RIGHTS:
            return True
        if path in self.has_beneath:
            return True
        if self.opts.host_check:
            return os.path.isdir(path)
        return False

    def foldable(self, d: str) -> bool:
        """Created files in ``d`` may become a rule on ``d``."""
        if d == "/":
            return False
        if lp.is_temp_dir(d):
            return True
        return not lp.is_protected(d, self.protected) and not lp.in_pseudo_fs(d)

    def grant(self, path: str, rights: Iterable[str], why: str, kind: str = "dir") -> None:
        rights = set(rights)
        if not rights:
            return
        e = self.entries.setdefault(path, _Entry(kind=kind, why=why))
        e.rights |= rights
        if e.kind is None:
            e.kind = kind
        if _rank(why) > _rank(e.why):
            e.why = why

    def take(self, path: str, rights: Iterable[str]) -> set[str]:
        """Remove ``rights`` from the entry at ``path``; return what was removed."""
        e = self.entries[path]
        taken = e.rights & set(rights)
        e.rights -= taken
        return taken

    def prune(self) -> None:
        for p in [p for p, e in self.entries.items() if not e.rights]:
            del self.entries[p]

    # -- 2. created files and directories --------------------------------------------------
    def fold_created(self) -> None:
        children: dict[str, list[str]] = defaultdict(list)
        for p in self.entries:
            if p != "/":
                children[_parent(p)].append(p)
        for d in sorted(self.entries, key=lp.depth, reverse=True):
            e = self.entries.get(d)
            if e is None or not (e.rights & MAKE_RIGHTS - {"make_dir"}):
                continue
            kids = [p for p in children.get(d, ()) if p in self.entries
                    and self.entries[p].rights & WRITE_RIGHTS and not self.is_dir(p)]
            if not kids:
                continue
            if self.foldable(d):
                for k in kids:
                    taken = self.take(k, FILE_RIGHTS)
                    if "execute" in taken:
                        # a program the workload made and ran (a build): no rule can name a
                        # file that does not exist yet when the ruleset is applied
                        self.created_exec.setdefault(d, []).append(k)
                    self.grant(d, taken, "created-files directory")
                e.why = "created-files directory" if _rank(e.why) < 2 else e.why
            else:
                self.maybe_missing.update(kids)
                self.notes.append(f"files created in protected {d} stay narrow "
                                  f"({len(kids)} files); a file missing at apply time "
                                  "cannot be created and written")
        self.prune()
        # Directories the workload created: what happened inside goes to the parent.
        for x in sorted(self.entries, key=lp.depth, reverse=True):
            e = self.entries.get(x)
            parent = _parent(x)
            pe = self.entries.get(parent)
            if e is None or pe is None or "make_dir" not in pe.rights or x == parent:
                continue
            if not self.is_dir(x):
                continue
            looks_created = bool(e.rights - READ_RIGHTS) or (
                self.opts.host_check and not os.path.lexists(x))
            if not looks_created:
                continue
            if self.foldable(parent):
                if x in self.created_exec:
                    self.created_exec.setdefault(parent, []).extend(self.created_exec.pop(x))
                self.grant(parent, self.take(x, e.rights), "created-files directory")
                for p in list(self.maybe_missing):
                    if lp.is_beneath(p, x):
                        self.maybe_missing.discard(p)
            else:
                self.maybe_missing.add(x)
                self.notes.append(f"directory {x} was created in protected {parent}; its "
                                  "rule applies only when it exists at apply time")
        self.prune()

    def protected_writes(self, source: str | None) -> None:
        """Create/delete rights on a protected directory: refused unless asked for.

        Landlock cannot limit make_reg or remove_file to one name: on /etc they would let the
        workload replace or remove any file there. A write-by-rename (``sed -i``, atomic
        saves) in a protected tree therefore stops the generator, naming the file."""
        for d in sorted(self.entries, key=lambda p: (lp.depth(p), p)):
            e = self.entries[d]
            naming = e.rights & NAMING_RIGHTS
            # make_reg alone creates new, empty files (their content needs write_file on them,
            # which stays on the file): it cannot replace, rename away or remove one
            if naming <= {"make_reg"} or self.foldable(d) or lp.in_pseudo_fs(d):
                continue
            if d in self.opts.allow_dir_write:
                self.notes.append(f"{', '.join(ordered(naming))} granted on protected {d} as "
                                  f"asked (--allow-dir-write {d}): the workload may create, "
                                  "replace and remove any file there")
                continue
            files = sorted(p for p in self.entries if _parent(p) == d and p != d)
            written = [p for p in files if self.entries[p].rights & WRITE_RIGHTS]
            what = (written or files or [d])[0]
            raise InputError(
                f"{what} was written by creating or renaming in the protected directory {d}, "
                f"which Landlock can grant only as {', '.join(ordered(naming))} on all of {d}: "
                f"have the workload write somewhere else, or pass --allow-dir-write {d}",
                source=source, field="targets[].files",
                expected=f"no file created, renamed or removed directly in {d}")

    def temp_dirs(self) -> None:
        """Rules on /tmp and /var/tmp: for a private one, or moved to the application's own."""
        if "/dev/shm" in self.entries:
            self.notes.append(
                f"{', '.join(ordered(self.entries['/dev/shm'].rights))} on /dev/shm for the "
                "workload's POSIX shared memory (shm_open, multiprocessing: random names): "
                "`sandprint exec` and `verify` mount a fresh tmpfs there, so the rule covers "
                "the workload's own segments only; applied any other way (systemd: add "
                "TemporaryFileSystem=/dev/shm:mode=1777 to the drop-in, the library, "
                "another loader) it covers every program's shared memory on the host, "
                "and --app-tmpdir cannot move it")
        temps = [d for d in sorted(self.entries) if lp.is_temp_dir(d) and d != "/dev/shm"]
        if not temps:
            return
        app = self.opts.app_tmpdir
        if app:
            app = posixpath.normpath(app)
            for d in temps:
                self.grant(app, self.take(d, self.entries[d].rights), "app temporary directory")
            if self.opts.host_check and not os.path.isdir(app):
                self.maybe_missing.add(app)
            self.notes.append(
                f"temporary files: what the workload did in {', '.join(temps)} is granted on "
                f"{app} instead (--app-tmpdir); the application must create its temporary "
                f"files there: set TMPDIR={app} (Python: tempfile.tempdir) before it makes any")
            self.prune()
            return
        self.notes.append(
            f"temporary files: the rules on {', '.join(temps)} are meant for a private one: "
            "`sandprint exec` and `verify` mount a fresh tmpfs over /tmp, /var/tmp, /dev/shm "
            "and $TMPDIR "
            "in the workload's own mount namespace, the systemd drop-in says PrivateTmp=yes, "
            "a container has its own; applied any other way (in the application through the "
            "sandprint.landlock library, another landlockconfig loader) they grant the host's "
            "files there: generate with --app-tmpdir DIR instead")

    def pts_note(self) -> None:
        if not self.pts_paths:
            return
        own = "/dev/ptmx" in self.pts_paths
        named = sorted(self.pts_paths - {"/dev/ptmx"})
        text = (f"{', '.join(ordered(self.entries.get('/dev/pts', _Entry()).rights))} on "
                "/dev/pts for the pseudo-terminals the workload opened"
                + (f" (e.g. {named[0]})" if named else "")
                + (" through /dev/ptmx" if own else "") + ": Landlock checks a pty's "
                "/dev/pts/N path (also for TIOCGPTPEER) and N changes from run to run; "
                "`sandprint exec` and `verify` mount a new devpts instance there, so the rule "
                "covers the workload's own terminals only; applied any other way it covers "
                "every terminal of the host")
        if self.pts_dropped:
            text += f"; not granted there: {', '.join(ordered(self.pts_dropped))}"
        self.notes.append(text)

    # -- 3./4. system trees and /proc/self -------------------------------------------------
    def admin_tree_note(self) -> None:
        """A rule on /usr covers /usr/local, which is the administrator's, not the package
        manager's: the red team read a 0600 key put in /usr/local/etc through a rule on /usr."""
        local = lp.ADMIN_TREE
        e = self.entries.get("/usr")
        if not (self.opts.host_check and e and e.why == "system tree" and "read_file" in e.rights
                and os.path.isdir(local)):
            return
        private = lp.not_world_readable_in(local)
        if private:
            self.notes.append(f"warning: read on the system tree /usr covers {local} (the "
                              "administrator's files, not the package manager's), which "
                              f"holds {private}, not world-readable: the ruleset makes it "
                              "readable; keep secrets out of /usr, or generate with the "
                              "library's Options.system_trees naming /usr's parts instead")

    def system_trees(self) -> None:
        for p in list(self.entries):
            tree = lp.system_tree_of(p, self.opts.system_trees)
            if tree is None:
                continue
            tree_is_dir = tree != p or self.is_dir(p)
            rights = TREE_READ_RIGHTS if tree_is_dir else READ_RIGHTS & FILE_RIGHTS
            taken = self.take(p, rights)
            self.grant(tree, taken, "system tree", "dir" if tree_is_dir else "file")
        self.admin_tree_note()
        own: set[str] = set()
        for p in list(self.entries):
            if lp.is_beneath(p, "/proc/self") and p != "/proc/self":
                taken = self.take(p, READ_RIGHTS)
                own |= taken
                self.grant("/proc/self", taken, "own /proc/self")
        # A rule on /proc/self is the /proc/PID of the process applying the ruleset; its
        # children read their own /proc/PID (glibc's pthread_getattr_np reads
        # /proc/self/maps, subprocess lists /proc/self/fd ...), which only a rule on /proc
        # can reach. It reaches other processes' cmdline, environ, maps too: Landlock's
        # ptrace scoping refuses only the attach-mode entries (mem, stack, syscall ...).
        own -= {"execute"}
        children = self.processes > 1 if self.children_proc is None else self.children_proc > 0
        if own and self.processes > 1 and not children:
            self.notes.append(f"{', '.join(ordered(own))} granted on /proc/self only: of the "
                              f"workload's {self.processes} processes only the first read its "
                              "own /proc entries; a child reading its own would be refused")
        if own and children and self.opts.proc_for_children:
            self.grant("/proc", own, "own /proc/self")
            self.notes.append(f"warning: {', '.join(ordered(own))} granted on /proc: the "
                              "workload's child processes read their own /proc/self, which a "
                              "rule on /proc/self (the applying process only) does not reach; "
                              "the rule also lets the workload read every other process's "
                              "cmdline, status, environ (where secrets such as cloud keys "
                              "live), maps and auxv: Landlock's ptrace scoping refuses only "
                              "their mem, stack, syscall, io ...; --no-proc-for-children keeps "
                              "the rule on /proc/self (the children's own reads are then "
                              "refused)")
        self.prune()

    # -- 4b. paths naming a cgroup ---------------------------------------------------------
    def cgroup_paths(self) -> None:
        """Reads of a cgroup's files -> read rights on the hierarchy (see the module)."""
        reads: dict[str, set[str]] = defaultdict(set)
        examples: dict[str, list[str]] = defaultdict(list)
        writes: list[str] = []
        for p in sorted(self.entries):
            hierarchy = lp.names_a_cgroup(p, self.is_dir(p))
            if hierarchy is None:
                continue
            taken = self.take(p, CGROUP_READ_RIGHTS)
            if taken:
                reads[hierarchy] |= taken
                examples[hierarchy].append(p)
            if self.entries[p].rights:
                writes.append(p)
        for hierarchy, rights in sorted(reads.items()):
            self.grant(hierarchy, rights, "cgroup hierarchy")
            self.notes.append(
                f"{', '.join(ordered(rights))} granted on {hierarchy}: the workload read files "
                f"of the cgroup it ran in ({len(examples[hierarchy])} paths, e.g. "
                f"{examples[hierarchy][0]}), and the cgroup it will run in is not known when "
                "the ruleset is written; other cgroups' files there become readable too "
                "(limits, statistics, process ids)")
        if writes:
            self.notes.append(
                f"writes to {len(writes)} paths naming the recording's cgroup stay on those "
                f"paths (e.g. {writes[0]}): they do not serve where the workload runs in "
                "another cgroup")
        self.prune()

    # -- 5. read generalisation ------------------------------------------------------------
    def may_generalise(self, d: str) -> str | None:
        """Why ``d`` may not be granted as a whole, or None."""
        if lp.is_protected(d, self.protected):
            return "a protected tree, or one holding a protected tree"
        if lp.depth(d) < self.opts.min_depth:
            return f"shallower than the minimum depth {self.opts.min_depth}"
        if lp.in_pseudo_fs(d):
            return "in a kernel pseudo file system"
        if lp.system_tree_of(d, self.opts.system_trees):
            return "inside a system tree"
        if self.opts.container_paths:
            return "the container's files cannot be searched for unread secrets from this host"
        if self.opts.host_check:
            return lp.private_file_in(d, self.read_paths, self.opts.secret_patterns)
        return None

    def generalise_reads(self) -> None:
        """Grant a directory for reading when reads spread over enough of its entries.

        A directory's breadth is the number of its direct entries under (or at) which
        something was read. Every directory whose breadth reaches the threshold and that may
        be generalised is granted; each read then moves to its highest granted ancestor.
        """
        threshold = self.opts.read_threshold
        if threshold <= 0:
            return
        breadth: dict[str, set[str]] = defaultdict(set)
        for p, e in self.entries.items():
            if e.rights & TREE_READ_RIGHTS and e.why not in PLACED:
                child = p
                for a in _ancestors(p):
                    breadth[a].add(child)
                    child = a
        granted: set[str] = set()
        for d in sorted((d for d, ks in breadth.items() if len(ks) >= threshold),
                        key=lambda d: (lp.depth(d), d)):
            if any(a in granted for a in _ancestors(d)):
                continue                    # already covered by a granted ancestor
            reason = self.may_generalise(d)
            if reason:
                self.notes.append(f"reads under {d} not generalised to the directory "
                                  f"({len(breadth[d])} entries read): {reason}")
                continue
            granted.add(d)
        if not granted:
            return
        for p in list(self.entries):
            e = self.entries[p]
            if not e.rights & TREE_READ_RIGHTS or e.why in PLACED:
                continue
            top = next((a for a in reversed(_ancestors(p)) if a in granted), None)
            if top is not None:
                self.grant(top, self.take(p, TREE_READ_RIGHTS), "read directory")
        for d in granted:
            e = self.entries.get(d)
            if e is not None and _rank(e.why) < _rank("read directory"):
                e.why = "read directory"
        if self.opts.host_check:
            names = sorted(granted, key=lambda d: (lp.depth(d), d))
            self.notes.append(
                f"reads generalised to {plural(len(names), 'directory')} ({', '.join(names[:3])}"
                + (" ..." if len(names) > 3 else "") + "), each checked now for private "
                "files: one put there later (a key copied in, a file made 0600) is granted "
                "too, as a Landlock rule names the directory; generate again after such a "
                "change, or pass --read-threshold 0 for one rule per file")
        self.prune()

    # -- 6. redundancy and kinds -----------------------------------------------------------
    def finish(self) -> None:
        for p in sorted(self.entries, key=lp.depth):
            e = self.entries[p]
            inherited: set[str] = set()
            for a in _ancestors(p):
                if a in self.entries:
                    inherited |= self.entries[a].rights
            e.rights -= inherited
            if "execute" in e.rights and p in self.created_exec:
                made = sorted(self.created_exec[p])
                self.notes.append(f"execute granted on {p}: the workload created and ran "
                                  f"{made[0]}" + (f" (and {len(made) - 1} more)"
                                                  if len(made) > 1 else "")
                                  + " there, and a rule can name only a file that exists when "
                                  "the ruleset is applied; whatever the workload writes there "
                                  "can be executed")
            elif "execute" in e.rights and self.is_dir(p):
                # a rule on a directory would let anything beneath it be executed
                self.notes.append(f"not granted: execute on {p}, a directory (execute goes on "
                                  "the exact programs executed)")
                e.rights.discard("execute")
            if not self.is_dir(p):
                bad = e.rights - FILE_RIGHTS
                if bad:
                    self.notes.append(f"not granted: {', '.join(ordered(bad))} on {p}, "
                                      "which is not a directory (file rights only)")
                    e.rights -= bad
        self.exec_limits_note()
        self.prune()
        self.maybe_missing &= set(self.entries)
        if self.opts.host_check:
            self.maybe_missing |= {p for p in self.entries if not os.path.lexists(p)}


    def exec_limits_note(self) -> None:
        """What execute on an ELF interpreter leaves open (the red team ran both ways)."""
        loaders = sorted(p for p, e in self.entries.items()
                         if "execute" in e.rights and lp.is_elf_interpreter(p))
        if not loaders:
            return
        readable = sorted((p for p, e in self.entries.items()
                           if "read_file" in e.rights and self.is_dir(p)
                           and not lp.in_pseudo_fs(p)), key=lambda p: (lp.depth(p), p))
        writable = [p for p in readable if self.entries[p].rights & {"make_reg", "write_file"}]
        self.notes.append(
            f"warning: execute is granted on the ELF interpreter {loaders[0]} (the programs "
            "the workload ran need it), and Landlock checks execute only when execve opens a "
            f"file: `{posixpath.basename(loaders[0])} PROGRAM` runs any program the ruleset "
            "lets the workload read"
            + (f" (everything under {', '.join(readable[:3])}"
               + (" ..." if len(readable) > 3 else "") + ")" if readable else "")
            + (f", also one it writes itself into {', '.join(writable)}" if writable else "")
            + ", and a program written to a memfd_create() file is executed without any rule; "
            "the execute rules narrow what execve starts, not which code the workload runs "
            "(what that code may touch is still this ruleset's). Landlock (ABI 7) cannot "
            "close either: a seccomp profile without memfd_create closes the second")

_RANKS = {"file": 0, "directory": 1, "created-files directory": 2,
          "app temporary directory": 2, "read directory": 3,
          "own /proc/self": 4, "cgroup hierarchy": 4, "system tree": 5}
# rules placed by a rule of their own, which read generalisation leaves alone
PLACED = ("system tree", "own /proc/self", "cgroup hierarchy")
CGROUP_READ_RIGHTS = frozenset({"read_file", "read_dir"})


# Landlock (up to ABI 7) has no right for a file's attributes: the red team's probes
# (chmod-other-file, chown-other-file, setxattr-other-file in file_layer_probes) changed a
# file of a tree the ruleset gave no right on.
METADATA_NOTE = ("warning: Landlock (ABI 7) has no rights for a file's attributes: under this "
                 "ruleset alone the workload may chmod, chown, utime and setxattr any file it "
                 "can name (as root, every file: chmod 0666 /etc/shadow); the seccomp profile "
                 "generated from the same recording refuses those calls unless the workload "
                 "made them, so apply both")


def _rank(why: str) -> int:
    return _RANKS.get(why, 0)


def _net_rules(targets: list[Target], abi: int, notes: list[str]
               ) -> tuple[dict[str, set[int]], bool]:
    """Ports per TCP right, and whether an abstract UNIX socket outside was connected to."""
    ports: dict[str, set[int]] = defaultdict(set)
    udp: set[tuple[str, int | None]] = set()
    abstract = False
    for t in targets:
        for na in t.network.values():
            if na.protocol == "tcp" and na.op in ("bind", "connect") and na.port is not None:
                ports[f"{na.op}_tcp"].add(na.port)
            elif na.protocol == "udp":
                udp.add((na.op, na.port))
            elif na.protocol == "unix" and na.op in ("connect", "send") and na.address and \
                    na.address[:1] in ("@", "\0"):
                abstract = True
    if udp:
        notes.append(f"{len(udp)} UDP bind/connect/send operations are not restricted: "
                     "Landlock has no UDP rights")
    if ports and abi < 4:
        notes.append(f"TCP ports not restricted: ABI {abi} has no network rights "
                     f"(needs 4); recorded: {sorted(set().union(*ports.values()))}")
        return {}, abstract
    return ports, abstract


def _container_of(rec: Recording) -> str | None:
    """``container NAME`` (or ``pod ...``) when the recording (or a run merged into it) is of a
    container: its paths are the container's."""
    for m in [rec.metadata] + list(rec.metadata.get("sources") or []):
        t = m.get("target") if isinstance(m, dict) else None
        if not isinstance(t, dict) or t.get("type") not in ("container", "pod"):
            continue
        name = t.get("name") or t.get("container") or t.get("pod") or "?"
        image = f" (image {t['image']})" if t.get("image") else ""
        return f"{t['type']} {name}{image}"
    return None


def generate_ruleset(recording: Recording, *, target: str | None = None,
                     options: Options | None = None, source: str | None = None
                     ) -> GeneratedRuleset:
    """The landlockconfig ruleset (JSON spelling) that fits ``recording``.

    ``target``: only this target of the recording (default: the union of all).
    ``source``: the recording file(s), named in errors.
    """
    opts = options or Options()
    opts.validate()
    notes: list[str] = []
    targets = _targets(recording, target, source)
    if not recording.files_recorded:
        raise InputError("the recording was made with --syscalls-only and holds no file "
                         "accesses; record again without it for a Landlock ruleset",
                         source=source, field="metadata.filesRecorded", expected="true")
    if not any(fa.access for t in targets for fa in t.files.values()):
        raise InputError("the recording holds no file access (was it recorded with file "
                         "tracing?); a ruleset from it would deny everything", source=source,
                         field="targets[].files", expected="at least one file access")
    abi = _target_abi(recording, opts, notes)
    container = _container_of(recording)
    if container:
        opts = replace(opts, host_check=False, container_paths=True)
        notes.append(
            f"the paths are {container}'s, not this host's: none was checked against this host "
            "(existence, kinds, unread secrets) and reads were not generalised to directories. "
            "Apply the ruleset inside the container, to its workload: run the workload through "
            "a landlockconfig-aware launcher in the image (e.g. `sandprint exec --landlock "
            "RULESET -- CMD`) or load it in the application with the sandprint.landlock "
            "library; container engines do not apply Landlock rulesets")
    b = _Builder(targets, abi, opts)
    b.fold_created()
    b.protected_writes(source)
    b.temp_dirs()
    b.pts_note()
    b.system_trees()
    b.cgroup_paths()
    b.generalise_reads()
    b.finish()
    notes += b.notes

    ports, abstract = _net_rules(targets, abi, notes)
    handled_fs = list(fs_rights_for(abi))
    handled_net = list(net_rights_for(abi))
    scoped = list(scopes_for(abi))
    if abstract and "abstract_unix_socket" in scoped:
        scoped.remove("abstract_unix_socket")
        notes.append("abstract UNIX socket scope left off: the workload connected to one")
    if any(t.signals for t in targets) and "signal" in scoped:
        scoped.remove("signal")
        notes.append("signal scope left off: the workload signalled processes outside itself")

    notes.append(METADATA_NOTE)
    by_port: dict[int, set[str]] = defaultdict(set)
    for right, numbers in ports.items():
        for port in numbers:
            by_port[port].add(right)
    config = ruleset_config(handled_fs, handled_net, scoped,
                            {p: set(e.rights) for p, e in b.entries.items()}, by_port,
                            b.maybe_missing)
    return GeneratedRuleset(config=config, abi=config["abi"], target_abi=abi, notes=notes,
                            reasons={p: e.why for p, e in b.entries.items()},
                            maybe_missing=sorted(b.maybe_missing))


# -- output --------------------------------------------------------------------------------

def format_for(output: str, fmt: str | None) -> RulesetFormat:
    """The format asked for, else the one the output's extension names (JSON by default)."""
    return RulesetFormat.parse(fmt) if fmt else RulesetFormat.of_output(output)


def render(config: dict[str, Any], fmt: str) -> str:
    """The document as landlockconfig JSON or TOML text (the library's own writers)."""
    return dumps(config, fmt)


def generate_file(recording: Recording, output: str, *, fmt: str | None = None,
                  target: str | None = None, options: Options | None = None,
                  source: str | None = None) -> GeneratedRuleset:
    """Generate and write the ruleset atomically; the result says what went in."""
    fmt = format_for(output, fmt)
    result = generate_ruleset(recording, target=target, options=options, source=source)
    write_atomic(output, render(result.config, fmt))
    result.format = fmt
    return result
