"""Command line: thin click commands over the library.

Every command parses its arguments, calls one library function and prints. Errors the library
raises as :class:`sandprint.errors.SandprintError` become one line on stderr and the error's
exit status (2 for bad usage or input); nothing else is caught here, so a real bug still shows
its traceback.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import SandprintError, one_line


def echo_err(message: str) -> None:
    click.echo(message, err=True)


class SandprintGroup(click.Group):
    """A click group that turns sandprint's own errors into one line and an exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SandprintError as e:
            echo_err(f"sandprint: error: {one_line(str(e))}")
            ctx.exit(e.exit_code)
        except click.UsageError as e:
            # One line, like sandprint's own errors (a script reads the last line of stderr).
            where = e.ctx.command_path if e.ctx else ctx.command_path
            echo_err(f"sandprint: error: {one_line(e.format_message())} "
                     f"(see '{where} --help')")
            ctx.exit(e.exit_code)


@click.group(cls=SandprintGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sandprint")
def main() -> None:
    """Watch a workload with eBPF and write the sandbox that fits it."""


# -- record --------------------------------------------------------------------------------

@main.command(context_settings={"allow_interspersed_args": False})
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the recording (JSON), atomically.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds.")
@click.option("--pid", type=click.IntRange(min=1), help="Record an existing process tree.")
@click.option("--container", "container", metavar="NAME_OR_ID",
              help="Record a container (waits for it to start; stops when it exits).")
@click.option("--pod", metavar="NAMESPACE/NAME", help="Record a Kubernetes pod on this node.")
@click.option("--container-name", "container_name", help="With --pod: only this container.")
@click.option("--runtime-timeout", type=float, default=300.0, show_default=True,
              help="With --container/--pod: how long to wait for it to start.")
@click.option("--syscalls-only", is_flag=True,
              help="Record syscalls only, not file and network accesses: enough for seccomp "
                   "profiles (not Landlock rulesets), and cheaper for every process on the host.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def record(output, duration, pid, container, pod, container_name, runtime_timeout,
           syscalls_only, command):
    """Record a command (after --), a process tree, a container or a pod.

    \b
    With a command, sandprint exits with the command's status (128+N when signal N
    killed it) and the session ends when the command exits. Processes it leaves running
    (a daemon) are named and left running, and the recording is marked incomplete
    ("complete": false, with "incompleteReasons"), as it is when --duration or SIGINT/SIGTERM
    ends the session first (the command is then sent SIGTERM, SIGKILL 2 s later). An output
    that cannot be written is refused before starting (exit 2); if writing fails at the end
    the recording is saved in $TMPDIR instead, and sandprint says where and exits 1.
    """
    from .profiler import record as rec

    chosen = [x for x in (command, pid, container, pod) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one target: -- COMMAND, --pid, --container or --pod")
    if container_name and not pod:
        raise click.UsageError("--container-name only goes with --pod")
    result = rec.record_cli(output=output, duration=duration, command=list(command) or None,
                            pid=pid, container=container, pod=pod,
                            container_name=container_name, wait_timeout=runtime_timeout,
                            log=echo_err, files=not syscalls_only)
    sys.exit(result)


# -- watch ---------------------------------------------------------------------------------

@main.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write what was seen, as a recording (JSON), atomically.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds.")
@click.option("--pid", type=click.IntRange(min=1), help="Watch a process tree.")
@click.option("--container", "container", metavar="NAME_OR_ID", help="Watch a container.")
@click.option("--pod", metavar="NAMESPACE/NAME", help="Watch a Kubernetes pod on this node.")
@click.option("--container-name", "container_name", help="With --pod: only this container.")
def watch(output, duration, pid, container, pod, container_name):
    """Collect the seccomp denials (would-be denials of a --default-action log profile) of a
    running target from the kernel's audit records, as a recording to merge.

    \b
    No auditd needed: the records are read from the audit netlink socket (else /dev/kmsg).
    Ends when the target ends, at --duration, or on SIGINT/SIGTERM; the recording is
    written in every case.
    """
    from .verify.watch import watch_cli

    chosen = [x for x in (pid, container, pod) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one target: --pid, --container or --pod")
    if container_name and not pod:
        raise click.UsageError("--container-name only goes with --pod")
    sys.exit(watch_cli(output=output, duration=duration, pid=pid, container=container,
                       pod=pod, container_name=container_name, log=echo_err))


# -- generate ------------------------------------------------------------------------------

@main.group(cls=SandprintGroup)
def generate() -> None:
    """Write a sandbox (seccomp profile, Landlock ruleset) from recordings."""


def _missed_start(rec) -> bool:
    """A recording (or a run merged into it) of a container that was already running its
    workload when the recorder attached: it lacks the container's start."""
    metas = [rec.metadata] + list(rec.metadata.get("sources") or [])
    return any(isinstance(m.get("target"), dict) and m["target"].get("startedBeforeRecorder")
               for m in metas)


def _load_recordings(paths, allow_lossy: bool):
    from .recording import merge, Recording
    from .errors import InputError

    from .documents import RECORDING, load_as

    recs = [load_as(p, RECORDING, Recording.load) for p in paths]
    for p, r in zip(paths, recs):
        if r.lost_events and not allow_lossy:
            raise InputError(f"recording lost {r.lost_events} events, so it may miss what the "
                             "workload needs; record again, or pass --allow-lossy",
                             source=p, field="metadata.lostEvents", expected="0")
        if _missed_start(r) and not allow_lossy:
            raise InputError("the recording misses its container's start (the container was "
                             "already running when sandprint attached), so the profile may "
                             "lack what the container needs to start; record again with "
                             "sandprint started before the container, or pass --allow-lossy",
                             source=p, field="metadata.target.startedBeforeRecorder",
                             expected="absent")
        if not r.complete:
            why = "; ".join(r.metadata.get("incompleteReasons") or ["no reason given"])
            echo_err(f"sandprint: warning: {one_line(p)} is an incomplete recording "
                     f"({one_line(why)}): the sandbox may lack what the workload does "
                     "beyond it")
    return recs[0] if len(recs) == 1 else merge(recs, paths)


@generate.command("seccomp")
@click.argument("recordings", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["oci", "spo", "systemd"]),
              help="OCI JSON, SPO SeccompProfile YAML, or a systemd drop-in (default: from the "
                   "output's extension: .yaml/.yml spo, .conf systemd, otherwise oci).")
@click.option("--default-action", type=click.Choice(["errno", "enosys", "kill", "log"]),
              default="errno", show_default=True,
              help="What a syscall outside the profile gets: EPERM, ENOSYS, the process "
                   "killed, or allowed and logged.")
@click.option("--runtime", type=click.Choice(["runc", "crun", "none"]), default="none",
              show_default=True,
              help="Add the syscalls this container runtime makes after loading the filter.")
@click.option("--target", "target_name", help="Which target of the recording (default: all).")
@click.option("--name", "profile_name", help="Name of the SeccompProfile (spo format).")
@click.option("--allow-lossy", is_flag=True,
              help="Accept recordings that lost events or missed their container's start.")
@click.option("--add-syscall", "add_syscalls", multiple=True, metavar="NAME",
              help="Also allow NAME (e.g. execve or exit_group missed by a --pid recording).")
@click.option("--allow-clone3", is_flag=True,
              help="Keep clone3 allowed as recorded instead of answering it ENOSYS (glibc then "
                   "falls back to clone, whose namespace flags the filter checks). Only for a "
                   "workload that needs clone3 itself: namespaces stay reachable through it.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="The default seccomp profile to compare with (default: $SANDPRINT_BASELINE, "
                   "else the one the installed container engine ships).")
@click.option("--widen", type=click.Choice(["static"]),
              help="static: also allow the unseen low-risk syscalls the recorded programs' "
                   "code can make (static analysis of every program the recording saw run "
                   "and the libraries it loaded); the summary lists each with its programs.")
@click.option("--no-static", is_flag=True,
              help="Do not analyse the recorded programs (no coverage lines; not with "
                   "--widen).")
def generate_seccomp(recordings, output, fmt, default_action, runtime, target_name,
                     profile_name, allow_lossy, add_syscalls, allow_clone3, baseline_path,
                     widen, no_static):
    """Write a seccomp profile (OCI JSON, SPO SeccompProfile, systemd drop-in)."""
    from .generators import seccomp
    from .seccomp.profile import DefaultAction

    if widen and no_static:
        raise click.UsageError("--widen static needs the static analysis: drop --no-static")
    rec = _load_recordings(recordings, allow_lossy)
    widening = None
    if not no_static:
        from .static import coverage

        covs = coverage.coverage(rec, target_name)
        if widen:
            widening = coverage.widening(covs)
    summary = seccomp.generate_file(rec, output, fmt=fmt,
                                    widen=widening.names if widening else (),
                                    widen_notes=widening.notes() if widening else (),
                                    default_action=DefaultAction.parse(default_action,
                                                                       "--default-action"),
                                    runtime=runtime, target=target_name, name=profile_name,
                                    add_syscalls=add_syscalls, allow_clone3=allow_clone3,
                                    baseline_path=baseline_path)
    if not no_static:
        for c in covs:
            for line in c.lines():
                echo_err(line)
    echo_err(summary)


@generate.command("landlock")
@click.argument("recordings", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "toml"]),
              help="landlockconfig spelling (default: from the output's extension, else JSON).")
@click.option("--abi", type=click.IntRange(min=1),
              help="Landlock ABI of the kernel the ruleset is for (default: the recording's).")
@click.option("--read-threshold", type=click.IntRange(min=0), default=5, show_default=True,
              help="Distinct entries read under a directory before the directory is granted "
                   "for reading as a whole (0: never).")
@click.option("--min-depth", type=click.IntRange(min=1), default=2, show_default=True,
              help="Never grant reads on a directory shallower than this (/srv is 1).")
@click.option("--system-tree", "system_trees", multiple=True, metavar="PATH",
              help="Also treat PATH as a system tree (granted read-execute when used).")
@click.option("--protect", "protected", multiple=True, metavar="PATH",
              help="Also treat PATH as a tree never granted as a whole.")
@click.option("--no-host-check", is_flag=True,
              help="Do not look at this host (path kinds, existence, unread secrets).")
@click.option("--no-proc-for-children", is_flag=True,
              help="Keep /proc/self reads on /proc/self even when child processes made "
                   "them (their own /proc entries are then refused).")
@click.option("--secret-pattern", "secret_patterns", multiple=True, metavar="GLOB",
              help="Also take files named GLOB for secrets: a directory holding one the "
                   "workload never read is not granted as a whole.")
@click.option("--allow-dir-write", "allow_dir_write", multiple=True, metavar="DIR",
              help="Grant create/remove rights on the protected directory DIR where the "
                   "workload created or renamed files in it (otherwise generate stops).")
@click.option("--app-tmpdir", metavar="DIR",
              help="Grant what was done in /tmp and /var/tmp on DIR instead (a self-sandboxing "
                   "application then sets TMPDIR=DIR).")
@click.option("--target", "target_name", help="Which target of the recording (default: all).")
@click.option("--allow-lossy", is_flag=True,
              help="Accept recordings that lost events or missed their container's start.")
def generate_landlock(recordings, output, fmt, abi, read_threshold, min_depth, system_trees,
                      protected, no_host_check, no_proc_for_children, secret_patterns,
                      allow_dir_write, app_tmpdir, target_name, allow_lossy):
    """Write a Landlock ruleset (landlockconfig JSON or TOML)."""
    from .generators import landlock

    if read_threshold == 1:
        raise click.BadParameter("0 (never) or at least 2", param_hint="--read-threshold")
    rec = _load_recordings(recordings, allow_lossy)
    options = landlock.Options(
        abi=abi, read_threshold=read_threshold, min_depth=min_depth,
        system_trees=landlock.Options.system_trees + tuple(system_trees),
        protected_trees=landlock.Options.protected_trees + tuple(protected),
        host_check=not no_host_check, proc_for_children=not no_proc_for_children,
        secret_patterns=landlock.Options.secret_patterns + tuple(secret_patterns),
        allow_dir_write=tuple(os.path.normpath(d) for d in allow_dir_write),
        app_tmpdir=app_tmpdir)
    result = landlock.generate_file(rec, output, fmt=fmt, target=target_name, options=options,
                                    source=" + ".join(recordings))
    for note in result.notes:
        echo_err(f"landlock: note: {note}")
    echo_err(result.summary(output))


# -- exec / verify -------------------------------------------------------------------------

@main.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("--seccomp", "seccomp_path", type=click.Path(dir_okay=False),
              help="OCI (or SPO) seccomp profile to load.")
@click.option("--landlock", "landlock_path", type=click.Path(dir_okay=False),
              help="landlockconfig ruleset (JSON or TOML) to enforce.")
@click.option("--compat", type=click.Choice(["best-effort", "soft", "hard"]),
              default="best-effort", show_default=True,
              help="Landlock compatibility: best effort, or refuse to run without full support.")
@click.option("--shared-tmp", is_flag=True,
              help="Do not give the command a private /tmp, /var/tmp, $TMPDIR and /dev/pts "
                   "(the ruleset's rules there then grant the host's files).")
@click.option("--recording", "recordings", multiple=True, type=click.Path(dir_okay=False),
              help="Recording(s) the sandbox was generated from: the capabilities they show "
                   "the workload needed are kept; every other one is dropped.")
@click.option("--keep-caps", "keep_caps", metavar="CAP,...", default="",
              help="Also keep these capabilities (warned about when no recording shows "
                   "the workload needed them).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(seccomp_path, landlock_path, compat, shared_tmp, recordings, keep_caps, command):
    """Run COMMAND under a seccomp profile and/or Landlock ruleset (replaces sandprint)."""
    from . import enforce

    if not seccomp_path and not landlock_path:
        raise click.UsageError("give --seccomp and/or --landlock (without either the command "
                               "would run unconfined)")
    from .capabilities.names import parse as parse_caps

    enforce.exec_sandboxed(list(command), seccomp=seccomp_path, landlock=landlock_path,
                           compat=compat, log=echo_err, private_tmp=not shared_tmp,
                           recordings=list(recordings), keep_caps=parse_caps(keep_caps))


@main.command(context_settings={"allow_interspersed_args": False})
@click.option("--seccomp", "seccomp_path", type=click.Path(dir_okay=False))
@click.option("--landlock", "landlock_path", type=click.Path(dir_okay=False))
@click.option("--complain", is_flag=True,
              help="Block nothing; list everything that would have been denied.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write the verification report as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write the verification report as a self-contained HTML page.")
@click.option("--fix", is_flag=True,
              help="Extend the profile/ruleset with what was denied (regenerated, written "
                   "in place atomically) and print the diff.")
@click.option("--recording", "recordings", multiple=True, type=click.Path(dir_okay=False),
              help="Recording(s) the sandbox was generated from: the report says how much "
                   "of the workload they saw, and warns about a single short run; the "
                   "capabilities they show the workload needed are kept, every other one "
                   "is dropped.")
@click.option("--keep-caps", "keep_caps", metavar="CAP,...", default="",
              help="Also keep these capabilities (warned about when no recording shows "
                   "the workload needed them).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True))
@click.option("--podman", is_flag=True,
              help="Verify a container: the arguments after -- are podman run's "
                   "([OPTIONS] IMAGE [COMMAND]); the image runs with podman --runtime runc "
                   "under the --seccomp profile.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def verify(seccomp_path, landlock_path, complain, report_path, html_path, fix, recordings,
           keep_caps, duration, podman, command):
    """Replay COMMAND under the sandbox and report every denial (exit 1 if any)."""
    from .capabilities.names import parse as parse_caps
    from .verify import replay as verify_mod

    if not seccomp_path and not landlock_path:
        raise click.UsageError("give --seccomp and/or --landlock")
    if podman:
        if landlock_path or fix or not seccomp_path:
            raise click.UsageError("--podman verifies a seccomp profile (--seccomp); a "
                                   "container's Landlock ruleset is applied inside it, and "
                                   "--fix does not go with --podman")
        from .verify.container import verify_container_cli

        sys.exit(verify_container_cli(list(command), seccomp=seccomp_path, complain=complain,
                                      report=report_path, html=html_path, duration=duration,
                                      log=echo_err, recordings=list(recordings)))
    code = verify_mod.verify_cli(list(command), seccomp=seccomp_path, landlock=landlock_path,
                                 complain=complain, report=report_path, duration=duration,
                                 log=echo_err, html=html_path, fix=fix,
                                 recordings=list(recordings),
                                 keep_caps=parse_caps(keep_caps))
    sys.exit(code)


@main.command(context_settings={"allow_interspersed_args": False})
@click.option("--seccomp", "seccomp_path", type=click.Path(dir_okay=False))
@click.option("--landlock", "landlock_path", type=click.Path(dir_okay=False))
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write the comparison as a JSON report.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True))
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def check(seccomp_path, landlock_path, report_path, duration, command):
    """Drift gate: exit 1 with a diff when COMMAND needs more than the committed sandbox."""
    from .verify import drift as check_mod

    if not seccomp_path and not landlock_path:
        raise click.UsageError("give --seccomp and/or --landlock")
    sys.exit(check_mod.check_cli(list(command), seccomp=seccomp_path, landlock=landlock_path,
                                 duration=duration, log=echo_err, report=report_path))


# -- k8s -----------------------------------------------------------------------------------

@main.group(cls=SandprintGroup)
def k8s() -> None:
    """Kubernetes wiring: patch manifests, install profiles for the kubelet."""


@k8s.command("patch")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--profile", "profiles", multiple=True, metavar="CONTAINER=PROFILE",
              help="Localhost profile (relative to the kubelet's seccomp dir) per container.")
