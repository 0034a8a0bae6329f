"""``message``: maps Matrix events to MSN messages, with delivery status."""

from __future__ import annotations

from typing import Any
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

    async def set_status(self, status: str) -> None:
        """Update only the status column (and this object)."""
        self.status = status
        query, args = self.status_statement(self.room_id, self.mxid, status)
        await self.db.execute(query, *args)

    @classmethod
    def status_statement(cls, room_id: str, mxid: str, status: str) -> tuple[str, list[Any]]:
        """The UPDATE of one message's status (for :func:`bridge.db.batch.write_together`)."""
        query = (
            f"UPDATE {quote(cls._table)} SET {quote('status')}=$1 "
            f"WHERE {quote('room_id')}=$2 AND {quote('mxid')}=$3"
        )
        return query, [status, room_id, mxid]

    @classmethod
    async def delete_all_in_room(cls, room_id: str) -> None:
        await cls.db.execute(
            f"DELETE FROM {quote(cls._table)} WHERE {quote('room_id')}=$1", room_id
        )
