"""Recording -> seccomp profile: OCI JSON, SPO ``SeccompProfile`` YAML, systemd drop-in.

Every format carries the same content: one allow list of the syscalls the target made
(plus, with ``runtime=``, the ones the container runtime makes after loading the filter),
a default action for everything else, and the architectures the filter covers: the
recording's, plus a companion ABI (i386 on x86_64) only when the workload made syscalls through
it (``compatSyscalls``). A syscall of an architecture the profile does not list never reaches
the allow list: the filter answers it before (libseccomp's bad-architecture action, which
sandprint's own filter sets to the default action, and runc leaves at libseccomp's default,
killing the thread), so an x86_64 workload cannot step around its profile by switching ABI.

The pure functions (:func:`recorded_syscalls`, :func:`build_oci`) build the OCI profile; the
formats it is written in live in :mod:`sandprint.seccomp.formats`;
:func:`generate_file` writes one atomically and returns the summary the CLI prints.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from .. import __version__
from ..capabilities.needed import (QUERY_SYSCALLS, needed_capabilities, ran_as_root,
                                   notes as capability_notes)
from ..capabilities.outputs import summary_lines as capability_summary
from ..errors import InputError
from ..fileio import write_atomic
from ..recording import Recording
from ..seccomp import argrules
from ..seccomp.formats import (ProfileFormat, check_k8s_name, families_unrestricted_on,
                               name_from_path, systemd_arguments, to_oci_json, to_spo,
                               to_systemd)
from ..seccomp.profile import ENOSYS, Action, DefaultAction
from ..syscalls import KNOWN_ARCHES, syscall_number
from . import baseline
from .runtime_syscalls import RuntimeSet, runtime_syscalls

RUNTIME_CHOICES = ("none", "runc", "crun")


# clone()'s namespace flags: CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
# CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET (the mask Docker's default profile uses too).
CLONE_NAMESPACE_FLAGS = 0x7E020000
# the syscalls of a workload that makes or joins namespaces itself
NAMESPACE_SYSCALLS = ("unshare", "setns")
# clone's flags are its first argument, except on s390 where they come second
_CLONE_FLAGS_INDEX = {"SCMP_ARCH_S390X": 1, "SCMP_ARCH_S390": 1}


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
        for arch, per in t.compat_syscalls.items():
            for name in per:
                if arch not in KNOWN_ARCHES or syscall_number(arch, name) is None:
                    raise InputError(f"unknown syscall {name!r}",
                                     field=f"targets.{t.name}.compatSyscalls.{arch}",
                                     expected=f"a syscall name libseccomp knows on {arch}")
                out.add(name)
    return out


def recorded_args(rec: Recording, target: str | None = None
                  ) -> dict[str, dict[tuple[int, ...], int]] | None:
    """The decisive argument values (argspec.ARG_RULES) of one target, or of all together;
    None when the recording did not record arguments (an older one)."""
    if not rec.args_recorded:
        return None
    out: dict[str, dict[tuple[int, ...], int]] = {}
    for t in rec.targets:
        if target is not None and t.name != target:
            continue
        for name, per in t.args.items():
            mine = out.setdefault(name, {})
            for values, n in per.items():
                mine[values] = mine.get(values, 0) + n
    return out


def unknown_args(rec: Recording, target: str | None = None) -> set[str]:
    """The ARG_RULES syscalls some merged-in run made without its arguments being read
    (``targets[].argsUnknown``: a ``watch`` recording, or an older one)."""
    out: set[str] = set()
    for t in rec.targets:
        if target is None or t.name == target:
            out |= t.args_unknown
    return out


def used_arches(rec: Recording, target: str | None = None) -> list[str]:
    """The companion ABIs (other than the recording's) the target(s) made syscalls through."""
    return sorted({a for t in rec.targets if target is None or t.name == target
                   for a, per in t.compat_syscalls.items() if per and a != rec.arch})


ESSENTIAL = {
    "execve": "the runtime (and `sandprint exec`) loads the filter before it executes the "
              "workload, so the workload could never start",
    "exit_group": "the workload could not exit: exit() would fail and the process hang or be "
                  "killed instead",
}


def check_essentials(names: set[str], default_action: DefaultAction, where: str) -> None:
    """Refuse a blocking profile that leaves out execve or exit_group, saying why."""
    if not default_action.blocks:
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


def add_thread_exit(names: set[str], arch: str, default_action: DefaultAction,
                    threads: bool | None = None) -> set[str]:
    """``exit`` for a workload that makes threads, recorded or not: a thread's own exit often
    never happens in a recording (the process's exit_group ends it first), and a thread whose
    exit a filter refuses does not end: glibc retries it forever, spinning. ``threads``:
    whether it made threads (None: unknown, so a workload calling clone may have). A process
    ends with exit_group, so a fork-only workload (``threads`` False) needs no exit. Returns
    what was added."""
    if not default_action.blocks or not names & {"clone", "clone3"} or "exit" in names \
            or syscall_number(arch, "exit") is None or threads is False:
        return set()
    names.add("exit")
    return {"exit"}


def profile_arches(rec: Recording | str, target: str | None = None) -> list[str]:
    """The recording's architecture, plus the companion ABIs the workload used: only those
    (an architecture name alone: just it). Every other architecture's syscalls meet the
    filter's bad-architecture action."""
    if isinstance(rec, str):
        return [rec]
    return [rec.arch] + used_arches(rec, target)


def add_runtime(names: set[str], arch: str, runtime: str) -> tuple[set[str], RuntimeSet | None,
                                                                   set[str]]:
    """``names`` plus the runtime's post-filter syscalls; also the set and what it added."""
    if runtime in (None, "", "none"):
        return set(names), None, set()
    rs = runtime_syscalls(runtime)
    extra = {n for n in rs.syscalls if syscall_number(arch, n) is not None}
    return names | extra, rs, extra - names


# -- OCI -------------------------------------------------------------------------------------

def default_action_fields(default_action: DefaultAction) -> dict[str, Any]:
    out: dict[str, Any] = {"defaultAction": default_action.action.value}
    if default_action.errno_ret is not None:
        out["defaultErrnoRet"] = default_action.errno_ret
    return out


def restricts_clone(names: Iterable[str], default_action: DefaultAction) -> bool:
    """Whether the profile allows ``clone`` only without namespace flags.

    A recording has syscall names, not clone's flags: a workload that never called unshare
    or setns is taken not to make namespaces, so the clone (or clone3) it forks or starts
    threads with may not either (otherwise clone(CLONE_NEWUSER) walks around the unshare the
    profile denies). A logging profile blocks nothing and is left alone."""
    names = set(names)
    return (bool(names & {"clone", "clone3"}) and default_action.blocks
            and not names & set(NAMESPACE_SYSCALLS))


def answers_clone3_enosys(names: Iterable[str], default_action: DefaultAction,
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
    return {"names": ["clone"], "action": Action.ALLOW.value,
            "args": [{"index": _CLONE_FLAGS_INDEX.get(arch, 0), "value": CLONE_NAMESPACE_FLAGS,
                      "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}


def clone3_rule() -> dict[str, Any]:
    """Answer clone3 ENOSYS, so glibc falls back to the clone :func:`clone_rule` checks."""
    return {"names": ["clone3"], "action": Action.ERRNO.value, "errnoRet": ENOSYS}


def build_oci(syscalls: Iterable[str], *, arches: list[str],
              default_action: DefaultAction | str = DefaultAction.ERRNO,
              allow_clone3: bool = False,
              arg_plan: argrules.ArgPlan | None = None) -> dict[str, Any]:
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
    default_action = DefaultAction.parse(default_action, "--default-action")
    profile = default_action_fields(default_action)
    profile["architectures"] = list(arches)
    restrict = restricts_clone(names, default_action)
    enosys3 = answers_clone3_enosys(names, default_action, allow_clone3)
    special = ({"clone"} if restrict else set()) | ({"clone3"} if enosys3 else set())
    if arg_plan is not None and default_action.blocks:
        special |= arg_plan.narrowed
    plain = [n for n in names if n not in special]
    profile["syscalls"] = [{"names": plain, "action": Action.ALLOW.value}] if plain else []
    if arg_plan is not None and default_action.blocks:
        profile["syscalls"] += arg_plan.rules
    if restrict and ("clone" in names or enosys3):
        profile["syscalls"].append(clone_rule(arches[0]))
    if enosys3:
        profile["syscalls"].append(clone3_rule())
    return profile


# -- the whole step --------------------------------------------------------------------------

def format_for(output: str, fmt: str | None) -> ProfileFormat:
    """``fmt``, or the one ``output``'s extension implies (.json OCI, .yaml/.yml SPO, .conf
    systemd; any other name OCI). An explicit format the extension contradicts (``--format
    oci -o p.yaml``) is refused rather than written under a misleading name."""
    implied = ProfileFormat.implied_by(output)
    if fmt is None:
        return implied or ProfileFormat.OCI
    fmt = ProfileFormat.parse(fmt)
    if implied is not None and fmt != implied:
        ext = os.path.splitext(output)[1]
        raise InputError(f"--format {fmt} does not match the output's extension {ext} "
                         f"(a {ext} file is {implied})", source=output, field="--format",
                         expected=f"--format {implied} (or none) for a {ext} file, or an "
                                  f"output name that fits {fmt}")
    return fmt


def capability_queries(rec: Recording, target: str | None, names: set[str]) -> set[str]:
    """The capability queries (capget) a root workload makes once its capabilities are
    dropped, when the recording (made with all of them) lacks them."""
    if not ran_as_root(rec, target):
        return set()
    return {n for n in QUERY_SYSCALLS
            if n not in names and syscall_number(rec.arch, n) is not None}


def generate_file(rec: Recording, output: str, *, fmt: str | None = None,
                  default_action: DefaultAction | str = DefaultAction.ERRNO,
                  runtime: str = "none",
                  target: str | None = None, name: str | None = None,
                  add_syscalls: Iterable[str] = (), allow_clone3: bool = False,
                  baseline_path: str | None = None, widen: Iterable[str] = (),
                  widen_notes: Iterable[str] = ()) -> str:
    """Write the profile for ``rec`` to ``output`` atomically; return the summary lines.
    ``fmt`` None: from the output's extension (:func:`format_for`).

    ``widen``: syscalls allowed beside the recorded ones as if recorded (``--widen static``:
    the unseen low-risk ones the recorded programs can make, from
    :func:`sandprint.static.coverage.widening`); ``widen_notes`` are printed with the summary.

    The last line compares the profile with the container engine's default profile
    (``baseline_path``, or the one :func:`baseline.find_baseline` finds)."""
    fmt = format_for(output, fmt)
    if runtime not in RUNTIME_CHOICES:
        raise InputError(f"unknown runtime {runtime!r}", field="--runtime",
                         expected=", ".join(RUNTIME_CHOICES))
    default_action = DefaultAction.parse(default_action, "--default-action")
    if fmt == ProfileFormat.SPO and default_action == DefaultAction.ENOSYS:
        raise InputError("the SPO SeccompProfile has no defaultErrnoRet, so ENOSYS cannot be "
                         "expressed", field="--default-action",
                         expected="errno, kill or log with --format spo")
    recorded = recorded_syscalls(rec, target)
    extra = set(add_syscalls)
    for n in sorted(extra):
        if syscall_number(rec.arch, n) is None:
            raise InputError(f"unknown syscall {n!r}", field="--add-syscall",
                             expected=f"a syscall name libseccomp knows on {rec.arch}")
    widened = set(widen) - recorded - extra
    for n in sorted(widened):
        if syscall_number(rec.arch, n) is None:
            raise InputError(f"unknown syscall {n!r}", field="--widen",
                             expected=f"a syscall name libseccomp knows on {rec.arch}")
    names, rs, added = add_runtime(recorded | extra | widened, rec.arch, runtime)
    cap_query = capability_queries(rec, target, names)
    names |= cap_query
    check_essentials(names, default_action, f"targets.{target}" if target else "targets.*")
    threads = made_threads(rec, target)
    thread_exit = add_thread_exit(names, rec.arch, default_action, threads)
    arches = profile_arches(rec, target)
    enosys3 = answers_clone3_enosys(names, default_action, allow_clone3)
    if fmt == ProfileFormat.SYSTEMD and allow_clone3 and restricts_clone(names, default_action) \
            and "clone3" in names:
        raise InputError("a systemd drop-in cannot keep clone3 allowed: RestrictNamespaces=, "
                         "which restricts clone's flags, always answers clone3 ENOSYS",
                         field="--allow-clone3", expected="no --allow-clone3 with --format "
                                                          "systemd")
    args = recorded_args(rec, target)
    if args is not None:
        # a syscall named with --add-syscall is allowed as asked: by name, any arguments
        args = {n: v for n, v in args.items() if n not in extra}
    if args is not None and rs is not None:
        # the runtime's own calls after loading the filter, with the values it uses
        for sname, values in rs.args.items():
            if sname in names:
                per = args.setdefault(sname, {})
                for v in values:
                    per.setdefault(v, 0)
    compat: dict[str, dict[str, int]] = {}
    for t in rec.targets:
        if target is None or t.name == target:
            for carch, per in t.compat_syscalls.items():
                for cname, n in per.items():
                    compat.setdefault(carch, {})[cname] = compat.get(carch, {}).get(cname, 0) + n
    arg_plan = (argrules.plan(names, args, unknown=unknown_args(rec, target) - extra,
                              arches=arches,
                              default_errno_ret=default_action.errno_ret, compat=compat)
                if default_action.blocks else None)
    oci = build_oci(names, arches=arches, default_action=default_action,
                    allow_clone3=allow_clone3, arg_plan=arg_plan)
    # clone3 answered ENOSYS is not allowed (the engines' defaults answer it the same way);
    # compared before writing, so a bad --baseline leaves no file behind
    comparison, _ = baseline.compare_with_baseline(names - {"clone3"} if enosys3 else names,
                                                   rec.arch, path=baseline_path)
    which = f"target {target!r}" if target else (
        "all targets" if len(rec.targets) != 1 else f"target {rec.targets[0].name!r}")
    caps = needed_capabilities(rec, target)

    if fmt == ProfileFormat.OCI:
        text = to_oci_json(oci)
    elif fmt == ProfileFormat.SPO:
        annotations = {"sandprint/generated-by": f"sandprint {__version__}",
                       "sandprint/target": which}
        if rs:
            annotations["sandprint/runtime"] = f"{rs.runtime} {rs.version or rs.versions}"
        text = to_spo(oci, check_k8s_name(name or name_from_path(output)),
                      annotations=annotations)
    else:
        text = to_systemd(oci, origin=which, capabilities=caps)
    write_atomic(output, text)

    # clone3 answered ENOSYS is not allowed; the clone it falls back to is, recorded or not
    allowed = len(names) - (1 if enosys3 else 0) + (1 if enosys3 and "clone" not in names
                                                    else 0)
    lines = [f"wrote {fmt} seccomp profile {output}: allows {allowed} syscalls "
             f"({len(recorded)} recorded{f', {len(extra - recorded)} added by hand' if extra - recorded else ''}{f', {len(widened)} widened' if widened else ''}, {which}) on {', '.join(arches)}; "
             f"default action: {default_action.described}"]
    if len(arches) > 1:
        lines.append(f"{', '.join(arches[1:])} listed: the workload made syscalls through it "
                     "(compatSyscalls); a name allowed applies to every listed architecture "
                     "(OCI profiles have one list), so its 32-bit and 64-bit calls are allowed "
                     "alike")
    else:
        lines.append(f"{arches[0]} only: syscalls of any other architecture (i386 int 0x80 "
                     "...) meet the bad-architecture action (sandprint exec/verify: the "
                     "default action; runc: libseccomp's default, killing the thread)")
    if rs:
        version = (f"{rs.runtime} {rs.version}" if rs.version else
                   f"{rs.runtime} (version not found here; default set for {rs.versions})")
        lines.append(f"added {len(added)} syscalls {version} makes after loading the filter"
                     + (f": {', '.join(sorted(added))}" if added else ""))
    lines += list(widen_notes)
    if thread_exit:
        lines.append(("exit added: the workload makes threads, and" if threads else
                      "exit added: the workload calls clone and the recording does not say "
                      "whether it made threads (record it again to know); if it did,")
                     + " a thread's own exit, often cut off in a recording by the process's "
                     "exit_group, must never fail")
    if restricts_clone(names, default_action) and ("clone" in names or enosys3):
        lines.append("clone allowed only without namespace flags (CLONE_NEW*): the workload "
                     "never called unshare or setns")
    uring = argrules.io_uring_warning(names) if default_action.blocks else None
    if uring:
        lines.append(uring)
    if arg_plan is not None:
        lines += arg_plan.notes
        if fmt == ProfileFormat.SYSTEMD and arg_plan.narrowed:
            families, lock, unexpressed = systemd_arguments(oci)
            loose = families_unrestricted_on(oci["architectures"]) if families else []
            lines.append("systemd drop-in: " + "; ".join(filter(None, [
                f"RestrictAddressFamilies={' '.join(families)}" if families else "",
                f"warning: RestrictAddressFamilies= has no effect on {', '.join(loose)} "
                "(systemd skips ABIs with socketcall()): SystemCallArchitectures=native "
                "closes it" if loose else "",
                "LockPersonality=yes" if lock else "",
                "NOT expressed (allowed by name; systemd has no argument filter): "
                + ", ".join(unexpressed) if unexpressed else ""])))
    if enosys3:
        lines.append("clone3 answered ENOSYS (its flags are in memory a seccomp filter cannot "
                     "read): glibc falls back to clone, checked as above"
                     + ("; clone added for it (the recording had only clone3)"
                        if "clone" not in names else "")
                     + (" (systemd: through RestrictNamespaces=)" if fmt == ProfileFormat.SYSTEMD else ""))
    elif "clone3" in names and restricts_clone(names, default_action):
        lines.append("warning: clone3 is allowed as recorded (--allow-clone3), and its flags "
                     "are in memory a seccomp filter cannot read: under this profile the "
                     "workload can still create namespaces through clone3")
    if cap_query:
        lines.append(f"{', '.join(sorted(cap_query))} added: the workload ran as root with "
                     "every capability, and under the reduced set exec gives it programs ask "
                     "for theirs (runuser, PAM)")
    lines += capability_summary(caps, capability_notes(rec))
    lines.append(comparison)
    return "\n".join(lines)
