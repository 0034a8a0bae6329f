"""The portals in memory: one object per portal, found by room or by (owner, conversation
key), and loaded from (or, on request, created in) the database when not in memory yet.
A lookup lock exists only while a lookup of its key runs, so looking up any number of rooms
or keys (which contacts and homeservers choose) leaves nothing behind."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar
from collections.abc import Awaitable, Callable

from mautrix.types import RoomID

from bridge.db.portal import Portal as DBPortal
from bridge.msnp.bounded import KeyedLocks
from bridge.msnp.client import GROUP_PREFIX

__all__ = ["PortalCache", "is_group_key", "normalize_conv_key"]


def is_group_key(conv_key: str) -> bool:
    """Whether ``conv_key`` names a multi-party conversation (else a contact's passport)."""
    return conv_key.startswith(GROUP_PREFIX)


def normalize_conv_key(conv_key: str) -> str:
    """The stored form of a conversation key: passports in lower case, group keys as they are."""
    return conv_key if is_group_key(conv_key) else conv_key.lower()


class _Cached(Protocol):
    row: DBPortal


P = TypeVar("P", bound=_Cached)


class PortalCache(Generic[P]):
    """Portals by room and by key. ``load`` makes the object for a row not in memory yet; a
    lookup waits for another one of the same key, and only one object is ever kept per portal."""

    def __init__(self, load: Callable[[DBPortal], Awaitable[P]]) -> None:
        self._load = load
        self.by_room: dict[RoomID, P] = {}
        self.by_key: dict[tuple[str, str], P] = {}
        self._locks = KeyedLocks()

    @property
    def lookups_in_flight(self) -> int:
        """Keys and rooms being looked up now (each holds a lock until done)."""
        return len(self._locks)

    # region lookups

    async def get_by_room(self, room_id: RoomID) -> P | None:
        async with self._locks.hold(f"room\0{room_id}"):
            if room_id in self.by_room:
                return self.by_room[room_id]
            row = await DBPortal.get_by_room(room_id)
            return await self._from_row(row) if row is not None else None

    async def get_by_key(self, owner: str, conv_key: str, *, create: bool) -> P | None:
        if not conv_key:
            return None
        key = (owner, normalize_conv_key(conv_key))
        async with self._locks.hold(f"key\0{key[0]}\0{key[1]}"):
            if key in self.by_key:
                return self.by_key[key]
            row = await DBPortal.get_by_key(*key)
            if row is None:
                if not create:
                    return None
                kind = "group" if is_group_key(key[1]) else "dm"
                row = DBPortal(owner=owner, conv_key=key[1], kind=kind)
                await row.insert()
            return await self._from_row(row)

    async def all_for_owner(self, owner: str) -> list[P]:
        return [await self._from_row(row) for row in await DBPortal.all_for_owner(owner)]

    def current(self, row: DBPortal) -> P | None:
        """The portal in memory for the key of ``row``."""
        return self.by_key.get((row.owner, row.conv_key))

    async def _from_row(self, row: DBPortal) -> P:
        portal = self.current(row)
        if portal is None:
            loaded = await self._load(row)
            # a lookup by the other map (room / key) may have loaded it meanwhile
            portal = self.current(row)
            if portal is None:
                portal = loaded
                self.add(portal)
        return portal

    # endregion
    # region keeping the maps right

    def add(self, portal: P) -> None:
        row = portal.row
        self.by_key[(row.owner, row.conv_key)] = portal
        if row.room_id:
            self.by_room[RoomID(row.room_id)] = portal

    def room_changed(self, portal: P, old: str | None, new: str | None) -> None:
        if old and old != new:
            self.by_room.pop(RoomID(old), None)
        if new:
            self.by_room[RoomID(new)] = portal

    def remove(self, portal: P) -> None:
        row = portal.row
        if row.room_id:
            self.by_room.pop(RoomID(row.room_id), None)
        if self.current(row) is portal:
            del self.by_key[(row.owner, row.conv_key)]

    # endregion
