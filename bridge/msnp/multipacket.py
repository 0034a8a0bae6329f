"""Sans-IO reassembly of multi-packet messages (``Message-ID`` / ``Chunks`` / ``Chunk``).

A client that advertises the multi-packet capability may split one long message into several
``MSG``\\s: the first carries the normal headers plus ``Message-ID: {GUID}`` and
``Chunks: N``; each of the N-1 others carries only ``Message-ID`` and ``Chunk: i`` (1 ... N-1)
and the next piece of the body. :class:`MultiPacketReassembler` joins them back into one
:class:`~.message.Message`, bounded in parts, bytes and concurrent messages, and forgets
messages whose parts stop coming (:meth:`~MultiPacketReassembler.expire`, time passed in).
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field

from .message import Message

__all__ = ["MultiPacketLimits", "MultiPacketReassembler"]

_STRIP: Final = frozenset({"message-id", "chunks", "chunk"})


@dataclass(frozen=True, slots=True)
class MultiPacketLimits:
    #: Most parts one message may have.
    max_chunks: int = 64
    #: Largest reassembled body.
    max_size: int = 128 * 1024
    #: Messages being reassembled at once (the oldest is dropped beyond), and per sender.
    max_messages: int = 16
    max_per_sender: int = 4
    #: Seconds a message may wait for its next part.
    timeout: float = 60.0


@dataclass(slots=True)
class _Partial:
    sender: str
    headers: dict[str, str]
    chunks: int
    parts: list[bytes]
    size: int
    deadline: float
    received: int = field(default=1)


def _count(value: str) -> int | None:
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= 6:
        return int(value)
    return None


class MultiPacketReassembler:
    """Feed every switchboard message through :meth:`feed`; it returns what to handle."""

    def __init__(self, limits: MultiPacketLimits | None = None) -> None:
        self.limits = limits or MultiPacketLimits()
        self._partial: dict[tuple[str, str], _Partial] = {}
        #: parts or messages thrown away (over a limit, out of order, expired)
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._partial)

    def feed(self, sender: str, message: Message, now: float) -> Message | None:
        """The message to handle now: ``message`` itself unless it is a part, the joined
        message when this was the last part, or None (a part is kept, or was dropped)."""
        message_id = message.get("Message-ID").strip()
        if not message_id:
            return message
        total_text = message.get("Chunks")
        if not total_text and not message.get("Chunk"):
            return message  # a whole message that happens to carry an id
        key = (sender.lower(), message_id[:80])
        if total_text:
            return self._first(key, message, _count(total_text), now)
        index = _count(message.get("Chunk"))
        partial = self._partial.get(key)
        if partial is None or index is None or index != partial.received:
            self.dropped += 1
            if partial is not None:
                del self._partial[key]  # a gap: the message cannot be completed
            return None
        partial.size += len(message.body)
        if partial.size > self.limits.max_size:
            del self._partial[key]
            self.dropped += 1
            return None
        partial.parts.append(message.body)
        partial.received += 1
        partial.deadline = now + self.limits.timeout
        if partial.received < partial.chunks:
            return None
        del self._partial[key]
        return Message(partial.headers, b"".join(partial.parts))

    def _first(
        self, key: tuple[str, str], message: Message, chunks: int | None, now: float
    ) -> Message | None:
        headers = {k: v for k, v in message.headers.items() if k.lower() not in _STRIP}
        if chunks is None or chunks < 1 or chunks > self.limits.max_chunks:
            self.dropped += 1
            return None
        if len(message.body) > self.limits.max_size:
            self.dropped += 1
            return None
        if chunks == 1:
            return Message(headers, message.body)
        if key in self._partial:
            del self._partial[key]  # restarted: the old one can never complete
            self.dropped += 1
        mine = [k for k, p in self._partial.items() if p.sender == key[0]]
        if len(mine) >= self.limits.max_per_sender:
            del self._partial[mine[0]]
            self.dropped += 1
        if len(self._partial) >= self.limits.max_messages:
            del self._partial[next(iter(self._partial))]
            self.dropped += 1
        self._partial[key] = _Partial(
            key[0], headers, chunks, [message.body], len(message.body), now + self.limits.timeout
        )
        return None

    def expire(self, now: float) -> list[tuple[str, str]]:
        """Forget messages whose next part is overdue; returns their (sender, Message-ID)."""
        gone = [key for key, p in self._partial.items() if p.deadline <= now]
        for key in gone:
            del self._partial[key]
        self.dropped += len(gone)
        return gone
