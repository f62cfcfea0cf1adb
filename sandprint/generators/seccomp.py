"""Recording -> seccomp profile: OCI JSON, SPO ``SeccompProfile`` YAML, systemd drop-in.

Every format carries the same content: one allow list of the syscalls the target made
(plus, with ``runtime=``, the ones the container runtime makes after loading the filter),
a default action for everything else, and the architectures the filter covers (the
recording's, plus the 32-bit companion ABIs this kernel runs, so a workload cannot step
around the filter by switching ABI).

The pure functions (:func:`profile_syscalls`, :func:`build_oci`, :func:`to_oci_json`,
:func:`build_spo`, :func:`to_spo`, :func:`to_systemd`) build the outputs;
:func:`generate_file` writes one atomically and returns the summary the CLI prints.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable

import yaml

from .. import __version__
from ..errors import InputError
from ..fileio import write_atomic
from ..profiler.recording import Recording
from ..syscalls import companion_arches, syscall_number
from . import baseline
from .runtime_syscalls import RuntimeSet, runtime_syscalls

FORMATS = ("oci", "spo", "systemd")
DEFAULT_ACTIONS = ("errno", "enosys", "kill", "log")
RUNTIME_CHOICES = ("none", "runc", "crun")

EPERM = 1
ENOSYS = 38

# clone()'s namespace flags: CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
# CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET (the mask Docker's default profile uses too).
CLONE_NAMESPACE_FLAGS = 0x7E020000
# the syscalls of a workload that makes or joins namespaces itself
NAMESPACE_SYSCALLS = ("unshare", "setns")
# clone's flags are its first argument, except on s390 where they come second
_CLONE_FLAGS_INDEX = {"SCMP_ARCH_S390X": 1, "SCMP_ARCH_S390": 1}

SPO_API_VERSION = "security-profiles-operator.x-k8s.io/v1"
SPO_KIND = "SeccompProfile"

# OCI architecture name -> systemd's SystemCallArchitectures= name.
SYSTEMD_ARCH = {
    "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86-64", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64-le", "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64", "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPSEL": "mips-le", "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPSEL64": "mips64-le", "SCMP_ARCH_MIPS64N32": "mips64-n32",
    "SCMP_ARCH_MIPSEL64N32": "mips64-le-n32", "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64",
}


# -- what goes in ----------------------------------------------------------------------------

def recorded_syscalls(rec: Recording, target: str | None = None) -> set[str]:
    """The syscall names of one target (``target``), or of all targets together."""
    if target is not None:
        names = [t.name for t in rec.targets]
        for t in rec.targets:
            if t.name == target:
                chosen = [t]
                break
        else:
            raise InputError(f"no target {target!r} in the recording", field="--target",
                             expected="one of " + (", ".join(names) or "(no targets)"))
    else:
        chosen = rec.targets
    out: set[str] = set()
    for t in chosen:
        for name in t.syscalls:
            if syscall_number(rec.arch, name) is None:
                raise InputError(f"unknown syscall {name!r}", field=f"targets.{t.name}.syscalls",
                                 expected=f"a syscall name libseccomp knows on {rec.arch}")
            out.add(name)
    return out


ESSENTIAL = {
    "execve": "the runtime (and `sandprint exec`) loads the filter before it executes the "
              "workload, so the workload could never start",
    "exit_group": "the workload could not exit: exit() would fail and the process hang or be "
                  "killed instead",
}


def check_essentials(names: set[str], default_action: str, where: str) -> None:
    """Refuse a blocking profile that leaves out execve or exit_group, saying why."""
    if default_action == "log":
        return
    missing = [n for n in ESSENTIAL if n not in names]
    if missing:
        why = "; ".join(f"without {n} {ESSENTIAL[n]}" for n in missing)
        raise InputError(
            f"the recording has no {' or '.join(missing)}, and a profile denying "
            f"{'them' if len(missing) > 1 else 'it'} is unusable: {why}. The recording probably "
            "missed the workload's start or end (attached with --pid, or cut by --duration); "
            "record it from start to exit, or add " + " ".join(f"--add-syscall {n}"
                                                             for n in missing),
            field=f"{where}.syscalls", expected=" and ".join(ESSENTIAL))


def made_threads(rec: Recording, target: str | None = None) -> bool | None:
    """Whether the workload made threads (the recorder tells tasks that ended as processes
    from threads, ``info.threads``); None when a recording does not say (an older one)."""
    said = [t.info.get("threads") for t in rec.targets if target is None or t.name == target]
    if "made" in said:
        return True
    if said and all(s == "none" for s in said):
        return False
    return None


def add_thread_exit(names: set[str], arch: str, default_action: str,
                    threads: bool | None = None) -> set[str]:
    """``exit`` for a workload that makes threads, recorded or not: a thread's own exit often
    never happens in a recording (the process's exit_group ends it first), and a thread whose
    exit a filter refuses does not end: glibc retries it forever, spinning. ``threads``:
    whether it made threads (None: unknown, so a workload calling clone may have). A process
    ends with exit_group, so a fork-only workload (``threads`` False) needs no exit. Returns
    what was added."""
    if default_action == "log" or not names & {"clone", "clone3"} or "exit" in names \
            or syscall_number(arch, "exit") is None or threads is False:
        return set()
    names.add("exit")
    return {"exit"}


def profile_arches(arch: str) -> list[str]:
    """The recording's architecture plus the companion ABIs this kernel runs."""
    return [arch] + [a for a in companion_arches(arch) if a != arch]


def add_runtime(names: set[str], arch: str, runtime: str) -> tuple[set[str], RuntimeSet | None,
                                                                   set[str]]:
    """``names`` plus the runtime's post-filter syscalls; also the set and what it added."""
    if runtime in (None, "", "none"):
        return set(names), None, set()
    rs = runtime_syscalls(runtime)
    extra = {n for n in rs.syscalls if syscall_number(arch, n) is not None}
    return names | extra, rs, extra - names


# -- OCI -------------------------------------------------------------------------------------

def default_action_fields(default_action: str) -> dict[str, Any]:
    if default_action == "errno":
        return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM}
    if default_action == "enosys":
        return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ENOSYS}
    if default_action == "kill":
        return {"defaultAction": "SCMP_ACT_KILL_PROCESS"}
    if default_action == "log":
        return {"defaultAction": "SCMP_ACT_LOG"}
    raise InputError(f"unknown default action {default_action!r}", field="--default-action",
                     expected=", ".join(DEFAULT_ACTIONS))


