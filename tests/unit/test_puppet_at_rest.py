"""A ghost that has nothing to do holds no lock and no name limiter: they are made when first
used (a restart loads every contact's ghost, and most change nothing)."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from bridge.db.puppet import Puppet as DBPuppet
from bridge.ids import GhostIDs
from bridge.puppet import Puppet

MADE_WHEN_USED = ("_info_lock", "_register_lock", "avatar_lock", "_names")


@pytest.fixture(autouse=True)
def _ghost_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Puppet, "ghost_ids", GhostIDs("msn_{userid}", "msn.test"), raising=False)
    monkeypatch.setattr(Puppet, "name_interval", 3600.0)
    monkeypatch.setattr(Puppet, "by_passport", {})


async def test_a_ghost_at_rest_holds_none_of_them() -> None:
    ghost = Puppet(DBPuppet(passport="bob@example.com", friendly_name="Bob", name_set=True))
    assert not set(MADE_WHEN_USED) & set(vars(ghost))
    assert await ghost.update_info("Bob") is False  # the same name: nothing to do
    assert not set(MADE_WHEN_USED) & set(vars(ghost))
    Puppet.stop_all()  # (nothing to cancel, nothing made)
    assert not set(MADE_WHEN_USED) & set(vars(ghost))


async def test_each_is_made_once_when_first_used(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[str | None] = []

    async def update_info(self: Puppet, name: str | None, force: bool) -> bool:
        assert self._info_lock.locked()  # (held by the caller; this stands in for the request)
        applied.append(name)
        self.row.friendly_name, self.row.name_set = name, True
        return True

    monkeypatch.setattr(Puppet, "_update_info", update_info)
    ghost = Puppet(DBPuppet(passport="bob@example.com", friendly_name="Bob", name_set=True))
    assert await ghost.update_info("Robert") is True
    assert applied == ["Robert"]
    assert {"_names", "_info_lock"} <= set(vars(ghost))
    limiter, lock = ghost._names, ghost._info_lock
    assert await ghost.update_info("Bobby") is False  # held for the interval, same limiter
    assert ghost._names is limiter and ghost._info_lock is lock and ghost._names.holding
    assert isinstance(ghost.avatar_lock, asyncio.Lock) and ghost.avatar_lock is ghost.avatar_lock
    Puppet.by_passport[ghost.passport] = ghost
    Puppet.stop_all()
    assert not ghost._names.holding  # the held name was dropped
    assert applied == ["Robert"]


def test_a_ghost_at_rest_is_smaller() -> None:
    rows = [DBPuppet(passport=f"c{i}@example.com", friendly_name=f"C {i}") for i in range(300)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        ghosts = [Puppet(row) for row in rows]
        at_rest = tracemalloc.take_snapshot()
        for ghost in ghosts:
            for name in MADE_WHEN_USED:
                getattr(ghost, name)
        used = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    rest = sum(s.size_diff for s in at_rest.compare_to(before, "filename")) / len(ghosts)
    made = sum(s.size_diff for s in used.compare_to(at_rest, "filename")) / len(ghosts)
    # the locks and the limiter are most of what a ghost would hold at rest
    assert made > 500 and made > rest / 2, (rest, made)
