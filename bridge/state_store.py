"""The Matrix room state store: mautrix's, with one room's member writes serialized and what
every sent event looks up kept in memory.

mautrix replaces a room's member list (``set_members``: delete, then bulk insert in one
transaction) while single membership events upsert rows (``set_member``) in other
transactions. On PostgreSQL an upsert that commits between the delete and the bulk insert makes
the insert fail with a unique violation, and the Matrix event being handled is lost. One lock
per room, held by every member write of this process, keeps them apart.

Before each event it sends, mautrix's ``IntentAPI`` asks the state store whether the sender
is in the room, whether the room's power levels and create event are known, and for them:
about five database queries per bridged message (measured with ``bench/bridge_messages.py
--profile``), each a round trip to PostgreSQL or a thread hop to SQLite. This store answers
those from memory for the rooms used most recently. Every write still goes to the database
first and then to the memory, and a room's members are forgotten whenever mautrix replaces
them wholesale, so memory never knows more than the database (each bridge process owns its
rooms). Reads of anything else go to the database as before.
"""

from __future__ import annotations

from typing import Any, Final
from collections import OrderedDict
from weakref import WeakValueDictionary
import asyncio
import json

from mautrix.bridge.state_store.asyncpg import GetPuppetFunc, PgBridgeStateStore
from mautrix.types import (
    EventType,
    Member,
    Membership,
    MemberStateEventContent,
    PowerLevelStateEventContent,
    RoomID,
    Serializable,
    StateEvent,
    UserID,
)
from mautrix.util.async_db import Database

__all__ = ["StateStore"]

#: Rooms whose state is kept (the least recently used are forgotten first).
MAX_ROOMS: Final = 4096
_UNKNOWN: Final = object()


#: power levels JSON, create event JSON, and the two parsed from them
_Parsed = tuple[str, "str | None", PowerLevelStateEventContent, "StateEvent | None"]


class _Room:
    """What is known of one room: members (``None``: no row), power levels and create event
    as JSON text (``None``: not in the database; ``_UNKNOWN``: not read yet)."""

    __slots__ = ("create", "levels", "members", "power_levels", "writes", "writing")

    def __init__(self) -> None:
        self.members: dict[UserID, Member | None] = {}
        self.power_levels: Any = _UNKNOWN
        self.create: Any = _UNKNOWN
        #: power levels and create event parsed from the JSON texts above, for
        #: :meth:`StateStore.has_power_level` (never handed out: callers may change objects)
        self.levels: _Parsed | None = None
        #: writes begun, and writes under way: a read that overlapped one keeps nothing
        self.writes = 0
        self.writing = 0


def _json(content: Any) -> str:
    return json.dumps(content.serialize() if isinstance(content, Serializable) else content)


def _copy(member: Member | None) -> Member | None:
    if member is None:
        return None
    return Member(
        membership=member.membership,
        displayname=member.displayname,
        avatar_url=member.avatar_url,
    )