def restricts_clone(names: Iterable[str], default_action: str) -> bool:
    """Whether the profile allows ``clone`` only without namespace flags.

    A recording has syscall names, not clone's flags: a workload that never called unshare
    or setns is taken not to make namespaces, so the clone (or clone3) it forks or starts
    threads with may not either (otherwise clone(CLONE_NEWUSER) walks around the unshare the
    profile denies). A logging profile blocks nothing and is left alone."""
    names = set(names)
    return (bool(names & {"clone", "clone3"}) and default_action != "log"
            and not names & set(NAMESPACE_SYSCALLS))


def answers_clone3_enosys(names: Iterable[str], default_action: str,
                          allow_clone3: bool = False) -> bool:
    """Whether ``clone3`` gets ENOSYS instead of the allow its recording would give it.

    clone3 keeps its flags in a struct in user memory that a seccomp filter cannot read, so
    it cannot be allowed "without namespace flags" like clone. Answered ENOSYS, glibc falls
    back to clone, which the filter can check (Docker's default profile does the same).
    ``allow_clone3`` keeps it allowed as recorded, for a workload that needs clone3 itself
    (CLONE_INTO_CGROUP, set_tid) and knows namespaces stay reachable through it."""
    return ("clone3" in set(names) and not allow_clone3
            and restricts_clone(names, default_action))


