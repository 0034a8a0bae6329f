"""The bridge's Matrix state store (bridge/state_store.py) on SQLite and PostgreSQL: every
membership write is kept when a room's member list is replaced while single members change
(PostgreSQL used to fail the bulk insert with a unique violation, losing the Matrix event being
handled); what mautrix looks up before every sent event comes from memory, and memory never
disagrees with the database."""

from __future__ import annotations

from typing import Any
import asyncio
import random

from mautrix.types import (
    EventType,
    Member,
    Membership,
    PowerLevelStateEventContent,
    RoomID,
    StateEvent,
    UserID,
)
from mautrix.util.async_db import Database
import pytest

from bridge.state_store import StateStore

ROOM = RoomID("!room:msn.test")
GHOST = UserID("@msn_bob=40example.com:msn.test")


async def _no_puppet(*_: Any) -> None:
    return None


class Counted:
    """Counts the queries the store sends to the real database."""

    def __init__(self, db: Database) -> None:
        self.queries = 0
        for name in ("fetchrow", "fetchval", "fetch"):
            original = getattr(db, name)

            async def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.queries += 1
                return await _original(*args, **kwargs)

            setattr(db, name, counted)


async def make_store(db: Database) -> StateStore:
    store = StateStore(db, _no_puppet, _no_puppet)
    await store.upgrade_table.upgrade(db)
    return store


def create_event(room: RoomID) -> StateEvent:
    return StateEvent.deserialize(
        {
            "type": "m.room.create",
            "room_id": room,
            "event_id": "$create",
            "sender": "@msnbot:msn.test",
            "state_key": "",
            "origin_server_ts": 1,
            "content": {"room_version": "11", "creator": "@msnbot:msn.test"},
        }
    )


async def test_lookups_before_each_send_come_from_memory(db: Database) -> None:
    store = await make_store(db)
    await store.set_member(ROOM, GHOST, Member(membership=Membership.JOIN, displayname="Bob"))
    await store.set_power_levels(ROOM, PowerLevelStateEventContent(users={GHOST: 100}))
    await store.set_create(create_event(ROOM))
    counted = Counted(db)
    for _ in range(5):  # what IntentAPI asks before sending a message
        assert await store.is_joined(ROOM, GHOST)
        assert await store.has_power_levels_cached(ROOM)
        levels = await store.get_power_levels(ROOM)
        assert levels is not None and levels.get_user_level(GHOST) == 100
        assert await store.has_create_cached(ROOM)
        create = await store.get_create(ROOM)
        assert create is not None and create.content["room_version"] == "11"
    assert counted.queries == 0
    # a fresh store (another process start) reads the same from the database
    again = await make_store(db)
    member = await again.get_member(ROOM, GHOST)
    assert member == Member(membership=Membership.JOIN, displayname="Bob")
    levels = await again.get_power_levels(ROOM)
    assert levels is not None and levels.get_user_level(GHOST) == 100
    assert await again.has_create_cached(ROOM)


async def test_what_was_read_once_is_not_read_again(db: Database) -> None:
    store = await make_store(db)
    await (await make_store(db)).set_member(ROOM, GHOST, Member(membership=Membership.INVITE))
    counted = Counted(db)
    assert (await store.get_member(ROOM, GHOST)) == Member(membership=Membership.INVITE)
    assert await store.get_member(ROOM, UserID("@nobody:msn.test")) is None
    assert not await store.has_power_levels_cached(ROOM)
    reads = counted.queries
    assert (await store.get_member(ROOM, GHOST)) == Member(membership=Membership.INVITE)
    assert await store.get_member(ROOM, UserID("@nobody:msn.test")) is None
    assert not await store.has_power_levels_cached(ROOM)
    assert await store.get_power_levels(ROOM) is None
    assert counted.queries == reads


