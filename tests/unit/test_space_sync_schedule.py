"""SpaceManager.schedule_sync merges requests: a server sending thousands of list changes costs
one background task and at most one more sync, with every removed group passed on."""

from __future__ import annotations

from types import SimpleNamespace
import asyncio
import logging

from bridge.db.contact import ContactGroup as DBContactGroup
from bridge.db.user import User as DBUser
from bridge.spaces import SpaceManager


async def test_thousands_of_requests_make_one_task_and_two_syncs() -> None:
    spaces = SpaceManager(
        DBUser(mxid="@alice:hs.test"), SimpleNamespace(), "hs.test", logging.getLogger("t")  # type: ignore[arg-type]
    )
    runs: list[list[str]] = []
    release = asyncio.Event()

    async def sync(removed: list[DBContactGroup]) -> None:
        runs.append(sorted(g.group_id for g in removed))
        await release.wait()

    spaces.sync = sync  # type: ignore[method-assign]
    spaces.schedule_sync([DBContactGroup(owner="@alice:hs.test", group_id="1")])
    await asyncio.sleep(0)
    for i in range(5000):  # while the first sync runs
        removed = [DBContactGroup(owner="@alice:hs.test", group_id=str(i % 3 + 2))]
        spaces.schedule_sync(removed if i % 1000 == 0 else ())
    assert len(spaces._tasks) == 1
    release.set()
    while spaces._tasks:
        await asyncio.sleep(0.01)
    assert runs == [["1"], ["2", "3", "4"]]