@click.option("--recording", "recordings", multiple=True, metavar="[CONTAINER=]REC",
              help="Set the container's capabilities to drop ALL and add what this recording "
                   "shows it needed (a pod recording: each target for the container of its "
                   "name).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--kubernetes-version", default="1.30", show_default=True,
              help="Schema version to validate against (needs kubernetes-validate).")
@click.option("--no-validate", is_flag=True, help="Skip schema validation.")
def k8s_patch(manifest, profiles, recordings, output, kubernetes_version, no_validate):
    """Set securityContext.seccompProfile (Localhost) and capabilities per container."""
    from .k8s.manifests import patch_file

    report = patch_file(manifest, output, list(profiles),
                        kubernetes_version=kubernetes_version, check=not no_validate,
                        recordings=list(recordings))
    for line in report.lines():
        echo_err(line)
    echo_err(f"wrote {output}")


@k8s.command("install")
@click.argument("profile", type=click.Path(dir_okay=False))
@click.option("--name", help="File name under the seccomp dir (default: the profile's).")
@click.option("--root", default="/var/lib/kubelet/seccomp", show_default=True,
              type=click.Path(file_okay=False), help="The kubelet's seccomp directory.")
def k8s_install(profile, name, root):
    """Install an OCI profile where the kubelet reads Localhost profiles (atomically)."""
    from .k8s.install import install_profile

    dest, rel = install_profile(profile, name=name, root=root)
    echo_err(f"installed {dest}; use securityContext.seccompProfile: "
             f"{{type: Localhost, localhostProfile: {rel}}}")


# -- merge / diff --------------------------------------------------------------------------

@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def merge(inputs, output):
    """Merge recordings, seccomp profiles or Landlock rulesets (union; by content)."""
    from .documents import merge_files
    from .profiler.record import check_output_path

    check_output_path(output)
    for line in merge_files(list(inputs), output):
        echo_err(line)


@main.command()
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
def diff(a, b):
    """What B adds (+) or removes (-) against A: recordings, profiles or rulesets.

    Exit 0 when they are the same, 1 when they differ, 2 on bad input (like diff(1)).
    """
    from .documents import diff_files

    lines = diff_files(a, b)
    for line in lines:
        click.echo(line)
    sys.exit(1 if lines else 0)


# -- doctor / demo -------------------------------------------------------------------------

@main.command()
def doctor():
    """What this kernel and host support, what is missing, and the fix."""
    from . import doctor as doctor_mod

    sys.exit(doctor_mod.run(click.echo))


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Keep the demo's files here (default: a temporary directory).")
def demo(workdir):
    """The whole loop on an embedded example: record, generate, verify."""
    from . import demo as demo_mod

    sys.exit(demo_mod.run(workdir, click.echo))


if __name__ == "__main__":  # pragma: no cover
    main()
