"""The portal cache on a real database: one object per conversation, keys normalised by the
library's group prefix, rooms tracked as they change."""

from __future__ import annotations

from dataclasses import dataclass
import asyncio

from mautrix.types import RoomID
from mautrix.util.async_db import Database

from bridge.db.portal import Portal as DBPortal
from bridge.db.user import User as DBUser
from bridge.msnp.client import GROUP_PREFIX
from bridge.portal.cache import PortalCache, is_group_key, normalize_conv_key

OWNER = "@alice:hs"


@dataclass(eq=False)
class Loaded:
    row: DBPortal


def make_cache() -> tuple[PortalCache[Loaded], list[DBPortal]]:
    loads: list[DBPortal] = []

    async def load(row: DBPortal) -> Loaded:
        loads.append(row)
        return Loaded(row)

    return PortalCache(load), loads


def test_group_keys_are_the_librarys() -> None:
    key = GROUP_PREFIX + "00FF"
    assert is_group_key(key) and normalize_conv_key(key) == key
    assert not is_group_key("Bob@Example.com")
    assert normalize_conv_key("Bob@Example.com") == "bob@example.com"


async def test_one_object_per_conversation(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    cache, loads = make_cache()
    assert await cache.get_by_key(OWNER, "Bob@Example.com", create=False) is None
    dm = await cache.get_by_key(OWNER, "Bob@Example.com", create=True)
    assert dm is not None and (dm.row.conv_key, dm.row.kind) == ("bob@example.com", "dm")
    assert await cache.get_by_key(OWNER, "bob@EXAMPLE.com", create=True) is dm
    group = await cache.get_by_key(OWNER, GROUP_PREFIX + "00FF", create=True)
    assert group is not None and (group.row.conv_key, group.row.kind) == ("group:00FF", "group")
    assert len(loads) == 2

    # a fresh cache loads the stored rows, once
    again, loads = make_cache()
    portals = await again.all_for_owner(OWNER)
    assert [p.row.conv_key for p in portals] == ["bob@example.com", "group:00FF"]
    assert await again.get_by_key(OWNER, "bob@example.com", create=False) is portals[0]
    assert len(loads) == 2


async def test_rooms_are_tracked(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    cache, _ = make_cache()
    dm = await cache.get_by_key(OWNER, "bob@example.com", create=True)
    assert dm is not None
    cache.room_changed(dm, None, "!one:hs")
    dm.row.room_id = "!one:hs"
    await dm.row.update()
    assert await cache.get_by_room(RoomID("!one:hs")) is dm
    cache.room_changed(dm, "!one:hs", "!two:hs")
    dm.row.room_id = "!two:hs"
    await dm.row.update()
    assert await cache.get_by_room(RoomID("!one:hs")) is None
    assert await cache.get_by_room(RoomID("!two:hs")) is dm

    # a fresh cache finds the portal by its room in the database
    fresh, _ = make_cache()
    found = await fresh.get_by_room(RoomID("!two:hs"))
    assert found is not None and found.row.conv_key == "bob@example.com"

    cache.remove(dm)
    await dm.row.delete()
    assert await cache.get_by_room(RoomID("!two:hs")) is None
    assert cache.current(dm.row) is None


async def test_lookups_by_room_and_by_key_at_once_load_one_object(db: Database) -> None:
    # After a restart the first Matrix event (found by room) and a stored queue (found by
    # key) look the same portal up at once; the two must not each load an object of their
    # own (two objects for one conversation sent its queued messages twice).
    await DBUser(mxid=OWNER).insert()
    await DBPortal(owner=OWNER, conv_key="bob@example.com", room_id="!room:hs").insert()
    loads: list[DBPortal] = []

    async def slow_load(row: DBPortal) -> Loaded:
        loads.append(row)
        await asyncio.sleep(0.01)  # e.g. the DM's puppet is read from the database
        return Loaded(row)

    cache: PortalCache[Loaded] = PortalCache(slow_load)
    by_room, by_key = await asyncio.gather(
        cache.get_by_room(RoomID("!room:hs")),
        cache.get_by_key(OWNER, "bob@example.com", create=False),
    )
    assert by_room is not None and by_room is by_key
    assert await cache.get_by_room(RoomID("!room:hs")) is by_room
