"""Landlock's compatibility plan, without a kernel: (ABI, ruleset, level) -> what is applied
and what is dropped (sandprint.landlock.compat.plan). The kernel tests in
test_landlock_ruleset.py check that the applying step carries the plan out."""

from __future__ import annotations

import pytest

from sandprint.errors import InputError
from sandprint.landlock import abi as A
from sandprint.landlock import rights as R
from sandprint.landlock.compat import COMPAT_LEVELS, CompatLevel, plan


def _all(kind, abi):
    return set(R.rights_for_abi(kind, abi))


def _kinds(p):
    return [(d.kind, d.names, d.weakens) for d in p.dropped]


def test_levels_parse_once_and_say_what_is_expected():
    assert COMPAT_LEVELS == ("best-effort", "soft", "hard")
    assert CompatLevel.parse("soft") is CompatLevel.SOFT and CompatLevel.HARD == "hard"
    assert f"{CompatLevel.BEST_EFFORT}" == "best-effort"
    with pytest.raises(InputError, match="compat.*best-effort or soft or hard"):
        CompatLevel.parse("sloppy", "compat")


def test_no_landlock_applies_nothing_and_hard_refuses():
    for level in CompatLevel:
        p = plan(0, level, fs=_all("fs", 6), net=(), scope=(), unavailable="not built in")
        assert not p.apply and _kinds(p) == [("landlock", ("everything",), True)]
        assert p.dropped[0].reason == "not built in"
        assert p.refuse == (level == CompatLevel.HARD)


def test_everything_the_abi_has_is_applied_in_full():
    p = plan(6, "hard", fs=_all("fs", 6), net=_all("net", 6), scope=_all("scope", 6),
             rules=[("/usr", {"read_file", "execute"})], ports={443: {"connect_tcp"}})
    assert p.apply and not p.dropped and not p.refuse
    assert p.fs == _all("fs", 6) and p.net == {"bind_tcp", "connect_tcp"}
    assert p.rules == [(0, frozenset({"read_file", "execute"}))]
    assert p.ports == {443: frozenset({"connect_tcp"})}


@pytest.mark.parametrize("level,applies", [("best-effort", True), ("soft", False),
                                           ("hard", False)])
def test_rights_an_older_abi_lacks_are_dropped_and_named(level, applies):
    p = plan(3, level, fs=_all("fs", 6), net=_all("net", 6), scope=_all("scope", 6),
             rules=[("/dev", {"ioctl_dev", "read_file"})], ports={80: {"bind_tcp"}})
    assert p.apply is applies and p.refuse is (level == "hard")
    kinds = _kinds(p)
    assert ("fs", ("ioctl_dev",), True) in kinds
    assert ("net", ("bind_tcp", "connect_tcp"), True) in kinds
    assert ("scope", ("abstract_unix_socket", "signal"), True) in kinds
    # a rule loses the rights no longer handled; that does not weaken the sandbox
    assert ("path-rule", ("ioctl_dev",), False) in kinds
    assert ("port-rule", ("bind_tcp",), False) in kinds
    assert "needs ABI 5 (kernel has ABI 3)" in str(p.dropped[0])
    if applies:
        assert p.rules == [(0, frozenset({"read_file"}))] and p.ports == {}
        assert "ioctl_dev" not in p.fs and not p.net and not p.scope


def test_refer_on_abi_1_handled_only_is_a_note():
    p = plan(1, "hard", fs={"read_file", "refer"}, net=(), scope=(),
             rules=[("/srv", {"read_file"})])
    assert p.apply and not p.dropped and p.fs == {"read_file"}
    assert p.notes and "ABI 1 always denies" in p.notes[0]


def test_refer_granted_on_abi_1_drops_the_whole_filesystem_part():
    p = plan(1, "best-effort", fs={"read_file", "refer", "make_reg"}, net=(), scope=(),
             rules=[("/srv", {"refer", "read_file"}), ("/tmp", {"make_reg"})])
    assert not p.apply          # nothing else was handled: nothing left to restrict
    assert [d.kind for d in p.dropped] == ["fs", "landlock"]
    assert "refer is granted beneath /srv" in p.dropped[0].reason and not p.rules


def test_threads_and_flags_by_abi():
    old = plan(6, "best-effort", fs={"read_file"}, net=(), scope=(), other_threads=2,
               log_new_exec=True)
    assert old.apply and not old.all_threads
    assert ("threads", ("2 other thread(s)",), True) in _kinds(old)
    assert ("flag", ("log_new_exec_on",), False) in _kinds(old)
    assert plan(6, "soft", fs={"read_file"}, net=(), scope=(), other_threads=2).apply is False
    new = plan(8, "hard", fs={"read_file"}, net=(), scope=(), other_threads=2,
               log_new_exec=True)
    assert new.apply and new.all_threads and not new.dropped
    assert new.flags & A.RESTRICT_SELF_TSYNC
    assert new.flags & A.RESTRICT_SELF_FLAGS["log_new_exec_on"][0]


def test_a_dropped_grant_alone_does_not_stop_soft_or_hard():
    p = plan(2, "hard", fs={"read_file", "refer"}, net=(), scope=(),
             rules=[("/srv", {"read_file", "truncate"})])
    assert p.apply and _kinds(p) == [("path-rule", ("truncate",), False)]
