"""The bridge's garbage-collector policy (bridge.gc): thresholds, freezing every N logins, and
what frozen sessions leave in reference cycles collected once N sessions ended."""

from __future__ import annotations

from collections.abc import Iterator
import gc
import weakref

import pytest

from bridge.gc_policy import GCPolicy


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Session:
    """Something that, like a client and its callbacks, refers to itself."""

    def __init__(self) -> None:
        self.me = self


def test_thresholds_are_set_and_zero_keeps_pythons() -> None:
    before = gc.get_threshold()
    GCPolicy().configure(0, 0)
    assert gc.get_threshold() == before
    GCPolicy().configure(20000, 1000)
    assert gc.get_threshold() == (20000, 50, 100)


def test_freezes_every_n_logins() -> None:
    policy = GCPolicy()
    policy.configure(0, 3)
    session = _Session()
    for _ in range(2):
        policy.logged_in()
    assert gc.get_freeze_count() == 0 and policy.freezes == 0
    policy.logged_in()
    assert policy.freezes == 1 and gc.get_freeze_count() > 0
    assert session not in gc.get_objects()  # out of the collector's sight now


def test_cycles_of_frozen_sessions_are_collected_once_n_ended() -> None:
    policy = GCPolicy()
    policy.configure(0, 2)
    sessions = [_Session() for _ in range(2)]
    gone = [weakref.ref(s) for s in sessions]
    policy.logged_in()
    policy.logged_in()  # frozen with both sessions in it
    assert policy.freezes == 1
    del sessions
    gc.collect()  # a full collection does not see frozen objects
    assert all(ref() is not None for ref in gone)
    policy.session_ended()
    assert all(ref() is not None for ref in gone) and policy.releases == 0
    policy.session_ended()
    assert policy.releases == 1
    assert all(ref() is None for ref in gone)
    assert gc.get_freeze_count() > 0  # what is alive is frozen again


def test_off_freezes_nothing() -> None:
    policy = GCPolicy()
    policy.configure(0, 0)
    for _ in range(5):
        policy.logged_in()
        policy.session_ended()
    assert gc.get_freeze_count() == 0 and policy.freezes == policy.releases == 0
