"""``incoming``: messages MSN contacts sent, kept from the moment the bridge received them
until they are in Matrix, so a restart in between loses none of them.

``data`` is the received event, encoded by :mod:`bridge.inbox`; ``seq`` orders a user's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Model, quote

__all__ = ["Incoming"]


@dataclass
class Incoming(Model, table="incoming", primary_key=("owner", "seq")):
    owner: str  # Matrix ID of the bridge user
    seq: int
    kind: str  # the event type's name
    data: str  # JSON
    received: int = 0  # unix milliseconds

    @classmethod
    async def all_in_order(cls) -> list[Incoming]:
        """Every stored row, each user's in the order received."""
        return await cls._get_all(order_by=f"{quote('owner')}, {quote('seq')}")
