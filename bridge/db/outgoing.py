"""``outgoing``: Matrix messages queued for MSN, kept until they are delivered or given up.

One row per Matrix event; ``seq`` orders the rows of a conversation. ``state`` is ``queued``
until the bridge starts writing the message to MSN and ``sending`` from then until MSN
acknowledged it (``parts_sent`` counts the parts of a long message already acknowledged). A
row still ``sending`` at start-up was cut off by a crash: it may or may not have arrived, and
is never sent again (a Matrix event reaches MSN at most once).
"""

from __future__ import annotations

from dataclasses import dataclass

from .batch import write_together
from .message import Message
from .model import Model, quote

__all__ = ["Outgoing"]


@dataclass
class Outgoing(Model, table="outgoing", primary_key=("room_id", "event_id")):
    room_id: str
    event_id: str
    owner: str
    conv_key: str
    seq: int  # order within the conversation (increasing)
    text: str  # the MSN text, converted when the event arrived
    msgtype: str | None = None
    format: str | None = None  # MSN formatting as JSON (see bridge.portal.outbox)
    parts_sent: int = 0
    state: str = "queued"  # "queued" | "sending"
    queued_at: int = 0  # unix milliseconds

    @classmethod
    async def for_conversation(cls, owner: str, conv_key: str) -> list[Outgoing]:
        return await cls._get_all(
            f"{quote('owner')}=$1 AND {quote('conv_key')}=$2",
            owner,
            conv_key,
            order_by=quote("seq"),
        )

    @classmethod
    async def conversations(cls) -> list[tuple[str, str]]:
        """Every (owner, conv_key) with queued messages."""
        rows = await cls.db.fetch(
            f"SELECT DISTINCT {quote('owner')}, {quote('conv_key')} FROM {quote(cls._table)}"
        )
        return [(row["owner"], row["conv_key"]) for row in rows]

    async def store_with(self, record: Message) -> None:
        """INSERT this row and the message's ``record`` together (one transaction); fails
        (:func:`bridge.db.batch.is_duplicate`) if the event was stored before."""
        await write_together(self.db, [record.insert_statement(), self.insert_statement()])

    async def finish(self, status: str) -> None:
        """Remove this row and set the message's status (``delivered`` or ``failed``)
        together: a message leaves the queue with its outcome recorded."""
        done = Message.status_statement(self.room_id, self.event_id, status)
        await write_together(self.db, [self.delete_statement(), done])

    async def set_progress(self, state: str, parts_sent: int) -> None:
        """Update only ``state`` and ``parts_sent`` (and this object)."""
        self.state, self.parts_sent = state, parts_sent
        query = (
            f"UPDATE {quote(self._table)} SET {quote('state')}=$1, {quote('parts_sent')}=$2 "
            f"WHERE {quote('room_id')}=$3 AND {quote('event_id')}=$4"
        )
        # (written before each part goes to MSN: the same path as the message's other writes)
        await write_together(self.db, [(query, (state, parts_sent, self.room_id, self.event_id))])