async def test_changes_keep_memory_and_database_equal(db: Database) -> None:
    store = await make_store(db)
    await store.set_member(ROOM, GHOST, Member(membership=Membership.INVITE, displayname="Bob"))
    await store.set_membership(ROOM, GHOST, Membership.JOIN)
    expected = Member(membership=Membership.JOIN, displayname="Bob")
    assert await store.get_member(ROOM, GHOST) == expected
    assert await (await make_store(db)).get_member(ROOM, GHOST) == expected
    # a wholesale member list replaces what memory knew
    carol = UserID("@carol:msn.test")
    await store.set_members(ROOM, {carol: Member(membership=Membership.JOIN)})
    assert await store.get_member(ROOM, GHOST) is None
    assert await store.get_member(ROOM, carol) == Member(membership=Membership.JOIN)
    # a returned object is the caller's: changing it changes nothing stored
    member = await store.get_member(ROOM, carol)
    assert member is not None
    member.membership = Membership.LEAVE
    levels = PowerLevelStateEventContent(users={GHOST: 50})
    await store.set_power_levels(ROOM, levels)
    got = await store.get_power_levels(ROOM)
    assert got is not None
    got.users[GHOST] = 0
    assert await store.get_member(ROOM, carol) == Member(membership=Membership.JOIN)
    stored = await store.get_power_levels(ROOM)
    assert stored is not None and stored.get_user_level(GHOST) == 50
    await store.set_power_levels(ROOM, {"users": {GHOST: 75}})  # mautrix also passes dicts
    stored = await store.get_power_levels(ROOM)
    assert stored is not None and stored.get_user_level(GHOST) == 75


async def test_reads_overlapping_writes_never_keep_an_old_value(db: Database) -> None:
    store = await make_store(db)
    rng = random.Random(11)
    users = [UserID(f"@u{i}:msn.test") for i in range(4)]
    states = [Membership.JOIN, Membership.LEAVE, Membership.INVITE]
    for _ in range(30):
        ops = []
        for user in users:
            if rng.random() < 0.5:
                member = Member(membership=rng.choice(states))
                ops.append(store.set_member(ROOM, user, member))
            ops.append(store.get_member(ROOM, user))
        rng.shuffle(ops)
        await asyncio.gather(*ops)
        truth = await make_store(db)
        for user in users:
            assert await store.get_member(ROOM, user) == await truth.get_member(ROOM, user)


async def test_memory_is_bounded_by_rooms(db: Database) -> None:
    store = await make_store(db)
    store.max_rooms = 3
    rooms = [RoomID(f"!r{i}:msn.test") for i in range(5)]
    for room in rooms:
        await store.set_member(room, GHOST, Member(membership=Membership.JOIN))
        await store.get_power_levels(room)
    assert list(store._rooms) == rooms[-3:]
    counted = Counted(db)
    assert await store.is_joined(rooms[0], GHOST)  # forgotten: read from the database again
    assert counted.queries == 1


@pytest.mark.parametrize("event_type", [EventType.ROOM_CREATE])
async def test_create_event_round_trip(db: Database, event_type: EventType) -> None:
    store = await make_store(db)
    assert not await store.has_create_cached(ROOM)
    await store.set_create(create_event(ROOM))
    create = await store.get_create(ROOM)
    assert create is not None and create.type == event_type and create.sender == "@msnbot:msn.test"


async def test_member_writes_of_one_room_do_not_collide(db: Database) -> None:
    store = await make_store(db)
    room = RoomID("!room:hs.test")
    members = {UserID(f"@u{i}:hs.test"): Member(membership=Membership.JOIN) for i in range(20)}
    for round_ in range(30):
        newcomer = UserID(f"@u{round_ % 20}:hs.test")
        await asyncio.gather(
            store.set_members(room, members),
            store.set_member(room, newcomer, Member(membership=Membership.JOIN)),
            store.set_membership(room, newcomer, Membership.JOIN),
            store.set_members(room, members),
        )
    assert sorted(await store.get_members(room)) == sorted(members)