def clone_rule(arch: str) -> dict[str, Any]:
    """Allow clone only when none of the namespace flags is set."""
    return {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": _CLONE_FLAGS_INDEX.get(arch, 0), "value": CLONE_NAMESPACE_FLAGS,
                      "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}


def clone3_rule() -> dict[str, Any]:
    """Answer clone3 ENOSYS, so glibc falls back to the clone :func:`clone_rule` checks."""
    return {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}


def build_oci(syscalls: Iterable[str], *, arches: list[str], default_action: str = "errno",
              allow_clone3: bool = False) -> dict[str, Any]:
    """The plain OCI ``linux.seccomp`` object: what runc, crun, containerd and the kubelet take.

    Only keys of the OCI runtime spec (no Docker ``archMap``/``includes``): one sorted allow
    rule; ``clone`` in a rule of its own without namespace flags (:func:`restricts_clone`);
    ``clone3`` answered ENOSYS (:func:`answers_clone3_enosys`), with ``clone`` allowed as
    above even when the recording had only clone3, since that is what glibc falls back to.
    """
    names = sorted(set(syscalls))
    if not names:
        raise InputError("no syscalls to allow: the recording's target made none",
                         field="syscalls", expected="a recording with at least one syscall")
    profile = default_action_fields(default_action)
    profile["architectures"] = list(arches)
    restrict = restricts_clone(names, default_action)
    enosys3 = answers_clone3_enosys(names, default_action, allow_clone3)
    special = ({"clone"} if restrict else set()) | ({"clone3"} if enosys3 else set())
    plain = [n for n in names if n not in special]
    profile["syscalls"] = [{"names": plain, "action": "SCMP_ACT_ALLOW"}] if plain else []
    if restrict and ("clone" in names or enosys3):
        profile["syscalls"].append(clone_rule(arches[0]))
    if enosys3:
        profile["syscalls"].append(clone3_rule())
    return profile


def _is_enosys_rule(rule: dict[str, Any]) -> bool:
    return (rule["action"] == "SCMP_ACT_ERRNO" and rule.get("errnoRet") == ENOSYS
            and not rule.get("args"))


def to_oci_json(profile: dict[str, Any]) -> str:
    return json.dumps(profile, indent=2) + "\n"


# -- SPO -------------------------------------------------------------------------------------

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def name_from_path(path: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain) made from an output file name."""
    stem = os.path.basename(path).split(".")[0].lower()
    stem = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-")
    return stem[:253] or "sandprint-profile"


def check_k8s_name(name: str) -> str:
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise InputError(f"invalid SeccompProfile name {name!r}", field="--name",
                         expected="a DNS-1123 subdomain: lower-case letters, digits, '-' and "
                                  "'.', starting and ending with a letter or digit")
    return name


def build_spo(oci: dict[str, Any], name: str, *,
              annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """The SPO ``SeccompProfile`` (v1, cluster-scoped) resource for an OCI profile."""
    if oci.get("defaultErrnoRet") not in (None, EPERM):
        raise InputError("the SPO SeccompProfile has no defaultErrnoRet, so its "
                         "SCMP_ACT_ERRNO default always returns EPERM",
                         field="--default-action", expected="errno, kill or log with --format spo")
    spec: dict[str, Any] = {"defaultAction": oci["defaultAction"]}
    spec["architectures"] = list(oci["architectures"])
    spec["syscalls"] = [{"action": r["action"], "names": list(r["names"]),
                         **{k: r[k] for k in ("errnoRet", "args") if k in r}}
                        for r in oci["syscalls"]]
    metadata: dict[str, Any] = {"name": check_k8s_name(name)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": SPO_API_VERSION, "kind": SPO_KIND, "metadata": metadata,
            "spec": spec}


def to_spo(oci: dict[str, Any], name: str, *, annotations: dict[str, str] | None = None) -> str:
    doc = build_spo(oci, name, annotations=annotations)
    header = ("# SeccompProfile for the Security Profiles Operator, generated by sandprint.\n"
              "# Cluster-scoped: apply with `kubectl apply -f FILE`; pods refer to it through\n"
              "# securityContext.seccompProfile (type Localhost, the operator's localhostProfile).\n")
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


# -- systemd ---------------------------------------------------------------------------------

def to_systemd(oci: dict[str, Any], *, origin: str = "a sandprint recording",
               per_line: int = 8) -> str:
    """A ``[Service]`` drop-in with the same allow list as the OCI profile."""
    names = {n for r in oci["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    namespaces = any(r.get("args") and r["names"] == ["clone"] for r in oci["syscalls"])
    # systemd gives per-syscall errnos only to deny-listed calls, never inside an allow list;
    # but RestrictNamespaces= itself answers clone3 ENOSYS (systemd's own filter cannot read
    # clone3's flags either), so clone3 stays in the allow list and that filter answers it.
    enosys3 = namespaces and any(r["names"] == ["clone3"] and _is_enosys_rule(r)
                                 for r in oci["syscalls"])
    if enosys3:
        names.add("clone3")
    names = sorted(names)
    arches = oci["architectures"]
    sd_arches = ["native"] + [SYSTEMD_ARCH[a] for a in arches[1:] if a in SYSTEMD_ARCH]
    action = oci["defaultAction"]
    errno_ret = oci.get("defaultErrnoRet")
    lines = [
        f"# systemd seccomp drop-in generated by sandprint {__version__} from {origin}.",
        "# Install it as /etc/systemd/system/UNIT.service.d/50-sandprint-seccomp.conf, then",
        "#   systemctl daemon-reload && systemctl restart UNIT",
        "#",
    ]
    if action == "SCMP_ACT_LOG":
        lines += [
            f"# Log mode: nothing is blocked; every syscall outside these {len(names)} is logged",
            "# to the audit log / journal (SystemCallLog=, systemd >= 247).",
        ]
    else:
        outcome = ("kills the process with SIGSYS" if action == "SCMP_ACT_KILL_PROCESS" else
                   f"fails with SystemCallErrorNumber= "
                   f"({'ENOSYS' if errno_ret == ENOSYS else 'EPERM'})")
        lines += [
            f"# SystemCallFilter= is an allow list of {len(names)} syscalls (the lines add up);",
            f"# any other syscall {outcome}.",
            "# systemd itself always permits the few calls it needs to start the service",
            "# (execve, exit, exit_group, getrlimit, rt_sigreturn, sigreturn, time and sleep",
            "# calls), so the effective list can be slightly wider than this one.",
            "# For a unit not running as root with full capabilities, systemd implies",
            "# NoNewPrivileges=yes.",
        ]
    if namespaces:
        lines += [
            "# RestrictNamespaces=yes: the workload never made namespaces (the OCI profile",
            "# allows clone only without namespace flags).",
        ]
    if enosys3:
        lines += [
            "# clone3 is in SystemCallFilter= but RestrictNamespaces= answers it ENOSYS (as",
            "# the OCI profile's own rule does; checked with systemd 252): its flags are in",
            "# memory a filter cannot read, and glibc falls back to clone, which is checked.",
        ]
    elif namespaces and "clone3" in names:
        lines += [
            "# The OCI profile allows clone3 as recorded, but RestrictNamespaces= answers it",
            "# ENOSYS all the same (glibc falls back to clone).",
        ]
    lines += [
        "# SystemCallArchitectures= lets processes use only these ABIs: the machine's own",
        "# (native) and the 32-bit companions the kernel runs and the profile covers:",
        "# " + ", ".join(arches) + ".",
        "[Service]",
        "SystemCallArchitectures=" + " ".join(sd_arches),
    ]
    if namespaces:
        lines.append("RestrictNamespaces=yes")
    chunks = [names[i:i + per_line] for i in range(0, len(names), per_line)]
    if action == "SCMP_ACT_LOG":
        lines.append("SystemCallLog=~" + " ".join(names))
    else:
        lines += ["SystemCallFilter=" + " ".join(c) for c in chunks]
        if action == "SCMP_ACT_ERRNO":
            lines.append("SystemCallErrorNumber=" + ("ENOSYS" if errno_ret == ENOSYS
                                                     else "EPERM"))
    return "\n".join(lines) + "\n"


# -- the whole step --------------------------------------------------------------------------

def _describe_action(default_action: str) -> str:
    return {"errno": "errno EPERM", "enosys": "errno ENOSYS", "kill": "kill the process",
            "log": "log only (nothing blocked)"}[default_action]


# The format an output's name implies: what a reader of the file expects to find in it.
FORMAT_OF_EXTENSION = {".json": "oci", ".yaml": "spo", ".yml": "spo", ".conf": "systemd"}


def format_for(output: str, fmt: str | None) -> str:
    """``fmt``, or the one ``output``'s extension implies (.json OCI, .yaml/.yml SPO, .conf
    systemd; any other name OCI). An explicit format the extension contradicts (``--format
    oci -o p.yaml``) is refused rather than written under a misleading name."""
    implied = FORMAT_OF_EXTENSION.get(os.path.splitext(output)[1].lower())
    if fmt is None:
        return implied or "oci"
    if implied is not None and fmt in FORMATS and fmt != implied:
        ext = os.path.splitext(output)[1]
        raise InputError(f"--format {fmt} does not match the output's extension {ext} "
                         f"(a {ext} file is {implied})", source=output, field="--format",
                         expected=f"--format {implied} (or none) for a {ext} file, or an "
                                  f"output name that fits {fmt}")
    return fmt


def generate_file(rec: Recording, output: str, *, fmt: str | None = None,
                  default_action: str = "errno", runtime: str = "none",
                  target: str | None = None, name: str | None = None,
                  add_syscalls: Iterable[str] = (), allow_clone3: bool = False,
                  baseline_path: str | None = None) -> str:
    """Write the profile for ``rec`` to ``output`` atomically; return the summary lines.
    ``fmt`` None: from the output's extension (:func:`format_for`).

    The last line compares the profile with the container engine's default profile
    (``baseline_path``, or the one :func:`baseline.find_baseline` finds)."""
    fmt = format_for(output, fmt)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", field="--format", expected=", ".join(FORMATS))
    if runtime not in RUNTIME_CHOICES:
        raise InputError(f"unknown runtime {runtime!r}", field="--runtime",
                         expected=", ".join(RUNTIME_CHOICES))
    default_action_fields(default_action)
    if fmt == "spo" and default_action == "enosys":
        raise InputError("the SPO SeccompProfile has no defaultErrnoRet, so ENOSYS cannot be "
                         "expressed", field="--default-action",
                         expected="errno, kill or log with --format spo")
    recorded = recorded_syscalls(rec, target)
    extra = set(add_syscalls)
    for n in sorted(extra):
        if syscall_number(rec.arch, n) is None:
            raise InputError(f"unknown syscall {n!r}", field="--add-syscall",
                             expected=f"a syscall name libseccomp knows on {rec.arch}")
    names, rs, added = add_runtime(recorded | extra, rec.arch, runtime)
    check_essentials(names, default_action, f"targets.{target}" if target else "targets.*")
    threads = made_threads(rec, target)
    thread_exit = add_thread_exit(names, rec.arch, default_action, threads)
    arches = profile_arches(rec.arch)
    enosys3 = answers_clone3_enosys(names, default_action, allow_clone3)
    if fmt == "systemd" and allow_clone3 and restricts_clone(names, default_action) \
            and "clone3" in names:
        raise InputError("a systemd drop-in cannot keep clone3 allowed: RestrictNamespaces=, "
                         "which restricts clone's flags, always answers clone3 ENOSYS",
                         field="--allow-clone3", expected="no --allow-clone3 with --format "
                                                          "systemd")
    oci = build_oci(names, arches=arches, default_action=default_action,
                    allow_clone3=allow_clone3)
    # clone3 answered ENOSYS is not allowed (the engines' defaults answer it the same way);
    # compared before writing, so a bad --baseline leaves no file behind
    comparison, _ = baseline.compare_with_baseline(names - {"clone3"} if enosys3 else names,
                                                   rec.arch, path=baseline_path)
    which = f"target {target!r}" if target else (
        "all targets" if len(rec.targets) != 1 else f"target {rec.targets[0].name!r}")

    if fmt == "oci":
        text = to_oci_json(oci)
    elif fmt == "spo":
        annotations = {"sandprint/generated-by": f"sandprint {__version__}",
                       "sandprint/target": which}
        if rs:
            annotations["sandprint/runtime"] = f"{rs.runtime} {rs.version or rs.versions}"
        text = to_spo(oci, check_k8s_name(name or name_from_path(output)),
                      annotations=annotations)
    else:
        text = to_systemd(oci, origin=which)
    write_atomic(output, text)

    # clone3 answered ENOSYS is not allowed; the clone it falls back to is, recorded or not
    allowed = len(names) - (1 if enosys3 else 0) + (1 if enosys3 and "clone" not in names
                                                    else 0)
    lines = [f"wrote {fmt} seccomp profile {output}: allows {allowed} syscalls "
             f"({len(recorded)} recorded{f', {len(extra - recorded)} added by hand' if extra - recorded else ''}, {which}) on {', '.join(arches)}; "
             f"default action: {_describe_action(default_action)}"]
    if rs:
        version = (f"{rs.runtime} {rs.version}" if rs.version else
                   f"{rs.runtime} (version not found here; default set for {rs.versions})")
        lines.append(f"added {len(added)} syscalls {version} makes after loading the filter"
                     + (f": {', '.join(sorted(added))}" if added else ""))
    if thread_exit:
        lines.append(("exit added: the workload makes threads, and" if threads else
                      "exit added: the workload calls clone and the recording does not say "
                      "whether it made threads (record it again to know); if it did,")
                     + " a thread's own exit, often cut off in a recording by the process's "
                     "exit_group, must never fail")
    if restricts_clone(names, default_action) and ("clone" in names or enosys3):
        lines.append("clone allowed only without namespace flags (CLONE_NEW*): the workload "
                     "never called unshare or setns")
    if enosys3:
        lines.append("clone3 answered ENOSYS (its flags are in memory a seccomp filter cannot "
                     "read): glibc falls back to clone, checked as above"
                     + ("; clone added for it (the recording had only clone3)"
                        if "clone" not in names else "")
                     + (" (systemd: through RestrictNamespaces=)" if fmt == "systemd" else ""))
    elif "clone3" in names and restricts_clone(names, default_action):
        lines.append("warning: clone3 is allowed as recorded (--allow-clone3), and its flags "
                     "are in memory a seccomp filter cannot read: under this profile the "
                     "workload can still create namespaces through clone3")
    lines.append(comparison)
    return "\n".join(lines)
