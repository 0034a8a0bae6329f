"""``space_state`` and ``space_child``: what the bridge last knew of the spaces it made (their
names and children), so that a start does not read every space back from the homeserver.

A space with a ``space_state`` row has its children in ``space_child`` (none is none); a space
without one (made before this table existed) is read from the homeserver once, then stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Model, quote

__all__ = ["SpaceChild", "SpaceState"]


@dataclass
class SpaceState(Model, table="space_state", primary_key=("room_id",)):
    room_id: str  # a space the bridge made (the user's "MSN" space or a group's)
    owner: str
    name: str | None = None  # its name as last set or read (None: not known)

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[SpaceState]:
        return await cls._get_all(f"{quote('owner')}=$1", owner)

    async def store(self) -> None:
        """INSERT or UPDATE this row (a ``None`` name keeps the stored one)."""
        await self.db.execute(
            f"{self._sql().insert} ON CONFLICT ({quote('room_id')}) DO UPDATE SET "
            f"{quote('name')}=COALESCE(excluded.{quote('name')}, "
            f"{quote(self._table)}.{quote('name')})",
            self.room_id,
            self.owner,
            self.name,
        )


@dataclass
class SpaceChild(Model, table="space_child", primary_key=("room_id", "child")):
    room_id: str  # the space
    child: str  # a room linked under it (m.space.child with "via")
    owner: str = ""

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[SpaceChild]:
        return await cls._get_all(f"{quote('owner')}=$1", owner)

    async def store(self) -> None:
        """INSERT this row unless it exists."""
        await self.db.execute(f"{self._sql().insert} ON CONFLICT DO NOTHING", *self._values())