class StateStore(PgBridgeStateStore):
    """:class:`PgBridgeStateStore` whose member writes take the room's lock, with a bounded
    write-through memory (module documentation)."""

    max_rooms = MAX_ROOMS

    def __init__(
        self, db: Database, get_puppet: GetPuppetFunc, get_double_puppet: GetPuppetFunc
    ) -> None:
        super().__init__(db, get_puppet, get_double_puppet)
        self._rooms: OrderedDict[RoomID, _Room] = OrderedDict()
        # A lock lives while a write holds or waits for it: the map never outgrows the rooms
        # being written at this moment.
        self._room_locks: WeakValueDictionary[RoomID, asyncio.Lock] = WeakValueDictionary()

    def _lock(self, room_id: RoomID) -> asyncio.Lock:
        lock = self._room_locks.get(room_id)
        if lock is None:
            lock = self._room_locks[room_id] = asyncio.Lock()
        return lock

    def _room(self, room_id: RoomID) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room()
            if len(self._rooms) > self.max_rooms:
                self._rooms.popitem(last=False)
        else:
            self._rooms.move_to_end(room_id)
        return room

    def _unchanged(self, room_id: RoomID, room: _Room, writes: int) -> bool:
        """No write to the room under way or begun (and no eviction of it) since ``writes``
        (-1: one was under way) was read."""
        return room.writes == writes and not room.writing and self._rooms.get(room_id) is room

    @staticmethod
    def _read_mark(room: _Room) -> int:
        return -1 if room.writing else room.writes

    async def _write(self, room: _Room, write: Any) -> bool:
        """Run ``write`` (a database write); True when no other write overlapped it (writes
        on other connections may land in either order)."""
        alone = not room.writing
        room.writes += 1
        mine = room.writes
        room.writing += 1
        try:
            await write
        finally:
            room.writing -= 1
        return alone and room.writes == mine

    # members

    async def get_member(self, room_id: RoomID, user_id: UserID) -> Member | None:
        room = self._room(room_id)
        if user_id in room.members:
            return _copy(room.members[user_id])
        writes = self._read_mark(room)
        member = await super().get_member(room_id, user_id)
        if self._unchanged(room_id, room, writes):
            room.members[user_id] = _copy(member)
        return member

    async def set_member(
        self, room_id: RoomID, user_id: UserID, member: Member | MemberStateEventContent
    ) -> None:
        async with self._lock(room_id):
            await self._set_member(room_id, user_id, member)

    async def _set_member(
        self, room_id: RoomID, user_id: UserID, member: Member | MemberStateEventContent
    ) -> None:
        room = self._room(room_id)
        room.members.pop(user_id, None)  # unknown while the write is under way
        if not await self._write(room, super().set_member(room_id, user_id, member)):
            return  # another write overlapped: which landed last is not known here
        room.members[user_id] = Member(
            membership=member.membership,
            displayname=member.displayname,
            avatar_url=member.avatar_url,
        )

    async def set_membership(
        self, room_id: RoomID, user_id: UserID, membership: Membership
    ) -> None:
        async with self._lock(room_id):
            await self._set_membership(room_id, user_id, membership)

    async def _set_membership(
        self, room_id: RoomID, user_id: UserID, membership: Membership
    ) -> None:
        room = self._room(room_id)
        known = room.members.pop(user_id, _UNKNOWN)
        alone = await self._write(room, super().set_membership(room_id, user_id, membership))
        if known is _UNKNOWN or not alone:
            return  # the row's name and avatar are not known here, or another write overlapped
        old: Member | None = known  # type: ignore[assignment]
        if old is None:
            room.members[user_id] = Member(membership=membership)
        else:
            room.members[user_id] = Member(
                membership=membership, displayname=old.displayname, avatar_url=old.avatar_url
            )

    async def set_members(
        self,
        room_id: RoomID,
        members: dict[UserID, Member | MemberStateEventContent],
        only_membership: Membership | None = None,
    ) -> None:
        async with self._lock(room_id):
            room = self._room(room_id)
            room.members.clear()
            await self._write(room, super().set_members(room_id, members, only_membership))
            room.members.clear()  # and read again when asked

    # power levels and create event

    async def has_power_levels_cached(self, room_id: RoomID) -> bool:
        known = self._room(room_id).power_levels
        if known is _UNKNOWN:
            return (await self.get_power_levels(room_id)) is not None
        return known is not None

    async def get_power_levels(self, room_id: RoomID) -> PowerLevelStateEventContent | None:
        room = self._room(room_id)
        if room.power_levels is _UNKNOWN:
            writes = self._read_mark(room)
            content = await super().get_power_levels(room_id)
            if self._unchanged(room_id, room, writes):
                room.power_levels = None if content is None else _json(content)
            return content
        if room.power_levels is None:
            return None
        return PowerLevelStateEventContent.parse_json(room.power_levels)

    async def set_power_levels(
        self, room_id: RoomID, content: PowerLevelStateEventContent | dict[str, Any]
    ) -> None:
        room = self._room(room_id)
        room.power_levels = _UNKNOWN
        if await self._write(room, super().set_power_levels(room_id, content)):
            room.power_levels = _json(content)

    async def has_power_level(
        self, room_id: RoomID, user_id: UserID, event_type: EventType
    ) -> bool | None:
        # asked before every event the bridge sends: from the parsed state when it is known
        room = self._room(room_id)
        levels_json, create_json = room.power_levels, room.create
        if not isinstance(levels_json, str) or create_json is _UNKNOWN:
            return await super().has_power_level(room_id, user_id, event_type)
        parsed = room.levels
        if parsed is None or parsed[0] is not levels_json or parsed[1] is not create_json:
            create = StateEvent.parse_json(create_json) if create_json is not None else None
            levels = PowerLevelStateEventContent.parse_json(levels_json)
            parsed = room.levels = (levels_json, create_json, levels, create)
        levels, create = parsed[2], parsed[3]
        return levels.get_user_level(user_id, create) >= levels.get_event_level(event_type)

    async def has_create_cached(self, room_id: RoomID) -> bool:
        known = self._room(room_id).create
        if known is _UNKNOWN:
            return (await self.get_create(room_id)) is not None
        return known is not None

    async def get_create(self, room_id: RoomID) -> StateEvent | None:
        room = self._room(room_id)
        if room.create is _UNKNOWN:
            writes = self._read_mark(room)
            event = await super().get_create(room_id)
            if self._unchanged(room_id, room, writes):
                room.create = None if event is None else _json(event)
            return event
        if room.create is None:
            return None
        return StateEvent.parse_json(room.create)

    async def set_create(self, event: StateEvent) -> None:
        room = self._room(event.room_id)
        room.create = _UNKNOWN
        if await self._write(room, super().set_create(event)):
            room.create = _json(event)
