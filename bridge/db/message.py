"""``message``: maps Matrix events to MSN messages, with delivery status."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Model, quote

__all__ = ["Message"]


@dataclass
class Message(Model, table="message", primary_key=("room_id", "mxid")):
    room_id: str
    mxid: str  # Matrix event ID
    owner: str
    conv_key: str
    msn_id: str | None = None  # bridge-assigned id of the MSN side of the message
    sender: str | None = None  # passport (incoming) or Matrix ID (outgoing)
    direction: str = "in"  # "in" | "out"
    status: str = "pending"  # "pending" | "delivered" | "failed"
    timestamp: int = 0  # unix milliseconds

    @classmethod
    async def get_by_mxid(cls, room_id: str, mxid: str) -> Message | None:
        return await cls.get(room_id, mxid)

    @classmethod
    async def get_by_msn_id(cls, owner: str, conv_key: str, msn_id: str) -> Message | None:
        return await cls._get_one(
            f"{quote('owner')}=$1 AND {quote('conv_key')}=$2 AND {quote('msn_id')}=$3",
            owner,
            conv_key,
            msn_id,
        )

    @classmethod
    async def all_in_room(cls, room_id: str, *, status: str | None = None) -> list[Message]:
        """Messages in ``room_id`` (optionally only those with ``status``), oldest first."""
        order = f"{quote('timestamp')}, {quote('mxid')}"
        if status is None:
            return await cls._get_all(f"{quote('room_id')}=$1", room_id, order_by=order)
        return await cls._get_all(
            f"{quote('room_id')}=$1 AND {quote('status')}=$2", room_id, status, order_by=order
        )

    async def set_status(self, status: str) -> None:
        """Update only the status column (and this object)."""
        self.status = status
        await self.db.execute(
            f"UPDATE {quote(self._table)} SET {quote('status')}=$1 "
            f"WHERE {quote('room_id')}=$2 AND {quote('mxid')}=$3",
            status,
            self.room_id,
            self.mxid,
        )

    @classmethod
    async def delete_all_in_room(cls, room_id: str) -> None:
        await cls.db.execute(
            f"DELETE FROM {quote(cls._table)} WHERE {quote('room_id')}=$1", room_id
        )
