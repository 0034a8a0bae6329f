"""``portal``: a Matrix room for one MSN conversation of one bridge user."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Model, quote

__all__ = ["Portal", "participant_set"]


def participant_set(passports: Iterable[str], own: str | None = None) -> str:
    """The stored form of a group's participants: the others' passports, lower case, sorted,
    separated by spaces (``own``, the user's passport, left out)."""
    own = (own or "").lower()
    return " ".join(sorted({p.lower() for p in passports if p and p.lower() != own}))


@dataclass
class Portal(Model, table="portal", primary_key=("owner", "conv_key")):
    owner: str  # Matrix ID of the bridge user
    conv_key: str  # contact passport (lower case) or "group:<hex>"
    room_id: str | None = None  # UNIQUE
    kind: str = "dm"  # "dm" | "group"
    name: str | None = None
    encrypted: bool = False
    relay_user_id: str | None = None  # v2
    participants: str | None = None  # v5: groups, see participant_set()

    @classmethod
    async def get_by_key(cls, owner: str, conv_key: str) -> Portal | None:
        return await cls.get(owner, conv_key)

    @classmethod
    async def get_by_room(cls, room_id: str) -> Portal | None:
        return await cls._get_one(f"{quote('room_id')}=$1", room_id)

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[Portal]:
        return await cls._get_all(f"{quote('owner')}=$1", owner, order_by=quote("conv_key"))

    @classmethod
    async def find_group(cls, owner: str, participants: str) -> Portal | None:
        """The group portal of ``owner`` whose participants are ``participants`` (in the form
        of :func:`participant_set`), the one with a room first."""
        where = (
            f"{quote('owner')}=$1 AND {quote('participants')}=$2 AND {quote('kind')}='group' "
            f"ORDER BY ({quote('room_id')} IS NULL), {quote('conv_key')} LIMIT 1"
        )
        return await cls._get_one(where, owner, participants)
