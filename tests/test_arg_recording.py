"""The recorder counts the decisive arguments of argspec.ARG_RULES's syscalls in the kernel
(bpf/args.bpf.c), masked as argspec says: compared here with the values the workload really
passed (it prints them), on the raw tracepoint (registers at BTF offsets) and the regular one."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import REPO, need, is_root, have_bcc
from sandprint.seccomp.argspec import ARG_RULES, mask_values
from sandprint.syscalls import native_arch, syscall_number

pytestmark = pytest.mark.kernel
WORKLOAD = REPO / "tests" / "workloads" / "arg_calls.py"


@pytest.mark.parametrize("regular", [False, True], ids=["raw", "regular"])
def test_recorded_arguments_are_what_the_workload_passed(tmp_path, regular):
    need(is_root() and have_bcc(), "root and bcc")
    from sandprint.profiler.record import run_command
    from sandprint.profiler.recorder import Recorder

    arch = native_arch()
    nrs = [f"{n}={syscall_number(arch, n)}" for n in ARG_RULES]
    out = tmp_path / "calls.json"
    with Recorder(files=False, regular_tracepoint=regular) as recorder:
        assert recorder.sys_enter == ("tracepoint" if regular else "raw")
        cmd, _ = run_command([sys.executable, str(WORKLOAD), str(out), *nrs], recorder,
                             log=lambda s: None)
        rec = recorder.finish()
    assert cmd.exit_code == 0
    made = json.loads(out.read_text())
    assert rec.args_recorded and rec.complete
    args = rec.targets[0].args
    for name, calls in made.items():
        want = {mask_values(name, c) for c in calls}
        assert want <= set(args.get(name, {})), (name, want, args.get(name))
    # the masks dropped SOCK_CLOEXEC and the request's upper bits, as the kernel does
    assert (2, 1, 0) in args["socket"] and (10, 2, 17) in args["socket"]
    assert args["ioctl"][(0x541B,)] >= 2
    assert args["sendto"] == {(0,): 1} and (15,) in args["prctl"]
    assert (0xFFFFFFFF,) in args["personality"] and (6, 1) in args["setsockopt"]
