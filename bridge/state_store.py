"""The Matrix room state store: mautrix's, with the writes of one room's members serialized.

mautrix replaces a room's member list (``set_members``: delete, then bulk insert in one
transaction) while single membership events upsert rows (``set_member``) in other
transactions. On PostgreSQL an upsert that commits between the delete and the bulk insert makes
the insert fail with a unique violation, and the Matrix event being handled is lost. One lock
per room, held by every member write of this process, keeps them apart.
"""

from __future__ import annotations

from weakref import WeakValueDictionary
import asyncio

from mautrix.bridge.state_store.asyncpg import GetPuppetFunc, PgBridgeStateStore
from mautrix.types import Member, Membership, MemberStateEventContent, RoomID, UserID
from mautrix.util.async_db import Database

__all__ = ["StateStore"]


class StateStore(PgBridgeStateStore):
    """:class:`PgBridgeStateStore` whose member writes take the room's lock."""

    def __init__(
        self, db: Database, get_puppet: GetPuppetFunc, get_double_puppet: GetPuppetFunc
    ) -> None:
        super().__init__(db, get_puppet, get_double_puppet)
        # A lock lives while a write holds or waits for it: the map never outgrows the rooms
        # being written at this moment.
        self._room_locks: WeakValueDictionary[RoomID, asyncio.Lock] = WeakValueDictionary()

    def _lock(self, room_id: RoomID) -> asyncio.Lock:
        lock = self._room_locks.get(room_id)
        if lock is None:
            lock = self._room_locks[room_id] = asyncio.Lock()
        return lock

    async def set_member(
        self, room_id: RoomID, user_id: UserID, member: Member | MemberStateEventContent
    ) -> None:
        async with self._lock(room_id):
            await super().set_member(room_id, user_id, member)

    async def set_membership(
        self, room_id: RoomID, user_id: UserID, membership: Membership
    ) -> None:
        async with self._lock(room_id):
            await super().set_membership(room_id, user_id, membership)

    async def set_members(
        self,
        room_id: RoomID,
        members: dict[UserID, Member | MemberStateEventContent],
        only_membership: Membership | None = None,
    ) -> None:
        async with self._lock(room_id):
            await super().set_members(room_id, members, only_membership)
