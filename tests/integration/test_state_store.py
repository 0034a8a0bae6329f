"""The Matrix state store keeps every membership write when a room's member list is replaced
while single members change (PostgreSQL used to fail the bulk insert with a unique violation,
losing the Matrix event being handled)."""

from __future__ import annotations

import asyncio

from mautrix.types import Member, Membership, RoomID, UserID
from mautrix.util.async_db import Database

from bridge.state_store import StateStore


async def _nobody(user_id: UserID, create: bool = False) -> None:
    return None


async def test_member_writes_of_one_room_do_not_collide(db: Database) -> None:
    store = StateStore(db, _nobody, _nobody)
    await store.upgrade_table.upgrade(db)
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
