"""``portal``: a Matrix room for one MSN conversation of one bridge user."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Model, quote

__all__ = ["Portal"]


@dataclass
class Portal(Model, table="portal", primary_key=("owner", "conv_key")):
    owner: str  # Matrix ID of the bridge user
    conv_key: str  # contact passport (lower case) or "group:<hex>"
    room_id: str | None = None  # UNIQUE
    kind: str = "dm"  # "dm" | "group"
    name: str | None = None
    encrypted: bool = False
    relay_user_id: str | None = None  # v2

    @classmethod
    async def get_by_key(cls, owner: str, conv_key: str) -> Portal | None:
        return await cls.get(owner, conv_key)

    @classmethod
    async def get_by_room(cls, room_id: str) -> Portal | None:
        return await cls._get_one(f"{quote('room_id')}=$1", room_id)

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[Portal]:
        return await cls._get_all(f"{quote('owner')}=$1", owner, order_by=quote("conv_key"))
